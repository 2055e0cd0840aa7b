"""Connector test helpers: a thread-safe recorder of what a connector reports, and a wait without sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from desktop.calls.connector_base import ConnectorStatus
from desktop.calls.events import CallEvent
from tests.desktop_runtime.conftest import no_leftover_threads  # noqa: F401 - autouse for the Qt tests
from tests.gui.conftest import memory_keyring, server  # noqa: F401 - the real app's fixtures, shared

SENTINEL_CALL = "ami:sentinel.1"


class Recorder:
    """Collects a connector's events and statuses (they arrive on the connector's thread)."""

    def __init__(self) -> None:
        self.events: list[CallEvent] = []
        self.statuses: list[ConnectorStatus] = []
        self._changed = threading.Condition()

    def on_event(self, event: CallEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def on_status(self, status: ConnectorStatus) -> None:
        with self._changed:
            self.statuses.append(status)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[Recorder], bool], timeout: float = 5.0, what: str = "") -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout):
                raise AssertionError(f"timed out waiting for {what or 'a condition'}; events: {self.summary()}; "
                                     f"statuses: {[s.text for s in self.statuses]}")

    def summary(self) -> list[tuple[str, str, str | None, str | None]]:
        with self._changed:
            return [(e.state, e.call_id, e.ani, e.dnis) for e in self.events]

    def until_sentinel(self, timeout: float = 5.0) -> list[tuple[str, str, str | None, str | None]]:
        """What was reported before the transcript's SENTINEL call rang (so: everything before it)."""
        self.wait_for(lambda r: any(e.call_id == SENTINEL_CALL for e in r.events), timeout, "the sentinel call")
        summary = self.summary()
        return summary[: next(i for i, item in enumerate(summary) if item[1] == SENTINEL_CALL)]

    def states(self, state: str) -> list[ConnectorStatus]:
        with self._changed:
            return [s for s in self.statuses if s.state == state]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
