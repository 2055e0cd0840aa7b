"""The rules file's own semantics, without a database: offer-scoped boosts and display names."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib

import pytest

from server_stub.api.app import default_rules_path
from server_stub.domain.rules import OfferCandidate, RulesError, Text, parse_rules, rank_offers

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
RAW = tomllib.loads(default_rules_path().read_text(encoding="utf-8"))


def candidate(offer_id: str, category: str, base_score: float = 0.3) -> OfferCandidate:
    return OfferCandidate(offer_id, category, Text(offer_id, offer_id), Text("", ""), base_score, 1000, None)


def heavy_user_facts(rules, **overrides):
    facts = {"value_tier": "gold", "data_mb": 30000, "data_gb": 29.3, "voice_min": 50, "churn_risk": 0.1,
             "churn_risk_pct": 10, "complaint_level": 0, "price_level": 0, "roaming_mb": 0, "dnd": False,
             "payment_autopay": False, "ringback_active": False, "tenure_months": 24}
    facts.update(overrides)
    return rules.fact_sheet(facts)


def reason_codes(offer) -> list[str]:
    return [r["code"] for r in offer.reasons]


def test_a_boost_naming_offers_lifts_only_those_offers():
    rules = parse_rules(RAW)
    ranked = rank_offers(rules, heavy_user_facts(rules),
                         [candidate("ADDON_DATA_30G", "add-on"), candidate("ADDON_VOICE_300", "add-on")], {}, {}, NOW)
    by_id = {offer.candidate.offer_id: offer for offer in ranked}
    assert "boost_add-on" in reason_codes(by_id["ADDON_DATA_30G"])
    # A voice add-on is not pitched "because you use a lot of data".
    assert reason_codes(by_id["ADDON_VOICE_300"]) == ["catalog_prior"]
    ranked = rank_offers(rules, heavy_user_facts(rules, data_mb=100, voice_min=600),
                         [candidate("ADDON_DATA_30G", "add-on"), candidate("ADDON_VOICE_300", "add-on")], {}, {}, NOW)
    by_id = {offer.candidate.offer_id: offer for offer in ranked}
    assert reason_codes(by_id["ADDON_DATA_30G"]) == ["catalog_prior"]
    voice = by_id["ADDON_VOICE_300"].reasons[0]
    assert voice["code"] == "boost_add-on" and "600" in voice["zh"] and "600" in voice["en"]


def test_a_boost_without_offers_covers_its_whole_category():
    raw = copy.deepcopy(RAW)
    for boost in raw["ranking"]["boosts"]:
        boost.pop("offers", None)
    rules = parse_rules(raw)
    ranked = rank_offers(rules, heavy_user_facts(rules), [candidate("ADDON_VOICE_300", "add-on")], {}, {}, NOW)
    assert "boost_add-on" in reason_codes(ranked[0])


def test_display_names_fill_texts_per_language_and_leave_conditions_raw():
    rules = parse_rules(RAW)
    ranked = rank_offers(rules, heavy_user_facts(rules, value_tier="diamond"),
                         [candidate("PLAN_X", "plan")], {"PLAN_X": (10, 4)}, {}, NOW)
    texts = {r["code"]: r for r in ranked[0].reasons}
    # The boost's condition compared the raw value ("diamond" in ["gold", "diamond"]) ...
    assert texts["boost_plan"]["zh"] == "高价值客户（钻石）"
    assert texts["boost_plan"]["en"] == "High-value customer (diamond)"
    # ... and the learned acceptance names the segment the same way.
    assert "钻石" in texts["observed_acceptance"]["zh"] and "40%" in texts["observed_acceptance"]["zh"]
    assert "diamond" in texts["observed_acceptance"]["en"]


def test_a_value_without_a_display_name_is_shown_as_it_is():
    rules = parse_rules(RAW)
    ranked = rank_offers(rules, heavy_user_facts(rules, value_tier="platinum"),
                         [candidate("PLAN_X", "plan")], {"PLAN_X": (10, 4)}, {}, NOW)
    assert "platinum" in ranked[0].reasons[-1]["zh"]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda raw: raw["ranking"]["boosts"][0].update(offers="ADDON_DATA_30G"), "ranking.boosts[0].offers"),
    (lambda raw: raw["ranking"]["boosts"][0].update(offers=[1, 2]), "ranking.boosts[0].offers"),
    (lambda raw: raw["display_names"].update(value_tier="gold"), "display_names.value_tier"),
    (lambda raw: raw["display_names"]["value_tier"].update(gold={"zh": "金卡"}), "display_names.value_tier.gold"),
    (lambda raw: raw.update(display_names=["gold"]), "display_names must be a table"),
])
def test_a_bad_rules_file_names_the_key(mutate, message):
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(RulesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_rules(raw)
