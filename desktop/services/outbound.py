"""The agent's outbound campaign work (外呼), Qt-free: the previewed customer and its lease, dialing, the call
result, the offer outcome of a connected call, skipping, and the next customer prepared during wrap-up.

The loop (docs/outbound-api.md): `take_next()` → preview (the customer is held for this agent by a lease)
→ `skip(reason)` releases it, or `dialing()` → `connected()` → `record_result(result)` (stored on this PC at
once, then sent) → for a connected call the offer outcome through `record_outcome()` (the existing outbox:
stored at once, synced exactly once, `channel = outbound_call` from the outbound pop) → `finish()` shows the
customer `prepare_next()` fetched meanwhile.

Blocking methods (network, disk) run on a worker; the state is a snapshot (`state()`) read from any thread.

Leases are renewed by a scheduled job, not a loop: `renewal_due_at()` says when (a third of the lease before
it expires); the runtime schedules one run of `renew()` for then, and again after each renewal.

Inbound calls take priority: `inbound_started()` pauses the preview (nothing is dialed or fetched while an
inbound call is up) and the lease **stays held and renewed**, so when the inbound call ends the agent
returns to the same customer with the pop they had read (releasing would count nothing but would hand the
customer to a colleague mid-read, and the next customer would need a fresh preview). `inbound_ended()`
resumes. The agent may still skip the held customer at any time.

Call results are durable before they are sent: `record_result` commits to the local store
(outbound_attempts, migration 0010) and `deliver_pending()` sends whatever is pending (also after a restart,
and from the periodic sync); the attempt_id makes a resend after a lost answer `duplicate`, so each result
reaches the server exactly once. A dead server loses nothing: the result waits, the agent is told.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import replace

from desktop.domain.errors import UserError
from desktop.domain.outbound import (
    SKIP_REASONS,
    CallAttempt,
    CallResult,
    Empty,
    LeaseState,
    OutboundState,
    OutboundStateError,
    Phase,
    Previewed,
    RefusedResult,
)
from desktop.domain.outcomes import OutcomeRecord, OutcomeResult
from desktop.domain.states import PopKey, PopResult, PopState
from desktop.remote.api_client import (
    AnalyticsClient,
    InvalidRequest,
    LeaseEnded,
    OutboundRefused,
    RemoteError,
)
from desktop.services.clock import Clock, utc_now
from desktop.services.outcomes import OutcomeService, Recorded
from desktop.storage import LocalStore

log = logging.getLogger("callcue.outbound")

DEFAULT_LEASE_SECONDS = 300
_REFUSAL_ERRORS = frozenset({"lease_ended", "outbound_refused", "invalid_input"})  # UserError codes of a refusal


class OutboundService:
    def __init__(self, store: LocalStore, client: AnalyticsClient | None, clock: Clock = utc_now, *,
                 campaign_id: str | None = None, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self.campaign_id = campaign_id
        self.lease_seconds = lease_seconds
        self._lock = threading.RLock()
        self._state = OutboundState()
        self._send_lock = threading.Lock()  # one delivery run at a time: a result is never in flight twice

    def use_client(self, client: AnalyticsClient | None) -> None:
        with self._lock:
            self._client = client

    # --- state ------------------------------------------------------------------------------------------

    def state(self) -> OutboundState:
        with self._lock:
            return self._state

    def _set(self, **changes) -> OutboundState:
        with self._lock:
            self._state = replace(self._state, **changes)
            return self._state

    def _client_or_fail(self) -> AnalyticsClient:
        with self._lock:
            client = self._client
        if client is None:
            raise OutboundStateError("not_signed_in")
        return client

    def _failed(self, exc: RemoteError) -> None:
        self._set(error=exc.user_error)

    # --- the worklist ----------------------------------------------------------------------------------

    def take_next(self) -> OutboundState:
        """Preview the next customer (blocking). The customer on screen stays while one is held and not done;
        a prepared customer is shown first. Raises RemoteError (also kept in state.error)."""
        with self._lock:
            state = self._state
            if state.paused:
                raise OutboundStateError("inbound_call_up")
            if state.phase in (Phase.PREVIEW, Phase.DIALING, Phase.TALKING, Phase.RESULT, Phase.WRAP_UP):
                return state
            if state.prepared is not None:
                return self._show(state.prepared)
        client = self._client_or_fail()
        self.deliver_pending()  # the server hands out the next one only after the last lease has its result
        try:
            found = client.worklist_next(self.campaign_id, self.lease_seconds)
        except RemoteError as exc:
            self._failed(exc)
            raise
        if isinstance(found, Empty):
            return self._set(phase=Phase.EMPTY, previewed=None, empty=found, attempt=None, called_at=None,
                             call_id=None, error=None)
        return self._show(found)

    def _show(self, previewed: Previewed) -> OutboundState:
        return self._set(phase=Phase.PREVIEW, previewed=previewed, empty=None, attempt=None, called_at=None,
                         call_id=None, prepared=None, error=None, suggested=None)

    def skip(self, reason_code: str, note: str | None = None) -> LeaseState:
        """Release the previewed customer with a reason (no attempt is counted; they come back after the
        reason's hold). Blocking. A lease that ended meanwhile counts as released."""
        if reason_code not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason_code!r}")
        with self._lock:
            state = self._state
            if state.phase is not Phase.PREVIEW or state.previewed is None:
                raise OutboundStateError("nothing_to_skip")
            previewed = state.previewed
        names, hold = SKIP_REASONS[reason_code]
        reason = names.en + (f": {note.strip()}" if note and note.strip() else "")
        client = self._client_or_fail()
        try:
            released = client.release_lease(previewed.lease.lease_id, reason[:200], hold)
        except LeaseEnded:
            released = LeaseState(previewed.lease.lease_id, self._clock(), self._clock(), "expired", None)
        except RemoteError as exc:
            self._failed(exc)
            raise
        with self._lock:
            if self._state.previewed is previewed:
                self._state = replace(self._state, phase=Phase.IDLE, previewed=None, error=None)
        return released

    # --- the call -----------------------------------------------------------------------------------------

    def dialing(self) -> OutboundState:
        """The agent pressed call: the dial request went to the softphone."""
        with self._lock:
            state = self._state
            if state.paused:
                raise OutboundStateError("inbound_call_up_dial")
            if state.phase is not Phase.PREVIEW or state.previewed is None:
                raise OutboundStateError("nothing_to_dial")
            return self._set(phase=Phase.DIALING, called_at=self._clock())

    def connected(self, call_id: str | None = None) -> OutboundState:
        """The softphone says the callee answered."""
        with self._lock:
            if self._state.phase is not Phase.DIALING:
                return self._state
            return self._set(phase=Phase.TALKING, call_id=call_id or self._state.call_id)

    def call_ended(self, suggested: CallResult | None = None) -> OutboundState:
        """The softphone says the call ended; `suggested` is what it knew (486 busy, no answer …): the
        result key the panel offers first. The agent still confirms the result."""
        with self._lock:
            if self._state.phase not in (Phase.DIALING, Phase.TALKING):
                return self._state
            return self._set(phase=Phase.RESULT, suggested=suggested)

    def record_result(self, result: CallResult | str, note: str | None = None) -> CallAttempt:
        """Store the call result on this PC (committed on return: blocking, disk), then it is sent by
        `deliver_pending()`. A connected call goes on to wrap-up (offer outcomes); any other to done."""
        with self._lock:
            state = self._state
            if state.attempt is not None:
                return state.attempt  # a second key press (or a retried task) records nothing new
            if state.previewed is None or state.phase not in (Phase.DIALING, Phase.TALKING, Phase.RESULT):
                raise OutboundStateError("no_call")
            attempt = CallAttempt.new(state.previewed, result, state.called_at or self._clock(),
                                      call_id=state.call_id, note=note)
            self._store.attempts.record(attempt, self._clock())  # raises StoreError: nothing saved, phase kept
            phase = Phase.WRAP_UP if attempt.result is CallResult.CONNECTED else Phase.DONE
            self._state = replace(state, phase=phase, attempt=attempt,
                                  pending_results=self._store.attempts.counts()["pending"])
            return attempt

    def record_outcome(self, outcomes: OutcomeService, *, offer_id: str | None, result: OutcomeResult | str,
                       agent_id: str | None, note: str | None = None, callback_at: dt.datetime | None = None,
                       reason: str | None = None) -> OutcomeRecord:
        """An offer outcome of the connected call, through the outbox (stored at once, synced exactly once);
        the outbound pop makes it `channel = outbound_call` with the lease's campaign and wave."""
        pop, call_id = self._outcome_target()
        return outcomes.record(pop, offer_id=offer_id, result=result, agent_id=agent_id, call_id=call_id, note=note,
                               callback_at=callback_at, reason=reason)

    def record_outcome_and_follow(self, outcomes: OutcomeService, *, offer_id: str | None,
                                  result: OutcomeResult | str, agent_id: str | None, note: str | None = None,
                                  callback_at: dt.datetime | None = None, reason: str | None = None) -> Recorded:
        """`record_outcome` on the inbound outcomes' own path (OutcomeService.record_and_follow): its delivery
        waits for the undo window (undone meanwhile it never leaves the PC), the callbacks are re-read."""
        pop, call_id = self._outcome_target()
        return outcomes.record_and_follow(pop, offer_id=offer_id, result=result, agent_id=agent_id, call_id=call_id,
                                          note=note, callback_at=callback_at, reason=reason)

    def _outcome_target(self) -> tuple[PopResult, str | None]:
        with self._lock:
            state = self._state
            if state.phase is not Phase.WRAP_UP or state.previewed is None:
                raise OutboundStateError("not_connected")
        previewed = state.previewed
        pop = PopResult(PopState.LIVE, PopKey(customer_id=previewed.customer_id), previewed.pop, self._clock())
        return pop, state.outcome_call_id

    def prepare_next(self) -> OutboundState:
        """During wrap-up (or after a result that was not connected): send the result, then fetch the next
        customer so it is ready when the agent finishes (blocking). Nothing happens while paused."""
        with self._lock:
            state = self._state
            if state.paused or state.prepared is not None or state.phase not in (Phase.WRAP_UP, Phase.DONE):
                return state
        self.deliver_pending()
        with self._lock:
            if self._state.pending_results:
                return self._state  # the server does not know the result yet: it would answer the same lease
        try:
            found = self._client_or_fail().worklist_next(self.campaign_id, self.lease_seconds)
        except RemoteError as exc:
            self._failed(exc)
            return self.state()
        if isinstance(found, Empty):
            return self._set(empty=found)
        return self._set(prepared=found, empty=None)

    def finish(self) -> OutboundState:
        """Wrap-up is over: the prepared customer is previewed (else idle; the panel asks for the next)."""
        with self._lock:
            state = self._state
            if state.phase not in (Phase.WRAP_UP, Phase.DONE):
                raise OutboundStateError("no_result_yet")
            if state.prepared is not None:
                return self._show(state.prepared)
            if state.empty is not None:
                return self._set(phase=Phase.EMPTY, previewed=None, attempt=None, called_at=None, call_id=None)
            return self._set(phase=Phase.IDLE, previewed=None, attempt=None, called_at=None, call_id=None)

    # --- inbound priority ---------------------------------------------------------------------------------

    def inbound_started(self) -> OutboundState:
        return self._set(paused=True)

    def inbound_ended(self) -> OutboundState:
        return self._set(paused=False)

    # --- the lease ----------------------------------------------------------------------------------------

    def _held(self) -> list[Previewed]:
        """Customers held for this agent now: the previewed one until its result is recorded, a prepared one."""
        state = self._state
        held = []
        if state.previewed is not None and state.attempt is None:
            held.append(state.previewed)
        if state.prepared is not None:
            held.append(state.prepared)
        return held

    def renewal_due_at(self) -> dt.datetime | None:
        """When `renew()` should run next (None: nothing held). A third of the lease before it expires."""
        with self._lock:
            held = self._held()
        if not held:
            return None
        margin = dt.timedelta(seconds=self.lease_seconds / 3)
        return min(p.lease.expires_at for p in held) - margin

    def renew(self) -> OutboundState:
        """Renew every held lease (blocking). A lease that ended (expired and taken by a colleague) drops its
        customer from the screen with the reason; a network failure is kept in state.error (the next
        scheduled renewal tries again)."""
        with self._lock:
            held = self._held()
        client = self._client_or_fail()
        for previewed in held:
            try:
                renewed = client.renew_lease(previewed.lease.lease_id, self.lease_seconds)
            except LeaseEnded as exc:
                self._drop(previewed, exc.user_error)
                continue
            except RemoteError as exc:
                self._failed(exc)
                continue
            self._extend(previewed, renewed.expires_at)
        return self.state()

    def _extend(self, previewed: Previewed, expires_at: dt.datetime) -> None:
        extended = replace(previewed, lease=replace(previewed.lease, expires_at=expires_at))
        with self._lock:
            if self._state.previewed is previewed:
                self._state = replace(self._state, previewed=extended)
            if self._state.prepared is previewed:
                self._state = replace(self._state, prepared=extended)

    def _drop(self, previewed: Previewed, error: UserError) -> None:
        with self._lock:
            if self._state.prepared is previewed:
                self._state = replace(self._state, prepared=None, error=error)
            if self._state.previewed is previewed and self._state.attempt is None \
                    and self._state.phase is Phase.PREVIEW:
                self._state = replace(self._state, phase=Phase.IDLE, previewed=None, error=error)

    # --- delivery of call results -------------------------------------------------------------------------

    def deliver_pending(self) -> UserError | None:
        """Send the call results stored here (blocking; oldest first). None when all went, else the failure
        (network: they stay pending for the next run; refused: kept as needing attention)."""
        with self._lock:
            client = self._client
        if client is None or not self._send_lock.acquire(blocking=False):
            return None
        error: UserError | None = None
        try:
            for attempt in self._store.attempts.pending():
                try:
                    answer = client.post_attempt(attempt)
                except (LeaseEnded, OutboundRefused, InvalidRequest) as exc:
                    code = getattr(exc, "server_code", "invalid_request")
                    self._store.attempts.mark_needs_attention(attempt.attempt_id, f"{code}: {exc}"[:500])
                    log.warning("call result refused by the server", extra={"error_code": exc.user_error.code})
                    error = exc.user_error
                    continue
                except RemoteError as exc:
                    self._store.attempts.mark_attempted(attempt.attempt_id, exc.user_error.code)
                    error = exc.user_error
                    break
                self._store.attempts.mark_delivered(attempt.attempt_id, self._clock(), {
                    "status": answer.status, "attempt": answer.attempt, "member": answer.member,
                    "next_attempt_at": answer.next_attempt_at.isoformat() if answer.next_attempt_at else None,
                    "closed_reason": answer.closed_reason, "call_id": answer.call_id})
        finally:
            self._send_lock.release()
        pending = self._store.attempts.counts()["pending"]
        refused = tuple(self._store.attempts.refused())
        with self._lock:
            self._state = replace(self._state, pending_results=pending, refused=refused,
                                  error=error if error is not None else (None if pending == 0 else self._state.error))
        return error

    # --- call results the server refused -------------------------------------------------------------------

    def load_refused(self) -> OutboundState:
        """Read the refused call results from the store (at start: also those of an earlier session). Blocking."""
        refused = tuple(self._store.attempts.refused())
        return self._set(refused=refused)

    def _refused(self, attempt_id: str) -> RefusedResult:
        found = next((r for r in self._store.attempts.refused() if r.attempt.attempt_id == attempt_id), None)
        if found is None:
            raise OutboundStateError("no_refused_result")
        return found

    def retry_refused(self, attempt_id: str) -> UserError | None:
        """Send a refused call result again (blocking): back to pending, then delivered at once. A result the
        server refused because it had another one under the same id goes under a new id. Returns what the
        delivery returned (None: it went; else why not; refused again, it is back in state.refused)."""
        refused = self._refused(attempt_id)
        new_id = str(uuid.uuid4()) if refused.code == "attempt_id_reused" else None
        self._store.attempts.requeue(attempt_id, new_id)
        return self.deliver_pending()

    def dismiss_refused(self, attempt_id: str) -> OutboundState:
        """Set a refused call result aside (kept on this PC, never sent). Blocking."""
        if not self._store.attempts.dismiss(attempt_id):
            raise OutboundStateError("no_refused_result")
        refused = tuple(self._store.attempts.refused())
        with self._lock:
            error = self._state.error
            if not refused and error is not None and error.code in _REFUSAL_ERRORS:
                error = None  # what the agent dismissed is no longer a problem to show
            self._state = replace(self._state, refused=refused, error=error)
            return self._state
