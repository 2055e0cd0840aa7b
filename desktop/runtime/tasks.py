"""TaskRunner: THE background mechanism of the desktop client (nothing else starts threads for work).

Pools, as in Anki's task manager: "db" has exactly one thread, so SQLite work is serialized without
locks; "net" has a few, for HTTP calls that mostly wait; "reports" has one thread for long read-only
queries (team-lead statistics), so a report over a year of outcomes never delays an agent's outcome save
(SQLite in WAL mode lets that reader and the "db" writer run at once). A task's function runs on a worker and must not
touch widgets or any QObject of the GUI thread; its result (or exception) comes back on the GUI thread
through the GUI thread's inbox (desktop.runtime.gui_thread, the one way back for every thread), where
`on_done` / `on_error` run. Chaining belongs inside the task function (a
service call that does both steps), not in completion callbacks.

`after_events=True` starts a task only once the events already queued on the GUI thread were handled (a
pop's paint, say): bookkeeping that follows a pop does not compete with the paint for the interpreter.
`durable=True` marks a local write that must not be lost to a close (a live pop's cache entry, its pop
log, an outcome): `shutdown()` still runs it when it has not started yet, instead of dropping it.

Use from the GUI thread only. Call `shutdown()` before the application quits (app.aboutToQuit): it drops
queued tasks (except durable ones), waits for running ones and leaves no thread behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import shiboken6
from PySide6.QtCore import QObject, QThread, QThreadPool, QTimer, Signal

from desktop.runtime.gui_thread import GuiInbox

logger = logging.getLogger(__name__)

PoolName = Literal["db", "net", "reports"]
POOL_NAMES: Final[tuple[PoolName, ...]] = ("db", "net", "reports")
_RECENT_TIMINGS: Final = 1000
_DELIVERY_SLICE_S: Final = 0.008  # results delivered per turn of the event loop, at most this long


@dataclass(frozen=True, slots=True)
class TaskTiming:
    """How long one task waited in its pool's queue and ran (milliseconds), for benchmarks and logs."""

    task_id: int
    pool: PoolName
    name: str
    queued_ms: float
    run_ms: float
    ok: bool


@dataclass(frozen=True, slots=True)
class TaskStats:
    submitted: int
    completed: int  # the function returned
    failed: int  # the function raised
    cancelled: int  # dropped by shutdown() before it started (never a durable task, unless shutdown timed out)
    dropped: int  # finished, but nobody was there to hear it (receiver deleted, or after shutdown)
    pending: int  # submitted, not finished yet


@dataclass(frozen=True, slots=True)
class _Finished:
    task_id: int
    result: Any
    error: BaseException | None
    timing: TaskTiming


@dataclass(frozen=True, slots=True)
class _Callbacks:
    on_done: Callable[[Any], object] | None
    on_error: Callable[[BaseException], object] | None
    owner: QObject | None


class TaskRunner(QObject):
    """Runs functions on the "db" or "net" pool and hands results back on the GUI thread."""

    task_finished = Signal(object)  # TaskTiming of every task, on the GUI thread

    def __init__(self, parent: QObject | None = None, *, net_threads: int = 4) -> None:
        super().__init__(parent)
        # The pools are children created before the inbox, so if this object is ever deleted without
        # shutdown(), Qt destroys (and waits for) the pools before the inbox the workers post to.
        self._pools: dict[PoolName, QThreadPool] = {name: QThreadPool(self) for name in POOL_NAMES}
        self._pools["db"].setMaxThreadCount(1)  # SQLite work strictly one after another
        self._pools["reports"].setMaxThreadCount(1)  # one report at a time, beside the "db" writer
        self._pools["net"].setMaxThreadCount(max(1, net_threads))
        for name, pool in self._pools.items():
            pool.setObjectName(f"callcue-{name}")
        # Workers post results here; they are delivered on this object's (the GUI) thread, in order, a few
        # milliseconds' worth at a time (paints and timers in between) — the one way back (gui_thread.py).
        self._inbox = GuiInbox(self, slice_s=_DELIVERY_SLICE_S, name="callcue-tasks-inbox")
        self._callbacks: dict[int, _Callbacks] = {}  # GUI thread only
        # after_events tasks waiting for their turn: id -> (pool, run, durable). GUI thread only.
        self._deferred: dict[int, tuple[PoolName, Callable[[], None], bool]] = {}
        self._next_id = 1
        self._closed = False
        self._dropping = False  # set by shutdown() (under _lock): queued tasks that start now return at once
        self._recent: deque[TaskTiming] = deque(maxlen=_RECENT_TIMINGS)
        # Counters the workers update.
        self._lock = threading.Lock()
        self._not_started: set[int] = set()
        self._submitted = self._completed = self._failed = self._dropped = self._cancelled = 0

    def submit(
        self,
        pool: PoolName,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        owner: QObject | None = None,
        name: str | None = None,
        after_events: bool = False,
        durable: bool = False,
    ) -> int:
        """Run `fn(*args)` on `pool`; then, on the GUI thread, `on_done(result)` or `on_error(exception)`.

        Callbacks are skipped when `owner` (or the QObject a bound-method callback belongs to) has been
        deleted meanwhile, so a closed panel does not get results. A failure without `on_error` is logged.
        `after_events`: start once the GUI thread has handled the events queued before this call.
        `durable`: run even if shutdown() comes first (see the module docstring).
        Returns the task id. Raises RuntimeError off the GUI thread or after shutdown().
        """
        self._require_gui_thread()
        if self._closed:
            raise RuntimeError("TaskRunner is shut down")
        if pool not in self._pools:
            raise ValueError(f"unknown pool {pool!r}; use one of {', '.join(POOL_NAMES)}")
        task_id = self._next_id
        self._next_id += 1
        label = name or getattr(fn, "__qualname__", None) or type(fn).__name__
        self._callbacks[task_id] = _Callbacks(on_done, on_error, owner)
        with self._lock:
            self._submitted += 1
            self._not_started.add(task_id)
        inbox = self._inbox
        queued_at = time.perf_counter()

        def run() -> None:  # on a worker thread: no widgets, no GUI-thread QObjects except the inbox
            with self._lock:
                self._not_started.discard(task_id)
                if self._dropping and not durable:
                    self._cancelled += 1
                    return
            started = time.perf_counter()
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(*args)
            except Exception as exc:
                error = exc
            ended = time.perf_counter()
            with self._lock:
                if error is None:
                    self._completed += 1
                else:
                    self._failed += 1
            timing = TaskTiming(
                task_id, pool, label, (started - queued_at) * 1000, (ended - started) * 1000, error is None
            )
            # The inbox drops it once the runner was deleted: there is nobody left to tell.
            inbox.post(self._deliver, _Finished(task_id, result, error, timing))

        if after_events:
            self._deferred[task_id] = (pool, run, durable)
            QTimer.singleShot(0, self, lambda: self._start_deferred(task_id))
        else:
            self._pools[pool].start(run)
        return task_id

    def _start_deferred(self, task_id: int) -> None:
        deferred = self._deferred.pop(task_id, None)
        if deferred is not None:  # None: shutdown() took care of it
            pool, run, _durable = deferred
            self._pools[pool].start(run)

    def stats(self) -> TaskStats:
        with self._lock:
            finished = self._completed + self._failed
            return TaskStats(
                submitted=self._submitted,
                completed=self._completed,
                failed=self._failed,
                cancelled=self._cancelled,
                dropped=self._dropped,
                pending=self._submitted - finished - self._cancelled,
            )

    def recent_timings(self) -> list[TaskTiming]:
        """The timings of the last 1000 tasks delivered, oldest first."""
        return list(self._recent)

    @property
    def closed(self) -> bool:
        """Shut down: submit() refuses new work."""
        return self._closed

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop accepting tasks, drop queued ones (durable ones still run), wait up to `timeout_ms` for
        running ones and end the worker threads. Callbacks never run after this. Returns False if a task
        is still running."""
        self._require_gui_thread()
        self._closed = True
        self._callbacks.clear()
        deadline = time.monotonic() + timeout_ms / 1000
        with self._lock:
            self._dropping = True  # from now on a queued task that is not durable returns as it starts
        deferred, self._deferred = self._deferred, {}
        for task_id, (pool_name, run, durable) in deferred.items():
            if durable:  # e.g. a live pop's cache write, still waiting for the paint it was to follow
                self._pools[pool_name].start(run)
            else:
                with self._lock:
                    self._not_started.discard(task_id)
                    self._cancelled += 1
        all_done = True
        for name, pool in self._pools.items():
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            # waitForDone also ends the idle threads; PySide releases the GIL while it waits.
            if not pool.waitForDone(remaining_ms):
                logger.warning("task pool %r still busy after %d ms", name, timeout_ms)
                pool.clear()  # out of time: what has not started is dropped, durable or not
                all_done = False
        with self._lock:
            self._cancelled += len(self._not_started)  # cleared from the queue, never ran
            self._not_started.clear()
        return all_done

    def _deliver(self, finished: _Finished) -> None:
        self._recent.append(finished.timing)
        self.task_finished.emit(finished.timing)
        callbacks = self._callbacks.pop(finished.task_id, None)
        if callbacks is None:  # after shutdown()
            self._count_dropped()
            return
        if finished.error is None:
            callback: Callable[[Any], object] | None = callbacks.on_done
            value: Any = finished.result
        else:
            callback, value = callbacks.on_error, finished.error
            if callback is None:
                logger.error("background task %r failed", finished.timing.name, exc_info=finished.error)
                return
        if callback is None:
            return
        if not (_alive(callbacks.owner) and _alive(getattr(callback, "__self__", None))):
            self._count_dropped()
            return
        callback(value)

    def _count_dropped(self) -> None:
        with self._lock:
            self._dropped += 1

    def _require_gui_thread(self) -> None:
        if QThread.currentThread() != self.thread():
            raise RuntimeError("TaskRunner must be used from the thread it lives in (the GUI thread)")


def _alive(obj: object) -> bool:
    """False for a QObject whose C++ side was deleted (e.g. a closed widget); True for anything else."""
    return not isinstance(obj, QObject) or shiboken6.isValid(obj)
