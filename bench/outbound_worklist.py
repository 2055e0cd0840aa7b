"""Benchmark the outbound worklist of the real server: many agents pulling from one campaign at once.

    .venv/bin/python bench/outbound_worklist.py [--quick] [--json] [--backend sqlite|postgresql|both]
        [--customers N] [--members N] [--agents N] [--duration S] [--think S] [--pg-url URL]
        [--pg-workers 1,2] [--sqlite-workers 1,2]

On a seeded database (200,000 customers; --quick 20,000) plus one outbound campaign fed through the catalog
feed (a running outbound_call wave, its own outbound cap, the seed's per-customer caps) with --members members
(default 50,000; --quick 5,000), the real `callcue-server serve` on 127.0.0.1, and --agents simulated agents
(default 200; --quick 40), each its own token and connection, starting at random moments over the first
think time (a floor logs in over a while, not in one instant), for --duration seconds (default 60; --quick 10):
POST /v1/worklist/next (the full preview pop included), a think/talk time of 0.5-1.5 × --think seconds
(default 20; --quick 2), then POST /v1/outbound/attempts with a call result (connected 35 %, no answer 35 %, busy 10 %,
voicemail 10 %, refused 5 %, wrong number 5 %), and again.

The default pace is a real agent's fastest: reading the preview, dialing and letting an unanswered call ring
take 20 s or more, and a connected call lasts longer still (the source documents' average handle time is
81 s), so 200 agents ask about 10 times a second. `--think 2` runs a stress pace ten times a real floor's;
README reports both.

Checked and reported:
  double assignments  a customer handed to an agent while another holds them, or twice in the run (no
                      result's retry delay is as short as the run): must be 0
  cap violations      leases whose customer had reached a cap (the campaign's outbound cap or a per-customer
                      cap) at the moment it was handed out, recomputed afterwards from contact_history with the
                      pop's own counting: must be 0
  latency             worklist/next p50 / p99 (target p99 <= 20 ms), and of the call results
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import base_parser, emit, figure, format_table, latency_summary, log, machine_info, run_main
from _server import (
    BenchEnvironment,
    Database,
    HttpClient,
    add_server_args,
    issue_tokens,
    resolve_common,
    running_server,
)

TARGET_P99_MS = 20.0
CAMPAIGN = "CMP_BENCH_CALLS"
RESULTS = [("connected", 35), ("no_answer", 35), ("busy", 10), ("voicemail", 10), ("refused_call", 5),
           ("wrong_number", 5)]
CATALOG = """format = 1
[[campaigns]]
id = "CMP_BENCH_CALLS"
name_zh = "外呼压测"
name_en = "Outbound benchmark"
offers = ["RET_DISCOUNT_20"]
calling_hours = ["00:00-24:00"]
caps = [{ channel = "outbound_call", max_contacts = 1, period_days = 30 }]
waves = [{ seq = 1, channel = "outbound_call", starts_day = -1, ends_day = 30 }]
"""


def prepare(url: str, members: int, seed: int) -> dict[str, Any]:
    """The benchmark campaign through the catalog feed, and `members` members (random priorities)."""
    import tempfile

    from sqlalchemy import func, insert, select

    from server_stub.db.engine import make_engine
    from server_stub.db.models import CampaignMember, Customer, Offer
    from server_stub.feeds.catalog import apply_catalog

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            offer = conn.execute(select(Offer.offer_id).where(Offer.category == "retention", Offer.active)
                                 .order_by(Offer.offer_id).limit(1)).scalar_one()
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False, encoding="utf-8") as handle:
            handle.write(CATALOG.replace("RET_DISCOUNT_20", offer))
        apply_catalog(engine, handle.name)
        Path(handle.name).unlink()
        rng = random.Random(f"outbound:{seed}")
        with engine.begin() as conn:
            ids = conn.execute(select(Customer.customer_id).where(Customer.retired_at.is_(None))
                               .order_by(Customer.customer_id).limit(members)).scalars().all()
            now = dt.datetime.now(dt.UTC)
            for start in range(0, len(ids), 5000):
                conn.execute(insert(CampaignMember), [
                    {"campaign_id": CAMPAIGN, "customer_id": c, "priority": rng.choice((0, 0, 1, 2)),
                     "reason": "benchmark", "source": "bench", "added_at": now} for c in ids[start:start + 5000]])
            dnd = conn.execute(select(func.count()).select_from(Customer).where(
                Customer.customer_id.in_(ids), Customer.dnd.is_(True))).scalar_one()
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE campaign_members")
        return {"members": len(ids), "members_dnd": dnd, "offer": offer}
    finally:
        engine.dispose()


class Ledger:
    """Who holds which customer, as the agents see it: any overlap or repeat is a double assignment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holder: dict[str, str] = {}
        self.handed: Counter[str] = Counter()
        self.doubles: list[tuple[str, str, str]] = []

    def take(self, agent: str, customer: str) -> None:
        with self.lock:
            other = self.holder.get(customer)
            if (other is not None and other != agent) or self.handed[customer]:
                self.doubles.append((customer, agent, other or "earlier"))
            self.holder[customer] = agent
            self.handed[customer] += 1

    def drop(self, agent: str, customer: str) -> None:
        with self.lock:
            if self.holder.get(customer) == agent:
                del self.holder[customer]


def agent_loop(n: int, agent_id: str, token: str, client: HttpClient, duration: float, think: float,
               ledger: Ledger, stats: dict[str, Any], start: threading.Barrier) -> None:
    rng = random.Random(f"agent:{n}")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    results = [r for r, w in RESULTS for _ in range(w)]
    waiter = threading.Event()
    local = {"next": [], "result": [], "empty": Counter(), "errors": Counter(), "results": Counter()}
    start.wait()
    deadline = time.perf_counter() + duration
    waiter.wait(rng.uniform(0, think))  # agents log in over a think time, as a floor does, not in one instant
    ask = json.dumps({"campaign_id": CAMPAIGN}).encode()
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        try:
            status, body = client.request("POST", "/v1/worklist/next", headers, ask)
        except OSError as exc:
            local["errors"][f"next {type(exc).__name__}"] += 1
            continue
        local["next"].append(time.perf_counter() - began)
        if status != 200:
            local["errors"][f"next {status}"] += 1
            continue
        doc = json.loads(body)
        if doc["status"] != "leased":
            local["empty"][doc["empty"]["code"]] += 1
            waiter.wait(think * rng.uniform(0.5, 1.5))
            continue
        customer = doc["customer_id"]
        ledger.take(agent_id, customer)
        waiter.wait(think * rng.uniform(0.5, 1.5))  # preview, dial, talk
        outcome = rng.choice(results)
        payload = json.dumps({"attempt_id": str(uuid.uuid4()), "lease_id": doc["lease"]["lease_id"],
                              "result": outcome, "called_at": dt.datetime.now(dt.UTC).isoformat()}).encode()
        began = time.perf_counter()
        try:
            status, body = client.request("POST", "/v1/outbound/attempts", headers, payload)
        except OSError as exc:
            local["errors"][f"result {type(exc).__name__}"] += 1
            continue
        local["result"].append(time.perf_counter() - began)
        if status != 200:
            local["errors"][f"result {status}"] += 1
        else:
            local["results"][outcome] += 1
        ledger.drop(agent_id, customer)
    with stats["lock"]:
        for key in ("next", "result"):
            stats[key] += local[key]
        for key in ("empty", "errors", "results"):
            stats[key].update(local[key])


def cap_violations(url: str, started: dt.datetime) -> dict[str, int]:
    """Every lease of the run, checked against the caps as they stood when it was handed out."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from server_stub.db.engine import make_engine
    from server_stub.db.models import ContactHistory, OutboundLease
    from server_stub.services.catalog import load_catalog
    from server_stub.services.pop import HistoryRow
    from server_stub.services.worklist import outbound_cap

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            catalog = load_catalog(session)
            campaign = catalog.campaigns[CAMPAIGN]
            leases = session.execute(select(OutboundLease.customer_id, OutboundLease.taken_at)
                                     .where(OutboundLease.taken_at >= started)).all()
            customers = sorted({c for c, _ in leases})
            history: dict[str, list[tuple[dt.datetime, HistoryRow]]] = {}
            for start in range(0, len(customers), 2000):
                for row in session.execute(select(ContactHistory).where(
                        ContactHistory.customer_id.in_(customers[start:start + 2000]))).scalars():
                    history.setdefault(row.customer_id, []).append((row.contacted_at, HistoryRow(
                        row.campaign_id, row.channel, row.offer_id, row.result, row.contacted_at, row.purpose,
                        row.topic, row.call_id)))
        violations = 0
        for customer, taken_at in leases:
            before = [h for at, h in history.get(customer, ()) if at < taken_at]
            cap = outbound_cap(catalog, campaign, before, taken_at)
            violations += bool(cap is not None and cap.reached)
        return {"leases_checked": len(leases), "cap_violations": violations}
    finally:
        engine.dispose()


def warm_up(port: int, token: str, connections: int = 12) -> None:
    """Before the measurement, each worker process's first claim builds the wave's order and compiles its
    statements (as a server that has been serving has done): one request on each of several new connections,
    which the workers accept in turn, then the customer taken is released."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"campaign_id": CAMPAIGN}).encode()
    lease_id = None
    for _ in range(connections):
        client = HttpClient(port, timeout=30)
        try:
            status, answer = client.request("POST", "/v1/worklist/next", headers, body)
        finally:
            client.close()
        doc = json.loads(answer)
        if status == 200 and doc["status"] == "leased":
            lease_id = doc["lease"]["lease_id"]  # the same lease each time: an agent holds one customer
    if lease_id is not None:
        client = HttpClient(port, timeout=30)
        try:
            client.request("POST", f"/v1/worklist/leases/{lease_id}/release", headers,
                           json.dumps({"reason": "warm-up", "hold_minutes": 0}).encode())
        finally:
            client.close()


def run_backend(args, database: Database, workers: int, setup: dict[str, Any]) -> dict[str, Any]:
    tokens = issue_tokens(database.url, args.agents, prefix=f"caller-{workers}w")
    log_dir = Path(args.env.workdir) / f"logs-outbound-{database.backend}-{workers}"
    ledger = Ledger()
    stats: dict[str, Any] = {"lock": threading.Lock(), "next": [], "result": [], "empty": Counter(),
                             "errors": Counter(), "results": Counter()}
    started_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with running_server(database, workers, log_dir) as server:
        client = HttpClient(server.port, timeout=30)
        warm_up(server.port, tokens[-1][1])
        start = threading.Barrier(args.agents + 1)
        threads = []
        meter = server.meter()
        for n, (agent_id, token) in enumerate(tokens):
            thread = threading.Thread(target=agent_loop, args=(n, agent_id, token, client, args.duration, args.think,
                                                               ledger, stats, start), name=f"agent-{n}", daemon=True)
            threads.append(thread)
            thread.start()
        log(f"{database.backend} x{workers}: {args.agents} agents pulling for {args.duration:g} s …")
        meter.start()
        start.wait()
        for thread in threads:
            thread.join(timeout=args.duration + 120)
        cpu = meter.stop()
        hung = sum(t.is_alive() for t in threads)
        client.close()
        tracebacks = server.tracebacks()
    caps = cap_violations(database.url, started_at)
    nexts = latency_summary(stats["next"])
    return {
        "backend": database.backend, "workers": workers, "agents": args.agents, "duration_s": args.duration,
        "next": nexts, "result": latency_summary(stats["result"]),
        "next_per_s": round(len(stats["next"]) / args.duration, 1),
        "handed_out": sum(ledger.handed.values()), "distinct_customers": len(ledger.handed),
        "double_assignments": len(ledger.doubles), "doubles": ledger.doubles[:10],
        "empty": dict(stats["empty"]), "errors": dict(stats["errors"]), "results": dict(stats["results"]),
        "hung_agents": hung, "server_tracebacks": tracebacks, "cpu": cpu, **caps, "setup": setup,
        "meets_target": (not ledger.doubles and caps["cap_violations"] == 0 and not stats["errors"] and not hung
                         and nexts["p99_ms"] is not None and nexts["p99_ms"] <= TARGET_P99_MS),
    }


def render(result: dict[str, Any]) -> str:
    m, c = result["machine"], result["config"]
    out = [f"outbound worklist: {c['agents']} agents, {c['duration_s']:g} s, think {c['think_s']:g} s, "
           f"{c['members']:,} members of {c['customers']:,} customers; target next p99 <= {TARGET_P99_MS:g} ms, "
           "0 double assignments, 0 cap violations",
           f"machine: {m['cores']} cores, {m['cpu_model']}, load {m['load_average_1m']}", ""]
    rows = [[r["backend"], r["workers"], r["next"]["count"], r["next_per_s"], r["next"]["p50_ms"],
             r["next"]["p99_ms"], r["next"]["max_ms"], r["result"]["p50_ms"], r["result"]["p99_ms"],
             r["handed_out"], r["double_assignments"], r["cap_violations"], sum(r["errors"].values()),
             r["cpu"].get("server_pct"), r["cpu"].get("postgresql_pct"), r["cpu"].get("other processes_pct"),
             "yes" if r["meets_target"] else "NO"] for r in result["runs"]]
    out.append(format_table(["backend", "workers", "nexts", "next/s", "next p50", "next p99", "next max",
                             "result p50", "result p99", "handed out", "doubles", "cap viol.", "errors",
                             "server CPU%", "PG CPU%", "others CPU%", "met"], rows))
    for r in result["runs"]:
        out.append(f"{r['backend']} x{r['workers']}: empty answers {r['empty']}; results {r['results']}"
                   + (f"; errors {r['errors']}" if r["errors"] else "")
                   + (f"; doubles {r['doubles']}" if r["doubles"] else ""))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    add_server_args(parser, rate_help="(unused: the agents' think time sets the rate)")
    parser.add_argument("--members", type=int, help="campaign members (default 50,000; --quick 5,000)")
    parser.add_argument("--agents", type=int, help="simulated agents (default 200; --quick 40)")
    parser.add_argument("--think", type=float,
                        help="mean seconds between next and result (default 20: preview, dial and ring of an "
                             "unanswered call; --quick 2, for enough requests in its 10 s; 2 = a stress pace)")
    args = parser.parse_args(argv)
    if args.customers is None:
        args.customers = 20_000 if args.quick else 200_000
    if args.duration is None:
        args.duration = 10.0 if args.quick else 60.0
    if args.think is None:
        args.think = 2.0 if args.quick else 20.0
    resolve_common(args)
    args.members = args.members or (5_000 if args.quick else 50_000)
    args.agents = args.agents or (40 if args.quick else 200)
    result: dict[str, Any] = {
        "benchmark": "outbound_worklist", "machine": machine_info(),
        "config": {"customers": args.customers, "members": args.members, "agents": args.agents,
                   "duration_s": args.duration, "think_s": args.think, "quick": args.quick},
        "databases": {}, "runs": [],
    }
    with BenchEnvironment(args) as env:
        args.env = env
        for backend in args.backends:
            with env.database(backend) as database:
                if isinstance(database, str):
                    result["databases"][backend] = database
                    continue
                result["databases"][backend] = database.info
                setup = prepare(database.url, args.members, args.seed)
                for workers in (args.sqlite_workers if backend == "sqlite" else args.pg_workers):
                    result["runs"].append(run_backend(args, database, workers, setup))
    result["figures"] = [
        fig for r in result["runs"] for fig in (
            figure(f"worklist/next p99, {r['agents']} agents, {r['backend']} x{r['workers']}", r["next"]["p99_ms"],
                   "ms", TARGET_P99_MS),
            figure(f"double assignments, {r['backend']} x{r['workers']}", r["double_assignments"], "", 0, "=="),
            figure(f"cap violations, {r['backend']} x{r['workers']}", r["cap_violations"], "", 0, "=="),
        )]
    emit(result, args.json, render)
    return 0 if all(r["double_assignments"] == 0 and r["cap_violations"] == 0 for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
