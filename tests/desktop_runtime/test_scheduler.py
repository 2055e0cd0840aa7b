"""JobScheduler: APScheduler on the Qt event loop; job functions run on the GUI thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QThread

from desktop.calls.events import CallEvent
from desktop.calls.router import CallRouter
from desktop.runtime.scheduler import JobScheduler
from desktop.runtime.wrap_up import WrapUpReminders

WAIT_MS = 5000


@pytest.fixture
def scheduler(qtbot) -> Iterator[JobScheduler]:
    scheduler = JobScheduler()
    yield scheduler
    scheduler.shutdown()
    shiboken6.delete(scheduler)


def on_gui_thread() -> bool:
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() == app.thread()


def soon(milliseconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(milliseconds=milliseconds)


def test_a_periodic_job_fires_repeatedly_on_the_gui_thread(qtbot, scheduler: JobScheduler) -> None:
    runs: list[bool] = []
    scheduler.every(0.02, lambda: runs.append(on_gui_thread()), "sync")
    qtbot.waitUntil(lambda: len(runs) >= 3, timeout=WAIT_MS)
    assert all(runs)
    assert scheduler.job_ids() == ["sync"]


def test_run_now_fires_without_waiting_an_interval(qtbot, scheduler: JobScheduler) -> None:
    runs: list[int] = []
    scheduler.every(3600, lambda: runs.append(1), "hourly", run_now=True)
    qtbot.waitUntil(lambda: runs == [1], timeout=WAIT_MS)


def test_once_at_fires_once_and_forgets_the_job(qtbot, scheduler: JobScheduler) -> None:
    runs: list[bool] = []
    scheduler.once_at(soon(50), lambda: runs.append(on_gui_thread()), "wrap-up:c1")
    assert scheduler.has_job("wrap-up:c1")
    assert scheduler.next_run_time("wrap-up:c1") is not None
    qtbot.waitUntil(lambda: bool(runs), timeout=WAIT_MS)
    qtbot.wait(100)
    assert runs == [True]
    assert not scheduler.has_job("wrap-up:c1")


def test_once_at_in_the_past_fires_at_once(qtbot, scheduler: JobScheduler) -> None:
    runs: list[int] = []
    scheduler.once_at(datetime.now(UTC) - timedelta(minutes=5), lambda: runs.append(1), "late")
    qtbot.waitUntil(lambda: runs == [1], timeout=WAIT_MS)


def test_once_in(qtbot, scheduler: JobScheduler) -> None:
    runs: list[int] = []
    scheduler.once_in(timedelta(milliseconds=20), lambda: runs.append(1), "soon")
    qtbot.waitUntil(lambda: runs == [1], timeout=WAIT_MS)


def test_cancel_prevents_the_run(qtbot, scheduler: JobScheduler) -> None:
    runs: list[str] = []
    scheduler.once_at(soon(80), lambda: runs.append("cancelled"), "a")
    scheduler.once_at(soon(150), lambda: runs.append("kept"), "b")
    assert scheduler.cancel("a")
    assert not scheduler.cancel("a")
    assert not scheduler.cancel("never-added")
    qtbot.waitUntil(lambda: runs == ["kept"], timeout=WAIT_MS)


def test_cancel_after_the_job_became_due_still_prevents_the_run(qtbot, scheduler: JobScheduler) -> None:
    runs: list[str] = []
    # The job is due at once; APScheduler posts it on the next event-loop turn. Cancel right away.
    scheduler.once_at(datetime.now(UTC) - timedelta(seconds=1), lambda: runs.append("x"), "due")
    qtbot.wait(0)
    scheduler.cancel("due")
    qtbot.wait(50)
    assert runs == []


def test_a_job_may_cancel_itself(qtbot, scheduler: JobScheduler) -> None:
    runs: list[int] = []

    def tick() -> None:
        runs.append(1)
        if len(runs) == 2:
            scheduler.cancel("self-cancelling")

    scheduler.every(0.01, tick, "self-cancelling")
    qtbot.waitUntil(lambda: len(runs) == 2, timeout=WAIT_MS)
    qtbot.wait(60)
    assert len(runs) == 2
    assert scheduler.job_ids() == []


def test_adding_a_job_with_an_existing_id_replaces_it(qtbot, scheduler: JobScheduler) -> None:
    runs: list[str] = []
    scheduler.once_at(soon(60), lambda: runs.append("old"), "reminder")
    scheduler.once_at(soon(90), lambda: runs.append("new"), "reminder")
    qtbot.waitUntil(lambda: runs == ["new"], timeout=WAIT_MS)
    qtbot.wait(60)
    assert runs == ["new"]


def test_a_failing_job_is_reported_and_keeps_its_schedule(qtbot, scheduler: JobScheduler) -> None:
    runs: list[int] = []

    def flaky() -> None:
        runs.append(1)
        raise ConnectionError("server down")

    with qtbot.waitSignal(scheduler.job_failed, timeout=WAIT_MS) as failed:
        scheduler.every(0.02, flaky, "sync")
    job_id, error = failed.args
    assert job_id == "sync" and isinstance(error, ConnectionError)
    qtbot.waitUntil(lambda: len(runs) >= 2, timeout=WAIT_MS)


def test_shutdown_stops_everything(qtbot) -> None:
    scheduler = JobScheduler()
    runs: list[int] = []
    scheduler.every(0.01, lambda: runs.append(1), "often")
    scheduler.once_at(soon(30), lambda: runs.append(2), "once")
    scheduler.shutdown()
    scheduler.shutdown()  # twice is fine
    qtbot.wait(80)
    assert runs == []
    assert scheduler.job_ids() == []
    assert not scheduler._timer.isActive()
    with pytest.raises(RuntimeError, match="shut down"):
        scheduler.every(1, lambda: None, "late")
    shiboken6.delete(scheduler)


def test_bad_arguments_are_refused(qtbot, scheduler: JobScheduler) -> None:
    with pytest.raises(ValueError, match="aware"):
        scheduler.once_at(datetime(2026, 11, 2, 9, 0), lambda: None, "naive")
    with pytest.raises(ValueError, match="positive"):
        scheduler.every(0, lambda: None, "zero")
    with pytest.raises(ValueError):  # APScheduler: fn must be callable without arguments
        scheduler.every(1, lambda call_id: None, "needs-args")


def test_jobs_are_added_from_the_gui_thread_only(qtbot, scheduler: JobScheduler) -> None:
    errors: list[BaseException] = []

    def add_from_thread() -> None:
        try:
            scheduler.every(1, lambda: None, "from-thread")
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=add_from_thread)
    thread.start()
    thread.join(WAIT_MS / 1000)
    assert len(errors) == 1 and "GUI thread" in str(errors[0])
    assert scheduler.job_ids() == []


def test_a_worker_thread_may_ask_for_a_one_off_run_through_the_gui_thread(qtbot, scheduler: JobScheduler) -> None:
    """post_once_at: what a service on a worker uses (the sync service's run at an undo hold's end)."""
    runs: list[bool] = []
    thread = threading.Thread(target=lambda: scheduler.post_once_at(soon(30), lambda: runs.append(on_gui_thread()),
                                                                    "sync-after-undo-window"))
    thread.start()
    thread.join(WAIT_MS / 1000)
    qtbot.waitUntil(lambda: runs == [True], timeout=WAIT_MS)
    assert not scheduler.has_job("sync-after-undo-window")


def test_a_run_asked_for_from_a_worker_after_shutdown_is_dropped(qtbot, caplog) -> None:
    """A sync run asked for while the panel closes: dropped quietly (no "shut down" error in the log)."""
    scheduler = JobScheduler()
    runs: list[int] = []
    scheduler.shutdown()
    scheduler.post_once_at(soon(0), lambda: runs.append(1), "late")  # no "shut down" error on the GUI thread
    qtbot.waitUntil(lambda: not scheduler._inbox._calls, timeout=WAIT_MS)  # the posted call ran
    QCoreApplication.processEvents()
    assert runs == [] and scheduler.job_ids() == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    shiboken6.delete(scheduler)


def test_wrap_up_reminder_fires_after_the_call_ends_and_is_cancelled_by_an_outcome(
    qtbot, scheduler: JobScheduler
) -> None:
    router = CallRouter(wrap_up_reminder_after=timedelta(milliseconds=50))
    reminders = WrapUpReminders(scheduler)
    router.add_listener(reminders.on_router_action)
    for call_id in ("c1", "c2"):
        router.handle(CallEvent(call_id, "ringing", ani="+8613912345678"))
        router.handle(CallEvent(call_id, "answered"))
    router.handle(CallEvent("c2", "ended"))
    router.outcome_recorded("c2")  # recorded in time: no reminder for c2
    with qtbot.waitSignal(reminders.reminder_due, timeout=WAIT_MS) as due:
        router.handle(CallEvent("c1", "ended"))
    assert due.args == ["c1"]
    qtbot.wait(100)
    assert scheduler.job_ids() == []
    shiboken6.delete(reminders)
