"""Composition root: builds the store, services, background runtime, router and UI, and wires them.

No business logic lives here; every decision is made in a service, the router or a view.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from desktop.calls.cli_source import pop_event_from_argv
from desktop.calls.events import InvalidCallEvent
from desktop.calls.router import CallRouter
from desktop.domain.errors import UserError, UserFacingError
from desktop.remote.credentials import CredentialStore
from desktop.runtime.scheduler import JobScheduler
from desktop.runtime.single_instance import CommandRejected
from desktop.runtime.tasks import TaskRunner
from desktop.runtime.wrap_up import WrapUpReminders
from desktop.services.config import Config, ConfigPaths, save_user_settings
from desktop.services.outcomes import OutcomeService
from desktop.services.pop import PopService
from desktop.services.session import SignInService, make_client_factory
from desktop.services.sync import SyncService
from desktop.storage import LocalStore, StoreCorrupt, StoreError, open_store
from desktop.storage.store import quarantine_corrupt_store
from desktop.ui.controller import PanelController
from desktop.ui.i18n import Translations, resolve_language
from desktop.ui.panel import PanelWindow
from desktop.ui.pop_view import describe_error
from desktop.ui.sign_in import SignInDialog
from desktop.ui.theme import apply_theme, resolve_theme
from desktop.ui.tray import Tray, app_icon

log = logging.getLogger("callcue.app")


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def open_store_safely(path: Path) -> tuple[LocalStore, UserError | None]:
    """Open the store; a damaged file is moved aside (kept for rescue) and a fresh one started.

    A read-only or full data directory falls back to a store in the temp folder, so the panel still
    works and outcomes are still kept durably; the agent is told either way.
    """
    try:
        return open_store(path), None
    except StoreCorrupt:
        moved = quarantine_corrupt_store(path, dt.datetime.now(dt.UTC))
        log.error("local store was damaged; moved aside", extra={"moved_to": str(moved)})
        return open_store(path), UserError("store_corrupt", str(moved))
    except StoreError as exc:
        fallback = Path(tempfile.gettempdir()) / f"callcue-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        log.error("local store unavailable; using a fallback", extra={"error": exc.code})
        return open_store(fallback / "callcue.sqlite3"), UserError(exc.code, str(path))


class CallCueApp(QtCore.QObject):
    """One running panel: everything it owns is stopped by close()."""

    def __init__(self, qapp: QtWidgets.QApplication, config: Config, paths: ConfigPaths, *,
                 environ: Mapping[str, str] | None = None, headless: bool = False,
                 credentials: CredentialStore | None = None) -> None:
        super().__init__()
        self.qapp = qapp
        self.config = config
        self.paths = paths
        self.headless = headless
        self.environ = os.environ if environ is None else environ
        self.resources = resources_dir()
        self.translations = Translations(qapp, self.resources / "translations")
        self.language = resolve_language(config.ui.language)
        self.translations.install(self.language)
        self.theme = apply_theme(qapp, resolve_theme(config.ui.theme, qapp), self.resources / "themes")
        qapp.setWindowIcon(app_icon())

        store_path = config.store.path or paths.store_file
        self.store, self.store_problem = open_store_safely(store_path)
        self.session = SignInService(
            make_client_factory(config), credentials or CredentialStore(), self.store,
            server_url=config.server.url, agent_id=config.agent.id, environ=self.environ,
            remember=lambda url, agent: save_user_settings(paths.user_file, {"server.url": url, "agent.id": agent}),
        )
        client = self.session.client()
        self.pop_service = PopService(client, self.store, cache_ttl=dt.timedelta(hours=config.cache.ttl_h))
        self.outcome_service = OutcomeService(self.store)
        self.sync_service = SyncService(self.store, client)

        self.runner = TaskRunner(self)
        self.scheduler = JobScheduler(self)
        agent_id = self.session.account.agent_id if self.session.account else config.agent.id
        self.router = CallRouter(agent_id=None,
                                 wrap_up_reminder_after=dt.timedelta(seconds=config.ui.wrapup_reminder_s))
        self.reminders = WrapUpReminders(self.scheduler, self)
        self.router.add_listener(self.reminders.on_router_action)

        self.window = self._make_window()
        self.controller = PanelController(
            self.window, self.runner, self.router, self.pop_service, self.outcome_service, self.sync_service,
            agent_id=agent_id, scheduler=self.scheduler, parent=self)
        self.reminders.reminder_due.connect(self.controller.remind)
        self.controller.auth_failed.connect(self._auth_failed)
        self.controller.callback_due.connect(self._notify)
        self.tray: Tray | None = None
        if not headless and QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = Tray(self)
            self.tray.show_requested.connect(self.show_panel)
            self.tray.sign_in_requested.connect(self.ask_sign_in)
            self.tray.sign_out_requested.connect(self.sign_out)
            self.tray.language_requested.connect(self.switch_language)
            self.tray.quit_requested.connect(qapp.quit)
            self.tray.set_signed_in(self.session.account is not None)
            self.tray.show()
        self._sign_in_dialog: SignInDialog | None = None
        self._closed = False

    # ------------------------------------------------------------------ start / stop

    def _make_window(self) -> PanelWindow:
        shortcuts = {r: getattr(self.config.shortcuts, r) for r in
                     ("accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb")}
        window = PanelWindow(self.language, shortcuts)
        window.language_requested.connect(self.switch_language)
        window.sync_details_requested.connect(self._show_attention)
        if self.config.ui.always_on_top:
            window.setWindowFlag(QtCore.Qt.WindowType.WindowStaysOnTopHint, True)
        return window

    def start(self, *, show: bool = True) -> None:
        self.scheduler.every(self.config.sync.interval_s, self.controller.request_sync, "sync")
        self.scheduler.every(60, self.router.sweep, "router-sweep")
        self.controller.request_sync()
        if self.store_problem is not None:
            self.window.show_notice(describe_error(self.store_problem), "attention")
        if show:
            self.dock_window()
            self.window.show()
        if self.session.account is None or not self.session.current_token():
            if not self.headless:
                self.ask_sign_in()
            else:
                self.window.show_notice(describe_error(UserError("auth_failed", "not signed in")), "attention")

    def dock_window(self) -> None:
        """Full height at the configured screen edge (or where the agent last put it)."""
        settings = QtCore.QSettings(str(self.paths.user_file.with_name("window.ini")), QtCore.QSettings.Format.IniFormat)
        geometry = settings.value("panel/geometry")
        if geometry is not None and self.window.restoreGeometry(geometry):
            return
        screen = self.qapp.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        width = min(440, max(380, area.width() // 4))
        x = area.left() if self.config.ui.dock == "left" else area.right() - width + 1
        self.window.setGeometry(x, area.top(), width, area.height())

    def save_geometry(self) -> None:
        settings = QtCore.QSettings(str(self.paths.user_file.with_name("window.ini")), QtCore.QSettings.Format.IniFormat)
        settings.setValue("panel/geometry", self.window.saveGeometry())

    def close(self) -> None:
        """Stop every timer, thread and socket this app started (tests rely on it)."""
        if self._closed:
            return
        self._closed = True
        if not self.headless:
            self.save_geometry()
        self.scheduler.shutdown()
        self.runner.shutdown()
        if self.tray is not None:
            self.tray.hide()
        if self._sign_in_dialog is not None:
            self._sign_in_dialog.close()
        self.window.close()
        self.window.deleteLater()
        self.translations.remove()
        self.store.close()

    # ------------------------------------------------------------------ commands

    def handle_command(self, argv: list[str]) -> None:
        """A command forwarded by a second `callcue …` (or given to this one). Raises CommandRejected."""
        if not argv or argv[0] in ("show", "run"):
            self.show_panel()
            return
        if argv[0] == "pop":
            try:
                event = pop_event_from_argv(argv[1:])
            except (InvalidCallEvent, ValueError) as exc:
                raise CommandRejected(str(exc)) from None
            self.router.handle(event)
            return
        raise CommandRejected(f"unknown command {argv[0]!r} (try: pop, show)")

    def show_panel(self) -> None:
        self.window.show()
        self.window.raise_()

    # ------------------------------------------------------------------ session

    def ask_sign_in(self, message: str = "") -> None:
        if self._sign_in_dialog is not None:
            self._sign_in_dialog.show_message(message)
            self._sign_in_dialog.raise_()
            return
        account = self.session.account
        dialog = SignInDialog(account.server_url if account else (self.config.server.url or ""),
                              account.agent_id if account else (self.config.agent.id or ""), message, self.window)
        dialog.submitted.connect(self._sign_in)
        dialog.finished.connect(self._sign_in_closed)
        self._sign_in_dialog = dialog
        dialog.show()

    def _sign_in_closed(self) -> None:
        if self._sign_in_dialog is not None:
            self._sign_in_dialog.deleteLater()
        self._sign_in_dialog = None

    def _sign_in(self, server_url: str, agent_id: str, token: str) -> None:
        self.runner.submit("net", self.session.sign_in, server_url, agent_id, token, name="sign_in", owner=self,
                           on_done=self._signed_in, on_error=self._sign_in_failed)

    def _signed_in(self, client) -> None:
        self.pop_service.use_client(client)
        self.sync_service.use_client(client)
        self.controller.agent_id = self.session.account.agent_id
        if self.tray is not None:
            self.tray.set_signed_in(True)
        if self._sign_in_dialog is not None:
            self._sign_in_dialog.accept()
        self.window.show_notice("")
        self.controller.request_sync(force=True)

    def _sign_in_failed(self, exc: BaseException) -> None:
        error = exc.user_error if isinstance(exc, UserFacingError) else UserError("server_error", type(exc).__name__)
        if self._sign_in_dialog is not None:
            self._sign_in_dialog.set_busy(False)
            self._sign_in_dialog.show_message(describe_error(error))

    def _auth_failed(self) -> None:
        """401: the token expired or was revoked. Nothing is lost; outcomes wait in the outbox."""
        if not self.headless:
            self.ask_sign_in(describe_error(UserError("auth_failed")))

    def sign_out(self) -> None:
        self.runner.submit("db", self.session.sign_out, name="sign_out", owner=self,
                           on_done=lambda _r: self._signed_out(), on_error=lambda _e: self._signed_out())

    def _signed_out(self) -> None:
        self.pop_service.use_client(None)
        self.sync_service.use_client(None)
        if self.tray is not None:
            self.tray.set_signed_in(False)
        self.ask_sign_in()

    # ------------------------------------------------------------------ language

    def switch_language(self, language: str) -> None:
        if language == self.language:
            return
        self.language = language
        self.translations.install(language)
        old = self.window
        geometry, visible = old.geometry(), old.isVisible()
        self.window = self._make_window()
        self.controller.attach_window(self.window)
        self.window.setGeometry(geometry)
        if visible:
            self.window.show()
        old.close()
        old.deleteLater()
        save_user_settings(self.paths.user_file, {"ui.language": language})

    def _notify(self, text: str) -> None:
        if self.tray is not None:
            self.tray.showMessage("CallCue", text)

    def _show_attention(self) -> None:
        self.runner.submit("db", self.sync_service.needs_attention, name="attention", owner=self,
                           on_done=self.window.show_attention)
