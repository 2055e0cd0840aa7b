"""PanelController: turns call-router decisions and agent actions into background work and views.

It owns no data and does no I/O itself: every service call goes through the TaskRunner (database work on
the "db" pool, network on the "net" pool) and results come back here, on the GUI thread, to be shown.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, replace

from desktop.calls.events import CallEvent
from desktop.calls.router import Activate, Closed, Ended, Front, Ignored, Pop, RouterAction, UpdatePop
from desktop.domain.callbacks import due_today, local_day
from desktop.domain.guidance import apply_local_outcomes
from desktop.domain.outcomes import LocalContact, number_of
from desktop.domain.states import PopKey, PopResult, PopState
from desktop.ui.callbacks import OPEN_CALLBACK_KEY
from desktop.ui.i18n import pick
from desktop.ui.outcome_bar import result_label
from desktop.ui.pop_view import describe_error
from desktop.ui.qt import QtCore, Signal

log = logging.getLogger("callcue.panel")

# The bookkeeping that follows a pop (cache write, pop log) starts once the events already queued, the
# render's paint request among them, were handled: a worker running Python competes with the GUI thread for
# the interpreter (it may hold it for a whole switch interval), and the agent is waiting for the paint, not
# for the bookkeeping. Durable: a panel closed before it started (the paint still pending, or the task
# queued behind another) still writes it; the runner's shutdown runs it instead of dropping it.
_BOOKKEEPING = {"after_events": True, "durable": True}

# How fresh a result must be to replace what is on screen: a live answer is never replaced by the
# cached copy that happened to arrive later.
_PRIORITY = {PopState.LOADING: 0, PopState.STALE: 1, PopState.ERROR: 1, PopState.UNKNOWN_CALLER: 2,
             PopState.AMBIGUOUS: 2, PopState.LIVE: 2}


@dataclass
class _CallView:
    key: PopKey
    generation: int
    shown: PopResult
    pop_id: int | None = None
    popped_at: dt.datetime | None = None
    announced: bool = False  # pop_shown was emitted for this call (a later one is an update)
    # A shared number: the customers who share it (from the server's ambiguous_caller answer) and the one
    # the agent chose (None until then: no outcome can be recorded for the call).
    candidates: tuple = ()
    chosen: str | None = None
    retrying: bool = False  # a fetch_again is on its way (the retry key or the server coming back)


def _another_party(before, after) -> bool:
    """A transfer names a different customer (an id or a number that differs from the one before)."""
    return any(old is not None and new is not None and old != new
               for old, new in ((before.customer_id, after.customer_id), (before.ani, after.ani)))


# UserError codes of the local store (desktop/storage/engine.py): the agent must hear of them.
_STORE_PROBLEMS = frozenset({"store_corrupt", "store_failed", "disk_full", "read_only"})


class PanelController(QtCore.QObject):
    # Payloads for hosts (SDK, bridge): plain dicts, no phone numbers; documented in docs/sdk.md.
    pop_shown = Signal(dict)
    pop_ambiguous = Signal(dict)  # the caller's number belongs to several customers: the agent must choose
    outcome_recorded = Signal(dict)
    sync_state_changed = Signal(object)
    auth_failed = Signal()
    callback_due = Signal(str)  # what to tell the agent: who to call back

    def __init__(self, window, runner, router, pop_service, outcome_service, sync_service, *,
                 agent_id: str | None, scheduler=None, clock=None, callbacks=None, parent=None) -> None:
        super().__init__(parent)
        self.window = window
        self.runner = runner
        self.router = router
        self.pops = pop_service
        self.outcomes = outcome_service
        self.sync = sync_service
        self.agent_id = agent_id
        self.scheduler = scheduler
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._calls: dict[str, _CallView] = {}
        self._generation = 0
        self._sync_running = False
        self._sync_again = False
        self._store_problem_told: str | None = None  # the store problem code the agent was last told about
        self._store_damaged = None  # UserError once the store was found damaged: stays on the badge
        self.callbacks = callbacks  # CallbackService: the open callbacks in the local store
        self._callback_queue: dict = {}  # outcome id -> ScheduledCallback, as last read
        self._reminded: set[str] = set()  # outcome ids reminded in this session
        self._names: dict[str, str] = {}  # customer id -> name seen on a pop here (the cache may lack it)
        router.add_listener(self.on_router_action)
        self._connect(window)

    def _connect(self, window) -> None:
        window.outcome_requested.connect(self.record_outcome)
        window.dismiss_requested.connect(self.dismiss)
        window.search.search_requested.connect(self.search)
        window.search.customer_chosen.connect(self.pop_customer)
        window.caller_chosen.connect(self.choose_customer)
        window.choose_again_requested.connect(self.choose_again)
        window.retry_requested.connect(self.retry_pop)
        window.idle.open_requested.connect(self.open_callback)
        window.front_requested.connect(self.router.bring_to_front)
        window.undo_requested.connect(self.undo_outcome)

    def attach_window(self, window) -> None:
        """A new window (e.g. after a language switch) takes over every open call as it is."""
        self.window = window
        self._connect(window)
        for call_id, call in self._calls.items():
            window.show_pop(call_id, call.shown, activate=False)
            self._mark_phase(call_id)
        front = self.router.front_call_id()
        if front is not None:
            window.bring_to_front(front)
        self._show_callbacks(self._clock())
        self.refresh_sync_state()

    # ------------------------------------------------------------------ calls

    def on_router_action(self, action: RouterAction) -> None:
        if isinstance(action, Pop):
            self._start_pop(action.call_id, PopKey(ani=action.key.ani, customer_id=action.key.customer_id))
            self._mark_phase(action.call_id)
        elif isinstance(action, UpdatePop):
            previous = self._calls.get(action.call_id)
            before = self._who(previous) if previous is not None else ""
            if action.identity_changed:
                self._start_pop(action.call_id, PopKey(ani=action.key.ani, customer_id=action.key.customer_id))
            changed = _another_party(action.previous_key, action.key)
            now = PopKey(ani=action.key.ani, customer_id=action.key.customer_id)
            to_agent = action.event.agent_id if action.event.agent_id not in (None, self.agent_id) else None
            self.window.mark_transfer(action.call_id, to_agent=to_agent, previous=before,
                                      now=(now.masked() or now.customer_id or "") if changed else None)
        elif isinstance(action, Activate | Ended):
            self._mark_phase(action.call_id)
            if isinstance(action, Ended) and action.reason == "transferred_away":
                self.window.mark_transfer(action.call_id, to_agent=action.to_agent or "?",
                                          previous="", now=None)
        elif isinstance(action, Front):
            self.window.bring_to_front(action.call_id)
        elif isinstance(action, Closed):
            self._calls.pop(action.call_id, None)
            self.window.close_call(action.call_id)
        elif isinstance(action, Ignored):
            log.debug("call event ignored", extra={"reason": action.reason})

    def _mark_phase(self, call_id: str) -> None:
        """The call's phase (desktop.calls.front) on its tab; a wrap-up counts from the hang-up."""
        call = self.router.call(call_id)
        if call is not None:
            self.window.mark_call_state(call_id, call.phase, call.ended_at)

    @staticmethod
    def _who(call: _CallView) -> str:
        """The customer's name on screen (else the masked number): for the agent's eyes, never logged."""
        if call.shown.document is not None:
            return call.shown.document.customer.display_name
        return call.key.masked() or call.key.customer_id or ""

    def _start_pop(self, call_id: str, key: PopKey, *, chosen: str | None = None) -> None:
        self._generation += 1
        previous = self._calls.get(call_id)
        candidates = previous.candidates if previous is not None else ()
        if chosen is None and previous is not None and previous.chosen is not None \
                and key.customer_id is None and key.ani == previous.key.ani:
            chosen = previous.chosen  # the same caller again (a transfer, a refresh): the agent's choice holds
        if chosen is not None:
            key = PopKey(ani=key.ani, customer_id=chosen)  # the call keeps its number; the pop is by id
        elif previous is None or key.ani != previous.key.ani:
            candidates = ()
        # A caller seen moments ago is in memory: shown at once, no worker round trip.
        instant = self.pops.cached_in_memory(key)
        loading = instant or PopResult(PopState.LOADING, key)
        if chosen is not None:
            loading = replace(loading, candidates=candidates)
        self._calls[call_id] = _CallView(key, self._generation, loading,
                                         announced=previous is not None and previous.announced,
                                         candidates=candidates, chosen=chosen)
        self.window.show_pop(call_id, loading, activate=False)  # the router says which call is in front
        generation = self._generation
        # Cached view and server fetch run at once on their own pools; whichever is better wins.
        if instant is None:
            self.runner.submit("db", self.pops.cached, key, name="pop.cached", owner=self,
                               on_done=lambda result: self._show(call_id, generation, result))

        # With a caller already on screen (instant), the fetch's Python (HTTP, parsing) starts after the
        # paint instead of competing with it for the interpreter.
        self.runner.submit("net", self._fetch, key, name="pop.fetch", owner=self,
                           on_done=lambda result: self._show(call_id, generation, result),
                           on_error=lambda exc: self._fetch_crashed(call_id, generation, key, exc),
                           after_events=instant is not None)

    def _fetch(self, key: PopKey) -> PopResult:
        # The cache write waits until the live result is on screen (see _show).
        return self.pops.fetch(key, remember=False)

    def _show(self, call_id: str, generation: int, result: PopResult | None) -> None:
        if result is not None and result.server_document is not None:
            # After the paint (see _BOOKKEEPING), and durable: a panel closed right after a pop still caches it.
            self.runner.submit("db", self.pops.remember, result, name="pop.remember", owner=self, **_BOOKKEEPING)
        call = self._calls.get(call_id)
        if result is None or call is None or call.generation != generation:
            return
        if _PRIORITY[result.state] < _PRIORITY[call.shown.state]:
            return
        if result.state in (PopState.STALE, PopState.ERROR) and result.document is None \
                and call.shown.document is not None:
            # The fetch failed but a cached copy is on screen: keep it, say it is stale.
            result = replace(call.shown, state=PopState.STALE, error=result.error)
        if result.state is PopState.AMBIGUOUS:
            call.candidates = result.candidates
        elif call.chosen is not None:
            # The chosen customer's view remembers who else shares the number (the agent may choose again).
            result = replace(result, candidates=call.candidates)
        call.shown = result
        self.window.show_pop(call_id, result, activate=False)
        if result.error is not None and result.error.code == "auth_failed":
            self.auth_failed.emit()
        if result.state != PopState.LOADING:
            self.runner.submit("db", self.pops.log_pop, result, call_id, self.agent_id, name="pop.log", owner=self,
                               on_done=lambda pop_id: self._logged(call_id, generation, pop_id), **_BOOKKEEPING)
            update, call.announced = call.announced, True
            if result.state is PopState.AMBIGUOUS:
                self.pop_ambiguous.emit({
                    "call_id": call_id,
                    "candidates": [candidate.customer_id for candidate in result.candidates],
                    "update": update,
                })
                return
            document = result.document
            self.pop_shown.emit({
                "call_id": call_id,
                "state": str(result.state),
                "customer_id": document.customer.customer_id if document else None,
                "decision_id": document.decision_id if document else None,
                "offers": [o.offer_id for o in document.pitchable_offers] if document else [],
                "update": update,
                "chosen": call.chosen is not None,
            })

    def _logged(self, call_id: str, generation: int, pop_id: int | None) -> None:
        call = self._calls.get(call_id)
        if call is not None and call.generation == generation:
            call.pop_id = pop_id

    def _fetch_crashed(self, call_id: str, generation: int, key: PopKey, exc: BaseException) -> None:
        log.error("pop fetch crashed", exc_info=exc)
        from desktop.domain.errors import UserError

        self._show(call_id, generation, PopResult(PopState.ERROR, key, error=UserError("bad_response")))

    def dismiss(self, call_id: str) -> None:
        self.router.dismiss(call_id)

    def retry_pop(self, call_id: str) -> bool:
        """Ask the server again for a pop it could not answer (the retry button or key, or the server back:
        see _sync_state). False when the call needs no retry or one is on its way."""
        call = self._calls.get(call_id)
        if call is None or call.retrying or not call.shown.can_retry:
            return False
        call.retrying, generation = True, call.generation
        self.window.show_retrying(call_id)

        def done(result: PopResult | None) -> None:
            if self._calls.get(call_id) is call:
                call.retrying = False
            self._show(call_id, generation, result)

        def crashed(exc: BaseException) -> None:
            done(None)
            self._fetch_crashed(call_id, generation, call.key, exc)

        self.runner.submit("net", self.pops.fetch_again, call.shown, name="pop.retry", owner=self, on_done=done,
                           on_error=crashed)
        return True

    # ------------------------------------------------------------------ shared numbers

    def choose_customer(self, call_id: str, customer_id: str) -> bool:
        """The agent confirmed who is calling on a shared number: the call pops that customer by id (it
        keeps its number), and outcomes are theirs. Only one of the customers the server named may be
        chosen. Returns whether the choice was taken."""
        call = self._calls.get(call_id)
        if call is None or call.shown.state is not PopState.AMBIGUOUS:
            return False
        if customer_id not in {candidate.customer_id for candidate in call.candidates}:
            log.warning("choice refused: not one of the customers sharing the number")
            return False
        self._start_pop(call_id, PopKey(ani=call.key.ani), chosen=customer_id)
        return True

    def choose_again(self, call_id: str) -> bool:
        """The agent picked the wrong person: back to the list of customers sharing the number (no new
        request; outcomes wait until the next choice)."""
        call = self._calls.get(call_id)
        if call is None or call.chosen is None or not call.candidates:
            return False
        self._generation += 1  # what is still being fetched for the previous choice is not shown
        call.generation, call.chosen = self._generation, None
        call.key = PopKey(ani=call.key.ani)
        call.pop_id = None
        call.shown = PopResult(PopState.AMBIGUOUS, call.key, candidates=call.candidates)
        self.window.show_pop(call_id, call.shown, activate=False)
        self.pop_ambiguous.emit({"call_id": call_id, "candidates": [c.customer_id for c in call.candidates],
                                 "update": True})
        return True

    # ------------------------------------------------------------------ search

    def search(self, text: str) -> None:
        self.runner.submit("net", self.pops.search, text, 10, name="search", owner=self,
                           on_done=self.window.search.show_results,
                           on_error=lambda exc: self.window.search.show_error(
                               describe_error(exc.user_error, self.window.texts) if hasattr(exc, "user_error")
                               else str(exc)))

    def pop_customer(self, customer_id: str, _name: str = "", *, source: str = "search") -> list[RouterAction]:
        """A search result (or a host's show_customer) pops like a call would, in its own tab."""
        event = CallEvent(call_id=f"search-{uuid.uuid4().hex[:12]}", state="answered", customer_id=customer_id,
                          agent_id=self.agent_id, source=source)
        return self.router.handle(event)

    # ------------------------------------------------------------------ outcomes

    def record_outcome(self, call_id: str, offer_id: str, result: str, extras: dict) -> None:
        call = self._calls.get(call_id)
        # Without a customer on screen only an unknown or unreachable caller's number-based outcomes apply.
        if call is None or call.shown.state is PopState.AMBIGUOUS \
                or (call.shown.document is None and not call.shown.caller_only):
            return
        self.runner.submit(
            "db", self._record_call(call.shown, call, call_id, offer_id or None, result, extras),
            name="outcome.record", owner=self, durable=True,  # a key pressed just before a close is still saved
            on_done=lambda record: self._recorded(call_id, record),
            on_error=lambda exc: self._record_failed(call_id, exc),
        )

    def _record_call(self, shown: PopResult, call: _CallView, call_id: str, offer_id, result: str, extras: dict):
        """The save, as it will run on the db worker: for the pop on screen now (`shown`); the service
        refuses a call whose caller is not confirmed yet (a shared number)."""
        outcomes, agent_id, pop_id = self.outcomes, self.agent_id, call.pop_id

        def record():
            return outcomes.record(
                shown, offer_id=offer_id, result=result, agent_id=agent_id,
                call_id=None if call_id.startswith("search-") else call_id,
                note=extras.get("note"), callback_at=extras.get("callback_at"), reason=extras.get("reason"),
                pop_id=pop_id,
            )

        return record

    def _recorded(self, call_id: str, record) -> None:
        # Only now, with the outcome committed: "saved", and the note it carried cleared (a note the agent
        # has typed since, for the next outcome, stays).
        call = self._calls.get(call_id)
        self.window.outcome_saved(str(record.result), record.note, call_id=call_id,
                                  name=self._who(call) if call is not None else "")
        if call is not None and call.shown.document is not None:
            # Local guidance at once, even offline: what was just refused is not pitched again.
            contact = LocalContact(record.outcome_id, record.customer_id, record.offer_id, record.result,
                                   record.recorded_at, record.agent_id, record.campaign_id, record.wave)
            updated = apply_local_outcomes(call.shown.document, [contact], self._clock())
            call.shown = replace(call.shown, document=updated)
            self.window.show_pop(call_id, call.shown, activate=False)
        self.router.outcome_recorded(call_id)
        self._mark_phase(call_id)  # still talking: "✓ outcome recorded" on its tab
        if call is not None and call.shown.document is not None:  # the reminder's name if not cached
            self._names[record.customer_id] = call.shown.document.customer.display_name
        self.load_callbacks()  # a new callback is reminded; one this outcome kept is not
        self.outcome_recorded.emit({
            "outcome_id": record.outcome_id, "call_id": call_id, "customer_id": record.customer_id,
            "offer_id": record.offer_id, "result": str(record.result),
            "recorded_at": record.recorded_at.isoformat(),
        })
        name = self._who(call) if call is not None else ""  # an unknown caller: the masked number
        self.window.offer_undo(record.outcome_id, str(record.result), name, call_id=call_id)
        self.request_sync(force=True)

    def undo_outcome(self, outcome_id: str) -> None:
        """Ctrl+Z on the banner: removed if not sent yet, else retracted on the server by the next sync."""
        outcomes = self.outcomes
        self.runner.submit("db", lambda: outcomes.undo(outcome_id), name="outcome.undo", owner=self,
                           durable=True, on_done=lambda _result: self._undone(), on_error=self._undo_failed)

    def _undone(self) -> None:
        self.window.outcome_undone()
        self.load_callbacks()  # an undone callback is no longer reminded
        self.request_sync(force=True)

    def _undo_failed(self, exc: BaseException) -> None:
        error = getattr(exc, "user_error", None)
        log.warning("outcome not undone", extra={"error": type(exc).__name__})
        self.window.outcome_undo_failed(describe_error(error, self.window.texts) if error is not None else str(exc))

    def _record_failed(self, call_id: str, exc: BaseException) -> None:
        error = getattr(exc, "user_error", None)
        message = describe_error(error, self.window.texts) if error is not None else str(exc)
        log.warning("outcome not saved", extra={"error": type(exc).__name__})
        self.window.outcome_failed(message, call_id=call_id)

    # ------------------------------------------------------------------ sync

    def request_sync(self, force: bool = False) -> None:
        """Periodic job (respects backoff) and after each outcome (force: try now); never two at once."""
        if self._sync_running:
            self._sync_again = self._sync_again or force
            return
        if force:
            self.sync_now()
            return
        self._start_sync(self.sync.sync_once)

    def sync_now(self) -> None:
        self._start_sync(self._forced_sync)

    def _forced_sync(self):
        return self.sync.sync_once(force=True)

    def _start_sync(self, job) -> None:
        self._sync_running = True
        self.runner.submit("net", job, name="sync", owner=self, on_done=self._sync_done,
                           on_error=self._sync_finished)

    def _sync_done(self, report) -> None:
        held = getattr(report, "held_until", None)
        if held is not None and self.scheduler is not None:
            # Outcomes held for their undo window go when it ends: one run then, not polling meanwhile.
            self.scheduler.once_at(held, lambda: self.request_sync(force=True), "sync-after-undo-window")
        self._sync_finished()

    def _sync_finished(self, error: BaseException | None = None) -> None:
        self._sync_running = False
        if error is not None:
            log.error("sync crashed", exc_info=error)
        self.refresh_sync_state()
        if self._sync_again:
            self._sync_again = False
            self.request_sync(force=True)

    def refresh_sync_state(self) -> None:
        self.runner.submit("db", self.sync.state, name="sync.state", owner=self, on_done=self._sync_state,
                           on_error=self.store_trouble)

    def store_trouble(self, exc: BaseException) -> None:
        """A read of the local store failed in the background (e.g. "database disk image is malformed"):
        the agent is told, not only the log."""
        error = getattr(exc, "user_error", None)
        if error is None:
            log.error("background store read crashed", exc_info=exc)
            return
        log.warning("local store unreadable", extra={"error_code": error.code})
        self.store_failed(error)

    def store_failed(self, error) -> None:
        """Say on the panel that the local store has a problem: on the sync badge (a damaged file until the
        panel restarts), and once as a notice."""
        if error.code == "store_corrupt":
            self._store_damaged = error
        self.window.sync_badge.show_problem(error)
        self._tell_store_problem(error)

    def _tell_store_problem(self, error) -> None:
        if self._store_problem_told != error.code:  # not again at every refresh
            self._store_problem_told = error.code
            self.window.show_notice("⚠ " + describe_error(error, self.window.texts), "attention")

    def _sync_state(self, state) -> None:
        error = state.last_error
        if error is not None and error.code in _STORE_PROBLEMS:
            # Delivery stopped on the local file (e.g. the outbox is damaged): the badge says why, and the
            # agent is told once, not just the log.
            self._tell_store_problem(error)
        else:
            self._store_problem_told = None
        self.window.set_sync_state(state)
        if state.signed_in and state.offline_since is None:
            # The server answered the last delivery (or nothing waited for it): pops it could not answer
            # before are asked again, paced by the sync runs (an outage with outcomes waiting holds them).
            for call_id in list(self._calls):
                self.retry_pop(call_id)
        if self._store_damaged is not None:
            self.window.sync_badge.show_problem(self._store_damaged)
        self.sync_state_changed.emit(state)
        if state.last_error is not None and state.last_error.code == "auth_failed":
            self.auth_failed.emit()

    # ------------------------------------------------------------------ callbacks

    def load_callbacks(self) -> None:
        """Read the open callbacks from the local store (at start, and after each outcome: a new callback,
        or one kept by this outcome) and set their reminders; the idle screen lists today's."""
        if self.callbacks is None:
            return
        self.runner.submit("db", self.callbacks.queue, name="callbacks.load", owner=self,
                           on_done=self._callbacks_loaded, on_error=self.store_trouble)

    def _callbacks_loaded(self, loaded) -> None:
        callbacks, now = loaded
        self._callback_queue = {c.outcome_id: c for c in callbacks}
        if self.scheduler is not None:
            for job_id in self.scheduler.job_ids():  # kept (another outcome since) or gone: no reminder
                if job_id.startswith("callback:") and job_id[9:] not in self._callback_queue:
                    self.scheduler.cancel(job_id)
            for callback in callbacks:
                if callback.outcome_id not in self._reminded:  # an overdue one is reminded once per session
                    self.schedule_callback(callback)
            self._schedule_new_day(now)
        self._show_callbacks(now)

    def _schedule_new_day(self, now: dt.datetime) -> None:
        """At midnight the idle screen moves on to the new day's callbacks (already in memory)."""
        self.scheduler.once_at(local_day(now.astimezone())[1], self._new_day, "callbacks-new-day")

    def _new_day(self) -> None:
        now = self._clock()
        self._show_callbacks(now)
        self._schedule_new_day(now)

    def _show_callbacks(self, now: dt.datetime) -> None:
        self.window.idle.show_callbacks(due_today(list(self._callback_queue.values()), now.astimezone()), now)

    def schedule_callback(self, callback) -> None:
        """The reminder fires at the agreed time (or at once if that time has passed)."""
        when = max(callback.due_at, self._clock() + dt.timedelta(seconds=1))
        self.scheduler.once_at(when, lambda: self._callback_now(callback.outcome_id), f"callback:{callback.outcome_id}")

    def _callback_now(self, outcome_id: str) -> None:
        callback = self._callback_queue.get(outcome_id)
        if callback is None:
            return
        self._reminded.add(outcome_id)
        name = callback.display_name or self._names.get(callback.customer_id) or callback.masked_number or ""
        texts = self.window.texts
        text = texts.translate("Messages", "Time to call back %1").replace("%1", name)
        self.window.idle.remind(callback.customer_id)
        self.window.show_notice("☎ " + text + " — " + texts.translate("Messages", "%1 opens the customer")
                                .replace("%1", OPEN_CALLBACK_KEY), "attention")
        self._show_callbacks(self._clock())  # it is overdue now
        self.callback_due.emit(text)

    def open_callback(self, customer_id: str) -> list[RouterAction]:
        """The reminder key or a row of the idle screen: the customer pops like a search result (a caller
        without a customer record pops by number)."""
        number = number_of(customer_id)
        if number is not None:
            return self.router.handle(CallEvent(call_id=f"search-{uuid.uuid4().hex[:12]}", state="answered",
                                                ani=number, agent_id=self.agent_id, source="callback"))
        return self.pop_customer(customer_id, source="callback")

    def remind(self, call_id: str) -> None:
        view = self.window.view(call_id)
        if view is None:
            return
        name = ""
        call = self._calls.get(call_id)
        if call is not None and call.shown.document is not None:
            name = call.shown.document.customer.display_name
        self.window.show_notice(
            self.window.texts.translate("Messages", "Wrap-up: record an outcome for %1").replace("%1", name),
            "attention", call_id=call_id)


__all__ = ["PanelController", "pick", "result_label"]
