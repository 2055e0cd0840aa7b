"""Team-lead statistics over a large local store: whole-window refresh and window open.

  .venv/bin/python bench/stats_query.py [--quick] [--json] [--outcomes N] [--regenerate]

Generates a local store with N outcomes (default 1,000,000; --quick 50,000) spread over the last 365 days
for 25 agents in Asia/Shanghai office hours, one pop per outcome plus 10 % pops without one, suppressed
offers on most pops and a small outbox backlog. The file is built once through the real migrations (so the
triggers and indexes are the product's), filled with bulk inserts, and cached under bench/.cache/.

Figures (offscreen Qt, the real StatsWindow and TaskRunner), for 7, 30 and 365 days:
- cold query: StatsService.report() on a new service (no day kept from before: every query of every day);
- warm query: the same service again (days that are over come from its cache; today, open callbacks, the
  outbox and the cache's check for added rows are read again);
- refresh: the window's Refresh → report on screen and painted (window.repaint() returned), warm;
- open: constructing the window (incl. the first QtCharts import, a new service: cold) → first report
  painted, 7-day default; measured after one read of the range by another service (the panel has been
  using the file, so its pages are in the OS cache). first_read_in_process_ms is that read.
- cost per outcome of the statistics counters (migration 0005's triggers): record_outcome (committed,
  synchronous=FULL) on two fresh stores, one with the triggers dropped, interleaved; and the SQL alone:
  inserting outcomes into local_contacts in one transaction with and without the triggers (µs per row).
The whole team's first look reads the counters of migration 0005 (UTC slots, blocks of whole UTC days);
one agent's figures still group that agent's outcomes per day.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import random
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _common import (
    CACHE_DIR,
    REPO_ROOT,
    CpuMeter,
    base_parser,
    emit,
    figure,
    format_table,
    latency_summary,
    log,
    machine_info,
    run_main,
)

sys.path.insert(0, str(REPO_ROOT))

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2026, 11, 20)  # fixed, so the cached file and the ranges always line up
NOW = dt.datetime.combine(TODAY, dt.time(18, 0), tzinfo=ZONE).astimezone(dt.UTC)
TARGETS = {"refresh_ms": 150, "open_ms": 300}
AGENTS = [f"A{n:03d}" for n in range(1, 26)]
OFFERS = ["PLAN_UP_5G_129", "PLAN_UP_5G_169", "PLAN_FAMILY_199", "ADDON_DATA_30G", "ADDON_VIDEO_20G",
          "RBT_VIDEO", "ROAM_ASIA_DAY", "CARE_USAGE_ALERT", "CARE_POINTS_REDEEM", "RET_LOYALTY_DISCOUNT",
          "RET_FREE_DATA_6M", "PAY_AUTOPAY_ALIPAY"]
CAMPAIGNS = {"CMP_5G_UPGRADE": OFFERS[:3], "CMP_ROAMING_CARE": ["ROAM_ASIA_DAY", "CARE_USAGE_ALERT"],
             "CMP_AUTOPAY_BONUS": ["PAY_AUTOPAY_ALIPAY"]}
CODES = ["price_sensitive", "complaint_sensitive", "not_eligible", "dnd", "recent_refusal", "contact_cap",
         "wave_channel"]
RESULTS = ["accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb"]
RESULT_WEIGHTS = [22, 41, 14, 9, 11, 3]


def _t(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(path: Path, outcomes: int, seed: int = 5) -> None:
    """Build the store at `path` (migrated by the product, then bulk-filled)."""
    from desktop.storage import open_store

    rng = random.Random(seed)
    tmp = path.with_name(path.name + ".part")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    open_store(tmp).close()
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    conn.execute("BEGIN")
    offer_campaign = {o: (c, i % 3 + 1) for c, offers in CAMPAIGNS.items() for i, o in enumerate(offers)}
    first_day = TODAY - dt.timedelta(days=364)
    pop_id = 0
    pops: list[tuple] = []
    contacts: list[tuple] = []
    outbox: list[tuple] = []
    started = time.monotonic()
    # Outcomes per day grow a little over the year (the team grew); office hours 08:30-20:30 Shanghai.
    weights = [0.7 + 0.6 * d / 364 for d in range(365)]
    per_day = [0] * 365
    for d in rng.choices(range(365), weights=weights, k=outcomes):
        per_day[d] += 1
    backlog_from = outcomes - 400
    n = 0
    for d, count in enumerate(per_day):
        day = first_day + dt.timedelta(days=d)
        opening = dt.datetime.combine(day, dt.time(8, 30), tzinfo=ZONE)
        for _ in range(count):
            at = opening + dt.timedelta(seconds=rng.random() * 12 * 3600)
            if at > NOW:
                at = NOW - dt.timedelta(seconds=rng.random() * 3600)
            agent = rng.choice(AGENTS)
            offer = rng.choice(OFFERS)
            campaign, wave = offer_campaign.get(offer, (None, None))
            result = rng.choices(RESULTS, weights=RESULT_WEIGHTS)[0]
            popped = at - dt.timedelta(seconds=rng.lognormvariate(4.3, 0.6))
            presented = rng.sample(OFFERS, 3)
            suppressed = [{"offer_id": o, "codes": rng.sample(CODES, rng.choice((1, 1, 2)))}
                          for o in rng.sample(OFFERS, rng.choice((0, 1, 1, 2, 3)))]
            pop_id += 1
            pops.append((pop_id, f"call-{pop_id}", f"C{rng.randrange(200000):06d}", str(uuid.UUID(int=pop_id)),
                         agent, _t(popped), "live", json.dumps(presented), json.dumps(suppressed), campaign, wave))
            if rng.random() < 0.1:  # a pop nobody recorded an outcome for
                pop_id += 1
                pops.append((pop_id, None, None, None, agent, _t(popped + dt.timedelta(seconds=30)), "live",
                             json.dumps(presented[:2]), "[]", campaign, wave))
            offer_id = offer if result in ("accepted", "declined", "considering") else None
            customer = pops[-1][2] or f"C{rng.randrange(200000):06d}"
            outcome_id = str(uuid.UUID(int=rng.getrandbits(128)))
            callback_at = None
            if result == "callback":
                callback_at = _t(at + dt.timedelta(hours=rng.choice((2, 20, 26, 48))))
                callback_at = callback_at[:19] + ".000000"
            contacts.append((outcome_id, customer, offer_id, result, _t(at), agent, campaign, wave,
                             str(uuid.UUID(int=pop_id)), f"call-{pop_id}", pop_id, _t(popped), callback_at))
            if n >= backlog_from:  # the newest few hundred still in the outbox, some rejected
                status = "needs_attention" if rng.random() < 0.05 else "pending"
                payload = {"outcome_id": outcome_id, "decision_id": str(uuid.UUID(int=pop_id)),
                           "customer_id": customer, "result": result, "recorded_at": at.isoformat()}
                outbox.append((outcome_id, json.dumps(payload), payload["decision_id"], customer, offer_id, campaign,
                               wave, result, agent, f"call-{pop_id}", _t(at), pop_id, _t(popped), status, 1,
                               "unknown offer" if status == "needs_attention" else None))
            n += 1
        if len(contacts) >= 50_000 or d == 364:
            conn.executemany(
                "INSERT INTO pop_log (id, call_id, customer_id, decision_id, agent_id, popped_at, state,"
                " offers_presented, suppressed, campaign_id, wave) VALUES (?,?,?,?,?,?,?,?,?,?,?)", pops)
            conn.executemany(
                "INSERT INTO local_contacts (outcome_id, customer_id, offer_id, result, recorded_at, agent_id,"
                " campaign_id, wave, decision_id, call_id, pop_id, popped_at, callback_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", contacts)
            conn.executemany(
                "INSERT INTO outbox (outcome_id, payload, decision_id, customer_id, offer_id, campaign_id, wave,"
                " result, agent_id, call_id, recorded_at, pop_id, popped_at, status, attempts, server_reason)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", outbox)
            pops.clear()
            contacts.clear()
            outbox.clear()
            log(f"  generated {n:,}/{outcomes:,} outcomes ({time.monotonic() - started:.0f} s)")
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)


AGGREGATE_TRIGGERS = ("trg_local_contacts_aggregates", "trg_pop_log_aggregates", "trg_pop_suppressions_aggregates")


def insert_cost(n: int) -> dict[str, Any]:
    """record_outcome latency with and without the counters' triggers, and their SQL cost per row."""
    import tempfile

    from desktop.domain.outcomes import OutcomeDraft, OutcomeResult
    from desktop.storage import open_store

    rng = random.Random(7)
    t0 = dt.datetime.combine(TODAY, dt.time(9), tzinfo=ZONE)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        stores = {"with_counters": open_store(Path(tmp) / "a.sqlite3"),
                  "without_counters": open_store(Path(tmp) / "b.sqlite3")}
        with stores["without_counters"].engine.begin() as conn:
            for name in AGGREGATE_TRIGGERS:
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        times: dict[str, list[float]] = {k: [] for k in stores}
        for i in range(n):
            result = OutcomeResult(rng.choices(RESULTS, weights=RESULT_WEIGHTS)[0])
            at = t0 + dt.timedelta(seconds=20 * i)
            draft = OutcomeDraft(decision_id=f"d{i}", customer_id=f"C{i % 500}", result=result,
                                 offer_id=rng.choice(OFFERS) if result.needs_offer else None,
                                 campaign_id="CMP_5G_UPGRADE", wave=1, agent_id=rng.choice(AGENTS),
                                 callback_at=at + dt.timedelta(hours=2) if result is OutcomeResult.CALLBACK else None,
                                 reason="busy" if result is OutcomeResult.NOT_OFFERED else None)
            record = draft.finalize(recorded_at=at, popped_at=at - dt.timedelta(seconds=70))
            for name, store in (stores.items() if i % 2 else reversed(stores.items())):
                t = time.perf_counter()
                store.record_outcome(record)
                times[name].append(time.perf_counter() - t)
        for name, store in stores.items():
            out[f"record_outcome_{name}"] = latency_summary(times[name])
            # The SQL alone: rows straight into local_contacts, one transaction, rolled back.
            conn = sqlite3.connect(store.path, isolation_level=None)
            conn.execute("BEGIN")
            rows = [(f"x{i}", f"C{i % 500}", rng.choice(OFFERS), rng.choice(RESULTS), _t(t0 + dt.timedelta(seconds=i)),
                     rng.choice(AGENTS), "CMP_5G_UPGRADE", 1, f"dx{i}", None, None,
                     _t(t0 + dt.timedelta(seconds=i - 70)), None) for i in range(5000)]
            t = time.perf_counter()
            conn.executemany(
                "INSERT INTO local_contacts (outcome_id, customer_id, offer_id, result, recorded_at, agent_id,"
                " campaign_id, wave, decision_id, call_id, pop_id, popped_at, callback_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            out[f"sql_insert_us_{name}"] = round((time.perf_counter() - t) / len(rows) * 1e6, 1)
            conn.execute("ROLLBACK")
            conn.close()
            store.close()
    out["trigger_us_per_outcome"] = round(out["sql_insert_us_with_counters"] - out["sql_insert_us_without_counters"], 1)
    return out


def cached_store(outcomes: int, regenerate: bool) -> Path:
    from desktop.storage.engine import head_revision

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"stats-{outcomes}-{head_revision()}.sqlite3"
    if regenerate:
        path.unlink(missing_ok=True)
    if not path.exists():
        log(f"generating {outcomes:,} outcomes into {path} (once; cached) …")
        started = time.monotonic()
        generate(path, outcomes)
        log(f"generated in {time.monotonic() - started:.1f} s, {path.stat().st_size / 2**20:.0f} MiB")
    return path


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, help="outcomes in the store (default 1,000,000; --quick 50,000)")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the cached store file")
    parser.add_argument("--rounds", type=int, help="timed refreshes per range (default 15; --quick 5)")
    args = parser.parse_args()
    outcomes = args.outcomes or (50_000 if args.quick else 1_000_000)
    rounds = args.rounds or (5 if args.quick else 15)
    path = cached_store(outcomes, args.regenerate)

    from PySide6 import QtWidgets

    from desktop.runtime.tasks import TaskRunner
    from desktop.services.stats import StatsFilters, StatsService, Viewer
    from desktop.storage import open_store

    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    store = open_store(path)
    runner = TaskRunner()
    lead = Viewer("A001", "lead", confirmed=True)
    service = StatsService(store, ZONE, clock=lambda: NOW)
    result: dict[str, Any] = {"benchmark": "stats_query", "machine": machine_info(), "targets": TARGETS,
                              "outcomes": outcomes, "store_mib": round(path.stat().st_size / 2**20),
                              "rounds": rounds}
    meter = CpuMeter({})
    meter.start()
    try:
        # The panel has been using the file, so its recent pages are in the OS cache: read the default range
        # once on a throwaway service (this service's own cache stays empty: the open below is cold).
        t0 = time.perf_counter()
        StatsService(store, ZONE, clock=lambda: NOW).report(StatsFilters.last_days(TODAY, 7), lead)
        result["first_read_in_process_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        # Window open: module import (QtCharts) + build + first 7-day report painted.
        started = time.perf_counter()
        from desktop.ui.stats_window import StatsWindow

        window = StatsWindow(service, runner, lead)
        window.show()
        first: list[Any] = []
        window.report_shown.connect(first.append)
        while not first:
            qapp.processEvents()
            time.sleep(0.0005)
        window.repaint()
        result["open_ms"] = round((time.perf_counter() - started) * 1000, 1)
        service = window.service
        result["open_outcomes_in_range"] = first[0].totals.outcomes
        log(f"window open → first data painted: {result['open_ms']} ms")

        ranges = {"7 days": 7, "30 days": 30, "365 days": 365}
        result["ranges"] = {}
        for label, days in ranges.items():
            filters = StatsFilters.last_days(TODAY, days)
            report = StatsService(store, ZONE, clock=lambda: NOW).report(filters, lead)  # OS page cache warm
            cold_s, query_s, refresh_s = [], [], []
            for _ in range(max(3, rounds // 3)):
                gc.collect()
                fresh = StatsService(store, ZONE, clock=lambda: NOW)
                t0 = time.perf_counter()
                fresh.report(filters, lead)
                cold_s.append(time.perf_counter() - t0)
            service.report(filters, lead)
            for _ in range(rounds):
                gc.collect()
                t0 = time.perf_counter()
                service.report(filters, lead)
                query_s.append(time.perf_counter() - t0)
            window._preset(days)  # sets the dates and refreshes once (warm-up)
            shown: list[Any] = []
            window.report_shown.connect(shown.append)
            while len(shown) < 1:
                qapp.processEvents()
                time.sleep(0.0005)
            for i in range(rounds):
                gc.collect()
                t0 = time.perf_counter()
                window.refresh()
                while len(shown) < i + 2:
                    qapp.processEvents()
                    time.sleep(0.0002)
                window.repaint()
                refresh_s.append(time.perf_counter() - t0)
            window.report_shown.disconnect(shown.append)
            agent_s = []
            agent_view = Viewer("A007", "agent", confirmed=True)
            for _ in range(max(3, rounds // 3)):
                fresh = StatsService(store, ZONE, clock=lambda: NOW)
                t0 = time.perf_counter()
                fresh.report(StatsFilters.last_days(TODAY, days), agent_view)
                agent_s.append(time.perf_counter() - t0)
            result["ranges"][label] = {
                "outcomes_in_range": report.totals.outcomes, "pops_in_range": report.pops,
                "cold_query": latency_summary(cold_s), "query": latency_summary(query_s),
                "refresh": latency_summary(refresh_s), "cold_query_one_agent": latency_summary(agent_s),
            }
            log(f"{label}: {report.totals.outcomes:,} outcomes; cold query p50 "
                f"{result['ranges'][label]['cold_query']['p50_ms']} ms; warm query p50 "
                f"{result['ranges'][label]['query']['p50_ms']} ms; refresh p50 "
                f"{result['ranges'][label]['refresh']['p50_ms']} ms")
        window.close()
        window.deleteLater()
        result["insert"] = insert_cost(100 if args.quick else 400)
        log(f"record_outcome p50/p99 with counters {result['insert']['record_outcome_with_counters']['p50_ms']}/"
            f"{result['insert']['record_outcome_with_counters']['p99_ms']} ms, without "
            f"{result['insert']['record_outcome_without_counters']['p50_ms']}/"
            f"{result['insert']['record_outcome_without_counters']['p99_ms']} ms; triggers "
            f"{result['insert']['trigger_us_per_outcome']} µs per outcome")
    finally:
        result["cpu"] = meter.stop()
        runner.shutdown()
        store.close()
    figures = [figure("window open → first data painted (7 days, 1 lead)", result.get("open_ms"), "ms",
                      TARGETS["open_ms"])]
    for label, f in result.get("ranges", {}).items():
        n = f"{f['outcomes_in_range']:,} outcomes"
        figures += [
            figure(f"refresh {label} ({n}), days over cached: p50", f["refresh"]["p50_ms"], "ms",
                   TARGETS["refresh_ms"]),
            figure(f"refresh {label}: p90", f["refresh"]["p90_ms"], "ms", TARGETS["refresh_ms"]),
            figure(f"first look at {label} (cold query, nothing cached): p50", f["cold_query"]["p50_ms"], "ms",
                   TARGETS["refresh_ms"]),
            figure(f"first look at {label}: p90", f["cold_query"]["p90_ms"], "ms", TARGETS["refresh_ms"]),
        ]
    if "insert" in result:
        figures.append(figure("record an outcome (with the statistics counters): p99",
                              result["insert"]["record_outcome_with_counters"]["p99_ms"], "ms", 10))
    result["figures"] = figures
    emit(result, args.json, render)
    return 0


def render(r: dict[str, Any]) -> str:
    rows = []
    for label, f in r["ranges"].items():
        rows.append((label, f["outcomes_in_range"], f["cold_query"]["p50_ms"], f["query"]["p50_ms"],
                     f["query"]["p90_ms"], f["refresh"]["p50_ms"], f["refresh"]["p90_ms"], f["refresh"]["max_ms"],
                     f["cold_query_one_agent"]["p50_ms"]))
    table = format_table(["range", "outcomes", "cold p50", "warm p50", "warm p90", "refresh p50", "refresh p90",
                          "refresh max", "1 agent cold p50"], rows,
                         title=f"stats over {r['outcomes']:,} outcomes ({r['store_mib']} MiB), ms; "
                               f"target refresh <= {TARGETS['refresh_ms']} ms")
    return (f"{table}\n\nfirst read of 7 days in this process: {r['first_read_in_process_ms']} ms\n"
            f"window open → first data painted (7 days): {r['open_ms']} ms "
            f"(target <= {TARGETS['open_ms']} ms)\nrecord an outcome: {r.get('insert')}\nCPU: {r['cpu']}")


if __name__ == "__main__":
    sys.exit(run_main(main))
