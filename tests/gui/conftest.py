"""GUI fixtures: the real CallCueApp (offscreen) against the real server process on loopback."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dataclasses import dataclass
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from desktop.app import CallCueApp
from desktop.domain.states import PopState
from desktop.remote.credentials import CredentialStore
from desktop.services.config import ConfigPaths, load_config
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import Outcome
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.desktop_runtime.conftest import no_leftover_threads  # noqa: F401 - autouse fixture
from tests.server import factories

PRICE_SENSITIVE = ("C-PRICE", "13900139000")
CALM = ("C-CALM", "13800138000")
COMPLAINT = ("C-COMPLAINT", "13700137000")


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        self.passwords.pop((service, username), None)


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@dataclass
class LiveServer:
    base_url: str
    token: str
    database_url: str

    def outcome_count(self) -> int:
        engine = create_engine(self.database_url)
        try:
            with Session(engine) as session:
                return session.scalar(select(func.count()).select_from(Outcome))
        finally:
            engine.dispose()


def _populate(database_url: str) -> str:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_customer(session, CALM[0], CALM[1], name="王芳", roaming_mb=800)
        factories.add_customer(session, PRICE_SENSITIVE[0], PRICE_SENSITIVE[1], name="张伟", bill_inquiries_3m=3,
                               downgrades_12m=1, bills=(20000, 12900, 12900), churn_risk=0.7)
        factories.add_customer(session, COMPLAINT[0], COMPLAINT[1], name="刘洋",
                               complaints=[("billing", "open", "serious", 5)])
        token = create_token(session, "agent-007")
    engine.dispose()
    return token


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("server")
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    token = _populate(url)
    with live_server(url, directory / "logs", token_cache_seconds=0) as running:
        yield LiveServer(running.base_url, token, url)


def make_app(qapp, tmp_path: Path, base_url: str, token: str, *, language: str = "en", **cli) -> CallCueApp:
    environ = {"CALLCUE_SERVER_URL": base_url, "CALLCUE_AGENT_ID": "agent-007", "CALLCUE_TOKEN": token}
    # bridge.port 0: the local bridge stays off unless a test turns it on (tests/bridge wires its own on a
    # free port), so tests never compete for 47615 or with a panel running on this machine.
    # sync.undo_window_s 0: outcomes are sent at once (tests of the undo window set their own).
    config = load_config(machine_file=None, user_file=None, environ=environ,
                         cli={"ui.language": language, "ui.theme": "light", "bridge.port": "0",
                              "sync.undo_window_s": "0", **cli})
    paths = ConfigPaths(machine_file=tmp_path / "machine.toml", user_file=tmp_path / "config.toml",
                        data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    return CallCueApp(qapp, config, paths, environ=environ, headless=True, credentials=CredentialStore())


@pytest.fixture
def panel(qapp, qtbot, tmp_path, server, memory_keyring):
    app = make_app(qapp, tmp_path, server.base_url, server.token)
    app.start(show=True)
    yield app
    app.close()


def wait_for_state(qtbot, app, call_id: str, *states: PopState, timeout: int = 5000):
    def shown():
        view = app.window.view(call_id)
        assert view is not None and view.result is not None and view.result.state in states, (
            view.result.state if view is not None and view.result is not None else None)

    qtbot.waitUntil(shown, timeout=timeout)
    return app.window.view(call_id)
