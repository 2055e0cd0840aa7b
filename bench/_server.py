"""Helpers of the server benchmarks (server_pop.py, server_ingest.py): databases, server process, client.

- SQLite: a seeded database is cached under bench/.cache/, keyed by (customers, seed, schema head), and
  each run works on a copy, so the cache stays as seeded and the runs' writes never pile up.
- PostgreSQL: --pg-url, else $CALLCUE_BENCH_PG_URL, else a throwaway cluster (scripts/pg_cluster.sh, with
  PostgreSQL's default durability) when the binaries exist, else the backend is reported as skipped.
  Each run seeds a fresh database and drops it afterwards.
- The real server (`callcue-server serve`, server_stub.live) on 127.0.0.1, one process tree per run.
Everything started or created is stopped or removed on exit, also on Ctrl-C, TERM or a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ipaddress
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import CACHE_DIR, REPO_ROOT, CpuMeter, log

PG_URL_ENV = "CALLCUE_BENCH_PG_URL"
BACKENDS = ("sqlite", "postgresql")
SKIPPED_NO_PG = "skipped: no PostgreSQL"


# --------------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------------


def add_server_args(parser: argparse.ArgumentParser, *, rate_help: str) -> None:
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get(PG_URL_ENV),
                        help=f"a PostgreSQL server on loopback to create the benchmark database in (default: "
                             f"${PG_URL_ENV}, else a throwaway cluster if PostgreSQL is installed)")
    parser.add_argument("--customers", type=int, help="seeded customers (default 1,000,000; --quick 20,000)")
    parser.add_argument("--seed", type=int, default=42, help="data seed (default 42)")
    parser.add_argument("--duration", type=float, help="seconds of measured load (default 30; --quick 4)")
    parser.add_argument("--rate", type=float, help=rate_help)
    parser.add_argument("--pg-workers", default=None,
                        help="server worker processes to try on PostgreSQL, e.g. 1,2 (default 1,2; --quick 1)")
    parser.add_argument("--sqlite-workers", default=None,
                        help="server worker processes to try on SQLite, e.g. 1,2 (default 1,2; --quick 1)")
    parser.add_argument("--clients", type=int, default=16, help="load-generator threads (default 16)")


def resolve_common(args: argparse.Namespace) -> None:
    """Fill in the defaults that depend on --quick."""
    if args.customers is None:
        args.customers = 20_000 if args.quick else 1_000_000
    if args.duration is None:
        args.duration = 4.0 if args.quick else 30.0
    for option in ("pg_workers", "sqlite_workers"):
        flag = "--" + option.replace("_", "-")
        value = getattr(args, option, None)
        if value is None:
            value = "1" if args.quick else "1,2"
        try:
            counts = [int(w) for w in str(value).split(",") if w.strip()]
        except ValueError:
            raise SystemExit(f"{flag} takes a list like 1,2, not {value!r}") from None
        if not counts or min(counts) < 1:
            raise SystemExit(f"{flag} needs at least one worker count >= 1")
        setattr(args, option, counts)
    if args.customers < 1000:
        raise SystemExit("--customers must be at least 1000")
    if args.duration <= 0 or (args.rate is not None and args.rate <= 0):
        raise SystemExit("--duration and --rate must be positive")
    if args.pg_url:
        require_loopback(args.pg_url)
    args.backends = list(BACKENDS) if args.backend == "both" else [args.backend]


def require_loopback(url: str) -> None:
    """The benchmark sends traffic to this machine only."""
    from sqlalchemy.engine import make_url

    host = make_url(url).host or ""
    if host in ("", "localhost") or host.startswith("/"):
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"--pg-url must point at this machine (127.0.0.1, localhost or ::1), not {host!r}")


# --------------------------------------------------------------------------------------------------------
# Work directory and PostgreSQL server
# --------------------------------------------------------------------------------------------------------


def work_dir(stack: ExitStack) -> Path:
    """A private directory for this run, removed on exit. Under /tmp as root, where the postgres user can
    reach a cluster inside it (mode 711)."""
    base = "/tmp" if os.geteuid() == 0 else None
    path = Path(tempfile.mkdtemp(prefix="callcue-bench.", dir=base))
    path.chmod(0o711)
    stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


@dataclass
class PgServer:
    url: str  # the server's maintenance database (postgres)
    postmaster_pid: int | None  # when this run started it, for CPU accounting
    description: str


def postgres_server(args: argparse.Namespace, stack: ExitStack, workdir: Path) -> PgServer | None:
    """The PostgreSQL server to benchmark on, or None (skipped) when there is none."""
    if args.pg_url:
        return PgServer(args.pg_url, None, "given by --pg-url / $" + PG_URL_ENV)
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        return None
    cluster = workdir / "pg"
    script = REPO_ROOT / "scripts" / "pg_cluster.sh"
    # Registered before the start so that a half-started cluster is stopped too.
    stack.callback(subprocess.run, ["bash", str(script), "stop", str(cluster)], check=False, timeout=60)
    log("starting a throwaway PostgreSQL cluster on 127.0.0.1 (scripts/pg_cluster.sh, durable settings) …")
    done = subprocess.run(["bash", str(script), "start", str(cluster), "--durable"],
                          stdout=subprocess.PIPE, text=True, check=False, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/pg_cluster.sh start failed ({done.returncode}); see the messages above")
    url = done.stdout.strip().splitlines()[-1]
    pid = int((cluster / "data" / "postmaster.pid").read_text().split()[0])
    version = subprocess.run([*_pg_bin(cluster, "postgres"), "-V"], capture_output=True, text=True,
                             check=False).stdout.strip()
    return PgServer(url, pid, f"throwaway cluster, {version}, fsync on, synchronous_commit on, shared_buffers "
                    f"{_shared_buffers(url)}")


def _shared_buffers(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SHOW shared_buffers")).scalar_one()
    finally:
        engine.dispose()


def _pg_bin(cluster: Path, program: str) -> list[str]:
    return [str(Path((cluster / "pg_bin").read_text().strip()) / program)]


@contextmanager
def fresh_pg_database(server_url: str) -> Iterator[str]:
    """A new, uniquely named database on the server; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    name = f"callcue_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# --------------------------------------------------------------------------------------------------------
# Seeded databases
# --------------------------------------------------------------------------------------------------------


@dataclass
class Database:
    backend: str
    url: str
    info: dict[str, Any] = field(default_factory=dict)  # how it was made: seed time, cache hit …
    postmaster_pid: int | None = None


def _seed(url: str, customers: int, seed: int) -> dict[str, Any]:
    from server_stub.db.engine import make_engine, upgrade
    from server_stub.seed import seed_database

    engine = make_engine(url)
    try:
        upgrade(engine)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last[0] > 5 or done == total:
                last[0] = time.monotonic()
                log(f"  seeded {done:,}/{total:,} customers")

        summary = seed_database(engine, customers, seed, progress=progress)
        info: dict[str, Any] = {
            "seed_seconds": round(summary.elapsed_seconds, 1),
            "seeded_on": summary.today.isoformat(),
            "rows": summary.table_counts(),
        }
        if engine.dialect.name == "postgresql":
            # A settled production database has statistics and a visibility map; without them autovacuum
            # would be doing this during the measurement.
            started = time.perf_counter()
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE)")
            info["vacuum_analyze_seconds"] = round(time.perf_counter() - started, 1)
            info["prewarmed_mib"] = _prewarm(engine)
        return info
    finally:
        engine.dispose()


def _prewarm(engine) -> int | None:
    """Load the tables and indexes into PostgreSQL's buffers: a server that has been answering pops has
    them there, and the measurement is of that steady state, not of the first read of each page from disk.
    Returns MiB loaded, or None when the pg_prewarm extension (PostgreSQL's contrib) is not installed."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
        except DBAPIError as exc:
            log(f"PostgreSQL: no pg_prewarm ({exc.orig}); tables are read from disk as pops touch them")
            return None
        relations = conn.execute(text(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')")).scalars().all()
        blocks = sum(conn.execute(text("SELECT pg_prewarm(:relation)"), {"relation": r}).scalar_one()
                     for r in relations)
        block_size = int(conn.execute(text("SHOW block_size")).scalar_one())
    return round(blocks * block_size / 2**20)


def sqlite_database(args: argparse.Namespace, workdir: Path) -> Database:
    """A copy of the cached seeded SQLite database (seeding it into the cache first if needed)."""
    from server_stub.db.engine import head_revision

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    key = f"server-sqlite-{args.customers}c-seed{args.seed}-{head_revision()}"
    cached, meta_path = CACHE_DIR / f"{key}.sqlite3", CACHE_DIR / f"{key}.json"
    if cached.is_file() and meta_path.is_file():
        info = {**json.loads(meta_path.read_text()), "cache": "hit"}
        log(f"SQLite: cached seeded database {cached.relative_to(REPO_ROOT)} (seeded on {info['seeded_on']})")
    else:
        log(f"SQLite: seeding {args.customers:,} customers (seed {args.seed}) into the cache …")
        partial = CACHE_DIR / f"{key}.partial-{os.getpid()}.sqlite3"
        try:
            info = _seed(f"sqlite:///{partial}", args.customers, args.seed)
            # One self-contained file: the WAL folded in, no -wal/-shm that a copy could miss or that a
            # stale one could be mixed with (the server switches its copy back to WAL when it opens it).
            with contextlib.closing(sqlite3.connect(partial)) as connection:
                mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if mode != "delete" or Path(f"{partial}-wal").exists():
                raise RuntimeError(f"could not fold the WAL into {partial} (journal mode {mode})")
            partial.replace(cached)
            meta_path.write_text(json.dumps(info, indent=1))
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{partial}{suffix}").unlink(missing_ok=True)
        info = {**info, "cache": "seeded now"}
        log(f"SQLite: seeded in {info['seed_seconds']} s")
    target = workdir / "server.sqlite3"
    started = time.perf_counter()
    shutil.copyfile(cached, target)
    info["copy_seconds"] = round(time.perf_counter() - started, 1)
    info["size_mib"] = round(target.stat().st_size / 2**20)
    return Database("sqlite", f"sqlite:///{target}", info)


@contextmanager
def postgres_database(args: argparse.Namespace, server: PgServer) -> Iterator[Database]:
    with fresh_pg_database(server.url) as url:
        log(f"PostgreSQL: seeding {args.customers:,} customers (seed {args.seed}) into a fresh database …")
        info = {**_seed(url, args.customers, args.seed), "server": server.description}
        log(f"PostgreSQL: seeded in {info['seed_seconds']} s, VACUUM ANALYZE {info['vacuum_analyze_seconds']} s, "
            f"prewarmed {info['prewarmed_mib']} MiB")
        yield Database("postgresql", url, info, server.postmaster_pid)


class BenchEnvironment:
    """This run's work directory and (made when first needed) PostgreSQL server; `close()` stops and
    removes them. Databases are context managers inside it, so each is dropped before the server stops."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._stack = ExitStack()
        self.workdir = work_dir(self._stack)
        self._pg: PgServer | None = None
        self._pg_looked_for = False

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> BenchEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def database(self, backend: str) -> Iterator[Database | str]:
        """The seeded database of `backend`, or the reason it is skipped (a string)."""
        if backend == "sqlite":
            database = sqlite_database(self.args, self.workdir)
            try:
                yield database
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.workdir / 'server.sqlite3'}{suffix}").unlink(missing_ok=True)
            return
        if not self._pg_looked_for:
            self._pg_looked_for = True
            self._pg = postgres_server(self.args, self._stack, self.workdir)
        if self._pg is None:
            log(f"PostgreSQL: {SKIPPED_NO_PG} (no --pg-url, no ${PG_URL_ENV}, no PostgreSQL binaries)")
            yield SKIPPED_NO_PG
            return
        with postgres_database(self.args, self._pg) as database:
            yield database


# --------------------------------------------------------------------------------------------------------
# Tokens, callers, the server process
# --------------------------------------------------------------------------------------------------------


def issue_tokens(url: str, agents: int, prefix: str = "bench-agent") -> list[tuple[str, str]]:
    """(agent_id, bearer token) for `agents` agents, issued as `callcue-server token create` would."""
    from sqlalchemy.orm import Session

    from server_stub.db.engine import make_engine
    from server_stub.services.auth import create_token

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return [(f"{prefix}-{n:03d}", create_token(session, f"{prefix}-{n:03d}")) for n in range(agents)]
    finally:
        engine.dispose()


def sample_callers(url: str, customers: int, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(customer_id, msisdn) of `count` customers drawn at random from the whole database: numbers as
    stored, including second numbers."""
    from sqlalchemy import text

    from server_stub.db.engine import make_engine

    ids = [f"C{i + 1:08d}" for i in rng.sample(range(customers), min(count, customers))]
    engine = make_engine(url)
    found: list[tuple[str, str]] = []
    try:
        with engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join(f":c{n}" for n in range(len(chunk)))
                found += conn.execute(
                    text(f"SELECT customer_id, msisdn FROM customer_numbers WHERE customer_id IN ({marks})"),
                    {f"c{n}": c for n, c in enumerate(chunk)},
                ).all()
    finally:
        engine.dispose()
    if not found:
        raise RuntimeError("the seeded database has no customer numbers")
    found.sort()
    return [(c, m) for c, m in found]


@dataclass
class RunningServer:
    base_url: str
    port: int
    pid: int
    workers: int
    meter_roots: dict[str, int]
    output: Path  # the server's stdout and stderr

    def meter(self) -> CpuMeter:
        return CpuMeter(self.meter_roots)

    def tracebacks(self) -> int:
        """Unhandled exceptions the server printed so far (each a 500 to some client)."""
        try:
            return self.output.read_text(encoding="utf-8", errors="replace").count("Traceback (most recent")
        except OSError:
            return 0


@contextmanager
def running_server(database: Database, workers: int, log_dir: Path) -> Iterator[RunningServer]:
    """`callcue-server serve` on 127.0.0.1 with `workers` processes, stopped on exit."""
    from server_stub.live import live_server
    from server_stub.services.limits import Limit, RateLimits

    log_dir.mkdir(parents=True, exist_ok=True)
    output = log_dir / "server.out"  # live_server sends the server's stdout and stderr there
    # The per-token limits stay on, so their cost is measured, but far above any benchmark's rate.
    never = Limit(10**9, 10**9)
    with live_server(database.url, log_dir, workers=workers, startup_timeout=60,
                     rate_limits=RateLimits(pop=never, search=never, unpopped=never, worklist=never)) as live:
        port = int(live.base_url.rsplit(":", 1)[1])
        roots = {"server": live.process.pid}
        if database.postmaster_pid:
            roots["postgresql"] = database.postmaster_pid
        if workers > 1:
            _wait_for_workers(live.process.pid, workers)
        yield RunningServer(live.base_url, port, live.process.pid, workers, roots, output)


def _wait_for_workers(pid: int, workers: int, timeout: float = 30) -> None:
    """uvicorn answers as soon as one worker is up; wait until all are, so the run measures them all."""
    from _common import process_tree

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # The supervisor's children: the workers (and multiprocessing's resource tracker).
        if len(process_tree(pid)) - 1 >= workers:
            time.sleep(1.0)  # let the last one import and start listening
            return
        time.sleep(0.2)


class HttpClient:
    """A keep-alive HTTP/1.1 connection per thread to the server on loopback: http.client, because the
    load generator shares 2 cores with the server and requests/httpx cost several times more CPU."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port, self.timeout = port, timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
                ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                # The server closed an idle keep-alive connection: reconnect once.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                with contextlib.suppress(Exception):
                    connection.close()
            self._all.clear()
