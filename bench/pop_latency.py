"""Benchmark the agent panel end to end: the real CallCueApp against the real server process on loopback.

    .venv/bin/python bench/pop_latency.py [--quick] [--json] [--customers N] [--seed S] [--pops N]
        [--repops N] [--clicks N] [--outbox N] [--stale N] [--hang S] [--cold-starts N]

One process runs the panel as `callcue demo` does (offscreen QApplication, CallCueApp signed in through
CALLCUE_SERVER_URL / CALLCUE_AGENT_ID / CALLCUE_TOKEN, its own store in a temporary directory, the real
TaskRunner and theme); `callcue-server serve` runs on 127.0.0.1 on a copy of the cached seeded database
(1,000,000 customers; --quick 20,000). Calls come in through `CallCueApp.handle_command(["pop", …])`, the
path of `callcue pop`, with numbers of distinct seeded customers. Phases, in order:

  first pop    call event -> the window has painted the LIVE document: from handle_command() to the end of
               the first paint of the panel window (its UpdateRequest: layout, raster paint into the
               offscreen backing store, flush) that starts after the PopView rendered the live result
  re-pop       a customer popped before: until the first paint after the cached view (state 'loading'
               with the cached document) rendered; the server fetch runs meanwhile, as in production
  clicks       the agent clicks an outcome button on a live pop: from QPushButton.click() to the return of
               the durable commit (OutcomeService.record on the "db" worker, SQLite synchronous=FULL);
               the TaskRunner's queue + run time of 'outcome.record' is shown as a cross-check
  cold start   `python` processes (the panel's start-up as `callcue run` does it, offscreen, window shown):
               from spawn to the first paint of the window and one event-loop turn; then idle RSS after 3 s
  outbox       10,000 outcomes (--quick 500) recorded through OutcomeService on decisions of the pops
               above (several per decision: other offers, results, notes), then SyncService.sync_once(
               force=True) until nothing is pending; the server's database must hold exactly that many
  server down  the server process is stopped; a cached customer pops: until the STALE state is painted
  hang         a TCP server that accepts and never answers stands in for the server for --hang seconds
               (10; --quick 3), then drops every connection; a call a second (cached and new callers, at
               most 3 tabs open), an outcome click on every second one, while EventLoopStallMonitor runs
               until 2 s after the hang; the longest stalls are attributed (show_pop calls, paints, tasks)

Latencies are wall-clock on a 2-core machine that also runs the server (and whatever else runs there: the
CPU other processes used is reported); the GUI thread's CPU time per pop is shown too, which other load
does not inflate. PySide6 6.12's static QCoreApplication.processEvents()/sendPostedEvents() drop a
reference to None on each call (a crash after a few thousand): waiting here always runs a QEventLoop.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import faulthandler
import json
import os
import random
import select
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import (
    CpuMeter,
    base_parser,
    emit,
    format_table,
    latency_summary,
    log,
    machine_info,
    unwind_on_signals,
)

# Issue targets (milliseconds unless named otherwise).
TARGETS = {
    "first_pop_p50_ms": 25.0,
    "first_pop_p99_ms": 80.0,
    "repop_cached_p50_ms": 10.0,
    "server_down_stale_p50_ms": 30.0,
    "outcome_commit_p99_ms": 10.0,
    "outbox_drain_s": 5.0,
    "cold_start_median_s": 1.5,
    "idle_rss_mib": 150.0,
    "hang_max_stall_ms": 50.0,
}
AGENT_PREFIX = "bench-panel"
IDLE_RSS_WAIT_S = 3.0
PAINT_TIMEOUT_S = 15.0
GAP_S = 0.02  # between two calls: the panel is idle again (no pending task), as between real calls
NOT_OFFERED_REASONS = ("Customer was upset", "No time on this call", "Complaint handled first")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, help="seeded customers (default 1,000,000; --quick 20,000)")
    parser.add_argument("--seed", type=int, default=42, help="data seed (default 42)")
    parser.add_argument("--pops", type=int, help="first pops of distinct callers (default 1,000; --quick 50)")
    parser.add_argument("--repops", type=int, help="re-pops of cached customers (default 300; --quick 25)")
    parser.add_argument("--clicks", type=int, help="outcome clicks (default 300; --quick 25)")
    parser.add_argument("--outbox", type=int, help="outcomes queued, then drained (default 10,000; --quick 500)")
    parser.add_argument("--stale", type=int, help="pops with the server stopped (default 100; --quick 15)")
    parser.add_argument("--hang", type=float, help="seconds the fault injector hangs (default 10; --quick 3)")
    parser.add_argument("--cold-starts", type=int, help="timed panel start-ups (default 5; --quick 3)")
    parser.add_argument("--child", choices=["cold-start"], help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    for name, full, small in (("customers", 1_000_000, 20_000), ("pops", 1000, 50), ("repops", 300, 25),
                              ("clicks", 300, 25), ("outbox", 10_000, 500), ("stale", 100, 15),
                              ("hang", 10.0, 3.0), ("cold_starts", 5, 3)):
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    if args.child is None and (args.customers < 1000 or args.pops < 10 or min(args.repops, args.clicks,
                                                                              args.outbox, args.stale) < 1):
        raise SystemExit("--customers >= 1000, --pops >= 10 and the other counts >= 1, please")
    return args


# --------------------------------------------------------------------------------------------------------
# The panel under test, with probes
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Render:
    """One PanelWindow.show_pop(): what the controller showed, and how long the GUI thread spent on it."""

    call_id: str
    state: str
    has_document: bool
    document: Any
    started: float
    ended: float
    cpu: float  # GUI-thread CPU seconds spent in show_pop()


@dataclass(frozen=True)
class PopSample:
    call_id: str
    latency: float  # call event -> end of the first window paint after the target render
    first_render_paint: float | None  # call event -> 'loading' tab painted (the pop is acknowledged)
    to_render: float  # call event -> the target show_pop() started (fetch or cache read, queues, delivery)
    render_busy: float  # GUI time in the target show_pop()
    render_to_paint: float  # target render returned -> paint ended (layout, polish, paint)
    paint: float  # the paint itself (the window's UpdateRequest)
    gui_cpu: float  # CPU the GUI thread used from the call event to the end of that paint
    render_cpu: float  # … of which in the target show_pop()
    superseded: bool  # a better state rendered before that paint (the frame showed it instead)
    target: Render


def _qt():
    from PySide6 import QtCore, QtWidgets

    return QtCore, QtWidgets


def make_probe(app):
    """A PanelProbe for `app` (the class is built here so that the parent process imports Qt lazily)."""
    QtCore, QtWidgets = _qt()
    update_request = QtCore.QEvent.Type.UpdateRequest

    class PanelProbe(QtCore.QObject):
        """Watches the real app without changing what it does: records every show_pop() (wrapped), every
        paint of the panel window (its UpdateRequest, handled by QWidget.event as Qt would), every task
        timing and every outcome commit; and runs the event loop (QEventLoop.exec) until a condition holds."""

        def __init__(self) -> None:
            super().__init__()
            self.app = app
            self.window = app.window
            self.renders: list[Render] = []
            self.paints: list[tuple[float, float]] = []
            self.timings: list[tuple[float, Any]] = []
            self.commits: list[tuple[float, float]] = []  # (started, returned) of OutcomeService.record
            self.recorded: list[tuple[float, dict]] = []
            self._predicate: Callable[[], bool] | None = None
            self._loop = None
            self._deadline = QtCore.QTimer(self)
            self._deadline.setSingleShot(True)
            self._deadline.timeout.connect(self._expire)
            self._wrap_show_pop()
            self._wrap_record()
            self.window.installEventFilter(self)
            app.runner.task_finished.connect(self._task_finished)
            app.controller.outcome_recorded.connect(
                lambda payload: self.recorded.append((time.perf_counter(), payload)))

        def _wrap_show_pop(self) -> None:
            original = self.window.show_pop

            def show_pop(call_id, result, *, activate=True):
                started, cpu = time.perf_counter(), time.thread_time()
                original(call_id, result, activate=activate)
                self.renders.append(Render(call_id, str(result.state), result.document is not None,
                                           result.document, started, time.perf_counter(),
                                           time.thread_time() - cpu))
                self._poke()

            self.window.show_pop = show_pop

        def _wrap_record(self) -> None:
            service = self.app.outcome_service
            original = service.record

            def record(*args, **kwargs):  # on the "db" worker (or the caller's thread)
                started = time.perf_counter()
                outcome = original(*args, **kwargs)
                self.commits.append((started, time.perf_counter()))
                return outcome

            service.record = record

        def eventFilter(self, watched, event) -> bool:
            if event.type() == update_request:
                started = time.perf_counter()
                QtWidgets.QWidget.event(watched, event)
                self.paints.append((started, time.perf_counter()))
                self._poke()
                return True
            return False

        def _task_finished(self, timing) -> None:
            self.timings.append((time.perf_counter(), timing))
            # The task's callback runs right after this signal; look once it has.
            QtCore.QTimer.singleShot(0, self._poke)

        # --- waiting ----------------------------------------------------------------------------------

        def wait(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
            """Run the event loop until predicate() holds (checked on every render, paint and task end)."""
            if predicate():
                return True
            self._predicate = predicate
            loop = QtCore.QEventLoop()
            self._loop = loop
            self._deadline.start(max(1, int(timeout_s * 1000)))
            loop.exec()
            self._deadline.stop()
            self._loop = self._predicate = None
            return predicate()

        def sleep(self, seconds: float) -> None:
            self.wait(lambda: False, seconds)

        def idle(self, timeout_s: float = 30.0) -> bool:
            """No task pending or running (the pop log, a sync, a state refresh …)."""
            return self.wait(lambda: self.app.runner.stats().pending == 0
                             and not self.app.controller._sync_running, timeout_s)

        def _poke(self) -> None:
            if self._loop is not None and self._predicate is not None and self._predicate():
                self._loop.quit()

        def _expire(self) -> None:
            if self._loop is not None:
                self._loop.quit()

        # --- one call ----------------------------------------------------------------------------------

        def pop(self, call_id: str, argv_key: list[str], want: Callable[[Render], bool],
                timeout_s: float = PAINT_TIMEOUT_S) -> PopSample | None:
            """Ring `call_id`; the time until the first window paint after the render `want` accepts."""
            r_mark, p_mark = len(self.renders), len(self.paints)

            def target() -> Render | None:
                return next((r for r in self.renders[r_mark:] if r.call_id == call_id and want(r)), None)

            def paint_after(t: float) -> tuple[float, float] | None:
                return next((p for p in self.paints[p_mark:] if p[0] >= t), None)

            def done() -> bool:
                hit = target()
                return hit is not None and paint_after(hit.ended) is not None

            started, cpu = time.perf_counter(), time.thread_time()
            self.app.handle_command(["pop", "--call-id", call_id, "--state", "ringing", *argv_key])
            if not self.wait(done, timeout_s):
                return None
            gui_cpu = time.thread_time() - cpu  # the loop quits right after the paint
            hit = target()
            assert hit is not None
            paint = paint_after(hit.ended)
            assert paint is not None
            first = next((r for r in self.renders[r_mark:] if r.call_id == call_id), None)
            first_paint = paint_after(first.ended) if first else None
            superseded = any(r.call_id == call_id and r.started > hit.ended and r.ended <= paint[0]
                             for r in self.renders[r_mark:])
            return PopSample(
                call_id, paint[1] - started, first_paint[1] - started if first_paint else None,
                hit.started - started, hit.ended - hit.started, paint[1] - hit.ended, paint[1] - paint[0],
                gui_cpu, hit.cpu, superseded, hit,
            )

        def close_call(self, call_id: str) -> None:
            """The agent closes the tab; the panel goes idle (deferred deletes and pending tasks done)."""
            self.app.controller.dismiss(call_id)
            self.idle()
            self.sleep(GAP_S)

        def task_timings(self, since: float, name: str) -> list[Any]:
            return [t for at, t in self.timings if at >= since and t.name == name]

    return PanelProbe()


# --------------------------------------------------------------------------------------------------------
# Fault injector: a server that accepts connections and never answers
# --------------------------------------------------------------------------------------------------------


class HangingServer:
    """Listens on 127.0.0.1, accepts every connection, reads and discards what comes, never answers.
    After `hang_s` seconds (or on close) it closes every connection and stops listening."""

    def __init__(self, hang_s: float) -> None:
        self.hang_s = hang_s
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hanging-server", daemon=True)

    def __enter__(self) -> HangingServer:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set() and time.monotonic() - self._started < self.hang_s:
                with contextlib.suppress(TimeoutError):
                    connection, _ = self._listener.accept()
                    connection.setblocking(False)
                    self._connections.append(connection)
                    self.accepted += 1
                for connection in self._connections:
                    with contextlib.suppress(BlockingIOError, OSError):
                        connection.recv(65536)
        finally:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.close()
            self._listener.close()


# --------------------------------------------------------------------------------------------------------
# Cold start: a child process that starts the panel as `callcue run` does
# --------------------------------------------------------------------------------------------------------


def cold_start_child(args: argparse.Namespace) -> int:
    """The panel's start-up as desktop.cli.run_panel does it (config, QApplication, single instance,
    logging, CallCueApp, start with the window shown). Prints one JSON line when the window has painted
    and one event-loop turn ran; quits when stdin closes."""
    entered = time.monotonic()
    from desktop.cli import _configure_logging, _qt_application
    from desktop.services.config import ConfigPaths, load_config

    home = Path(args.home)
    paths = ConfigPaths(machine_file=home / "machine.toml", user_file=home / "config.toml",
                        data_dir=home / "data", log_dir=home / "logs")
    environ = dict(os.environ)
    config = load_config(machine_file=None, user_file=None, environ=environ, cli={})
    from desktop.runtime.single_instance import SingleInstance

    qapp = _qt_application(True)
    instance = SingleInstance(f"callcue-bench-{os.getpid()}")
    if not instance.acquire_or_forward([], timeout_ms=3000):
        print(json.dumps({"error": "not the primary instance"}), flush=True)
        return 1
    import logging.handlers  # noqa: F401 - as run_panel: RotatingFileHandler

    _configure_logging(paths.log_dir)
    from PySide6 import QtCore

    from desktop.app import CallCueApp

    imported = time.monotonic()
    app = CallCueApp(qapp, config, paths, environ=environ, headless=True)
    instance.set_handler(app.handle_command)
    instance.listen()
    qapp.aboutToQuit.connect(app.close)
    qapp.aboutToQuit.connect(instance.close)
    constructed = time.monotonic()
    app.start(show=True)
    marks: dict[str, float] = {}
    probe = make_probe(app)

    def check() -> None:
        if "turn" in marks and probe.paints and "ready" not in marks:
            marks["ready"] = time.monotonic()
            print(json.dumps({"entered": entered, "imported": imported, "constructed": constructed,
                              "ready": marks["ready"], "pid": os.getpid()}), flush=True)

    def first_turn() -> None:
        marks["turn"] = time.monotonic()
        check()

    probe._poke = check  # every paint checks readiness
    QtCore.QTimer.singleShot(0, first_turn)
    notifier = QtCore.QSocketNotifier(sys.stdin.fileno(), QtCore.QSocketNotifier.Type.Read)

    def stdin_readable() -> None:
        if not os.read(sys.stdin.fileno(), 4096):
            notifier.setEnabled(False)
            qapp.quit()

    notifier.activated.connect(stdin_readable)
    return qapp.exec()


def vm_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def measure_cold_starts(count: int, workdir: Path, server_url: str, agent_id: str, token: str
                        ) -> dict[str, Any]:
    """A priming start (creates the store), then `count` timed starts on that store; the last one stays
    up, idle, for IDLE_RSS_WAIT_S and its VmRSS is read from /proc."""
    home = workdir / "cold-start-home"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CALLCUE_SERVER_URL": server_url,
           "CALLCUE_AGENT_ID": agent_id, "CALLCUE_TOKEN": token}
    env.pop("CALLCUE_STORE_PATH", None)
    runs = []
    for index in range(count + 1):
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "cold-start", "--home", str(home)]
        spawned = time.monotonic()
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=env, cwd=str(Path(__file__).resolve().parent.parent))
        try:
            ready, _, _ = select.select([child.stdout], [], [], 60)
            line = child.stdout.readline() if ready else b""
            if not line:
                raise RuntimeError("the panel did not start within 60 s")
            info = json.loads(line)
            if "error" in info:
                raise RuntimeError(f"cold start: {info['error']}")
            rss = None
            if index == count:
                time.sleep(max(0.0, info["ready"] + IDLE_RSS_WAIT_S - time.monotonic()))
                rss = vm_rss_mib(child.pid)
        finally:
            child.stdin.close()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)
            child.stdout.close()
        run = {"start_s": round(info["ready"] - spawned, 3), "interpreter_s": round(info["entered"] - spawned, 3),
               "imports_s": round(info["imported"] - info["entered"], 3),
               "construct_s": round(info["constructed"] - info["imported"], 3),
               "show_and_paint_s": round(info["ready"] - info["constructed"], 3), "idle_rss_mib": rss}
        log(f"  start {index}{' (priming, creates the store)' if index == 0 else ''}: {run['start_s']:.3f} s"
            + (f", idle RSS {rss} MiB" if rss is not None else ""))
        runs.append(run)
    timed = runs[1:]
    starts = sorted(r["start_s"] for r in timed)
    return {"first_run": runs[0], "runs": timed, "median_s": starts[len(starts) // 2], "max_s": starts[-1],
            "idle_rss_mib": timed[-1]["idle_rss_mib"]}


# --------------------------------------------------------------------------------------------------------
# Phases in the benchmark process
# --------------------------------------------------------------------------------------------------------


def fsync_floor(directory: Path, count: int) -> dict[str, Any]:
    """What one durable SQLite commit costs on this disk (WAL, synchronous=FULL, one small row, plain
    sqlite3): the floor under the outcome commit, measured next to the panel's store."""
    path = directory / "fsync-floor.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    times = []
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for _ in range(count):
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 300,))
            conn.execute("COMMIT")
            times.append(time.perf_counter() - started)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return latency_summary(times)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def summarize_pops(samples: list[PopSample]) -> dict[str, Any]:
    slowest = sorted(range(len(samples)), key=lambda i: -samples[i].latency)[:3]
    return {
        "slowest": [{"index": i, "ms": _ms(samples[i].latency), "to_render_ms": _ms(samples[i].to_render),
                     "render_ms": _ms(samples[i].render_busy), "to_paint_ms": _ms(samples[i].render_to_paint),
                     "gui_cpu_ms": _ms(samples[i].gui_cpu)} for i in slowest],
        "latency": latency_summary(s.latency for s in samples),
        "loading_tab_painted": latency_summary(s.first_render_paint for s in samples
                                               if s.first_render_paint is not None),
        "to_render": latency_summary(s.to_render for s in samples),
        "render_busy": latency_summary(s.render_busy for s in samples),
        "render_to_paint": latency_summary(s.render_to_paint for s in samples),
        "paint": latency_summary(s.paint for s in samples),
        "gui_cpu": latency_summary(s.gui_cpu for s in samples),
        "render_cpu": latency_summary(s.render_cpu for s in samples),
        "superseded": sum(s.superseded for s in samples),
    }


def summarize_tasks(timings: list[Any]) -> dict[str, Any]:
    return {
        "count": len(timings),
        "queued": latency_summary(t.queued_ms / 1000 for t in timings),
        "run": latency_summary(t.run_ms / 1000 for t in timings),
    }


class Bench:
    def __init__(self, args: argparse.Namespace, probe) -> None:
        self.args = args
        self.probe = probe
        self.app = probe.app
        self.fetch_timings: list[Any] = []
        self._next_call = 0
        self.live_docs: dict[str, Any] = {}  # customer_id -> the last live document
        self.popped: list[tuple[str, str]] = []  # (customer_id, ani) popped live, hence cached

    def call_id(self, prefix: str) -> str:
        self._next_call += 1
        return f"{prefix}-{self._next_call:05d}"

    def first_pops(self, callers: list[tuple[str, str]], label: str) -> tuple[list[PopSample], int]:
        samples, failures = [], 0
        since = time.perf_counter()
        for n, (customer_id, ani) in enumerate(callers, 1):
            call_id = self.call_id(label)
            sample = self.probe.pop(call_id, ["--ani", ani], lambda r: r.state == "live")
            if sample is None:
                failures += 1
            else:
                samples.append(sample)
                self.live_docs[customer_id] = sample.target.document
                self.popped.append((customer_id, ani))
            self.probe.close_call(call_id)
            if n % 200 == 0:
                log(f"  {label}: {n}/{len(callers)}")
        self.fetch_timings = self.probe.task_timings(since, "pop.fetch")
        return samples, failures

    def repops(self, count: int) -> tuple[list[PopSample], int, dict]:
        samples, failures = [], 0
        since = time.perf_counter()
        rng = random.Random(f"repop:{self.args.seed}")
        for customer_id, ani in rng.sample(self.popped, min(count, len(self.popped))):
            call_id = self.call_id("repop")
            mark = len(self.probe.renders)
            sample = self.probe.pop(call_id, ["--ani", ani], lambda r: r.has_document)
            if sample is None:
                failures += 1
            else:
                samples.append(sample)

            def live(c: str = call_id, m: int = mark) -> Render | None:
                return next((r for r in self.probe.renders[m:] if r.call_id == c and r.state == "live"), None)

            # Let the live answer arrive too, as it would during the call; it is the newest decision.
            if self.probe.wait(lambda: live() is not None, 5):
                self.live_docs[customer_id] = live().document
            self.probe.close_call(call_id)
        cached = self.probe.task_timings(since, "pop.cached")
        return samples, failures, summarize_tasks(cached)

    def clicks(self, count: int) -> dict[str, Any]:
        """Pop a customer with offers to pitch; click an outcome; time until the commit returned."""
        rng = random.Random(f"clicks:{self.args.seed}")
        candidates = [(c, a) for c, a in self.popped if self.live_docs.get(c) is not None
                      and self.live_docs[c].pitchable_offers]
        rng.shuffle(candidates)
        commit, task_total, queued, run, saved, failures = [], [], [], [], [], 0
        bar = self.app.window.outcome_bar
        for customer_id, ani in candidates[:count]:
            call_id = self.call_id("click")
            sample = self.probe.pop(call_id, ["--ani", ani], lambda r: r.state == "live")
            view = self.app.window.view(call_id)
            result = rng.choice(("declined", "considering", "accepted"))
            button = bar.buttons[result]
            if sample is None or view is None or not view.selected_offer_id or not button.isEnabled():
                failures += 1
                self.probe.close_call(call_id)
                continue
            self.probe.idle()  # the agent reads the offer first: the pop's own work (pop log) is done
            c_mark, r_mark = len(self.probe.commits), len(self.probe.recorded)
            clicked = time.perf_counter()
            button.click()
            ok = self.probe.wait(lambda m=r_mark: len(self.probe.recorded) > m, 10)
            if not ok or len(self.probe.commits) <= c_mark:
                failures += 1
            else:
                commit.append(self.probe.commits[c_mark][1] - clicked)
                saved.append(self.probe.recorded[r_mark][0] - clicked)
                timing = self.probe.task_timings(clicked, "outcome.record")
                if timing:
                    task_total.append((timing[0].queued_ms + timing[0].run_ms) / 1000)
                    queued.append(timing[0].queued_ms / 1000)
                    run.append(timing[0].run_ms / 1000)
            self.probe.idle()  # the forced sync after the outcome goes out before the next call
            self.live_docs[customer_id] = sample.target.document
            self.probe.close_call(call_id)
        return {
            "click_to_commit": latency_summary(commit),
            "task_queue_plus_run": latency_summary(task_total),
            "task_queued": latency_summary(queued),
            "task_run": latency_summary(run),
            "click_to_saved_shown": latency_summary(saved),
            "failures": failures,
        }

    def outbox(self, count: int, server_db: Path) -> dict[str, Any]:
        """Queue `count` outcomes on real decisions through OutcomeService, then drain them with sync."""
        service, sync = self.app.outcome_service, self.app.sync_service
        docs = [d for d in self.live_docs.values() if d is not None]
        if not docs:
            raise RuntimeError("no live pop to record outcomes for")
        agent_id = self.app.controller.agent_id
        rng = random.Random(f"outbox:{self.args.seed}")
        callback_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        tag = f"bench-outbox-{os.getpid()}-{int(time.time())}"
        c_mark = len(self.probe.commits)
        log(f"outbox: recording {count:,} outcomes on {len(docs)} decisions …")
        started = time.perf_counter()
        for i in range(count):
            document = docs[i % len(docs)]
            offers = [o.offer_id for o in document.pitchable_offers]
            kind = rng.random()
            kwargs: dict[str, Any] = {"offer_id": None}
            if offers and kind < 0.75:
                kwargs.update(offer_id=rng.choice(offers), result=rng.choice(("declined", "considering", "accepted")))
            elif kind < 0.9:
                kwargs.update(result="not_offered", reason=rng.choice(NOT_OFFERED_REASONS))
            else:
                kwargs.update(result="callback", callback_at=callback_at)
            service.record(document, agent_id=agent_id, call_id=f"outbox-{i // 4}", note=f"{tag} #{i}", **kwargs)
            if (i + 1) % 2000 == 0:
                log(f"  recorded {i + 1:,}")
        record_s = time.perf_counter() - started
        commits = [end - begin for begin, end in self.probe.commits[c_mark:]]
        pending_before = sync.state().pending
        log(f"outbox: {pending_before:,} pending; draining with SyncService.sync_once(force=True) …")
        reports: list[Any] = []
        posts: list[float] = []
        client = sync._client  # timed, to tell the server's share of the drain from the client's
        post_outcomes = client.post_outcomes

        def timed_post(items):
            began = time.perf_counter()
            try:
                return post_outcomes(items)
            finally:
                posts.append(time.perf_counter() - began)

        client.post_outcomes = timed_post
        started = time.perf_counter()
        while True:
            report = sync.sync_once(force=True)
            reports.append(report)
            state = sync.state()
            if state.pending == 0 or report.error is not None or report.skipped or len(reports) > 50:
                break
        drain_s = time.perf_counter() - started
        del client.post_outcomes
        with sqlite3.connect(f"file:{server_db}?mode=ro", uri=True, timeout=30) as conn:
            stored = conn.execute("SELECT count(*) FROM outcomes WHERE note LIKE ?", (f"{tag} #%",)).fetchone()[0]
        return {
            "queued": count,
            "decisions": min(count, len(docs)),
            "record_s": round(record_s, 2),
            "record_commit": latency_summary(commits),
            # The double-press check reads the outbox by decision: does a commit get slower as it fills?
            "record_commit_first_tenth_p50_ms": latency_summary(commits[:max(1, count // 10)])["p50_ms"],
            "record_commit_last_tenth_p50_ms": latency_summary(commits[-max(1, count // 10):])["p50_ms"],
            "pending_before": pending_before,
            "drain_s": round(drain_s, 3),
            "sync_calls": len(reports),
            "post_requests": len(posts),
            "post_s": round(sum(posts), 3),  # waiting for POST /v1/outcomes (network + server)
            "sent": sum(r.sent for r in reports),
            "accepted": sum(r.accepted for r in reports),
            "duplicate": sum(r.duplicate for r in reports),
            "rejected": sum(r.rejected for r in reports),
            "errors": [r.error.code for r in reports if r.error is not None],
            "pending_after": sync.state().pending,
            "server_stored": stored,
            "server_count_exact": stored == count,
            "outcomes_per_s": round(count / drain_s, 1) if drain_s > 0 else None,
        }

    def server_down(self, count: int) -> tuple[list[PopSample], int]:
        samples, failures = [], 0
        rng = random.Random(f"stale:{self.args.seed}")
        for _customer_id, ani in rng.sample(self.popped, min(count, len(self.popped))):
            call_id = self.call_id("down")
            sample = self.probe.pop(call_id, ["--ani", ani], lambda r: r.state == "stale")
            if sample is None:
                failures += 1
            else:
                samples.append(sample)
            self.probe.close_call(call_id)
        return samples, failures

    def hang(self, hang_s: float, fresh: list[tuple[str, str]]) -> dict[str, Any]:
        """Point the panel at a server that never answers; pop and record while the stall monitor runs."""
        QtCore, _ = _qt()
        from desktop.runtime.stall_monitor import EventLoopStallMonitor
        from desktop.services.session import make_client_factory

        app, probe = self.app, self.probe
        rng = random.Random(f"hang:{self.args.seed}")
        cached = rng.sample(self.popped, min(50, len(self.popped)))
        steps = {"pops": 0, "clicks": 0, "click_skipped": 0}
        open_calls: list[str] = []
        bar = app.window.outcome_bar

        def step() -> None:
            n = steps["pops"]
            if n % 2 == 1:  # record an outcome on the call on screen: the cached customer rung last step
                view = app.window.view(open_calls[-1])
                result = "declined" if view is not None and view.selected_offer_id else "not_offered"
                if view is not None and view.result is not None and view.result.document is not None \
                        and result == "declined" and bar.buttons[result].isEnabled():
                    bar.buttons[result].click()
                    steps["clicks"] += 1
                else:
                    steps["click_skipped"] += 1
            source = cached if n % 2 == 0 else fresh
            _customer_id, ani = source[(n // 2) % len(source)]
            call_id = self.call_id("hang")
            app.handle_command(["pop", "--call-id", call_id, "--state", "ringing", "--ani", ani])
            open_calls.append(call_id)
            steps["pops"] += 1
            if len(open_calls) > 3:  # the agent closes old tabs: a few calls at a time, as at a desk
                app.controller.dismiss(open_calls[-4])

        r_mark, p_mark, t_mark = len(probe.renders), len(probe.paints), len(probe.timings)
        gaps: list[tuple[float, float, float]] = []  # event-loop gaps over 30 ms: start, end, GUI CPU in it
        last = [time.perf_counter(), time.thread_time()]

        def trace() -> None:  # a second 5 ms timer, to say what the GUI thread did during each stall
            now, cpu = time.perf_counter(), time.thread_time()
            if now - last[0] > 0.030:
                gaps.append((last[0], now, cpu - last[1]))
            last[:] = [now, cpu]

        tracer = QtCore.QTimer()
        tracer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        tracer.setInterval(5)
        tracer.timeout.connect(trace)
        with HangingServer(hang_s) as injector:
            client = make_client_factory(app.config)(injector.url, app.session.current_token)
            app.pop_service.use_client(client)
            app.sync_service.use_client(client)
            monitor = EventLoopStallMonitor(interval_ms=5, threshold_ms=TARGETS["hang_max_stall_ms"])
            ticker = QtCore.QTimer()
            ticker.setInterval(1000)  # a call a second; an outcome on every second call
            ticker.timeout.connect(step)
            monitor.start()
            last[:] = [time.perf_counter(), time.thread_time()]
            tracer.start()
            ticker.start()
            probe.sleep(hang_s)
            ticker.stop()
            probe.sleep(2.0)  # the injector has closed every connection: the panel recovers
            monitor.stop()
            tracer.stop()
            report = monitor.report()
            accepted = injector.accepted
            renders, paints, timings = probe.renders[r_mark:], probe.paints[p_mark:], probe.timings[t_mark:]
        for call_id in open_calls:
            app.controller.dismiss(call_id)
        probe.idle(30)
        states = [r.state for r in probe.renders if r.call_id in set(open_calls)]
        return {
            "hang_s": hang_s,
            "monitored_s": round(report.measured_ms / 1000, 2),
            "max_stall_ms": round(report.max_stall_ms, 2),
            "stalls_over_50ms": report.stalls_over_threshold,
            "ticks": report.ticks,
            "pops": steps["pops"],
            "outcome_clicks": steps["clicks"],
            "connections_accepted": accepted,
            "stale_shown": states.count("stale"),
            "error_shown": states.count("error"),
            # What the GUI thread did in one go meanwhile: the stall is the longest such stretch.
            "longest_show_pop_ms": _ms(max((r.ended - r.started for r in renders), default=None)),
            "longest_paint_ms": _ms(max((end - begin for begin, end in paints), default=None)),
            "longest_stalls": [_explain_gap(gap, renders, paints, timings)
                               for gap in sorted(gaps, key=lambda g: g[0] - g[1])[:3]],
        }


def _explain_gap(gap: tuple[float, float, float], renders: list[Render], paints: list[tuple[float, float]],
                 timings: list[tuple[float, Any]]) -> dict[str, Any]:
    """What ran on the GUI thread during one event-loop stall: the show_pop() calls and paints inside it,
    the task results delivered in it, and how much of it the GUI thread was on a CPU (the rest it waited:
    for the GIL or for a core)."""
    begin, end, cpu = gap
    inside = [r for r in renders if r.started < end and r.ended > begin]
    return {
        "ms": _ms(end - begin),
        "gui_cpu_ms": _ms(cpu),
        "show_pop": [f"{r.state}{'+doc' if r.has_document else ''} {_ms(r.ended - r.started)} ms" for r in inside],
        "paint_ms": [_ms(e - b) for b, e in paints if b < end and e > begin],
        "tasks_delivered": sorted({t.name for at, t in timings if begin <= at <= end}),
    }


@contextmanager
def server_process(database_url: str, log_dir: Path) -> Iterator[Any]:
    """`callcue-server serve` on 127.0.0.1 with one worker (server_stub.live), which also gets SIGTERM if
    this process dies without cleaning up (a Qt abort, SIGKILL): the benchmark never leaves a server behind."""
    from server_stub.live import live_server

    with live_server(database_url, log_dir, startup_timeout=60, die_with_parent=True) as live:
        yield live


@contextmanager
def panel_app(workdir: Path, server_url: str, agent_id: str, token: str) -> Iterator[Any]:
    """The real CallCueApp, signed in through the automation variables, as `callcue demo` starts it."""
    from desktop.cli import _qt_application
    from desktop.services.config import ConfigPaths, load_config

    home = workdir / "panel"
    paths = ConfigPaths(machine_file=home / "machine.toml", user_file=home / "config.toml",
                        data_dir=home / "data", log_dir=home / "logs")
    environ = {**os.environ, "CALLCUE_SERVER_URL": server_url, "CALLCUE_AGENT_ID": agent_id,
               "CALLCUE_TOKEN": token}
    environ.pop("CALLCUE_STORE_PATH", None)
    # Periodic sync off (1 h), so the outbox phase measures its own drain; outcomes still force a sync. No
    # undo hold: the drain measures delivery, not the 8 s an agent has to take an outcome back.
    config = load_config(machine_file=None, user_file=None, environ=environ,
                         cli={"sync.interval_s": 3600, "sync.undo_window_s": 0})
    qapp = _qt_application(True)
    from desktop.app import CallCueApp

    app = CallCueApp(qapp, config, paths, environ=environ, headless=True)
    try:
        app.start(show=True)
        yield app
    finally:
        app.close()


def code_version() -> dict[str, Any]:
    """The commit measured, and how many files of the desktop client differed from it (work in progress)."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "desktop_files_changed": len(git("status", "--porcelain", "desktop").splitlines())}


def distinct_callers(url: str, customers: int, count: int, seed: int) -> list[tuple[str, str]]:
    from _server import sample_callers

    rng = random.Random(f"callers:{seed}")
    seen: dict[str, str] = {}
    for customer_id, msisdn in sample_callers(url, customers, count, rng):
        seen.setdefault(customer_id, msisdn)
    callers = sorted(seen.items())
    rng.shuffle(callers)
    return callers


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from _server import BenchEnvironment, issue_tokens, sqlite_database

    result: dict[str, Any] = {
        "benchmark": "pop_latency",
        "machine": machine_info(),
        "config": {k: getattr(args, k) for k in ("customers", "seed", "pops", "repops", "clicks", "outbox",
                                                 "stale", "hang", "cold_starts", "quick")},
        "targets": TARGETS,
        "code": code_version(),
    }
    with BenchEnvironment(args) as env:
        database = sqlite_database(args, env.workdir)
        result["database"] = database.info
        server_db = Path(database.url.removeprefix("sqlite:///"))
        agent_id, token = issue_tokens(database.url, 1, prefix=AGENT_PREFIX)[0]
        warmup = 10
        hang_fresh = 40
        callers = distinct_callers(database.url, args.customers, warmup + args.pops + hang_fresh + 50, args.seed)
        if len(callers) < warmup + args.pops + hang_fresh:
            raise SystemExit(f"only {len(callers)} distinct callers found; lower --pops")
        warm, first, fresh = (callers[:warmup], callers[warmup:warmup + args.pops],
                              callers[warmup + args.pops:warmup + args.pops + hang_fresh])
        with server_process(database.url, env.workdir / "server-logs") as live, \
                panel_app(env.workdir, live.base_url, agent_id, token) as app:
            probe = make_probe(app)
            bench = Bench(args, probe)
            probe.idle()
            meter = CpuMeter({"server": live.process.pid})
            meter.start()
            log(f"panel up against {live.base_url}; warm-up: {warmup} pops")
            bench.first_pops(warm, "warm")
            bench.popped.clear()

            log(f"first pops: {len(first)} distinct callers …")
            samples, failures = bench.first_pops(first, "pop")
            result["first_pop"] = {**summarize_pops(samples), "failures": failures,
                                   "fetch_task": summarize_tasks(bench.fetch_timings)}
            _log_latency("first pop (live painted)", result["first_pop"]["latency"])

            log(f"re-pops of cached customers: {args.repops} …")
            samples, failures, cached_task = bench.repops(args.repops)
            result["repop"] = {**summarize_pops(samples), "failures": failures, "cached_task": cached_task}
            _log_latency("re-pop (cached painted)", result["repop"]["latency"])

            result["fsync_floor"] = fsync_floor(env.workdir / "panel" / "data", 100 if args.quick else 300)
            log(f"outcome clicks: {args.clicks} …")
            result["clicks"] = bench.clicks(args.clicks)
            _log_latency("click -> commit", result["clicks"]["click_to_commit"])

            log(f"cold starts: 1 priming + {args.cold_starts} timed …")
            result["cold_start"] = measure_cold_starts(args.cold_starts, env.workdir, live.base_url, agent_id,
                                                       token)

            result["outbox"] = bench.outbox(args.outbox, server_db)
            ob = result["outbox"]
            log(f"  drained {ob['sent']:,} in {ob['drain_s']} s ({ob['outcomes_per_s']}/s); server stored "
                f"{ob['server_stored']:,}; rejected {ob['rejected']}")

            result["cpu"] = {**meter.stop(), "load_average_1m_end": round(os.getloadavg()[0], 2)}
            log("server down: stopping the server process …")
            live.process.terminate()
            live.process.wait(timeout=15)
            port = int(live.base_url.rsplit(":", 1)[1])
            samples, failures = bench.server_down(args.stale)
            result["server_down"] = {**summarize_pops(samples), "failures": failures,
                                     # Another process on this machine may have taken the freed port.
                                     "port_listening_after": _listening(port)}
            _log_latency("server down (stale painted)", result["server_down"]["latency"])

            log(f"hang: a server that never answers, {args.hang:g} s, stall monitor on …")
            result["hang"] = bench.hang(args.hang, fresh)
            log(f"  longest event-loop stall {result['hang']['max_stall_ms']} ms")
            result["panel_process_rss_mib"] = vm_rss_mib(os.getpid())
    result["figures"] = figures(result)
    return result


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _log_latency(label: str, summary: dict[str, Any]) -> None:
    log(f"  {label}: n={summary['count']} p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms, "
        f"max {summary['max_ms']} ms")


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's figures: name, target, measured, whether it meets the target."""
    cs, ob = result["cold_start"], result["outbox"]
    rows = [
        ("call event → live data painted, median", "first_pop_p50_ms", result["first_pop"]["latency"]["p50_ms"], "ms"),
        ("call event → live data painted, p99", "first_pop_p99_ms", result["first_pop"]["latency"]["p99_ms"], "ms"),
        ("re-pop of a cached customer → cached view painted, median", "repop_cached_p50_ms",
         result["repop"]["latency"]["p50_ms"], "ms"),
        ("pop with the server down → stale state painted, median", "server_down_stale_p50_ms",
         result["server_down"]["latency"]["p50_ms"], "ms"),
        ("outcome click → durable commit, p99", "outcome_commit_p99_ms",
         result["clicks"]["click_to_commit"]["p99_ms"], "ms"),
        (f"{ob['queued']:,} queued outcomes drained to the server", "outbox_drain_s",
         ob["drain_s"] if ob["server_count_exact"] and ob["pending_after"] == 0 else None, "s"),
        ("cold start to ready, median of " + str(len(cs["runs"])), "cold_start_median_s", cs["median_s"], "s"),
        ("idle RSS (3 s after start)", "idle_rss_mib", cs["idle_rss_mib"], "MiB"),
        (f"longest GUI stall while the server hangs {result['hang']['hang_s']:g} s", "hang_max_stall_ms",
         result["hang"]["max_stall_ms"], "ms"),
    ]
    out = []
    for label, key, measured, unit in rows:
        target = TARGETS[key]
        out.append({"figure": label, "key": key, "target": target, "unit": unit, "measured": measured,
                    "meets_target": measured is not None and measured <= target})
    return out


def render(result: dict[str, Any]) -> str:
    m, c = result["machine"], result["config"]
    out = [
        f"CallCue panel end to end: real CallCueApp (offscreen) + real server on 127.0.0.1, "
        f"{c['customers']:,} customers{' (quick)' if c['quick'] else ''}",
        f"machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['platform']}; code {result['code']['commit']} + {result['code']['desktop_files_changed']} changed "
        f"desktop files; load average {m['load_average_1m']} at the start, "
        f"{result['cpu']['load_average_1m_end']} after the outbox phase",
        f"CPU while the server was up (% of one core): panel process {result['cpu']['load generator_pct']}, "
        f"server {result['cpu']['server_pct']}, other processes on the machine "
        f"{result['cpu']['other processes_pct']}",
        "",
        format_table(["figure", "target", "measured", "ok"], [
            [f["figure"], f"<= {f['target']:g} {f['unit']}",
             "—" if f["measured"] is None else f"{f['measured']:g} {f['unit']}",
             "yes" if f["meets_target"] else "NO"] for f in result["figures"]]),
        "",
    ]
    rows = []
    for key, label in (("first_pop", "first pop → live painted"), ("repop", "re-pop → cached painted"),
                       ("server_down", "server down → stale painted")):
        r = result[key]
        lat = r["latency"]
        rows.append([label, lat["count"], lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"],
                     r["loading_tab_painted"]["p50_ms"], r["to_render"]["p50_ms"], r["render_busy"]["p50_ms"],
                     r["render_busy"]["p99_ms"], r["render_to_paint"]["p50_ms"], r["render_to_paint"]["p99_ms"],
                     r["paint"]["p50_ms"], r["gui_cpu"]["p50_ms"], r["gui_cpu"]["p99_ms"], r["render_cpu"]["p50_ms"],
                     r["superseded"], r["failures"]])
    out.append(format_table(
        ["pops", "n", "p50", "p90", "p99", "max", "loading tab p50", "→ render p50", "render p50",
         "render p99", "→ paint end p50", "→ paint end p99", "paint p50", "GUI CPU p50", "GUI CPU p99",
         "render CPU p50", "superseded", "failed"], rows,
        title="Pops (ms). Breakdown: call event → show_pop() of that state starts; wall time in show_pop(); "
              "its return → paint ended (queued layout, polish, then the paint); the paint alone; CPU of the "
              "GUI thread from the call event to the paint, and in show_pop(). 'superseded': a newer state "
              "rendered before that paint"))
    out.append("Slowest samples (index in the phase: total, → render, render, → paint end, GUI CPU; ms): " + "; ".join(
        f"{key} " + ", ".join(f"#{s['index']}: {s['ms']}, {s['to_render_ms']}, {s['render_ms']}, {s['to_paint_ms']}, "
                              f"{s['gui_cpu_ms']}" for s in result[key]["slowest"])
        for key in ("first_pop", "repop", "server_down")))
    if result["server_down"]["port_listening_after"]:
        out.append("Note: after the server stopped, another process was listening on its port.")
    fetch, cached = result["first_pop"]["fetch_task"], result["repop"]["cached_task"]
    out += ["", format_table(["task", "n", "queued p50", "queued p99", "run p50", "run p99"], [
        ["pop.fetch (first pops)", fetch["count"], fetch["queued"]["p50_ms"], fetch["queued"]["p99_ms"],
         fetch["run"]["p50_ms"], fetch["run"]["p99_ms"]],
        ["pop.cached (re-pops)", cached["count"], cached["queued"]["p50_ms"], cached["queued"]["p99_ms"],
         cached["run"]["p50_ms"], cached["run"]["p99_ms"]],
    ], title="TaskRunner timings (ms):")]
    cl = result["clicks"]
    out += ["", format_table(["outcome click", "n", "p50", "p90", "p99", "max"], [
        [name, cl[key]["count"], cl[key]["p50_ms"], cl[key]["p90_ms"], cl[key]["p99_ms"], cl[key]["max_ms"]]
        for key, name in (("click_to_commit", "click → commit returned"),
                          ("task_queue_plus_run", "'outcome.record' queue + run"),
                          ("task_queued", "… of which queued"), ("task_run", "… of which run"),
                          ("click_to_saved_shown", "click → 'saved' on the GUI thread"))
    ], title=f"Outcome clicks (ms), failures {cl['failures']}:")]
    fl = result["fsync_floor"]
    out.append(f"Disk floor: a bare SQLite commit (WAL, synchronous=FULL) here takes p50 {fl['p50_ms']} ms, "
               f"p99 {fl['p99_ms']} ms, max {fl['max_ms']} ms (n={fl['count']}).")
    ob = result["outbox"]
    out += ["", f"Outbox: {ob['queued']:,} outcomes on {ob['decisions']} decisions recorded in {ob['record_s']} s "
                f"(commit p50 {ob['record_commit']['p50_ms']} ms, p99 {ob['record_commit']['p99_ms']} ms; p50 of "
                f"the first tenth {ob['record_commit_first_tenth_p50_ms']} ms, of the last tenth "
                f"{ob['record_commit_last_tenth_p50_ms']} ms); drained in {ob['drain_s']} s over {ob['sync_calls']} "
                f"sync_once call(s), {ob['post_s']} s of it in {ob['post_requests']} POST /v1/outcomes "
                f"({ob['outcomes_per_s']}/s): sent {ob['sent']:,}, accepted {ob['accepted']:,}, duplicate "
                f"{ob['duplicate']}, rejected {ob['rejected']}, pending after {ob['pending_after']}; server "
                f"stored {ob['server_stored']:,} ({'exact' if ob['server_count_exact'] else 'MISMATCH'})"]
    cs = result["cold_start"]
    out += ["", format_table(["start", "total s", "interpreter s", "imports s", "construct s", "show+paint s",
                              "idle RSS MiB"],
                             [[("priming" if i == 0 else str(i)), r["start_s"], r["interpreter_s"], r["imports_s"],
                               r["construct_s"], r["show_and_paint_s"], r["idle_rss_mib"] or "—"]
                              for i, r in enumerate([cs["first_run"], *cs["runs"]])],
                             title="Cold starts (the priming start creates the store):")]
    h = result["hang"]
    out += ["", f"Hang: {h['hang_s']:g} s of a server that never answers, monitored {h['monitored_s']} s "
                f"({h['ticks']:,} ticks): longest stall {h['max_stall_ms']} ms, {h['stalls_over_50ms']} over 50 ms; "
                f"{h['pops']} pops ({h['stale_shown']} stale, {h['error_shown']} error renders), "
                f"{h['outcome_clicks']} outcome clicks, {h['connections_accepted']} connections held; longest "
                f"show_pop() {h['longest_show_pop_ms']} ms, longest paint {h['longest_paint_ms']} ms"]
    for stall in h["longest_stalls"]:
        out.append(f"  stall {stall['ms']} ms (GUI thread on CPU {stall['gui_cpu_ms']} ms): show_pop "
                   f"{', '.join(stall['show_pop']) or '—'}; paints {stall['paint_ms'] or '—'} ms; results of "
                   f"{', '.join(stall['tasks_delivered']) or '—'}")
    out += ["", "Definitions: 'painted' = the end of the first paint of the panel window (its UpdateRequest, "
                "handled as Qt does: layout, raster paint, flush to the offscreen backing store) that starts "
                "after the PopView rendered the state named; timed from CallCueApp.handle_command(['pop', …])."]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    faulthandler.enable()  # a crash in Qt or PySide prints where Python was
    args = parse_args(argv)
    if args.child == "cold-start":
        return cold_start_child(args)
    unwind_on_signals()
    result = run(args)
    emit(result, args.json, render)
    # Exit 1 when the run itself went wrong (a pop never painted, an outcome lost); a missed target is a
    # figure to read, as in the server benchmarks.
    failed = sum(result[k]["failures"] for k in ("first_pop", "repop", "server_down", "clicks"))
    outbox = result["outbox"]
    return 0 if failed == 0 and outbox["server_count_exact"] and outbox["pending_after"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
