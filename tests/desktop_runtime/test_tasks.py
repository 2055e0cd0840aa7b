"""TaskRunner: work on the pools, results on the GUI thread, nothing left running after shutdown."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread

from desktop.runtime.stall_monitor import EventLoopStallMonitor
from desktop.runtime.tasks import TaskRunner, TaskStats, TaskTiming

WAIT_MS = 5000


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    runner = TaskRunner()
    yield runner
    assert runner.shutdown(WAIT_MS)
    shiboken6.delete(runner)


def on_gui_thread() -> bool:
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() == app.thread()


def test_results_arrive_on_the_gui_thread(qtbot, runner: TaskRunner) -> None:
    results: list[tuple[int, bool]] = []
    runner.submit(
        "net",
        threading.get_ident,
        on_done=lambda worker_ident: results.append((worker_ident, on_gui_thread())),
    )
    qtbot.waitUntil(lambda: bool(results), timeout=WAIT_MS)
    [(worker_ident, delivered_on_gui_thread)] = results
    assert worker_ident != threading.get_ident()
    assert delivered_on_gui_thread
    assert runner.stats() == TaskStats(submitted=1, completed=1, failed=0, cancelled=0, dropped=0, pending=0)


def test_arguments_are_passed(qtbot, runner: TaskRunner) -> None:
    results: list[int] = []
    runner.submit("db", pow, 2, 10, on_done=results.append)
    qtbot.waitUntil(lambda: results == [1024], timeout=WAIT_MS)


def test_errors_are_delivered_on_the_gui_thread(qtbot, runner: TaskRunner) -> None:
    errors: list[tuple[BaseException, bool]] = []

    def fail() -> None:
        raise LookupError("no such customer")

    runner.submit("db", fail, on_done=pytest.fail, on_error=lambda exc: errors.append((exc, on_gui_thread())))
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    [(error, delivered_on_gui_thread)] = errors
    assert isinstance(error, LookupError) and str(error) == "no such customer"
    assert error.__traceback__ is not None  # the worker's traceback travels along
    assert delivered_on_gui_thread
    assert runner.stats().failed == 1


def test_an_unhandled_failure_is_logged(qtbot, runner: TaskRunner, caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="desktop.runtime.tasks"):
        runner.submit("net", fail, name="sync outcomes")
        qtbot.waitUntil(lambda: "sync outcomes" in caplog.text, timeout=WAIT_MS)
    assert "boom" in caplog.text


def test_the_db_pool_runs_one_task_at_a_time_in_order(qtbot, runner: TaskRunner) -> None:
    lock = threading.Lock()
    running = 0
    most_at_once = 0
    order: list[int] = []

    def work(number: int) -> int:
        nonlocal running, most_at_once
        with lock:
            running += 1
            most_at_once = max(most_at_once, running)
        sum(range(20_000))  # a little real work, so overlaps would show
        with lock:
            running -= 1
        return number

    for number in range(20):
        runner.submit("db", work, number, on_done=order.append)
    qtbot.waitUntil(lambda: len(order) == 20, timeout=WAIT_MS)
    assert order == list(range(20))
    assert most_at_once == 1


def test_the_net_pool_runs_tasks_concurrently(qtbot, runner: TaskRunner) -> None:
    # Three tasks meet at a barrier: that only works if three run at the same time.
    barrier = threading.Barrier(3, timeout=WAIT_MS / 1000)
    done: list[int] = []
    for _ in range(3):
        runner.submit("net", barrier.wait, on_done=done.append)
    qtbot.waitUntil(lambda: len(done) == 3, timeout=WAIT_MS)
    assert sorted(done) == [0, 1, 2]


def test_a_long_report_never_holds_up_the_db_pool(qtbot, runner: TaskRunner) -> None:
    """A team lead's year-long report runs on "reports"; an agent's outcome save on "db" goes by it."""
    report_may_finish = threading.Event()
    finished: list[str] = []
    runner.submit("reports", lambda: report_may_finish.wait(WAIT_MS / 1000) and "report",
                  on_done=finished.append)
    runner.submit("db", lambda: "outcome saved", on_done=finished.append)
    qtbot.waitUntil(lambda: finished == ["outcome saved"], timeout=WAIT_MS)
    report_may_finish.set()
    qtbot.waitUntil(lambda: finished == ["outcome saved", "report"], timeout=WAIT_MS)


def test_results_for_a_deleted_receiver_are_dropped(qtbot, runner: TaskRunner) -> None:
    class Panel(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.results: list[object] = []

        def show_result(self, result: object) -> None:
            self.results.append(result)

    release = threading.Event()
    closed_panel, explicit_owner = Panel(), QObject()
    got_it: list[object] = []
    runner.submit("net", release.wait, WAIT_MS / 1000, on_done=closed_panel.show_result)
    runner.submit("net", release.wait, WAIT_MS / 1000, on_done=got_it.append, owner=explicit_owner)
    shiboken6.delete(closed_panel)  # the panel is closed while its tasks run
    shiboken6.delete(explicit_owner)
    release.set()
    qtbot.waitUntil(lambda: runner.stats().dropped == 2, timeout=WAIT_MS)
    assert got_it == []


def test_shutdown_cancels_queued_tasks_waits_for_running_ones_and_ends_all_threads(qtbot) -> None:
    runner = TaskRunner()
    started = threading.Event()
    release = threading.Event()
    delivered: list[object] = []

    def blocking() -> str:
        started.set()
        release.wait(WAIT_MS / 1000)
        return "finished"

    runner.submit("db", blocking, on_done=delivered.append)
    for _ in range(3):
        runner.submit("db", str, on_done=delivered.append)  # queued behind the blocking one
    assert started.wait(WAIT_MS / 1000)
    threading.Timer(0.05, release.set).start()  # let the running task finish while shutdown() waits
    assert runner.shutdown(WAIT_MS)
    stats = runner.stats()
    assert (stats.completed, stats.cancelled, stats.pending) == (1, 3, 0)
    qtbot.wait(20)  # a result already queued for delivery is dropped, never delivered
    assert delivered == []
    assert runner.stats().dropped == 1
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit("net", str)
    shiboken6.delete(runner)
    # conftest's no_leftover_threads fixture checks that the pool threads are gone.


def test_shutdown_still_runs_durable_tasks_queued_or_waiting_for_events(qtbot) -> None:
    """A durable task (a live pop's cache write, its pop log) that has not started when the panel closes
    still runs; the others are dropped as before."""
    runner = TaskRunner()
    started = threading.Event()
    release = threading.Event()
    ran: list[str] = []

    def blocking() -> None:
        started.set()
        release.wait(WAIT_MS / 1000)
        ran.append("blocking")

    runner.submit("db", blocking)
    runner.submit("db", ran.append, "queued")
    runner.submit("db", ran.append, "queued durable", durable=True)
    runner.submit("db", ran.append, "deferred", after_events=True)
    runner.submit("db", ran.append, "deferred durable", after_events=True, durable=True)
    # Lets the blocking task end, but only once shutdown() has begun (it starts the deferred durable tasks).
    runner.submit("net", release.set, after_events=True, durable=True)
    assert started.wait(WAIT_MS / 1000)
    assert runner.shutdown(WAIT_MS)  # no event was processed since the submits: nothing deferred had started
    assert ran == ["blocking", "queued durable", "deferred durable"]
    stats = runner.stats()
    assert (stats.completed, stats.cancelled, stats.pending) == (4, 2, 0)
    shiboken6.delete(runner)


def test_after_events_tasks_start_once_the_queued_events_were_handled(qtbot, runner: TaskRunner) -> None:
    from PySide6.QtCore import QTimer

    go = threading.Event()
    order: list[str] = []
    runner.submit("db", go.wait, WAIT_MS / 1000)  # holds the db worker until the events below were handled
    QTimer.singleShot(0, lambda: order.append("paint"))  # stands in for the paint a pop queued
    runner.submit("db", order.append, "bookkeeping", after_events=True)
    runner.submit("db", order.append, "at once")  # queued now, so ahead of the deferred task
    QTimer.singleShot(0, go.set)
    qtbot.waitUntil(lambda: len(order) == 3, timeout=WAIT_MS)
    assert order == ["paint", "at once", "bookkeeping"]
    assert runner.stats().pending == 0


def test_use_from_a_worker_thread_is_refused(qtbot, runner: TaskRunner) -> None:
    errors: list[BaseException] = []

    def submit_from_thread() -> None:
        try:
            runner.submit("net", str)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=submit_from_thread)
    thread.start()
    thread.join(WAIT_MS / 1000)
    assert len(errors) == 1 and "GUI thread" in str(errors[0])


def test_unknown_pool_is_refused(qtbot, runner: TaskRunner) -> None:
    with pytest.raises(ValueError, match="unknown pool"):
        runner.submit("disk", str)  # type: ignore[arg-type]


def test_task_timings_are_reported(qtbot, runner: TaskRunner) -> None:
    with qtbot.waitSignal(runner.task_finished, timeout=WAIT_MS) as finished:
        runner.submit("db", sum, range(1000), name="sum")
    timing = finished.args[0]
    assert isinstance(timing, TaskTiming)
    assert (timing.pool, timing.name, timing.ok) == ("db", "sum", True)
    assert timing.run_ms >= 0 and timing.queued_ms >= 0
    assert runner.recent_timings() == [timing]


def test_busy_workers_do_not_stall_the_gui_thread(qtbot, runner: TaskRunner) -> None:
    def busy(milliseconds: float) -> None:
        threading.Event().wait(milliseconds / 1000)  # stands in for blocking I/O

    done: list[None] = []
    with EventLoopStallMonitor(interval_ms=5) as monitor:
        for _ in range(10):
            runner.submit("db", busy, 20, on_done=done.append)
            runner.submit("net", busy, 40, on_done=done.append)
        qtbot.waitUntil(lambda: len(done) == 20, timeout=WAIT_MS)
    assert monitor.report().ticks > 10
    assert monitor.max_stall_ms < 50, monitor.report()
