"""Composition root of the desktop app: the shell around one PanelSession.

The panel core (store, services, background runtime, router, controller, panel widget) is a
`PanelSession` (desktop/panel_session.py), which plugin_sdk also embeds in host applications. This shell
adds what only a stand-alone app does, because it owns its process: the tray, docking the window at a
screen edge and remembering its geometry (QSettings), the sign-in dialog and the keyring, the app-wide
theme and translators, and the commands forwarded by a second `callcue` (single instance, wired in cli).

No business logic lives here; every decision is made in a service, the router or a view.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from PySide6 import QtCore, QtWidgets

from desktop.calls.cli_source import pop_event_from_argv
from desktop.calls.events import InvalidCallEvent
from desktop.domain.errors import UserError, UserFacingError
from desktop.panel_session import PanelSession, open_store_safely, resources_dir
from desktop.remote.credentials import CredentialStore
from desktop.runtime.connectors_host import ConnectorsHost
from desktop.runtime.memory import IdleCollector
from desktop.runtime.painting import serial_painting
from desktop.runtime.single_instance import CommandRejected
from desktop.services.config import Config, ConfigPaths, save_user_settings
from desktop.services.logfiles import private_directory, private_file
from desktop.services.session import SignInService, make_client_factory
from desktop.ui.i18n import Translations, resolve_language
from desktop.ui.outbound import make_dialer
from desktop.ui.pop_view import describe_error
from desktop.ui.sign_in import SignInDialog
from desktop.ui.theme import apply_theme, resolve_theme
from desktop.ui.tray import Tray, app_icon

# Full garbage collections wait for this long without a call (see IdleCollector); the first, a few seconds
# after start-up, freezes the start-up state (window shown, bridge imported).
SETTLE_AFTER_START_S = 3.0
GIL_SWITCH_INTERVAL_S = 0.001

__all__ = ["CallCueApp", "open_store_safely", "resources_dir"]


class CallCueApp(QtCore.QObject):
    """The desktop app: one PanelSession in a top-level window, plus tray, sign-in and app-wide looks.
    Everything it owns is stopped by close()."""

    def __init__(self, qapp: QtWidgets.QApplication, config: Config, paths: ConfigPaths, *,
                 environ: Mapping[str, str] | None = None, headless: bool = False,
                 credentials: CredentialStore | None = None, config_problems: Sequence[UserFacingError] = ()) -> None:
        """`config_problems`: settings files that were set aside at start (load_config_or_defaults); the
        agent is told about each once the panel is up."""
        super().__init__()
        # Workers (fetch, store, bridge) run Python too; a GUI thread waiting for the interpreter lock waits
        # up to one switch interval (5 ms by default) per hand-over: 1 ms keeps a pop's paint prompt.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        serial_painting()  # effective when nothing has painted yet (desktop.cli sets it before QApplication)
        self.config_problems = list(config_problems)
        self.qapp = qapp
        self.config = config
        self.paths = paths
        self.headless = headless
        self.environ = os.environ if environ is None else environ
        self.resources = resources_dir()
        language = resolve_language(config.ui.language)
        # App-wide: the shell owns the process (tray menu, sign-in dialog, Qt's own standard texts).
        self.translations = Translations(qapp, self.resources / "translations")
        self.translations.install(language)
        self.theme = apply_theme(qapp, resolve_theme(config.ui.theme, qapp), self.resources / "themes")
        qapp.setWindowIcon(app_icon())

        self.panel = PanelSession(config, store_path=config.store.path or paths.store_file, language=language,
                                  embedded=False, resources=self.resources, parent=self)
        self.session = SignInService(
            make_client_factory(config), credentials or CredentialStore(), self.panel.store,
            server_url=config.server.url, agent_id=config.agent.id, environ=self.environ,
            remember=lambda url, agent: save_user_settings(paths.user_file, {"server.url": url, "agent.id": agent}),
        )
        agent_id = self.session.account.agent_id if self.session.account else config.agent.id
        self.panel.use_client(self.session.client(), agent_id)
        self.panel.language_requested.connect(self.switch_language)
        # Softphones and PBXs (baresip ctrl_tcp, Asterisk AMI): their threads post events to the router here.
        # The outbound mode claims the events of the call it dialed first (issue 16); the rest go to the router.
        self.connectors = ConnectorsHost(self._call_event, parent=self)
        self.connectors.status_changed.connect(self._show_call_sources)
        self.bridge = None  # the local bridge for hosts in other processes (docs/bridge.md), from start()
        self.controller.auth_failed.connect(self._auth_failed)
        self.controller.callback_due.connect(self._notify)
        self.controller.sync_state_changed.connect(self._show_sync_in_tray)
        self.tray: Tray | None = None
        if not headless and QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = Tray(self)
            self.tray.show_requested.connect(self.show_panel)
            self.tray.stats_requested.connect(self.open_stats)
            self.tray.sign_in_requested.connect(self.ask_sign_in)
            self.tray.sign_out_requested.connect(self.sign_out)
            self.tray.language_requested.connect(self.switch_language)
            self.tray.quit_requested.connect(qapp.quit)
            self.tray.set_signed_in(self.session.account is not None)
            self.tray.show()
        self._sign_in_dialog: SignInDialog | None = None
        self.stats_window = None  # desktop.ui.stats_window.StatsWindow while open (imported when first opened)
        self.memory = IdleCollector(lambda: self.window.has_calls(), quiet_s=SETTLE_AFTER_START_S, parent=self)
        self._closed = False

    # ------------------------------------------------------------------ the panel's parts

    @property
    def window(self):
        """The panel window (a new one after a language switch)."""
        return self.panel.window

    @property
    def language(self) -> str:
        return self.panel.language

    @property
    def controller(self):
        return self.panel.controller

    @property
    def router(self):
        return self.panel.router

    @property
    def reminders(self):
        return self.panel.reminders

    @property
    def runner(self):
        return self.panel.runner

    @property
    def scheduler(self):
        return self.panel.scheduler

    @property
    def store(self):
        return self.panel.store

    @property
    def store_problem(self):
        return self.panel.store_problem

    @property
    def pop_service(self):
        return self.panel.pop_service

    @property
    def outcome_service(self):
        return self.panel.outcome_service

    @property
    def sync_service(self):
        return self.panel.sync_service

    # ------------------------------------------------------------------ start / stop

    def start(self, *, show: bool = True) -> None:
        self.panel.start()
        if self.config_problems:
            told = [self.window.notice.text()] if self.window.notice.isVisible() else []
            told += [describe_error(problem.user_error, self.panel.texts) for problem in self.config_problems]
            self.window.show_notice("\n".join(told), "attention")
        started = self.connectors.start_from_settings(self.config.connectors)
        self.panel.outbound.dialer = make_dialer(self.config.connectors, started)
        if show:
            self.dock_window()
            self.window.show()
        if self.config.bridge.port:
            self._start_bridge()  # after the window: the agent sees the panel first
        self.memory.start()
        if self.session.account is None or not self.session.current_token():
            # No token: nothing can be sent, and the sync badge must not call that "synced".
            self.panel.use_client(None, self.controller.agent_id)
            if not self.headless:
                self.ask_sign_in()
            else:
                self.window.show_notice(describe_error(UserError("auth_failed", "not signed in"), self.panel.texts),
                                        "attention")

    def _call_event(self, event) -> None:
        if not self.panel.outbound.claim(event):
            self.router.handle(event)

    def _start_bridge(self) -> None:
        # Imported here: the HTTP stack stays off the cold-start path. A taken port is logged, not fatal.
        from desktop.runtime.bridge_host import BridgeHost

        self.bridge = BridgeHost(self.config.bridge, self.paths.data_dir, self.router,
                                 show=lambda: self.window.show_without_focus(), hide=lambda: self.window.hide(),
                                 is_visible=lambda: self.window.isVisible(), parent=self)
        self.bridge.follow(self.controller)
        self.bridge.follow_outbound(self.panel.outbound)
        self.bridge.start()

    def _settings(self) -> QtCore.QSettings:
        return QtCore.QSettings(str(self.paths.user_file.with_name("window.ini")), QtCore.QSettings.Format.IniFormat)

    def dock_window(self) -> None:
        """Full height at the configured screen edge (or where the agent last put it)."""
        geometry = self._settings().value("panel/geometry")
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
        private_directory(self.paths.user_file.parent)
        settings = self._settings()
        settings.setValue("panel/geometry", self.window.saveGeometry())
        settings.sync()  # QSettings writes a new file with the umask's mode: narrow it to the user's
        private_file(self.paths.user_file.with_name("window.ini"))

    def close(self) -> None:
        """Stop every timer, thread and socket this app started (tests rely on it)."""
        if self._closed:
            return
        self._closed = True
        if not self.headless:
            self.save_geometry()
        if self.tray is not None:
            self.tray.hide()
        if self._sign_in_dialog is not None:
            self._sign_in_dialog.close()
        if self.stats_window is not None:
            old, self.stats_window = self.stats_window, None
            old.close()
        self.memory.stop()
        self.connectors.stop()
        if self.bridge is not None:
            self.bridge.stop()
        self.panel.close()
        self.translations.remove()

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

    def _show_sync_in_tray(self, _state) -> None:
        if self.tray is not None:
            self.tray.show_sync(self.window.sync_badge.full_text())

    def _sign_in(self, server_url: str, agent_id: str, token: str) -> None:
        self.runner.submit("net", self.session.sign_in, server_url, agent_id, token, name="sign_in", owner=self,
                           on_done=self._signed_in, on_error=self._sign_in_failed)

    def _signed_in(self, client) -> None:
        self.panel.use_client(client, self.session.account.agent_id)
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
            self._sign_in_dialog.show_message(describe_error(error, self.panel.texts))

    def _auth_failed(self) -> None:
        """401: the token expired or was revoked. Nothing is lost; outcomes wait in the outbox."""
        if not self.headless:
            self.ask_sign_in(describe_error(UserError("auth_failed"), self.panel.texts))

    def sign_out(self) -> None:
        self.runner.submit("db", self.session.sign_out, name="sign_out", owner=self,
                           on_done=lambda _r: self._signed_out(), on_error=lambda _e: self._signed_out())

    def _signed_out(self) -> None:
        self.panel.use_client(None, self.controller.agent_id)
        self.controller.signed_out()  # the idle screen's callback queue no longer names customers
        if self.tray is not None:
            self.tray.set_signed_in(False)
        self.ask_sign_in()

    # ------------------------------------------------------------------ language

    # ------------------------------------------------------------------ statistics

    def viewer(self):
        """Who would look at statistics now, from what is known without the network (role: last answer
        of GET /v1/me; unknown counts as an agent, i.e. own figures only)."""
        from desktop.services.stats import Viewer

        account = self.session.account
        agent_id = account.agent_id if account else self.controller.agent_id
        role = account.role if account else None
        return Viewer(agent_id, role or "agent", confirmed=role is not None)

    def open_stats(self) -> None:
        """The statistics window (tray menu): opens at once with what is known; when the server confirms a
        lead role (GET /v1/me on the net pool) the window widens to every agent."""
        if self.stats_window is not None:
            self.stats_window.show()
            self.stats_window.raise_()
            return
        # Imported here: QtCharts and the window cost nothing until someone opens statistics.
        from desktop.services.stats import StatsService
        from desktop.ui.stats_window import StatsWindow

        window = StatsWindow(StatsService(self.store), self.runner, self.viewer(),
                             describe=lambda exc: describe_error(exc.user_error, self.panel.texts),
                             language=self.language)
        window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        key = id(window)
        window.destroyed.connect(lambda _obj=None: self._stats_closed(key))
        self.stats_window = window
        window.show()
        if self.session.account is not None and self.session.account.role is None:
            self.runner.submit("net", self.session.role, name="stats_role", owner=window,
                               on_done=lambda _role: self._role_known(), on_error=lambda _e: None)

    def _role_known(self) -> None:
        if self.stats_window is not None:
            self.stats_window.set_viewer(self.viewer())

    def _stats_closed(self, key: int) -> None:
        if self.stats_window is not None and id(self.stats_window) == key:
            self.stats_window = None

    def _show_call_sources(self, _status=None) -> None:
        self.window.set_call_sources(self.connectors.statuses().values())

    def switch_language(self, language: str) -> None:
        if language == self.language:
            return
        self.translations.install(language)
        self.panel.set_language(language)
        self._show_call_sources()
        if self.stats_window is not None:  # rebuilt in the new language
            old, self.stats_window = self.stats_window, None
            old.close()
            self.open_stats()
        save_user_settings(self.paths.user_file, {"ui.language": language})

    def _notify(self, text: str) -> None:
        if self.tray is not None:
            self.tray.showMessage("CallCue", text)
