"""JobScheduler: APScheduler 3.11 driven by the Qt event loop; job functions run on the GUI thread.

Periodic work (outcome sync, router housekeeping) and one-off reminders (wrap-up, callbacks) go here.
A job's function runs on the GUI thread, so it may update the UI, but it must be quick: anything slow
goes to the TaskRunner from inside the job.

Two deliberate differences from APScheduler's stock `QtScheduler`:
- Its wake-up timer is `QTimer.singleShot(...)`, which returns None under PySide6, so it can never stop
  or replace that timer: every add_job starts one more timer chain and shutdown leaves them firing. Here
  one QTimer owned by the JobScheduler does it.
- Its executor runs jobs on a thread pool. Here the executor only posts "job X is due" to the GUI thread's
  inbox (desktop.runtime.gui_thread, the one way back for every thread), and the function runs on the GUI thread after APScheduler has finished its bookkeeping (so a
  job may safely cancel or reschedule itself). No extra thread exists.

Add and cancel jobs from the GUI thread only (enforced): a timer cannot be started from another thread,
and an add_job from a non-Qt thread was measured not to wake the scheduler.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal

from desktop.runtime.gui_thread import GuiInbox

logger = logging.getLogger(__name__)

_MAX_TIMER_MS = 2**31 - 1


class _PostToGuiThreadExecutor(BaseExecutor):
    """Instead of running a due job, tells the JobScheduler (through its inbox) that it is due."""

    def __init__(self, post: Callable[[str, Job], None]) -> None:
        super().__init__()
        self._post = post

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        # No instance accounting: the function runs later, on the GUI thread, one call at a time.
        self._post(job.id, job)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:  # required by the base class
        self._post(job.id, job)


class _QtTimerScheduler(BaseScheduler):
    """A BaseScheduler whose wake-ups are one QTimer (see the module docstring for why not QtScheduler)."""

    def __init__(self, timer: QTimer, post: Callable[[str, Job], None], **options: Any) -> None:
        self._wake_timer = timer
        self._post = post
        super().__init__(**options)

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait=False)
        self._wake_timer.stop()

    def wakeup(self) -> None:
        self._start_timer(0)

    def _start_timer(self, wait_seconds: float | None) -> None:
        self._wake_timer.stop()
        if wait_seconds is not None and self.state != STATE_STOPPED:
            # Round up: waking a hair early would only find nothing due and spin once more.
            self._wake_timer.start(min(math.ceil(wait_seconds * 1000), _MAX_TIMER_MS))

    def _process_jobs(self) -> float | None:
        wait_seconds = super()._process_jobs()
        self._start_timer(wait_seconds)
        return wait_seconds

    def _create_default_executor(self) -> BaseExecutor:
        return _PostToGuiThreadExecutor(self._post)


@dataclass(frozen=True, slots=True)
class _Entry:
    fn: Callable[[], object]
    job: Job
    repeating: bool


class JobScheduler(QObject):
    """Runs `fn()` on the GUI thread every N seconds or once at a time. Job ids are unique: adding a job
    with an existing id replaces it."""

    job_failed = Signal(str, object)  # job id, exception (also logged)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        app = QCoreApplication.instance()
        if app is None or QThread.currentThread() != app.thread():
            raise RuntimeError("create the JobScheduler on the GUI thread, after the QApplication")
        self._entries: dict[str, _Entry] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._inbox = GuiInbox(self, name="callcue-scheduler-inbox")
        self._scheduler = _QtTimerScheduler(
            self._timer,
            lambda job_id, job: self._inbox.post(self._run_due_job, job_id, job),
            timezone=UTC,
            job_defaults={
                "coalesce": True,  # after a sleep/hibernation, one catch-up run, not a burst
                "misfire_grace_time": None,  # a late reminder is still worth showing
                "max_instances": 1,
            },
        )
        self._timer.timeout.connect(self._scheduler._process_jobs)
        self._scheduler.start()

    def every(self, seconds: float, fn: Callable[[], object], job_id: str, *, run_now: bool = False) -> None:
        """Run `fn()` every `seconds` (first run after one interval, or at once with `run_now`)."""
        if not seconds > 0:
            raise ValueError("seconds must be positive")
        trigger = IntervalTrigger(seconds=seconds, timezone=UTC)
        self._add(job_id, fn, trigger, repeating=True, first_run=self._now() if run_now else None)

    def once_at(self, when: datetime, fn: Callable[[], object], job_id: str) -> None:
        """Run `fn()` once at `when` (an aware datetime; a time in the past runs at once)."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("once_at needs an aware datetime (with a UTC offset)")
        self._add(job_id, fn, DateTrigger(run_date=when, timezone=UTC), repeating=False)

    def once_in(self, delay: timedelta, fn: Callable[[], object], job_id: str) -> None:
        """Run `fn()` once after `delay`."""
        self.once_at(self._now() + delay, fn, job_id)

    def post_once_at(self, when: datetime, fn: Callable[[], object], job_id: str) -> None:
        """From any thread: `once_at(when, fn, job_id)` on the GUI thread (nothing once shut down)."""
        self._inbox.post(self._once_at_if_running, when, fn, job_id)

    def _once_at_if_running(self, when: datetime, fn: Callable[[], object], job_id: str) -> None:
        if self._scheduler.state != STATE_STOPPED:
            self.once_at(when, fn, job_id)

    def cancel(self, job_id: str) -> bool:
        """Remove the job; `fn` will not run after this returns, even if it was already due. Returns
        whether there was such a job."""
        self._require_gui_thread()
        entry = self._entries.pop(job_id, None)
        with contextlib.suppress(JobLookupError):  # a one-off job that already ran is gone
            self._scheduler.remove_job(job_id)
        return entry is not None

    def has_job(self, job_id: str) -> bool:
        return job_id in self._entries

    def job_ids(self) -> list[str]:
        return sorted(self._entries)

    def next_run_time(self, job_id: str) -> datetime | None:
        """When the job runs next (None if unknown or already due)."""
        job = self._scheduler.get_job(job_id)
        return None if job is None else job.next_run_time

    def shutdown(self) -> None:
        """Stop the scheduler and its timer and forget all jobs. Safe to call twice."""
        self._require_gui_thread()
        self._entries.clear()
        if self._scheduler.state != STATE_STOPPED:
            self._scheduler.shutdown()
        self._timer.stop()

    def _add(
        self,
        job_id: str,
        fn: Callable[[], object],
        trigger: IntervalTrigger | DateTrigger,
        *,
        repeating: bool,
        first_run: datetime | None = None,
    ) -> None:
        self._require_gui_thread()
        if self._scheduler.state == STATE_STOPPED:
            raise RuntimeError("JobScheduler is shut down")
        options: dict[str, Any] = {"next_run_time": first_run} if first_run else {}
        # APScheduler checks that fn can be called without arguments; the executor never calls it itself.
        job = self._scheduler.add_job(fn, trigger, id=job_id, name=job_id, replace_existing=True, **options)
        self._entries[job_id] = _Entry(fn, job, repeating)

    def _run_due_job(self, job_id: str, job: Job) -> None:
        entry = self._entries.get(job_id)
        if entry is None or entry.job is not job:
            return  # cancelled or replaced after it became due
        if not entry.repeating:
            del self._entries[job_id]
        try:
            entry.fn()
        except Exception as exc:
            logger.exception("scheduled job %r failed", job_id)
            self.job_failed.emit(job_id, exc)

    def _require_gui_thread(self) -> None:
        if QThread.currentThread() != self.thread():
            raise RuntimeError("JobScheduler must be used from the GUI thread")

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)
