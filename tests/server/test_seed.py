"""The sample-data generator: deterministic, realistic enough to exercise every rule, readable by the ORM."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import operator
import re
import threading
import tomllib

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from server_stub import seed
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import (
    Agent,
    Base,
    Bill,
    Campaign,
    CampaignMember,
    CampaignOffer,
    Complaint,
    ContactCap,
    ContactHistory,
    Customer,
    CustomerCap,
    CustomerNumber,
    FeedRun,
    Offer,
    Subscription,
    UsageMonth,
    Wave,
)
from server_stub.domain.vocabulary import (
    AUTOPAY_METHODS,
    COMPLAINT_CATEGORIES,
    OFFER_CATEGORIES,
    PAYMENT_METHODS,
    SEGMENTS,
    VALUE_TIERS,
)
from server_stub.paths import resources_dir
from server_stub.seed import (
    SEEDED_TABLES,
    CatalogError,
    DatabaseNotEmptyError,
    SeedError,
    load_catalog,
    seed_database,
)
from tests.conftest import PG_URL, _pg_database

TODAY = dt.date(2026, 11, 23)
NOW = dt.datetime.combine(TODAY, dt.time(), dt.UTC)
RULES = tomllib.loads((resources_dir() / "rules" / "rules.toml").read_text(encoding="utf-8"))
MOBILE_NUMBER = re.compile(r"^1(3[4-9]|5[0-27-9]|8[2-478]|9[578])\d{8}$")
SQLITE_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "in": lambda fact, value: fact in value,
    "not_in": lambda fact, value: fact not in value,
    "contains": operator.contains,
}


def _dump(engine) -> dict[str, list[tuple]]:
    """Every seeded table's rows in primary-key order."""
    tables = Base.metadata.tables
    with engine.connect() as connection:
        return {
            name: [
                tuple(row)
                for row in connection.execute(
                    select(tables[name]).order_by(*tables[name].primary_key.columns)
                )
            ]
            for name in SEEDED_TABLES
        }


def _holds(condition: dict, facts: dict) -> bool:
    return OPS[condition["op"]](facts[condition["fact"]], condition["value"])


def _level(kind: str, facts: dict) -> str:
    """The sensitivity level the rules file gives these facts (points add up; highest threshold reached)."""
    rules = RULES["sensitivity"][kind]
    points = sum(signal["points"] for signal in rules["signals"] if _holds(signal["when"], facts))
    reached = [name for name, threshold in rules["thresholds"].items() if points >= threshold]
    return max(reached, key=RULES["sensitivity"]["levels"].index, default="none")


def _facts(engine) -> dict[str, dict]:
    """The rules facts of every customer, computed from the stored rows as the server would at NOW."""
    facts: dict[str, dict] = {}
    with Session(engine) as session:
        for customer in session.scalars(select(Customer)):
            facts[customer.customer_id] = {
                "tenure_months": customer.tenure_months,
                "credit_score": customer.credit_score,
                "churn_risk": customer.churn_risk,
                "late_payments_6m": customer.late_payments_6m,
                "bill_inquiries_3m": customer.bill_inquiries_3m,
                "downgrades_12m": customer.downgrades_12m,
                "payment_autopay": customer.payment_method in AUTOPAY_METHODS,
                "value_tier": customer.value_tier,
                "segments": customer.segments,
                "dnd": customer.dnd,
                "complaints_90d": 0,
                "billing_complaints_90d": 0,
                "open_complaints": 0,
                "serious_complaints_180d": 0,
                "marketing_complaints_180d": 0,
            }
        for complaint in session.scalars(select(Complaint)):
            customer = facts[complaint.customer_id]
            age = NOW - complaint.opened_at
            if age <= dt.timedelta(days=90):
                customer["complaints_90d"] += 1
                customer["billing_complaints_90d"] += complaint.category == "billing"
            if age <= dt.timedelta(days=180):
                customer["serious_complaints_180d"] += complaint.severity == "serious"
                customer["marketing_complaints_180d"] += complaint.category == "marketing"
            customer["open_complaints"] += complaint.status == "open"
        months = collections.defaultdict(list)
        for usage in session.scalars(select(UsageMonth).order_by(UsageMonth.customer_id, UsageMonth.month)):
            months[usage.customer_id].append(usage)
    for customer_id, (first, second, last) in months.items():
        facts[customer_id].update(
            bill_change_ratio=last.bill_fen / ((first.bill_fen + second.bill_fen) / 2),
            roaming_activity=sum(m.roaming_data_mb + m.roaming_voice_min for m in (first, second, last)),
            roaming_mb=last.roaming_data_mb,
            data_mb=last.data_mb,
            ringback_active=last.ringback_active,
        )
    return facts


def test_same_seed_gives_the_same_rows_whatever_the_batch_size(migrated_engine, monkeypatch):
    seed_database(migrated_engine, 2500, seed=11, today=TODAY)
    first = _dump(migrated_engine)

    monkeypatch.setattr(seed, "WRITE_BATCH_SIZE", 1000)  # three transactions instead of one
    seed_database(migrated_engine, 2500, seed=11, today=TODAY, replace=True)
    assert _dump(migrated_engine) == first

    seed_database(migrated_engine, 1500, seed=11, today=TODAY, replace=True)
    assert _dump(migrated_engine)["customers"] == first["customers"][:1500], "more customers only append"

    seed_database(migrated_engine, 2500, seed=12, today=TODAY, replace=True)
    other = _dump(migrated_engine)
    assert other["offers"] == first["offers"], "the catalog does not depend on the seed"
    assert [row[0] for row in other["customers"]] == [row[0] for row in first["customers"]]
    assert sum(a != b for a, b in zip(other["customers"], first["customers"], strict=True)) > 2400
    assert not {row[0] for row in other["customer_numbers"]} & {row[0] for row in first["customer_numbers"]}


@pytest.mark.postgres
def test_sqlite_and_postgresql_get_identical_rows(sqlite_url, monkeypatch):
    if not PG_URL:
        pytest.skip("CALLCUE_TEST_PG_URL is not set (the README's test command starts PostgreSQL and sets it)")
    dumps = []
    for batch_size, url in ((1000, sqlite_url), (20_000, None)):
        monkeypatch.setattr(seed, "WRITE_BATCH_SIZE", batch_size)
        urls = _pg_database(PG_URL) if url is None else iter([url])
        engine = make_engine(next(urls))
        try:
            upgrade(engine)
            seed_database(engine, 2200, seed=5, today=TODAY)
            dumps.append(_dump(engine))
        finally:
            engine.dispose()
            next(urls, None)  # drops the PostgreSQL database
    assert dumps[0] == dumps[1]


def test_the_per_customer_tables_are_written_through_their_feed_kinds(migrated_engine, monkeypatch):
    written = collections.Counter()

    class Spy(seed.TableWriter):
        def write(self, rows):
            rows = list(rows)
            written[self.kind.name, self.kind.table.name] += len(rows)
            super().write(rows)

    monkeypatch.setattr(seed, "TableWriter", Spy)
    monkeypatch.setattr(seed, "WRITE_BATCH_SIZE", 1000)
    summary = seed_database(migrated_engine, 1500, today=TODAY)
    assert written == {
        ("customers", "customers"): summary.customers,
        ("numbers", "customer_numbers"): summary.customer_numbers,
        ("usage", "usage_monthly"): summary.usage_monthly,
        ("complaints", "complaints"): summary.complaints,
        ("members", "campaign_members"): summary.campaign_members,
        ("contacts", "contact_history"): summary.contact_history,
    }
    with migrated_engine.connect() as connection:
        for (_, table), count in written.items():
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == count, table

    # How each row was produced is marked where the schema has a place for it.
    with Session(migrated_engine) as session:
        members = session.scalars(select(CampaignMember)).all()
        first_waves = {w.campaign_id: w.starts_on for w in session.scalars(select(Wave).where(Wave.seq == 1))}
        complaints = session.scalars(select(Complaint)).all()
        contacts = session.scalars(select(ContactHistory)).all()
        customers = session.scalars(select(Customer)).all()
    assert members and {m.source for m in members} == {"seed"}
    # put on the list the day before the campaign's first wave, 09:00 Beijing time
    assert all(
        m.added_at == dt.datetime.combine(first_waves[m.campaign_id] - dt.timedelta(days=1), dt.time(1), dt.UTC)
        for m in members
    )
    assert all(c.external_id == f"seed-{c.complaint_id}" for c in complaints)
    assert all(c.external_id == f"seed-{c.contact_id}" and c.outcome_id is None for c in contacts)
    assert {c.purpose for c in contacts} == {"marketing"}
    # The generator's own times are kept (not the writer's clock), the handset has its own column too.
    assert len({c.updated_at for c in customers}) > 1000
    assert all(c.handset == c.attributes["handset"] for c in customers)


def test_a_batch_the_feed_writer_refuses_stops_the_seed(migrated_engine, monkeypatch):
    monkeypatch.setattr(seed, "WRITE_BATCH_SIZE", 1000)
    generate = seed._Generator.block

    def with_a_bad_contact(self, block, customers):
        rows = generate(self, block, customers)
        if block == 1:
            rows.contact_history.append(("C00001001", "CMP_NOPE", *rows.contact_history[0][2:]))
        return rows

    monkeypatch.setattr(seed._Generator, "block", with_a_bad_contact)
    calls = []
    with pytest.raises(SeedError, match=r"contacts feed refused .*unknown campaign CMP_NOPE"):
        seed_database(migrated_engine, 4000, today=TODAY, progress=lambda *a: calls.append(a))
    assert calls == [(1000, 4000)]
    assert not [t for t in threading.enumerate() if t.name.startswith("seed-db")]
    with migrated_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM contact_history")).scalar() > 0
        assert connection.execute(
            text("SELECT count(*) FROM contact_history WHERE campaign_id = 'CMP_NOPE'")).scalar() == 0


def test_numbers_are_unique_mobile_numbers_and_some_customers_have_two(migrated_engine):
    seed_database(migrated_engine, 3000, today=TODAY)
    with Session(migrated_engine) as session:
        numbers = session.execute(
            select(CustomerNumber.msisdn, CustomerNumber.customer_id, CustomerNumber.is_primary)
        ).all()
        customer_ids = set(session.scalars(select(Customer.customer_id)))
    assert all(MOBILE_NUMBER.match(msisdn) for msisdn, _, _ in numbers)
    assert len({msisdn for msisdn, _, _ in numbers}) == len(numbers)
    primaries = collections.Counter(customer for _, customer, primary in numbers if primary)
    assert set(primaries) == customer_ids and set(primaries.values()) == {1}
    assert 0.08 < (len(numbers) - len(customer_ids)) / len(customer_ids) < 0.16
    assert min(customer_ids) == "C00000001" and max(customer_ids) == "C00003000"


def test_the_number_permutation_never_repeats_a_number():
    permute = seed._NumberPermutation(42)
    # Dense runs and indexes differing only in their high part are where a weak mixer would collide.
    indexes = [*range(150_000), *range(0, 2 * 10**9, 20_011), *range(10_000, 10**9, 10_000)]
    numbers = [permute(i) for i in indexes]
    assert len(set(numbers)) == len(set(indexes))
    assert all(MOBILE_NUMBER.match(n) for n in numbers[:1000])
    assert {n[:3] for n in numbers} == set(seed.MOBILE_PREFIXES)


def test_every_sensitivity_level_appears_and_most_customers_are_calm(migrated_engine):
    seed_database(migrated_engine, 2000, today=TODAY)
    facts = list(_facts(migrated_engine).values())
    for kind, calm_share in (("price", 0.85), ("complaint", 0.9)):
        levels = collections.Counter(_level(kind, f) for f in facts)
        assert all(levels[level] >= 10 for level in ("none", "low", "medium", "high")), (kind, levels)
        assert (levels["none"] + levels["low"]) / len(facts) >= calm_share, (kind, levels)
        assert levels.most_common(1)[0][0] == "none"


def test_every_offer_category_has_eligible_and_ineligible_customers(migrated_engine):
    seed_database(migrated_engine, 2000, today=TODAY)
    facts = list(_facts(migrated_engine).values())
    with Session(migrated_engine) as session:
        categories = set(session.scalars(select(Offer.category)))
    assert categories == set(OFFER_CATEGORIES)
    for rule in RULES["eligibility"]:
        assert rule["category"] in categories
        eligible = sum(all(_holds(c, f) for c in rule["when"]) for f in facts)
        assert 0.02 * len(facts) < eligible < 0.98 * len(facts), (rule["category"], eligible)
    for boost in RULES["ranking"]["boosts"]:
        if boost["when"][0]["fact"] in facts[0]:
            assert any(all(_holds(c, f) for c in boost["when"]) for f in facts), boost


def test_customers_span_every_tier_segment_payment_method_and_complaint_kind(migrated_engine):
    seed_database(migrated_engine, 2000, today=TODAY)
    with Session(migrated_engine) as session:
        customers = session.scalars(select(Customer)).all()
        complaints = session.scalars(select(Complaint)).all()
    assert {c.value_tier for c in customers} == set(VALUE_TIERS)
    assert {c.payment_method for c in customers} == set(PAYMENT_METHODS)
    assert {s for c in customers for s in c.segments} == set(SEGMENTS)
    assert all(350 <= c.credit_score <= 950 and 0 <= c.churn_risk <= 1 for c in customers)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", c.name) for c in customers)
    assert 5 < sum(c.dnd for c in customers) < 100
    assert all((c.dnd_since is not None) == c.dnd for c in customers)
    assert {c.category for c in complaints} == set(COMPLAINT_CATEGORIES)
    assert {c.status for c in complaints} == {"open", "resolved"}
    assert {c.severity for c in complaints} == {"normal", "serious"}
    assert all(c.summary_zh and c.summary_en for c in complaints)
    assert 0.08 <= len({c.customer_id for c in complaints}) / len(customers) <= 0.16


def test_usage_is_the_last_three_complete_months_and_bills_add_up(migrated_engine):
    seed_database(migrated_engine, 1000, today=TODAY)
    catalog = load_catalog()
    with Session(migrated_engine) as session:
        plans = dict(session.execute(select(Customer.customer_id, Customer.plan_id)).all())
        usage = session.scalars(select(UsageMonth)).all()
    months = collections.defaultdict(list)
    for month in usage:
        months[month.customer_id].append(month.month)
        assert month.bill_fen == catalog.tariff.bill_fen(
            catalog.plan(plans[month.customer_id]),
            data_mb=month.data_mb,
            voice_min=month.voice_min,
            sms=month.sms,
            mms=month.mms,
            ringback_active=month.ringback_active,
            roaming_data_mb=month.roaming_data_mb,
            roaming_voice_min=month.roaming_voice_min,
        )
        assert month.ringback_fee_fen == (catalog.tariff.ringback_fee_fen if month.ringback_active else 0)
    assert set(months) == set(plans)
    assert all(sorted(m) == ["2026-08", "2026-09", "2026-10"] for m in months.values())
    assert sum(m.roaming_data_mb > 0 for m in usage) < 0.1 * len(usage), "most customers never roam"


def test_campaigns_run_a_wave_today_and_contacts_trigger_caps_and_refusals(migrated_engine):
    seed_database(migrated_engine, 2000, today=TODAY)
    with Session(migrated_engine) as session:
        campaigns = session.scalars(select(Campaign)).all()
        waves = session.scalars(select(Wave).order_by(Wave.campaign_id, Wave.seq)).all()
        caps = {(c.campaign_id, c.channel): c for c in session.scalars(select(ContactCap))}
        campaign_offers = session.scalars(select(CampaignOffer)).all()
        offer_ids = set(session.scalars(select(Offer.offer_id)))
        contacts = session.scalars(select(ContactHistory)).all()
        members = session.execute(text("SELECT count(DISTINCT customer_id) FROM campaign_members")).scalar()
        dnd_since = dict(
            session.execute(select(Customer.customer_id, Customer.dnd_since).where(Customer.dnd)).all()
        )

    running = {}
    for campaign in campaigns:
        own = [w for w in waves if w.campaign_id == campaign.campaign_id]
        assert [w.seq for w in own] == list(range(1, len(own) + 1))
        assert all(a.ends_on < b.starts_on for a, b in itertools.pairwise(own))
        (running[campaign.campaign_id],) = [w for w in own if w.starts_on <= TODAY <= w.ends_on]
    by_id = {c.campaign_id: c for c in campaigns}
    assert any(
        w.channel == "inbound_call" or by_id[cid].inbound_may_serve_any_wave for cid, w in running.items()
    )
    assert any(w.channel == "sms" and not by_id[cid].inbound_may_serve_any_wave for cid, w in running.items())
    assert offer_ids - {o.offer_id for o in campaign_offers}, "some offers are always on"
    assert {o.campaign_id for o in campaign_offers} == set(by_id)
    assert 0.3 <= members / 2000 <= 0.45

    # Some customer has used up a cap of the campaign's channel within its period …
    used = collections.Counter(
        (c.customer_id, c.campaign_id, c.channel)
        for c in contacts
        if c.campaign_id
        and (cap := caps.get((c.campaign_id, c.channel)))
        and c.contacted_at > NOW - dt.timedelta(days=cap.period_days)
    )
    reached = {key[1:] for key, n in used.items() if n >= caps[key[1:]].max_contacts}
    assert ("CMP_5G_UPGRADE", "inbound_call") in reached, reached
    assert any(campaign == "CMP_ROAMING_CARE" for campaign, _ in reached), reached
    # … some refused an offer within the cooldown, and nobody was contacted after asking for DND.
    cooldown = dt.timedelta(days=RULES["contact"]["refusal_cooldown_days"])
    assert (
        sum(c.result == "declined" and c.offer_id and c.contacted_at > NOW - cooldown for c in contacts) >= 20
    )
    assert all(c.contacted_at < NOW for c in contacts)
    assert all(c.contacted_at <= dnd_since[c.customer_id] for c in contacts if c.customer_id in dnd_since)
    assert {c.result for c in contacts if c.campaign_id is None} == {"do_not_disturb"}


def test_orm_reads_the_bulk_written_rows(migrated_engine):
    summary = seed_database(migrated_engine, 300, today=TODAY)
    cutoff = NOW - dt.timedelta(days=90)
    with Session(migrated_engine) as session:
        complaints = session.scalars(select(Complaint)).all()
        assert complaints and all(c.opened_at.tzinfo == dt.UTC and c.opened_at < NOW for c in complaints)
        # A comparison the database makes must agree with Python's: the stored format is the ORM's own.
        recent = session.scalar(
            select(func.count()).select_from(Complaint).where(Complaint.opened_at >= cutoff)
        )
        assert recent == sum(c.opened_at >= cutoff for c in complaints)
        customer = session.scalars(select(Customer).where(Customer.dnd).limit(1)).one()
        assert customer.dnd is True and customer.dnd_since.tzinfo == dt.UTC
        assert isinstance(customer.segments, list) and isinstance(customer.attributes, dict)
        assert customer.updated_at.tzinfo == dt.UTC and customer.updated_at < NOW
        assert all(o.created_at.tzinfo == dt.UTC for o in session.scalars(select(Offer)))
        assert all(isinstance(w.starts_on, dt.date) for w in session.scalars(select(Wave)))
        contact = session.scalars(select(ContactHistory).limit(1)).one()
        assert contact.contacted_at.tzinfo == dt.UTC

        # Rows the server adds later get fresh ids (PostgreSQL's sequences were moved past the seeded ids).
        session.add(
            Complaint(customer_id=customer.customer_id, opened_at=NOW, category="other", status="open")
        )
        session.add(
            ContactHistory(customer_id=customer.customer_id, channel="inbound_call", contacted_at=NOW)
        )
        session.commit()
        assert session.scalar(select(func.max(Complaint.complaint_id))) == summary.complaints + 1
        assert session.scalar(select(func.max(ContactHistory.contact_id))) == summary.contact_history + 1

    with migrated_engine.connect() as connection:
        if migrated_engine.dialect.name == "sqlite":
            stored = connection.execute(text("SELECT opened_at FROM complaints LIMIT 1")).scalar()
            assert SQLITE_DATETIME.match(stored)
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
            # The bulk-load settings did not leak into the pooled connection.
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1


def test_refuses_a_database_with_customers_unless_replacing(migrated_engine):
    seed_database(migrated_engine, 50, today=TODAY)
    with Session(migrated_engine) as session:
        session.add(Agent(agent_id="a1", role="agent", created_at=NOW))
        session.commit()
    before = _dump(migrated_engine)

    with pytest.raises(DatabaseNotEmptyError, match=r"\(50 customers, 18 offers, 3 campaigns\).*--replace"):
        seed_database(migrated_engine, 80, today=TODAY)
    assert _dump(migrated_engine) == before

    calls = []
    summary = seed_database(
        migrated_engine, 80, today=TODAY, replace=True, progress=lambda *a: calls.append(a)
    )
    assert calls == [(80, 80)]
    with migrated_engine.connect() as connection:
        counts = {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in SEEDED_TABLES}
        assert connection.execute(text("SELECT count(*) FROM agents")).scalar() == 1, "agents are kept"
    assert counts == summary.table_counts()
    assert summary.customers == 80 and summary.elapsed_seconds > 0 and summary.today == TODAY


def test_progress_is_reported_per_batch(migrated_engine, monkeypatch):
    monkeypatch.setattr(seed, "WRITE_BATCH_SIZE", 1000)
    calls = []
    seed_database(
        migrated_engine, 2100, today=TODAY, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(1000, 2100), (2000, 2100), (2100, 2100)]


def test_a_count_out_of_range_is_refused(migrated_engine):
    with pytest.raises(ValueError, match="customers must be between"):
        seed_database(migrated_engine, -1)


def test_the_catalog_is_bilingual_and_covers_every_category():
    catalog = load_catalog()
    assert 15 <= len(catalog.offers) <= 20
    assert {o.category for o in catalog.offers} == set(OFFER_CATEGORIES)
    for offer in catalog.offers:
        assert re.search(r"[\u4e00-\u9fff]", offer.title_zh + offer.script_zh), offer.id
        assert offer.title_en.isascii() and offer.script_en.isascii() and len(offer.script_zh) > 30
        assert 0.1 <= offer.base_score <= 0.6
    assert len(catalog.campaigns) >= 3
    assert all(campaign.wave_on(0) for campaign in catalog.campaigns), "every campaign runs a wave on day 0"


def test_a_malformed_catalog_is_reported_by_name(tmp_path):
    broken = (resources_dir() / "catalog" / "catalog.toml").read_text(encoding="utf-8")
    broken = broken.replace('category = "care"', 'category = "freebies"', 1)
    path = tmp_path / "catalog.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(CatalogError, match=r"offer CARE_USAGE_ALERT: category 'freebies'"):
        load_catalog(path)


def test_the_catalog_is_written_through_the_catalog_feed(migrated_engine):
    summary = seed_database(migrated_engine, 10, today=TODAY)
    with Session(migrated_engine) as session:
        run = session.scalars(select(FeedRun)).one()
        assert (run.kind, run.file_name, run.status, run.inserted) == ("catalog", "catalog.toml", "applied", 21)
        offer = session.get(Offer, "PLAN_UP_5G_129")
        assert offer.created_at == dt.datetime.combine(TODAY - dt.timedelta(days=120), dt.time(), dt.UTC)
        assert offer.eligibility == [] and offer.product_id is None and offer.retired_at is None
    assert (summary.offers, summary.campaigns, summary.waves, summary.customer_caps) == (18, 3, 7, 0)


def test_replacing_also_empties_what_other_feeds_attached_to_the_customers(migrated_engine):
    seed_database(migrated_engine, 20, today=TODAY)
    with Session(migrated_engine) as session:
        session.add(Bill(customer_id="C00000001", month="2026-10", amount_fen=100, paid_fen=100))
        session.add(Subscription(customer_id="C00000001", product_id="RBT"))
        session.add(CustomerCap(channel="*", max_contacts=3, period_days=30))
        session.commit()
    with pytest.raises(DatabaseNotEmptyError):
        seed_database(migrated_engine, 20, today=TODAY)
    seed_database(migrated_engine, 20, today=TODAY, replace=True)
    with Session(migrated_engine) as session:
        for model in (Bill, Subscription, CustomerCap):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model
