"""GuiInbox: THE way back to the GUI thread for every worker and thread of the panel.

Task results (desktop.runtime.tasks), bridge commands (desktop.runtime.bridge_host), connector events and
statuses (desktop.runtime.connectors_host) and due scheduler jobs (desktop.runtime.scheduler) all reach the
GUI thread here: any thread calls `post(fn, *args)`; the inbox keeps the calls in a deque and, when it was
empty, queues one `_drain` on the GUI thread (QMetaObject.invokeMethod, queued). The GUI thread then runs
the calls in the order they were posted — also when posted from the GUI thread itself (nothing is ever
re-entered from inside a call).

`slice_s`: the drain runs calls for at most this long, then lets the events queued meanwhile (paints,
timers, other inboxes) in before it goes on; None runs everything waiting.

Why not a queued Signal.emit per call: PySide6 6.12 on CPython 3.11 dropped a reference to True on every
Python-side emit() (the interpreter aborts once True's count reaches zero; see
tests/unit/test_qt_binding_refcounts.py); invokeMethod does not, and one wake-up per burst instead of one
per call is cheaper anyway.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QMetaObject, QObject, Qt, Slot

logger = logging.getLogger(__name__)


class GuiInbox(QObject):
    """Runs posted calls on the thread this object lives in (create it on the GUI thread)."""

    def __init__(self, parent: QObject | None = None, *, slice_s: float | None = None, name: str = "") -> None:
        super().__init__(parent)
        self.setObjectName(name or "callcue-gui-inbox")
        self._slice_s = slice_s
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        self._drain_queued = False
        self._closed = False

    def post(self, fn: Callable[..., Any], *args: Any) -> bool:
        """From any thread: run `fn(*args)` on the GUI thread, after what was posted before. False (and
        nothing runs) once the inbox is closed."""
        with self._lock:
            if self._closed:
                return False
            self._calls.append((fn, args))
            wake = not self._drain_queued
            self._drain_queued = True
        if wake:
            # RuntimeError: the QObject is gone (its owner was deleted): nobody is left to run it.
            with contextlib.suppress(RuntimeError):
                QMetaObject.invokeMethod(self, "_drain", Qt.ConnectionType.QueuedConnection)
        return True

    def close(self) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
        """Refuse new calls; returns the calls that were waiting (they will not run)."""
        with self._lock:
            self._closed = True
            waiting = list(self._calls)
            self._calls.clear()
        return waiting

    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> int:
        with self._lock:
            return len(self._calls)

    @Slot()
    def _drain(self) -> None:
        deadline = None if self._slice_s is None else time.perf_counter() + self._slice_s
        while True:
            with self._lock:
                if not self._calls:
                    self._drain_queued = False
                    return
                fn, args = self._calls.popleft()
            try:
                fn(*args)
            except Exception:
                logger.exception("a call posted to the GUI thread failed")
            if deadline is not None and time.perf_counter() >= deadline:
                break
        # More waiting: come back after the events already queued (paints, timers, task results).
        QMetaObject.invokeMethod(self, "_drain", Qt.ConnectionType.QueuedConnection)


__all__ = ["GuiInbox"]
