"""Outcomes without a pop (issue 15): an unknown or unreachable caller still gets not-offered (with its
reason), a callback, or do-not-disturb by number, with the caller's number kept for the server."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from server_stub.api.app import create_app
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import ContactHistory, DndNumber, OfferStat, Outcome
from server_stub.services import outcomes as outcomes_service
from server_stub.services.auth import create_token
from server_stub.services.limits import Limit, RateLimits
from server_stub.services.outcomes import OutcomeIn
from tests.server.factories import add_customer
from tests.server.test_outcome_retraction import retract
from tests.server.test_pop_rules import codes, outcome

NUMBER = "13800138000"


def unpopped(result: str, number: str | None = NUMBER, **extra) -> dict:
    item = {"outcome_id": str(uuid.uuid4()), "result": result, "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
    if number is not None:
        item["caller_number"] = number
    if result == "not_offered":
        item.setdefault("reason", "unknown caller: asked about coverage only")
    if result == "callback":
        item.setdefault("callback_at", (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat())
    item.update(extra)
    return item


def stored(api, outcome_id: str) -> Outcome | None:
    api.session.expire_all()
    return api.session.get(Outcome, outcome_id)


def history(api, customer_id: str) -> list[str]:
    api.session.expire_all()
    return list(api.session.scalars(select(ContactHistory.result).where(ContactHistory.customer_id == customer_id)))


def test_an_unknown_caller_gets_not_offered_callback_and_dnd_with_the_number_kept(api):
    items = [unpopped("not_offered", "+86 138 0013 8000"), unpopped("callback", "0086-13800138000"),
             unpopped("do_not_disturb")]
    answer = api.post_outcomes(items)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 3, answer.json()
    for item in items:
        row = stored(api, item["outcome_id"])
        assert row.decision_id is None and row.customer_id is None and row.offer_id is None
        assert row.caller_number == NUMBER  # national digits, whatever format the panel sent
        assert row.segment is None
    assert stored(api, items[0]["outcome_id"]).reason == "unknown caller: asked about coverage only"
    assert stored(api, items[1]["outcome_id"]).callback_at is not None
    # No offer was made: nothing counts as a response (acceptance rates), no customer history to keep.
    assert api.session.scalar(select(func.count()).select_from(OfferStat)) == 0
    assert api.session.scalar(select(func.count()).select_from(ContactHistory)) == 0
    # Idempotent by outcome_id: the same batch again is answered duplicate and changes nothing.
    again = api.post_outcomes(items).json()
    assert again["duplicate"] == 3 and again["accepted"] == 0
    changed = {**items[0], "reason": "another reason"}
    refused = api.post_outcomes([changed]).json()["results"][0]
    assert refused["status"] == "rejected" and "already used" in refused["reason"] and refused["reason_zh"]


@pytest.mark.parametrize(("item", "says"), [
    (unpopped("accepted", offer_id="CARE-CHECKUP"), "needs decision_id"),
    (unpopped("declined", offer_id="CARE-CHECKUP"), "needs decision_id"),
    (unpopped("considering", offer_id="CARE-CHECKUP"), "needs decision_id"),
    (unpopped("callback", number=None), "needs caller_number"),
    (unpopped("do_not_disturb", offer_id="CARE-CHECKUP"), "names no offer_id"),
    (unpopped("do_not_disturb", number="1234"), "caller_number must be a phone number"),
    (unpopped("do_not_disturb", number="138-abc-0013"), "caller_number must be a phone number"),
    (unpopped("do_not_disturb", number="1" * 21), "caller_number must be a phone number"),
    (unpopped("not_offered", reason=""), "not_offered needs a reason"),
    (unpopped("callback", callback_at=None), "a callback needs callback_at"),
    (unpopped("not_offered", customer_id="C-NOBODY"), "unknown customer_id"),
    ({**unpopped("callback"), "decision_id": None, "customer_id": None}, None),  # explicit nulls are fine
])
def test_what_may_not_be_recorded_without_a_pop_is_refused_with_a_reason(api, item, says):
    result = api.post_outcomes([item]).json()["results"][0]
    if says is None:
        assert result["status"] == "accepted", result
        return
    assert result["status"] == "rejected" and says in result["reason"], result
    assert api.session.scalar(select(func.count()).select_from(Outcome)) == 0


def test_with_a_decision_the_customer_stays_required(api):
    add_customer(api.session, "C1", NUMBER)
    doc = api.pop(customer_id="C1")
    item = outcome(doc, "not_offered", reason="no time")
    del item["customer_id"]
    result = api.post_outcomes([item]).json()["results"][0]
    assert result["status"] == "rejected" and "customer_id is required" in result["reason"]


def test_only_the_signed_in_agent_records_an_outcome_without_a_pop(api):
    own = unpopped("callback", agent_id="agent-007")
    assert api.post_outcomes([own]).json()["accepted"] == 1
    # Nothing ties such an outcome to a call: another agent's id is refused, even to a lead.
    for token, agent in ((api.token, "agent-042"), (api.lead_token, "agent-007")):
        result = api.post_outcomes([unpopped("callback", agent_id=agent)], token=token).json()["results"][0]
        assert result["status"] == "rejected", result
        assert "signed-in agent" in result["reason"] and "坐席" in result["reason_zh"]
    # A lead's own outcome without a pop is theirs.
    lead_own = unpopped("not_offered")
    assert api.post_outcomes([lead_own], token=api.lead_token).json()["accepted"] == 1
    assert stored(api, lead_own["outcome_id"]).agent_id == "lead-01"


def test_a_known_customer_whose_pop_failed_keeps_the_customer_and_the_number(api):
    add_customer(api.session, "C1", "13900139000")
    item = unpopped("callback", customer_id="C1", call_id="call-9")
    assert api.post_outcomes([item]).json()["accepted"] == 1
    row = stored(api, item["outcome_id"])
    assert (row.customer_id, row.caller_number, row.decision_id, row.segment) == ("C1", NUMBER, None, "gold")
    assert history(api, "C1") == ["callback"]  # the next pop's recent contacts see the call
    doc = api.pop(customer_id="C1")
    assert [c["result"] for c in doc["contact"]["recent_contacts"]] == ["callback"]
    assert api.session.scalar(select(func.count()).select_from(OfferStat)) == 0  # no offer: no response counted


def test_dnd_by_number_suppresses_marketing_to_every_customer_holding_it_until_retracted(api):
    add_customer(api.session, "C1", NUMBER)
    add_customer(api.session, "C2", "13900139000")
    first, second = unpopped("do_not_disturb", "+8613800138000"), unpopped("do_not_disturb")
    assert api.post_outcomes([first]).json()["accepted"] == 1
    api.session.expire_all()
    assert api.session.get(DndNumber, NUMBER).outcome_id == first["outcome_id"]
    for doc in (api.pop(ani=NUMBER), api.pop(customer_id="C1")):
        assert doc["contact"]["dnd"] is True and doc["contact"]["eligible_now"] is False
        assert doc["contact"]["dnd_since"] is not None
        for offer in doc["offers"]:
            assert ("dnd" in codes(offer)) is (offer["category"] != "care"), offer["offer_id"]
    other = api.pop(customer_id="C2")  # another number: untouched
    assert other["contact"]["dnd"] is False and not any("dnd" in codes(o) for o in other["offers"])

    # A second DND of the number leaves the first as the setter; retracting the first hands it over.
    assert api.post_outcomes([second]).json()["accepted"] == 1
    assert retract(api, first["outcome_id"]).status_code == 200
    api.session.expire_all()
    assert api.session.get(DndNumber, NUMBER).outcome_id == second["outcome_id"]
    assert api.pop(customer_id="C1")["contact"]["dnd"] is True
    assert retract(api, second["outcome_id"]).status_code == 200
    api.session.expire_all()
    assert api.session.get(DndNumber, NUMBER) is None
    doc = api.pop(customer_id="C1")
    assert doc["contact"]["dnd"] is False and not any("dnd" in codes(o) for o in doc["offers"])


def test_a_number_given_to_a_customer_later_is_still_dnd(api):
    assert api.post_outcomes([unpopped("do_not_disturb")]).json()["accepted"] == 1
    add_customer(api.session, "C-NEW", NUMBER)  # e.g. the customers feed brings the caller's record
    assert api.pop(ani=NUMBER)["contact"]["dnd"] is True


def test_known_customer_dnd_without_a_pop_sets_the_customer_and_the_number(api):
    add_customer(api.session, "C1", "13900139000")
    item = unpopped("do_not_disturb", customer_id="C1")
    assert api.post_outcomes([item]).json()["accepted"] == 1
    assert api.pop(customer_id="C1")["contact"]["dnd"] is True
    assert retract(api, item["outcome_id"]).status_code == 200
    assert api.pop(customer_id="C1")["contact"]["dnd"] is False
    api.session.expire_all()
    assert api.session.get(DndNumber, NUMBER) is None


def test_outcomes_without_a_pop_have_a_rate_limit_of_their_own(migrated_engine):
    from sqlalchemy.orm import Session

    with Session(migrated_engine) as session:
        from tests.server import factories

        factories.add_catalog(session)
        token = create_token(session, "agent-007")
    limits = RateLimits(pop=Limit(0, 0), search=Limit(0, 0), unpopped=Limit(6, 3))
    app = create_app(engine=migrated_engine, catalog_ttl_seconds=0, token_ttl_seconds=0, rate_limits=limits)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        def post(items):
            return client.post("/v1/outcomes", json={"outcomes": items}, headers=headers)

        assert post([unpopped("callback"), unpopped("callback")]).json()["accepted"] == 2
        refused = post([unpopped("callback"), unpopped("callback")])  # one left in the bucket: the whole batch waits
        assert refused.status_code == 429, refused.text
        body = refused.json()["error"]
        assert body["code"] == "rate_limited" and "without a pop" in body["message"] and body["message_zh"]
        assert int(refused.headers["Retry-After"]) >= 1
        with Session(migrated_engine) as session:
            assert session.scalar(select(func.count()).select_from(Outcome)) == 2  # nothing of it stored
        # A batch larger than the burst is not refused forever: a full bucket takes it.
        assert post([unpopped("not_offered")]).json()["accepted"] == 1


def test_the_fingerprint_of_an_outcome_with_a_decision_is_unchanged():
    """Outcomes stored before caller_number existed must stay duplicates when a panel sends them again
    (the fingerprint pinned here is what the server computed before this field was added)."""
    item = OutcomeIn.model_validate({
        "outcome_id": "7b3d5a52-4b0e-4c1e-9a43-1f6f1f2f3a4b", "decision_id": "d-1", "customer_id": "C1",
        "offer_id": "CARE-CHECKUP", "result": "accepted", "recorded_at": "2026-12-01T10:00:00+08:00",
        "note": "n", "call_id": "c1"})
    # As ingest hashes it: with what its decision fills in (an inbound pop: the channel it defaulted to then).
    filled = outcomes_service._on_its_call(item, None, {})
    assert filled.fingerprint() == "669ca0a9433458887cc0903d66c1b60b627084db8d30968f7344a948f46c1a3d"


def test_migration_0005_keeps_stored_outcomes_and_matches_the_models(database_url):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server_stub.db.engine import alembic_config
    from server_stub.db.models import Base

    engine = make_engine(database_url)
    try:
        upgrade(engine, "0004")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO outcomes (outcome_id, decision_id, customer_id, channel, result, agent_id, recorded_at,"
                " received_at, fingerprint) VALUES ('o-1', 'd-1', 'C1', 'inbound_call', 'declined', 'a',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'f')"))
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT decision_id, customer_id, caller_number FROM outcomes")).all() == [
                ("d-1", "C1", None)]
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO outcomes (outcome_id, channel, result, agent_id, recorded_at, received_at, fingerprint,"
                " caller_number) VALUES ('o-2', 'inbound_call', 'callback', 'a', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP, 'f', '13800138000')"))
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT outcome_id FROM outcomes")).scalars().all() == ["o-1"]
    finally:
        engine.dispose()
