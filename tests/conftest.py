"""Shared fixtures. Server tests run on SQLite always and on PostgreSQL when CALLCUE_TEST_PG_URL is set
(.ci/run starts a real PostgreSQL on loopback and sets it)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
PG_URL = os.environ.get("CALLCUE_TEST_PG_URL")


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/chaos/conftest.py: a sub-directory's conftest is loaded after the command line is
    # parsed when pytest starts from the repo root (`pytest --full` would be an unknown option).
    parser.addoption("--full", action="store_true", default=False,
                     help="tests/chaos: run the full fault suite (e.g. 200+ kills) instead of the quick form")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    if not (SHARED_DATA / "telco_customer_churn_ibm.csv").is_file():
        pytest.skip(f"the shared data set is not here ({SHARED_DATA}); it sits beside the repo on dev/CI machines")
    return SHARED_DATA


def _pg_database(base_url: str):
    """A fresh, uniquely named PostgreSQL database for one test; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"callcue_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """An empty database URL of each supported backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.sqlite3'}"
        return
    if not PG_URL:
        pytest.skip("CALLCUE_TEST_PG_URL is not set (the README's test command starts PostgreSQL and sets it)")
    yield from _pg_database(PG_URL)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'server.sqlite3'}"


@pytest.fixture
def migrated_engine(database_url):
    from server_stub.db.engine import make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()
