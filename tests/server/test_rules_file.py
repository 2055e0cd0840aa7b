"""The rules file's own semantics, without a database: offer-scoped boosts and display names."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib

import pytest

from server_stub.api.app import RULES_ENV, create_app, default_rules_path
from server_stub.domain.rules import OfferCandidate, RulesError, Text, parse_rules, rank_offers
from server_stub.domain.rules_check import LiveCatalog, check_rules
from server_stub.domain.vocabulary import (
    CHANNELS,
    CONDITION_OPS,
    FACTS,
    OFFER_CATEGORIES,
    OUTCOME_CHANNELS,
    OUTCOME_RESULTS,
    RELATION_KIND_NAMES,
    RELATION_KINDS,
    SERVICE_STATUS_NAMES,
)
from server_stub.paths import resources_dir

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


# ---------------------------------------------------------------- an operator's rules file and `rules check`

RULES_TEXT = default_rules_path().read_text(encoding="utf-8")
EXAMPLE_CATALOG = resources_dir() / "feeds" / "catalog.example.toml"


def operator_rules(tmp_path, version: str = "operator-7", *replacements: tuple[str, str]):
    text = RULES_TEXT.replace('version = "', f'version = "{version}" # was "', 1)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"rules-{version}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_app_uses_the_operators_rules_file_named_by_argument_or_environment(migrated_engine, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.delenv(RULES_ENV, raising=False)
    assert create_app(engine=migrated_engine).state.context.rules_path == default_rules_path()
    monkeypatch.setenv(RULES_ENV, str(operator_rules(tmp_path, "from-env")))
    assert create_app(engine=migrated_engine).state.context.rules.version == "from-env"
    # An explicit file wins over the environment.
    explicit = create_app(engine=migrated_engine, rules_path=operator_rules(tmp_path, "explicit"))
    assert explicit.state.context.rules.version == "explicit"
    monkeypatch.setenv(RULES_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(RulesError, match=r"missing\.toml"):
        create_app(engine=migrated_engine)


@pytest.fixture
def serve_environment(monkeypatch):
    """cmd_serve writes the worker environment into os.environ: give every key a value monkeypatch restores."""
    from server_stub.cli import DATABASE_URL_ENV, LOG_DIR_ENV, LOG_LEVEL_ENV, TOKEN_CACHE_ENV

    for key in (RULES_ENV, DATABASE_URL_ENV, LOG_DIR_ENV, LOG_LEVEL_ENV, TOKEN_CACHE_ENV):
        monkeypatch.setenv(key, "")
    yield monkeypatch
    from server_stub.logging_setup import configure_logging

    configure_logging(None)  # stop the listener thread writing into tmp_path


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_rules_reaches_the_app_and_every_worker(migrated_engine, tmp_path, serve_environment, workers):
    from server_stub import cli
    from server_stub.api.asgi import app_from_environment

    url = migrated_engine.url.render_as_string(hide_password=False)
    served = []

    def fake_serve(app_or_factory, _args, *, factory=False):
        # A worker process builds its app from the environment the parent left it.
        app = app_from_environment() if factory else app_or_factory
        served.append((factory, app.state.context.rules.version, app.state.context.rules_path))
        app.state.context.engine.dispose()

    serve_environment.setattr(cli, "_serve", fake_serve)
    rules = operator_rules(tmp_path, "operator-serve")
    assert cli.main(["serve", "--database-url", url, "--rules", str(rules), "--workers", str(workers),
                     "--log-dir", str(tmp_path / "logs")]) == 0
    assert served == [(workers > 1, "operator-serve", rules.resolve() if workers > 1 else rules)]

    # Without --rules, CALLCUE_SERVER_RULES names the file (the shipped one is only the default).
    served.clear()
    serve_environment.setenv(RULES_ENV, str(operator_rules(tmp_path, "operator-env")))
    assert cli.main(["serve", "--database-url", url, "--workers", str(workers),
                     "--log-dir", str(tmp_path / "logs")]) == 0
    assert [version for _, version, _ in served] == ["operator-env"]


def test_serve_and_demo_refuse_a_bad_rules_file_before_starting(migrated_engine, tmp_path, serve_environment,
                                                                capsys):
    from server_stub import cli

    serve_environment.setattr(cli, "_serve", lambda *a, **k: pytest.fail("must not start"))
    url = migrated_engine.url.render_as_string(hide_password=False)
    broken = operator_rules(tmp_path, "broken", ('interaction_channel = "inbound_call"', 'interaction_channel = 1'))
    assert cli.main(["serve", "--database-url", url, "--rules", str(broken)]) == 2
    assert "contact.interaction_channel" in capsys.readouterr().err
    assert cli.main(["demo", "--rules", str(tmp_path / "nope.toml"), "--data-dir", str(tmp_path / "d")]) == 2
    assert "nope.toml" in capsys.readouterr().err
    assert cli.build_parser().parse_args(["demo", "--rules", "r.toml"]).rules == "r.toml"


def rules_check(capsys, *argv) -> tuple[int, str, str]:
    from server_stub import cli

    code = cli.main(["rules", "check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_rules_check_alone_validates_the_facts(tmp_path, capsys, monkeypatch):
    from server_stub.cli import DATABASE_URL_ENV

    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv(RULES_ENV, raising=False)
    code, out, err = rules_check(capsys)
    assert code == 0 and f"{default_rules_path()}: valid" in out and "no database given" in out and not err

    typo = operator_rules(tmp_path, "typo", ('{ fact = "bill_inquiries_3m"', '{ fact = "bill_inquiry_count"'),
                          ("{data_gb} GB", "{data_gib} GB"))
    code, out, err = rules_check(capsys, str(typo))
    assert code == 2
    assert ("error: sensitivity.price.signals[0].when.fact: 'bill_inquiry_count' is not a fact the server knows"
            in err)
    assert "错误：sensitivity.price.signals[0].when.fact：服务器不认识事实 'bill_inquiry_count'" in err
    assert "warning: ranking.boosts[2].reason: {data_gib} is not a fact" in err
    assert "1 error(s), 1 warning(s): not fit to serve" in err

    derived = operator_rules(tmp_path, "derived", ('{ fact = "bill_inquiries_3m"', '{ fact = "price_level"'))
    code, _, err = rules_check(capsys, str(derived))
    assert code == 2 and "price_level is derived from the sensitivity signals" in err
    # The file argument defaults to $CALLCUE_SERVER_RULES (what serve would use).
    monkeypatch.setenv(RULES_ENV, str(typo))
    assert rules_check(capsys)[0] == 2


def test_rules_check_against_the_live_catalog(migrated_engine, tmp_path, capsys, monkeypatch):
    from server_stub.cli import DATABASE_URL_ENV
    from server_stub.feeds.catalog import apply_catalog

    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    apply_catalog(migrated_engine, EXAMPLE_CATALOG)
    url = migrated_engine.url.render_as_string(hide_password=False)

    # The shipped rules fit the example catalog: only warnings (it has no plan or roaming offers).
    code, out, err = rules_check(capsys, "--database-url", url)
    assert code == 0 and "8 active offers of 8" in out and ", 2 warning(s)" in out
    assert "warning: eligibility[1].category: no active offer in the catalog has category roaming" in err
    assert "eligibility[3].category: no active offer in the catalog has category plan" in err
    assert "警告：" in err and "error" not in err

    unknown = operator_rules(tmp_path, "unknown-offer", ('offers = ["ADDON_VOICE_300"]', 'offers = ["ADDON_VOICE_3OO"]'))
    code, _, err = rules_check(capsys, str(unknown), "--database-url", url)
    assert code == 2
    assert "error: ranking.boosts[3].offers: offer ADDON_VOICE_3OO is not in the catalog" in err
    assert "产品 ADDON_VOICE_3OO 不在产品目录中" in err
    # A configured database (the environment, as serve uses) counts as given.
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    assert rules_check(capsys, str(unknown))[0] == 2

    wrong_category = operator_rules(tmp_path, "category", ('offers = ["ADDON_VOICE_300"]', 'offers = ["RBT_VIDEO"]'))
    code, _, err = rules_check(capsys, str(wrong_category))
    assert code == 2 and "offer RBT_VIDEO is a ringback offer, but this boost is for add-on" in err

    # A retired offer named by the rules is only a warning.
    smaller = tmp_path / "smaller.toml"
    text = EXAMPLE_CATALOG.read_text(encoding="utf-8")
    start = text.index('[[offers]]\nid = "ADDON_VOICE_300"')
    smaller.write_text(text[:start] + text[text.index("[[offers]]", start + 1):], encoding="utf-8")
    apply_catalog(migrated_engine, smaller, full=True)
    code, out, err = rules_check(capsys)
    assert code == 0 and "warning: ranking.boosts[3].offers: offer ADDON_VOICE_300 is retired" in err
    assert "7 active offers of 8" in out


def test_channels_in_use_need_names():
    rules = parse_rules(RAW)
    catalog = LiveCatalog({"X": ("care", True)}, {"pigeon": ("campaign C wave 1",), "sms": ("customer cap",)})
    findings = [f for f in check_rules(rules, catalog) if "channel_names" in f.where]
    assert [(f.severity, f.where) for f in findings] == [("warning", "contact.channel_names.pigeon")]
    assert "campaign C wave 1" in findings[0].en and "鸽" not in findings[0].zh


def test_the_shipped_rules_name_every_channel_and_use_only_known_facts():
    rules = parse_rules(RAW)
    assert check_rules(rules) == []
    assert set(CHANNELS) <= set(RAW["contact"]["channel_names"])
    assert RAW["contact"]["channel_names"]["store"] == {"zh": "营业厅", "en": "store"}


def test_the_vocabulary_is_the_one_the_rules_and_the_api_use():
    from typing import get_args

    from server_stub.domain import rules as rules_module
    from server_stub.services import outcomes

    assert tuple(rules_module._OPS) == CONDITION_OPS
    assert rules_module.OFFER_CATEGORIES is OFFER_CATEGORIES
    assert get_args(outcomes.Result) == OUTCOME_RESULTS and get_args(outcomes.Channel) == OUTCOME_CHANNELS
    assert set(OUTCOME_CHANNELS) < set(CHANNELS) and {"ivr", "self_service", "store"} < set(CHANNELS)
    assert SERVICE_STATUS_NAMES["arrears_suspended"]["zh"] == "欠费停机"
    assert [RELATION_KIND_NAMES[k]["zh"] for k in RELATION_KINDS] == ["主卡", "副卡", "家庭成员", "集团成员"]
    assert len(set(FACTS)) == len(FACTS)


def test_facts_lists_exactly_what_the_pop_computes():
    """FACTS (what `rules check`, the catalog feed and audiences accept) must not drift from the facts a pop
    really builds, plus the sensitivity levels the rules derive."""
    from server_stub.db.models import Customer
    from server_stub.domain.vocabulary import DERIVED_FACTS
    from server_stub.services.pop import CustomerRecord, customer_facts

    customer = Customer(customer_id="C1", monthly_fee_fen=0, tenure_months=1, value_tier="standard", points=0,
                        segments=[], churn_risk=0.1, late_payments_6m=0, bill_inquiries_3m=0, downgrades_12m=0,
                        dnd=False)
    facts = customer_facts(CustomerRecord(customer, [], None, [], []), NOW)
    assert set(facts) | DERIVED_FACTS == set(FACTS)


@pytest.mark.parametrize("stats", [{}, {"PLAN_X": (10, 4)}], ids=["no responses yet", "observed"])
def test_a_reason_states_a_fact_about_the_customer_before_a_probability(stats):
    rules = parse_rules(RAW)
    ranked = rank_offers(rules, heavy_user_facts(rules, value_tier="gold", data_mb=10),
                         [candidate("PLAN_X", "plan"), candidate("ADDON_DATA_30G", "add-on")], stats, {}, NOW)
    rates = [r for offer in ranked for r in offer.reasons if r["code"] in ("catalog_prior", "observed_acceptance")]
    assert len(rates) == 2
    for reason in rates:
        for language, segment in (("zh", "金卡"), ("en", "gold")):
            text = reason[language]
            assert segment in text and "%" in text, (language, text)
            assert text.startswith(segment), f"the customer comes before the rate: {text!r}"
