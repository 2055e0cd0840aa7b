"""embed_panel() and PanelHandle: the CallCue panel inside a host's own Qt application (API v1).

Each handle owns one PanelSession (desktop/panel_session.py): its own store, threads, timer, router and
widget. Nothing is installed into the host's QApplication (no style sheet, palette, translator, window
icon or event filter); the only process-wide things are a list of the open panels' store files (two
panels must not share one) and a connection to QApplication.aboutToQuit that closes a panel the host
forgot to close.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs
from PySide6 import QtCore, QtWidgets

from desktop.calls.events import InvalidCallEvent, checked_identifier, parse_call_event
from desktop.calls.router import Activate, Closed, Ended, Ignored, Pop, RouterAction, UpdatePop
from desktop.panel_session import PanelSession
from desktop.remote.api_client import AnalyticsClient
from desktop.remote.credentials import CredentialStore, CredentialsUnavailable
from desktop.services.config import APP_NAME, ConfigError, load_config
from desktop.services.session import HostToken
from plugin_sdk._types import (
    EVENT_NAMES,
    RESULTS,
    CallEventResult,
    PanelClosedError,
    PanelConfig,
    PanelConfigError,
    PanelError,
    event_name,
)
from plugin_sdk._version import API_VERSION, require_api

log = logging.getLogger("callcue.sdk")

CredentialsCallback = Callable[[], "str | None"]
Unsubscribe = Callable[[], None]

# Resolved store path -> the open handle using it (two panels sharing a file would both send its outbox).
_OPEN_STORES: dict[Path, PanelHandle] = {}

_DEFAULT_SHORTCUTS = {result: f"Ctrl+{index}" for index, result in enumerate(RESULTS, start=1)}


def default_store_path(server_url: str, agent_id: str) -> Path:
    """<user data dir>/CallCue/embedded/<agent>-<hash of server and agent>.sqlite3"""
    digest = hashlib.sha256(f"{server_url}\n{agent_id}".encode()).hexdigest()[:12]
    safe_agent = re.sub(r"[^A-Za-z0-9_.-]", "_", agent_id)[:32]
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "embedded" / f"{safe_agent}-{digest}.sqlite3"


def embed_panel(parent: QtWidgets.QWidget | None, config: PanelConfig, *,
                credentials: CredentialsCallback | None = None) -> PanelHandle:
    """Build a panel as a child of `parent` (put `handle.widget` in your layout) and start it.

    `credentials()` returns the agent's bearer token (or None). It runs on the panel's network worker
    thread, never two calls at once: return a cached token quickly and touch no widgets. It is asked
    before the first request and once again after the server refuses a token (401); see docs/sdk.md.
    Without it the token is read from the OS keyring entry the CallCue desktop app's sign-in writes.

    Call on the GUI thread, with a QApplication. Raises IncompatibleApiError (config.require_api),
    PanelConfigError, or PanelError (e.g. store_path used by another open panel).
    """
    if not isinstance(config, PanelConfig):
        raise TypeError(f"config must be a PanelConfig, not {type(config).__name__}")
    if config.require_api is not None:
        require_api(config.require_api)
    app = QtWidgets.QApplication.instance()
    if not isinstance(app, QtWidgets.QApplication):
        raise PanelError("create the QApplication before embedding a panel")
    if QtCore.QThread.currentThread() != app.thread():
        raise PanelError("embed_panel must be called on the GUI thread")
    if parent is not None and not isinstance(parent, QtWidgets.QWidget):
        raise TypeError(f"parent must be a QWidget or None, not {type(parent).__name__}")
    if credentials is not None and not callable(credentials):
        raise TypeError("credentials must be a callable returning the token (or None)")
    store_path = Path(config.store_path or default_store_path(config.server_url, config.agent_id)).resolve()
    other = _OPEN_STORES.get(store_path)
    if other is not None and not other.closed:
        raise PanelError(f"store_path {str(store_path)!r} is used by another open panel; give each panel its own")
    return PanelHandle(parent, config, store_path, credentials)


class PanelHandle(QtCore.QObject):
    """One embedded panel. Use it on the GUI thread. Events arrive on the GUI thread, as Qt signals and
    through subscribe(); payloads are plain dicts (docs/sdk.md), the same as the bridge's events' data."""

    pop_shown = QtCore.Signal(dict)
    pop_ambiguous = QtCore.Signal(dict)
    outcome_recorded = QtCore.Signal(dict)
    outcome_retracted = QtCore.Signal(dict)  # API 1.3
    sync_state = QtCore.Signal(dict)
    dial_requested = QtCore.Signal(dict)  # API 1.5: only subscribe()rs make the panel dial through the host

    def __init__(self, parent: QtWidgets.QWidget | None, config: PanelConfig, store_path: Path,
                 credentials: CredentialsCallback | None) -> None:
        super().__init__()
        self.config = config
        self.api_version = API_VERSION
        self.store_path = store_path
        self._closed = False
        self._subscribers: dict[str, list[Callable[[dict[str, Any]], object]]] = {name: [] for name in EVENT_NAMES}
        self._last_sync_state: dict[str, Any] | None = None
        try:
            desktop_config = load_config(machine_file=None, user_file=None, environ={}, cli={
                "server.url": config.server_url, "agent.id": config.agent_id, "ui.language": config.language,
                "ui.theme": config.theme, "server.timeout_s": config.timeout_s,
                "server.ca_bundle": config.ca_bundle, "sync.interval_s": config.sync_interval_s,
                "ui.wrapup_reminder_s": config.wrapup_reminder_s, "store.path": store_path,
            })
        except ConfigError as exc:
            raise PanelConfigError(_FIELDS.get(exc.key or "", exc.key or "config"), exc.problem) from None
        self._token = HostToken(credentials or _keyring_token(config.server_url, config.agent_id))
        client = AnalyticsClient(config.server_url, self._token.current, timeout=(1.0, desktop_config.server.timeout_s),
                                 verify=desktop_config.server.verify, renew_token=self._token.renew)
        shortcuts = dict(_DEFAULT_SHORTCUTS if config.shortcuts is None else config.shortcuts)
        self._session = PanelSession(
            desktop_config, store_path=store_path, client=client, agent_id=config.agent_id,
            language=config.language, theme=config.theme, shortcuts=shortcuts, embedded=True,
            parent_widget=parent, parent=self)
        self._widget = self._session.widget
        _OPEN_STORES[store_path] = self
        controller = self._session.controller
        controller.panel_event.connect(self._panel_event)
        # A host that subscribed to dial_requested dials outbound calls for this panel (API 1.5).
        self._session.outbound.host_dialer.add_source(lambda: bool(self._subscribers["dial_requested"]))
        self._session.language_requested.connect(self._session.set_language)
        # If the host deletes the panel's parent (or quits) without close(), stop the threads anyway.
        self._widget.destroyed.connect(self._widget_destroyed)
        app = QtCore.QCoreApplication.instance()
        app.aboutToQuit.connect(self.close)
        self._session.start()

    # ------------------------------------------------------------------ properties

    @property
    def widget(self) -> QtWidgets.QWidget:
        """The panel: put it in your layout. Stays the same widget for the handle's life; deleted by close()."""
        self._check_open()
        return self._widget

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def language(self) -> str:
        """'zh_CN' or 'en': the panel's language now (the agent may switch it with the 中/EN button)."""
        return self._session.language

    # ------------------------------------------------------------------ calls

    def call_event(self, call_id: str, state: str, ani: str | None = None, customer_id: str | None = None, *,
                   dnis: str | None = None, agent_id: str | None = None, at: Any = None,
                   from_agent: str | None = None, outbound: dict[str, str] | None = None,
                   end_reason: str | None = None) -> CallEventResult:
        """Feed one call event: state 'ringing', 'answered', 'transferred' or 'ended'.

        Send every event of a call with the same call_id. The first event of a call pops it (ringing, or
        answered/transferred for a call that reached the agent from a queue or a colleague without ringing
        here); repeats and late replays are ignored; a transfer updates the same tab. `ani` is the caller's
        number, `customer_id` the CRM id if you know it (preferred), `at` when it happened (aware datetime,
        ISO 8601 or epoch seconds). On a 'transferred' event, `from_agent` (API 1.3) names who passed the
        call on and `dnis` the number or queue it came through: the call's tab shows them ('⇄ from …').
        `outbound` (API 1.5): {"campaign_id": "…"} when the agent calls the customer for that campaign (the
        pop is its outbound wave's; outcomes go out with channel outbound_call, the campaign and its wave). On
        'ended', `end_reason` (API 1.5) is the softphone's words (e.g. '486 Busy Here'): for the outbound call
        a host dialed (dial_requested) it suggests the call result.
        Never raises for bad event data: the result says 'rejected' and why.
        """
        self._check_open()
        data = {"call_id": call_id, "state": state, "ani": ani, "dnis": dnis, "customer_id": customer_id,
                "agent_id": agent_id, "from_agent": from_agent, "at": at, "outbound": outbound,
                "end_reason": end_reason}
        try:
            event = parse_call_event({k: v for k, v in data.items() if v is not None}, source="sdk")
        except InvalidCallEvent as exc:
            log.warning("rejected a call event from sdk: %s", exc)
            return CallEventResult(call_id if isinstance(call_id, str) else None, "rejected", "invalid_event", str(exc))
        if self._session.outbound.claim(event):  # the outbound call this host was asked to dial (API 1.5)
            return CallEventResult(event.call_id, "outbound", event.state,
                                   "the outbound call this panel asked you to dial: its progress goes to the "
                                   "outbound window")
        return _summarize(call_id, self._session.router.handle(event))

    def show_customer(self, customer_id: str, *, outbound: dict[str, str] | bool | None = None) -> CallEventResult:
        """Open a customer in a new tab as if they had called (e.g. an outbound call or a CRM click).
        The result's call_id is the tab's id ('search-…'); pop_shown follows with source 'sdk'.

        `outbound` (API 1.5): {"campaign_id": "…"} — the agent calls the customer for that campaign (the pop
        is its outbound wave's, outcomes go out with channel outbound_call, the campaign and its wave); False —
        an inbound call or a lookup. None (default): when outbound campaigns the customer is on run for the
        agent, the tab first asks the agent which it is (pop_shown follows the answer); else as False."""
        self._check_open()
        if not isinstance(customer_id, str) or not customer_id.strip():
            return CallEventResult(None, "rejected", "invalid_event", "customer_id: must be a non-empty str")
        try:  # the rule of every id in a call event: printable, no invisible or text-direction characters
            customer_id = checked_identifier("customer_id", customer_id)
            campaign: str | bool | None = outbound if outbound is None or outbound is False else None
            if campaign is None and outbound is not None:
                if not isinstance(outbound, dict) or set(outbound) != {"campaign_id"}:
                    raise InvalidCallEvent("outbound", 'must be {"campaign_id": "…"}, False or None')
                campaign = checked_identifier("outbound.campaign_id", outbound["campaign_id"])
        except InvalidCallEvent as exc:
            return CallEventResult(None, "rejected", "invalid_event", str(exc))
        actions = self._session.controller.pop_customer(customer_id, source="sdk", outbound=campaign)
        pop = next((a for a in actions if isinstance(a, Pop)), None)
        return _summarize(pop.call_id if pop else None, actions)

    def calls(self) -> list[dict[str, Any]]:
        """The open calls (one tab each), oldest first: call_id, state ('ringing', 'active', 'wrap_up'),
        phase ('ringing', 'talking', 'wrap_up', 'recorded'), in_front (true on exactly one call: the one
        the outcome keys act on), source, transfers, outcome_recorded."""
        self._check_open()
        router = self._session.router
        front = router.front_call_id()
        return [{"call_id": c.call_id, "state": c.state, "phase": c.phase, "in_front": c.call_id == front,
                 "source": c.source, "transfers": c.transfers, "outcome_recorded": c.outcome_recorded}
                for c in router.calls()]

    # ------------------------------------------------------------------ events

    def subscribe(self, event: str, callback: Callable[[dict[str, Any]], object]) -> Unsubscribe:
        """Call `callback(payload)` for each `event` ('pop_shown', 'pop_ambiguous', 'outcome_recorded',
        'outcome_retracted', 'sync_state', 'dial_requested'; the wire names 'pop.shown' … are accepted too). A
        'dial_requested' subscriber makes this panel dial outbound calls through the host (API 1.5). Returns the function that unsubscribes (idempotent).
        A callback that raises is logged and does not affect the panel or other subscribers."""
        self._check_open()
        name = event_name(event)
        if not callable(callback):
            raise TypeError("callback must be callable")
        subscribers = self._subscribers[name]
        subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in subscribers:
                subscribers.remove(callback)

        if name == "sync_state" and self._last_sync_state is not None:
            self._call(name, callback, self._last_sync_state)  # the current state at once
        return unsubscribe

    def _publish(self, name: str, payload: dict[str, Any]) -> None:
        if self._closed:
            return
        getattr(self, name).emit(copy.deepcopy(payload))
        for callback in list(self._subscribers[name]):
            self._call(name, callback, payload)

    @staticmethod
    def _call(name: str, callback: Callable[[dict[str, Any]], object], payload: dict[str, Any]) -> None:
        try:
            callback(copy.deepcopy(payload))
        except Exception:
            log.exception("a host's %s subscriber failed", name)

    def _panel_event(self, event) -> None:
        """One of the panel's events (desktop.domain.events): its to_json() under its SDK name."""
        if event.name is None:  # call.* events: the bridge's only (calls() gives the picture here)
            return
        payload = event.to_json()
        if event.name == "sync_state":
            if payload == self._last_sync_state:  # only changes: no event every 15 s
                return
            self._last_sync_state = payload
        self._publish(event.name, payload)

    # ------------------------------------------------------------------ controls

    # ------------------------------------------------------------------ outbound work (API 1.4)

    def outbound_state(self) -> dict[str, Any]:
        """The agent's outbound work: the previewed customer (masked number), campaign, wave, lease, the
        outbound call with its channel (the same object as the bridge's `state.outbound`, docs/bridge.md)."""
        self._check_open()
        return self._session.outbound.bridge_state()

    def outbound_mode(self, on: bool = True) -> None:
        """Open (or close) the panel's outbound window; opening it previews the next customer."""
        self._check_open()
        self._session.outbound.set_mode(bool(on))

    def outbound_next(self, done: Callable[[dict[str, Any]], object] | None = None) -> None:
        """Preview the worklist's next customer (after a call's result: end the wrap-up). `done(reply)` is
        called on the GUI thread once the step is done: reply = {accepted, detail, outbound}."""
        self._outbound("outbound.next", {}, done)

    def outbound_dial(self, done: Callable[[dict[str, Any]], object] | None = None) -> None:
        """Dial the previewed customer through the panel's softphone connector."""
        self._outbound("outbound.dial", {}, done)

    def outbound_result(self, result: str, note: str | None = None,
                        done: Callable[[dict[str, Any]], object] | None = None) -> None:
        """The outbound call's result: connected, no_answer, busy, voicemail, wrong_number, invalid_number or
        refused_call (saved on the PC at once, sent to the server exactly once). ValueError for another."""
        if result not in ("connected", "no_answer", "busy", "voicemail", "wrong_number", "invalid_number",
                          "refused_call"):
            raise ValueError(f"unknown call result {result!r}")
        self._outbound("outbound.result", {"result": result, "note": note}, done)

    def _outbound(self, kind: str, fields: dict[str, Any], done: Callable[[dict[str, Any]], object] | None) -> None:
        self._check_open()
        outbound = self._session.outbound
        answer = outbound.bridge_command(kind, fields)
        if done is not None:
            answer.add_done_callback(lambda finished: done({**finished.result(), "outbound": outbound.bridge_state()}))

    def sync_now(self) -> None:
        """Send pending outcomes now (also ignores the backoff after failures)."""
        self._check_open()
        self._session.controller.request_sync(force=True)

    def refresh_credentials(self) -> None:
        """You have a new token: the panel asks `credentials()` again at its next request and sends
        pending outcomes now."""
        self._check_open()
        self._token.invalidate()
        self._session.controller.request_sync(force=True)

    def set_language(self, language: str) -> None:
        """'zh_CN', 'en' or 'system': this panel only; open calls stay."""
        self._check_open()
        if language not in ("system", "zh_CN", "en"):
            raise ValueError(f"language must be 'system', 'zh_CN' or 'en'; got {language!r}")
        self._session.set_language(language)

    def close(self) -> None:
        """Stop the panel's threads, timers and connections, close its store and delete its widget.
        Other panels are unaffected. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        app = QtCore.QCoreApplication.instance()
        if app is not None:
            with contextlib.suppress(RuntimeError, TypeError):
                app.aboutToQuit.disconnect(self.close)
        self._session.close()
        if _OPEN_STORES.get(self.store_path) is self:
            del _OPEN_STORES[self.store_path]
        for subscribers in self._subscribers.values():
            subscribers.clear()

    def _widget_destroyed(self, *_args: object) -> None:
        if not self._closed:
            log.warning("the panel's widget was deleted without PanelHandle.close(); closing the panel")
            self._session.forget_widget()
            self.close()

    def __enter__(self) -> PanelHandle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise PanelClosedError("this panel was closed")
        if QtCore.QThread.currentThread() != self.thread():
            raise PanelError("use a PanelHandle on the GUI thread")


_FIELDS = {"server.url": "server_url", "agent.id": "agent_id", "ui.language": "language", "ui.theme": "theme",
           "server.timeout_s": "timeout_s", "server.ca_bundle": "ca_bundle", "sync.interval_s": "sync_interval_s",
           "ui.wrapup_reminder_s": "wrapup_reminder_s", "store.path": "store_path"}


def _keyring_token(server_url: str, agent_id: str) -> CredentialsCallback:
    store = CredentialStore()

    def from_keyring() -> str | None:
        try:
            return store.get_token(server_url, agent_id)
        except CredentialsUnavailable as exc:
            log.warning("no token: %s", exc)
            return None

    return from_keyring




def _summarize(call_id: str | None, actions: list[RouterAction]) -> CallEventResult:
    """The same answer the local bridge gives in `call.result` (docs/bridge.md), for the same event."""
    mine = [action for action in actions if action.call_id == call_id]

    def first(kind: type) -> Any:
        return next((action for action in mine if isinstance(action, kind)), None)

    if first(Pop) is not None:
        which = "the active call" if first(Activate) is not None else "the ringing call"
        return CallEventResult(call_id, "popped", None, f"a new tab opened for {which}; its customer data is being fetched")
    if (update := first(UpdatePop)) is not None:
        detail = ("transfer applied to the open tab; fetching the data of the new party"
                  if update.identity_changed else "transfer applied to the open tab (same customer)")
        return CallEventResult(call_id, "updated", "transfer", detail)
    if (ended := first(Ended)) is not None:
        return CallEventResult(call_id, "ended", ended.reason, "the call ended; its tab stays open for wrap-up")
    if (closed := first(Closed)) is not None:
        return CallEventResult(call_id, "closed", closed.reason, "the call's tab was closed")
    if first(Activate) is not None:
        return CallEventResult(call_id, "answered", None, "the call is now active in its tab")
    if (ignored := first(Ignored)) is not None:
        return CallEventResult(call_id, "ignored", ignored.reason, ignored.detail)
    return CallEventResult(call_id, "ignored", "no_change", "the event changed nothing")
