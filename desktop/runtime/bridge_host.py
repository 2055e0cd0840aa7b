"""BridgeHost: runs the local bridge (desktop.calls.bridge) for the panel and answers it on the GUI thread.

The bridge serves sockets on its own thread and never touches Qt. Its commands reach the panel here: the
bridge thread posts the work and a concurrent Future to the GUI thread's inbox (desktop.runtime.gui_thread,
the one way back for every thread: tasks, connectors and scheduler jobs use it too). The GUI thread runs the
commands in arrival order (the router and the window are GUI-thread objects), a few milliseconds' worth
at a time so paints and timers interleave during a burst, and completes each Future, which the bridge
awaits with a timeout (503 "panel busy" when the GUI thread does not get to it in time). Events travel
the other way: the controller's signals (GUI thread) and the router's actions become `publish()` calls,
which only hand the event to the bridge's loop and return.

After each command and each published event the GUI thread yields the interpreter lock (time.sleep(0)):
the bridge's thread, just woken to send an answer or an event, then sends it at once rather than after
the 5 ms switch interval (fan-out p99 halved in bench/bridge_burst.py).

Lifecycle (see the wiring in desktop/app.py): construct, `follow(controller)`, `start()` after the window
is shown (everything else, imports, the token file and binding included, happens on the bridge's own
thread, so start() costs the GUI thread well under a millisecond), `stop()` in the app's close(), before
the router and the window go away.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Slot

from desktop.calls.bridge_protocol import (
    call_result,
    claimed_call_result,
    outbound_state,
    outcome_result,
    panel_result,
    state_snapshot,
)
from desktop.calls.events import CallEvent
from desktop.calls.router import Activate, CallRouter, Closed, Ended, Front, Ignored, RouterAction, UpdatePop
from desktop.domain.events import (
    CallClosed,
    CallIgnored,
    CallUpdated,
    PanelEvent,
    PopAmbiguous,
    PopShown,
    SyncStateChanged,
)
from desktop.domain.outbound import STATE_ERRORS
from desktop.runtime.gui_thread import GuiInbox

logger = logging.getLogger(__name__)


def _relay(done: concurrent.futures.Future, to: concurrent.futures.Future) -> None:
    if to.cancelled():
        return
    if done.exception() is not None:
        to.set_exception(done.exception())
    else:
        to.set_result(done.result())


class BridgeSettingsLike(Protocol):
    """desktop.services.config.BridgeSettings (runtime may not import services)."""

    port: int
    token: str | None
    allowed_origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _GuiCall:
    fn: Callable[..., Mapping[str, Any]]
    args: tuple[Any, ...]
    future: concurrent.futures.Future


# The GUI thread runs bridge commands for at most this long before letting paints and timers in.
_DRAIN_SLICE_S = 0.008


class BridgeHost(QObject):
    """The panel's side of the local bridge. Use from the GUI thread (except the bridge's own calls)."""

    def __init__(self, settings: BridgeSettingsLike, data_dir: Path, router: CallRouter, *,
                 show: Callable[[], None], hide: Callable[[], None], is_visible: Callable[[], bool],
                 answer_timeout_s: float = 2.0, parent: QObject | None = None) -> None:
        """`show` must not take the keyboard (the agent types into the softphone): pass the window's
        show_without_focus. `data_dir` holds the per-install token file (unless IT preset a token)."""
        super().__init__(parent)
        self._settings = settings
        self._data_dir = data_dir
        self._router = router
        self._show = show
        self._hide = hide
        self._is_visible = is_visible
        self._answer_timeout_s = answer_timeout_s
        # The bridge thread posts commands, the GUI thread runs them, at most _DRAIN_SLICE_S at a time.
        self._inbox = GuiInbox(self, slice_s=_DRAIN_SLICE_S, name="callcue-bridge-inbox")
        self._lock = threading.Lock()  # stop() against the bridge thread's set-up
        self._pops: dict[str, dict[str, Any]] = {}  # call id -> its last pop.shown data (GET /v1/state)
        self._sync: dict[str, Any] | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._set_up = threading.Event()  # the bridge's thread has bound (self.server set) or given up
        self.server: Any = None  # desktop.calls.bridge.BridgeServer while running
        self.token: Any = None  # its BridgeToken
        self.problem: str | None = None  # why the bridge is not running, for logs and diagnostics
        self._outbound: Any = None  # the panel's outbound work (desktop.ui.outbound.OutboundController)
        self._remove_dialer: Callable[[], None] | None = None
        self._controller: Any = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.running

    @property
    def port(self) -> int:
        return self.server.port if self.server is not None else 0

    def follow(self, controller: Any) -> None:
        """Publish the events the controller emits for hosts (desktop.domain.events)."""
        controller.panel_event.connect(self.publish_event)
        self._controller = controller  # outcome.record of a panel call

    def follow_outbound(self, outbound: Any) -> None:
        """Serve outbound.next / .dial / .result and the outbound section of GET /v1/state (issue 16) from
        `outbound`: its bridge_command(type, fields) returns a concurrent Future of the reply, its
        bridge_state() the outbound section. Call before start()."""
        self._outbound = outbound
        host_dialer = getattr(outbound, "host_dialer", None)
        if host_dialer is not None:  # hosts that sent dialer.register dial for the panel (dial.requested)
            self._remove_dialer = host_dialer.add_source(lambda: self.server is not None and not self._stopped
                                                         and self.server.dialer_count > 0)

    def start(self, *, port: int | None = None) -> bool:
        """Start the bridge on bridge.port (`port` overrides it; 0 = any free port, for tests). Returns at
        once: the bridge's thread imports its modules, reads (or makes) the token and binds, so none of
        that runs on the GUI thread. False when the bridge is off (bridge.port = 0); a bridge that cannot
        run (port taken, …) logs why and keeps it in `problem`. Never raises."""
        if self._stopped or self._thread is not None:
            return self._thread is not None
        if port is None:
            if self._settings.port == 0:
                self.problem = "the local bridge is off (bridge.port = 0)"
                logger.info(self.problem)
                return False
            port = self._settings.port
        self._remove_listener = self._router.add_listener(self._on_router_action)
        self._thread = threading.Thread(target=self._run_bridge, args=(port,), name="callcue-bridge", daemon=False)
        self._thread.start()
        return True

    def _run_bridge(self, port: int) -> None:
        """The bridge's thread: set up, then serve until stop(). A failure is logged, never raised."""
        try:
            from desktop.calls.bridge import BridgeHandlers, BridgeServer, resolve_token

            token = resolve_token(self._settings.token, self._data_dir)
            handlers = BridgeHandlers(
                call_event=lambda event: self._submit(self._handle_call_event, event),
                show=lambda: self._submit(self._handle_show),
                hide=lambda: self._submit(self._handle_hide),
                state=lambda: self._submit(self._handle_state),
                outbound=(lambda command: self._submit(self._handle_outbound, command))
                if self._outbound is not None else None,
                outcome=lambda command: self._submit(self._handle_outcome, command),
            )
            server = BridgeServer(token=token, handlers=handlers, port=port,
                                  allowed_origins=self._settings.allowed_origins,
                                  answer_timeout_s=self._answer_timeout_s)
            server.bind()  # BridgeStartError (port taken) says what to change
        except Exception as exc:
            self.problem = f"the local bridge is not running: {exc}"
            logger.error(self.problem)
            self._set_up.set()
            return
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self.token, self.server = token, server
        self._set_up.set()
        if stopped:
            server.stop()
            return
        server.serve()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once the bridge serves (tests and benchmarks; the panel never waits for it)."""
        deadline = time.monotonic() + timeout
        if not self._set_up.wait(timeout) or self.server is None:
            return False
        return self.server.wait_ready(max(0.0, deadline - time.monotonic()))

    def stop(self, timeout: float = 5.0) -> None:
        """Refuse what is still waiting for the GUI thread (503 "closing"), close every connection and end
        the bridge thread. Idempotent."""
        with self._lock:
            self._stopped = True
            server = self.server
        waiting = [args[0] for _fn, args in self._inbox.close()]  # nothing is posted after this
        if self._remove_dialer is not None:
            self._remove_dialer()
            self._remove_dialer = None
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for call in waiting:
            call.future.cancel()  # the bridge answers 503: the GUI thread is here, not going to run them
        if server is not None:
            server.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("the bridge thread did not end within %.1f s", timeout)

    # ------------------------------------------------------------------ bridge thread -> GUI thread

    def _submit(self, fn: Callable[..., Mapping[str, Any]], *args: Any) -> concurrent.futures.Future:
        """On the bridge thread: queue `fn(*args)` for the GUI thread; the Future gets its answer."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if not self._inbox.post(self._run, _GuiCall(fn, args, future)):
            future.cancel()  # stopped: the bridge answers 503 "closing"
        return future

    def _run(self, call: _GuiCall) -> None:
        # A cancelled future timed out on the bridge (it answered 503) or the bridge stopped: skip it, so
        # "503" always means "not applied".
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            result = call.fn(*call.args)
        except Exception as exc:
            logger.exception("bridge command failed on the GUI thread")
            call.future.set_exception(exc)
        else:
            if isinstance(result, concurrent.futures.Future):  # answered later (an outbound step's task)
                result.add_done_callback(lambda done: _relay(done, call.future))
            else:
                call.future.set_result(result)
        time.sleep(0)  # let the bridge's thread send the answer now (see _publish)

    # ------------------------------------------------------------------ commands (GUI thread)

    def _handle_call_event(self, event: CallEvent) -> dict[str, Any]:
        if self._outbound is not None and self._outbound.claim(event):
            # The outbound call this panel asked a host to dial (dial.requested): its window follows it.
            return claimed_call_result(event.call_id, event.state)
        return call_result(event.call_id, self._router.handle(event))

    def _handle_show(self) -> dict[str, Any]:
        self._show()
        return panel_result(self._is_visible())

    def _handle_hide(self) -> dict[str, Any]:
        self._hide()
        return panel_result(self._is_visible())

    def _handle_state(self) -> dict[str, Any]:
        return state_snapshot(self._router.calls(), self._pops, self._sync, self._is_visible(),
                              self._router.front_call_id(),
                              self._outbound.bridge_state() if self._outbound is not None else None)

    def _handle_outcome(self, command: Any) -> concurrent.futures.Future:
        """outcome.record: an offer outcome for an open call (inbound, or the outbound call in wrap-up), saved
        as the agent's key would save it; the reply follows once it is saved (or refused)."""
        fields = dict(command.fields or {})
        call_id = fields.pop("call_id")
        offer_id, result = fields.pop("offer_id"), fields.pop("result")
        reply: concurrent.futures.Future = concurrent.futures.Future()
        reply.set_running_or_notify_cancel()

        def finished(saved: Any) -> None:
            if isinstance(saved, BaseException):
                extra = self._outbound.refusal_reply(saved) if self._outbound is not None \
                    and getattr(saved, "code", None) in STATE_ERRORS else {}
                reply.set_result(outcome_result(call_id, accepted=False, detail=str(saved)[:300],
                                                detail_zh=extra.get("detail_zh"), code=extra.get("code")))
            else:
                reply.set_result(outcome_result(call_id, accepted=True, detail="saved", outcome_id=saved.outcome_id,
                                                channel=saved.channel))

        if self._outbound is not None and self._outbound.owns_call(call_id):
            self._outbound.record_outcome(offer_id or "", result, fields, then=finished)
        elif self._controller is not None:
            self._controller.record_outcome(call_id, offer_id or "", result, fields, done=finished)
        else:
            finished(LookupError("no panel to record the outcome"))
        return reply

    def _handle_outbound(self, command: Any) -> concurrent.futures.Future:
        """outbound.next / .dial / .result: the step runs on the panel's task runner; the reply (the
        outbound state once the step is done) follows then."""
        reply: concurrent.futures.Future = concurrent.futures.Future()
        reply.set_running_or_notify_cancel()

        def answered(done: concurrent.futures.Future) -> None:
            if done.exception() is not None:
                reply.set_exception(done.exception())
                return
            reply.set_result(outbound_state(self._outbound.bridge_state(), **done.result()))

        self._outbound.bridge_command(command.type, command.fields or {}).add_done_callback(answered)
        return reply

    # ------------------------------------------------------------------ events (GUI thread)

    def _publish(self, event_type: str, data: Mapping[str, Any]) -> None:
        if self.server is not None and not self._stopped:
            self.server.publish(event_type, data)
            # Hand the interpreter lock over now, so the bridge's thread (just woken for this event) sends
            # it at once instead of waiting up to the 5 ms switch interval for the GUI thread to pause.
            time.sleep(0)

    @Slot(object)
    def publish_event(self, event: PanelEvent) -> None:
        """One of the panel's events (desktop.domain.events), as its v1 payload."""
        data = event.to_json()
        if isinstance(event, PopShown):
            self._pops[event.call_id] = data
        elif isinstance(event, PopAmbiguous):
            # No customer is on screen for the call until the agent chooses: GET /v1/state shows no pop.
            self._pops.pop(event.call_id, None)
        elif isinstance(event, SyncStateChanged):
            if data == self._sync:
                return  # refreshed but unchanged: not news for a host
            self._sync = data
        self._publish(event.type, data)

    def _on_router_action(self, action: RouterAction) -> None:
        if isinstance(action, UpdatePop | Activate | Ended | Front):
            call = self._router.call(action.call_id)
            if call is None:
                return  # ended and closed at once (an outcome was recorded): call.closed follows
            change = {UpdatePop: "transfer", Front: "front"}.get(type(action), "phase")
            self.publish_event(CallUpdated(call.call_id, call.key, change, call.phase,
                                           in_front=call.call_id == self._router.front_call_id(),
                                           refetch=isinstance(action, UpdatePop) and action.identity_changed))
        elif isinstance(action, Ignored):
            self.publish_event(CallIgnored(action.call_id, action.reason, action.detail))
        elif isinstance(action, Closed):
            self._pops.pop(action.call_id, None)
            self.publish_event(CallClosed(action.call_id, action.reason))
