"""Benchmark POST /v1/outcomes of the real server: batches of 100 outcomes, idempotency on.

    .venv/bin/python bench/server_ingest.py [--quick] [--json] [--backend sqlite|postgresql|both]
        [--customers N] [--duration S] [--rate R] [--batch N] [--pg-url URL] [--pg-workers 1,2]

On a seeded database (1,000,000 customers; cached for SQLite) and the real `callcue-server serve` on
127.0.0.1 (1 worker on SQLite; each of --pg-workers on PostgreSQL):
  setup       real pops (GET /v1/pop) by several agents: the decisions the outcomes answer; each decision
              gets 1-4 outcomes on distinct offers it showed (declined, considering, accepted, callback,
              not offered, do-not-disturb), as the desktop outbox would send them; with more outcomes
              than that (past 12,000 pops, --pops), decisions are answered again with fresh outcome ids
  new         open loop at R outcomes/s (default 2,000, i.e. 20 batches/s) for S seconds (default 30):
              every item must be accepted; latency per batch counts from its scheduled time
  duplicates  the same batches again, byte for byte, at the same rate: every item must come back
              'duplicate' and nothing may change (the retry path of an outbox)
  capacity    closed loop: 4 clients send fresh batches back to back; the most the server does
Target: >= 2,000 outcomes/s.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import (
    LoadRun,
    base_parser,
    emit,
    format_table,
    latency_summary,
    log,
    machine_info,
    run_closed_loop,
    run_main,
    run_open_loop,
)
from _server import (
    BenchEnvironment,
    Database,
    HttpClient,
    add_server_args,
    issue_tokens,
    resolve_common,
    running_server,
    sample_callers,
)

TARGET_OUTCOMES_PER_S = 2000.0
DEFAULT_RATE = 2000.0
AGENTS = 10
CAPACITY_CLIENTS = 4
# Setup pops cost as much server time as the pop benchmark's: past this many, decisions are answered
# again (fresh outcome ids, the same server work per item).
MAX_SETUP_POPS = 12_000
OUTCOMES_PER_DECISION = (1, 4)  # inclusive range; mean 2.5
# Results as agents record them on pitched offers; a call may also end without an offer or with DND.
OFFER_RESULTS = (("declined", 40), ("considering", 25), ("accepted", 12), ("callback", 8))
OTHER_RESULTS = (("not_offered", 12), ("do_not_disturb", 3))
NOT_OFFERED_REASONS = ("customer in a hurry", "complaint call", "customer asked for no offers", "wrong person")


@dataclass(frozen=True)
class DecisionRef:
    agent: int
    decision_id: str
    customer_id: str
    offers: tuple[tuple[str, str | None, int | None], ...]  # (offer_id, campaign_id, wave), pitchable first


@dataclass(frozen=True)
class Batch:
    agent: int
    body: bytes
    items: int


# --------------------------------------------------------------------------------------------------------
# Setup: decisions from real pops, outcomes answering them
# --------------------------------------------------------------------------------------------------------


def make_decisions(port: int, callers: list[tuple[str, str]], tokens: list[tuple[str, str]], count: int,
                   rng: random.Random) -> list[DecisionRef]:
    """`count` real pops by the agents in turn (closed loop, 4 clients), keeping what outcomes need."""
    client = HttpClient(port, timeout=30)
    plan = [(n % len(tokens), rng.choice(callers)[0]) for n in range(count)]
    decisions: list[DecisionRef | None] = [None] * count
    last = [time.monotonic()]

    def pop(i: int) -> str:
        agent, customer_id = plan[i]
        status, body = client.request("GET", f"/v1/pop?customer_id={customer_id}",
                                      {"Authorization": f"Bearer {tokens[agent][1]}"})
        if status != 200:
            return f"error: HTTP {status}"
        doc = json.loads(body)
        offers = sorted(doc["offers"], key=lambda o: o["suppressed"])
        decisions[i] = DecisionRef(agent, doc["decision_id"], doc["customer"]["customer_id"],
                                   tuple((o["offer_id"], o["campaign_id"], o["wave"]) for o in offers))
        if i % 1000 == 0 and time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            log(f"  {i:,}/{count:,} pops")
        return "ok"

    try:
        run = run_closed_loop(pop, count=count, clients=4, max_seconds=900)
    finally:
        client.close()
    errors = {k: v for k, v in run.outcomes().items() if k != "ok"}
    if errors or run.sent < count:
        raise RuntimeError(f"setup pops failed: {run.sent:,} of {count:,} sent; errors {errors}")
    return [d for d in decisions if d is not None]


def _outcome(decision: DecisionRef, offer: tuple[str, str | None, int | None] | None, result: str,
             rng: random.Random, now: dt.datetime, agent_id: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "outcome_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "decision_id": decision.decision_id,
        "customer_id": decision.customer_id,
        "channel": "inbound_call",
        "result": result,
        "agent_id": agent_id,
        "call_id": f"call-{rng.getrandbits(48):012x}",
        "recorded_at": (now - dt.timedelta(seconds=rng.randrange(600))).isoformat(),
    }
    if offer is not None:
        item["offer_id"], item["campaign_id"], item["wave"] = offer
    if result == "callback":
        item["callback_at"] = (now + dt.timedelta(days=1, hours=rng.randrange(8))).isoformat()
    elif result == "not_offered":
        item["reason"] = rng.choice(NOT_OFFERED_REASONS)
    if rng.random() < 0.3:
        item["note"] = "客户表示会考虑，下周再联系 / will think about it, call next week"
    return item


def build_batches(decisions: list[DecisionRef], tokens: list[tuple[str, str]], outcomes: int, batch: int,
                  rng: random.Random) -> list[Batch]:
    """At least `outcomes` fresh outcomes (new ids) on the decisions, in batches of `batch` per agent
    (an agent's outbox sends its own outcomes), the agents' batches interleaved."""
    now = dt.datetime.now(dt.UTC)
    offer_results, offer_weights = zip(*OFFER_RESULTS, strict=True)
    other_results, other_weights = zip(*OTHER_RESULTS, strict=True)
    pending: dict[int, list[dict[str, Any]]] = {}
    per_agent: dict[int, list[Batch]] = {}
    made = 0
    while made < outcomes:  # more outcomes than decisions: answer them again, with new outcome ids
        for decision in decisions:
            if made >= outcomes:
                break
            agent_id = tokens[decision.agent][0]
            pitched = list(decision.offers)
            items = []
            for _ in range(rng.randint(*OUTCOMES_PER_DECISION)):
                if pitched and rng.random() < 0.85:
                    offer = pitched.pop(0)
                    result = rng.choices(offer_results, offer_weights)[0]
                else:
                    offer, result = None, rng.choices(other_results, other_weights)[0]
                items.append(_outcome(decision, offer, result, rng, now, agent_id))
            queue = pending.setdefault(decision.agent, [])
            queue += items
            made += len(items)
            while len(queue) >= batch:
                body = json.dumps({"outcomes": queue[:batch]}, ensure_ascii=False).encode()
                per_agent.setdefault(decision.agent, []).append(Batch(decision.agent, body, batch))
                del queue[:batch]
    batches = []
    while any(per_agent.values()):
        for agent in sorted(per_agent):
            if per_agent[agent]:
                batches.append(per_agent[agent].pop(0))
    return batches


# --------------------------------------------------------------------------------------------------------
# Passes
# --------------------------------------------------------------------------------------------------------


class Sender:
    """POSTs batches and keeps each answer's counts by batch index."""

    def __init__(self, port: int, batches: list[Batch], tokens: list[tuple[str, str]]) -> None:
        self.client = HttpClient(port, timeout=60)
        self.batches = batches
        self.headers = [{"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                        for _, token in tokens]
        self.counts: list[Counter[str]] = [Counter() for _ in batches]
        self.reasons: Counter[str] = Counter()

    def __call__(self, i: int) -> str:
        batch = self.batches[i]
        status, body = self.client.request("POST", "/v1/outcomes", self.headers[batch.agent], batch.body)
        if status != 200:
            return f"error: HTTP {status}"
        answer = json.loads(body)
        self.counts[i].update(accepted=answer["accepted"], duplicate=answer["duplicate"],
                              rejected=answer["rejected"])
        for r in answer["results"]:
            if r["status"] == "rejected":
                self.reasons[r["reason"][:80]] += 1
        return "ok"

    def close(self) -> None:
        self.client.close()


def pass_figures(name: str, run: LoadRun, sender: Sender, cpu: dict[str, float], expect: str) -> dict[str, Any]:
    sent_items = sum(sender.batches[s.index].items for s in run.samples)
    counts: Counter[str] = Counter()
    for s in run.samples:
        counts.update(sender.counts[s.index])
    wall = run.ended_at - run.started_at
    answered = counts["accepted"] + counts["duplicate"]
    errors = {k: v for k, v in run.outcomes().items() if k != "ok"}
    return {
        "pass": name,
        "rate_target_outcomes_s": None if not run.rate else round(run.rate * sender.batches[0].items),
        "batches_planned": run.planned,
        "batches_sent": run.sent,
        "batches_completed": run.sent - sum(errors.values()),
        "batch_errors": sum(errors.values()),
        "error_kinds": errors,
        "outcomes_sent": sent_items,
        "accepted": counts["accepted"],
        "duplicate": counts["duplicate"],
        "rejected": counts["rejected"],
        "rejected_reasons": dict(sender.reasons.most_common(5)),
        "as_expected": counts[expect] == sent_items and not errors,
        "wall_s": round(wall, 2),
        "outcomes_per_s": round(answered / wall, 1) if wall > 0 else 0.0,
        "latency": latency_summary(s.latency for s in run.samples if s.outcome == "ok"),
        "start_lag": run.late_starts(),
        "cpu": cpu,
    }


def run_pass(name: str, port: int, batches: list[Batch], tokens, *, meter, rate: float | None = None,
             duration: float = 0.0, clients: int = 8, expect: str = "accepted") -> dict[str, Any]:
    sender = Sender(port, batches, tokens)
    meter.start()
    try:
        if rate:
            run = run_open_loop(sender, rate=rate, duration=duration, clients=clients, deadline_slack=60)
        else:
            run = run_closed_loop(sender, count=len(batches), clients=clients, max_seconds=300)
    finally:
        sender.close()
    figures = pass_figures(name, run, sender, meter.stop(), expect)
    log(f"  {name}: {figures['outcomes_per_s']:,.0f} outcomes/s, batch p50 {figures['latency']['p50_ms']} ms "
        f"p99 {figures['latency']['p99_ms']} ms; accepted {figures['accepted']:,}, duplicate "
        f"{figures['duplicate']:,}, rejected {figures['rejected']:,}, errors {figures['batch_errors']}")
    return figures


def bench_backend(args, database: Database, workers_list: list[int]) -> dict[str, Any]:
    rng = random.Random(f"ingest:{args.seed}")
    callers = sample_callers(database.url, args.customers, 2_000 if args.quick else 20_000, rng)
    tokens = issue_tokens(database.url, AGENTS)
    batches_per_s = args.rate / args.batch
    main_batches = max(1, round(batches_per_s * args.duration))
    capacity_batches = max(10, main_batches // 2)
    outcomes_needed = (main_batches + capacity_batches) * args.batch
    mean_per_decision = sum(OUTCOMES_PER_DECISION) / 2
    decisions: list[DecisionRef] = []
    setup: dict[str, Any] = {}
    runs = []
    for workers in workers_list:
        log_dir = Path(args.env.workdir) / f"logs-ingest-{database.backend}-{workers}"
        with running_server(database, workers, log_dir) as server:
            if not decisions:
                count = args.pops or min(MAX_SETUP_POPS, round(outcomes_needed / mean_per_decision) + len(tokens))
                log(f"{database.backend}: setup, {count:,} real pops for the decisions the outcomes answer …")
                started = time.perf_counter()
                decisions = make_decisions(server.port, callers, tokens, count, rng)
                setup = {"pops": len(decisions), "seconds": round(time.perf_counter() - started, 1),
                         "workers": workers}
            fresh = build_batches(decisions, tokens, outcomes_needed, args.batch, rng)
            main, capacity = fresh[:main_batches], fresh[main_batches:main_batches + capacity_batches]
            log(f"{database.backend}, {workers} worker(s): {len(main):,} batches of {args.batch} at "
                f"{args.rate:g} outcomes/s, the same again as duplicates, then {len(capacity):,} back to back …")
            meter = server.meter()
            passes = [
                run_pass("new", server.port, main, tokens, meter=meter, rate=batches_per_s,
                         duration=args.duration),
                run_pass("duplicates", server.port, main, tokens, meter=meter, rate=batches_per_s,
                         duration=args.duration, expect="duplicate"),
                run_pass("capacity", server.port, capacity, tokens, meter=meter, clients=CAPACITY_CLIENTS),
            ]
            tracebacks = server.tracebacks()
        new, capacity_pass = passes[0], passes[2]
        kept_up = new["outcomes_per_s"] >= 0.95 * args.rate and new["as_expected"]
        runs.append({
            "backend": database.backend,
            "workers": workers,
            "batch": args.batch,
            "passes": passes,
            "target_outcomes_per_s": TARGET_OUTCOMES_PER_S,
            "capacity_outcomes_per_s": capacity_pass["outcomes_per_s"],
            "server_tracebacks": tracebacks,
            "meets_target": kept_up and all(p["as_expected"] for p in passes)
            and capacity_pass["outcomes_per_s"] >= TARGET_OUTCOMES_PER_S,
        })
    return {"setup": setup, "runs": runs}


# --------------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    m, c = result["machine"], result["config"]
    out = [
        f"POST /v1/outcomes, batches of {c['batch']}, open loop at {c['rate']:g} outcomes/s for "
        f"{c['duration_s']:g} s, then duplicates, then capacity ({c['customers']:,} customers); "
        f"target >= {TARGET_OUTCOMES_PER_S:,.0f} outcomes/s",
        f"machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['platform']}",
        "",
    ]
    rows = []
    for run in result["runs"]:
        for p in run["passes"]:
            lat = p["latency"]
            rows.append([
                run["backend"], run["workers"], p["pass"], p["batches_sent"], p["batch_errors"],
                p["accepted"], p["duplicate"], p["rejected"], p["outcomes_per_s"], lat["p50_ms"], lat["p90_ms"],
                lat["p99_ms"], lat["max_ms"], p["cpu"].get("server_pct"), p["cpu"].get("postgresql_pct"),
                p["cpu"].get("load generator_pct"), p["cpu"].get("other processes_pct"),
                "yes" if p["as_expected"] else "NO",
            ])
    out.append(format_table(
        ["backend", "workers", "pass", "batches", "errors", "accepted", "duplicate", "rejected", "outcomes/s",
         "p50 ms", "p90 ms", "p99 ms", "max ms", "server CPU%", "PG CPU%", "loadgen CPU%", "others CPU%",
         "as expected"],
        rows,
    ))
    out.append("")
    for run in result["runs"]:
        out.append(f"{run['backend']} x{run['workers']}: capacity {run['capacity_outcomes_per_s']:,.0f} outcomes/s; "
                   f"target met: {'yes' if run['meets_target'] else 'NO'}"
                   + (f"; server tracebacks: {run['server_tracebacks']} (see logs/server.out)"
                      if run["server_tracebacks"] else ""))
        for p in run["passes"]:
            if p["rejected_reasons"] or p["error_kinds"]:
                out.append(f"  {p['pass']}: rejected {p['rejected_reasons']} errors {p['error_kinds']}")
    for backend, info in result["databases"].items():
        if isinstance(info, str):
            out.append(f"{backend}: {info}")
            continue
        seeded = f"seeded in {info['seed_seconds']} s" + (" (cached)" if info.get("cache") == "hit" else "")
        setup = result["setup"].get(backend, {})
        out.append(f"{backend}: {seeded} on {info['seeded_on']}; setup {setup.get('pops', 0):,} pops in "
                   f"{setup.get('seconds')} s" + (f"; {info['server']}" if "server" in info else ""))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    add_server_args(parser, rate_help=f"outcomes per second in the open-loop passes (default {DEFAULT_RATE:g})")
    parser.add_argument("--batch", type=int, default=100, help="outcomes per POST (default 100)")
    parser.add_argument("--pops", type=int, help=f"real pops made in setup (default: one per 2.5 outcomes, at most "
                                                 f"{MAX_SETUP_POPS:,}; --quick 600)")
    args = parser.parse_args(argv)
    resolve_common(args)
    if args.rate is None:
        args.rate = DEFAULT_RATE
    if args.pops is None and args.quick:
        args.pops = 600
    if args.pops is not None and args.pops < 1:
        raise SystemExit("--pops must be at least 1")
    if not 1 <= args.batch <= 1000:
        raise SystemExit("--batch must be between 1 and 1000")
    result: dict[str, Any] = {
        "benchmark": "server_ingest",
        "machine": machine_info(),
        "config": {"customers": args.customers, "seed": args.seed, "duration_s": args.duration, "rate": args.rate,
                   "batch": args.batch, "quick": args.quick, "capacity_clients": CAPACITY_CLIENTS,
                   "outcomes_per_decision": list(OUTCOMES_PER_DECISION)},
        "databases": {},
        "setup": {},
        "runs": [],
    }
    with BenchEnvironment(args) as env:
        args.env = env
        for backend in args.backends:
            with env.database(backend) as database:
                if isinstance(database, str):
                    result["databases"][backend] = database
                    continue
                result["databases"][backend] = database.info
                workers = args.sqlite_workers if backend == "sqlite" else args.pg_workers
                figures = bench_backend(args, database, workers)
                result["setup"][backend] = figures["setup"]
                result["runs"] += figures["runs"]
    emit(result, args.json, render)
    return 0 if all(p["as_expected"] for r in result["runs"] for p in r["passes"]) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
