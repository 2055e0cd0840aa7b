"""Fixtures of the fault suite. The `--full` option itself is declared in tests/conftest.py (it must be
known when pytest starts from the repo root); `full` tells a test which form to run."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from tests.chaos.harness import ServerProcess, seed_server_database
from tests.desktop_runtime.conftest import no_leftover_threads  # noqa: F401 - autouse fixture
from tests.gui.conftest import memory_keyring  # noqa: F401 - fixture


@pytest.fixture(scope="session")
def full(pytestconfig) -> bool:
    return bool(pytestconfig.getoption("--full"))


@pytest.fixture(scope="module")
def chaos_server(tmp_path_factory):
    """The real server on loopback with a small seeded database (shared by a module's tests)."""
    directory = tmp_path_factory.mktemp("chaos-server")
    database = seed_server_database(directory)
    with ServerProcess(database.url, directory / "logs") as server:
        server.database = database
        yield server
