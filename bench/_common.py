"""Shared helpers of the benchmarks: arguments, percentiles, machine facts, CPU use, output, open-loop load.

Every benchmark accepts `--quick` (small sizes, well under a minute) and `--json` (its figures as one JSON
object on the last line of stdout; progress goes to stderr either way); without `--json` it prints
readable tables. Nothing here imports the project, so desktop and server benchmarks alike can use it.

The figures of a run, for `make bench` (bench/report.py writes docs/benchmarks.md from them): the JSON object
has "benchmark" (the script's name), "machine" (machine_info()) and "figures", a list made with `figure()`:
{"name", "value", "unit", "target", "op", "met"} — e.g. figure("GET /v1/pop p99 at 200/s", 12.5, "ms", 15,
"<="). A figure without a target (context, e.g. a capacity) has target None and met None. bench/report.py
also reads the older form {"figure", "key", "measured", "unit", "target", "meets_target"} (target: at most).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"

# --------------------------------------------------------------------------------------------------------
# Arguments and output
# --------------------------------------------------------------------------------------------------------


def base_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the options every benchmark has: --quick and --json."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run well under a minute")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    return parser


def log(message: str) -> None:
    """Progress for the person watching: always on stderr, so stdout stays the result."""
    print(message, file=sys.stderr, flush=True)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> str:
    """A plain aligned text table; numbers are right-aligned, floats shown with 2 decimals."""

    def cell(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    body = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    numeric = [bool(body) and all(r[i].replace(",", "").replace(".", "").replace("-", "").isdigit()
                                  or r[i] == "—" for r in body) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    out = [title] if title else []
    out += [line(headers), line(["-" * w for w in widths]), *(line(r) for r in body)]
    return "\n".join(s.rstrip() for s in out)


def emit(result: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]) -> None:
    """Print the result: `render(result)` as text, or (with --json) the object on the last line."""
    if as_json:
        print(json.dumps(result, ensure_ascii=False, sort_keys=True, default=str), flush=True)
    else:
        print(render(result), flush=True)


FIGURE_OPS = {"<=": lambda v, t: v <= t, ">=": lambda v, t: v >= t, "==": lambda v, t: v == t,
              "<": lambda v, t: v < t, ">": lambda v, t: v > t}


def figure(name: str, value: float | int | None, unit: str = "", target: float | int | None = None,
           op: str = "<=") -> dict[str, Any]:
    """One reported figure and whether it meets its target (`value op target`); value None (not measured,
    e.g. a phase that failed) never meets a target."""
    if op not in FIGURE_OPS:
        raise ValueError(f"op must be one of {', '.join(FIGURE_OPS)}")
    met = None if target is None else (value is not None and bool(FIGURE_OPS[op](value, target)))
    return {"name": name, "value": value, "unit": unit, "target": target, "op": op, "met": met}


# --------------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (0 < q <= 100) of an ascending sequence: a value that really occurred,
    never an interpolation that flatters the tail. None for an empty sequence."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(seconds: Iterable[float]) -> dict[str, float | int | None]:
    """count, mean, p50, p90, p99, max of latencies given in seconds, reported in milliseconds."""
    values = sorted(seconds)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {
        "count": len(values),
        "mean_ms": ms(sum(values) / len(values)) if values else None,
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(values[-1]) if values else None,
    }


# --------------------------------------------------------------------------------------------------------
# Machine facts and CPU accounting (/proc; psutil is not a dependency)
# --------------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model or platform.processor() or platform.machine(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text[text.rindex(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """root and all its live descendants (e.g. uvicorn workers, PostgreSQL backends)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields_ := _stat_fields(int(entry.name))):
            children.setdefault(int(fields_[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used by a process tree so far: live processes plus the reaped children
    the root has waited for (so exited backends still count)."""
    total = 0
    for pid in process_tree(root):
        fields_ = _stat_fields(pid)
        if fields_:
            # After the command: state=0, ppid=1, … utime=11, stime=12, cutime=13, cstime=14.
            total += int(fields_[11]) + int(fields_[12])
            if pid == root:
                total += int(fields_[13]) + int(fields_[14])
    return total / _TICKS


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (all cores, /proc/stat), idle and iowait excluded."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / _TICKS


class CpuMeter:
    """CPU used during a window by named process trees, by this process, and by the whole machine; what is
    left of the machine's figure is other processes' work competing with the benchmark."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self._start: dict[str, float] = {}
        self._wall = 0.0

    def _sample(self) -> dict[str, float]:
        sample = {name: tree_cpu_seconds(pid) for name, pid in self.roots.items()}
        sample["load generator"] = time.process_time()
        sample["machine"] = machine_cpu_seconds()
        return sample

    def start(self) -> None:
        self._start, self._wall = self._sample(), time.monotonic()

    def stop(self) -> dict[str, float]:
        """Percent of one core used by each, over the window (200 % = both cores of a 2-core machine)."""
        end, wall = self._sample(), time.monotonic() - self._wall
        used = {name: end[name] - self._start[name] for name in end}
        ours = sum(v for k, v in used.items() if k != "machine")
        used["other processes"] = max(0.0, used["machine"] - ours)
        return {f"{name}_pct": round(100 * v / wall, 1) if wall > 0 else 0.0 for name, v in used.items()}


# --------------------------------------------------------------------------------------------------------
# Ctrl-C, TERM and HUP all unwind through `finally`, so whatever a benchmark started is stopped
# --------------------------------------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    pass


def unwind_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into an exception like Ctrl-C's, so context managers clean up."""

    def handler(signum, _frame):
        raise Interrupted(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def run_main(main: Callable[[], int]) -> int:
    """Run a benchmark's main with the signals above unwinding it; an interruption ends with one line on
    stderr and exit code 130 instead of a traceback (the cleanup has run by then)."""
    unwind_on_signals()
    try:
        return main()
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc or 'Ctrl-C'}): stopped everything this benchmark had started")
        return 130


# --------------------------------------------------------------------------------------------------------
# Open-loop load at a fixed rate
# --------------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    index: int
    scheduled: float  # when the request was due (perf_counter)
    started: float  # when it really went out
    finished: float
    outcome: str  # what `send` returned, or "error: …"

    @property
    def latency(self) -> float:
        """From the scheduled time, not the send time: no coordinated omission."""
        return self.finished - self.scheduled

    @property
    def service_time(self) -> float:
        return self.finished - self.started


@dataclass
class LoadRun:
    rate: float
    planned: int
    samples: list[Sample] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def sent(self) -> int:
        return len(self.samples)

    def outcomes(self) -> Counter[str]:
        return Counter(s.outcome for s in self.samples)

    def achieved_rate(self, ok: Callable[[str], bool] = lambda o: not o.startswith("error")) -> float:
        """Completed requests per second of wall time, from the first due time to the last completion."""
        done = sum(1 for s in self.samples if ok(s.outcome))
        wall = self.ended_at - self.started_at
        return done / wall if wall > 0 else 0.0

    def late_starts(self, slack: float = 0.002) -> dict[str, float | int | None]:
        """How far behind schedule requests went out: a loaded server (all clients busy) or a starved load
        generator. The latency figures already include this delay."""
        lags = sorted(s.started - s.scheduled for s in self.samples)
        return {
            "late_over_2ms": sum(1 for lag in lags if lag > slack),
            "p99_start_lag_ms": None if not lags else round(percentile(lags, 99) * 1000, 2),
            "max_start_lag_ms": None if not lags else round(lags[-1] * 1000, 2),
        }


def run_open_loop(
    send: Callable[[int], str],
    *,
    rate: float,
    duration: float,
    clients: int,
    deadline_slack: float = 15.0,
) -> LoadRun:
    """Call `send(i)` for i = 0 … rate*duration-1, request i due at start + i/rate, from `clients` threads.

    Open loop: the schedule never waits for answers; a slow answer makes later requests late, and their
    latency counts from when they were due. `send` returns a label (e.g. "ok", "not_found"); an exception
    counts as "error: <type>". Bounded: nothing starts after duration + deadline_slack seconds.
    """
    planned = max(1, round(rate * duration))
    run = LoadRun(rate=rate, planned=planned)
    counter = itertools.count()
    lock = threading.Lock()
    start = time.perf_counter() + 0.05
    give_up = start + duration + deadline_slack
    stop = threading.Event()

    def client() -> None:
        mine: list[Sample] = []
        try:
            while not stop.is_set():
                i = next(counter)
                if i >= planned:
                    return
                due = start + i / rate
                now = time.perf_counter()
                if now > give_up:
                    return
                if due > now:
                    time.sleep(due - now)
                began = time.perf_counter()
                try:
                    outcome = send(i)
                except Exception as exc:
                    outcome = f"error: {type(exc).__name__}"
                mine.append(Sample(i, due, began, time.perf_counter(), outcome))
        finally:
            with lock:
                run.samples.extend(mine)

    threads = [threading.Thread(target=client, name=f"load-{n}", daemon=True) for n in range(clients)]
    run.started_at = start
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()
        raise
    run.samples.sort(key=lambda s: s.index)
    run.ended_at = max((s.finished for s in run.samples), default=start)
    return run


def run_closed_loop(send: Callable[[int], str], *, count: int, clients: int, max_seconds: float = 300.0
                    ) -> LoadRun:
    """Capacity: `clients` threads call `send(i)` back to back until `count` calls are done, or until
    `max_seconds` have passed (bounded, also when the server stops answering)."""
    run = LoadRun(rate=0.0, planned=count)
    counter = itertools.count()
    lock = threading.Lock()
    give_up = time.perf_counter() + max_seconds

    def client() -> None:
        mine: list[Sample] = []
        try:
            while (i := next(counter)) < count and time.perf_counter() < give_up:
                began = time.perf_counter()
                try:
                    outcome = send(i)
                except Exception as exc:
                    outcome = f"error: {type(exc).__name__}"
                mine.append(Sample(i, began, began, time.perf_counter(), outcome))
        finally:
            with lock:
                run.samples.extend(mine)

    threads = [threading.Thread(target=client, name=f"load-{n}", daemon=True) for n in range(clients)]
    run.started_at = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.samples.sort(key=lambda s: s.index)
    run.ended_at = max((s.finished for s in run.samples), default=run.started_at)
    return run
