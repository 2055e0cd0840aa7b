"""`make bench`: run every benchmark in bench/ and write docs/benchmarks.md.

    .venv/bin/python bench/report.py run [--quick] [--only NAME ...] [--output FILE] [--timeout S]
    .venv/bin/python bench/report.py render RESULTS_DIR [--output FILE]

`run` finds the benchmarks by name (every bench/*.py but `_*.py` and this file), runs each one after the
other with `--json` (and `--quick` when given), keeps its output in bench/.results/<time>/ (NAME.out, NAME.err,
NAME.run.json), then renders. `render` writes the markdown from such a directory: one table of every
figure with its target and whether it is met, the machine it ran on, the date, and which scripts failed
to run and why. A script that ran but missed a target (exit code 1 with its JSON) counts as run.

Figures are read from the JSON's "figures" list (bench/_common.py `figure()`, or the older
{"figure", "measured", "target", "meets_target"} form); server_pop and server_ingest are read from their
"runs"; any other script's "targets" are matched with top-level values of the same key.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, FIGURE_OPS, REPO_ROOT, machine_info

DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
RESULTS_ROOT = BENCH_DIR / ".results"
QUICK_TIMEOUT_S = 15 * 60
FULL_TIMEOUT_S = 3 * 60 * 60
TERM_GRACE_S = 30


# --------------------------------------------------------------------------------------------------------
# Discovery and running
# --------------------------------------------------------------------------------------------------------


def discover(bench_dir: Path = BENCH_DIR) -> list[Path]:
    """The benchmark scripts: bench/*.py except helpers (`_*.py`) and this report."""
    return sorted(p for p in bench_dir.glob("*.py") if not p.name.startswith("_") and p.name != "report.py")


def _stop(process: subprocess.Popen) -> None:
    """TERM to the script's process group (benchmarks unwind and stop their servers), KILL after a grace."""
    for sig, wait in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_script(script: Path, results: Path, *, quick: bool, timeout_s: float, python: str = sys.executable
               ) -> dict[str, Any]:
    """Run one benchmark with --json; its stdout, stderr and how it ended go to `results`."""
    name = script.stem
    command = [python, str(script), "--json", *(["--quick"] if quick else [])]
    started = time.monotonic()
    meta: dict[str, Any] = {"script": script.name, "command": command[1:],
                            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    with (results / f"{name}.out").open("wb") as out, (results / f"{name}.err").open("wb") as err:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=err, start_new_session=True)
        try:
            meta["exit_code"] = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            meta["timed_out_after_s"] = timeout_s
            _stop(process)
            meta["exit_code"] = process.returncode
        except BaseException:  # Ctrl-C: the script is in its own session, stop it before leaving
            _stop(process)
            raise
    meta["seconds"] = round(time.monotonic() - started, 1)
    (results / f"{name}.run.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return meta


def run_all(*, quick: bool, only: Iterable[str] = (), timeout_s: float | None = None, bench_dir: Path = BENCH_DIR,
            results_root: Path = RESULTS_ROOT, log=print) -> Path:
    scripts = discover(bench_dir)
    wanted = {name.removesuffix(".py") for name in only}
    unknown = wanted - {s.stem for s in scripts}
    if unknown:
        raise SystemExit(f"no benchmark named {', '.join(sorted(unknown))} in {bench_dir} "
                         f"(there are: {', '.join(s.stem for s in scripts)})")
    if wanted:
        scripts = [s for s in scripts if s.stem in wanted]
    results = results_root / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results.mkdir(parents=True, exist_ok=True)
    (results / "session.json").write_text(json.dumps({
        "quick": quick, "machine": machine_info(), "commit": _git_commit(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scripts": [s.name for s in scripts]}, indent=1), encoding="utf-8")
    timeout_s = timeout_s or (QUICK_TIMEOUT_S if quick else FULL_TIMEOUT_S)
    for index, script in enumerate(scripts, 1):
        log(f"[bench {index}/{len(scripts)}] {script.name}{' --quick' if quick else ''} …")
        meta = run_script(script, results, quick=quick, timeout_s=timeout_s)
        log(f"[bench {index}/{len(scripts)}] {script.name}: exit {meta['exit_code']} in {meta['seconds']} s"
            + (" (timed out)" if "timed_out_after_s" in meta else ""))
    return results


def _git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else None


# --------------------------------------------------------------------------------------------------------
# Reading results
# --------------------------------------------------------------------------------------------------------


@dataclass
class Figure:
    script: str
    name: str
    value: float | int | None
    unit: str = ""
    target: float | int | None = None
    op: str = "<="
    met: bool | None = None


@dataclass
class ScriptRun:
    script: str
    exit_code: int | None
    seconds: float | None
    result: dict[str, Any] | None
    problem: str | None = None  # why there is no result (or why figures are missing)
    notes: list[str] = field(default_factory=list)


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _tail(text: str, lines: int = 3) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " / ".join(kept)[-400:]


def load_run(results: Path, name: str) -> ScriptRun:
    meta_path = results / f"{name}.run.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    out = (results / f"{name}.out").read_text(encoding="utf-8", errors="replace") if (
        results / f"{name}.out").exists() else ""
    err = (results / f"{name}.err").read_text(encoding="utf-8", errors="replace") if (
        results / f"{name}.err").exists() else ""
    script = meta.get("script", f"{name}.py")
    code = meta.get("exit_code")
    result = _last_json_line(out)
    problem = None
    if "timed_out_after_s" in meta:
        problem = f"stopped after {meta['timed_out_after_s']:g} s (time limit)"
    elif result is None:
        problem = (f"exit code {code}; no JSON object on the last line of its output"
                   + (f"; stderr ends: {_tail(err)}" if err.strip() else ""))
    if problem and result is not None:
        result = None  # a partial line from a stopped run is not a result
    return ScriptRun(script, code, meta.get("seconds"), result, problem)


def load_results(results: Path) -> tuple[dict[str, Any], list[ScriptRun]]:
    session_path = results / "session.json"
    session = json.loads(session_path.read_text(encoding="utf-8")) if session_path.exists() else {}
    names = [Path(s).stem for s in session.get("scripts", [])] or sorted(
        p.name.removesuffix(".run.json") for p in results.glob("*.run.json"))
    return session, [load_run(results, name) for name in names]


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _met(value: Any, target: Any, op: str) -> bool | None:
    if target is None:
        return None
    return value is not None and op in FIGURE_OPS and bool(FIGURE_OPS[op](value, target))


def listed_figures(script: str, items: list[Any]) -> list[Figure]:
    """The "figures" list: {name, value, unit, target, op, met} or {figure, measured, unit, target, meets_target}."""
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        name = item.get("name", item.get("figure"))
        value = _number(item.get("value", item.get("measured")))
        target = _number(item.get("target"))
        op = item.get("op", "<=")
        met = item.get("met", item.get("meets_target"))
        out.append(Figure(script, str(name), value, str(item.get("unit") or ""), target, op,
                          _met(value, target, op) if met is None and target is not None else met))
    return out


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


SEED_TARGET_S = 180.0  # seeding 1,000,000 customers: under 3 minutes
SEED_TARGET_CUSTOMERS = 1_000_000


def seed_figures(script: str, result: dict[str, Any]) -> list[Figure]:
    """How long seeding the benchmark's database took, per backend (a cached SQLite copy says when it was
    seeded); the 3-minute target applies to 1,000,000 customers."""
    figures = []
    for backend, info in (result.get("databases") or {}).items():
        if not isinstance(info, dict) or _number(info.get("seed_seconds")) is None:
            continue
        customers = _number(_dig(info, "rows", "customers")) or _number(_dig(result, "config", "customers")) or 0
        cached = f", cached copy seeded on {info.get('seeded_on')}" if info.get("cache") == "hit" else ""
        target = SEED_TARGET_S if customers >= SEED_TARGET_CUSTOMERS else None
        seconds = _number(info.get("seed_seconds"))
        figures.append(Figure(script, f"seed {customers:,} customers ({backend}{cached})", seconds, "s", target, "<=",
                              _met(seconds, target, "<=")))
    return figures


def server_pop_figures(script: str, result: dict[str, Any]) -> list[Figure]:
    config = result.get("config", {})
    figures = seed_figures(script, result)
    for run in result.get("runs", []):
        where = (f"{run.get('backend')}, {run.get('workers')} worker(s), {config.get('customers', 0):,} customers, "
                 f"{config.get('rate', 0):g} req/s for {config.get('duration_s', 0):g} s")
        p99 = _number(_dig(run, "latency", "p99_ms"))
        target = _number(run.get("target_p99_ms"))
        figures += [
            Figure(script, f"GET /v1/pop p99 ({where})", p99, "ms", target, "<=", _met(p99, target, "<=")),
            Figure(script, f"GET /v1/pop p50 ({where})", _number(_dig(run, "latency", "p50_ms")), "ms"),
            Figure(script, f"GET /v1/pop errors ({where})", _number(run.get("errors")), "", 0, "==",
                   _met(_number(run.get("errors")), 0, "==")),
            Figure(script, f"GET /v1/pop capacity, 4 clients back to back ({run.get('backend')}, "
                           f"{run.get('workers')} worker(s))", _number(_dig(run, "capacity", "rps")), "req/s"),
        ]
    return figures


def server_ingest_figures(script: str, result: dict[str, Any]) -> list[Figure]:
    config = result.get("config", {})
    figures = []
    for run in result.get("runs", []):
        where = f"{run.get('backend')}, {run.get('workers')} worker(s), batches of {run.get('batch')}"
        capacity = _number(run.get("capacity_outcomes_per_s"))
        target = _number(run.get("target_outcomes_per_s"))
        passes = {p.get("pass"): p for p in run.get("passes", []) if isinstance(p, dict)}
        wrong = sum(1 for p in passes.values() if not p.get("as_expected"))
        figures += [
            Figure(script, f"POST /v1/outcomes capacity ({where})", capacity, "outcomes/s", target, ">=",
                   _met(capacity, target, ">=")),
            Figure(script, f"POST /v1/outcomes held at the offered {config.get('rate', 0):g}/s ({where})",
                   _number(_dig(passes, "new", "outcomes_per_s")), "outcomes/s"),
            Figure(script, f"POST /v1/outcomes batch p99 at the offered rate ({where})",
                   _number(_dig(passes, "new", "latency", "p99_ms")), "ms"),
            Figure(script, f"passes not answered as expected (new, duplicates, capacity; {where})", wrong, "", 0,
                   "==", wrong == 0),
        ]
    return figures


_UNITS = (("_ms", "ms"), ("_s", "s"), ("_mib", "MiB"), ("_mb", "MB"), ("_pct", "%"))


def target_figures(script: str, result: dict[str, Any], notes: list[str]) -> list[Figure]:
    """Fallback: each "targets" key matched with a top-level value of the same key (at most the target;
    at least for rates and throughput)."""
    figures = []
    for key, target in (result.get("targets") or {}).items():
        target = _number(target)
        value = _number(result.get(key))
        if target is None:
            continue
        if value is None:
            notes.append(f"target `{key}` ({target:g}): no top-level value of that name in the JSON; the script "
                         "should list its figures (bench/_common.py `figure()`)")
            continue
        op = ">=" if key.endswith(("per_s", "_rps", "rate")) else "<="
        unit = next((u for suffix, u in _UNITS if key.endswith(suffix)), "")
        figures.append(Figure(script, key, value, unit, target, op, _met(value, target, op)))
    return figures


def figures_of(run: ScriptRun) -> list[Figure]:
    result = run.result or {}
    if isinstance(result.get("figures"), list):
        return listed_figures(run.script, result["figures"])
    kind = result.get("benchmark", run.script.removesuffix(".py"))
    if kind == "server_pop":
        return server_pop_figures(run.script, result)
    if kind == "server_ingest":
        return server_ingest_figures(run.script, result)
    figures = target_figures(run.script, result, run.notes)
    if not figures and not run.notes:
        run.notes.append("ran, but its JSON has no figures this report understands (add a \"figures\" list, "
                         "see bench/_common.py `figure()`)")
    return figures


# --------------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def _with_unit(value: Any, unit: str) -> str:
    text = _fmt(value)
    return f"{text} {unit}".strip() if value is not None else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _others_cpu(result: dict[str, Any]) -> float | None:
    """The most CPU other processes used during a measurement ("other processes_pct" of CpuMeter), wherever
    the script put it: its top-level "cpu", or each run's (and each pass's)."""
    found: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            value = _number(node.get("other processes_pct"))
            if value is not None:
                found.append(value)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in result.items() if k != "figures"})
    return max(found) if found else None


def _run_date(session: dict[str, Any], generated_at: dt.datetime) -> str:
    try:
        started = dt.datetime.fromisoformat(session["started_at"])
    except (KeyError, TypeError, ValueError):
        started = generated_at
    return f"{started:%Y-%m-%d %H:%M} UTC"


def render(session: dict[str, Any], runs: list[ScriptRun], *, generated_at: dt.datetime | None = None) -> str:
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    machine = session.get("machine") or next((r.result.get("machine") for r in runs if r.result
                                              and isinstance(r.result.get("machine"), dict)), {}) or {}
    all_figures = [f for run in runs if run.result is not None for f in figures_of(run)]
    with_target = [f for f in all_figures if f.target is not None]
    met = [f for f in with_target if f.met]
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` (`bench/report.py`) on {_run_date(session, generated_at)}"
        + (f" from code {session['commit']}" if session.get("commit") else "")
        + (", **quick run** (`--quick`: small sizes, a smoke test, not the issue's full loads)" if session.get("quick")
           else ", full run") + ". Rerun: `make bench` (or `make bench ARGS=--quick`).",
        "",
        "## Machine",
        "",
        "| CPU | cores | RAM | OS | Python | load average at the start |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {_cell(str(machine.get('cpu_model', '—')))} | {_fmt(machine.get('cores'))} | "
        f"{_with_unit(machine.get('memory_gib'), 'GiB')} | {_cell(str(machine.get('platform', '—')))} | "
        f"{machine.get('python', '—')} | {_fmt(machine.get('load_average_1m'))} |",
        "",
        "The machine may be shared: each script's JSON (kept in bench/.results/) says how busy it was.",
        "",
        "## Figures",
        "",
        f"{len(all_figures)} figures from {sum(1 for r in runs if r.result is not None)} of {len(runs)} scripts; "
        f"{len(with_target)} have a target: {len(met)} met, {len(with_target) - len(met)} not met.",
        "",
        "| script | figure | target | measured | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in all_figures:
        target = "—" if f.target is None else f"{f.op} {_with_unit(f.target, f.unit)}"
        verdict = "—" if f.met is None else ("yes" if f.met else "**no**")
        lines.append(f"| `{f.script}` | {_cell(f.name)} | {target} | {_with_unit(f.value, f.unit)} | {verdict} |")
    lines += ["", "## Scripts", "",
              "How busy the machine was: the load average when each script started, and the CPU other processes "
              "used while it measured (% of one core; the highest of its runs).", "",
              "| script | exit code | seconds | load average | others' CPU | result |",
              "| --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        if run.problem:
            status = f"**failed**: {_cell(run.problem)}"
        elif run.exit_code not in (0, None):
            status = f"ran (exit code {run.exit_code}: a target not met or an error it reported)"
        else:
            status = "ran"
        load = _number(_dig(run.result, "machine", "load_average_1m")) if run.result else None
        others = _others_cpu(run.result) if run.result else None
        lines.append(f"| `{run.script}` | {_fmt(run.exit_code)} | {_fmt(run.seconds)} | {_fmt(load)} | "
                     f"{_with_unit(others, '%')} | {status} |")
    failed = [r for r in runs if r.problem]
    noted = [(r, n) for r in runs for n in r.notes]
    lines += ["", "## Did not run, or ran without figures", ""]
    if not failed and not noted:
        lines.append("None: every script ran and reported its figures.")
    lines += [f"- `{r.script}`: {r.problem}" for r in failed]
    lines += [f"- `{r.script}`: {note}" for r, note in noted]
    return "\n".join(lines) + "\n"


def write_report(results: Path, output: Path) -> list[ScriptRun]:
    session, runs = load_results(results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(session, runs), encoding="utf-8")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every benchmark, then write the report")
    run.add_argument("--quick", action="store_true", help="pass --quick to every script (small sizes)")
    run.add_argument("--only", nargs="+", default=(), metavar="NAME", help="only these scripts (e.g. server_pop)")
    run.add_argument("--timeout", type=float, help="seconds per script (default 900 with --quick, else 10800)")
    run.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    again = sub.add_parser("render", help="write the report from an earlier run's results directory")
    again.add_argument("results", type=Path)
    again.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.command == "run":
        results = run_all(quick=args.quick, only=args.only, timeout_s=args.timeout,
                          log=lambda m: print(m, file=sys.stderr, flush=True))
    else:
        results = args.results
        if not results.is_dir():
            raise SystemExit(f"{results} is not a results directory (bench/.results/<time>/)")
    runs = write_report(results, args.output)
    failed = [r.script for r in runs if r.problem]
    print(f"wrote {args.output} from {results}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; the running benchmark was stopped", file=sys.stderr)
        sys.exit(130)
