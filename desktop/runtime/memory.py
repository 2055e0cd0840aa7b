"""IdleCollector: Python's full garbage collections happen between calls, not during a pop.

A full collection walks every object the panel keeps (parsed documents in memory, Qt wrappers, caches):
25-60 ms on the GUI thread, measured in bench/bridge_burst.py, where one landed in the middle of a burst
of call events. So: everything alive after a collection is frozen (left out of later collections),
automatic full collections are made rare, and a full collection (unfreeze, collect, freeze again) runs
when no call has been on screen for a few seconds, at most once a minute. Nothing leaks: each idle
collection sees every object again. The desktop shell owns its process and uses this; an embedding host
keeps its own settings.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from PySide6 import QtCore

# Automatic full collections only after this many young-generation (gen1) collections (Python's default
# is 10): ~7 million allocations, so a busy shift without a quiet moment still gets one now and then.
RARE_FULL_COLLECTIONS = 1000


class IdleCollector(QtCore.QObject):
    def __init__(self, has_calls: Callable[[], bool], *, quiet_s: float = 3.0, every_s: float = 60.0,
                 tick_ms: int = 1000, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._has_calls = has_calls
        self._quiet_s, self._every_s = quiet_s, every_s
        self._quiet_since: float | None = None
        self._last: float | None = None
        self._timer = QtCore.QTimer(self, interval=tick_ms)
        self._timer.timeout.connect(self.tick)
        self.collections = 0

    def start(self) -> None:
        threshold0, threshold1, _ = gc.get_threshold()
        gc.set_threshold(threshold0, threshold1, RARE_FULL_COLLECTIONS)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def tick(self) -> bool:
        """Collect if no call has been on screen for quiet_s and the last collection is every_s old."""
        now = time.monotonic()
        if self._has_calls():
            self._quiet_since = None
            return False
        if self._quiet_since is None:
            self._quiet_since = now
        if now - self._quiet_since < self._quiet_s or (self._last is not None and now - self._last < self._every_s):
            return False
        self.collect()
        self._last = now
        return True

    def collect(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.collections += 1
