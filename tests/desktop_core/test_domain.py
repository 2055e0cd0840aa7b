"""Pure domain: parsing the pop contract, local guidance, outcome validation, keys and states."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import pytest

from desktop.domain.errors import ERROR_CODES, MalformedResponse, UserError, UserFacingError
from desktop.domain.guidance import apply_local_outcomes, rerank
from desktop.domain.outcomes import (
    InvalidOutcome,
    ItemResult,
    LocalContact,
    OutcomeDraft,
    OutcomeResult,
    parse_batch_result,
)
from desktop.domain.pop import LocalText, document_to_json, parse_customer_search, parse_pop
from desktop.domain.states import PopKey, PopResult, PopState, SyncState, normalize_ani

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


# --- parse_pop ---------------------------------------------------------------------------------------


def test_real_server_documents_parse_and_round_trip(server_docs):
    for body in server_docs.values():
        doc = parse_pop(body)
        assert doc.decision_id == body["decision_id"]
        assert doc.customer.customer_id == body["customer"]["customer_id"]
        assert [o.offer_id for o in doc.offers] == [o["offer_id"] for o in body["offers"]]
        # The cache stores documents as JSON and reads them back unchanged.
        assert parse_pop(document_to_json(doc)) == doc


def test_document_fields_the_panel_shows(server_docs):
    doc = parse_pop(server_docs["complaint"])
    assert doc.customer.display_name == "王芳"
    assert doc.customer.masked_msisdn == "139****9000"
    assert doc.customer.plan.name and doc.customer.usage is not None and doc.customer.usage_history
    complaint = doc.sensitivity.complaint
    assert complaint.level in ("medium", "high") and complaint.reasons
    assert complaint.recent_complaints[0].summary.pick("en") == "billing complaint"
    assert complaint.guidance.pick("zh_CN")
    assert all(o.rank is None for o in doc.suppressed_offers)
    assert [o.rank for o in doc.pitchable_offers] == list(range(1, len(doc.pitchable_offers) + 1))
    assert all(r.zh and r.en for o in doc.suppressed_offers for r in o.suppressed_by)
    dnd = parse_pop(server_docs["dnd"])
    assert dnd.contact.dnd and dnd.contact.dnd_since is not None
    plain = parse_pop(server_docs["plain"])
    assert plain.contact.campaign is not None and plain.contact.wave is not None
    assert plain.contact.wave.of == 3 and plain.contact.caps


def test_unknown_extra_fields_are_tolerated(server_docs):
    body = copy.deepcopy(server_docs["plain"])
    body["next_best_action"] = {"new": "field"}
    body["customer"]["loyalty_badge"] = "gold-star"
    body["offers"][0]["video_url"] = "https://example.com/v.mp4"
    assert parse_pop(body).customer.customer_id == "C-PLAIN"


def test_optional_fields_may_be_missing(server_docs):
    body = copy.deepcopy(server_docs["plain"])
    for key in ("usage", "usage_history", "plan", "credit_score", "segments", "points"):
        del body["customer"][key]
    del body["contact"]["caps"]
    doc = parse_pop(body)
    assert doc.customer.usage is None and doc.customer.plan.name is None and doc.contact.caps == ()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("customer"), "customer is missing"),
        (lambda b: b["customer"].pop("display_name"), "customer.display_name is missing"),
        (lambda b: b["offers"][1]["title"].update(zh=5), "offers[1].title.zh should be a string, got a number"),
        (lambda b: b["offers"][0].pop("suppressed_by"), "offers[0].suppressed_by is missing"),
        (lambda b: b["sensitivity"]["price"].update(level="extreme"), "sensitivity.price.level should be one of"),
        (lambda b: b.update(generated_at="yesterday"), "generated_at is not a date-time"),
        (lambda b: b.update(api_version="2"), "this panel understands version 1"),
        (lambda b: b["contact"].update(dnd="no"), "contact.dnd should be true or false, got a string"),
        (lambda b: b.update(offers={}), "offers should be a list, got an object"),
        (lambda b: b["customer"].update(points=True), "customer.points should be a whole number"),
    ],
)
def test_schema_violations_name_the_field(server_docs, mutate, message):
    body = copy.deepcopy(server_docs["plain"])
    mutate(body)
    with pytest.raises(MalformedResponse, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_pop(body)


@pytest.mark.parametrize("body", [None, [], "text", 42])
def test_non_objects_are_malformed(body):
    with pytest.raises(MalformedResponse, match="the response should be an object"):
        parse_pop(body)


def test_malformed_response_is_user_facing():
    error = MalformedResponse("customer is missing")
    assert isinstance(error, UserFacingError)
    assert error.user_error == UserError("bad_response", "customer is missing")


def test_local_text_pick():
    text = LocalText(zh="你好", en="Hello")
    assert text.pick("zh_CN") == "你好" and text.pick("en") == "Hello"
    assert LocalText(zh="", en="Hello").pick("zh_CN") == "Hello"


def test_search_and_batch_results_parse():
    hits = parse_customer_search({"items": [{"customer_id": "C1", "display_name": "张伟", "msisdns": ["1"],
                                             "value_tier": "gold", "city": None}]})
    assert hits[0].display_name == "张伟" and hits[0].msisdns == ("1",)
    results = parse_batch_result({"results": [{"index": 0, "outcome_id": "a", "status": "duplicate",
                                               "reason": None}], "accepted": 0, "duplicate": 1, "rejected": 0})
    assert results == [ItemResult(0, "a", "duplicate")] and results[0].delivered
    with pytest.raises(MalformedResponse, match=r"results\[0\].status should be one of"):
        parse_batch_result({"results": [{"index": 0, "outcome_id": "a", "status": "maybe"}]})


# --- local guidance ----------------------------------------------------------------------------------


def _contact(doc, offer_id, result, at=NOW, customer_id=None):
    return LocalContact("o-" + (offer_id or "none") + result, customer_id or doc.customer.customer_id, offer_id,
                        OutcomeResult(result), at)


def test_refusal_recorded_here_suppresses_and_reranks(server_docs):
    doc = parse_pop(server_docs["plain"])
    first, second = doc.pitchable_offers[0], doc.pitchable_offers[1]
    updated = apply_local_outcomes(doc, [_contact(doc, first.offer_id, "declined")], NOW)
    refused = updated.offer(first.offer_id)
    assert refused.rank is None and refused.suppressed
    assert [r.code for r in refused.suppressed_by] == ["recent_refusal"]
    assert refused.suppressed_by[0].pick("zh_CN") == "刚刚已拒绝（本机记录）"
    assert refused.suppressed_by[0].pick("en") == "Declined just now (recorded here)"
    assert updated.offer(second.offer_id).rank == 1
    assert [o.rank for o in updated.pitchable_offers] == list(range(1, len(doc.pitchable_offers)))
    # Idempotent: applying again adds nothing.
    assert apply_local_outcomes(updated, [_contact(doc, first.offer_id, "declined")], NOW) == updated


def test_acceptance_and_old_refusals(server_docs):
    doc = parse_pop(server_docs["plain"])
    offer = doc.pitchable_offers[0].offer_id
    accepted = apply_local_outcomes(doc, [_contact(doc, offer, "accepted")], NOW)
    assert [r.code for r in accepted.offer(offer).suppressed_by] == ["already_accepted"]
    old = _contact(doc, offer, "declined", at=NOW - dt.timedelta(days=31))
    assert apply_local_outcomes(doc, [old], NOW).offer(offer).pitchable
    considering = apply_local_outcomes(doc, [_contact(doc, offer, "considering")], NOW)
    assert considering.offer(offer).pitchable


def test_other_customers_outcomes_are_ignored(server_docs):
    doc = parse_pop(server_docs["plain"])
    other = _contact(doc, doc.pitchable_offers[0].offer_id, "declined", customer_id="SOMEONE-ELSE")
    assert apply_local_outcomes(doc, [other], NOW) is doc


def test_local_dnd_suppresses_all_but_care(server_docs):
    doc = parse_pop(server_docs["plain"])
    assert not doc.contact.dnd
    updated = apply_local_outcomes(doc, [_contact(doc, None, "do_not_disturb")], NOW)
    assert updated.contact.dnd and updated.contact.dnd_since == NOW and not updated.contact.eligible_now
    assert {o.category for o in updated.pitchable_offers} <= {"care"}
    assert all("dnd" in [r.code for r in o.suppressed_by] for o in updated.offers if o.category != "care")


def test_server_dnd_reason_is_not_duplicated(server_docs):
    doc = parse_pop(server_docs["dnd"])
    updated = apply_local_outcomes(doc, [_contact(doc, None, "do_not_disturb")], NOW)
    for offer in updated.offers:
        assert [r.code for r in offer.suppressed_by].count("dnd") <= 1


def test_rerank_puts_pitchable_first(server_docs):
    doc = parse_pop(server_docs["plain"])
    shuffled = tuple(reversed(doc.offers))
    ranked = rerank(shuffled)
    assert [o.pitchable for o in ranked] == sorted((o.pitchable for o in ranked), reverse=True)


# --- outcomes ----------------------------------------------------------------------------------------


def test_draft_for_pop_fills_campaign_and_wave(server_docs):
    doc = parse_pop(server_docs["plain"])
    campaign_offer = next(o for o in doc.offers if o.campaign_id)
    draft = OutcomeDraft.for_pop(doc, result="accepted", offer_id=campaign_offer.offer_id, agent_id="a")
    assert draft.result is OutcomeResult.ACCEPTED
    assert (draft.campaign_id, draft.wave) == (campaign_offer.campaign_id, campaign_offer.wave)
    dnd = OutcomeDraft.for_pop(doc, result=OutcomeResult.DO_NOT_DISTURB)
    assert dnd.campaign_id == doc.contact.campaign.campaign_id and dnd.wave == doc.contact.wave.seq
    record = draft.finalize(recorded_at=NOW)
    payload = record.to_payload()
    assert payload["recorded_at"] == NOW.isoformat() and payload["result"] == "accepted"
    assert "note" not in payload  # None fields are left out


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"result": "accepted"}, "offer_id"),
        ({"result": "callback"}, "callback_at"),
        ({"result": "callback", "callback_at": dt.datetime(2026, 11, 24, 10, 0)}, "callback_at"),
        ({"result": "not_offered"}, "reason"),
        ({"result": "not_offered", "reason": "   "}, "reason"),
        ({"result": "maybe"}, "result"),
        ({"result": "declined", "offer_id": "NOT-IN-POP"}, "offer_id"),
        ({"result": "considering", "offer_id": "X", "note": "x" * 2001}, "note"),
    ],
)
def test_invalid_outcomes_name_the_field(server_docs, kwargs, field):
    doc = parse_pop(server_docs["plain"])
    offer_id = kwargs.pop("offer_id", None)
    if offer_id == "X":
        offer_id = doc.offers[0].offer_id
    with pytest.raises(InvalidOutcome) as caught:
        OutcomeDraft.for_pop(doc, offer_id=offer_id, **kwargs)
    assert caught.value.field == field
    assert caught.value.user_error.code == "invalid_input"


def test_callback_in_the_past_is_refused(server_docs):
    doc = parse_pop(server_docs["plain"])
    draft = OutcomeDraft.for_pop(doc, result="callback", callback_at=NOW - dt.timedelta(hours=1))
    with pytest.raises(InvalidOutcome, match="in the past"):
        draft.check_time(NOW)
    OutcomeDraft.for_pop(doc, result="callback", callback_at=NOW + dt.timedelta(hours=1)).check_time(NOW)


def test_long_call_ids_are_trimmed_and_notes_stripped(server_docs):
    doc = parse_pop(server_docs["plain"])
    draft = OutcomeDraft.for_pop(doc, result="do_not_disturb", call_id="c" * 300, note="  \n ")
    assert len(draft.call_id) == 100 and draft.note is None


# --- keys and states ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+86 138 0013 8000", "13800138000"), ("0086-13800138000", "13800138000"), ("8613800138000", "13800138000"),
     ("13800138000", "13800138000"), ("020-8888 1234", "02088881234"), ("", None), ("anonymous", None)],
)
def test_ani_normalization(raw, expected):
    assert normalize_ani(raw) == expected


def test_pop_key_masks_and_keys():
    key = PopKey(ani="+86 138-0013-8000")
    assert key.masked() == "138****8000" and key.cache_keys() == ["ani:13800138000"]
    assert "13800138000" not in repr(key)
    both = PopKey(ani="13800138000", customer_id=" C1 ")
    # With a customer id, only that id: the number may be shared, its cache entry another customer's view.
    assert both.cache_keys() == ["cust:C1"]
    assert not PopKey().is_lookupable and not PopKey(ani="1234").is_lookupable
    assert PopKey(customer_id="C1").is_lookupable and PopKey().masked() == ""


def test_pop_result_age():
    result = PopResult(PopState.STALE, PopKey(customer_id="C1"), fetched_at=NOW - dt.timedelta(hours=2))
    assert result.age(NOW) == dt.timedelta(hours=2)
    assert PopResult(PopState.ERROR, PopKey()).age(NOW) is None


def test_sync_state_kind():
    assert SyncState().kind == "synced"
    assert SyncState(pending=3).kind == "pending"
    assert SyncState(pending=3, offline_since=NOW).kind == "offline"
    assert SyncState(pending=3, needs_attention=1, offline_since=NOW).kind == "attention"


def test_user_error_codes_are_checked():
    assert {"server_unreachable", "timeout", "server_error", "bad_response", "auth_failed", "unknown_caller",
            "disk_full", "read_only", "store_corrupt", "config_invalid", "invalid_input"} <= ERROR_CODES
    assert UserError("disk_full").message_en.startswith("The disk is full")
    with pytest.raises(ValueError, match="unknown error code"):
        UserError("oops")


def test_domain_objects_are_frozen(server_docs):
    doc = parse_pop(server_docs["plain"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.decision_id = "x"  # type: ignore[misc]
