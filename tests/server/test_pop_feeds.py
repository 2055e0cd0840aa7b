"""The pop uses every fed fact (issue 13): customer fields, bills, subscriptions, operator scores, catalog
eligibility and holdings, caps across campaigns counting fed contacts, members per wave, recent contacts and
repeat callers, shared and retired numbers. Through the real API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from server_stub.db.models import ContactHistory, Decision
from tests.server.factories import (
    NOW,
    TODAY,
    add_bills,
    add_contacts,
    add_customer,
    add_customer_cap,
    add_number,
    add_score,
    add_subscription,
    set_campaign,
    set_member,
    set_offer,
)
from tests.server.test_pop_rules import codes, offers_by_id, outcome

RICH = dict(brand="全球通", service_status="arrears_suspended", balance_fen=-1250, arrears_fen=4830,
            contract_end=dt.date(TODAY.year + 1, TODAY.month, 1), account_manager="陈经理", handset="华为 Mate 60",
            star_level=5, relation_kind="secondary_card", group_id="FAM-0001", group_name="张家")


def suppression(offer: dict, code: str) -> dict:
    return next(r for r in offer["suppressed_by"] if r["code"] == code)


def decisions(api) -> int:
    api.session.expire_all()
    return api.session.scalar(select(func.count()).select_from(Decision))


def months_ago(n: int) -> str:
    year, month = divmod(TODAY.year * 12 + TODAY.month - 1 - n, 12)
    return f"{year:04d}-{month + 1:02d}"


# ---------------------------------------------------------------- customer fields, bills, subscriptions


def test_fed_customer_fields_bills_and_subscriptions_reach_the_pop(api):
    add_customer(api.session, "C1", "13800138000", **RICH)
    add_bills(api.session, "C1", [(months_ago(m), 12900 + m, 12900 if m != 2 else 0, m == 1) for m in range(1, 5)])
    add_subscription(api.session, "C1", "PRD-RBT", name="经典彩铃", category="ringback",
                     since=dt.date(2025, 1, 1), until=None)
    add_subscription(api.session, "C1", "PRD-OLD", until=TODAY - dt.timedelta(days=1))  # ended yesterday
    add_subscription(api.session, "C1", "PRD-LASTDAY", until=TODAY)
    customer = api.pop(customer_id="C1")["customer"]
    assert {k: customer[k] for k in ("brand", "service_status", "service_status_name", "balance", "arrears",
                                      "contract_end", "account_manager", "handset", "star_level", "retired")} == {
        "brand": "全球通", "service_status": "arrears_suspended",
        "service_status_name": {"zh": "欠费停机", "en": "suspended for arrears"}, "balance": -12.5,
        "arrears": 48.3, "contract_end": RICH["contract_end"].isoformat(), "account_manager": "陈经理",
        "handset": "华为 Mate 60", "star_level": 5, "retired": False,
    }
    assert customer["relation"] == {"kind": "secondary_card", "kind_name": {"zh": "副卡", "en": "secondary line"},
                                    "group_id": "FAM-0001", "group_name": "张家"}
    # Three newest bills, newest first, in yuan.
    assert [b["month"] for b in customer["bills"]] == [months_ago(1), months_ago(2), months_ago(3)]
    first = customer["bills"][0]
    assert first == {"month": months_ago(1), "amount": 129.01, "paid": 129.0, "due_on": first["due_on"],
                     "paid_on": first["paid_on"], "late": True}
    assert dt.date.fromisoformat(first["paid_on"]) > dt.date.fromisoformat(first["due_on"])
    assert customer["bills"][1]["paid"] == 0.0 and customer["bills"][1]["paid_on"] is None
    # Held today: not the one that ended yesterday.
    assert customer["subscriptions"] == [
        {"product_id": "PRD-LASTDAY", "name": "PRD-LASTDAY 产品", "category": "add-on",
         "since": (TODAY - dt.timedelta(days=100)).isoformat(), "until": TODAY.isoformat()},
        {"product_id": "PRD-RBT", "name": "经典彩铃", "category": "ringback", "since": "2025-01-01", "until": None},
    ]
    assert customer["churn_source"] == "customer_feed" and customer["scores"] is None


def test_a_customer_without_fed_fields_pops_with_empty_defaults(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    customer, contact = doc["customer"], doc["contact"]
    assert customer["relation"] is None and customer["service_status_name"] is None
    assert customer["bills"] == [] and customer["subscriptions"] == []
    assert customer["balance"] is None and customer["star_level"] is None
    assert contact["recent_contacts"] == [] and contact["calls_7d"] == 0 and contact["repeat_caller"] is False
    assert contact["customer_cap"] is None
    assert contact["member"] == {"campaign_id": "CMP-FAMILY", "wave": None, "priority": 0, "reason": None}
    assert doc["sensitivity"]["price"]["source"] == "rules" and doc["sensitivity"]["price"]["model"] is None


# Every fact the contract adds, with the value the RICH customer has (a condition per fact proves both the
# name and the value the rules, the catalog and audiences see).
FACTS = {
    "brand": "全球通", "service_status": "arrears_suspended", "star_level": 5, "balance": -12.5, "arrears": 48.3,
    "contract_months_left": 11 if TODAY.day > 1 else 12, "relation_kind": "secondary_card", "group_name": "张家", "city": "广州",
    "gender": "M", "contract": "month_to_month", "payment_method": "wechat", "plan_id": "P129",
    "calls_7d": 2, "churn_risk": 0.2, "churn_risk_pct": 20,
}


def test_every_new_fact_is_known_to_catalog_conditions(api):
    add_customer(api.session, "C1", "13800138000", **RICH)
    add_subscription(api.session, "C1", "PRD-RBT")
    add_contacts(api.session, "C1", [0.1], channel="ivr", campaign_id=None, result=None, purpose="service")
    add_contacts(api.session, "C1", [2], channel="inbound_call", campaign_id=None, result=None, purpose="service")
    holds = [{"fact": "holds", "op": "contains", "value": "PRD-RBT"}]
    set_offer(api.session, "CARE-CHECKUP", eligibility=[
        {"fact": fact, "op": "==", "value": value} for fact, value in FACTS.items()] + holds)
    care = offers_by_id(api.pop(customer_id="C1"))["CARE-CHECKUP"]
    assert not care["suppressed"], care["suppressed_by"]
    # Each condition that fails is its own reason, naming its fact.
    set_offer(api.session, "CARE-CHECKUP", eligibility=[
        {"fact": fact, "op": "!=", "value": value} for fact, value in FACTS.items()]
        + [{"fact": "holds", "op": "contains", "value": "PRD-NONE"}])
    care = offers_by_id(api.pop(customer_id="C1"))["CARE-CHECKUP"]
    named = [r["en"].removeprefix("Not eligible: needs ").split(" ")[0] for r in care["suppressed_by"]]
    assert named == [*FACTS, "holds"]
    assert {(r["code"], r["kind"]) for r in care["suppressed_by"]} == {("not_eligible", "eligibility")}


def test_contract_months_left(api):
    from server_stub.services.pop import contract_months_left

    today = dt.date(2026, 3, 16)
    assert contract_months_left(None, today) is None
    assert contract_months_left(dt.date(2026, 3, 31), today) == 0
    assert contract_months_left(dt.date(2026, 4, 16), today) == 1
    assert contract_months_left(dt.date(2026, 4, 15), today) == 0
    assert contract_months_left(dt.date(2027, 3, 16), today) == 12
    assert contract_months_left(dt.date(2026, 1, 1), today) == -3


# ---------------------------------------------------------------- operator scores


def test_operator_scores_take_precedence_over_the_rules_and_say_so(api):
    # The rules see a calm customer (price low, complaint none, churn 0.2) ...
    add_customer(api.session, "C1", "13800138000", churn_risk=0.2, bill_inquiries_3m=2)
    doc = api.pop(customer_id="C1")
    assert doc["sensitivity"]["price"]["level"] == "low"
    assert codes(offers_by_id(doc)["RET-DISCOUNT-20"]) == {"not_eligible"}
    # ... the operator's model does not.
    add_score(api.session, "C1", churn_risk=0.75, price_level="high", complaint_level="low",
              churn_reason="合约到期+竞品降价", price_reason="近期咨询降档", complaint_reason=None,
              model="jingfen-churn-v3")
    doc = api.pop(customer_id="C1")
    customer, price, complaint = doc["customer"], doc["sensitivity"]["price"], doc["sensitivity"]["complaint"]
    assert customer["churn_risk"] == 0.75 and customer["churn_source"] == "operator_model"
    assert customer["scores"]["model"] == "jingfen-churn-v3"
    assert customer["scores"]["churn_reason"] == "合约到期+竞品降价"
    assert customer["scores"]["scored_at"].startswith((NOW - dt.timedelta(days=1)).date().isoformat())
    assert (price["level"], price["source"], price["model"]) == ("high", "operator_model", "jingfen-churn-v3")
    # The operator's reason first, the rules' reasons after it; the rules' points stay.
    assert [r["code"] for r in price["reasons"]] == ["operator_model", "bill_inquiries"] and price["points"] == 2
    assert "近期咨询降档" in price["reasons"][0]["zh"] and "近期咨询降档" in price["reasons"][0]["en"]
    assert "no paid offers at all" in price["guidance"]["en"]  # the guidance of the operator's level
    assert (complaint["level"], complaint["source"]) == ("low", "operator_model")
    assert complaint["reasons"][0]["code"] == "operator_model" and "低" in complaint["reasons"][0]["zh"]
    offers = offers_by_id(doc)
    # The operator's levels and churn risk drive suppression, eligibility and ranking.
    assert "price_sensitive" in codes(offers["ADDON-DATA-20G"])
    assert not offers["RET-DISCOUNT-20"]["suppressed"]
    assert any(r["code"] == "boost_retention" and "75%" in r["en"] for r in offers["RET-DISCOUNT-20"]["reasons"])


def test_a_score_without_a_churn_risk_keeps_the_customer_feeds(api):
    add_customer(api.session, "C1", "13800138000", churn_risk=0.3)
    add_score(api.session, "C1", churn_risk=None, price_level=None, complaint_level="medium", model=None)
    doc = api.pop(customer_id="C1")
    assert doc["customer"]["churn_risk"] == 0.3 and doc["customer"]["churn_source"] == "customer_feed"
    assert doc["customer"]["scores"] == {"model": None, "scored_at": doc["customer"]["scores"]["scored_at"],
                                         "churn_reason": None}
    assert doc["sensitivity"]["price"]["source"] == "rules"
    complaint = doc["sensitivity"]["complaint"]
    assert (complaint["level"], complaint["source"], complaint["model"]) == ("medium", "operator_model", None)
    assert "complaint_sensitive" in codes(offers_by_id(doc)["ADDON-DATA-20G"])


# ---------------------------------------------------------------- holdings and catalog eligibility


def test_held_products_and_accepted_offers_are_never_pitched_again(api):
    add_customer(api.session, "C1", "13800138000")
    set_offer(api.session, "ADDON-DATA-20G", product_id="PRD-DATA-20G")
    add_subscription(api.session, "C1", "PRD-DATA-20G")  # held through the offer's product id
    add_subscription(api.session, "C1", "RBT-CLASSIC", category="ringback")  # no product id: the offer id
    add_subscription(api.session, "C1", "ROAM-ASIA-7D", until=TODAY - dt.timedelta(days=1))  # no longer held
    doc = api.pop(customer_id="C1")
    offers = offers_by_id(doc)
    for held in ("ADDON-DATA-20G", "RBT-CLASSIC"):
        reason = suppression(offers[held], "already_held")
        assert reason["kind"] == "holdings" and reason["zh"] and reason["en"]
        assert offers[held]["rank"] is None
    assert "already_held" not in codes(offers["ROAM-ASIA-7D"])
    assert "already_held" not in codes(offers["CARE-CHECKUP"])
    # An accepted offer is held from the next pop on, like a subscription.
    assert api.post_outcomes([outcome(doc, "accepted", "CARE-CHECKUP", call_id="call-1")]).json()["accepted"] == 1
    care = offers_by_id(api.pop(customer_id="C1"))["CARE-CHECKUP"]
    assert codes(care) == {"already_held"}
    # ... however long ago it was accepted (beyond every contact window).
    add_contacts(api.session, "C1", [400], campaign_id=None, result="accepted", offer_id="PAY-AUTOPAY")
    assert codes(offers_by_id(api.pop(customer_id="C1"))["PAY-AUTOPAY"]) == {"already_held"}


def test_catalog_eligibility_conditions_suppress_with_their_own_text(api):
    add_customer(api.session, "C1", "13800138000", star_level=2, brand="动感地带")
    set_offer(api.session, "CARE-CHECKUP", eligibility=[
        {"fact": "star_level", "op": ">=", "value": 3, "zh": "星级 {star_level} 未达三星", "en": "Star level {star_level} below 3"},
        {"fact": "brand", "op": "in", "value": ["全球通", "动感地带"]},
    ])
    care = offers_by_id(api.pop(customer_id="C1"))["CARE-CHECKUP"]
    assert care["suppressed_by"] == [{"code": "not_eligible", "kind": "eligibility", "zh": "星级 2 未达三星",
                                      "en": "Star level 2 below 3"}]
    # A fact the customer lacks never satisfies a condition; the generic text names it.
    set_offer(api.session, "CARE-CHECKUP", eligibility=[{"fact": "arrears", "op": "<", "value": 10}])
    care = offers_by_id(api.pop(customer_id="C1"))["CARE-CHECKUP"]
    assert codes(care) == {"not_eligible"} and "arrears" in care["suppressed_by"][0]["en"]
    # A malformed stored condition is strict too, and the pop still answers.
    set_offer(api.session, "CARE-CHECKUP", eligibility=[{"fact": "brand", "op": "≈", "value": "x"}])
    care = offers_by_id(api.pop(customer_id="C1"))["CARE-CHECKUP"]
    assert codes(care) == {"not_eligible"}
    set_offer(api.session, "CARE-CHECKUP", eligibility=[{"fact": "brand", "op": "==", "value": "动感地带"}])
    assert not offers_by_id(api.pop(customer_id="C1"))["CARE-CHECKUP"]["suppressed"]


def test_retired_offers_and_campaigns_are_never_pitched(api):
    add_customer(api.session, "C1", "13800138000")
    assert {"RBT-CLASSIC", "CAMP-FAMILY-PLAN"} <= set(offers_by_id(api.pop(customer_id="C1")))
    set_offer(api.session, "RBT-CLASSIC", retired_at=NOW)
    doc = api.pop(customer_id="C1")
    assert "RBT-CLASSIC" not in offers_by_id(doc)
    listed = {o["offer_id"]: o for o in api.get("/v1/offers").json()["items"]}
    assert listed["RBT-CLASSIC"]["retired"] is True and listed["RBT-CLASSIC"]["active"] is False
    set_campaign(api.session, "CMP-FAMILY", retired_at=NOW)
    doc = api.pop(customer_id="C1")
    assert "CAMP-FAMILY-PLAN" not in offers_by_id(doc)
    assert doc["contact"]["campaign"] is None and doc["contact"]["member"] is None


# ---------------------------------------------------------------- caps across campaigns


def test_customer_cap_counts_marketing_contacts_fed_from_every_channel(api):
    add_customer(api.session, "C1", "13800138000")
    add_customer_cap(api.session, "*", 2, 30)
    # Not marketing contacts: a service call, an unanswered outbound call, a call where nothing was offered,
    # and one long ago.
    add_contacts(api.session, "C1", [1], channel="ivr", campaign_id=None, result=None, purpose="service",
                 topic="账单查询")
    add_contacts(api.session, "C1", [2], channel="outbound_call", campaign_id=None, result="no_answer")
    add_contacts(api.session, "C1", [3], campaign_id=None, result="not_offered")
    add_contacts(api.session, "C1", [45], channel="sms", campaign_id=None, result=None)
    # One marketing SMS sent by another system for another campaign.
    add_contacts(api.session, "C1", [5], channel="sms", campaign_id="OTHER-SYSTEM", result=None,
                 external_id="SMS-1")
    doc = api.pop(customer_id="C1")
    assert doc["contact"]["customer_cap"] == {"channel": "*", "channel_name": {"zh": "所有渠道", "en": "all channels"},
                                              "used": 1, "max": 2, "period_days": 30, "next_eligible_at": None}
    assert not any("customer_cap" in codes(o) for o in doc["offers"])
    # An outbound call made elsewhere reaches the cap: every offer but care is suppressed.
    add_contacts(api.session, "C1", [4], channel="outbound_call", campaign_id=None, result="connected")
    doc = api.pop(customer_id="C1")
    cap = doc["contact"]["customer_cap"]
    assert (cap["used"], cap["max"]) == (2, 2)
    freed = (NOW - dt.timedelta(days=5) + dt.timedelta(days=30)).date().isoformat()
    assert cap["next_eligible_at"].startswith(freed)
    assert doc["contact"]["eligible_now"] is False and doc["contact"]["next_eligible_at"].startswith(freed)
    for offer in doc["offers"]:
        if offer["category"] == "care":
            assert "customer_cap" not in codes(offer)
        else:
            reason = suppression(offer, "customer_cap")
            assert reason["kind"] == "contact" and freed in reason["en"] and "2/2" in reason["zh"]


def test_a_channel_cap_counts_only_its_channel_and_one_call_is_one_contact(api):
    add_customer(api.session, "C1", "13800138000")
    add_customer_cap(api.session, "inbound_call", 2, 7)
    add_customer_cap(api.session, "sms", 1, 7)  # not this interaction's channel: not shown, never binding
    add_contacts(api.session, "C1", [1, 2], channel="sms", campaign_id=None, result=None)
    doc = api.pop(customer_id="C1")
    # Two outcomes of one call are one contact.
    api.post_outcomes([outcome(doc, "declined", "ADDON-DATA-20G", call_id="call-9"),
                       outcome(doc, "considering", "CARE-CHECKUP", call_id="call-9")])
    cap = api.pop(customer_id="C1")["contact"]["customer_cap"]
    assert (cap["channel"], cap["used"], cap["max"], cap["period_days"]) == ("inbound_call", 1, 2, 7)
    add_contacts(api.session, "C1", [3], channel="inbound_call", campaign_id=None, result="callback")
    doc = api.pop(customer_id="C1")
    assert doc["contact"]["customer_cap"]["used"] == 2
    assert "customer_cap" in codes(offers_by_id(doc)["PLAN-5G-199"])


def test_the_binding_cap_is_the_one_that_frees_last(api):
    add_customer(api.session, "C1", "13800138000")
    add_customer_cap(api.session, "*", 10, 30)
    add_customer_cap(api.session, "inbound_call", 1, 60)
    add_contacts(api.session, "C1", [20], campaign_id=None, result="declined")
    cap = api.pop(customer_id="C1")["contact"]["customer_cap"]
    assert (cap["channel"], cap["used"], cap["max"]) == ("inbound_call", 1, 1)
    # Both reached: the "*" cap is further over, but the inbound one keeps the customer off longer.
    add_customer_cap_max(api, "*", 1)
    add_contacts(api.session, "C1", [1, 2], channel="sms", campaign_id=None, result=None)
    contact = api.pop(customer_id="C1")["contact"]
    cap = contact["customer_cap"]
    assert (cap["channel"], cap["used"], cap["max"], cap["period_days"]) == ("inbound_call", 1, 1, 60)
    assert cap["next_eligible_at"].startswith((NOW + dt.timedelta(days=40)).date().isoformat())
    assert contact["next_eligible_at"] == cap["next_eligible_at"]


def add_customer_cap_max(api, channel: str, max_contacts: int) -> None:
    from sqlalchemy import update

    from server_stub.db.models import CustomerCap

    api.session.execute(update(CustomerCap).where(CustomerCap.channel == channel).values(max_contacts=max_contacts))
    api.session.commit()


def test_campaign_caps_count_marketing_contacts_fed_from_elsewhere(api):
    add_customer(api.session, "C1", "13800138000")
    # SMS sent by the campaign platform (no result recorded) and an inbound contact fed with no result.
    add_contacts(api.session, "C1", [1, 2, 3], channel="sms", result=None, external_id=None)
    add_contacts(api.session, "C1", [4], channel="sms", result=None, purpose="service")  # never counts
    doc = api.pop(customer_id="C1")
    sms = next(c for c in doc["contact"]["caps"] if c["channel"] == "sms")
    assert (sms["used"], sms["max"]) == (3, 4)
    add_contacts(api.session, "C1", [1, 2], channel="inbound_call", result=None)
    camp = offers_by_id(api.pop(customer_id="C1"))["CAMP-FAMILY-PLAN"]
    assert "contact_cap" in codes(camp)


# ---------------------------------------------------------------- members per wave


def test_a_member_of_another_wave_is_not_pitched_the_campaign_now(api):
    add_customer(api.session, "C1", "13800138000")
    set_member(api.session, "C1", wave=3, priority=7, reason="合约到期前三个月")
    doc = api.pop(customer_id="C1")
    camp = offers_by_id(doc)["CAMP-FAMILY-PLAN"]
    reason = suppression(camp, "not_in_wave")
    assert reason["kind"] == "contact" and "3" in reason["zh"] and "wave 2 of 3" in reason["en"]
    assert doc["contact"]["member"] == {"campaign_id": "CMP-FAMILY", "wave": 3, "priority": 7,
                                        "reason": "合约到期前三个月"}
    set_member(api.session, "C1", wave=2)
    doc = api.pop(customer_id="C1")
    assert not offers_by_id(doc)["CAMP-FAMILY-PLAN"]["suppressed"]
    assert doc["contact"]["member"]["wave"] == 2
    set_member(api.session, "C1", wave=None)
    assert not offers_by_id(api.pop(customer_id="C1"))["CAMP-FAMILY-PLAN"]["suppressed"]


def test_an_offer_in_two_of_the_customers_campaigns_is_pitched_for_the_one_targeting_them_now(api):
    from server_stub.db.models import Campaign, CampaignMember, CampaignOffer, ContactCap, Wave

    add_customer(api.session, "C1", "13800138000")
    api.session.add(Campaign(campaign_id="CMP-B", name_zh="乙", name_en="B", inbound_may_serve_any_wave=True,
                             active=True))
    api.session.flush()
    api.session.add_all([
        CampaignOffer(campaign_id="CMP-B", offer_id="CAMP-FAMILY-PLAN"),
        Wave(campaign_id="CMP-B", seq=1, channel="inbound_call", starts_on=TODAY - dt.timedelta(days=1),
             ends_on=TODAY + dt.timedelta(days=1)),
        ContactCap(campaign_id="CMP-B", channel="inbound_call", max_contacts=5, period_days=30),
        CampaignMember(campaign_id="CMP-B", customer_id="C1", priority=1),
    ])
    api.session.commit()
    # Targeted in another wave of CMP-FAMILY: CMP-B serves the offer.
    set_member(api.session, "C1", wave=3, priority=9)
    doc = api.pop(customer_id="C1")
    camp = offers_by_id(doc)["CAMP-FAMILY-PLAN"]
    assert (camp["campaign_id"], camp["suppressed"]) == ("CMP-B", False)
    assert doc["contact"]["campaign"]["campaign_id"] == "CMP-B" and doc["contact"]["member"]["priority"] == 1
    assert doc["contact"]["other_campaign_ids"] == ["CMP-FAMILY"]
    # In both campaigns' current waves: the higher priority serves it.
    set_member(api.session, "C1", wave=None)
    camp = offers_by_id(api.pop(customer_id="C1"))["CAMP-FAMILY-PLAN"]
    assert camp["campaign_id"] == "CMP-FAMILY"


# ---------------------------------------------------------------- recent contacts and repeat callers


def test_recent_contacts_across_channels_and_the_repeat_caller_flag(api):
    add_customer(api.session, "C1", "13800138000")
    add_contacts(api.session, "C1", [10 / 1440], channel="ivr", campaign_id=None, result=None, purpose="service",
                 topic="账单查询", external_id="IVR-1")
    doc = api.pop(customer_id="C1")
    contact = doc["contact"]
    assert "IVR" in contact["recent_contacts"][0]["channel_name"]["zh"]
    assert contact["recent_contacts"] == [{
        "channel": "ivr", "channel_name": api.client.app.state.context.rules.contact.channel_name("ivr"),
        "at": contact["recent_contacts"][0]["at"], "purpose": "service", "topic": "账单查询", "result": None,
        "campaign_id": None,
    }]
    at = dt.datetime.fromisoformat(contact["recent_contacts"][0]["at"])
    assert abs(at - (NOW - dt.timedelta(minutes=10))) < dt.timedelta(seconds=1)
    assert (contact["calls_7d"], contact["repeat_caller"]) == (1, False)
    # This call's two outcomes: one more call, one recent entry (the most telling result, at its latest time).
    api.post_outcomes([outcome(doc, "declined", "ADDON-DATA-20G", call_id="call-1"),
                       outcome(doc, "accepted", "CARE-CHECKUP", call_id="call-1")])
    contact = api.pop(customer_id="C1")["contact"]
    assert (contact["calls_7d"], contact["repeat_caller"]) == (2, True)
    newest = contact["recent_contacts"][0]
    assert (newest["channel"], newest["result"], newest["purpose"]) == ("inbound_call", "accepted", "marketing")
    assert [c["channel"] for c in contact["recent_contacts"]] == ["inbound_call", "ivr"]
    # Older contacts: SMS are no calls; a call 8 days ago is out of the repeat window; beyond 30 days nothing.
    add_contacts(api.session, "C1", [1, 2, 3], channel="sms", campaign_id=None, result=None)
    add_contacts(api.session, "C1", [8], channel="inbound_call", campaign_id=None, result=None, purpose="service")
    add_contacts(api.session, "C1", [31], channel="store", campaign_id=None, result=None, purpose="service")
    contact = api.pop(customer_id="C1")["contact"]
    assert contact["calls_7d"] == 2
    recent = contact["recent_contacts"]
    assert [c["channel"] for c in recent] == ["inbound_call", "ivr", "sms", "sms", "sms"]
    assert [c["at"] for c in recent] == sorted((c["at"] for c in recent), reverse=True)


def test_outcomes_are_stored_as_contacts_with_their_call(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    api.post_outcomes([outcome(doc, "declined", "ADDON-DATA-20G", call_id="call-7", campaign_id="CMP-FAMILY"),
                       outcome(doc, "not_offered", reason="客户赶时间", call_id="call-8", campaign_id="CMP-FAMILY")])
    api.session.expire_all()
    rows = api.session.execute(select(ContactHistory.result, ContactHistory.purpose, ContactHistory.call_id)
                               .order_by(ContactHistory.result)).all()
    assert rows == [("declined", "marketing", "call-7"), ("not_offered", "marketing", "call-8")]
    # A call where nothing was offered is a call the customer made, not a contact the campaign's cap counts.
    contact = api.pop(customer_id="C1")["contact"]
    assert contact["contacts_used"] == 1 and contact["calls_7d"] == 2


# ---------------------------------------------------------------- shared and retired numbers


def test_a_shared_number_asks_which_customer_and_records_no_decision(api):
    add_customer(api.session, "C2", "13800138000", name="李娜", brand="动感地带", relation_kind="secondary_card",
                 group_name="张家", value_tier="silver", city="深圳")
    add_customer(api.session, "C1", name="张伟", **RICH)
    add_number(api.session, "13800138000", "C1")
    add_customer(api.session, "C3", name="王芳", retired_at=NOW - dt.timedelta(days=3))
    add_number(api.session, "13800138000", "C3")  # retired: no longer one of the number's customers
    before = decisions(api)
    response = api.get("/v1/pop", ani="+86 138 0013 8000")
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "ambiguous_caller" and "2 customers" in error["message"]
    assert error["details"] == [
        {"customer_id": "C1", "display_name": "张伟", "masked_msisdn": "138****8000", "value_tier": "gold",
         "city": "广州", "brand": "全球通", "plan_name": "5G畅享 129元", "relation_kind": "secondary_card",
         "group_name": "张家"},
        {"customer_id": "C2", "display_name": "李娜", "masked_msisdn": "138****8000", "value_tier": "silver",
         "city": "深圳", "brand": "动感地带", "plan_name": "5G畅享 129元", "relation_kind": "secondary_card",
         "group_name": "张家"},
    ]
    assert decisions(api) == before  # nothing the agent did not confirm
    # The agent asks, then pops by customer id.
    doc = api.pop(customer_id="C2")
    assert doc["customer"]["customer_id"] == "C2" and decisions(api) == before + 1
    # Search lists every owner of the number (the retired one flagged).
    found = api.get("/v1/customers", q="13800138000").json()["items"]
    assert sorted((c["customer_id"], c["retired"]) for c in found) == [("C1", False), ("C2", False), ("C3", True)]
    assert next(c for c in found if c["customer_id"] == "C1")["brand"] == "全球通"


def test_retired_customers_numbers_do_not_pop_them(api):
    add_customer(api.session, "C1", "13800138000")
    add_customer(api.session, "C2", name="李娜", retired_at=NOW - dt.timedelta(days=1))
    add_number(api.session, "13800138000", "C2")
    # One customer still has the number: it pops as it always did.
    doc = api.pop(ani="13800138000")
    assert doc["customer"]["customer_id"] == "C1" and doc["customer"]["retired"] is False
    # A number only a retired customer had is unknown ...
    add_customer(api.session, "C3", "13900139000", retired_at=NOW - dt.timedelta(days=1))
    response = api.get("/v1/pop", ani="13900139000")
    assert response.status_code == 404 and response.json()["error"]["code"] == "customer_not_found"
    # ... but the customer is still there by id, flagged.
    doc = api.pop(customer_id="C3")
    assert doc["customer"]["retired"] is True and doc["customer"]["msisdns"] == ["13900139000"]


def test_the_409_is_in_the_contract(api):
    from server_stub.api.openapi import openapi_document

    responses = openapi_document()["paths"]["/v1/pop"]["get"]["responses"]
    schema = responses["409"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AmbiguousCallerResponse"}
