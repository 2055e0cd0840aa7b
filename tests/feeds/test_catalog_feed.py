"""The catalog feed (server_stub/feeds/catalog.py) on SQLite and PostgreSQL: applied, re-applied unchanged,
updated, retired by --full without breaking history, and refused with every bad entry located."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server_stub.api.app import create_app
from server_stub.db.models import (
    Campaign,
    CampaignMember,
    CampaignOffer,
    ContactCap,
    CustomerCap,
    Decision,
    FeedRun,
    Offer,
    Outcome,
    Wave,
)
from server_stub.feeds.catalog import CatalogFeedError, apply_catalog, parse_catalog
from server_stub.feeds.report import FeedFailure
from server_stub.paths import resources_dir
from server_stub.services.auth import create_token
from tests.server import factories

EXAMPLE = resources_dir() / "feeds" / "catalog.example.toml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
TODAY = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)


def write(tmp_path: Path, text: str, name: str = "catalog.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def without_offer(text: str, offer_id: str) -> str:
    """The example minus one [[offers]] entry (and any campaign reference to it)."""
    blocks = re.split(r"(?m)^(?=\[\[offers\]\]|# ---)", text)
    kept = [b for b in blocks if f'id = "{offer_id}"' not in b]
    return "".join(kept).replace(f', "{offer_id}"', "").replace(f'"{offer_id}", ', "")


def rows(engine, model, *order) -> list:
    with Session(engine) as session:
        return session.scalars(select(model).order_by(*order)).all()


def runs(engine) -> list[tuple[str, str, int, int, int]]:
    with Session(engine) as session:
        return [(r.status, r.mode, r.inserted, r.updated, r.unchanged)
                for r in session.scalars(select(FeedRun).order_by(FeedRun.run_id))]


def test_the_example_is_applied_then_re_applying_changes_nothing(migrated_engine, tmp_path):
    path = write(tmp_path, EXAMPLE_TEXT)
    report = apply_catalog(migrated_engine, path, today=TODAY, now=NOW)
    assert (report.inserted, report.updated, report.unchanged, report.retired) == (13, 0, 0, 0)
    assert report.rows_read == 13 and report.changed

    offers = {o.offer_id: o for o in rows(migrated_engine, Offer, Offer.offer_id)}
    assert len(offers) == 8 and all(o.active and o.retired_at is None for o in offers.values())
    assert offers["RBT_VIDEO"].monthly_fee_delta_fen == 500 and offers["RBT_VIDEO"].product_id == "RBT"
    assert offers["RET_CONTRACT_12M"].monthly_fee_delta_fen == -1000
    assert offers["ADDON_DATA_30G"].product_id is None  # holding ADDON_DATA_30G itself means "already has it"
    assert offers["CARE_LOYALTY_GIFT"].eligibility == [
        {"fact": "tenure_months", "op": ">=", "value": 6, "zh": "在网满6个月的客户才可领取",
         "en": "For customers with us for 6 months or more"}]
    assert offers["CARE_USAGE_ALERT"].created_at == NOW
    waves = [(w.campaign_id, w.seq, w.channel, w.starts_on, w.ends_on)
             for w in rows(migrated_engine, Wave, Wave.campaign_id, Wave.seq)]
    # Relative days count from the import day.
    assert ("CMP_NEW_CUSTOMER_CARE", 2, "inbound_call", TODAY - dt.timedelta(days=7),
            TODAY + dt.timedelta(days=30)) in waves
    assert len(waves) == 6
    caps = {(c.campaign_id, c.channel): (c.max_contacts, c.period_days) for c in rows(migrated_engine, ContactCap)}
    assert caps[("CMP_AUTOPAY_BONUS", "sms")] == (2, 14) and len(caps) == 6
    assert {c.channel: (c.max_contacts, c.period_days) for c in rows(migrated_engine, CustomerCap)} == {
        "*": (6, 30), "outbound_call": (2, 30)}
    links = {(link.campaign_id, link.offer_id) for link in rows(migrated_engine, CampaignOffer)}
    assert ("CMP_AUTOPAY_BONUS", "PAY_AUTOPAY_BANK") in links and len(links) == 5

    again = apply_catalog(migrated_engine, path, today=TODAY, now=NOW + dt.timedelta(hours=1))
    assert (again.inserted, again.updated, again.unchanged, again.retired, again.deleted) == (0, 0, 13, 0, 0)
    assert not again.changed
    assert "nothing changed" in again.summary("en") and "无任何变化" in again.summary("zh")
    assert runs(migrated_engine) == [("applied", "delta", 13, 0, 0), ("unchanged", "delta", 0, 0, 13)]
    with Session(migrated_engine) as session:
        run = session.scalars(select(FeedRun).order_by(FeedRun.run_id.desc())).first()
        assert run.kind == "catalog" and run.file_name == "catalog.toml" and len(run.file_sha256) == 64


def test_a_changed_title_updates_that_offer_only(migrated_engine, tmp_path):
    apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), today=TODAY, now=NOW)
    changed = EXAMPLE_TEXT.replace('title_zh = "30GB流量月包 30元/月"', 'title_zh = "30GB流量月包 限时29元/月"')
    changed = changed.replace('{ channel = "sms", max_contacts = 2, period_days = 14 }',
                              '{ channel = "sms", max_contacts = 3, period_days = 14 }')
    report = apply_catalog(migrated_engine, write(tmp_path, changed), today=TODAY, now=NOW)
    assert (report.inserted, report.updated, report.unchanged) == (0, 2, 11)
    offers = {o.offer_id: o for o in rows(migrated_engine, Offer)}
    assert offers["ADDON_DATA_30G"].title_zh == "30GB流量月包 限时29元/月"
    assert offers["ADDON_DATA_30G"].created_at == NOW, "an update keeps when the offer came"
    caps = {(c.campaign_id, c.channel): c.max_contacts for c in rows(migrated_engine, ContactCap)}
    assert caps[("CMP_AUTOPAY_BONUS", "sms")] == 3 and caps[("CMP_NEW_CUSTOMER_CARE", "sms")] == 2


def test_relative_days_move_with_the_import_day_absolute_dates_do_not(migrated_engine, tmp_path):
    path = write(tmp_path, EXAMPLE_TEXT)
    apply_catalog(migrated_engine, path, today=TODAY, now=NOW)
    report = apply_catalog(migrated_engine, path, today=TODAY + dt.timedelta(days=1), now=NOW)
    assert (report.updated, report.unchanged) == (3, 10), "the three campaigns' waves moved by a day"
    starts = {(w.campaign_id, w.seq): w.starts_on for w in rows(migrated_engine, Wave)}
    assert starts[("CMP_NEW_CUSTOMER_CARE", 2)] == TODAY - dt.timedelta(days=6)
    absolute = EXAMPLE_TEXT.replace("starts_day = -7, ends_day = 30", "starts_on = 2026-11-16, ends_on = 2026-12-23")
    apply_catalog(migrated_engine, write(tmp_path, absolute, "absolute.toml"), today=TODAY, now=NOW)
    report = apply_catalog(migrated_engine, write(tmp_path, absolute, "absolute.toml"), today=TODAY, now=NOW)
    assert not report.changed


def test_a_campaign_in_the_file_gets_exactly_the_files_waves_caps_and_offers(migrated_engine, tmp_path):
    apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), today=TODAY, now=NOW)
    delta = """format = 1
[[campaigns]]
id = "CMP_AUTOPAY_BONUS"
name_zh = "绑定自动缴费送话费"
name_en = "Autopay sign-up bonus"
offers = ["PAY_AUTOPAY_BANK", "CARE_USAGE_ALERT"]
waves = [{ seq = 1, channel = "app_push", starts_on = 2026-12-01, ends_on = 2026-12-31 }]
caps = [{ channel = "app_push", max_contacts = 1, period_days = 7 }]
"""
    # A delta may name offers already in the catalog; it leaves everything it does not name alone.
    report = apply_catalog(migrated_engine, write(tmp_path, delta, "delta.toml"), today=TODAY, now=NOW)
    assert (report.rows_read, report.updated, report.retired) == (1, 1, 0)
    waves = [(w.seq, w.channel, w.starts_on) for w in rows(migrated_engine, Wave, Wave.seq)
             if w.campaign_id == "CMP_AUTOPAY_BONUS"]
    assert waves == [(1, "app_push", dt.date(2026, 12, 1))]
    caps = {(c.campaign_id, c.channel) for c in rows(migrated_engine, ContactCap)}
    assert {c for c in caps if c[0] == "CMP_AUTOPAY_BONUS"} == {("CMP_AUTOPAY_BONUS", "app_push")}
    assert len([c for c in caps if c[0] == "CMP_NEW_CUSTOMER_CARE"]) == 3
    links = {link.offer_id for link in rows(migrated_engine, CampaignOffer) if link.campaign_id == "CMP_AUTOPAY_BONUS"}
    assert links == {"PAY_AUTOPAY_BANK", "CARE_USAGE_ALERT"}
    assert len(rows(migrated_engine, Offer)) == 8 and len(rows(migrated_engine, CustomerCap)) == 2


def test_customer_caps_are_replaced_when_named_and_kept_when_not(migrated_engine, tmp_path):
    apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), today=TODAY, now=NOW)
    caps = lambda: {c.channel: c.max_contacts for c in rows(migrated_engine, CustomerCap)}  # noqa: E731
    apply_catalog(migrated_engine, write(tmp_path, "format = 1\n", "empty.toml"), today=TODAY)
    assert caps() == {"*": 6, "outbound_call": 2}
    report = apply_catalog(migrated_engine, write(tmp_path, 'format = 1\n[[customer_caps]]\nchannel = "sms"\n'
                                                  'max_contacts = 3\nperiod_days = 7\n', "caps.toml"), today=TODAY)
    assert caps() == {"sms": 3} and (report.inserted, report.deleted) == (1, 2)
    report = apply_catalog(migrated_engine, write(tmp_path, "format = 1\ncustomer_caps = []\n", "none.toml"))
    assert caps() == {} and report.deleted == 1


def test_full_retires_an_absent_offer_keeps_its_history_and_a_comeback_reactivates_it(migrated_engine, tmp_path):
    full = write(tmp_path, EXAMPLE_TEXT)
    apply_catalog(migrated_engine, full, today=TODAY, full=True, now=NOW)
    with Session(migrated_engine) as session:
        factories.add_customer(session, "C1", "13800138000", campaign=False, tenure_months=3)
        session.add(Decision(decision_id="d-1", customer_id="C1", agent_id="a", created_at=NOW,
                             rules_version="x", offer_ids=["ADDON_VOICE_300"]))
        session.add(Outcome(outcome_id=str(uuid.uuid4()), decision_id="d-1", customer_id="C1",
                            offer_id="ADDON_VOICE_300", channel="inbound_call", result="accepted", agent_id="a",
                            recorded_at=NOW, received_at=NOW, fingerprint="f"))
        session.commit()

    smaller = write(tmp_path, without_offer(EXAMPLE_TEXT, "ADDON_VOICE_300"), "smaller.toml")
    # A delta without the offer leaves it alone …
    report = apply_catalog(migrated_engine, smaller, today=TODAY, now=NOW)
    assert report.retired == 0 and not report.changed
    # … a full snapshot retires it: never deleted, the outcome still points at it.
    later = NOW + dt.timedelta(days=1)
    report = apply_catalog(migrated_engine, smaller, today=TODAY, full=True, now=later)
    assert (report.retired, report.unchanged, report.deleted) == (1, 12, 0)
    offers = {o.offer_id: o for o in rows(migrated_engine, Offer)}
    assert not offers["ADDON_VOICE_300"].active and offers["ADDON_VOICE_300"].retired_at == later
    assert sum(not o.active for o in offers.values()) == 1
    assert [o.offer_id for o in rows(migrated_engine, Outcome)] == ["ADDON_VOICE_300"]
    assert runs(migrated_engine)[-1][:2] == ("applied", "full")
    with Session(migrated_engine) as session:
        assert session.scalar(select(FeedRun.deleted).order_by(FeedRun.run_id.desc()).limit(1)) == 1
    # Re-applying the same snapshot: already retired, nothing changes.
    again = apply_catalog(migrated_engine, smaller, today=TODAY, full=True, now=later)
    assert not again.changed and again.unchanged == 12

    back = apply_catalog(migrated_engine, full, today=TODAY, full=True, now=later)
    assert (back.updated, back.unchanged, back.retired) == (1, 12, 0)
    offer = next(o for o in rows(migrated_engine, Offer) if o.offer_id == "ADDON_VOICE_300")
    assert offer.active and offer.retired_at is None and offer.created_at == NOW


def test_full_and_explicit_retirement_of_campaigns(migrated_engine, tmp_path):
    apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), today=TODAY, now=NOW)
    retire = 'format = 1\n[[campaigns]]\nid = "CMP_AUTOPAY_BONUS"\nretired = true\n'
    report = apply_catalog(migrated_engine, write(tmp_path, retire, "retire.toml"), now=NOW)
    assert report.retired == 1
    campaign = next(c for c in rows(migrated_engine, Campaign) if c.campaign_id == "CMP_AUTOPAY_BONUS")
    assert not campaign.active and campaign.retired_at == NOW
    assert len([w for w in rows(migrated_engine, Wave) if w.campaign_id == "CMP_AUTOPAY_BONUS"]) == 2, "kept"
    # A delta's retirement keeps the offer bound to the campaign (so it is not pitched to everyone) …
    linked = lambda: {(k.campaign_id, k.offer_id) for k in rows(migrated_engine, CampaignOffer)}  # noqa: E731
    assert ("CMP_AUTOPAY_BONUS", "PAY_AUTOPAY_BANK") in linked()
    # … the full example brings it back …
    report = apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), today=TODAY, full=True, now=NOW)
    assert report.updated == 1 and report.retired == 0
    assert all(c.active for c in rows(migrated_engine, Campaign))
    # … and a full file without it retires it and frees its offer, which no campaign of the file lists any
    # more: always on. Its waves stay as the record of what ran.
    start = EXAMPLE_TEXT.index('[[campaigns]]\nid = "CMP_AUTOPAY_BONUS"')
    no_campaign = EXAMPLE_TEXT[:start] + EXAMPLE_TEXT[EXAMPLE_TEXT.index('[[campaigns]]\nid = "CMP_RETENTION_CALLS"'):]
    report = apply_catalog(migrated_engine, write(tmp_path, no_campaign, "n.toml"), today=TODAY, full=True, now=NOW)
    assert (report.retired, report.updated, report.unchanged) == (1, 0, 12)
    assert {c for c in linked() if c[0] == "CMP_AUTOPAY_BONUS"} == set()
    assert len([w for w in rows(migrated_engine, Wave) if w.campaign_id == "CMP_AUTOPAY_BONUS"]) == 2
    assert all(o.active for o in rows(migrated_engine, Offer))


def test_a_retired_offer_is_not_pitched(migrated_engine, tmp_path):
    apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), full=True)
    with Session(migrated_engine) as session:
        factories.add_customer(session, "C1", "13800138000", campaign=False, tenure_months=3,
                               contract="month_to_month", payment_method="cash")
        session.add(CampaignMember(campaign_id="CMP_NEW_CUSTOMER_CARE", customer_id="C1"))
        session.commit()
        token = create_token(session, "agent-007")
    headers = {"Authorization": f"Bearer {token}"}
    client = TestClient(create_app(engine=migrated_engine, catalog_ttl_seconds=0, token_ttl_seconds=0))
    with client:
        def offer_ids() -> set[str]:
            response = client.get("/v1/pop", params={"customer_id": "C1"}, headers=headers)
            assert response.status_code == 200, response.text
            return {o["offer_id"] for o in response.json()["offers"]}

        assert {"ADDON_VOICE_300", "ADDON_DATA_30G", "RBT_VIDEO"} <= offer_ids()
        apply_catalog(migrated_engine, write(tmp_path, without_offer(EXAMPLE_TEXT, "ADDON_VOICE_300"), "s.toml"),
                      full=True)
        assert "ADDON_VOICE_300" not in offer_ids()
        listed = client.get("/v1/offers", headers=headers).json()["items"]
        assert [o["active"] for o in listed if o["offer_id"] == "ADDON_VOICE_300"] == [False]


def problems_of(text: str, **options) -> list:
    with pytest.raises(CatalogFeedError) as caught:
        parse_catalog(text, file="ops/catalog.toml", today=TODAY, **options)
    return caught.value.problems


def test_bad_entries_are_located_by_path_line_and_value_in_both_languages():
    text = EXAMPLE_TEXT.replace('category = "care"', 'category = "freebies"', 1)
    text = text.replace('{ seq = 2, channel = "outbound_call", starts_day = 26', '{ seq = 2, channel = "fax", '
                        'starts_day = 26')
    text = text.replace('op = ">=", value = 6', 'op = "=>", value = 6')
    text = text.replace('monthly_fee_delta = 15', 'monthly_fee_delta = 15.005')
    problems = problems_of(text)
    by_column = {p.column: p for p in problems}
    assert set(by_column) == {"offers[4].category", "campaigns[1].waves[1].channel",
                              "offers[5].eligibility[0].op", "offers[2].monthly_fee_delta"}, problems
    category = by_column["offers[4].category"]
    lines = text.splitlines()
    assert lines[category.line - 1] == 'category = "freebies"'
    assert category.value == "'freebies'" and category.file == "ops/catalog.toml"
    assert "CARE_USAGE_ALERT" in category.en and "not one of plan, add-on" in category.en
    assert "产品 CARE_USAGE_ALERT：类别 'freebies'" in category.zh
    assert category.text("en").startswith(f"ops/catalog.toml:{category.line}, column 'offers[4].category'")
    assert category.text("zh").startswith(f"ops/catalog.toml 第 {category.line} 行")
    wave = by_column["campaigns[1].waves[1].channel"]
    assert 'channel = "fax"' in lines[wave.line - 1] and wave.value == "'fax'"
    assert '"=>"' in lines[by_column["offers[5].eligibility[0].op"].line - 1]
    assert "15.005" in lines[by_column["offers[2].monthly_fee_delta"].line - 1]
    assert "at most 2 decimals" in by_column["offers[2].monthly_fee_delta"].en


@pytest.mark.parametrize(("change", "column", "message"), [
    (lambda t: t.replace('id = "ADDON_VIDEO_20G"', 'id = "ADDON_DATA_30G"'), "offers[2].id", "appears twice"),
    (lambda t: t.replace('id = "CMP_AUTOPAY_BONUS"', 'id = "CMP_NEW_CUSTOMER_CARE"'), "campaigns[1].id",
     "appears twice"),
    (lambda t: t.replace('starts_day = 31, ends_day = 60', 'starts_day = 30, ends_day = 60'),
     "campaigns[0].waves[2].starts_day", "starts (2026-12-23) before wave 2 ends (2026-12-23)"),
    (lambda t: t.replace('{ seq = 3, channel = "outbound_call"', '{ seq = 4, channel = "outbound_call"'),
     "campaigns[0].waves", "numbered 1, 2"),
    (lambda t: t.replace('starts_day = -3, ends_day = 25', 'starts_day = 3, ends_day = -25'),
     "campaigns[1].waves[0].ends_day", "ends (2026-10-29) before it starts (2026-11-26)"),
    (lambda t: t.replace('fact = "tenure_months"', 'fact = "tenure"'), "offers[5].eligibility[0].fact",
     "'tenure' is not a fact the server knows"),
    (lambda t: t.replace('value = 6, zh', 'value = "6", zh'), "offers[5].eligibility[0].value", "needs a number"),
    (lambda t: t.replace('title_en = "Video ringback', 'titel_en = "Video ringback'),
     ("offers[0].titel_en", "offers[0].title_en"), "unknown key 'titel_en'"),
    (lambda t: t.replace('base_score = 0.18', 'base_score = 18'), "offers[0].base_score", "from 0 to 1"),
    (lambda t: t.replace('max_contacts = 6', 'max_contacts = -1'), "customer_caps[0].max_contacts",
     "whole number from 0"),
    (lambda t: t.replace('channel = "*"', 'channel = "pigeon"'), "customer_caps[0].channel", "'pigeon'"),
    (lambda t: t.replace('format = 1', 'format = 2'), "format", "reads format = 1"),
    (lambda t: t.replace('starts_day = -21', 'starts_on = 2026-12-01T10:00:00'),
     "campaigns[0].waves[0].starts_on", "no time of day"),
    (lambda t: t.replace('"RBT_VIDEO", "ADDON_DATA_30G"]', '"RBT_VIDEO", "RBT_VIDEO"]'), "campaigns[0].offers",
     "offers repeat: RBT_VIDEO"),
])
def test_each_kind_of_bad_entry_is_refused_where_it_is(change, column, message):
    text = change(EXAMPLE_TEXT)
    assert text != EXAMPLE_TEXT
    problems = problems_of(text)
    assert [p.column for p in problems] == ([column] if isinstance(column, str) else list(column)), problems
    assert message in problems[0].en and problems[0].zh != problems[0].en
    assert problems[0].line > 1 or column == "format"


def test_invalid_toml_names_its_line():
    (problem,) = problems_of('format = 1\n[[offers]]\nid = "X"\ncategory = care\n')
    assert problem.line == 4 and "not valid TOML" in problem.en and "不是有效的 TOML" in problem.zh


def test_a_refused_file_changes_nothing_and_is_recorded(migrated_engine, tmp_path):
    apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), today=TODAY, now=NOW)
    before = [(o.offer_id, o.title_zh) for o in rows(migrated_engine, Offer, Offer.offer_id)]
    bad = EXAMPLE_TEXT.replace('title_zh = "视频彩铃', 'title_zh = "新视频彩铃').replace(
        '"RBT_VIDEO", "ADDON_DATA_30G"]', '"RBT_VIDEO", "ADDON_DATA_3OG"]')
    with pytest.raises(CatalogFeedError) as caught:
        apply_catalog(migrated_engine, write(tmp_path, bad, "bad.toml"), today=TODAY)
    assert "nothing was changed" in caught.value.en and "未做任何修改" in caught.value.zh
    (problem,) = caught.value.problems
    assert problem.column == "campaigns[0].offers[2]" and problem.value == "'ADDON_DATA_3OG'"
    assert "unknown offer ADDON_DATA_3OG" in problem.en and "未知产品 ADDON_DATA_3OG" in problem.zh
    assert bad.splitlines()[problem.line - 1].startswith("offers = [")
    assert [(o.offer_id, o.title_zh) for o in rows(migrated_engine, Offer, Offer.offer_id)] == before
    assert runs(migrated_engine)[-1] == ("failed", "delta", 0, 0, 0)

    with pytest.raises(FeedFailure) as caught:
        apply_catalog(migrated_engine, tmp_path / "missing.toml", full=True)
    assert "cannot read the catalog" in caught.value.en and "无法读取产品目录" in caught.value.zh
    assert runs(migrated_engine)[-1] == ("failed", "full", 0, 0, 0)
    (tmp_path / "gbk.toml").write_bytes('format = 1\n# 账单\n'.encode("gbk"))
    with pytest.raises(CatalogFeedError) as caught:
        apply_catalog(migrated_engine, tmp_path / "gbk.toml")
    assert caught.value.problems[0].line == 2 and "not UTF-8" in caught.value.en


@pytest.mark.parametrize(("text", "column", "message"), [
    # A delta may name an offer already in the catalog, but not a retired one, nor one that never existed.
    ('format = 1\n[[campaigns]]\nid = "C"\nname_zh = "活动"\nname_en = "C"\noffers = ["GONE"]\n'
     'waves = [{ seq = 1, channel = "sms", starts_day = 0, ends_day = 9 }]\n', "campaigns[0].offers[0]",
     "GONE is retired; list it in this file"),
    ('format = 1\n[[campaigns]]\nid = "C"\nname_zh = "活动"\nname_en = "C"\noffers = ["NEVER"]\n'
     'waves = [{ seq = 1, channel = "sms", starts_day = 0, ends_day = 9 }]\n', "campaigns[0].offers[0]",
     "unknown offer NEVER (not in this file nor in the catalog)"),
    ('format = 1\n[[offers]]\nid = "NEVER"\nretired = true\n', "offers[0].retired", "does not have"),
])
def test_references_are_checked_against_the_catalog(migrated_engine, tmp_path, text, column, message):
    gone = 'format = 1\n[[offers]]\nid = "GONE"\ncategory = "care"\ntitle_zh = "旧"\ntitle_en = "old"\n'
    apply_catalog(migrated_engine, write(tmp_path, gone, "gone.toml"))
    apply_catalog(migrated_engine, write(tmp_path, gone.replace("GONE", "KEEP"), "keep.toml"), full=True)
    with pytest.raises(CatalogFeedError) as caught:
        apply_catalog(migrated_engine, write(tmp_path, text, "delta.toml"))
    assert [(p.column, message in p.en) for p in caught.value.problems] == [(column, True)]


def test_a_full_catalog_must_name_the_offers_of_its_campaigns_and_cannot_be_empty(migrated_engine, tmp_path):
    apply_catalog(migrated_engine, write(tmp_path, EXAMPLE_TEXT), today=TODAY)
    only_campaign = EXAMPLE_TEXT[EXAMPLE_TEXT.index("[[campaigns]]"):]
    with pytest.raises(CatalogFeedError) as caught:
        apply_catalog(migrated_engine, write(tmp_path, "format = 1\n" + only_campaign, "c.toml"), full=True)
    columns = [p.column for p in caught.value.problems]
    assert columns[0] == "offers" and "would retire every offer" in caught.value.problems[0].en
    assert "campaigns[0].offers[0]" in columns and len(columns) == 6
    assert all(o.active for o in rows(migrated_engine, Offer))


def test_money_dates_and_strings_in_their_accepted_forms():
    document = parse_catalog("""format = 1
[[offers]]
id = "A"
category = "plan"
title_zh = "甲"
title_en = "A"
monthly_fee_delta = -12.5
launched_on = "2026-01-31"

[[offers]]
id = "B"
category = "care"
title_zh = "乙"
title_en = "B"
monthly_fee_delta_fen = 1999
launched_day = -3

[[campaigns]]
id = "K"
name_zh = "丙"
name_en = "K"
offers = ["A", "B"]
[[campaigns.waves]]
seq = 2
channel = "store"
starts_on = 2026-12-11
ends_on = 2026-12-20
[[campaigns.waves]]
seq = 1
channel = "ivr"
starts_on = 2026-12-01
ends_on = 2026-12-10
""", today=TODAY)
    a, b = document.offers
    assert (a.monthly_fee_delta_fen, a.launched_on, a.base_score) == (-1250, dt.date(2026, 1, 31), 0.3)
    assert (b.monthly_fee_delta_fen, b.launched_on) == (1999, TODAY - dt.timedelta(days=3))
    (campaign,) = document.campaigns
    assert [(w.seq, w.channel) for w in campaign.waves] == [(1, "ivr"), (2, "store")]
    assert document.customer_caps is None and document.entries == 3

    with pytest.raises(CatalogFeedError) as caught:
        parse_catalog(document.text.replace("ends_on = 2026-12-10", "ends_on = 2026-12-11"), today=TODAY)
    (problem,) = caught.value.problems
    assert problem.column == "campaigns[0].waves[0].starts_on" and "starts (2026-12-11) before wave 1" in problem.en
    assert document.text.splitlines()[problem.line - 1] == "starts_on = 2026-12-11"


def test_the_sample_catalog_is_a_catalog_feed_file():
    """The seed's catalog goes through the same feed: it must parse as one (its generator part ignored)."""
    document = parse_catalog((resources_dir() / "catalog" / "catalog.toml").read_text(encoding="utf-8"),
                             today=TODAY)
    assert len(document.offers) == 18 and len(document.campaigns) == 3
    assert all(o.launched_on is not None for o in document.offers), "deterministic created_at for the seed"


def test_the_example_catalog_serves_the_walk_through():
    document = parse_catalog(EXAMPLE_TEXT, today=TODAY)
    categories = {o.category for o in document.offers}
    assert {"ringback", "retention", "care", "add-on", "payment"} <= categories
    assert any(o.eligibility and o.eligibility[0]["fact"] == "tenure_months" for o in document.offers)
    running = {c.campaign_id: next(w for w in c.waves if w.starts_on <= TODAY <= w.ends_on)
               for c in document.campaigns}
    assert running["CMP_NEW_CUSTOMER_CARE"].channel == "inbound_call"
    assert running["CMP_NEW_CUSTOMER_CARE"].seq == 2 and len(document.campaigns[0].waves) == 3
    assert document.customer_caps and all(c.caps for c in document.campaigns)
