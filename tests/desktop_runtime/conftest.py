"""Fixtures for the runtime and call-routing tests. Qt runs offscreen; every test must leave no thread,
timer or server behind (checked here on Linux by counting the process's threads)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import contextlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_TASKS_DIR = Path("/proc/self/task")


def os_thread_names() -> list[str] | None:
    """Threads of this process as the OS sees them (Qt's pool threads included); None off Linux."""
    if not _TASKS_DIR.is_dir():
        return None
    names = []
    for task in os.listdir(_TASKS_DIR):
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            names.append((_TASKS_DIR / task / "comm").read_text().strip())
    return sorted(names)


@pytest.fixture(autouse=True)
def no_leftover_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    # Only for tests that use Qt: the router's pure tests start no threads and need no app.
    if "qtbot" not in request.fixturenames:
        yield
        return
    qtbot = request.getfixturevalue("qtbot")  # the app's own threads exist before we count
    before = os_thread_names()
    yield
    if before is None:
        return

    def no_more_than_before() -> None:
        # Qt's internal GUI pool (multi-threaded image conversion while painting) keeps its anonymous
        # "Thread (pooled)" workers idle for 30 s and offers no handle to stop them. Ours are all named
        # (TaskRunner's "callcue-db"/"callcue-net"), so the anonymous ones are not counted.
        after = [name for name in os_thread_names() or [] if name != "Thread (pooled)"]
        assert len(after) <= len(before), f"the test left threads running: {before} -> {after}"

    # A joined QThread's OS thread may need a moment to disappear from /proc.
    qtbot.waitUntil(no_more_than_before, timeout=2000)


@pytest.fixture
def instance_name() -> str:
    """A unique single-instance name, so tests never meet a real CallCue or each other."""
    return f"callcue-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment for child Python processes that import this repository's modules."""
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def python() -> str:
    return sys.executable
