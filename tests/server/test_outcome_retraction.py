"""POST /v1/outcomes/{outcome_id}/retraction: the panel's undo once an outcome was delivered."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from server_stub.db.models import ContactHistory, Customer, OfferStat, Outcome
from server_stub.services.auth import create_token
from tests.server.factories import add_customer
from tests.server.test_pop_rules import outcome


def retract(api, outcome_id: str, token: str | None = None):
    return api.client.post(f"/v1/outcomes/{outcome_id}/retraction", headers=api.headers(token))


def stat(api, offer_id: str) -> tuple[int, int]:
    api.session.expire_all()
    row = api.session.get(OfferStat, (offer_id, "gold"))
    return (row.responses, row.accepted) if row else (0, 0)


def contacts(api, customer_id: str) -> int:
    api.session.expire_all()
    return api.session.scalar(
        select(func.count()).select_from(ContactHistory).where(ContactHistory.customer_id == customer_id)
    )


def test_retraction_takes_back_contact_history_and_offer_learning_once(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    keep = outcome(doc, "accepted", "CARE-CHECKUP")
    wrong = outcome(doc, "accepted", "ADDON-DATA-20G")
    other = outcome(doc, "declined", "ADDON-DATA-20G")
    assert api.post_outcomes([keep, wrong, other]).json()["accepted"] == 3
    assert stat(api, "ADDON-DATA-20G") == (2, 1) and contacts(api, "C1") == 3
    # A feed moves the customer to another tier meanwhile: the retraction subtracts where it was counted.
    api.session.execute(update(Customer).where(Customer.customer_id == "C1").values(value_tier="silver"))
    api.session.commit()

    first = retract(api, wrong["outcome_id"])
    assert first.status_code == 200, first.text
    assert first.json()["outcome_id"] == wrong["outcome_id"] and first.json()["retracted_by"] == "agent-007"
    assert stat(api, "ADDON-DATA-20G") == (1, 0)
    assert stat(api, "CARE-CHECKUP") == (1, 1)
    assert contacts(api, "C1") == 2
    # Idempotent: the same answer, nothing subtracted twice; a replayed batch re-adds nothing.
    again = retract(api, wrong["outcome_id"])
    assert again.status_code == 200 and again.json() == first.json()
    assert api.post_outcomes([wrong]).json()["duplicate"] == 1
    assert stat(api, "ADDON-DATA-20G") == (1, 0) and contacts(api, "C1") == 2
    api.session.expire_all()
    assert api.session.get(Outcome, wrong["outcome_id"]).retracted_at is not None  # kept for the audit


def test_retracting_a_declined_lifts_its_refusal_cool_down(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    offer_id = doc["offers"][0]["offer_id"]

    def refused() -> bool:
        offer = next(o for o in api.pop(customer_id="C1")["offers"] if o["offer_id"] == offer_id)
        return "recent_refusal" in {r["code"] for r in offer["suppressed_by"]}

    assert not refused()
    declined = outcome(doc, "declined", offer_id)
    assert api.post_outcomes([declined]).json()["accepted"] == 1
    assert refused()
    assert retract(api, declined["outcome_id"]).status_code == 200
    assert not refused()


def test_retraction_turns_off_only_the_dnd_that_outcome_turned_on(api):
    add_customer(api.session, "C1", "13800138000")
    add_customer(api.session, "C2", "13800138001", dnd=True)
    doc1, doc2 = api.pop(customer_id="C1"), api.pop(customer_id="C2")
    first, second = outcome(doc1, "do_not_disturb"), outcome(doc1, "do_not_disturb")
    already = outcome(doc2, "do_not_disturb")
    assert api.post_outcomes([first, second, already]).json()["accepted"] == 3

    def dnd(customer_id):
        api.session.expire_all()
        return api.session.get(Customer, customer_id).dnd

    assert retract(api, already["outcome_id"]).status_code == 200
    assert dnd("C2")  # DND came from elsewhere: retracting this outcome does not lift it
    assert retract(api, first["outcome_id"]).status_code == 200
    assert dnd("C1")  # the second DND outcome still stands
    assert retract(api, second["outcome_id"]).status_code == 200
    assert not dnd("C1")


def test_only_the_recording_agent_or_a_lead_may_retract(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    item = outcome(doc, "accepted", "CARE-CHECKUP")
    assert api.post_outcomes([item]).json()["accepted"] == 1
    stranger = create_token(api.session, "agent-008")
    refused = retract(api, item["outcome_id"], token=stranger)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "outcome_not_found"
    assert refused.json()["error"]["message_zh"]
    assert retract(api, str(uuid.uuid4())).status_code == 404
    assert retract(api, "not-a-uuid").status_code == 422
    assert stat(api, "CARE-CHECKUP") == (1, 1)
    by_lead = retract(api, item["outcome_id"], token=api.lead_token)
    assert by_lead.status_code == 200 and by_lead.json()["retracted_by"] == "lead-01"
    assert stat(api, "CARE-CHECKUP") == (0, 0)


def test_an_agent_retracts_its_outcome_stored_under_a_derived_id(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    item = outcome(doc, "accepted", "CARE-CHECKUP")
    assert api.post_outcomes([item]).json()["accepted"] == 1
    # agent-008 happens to use the same client id for its own outcome on its own pop.
    other = create_token(api.session, "agent-008")
    doc8 = api.client.get("/v1/pop", params={"customer_id": "C1"}, headers=api.headers(other)).json()
    mine = {**outcome(doc8, "accepted", "CARE-CHECKUP"), "outcome_id": item["outcome_id"]}
    assert api.post_outcomes([mine], token=other).json()["accepted"] == 1
    assert stat(api, "CARE-CHECKUP") == (2, 2)
    assert retract(api, item["outcome_id"], token=other).status_code == 200
    api.session.expire_all()
    assert api.session.get(Outcome, item["outcome_id"]).retracted_at is None  # agent-007's stands
    assert stat(api, "CARE-CHECKUP") == (1, 1)
