"""The refusal cool-down over days of contact history and the price-sensitivity rule at every level (issue 14:
points 15 and 16), through the real API on SQLite (statement by statement) and PostgreSQL (one statement)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.server.factories import NOW, add_contacts, add_customer, add_score
from tests.server.test_pop_rules import codes, offers_by_id, outcome

OFFER = "ADDON-DATA-20G"


@pytest.mark.parametrize(("days_ago", "suppressed"), [(10, True), (29, True), (29.9, True), (31, False)])
def test_a_refusal_from_earlier_days_suppresses_the_offer_for_30_days(api, days_ago, suppressed):
    """The contacts feed (or an earlier outcome) stored a refusal days ago: the next pop still holds the offer
    back until 30 days after it, with the dates in both languages; after 30 days it is pitched again."""
    add_customer(api.session, "C1", "13800138000")
    add_contacts(api.session, "C1", [days_ago], campaign_id=None, result="declined", offer_id=OFFER)
    offer = offers_by_id(api.pop(customer_id="C1"))[OFFER]
    if not suppressed:
        assert not offer["suppressed"], offer["suppressed_by"]
        assert offer["rank"] is not None
        return
    assert codes(offer) == {"recent_refusal"} and offer["rank"] is None
    declined = NOW - dt.timedelta(days=days_ago)
    until = declined + dt.timedelta(days=30)
    reason = offer["suppressed_by"][0]
    assert f"Declined on {declined.date().isoformat()}" in reason["en"]
    assert f"not again before {until.date().isoformat()}" in reason["en"]
    assert declined.date().isoformat() in reason["zh"] and until.date().isoformat() in reason["zh"]


def test_a_refusal_recorded_days_ago_through_an_outcome_suppresses_the_next_pop(api):
    """The same through the outcome path: an outcome recorded (offline) 20 days ago, delivered now."""
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    recorded = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    assert api.post_outcomes([outcome(doc, "declined", OFFER, recorded_at=recorded.isoformat())]).json()["accepted"] == 1
    offer = offers_by_id(api.pop(customer_id="C1"))[OFFER]
    assert codes(offer) == {"recent_refusal"}
    assert (recorded + dt.timedelta(days=30)).date().isoformat() in offer["suppressed_by"][0]["en"]
    # Another offer the customer never refused is still pitched.
    assert not offers_by_id(api.pop(customer_id="C1"))["PLAN-5G-199"]["suppressed"]


# What the shipped rules say (resources/rules/rules.toml, [[suppression]] price_sensitive): from level medium
# (price_level >= 2) the paid categories are not pitched; none and low pitch them; care, retention and
# payment offers are never held back for price.
PAID = ("PLAN-5G-199", "ADDON-DATA-20G", "RBT-CLASSIC", "ROAM-ASIA-7D")
KEPT = ("CARE-CHECKUP", "RET-DISCOUNT-20", "PAY-AUTOPAY")
# Signals of the shipped rules: late payments 1 point, downgrades 2, bill inquiries 2, bill shock 2;
# thresholds low 1, medium 3, high 5.
BY_SIGNALS = {
    "none": {},
    "low": {"late_payments_6m": 2},
    "medium": {"late_payments_6m": 2, "downgrades_12m": 1},
    "high": {"bill_inquiries_3m": 3, "downgrades_12m": 1, "bills": (20000, 12900, 12900)},
}


@pytest.mark.parametrize("level", ["none", "low", "medium", "high"])
def test_price_sensitivity_holds_back_paid_offers_from_medium_up(api, level):
    add_customer(api.session, "C1", "13800138000", roaming_mb=800, churn_risk=0.7, **BY_SIGNALS[level])
    add_customer(api.session, "C2", "13900139000", roaming_mb=800, churn_risk=0.7)
    add_score(api.session, "C2", price_level=level)  # the operator's own model says the level
    for customer_id, source in (("C1", "rules"), ("C2", "operator_model")):
        doc = api.pop(customer_id=customer_id)
        price = doc["sensitivity"]["price"]
        assert (price["level"], price["source"]) == (level, source), price
        offers = offers_by_id(doc)
        held_back = level in ("medium", "high")
        for offer_id in PAID:
            assert ("price_sensitive" in codes(offers[offer_id])) is held_back, (customer_id, offer_id, level)
        for offer_id in KEPT:
            assert "price_sensitive" not in codes(offers[offer_id]), (customer_id, offer_id, level)
        if held_back:
            reason = next(r for r in offers["PLAN-5G-199"]["suppressed_by"] if r["code"] == "price_sensitive")
            assert {"medium": "(medium)", "high": "(high)"}[level] in reason["en"]
            assert {"medium": "（中）", "high": "（高）"}[level] in reason["zh"]
