"""Every statistics figure equals a brute-force computation over random outcomes and pops (hypothesis).

The data are written through the real store (record_outcome, pops.log, the outbox status changes), so the
triggers of migration 0003 are part of what is checked. Times cluster around local midnights and New York's
fall-back night (2026-11-01), and the zone varies: Shanghai (+8), New York (DST), Kolkata (+5:30: 15-minute
slots) and UTC.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from desktop.domain.outcomes import OutcomeDraft, OutcomeResult
from desktop.services.stats import CALLBACK_GRACE, StatsFilters, StatsService, Viewer
from desktop.storage import open_store
from tests.stats.brute import Out, Pop, expected

ZONES = ("Asia/Shanghai", "America/New_York", "Asia/Kolkata", "UTC")
BASE = dt.datetime(2026, 10, 30, 0, 0, tzinfo=dt.UTC)
SPAN_S = 5 * 86400  # 2026-10-30 .. 2026-11-04 UTC
AGENTS = ("a1", "a2", "张三")
CAMPAIGNS = (None, "RET-Q4", "UPSELL")
OFFERS = ("OFF-A", "OFF-B", "OFF-C")
CUSTOMERS = ("C1", "C2", "C3", "C4")
CODES = ("price_sensitive", "dnd", "contact_cap", "recent_refusal")



# Seconds from BASE: anywhere, or within two minutes of a UTC/Shanghai/New York/Kolkata midnight.
_midnights = [int(h * 3600) + d * 86400 for d in range(5) for h in (0, 4, 5, 16, 18.5)] + [6 * 3600 + 2 * 86400]
instant = st.one_of(
    st.integers(0, SPAN_S - 1),
    st.builds(lambda m, j: max(0, m + j), st.sampled_from(_midnights), st.integers(-120, 120)),
).flatmap(lambda s: st.integers(0, 999_999).map(lambda us: BASE + dt.timedelta(seconds=s, microseconds=us)))

outcome = st.fixed_dictionaries({
    "at": instant,
    "pop_before_s": st.one_of(st.none(), st.floats(-5, 4000, allow_nan=False)),
    "agent": st.sampled_from(AGENTS),
    "campaign": st.sampled_from(CAMPAIGNS),
    "wave": st.integers(1, 3),
    "offer": st.sampled_from(OFFERS),
    "result": st.sampled_from(list(OutcomeResult)),
    "customer": st.sampled_from(CUSTOMERS),
    "callback_in_s": st.integers(-3 * 86400, 3 * 86400),
    "callback_zone": st.sampled_from(("UTC", "Asia/Shanghai", "America/New_York")),
    "callback_us": st.integers(0, 999_999),
    "status": st.sampled_from(("pending", "pending", "delivered", "needs_attention")),
})
pop = st.fixed_dictionaries({
    "at": instant,
    "agent": st.sampled_from(AGENTS),
    "campaign": st.sampled_from(CAMPAIGNS),
    "wave": st.integers(1, 3),
    "presented": st.lists(st.sampled_from(OFFERS), max_size=3, unique=True),
    "suppressed": st.lists(st.fixed_dictionaries({"offer_id": st.sampled_from(("S1", "S2")),
                                                  "codes": st.lists(st.sampled_from(CODES), max_size=2)}),
                           max_size=2),
})
query = st.fixed_dictionaries({
    "zone": st.sampled_from(ZONES),
    "from_day": st.integers(-1, 5),
    "days": st.integers(1, 4),
    "role": st.sampled_from(("lead", "agent")),
    "agent": st.one_of(st.none(), st.sampled_from(AGENTS)),
    "campaign": st.one_of(st.none(), st.sampled_from(CAMPAIGNS[1:])),
    "wave": st.one_of(st.none(), st.integers(1, 3)),
    "now_s": st.integers(0, SPAN_S + 86400),
})


def _write(store, outcomes: list[dict], pops: list[dict], batch: int = 0) -> list[Out]:
    written: list[Out] = []
    for p in pops:
        store.pops.log(popped_at=p["at"], state="live", call_id=None, customer_id="C1", decision_id=None,
                       agent_id=p["agent"], offers_presented=p["presented"], suppressed=p["suppressed"],
                       campaign_id=p["campaign"], wave=p["wave"] if p["campaign"] else None)
    for i, o in enumerate(outcomes):
        result = OutcomeResult(o["result"])
        callback_at = None
        if result is OutcomeResult.CALLBACK:
            callback_at = (o["at"] + dt.timedelta(seconds=o["callback_in_s"])).replace(
                microsecond=o["callback_us"]).astimezone(ZoneInfo(o["callback_zone"]))
        popped_at = None if o["pop_before_s"] is None else o["at"] - dt.timedelta(seconds=o["pop_before_s"])
        campaign = o["campaign"]
        draft = OutcomeDraft(
            decision_id=f"d{batch}-{i}", customer_id=o["customer"], result=result,
            offer_id=o["offer"] if result.needs_offer else None, campaign_id=campaign,
            wave=o["wave"] if campaign else None, callback_at=callback_at,
            reason="busy" if result is OutcomeResult.NOT_OFFERED else None, agent_id=o["agent"])
        record = store.record_outcome(draft.finalize(recorded_at=o["at"], popped_at=popped_at))
        written.append(Out(record.outcome_id, record.customer_id, result.value, record.recorded_at, record.agent_id,
                           record.campaign_id, record.wave, record.offer_id, popped_at, callback_at, o["status"]))
    delivered = [w.outcome_id for w in written if w.status == "delivered"]
    if delivered:
        store.outcomes.mark_delivered(delivered, BASE)
    attention = {w.outcome_id: "unknown offer" for w in written if w.status == "needs_attention"}
    if attention:
        store.outcomes.mark_needs_attention(attention)
    return written


def _as_counts(breakdowns) -> dict[str, dict[str, int]]:
    return {b.key: dict(b.by_result) for b in breakdowns}


def _check(report, want, agent) -> None:
    assert report.scope_agent == agent
    assert report.pops == want["pops"]
    assert report.offers_presented == want["offers_presented"]
    assert dict(report.totals.by_result) == want["totals"]
    assert report.totals.rate == pytest.approx(want["rate"]) if want["rate"] is not None else report.totals.rate is None
    assert _as_counts(report.by_offer) == want["by_offer"]
    assert _as_counts(report.by_campaign) == want["by_campaign"]
    assert _as_counts(report.by_wave) == want["by_wave"]
    assert _as_counts(report.by_agent) == want["by_agent"]
    assert _as_counts(report.by_hour) == want["by_hour"]
    assert {d.day: (d.pops, d.offers_presented, dict(d.outcomes.by_result)) for d in report.daily} == want["days"]
    p2o = report.pop_to_outcome
    n, mean, median, p90 = want["pop_to_outcome"]
    assert (p2o.count, p2o.median_s, p2o.p90_s) == (n, median, p90)
    assert p2o.mean_s == (pytest.approx(mean, abs=1e-6) if mean is not None else None)
    assert dict(report.suppressed) == want["suppressed"]
    assert (report.callbacks.due, report.callbacks.kept, report.callbacks.missed) == want["callbacks"]
    assert (list(report.agents), list(report.campaigns)) == (want["choices"][0], want["choices"][1])
    assert report.backlog.pending == want["pending"]
    assert sorted(e.outcome_id for e in report.backlog.items) == want["needs_attention"]
    assert report.backlog.needs_attention == len(want["needs_attention"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
@given(outcomes=st.lists(outcome, max_size=25), pops=st.lists(pop, max_size=12), q=query,
       later=st.lists(st.tuples(outcome, st.integers(0, 3 * 86400)), min_size=1, max_size=8),
       later_pops=st.lists(st.tuples(pop, st.integers(0, 3 * 86400)), max_size=4),
       later_s=st.integers(0, 2 * 86400))
def test_every_figure_matches_a_brute_force_computation(outcomes, pops, q, later, later_pops, later_s):
    """Also after more rows arrive (some dated in the past, as after a clock change) and time moves on: the
    same service, whose cache of closed days must notice them."""
    zone = ZoneInfo(q["zone"])
    now = [BASE + dt.timedelta(seconds=q["now_s"])]
    date_from = BASE.date() + dt.timedelta(days=q["from_day"])
    date_to = date_from + dt.timedelta(days=q["days"] - 1)
    viewer = Viewer("a1", q["role"], confirmed=True)
    agent = q["agent"] if viewer.is_lead else "a1"
    filters = StatsFilters(date_from, date_to, agent if viewer.is_lead else None, q["campaign"], q["wave"])

    def pop_rows(items):
        return [Pop(p["at"], p["agent"], p["campaign"], p["wave"] if p["campaign"] else None, p["presented"],
                    p["suppressed"]) for p in items]

    def expect(written, all_pops):
        return expected(written, pop_rows(all_pops), zone=zone, date_from=date_from, date_to=date_to, agent=agent,
                        campaign=q["campaign"], wave=q["wave"], now=now[0], grace=CALLBACK_GRACE,
                        scope=None if viewer.is_lead else "a1")

    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "stats.sqlite3") as store:
        written = _write(store, outcomes, pops)
        service = StatsService(store, zone, clock=lambda: now[0])
        _check(service.report(filters, viewer), expect(written, pops), agent)
        # Late rows: dated up to three days before "now" (a clock set back, a slow writer).
        late = [{**o, "at": max(BASE, now[0] - dt.timedelta(seconds=back))} for o, back in later]
        late_pops = [{**p, "at": max(BASE, now[0] - dt.timedelta(seconds=back))} for p, back in later_pops]
        written += _write(store, late, late_pops, batch=1)
        now[0] += dt.timedelta(seconds=later_s)
        _check(service.report(filters, viewer), expect(written, pops + late_pops), agent)


def _counters(store) -> dict[str, list[tuple]]:
    with store.engine.connect() as conn:
        counters = {t: sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t}"))
                    for t in ("stats_slots", "stats_blocks")}
        counters["cb_kept"] = sorted(tuple(r) for r in conn.exec_driver_sql(
            "SELECT outcome_id, cb_kept FROM local_contacts"))
        return counters


def _migration_0005():
    import importlib.util

    from desktop.storage.engine import MIGRATIONS_DIR

    spec = importlib.util.spec_from_file_location("_m0005", MIGRATIONS_DIR / "versions" / "0005_stats_aggregates.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_the_triggers_use_the_services_callback_grace_and_results():
    assert CALLBACK_GRACE.total_seconds() == _migration_0005().CALLBACK_GRACE_S
    assert tuple(r.value for r in OutcomeResult) == _migration_0005().RESULTS


def _back_fill_again(store) -> None:
    """Empty the counters of migration 0005 and run its back-fill of existing rows (as an upgrade would)."""
    m = _migration_0005()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE local_contacts SET cb_kept = NULL")
        conn.exec_driver_sql(m.back_fill_callbacks())
        for t in ("stats_slots", "stats_blocks"):
            conn.exec_driver_sql(f"DELETE FROM {t}")
        for sql in [*m._outcome_inserts("local_contacts", "", grouped=True), *m._pop_inserts(grouped=True),
                    m._suppression_insert(grouped=True)]:
            conn.exec_driver_sql(sql)


# Whole-team ranges (no filter) are read from the counters of migration 0005: short ranges (parts of UTC days
# only), and long ones whose whole UTC days come from blocks of 1, 8 and 64 days (2026-09-21 starts a 64-day
# block, 2026-10-31 an 8-day one).
team_range = st.one_of(
    st.tuples(st.integers(-2, 6), st.integers(1, 12)),
    st.tuples(st.integers(-45, -38), st.integers(60, 80)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
@given(outcomes=st.lists(outcome, max_size=25), pops=st.lists(pop, max_size=12), zone_name=st.sampled_from(ZONES),
       span=team_range, now_s=st.integers(0, SPAN_S + 86400),
       later=st.lists(st.tuples(outcome, st.integers(0, 3 * 86400)), min_size=1, max_size=8),
       later_pops=st.lists(st.tuples(pop, st.integers(0, 3 * 86400)), max_size=4))
def test_team_figures_from_the_counters_match_a_brute_force_computation(outcomes, pops, zone_name, span, now_s,
                                                                         later, later_pops):
    """The whole team's figures (the counters' path), before and after rows arrive that the counters were
    already read for; the back-fill of an upgrade yields the very counters the triggers kept."""
    zone = ZoneInfo(zone_name)
    now = BASE + dt.timedelta(seconds=now_s)
    date_from = BASE.date() + dt.timedelta(days=span[0])
    date_to = date_from + dt.timedelta(days=span[1] - 1)
    lead = Viewer("a1", "lead", confirmed=True)
    filters = StatsFilters(date_from, date_to)

    def expect(written, all_pops):
        rows = [Pop(p["at"], p["agent"], p["campaign"], p["wave"] if p["campaign"] else None, p["presented"],
                    p["suppressed"]) for p in all_pops]
        return expected(written, rows, zone=zone, date_from=date_from, date_to=date_to, agent=None, campaign=None,
                        wave=None, now=now, grace=CALLBACK_GRACE)

    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "stats.sqlite3") as store:
        written = _write(store, outcomes, pops)
        service = StatsService(store, zone, clock=lambda: now)
        assert service._aggregate_width(service.local_start(date_from), service.local_start(date_to)) is not None
        _check(service.report(filters, lead), expect(written, pops), None)
        # Late rows anywhere (near midnights, as `instant` draws them: edges and blocks alike) or just before now.
        late = [o if i % 2 else {**o, "at": max(BASE, now - dt.timedelta(seconds=back))}
                for i, (o, back) in enumerate(later)]
        late_pops = [p if i % 2 else {**p, "at": max(BASE, now - dt.timedelta(seconds=back))}
                     for i, (p, back) in enumerate(later_pops)]
        written += _write(store, late, late_pops, batch=1)
        _check(service.report(filters, lead), expect(written, pops + late_pops), None)
        kept = _counters(store)
        _back_fill_again(store)
        assert _counters(store) == kept
