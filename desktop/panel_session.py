"""PanelSession: one panel's core — local store, services, background runtime, call router, reminders,
controller and the panel widget — wired together, with no process-global side effects.

Two owners build on it: the desktop shell (desktop/app.py: tray, window docking, sign-in, single
instance, app-wide theme and translators) and plugin_sdk (a panel embedded in a host's Qt window).
Several sessions may live in one process; they share nothing:

- its own store file, TaskRunner (threads), JobScheduler (timer), CallRouter and controller;
- its theme is set on its own widget (never on the QApplication);
- its texts come from its own `Texts` catalog, so each panel has its own language (nothing is installed
  in the QApplication; see desktop/ui/i18n.py);
- no tray, no QSettings, no single-instance socket, no keyring access of its own: the owner hands it an
  AnalyticsClient whose token provider is the owner's business (keyring, or a host's callback).

`close()` stops every thread, timer and connection the session started. No business logic lives here.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

import shiboken6
from PySide6 import QtCore, QtWidgets

from desktop.calls.dialer import HostDialer
from desktop.calls.router import CallRouter
from desktop.domain.errors import UserError
from desktop.remote.api_client import AnalyticsClient
from desktop.runtime.scheduler import JobScheduler
from desktop.runtime.tasks import TaskRunner
from desktop.runtime.wrap_up import WrapUpReminders
from desktop.services import store_recovery
from desktop.services.callbacks import CallbackService
from desktop.services.config import Config
from desktop.services.outbound import OutboundService
from desktop.services.outcomes import OutcomeService
from desktop.services.pop import PopService
from desktop.services.store_recovery import SetAside, UsingFallback, check_in_background, open_local_store
from desktop.services.sync import SyncService
from desktop.storage import LocalStore
from desktop.ui.controller import PanelController
from desktop.ui.i18n import Texts, resolve_language
from desktop.ui.outbound import OutboundController
from desktop.ui.outcome_bar import RESULTS
from desktop.ui.panel import PanelContainer, PanelWidget, PanelWindow
from desktop.ui.pop_view import describe_error
from desktop.ui.store_notices import describe_store_event
from desktop.ui.theme import apply_theme_to_widget, resolve_theme

log = logging.getLogger("callcue.panel_session")
CACHE_EXPIRY_INTERVAL_S = 3600  # how often cached customer views past their TTL are deleted
SYNC_RUN_JOB = "sync-after-undo-window"  # the run the sync service asked for (an undo hold's end, a retraction)


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def open_store_safely(path: Path) -> tuple[LocalStore, UserError | None]:
    """Open the store (see open_local_store: damaged files set aside, fallback stores drained, a fallback
    store when the data folder cannot be used); returns it and the first problem to tell the agent."""
    opened = open_local_store(path)
    return opened.store, opened.problem


def config_shortcuts(config: Config) -> dict[str, str]:
    return {result: getattr(config.shortcuts, result) for result in RESULTS}


class PanelSession(QtCore.QObject):
    """One panel. `embedded=True`: the panel lives in a `PanelContainer` child of `parent_widget` (the
    host's); else it is a top-level `PanelWindow` (the desktop shell). `widget` is what the owner shows
    or embeds (stable for the session's life); `window` is the current panel content (replaced on a
    language switch)."""

    language_requested = QtCore.Signal(str)  # the agent pressed 中/EN; the owner decides (set_language)

    def __init__(
        self,
        config: Config,
        *,
        store_path: Path,
        client: AnalyticsClient | None = None,
        agent_id: str | None = None,
        language: str | None = None,
        theme: str | None = None,
        shortcuts: Mapping[str, str] | None = None,
        embedded: bool = False,
        parent_widget: QtWidgets.QWidget | None = None,
        resources: Path | None = None,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._closed = False
        self._widget_gone = False
        self.config = config
        self.embedded = embedded
        self.resources = resources or resources_dir()
        self.language = resolve_language(language or config.ui.language)
        self.texts = Texts(self.language, self.resources / "translations")
        qapp = QtWidgets.QApplication.instance()
        self.theme = resolve_theme(theme or config.ui.theme, qapp)
        self.shortcuts = dict(config_shortcuts(config) if shortcuts is None else shortcuts)
        self.store_path = Path(store_path)

        opened = open_local_store(self.store_path, check_budget_s=store_recovery.START_CHECK_BUDGET_S)
        # store_problem: the first problem as a code (hosts, tests); store_events: everything to tell the agent
        # (a damaged file set aside, a fallback store in use, outcomes moved back from one).
        self.store, self.store_problem, self.store_events = opened.store, opened.problem, opened.events
        self._check_store_later = opened.check_later
        self._client = client
        self._retired_clients: list[AnalyticsClient] = []
        self.pop_service = PopService(client, self.store, cache_ttl=dt.timedelta(hours=config.cache.ttl_h))
        self.callback_service = CallbackService(self.store)
        # Undo within the window removes an outcome before anything is sent: sync holds each outcome that long
        # (and has a run of its own scheduled when it ends); undone later, it is retracted on the server.
        # Both must use the same window. Closing the panel leaves held outcomes in the outbox for the next start.
        # A save schedules its delivery and re-reads the open callbacks and the sync state in its own task.
        self.runner = TaskRunner(self)
        self.scheduler = JobScheduler(self)
        undo_window = dt.timedelta(seconds=config.sync.undo_window_s)
        self.sync_service = SyncService(self.store, client, hold=undo_window, wake_at=self._sync_at)
        self.outcome_service = OutcomeService(self.store, undo_window=undo_window, callbacks=self.callback_service,
                                              sync=self.sync_service)

        self.router = CallRouter(agent_id=None,
                                 wrap_up_reminder_after=dt.timedelta(seconds=config.ui.wrapup_reminder_s))
        self.reminders = WrapUpReminders(self.scheduler, self)
        self.router.add_listener(self.reminders.on_router_action)

        self.container: PanelContainer | None = PanelContainer(parent_widget) if embedded else None
        self.window = self._make_window()
        if self.container is not None:
            self.container.set_panel(self.window)
            self.tokens = apply_theme_to_widget(self.container, self.theme, self.resources / "themes")
        self.controller = PanelController(
            self.window, self.runner, self.router, self.pop_service, self.outcome_service, self.sync_service,
            agent_id=agent_id, scheduler=self.scheduler, callbacks=self.callback_service, parent=self)
        self.reminders.reminder_due.connect(self.controller.remind)
        # Outbound campaign work (issue 16): its own window, opened with Ctrl+Shift+O from the panel.
        # Dialing: the owner sets a softphone connector's dialer (desktop/app.py); hosts that dial (bridge
        # dialer.register, an SDK dial_requested subscriber) get dial.requested through the panel's one event
        # stream. Offer outcomes of outbound calls go through the controller: outcome.recorded, Ctrl+Z.
        self.outbound_service = OutboundService(self.store, client)
        self.outbound = OutboundController(
            self.outbound_service, self.runner, self.scheduler, self.router, self.outcome_service, self.texts,
            agent_id=agent_id, host_dialer=HostDialer(config.connectors.host_dial_template),
            dialer_choice=config.outbound.dialer, panel=self.controller, undo_window=undo_window,
            request_sync=lambda: self.controller.request_sync(force=True),
            style=lambda window: apply_theme_to_widget(window, self.theme, self.resources / "themes"), parent=self)
        self.outbound.panel_event.connect(self.controller.panel_event)
        self._install_outbound_key()

    @property
    def widget(self) -> QtWidgets.QWidget:
        """What the owner embeds or shows: the container (embedded) or the panel window."""
        return self.container if self.container is not None else self.window

    @property
    def closed(self) -> bool:
        return self._closed

    def _make_window(self) -> PanelWidget:
        if self.embedded:
            window: PanelWidget = PanelWidget(self.texts, self.shortcuts, embedded=True)
        else:
            window = PanelWindow(self.texts, self.shortcuts)
            if self.config.ui.always_on_top:
                window.setWindowFlag(QtCore.Qt.WindowType.WindowStaysOnTopHint, True)
            self.tokens = apply_theme_to_widget(window, self.theme, self.resources / "themes")
        window.set_undo_window(dt.timedelta(seconds=self.config.sync.undo_window_s))
        window.language_requested.connect(self.language_requested)
        window.sync_details_requested.connect(self._show_attention)
        return window

    # ------------------------------------------------------------------ start / stop

    def start(self) -> None:
        """Periodic sync and router housekeeping, a first sync, and the store's problem if any."""
        self.scheduler.every(self.config.sync.interval_s, self.controller.request_sync, "sync")
        self.scheduler.every(60, self.router.sweep, "router-sweep")
        self.outbound.start(self.config.sync.interval_s)
        # Cached customer data must not outlive its TTL (cache.ttl_h) on the workstation: purged at start
        # and every hour after (pops already ignore expired views; this removes them from disk).
        self.scheduler.every(CACHE_EXPIRY_INTERVAL_S, self._purge_expired_cache, "cache-expiry", run_now=True)
        self.controller.request_sync()
        self.controller.load_callbacks()  # reminders of callbacks agreed before a restart
        if self.store_events:
            serious = any(isinstance(event, SetAside | UsingFallback) for event in self.store_events)
            self.window.show_notice("\n".join(describe_store_event(event, self.texts) for event in self.store_events),
                                    "attention" if serious else "pending")
        elif self.store_problem is not None:
            self.window.show_notice(describe_error(self.store_problem, self.texts), "attention")
        if self._check_store_later:
            # Too big to check within the start-up budget: checked beside the agent's work ("reports" is the
            # read-only pool; the "db" writer is not held up).
            self.runner.submit("reports", check_in_background, self.store, name="store.check", owner=self,
                               on_done=self._store_checked)

    def _sync_at(self, when: dt.datetime) -> None:
        """The sync service's own run at `when` (from any thread): through the panel's one sync runner."""
        self.scheduler.post_once_at(when, self._sync_run_due, SYNC_RUN_JOB)

    def _sync_run_due(self) -> None:
        self.controller.request_sync(force=True)

    def _purge_expired_cache(self) -> None:
        def not_purged(exc: BaseException) -> None:
            log.warning("expired cache not purged", extra={"error_code": getattr(exc, "code", type(exc).__name__)})

        self.runner.submit("db", self.pop_service.purge_expired_cache, name="cache.expire", owner=self,
                           on_error=not_purged)

    def _store_checked(self, sound: bool) -> None:
        if not sound:
            self.controller.store_failed(UserError("store_corrupt", str(self.store.path)))

    def use_client(self, client: AnalyticsClient | None, agent_id: str | None) -> None:
        """After a sign-in (a new server or token) or sign-out (None). The old client's connections are
        closed at close(), when no worker can still be using it."""
        if self._client is not None and self._client is not client:
            self._retired_clients.append(self._client)
        self._client = client
        self.pop_service.use_client(client)
        self.sync_service.use_client(client)
        self.outbound_service.use_client(client)
        self.controller.agent_id = agent_id
        self.outbound.agent_id = agent_id

    def close(self) -> None:
        """Stop every timer, thread and connection this session started, close its widget and its store.
        Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.outbound.close()
        self.scheduler.shutdown()
        self.runner.shutdown()
        for client in [*self._retired_clients, self._client]:
            if client is not None:
                client.close()
        self._retired_clients.clear()
        widget = None if self._widget_gone else self.widget
        if widget is not None and _alive(widget):
            widget.hide()
            widget.close()
            widget.deleteLater()
        self.store.close()

    def forget_widget(self) -> None:
        """The owner's widget tree is being deleted (e.g. the host closed its window without closing the
        panel): close() must not touch the widgets any more."""
        self._widget_gone = True

    # ------------------------------------------------------------------ language

    def set_language(self, language: str) -> None:
        """Rebuild the panel in `language`; open calls stay as they are. Nothing is persisted here."""
        language = resolve_language(language)
        if language == self.language or self._closed:
            return
        self.language = language
        self.texts = Texts(language, self.resources / "translations")
        old = self.window
        self.window = self._make_window()
        self.controller.attach_window(self.window)
        self.outbound.set_texts(self.texts)
        self._install_outbound_key()
        if self.container is not None:
            self.container.set_panel(self.window)
        else:
            geometry, visible = old.geometry(), old.isVisible()
            self.window.setGeometry(geometry)
            if visible:
                self.window.show()
        old.close()
        old.deleteLater()

    # ------------------------------------------------------------------ misc

    def _install_outbound_key(self) -> None:
        self.outbound.install_mode_key(self.window, QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut
                                       if self.embedded else QtCore.Qt.ShortcutContext.WindowShortcut)

    def _show_attention(self) -> None:
        self.runner.submit("db", self.sync_service.waiting, name="sync.drawer", owner=self,
                           on_done=lambda entries: self.window.show_sync_drawer(entries),
                           on_error=self.controller.store_trouble)


def _alive(widget: QtWidgets.QWidget | None) -> bool:
    return widget is not None and shiboken6.isValid(widget)
