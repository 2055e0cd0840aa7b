"""PostgreSQL reads a pop in one statement, SQLite statement by statement: both must build the same document,
also with every fed fact (bills, subscriptions, operator scores, caps across campaigns, contacts from every
channel, members per wave, shared and retired numbers, catalog eligibility, products and retirement)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from server_stub.api.app import default_rules_path
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import (
    Bill,
    CampaignMember,
    ContactHistory,
    Customer,
    CustomerCap,
    CustomerNumber,
    CustomerScore,
    Decision,
    Offer,
    OfferStat,
    Subscription,
)
from server_stub.domain.rules import load_rules
from server_stub.seed import seed_database
from server_stub.services.catalog import load_catalog
from server_stub.services.pop import AmbiguousCaller, CustomerNotFound, build_pop, contact_record, read_inputs
from tests.conftest import PG_URL, _pg_database

CUSTOMERS = 300
TODAY = dt.date(2026, 3, 16)
NOW = dt.datetime(2026, 3, 16, 9, 30, tzinfo=dt.UTC)


CHANNELS = ("inbound_call", "outbound_call", "sms", "app_push", "email", "ivr", "self_service", "store")
RESULTS = (None, None, "accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb",
           "no_answer", "busy", "connected", "voicemail")
TOPICS = (None, "账单查询", "套餐咨询", "网络故障")
LEVELS = (None, "none", "low", "medium", "high")
FACTS = (("brand", "==", "全球通"), ("star_level", ">=", 3), ("arrears", "<", 20), ("contract_months_left", ">", 2),
         ("holds", "contains", "RBT_VIDEO"), ("calls_7d", "<", 2), ("service_status", "in", ["normal"]),
         ("churn_risk", ">=", 0.3), ("relation_kind", "!=", "secondary_card"))


def _feed(session: Session, catalog, rng: random.Random, contacts_per_customer=(0, 0, 1, 3, 6, 9)) -> None:
    """What the feeds bring on top of the sample world, the same on both backends (one random stream)."""
    offer_ids = sorted(catalog.offers)
    customers = list(session.scalars(select(Customer.customer_id).order_by(Customer.customer_id)))
    for n, customer_id in enumerate(customers):
        if rng.random() < 0.6:
            session.execute(update(Customer).where(Customer.customer_id == customer_id).values(
                brand=rng.choice(("全球通", "动感地带", "神州行", None)),
                service_status=rng.choice(("normal", "suspended", "arrears_suspended", "closed", None)),
                balance_fen=rng.randint(-5000, 30000), arrears_fen=rng.choice((0, 0, rng.randint(1, 9000), None)),
                contract_end=rng.choice((None, TODAY + dt.timedelta(days=rng.randint(-90, 700)))),
                account_manager=rng.choice((None, "陈经理", "王经理")), handset=rng.choice((None, "华为 Mate 60")),
                star_level=rng.choice((None, *range(8))),
                relation_kind=rng.choice((None, "primary_card", "secondary_card", "family_member", "group_member")),
                group_id=rng.choice((None, f"G{n % 7}")), group_name=rng.choice((None, "张家", "某某集团")),
                # Some leave the operator's snapshot.
                retired_at=NOW - dt.timedelta(days=rng.randint(1, 30)) if rng.random() < 0.08 else None,
            ))
        months = sorted({f"2026-{m:02d}" for m in rng.sample(range(1, 3), rng.randint(0, 2))}
                        | {f"2025-{m:02d}" for m in rng.sample(range(9, 13), rng.randint(0, 3))})
        for month in months:
            session.execute(insert(Bill).values(
                customer_id=customer_id, month=month, amount_fen=rng.randint(0, 40000),
                paid_fen=rng.randint(0, 40000), due_on=rng.choice((None, TODAY)),
                paid_on=rng.choice((None, TODAY - dt.timedelta(days=3))), late=rng.random() < 0.3))
        for product in rng.sample([*offer_ids, "PRD-RBT", "PRD-X"], rng.choice((0, 0, 1, 2, 3))):
            session.execute(insert(Subscription).values(
                customer_id=customer_id, product_id=product, name=rng.choice((None, f"{product} 产品")),
                category=rng.choice((None, "add-on")), since=rng.choice((None, TODAY - dt.timedelta(days=40))),
                until=rng.choice((None, None, TODAY, TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=9)))))
        if rng.random() < 0.3:
            session.execute(insert(CustomerScore).values(
                customer_id=customer_id, churn_risk=rng.choice((None, round(rng.random(), 3))),
                price_level=rng.choice(LEVELS), complaint_level=rng.choice(LEVELS),
                churn_reason=rng.choice((None, "合约到期")), price_reason=rng.choice((None, "近期降档")),
                complaint_reason=rng.choice((None, "多次投诉")), model=rng.choice((None, "jingfen-v3")),
                scored_at=rng.choice((None, NOW - dt.timedelta(hours=rng.randint(1, 90))))))
        calls = [f"call-{customer_id}-{k}" for k in range(3)]
        contacts = []
        for _ in range(rng.choice(contacts_per_customer)):
            # Whole minutes: some contacts share a moment (the documents must still agree on their order).
            at = NOW - dt.timedelta(minutes=rng.randint(-5, 60 * 24 * 45))
            contacts.append({
                "customer_id": customer_id, "campaign_id": rng.choice((None, *sorted(catalog.campaigns))),
                "wave": None, "channel": rng.choice(CHANNELS),
                "offer_id": rng.choice((None, *offer_ids[:6])), "result": rng.choice(RESULTS),
                "contacted_at": at, "purpose": rng.choice(("marketing", "marketing", "service")),
                "topic": rng.choice(TOPICS), "call_id": rng.choice((None, None, *calls)),
            })
        if contacts:
            session.execute(insert(ContactHistory), contacts)
    # Members per wave, with priority and the analyst's reason.
    for campaign_id, customer_id in session.execute(select(CampaignMember.campaign_id, CampaignMember.customer_id)
                                                    .order_by(CampaignMember.campaign_id, CampaignMember.customer_id)).all():
        session.execute(update(CampaignMember).where(CampaignMember.campaign_id == campaign_id,
                                                     CampaignMember.customer_id == customer_id).values(
            wave=rng.choice((None, None, 1, 2, 3)), priority=rng.randint(0, 9), reason=rng.choice((None, "合约到期"))))
    # Numbers several customers share, and numbers shared with a retired customer.
    retired = list(session.scalars(select(Customer.customer_id).where(Customer.retired_at.is_not(None))
                                   .order_by(Customer.customer_id)))
    active = sorted(set(customers) - set(retired))
    pairs = [rng.sample(active, 2) for _ in range(10)] + [[r, rng.choice(active)] for r in retired[:3]]
    for n, pair in enumerate(pairs):
        session.execute(insert(CustomerNumber), [{"msisdn": f"1990000{n:04d}", "customer_id": c, "is_primary": False}
                                                 for c in pair])
    session.execute(insert(CustomerCap), [{"channel": "*", "max_contacts": 4, "period_days": 30},
                                          {"channel": "inbound_call", "max_contacts": 2, "period_days": 14}])
    # Catalog: products, eligibility conditions (with and without texts, one malformed), a retired offer.
    for n, offer_id in enumerate(offer_ids):
        conditions = [{"fact": fact, "op": op, "value": value, **({"zh": f"{fact} 不符", "en": f"{fact} fails"}
                                                                   if n % 2 else {})}
                      for fact, op, value in rng.sample(FACTS, rng.choice((0, 0, 1, 2)))]
        if n == 5:
            conditions.append({"fact": "brand", "op": "≈", "value": 1})
        session.execute(update(Offer).where(Offer.offer_id == offer_id).values(
            product_id="PRD-RBT" if offer_id.startswith("RBT") else rng.choice((None, None, f"PRD-{offer_id}")),
            eligibility=conditions, retired_at=NOW if n == 3 else None))
    session.commit()


def _pop(session: Session, rules, catalog, **caller) -> dict | tuple | None:
    try:
        document = build_pop(session, rules, catalog, agent_id="agent-1", now=NOW, **{"ani": None, "customer_id": None,
                                                                                       **caller})
    except CustomerNotFound:
        return None
    except AmbiguousCaller as shared:
        return ("ambiguous", shared.candidates)
    document.pop("decision_id")
    return document


def _documents(url: str) -> tuple[dict, list[str], int]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        seed_database(engine, CUSTOMERS, seed=7, today=TODAY)
        rules = load_rules(default_rules_path())
        with Session(engine) as session:
            catalog = load_catalog(session)
            # Learned acceptance for some offers in the segments the ranking reads.
            rng = random.Random(3)
            session.execute(insert(OfferStat), [
                {"offer_id": offer_id, "segment": tier, "responses": (n := rng.randint(1, 80)),
                 "accepted": rng.randint(0, n)}
                for offer_id in sorted(catalog.offers)[::2] for tier in ("standard", "silver", "gold", "diamond")
            ])
            session.commit()
            _feed(session, catalog, rng)
            catalog = load_catalog(session)
            numbers = list(session.scalars(select(CustomerNumber.msisdn).distinct().order_by(CustomerNumber.msisdn)))
            customers = list(session.scalars(select(Customer.customer_id).order_by(Customer.customer_id)))
            documents = {}
            for msisdn in [*numbers, "17000000000"]:
                documents[msisdn] = _pop(session, rules, catalog, ani=f"+86 {msisdn}")
            for customer_id in customers:
                documents[customer_id] = _pop(session, rules, catalog, customer_id=customer_id)
            decisions = session.scalar(select(func.count()).select_from(Decision))
        return documents, numbers, decisions
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_builds_the_same_pops_as_sqlite(tmp_path):
    if not PG_URL:
        pytest.skip("CALLCUE_TEST_PG_URL is not set (the README's test command starts PostgreSQL and sets it)")
    on_sqlite, numbers, sqlite_decisions = _documents(f"sqlite:///{tmp_path / 'server.sqlite3'}")
    database = _pg_database(PG_URL)
    try:
        on_postgresql, _, postgresql_decisions = _documents(next(database))
    finally:
        database.close()
    assert len(numbers) > CUSTOMERS  # some customers have two numbers
    assert on_sqlite["17000000000"] is None and on_postgresql["17000000000"] is None
    # The sample must reach the parts that differ between the two readers.
    docs = [d for d in on_sqlite.values() if isinstance(d, dict)]
    offers = [o for d in docs for o in d["offers"]]
    contacts = [d["contact"] for d in docs]
    codes = {r["code"] for o in offers for r in o["suppressed_by"]}
    assert any(d["sensitivity"]["complaint"]["recent_complaints"] for d in docs)
    assert any(len(d["customer"]["usage_history"]) == 3 for d in docs)
    assert any(o["responses"] for o in offers)
    assert any(c["contacts_used"] for c in contacts)
    assert {"already_held", "not_eligible", "customer_cap", "not_in_wave", "contact_cap", "price_sensitive"} <= codes
    assert any(len(d["customer"]["bills"]) == 3 for d in docs) and any(d["customer"]["subscriptions"] for d in docs)
    assert any(d["customer"]["churn_source"] == "operator_model" for d in docs)
    assert any(d["sensitivity"]["price"]["source"] == "operator_model" for d in docs)
    assert any(d["customer"]["relation"] and d["customer"]["service_status_name"] for d in docs)
    assert any(len(c["recent_contacts"]) == 5 for c in contacts) and any(c["repeat_caller"] for c in contacts)
    assert any(c["customer_cap"] and c["customer_cap"]["next_eligible_at"] for c in contacts)
    assert any(c["member"] and c["member"]["reason"] for c in contacts)
    assert any(d["customer"]["retired"] for d in docs)  # popped by id
    ambiguous = [v for v in on_sqlite.values() if isinstance(v, tuple)]
    assert ambiguous and all(len(candidates) == 2 for _, candidates in ambiguous)
    # A number only a retired customer holds pops nobody; one shared with a retired customer pops the other.
    assert any(on_sqlite[n] is None for n in numbers)
    assert any(isinstance(on_sqlite[n], dict) for n in numbers if n.startswith("1990000"))
    for key, document in on_sqlite.items():
        assert on_postgresql[key] == document, key
    # No decision for an ambiguous number or an unknown one.
    assert sqlite_decisions == postgresql_decisions == len(docs)


def test_what_a_pop_makes_of_contacts_does_not_depend_on_the_order_they_arrive_in(tmp_path):
    """PostgreSQL aggregates rows in no particular order, SQLite reads them in index order: the caps, refusals,
    holdings, repeat calls and recent contacts (one call's outcomes collapsed) must not depend on it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'server.sqlite3'}")
    try:
        upgrade(engine)
        seed_database(engine, 120, seed=7, today=TODAY)
        rules = load_rules(default_rules_path())
        with Session(engine) as session:
            _feed(session, load_catalog(session), random.Random(5), contacts_per_customer=(4, 8, 12))
            catalog = load_catalog(session)
            customers = list(session.scalars(select(Customer.customer_id).order_by(Customer.customer_id)))
        checked = 0
        with engine.connect() as conn:
            for customer_id in customers:
                inputs = read_inputs(conn, catalog, rules, ani=None, customer_id=customer_id, now=NOW)
                expected = contact_record(inputs, catalog, rules, NOW)
                for seed in range(6):
                    rows, members = list(inputs.history), list(inputs.memberships)
                    random.Random(seed).shuffle(rows)
                    random.Random(seed).shuffle(members)
                    shuffled = dataclasses.replace(inputs, history=rows, memberships=members)
                    assert contact_record(shuffled, catalog, rules, NOW) == expected, customer_id
                checked += len(inputs.history) > 3
        assert checked > 10
    finally:
        engine.dispose()


def test_a_pop_commits_its_decision_and_waits_on_no_flush_only_on_postgresql(api):
    """A pop's decision is committed when the answer arrives (another connection sees it); on PostgreSQL the
    pop pool commits without waiting for the WAL flush, while outcomes keep the synchronous default."""
    from sqlalchemy import text

    from tests.server import factories

    factories.add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    context = api.client.app.state.context
    with context.engine.connect() as conn:
        assert conn.execute(text("SELECT customer_id FROM decisions WHERE decision_id = :d"),
                            {"d": doc["decision_id"]}).scalar_one() == "C1"
        if context.engine.dialect.name != "postgresql":
            assert context.pop_sessionmaker.kw["bind"] is context.engine
            return
        # The main engine keeps the server's own setting (durable in production; this test cluster may not be).
        assert conn.execute(text("SELECT source FROM pg_settings WHERE name = 'synchronous_commit'")
                            ).scalar_one() != "client"
    pop_engine = context.pop_sessionmaker.kw["bind"]
    assert pop_engine is not context.engine
    with pop_engine.connect() as conn:
        assert conn.execute(text("SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'")
                            ).one() == ("off", "client")
        assert conn.connection.driver_connection.autocommit
