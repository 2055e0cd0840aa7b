"""The panel's event vocabulary (desktop/domain/events.py) and the per-call view model
(desktop/domain/calls.py): plain pytest, no Qt, no I/O beyond reading the sample pop."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import jsonschema_rs
import pytest

from desktop.calls.bridge_protocol import EVENT_TYPES as BRIDGE_EVENT_TYPES
from desktop.calls.bridge_protocol import event_message
from desktop.domain.calls import CallViews, another_party
from desktop.domain.errors import UserError
from desktop.domain.events import (
    EVENT_CLASSES,
    SDK_EVENTS,
    CallClosed,
    CallIgnored,
    CallUpdated,
    OutcomeRecorded,
    OutcomeRetracted,
    PopAmbiguous,
    PopShown,
    SyncStateChanged,
)
from desktop.domain.outcomes import OutcomeRecord, OutcomeResult
from desktop.domain.pop import CallerCandidate, parse_pop
from desktop.domain.states import PopKey, PopResult, PopState, SyncState
from plugin_sdk import protocol
from plugin_sdk._types import EVENT_NAMES, WIRE_NAMES

NOW = dt.datetime(2026, 11, 2, 1, 30, tzinfo=dt.UTC)
SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "pop-sample.json"


@pytest.fixture(scope="module")
def document():
    return parse_pop(json.loads(SAMPLE.read_text(encoding="utf-8")))


def live(document, key=None) -> PopResult:
    return PopResult(PopState.LIVE, key or PopKey(customer_id=document.customer.customer_id), document, NOW)


def record(document, **fields) -> OutcomeRecord:
    values = {"outcome_id": "0b7a3c1e-0000-4000-8000-000000000001", "decision_id": document.decision_id,
              "customer_id": document.customer.customer_id, "result": OutcomeResult.DECLINED,
              "recorded_at": NOW, "offer_id": document.offers[0].offer_id}
    return OutcomeRecord(**{**values, **fields})


def valid(event) -> dict:
    """The event as the bridge sends it, checked against its schema in plugin_sdk/schemas."""
    message = json.loads(json.dumps(event_message(event.type, event.to_json(), 1, NOW)))
    validator = jsonschema_rs.validator_for(protocol.schema(event.type), validate_formats=True)
    errors = [error.message for error in validator.iter_errors(message)]
    assert not errors, (event.type, errors, message)
    return message["data"]


# --- the vocabulary ------------------------------------------------------------------------------------


def test_one_vocabulary_names_every_event_of_the_bridge_and_the_sdk():
    assert BRIDGE_EVENT_TYPES == protocol.EVENT_TYPES == tuple(cls.type for cls in EVENT_CLASSES)
    assert tuple(SDK_EVENTS) == EVENT_NAMES and dict(WIRE_NAMES) == SDK_EVENTS
    assert "outcome.retracted" in protocol.EVENT_TYPES and SDK_EVENTS["outcome_retracted"] == "outcome.retracted"


def test_every_event_payload_matches_its_schema(document):
    shown = PopShown.of("c1", live(document), update=False, chosen=False)
    data = valid(shown)
    assert data == {"call_id": "c1", "state": "live", "customer_id": document.customer.customer_id,
                    "decision_id": document.decision_id,
                    "offers": [o.offer_id for o in document.pitchable_offers], "update": False, "chosen": False,
                    "channel": document.contact.channel,
                    "campaign_id": document.contact.campaign.campaign_id if document.contact.campaign else None}
    ambiguous = PopResult(PopState.AMBIGUOUS, PopKey(ani="13800138000"),
                          candidates=(CallerCandidate("C-1", "A"), CallerCandidate("C-2", "B")))
    assert valid(PopAmbiguous.of("c1", ambiguous, update=True)) == {"call_id": "c1", "candidates": ["C-1", "C-2"],
                                                                     "update": True}
    recorded = OutcomeRecorded.of(record(document), "c1")
    assert valid(recorded) == {"outcome_id": recorded.outcome_id, "call_id": "c1",
                               "customer_id": document.customer.customer_id,
                               "offer_id": document.offers[0].offer_id, "result": "declined",
                               "recorded_at": NOW.isoformat()}
    retracted = OutcomeRetracted.of(recorded, "retracting", NOW + dt.timedelta(seconds=3))
    same = {name: value for name, value in recorded.to_json().items() if name != "recorded_at"}
    assert valid(retracted) == {**same, "delivery": "retracting",
                                "retracted_at": (NOW + dt.timedelta(seconds=3)).isoformat()}
    sync = SyncStateChanged(SyncState(pending=2, offline_since=NOW, last_error=UserError("timeout", "slow")))
    assert valid(sync) == {"kind": "offline", "pending": 2, "needs_attention": 0,
                           "offline_since": "2026-11-02T01:30:00Z", "last_synced_at": None,
                           "next_attempt_at": None, "last_error": "timeout"}
    updated = CallUpdated("c1", PopKey(ani="+86 138 0013 8000"), "transfer", "talking", True, refetch=True)
    assert valid(updated) == {"call_id": "c1", "customer_id": None, "ani": "138****8000", "refetch": True,
                              "change": "transfer", "phase": "talking", "in_front": True}
    assert valid(CallIgnored("c1", "duplicate", "x")) == {"call_id": "c1", "reason": "duplicate", "detail": "x"}
    assert valid(CallClosed("c1", "outcome")) == {"call_id": "c1", "reason": "outcome"}


def test_a_retraction_with_an_unknown_delivery_is_refused_by_its_schema(document):
    bad = OutcomeRetracted.of(OutcomeRecorded.of(record(document), "c1"), "lost", NOW)
    with pytest.raises(AssertionError):
        valid(bad)


def test_no_event_carries_a_phone_number(document):
    key = PopKey(ani="13800138000")
    events = [PopShown.of("c1", live(document, key), update=False, chosen=False),
              CallUpdated("c1", key, "phase", "ringing", False)]
    assert all("13800138000" not in json.dumps(event.to_json()) for event in events)


# --- the per-call view model ---------------------------------------------------------------------------


def test_an_answer_replaces_what_a_call_shows_only_if_it_is_newer_and_not_worse(document):
    calls = CallViews()
    key = PopKey(customer_id=document.customer.customer_id)
    first = calls.start("c1", key)
    assert first.shown.state is PopState.LOADING and first.generation == 1
    cached = PopResult(PopState.LOADING, key, document, NOW - dt.timedelta(hours=1))
    settled = calls.settle("c1", 1, cached)
    assert settled is not None and settled.event is None and not settled.log  # still loading: not news
    shown = calls.settle("c1", 1, live(document))
    assert shown.event == PopShown.of("c1", live(document), update=False, chosen=False) and shown.log
    # The cached copy arriving after the live answer does not replace it.
    assert calls.settle("c1", 1, cached) is None
    # A failed fetch keeps the document on screen and says it is stale.
    second = calls.start("c1", key, instant=lambda _key: cached)
    assert second.generation == 2 and second.shown is cached
    failed = calls.settle("c1", 2, PopResult(PopState.ERROR, key, error=UserError("timeout", "slow")))
    assert failed.shown.state is PopState.STALE and failed.shown.document is document
    assert failed.event.update is True  # the call had a pop before
    # An answer for an older lookup is too late.
    assert calls.settle("c1", 1, live(document)) is None
    assert calls.settle("gone", 1, live(document)) is None


def test_the_pop_log_row_belongs_to_the_lookup_it_logged(document):
    calls = CallViews()
    key = PopKey(customer_id=document.customer.customer_id)
    calls.start("c1", key)
    calls.settle("c1", 1, live(document))
    calls.start("c1", key)
    calls.logged("c1", 1, 41)  # the first lookup's log row, after a second lookup started
    assert calls.get("c1").pop_id is None
    calls.logged("c1", 2, 42)
    assert calls.get("c1").pop_id == 42


def test_a_shared_number_choice_holds_and_can_be_taken_back(document):
    calls = CallViews()
    number = PopKey(ani="13800138000")
    calls.start("c1", number)
    candidates = (CallerCandidate(document.customer.customer_id, "A"), CallerCandidate("C-OTHER", "B"))
    asked = calls.settle("c1", 1, PopResult(PopState.AMBIGUOUS, number, candidates=candidates))
    assert isinstance(asked.event, PopAmbiguous) and asked.event.update is False
    assert not calls.get("c1").can_record
    assert not calls.may_choose("c1", "C-NOBODY") and calls.may_choose("c1", "C-OTHER")
    chosen = calls.start("c1", number, chosen=document.customer.customer_id)
    assert chosen.key == PopKey(ani="13800138000", customer_id=document.customer.customer_id)
    settled = calls.settle("c1", chosen.generation, live(document, chosen.key))
    assert settled.event.chosen and settled.event.update and settled.shown.candidates == candidates
    # The same caller again (a transfer naming only the number): the choice holds.
    again = calls.start("c1", number)
    old_generation = again.generation
    assert again.chosen == document.customer.customer_id and again.key.customer_id == document.customer.customer_id
    back = calls.choose_again("c1")
    assert back == PopAmbiguous("c1", (document.customer.customer_id, "C-OTHER"), True)
    view = calls.get("c1")
    assert view.chosen is None and view.pop_id is None and view.shown.state is PopState.AMBIGUOUS
    assert calls.settle("c1", old_generation, live(document, chosen.key)) is None  # the old choice's fetch
    assert calls.choose_again("c1") is None


def test_a_recorded_outcome_guides_the_pop_it_answered_and_an_undo_names_it(document):
    calls = CallViews()
    key = PopKey(customer_id=document.customer.customer_id)
    calls.start("c1", key)
    calls.settle("c1", 1, live(document))
    guided = replace(document, offers=document.offers[1:])
    event = calls.recorded("c1", record(document), guided)
    assert event == OutcomeRecorded.of(record(document), "c1")
    assert calls.get("c1").shown.document is guided and calls.get("c1").outcomes == [event]
    # Another pop on screen by then (another decision): the guided copy of the old one is not shown.
    other = replace(document, decision_id="another-decision")
    calls.start("c1", key)
    calls.settle("c1", 2, live(other))
    calls.recorded("c1", record(document, outcome_id="0b7a3c1e-0000-4000-8000-000000000002"), guided)
    assert calls.get("c1").shown.document is other
    # The call closes (an outcome in wrap-up closes it at once); the undo still names the outcome.
    calls.closed("c1")
    retracted = calls.retracted(event.outcome_id, "removed", NOW)
    assert retracted == OutcomeRetracted.of(event, "removed", NOW)
    assert calls.retracted(event.outcome_id, "removed", NOW) is None  # told once
    assert calls.retracted("never-recorded-here", "retracting", NOW) is None


def test_a_transfer_marker_says_who_passed_the_call_on_and_whether_the_customer_changed(document):
    calls = CallViews()
    before = PopKey(customer_id=document.customer.customer_id)
    calls.start("c1", before)
    calls.settle("c1", 1, live(document))
    same = calls.transferred("c1", before, before, from_agent="张伟", via="8001")
    assert (same.from_agent, same.via, same.to_agent, same.now) == ("张伟", "8001", None, None)
    after = PopKey(ani="+8613900001111", customer_id="C-OTHER")
    changed = calls.transferred("c1", before, after, from_agent="A1024", via="+86 139 0000 2222")
    assert changed.previous == document.customer.display_name and changed.now == "139****1111"
    assert changed.via == "139****2222"  # a phone number is masked; extensions and queue names are not
    assert calls.start("c1", after).transfer is changed  # the new lookup keeps the marker
    assert calls.transferred("nobody", before, after) is None
    assert another_party(PopKey(customer_id="A"), PopKey(customer_id="B"))
    assert not another_party(PopKey(customer_id="A"), PopKey(ani="13800138000"))
