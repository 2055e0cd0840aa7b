"""PanelController: presents the open calls' view state and turns agent actions into background work.

It owns no data and does no I/O or domain work itself: per-call state (pop, shared-number choice,
transfer, outcomes) is kept and decided by desktop.domain.calls.CallViews; every service call goes
through the TaskRunner (database work on the "db" pool, network on the "net" pool), and what follows a pop
or an outcome (cache, pop log, local guidance, the callback queue) is chained inside that service call.
Results come back here, on the GUI thread, to be shown, and leave for hosts as desktop.domain.events.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import replace

from desktop.calls.events import CallEvent
from desktop.calls.router import Activate, Closed, Ended, Front, Ignored, Pop, RouterAction, UpdatePop
from desktop.domain.callbacks import due_today, local_day
from desktop.domain.calls import CallViews, Transfer
from desktop.domain.events import (
    OutcomeRecorded,
    OutcomeRetracted,
    PanelEvent,
    PopAmbiguous,
    PopShown,
    SyncStateChanged,
)
from desktop.domain.outcomes import UndoResult, number_of
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

# UserError codes of the local store (desktop/storage/engine.py): the agent must hear of them.
_STORE_PROBLEMS = frozenset({"store_corrupt", "store_failed", "disk_full", "read_only"})


class PanelController(QtCore.QObject):
    # Events for hosts (SDK, bridge): desktop.domain.events objects; `panel_event` carries every one of
    # them, the others one kind each (to_json() is the v1 payload, docs/sdk.md and docs/bridge.md).
    panel_event = Signal(object)
    pop_shown = Signal(object)  # PopShown
    pop_ambiguous = Signal(object)  # PopAmbiguous: the caller's number belongs to several customers
    outcome_recorded = Signal(object)  # OutcomeRecorded
    outcome_retracted = Signal(object)  # OutcomeRetracted
    sync_state_changed = Signal(object)  # SyncStateChanged (its `state`: the SyncState)
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
        self.calls = CallViews()
        self._signals = {PopShown: self.pop_shown, PopAmbiguous: self.pop_ambiguous,
                         OutcomeRecorded: self.outcome_recorded, OutcomeRetracted: self.outcome_retracted,
                         SyncStateChanged: self.sync_state_changed}
        self._sync_running = False
        self._sync_again = False
        self._ask_channel: set[str] = set()  # calls about to open that ask "inbound or outbound?" first
        self._store_problem_told: str | None = None  # the store problem code the agent was last told about
        self._store_damaged = None  # UserError once the store was found damaged: stays on the badge
        self.callbacks = callbacks  # CallbackService: the open callbacks in the local store
        self._callback_queue: dict = {}  # outcome id -> ScheduledCallback, as last read
        self._reminded: set[str] = set()  # outcome ids reminded in this session
        # customer id -> (name, masked number) seen on a pop here: the cache may lack them (expired, or its
        # write still waiting for the paint when the outcome's task read the callbacks).
        self._names: dict[str, tuple[str, str | None]] = {}
        router.add_listener(self.on_router_action)
        self._connect(window)

    def _emit(self, event: PanelEvent) -> None:
        self._signals[type(event)].emit(event)
        self.panel_event.emit(event)

    def _connect(self, window) -> None:
        window.outcome_requested.connect(self.record_outcome)
        window.dismiss_requested.connect(self.dismiss)
        window.search.search_requested.connect(self.search)
        window.search.customer_chosen.connect(self.pop_customer)
        window.caller_chosen.connect(self.choose_customer)
        window.channel_chosen.connect(self.choose_channel)
        window.choose_again_requested.connect(self.choose_again)
        window.retry_requested.connect(self.retry_pop)
        window.idle.open_requested.connect(self.open_callback)
        window.front_requested.connect(self.router.bring_to_front)
        window.undo_requested.connect(self.undo_outcome)

    def attach_window(self, window) -> None:
        """A new window (e.g. after a language switch) takes over every open call as it is."""
        self.window = window
        self._connect(window)
        for call_id, call in self.calls.items():
            window.show_pop(call_id, call.shown, activate=False)
            self._mark_phase(call_id)
            if call.transfer is not None:
                window.mark_transfer(call_id, call.transfer)
        front = self.router.front_call_id()
        if front is not None:
            window.bring_to_front(front)
        self._show_callbacks(self._clock())
        self.refresh_sync_state()

    # ------------------------------------------------------------------ calls

    def on_router_action(self, action: RouterAction) -> None:
        if isinstance(action, Pop):
            if action.call_id in self._ask_channel:
                self._ask_channel.discard(action.call_id)
                self._ask_for_channel(action.call_id, action.key)
            else:
                self._start_pop(action.call_id, action.key)
            self._mark_phase(action.call_id)
            if action.event.from_agent is not None:
                # A call a colleague transferred before it reached this agent (a connector saw the transfer):
                # its first event already says from whom and through which extension or queue.
                transfer = self.calls.transferred(action.call_id, action.key, action.key,
                                                  from_agent=action.event.from_agent, via=action.event.dnis)
                if transfer is not None:
                    self.window.mark_transfer(action.call_id, transfer)
        elif isinstance(action, UpdatePop):
            event = action.event
            to_agent = event.agent_id if event.agent_id not in (None, self.agent_id) else None
            # Before the new lookup: the marker names who the call was with.
            transfer = self.calls.transferred(action.call_id, action.previous_key, action.key, to_agent=to_agent,
                                              from_agent=event.from_agent, via=event.dnis)
            if action.identity_changed:
                self._start_pop(action.call_id, action.key)
            if transfer is not None:
                self.window.mark_transfer(action.call_id, transfer)
        elif isinstance(action, Activate | Ended):
            self._mark_phase(action.call_id)
            if isinstance(action, Ended) and action.reason == "transferred_away":
                call = self.calls.get(action.call_id)
                key = call.key if call is not None else PopKey()
                transfer = self.calls.transferred(action.call_id, key, key,
                                                  to_agent=action.to_agent or action.to_number or "?")
                if transfer is not None:
                    self.window.mark_transfer(action.call_id, transfer)
        elif isinstance(action, Front):
            self.window.bring_to_front(action.call_id)
        elif isinstance(action, Closed):
            self.calls.closed(action.call_id)
            self.window.close_call(action.call_id)
        elif isinstance(action, Ignored):
            log.debug("call event ignored", extra={"reason": action.reason})

    def _mark_phase(self, call_id: str) -> None:
        """The call's phase (desktop.calls.front) on its tab; a wrap-up counts from the hang-up."""
        call = self.router.call(call_id)
        if call is not None:
            self.window.mark_call_state(call_id, call.phase, call.ended_at)

    def _start_pop(self, call_id: str, key: PopKey, *, chosen: str | None = None) -> None:
        # A caller seen moments ago is in memory: shown at once, no worker round trip.
        call = self.calls.start(call_id, key, chosen=chosen, instant=self.pops.cached_in_memory)
        instant = call.shown.document is not None
        self.window.show_pop(call_id, call.shown, activate=False)  # the router says which call is in front
        generation, key = call.generation, call.key
        # Cached view and server fetch run at once on their own pools; whichever is better wins.
        if not instant:
            self.runner.submit("db", self.pops.cached, key, name="pop.cached", owner=self,
                               on_done=lambda result: self._show(call_id, generation, result))

        # With a caller already on screen (instant), the fetch's Python (HTTP, parsing) starts after the
        # paint instead of competing with it for the interpreter.
        self.runner.submit("net", self._fetch, key, name="pop.fetch", owner=self,
                           on_done=lambda result: self._show(call_id, generation, result),
                           on_error=lambda exc: self._fetch_crashed(call_id, generation, key, exc),
                           after_events=instant)

    def _fetch(self, key: PopKey) -> PopResult:
        # The cache write waits until the live result is on screen (see _show).
        return self.pops.fetch(key, remember=False)

    def _show(self, call_id: str, generation: int, result: PopResult | None) -> None:
        settled = self.calls.settle(call_id, generation, result)
        logged = settled is not None and settled.log
        if result is not None and (result.server_document is not None or logged):
            # The live document cached and the settled pop logged, in one task after the paint (see
            # _BOOKKEEPING), durable: a panel closed right after a pop still caches it.
            shown = settled.shown if settled is not None else result
            self.runner.submit("db", self.pops.after_shown, shown, call_id, self.agent_id, logged,
                               name="pop.after_shown", owner=self,
                               on_done=lambda pop_id: self.calls.logged(call_id, generation, pop_id) if logged
                               else None, **_BOOKKEEPING)
        if settled is None:
            return
        self.window.show_pop(call_id, settled.shown, activate=False)
        if settled.shown.error is not None and settled.shown.error.code == "auth_failed":
            self.auth_failed.emit()
        if settled.event is not None:
            self._emit(settled.event)

    def _fetch_crashed(self, call_id: str, generation: int, key: PopKey, exc: BaseException) -> None:
        log.error("pop fetch crashed", exc_info=exc)
        from desktop.domain.errors import UserError

        self._show(call_id, generation, PopResult(PopState.ERROR, key, error=UserError("bad_response")))

    def dismiss(self, call_id: str) -> None:
        self.router.dismiss(call_id)

    def retry_pop(self, call_id: str) -> bool:
        """Ask the server again for a pop it could not answer (the retry button or key, or the server back:
        see _sync_state). False when the call needs no retry or one is on its way."""
        call = self.calls.begin_retry(call_id)
        if call is None:
            return False
        generation = call.generation
        self.window.show_retrying(call_id)

        def done(result: PopResult | None) -> None:
            self.calls.end_retry(call_id, call)
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
        call = self.calls.get(call_id)
        if call is None or call.shown.state is not PopState.AMBIGUOUS:
            return False
        if not self.calls.may_choose(call_id, customer_id):
            log.warning("choice refused: not one of the customers sharing the number")
            return False
        self._start_pop(call_id, PopKey(ani=call.key.ani), chosen=customer_id)
        return True

    def choose_again(self, call_id: str) -> bool:
        """The agent picked the wrong person: back to the list of customers sharing the number (no new
        request; outcomes wait until the next choice)."""
        event = self.calls.choose_again(call_id)
        if event is None:
            return False
        self.window.show_pop(call_id, self.calls.get(call_id).shown, activate=False)
        self._emit(event)
        return True

    # ------------------------------------------------------------------ search

    def search(self, text: str) -> None:
        self.runner.submit("net", self.pops.search, text, 10, name="search", owner=self,
                           on_done=self.window.search.show_results,
                           on_error=lambda exc: self.window.search.show_error(
                               describe_error(exc.user_error, self.window.texts) if hasattr(exc, "user_error")
                               else str(exc)))

    def pop_customer(self, customer_id: str, _name: str = "", *, source: str = "search",
                     outbound: str | bool | None = None) -> list[RouterAction]:
        """A search result (or a host's show_customer) pops like a call would, in its own tab.

        `outbound`: a campaign id — an outbound call for that campaign (a host said so); False — an inbound
        call or a lookup, no question; None — when outbound campaigns the customer is on run for this agent,
        the tab first asks which it is (Enter: inbound or lookup), else it pops as an inbound call."""
        call_id = f"search-{uuid.uuid4().hex[:12]}"
        event = CallEvent(call_id=call_id, state="answered", customer_id=customer_id, agent_id=self.agent_id,
                          source=source, outbound=outbound if isinstance(outbound, str) else None)
        if outbound is None:
            self._ask_channel.add(call_id)
        try:
            return self.router.handle(event)
        finally:
            self._ask_channel.discard(call_id)

    def _ask_for_channel(self, call_id: str, key: PopKey) -> None:
        """The tab opens at once (loading); a worker asks the server which outbound campaigns may call this
        customer; none (or no answer): the usual pop, else the question."""
        call = self.calls.start(call_id, key)
        self.window.show_pop(call_id, call.shown, activate=False)
        generation = call.generation
        self.runner.submit("net", self.pops.callable_campaigns, key.customer_id, name="pop.campaigns", owner=self,
                           on_done=lambda campaigns: self._channels_known(call_id, generation, key, campaigns),
                           on_error=lambda _exc: self._channels_known(call_id, generation, key, ()))

    def _channels_known(self, call_id: str, generation: int, key: PopKey, campaigns) -> None:
        call = self.calls.get(call_id)
        if call is None or call.generation != generation:
            return  # closed (or popped again) meanwhile
        asking = self.calls.ask_channel(call_id, generation, campaigns)
        if asking is None:
            self._start_pop(call_id, key)  # no outbound campaign for this customer: no question
            return
        self.window.show_pop(call_id, asking, activate=False)

    def choose_channel(self, call_id: str, campaign_id: str) -> bool:
        """The agent's answer: "" an inbound call or a lookup, else an outbound call for that campaign (one
        the tab offered). The customer pops for that channel. Returns whether the answer was taken."""
        if not self.calls.may_choose_channel(call_id, campaign_id):
            return False
        key = self.calls.get(call_id).key
        self._start_pop(call_id, PopKey(ani=key.ani, customer_id=key.customer_id, outbound=campaign_id or None))
        return True

    # ------------------------------------------------------------------ outcomes

    def record_outcome(self, call_id: str, offer_id: str, result: str, extras: dict, done=None) -> None:
        """`done(record or exception)`, if given, is called once the outcome is saved or refused (a host's
        outcome.record over the bridge waits for it)."""
        call = self.calls.get(call_id)
        if call is None or not call.can_record:
            if done is not None:
                done(LookupError("no open call with a customer to record an outcome for" if call is None
                                 else "this call cannot take an outcome now (choose who is calling first)"))
            return
        # The save, as it will run on the db worker: for the pop on screen now; the service refuses a call
        # whose caller is not confirmed yet (a shared number) and chains what follows a save.
        shown, pop_id, outcomes, agent_id = call.shown, call.pop_id, self.outcomes, self.agent_id

        def record():
            return outcomes.record_and_follow(
                shown, offer_id=offer_id or None, result=result, agent_id=agent_id,
                call_id=None if call_id.startswith("search-") else call_id,
                note=extras.get("note"), callback_at=extras.get("callback_at"), reason=extras.get("reason"),
                pop_id=pop_id,
            )

        self.runner.submit(
            "db", record, name="outcome.record", owner=self, durable=True,  # a key pressed just before a close is still saved
            on_done=lambda saved: self._recorded(call_id, saved, done),
            on_error=lambda exc: self._record_failed(call_id, exc, done),
        )

    def _recorded(self, call_id: str, done, then=None) -> None:
        # Only now, with the outcome committed: "saved", and the note it carried cleared (a note the agent
        # has typed since, for the next outcome, stays).
        record = done.record
        call = self.calls.get(call_id)
        event = self.calls.recorded(call_id, record, done.guided)
        self.window.outcome_saved(str(record.result), record.note, call_id=call_id,
                                  name=call.who if call is not None else "")
        if call is not None and call.shown.document is not None:
            self.window.show_pop(call_id, call.shown, activate=False)  # local guidance at once, even offline
            self._names[record.customer_id] = (call.name, call.shown.document.customer.masked_msisdn)
        self.router.outcome_recorded(call_id)
        self._mark_phase(call_id)  # still talking: "✓ outcome recorded" on its tab
        self._callbacks_read(done)  # a new callback is reminded; one this outcome kept is not
        self._emit(event)
        name = call.who if call is not None else ""  # an unknown caller: the masked number
        self.window.offer_undo(record.outcome_id, str(record.result), name, call_id=call_id)
        # Its delivery is the sync service's (scheduled for its undo hold's end); the badge counts it now.
        self.refresh_sync_state(after_run=False)
        if then is not None:
            then(record)

    def outcome_saved_elsewhere(self, call_id: str, done) -> OutcomeRecorded:
        """An outcome another view saved through OutcomeService.record_and_follow (the outbound window's offer
        outcome of its connected call; `call_id` is not a tab of this panel): hosts hear of it as of any outcome
        (outcome.recorded), it can be undone here (undo_outcome: outcome.retracted), the badge counts it. The
        other view shows its own banner."""
        event = self.calls.recorded(call_id, done.record, done.guided)
        self._callbacks_read(done)
        self._emit(event)
        self.refresh_sync_state(after_run=False)
        return event

    def undo_outcome(self, outcome_id: str, then=None) -> None:
        """Ctrl+Z on the banner: removed if not sent yet, else retracted on the server by the next sync.
        `then(Undone or exception)`: another view's banner (the outbound window) is told instead of the panel's."""
        self.runner.submit("db", self.outcomes.undo_and_follow, outcome_id, name="outcome.undo", owner=self,
                           durable=True, on_done=lambda done: self._undone(outcome_id, done, then),
                           on_error=self._undo_failed if then is None else then)

    def _undone(self, outcome_id: str, done, then=None) -> None:
        if then is None:
            self.window.outcome_undone()
        else:
            then(done)
        self._callbacks_read(done)  # an undone callback is no longer reminded
        if done.result in (UndoResult.REMOVED, UndoResult.RETRACTING):
            event = self.calls.retracted(outcome_id, str(done.result), self._clock())
            if event is not None:
                self._emit(event)
        self.refresh_sync_state(after_run=False)  # a retraction's delivery is the sync service's

    def _callbacks_read(self, done) -> None:
        """The callback queue a save or an undo re-read in its task (or why it could not)."""
        if done.callbacks is not None:
            self._callbacks_loaded(done.callbacks)
        elif done.callbacks_error is not None:
            self.store_trouble(done.callbacks_error)

    def _undo_failed(self, exc: BaseException) -> None:
        error = getattr(exc, "user_error", None)
        log.warning("outcome not undone", extra={"error": type(exc).__name__})
        self.window.outcome_undo_failed(describe_error(error, self.window.texts) if error is not None else str(exc))

    def _record_failed(self, call_id: str, exc: BaseException, then=None) -> None:
        error = getattr(exc, "user_error", None)
        message = describe_error(error, self.window.texts) if error is not None else str(exc)
        log.warning("outcome not saved", extra={"error": type(exc).__name__})
        self.window.outcome_failed(message, call_id=call_id)
        if then is not None:
            then(exc)

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
        # Outcomes held for their undo window: the sync service has its own run scheduled for the hold's end.
        self.runner.submit("net", job, name="sync", owner=self, on_done=lambda _report: self._sync_finished(),
                           on_error=self._sync_finished)

    def _sync_finished(self, error: BaseException | None = None) -> None:
        self._sync_running = False
        if error is not None:
            log.error("sync crashed", exc_info=error)
        self.refresh_sync_state()
        if self._sync_again:
            self._sync_again = False
            self.request_sync(force=True)

    def refresh_sync_state(self, *, after_run: bool = True) -> None:
        """Read the sync state and show it. `after_run=False`: only the counts changed (a save, an undo), the
        server was not asked: what follows a delivery's answer (pops asked again, a sign-in prompt) waits
        for the next run's."""
        self.runner.submit("db", self.sync.state, name="sync.state", owner=self,
                           on_done=lambda state: self._sync_state(state, after_run=after_run),
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

    def _sync_state(self, state, *, after_run: bool = True) -> None:
        error = state.last_error
        if error is not None and error.code in _STORE_PROBLEMS:
            # Delivery stopped on the local file (e.g. the outbox is damaged): the badge says why, and the
            # agent is told once, not just the log.
            self._tell_store_problem(error)
        else:
            self._store_problem_told = None
        self.window.set_sync_state(state)
        if after_run and state.signed_in and state.offline_since is None:
            # The server answered the last delivery (or nothing waited for it): pops it could not answer
            # before are asked again, paced by the sync runs (an outage with outcomes waiting holds them).
            for call_id in self.calls:
                self.retry_pop(call_id)
        if self._store_damaged is not None:
            self.window.sync_badge.show_problem(self._store_damaged)
        self._emit(SyncStateChanged(state))
        if after_run and state.last_error is not None and state.last_error.code == "auth_failed":
            self.auth_failed.emit()

    # ------------------------------------------------------------------ callbacks

    def signed_out(self) -> None:
        """The customer data on this PC was forgotten (sign-out): so are the names seen on pops here, and the
        callback queue is read again (callbacks stay, by customer id)."""
        self._names.clear()
        self.load_callbacks()

    def load_callbacks(self) -> None:
        """Read the open callbacks from the local store (at start, and after each outcome: a new callback,
        or one kept by this outcome) and set their reminders; the idle screen lists today's."""
        if self.callbacks is None:
            return
        self.runner.submit("db", self.callbacks.queue, name="callbacks.load", owner=self,
                           on_done=self._callbacks_loaded, on_error=self.store_trouble)

    def _callbacks_loaded(self, loaded) -> None:
        callbacks, now = loaded
        callbacks = [self._named(c) for c in callbacks]
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

    def _named(self, callback):
        """The callback with the name and number seen on this customer's pop here, where the store had none."""
        seen = self._names.get(callback.customer_id)
        if seen is None or (callback.display_name and callback.masked_number):
            return callback
        return replace(callback, display_name=callback.display_name or seen[0],
                       masked_number=callback.masked_number or seen[1])

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
        name = callback.display_name or callback.masked_number or ""
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
        call = self.calls.get(call_id)
        name = call.name if call is not None else ""
        self.window.show_notice(
            self.window.texts.translate("Messages", "Wrap-up: record an outcome for %1").replace("%1", name),
            "attention", call_id=call_id)


__all__ = ["PanelController", "Transfer", "pick", "result_label"]
