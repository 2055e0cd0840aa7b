"""EventLoopStallMonitor: proves the GUI thread never blocks (benchmarks and tests).

A precise QTimer ticks every few milliseconds on the GUI thread; the gap between two ticks beyond the
interval is time the event loop could not run, i.e. a stall (blocking I/O, a heavy layout, a long slot).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QTimer, Slot


@dataclass(frozen=True, slots=True)
class StallReport:
    ticks: int
    max_stall_ms: float
    stalls_over_threshold: int
    threshold_ms: float
    measured_ms: float


class EventLoopStallMonitor(QObject):
    """Measures the longest event-loop stall while running. Also a context manager (start/stop)."""

    def __init__(
        self, parent: QObject | None = None, *, interval_ms: int = 5, threshold_ms: float = 50.0
    ) -> None:
        super().__init__(parent)
        self._interval_ms = interval_ms
        self._threshold_ms = threshold_ms
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self.reset()

    def start(self) -> None:
        self.reset()
        self._timer.start()

    def stop(self) -> None:
        if self._timer.isActive():
            self._tick()  # a stall running up to now counts too
            self._timer.stop()

    def reset(self) -> None:
        now = time.perf_counter()
        self._started = now
        self._last_tick = now
        self._ticks = 0
        self._max_stall_ms = 0.0
        self._stalls = 0

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    @property
    def max_stall_ms(self) -> float:
        return self._max_stall_ms

    def report(self) -> StallReport:
        end = self._last_tick if not self.running else time.perf_counter()
        return StallReport(
            ticks=self._ticks,
            max_stall_ms=self._max_stall_ms,
            stalls_over_threshold=self._stalls,
            threshold_ms=self._threshold_ms,
            measured_ms=(end - self._started) * 1000,
        )

    def __enter__(self) -> EventLoopStallMonitor:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @Slot()
    def _tick(self) -> None:
        now = time.perf_counter()
        stall_ms = (now - self._last_tick) * 1000 - self._interval_ms
        self._last_tick = now
        self._ticks += 1
        if stall_ms > self._max_stall_ms:
            self._max_stall_ms = stall_ms
        if stall_ms > self._threshold_ms:
            self._stalls += 1
