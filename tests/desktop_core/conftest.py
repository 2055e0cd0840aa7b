"""Fixtures for the desktop core: a controllable clock, stores in tmp_path, an in-memory keyring, real
pop documents produced by the reference server's code, and the real server process on loopback."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.errors
import pytest
from fastapi.testclient import TestClient
from keyring.backend import KeyringBackend
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from desktop.remote.api_client import AnalyticsClient
from desktop.storage import LocalStore, open_store
from server_stub.api.app import create_app
from server_stub.db.engine import make_engine, upgrade
from server_stub.live import LiveServer, live_server
from server_stub.services.auth import create_token
from tests.server import factories

AGENT = "agent-007"


@pytest.fixture(autouse=True)
def no_threads_left_behind() -> Iterator[None]:
    """Every test ends with the threads it started stopped (fault servers, concurrent syncs)."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leftover, f"threads still running after the test: {leftover}"


class FakeClock:
    """'now' that tests move by hand (no sleeping). Starts at the real time: the server checks clocks."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path) -> Iterator[LocalStore]:
    with open_store(tmp_path / "data" / "callcue.sqlite3") as opened:
        yield opened


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in a dict: tests never touch (or need) the machine's password store."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


# --- pop documents from the reference server's own code (the contract, not a hand-written guess) ------

_numbers = itertools.count(15000000000)  # clear of the seeded 137/138/139 numbers


def new_msisdn() -> str:
    return str(next(_numbers))


def seed_server(engine: Engine) -> None:
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_customer(session, "C-PLAIN", "13800138000", name="陈静")
        factories.add_customer(session, "C-COMPLAINT", "13900139000", name="王芳",
                               complaints=[("billing", "open", "serious", 5), ("network", "closed", "minor", 40)])
        factories.add_customer(session, "C-DND", "13700137000", name="李娜", dnd=True,
                               dnd_since=factories.NOW - dt.timedelta(days=3))


@pytest.fixture(scope="session")
def server_docs(tmp_path_factory) -> dict[str, dict]:
    """GET /v1/pop bodies for a plain, a complaint-sensitive and a DND customer."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'server.sqlite3'}")
    upgrade(engine)
    seed_server(engine)
    with Session(engine) as session:
        token = create_token(session, AGENT)
    docs = {}
    with TestClient(create_app(engine=engine, catalog_ttl_seconds=0)) as client:
        for name, customer_id in (("plain", "C-PLAIN"), ("complaint", "C-COMPLAINT"), ("dnd", "C-DND")):
            response = client.get("/v1/pop", params={"customer_id": customer_id},
                                  headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            docs[name] = response.json()
    engine.dispose()
    return docs


# --- the real server process ------------------------------------------------------------------------


@dataclass
class Live:
    server: LiveServer
    engine: Engine
    token: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def client(self, token: str | None = None, **options) -> AnalyticsClient:
        chosen = self.token if token is None else token
        return AnalyticsClient(self.base_url, lambda: chosen, **options)

    def add_customer(self, customer_id: str, msisdn: str | None = None, **fields) -> str:
        msisdn = msisdn or new_msisdn()
        with Session(self.engine) as session:
            factories.add_customer(session, customer_id, msisdn, **fields)
        return msisdn

    def new_token(self, agent_id: str = AGENT) -> str:
        with Session(self.engine) as session:
            return create_token(session, agent_id)

    def stored_outcome_ids(self) -> list[str]:
        from sqlalchemy import select

        from server_stub.db.models import Outcome

        with Session(self.engine) as session:
            return list(session.scalars(select(Outcome.outcome_id)))


def prepare_server_database(path: Path) -> tuple[str, Engine, str]:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    seed_server(engine)
    with Session(engine) as session:
        token = create_token(session, AGENT)
    return url, engine, token


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    """One real `callcue-server` process per test module (tests use their own customers)."""
    base = tmp_path_factory.mktemp("live")
    url, engine, token = prepare_server_database(base / "server.sqlite3")
    with live_server(url, base / "logs") as server:
        yield Live(server, engine, token)
    engine.dispose()
