"""Benchmark audiences by condition: `audience preview` and `audience apply` on a seeded database.

    .venv/bin/python bench/audience_preview.py [--quick] [--json] [--backend sqlite|postgresql|both]
        [--customers N] [--seed S] [--repeat N] [--pg-url URL]

A seeded database (1,000,000 customers by default, --quick 20,000; SQLite cached under bench/.cache/ and
copied per run, PostgreSQL a throwaway cluster via scripts/pg_cluster.sh or --pg-url, as the other server
benchmarks), then for each audience below:
  preview     the service call (server_stub.services.audience.preview) --repeat times (default 5): median
              and worst wall time, and the CPU it used (this process's threads; PostgreSQL's processes)
  cli         `callcue-server audience preview … --json` once in a child process: what the analyst waits
              for, interpreter start-up and imports included
Then `audience apply` of the walk-through audience (month-to-month, tenure under 12 months) into campaign
CMP_5G_UPGRADE wave 2, and the same apply again (must change nothing).
Target: a preview in <= 2 s on 1,000,000 customers, on both backends. The machine's other load is reported
(load average, other processes' CPU during the previews): the 2 cores may be shared.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import REPO_ROOT, CpuMeter, base_parser, emit, figure, format_table, log, machine_info, run_main
from _server import BACKENDS, PG_URL_ENV, BenchEnvironment, require_loopback

TARGET_S = 2.0
CAMPAIGN, WAVE = "CMP_5G_UPGRADE", 2
WALK_THROUGH = ("contract == month_to_month", "tenure_months < 12")
AUDIENCES = {
    "walk-through (month-to-month, tenure < 12)": WALK_THROUGH,
    "half (month-to-month)": ("contract == month_to_month",),
    "everyone (no condition)": (),
    "complaint facts (no complaint in 90 days, gold or diamond)": (
        "complaints_90d == 0", 'value_tier in ["gold", "diamond"]'),
    "segments and fee (young, fee >= 59 yuan)": ("segments contains young", "monthly_fee >= 59"),
    "holdings (accepted the 5G 169 upgrade)": ("holds contains PLAN_UP_5G_169",),
}


def load_average() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def time_previews(url: str, repeat: int, postmaster_pid: int | None) -> list[dict[str, Any]]:
    from server_stub.api.app import default_rules_path
    from server_stub.db.engine import make_engine
    from server_stub.domain.rules import load_rules
    from server_stub.services.audience import parse_condition, preview

    rules = load_rules(default_rules_path())
    engine = make_engine(url)
    rows = []
    try:
        for name, texts in AUDIENCES.items():
            conditions = [parse_condition(t, i) for i, t in enumerate(texts, start=1)]
            walls, cpus, result = [], [], None
            meter = CpuMeter({"postgresql": postmaster_pid} if postmaster_pid else {})
            loads = [load_average()]
            meter.start()
            for _ in range(repeat):
                cpu = time.process_time()
                started = time.perf_counter()
                result = preview(engine, rules, CAMPAIGN, WAVE, conditions)
                walls.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu)
            use = meter.stop()
            loads.append(load_average())
            assert result is not None
            median = statistics.median(walls)
            rows.append({
                "audience": name, "conditions": list(texts), "count": result.count,
                "already_members": result.already_members, "runs": repeat,
                "median_s": round(median, 3), "worst_s": round(max(walls), 3), "best_s": round(min(walls), 3),
                "process_cpu_s_median": round(statistics.median(cpus), 3),
                "postgresql_cpu_pct": use.get("postgresql_pct"), "other_processes_cpu_pct": use.get("other processes_pct"),
                "load_average_1m": loads, "meets_target": median <= TARGET_S,
            })
            log(f"  {name}: {result.count:,} customers, median {median:.2f} s (worst {max(walls):.2f} s; this "
                f"process {statistics.median(cpus):.2f} CPU-s; others {use.get('other processes_pct')} % CPU; "
                f"load {loads})")
    finally:
        engine.dispose()
    return rows


def cli(url: str, command: str, texts: tuple[str, ...], *extra: str) -> tuple[float, dict[str, Any]]:
    where = [arg for text in texts for arg in ("--where", text)]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "server_stub.cli", "audience", command, "--database-url", url, "--campaign", CAMPAIGN,
         "--wave", str(WAVE), *where, "--json", *extra],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"audience {command} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, json.loads(done.stdout)


def bench_backend(args, database) -> dict[str, Any]:
    log(f"{database.backend}: previews ({args.repeat} each) …")
    previews = time_previews(database.url, args.repeat, database.postmaster_pid)
    cli_runs = []
    for name in (next(iter(AUDIENCES)), "everyone (no condition)"):
        elapsed, result = cli(database.url, "preview", AUDIENCES[name])
        cli_runs.append({"audience": name, "wall_s": round(elapsed, 3), "count": result["count"],
                         "service_s": result["elapsed_s"], "load_average_1m": load_average()})
        log(f"  CLI preview, {name}: {elapsed:.2f} s end to end (the preview itself {result['elapsed_s']:.2f} s)")
    log(f"{database.backend}: apply …")
    apply_s, applied = cli(database.url, "apply", WALK_THROUGH, "--priority", "1", "--reason", "benchmark")
    again_s, again = cli(database.url, "apply", WALK_THROUGH, "--priority", "1", "--reason", "benchmark")
    if again["changed"] or again["added"]:
        raise RuntimeError(f"re-applying changed something: {again}")
    log(f"  apply: {applied['added']:,} added, {applied['already_members']:,} already members in "
        f"{applied['elapsed_s']:.2f} s ({apply_s:.2f} s end to end); again: nothing changed in "
        f"{again['elapsed_s']:.2f} s")
    return {
        "backend": database.backend, "database": database.info, "previews": previews, "cli": cli_runs,
        "apply": {"matched": applied["matched"], "added": applied["added"],
                  "already_members": applied["already_members"], "service_s": applied["elapsed_s"],
                  "cli_s": round(apply_s, 3)},
        "apply_again": {"changed": again["changed"], "service_s": again["elapsed_s"], "cli_s": round(again_s, 3)},
    }


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    customers = result["config"]["customers"]
    for run in result["runs"]:
        backend = run["backend"]
        for p in run["previews"]:
            out.append(figure(f"audience preview on {customers:,} customers, {backend}: {p['audience']} "
                              f"({p['count']:,} match), median", p["median_s"], "s", TARGET_S, "<="))
        for c in run["cli"]:
            out.append(figure(f"callcue-server audience preview, {backend}, end to end: {c['audience']}",
                              c["wall_s"], "s", TARGET_S, "<="))
        out.append(figure(f"audience apply, {backend}: {run['apply']['added']:,} members added",
                          run["apply"]["service_s"], "s"))
        out.append(figure(f"audience apply again, {backend}: nothing changed", run["apply_again"]["service_s"], "s"))
    return out


def render(result: dict[str, Any]) -> str:
    m, c = result["machine"], result["config"]
    lines = [f"audience preview / apply on {c['customers']:,} seeded customers; target: a preview <= {TARGET_S:g} s",
             f"machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_gib']} GiB, Python {m['python']}; "
             f"load average at start {m['load_average_1m']}", ""]
    rows = []
    for run in result["runs"]:
        for p in run["previews"]:
            rows.append([run["backend"], p["audience"], p["count"], p["median_s"], p["worst_s"],
                         p["process_cpu_s_median"], p["postgresql_cpu_pct"], p["other_processes_cpu_pct"],
                         "/".join(str(x) for x in p["load_average_1m"]), "yes" if p["meets_target"] else "NO"])
    lines.append(format_table(["backend", "audience", "customers", "median s", "worst s", "our CPU s", "PG CPU%",
                               "others CPU%", "load 1m", "<= 2 s"], rows))
    lines.append("")
    lines.append(format_table(["backend", "CLI preview (end to end)", "wall s", "service s"],
                              [[r["backend"], c["audience"], c["wall_s"], c["service_s"]]
                               for r in result["runs"] for c in r["cli"]]))
    lines.append("")
    for run in result["runs"]:
        a, again = run["apply"], run["apply_again"]
        lines.append(f"{run['backend']}: apply added {a['added']:,} of {a['matched']:,} ({a['already_members']:,} "
                     f"already members) in {a['service_s']} s ({a['cli_s']} s end to end); applied again: "
                     f"changed={again['changed']} in {again['service_s']} s")
    for backend, info in result["databases"].items():
        if isinstance(info, str):
            lines.append(f"{backend}: {info}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get(PG_URL_ENV),
                        help=f"a PostgreSQL server on loopback (default ${PG_URL_ENV}, else a throwaway cluster)")
    parser.add_argument("--customers", type=int, help="seeded customers (default 1,000,000; --quick 20,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, help="previews per audience (default 5; --quick 3)")
    args = parser.parse_args(argv)
    args.customers = args.customers or (20_000 if args.quick else 1_000_000)
    args.repeat = args.repeat or (3 if args.quick else 5)
    if args.customers < 1000 or args.repeat < 1:
        raise SystemExit("--customers must be at least 1000 and --repeat at least 1")
    if args.pg_url:
        require_loopback(args.pg_url)
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    result: dict[str, Any] = {
        "benchmark": "audience_preview", "machine": machine_info(),
        "config": {"customers": args.customers, "seed": args.seed, "repeat": args.repeat, "quick": args.quick,
                   "campaign": CAMPAIGN, "wave": WAVE, "audiences": {k: list(v) for k, v in AUDIENCES.items()}},
        "databases": {}, "runs": [],
    }
    with BenchEnvironment(args) as env:
        for backend in backends:
            with env.database(backend) as database:
                if isinstance(database, str):
                    result["databases"][backend] = database
                    continue
                result["databases"][backend] = database.info
                result["runs"].append(bench_backend(args, database))
    result["figures"] = figures(result)
    emit(result, args.json, render)
    return 0 if all(f["met"] is not False for f in result["figures"]) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
