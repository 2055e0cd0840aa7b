"""The local store and its repositories. Every method is one short transaction; writers begin IMMEDIATE.

Failures surface as StoreError subclasses (disk full, read-only, corrupt) with plain messages, so the
services can tell the agent what happened; a failed write leaves nothing half-done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import SQLAlchemyError

from desktop.domain.callbacks import ScheduledCallback
from desktop.domain.outcomes import (
    LocalContact,
    OutboxEntry,
    OutboxStatus,
    OutcomeRecord,
    OutcomeResult,
    UndoResult,
)
from desktop.storage import models
from desktop.storage.engine import (
    BUSY_TIMEOUT_MS,
    StoreCorrupt,
    StoreError,
    StoreFull,
    classify,
    open_engine,
    restrict_modes,
    writer,
)
from desktop.storage.salvage import (
    SalvagedAttempt,
    SalvagedCallbackDetail,
    SalvagedContact,
    SalvagedOutcome,
    SalvagedRetraction,
)
from desktop.storage.stats import parse_store_time, store_time

log = logging.getLogger("callcue.storage")

P = ParamSpec("P")
R = TypeVar("R")

# A second identical outcome for the same pop within this window is a double key press, not a new answer.
DOUBLE_PRESS_WINDOW = dt.timedelta(minutes=10)
# Free space on the data volume kept for outcomes: below it, cache and pop-log writes are skipped (they are
# re-fetched / only statistics), so space freed after a full disk goes to the outcomes first. An outcome
# commit writes ~80 KiB of log frames until the next checkpoint (up to ~4 MiB of log): 16 MiB is room for a
# full log cycle and hundreds of outcomes.
OUTCOME_RESERVE_BYTES = 16 * 1024 * 1024
# Next to the store, written when a read found the file damaged while the panel ran: the next start checks
# the whole file (no time budget) and sets it aside if it is damaged.
SUSPECT_SUFFIX = ".check-me"


class StoreLowSpace(StoreFull):
    """Skipped a cache or pop-log write: the free space left is kept for outcomes."""


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        repo = args[0]
        try:
            return method(*args, **kwargs)
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            error = classify(exc, repo._path)  # type: ignore[attr-defined]
            if isinstance(error, StoreCorrupt):
                mark_suspect(repo._path)  # type: ignore[attr-defined]
            raise error from exc

    return wrapper


def suspect_marker(path: Path) -> Path:
    return path.with_name(path.name + SUSPECT_SUFFIX)


def mark_suspect(path: Path) -> None:
    """Remember (next to the store) that it was found damaged while in use; see SUSPECT_SUFFIX."""
    marker = suspect_marker(path)
    if not marker.exists():
        log.error("the local store is damaged: it will be checked and set aside at the next start")
        with contextlib.suppress(OSError):  # a read-only folder: the start-up check still runs, with a budget
            marker.touch(mode=0o600)


class _Repository:
    """Reads begin DEFERRED (WAL readers never block); writes begin IMMEDIATE, one at a time."""

    def __init__(self, engine: Engine, path: Path, write_lock: threading.Lock | None = None,
                 reserve_bytes: int = OUTCOME_RESERVE_BYTES) -> None:
        self._read = engine
        self._write = writer(engine)
        self._path = path
        self._write_lock = write_lock or threading.Lock()
        self.reserve_bytes = reserve_bytes
        self._short_of_space = False

    def _keep_space_for_outcomes(self, what: str) -> None:
        """Raise StoreLowSpace when the data volume has less than the outcomes' reserve free."""
        try:
            free = shutil.disk_usage(self._path.parent).free
        except OSError:
            return  # cannot tell: the write itself reports a real problem
        short = free < self.reserve_bytes
        if short != self._short_of_space:
            self._short_of_space = short
            if short:
                log.warning("disk almost full: cache and pop-log writes paused, the space is kept for outcomes",
                            extra={"free_bytes": free, "reserve_bytes": self.reserve_bytes})
            else:
                log.info("disk space back above the outcomes' reserve: cache and pop log resume")
        if short:
            raise StoreLowSpace(
                f"Less than {self.reserve_bytes // (1024 * 1024)} MiB free on the disk holding {self._path.parent}: "
                f"the space is kept for outcomes ({what} not saved).", self._path)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        # This process's writers (outcome saves, sync bookkeeping, cache) queue on a mutex, handed over
        # the moment the holder commits, rather than on SQLite's busy handler, which sleeps 1, 2, 5, 10 …
        # ms between tries: an outcome save behind a sync's commit used to wait ~10 ms for nothing.
        with self._write_lock, self._write.begin() as conn:
            yield conn


def _opt_dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _record_from_payload(payload: dict[str, Any], pop_id: int | None, popped_at: dt.datetime | None) -> OutcomeRecord:
    if not payload.get("decision_id") and not payload.get("caller_number"):
        raise KeyError("decision_id")
    return OutcomeRecord(
        outcome_id=payload["outcome_id"],
        decision_id=payload.get("decision_id"),
        customer_id=payload.get("customer_id"),
        caller_number=payload.get("caller_number"),
        result=OutcomeResult(payload["result"]),
        recorded_at=dt.datetime.fromisoformat(payload["recorded_at"]),
        offer_id=payload.get("offer_id"),
        campaign_id=payload.get("campaign_id"),
        wave=payload.get("wave"),
        channel=payload.get("channel", "inbound_call"),
        note=payload.get("note"),
        callback_at=_opt_dt(payload.get("callback_at")),
        reason=payload.get("reason"),
        agent_id=payload.get("agent_id"),
        call_id=payload.get("call_id"),
        pop_id=pop_id,
        popped_at=popped_at,
    )


def _entry(r: Any) -> OutboxEntry:
    return OutboxEntry(
        outcome_id=r.outcome_id, customer_id=r.customer_id, offer_id=r.offer_id,
        result=OutcomeResult(r.result), recorded_at=r.recorded_at, status=OutboxStatus(r.status),
        attempts=r.attempts, server_reason=r.server_reason, server_reason_zh=r.server_reason_zh,
        last_error=r.last_error,
        delivered_at=r.delivered_at,
    )


def _content(payload: dict[str, Any]) -> str:
    """What the agent answered, without the id and time that differ between two presses."""
    return json.dumps({k: v for k, v in payload.items() if k not in ("outcome_id", "recorded_at")}, sort_keys=True)


# Built once: an outcome save only binds values (building the statements cost more than SQLite's work).
_EARLIER_OUTCOMES = (
    select(models.OutboxItem.payload, models.OutboxItem.pop_id, models.OutboxItem.popped_at)
    .where(models.OutboxItem.decision_id == bindparam("decision_id"),
           models.OutboxItem.recorded_at >= bindparam("since"),
           models.OutboxItem.outcome_id.not_in(select(models.Retraction.outcome_id)))  # an undone one is no repeat
)
_INSERT_OUTBOX = insert(models.OutboxItem)
_INSERT_CONTACT = insert(models.LocalContact)
_INSERT_CALLBACK_DETAIL = insert(models.CallbackDetail).on_conflict_do_nothing(index_elements=["outcome_id"])
_INSERT_ATTEMPT = insert(models.OutboundAttempt).on_conflict_do_nothing(index_elements=["attempt_id"])


_POP_BY_ID = select(models.PopLog.id, models.PopLog.popped_at).where(models.PopLog.id == bindparam("pop_id"))
_POP_OF_DECISION = (
    select(models.PopLog.id, models.PopLog.popped_at)
    .where(models.PopLog.decision_id == bindparam("decision_id"))
    .order_by((models.PopLog.call_id == bindparam("call_id")).desc(), models.PopLog.id.desc())
    .limit(1)
)


def _linked_to_pop(conn: Connection, record: OutcomeRecord) -> OutcomeRecord:
    row = conn.execute(_POP_BY_ID, {"pop_id": record.pop_id}).first() if record.pop_id is not None else None
    if row is None:
        row = conn.execute(_POP_OF_DECISION, {"decision_id": record.decision_id, "call_id": record.call_id}).first()
    pop_id, popped_at = (row.id, row.popped_at) if row is not None else (None, None)
    return dataclasses.replace(record, pop_id=pop_id, popped_at=popped_at)


@dataclasses.dataclass
class Adopted:
    """What OutcomeRepository.adopt took in."""

    added: int = 0  # outcomes new to this store
    undelivered: int = 0  # of those, the ones still to be sent (pending) or to be looked at (needs attention)
    present: int = 0  # already here: left as they are
    invalid: int = 0  # unusable payloads
    contacts: int = 0  # statistics-only rows (their outbox row was gone)
    retractions: int = 0  # undos new to this store
    callback_details: int = 0  # names of callbacks (who to call back) new to this store
    call_results: int = 0  # outbound call results (no answer, busy …) new to this store
    call_results_undelivered: int = 0  # of those, still to be sent (pending) or to be looked at
    call_results_present: int = 0  # already here: left as they are


class OutcomeRepository(_Repository):
    """The outbox (delivery state) and local_contacts (what this workstation recorded).

    `generation` changes whenever an outcome is recorded: local contacts read under an older generation
    may be missing one (PopService keeps them in memory only while it is current).
    """

    generation = 0
    _modes_restricted = False

    @_guarded
    def record_outcome(self, record: OutcomeRecord, *, link_pop: bool = False) -> OutcomeRecord:
        """Store the outcome durably (committed, synchronous=FULL) and return it.

        A repeat of an outcome already recorded for the same pop and call moments ago (same content) returns
        the first record instead of storing a second one. `link_pop`: set the record's pop_id / popped_at
        from the pop log in the same transaction: its pop_id when that pop is logged, else the latest pop of
        its decision (of the same call first), else none.
        """
        with self._writing() as conn:
            if link_pop:
                record = _linked_to_pop(conn, record)
            payload = record.to_payload()
            earlier = conn.execute(_EARLIER_OUTCOMES, {
                "decision_id": record.decision_id or "", "since": record.recorded_at - DOUBLE_PRESS_WINDOW}).all()
            for row in earlier:
                if _content(row.payload) == _content(payload):
                    return _record_from_payload(row.payload, row.pop_id, row.popped_at)
            common = {
                "outcome_id": record.outcome_id, "decision_id": record.decision_id or "",
                "customer_id": record.contact_key, "offer_id": record.offer_id, "campaign_id": record.campaign_id,
                "wave": record.wave, "result": record.result.value, "agent_id": record.agent_id,
                "call_id": record.call_id, "recorded_at": record.recorded_at, "pop_id": record.pop_id,
                "popped_at": record.popped_at,
            }
            conn.execute(_INSERT_OUTBOX, {**common, "payload": payload, "status": OutboxStatus.PENDING.value,
                                          "attempts": 0})
            self.generation += 1  # before the commit: a reader that races it sees a new generation
            conn.execute(_INSERT_CONTACT, common)
            if record.result is OutcomeResult.CALLBACK and (record.display_name or record.masked_number):
                conn.execute(_INSERT_CALLBACK_DETAIL, {"outcome_id": record.outcome_id,
                                                       "display_name": record.display_name,
                                                       "masked_number": record.masked_number})
        if not self._modes_restricted:
            restrict_modes(self._path)  # the first write creates -wal/-shm
            self._modes_restricted = True
        return record

    @_guarded
    def adopt(self, outcomes: Iterable[SalvagedOutcome], contacts: Iterable[SalvagedContact] = (),
              retractions: Iterable[SalvagedRetraction] = (),
              callback_details: Iterable[SalvagedCallbackDetail] = (),
              attempts: Iterable[SalvagedAttempt] = ()) -> Adopted:
        """Take in outcomes recorded in another store file (a fallback store, a rescued damaged store), in one
        transaction. Idempotent: an outcome this store already knows (outbox or local contacts) is left as it
        is, so adopting the same file twice adds nothing and a delivered outcome never becomes pending again.
        Each outcome keeps its delivery state; `contacts` without an outcome row only feed statistics and
        local guidance (there is nothing to deliver). `retractions`: outcomes the agent undid there; each is
        taken in once with its state (a pending one is sent after its outcome), and the undone outcome counts
        nowhere here (no local contact), whichever file brought it. `callback_details`: who each callback of
        that file is for (the queue names them after the cached pop expired); only those of outcomes the file
        brought, never replacing what this store already has. `attempts`: outbound call results recorded there,
        each with its attempt_id (the server's idempotency key) and payload unchanged and its delivery state, so
        a pending one is sent once from here and the server never counts a call twice; one already here is
        left as it is."""
        known = select(models.LocalContact.outcome_id).where(models.LocalContact.outcome_id == bindparam("oid"))
        in_outbox = select(models.OutboxItem.outcome_id).where(models.OutboxItem.outcome_id == bindparam("oid"))
        report = Adopted()
        taken: set[str] = set()
        retractions, contacts = list(retractions), list(contacts)
        undone = {r.outcome_id for r in retractions}
        with self._writing() as conn:
            for outcome in outcomes:
                try:
                    record = _record_from_payload(outcome.payload, None, outcome.popped_at)
                except (KeyError, TypeError, ValueError):
                    report.invalid += 1
                    continue
                taken.add(outcome.outcome_id)
                if conn.execute(known, {"oid": outcome.outcome_id}).first() is not None \
                        or conn.execute(in_outbox, {"oid": outcome.outcome_id}).first() is not None:
                    report.present += 1
                    continue
                common = {
                    "outcome_id": record.outcome_id, "decision_id": record.decision_id or "",
                    "customer_id": record.contact_key, "offer_id": record.offer_id,
                    "campaign_id": record.campaign_id, "wave": record.wave, "result": record.result.value,
                    "agent_id": record.agent_id, "call_id": record.call_id, "recorded_at": record.recorded_at,
                    "pop_id": None, "popped_at": record.popped_at,
                }
                conn.execute(_INSERT_OUTBOX, {
                    **common, "payload": outcome.payload, "status": outcome.status, "attempts": outcome.attempts,
                    "last_error": outcome.last_error, "server_reason": outcome.server_reason,
                    "server_reason_zh": outcome.server_reason_zh,
                    "delivered_at": outcome.delivered_at})
                if outcome.outcome_id not in undone:
                    conn.execute(_INSERT_CONTACT, common)
                report.added += 1
                report.undelivered += outcome.undelivered
            for contact in contacts:
                if contact.outcome_id in taken or contact.outcome_id in undone \
                        or conn.execute(known, {"oid": contact.outcome_id}).first():
                    continue
                conn.execute(_INSERT_CONTACT, {
                    "outcome_id": contact.outcome_id, "decision_id": contact.decision_id,
                    "customer_id": contact.customer_id, "offer_id": contact.offer_id,
                    "campaign_id": contact.campaign_id, "wave": contact.wave, "result": contact.result,
                    "agent_id": contact.agent_id, "call_id": contact.call_id, "recorded_at": contact.recorded_at,
                    "pop_id": None, "popped_at": contact.popped_at,
                    "callback_at": contact.callback_at.replace(microsecond=0) if contact.callback_at else None})
                report.contacts += 1
            r = models.Retraction
            for retraction in retractions:
                added = conn.execute(insert(r).values(
                    outcome_id=retraction.outcome_id, requested_at=retraction.requested_at, status=retraction.status,
                    attempts=retraction.attempts, last_error=retraction.last_error,
                    delivered_at=retraction.delivered_at).on_conflict_do_nothing(index_elements=[r.outcome_id])
                ).rowcount
                report.retractions += added
                if added:  # undone there: the outcome counts nowhere here either (triggers of 0008 adjust)
                    conn.execute(delete(models.LocalContact).where(models.LocalContact.outcome_id == retraction.outcome_id))
            brought = taken | {contact.outcome_id for contact in contacts}
            for detail in callback_details:
                if detail.outcome_id in brought:
                    report.callback_details += conn.execute(_INSERT_CALLBACK_DETAIL, {
                        "outcome_id": detail.outcome_id, "display_name": detail.display_name,
                        "masked_number": detail.masked_number}).rowcount
            for attempt in attempts:
                if conn.execute(_INSERT_ATTEMPT, {
                        "attempt_id": attempt.attempt_id, "payload": attempt.payload, "lease_id": attempt.lease_id,
                        "customer_id": attempt.customer_id, "campaign_id": attempt.campaign_id, "wave": attempt.wave,
                        "result": attempt.result, "called_at": attempt.called_at, "recorded_at": attempt.recorded_at,
                        "status": attempt.status, "attempts": attempt.attempts, "last_error": attempt.last_error,
                        "delivered_at": attempt.delivered_at, "answer": attempt.answer}).rowcount:
                    report.call_results += 1
                    report.call_results_undelivered += attempt.undelivered
                else:
                    report.call_results_present += 1
            if report.added or report.contacts or report.retractions or report.callback_details:
                self.generation += 1  # before the commit, as in record_outcome
        return report

    @_guarded
    def local_contacts(self, customer_id: str, since: dt.datetime) -> list[LocalContact]:
        t = models.LocalContact
        with self._read.connect() as conn:
            rows = conn.execute(
                select(t.outcome_id, t.customer_id, t.offer_id, t.result, t.recorded_at, t.agent_id,
                       t.campaign_id, t.wave)
                .where(t.customer_id == customer_id, t.recorded_at >= since)
                .order_by(t.recorded_at)
            ).all()
        return [
            LocalContact(r.outcome_id, r.customer_id, r.offer_id, OutcomeResult(r.result), r.recorded_at,
                         r.agent_id, r.campaign_id, r.wave)
            for r in rows
        ]

    @_guarded
    def open_callbacks(self, since: dt.datetime, until: dt.datetime) -> list[ScheduledCallback]:
        """Callbacks agreed for a time in [since, until) with no outcome for that customer recorded after
        them (see desktop/domain/callbacks.py), earliest first; name and masked number from the cached pop,
        else as kept with the callback (callback_details)."""
        sql = text(
            "SELECT cb.outcome_id, cb.customer_id, cb.callback_at, cb.recorded_at,"
            " (SELECT prev.result FROM local_contacts AS prev INDEXED BY ix_local_contacts_customer"
            "   WHERE prev.customer_id = cb.customer_id AND prev.recorded_at <= cb.recorded_at"
            "   AND prev.result != 'callback' ORDER BY prev.recorded_at DESC LIMIT 1) AS last_result,"
            " coalesce(json_extract(d.document, '$.customer.display_name'), k.display_name) AS display_name,"
            " coalesce(json_extract(d.document, '$.customer.masked_msisdn'), k.masked_number) AS masked_number"
            " FROM local_contacts AS cb INDEXED BY ix_local_contacts_callback_kept"
            " LEFT JOIN cached_documents AS d ON d.customer_id = cb.customer_id"
            " LEFT JOIN callback_details AS k ON k.outcome_id = cb.outcome_id"
            " WHERE cb.result = 'callback' AND cb.callback_at >= :since AND cb.callback_at < :until"
            " AND NOT EXISTS (SELECT 1 FROM local_contacts AS later INDEXED BY ix_local_contacts_customer"
            "   WHERE later.customer_id = cb.customer_id AND later.recorded_at > cb.recorded_at)"
            " ORDER BY cb.callback_at, cb.recorded_at")
        params = {"since": store_time(since), "until": store_time(until)}
        with self._read.connect() as conn:
            rows = conn.execute(sql, params).all()
        return [ScheduledCallback(r.outcome_id, r.customer_id, parse_store_time(r.callback_at),
                                  parse_store_time(r.recorded_at), r.display_name, r.masked_number, r.last_result)
                for r in rows]

    @_guarded
    def forget_callback_names(self) -> int:
        """Sign-out: the names and masked numbers kept with callbacks go with the rest of the customer data
        (the callbacks themselves stay: the queue then shows customer ids). Returns how many went."""
        with self._writing() as conn:
            return conn.execute(delete(models.CallbackDetail)).rowcount

    def undo(self, outcome_id: str, now: dt.datetime, window: dt.timedelta) -> UndoResult:
        """Take back an outcome recorded here, in one transaction. Still pending and recorded less than
        `window` before `now` (sync sends nothing younger): deleted from the outbox. Otherwise, if it may be on
        the server (sent, or pending and about to be), a retraction is queued for sync. Its local contact is
        deleted either way (statistics and local guidance forget it; migration 0008 keeps the counters)."""
        o, c, r = models.OutboxItem, models.LocalContact, models.Retraction
        with self._writing() as conn:
            if conn.execute(select(r.outcome_id).where(r.outcome_id == outcome_id)).first() is not None:
                return UndoResult.ALREADY
            row = conn.execute(select(o.status, o.recorded_at).where(o.outcome_id == outcome_id)).first()
            known = conn.execute(select(c.outcome_id).where(c.outcome_id == outcome_id)).first() is not None
            if row is None and not known:
                return UndoResult.NOT_FOUND
            self.generation += 1  # local contacts change (as in record_outcome, before the commit)
            conn.execute(delete(c).where(c.outcome_id == outcome_id))
            conn.execute(delete(models.CallbackDetail).where(models.CallbackDetail.outcome_id == outcome_id))
            if row is not None and row.status == OutboxStatus.PENDING.value and row.recorded_at > now - window:
                conn.execute(delete(o).where(o.outcome_id == outcome_id))
                return UndoResult.REMOVED
            if row is not None and row.status in (OutboxStatus.NEEDS_ATTENTION.value, OutboxStatus.DISMISSED.value):
                # Refused by the server: nothing of it is there to retract.
                conn.execute(update(o).where(o.outcome_id == outcome_id).values(status=OutboxStatus.DISMISSED.value))
                return UndoResult.REMOVED
            conn.execute(insert(r).values(outcome_id=outcome_id, requested_at=now,
                                          status=OutboxStatus.PENDING.value, attempts=0))
            return UndoResult.RETRACTING

    @_guarded
    def pending_retractions(self, limit: int = 200) -> list[str]:
        """Retractions to send: those whose outcome is no longer waiting in the outbox (the server must have
        the outcome before it can take it back), oldest first."""
        o, r = models.OutboxItem, models.Retraction
        waiting = select(o.outcome_id).where(o.status == OutboxStatus.PENDING.value)
        with self._read.connect() as conn:
            return list(conn.scalars(
                select(r.outcome_id)
                .where(r.status == OutboxStatus.PENDING.value, r.outcome_id.not_in(waiting))
                .order_by(r.requested_at, r.outcome_id).limit(limit)))

    @_guarded
    def count_pending_retractions(self) -> int:
        r = models.Retraction
        with self._read.connect() as conn:
            return conn.scalar(select(func.count()).where(r.status == OutboxStatus.PENDING.value)) or 0

    @_guarded
    def mark_retracted(self, outcome_id: str, at: dt.datetime) -> None:
        r = models.Retraction
        with self._writing() as conn:
            conn.execute(update(r).where(r.outcome_id == outcome_id, r.status == OutboxStatus.PENDING.value)
                         .values(status=OutboxStatus.DELIVERED.value, delivered_at=at, attempts=r.attempts + 1,
                                 last_error=None))

    @_guarded
    def mark_retraction_attempted(self, outcome_id: str, error: str) -> None:
        r = models.Retraction
        with self._writing() as conn:
            conn.execute(update(r).where(r.outcome_id == outcome_id)
                         .values(attempts=r.attempts + 1, last_error=error))

    @_guarded
    def pending(self, limit: int, exclude: Iterable[str] = (),
                recorded_before: dt.datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Oldest pending items first: (outcome_id, payload); with `recorded_before`, only those recorded
        before it (sync holds the ones the agent may still undo)."""
        t = models.OutboxItem
        query = (
            select(t.outcome_id, t.payload)
            .where(t.status == OutboxStatus.PENDING.value)
            .order_by(t.recorded_at, t.outcome_id)
            .limit(limit)
        )
        if recorded_before is not None:
            query = query.where(t.recorded_at <= recorded_before)
        excluded = list(exclude)
        if excluded:
            query = query.where(t.outcome_id.not_in(excluded))
        with self._read.connect() as conn:
            return [(r.outcome_id, r.payload) for r in conn.execute(query)]

    @_guarded
    def first_pending_after(self, recorded_after: dt.datetime) -> dt.datetime | None:
        """When the earliest pending outcome recorded after `recorded_after` was recorded (sync holds those)."""
        t = models.OutboxItem
        with self._read.connect() as conn:
            return conn.execute(select(func.min(t.recorded_at)).where(
                t.status == OutboxStatus.PENDING.value, t.recorded_at > recorded_after)).scalar()

    @_guarded
    def mark_attempted(self, outcome_ids: Sequence[str], error: str | None) -> None:
        t = models.OutboxItem
        with self._writing() as conn:
            conn.execute(
                update(t).where(t.outcome_id.in_(outcome_ids)).values(attempts=t.attempts + 1, last_error=error)
            )

    @_guarded
    def mark_delivered(self, outcome_ids: Sequence[str], at: dt.datetime) -> int:
        t = models.OutboxItem
        with self._writing() as conn:
            result = conn.execute(
                update(t)
                .where(t.outcome_id.in_(outcome_ids), t.status == OutboxStatus.PENDING.value)
                .values(status=OutboxStatus.DELIVERED.value, delivered_at=at, attempts=t.attempts + 1,
                        last_error=None, server_reason=None)
            )
        return result.rowcount

    @_guarded
    def mark_needs_attention(self, rejected: dict[str, str], reasons_zh: dict[str, str] | None = None) -> None:
        """outcome_id -> the server's reason (and in `reasons_zh` the same in Chinese, when given). Never
        deleted: a person decides what happens to them."""
        t = models.OutboxItem
        reasons_zh = reasons_zh or {}
        with self._writing() as conn:
            for outcome_id, reason in rejected.items():
                conn.execute(
                    update(t)
                    .where(t.outcome_id == outcome_id, t.status == OutboxStatus.PENDING.value)
                    .values(status=OutboxStatus.NEEDS_ATTENTION.value, server_reason=reason,
                            server_reason_zh=reasons_zh.get(outcome_id), attempts=t.attempts + 1)
                )

    def _move(self, outcome_id: str, to: OutboxStatus) -> bool:
        t = models.OutboxItem
        with self._writing() as conn:
            result = conn.execute(
                update(t)
                .where(t.outcome_id == outcome_id, t.status == OutboxStatus.NEEDS_ATTENTION.value)
                .values(status=to.value, attempts=0, last_error=None)
            )
        return result.rowcount == 1

    @_guarded
    def retry(self, outcome_id: str) -> bool:
        """Needs-attention item back to pending (e.g. after the server's catalog was fixed)."""
        return self._move(outcome_id, OutboxStatus.PENDING)

    @_guarded
    def dismiss(self, outcome_id: str) -> bool:
        """The agent chose to drop a rejected item; the row stays for audit and statistics."""
        return self._move(outcome_id, OutboxStatus.DISMISSED)

    @_guarded
    def counts(self) -> dict[OutboxStatus, int]:
        t = models.OutboxItem
        with self._read.connect() as conn:
            rows = conn.execute(select(t.status, func.count()).group_by(t.status)).all()
        counts = dict.fromkeys(OutboxStatus, 0)
        counts.update({OutboxStatus(status): n for status, n in rows})
        return counts

    @_guarded
    def entries(self, status: OutboxStatus | None = None, limit: int = 500) -> list[OutboxEntry]:
        """Outbox rows, oldest first (the "needs attention" list is `entries(NEEDS_ATTENTION)`)."""
        t = models.OutboxItem
        query = select(t).order_by(t.recorded_at).limit(limit)
        if status is not None:
            query = query.where(t.status == status.value)
        with self._read.connect() as conn:
            return [_entry(r) for r in conn.execute(query)]

    @_guarded
    def entry(self, outcome_id: str) -> OutboxEntry | None:
        t = models.OutboxItem
        with self._read.connect() as conn:
            row = conn.execute(select(t).where(t.outcome_id == outcome_id)).first()
        return None if row is None else _entry(row)

    @_guarded
    def last_delivered_at(self) -> dt.datetime | None:
        t = models.OutboxItem
        with self._read.connect() as conn:
            return conn.execute(select(func.max(t.delivered_at))).scalar()

    @_guarded
    def prune_delivered(self, before: dt.datetime) -> int:
        """Drop delivered outbox rows older than `before`; local_contacts keeps them for statistics."""
        t = models.OutboxItem
        with self._writing() as conn:
            return conn.execute(
                delete(t).where(t.status == OutboxStatus.DELIVERED.value, t.delivered_at < before)
            ).rowcount


class CachedViewRepository(_Repository):
    """Last pop document per customer, found by 'ani:<digits>' or 'cust:<id>'.

    `generation` changes whenever cached data is removed (forget, purge, clear): a copy held in memory
    (PopService) is valid only while the generation it was read under is current.
    """

    generation = 0

    def _removed(self) -> None:
        self.generation += 1

    @_guarded
    def put(self, keys: Iterable[str], customer_id: str, document: dict[str, Any], fetched_at: dt.datetime) -> None:
        docs, views = models.CachedDocument, models.CachedView
        self._keep_space_for_outcomes("cached customer data")
        with self._writing() as conn:
            statement = insert(docs).values(customer_id=customer_id, document=document, fetched_at=fetched_at)
            conn.execute(statement.on_conflict_do_update(
                index_elements=[docs.customer_id],
                set_={"document": statement.excluded.document, "fetched_at": statement.excluded.fetched_at},
            ))
            for key in dict.fromkeys(keys):
                statement = insert(views).values(key=key, customer_id=customer_id)
                conn.execute(statement.on_conflict_do_update(
                    index_elements=[views.key], set_={"customer_id": statement.excluded.customer_id}
                ))

    @_guarded
    def get(self, keys: Sequence[str], not_before: dt.datetime) -> tuple[dict[str, Any], dt.datetime] | None:
        """The document of the first key that has one fetched at or after `not_before` (the TTL)."""
        docs, views = models.CachedDocument, models.CachedView
        with self._read.connect() as conn:
            for key in keys:
                row = conn.execute(
                    select(docs.document, docs.fetched_at)
                    .join(views, views.customer_id == docs.customer_id)
                    .where(views.key == key, docs.fetched_at >= not_before)
                ).first()
                if row is not None:
                    return row.document, row.fetched_at
        return None

    @_guarded
    def forget(self, key: str) -> None:
        self._removed()
        with self._writing() as conn:
            conn.execute(delete(models.CachedView).where(models.CachedView.key == key))

    @_guarded
    def purge_expired(self, before: dt.datetime) -> int:
        self._removed()
        with self._writing() as conn:
            return conn.execute(
                delete(models.CachedDocument).where(models.CachedDocument.fetched_at < before)
            ).rowcount

    @_guarded
    def clear(self) -> None:
        self._removed()
        with self._writing() as conn:
            conn.execute(delete(models.CachedView))
            conn.execute(delete(models.CachedDocument))
        # Deleted customer data should not linger in the WAL file either.
        with self._read.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


class PopLogRepository(_Repository):
    @_guarded
    def log(
        self,
        *,
        popped_at: dt.datetime,
        state: str,
        call_id: str | None,
        customer_id: str | None,
        decision_id: str | None,
        agent_id: str | None,
        offers_presented: list[str],
        suppressed: list[dict[str, Any]],
        campaign_id: str | None,
        wave: int | None,
        names: list[tuple[str, str, str, str]] = (),
    ) -> int:
        """`names`: (kind, key, zh, en) the pop gave for its offers and campaign, kept in the same write."""
        self._keep_space_for_outcomes("pop log")
        with self._writing() as conn:
            pop_id = conn.execute(
                insert(models.PopLog).values(
                    popped_at=popped_at, state=state, call_id=call_id, customer_id=customer_id,
                    decision_id=decision_id, agent_id=agent_id, offers_presented=offers_presented,
                    suppressed=suppressed, campaign_id=campaign_id, wave=wave,
                ).returning(models.PopLog.id)
            ).scalar_one()
            if names:
                upsert = insert(models.DisplayName).values(
                    [{"kind": k, "key": key[:64], "zh": zh, "en": en} for k, key, zh, en in names])
                conn.execute(upsert.on_conflict_do_update(
                    index_elements=["kind", "key"], set_={"zh": upsert.excluded.zh, "en": upsert.excluded.en}))
            return pop_id

    @_guarded
    def names(self) -> dict[str, dict[str, tuple[str, str]]]:
        """kind -> key -> (zh, en): every offer and campaign name a pop has shown on this computer."""
        found: dict[str, dict[str, tuple[str, str]]] = {}
        with self._read.connect() as conn:
            for kind, key, zh, en in conn.execute(select(models.DisplayName.kind, models.DisplayName.key,
                                                          models.DisplayName.zh, models.DisplayName.en)):
                found.setdefault(kind, {})[key] = (zh, en)
        return found


class LocalStore:
    """The desktop's SQLite file. Thread-safe: share one instance between the UI and the sync worker."""

    def __init__(self, engine: Engine, path: Path, *, reserve_bytes: int = OUTCOME_RESERVE_BYTES) -> None:
        self.engine = engine
        self.path = path
        write_lock = threading.Lock()  # one writer at a time in this process (see _Repository._writing)
        self.outcomes = OutcomeRepository(engine, path, write_lock)
        # Cache and pop log give way to outcomes when the disk is nearly full (see OUTCOME_RESERVE_BYTES).
        self.views = CachedViewRepository(engine, path, write_lock, reserve_bytes)
        self.pops = PopLogRepository(engine, path, write_lock, reserve_bytes)
        from desktop.storage.outbound import AttemptRepository  # it builds on this module's _Repository

        self.attempts = AttemptRepository(engine, path, write_lock)  # outbound call results (migration 0010)
        # Held by SyncService while it sends: one delivery run at a time per store, whatever thread asks.
        self.sync_lock = threading.Lock()

    def record_outcome(self, record: OutcomeRecord, *, link_pop: bool = False) -> OutcomeRecord:
        return self.outcomes.record_outcome(record, link_pop=link_pop)

    def pragma(self, name: str) -> Any:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

    def check_integrity(self, budget_s: float | None = None) -> bool | None:
        """PRAGMA quick_check: True (sound), False (damaged), None (not finished within `budget_s`).

        Damage found here is also remembered next to the file (see SUSPECT_SUFFIX). Other failures (I/O, a
        locked file) raise StoreError. A budget of 0 checks nothing now (None)."""
        if budget_s is not None and budget_s <= 0:
            return None
        try:
            with self.engine.connect() as conn, _interrupted_after(conn.connection.dbapi_connection, budget_s):
                rows = conn.exec_driver_sql("PRAGMA quick_check(20)").scalars().all()
        except (SQLAlchemyError, OSError) as exc:
            orig = getattr(exc, "orig", exc)
            if getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT:
                return None
            error = classify(exc, self.path)
            if not isinstance(error, StoreCorrupt):
                raise error from exc
            rows = [str(orig)]
        if rows == ["ok"]:
            return True
        log.error("the local store failed its integrity check", extra={"problems": len(rows)})
        mark_suspect(self.path)
        return False

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def open_store(path: Path, *, reserve_bytes: int = OUTCOME_RESERVE_BYTES) -> LocalStore:
    """Open (creating and migrating as needed) the local store at `path`.

    Raises StoreCorrupt, StoreReadOnly, StoreFull or StoreError with a message to show the agent.
    """
    path = Path(path)
    return LocalStore(open_engine(path), path, reserve_bytes=reserve_bytes)


@contextlib.contextmanager
def _interrupted_after(connection: sqlite3.Connection, budget_s: float | None) -> Iterator[None]:
    """sqlite3_interrupt() the connection's statement once `budget_s` has passed (it then fails with
    SQLITE_INTERRUPT). A watchdog thread, because the integrity check runs inside one VM instruction, so a
    progress handler is not called while it reads a cold file (measured: 1.1 s for 73 MB, budget or not). An
    interrupt that lands before the statement has started is a no-op in SQLite: the watchdog repeats it every
    10 ms until the block is left."""
    if budget_s is None:
        yield
        return
    done = threading.Event()

    def watchdog() -> None:
        if done.wait(budget_s):
            return
        while not done.is_set():
            connection.interrupt()
            done.wait(0.01)

    thread = threading.Thread(target=watchdog, name="callcue-check-budget", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def check_store_file(path: Path, budget_s: float | None = None) -> bool | None:
    """PRAGMA quick_check on the file through a read-only connection, before the store is opened for
    writing: True (sound), False (damaged), None (not finished within `budget_s`, or not checkable read-only:
    opening it decides). Read-only, so closing the connection never checkpoints the -wal into a damaged file:
    a store set aside after this check is exactly as it was found."""
    path = Path(path)
    if not path.is_file() or (budget_s is not None and budget_s <= 0):
        return None
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                     timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error:
        return None
    try:
        with _interrupted_after(connection, budget_s):
            rows = [row[0] for row in connection.execute("PRAGMA quick_check(20)")]
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return False
        return None  # interrupted, locked, cannot open read-only …
    finally:
        connection.close()
    if rows == ["ok"]:
        return True
    log.error("the local store failed its integrity check", extra={"problems": len(rows)})
    return False


def quarantine_corrupt_store(path: Path, now: dt.datetime) -> Path:
    """Move a damaged store (and its -wal/-shm) aside so a fresh one can be created; returns the new name.

    Never deletes anything: the damaged file may still hold undelivered outcomes to rescue (`callcue store
    rescue`). A name already taken (two set-asides in one second) gets a counter, never overwritten.
    """
    path = Path(path)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    counter = 1
    while any(target.with_name(target.name + suffix).exists() for suffix in ("", "-wal", "-shm")):
        counter += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{counter}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.rename(target.with_name(target.name + suffix))
    with contextlib.suppress(OSError):
        suspect_marker(path).unlink(missing_ok=True)  # its file is gone; the new one starts clean
    return target
