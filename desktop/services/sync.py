"""Delivering the outbox to POST /v1/outcomes: batches, backoff with jitter, nothing dropped or doubled.

The runtime calls `sync_once()` from a worker thread: on a timer (if `due()`), and with `force=True` right
after an outcome is recorded or after sign-in. A store-wide lock makes concurrent calls take turns (the
loser returns at once with `skipped="busy"`), so an item is never in flight twice; and as the server
dedupes by outcome_id, an item resent after a lost answer comes back `duplicate`, which counts as
delivered. Rejected items move to "needs attention" with the server's reason, for a person to decide.

An item counts as answered only by a per-item result that names it: the result's `outcome_id` must be one
this batch sent, and only one result may name it. The result's position (`index`) is never enough: a
broken server, proxy or cache that answers `"outcome_id": null`, another batch's ids, the same id twice or
fewer results than items would otherwise mark outcomes delivered that the server may never have stored.
Such items stay pending (sent again; the server dedupes), and the run says so: a warning in the log
(counts only) and `bad_response` as the sync state's last error, with the usual backoff.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from desktop.domain.errors import UserError
from desktop.domain.outcomes import UNDO_WINDOW, ItemResult, OutboxEntry, OutboxStatus, masked_key, number_of
from desktop.domain.states import SyncState
from desktop.remote.api_client import (
    AnalyticsClient,
    AuthFailed,
    OutcomeNotFound,
    PayloadTooLarge,
    RemoteError,
    ServerFailed,
)
from desktop.services.clock import Clock, utc_now
from desktop.storage import LocalStore, StoreError

log = logging.getLogger("callcue.sync")

BATCH_MAX_ITEMS = 200
BATCH_MAX_BYTES = 512 * 1024  # half the reference server's 1 MiB body limit
MAX_BACKOFF_S = 300.0
# Delivered outbox rows are dropped after this; local_contacts keeps every outcome for statistics.
OUTBOX_RETENTION = dt.timedelta(days=30)


def backoff_delay(failures: int, rng: random.Random) -> float:
    """Seconds to wait after `failures` consecutive failed runs: 2, 4, 8 … capped at 5 min, times 0.5–1.0.

    The jitter spreads a call center's reconnecting clients over time after a server outage.
    """
    return min(MAX_BACKOFF_S, 2.0 ** max(1, failures)) * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class SyncReport:
    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    retracted: int = 0  # retractions the server applied (or had nothing to apply to)
    unconfirmed: int = 0  # sent, but the answer did not name them unambiguously: still pending
    error: UserError | None = None
    skipped: str | None = None  # 'busy' (another run in progress) | 'backing_off' | 'not_signed_in'
    next_attempt_at: dt.datetime | None = None
    # The earliest time an outcome held for its undo window becomes sendable (None: none is held): the
    # service has a run scheduled for then (its `wake_at`) instead of being asked again and again.
    held_until: dt.datetime | None = None

    @property
    def delivered(self) -> int:
        return self.accepted + self.duplicate


def unconfirmed_error(count: int) -> UserError:
    return UserError("bad_response", f"the server's answer did not confirm {count} outcome(s): "
                                     "they stay pending and are sent again")


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode()) + 1


class SyncService:
    def __init__(
        self,
        store: LocalStore,
        client: AnalyticsClient | None,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        *,
        batch_max_items: int = BATCH_MAX_ITEMS,
        batch_max_bytes: int = BATCH_MAX_BYTES,
        hold: dt.timedelta = UNDO_WINDOW,
        wake_at: Callable[[dt.datetime], None] | None = None,
    ) -> None:
        self.hold = hold  # outcomes younger than this are not sent: the agent may still undo them
        # How this service has a run of its own at a time (callable from any thread; the runtime's scheduler
        # starts the run then, through the panel's one sync runner: never two at once). None: runs happen
        # only when asked (scripts, tests).
        self._wake_at = wake_at
        self._wake_scheduled: dt.datetime | None = None
        self._store = store
        self._client = client
        self._clock = clock
        self._rng = rng or random.Random()
        self.batch_max_items = batch_max_items
        self.batch_max_bytes = batch_max_bytes
        self._state_lock = threading.Lock()  # guards the fields below (read by state() on the GUI thread)
        self._failures = 0
        self._offline_since: dt.datetime | None = None
        self._next_attempt_at: dt.datetime | None = None
        self._last_synced_at: dt.datetime | None = None
        self._last_error: UserError | None = None

    def use_client(self, client: AnalyticsClient | None) -> None:
        """After sign-in or sign-out; a new client gets a fresh start (no inherited backoff)."""
        with self._state_lock:
            self._client = client
            self._failures = 0
            self._next_attempt_at = None
            if client is not None and self._last_error is not None and self._last_error.code == "auth_failed":
                self._last_error = None

    # --- what follows an outcome --------------------------------------------------------------------

    def outcome_recorded(self, recorded_at: dt.datetime) -> None:
        """An outcome was recorded at `recorded_at`: a run when its undo hold ends (at once without a hold)."""
        self._schedule_run(recorded_at + max(self.hold, dt.timedelta(0)))

    def retraction_queued(self) -> None:
        """An undo queued a retraction for the server: a run now."""
        self._schedule_run(self._clock())

    def _schedule_run(self, when: dt.datetime) -> None:
        """A run at `when`, unless one is already scheduled before it (that run schedules the next)."""
        if self._wake_at is None:
            return
        with self._state_lock:
            scheduled = self._wake_scheduled
            if scheduled is not None and self._clock() < scheduled <= when:
                return
            self._wake_scheduled = when
        self._wake_at(when)

    # --- queries ------------------------------------------------------------------------------------

    def due(self, force: bool = False) -> bool:
        """Something is pending and (unless forced) the backoff delay has passed."""
        with self._state_lock:
            waiting = self._next_attempt_at is not None and self._clock() < self._next_attempt_at
        if waiting and not force:
            return False
        try:
            outcomes = self._store.outcomes
            return outcomes.counts()[OutboxStatus.PENDING] > 0 or outcomes.count_pending_retractions() > 0
        except StoreError:
            return False

    def state(self) -> SyncState:
        counts = self._store.outcomes.counts()
        with self._state_lock:
            last_synced = self._last_synced_at
            snapshot = (self._offline_since, self._last_error, self._next_attempt_at, self._client is not None)
        if last_synced is None:
            last_synced = self._store.outcomes.last_delivered_at()
        return SyncState(
            pending=counts[OutboxStatus.PENDING] + self._store.outcomes.count_pending_retractions(),
            needs_attention=counts[OutboxStatus.NEEDS_ATTENTION],
            offline_since=snapshot[0],
            last_synced_at=last_synced,
            last_error=snapshot[1],
            next_attempt_at=snapshot[2],
            signed_in=snapshot[3],
        )

    def needs_attention(self) -> list[OutboxEntry]:
        return self._store.outcomes.entries(OutboxStatus.NEEDS_ATTENTION)

    def waiting(self) -> list[OutboxEntry]:
        """What the sync drawer lists: outcomes needing attention, then those waiting to be sent, oldest first,
        each with its customer's name when this PC still has their pop cached (else the id only)."""
        entries = [*self._store.outcomes.entries(OutboxStatus.NEEDS_ATTENTION),
                   *self._store.outcomes.entries(OutboxStatus.PENDING)]
        names: dict[str, str | None] = {}
        for customer_id in {entry.customer_id for entry in entries}:
            if number_of(customer_id) is not None:  # a caller without a customer record: the masked number
                names[customer_id] = masked_key(customer_id)
                continue
            cached = self._store.views.get([f"cust:{customer_id}"], not_before=dt.datetime.min.replace(tzinfo=dt.UTC))
            customer = cached[0].get("customer") if cached is not None else None
            names[customer_id] = customer.get("display_name") if isinstance(customer, dict) else None
        return [replace(entry, customer_name=names[entry.customer_id]) for entry in entries]

    def retry_attention(self, outcome_id: str) -> bool:
        """Send a rejected item again (e.g. after the server's catalog was fixed). False if not found."""
        return self._store.outcomes.retry(outcome_id)

    def dismiss_attention(self, outcome_id: str) -> bool:
        """Drop a rejected item on purpose (kept in the store, marked dismissed). False if not found."""
        return self._store.outcomes.dismiss(outcome_id)

    # --- delivery -----------------------------------------------------------------------------------

    def sync_once(self, *, force: bool = False) -> SyncReport:
        """Send every pending outcome, in batches. Blocking (network): call from a worker thread."""
        if not self._store.sync_lock.acquire(blocking=False):
            return SyncReport(skipped="busy")
        try:
            with self._state_lock:
                client, next_at = self._client, self._next_attempt_at
            if client is None:
                return SyncReport(skipped="not_signed_in")
            if not force and next_at is not None and self._clock() < next_at:
                return SyncReport(skipped="backing_off", next_attempt_at=next_at)
            return self._deliver(client)
        finally:
            self._store.sync_lock.release()

    def _deliver(self, client: AnalyticsClient) -> SyncReport:
        totals = {"sent": 0, "accepted": 0, "duplicate": 0, "rejected": 0, "retracted": 0}
        unanswered: set[str] = set()  # ids the server's answer did not confirm: pending, not resent this run
        max_items = self.batch_max_items
        try:
            while True:
                rows = self._store.outcomes.pending(max_items, exclude=unanswered,
                                                    recorded_before=self._clock() - self.hold)
                if not rows:
                    break
                batch = self._fit(rows)
                ids = [outcome_id for outcome_id, _ in batch]
                try:
                    results = client.post_outcomes([payload for _, payload in batch])
                except PayloadTooLarge as exc:
                    if len(batch) > 1:
                        max_items = max(1, len(batch) // 2)
                        continue
                    self._store.outcomes.mark_needs_attention({ids[0]: f"too large for the server: {exc}"})
                    totals["rejected"] += 1
                    continue
                except RemoteError as exc:
                    self._store.outcomes.mark_attempted(ids, exc.user_error.code)
                    return self._failed(exc, totals, len(unanswered))
                totals["sent"] += len(batch)
                self._apply(batch, results, totals, unanswered)
            for outcome_id in self._store.outcomes.pending_retractions():
                try:
                    client.retract_outcome(outcome_id)
                except OutcomeNotFound:
                    pass  # the server never stored it (or it was refused): nothing there counts it
                except RemoteError as exc:
                    self._store.outcomes.mark_retraction_attempted(outcome_id, exc.user_error.code)
                    return self._failed(exc, totals, len(unanswered))
                self._store.outcomes.mark_retracted(outcome_id, self._clock())
                totals["retracted"] += 1
        except StoreError as exc:
            # Disk trouble while updating the outbox: items stay pending and come back "duplicate" later.
            log.warning("outbox update failed", extra={"error_code": exc.code})
            with self._state_lock:
                self._last_error = exc.user_error
            return SyncReport(**totals, unconfirmed=len(unanswered), error=exc.user_error)
        now = self._clock()
        answered = totals["accepted"] + totals["duplicate"] + totals["rejected"] + totals["retracted"]
        if answered:
            try:
                self._store.outcomes.prune_delivered(now - OUTBOX_RETENTION)
            except StoreError as exc:
                log.warning("outbox not pruned", extra={"error_code": exc.code})
        if unanswered:
            # The server was reached, but its answer is not to be trusted for these items: not "offline",
            # but an error the agent sees ("N pending — the server's answer is unreadable") and a backoff,
            # so a broken proxy is not hammered with the same batch.
            return self._failed(None, totals, len(unanswered), answered=answered)
        with self._state_lock:
            self._failures = 0
            self._offline_since = None
            self._next_attempt_at = None
            self._last_error = None
            if answered:
                self._last_synced_at = now
        held = self._held_until(now)
        if held is not None:
            self._schedule_run(held)  # outcomes held for their undo window go when it ends
        return SyncReport(**totals, held_until=held)

    def _held_until(self, now: dt.datetime) -> dt.datetime | None:
        """When the first outcome still held for its undo window may be sent (None: none is held)."""
        if self.hold <= dt.timedelta(0):
            return None
        try:
            first = self._store.outcomes.first_pending_after(now - self.hold)
        except StoreError:
            return None
        return None if first is None else first + self.hold

    def _fit(self, rows: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        """The longest prefix under the byte budget (always at least one item)."""
        batch, size = [], 2
        for row in rows:
            size += _size(row[1])
            if batch and size > self.batch_max_bytes:
                break
            batch.append(row)
        return batch

    def _apply(self, batch, results: list[ItemResult], totals: dict[str, int], unanswered: set[str]) -> None:
        ids = [outcome_id for outcome_id, _ in batch]
        sent = set(ids)
        verdicts: dict[str, ItemResult] = {}
        named_twice: set[str] = set()
        ignored: Counter[str] = Counter()  # results that confirm nothing, by why (for the log: counts only)
        for result in results:
            if result.outcome_id is None:
                ignored["unnamed"] += 1
            elif result.outcome_id not in sent:
                ignored["not_sent"] += 1
            elif result.outcome_id in verdicts:
                named_twice.add(result.outcome_id)
                ignored["named_twice"] += 1
            else:
                verdicts[result.outcome_id] = result
        delivered: list[str] = []
        rejected: dict[str, str] = {}
        rejected_zh: dict[str, str] = {}
        unconfirmed: list[str] = []
        for outcome_id in ids:
            verdict = None if outcome_id in named_twice else verdicts.get(outcome_id)
            if verdict is None:
                unconfirmed.append(outcome_id)
            elif verdict.delivered:
                delivered.append(outcome_id)
                totals[verdict.status] += 1
            else:
                rejected[outcome_id] = verdict.reason or "rejected without a reason"
                if verdict.reason_zh:
                    rejected_zh[outcome_id] = verdict.reason_zh
                totals["rejected"] += 1
        now = self._clock()
        if delivered:
            self._store.outcomes.mark_delivered(delivered, now)
        if rejected:
            self._store.outcomes.mark_needs_attention(rejected, rejected_zh)
            log.warning("outcomes rejected by the server", extra={"count": len(rejected)})
        if unconfirmed:
            unanswered.update(unconfirmed)
            self._store.outcomes.mark_attempted(unconfirmed, "the server's answer did not confirm this outcome")
            log.warning(
                "server answer did not confirm outcomes; they stay pending",
                extra={"unconfirmed": len(unconfirmed), "sent": len(ids), "results": len(results),
                       "unnamed": ignored["unnamed"], "not_sent": ignored["not_sent"],
                       "named_twice": ignored["named_twice"]},
            )

    def _failed(self, exc: RemoteError | None, totals: dict[str, int], unconfirmed: int = 0, *,
                answered: int = 0) -> SyncReport:
        """Back off after a failed run: `exc` the request that failed, or None when the server answered
        but did not confirm `unconfirmed` items (the server was reached: not "offline")."""
        now = self._clock()
        error = exc.user_error if exc is not None else unconfirmed_error(unconfirmed)
        with self._state_lock:
            self._failures += 1
            delay = backoff_delay(self._failures, self._rng)
            if isinstance(exc, ServerFailed) and exc.retry_after:
                delay = max(delay, min(MAX_BACKOFF_S, exc.retry_after))
            self._next_attempt_at = now + dt.timedelta(seconds=delay)
            if exc is None:
                self._offline_since = None
                if answered:
                    self._last_synced_at = now
            # A rejected token is not "offline": the panel prompts for sign-in instead.
            elif not isinstance(exc, AuthFailed) and self._offline_since is None:
                self._offline_since = now
            self._last_error = error
            next_at = self._next_attempt_at
        log.info("sync failed", extra={"error_code": error.code, "retry_in_s": round(delay, 1)})
        return SyncReport(**totals, unconfirmed=unconfirmed, error=error, next_attempt_at=next_at)
