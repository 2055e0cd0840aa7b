"""bench/report.py (`make bench`): finds the scripts, runs them, and writes docs/benchmarks.md from their
JSON: every figure with its target and verdict, the machine, the date, and the scripts that failed."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

MACHINE = {"cores": 2, "cpu_model": "AMD EPYC 7B13", "memory_gib": 23.5, "python": "3.11.7",
           "platform": "Linux-6.1-x86_64-with-glibc2.36", "load_average_1m": 0.4}


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("bench_report", REPO_ROOT / "bench" / "report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def write_run(results: Path, name: str, *, result: dict | None = None, stdout: str = "", stderr: str = "",
              exit_code: int | None = 0, seconds: float = 12.5, **meta) -> None:
    out = stdout + ("progress line\n" + json.dumps(result) + "\n" if result is not None else "")
    (results / f"{name}.out").write_text(out, encoding="utf-8")
    (results / f"{name}.err").write_text(stderr, encoding="utf-8")
    (results / f"{name}.run.json").write_text(json.dumps({"script": f"{name}.py", "exit_code": exit_code,
                                                          "seconds": seconds, **meta}), encoding="utf-8")


SERVER_POP = {"benchmark": "server_pop", "machine": MACHINE,
              "config": {"customers": 1000000, "rate": 200.0, "duration_s": 4.0},
              "databases": {"sqlite": {"cache": "hit", "seed_seconds": 73.2, "seeded_on": "2026-11-20",
                                       "rows": {"customers": 1000000}},
                            "postgresql": "skipped: no PostgreSQL server"},
              "runs": [{"backend": "sqlite", "workers": 1, "errors": 0, "target_p99_ms": 15.0,
                        "latency": {"p50_ms": 5.4, "p99_ms": 28.7}, "capacity": {"rps": 237.0}}]}
SERVER_INGEST = {"benchmark": "server_ingest", "machine": MACHINE, "config": {"rate": 2000.0},
                 "runs": [{"backend": "sqlite", "workers": 1, "batch": 100, "target_outcomes_per_s": 2000.0,
                           "capacity_outcomes_per_s": 2394.0,
                           "passes": [{"pass": "new", "outcomes_per_s": 2002.0, "as_expected": True,
                                       "latency": {"p99_ms": 40.1}, "cpu": {"other processes_pct": 12.0}},
                                      {"pass": "duplicates", "as_expected": True},
                                      {"pass": "capacity", "as_expected": True,
                                       "cpu": {"other processes_pct": 37.5}}]}]}
POP_LATENCY = {"benchmark": "pop_latency", "machine": MACHINE, "figures": [
    {"figure": "call event → live data painted, median", "key": "first_pop_p50_ms", "target": 25.0, "unit": "ms",
     "measured": 54.0, "meets_target": False},
    {"figure": "cold start to ready, median of 3", "key": "cold_start_median_s", "target": 1.5, "unit": "s",
     "measured": 1.02, "meets_target": True},
    {"figure": "10,000 queued outcomes drained", "key": "outbox_drain_s", "target": 5.0, "unit": "s",
     "measured": None, "meets_target": False}]}
NEW_STYLE = {"benchmark": "installer", "machine": MACHINE, "figures": [
    {"name": "bundle size (.txz)", "value": 37.2, "unit": "MB", "target": 60, "op": "<=", "met": True},
    {"name": "installs per minute", "value": 3, "unit": "", "target": 4, "op": ">="},
    {"name": "files in the bundle", "value": 1234, "unit": "", "target": None, "op": "<=", "met": None}]}
TARGETS_ONLY = {"benchmark": "stats_query", "machine": MACHINE, "targets": {"open_ms": 500, "refresh_ms": 200},
                "open_ms": 310.5, "ranges": {}}


def test_discovery_takes_every_script_but_helpers_and_the_report(report, tmp_path):
    for name in ("server_pop.py", "stats_query.py", "_common.py", "_server.py", "report.py", "notes.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in report.discover(tmp_path)] == ["server_pop.py", "stats_query.py"]
    real = {p.name for p in report.discover()}
    assert {"pop_latency.py", "server_pop.py", "server_ingest.py", "bridge_pop.py", "bridge_burst.py"} <= real
    assert "report.py" not in real and not any(name.startswith("_") for name in real)


def test_the_report_lists_every_figure_with_target_verdict_machine_and_failures(report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    scripts = ["server_pop", "server_ingest", "pop_latency", "installer", "stats_query", "bridge_burst",
               "bridge_pop", "broken"]
    (results / "session.json").write_text(json.dumps({"quick": True, "machine": MACHINE, "commit": "abc1234",
                                                      "started_at": "2026-11-23T05:40:00+00:00",
                                                      "scripts": [f"{s}.py" for s in scripts]}))
    write_run(results, "server_pop", result=SERVER_POP)
    write_run(results, "server_ingest", result=SERVER_INGEST)
    write_run(results, "pop_latency", result=POP_LATENCY, exit_code=1)  # missed targets: still ran
    write_run(results, "installer", result=NEW_STYLE)
    write_run(results, "stats_query", result=TARGETS_ONLY)
    write_run(results, "bridge_burst", stdout='{"benchmark": "bridge_burst", "half', exit_code=-15,
              timed_out_after_s=900)
    write_run(results, "bridge_pop", stderr="Traceback …\nRuntimeError: the server did not start\n", exit_code=1)
    write_run(results, "broken", result={"benchmark": "broken", "machine": MACHINE, "something": 1})

    session, runs = report.load_results(results)
    text = report.render(session, runs, generated_at=dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC))
    rows = [line for line in text.splitlines() if line.startswith("| `")]

    def row(script: str, fragment: str) -> str:
        found = [r for r in rows if r.startswith(f"| `{script}.py` | ") and fragment in r]
        assert len(found) == 1, (script, fragment, rows)
        return found[0]

    assert "on 2026-11-23 05:40 UTC" in text and "abc1234" in text and "quick run" in text
    assert "| AMD EPYC 7B13 | 2 | 23.5 GiB | Linux-6.1-x86_64-with-glibc2.36 | 3.11.7 | 0.4 |" in text
    assert row("server_pop", "seed").endswith(
        "| seed 1,000,000 customers (sqlite, cached copy seeded on 2026-11-20) | <= 180 s | 73.2 s | yes |")
    assert row("server_pop", "p99").endswith("| <= 15 ms | 28.7 ms | **no** |")
    assert row("server_pop", "p50").endswith("| — | 5.4 ms | — |")
    assert row("server_pop", "errors").endswith("| == 0 | 0 | yes |")
    assert row("server_ingest", "capacity (").endswith("| >= 2,000 outcomes/s | 2,394 outcomes/s | yes |")
    assert row("server_ingest", "not answered").endswith("| == 0 | 0 | yes |")
    assert row("pop_latency", "live data painted, median").endswith("| <= 25 ms | 54 ms | **no** |")
    assert row("pop_latency", "cold start").endswith("| <= 1.5 s | 1.02 s | yes |")
    assert row("pop_latency", "drained").endswith("| <= 5 s | — | **no** |")
    assert row("installer", "bundle size").endswith("| <= 60 MB | 37.2 MB | yes |")
    assert row("installer", "installs per minute").endswith("| >= 4 | 3 | **no** |")  # met computed from op
    assert row("installer", "files in the bundle").endswith("| — | 1,234 | — |")
    assert row("stats_query", "open_ms").endswith("| <= 500 ms | 310.5 ms | yes |")
    # Every figure with a target is counted.
    assert "16 figures from 6 of 8 scripts; 11 have a target: 7 met, 4 not met." in text
    failures = text.split("## Did not run, or ran without figures", 1)[1]
    assert "`bridge_burst.py`: stopped after 900 s (time limit)" in failures
    assert "`bridge_pop.py`: exit code 1; no JSON object on the last line" in failures
    assert "RuntimeError: the server did not start" in failures
    assert "`stats_query.py`: target `refresh_ms` (200): no top-level value" in failures
    assert "`broken.py`: ran, but its JSON has no figures" in failures
    assert row("pop_latency", "| 1 |").endswith("ran (exit code 1: a target not met or an error it reported) |")
    assert row("server_ingest", "| 12.5 |") == "| `server_ingest.py` | 0 | 12.5 | 0.4 | 37.5 % | ran |"
    assert row("installer", "| 12.5 |") == "| `installer.py` | 0 | 12.5 | 0.4 | — | ran |"


def test_a_clean_run_says_nothing_failed(report):
    runs = [report.ScriptRun("installer.py", 0, 3.0, NEW_STYLE)]
    text = report.render({"machine": MACHINE}, runs)
    assert "None: every script ran and reported its figures." in text and "full run" in text


def test_run_executes_each_script_with_json_and_quick_and_writes_the_report(report, tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "_helper.py").write_text("raise SystemExit('helpers are not benchmarks')\n")
    (bench / "fast.py").write_text(textwrap.dedent("""\
        import json, sys
        print("progress", file=sys.stderr)
        quick = "--quick" in sys.argv and "--json" in sys.argv
        print(json.dumps({"benchmark": "fast", "figures": [
            {"name": "quick flag seen", "value": int(quick), "unit": "", "target": 1, "op": "=="}]}))
        """))
    (bench / "crashes.py").write_text("import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)\n")
    results = report.run_all(quick=True, bench_dir=bench, results_root=tmp_path / "results", log=lambda _m: None)
    output = tmp_path / "docs" / "benchmarks.md"
    runs = report.write_report(results, output)
    assert [r.script for r in runs] == ["crashes.py", "fast.py"]
    text = output.read_text(encoding="utf-8")
    assert "| `fast.py` | quick flag seen | == 1 | 1 | yes |" in text
    assert "`crashes.py`: exit code 3; no JSON object on the last line of its output; stderr ends: oops" in text
    assert json.loads((results / "session.json").read_text())["machine"]["cores"] >= 1


def test_a_script_over_its_time_limit_is_stopped(report, tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "hangs.py").write_text("import threading\nthreading.Event().wait()\n")
    results = report.run_all(quick=True, bench_dir=bench, results_root=tmp_path / "results", timeout_s=1,
                             log=lambda _m: None)
    run = report.load_run(results, "hangs")
    assert run.problem == "stopped after 1 s (time limit)" and run.exit_code == -15


def test_unknown_script_names_are_refused(report, tmp_path):
    with pytest.raises(SystemExit, match="no benchmark named nope"):
        report.run_all(quick=True, only=["nope"], results_root=tmp_path, log=lambda _m: None)


def test_the_figure_helper_computes_the_verdict():
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    try:
        from _common import figure
    finally:
        sys.path.remove(str(REPO_ROOT / "bench"))
    assert figure("p99", 12.0, "ms", 15)["met"] is True
    assert figure("rate", 1900, "/s", 2000, ">=")["met"] is False
    assert figure("lost", 0, "", 0, "==")["met"] is True
    assert figure("capacity", 237.0, "req/s")["met"] is None
    assert figure("p99", None, "ms", 15)["met"] is False
    with pytest.raises(ValueError):
        figure("x", 1, "", 1, "~")
