"""Benchmark the analytics feeds: `callcue-server import customers` as an operator runs it, on both backends.

    .venv/bin/python bench/feed_import.py [--quick] [--json] [--backend sqlite|postgresql|both]
        [--rows N] [--rss-rows N] [--big-customers N] [--pop-rate R] [--pop-duration S] [--pg-url URL]

A generated carrier export (the shipped `generic` mapping: Chinese headers, two phone-number columns, 20
columns; deterministic) is imported by the real CLI in a child process, into a freshly migrated database:
  rate        customer rows/s of a first import of --rows rows (default 1,000,000), then of the same file
              again (must change nothing), and the import process's peak RSS; PostgreSQL also: the
              database alone (the imported rows dumped, then COPYed from files into a fresh database):
              what no client can beat on this machine
  rss         peak RSS of importing a --rss-rows file (default 5,000,000; PostgreSQL when available, else
              SQLite): memory must not grow with the file
  during      GET /v1/pop p99 at --pop-rate/s (default 200) by caller number, before and while a delta
              feed (every row re-sent, a tenth with a new plan) is applied: pops must be served meanwhile
  big         (PostgreSQL; with --big-customers N, e.g. 10,000,000) a database built from feeds alone
              (customers file + example catalog), VACUUM ANALYZE, then pop p99 at 200/s on it
Targets: >= 100,000 rows/s into PostgreSQL, >= 50,000 rows/s into SQLite, peak RSS <= 300 MB for a
5,000,000-row file, the 10,000,000-customer build <= 15 min and its pop p99 <= 15 ms at 200/s.
"""

from __future__ import annotations

import csv
import os
import random
import re
import subprocess
import sys
import time
import urllib.parse
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import (
    REPO_ROOT,
    base_parser,
    emit,
    figure,
    format_table,
    latency_summary,
    log,
    machine_info,
    run_main,
    run_open_loop,
)
from _server import (
    SKIPPED_NO_PG,
    Database,
    HttpClient,
    fresh_pg_database,
    issue_tokens,
    postgres_server,
    running_server,
    work_dir,
)

TARGET_PG_ROWS_S, TARGET_SQLITE_ROWS_S = 100_000, 50_000
TARGET_RSS_MB, TARGET_BIG_BUILD_S, TARGET_POP_P99_MS = 300, 15 * 60, 15.0
CLI = [sys.executable, "-m", "server_stub.cli"]
MAPPING = "generic"
EXAMPLE_CATALOG = REPO_ROOT / "resources" / "feeds" / "catalog.example.toml"

HEADER = ["客户编号", "姓名", "手机号码", "副号码", "性别", "出生年份", "城市", "套餐编码", "套餐名称", "月租(元)",
          "累计消费(元)", "在网时长(月)", "合约类型", "缴费方式", "信用分", "积分", "流失风险", "客户标签", "偏好渠道",
          "近3月账单查询次数"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
CITIES = ("北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "苏州", "郑州", "长沙")
PLANS = (("4G_39", "4G畅享套餐39元", "39"), ("4G_59", "4G畅享套餐59元", "59"), ("5G_99", "5G畅享套餐99元", "99"),
         ("5G_129", "5G畅享套餐129元", "129"), ("5G_169", "5G畅享套餐169元", "169"), ("BIZ_299", "商务尊享套餐299元", "299"))
CONTRACTS = ("无合约", "一年合约", "两年合约")
PAYMENTS = ("银行代扣", "支付宝代扣", "微信", "支付宝", "银行转账", "营业厅现金")
TAGS = ("", "", "young", "family", "business;heavy_data", "senior", "student", "roamer")
CHANNELS = ("电话", "短信", "App", "")


def msisdn(index: int) -> str:
    """A unique 11-digit mobile number per index (an affine bijection of 0..10**8-1, no lookup set)."""
    return "139" + f"{(index * 48_271 + 12_345) % 10**8:08d}"


def write_customers(path: Path, rows: int, *, seed: int = 7, changed_plan_share: float = 0.0) -> None:
    """`rows` customers in the generic export format; with changed_plan_share, that share of the rows
    (drawn with the same seed) carries another plan: the delta an operator's nightly feed would send."""
    rng = random.Random(seed)
    change = random.Random(seed + 1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for i in range(rows):
            plan = PLANS[rng.randrange(len(PLANS))]
            if changed_plan_share and change.random() < changed_plan_share:
                plan = PLANS[(PLANS.index(plan) + 1) % len(PLANS)]
            tenure = rng.randrange(1, 120)
            out.writerow((
                f"F{i:09d}", SURNAMES[i % 20] + GIVEN[(i // 20) % len(GIVEN)] + GIVEN[(i // 480) % len(GIVEN)], msisdn(i),
                msisdn(i + 50_000_000) if i % 10 == 0 else "", "男" if i % 2 else "女", 1950 + i % 55,
                CITIES[i % len(CITIES)], plan[0], plan[1], plan[2], f"{int(plan[2]) * tenure}.00", tenure,
                CONTRACTS[i % 3], PAYMENTS[i % len(PAYMENTS)], 550 + i % 300, i % 5000,
                f"0.{rng.randrange(100):02d}", TAGS[i % len(TAGS)], CHANNELS[i % 4], i % 4,
            ))


def run_cli(*args: str, database_url: str) -> tuple[int, str, float, float]:
    """(exit code, output, seconds, peak RSS MiB) of one `callcue-server` command in a child process."""
    started = time.perf_counter()
    process = subprocess.Popen([*CLI, *args, "--database-url", database_url], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env={**os.environ, "TERM": "dumb"})
    output = process.stdout.read()
    process.stdout.close()
    # Reaped here, not by Popen.wait: wait4 hands back this child's own resource use (its peak RSS).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, output, time.perf_counter() - started, round(usage.ru_maxrss / 1024, 1)


def import_customers(path: Path, url: str, *extra: str) -> dict[str, Any]:
    code, output, seconds, rss = run_cli("import", "customers", str(path), "--mapping", MAPPING, *extra,
                                         database_url=url)
    if code not in (0, 1):
        raise RuntimeError(f"import failed ({code}): {output[-2000:]}")
    lines = sum(1 for _ in path.open("rb")) - 1
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    # The CLI's own figure leaves out the process start (imports of SQLAlchemy and the server: ~1 s).
    reported = re.search(r"([\d,]+) rows/s\)", summary)
    return {"rows": lines, "seconds": round(seconds, 2), "rows_per_s": round(lines / seconds),
            "feed_rows_per_s": int(reported.group(1).replace(",", "")) if reported else None,
            "peak_rss_mib": rss, "summary": summary}


def migrate(url: str) -> None:
    code, output, _, _ = run_cli("db", "upgrade", database_url=url)
    if code != 0:
        raise RuntimeError(f"db upgrade failed: {output}")


@contextmanager
def database(backend: str, env: dict[str, Any], name: str):
    if backend == "sqlite":
        path = env["workdir"] / f"{name}.sqlite3"
        yield Database("sqlite", f"sqlite:///{path}")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    with fresh_pg_database(env["pg"].url) as url:
        yield Database("postgresql", url, {}, env["pg"].postmaster_pid)


def pops(port: int, tokens, numbers: list[str], rate: float, duration: float) -> dict[str, Any]:
    client = HttpClient(port)
    rng = random.Random(3)
    headers = [{"Authorization": f"Bearer {t}"} for _, t in tokens]
    planned = [(f"/v1/pop?{urllib.parse.urlencode({'ani': rng.choice(numbers)})}", rng.choice(headers))
               for _ in range(round(rate * duration) + 1)]

    def send(i: int) -> str:
        path, header = planned[i]
        status, _ = client.request("GET", path, header)
        return str(status) if status == 200 else f"error: HTTP {status}"

    try:
        run = run_open_loop(send, rate=rate, duration=duration, clients=8)
    finally:
        client.close()
    ok = [s for s in run.samples if not s.outcome.startswith("error")]
    return {"sent": run.sent, "ok": len(ok), "errors": run.sent - len(ok),
            "latency": latency_summary(s.latency for s in ok)}


def bench_backend(backend: str, args, env) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend}
    files = env["files"]
    with database(backend, env, "rate") as db:
        migrate(db.url)
        log(f"{backend}: first import of {args.rows:,} rows …")
        result["first"] = import_customers(files["rate"], db.url)
        log(f"  {result['first']['rows_per_s']:,} rows/s, peak RSS {result['first']['peak_rss_mib']} MiB")
        if backend == "postgresql":
            result["database_alone"] = database_alone(db.url, env)
            log(f"  PostgreSQL alone (COPY of the converted rows, no client work): "
                f"{result['database_alone']['rows_per_s']:,} customer rows/s")
        result["again"] = import_customers(files["rate"], db.url)
        log(f"  same file again: {result['again']['rows_per_s']:,} rows/s — {result['again']['summary']}")
        tokens = issue_tokens(db.url, 4)
        numbers = [msisdn(i) for i in random.Random(5).sample(range(args.rows), min(args.rows, 5000))]
        with running_server(db, 1, env["workdir"] / f"logs-{backend}") as server:
            pops(server.port, tokens, numbers, args.pop_rate, 2.0)  # warm-up: first reads of each page
            log(f"  pops at {args.pop_rate:g}/s for {args.pop_duration:g} s, no import running …")
            result["pops_quiet"] = pops(server.port, tokens, numbers, args.pop_rate, args.pop_duration)
            log(f"  p99 {result['pops_quiet']['latency']['p99_ms']} ms; now while a delta feed is applied …")
            importer = subprocess.Popen(
                [*CLI, "import", "customers", str(files["delta"]), "--mapping", MAPPING, "--database-url",
                 db.url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                during = pops(server.port, tokens, numbers, args.pop_rate, args.pop_duration)
            finally:
                output, _ = importer.communicate()
            during["import_exit"] = importer.returncode
            during["import_summary"] = output.strip().splitlines()[-1] if output.strip() else ""
            result["pops_during_import"] = during
            log(f"  p99 during the import {during['latency']['p99_ms']} ms, errors {during['errors']}; "
                f"import: {during['import_summary']}")
    return result


def database_alone(url: str, env) -> dict[str, Any]:
    """The ceiling of any client: the imported customers and their numbers, dumped with COPY TO, loaded into
    a fresh migrated database with COPY FROM (this process only sends the bytes; PostgreSQL parses, writes
    the tables and their indexes, checks the numbers' foreign key). Seconds and customer rows/s."""
    import psycopg

    def plain(database_url: str) -> str:
        return database_url.replace("postgresql+psycopg://", "postgresql://")

    tables = {"customers": "customers", "customer_numbers": "customer_numbers (msisdn, customer_id, is_primary)"}
    dumps = {name: env["workdir"] / f"{name}.copy" for name in tables}
    with psycopg.connect(plain(url)) as conn, conn.cursor() as cursor:
        customers = cursor.execute("SELECT count(*) FROM customers").fetchone()[0]
        for name, path in dumps.items():
            source = name if name == "customers" else "(SELECT msisdn, customer_id, is_primary FROM customer_numbers)"
            with path.open("wb") as out, cursor.copy(f"COPY {source} TO STDOUT") as copy:
                for data in copy:
                    out.write(data)
    try:
        with database("postgresql", env, "alone") as db:
            migrate(db.url)
            with psycopg.connect(plain(db.url)) as conn, conn.cursor() as cursor:
                started = time.perf_counter()
                for name, target in tables.items():
                    with dumps[name].open("rb") as source, cursor.copy(f"COPY {target} FROM STDIN") as copy:
                        while data := source.read(1 << 20):
                            copy.write(data)
                conn.commit()
                seconds = time.perf_counter() - started
    finally:
        for path in dumps.values():
            path.unlink(missing_ok=True)
    return {"customers": customers, "seconds": round(seconds, 2), "rows_per_s": round(customers / seconds)}


def bench_rss(backend: str, args, env) -> dict[str, Any]:
    with database(backend, env, "rss") as db:
        migrate(db.url)
        log(f"{backend}: importing {args.rss_rows:,} rows to watch memory …")
        outcome = import_customers(env["files"]["rss"], db.url)
        log(f"  peak RSS {outcome['peak_rss_mib']} MiB at {outcome['rows_per_s']:,} rows/s")
        return {"backend": backend, **outcome}


def bench_big(args, env) -> dict[str, Any]:
    with database("postgresql", env, "big") as db:
        started = time.perf_counter()
        migrate(db.url)
        steps = {"customers": import_customers(env["files"]["big"], db.url)}
        code, _output, seconds, _ = run_cli("import", "catalog", str(EXAMPLE_CATALOG), database_url=db.url)
        steps["catalog"] = {"exit": code, "seconds": round(seconds, 2)}
        from sqlalchemy import create_engine

        engine = create_engine(db.url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
        engine.dispose()
        build = time.perf_counter() - started
        log(f"  built from feeds in {build:.0f} s; pops at 200/s …")
        tokens = issue_tokens(db.url, 4)
        numbers = [msisdn(i) for i in random.Random(9).sample(range(args.big_customers), 20_000)]
        with running_server(db, 2, env["workdir"] / "logs-big") as server:
            pops(server.port, tokens, numbers, 200, 5)
            measured = pops(server.port, tokens, numbers, 200, args.pop_duration)
        return {"customers": args.big_customers, "build_seconds": round(build), "steps": steps, "pops": measured}


def main() -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--rss-rows", type=int)
    parser.add_argument("--big-customers", type=int, default=0, help="e.g. 10000000 (PostgreSQL; slow)")
    parser.add_argument("--pop-rate", type=float, default=200.0)
    parser.add_argument("--pop-duration", type=float)
    parser.add_argument("--pg-url", default=os.environ.get("CALLCUE_BENCH_PG_URL"))
    args = parser.parse_args()
    args.rows = args.rows or (50_000 if args.quick else 1_000_000)
    args.rss_rows = args.rss_rows or (200_000 if args.quick else 5_000_000)
    args.pop_duration = args.pop_duration or (5.0 if args.quick else 20.0)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]

    with ExitStack() as stack:
        workdir = work_dir(stack)
        env: dict[str, Any] = {"workdir": workdir, "files": {}}
        pg = postgres_server(args, stack, workdir) if "postgresql" in backends else None
        env["pg"] = pg
        if pg is None and "postgresql" in backends:
            log(f"PostgreSQL: {SKIPPED_NO_PG}")
            backends.remove("postgresql")
        log(f"writing feed files ({args.rows:,} / {args.rss_rows:,} rows) …")
        started = time.perf_counter()
        for name, rows, share in (("rate", args.rows, 0.0), ("delta", args.rows, 0.1), ("rss", args.rss_rows, 0.0)):
            env["files"][name] = workdir / f"{name}.csv"
            write_customers(env["files"][name], rows, changed_plan_share=share)
        if args.big_customers and pg is not None:
            env["files"]["big"] = workdir / "big.csv"
            write_customers(env["files"]["big"], args.big_customers)
        log(f"  written in {time.perf_counter() - started:.0f} s")
        runs = [bench_backend(backend, args, env) for backend in backends]
        rss = bench_rss("postgresql" if "postgresql" in backends else "sqlite", args, env)
        big = bench_big(args, env) if args.big_customers and pg is not None else None

    figures = []
    for run in runs:
        target = TARGET_PG_ROWS_S if run["backend"] == "postgresql" else TARGET_SQLITE_ROWS_S
        figures.append(figure(f"{run['backend']}: customer rows/s, first import of {args.rows:,} (whole command)",
                              run["first"]["rows_per_s"], "rows/s", target, ">="))
        figures.append(figure(f"{run['backend']}: customer rows/s, first import (the feed itself, as it reports)",
                              run["first"]["feed_rows_per_s"], "rows/s"))
        if "database_alone" in run:
            figures.append(figure("postgresql: the database alone, COPY of the converted rows from files (the "
                                  "ceiling of any client), customer rows/s", run["database_alone"]["rows_per_s"],
                                  "rows/s"))
        figures.append(figure(f"{run['backend']}: same file again (nothing changes), rows/s",
                              run["again"]["rows_per_s"], "rows/s"))
        figures.append(figure(f"{run['backend']}: pop p99 at {args.pop_rate:g}/s, no import",
                              run["pops_quiet"]["latency"]["p99_ms"], "ms"))
        figures.append(figure(f"{run['backend']}: pop p99 at {args.pop_rate:g}/s while a delta feed is applied",
                              run["pops_during_import"]["latency"]["p99_ms"], "ms"))
    figures.append(figure(f"{rss['backend']}: import peak RSS, {args.rss_rows:,}-row file", rss["peak_rss_mib"],
                          "MiB", TARGET_RSS_MB, "<="))
    if big:
        figures.append(figure(f"PostgreSQL: {big['customers']:,}-customer database built from feeds",
                              big["build_seconds"], "s", TARGET_BIG_BUILD_S, "<="))
        figures.append(figure("PostgreSQL: pop p99 at 200/s on it", big["pops"]["latency"]["p99_ms"], "ms",
                              TARGET_POP_P99_MS, "<="))
    result = {"benchmark": "feed_import", "machine": machine_info(),
              "config": {"rows": args.rows, "rss_rows": args.rss_rows, "mapping": MAPPING,
                         "pop_rate": args.pop_rate, "pop_duration_s": args.pop_duration},
              "runs": runs, "rss": rss, "big": big, "figures": figures}
    emit(result, args.json, render)
    return 0


def render(result: dict[str, Any]) -> str:
    rows = [[f["name"], f["value"], f["unit"], f.get("target"), f.get("met")] for f in result["figures"]]
    m = result["machine"]
    return (f"feed import (mapping {result['config']['mapping']}), machine: {m['cores']} cores, "
            f"{m['cpu_model']}\n" + format_table(["figure", "value", "unit", "target", "met"], rows))


if __name__ == "__main__":
    sys.exit(run_main(main))
