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
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import SQLAlchemyError

from desktop.domain.outcomes import (
    LocalContact,
    OutboxEntry,
    OutboxStatus,
    OutcomeRecord,
    OutcomeResult,
)
from desktop.storage import models
from desktop.storage.engine import StoreError, classify, open_engine, restrict_modes, writer

P = ParamSpec("P")
R = TypeVar("R")

# A second identical outcome for the same pop within this window is a double key press, not a new answer.
DOUBLE_PRESS_WINDOW = dt.timedelta(minutes=10)


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        repo = args[0]
        try:
            return method(*args, **kwargs)
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise classify(exc, repo._path) from exc  # type: ignore[attr-defined]

    return wrapper


class _Repository:
    """Reads begin DEFERRED (WAL readers never block); writes begin IMMEDIATE, one at a time."""

    def __init__(self, engine: Engine, path: Path, write_lock: threading.Lock | None = None) -> None:
        self._read = engine
        self._write = writer(engine)
        self._path = path
        self._write_lock = write_lock or threading.Lock()

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
    return OutcomeRecord(
        outcome_id=payload["outcome_id"],
        decision_id=payload["decision_id"],
        customer_id=payload["customer_id"],
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
        attempts=r.attempts, server_reason=r.server_reason, last_error=r.last_error,
        delivered_at=r.delivered_at,
    )


def _content(payload: dict[str, Any]) -> str:
    """What the agent answered, without the id and time that differ between two presses."""
    return json.dumps({k: v for k, v in payload.items() if k not in ("outcome_id", "recorded_at")}, sort_keys=True)


# Built once: an outcome save only binds values (building the statements cost more than SQLite's work).
_EARLIER_OUTCOMES = (
    select(models.OutboxItem.payload, models.OutboxItem.pop_id, models.OutboxItem.popped_at)
    .where(models.OutboxItem.decision_id == bindparam("decision_id"),
           models.OutboxItem.recorded_at >= bindparam("since"))
)
_INSERT_OUTBOX = insert(models.OutboxItem)
_INSERT_CONTACT = insert(models.LocalContact)


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
                "decision_id": record.decision_id, "since": record.recorded_at - DOUBLE_PRESS_WINDOW}).all()
            for row in earlier:
                if _content(row.payload) == _content(payload):
                    return _record_from_payload(row.payload, row.pop_id, row.popped_at)
            common = {
                "outcome_id": record.outcome_id, "decision_id": record.decision_id,
                "customer_id": record.customer_id, "offer_id": record.offer_id, "campaign_id": record.campaign_id,
                "wave": record.wave, "result": record.result.value, "agent_id": record.agent_id,
                "call_id": record.call_id, "recorded_at": record.recorded_at, "pop_id": record.pop_id,
                "popped_at": record.popped_at,
            }
            conn.execute(_INSERT_OUTBOX, {**common, "payload": payload, "status": OutboxStatus.PENDING.value,
                                          "attempts": 0})
            self.generation += 1  # before the commit: a reader that races it sees a new generation
            conn.execute(_INSERT_CONTACT, common)
        if not self._modes_restricted:
            restrict_modes(self._path)  # the first write creates -wal/-shm
            self._modes_restricted = True
        return record

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
    def pending(self, limit: int, exclude: Iterable[str] = ()) -> list[tuple[str, dict[str, Any]]]:
        """Oldest pending items first: (outcome_id, payload)."""
        t = models.OutboxItem
        query = (
            select(t.outcome_id, t.payload)
            .where(t.status == OutboxStatus.PENDING.value)
            .order_by(t.recorded_at, t.outcome_id)
            .limit(limit)
        )
        excluded = list(exclude)
        if excluded:
            query = query.where(t.outcome_id.not_in(excluded))
        with self._read.connect() as conn:
            return [(r.outcome_id, r.payload) for r in conn.execute(query)]

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
    def mark_needs_attention(self, rejected: dict[str, str]) -> None:
        """outcome_id -> the server's reason. Never deleted: a person decides what happens to them."""
        t = models.OutboxItem
        with self._writing() as conn:
            for outcome_id, reason in rejected.items():
                conn.execute(
                    update(t)
                    .where(t.outcome_id == outcome_id, t.status == OutboxStatus.PENDING.value)
                    .values(status=OutboxStatus.NEEDS_ATTENTION.value, server_reason=reason,
                            attempts=t.attempts + 1)
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
    ) -> int:
        with self._writing() as conn:
            return conn.execute(
                insert(models.PopLog).values(
                    popped_at=popped_at, state=state, call_id=call_id, customer_id=customer_id,
                    decision_id=decision_id, agent_id=agent_id, offers_presented=offers_presented,
                    suppressed=suppressed, campaign_id=campaign_id, wave=wave,
                ).returning(models.PopLog.id)
            ).scalar_one()


class LocalStore:
    """The desktop's SQLite file. Thread-safe: share one instance between the UI and the sync worker."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        write_lock = threading.Lock()  # one writer at a time in this process (see _Repository._writing)
        self.outcomes = OutcomeRepository(engine, path, write_lock)
        self.views = CachedViewRepository(engine, path, write_lock)
        self.pops = PopLogRepository(engine, path, write_lock)
        # Held by SyncService while it sends: one delivery run at a time per store, whatever thread asks.
        self.sync_lock = threading.Lock()

    def record_outcome(self, record: OutcomeRecord, *, link_pop: bool = False) -> OutcomeRecord:
        return self.outcomes.record_outcome(record, link_pop=link_pop)

    def pragma(self, name: str) -> Any:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

    def check_integrity(self) -> bool:
        try:
            return self.pragma("quick_check") == "ok"
        except (SQLAlchemyError, OSError) as exc:
            raise classify(exc, self.path) from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def open_store(path: Path) -> LocalStore:
    """Open (creating and migrating as needed) the local store at `path`.

    Raises StoreCorrupt, StoreReadOnly, StoreFull or StoreError with a message to show the agent.
    """
    path = Path(path)
    return LocalStore(open_engine(path), path)


def quarantine_corrupt_store(path: Path, now: dt.datetime) -> Path:
    """Move a damaged store (and its -wal/-shm) aside so a fresh one can be created; returns the new name.

    Only on the agent's or IT's say-so: the damaged file may still hold undelivered outcomes to rescue.
    """
    path = Path(path)
    target = path.with_name(f"{path.name}.damaged-{now.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.rename(target.with_name(target.name + suffix))
    return target
