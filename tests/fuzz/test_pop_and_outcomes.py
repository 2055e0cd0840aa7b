"""Fuzzing the pop document and the outcomes payload, both ways.

- desktop/domain/pop.py `parse_pop`: real GET /v1/pop documents with 1-3 mutations (a field deleted,
  nulled, emptied, wrapped in a list, turned into a string, replaced by any JSON) give a PopDocument or a
  MalformedResponse naming the field; nothing else. An unmutated document survives the local cache's
  round trip (document_to_json -> parse_pop).
- desktop/domain/outcomes.py `parse_batch_result` on mutated real POST /v1/outcomes answers, and
  `OutcomeDraft` on any field values: a result or the documented error (MalformedResponse, InvalidOutcome).
- the server's POST /v1/outcomes with mutated real batches and arbitrary JSON bodies: never a 5xx; a 200
  answers every item (rejected ones with a reason); any 4xx is the documented error object.
- pops that carry every fed fact (relation, bills, subscriptions, operator scores, recent contacts, caps across
  campaigns, membership) and the 409 ambiguous_caller body of a shared number: the same properties
  (`parse_candidates` names the bad field or gives the candidates).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.domain import pop as pop_domain
from desktop.domain.errors import MalformedResponse
from desktop.domain.outcomes import InvalidOutcome, OutcomeDraft, OutcomeResult, parse_batch_result
from desktop.domain.pop import PopDocument, document_to_json, parse_pop
from tests.fuzz._fuzz import JSON_VALUES, ODD_TEXT, fuzz_settings, mutated
from tests.server import factories


def _clear(error: Exception) -> None:
    message = str(error)
    assert message.strip() and len(message) < 1000, message[:300]
    assert "Traceback" not in message


@pytest.fixture(scope="module")
def fed(served):
    """Real answers that carry every fed fact: two pops and the 409 of a number two customers share."""
    session, now = served.api.session, factories.NOW
    factories.add_customer(session, "C-FED", "13600136000", name="赵敏", brand="全球通",
                           service_status="arrears_suspended", balance_fen=-1250, arrears_fen=4830,
                           contract_end=factories.TODAY + dt.timedelta(days=200), account_manager="陈经理",
                           handset="华为 Mate 60", star_level=5, relation_kind="secondary_card", group_id="FAM-1",
                           group_name="赵家")
    factories.add_bills(session, "C-FED", [("2026-08", 12900, 12900, False), ("2026-09", 15800, 0, True),
                                           ("2026-10", 13100, 13100, True), ("2026-07", 1, 1, False)])
    factories.add_subscription(session, "C-FED", "RBT-CLASSIC", name="经典彩铃", category="ringback")
    factories.add_score(session, "C-FED", churn_risk=0.71, price_level="high", complaint_level="low",
                        churn_reason="合约到期", price_reason="近期咨询降档")
    factories.add_customer_cap(session, "*", 2, 30)
    factories.set_member(session, "C-FED", wave=3, priority=5, reason="合约到期前三个月")
    factories.add_contacts(session, "C-FED", [10 / 1440], channel="ivr", campaign_id=None, result=None,
                           purpose="service", topic="账单查询")
    factories.add_contacts(session, "C-FED", [1, 2], channel="sms", campaign_id=None, result=None)
    factories.add_contacts(session, "C-FED", [3], campaign_id=None, result="declined", call_id="call-0")
    factories.add_customer(session, "C-FED-2", name="赵敏", brand="动感地带", relation_kind="primary_card",
                           group_name="赵家", campaign=False)
    factories.add_number(session, "13600136000", "C-FED-2")
    factories.add_customer(session, "C-FED-3", "13500135000", campaign=False, retired_at=now)
    api = served.api
    pops = [api.pop(customer_id="C-FED"), api.pop(customer_id="C-FED-3")]
    ambiguous = api.get("/v1/pop", ani="13600136000")
    assert ambiguous.status_code == 409, ambiguous.text
    return pops, ambiguous.json()


def test_fed_pops_carry_every_new_part_and_survive_the_cache_round_trip(fed):
    pops, _ = fed
    rich = pops[0]
    assert rich["customer"]["bills"] and rich["customer"]["subscriptions"] and rich["customer"]["relation"]
    assert rich["customer"]["scores"] and rich["sensitivity"]["price"]["source"] == "operator_model"
    assert rich["contact"]["recent_contacts"] and rich["contact"]["customer_cap"] and rich["contact"]["member"]
    assert rich["contact"]["repeat_caller"] is True and pops[1]["customer"]["retired"] is True
    assert {r["code"] for o in rich["offers"] for r in o["suppressed_by"]} >= {"already_held", "customer_cap",
                                                                                  "not_in_wave"}
    for raw in pops:
        document = parse_pop(raw)
        assert parse_pop(json.loads(json.dumps(document_to_json(document)))) == document


@fuzz_settings()
@given(data=st.data())
def test_any_mutated_fed_pop_parses_or_names_the_bad_field(fed, data):
    candidate = data.draw(mutated(data.draw(st.sampled_from(fed[0]))))
    try:
        document = parse_pop(candidate)
    except MalformedResponse as error:
        _clear(error)
        return
    assert isinstance(document, PopDocument) and document.decision_id
    assert parse_pop(json.loads(json.dumps(document_to_json(document)))) == document


def _parse_candidates():
    parse = getattr(pop_domain, "parse_candidates", None)
    if parse is None:
        pytest.skip("desktop.domain.pop has no parse_candidates (the panel's 409 parser) yet")
    return parse


def test_the_real_ambiguous_caller_answer_parses(fed):
    _, body = fed
    candidates = _parse_candidates()(body)
    assert [c.customer_id for c in candidates] == ["C-FED", "C-FED-2"]


@fuzz_settings(0.5)
@given(data=st.data())
def test_any_mutated_ambiguous_caller_answer_parses_or_names_the_bad_field(fed, data):
    parse = _parse_candidates()
    candidate = data.draw(mutated(fed[1]))
    try:
        candidates = parse(candidate)
    except MalformedResponse as error:
        _clear(error)
        return
    assert len(candidates) >= 2 and all(c.customer_id for c in candidates)


def test_real_pop_documents_parse_and_survive_the_cache_round_trip(served):
    for raw in served.pops:
        document = parse_pop(raw)
        assert isinstance(document, PopDocument)
        assert parse_pop(json.loads(json.dumps(document_to_json(document)))) == document


@fuzz_settings()
@given(data=st.data())
def test_any_mutated_pop_document_parses_or_names_the_bad_field(served, data):
    raw = data.draw(st.sampled_from(served.pops))
    candidate = data.draw(mutated(raw))
    try:
        document = parse_pop(candidate)
    except MalformedResponse as error:
        _clear(error)
        return
    assert isinstance(document, PopDocument) and document.decision_id
    # What parsed once parses the same from the local cache.
    assert parse_pop(json.loads(json.dumps(document_to_json(document)))) == document


@fuzz_settings(0.5)
@given(value=JSON_VALUES)
def test_any_json_as_a_pop_document_is_refused_clearly(value):
    try:
        parse_pop(value)
    except MalformedResponse as error:
        _clear(error)


@fuzz_settings()
@given(data=st.data())
def test_any_mutated_batch_answer_parses_or_names_the_bad_field(served, data):
    candidate = data.draw(mutated(served.batch_reply))
    try:
        results = parse_batch_result(candidate)
    except MalformedResponse as error:
        _clear(error)
        return
    assert all(r.status in ("accepted", "duplicate", "rejected") for r in results)


_RESULTS = st.one_of(st.sampled_from([r.value for r in OutcomeResult]), ODD_TEXT)
_OPTIONAL_TEXT = st.one_of(st.none(), ODD_TEXT)
_MOMENTS = st.one_of(st.none(), st.datetimes(timezones=st.sampled_from([dt.UTC, None])))


@fuzz_settings()
@given(decision=ODD_TEXT, customer=ODD_TEXT, result=_RESULTS, offer=_OPTIONAL_TEXT, wave=st.none() | st.integers(),
       note=_OPTIONAL_TEXT, reason=_OPTIONAL_TEXT, agent=_OPTIONAL_TEXT, call=_OPTIONAL_TEXT, callback=_MOMENTS)
def test_any_outcome_draft_is_valid_or_refused_naming_the_field(decision, customer, result, offer, wave, note,
                                                                reason, agent, call, callback):
    try:
        draft = OutcomeDraft(decision_id=decision, customer_id=customer, result=result, offer_id=offer, wave=wave,
                             note=note, reason=reason, agent_id=agent, call_id=call, callback_at=callback)
    except InvalidOutcome as error:
        _clear(error)
        assert error.field in {"result", "decision_id", "customer_id", "offer_id", "callback_at", "reason", "note",
                               "agent_id", "wave"}, error.field
        return
    assert isinstance(draft.result, OutcomeResult) and draft.decision_id and draft.customer_id


def _check_server_answer(response, sent_items: int | None) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code == 200:
        results = body["results"]
        assert sent_items is not None and len(results) == sent_items
        for item in results:
            assert item["status"] in ("accepted", "duplicate", "rejected")
            if item["status"] == "rejected":
                assert item["reason"].strip()
    else:
        assert 400 <= response.status_code < 500
        assert body["error"]["code"] and body["error"]["message"].strip(), body


@fuzz_settings()
@given(data=st.data())
def test_mutated_outcome_batches_never_get_a_server_error(served, data):
    pops = data.draw(st.lists(st.sampled_from(served.pops), min_size=1, max_size=3))
    batch = {"outcomes": [served.outcome(pop) for pop in pops]}
    candidate = data.draw(mutated(batch))
    response = served.api.client.post("/v1/outcomes", json=candidate, headers=served.api.headers())
    items = candidate.get("outcomes") if isinstance(candidate, dict) else None
    _check_server_answer(response, len(items) if isinstance(items, list) else None)


@fuzz_settings(0.5)
@given(body=st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)))
def test_any_outcomes_body_gets_a_clear_4xx_or_an_answer(served, body):
    response = served.api.client.post("/v1/outcomes", content=body, headers={
        **served.api.headers(), "Content-Type": "application/json"})
    try:
        items = json.loads(body).get("outcomes")
    except (ValueError, AttributeError):
        items = None
    _check_server_answer(response, len(items) if isinstance(items, list) else None)
