"""Fuzzing the pop document and the outcomes payload, both ways.

- desktop/domain/pop.py `parse_pop`: real GET /v1/pop documents with 1-3 mutations (a field deleted,
  nulled, emptied, wrapped in a list, turned into a string, replaced by any JSON) give a PopDocument or a
  MalformedResponse naming the field; nothing else. An unmutated document survives the local cache's
  round trip (document_to_json -> parse_pop).
- desktop/domain/outcomes.py `parse_batch_result` on mutated real POST /v1/outcomes answers, and
  `OutcomeDraft` on any field values: a result or the documented error (MalformedResponse, InvalidOutcome).
- the server's POST /v1/outcomes with mutated real batches and arbitrary JSON bodies: never a 5xx; a 200
  answers every item (rejected ones with a reason); any 4xx is the documented error object.
"""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from desktop.domain.errors import MalformedResponse
from desktop.domain.outcomes import InvalidOutcome, OutcomeDraft, OutcomeResult, parse_batch_result
from desktop.domain.pop import PopDocument, document_to_json, parse_pop
from tests.fuzz._fuzz import JSON_VALUES, ODD_TEXT, fuzz_settings, mutated


def _clear(error: Exception) -> None:
    message = str(error)
    assert message.strip() and len(message) < 1000, message[:300]
    assert "Traceback" not in message


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
