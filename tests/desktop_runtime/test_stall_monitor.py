"""EventLoopStallMonitor: sees a blocked GUI thread, stays quiet on an idle one."""

from __future__ import annotations

import time

import shiboken6

from desktop.runtime.stall_monitor import EventLoopStallMonitor


def block_gui_thread(milliseconds: float) -> None:
    """A deliberate stall: busy work on the GUI thread (what the product must never do)."""
    end = time.perf_counter() + milliseconds / 1000
    while time.perf_counter() < end:
        pass


def test_a_blocked_event_loop_is_measured(qtbot) -> None:
    monitor = EventLoopStallMonitor(interval_ms=5, threshold_ms=50)
    monitor.start()
    qtbot.wait(30)
    block_gui_thread(120)
    qtbot.wait(30)
    monitor.stop()
    report = monitor.report()
    assert not monitor.running
    assert report.max_stall_ms >= 100
    assert report.stalls_over_threshold == 1
    assert report.ticks >= 3
    assert report.measured_ms >= 150
    shiboken6.delete(monitor)


def test_a_stall_in_progress_counts_when_stopping(qtbot) -> None:
    monitor = EventLoopStallMonitor(interval_ms=5)
    monitor.start()
    block_gui_thread(80)
    monitor.stop()
    assert monitor.max_stall_ms >= 70
    shiboken6.delete(monitor)


def test_an_idle_event_loop_does_not_stall(qtbot) -> None:
    with EventLoopStallMonitor(interval_ms=5) as monitor:
        qtbot.wait(150)
    report = monitor.report()
    assert report.ticks >= 10
    assert report.max_stall_ms < 50, report
    assert report.stalls_over_threshold == 0
    monitor.start()  # restarting resets the figures
    assert monitor.report().ticks == 0
    monitor.stop()
    shiboken6.delete(monitor)
