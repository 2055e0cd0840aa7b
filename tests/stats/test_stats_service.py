"""StatsService rules that random data cannot pin down: who sees what, filter errors, boundaries, exports,
and the migration that fills the new columns for existing stores."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import sqlite3
from zoneinfo import ZoneInfo

import pytest
from alembic import command

from desktop.domain.outcomes import OutcomeDraft
from desktop.services.stats import (
    CALLBACK_GRACE,
    InvalidStatsRequest,
    StatsFilters,
    StatsForbidden,
    StatsService,
    Viewer,
    parse_date,
    report_to_csv,
    report_to_json,
    write_csv,
)
from desktop.storage import open_store
from desktop.storage.engine import alembic_config, make_engine
from tests.stats.conftest import T0, record, seed_team

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 20)
LEAD = Viewer("lead-01", "lead", confirmed=True)
AGENT = Viewer("agent-007", "agent", confirmed=True)


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "callcue.sqlite3") as store:
        yield store


def service(store, now=T0 + dt.timedelta(hours=3)):
    return StatsService(store, SHANGHAI, clock=lambda: now)


def test_a_lead_sees_every_agent_and_may_pick_one(store):
    seed_team(store)
    everyone = service(store).report(StatsFilters(DAY, DAY), LEAD)
    assert everyone.scope_agent is None
    assert [b.key for b in everyone.by_agent] == ["agent-007", "agent-008"]
    assert everyone.totals.outcomes == 6 and everyone.totals.accepted == 3 and everyone.totals.answered == 5
    assert everyone.totals.rate == pytest.approx(3 / 5)
    assert everyone.agents == ("agent-007", "agent-008")
    one = service(store).report(StatsFilters(DAY, DAY, agent_id="agent-008"), LEAD)
    assert one.scope_agent == "agent-008"
    assert dict(one.totals.by_result) == {"accepted": 2, "do_not_disturb": 1}
    assert one.pops == 1 and one.offers_presented == 2
    assert one.agents == ("agent-007", "agent-008")  # the drop-down still offers everyone


def test_an_agent_sees_only_their_own_figures_whatever_they_ask(store):
    seed_team(store)
    own = service(store).report(StatsFilters(DAY, DAY), AGENT)
    assert own.scope_agent == "agent-007"
    assert [b.key for b in own.by_agent] == ["agent-007"]
    assert dict(own.totals.by_result) == {"accepted": 1, "declined": 1, "considering": 1}
    assert own.agents == ("agent-007",)
    assert own.pops == 1
    with pytest.raises(StatsForbidden, match="agents see only their own figures"):
        service(store).report(StatsFilters(DAY, DAY, agent_id="agent-008"), AGENT)
    # An unconfirmed role (server offline) is an agent too.
    with pytest.raises(StatsForbidden):
        service(store).report(StatsFilters(DAY, DAY, agent_id="agent-008"), Viewer("agent-007"))
    with pytest.raises(StatsForbidden, match="sign in first"):
        service(store).report(StatsFilters(DAY, DAY), Viewer(None))


def test_the_sync_backlog_is_scoped_like_the_figures(store):
    seed_team(store)
    entries = store.outcomes.entries()
    mine = next(e for e in entries if e.offer_id and e.result.value == "declined")
    store.outcomes.mark_needs_attention({mine.outcome_id: "offer withdrawn"})
    lead = service(store).report(StatsFilters(DAY, DAY), LEAD)
    own = service(store).report(StatsFilters(DAY, DAY), Viewer("agent-008", "agent", True))
    assert (lead.backlog.pending, lead.backlog.needs_attention) == (5, 1)
    assert lead.backlog.items[0].server_reason == "offer withdrawn"
    assert (own.backlog.pending, own.backlog.needs_attention, own.backlog.items) == (3, 0, ())
    assert lead.backlog.oldest_pending == T0


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "", "2026/11/20"])
def test_bad_dates_are_refused_in_plain_words_in_both_languages(text):
    with pytest.raises(InvalidStatsRequest) as caught:
        parse_date(text, "--from")
    assert "YYYY-MM-DD" in str(caught.value) and "不是有效日期" in str(caught.value)


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(InvalidStatsRequest, match=r"starts .* after it ends"):
        StatsFilters(DAY, DAY - dt.timedelta(days=1))
    with pytest.raises(InvalidStatsRequest, match="wave"):
        StatsFilters(DAY, DAY, wave=0)


def test_days_are_local_days(store):
    # 23:59:59 and 00:00:00 Shanghai time fall on different days; both are 15:59/16:00 UTC.
    record(store, at=dt.datetime(2026, 11, 19, 15, 59, 59, 999999, tzinfo=dt.UTC), agent="agent-007")
    record(store, at=dt.datetime(2026, 11, 19, 16, 0, tzinfo=dt.UTC), agent="agent-007")
    report = service(store).report(StatsFilters(DAY - dt.timedelta(days=1), DAY), LEAD)
    assert [(d.day, d.outcomes.outcomes) for d in report.daily] == [(DAY - dt.timedelta(days=1), 1), (DAY, 1)]
    assert [(b.key, b.outcomes) for b in report.by_hour] == [("00", 1), ("23", 1)]
    new_york = StatsService(store, ZoneInfo("America/New_York"), clock=lambda: T0)
    assert new_york.report(StatsFilters(DAY - dt.timedelta(days=1), DAY - dt.timedelta(days=1)), LEAD) \
        .totals.outcomes == 2  # 10:59 and 11:00 on the 19th in New York


def test_a_callback_is_kept_by_an_outcome_up_to_its_time_plus_the_grace(store):
    at = dt.datetime(2026, 11, 20, 6, 0, tzinfo=SHANGHAI)
    for customer in ("C-KEPT", "C-LATE", "C-OPEN"):
        record(store, at=T0 - dt.timedelta(hours=5), agent="agent-007", result="callback", customer=customer,
               callback_at=at if customer != "C-OPEN" else at + dt.timedelta(hours=10))
    record(store, at=at + CALLBACK_GRACE, agent="agent-008", customer="C-KEPT")  # exactly at the limit
    record(store, at=at + CALLBACK_GRACE + dt.timedelta(microseconds=1), agent="agent-007", customer="C-LATE")
    report = service(store, now=T0 + dt.timedelta(hours=1)).report(StatsFilters(DAY, DAY), LEAD)
    assert (report.callbacks.due, report.callbacks.kept, report.callbacks.missed, report.callbacks.open) == (3, 1, 1, 1)


def test_time_from_pop_to_outcome(store):
    for seconds in (10.0, 20.5, 30.0, 400.0):
        record(store, at=T0, agent="agent-007", pop_before_s=seconds)
    record(store, at=T0, agent="agent-007", pop_before_s=None)  # not linked to a pop: not counted
    record(store, at=T0, agent="agent-007", pop_before_s=-2)  # clock set back: not counted
    p = service(store).report(StatsFilters(DAY, DAY), LEAD).pop_to_outcome
    assert (p.count, p.median_s, p.p90_s) == (4, 20, 400)
    assert p.mean_s == pytest.approx((10 + 20.5 + 30 + 400) / 4)


def test_an_empty_range_says_so(store):
    seed_team(store)
    report = service(store).report(StatsFilters(DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)), LEAD)
    assert report.empty and report.totals.rate is None and report.pop_to_outcome.median_s is None
    assert [d.outcomes.outcomes for d in report.daily] == [0, 0]
    assert not service(store).report(StatsFilters(DAY, DAY), LEAD).empty


def test_csv_and_json_carry_every_figure(store, tmp_path):
    seed_team(store)
    report = service(store).report(StatsFilters(DAY, DAY, campaign_id="CMP-1"), LEAD)
    rows = list(csv.reader(io.StringIO(report_to_csv(report))))
    assert rows[0] == ["section", "key", "metric", "value"]
    table = {(s, k, m): v for s, k, m, v in rows[1:]}
    assert table[("summary", "", "pops")] == "2"
    assert table[("outcomes", "", "acceptance_rate")] == "0.6"
    assert table[("by_agent", "agent-008", "result_do_not_disturb")] == "1"
    assert table[("by_day", "2026-11-20", "offers_presented")] == "4"
    assert table[("suppressed_by_reason", "price_sensitive", "offers")] == "2"
    assert table[("filters", "", "campaign_id")] == "CMP-1"
    data = json.loads(json.dumps(report_to_json(report)))
    assert data["by_offer"][0]["key"] == "OFF-A" and data["callbacks"]["due"] == 0
    assert data["filters"]["time_zone"] == "Asia/Shanghai"
    path = write_csv(report, tmp_path / "stats.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the UTF-8 right


def test_the_migration_fills_the_new_columns_of_an_existing_store(tmp_path):
    """A store written before 0003 (callbacks in the outbox payload only, suppressed offers as JSON)."""
    path = tmp_path / "old.sqlite3"
    engine = make_engine(path)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    callback_at = dt.datetime(2026, 11, 21, 9, 30, 15, 999999, tzinfo=SHANGHAI)
    record_ = OutcomeDraft(decision_id="d1", customer_id="C1", result="callback", callback_at=callback_at,
                           agent_id="agent-007").finalize(recorded_at=T0, popped_at=T0 - dt.timedelta(seconds=42))
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("INSERT INTO pop_log (popped_at, state, agent_id, offers_presented, suppressed) VALUES "
                    "('2026-11-20 01:59:18.000000', 'live', 'agent-007', '[\"A\",\"B\",\"C\"]', "
                    "'[{\"offer_id\": \"X\", \"codes\": [\"dnd\", \"contact_cap\"]}]')")
        raw.execute("INSERT INTO outbox (outcome_id, payload, decision_id, customer_id, result, recorded_at, status,"
                    " attempts) VALUES (?, ?, 'd1', 'C1', 'callback', '2026-11-20 02:00:00.000000', 'pending', 0)",
                    (record_.outcome_id, json.dumps(record_.to_payload())))
        raw.execute("INSERT INTO local_contacts (outcome_id, customer_id, result, recorded_at, agent_id, decision_id,"
                    " popped_at) VALUES (?, 'C1', 'callback', '2026-11-20 02:00:00.000000', 'agent-007', 'd1',"
                    " '2026-11-20 01:59:18.000000')", (record_.outcome_id,))
    raw.close()
    with open_store(path) as store:  # migrates to head
        report = service(store).report(StatsFilters(DAY, dt.date(2026, 11, 21)), LEAD)
        assert report.pops == 1 and report.offers_presented == 3
        assert dict(report.suppressed) == {"dnd": 1, "contact_cap": 1}
        assert report.callbacks.due == 1
        assert report.pop_to_outcome.median_s == 42
        with store.engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT callback_at FROM local_contacts").scalar()
        assert stored == "2026-11-21 01:30:15.000000"  # UTC, to the second


def test_cached_days_follow_rows_added_later(store):
    """Days that are over are reused between refreshes; rows added to them later (a clock set back) and
    outcomes that keep a callback of a finished day still count."""
    now = [T0 + dt.timedelta(days=3)]
    svc = StatsService(store, SHANGHAI, clock=lambda: now[0])
    callback_time = T0 + dt.timedelta(hours=1)
    record(store, at=T0 - dt.timedelta(hours=1), agent="agent-007", result="callback", customer="C-CB",
           callback_at=callback_time)
    filters = StatsFilters(DAY, DAY + dt.timedelta(days=2))
    first = svc.report(filters, LEAD)
    assert (first.totals.outcomes, first.callbacks.due, first.callbacks.kept, first.callbacks.missed) == (1, 1, 0, 1)
    assert svc.report(filters, LEAD) == dataclasses.replace(first, generated_at=first.generated_at)  # from cache
    # Late rows dated in the finished day: one keeps the callback, one is a new callback due that day.
    record(store, at=callback_time + dt.timedelta(minutes=5), agent="agent-008", customer="C-CB")
    record(store, at=T0 - dt.timedelta(hours=2), agent="agent-008", result="callback", customer="C-NEW",
           callback_at=T0 + dt.timedelta(hours=2))
    second = svc.report(filters, LEAD)
    assert (second.totals.outcomes, second.callbacks.due, second.callbacks.kept, second.callbacks.missed) == (3, 2, 1, 1)
    fresh = StatsService(store, SHANGHAI, clock=lambda: now[0]).report(filters, LEAD)
    assert second == fresh
