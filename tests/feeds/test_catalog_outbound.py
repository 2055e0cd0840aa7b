"""The catalog feed's outbound keys: calling hours and time zone (campaign, wave), max attempts, retry rules and
assignment (wave); stored, read back by the server, unchanged on re-import, and refused where wrong."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from server_stub.domain.outbound import CallingHours
from server_stub.feeds.catalog import CatalogFeedError, apply_catalog, parse_catalog
from server_stub.services.catalog import load_catalog
from tests.feeds.test_catalog_feed import EXAMPLE_TEXT, NOW, TODAY, write

OUTBOUND = """format = 1
[[offers]]
id = "RET"
category = "retention"
title_zh = "挽留"
title_en = "Retention"

[[campaigns]]
id = "CMP_CALLS"
name_zh = "外呼"
name_en = "Calls"
offers = ["RET"]
calling_hours = ["09:00-12:00", "14:00-20:00"]
time_zone = "Europe/Berlin"

[[campaigns.waves]]
seq = 1
channel = "outbound_call"
starts_day = -1
ends_day = 10
calling_hours = ["10:00-11:00"]
max_attempts = 5
retry = { no_answer = "90m", busy = 15, refused_call = "1d", voicemail = "never" }
agents = ["agent-01"]
teams = ["team-a", "team-b"]

[[campaigns.waves]]
seq = 2
channel = "outbound_call"
starts_day = 11
ends_day = 20
"""


def test_outbound_keys_are_stored_read_back_and_re_applying_changes_nothing(migrated_engine, tmp_path):
    path = write(tmp_path, OUTBOUND)
    report = apply_catalog(migrated_engine, path, today=TODAY, now=NOW)
    assert report.inserted == 2
    with Session(migrated_engine) as session:
        campaign = load_catalog(session).campaigns["CMP_CALLS"]
    first, second = campaign.outbound[1], campaign.outbound[2]
    assert first.hours == CallingHours(((600, 660),), "Europe/Berlin")  # the wave narrows the campaign's
    assert first.retry.max_attempts == 5
    assert dict(first.retry.minutes) == {"no_answer": 90, "busy": 15, "voicemail": None, "refused_call": 1440}
    assert first.agents == {"agent-01"} and first.teams == {"team-a", "team-b"}
    assert first.open_to("agent-01", None) and first.open_to("x", "team-b") and not first.open_to("x", "team-c")
    assert second.hours == CallingHours(((540, 720), (840, 1200)), "Europe/Berlin")  # the campaign's
    assert second.retry.max_attempts == 3 and second.retry.minutes["no_answer"] == 120  # the defaults
    assert second.open_to("anyone", None)
    assert not apply_catalog(migrated_engine, path, today=TODAY, now=NOW).changed
    changed = OUTBOUND.replace('busy = 15', 'busy = "20m"')
    assert apply_catalog(migrated_engine, write(tmp_path, changed, "c.toml"), today=TODAY, now=NOW).updated == 1


def test_the_example_catalog_has_a_running_outbound_wave_with_its_rules(migrated_engine, tmp_path):
    apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), today=TODAY, now=NOW)
    with Session(migrated_engine) as session:
        campaign = load_catalog(session).campaigns["CMP_RETENTION_CALLS"]
    wave = campaign.waves[0]
    assert wave.channel == "outbound_call" and wave.starts_on <= TODAY <= wave.ends_on
    settings = campaign.outbound[1]
    assert settings.hours.texts() == ["09:00-12:00", "13:30-20:30"] and settings.hours.time_zone == "Asia/Shanghai"
    assert settings.retry.minutes["busy"] == 30 and settings.retry.minutes["refused_call"] is None


@pytest.mark.parametrize(("change", "column", "en", "zh"), [
    (('calling_hours = ["10:00-11:00"]', 'calling_hours = ["21:00-09:00"]'), "campaigns[0].waves[0].calling_hours[0]",
     "split a window over midnight in two", "跨午夜请拆成两个时段"),
    (('calling_hours = ["10:00-11:00"]', 'calling_hours = "10-11"'), "campaigns[0].waves[0].calling_hours",
     "calling_hours must list windows", "calling_hours 必须是时段列表"),
    (('time_zone = "Europe/Berlin"', 'time_zone = "Mars/Olympus"'), "campaigns[0].time_zone",
     "not a known IANA time zone", "不是已知的 IANA 时区"),
    (('max_attempts = 5', 'max_attempts = 0'), "campaigns[0].waves[0].max_attempts",
     "max_attempts must be a whole number from 1 to 20", "max_attempts 必须是 1 到 20 之间的整数"),
    (('busy = 15', 'busy = "soon"'), "campaigns[0].waves[0].retry.busy",
     "is not a delay like", "不是形如"),
    (('busy = 15', 'wrong_number = "1h"'), "campaigns[0].waves[0].retry.wrong_number",
     "wrong_number and invalid_number always close the member", "总是结束该客户"),
    (('agents = ["agent-01"]', 'agents = ["agent 01"]'), "campaigns[0].waves[0].agents",
     "agents must list agent ids", "坐席编号"),
])
def test_bad_outbound_keys_are_refused_where_they_are(change, column, en, zh):
    with pytest.raises(CatalogFeedError) as caught:
        parse_catalog(OUTBOUND.replace(*change), file="ops/catalog.toml", today=TODAY)
    problems = caught.value.problems
    assert [p.column for p in problems] == [column], problems
    assert en in problems[0].en and zh in problems[0].zh and problems[0].line > 1


def test_calling_hours_rules():
    hours = CallingHours.of(["20:00-24:00", "00:00-02:00"], "Asia/Shanghai")
    at = lambda h, m=0: dt.datetime(2026, 12, 8, h, m, tzinfo=dt.UTC)  # noqa: E731
    assert hours.open_at(at(12)) and hours.open_at(at(17, 59)) and not hours.open_at(at(18))  # 20:00-02:00 local
    assert hours.next_opening(at(18)) == at(12) + dt.timedelta(days=1)
    assert CallingHours.of(None, None).texts() == ["09:00-21:00"]
