"""Issue 13 on the desktop core: the pop's feed fields parse (and default for older servers), and a number
shared by several customers is never silently one of them: the client raises a typed error carrying the
candidates, the pop service surfaces it, caches never pop a customer under a number they share, and no
outcome can be recorded before the agent confirms who is calling."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from desktop.domain.errors import MalformedResponse
from desktop.domain.outcomes import InvalidOutcome
from desktop.domain.pop import document_to_json, parse_candidates, parse_pop
from desktop.domain.states import PopKey, PopResult, PopState
from desktop.remote.api_client import AmbiguousCaller, AnalyticsClient, BadResponse
from desktop.services.outcomes import OutcomeService
from desktop.services.pop import PopService
from tests.desktop_core.fault_server import Forward, Reply, fault_server
from tests.desktop_core.feed_docs import CANDIDATES, ambiguous_body, with_feed_fields, without_feed_fields

SHARED = "13911110101"


# --- the pop document's feed fields -------------------------------------------------------------------


def test_feed_fields_parse_and_round_trip(server_docs):
    now = dt.datetime.now(dt.UTC)
    doc = parse_pop(with_feed_fields(server_docs["plain"], now=now))
    c = doc.customer
    assert (c.brand, c.service_status, c.service_status_name.zh) == ("全球通", "arrears_suspended", "欠费停机")
    assert not c.service_normal and c.arrears == 86.5 and c.balance == -86.5
    assert c.contract_end == now.date() + dt.timedelta(days=21)
    assert (c.account_manager, c.handset, c.star_level) == ("李明", "华为 Mate 60", 5)
    assert c.relation.kind == "group_member" and c.relation.group_name == "广州市天河区教育局"
    assert [b.month for b in c.bills] == ["2026-10", "2026-09", "2026-08"]
    assert c.bills[0].late and c.bills[0].unpaid == 86.5 and c.bills[1].unpaid == 0
    assert [s.product_id for s in c.subscriptions] == ["RBT-BASIC", "AUTOPAY"]
    assert c.churn_source == "operator_model" and c.scores.model == "churn-gbm-2026.10"
    assert c.scores.churn_reason.zh.startswith("合约")
    assert [u.month for u in c.usage_months] == ["2026-10", "2026-09", "2026-08"]
    price = doc.sensitivity.price
    assert (price.source, price.model) == ("operator_model", "price-sens-v2")
    assert doc.sensitivity.complaint.source == "operator_model"
    contact = doc.contact
    assert contact.repeat_caller and contact.calls_7d == 3
    ivr = contact.recent_contacts[0]
    assert (ivr.channel, ivr.topic.zh, ivr.topic.en, ivr.purpose) == ("ivr", "账单查询", "bill inquiry", "service")
    assert abs(now - ivr.at - dt.timedelta(minutes=10)) < dt.timedelta(seconds=1)
    # A topic sent as one string (the operator's own text) is that text in both languages.
    assert contact.recent_contacts[2].topic.zh == contact.recent_contacts[2].topic.en == "彩铃推荐"
    assert (contact.customer_cap.used, contact.customer_cap.max, contact.customer_cap.channel) == (2, 3, "*")
    assert contact.member.reason.zh == "合约到期前 30 天，流量下降"
    # The local cache stores documents as JSON: every new field survives the round trip.
    assert parse_pop(document_to_json(doc)) == doc


def test_an_older_server_without_feed_fields_still_pops(server_docs):
    doc = parse_pop(without_feed_fields(server_docs["plain"]))
    c = doc.customer
    assert c.brand is None and c.service_status is None and c.service_normal
    assert c.relation is None and c.bills == () and c.subscriptions == () and c.scores is None
    assert c.star_level is None and not c.retired
    assert doc.sensitivity.price.source == "rules" and doc.sensitivity.price.model is None
    assert doc.contact.recent_contacts == () and not doc.contact.repeat_caller and doc.contact.calls_7d == 0
    assert doc.contact.customer_cap is None and doc.contact.member is None


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["customer"].update(star_level="five"), "customer.star_level should be a whole number"),
    (lambda d: d["customer"]["bills"][0].update(late="yes"), "customer.bills[0].late should be true or false"),
    (lambda d: d["customer"].update(contract_end="next year"), "customer.contract_end is not a date"),
    (lambda d: d["contact"]["recent_contacts"][1].update(at=None), "contact.recent_contacts[1].at should be a date"),
    (lambda d: d["contact"]["recent_contacts"][0].update(topic=7), "contact.recent_contacts[0].topic should be an"),
    (lambda d: d["customer"]["relation"].pop("kind"), "customer.relation.kind is missing"),
])
def test_bad_feed_fields_name_the_field(server_docs, mutate, message):
    body = with_feed_fields(server_docs["plain"])
    mutate(body)
    with pytest.raises(MalformedResponse, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_pop(body)


# --- the 409 answer ----------------------------------------------------------------------------------


def test_candidates_parse_in_the_servers_order():
    candidates = parse_candidates(ambiguous_body())
    assert [c.customer_id for c in candidates] == ["C-SHARED-A", "C-SHARED-B", "C-SHARED-C"]
    assert candidates[1].display_name == "张小雨" and candidates[1].relation_kind == "secondary_card"
    assert candidates[0].masked_msisdn == "139****0101" and candidates[2].value_tier == "diamond"


@pytest.mark.parametrize(("details", "message"), [
    (CANDIDATES[:1], "at least two customers"),
    ([CANDIDATES[0], CANDIDATES[0]], "names a customer twice"),
    ([CANDIDATES[0], {**CANDIDATES[1], "customer_id": ""}], r"error.details\[1\].customer_id is empty"),
    ([CANDIDATES[0], {"display_name": "x"}], r"error.details\[1\].customer_id is missing"),
    ("C-1,C-2", "error.details should be a list"),
])
def test_a_malformed_409_is_a_bad_response_naming_the_field(details, message):
    with fault_server(Reply(409, ambiguous_body(details))) as server:
        client = AnalyticsClient(server.base_url, lambda: "token")
        with pytest.raises(BadResponse, match=message):
            client.pop(PopKey(ani=SHARED))
        client.close()


def test_the_client_raises_a_typed_error_carrying_the_candidates():
    with fault_server(Reply(409, ambiguous_body())) as server:
        client = AnalyticsClient(server.base_url, lambda: "token")
        with pytest.raises(AmbiguousCaller) as caught:
            client.pop(PopKey(ani=SHARED))
        client.close()
    error = caught.value
    assert [c.customer_id for c in error.candidates] == ["C-SHARED-A", "C-SHARED-B", "C-SHARED-C"]
    assert error.user_error.code == "ambiguous_caller"
    assert "张" not in str(error) and SHARED not in str(error)  # logs get a count, never names or numbers


def test_another_409_is_not_taken_for_a_shared_number():
    with fault_server(Reply(409, {"error": {"code": "conflict", "message": "x"}})) as server:
        client = AnalyticsClient(server.base_url, lambda: "token")
        with pytest.raises(BadResponse, match="unexpected HTTP 409"):
            client.pop(PopKey(ani=SHARED))
        client.close()


# --- the pop service -------------------------------------------------------------------------------


def shared_number_server(live, owners: list[str]):
    """A fault injector before the real server: the shared number answers 409 naming `owners` (real
    customers of the live server), everything else is the real server's answer."""
    details = [{**CANDIDATES[i % len(CANDIDATES)], "customer_id": owner} for i, owner in enumerate(owners)]

    def route(method, path, query):
        if path == "/v1/pop" and query.get("ani") == SHARED:
            return Reply(409, ambiguous_body(details))
        return Forward(live.base_url)

    return fault_server(route)


def test_a_shared_number_surfaces_as_ambiguous_and_pops_nobody(live, store, clock):
    live.add_customer("C-SHARE-1", name="赵一")
    live.add_customer("C-SHARE-2", name="赵二")
    with shared_number_server(live, ["C-SHARE-1", "C-SHARE-2"]) as server:
        pops = PopService(AnalyticsClient(server.base_url, lambda: live.token), store, clock)
        result = pops.fetch(PopKey(ani=SHARED))
    assert result.state is PopState.AMBIGUOUS and result.document is None and result.error is None
    assert [c.customer_id for c in result.candidates] == ["C-SHARE-1", "C-SHARE-2"]


def test_a_view_cached_under_a_number_that_became_shared_never_pops_again(live, store, clock):
    """The number was one customer's when first popped (cached under it); then the server says it is
    shared: neither memory nor the stored cache may show that customer for the number again."""
    msisdn = live.add_customer("C-WAS-ALONE", name="钱一")
    pops = PopService(live.client(), store, clock)
    assert pops.fetch(PopKey(ani=msisdn)).document.customer.customer_id == "C-WAS-ALONE"
    assert pops.cached_in_memory(PopKey(ani=msisdn)) is not None
    assert pops.cached(PopKey(ani=msisdn)) is not None

    def route(method, path, query):
        if path == "/v1/pop" and query.get("ani") == msisdn:
            return Reply(409, ambiguous_body([{**CANDIDATES[0], "customer_id": "C-WAS-ALONE"},
                                              {**CANDIDATES[1], "customer_id": "C-PLAIN"}]))
        return Forward(live.base_url)

    with fault_server(route) as server:
        shared = PopService(AnalyticsClient(server.base_url, lambda: live.token), store, clock)
        assert shared.fetch(PopKey(ani=msisdn)).state is PopState.AMBIGUOUS
    assert pops.cached_in_memory(PopKey(ani=msisdn)) is None
    assert pops.cached(PopKey(ani=msisdn)) is None
    assert PopService(None, store, clock).cached(PopKey(ani=msisdn)) is None  # nor after a restart
    # The customer's own cache entry stays: a pop by id (the agent's choice) is still instant.
    assert pops.cached(PopKey(customer_id="C-WAS-ALONE")) is not None


def test_a_chosen_customer_is_cached_under_their_id_never_under_the_shared_number(live, store, clock):
    live.add_customer("C-PICK-1", name="孙一")
    live.add_customer("C-PICK-2", name="孙二")
    with shared_number_server(live, ["C-PICK-1", "C-PICK-2"]) as server:
        pops = PopService(AnalyticsClient(server.base_url, lambda: live.token), store, clock)
        chosen = pops.fetch(PopKey(ani=SHARED, customer_id="C-PICK-2"))
        assert chosen.state is PopState.LIVE and chosen.document.customer.customer_id == "C-PICK-2"
        assert pops.cached(PopKey(ani=SHARED)) is None
        assert pops.cached_in_memory(PopKey(ani=SHARED)) is None
        assert pops.cached(PopKey(customer_id="C-PICK-2")).document.customer.customer_id == "C-PICK-2"
        # A key with both looks the customer up by id only, never by the (shared) number.
        assert pops.cached(PopKey(ani=SHARED, customer_id="C-PICK-1")) is None


def test_a_customers_other_numbers_do_not_pop_them_from_the_cache(live, store, clock):
    """One pop by the customer's first number must not make a call from their second number (possibly
    shared with a family member) show them before the server has said whose it is."""
    msisdn = live.add_customer("C-TWO-NUMBERS", name="周二")
    pops = PopService(live.client(), store, clock)
    document = pops.fetch(PopKey(ani=msisdn)).document
    other = "13822220202"
    document = dataclasses.replace(document, customer=dataclasses.replace(document.customer,
                                                                          msisdns=(msisdn, other)))
    pops.remember(PopResult(PopState.LIVE, PopKey(ani=msisdn), document, clock.now, server_document=document))
    assert pops.cached(PopKey(ani=msisdn)) is not None
    assert pops.cached(PopKey(ani=other)) is None


# --- outcomes --------------------------------------------------------------------------------------


def test_the_outcome_service_refuses_a_call_whose_caller_is_not_confirmed(store, clock, server_docs):
    outcomes = OutcomeService(store, clock)
    ambiguous = PopResult(PopState.AMBIGUOUS, PopKey(ani=SHARED), candidates=parse_candidates(ambiguous_body()))
    with pytest.raises(InvalidOutcome, match="several customers share this number") as refused:
        outcomes.record(ambiguous, offer_id=None, result="not_offered", reason="x", agent_id="a", call_id="c1")
    assert refused.value.field == "customer_id"
    # Even with a document slipped in (a cached view of one of them), an unconfirmed caller is refused.
    doc = parse_pop(server_docs["plain"])
    slipped = PopResult(PopState.AMBIGUOUS, PopKey(ani=SHARED), doc, clock.now, candidates=ambiguous.candidates)
    with pytest.raises(InvalidOutcome):
        outcomes.record(slipped, offer_id=None, result="do_not_disturb", agent_id="a", call_id="c1")
    assert store.outcomes.pending(10) == []
    confirmed = PopResult(PopState.LIVE, PopKey(ani=SHARED, customer_id=doc.customer.customer_id), doc, clock.now,
                          candidates=ambiguous.candidates)
    record = outcomes.record(confirmed, offer_id=None, result="do_not_disturb", agent_id="a", call_id="c1")
    assert record.customer_id == doc.customer.customer_id and record.decision_id == doc.decision_id
