"""Audiences by condition (issue 13, the seeds' 彩铃主动营销 flow): `audience preview` / `audience apply`.

- Every fact an audience can use is a real fact of the pop (FACT_SQL ⊆ customer_facts()), and every pop fact
  is either usable or refused with a reason; each translation to SQL selects exactly the customers for whom
  the pop's own Condition.holds() is true, on a deliberately awkward population (NULLs, boundaries, operator
  scores, complaints at the window edges, expired and accepted holdings, calls of one call id).
- The count against an independent count of the IBM Telco CSV; breakdowns sum to it and match the pop's
  facts; apply writes exactly those members, once; bad conditions are located. SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import random
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from server_stub.api.app import default_rules_path
from server_stub.cli import main
from server_stub.db.models import (
    Campaign,
    CampaignMember,
    Complaint,
    ContactHistory,
    Customer,
    CustomerNumber,
    CustomerScore,
    DndNumber,
    Offer,
    Subscription,
    Wave,
)
from server_stub.domain.rules import (
    LEVEL_NAMES,
    Condition,
    Signal,
    Text,
    assess_sensitivity,
    load_rules,
    operator_sensitivity,
)
from server_stub.domain.vocabulary import DERIVED_FACTS, FACTS
from server_stub.services import audience
from server_stub.services.audience import (
    FACT_SQL,
    NOT_IN_SQL,
    AudienceError,
    apply,
    build_query,
    parse_condition,
    preview,
)
from server_stub.services.catalog import load_catalog
from server_stub.services.pop import (
    CustomerRecord,
    contact_record,
    customer_facts,
    held_products,
    read_inputs,
    read_inputs_postgresql,
)
from tests.server import factories

# A 31st: months-left arithmetic meets short months; complaint and call windows are measured from here.
NOW = dt.datetime(2026, 3, 31, 10, 30, tzinfo=dt.UTC)
TODAY = NOW.date()
CAMPAIGN = "CMP-FAMILY"  # factories.add_catalog: waves 1, 2, 3
RULES = load_rules(default_rules_path())


# ====================================================================== the fact table cannot drift


def test_every_audience_fact_is_a_fact_of_the_pop_and_every_pop_fact_is_classified():
    customer = Customer(customer_id="C1", tenure_months=3, monthly_fee_fen=1000, value_tier="gold", points=0,
                        segments=[], churn_risk=0.1, late_payments_6m=0, bill_inquiries_3m=0, downgrades_12m=0,
                        dnd=False, payment_method="wechat")
    facts = customer_facts(CustomerRecord(customer, [], None, [], []), NOW)
    assert set(FACT_SQL) <= set(facts), set(FACT_SQL) - set(facts)
    # Nothing the pop computes is silently unknown to audiences: usable, or refused with a reason.
    assert set(facts) <= set(FACT_SQL) | set(NOT_IN_SQL), set(facts) - set(FACT_SQL) - set(NOT_IN_SQL)
    assert set(NOT_IN_SQL) <= set(facts) | DERIVED_FACTS
    assert set(FACT_SQL) | set(NOT_IN_SQL) <= set(FACTS)  # the vocabulary names them all


# ====================================================================== an awkward population


def _customer(rng: random.Random, index: int) -> dict:
    pick = rng.choice
    return dict(
        customer_id=f"A{index:03d}", name=None, gender=pick(["female", "male", None]),
        city=pick(["北京", "上海", "广州", None]), plan_id=pick(["4G_39", "5G_99", "5G_129", None]),
        monthly_fee_fen=pick([0, 1999, 2000, 2001, 3900, 9950, 12900, 12950]),
        tenure_months=pick([0, 1, 11, 12, 13, 36]), contract=pick(["month_to_month", "one_year", "two_year", None]),
        payment_method=pick(["autopay_bank", "autopay_alipay", "wechat", "Autopay_x", "cash", None]),
        value_tier=pick(["standard", "silver", "gold", "diamond", "platinum"]),
        credit_score=pick([None, 549, 550, 700]), points=pick([0, 100, 3200]),
        segments=pick([[], ["young"], ["young", "student"], ["family"], ["roamer", "business"]]),
        churn_risk=pick([0.0, 0.125, 0.135, 0.145, 0.155, 0.195, 0.2, 0.35, 0.4999, 0.5, 0.85, 1.0]),
        late_payments_6m=pick([0, 1, 2, 3]), bill_inquiries_3m=pick([0, 1, 2, 5]), downgrades_12m=pick([0, 1]),
        dnd=rng.random() < 0.2, attributes={}, updated_at=NOW,
        brand=pick(["全球通", "动感地带", "神州行", None]),
        service_status=pick(["normal", "suspended", "arrears_suspended", None]),
        balance_fen=pick([None, -1250, 0, 1999, 2000, 2001]), arrears_fen=pick([None, 0, 4830]),
        contract_end=pick([None, TODAY, TODAY + dt.timedelta(days=1), TODAY - dt.timedelta(days=1),
                           dt.date(2026, 4, 30), dt.date(2026, 5, 1), dt.date(2026, 4, 1), dt.date(2026, 3, 1),
                           dt.date(2026, 5, 31), dt.date(2026, 6, 30), dt.date(2027, 3, 31), dt.date(2027, 2, 28),
                           dt.date(2025, 2, 28), dt.date(2026, 2, 28)]),
        star_level=pick([None, 0, 3, 5, 7]), relation_kind=pick(["primary_card", "secondary_card", None]),
        group_name=pick(["张家", "华为技术有限公司", "华为集团", None]),
        retired_at=NOW - dt.timedelta(days=3) if rng.random() < 0.08 else None,
    )


def populate(engine, count: int = 90, seed: int = 7) -> None:
    """Customers whose facts hit every boundary the translations must get right, plus a second running
    campaign, a switched-off one, and an offer whose product is another id."""
    rng = random.Random(seed)
    with Session(engine) as session:
        factories.add_catalog(session)
        session.add_all([
            Campaign(campaign_id="CMP-RBT", name_zh="彩铃", name_en="Ringback", active=True),
            Campaign(campaign_id="CMP-OFF", name_zh="停用", name_en="Off", active=False),
            Offer(offer_id="RBT-PROMO", category="ringback", title_zh="彩铃", title_en="Ringback", script_zh="话术",
                  script_en="script", monthly_fee_delta_fen=500, base_score=0.3, active=True, created_at=NOW,
                  product_id="RBT-CLASSIC"),
        ])
        session.flush()
        session.add(Wave(campaign_id="CMP-RBT", seq=1, channel="sms", starts_on=TODAY, ends_on=TODAY))
        for index in range(count):
            values = _customer(rng, index)
            session.add(Customer(**values))
            session.flush()
            cid = values["customer_id"]
            if rng.random() < 0.35:
                session.add(CustomerScore(
                    customer_id=cid, churn_risk=rng.choice([None, 0.05, 0.125, 0.5, 0.9]),
                    price_level=rng.choice([None, *LEVEL_NAMES, "bogus"]),
                    complaint_level=rng.choice([None, *LEVEL_NAMES]), model="m1", scored_at=NOW))
            for _ in range(rng.choice([0, 0, 0, 1, 2, 4])):
                age = rng.choice([dt.timedelta(days=d) for d in (0, 10, 89, 91, 150, 179, 181, 400)]
                                 + [dt.timedelta(days=90), dt.timedelta(days=180),
                                    dt.timedelta(days=90, seconds=1), dt.timedelta(days=180, seconds=1)])
                session.add(Complaint(customer_id=cid, opened_at=NOW - age,
                                      category=rng.choice(["billing", "network", "marketing", "other"]),
                                      status=rng.choice(["open", "resolved"]),
                                      severity=rng.choice(["normal", "serious"]), summary_zh="投诉", summary_en="x"))
            for product in rng.sample(["RBT-CLASSIC", "PRD-DATA", "ADDON-DATA-20G"], rng.choice([0, 0, 1, 2])):
                session.add(Subscription(customer_id=cid, product_id=product, since=TODAY - dt.timedelta(days=90),
                                         until=rng.choice([None, TODAY, TODAY - dt.timedelta(days=1),
                                                           TODAY + dt.timedelta(days=30)])))
            for n in range(rng.choice([0, 0, 1, 3])):
                session.add(ContactHistory(
                    customer_id=cid, campaign_id=None, channel=rng.choice(["inbound_call", "ivr", "sms", "ivr"]),
                    offer_id=rng.choice([None, None, "RBT-PROMO", "ADDON-DATA-20G", "OLD-OFFER"]),
                    result=rng.choice([None, "accepted", "declined", "accepted"]), purpose="service",
                    call_id=rng.choice([None, f"call-{cid}", f"call-{cid}-{n}"]),
                    contacted_at=NOW - rng.choice([dt.timedelta(days=d) for d in (0.1, 3, 6.9, 7, 7.1, 40, 400)])))
            for campaign in ("CMP-FAMILY", "CMP-RBT", "CMP-OFF"):
                if rng.random() < 0.3:
                    session.add(CampaignMember(campaign_id=campaign, customer_id=cid,
                                               wave=rng.choice([None, 1, 2]), source="members"))
        # Do-not-disturb by number (an unknown caller asked for it): both customers sharing it count as DND.
        session.flush()
        sharing = session.scalars(select(Customer.customer_id).where(Customer.dnd.is_(False))
                                  .order_by(Customer.customer_id).limit(2)).all()
        session.add_all([CustomerNumber(msisdn="13900000077", customer_id=cid, is_primary=False) for cid in sharing])
        session.add(DndNumber(msisdn="13900000077", since=NOW, outcome_id="dnd-by-number", agent_id="agent-007"))
        session.commit()


class PopFacts(dict):
    """customer id -> facts, and `scores`: customer id -> the operator's scores as the pop read them."""

    scores: dict


def pop_facts(engine) -> PopFacts:
    """Each customer's facts exactly as build_pop computes them (same reads, same contact record)."""
    read = read_inputs_postgresql if engine.dialect.name == "postgresql" else read_inputs
    facts = PopFacts()
    facts.scores = {}
    with Session(engine) as session:
        catalog = load_catalog(session)
        ids = session.scalars(select(Customer.customer_id).where(Customer.retired_at.is_(None))).all()
        conn = session.connection()
        for cid in ids:
            inputs = read(conn, catalog, RULES, ani=None, customer_id=cid, now=NOW)
            contacts = contact_record(inputs, catalog, RULES, NOW)
            facts[cid] = customer_facts(inputs.record, NOW, calls_7d=contacts.calls_7d,
                                        holds=held_products(inputs.record, contacts.accepted_offers, catalog))
            facts.scores[cid] = inputs.record.score
    return facts


def selected(engine, *texts: str) -> set[str]:
    conditions = [parse_condition(t, i) for i, t in enumerate(texts, start=1)]
    with Session(engine) as session:
        catalog = load_catalog(session)
    query = build_query(conditions, engine.dialect.name, NOW, catalog)
    with engine.connect() as conn:
        return set(conn.execute(select(Customer.customer_id).select_from(query.source()).where(query.where)).scalars())


def expected(facts: dict[str, dict], *texts: str) -> set[str]:
    conditions = [parse_condition(t, i) for i, t in enumerate(texts, start=1)]
    return {cid for cid, f in facts.items() if all(Condition(c.fact, c.op, c.value).holds(f) for c in conditions)}


def _conditions() -> list[str]:
    numbers = {
        "tenure_months": ["0", "1", "11.5", "12", "13", "-1"], "credit_score": ["549", "550", "549.5"],
        "star_level": ["0", "3", "5", "4.5"], "points": ["100", "3200"],
        "late_payments_6m": ["1", "2"], "bill_inquiries_3m": ["2"], "downgrades_12m": ["1"],
        "monthly_fee": ["19.99", "20", "20.005", "20.01", "99.5", "0", "129.5"],
        "balance": ["-12.5", "0", "19.99", "20", "20.001", "-12.51"], "arrears": ["0", "48.3", "48.29"],
        "churn_risk": ["0.2", "0.125", "0.5", "0.4999", "0"],
        "churn_risk_pct": ["12", "13", "14", "15", "16", "20", "50", "12.5", "0", "100"],
        "contract_months_left": ["-1", "0", "1", "2", "3", "11", "12", "13", "-13", "1.5", "-0.5"],
        "complaints_90d": ["0", "1", "2"], "billing_complaints_90d": ["0", "1"], "open_complaints": ["0", "1"],
        "serious_complaints_180d": ["0", "1"], "marketing_complaints_180d": ["0", "1"], "calls_7d": ["0", "1", "2"],
    }
    out = []
    for fact, values in numbers.items():
        for value in values:
            out += [f"{fact} {op} {value}" for op in ("==", "!=", ">", ">=", "<", "<=")]
        out += [f"{fact} in [{', '.join(values[:3])}]", f"{fact} not_in [{', '.join(values[:2])}]"]
    texts = {
        "value_tier": ["gold", "platinum", "GOLD"], "brand": ["全球通", "神州行"], "city": ["北京", "上海"],
        "service_status": ["normal", "arrears_suspended"], "contract": ["month_to_month", "two_year"],
        "relation_kind": ["secondary_card"], "group_name": ["张家", "华为集团"], "gender": ["female"],
        "payment_method": ["autopay_bank", "Autopay_x"], "plan_id": ["4G_39", "5G_129"],
    }
    for fact, values in texts.items():
        for value in values:
            out += [f"{fact} == {value}", f'{fact} != "{value}"']
        out += [f"{fact} in {json.dumps(values, ensure_ascii=False)}", f"{fact} not_in [{values[0]}]",
                f"{fact} in []", f"{fact} not_in []"]
    out += ['group_name contains "华为"', "group_name contains 家", 'city contains ""', "plan_id contains 5G",
            'payment_method contains "autopay"']
    for fact in ("dnd", "payment_autopay"):
        out += [f"{fact} == true", f"{fact} == false", f"{fact} != true", f"{fact} != false", f"{fact} in [true]",
                f"{fact} not_in [false]", f"{fact} in [true, false]", f"{fact} not_in [true, false]"]
    out += ["segments contains young", 'segments contains "student"', "segments contains nobody",
            "holds contains RBT-CLASSIC", "holds contains PRD-DATA", "holds contains ADDON-DATA-20G",
            "holds contains OLD-OFFER", "holds contains RBT-PROMO"]
    return out


CONDITIONS = _conditions()


def test_each_condition_selects_exactly_whom_the_pop_would(migrated_engine):
    populate(migrated_engine)
    facts = pop_facts(migrated_engine)
    assert len(facts) > 70
    wrong = {}
    for condition in CONDITIONS:
        got, want = selected(migrated_engine, condition), expected(facts, condition)
        if got != want:
            wrong[condition] = (sorted(got - want)[:3], sorted(want - got)[:3])
    assert not wrong, wrong
    # The population really exercises them: most conditions split it.
    assert sum(0 < len(expected(facts, t)) < len(facts) for t in CONDITIONS) > 0.7 * len(CONDITIONS)


def test_conditions_combine_with_and_and_retired_customers_never_match(migrated_engine):
    populate(migrated_engine)
    facts = pop_facts(migrated_engine)
    both = ("contract == month_to_month", "tenure_months < 12")
    assert selected(migrated_engine, *both) == expected(facts, *both) != set()
    with Session(migrated_engine) as session:
        retired = set(session.scalars(select(Customer.customer_id).where(Customer.retired_at.is_not(None))))
    assert retired
    assert not retired & selected(migrated_engine)  # no condition at all: every customer that still counts
    assert selected(migrated_engine) == set(facts)


# ====================================================================== preview: the breakdowns


def expected_breakdowns(engine, facts: PopFacts, ids: set[str], campaign: str, rules=RULES) -> dict:
    with Session(engine) as session:
        members = {(m.campaign_id, m.customer_id) for m in session.scalars(select(CampaignMember))}
        active = set(session.scalars(select(Campaign.campaign_id).where(Campaign.active)))
    out: dict = {k: {} for k in ("value_tier", "brand", "city", "churn_band", "price", "complaint")}

    def add(key, value):
        out[key][value] = out[key].get(value, 0) + 1

    out.update(dnd=0, member=0, in_other=0, scored=0)
    for cid in ids:
        f, score = facts[cid], facts.scores[cid]
        add("value_tier", f["value_tier"])
        add("brand", f["brand"])
        add("city", f["city"])
        add("churn_band", 0 if f["churn_risk"] < 0.2 else 1 if f["churn_risk"] < 0.5 else 2)
        sheet = rules.fact_sheet(f)
        for kind, spec in (("price", rules.price), ("complaint", rules.complaint)):
            level = getattr(score, f"{kind}_level", None) if score else None
            result = operator_sensitivity(rules, spec, assess_sensitivity(spec, sheet), kind, level, "m1", None, sheet)
            add(kind, (result.source, result.level_name))
        out["dnd"] += bool(f["dnd"])
        out["member"] += (campaign, cid) in members
        out["in_other"] += any((c, cid) in members for c in active - {campaign})
        out["scored"] += score is not None and score.churn_risk is not None
    return out


def check_breakdowns(result, want: dict) -> None:
    b = {name: breakdown.items for name, breakdown in result.breakdowns.items()}
    for name, breakdown in result.breakdowns.items():
        assert breakdown.total() == result.count, name
    assert {i["value"]: i["count"] for i in b["value_tier"]} == want["value_tier"]
    assert {i["value"]: i["count"] for i in b["brand"]} == want["brand"]
    assert {i["value"]: i["count"] for i in b["city"]} == want["city"]
    assert [i["count"] for i in b["churn_band"]] == [want["churn_band"].get(k, 0) for k in range(3)]
    assert b["dnd"][0]["count"] == want["dnd"]
    assert b["member_of_campaign"][0]["count"] == result.already_members == want["member"]
    assert b["in_other_campaign"][0]["count"] == want["in_other"]
    assert b["churn_source"][0]["count"] == want["scored"]
    # Complaint sensitivity: every signal is evaluated in SQL, so levels are exact.
    complaint = {(i["source"], i["level"]): i["count"] for i in b["complaint_sensitivity"]}
    assert complaint == want["complaint"]
    # Price: bill shock is computed from usage at pop time, so a rules level may be a range that must hold
    # the pop's level; the operator's levels are exact.
    buckets = b["price_sensitivity"]
    operator = {("operator_model", i["level"]): i["count"] for i in buckets if i["source"] == "operator_model"}
    assert operator == {k: v for k, v in want["price"].items() if k[0] == "operator_model"}
    rules_want = {k[1]: v for k, v in want["price"].items() if k[0] == "rules"}
    for level, n in rules_want.items():  # each pop level fits the ranges that could hold it
        room = sum(i["count"] for i in buckets if i["source"] == "rules" and
                   LEVEL_NAMES.index(i["min_level"]) <= LEVEL_NAMES.index(level) <= LEVEL_NAMES.index(i["max_level"]))
        assert room >= n, (level, n, buckets)
    assert sum(i["count"] for i in buckets if i["source"] == "rules") == sum(rules_want.values())


@pytest.mark.parametrize("texts", [
    (),
    ("contract == month_to_month", "tenure_months < 12"),
    ("complaints_90d >= 1",),  # a condition on complaints: joined, not corrected
    ("calls_7d >= 1", "churn_risk_pct >= 13"),
])
def test_preview_breakdowns_sum_to_the_count_and_match_the_pops_facts(migrated_engine, texts):
    populate(migrated_engine)
    facts = pop_facts(migrated_engine)
    ids = expected(facts, *texts)
    result = preview(migrated_engine, RULES, CAMPAIGN, 2, [parse_condition(t) for t in texts], now=NOW)
    assert result.count == len(ids) > 0
    check_breakdowns(result, expected_breakdowns(migrated_engine, facts, ids, CAMPAIGN))
    assert result.new_members == result.count - result.already_members


def test_a_complaint_signal_that_holds_without_complaints_counts_for_everyone(migrated_engine):
    """An operator's rules may give points for *no* complaint (complaints_90d < 1): customers without a
    complaint row get them too (SQLite decides such signals once for them, then corrects the few with
    complaints)."""
    calm = Signal("calm", Condition("complaints_90d", "<", 1), 1, Text("无投诉", "no complaints"))
    rules = dataclasses.replace(RULES, complaint=dataclasses.replace(
        RULES.complaint, signals=(*RULES.complaint.signals, calm)))
    populate(migrated_engine)
    facts = pop_facts(migrated_engine)
    result = preview(migrated_engine, rules, CAMPAIGN, None, [], now=NOW)
    check_breakdowns(result, expected_breakdowns(migrated_engine, facts, set(facts), CAMPAIGN, rules))
    levels = {i["level"] for i in result.breakdowns["complaint_sensitivity"].items if i["source"] == "rules"}
    assert "low" in levels  # the calm point lifts those without complaints from none to low


def test_sqlite_parts_and_workers_give_the_same_preview(sqlite_url, monkeypatch):
    from server_stub.db.engine import make_engine, upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    populate(engine, count=150)
    conditions = [parse_condition("tenure_months >= 1")]
    one = preview(engine, RULES, CAMPAIGN, None, conditions, now=NOW, workers=1).as_dict()
    monkeypatch.setattr(audience, "_PARALLEL_MIN_ROWS", 10)  # two rowid ranges even on 150 customers
    two = preview(engine, RULES, CAMPAIGN, None, conditions, now=NOW, workers=2).as_dict()
    assert len(audience._rowid_ranges(engine, 2)) == 2
    for result in (one, two):
        result.pop("elapsed_s")
    assert one == two
    engine.dispose()


def test_an_operator_score_takes_precedence_and_a_level_range_says_what_is_not_evaluated(migrated_engine):
    with Session(migrated_engine) as session:
        factories.add_catalog(session)
    with Session(migrated_engine) as session:
        factories.add_customer(session, "P1", campaign=False, bill_inquiries_3m=3, downgrades_12m=1)  # 4 points
        factories.add_customer(session, "P2", campaign=False, bill_inquiries_3m=3, downgrades_12m=1)
        factories.add_score(session, "P2", price_level="low", complaint_level="high", churn_risk=0.7)
    result = preview(migrated_engine, RULES, CAMPAIGN, None, [], now=NOW)
    price = {(i["source"], i["min_level"], i["max_level"]): i["count"]
             for i in result.breakdowns["price_sensitivity"].items}
    # 4 points are medium; bill shock (+2, usage) could make it high: a range, not a guess.
    assert price == {("operator_model", "low", "low"): 1, ("rules", "medium", "high"): 1}
    assert [n["code"] for n in result.notes] == ["price_signals_not_evaluated"]
    assert "bill_shock" in result.notes[0]["en"] and "bill_shock" in result.notes[0]["zh"]
    complaint = {(i["source"], i["level"]): i["count"] for i in result.breakdowns["complaint_sensitivity"].items}
    assert complaint == {("operator_model", "high"): 1, ("rules", "none"): 1}
    assert [i["count"] for i in result.breakdowns["churn_band"].items] == [0, 1, 1]  # 0.2 (row), 0.7 (score)


# ====================================================================== the IBM Telco file


IBM = "telco_customer_churn_ibm.csv"


def import_ibm(url: str, shared_data_dir) -> None:
    """The walk-through's first step, as a carrier runs it: the real command, in its own process."""
    done = subprocess.run([sys.executable, "-m", "server_stub.cli", "import", "customers", str(shared_data_dir / IBM),
                           "--mapping", "ibm-telco", "--database-url", url],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


def csv_rows(shared_data_dir) -> list[dict]:
    with open(shared_data_dir / IBM, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_audience_count_is_the_csvs_own_count(database_url, migrated_engine, shared_data_dir, capsys):
    with Session(migrated_engine) as session:
        factories.add_catalog(session)
    import_ibm(database_url, shared_data_dir)
    capsys.readouterr()
    rows = csv_rows(shared_data_dir)
    want = {r["customerID"] for r in rows if r["Contract"] == "Month-to-month" and int(r["tenure"]) < 12}
    month_to_month = sum(r["Contract"] == "Month-to-month" for r in rows)
    assert len(want) > 1000

    args = ["--database-url", database_url, "--campaign", CAMPAIGN, "--json"]
    assert main(["audience", "preview", *args, "--where", "contract == month_to_month"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == month_to_month
    assert main(["audience", "preview", *args, "--where", "contract == month_to_month",
                 "--where", "tenure_months < 12"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count"] == len(want)
    for name, items in result["breakdowns"].items():
        assert sum(i["count"] for i in items) == len(want), name

    # The value tier breakdown against the mapping's bands, counted from the CSV.
    def tier(row):
        fee = Decimal(row["MonthlyCharges"])
        return "diamond" if fee >= 100 else "gold" if fee >= 70 else "silver" if fee >= 40 else "standard"

    tiers: dict[str, int] = {}
    for r in rows:
        if r["customerID"] in want:
            tiers[tier(r)] = tiers.get(tier(r), 0) + 1
    assert {i["value"]: i["count"] for i in result["breakdowns"]["value_tier"]} == tiers
    churned = sum(r["Churn"] == "Yes" for r in rows if r["customerID"] in want)  # risk 0.85, else 0.15
    assert [i["count"] for i in result["breakdowns"]["churn_band"]] == [len(want) - churned, 0, churned]
    assert result["already_members"] == 0 and result["new_members"] == len(want)

    # apply writes exactly those customers, with everything the agent's panel reads.
    assert main(["audience", "apply", "--database-url", database_url, "--campaign", CAMPAIGN, "--wave", "2",
                 "--where", "contract == month_to_month", "--where", "tenure_months < 12", "--priority", "5",
                 "--reason", "新入网月付客户 / new month-to-month"]) == 0
    out = capsys.readouterr().out
    assert f"added {len(want):,} members" in out
    with Session(migrated_engine) as session:
        members = session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == CAMPAIGN)).all()
        assert {m.customer_id for m in members} == want
        assert {(m.wave, m.priority, m.reason, m.source) for m in members} == {
            (2, 5, "新入网月付客户 / new month-to-month", "audience")}
        assert all(m.added_at is not None and m.added_at.tzinfo is not None for m in members)
        before = sorted((m.customer_id, m.wave, m.priority, m.reason, m.source, m.added_at) for m in members)

    # Applying it again changes nothing, and says so.
    assert main(["audience", "apply", "--database-url", database_url, "--campaign", CAMPAIGN, "--wave", "2",
                 "--where", "contract == month_to_month", "--where", "tenure_months < 12", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["changed"], again["added"], again["already_members"], again["matched"]) == (
        False, 0, len(want), len(want))
    assert again["already_members_differing"] == len(want)  # priority and reason were not given this time
    with Session(migrated_engine) as session:
        after = sorted((m.customer_id, m.wave, m.priority, m.reason, m.source, m.added_at)
                       for m in session.scalars(select(CampaignMember)))
    assert after == before
    assert main(["audience", "apply", "--database-url", database_url, "--campaign", CAMPAIGN, "--wave", "2",
                 "--where", "contract == month_to_month", "--where", "tenure_months < 12"]) == 0
    assert capsys.readouterr().out.startswith("nothing changed")
    assert main(["audience", "preview", *args, "--where", "contract == month_to_month",
                 "--where", "tenure_months < 12"]) == 0
    assert json.loads(capsys.readouterr().out)["new_members"] == 0


def test_apply_leaves_existing_members_as_they_are_and_skips_retired_customers(migrated_engine):
    with Session(migrated_engine) as session:
        factories.add_catalog(session)
        for cid, tenure in (("M1", 3), ("M2", 5), ("M3", 40), ("M4", 2), ("M5", 4), ("M6", 6)):
            factories.add_customer(session, cid, campaign=cid in ("M1", "M5", "M6"), tenure_months=tenure)
        factories.set_member(session, "M1", wave=3, priority=9, reason="VIP", source="members")
        factories.set_member(session, "M5", wave=None, priority=1, reason=None, source="members")  # wave differs
        factories.set_member(session, "M6", wave=1, priority=1, reason=None, source="members")  # as applied
        session.execute(update(Customer).where(Customer.customer_id == "M4").values(retired_at=NOW))
        session.commit()
    done = apply(migrated_engine, CAMPAIGN, 1, [parse_condition("tenure_months < 12")], priority=1, now=NOW)
    assert (done.matched, done.added, done.already_members, done.already_members_differing) == (4, 1, 3, 2)
    assert "left as they are" in audience.render_applied(done) and "保持不变" in audience.render_applied(done, "zh")
    with Session(migrated_engine) as session:
        rows = {m.customer_id: (m.wave, m.priority, m.reason, m.source)
                for m in session.scalars(select(CampaignMember))}
    assert rows == {"M1": (3, 9, "VIP", "members"), "M2": (1, 1, None, "audience"), "M5": (None, 1, None, "members"),
                    "M6": (1, 1, None, "members")}


def test_apply_is_one_transaction(migrated_engine, monkeypatch):
    with Session(migrated_engine) as session:
        factories.add_catalog(session)
        for cid in ("T1", "T2"):
            factories.add_customer(session, cid, campaign=False)
    real_execute = None

    def failing_rowcount(self, statement, *args, **kwargs):
        result = real_execute(self, statement, *args, **kwargs)
        if getattr(statement, "is_insert", False):
            raise RuntimeError("disk full")
        return result

    from sqlalchemy.engine import Connection

    real_execute = Connection.execute
    monkeypatch.setattr(Connection, "execute", failing_rowcount)
    with pytest.raises(RuntimeError, match="disk full"):
        apply(migrated_engine, CAMPAIGN, None, [], now=NOW)
    monkeypatch.undo()
    with Session(migrated_engine) as session:
        assert session.scalars(select(CampaignMember)).all() == []


def test_apply_racing_a_members_feed_writes_nothing_and_says_to_run_again(database_url, migrated_engine):
    """PostgreSQL: a members feed inserts R1 while apply is running; apply's snapshot did not see R1, its
    insert meets R1's row, waits, and fails when the feed commits: nothing of apply's is kept."""
    if migrated_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): apply waits for the feed instead")
    with Session(migrated_engine) as session:
        factories.add_catalog(session)
        for cid in ("R1", "R2"):
            factories.add_customer(session, cid, campaign=False)
    feed = migrated_engine.connect()
    feed.execute(insert(CampaignMember).values(campaign_id=CAMPAIGN, customer_id="R1", source="members"))
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = apply(migrated_engine, CAMPAIGN, None, [], now=NOW)
        except AudienceError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        with migrated_engine.connect() as watch:
            while not watch.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND wait_event_type = 'Lock'")).scalar():
                watch.rollback()
                assert worker.is_alive(), outcome
                assert time.monotonic() < deadline, "apply never waited on the feed's row"
                worker.join(timeout=0.05)
        feed.commit()
    finally:
        feed.close()
        worker.join(timeout=60)
    assert "error" in outcome, outcome
    assert "nothing was written" in outcome["error"].en and "未写入任何数据" in outcome["error"].zh
    with Session(migrated_engine) as session:
        assert [(m.customer_id, m.source) for m in session.scalars(select(CampaignMember))] == [("R1", "members")]


def test_apply_refuses_a_switched_off_campaign_and_a_long_reason(migrated_engine):
    with Session(migrated_engine) as session:
        factories.add_catalog(session)
        factories.add_customer(session, "R1", campaign=False)
        factories.set_campaign(session, CAMPAIGN, active=False)
    with pytest.raises(AudienceError, match="switched off or retired") as caught:
        apply(migrated_engine, CAMPAIGN, None, [], now=NOW)
    assert "已停用或退役" in caught.value.zh
    with pytest.raises(AudienceError, match="at most 200"):
        apply(migrated_engine, CAMPAIGN, None, [], reason="x" * 201, now=NOW)
    notes = preview(migrated_engine, RULES, CAMPAIGN, None, [], now=NOW).notes
    assert "campaign_inactive" in [n["code"] for n in notes]


# ====================================================================== bad input, located


@pytest.mark.parametrize(("text", "column", "en", "zh"), [
    ("tenure_month < 12", 1, "unknown fact 'tenure_month'. Did you mean 'tenure_months'?", "tenure_months"),
    ("data_mb > 3", 1, "cannot be evaluated for an audience in SQL (computed at pop time", "用量"),
    ("price_level >= 2", 1, "sensitivity assessment's result", "敏感度评估"),
    ('tenure_months == "abc"', 18, "'tenure_months' is compared with a number; 'abc' is text", "数字"),
    ("tenure_months = 12", 15, "expected an operator", "运算符"),
    ("tenure_months", 14, "expected an operator", "运算符"),
    ("tenure_months <", 16, "missing the value", "缺少值"),
    ("tenure_months < 1 2", 17, "is not a value", "不是合法的值"),
    ("value_tier in gold", 15, "'in' takes a list", "需要列表"),
    ("value_tier == [gold]", 15, "takes one value, not a list", "单个值"),
    ("value_tier > gold", 12, "'>' does not apply to 'value_tier' (text)", "不适用"),
    ("dnd == 1", 8, "'dnd' is compared with true or false", "true 或 false"),
    ("segments == young", 10, "'==' does not apply to 'segments'", "不适用"),
    ("monthly_fee > nan", 15, "finite numbers", "有限数字"),
    ("12 < tenure_months", 1, "starts with a fact name", "事实名"),
    ("  tenure_months < [1, 2", 19, "is not a value", "不是合法的值"),
])
def test_a_bad_condition_is_refused_where_it_is_wrong(text, column, en, zh):
    with pytest.raises(AudienceError) as caught:
        parse_condition(text, 3)
    error = caught.value
    assert f"--where #3 {text!r}, column {column}: " in error.en
    assert en in error.en
    assert f"第 {column} 列" in error.zh and zh in error.zh
    assert "\n    " + " " * (column - 1) + "^" in error.en  # the pointer under the spot


def test_values_read_as_toml_with_bare_words_as_text():
    assert parse_condition("contract == month_to_month").value == "month_to_month"
    assert parse_condition('contract == "month_to_month"').value == "month_to_month"
    assert parse_condition("value_tier in [gold, \"diamond\"]").value == ["gold", "diamond"]
    assert parse_condition("value_tier in [gold, diamond,]").value == ["gold", "diamond"]
    assert parse_condition("city == 北京").value == "北京"
    assert parse_condition("group_name == 2024").value == "2024"  # a text fact: what was typed
    assert parse_condition("plan_id == 5G_99").value == "5G_99"
    assert parse_condition("tenure_months < 12").value == 12
    assert parse_condition("monthly_fee >= 99.5").value == 99.5
    assert parse_condition("dnd == false").value is False
    assert parse_condition("tenure_months in [1, 2]").value == [1, 2]
    assert parse_condition("value_tier not_in []").value == []


def test_the_cli_reports_unknown_campaigns_and_waves_and_bad_conditions_with_exit_2(migrated_engine, database_url,
                                                                                     capsys):
    with Session(migrated_engine) as session:
        factories.add_catalog(session)
    base = ["audience", "preview", "--database-url", database_url]
    assert main([*base, "--campaign", "CMP-FAMLY", "--where", "tenure_months < 12"]) == 2
    assert "unknown campaign 'CMP-FAMLY'. Did you mean 'CMP-FAMILY'?" in capsys.readouterr().err
    assert main([*base, "--campaign", CAMPAIGN, "--wave", "7"]) == 2
    assert "has no wave 7 (its waves: 1, 2, 3)" in capsys.readouterr().err
    assert main([*base, "--campaign", CAMPAIGN, "--wave", "7", "--lang", "zh_CN"]) == 2
    assert "没有第 7 波" in capsys.readouterr().err
    assert main([*base, "--campaign", CAMPAIGN, "--where", "tenure_months < 12", "--where", "tenur < 3",
                 "--json"]) == 2
    captured = capsys.readouterr()
    assert "--where #2 'tenur < 3', column 1" in captured.err
    assert "第 2 个条件" in json.loads(captured.out)["error"]["zh"]
    assert main(["audience", "apply", "--database-url", database_url, "--campaign", "NOPE"]) == 2
    assert "unknown campaign 'NOPE'" in capsys.readouterr().err
    with Session(migrated_engine) as session:
        assert session.scalars(select(CampaignMember)).all() == []


def test_the_cli_prints_the_preview_in_english_and_chinese(migrated_engine, database_url, capsys):
    with Session(migrated_engine) as session:
        factories.add_catalog(session)
        factories.add_customer(session, "E1", campaign=True, brand="全球通", city="广州", tenure_months=3)
        factories.add_customer(session, "E2", campaign=False, brand="动感地带", city="深圳", tenure_months=4, dnd=True)
    base = ["audience", "preview", "--database-url", database_url, "--campaign", CAMPAIGN, "--wave", "2",
            "--where", "tenure_months < 12"]
    assert main(base) == 0
    text = capsys.readouterr().out
    assert "Matching customers: 2" in text and "already members of this campaign: 1; apply would add 1" in text
    assert "全球通 1 (50.0%)" in text and "Do not disturb: 1 (50.0%)" in text and "wave 2 of 3" in text
    assert main([*base, "--lang", "zh_CN"]) == 0
    text = capsys.readouterr().out
    assert "匹配客户：2" in text and "金卡 2 (100.0%)" in text and "免打扰：1（50.0%）" in text
    assert main(["audience", "facts", "--lang", "zh_CN"]) == 0
    assert "合约剩余月数" in capsys.readouterr().out
