"""The pop document and the decision rules, through the real API on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.server import factories
from tests.server.factories import NOW, add_contacts, add_customer


def offers_by_id(doc: dict) -> dict[str, dict]:
    return {o["offer_id"]: o for o in doc["offers"]}


def codes(offer: dict) -> set[str]:
    return {r["code"] for r in offer["suppressed_by"]}


def outcome(doc: dict, result: str, offer_id: str | None = None, **extra) -> dict:
    item = {
        "outcome_id": str(uuid.uuid4()),
        "decision_id": doc["decision_id"],
        "customer_id": doc["customer"]["customer_id"],
        "offer_id": offer_id,
        "result": result,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    item.update(extra)
    return item


def test_pop_by_number_in_any_format_and_by_id(api):
    add_customer(api.session, "C1", "13800138000")
    for ani in ("13800138000", "+86 138 0013 8000", "0086-13800138000", "8613800138000"):
        doc = api.pop(ani=ani)
        assert doc["customer"]["customer_id"] == "C1"
        assert doc["customer"]["masked_msisdn"] == "138****8000"
    doc = api.pop(customer_id="C1")
    assert doc["customer"]["msisdns"] == ["13800138000"]
    assert doc["api_version"] == "1" and doc["rules_version"]
    assert len(doc["customer"]["usage_history"]) == 3
    assert doc["customer"]["usage"]["bill"] == 129.0


def test_unknown_caller_and_missing_parameters_are_clear(api):
    response = api.get("/v1/pop", ani="13999999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"
    response = api.get("/v1/pop")
    assert response.status_code == 400 and response.json()["error"]["code"] == "missing_caller"
    response = api.get("/v1/pop", ani="abc")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_ani"


def test_calm_customer_gets_ranked_offers_with_reasons(api):
    add_customer(api.session, "C1", "13800138000", roaming_mb=800)
    doc = api.pop(customer_id="C1")
    assert doc["sensitivity"]["price"]["level"] == "none"
    assert doc["sensitivity"]["complaint"]["level"] == "none"
    pitchable = [o for o in doc["offers"] if not o["suppressed"]]
    assert [o["rank"] for o in pitchable] == list(range(1, len(pitchable) + 1))
    scores = [o["score"] for o in pitchable]
    assert scores == sorted(scores, reverse=True)
    roaming = offers_by_id(doc)["ROAM-ASIA-7D"]
    assert not roaming["suppressed"]
    assert any(r["code"] == "boost_roaming" for r in roaming["reasons"])
    # Ineligible offers are listed greyed with the rule's reason, never silently dropped.
    retention = offers_by_id(doc)["RET-DISCOUNT-20"]
    assert codes(retention) == {"not_eligible"}
    assert "40%" in retention["suppressed_by"][0]["en"]


def test_price_sensitive_customer_is_not_pitched_paid_offers(api):
    add_customer(api.session, "C2", "13900139000", bill_inquiries_3m=3, downgrades_12m=1,
                 bills=(20000, 12900, 12900), churn_risk=0.7)
    doc = api.pop(customer_id="C2")
    price = doc["sensitivity"]["price"]
    assert price["level"] == "high"
    assert {r["code"] for r in price["reasons"]} == {"bill_inquiries", "downgrades", "bill_shock"}
    assert "55%" in next(r["zh"] for r in price["reasons"] if r["code"] == "bill_shock")
    assert "new plans" in price["guidance"]["en"] or "paid" in price["guidance"]["en"]
    offers = offers_by_id(doc)
    for paid in ("PLAN-5G-199", "ADDON-DATA-20G"):
        assert "price_sensitive" in codes(offers[paid])
        assert offers[paid]["rank"] is None
    for kept in ("CARE-CHECKUP", "RET-DISCOUNT-20"):
        assert not offers[kept]["suppressed"], offers[kept]["suppressed_by"]
    assert doc["offers"][0]["offer_id"] == "RET-DISCOUNT-20"  # high churn risk boosts retention to the top


def test_complaint_sensitive_customer_sees_complaints_first_and_no_selling(api):
    add_customer(api.session, "C3", "13700137000",
                 complaints=[("network", "resolved", "normal", 60), ("billing", "open", "serious", 5)])
    doc = api.pop(customer_id="C3")
    complaint = doc["sensitivity"]["complaint"]
    assert complaint["level"] == "high"
    assert complaint["recent_complaints"][0]["status"] == "open"
    assert "complaint first" in complaint["guidance"]["en"] or "resolve" in complaint["guidance"]["en"]
    offers = offers_by_id(doc)
    assert "complaint_sensitive" in codes(offers["ADDON-DATA-20G"])
    assert not offers["CARE-CHECKUP"]["suppressed"]
    assert doc["offers"][0]["offer_id"] == "CARE-CHECKUP"


def test_contact_guidance_and_caps(api):
    add_customer(api.session, "C4", "13600136000")
    add_contacts(api.session, "C4", [3])
    doc = api.pop(customer_id="C4")
    contact = doc["contact"]
    assert contact["campaign"]["campaign_id"] == "CMP-FAMILY"
    assert contact["wave"]["seq"] == 2 and contact["wave"]["of"] == 3
    assert contact["wave"]["channel"] == "inbound_call"
    assert (contact["contacts_used"], contact["contacts_max"]) == (1, 2)
    assert contact["eligible_now"] is True
    assert not offers_by_id(doc)["CAMP-FAMILY-PLAN"]["suppressed"]
    add_contacts(api.session, "C4", [1])
    doc = api.pop(customer_id="C4")
    camp = offers_by_id(doc)["CAMP-FAMILY-PLAN"]
    assert "contact_cap" in codes(camp)
    expected = (NOW - dt.timedelta(days=3) + dt.timedelta(days=30)).date().isoformat()
    assert expected in next(r["en"] for r in camp["suppressed_by"] if r["code"] == "contact_cap")
    assert doc["contact"]["eligible_now"] is False
    assert doc["contact"]["next_eligible_at"].startswith(expected)
    # The cap belongs to the campaign: always-on offers are still pitchable.
    assert not offers_by_id(doc)["ADDON-DATA-20G"]["suppressed"]


def test_wave_on_another_channel_suppresses_campaign_offers(migrated_engine):
    from tests.server.conftest import make_api

    api = make_api(migrated_engine, wave_channel="sms")
    with api.client:
        add_customer(api.session, "C5", "13500135000")
        camp = offers_by_id(api.pop(customer_id="C5"))["CAMP-FAMILY-PLAN"]
        assert codes(camp) == {"wave_channel"}
        assert "SMS" in camp["suppressed_by"][0]["en"] and "短信" in camp["suppressed_by"][0]["zh"]
    api.session.close()


def test_customer_outside_the_campaign_does_not_see_its_offers(api):
    add_customer(api.session, "C6", "13400134000", campaign=False)
    doc = api.pop(customer_id="C6")
    assert "CAMP-FAMILY-PLAN" not in offers_by_id(doc)
    assert doc["contact"]["campaign"] is None


def test_refusal_is_not_repitched_and_dnd_suppresses_all_but_care(api):
    add_customer(api.session, "C7", "13300133000")
    doc = api.pop(customer_id="C7")
    result = api.post_outcomes([outcome(doc, "declined", "ADDON-DATA-20G")]).json()
    assert result["accepted"] == 1
    doc = api.pop(customer_id="C7")
    addon = offers_by_id(doc)["ADDON-DATA-20G"]
    assert codes(addon) == {"recent_refusal"}
    assert (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat() in addon["suppressed_by"][0]["en"]

    assert api.post_outcomes([outcome(doc, "do_not_disturb")]).json()["accepted"] == 1
    doc = api.pop(customer_id="C7")
    assert doc["contact"]["dnd"] is True and doc["contact"]["eligible_now"] is False
    for offer in doc["offers"]:
        if offer["category"] == "care":
            assert "dnd" not in codes(offer)
        else:
            assert "dnd" in codes(offer)


def test_ranking_learns_from_outcomes(api):
    add_customer(api.session, "C8", "13200132000")
    doc = api.pop(customer_id="C8")
    offers = offers_by_id(doc)
    assert offers["ADDON-DATA-20G"]["score"] > offers["RBT-CLASSIC"]["score"]
    assert offers["RBT-CLASSIC"]["reasons"][-1]["code"] == "catalog_prior"
    # Many gold customers accept the ringback tone and decline the data add-on.
    for i in range(30):
        add_customer(api.session, f"G{i}", name="李娜")
        other = api.pop(customer_id=f"G{i}")
        api.post_outcomes([outcome(other, "accepted", "RBT-CLASSIC"), outcome(other, "declined", "ADDON-DATA-20G")])
    doc = api.pop(customer_id="C8")
    offers = offers_by_id(doc)
    assert offers["RBT-CLASSIC"]["score"] > offers["ADDON-DATA-20G"]["score"]
    assert offers["RBT-CLASSIC"]["responses"] == 30
    learned = offers["RBT-CLASSIC"]["reasons"][-1]
    assert "100%" in learned["en"] and "gold" in learned["en"]
    assert "金卡" in learned["zh"] and "gold" not in learned["zh"]


def test_reasons_name_values_in_the_agents_language(api):
    """A zh text never shows a raw English value ("gold", "high"): [display_names] in rules.toml."""
    add_customer(api.session, "C10", "13000130000", value_tier="diamond", bill_inquiries_3m=3,
                 downgrades_12m=1, bills=(20000, 12900, 12900))
    doc = api.pop(customer_id="C10")
    offers = offers_by_id(doc)
    plan_reason = next(r for r in offers["PLAN-5G-199"]["reasons"] if r["code"] == "boost_plan")
    assert plan_reason == {"code": "boost_plan", "zh": "高价值客户（钻石）", "en": "High-value customer (diamond)"}
    price = next(r for r in offers["PLAN-5G-199"]["suppressed_by"] if r["code"] == "price_sensitive")
    assert "（高）" in price["zh"] and "high" not in price["zh"]
    assert "(high)" in price["en"]
    prior = offers["RBT-CLASSIC"]["reasons"][-1]
    assert prior["code"] == "catalog_prior" and "%" in prior["zh"] and "no responses" in prior["en"]


def test_each_pop_is_a_new_decision_with_its_offers(api):
    add_customer(api.session, "C9", "13100131000")
    first, second = api.pop(customer_id="C9"), api.pop(customer_id="C9")
    assert first["decision_id"] != second["decision_id"]
    factories_offer_ids = {o[0] for o in factories.OFFERS}
    assert {o["offer_id"] for o in first["offers"]} <= factories_offer_ids
