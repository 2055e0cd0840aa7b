"""Recording outcomes: validated, durable in the local store before the UI says "saved"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.domain.guidance import LOCAL_MEMORY, apply_local_outcomes
from desktop.domain.outcomes import (
    UNDO_WINDOW,
    InvalidOutcome,
    LocalContact,
    OutcomeDraft,
    OutcomeRecord,
    OutcomeResult,
    UndoResult,
)
from desktop.domain.pop import PopDocument
from desktop.domain.states import PopResult, PopState
from desktop.services.clock import Clock, utc_now
from desktop.storage import LocalStore

if TYPE_CHECKING:
    from desktop.services.callbacks import CallbackService
    from desktop.services.sync import SyncService


@dataclass(frozen=True, slots=True)
class Recorded:
    """What follows a save, done in the same task: the record; the pop it answers with the outcome applied
    (local guidance, even offline: what was just refused is not pitched again); the open callbacks as they
    are now (None without a callback service). Its delivery is the sync service's, scheduled by then."""

    record: OutcomeRecord
    guided: PopDocument | None
    callbacks: tuple | None = None
    callbacks_error: Exception | None = None  # the re-read failed (the save did not): tell the agent


@dataclass(frozen=True, slots=True)
class Undone:
    """What an undo did, and the open callbacks after it (an undone callback is no longer reminded); a
    retraction's delivery is scheduled with the sync service by then."""

    result: UndoResult
    callbacks: tuple | None = None
    callbacks_error: Exception | None = None


class OutcomeService:
    def __init__(self, store: LocalStore, clock: Clock = utc_now, *, undo_window: dt.timedelta = UNDO_WINDOW,
                 callbacks: CallbackService | None = None, sync: SyncService | None = None) -> None:
        self._store = store
        self._clock = clock
        self._callbacks = callbacks
        self._sync = sync  # told of each outcome (its delivery) and retraction
        # Must equal the sync service's hold: an outcome younger than this is known not to be in flight.
        self.undo_window = undo_window

    def record(
        self,
        pop: PopResult | PopDocument,
        *,
        offer_id: str | None,
        result: OutcomeResult | str,
        agent_id: str | None,
        call_id: str | None,
        note: str | None = None,
        callback_at: dt.datetime | None = None,
        reason: str | None = None,
        pop_id: int | None = None,
    ) -> OutcomeRecord:
        """Validate and store one outcome; when this returns, it is committed to disk.

        Raises InvalidOutcome (bad input) or a StoreError (disk full, read-only, damaged file): in both
        cases nothing was saved and the UI must say so. Pressing the same outcome twice for the same pop
        returns the first record (no double count). `pop_id` is what log_pop returned; when omitted the
        latest pop of this decision is linked.
        """
        if isinstance(pop, PopResult) and pop.state is PopState.AMBIGUOUS:
            # Several customers share the caller's number: the outcome would belong to whoever we guessed.
            raise InvalidOutcome("customer_id", "several customers share this number: choose who is calling "
                                                "before recording an outcome")
        document = pop.document if isinstance(pop, PopResult) else pop
        if document is not None:
            draft = OutcomeDraft.for_pop(
                document, result=result, offer_id=offer_id, agent_id=agent_id, call_id=call_id, note=note,
                callback_at=callback_at, reason=reason,
            )
            name, masked = document.customer.display_name, document.customer.masked_msisdn
        elif isinstance(pop, PopResult) and pop.caller_only:
            # An unknown caller, or a pop that failed: the outcome names the number (kept for the server).
            if offer_id:
                raise InvalidOutcome("offer_id", "no offer was shown for this caller")
            draft = OutcomeDraft.for_caller(pop.key, result=result, agent_id=agent_id, call_id=call_id, note=note,
                                            callback_at=callback_at, reason=reason)
            name, masked = None, pop.key.masked()
        else:
            raise InvalidOutcome("decision_id", "there is no customer on screen to record an outcome for")
        now = self._clock()
        draft.check_time(now)
        # A callback keeps who it is for on this PC (the queue names them after the cached pop expired).
        details = {"display_name": name, "masked_number": masked or None} if draft.result is OutcomeResult.CALLBACK \
            else {}
        # The pop it answers is looked up in the save's own transaction (one transaction per click).
        return self._store.record_outcome(draft.finalize(recorded_at=now, pop_id=pop_id, **details), link_pop=True)

    def record_and_follow(self, pop: PopResult, **fields) -> Recorded:
        """`record(pop, **fields)`, then what follows it on the same worker: its delivery scheduled (when its
        undo hold ends), the pop re-guided with the outcome, the open callbacks re-read (a new callback is
        reminded; one this outcome kept is not). Raises as `record` does (nothing saved, nothing followed)."""
        record = self.record(pop, **fields)
        if self._sync is not None:
            self._sync.outcome_recorded(record.recorded_at)
        guided = None
        if pop.document is not None:
            contact = LocalContact(record.outcome_id, record.customer_id, record.offer_id, record.result,
                                   record.recorded_at, record.agent_id, record.campaign_id, record.wave)
            guided = apply_local_outcomes(pop.document, [contact], self._clock())
        return Recorded(record, guided, *self._open_callbacks())

    def undo_and_follow(self, outcome_id: str) -> Undone:
        """`undo(outcome_id)`, then its retraction's delivery scheduled (if it had left this PC) and the open
        callbacks re-read."""
        result = self.undo(outcome_id)
        if result is UndoResult.RETRACTING and self._sync is not None:
            self._sync.retraction_queued()
        return Undone(result, *self._open_callbacks())

    def _open_callbacks(self) -> tuple[tuple | None, Exception | None]:
        """(CallbackService.queue(), None), or (None, None) without a callback service. A failed read is not
        the save's failure: (None, the error)."""
        if self._callbacks is None:
            return None, None
        try:
            return self._callbacks.queue(), None
        except Exception as exc:  # a StoreError (damaged file, …): the panel says so
            return None, exc

    def undo(self, outcome_id: str) -> UndoResult:
        """Take an outcome back. Within the undo window (UNDO_WINDOW) of recording it has not left the workstation (sync holds
        it) and is simply removed; later, a retraction is queued that sync sends once the outcome is on the
        server. Either way it stops counting here at once (local statistics, local guidance). Raises a
        StoreError when the store cannot be written (nothing changed)."""
        return self._store.outcomes.undo(outcome_id, self._clock(), self.undo_window)

    def recent_local_contacts(self, customer_id: str) -> list[LocalContact]:
        """Outcomes recorded here for this customer in the local-guidance window (30 days)."""
        return self._store.outcomes.local_contacts(customer_id, self._clock() - LOCAL_MEMORY)
