"""An outbound call the agent makes outside the worklist (a customer opened from search, a host's show_customer):
the campaigns the agent may call for, the pop built for that campaign's outbound wave, its refusals, and the
outcomes answering it (channel outbound_call, the campaign and wave), through the real API on SQLite and
PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from server_stub.api.schemas import OutboundCampaignList, PopDocument
from server_stub.db.models import ContactHistory, Decision, Outcome
from server_stub.services.auth import set_team
from tests.server import factories
from tests.server.factories import OUTBOUND, add_customer, add_member
from tests.server.test_pop_rules import outcome


def campaigns(api, **params) -> list[dict]:
    response = api.get("/v1/outbound/campaigns", **params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    OutboundCampaignList.model_validate(response.json())  # the contract the route serializes without validating
    return response.json()["items"]


def outbound_pop(api, customer_id: str, campaign_id: str = OUTBOUND):
    return api.get("/v1/pop", customer_id=customer_id, channel="outbound_call", campaign_id=campaign_id)


def decisions(api) -> int:
    return api.session.scalar(select(func.count()).select_from(Decision))


def test_the_campaigns_an_agent_may_call_for(api):
    assert campaigns(api) == []  # the sample catalog's campaign runs an inbound wave only
    factories.add_outbound_campaign(api.session, calling_hours=["09:00-09:01"], time_zone="Asia/Shanghai")
    factories.add_outbound_campaign(api.session, "CMP-TEAM", teams=["north"])
    add_customer(api.session, "C1", "13800138000")
    add_member(api.session, "C1")
    items = campaigns(api)
    assert [i["campaign_id"] for i in items] == [OUTBOUND]  # CMP-TEAM is the north team's
    (item,) = items
    assert item["name"] == {"zh": "客户挽留外呼", "en": "Retention calls"}
    assert (item["wave"]["seq"], item["wave"]["of"], item["wave"]["channel"]) == (2, 2, "outbound_call")
    assert item["calling_hours"] == ["09:00-09:01"] and item["time_zone"] == "Asia/Shanghai"
    set_team(api.session, "agent-007", "north")
    assert [i["campaign_id"] for i in campaigns(api)] == [OUTBOUND, "CMP-TEAM"]  # by campaign id
    # For one customer: only the campaigns whose list holds them.
    assert [i["campaign_id"] for i in campaigns(api, customer_id="C1")] == [OUTBOUND]
    assert campaigns(api, customer_id="NOBODY") == []
    assert api.client.get("/v1/outbound/campaigns").status_code == 401


def test_an_outbound_pop_serves_the_campaign_on_the_outbound_channel(api):
    factories.add_outbound_campaign(api.session)
    add_customer(api.session, "C1", "13800138000", churn_risk=0.7)  # also in CMP-FAMILY (its wave: inbound)
    add_member(api.session, "C1", reason="合约到期前挽留")
    # As an inbound pop (what search opened before): the outbound wave's offer is greyed for an inbound call.
    inbound = api.pop(customer_id="C1")
    offers = {o["offer_id"]: o for o in inbound["offers"]}
    assert "wave_channel" in {r["code"] for r in offers["RET-DISCOUNT-20"]["suppressed_by"]}
    response = outbound_pop(api, "C1")
    assert response.status_code == 200, response.text
    doc = PopDocument.model_validate(response.json()).model_dump(mode="json")
    contact = doc["contact"]
    assert contact["channel"] == "outbound_call"
    assert contact["campaign"]["campaign_id"] == OUTBOUND and contact["wave"]["seq"] == 2
    assert contact["member"]["reason"] == "合约到期前挽留"
    offers = {o["offer_id"]: o for o in doc["offers"]}
    assert not offers["RET-DISCOUNT-20"]["suppressed"] and offers["RET-DISCOUNT-20"]["campaign_id"] == OUTBOUND
    assert "wave_channel" in {r["code"] for r in offers["CAMP-FAMILY-PLAN"]["suppressed_by"]}
    decision = api.session.get(Decision, doc["decision_id"])
    assert (decision.channel, decision.campaign_id, decision.wave, decision.lease_id) == (
        "outbound_call", OUTBOUND, 2, None)
    inbound_decision = api.session.get(Decision, inbound["decision_id"])
    assert (inbound_decision.channel, inbound_decision.campaign_id) == (None, None)


def test_refusals_say_why_in_both_languages_and_record_no_decision(api):
    factories.add_outbound_campaign(api.session)
    factories.add_outbound_campaign(api.session, "CMP-OTHERS", agents=["agent-999"])
    add_customer(api.session, "C1", "13800138000")
    add_member(api.session, "C1")
    add_member(api.session, "C1", "CMP-OTHERS")
    add_customer(api.session, "C2", "13900139000")  # on no outbound list
    before = decisions(api)

    def refused(status: int, code: str, **params) -> dict:
        response = api.get("/v1/pop", **params)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["message"], error
        return error

    error = refused(404, "campaign_not_found", customer_id="C1", channel="outbound_call", campaign_id="CMP-NONE")
    assert "CMP-NONE" in error["message_zh"]
    # CMP-FAMILY's wave runs inbound; CMP-OTHERS's outbound wave is another agent's.
    for campaign_id in ("CMP-FAMILY", "CMP-OTHERS"):
        error = refused(409, "no_outbound_wave", customer_id="C1", channel="outbound_call", campaign_id=campaign_id)
        assert "外呼波次" in error["message_zh"]
    error = refused(409, "not_in_campaign", customer_id="C2", channel="outbound_call", campaign_id=OUTBOUND)
    assert "名单" in error["message_zh"]
    refused(404, "customer_not_found", customer_id="NOBODY", channel="outbound_call", campaign_id=OUTBOUND)
    refused(422, "invalid_request", customer_id="C1", channel="outbound_call")
    refused(422, "invalid_request", customer_id="C1", campaign_id=OUTBOUND)
    refused(422, "invalid_request", customer_id="C1", channel="sms", campaign_id=OUTBOUND)
    assert decisions(api) == before
    # By number too.
    assert api.get("/v1/pop", ani="13800138000", channel="outbound_call",
                   campaign_id=OUTBOUND).json()["contact"]["channel"] == "outbound_call"


def test_outcomes_default_to_the_outbound_call_its_campaign_and_wave(api):
    factories.add_outbound_campaign(api.session, outbound_cap=1)
    add_customer(api.session, "C1", "13800138000", churn_risk=0.7)
    add_member(api.session, "C1")
    doc = outbound_pop(api, "C1").json()
    wrong = outcome(doc, "accepted", "RET-DISCOUNT-20", channel="inbound_call")
    refused = api.post_outcomes([wrong]).json()["results"][0]
    assert refused["status"] == "rejected" and "outbound_call" in refused["reason"]
    # As the panel sends them: the offer's campaign and wave, no channel; and an always-on offer with none.
    pitched = outcome(doc, "accepted", "RET-DISCOUNT-20")
    care = outcome(doc, "considering", "CARE-CHECKUP")
    answer = api.post_outcomes([pitched, care]).json()
    assert [r["status"] for r in answer["results"]] == ["accepted", "accepted"], answer
    for item in (pitched, care):
        stored = api.session.get(Outcome, item["outcome_id"])
        assert (stored.channel, stored.campaign_id, stored.wave) == ("outbound_call", OUTBOUND, 2)
        assert stored.call_id == f"outbound-pop:{doc['decision_id']}"
    assert api.post_outcomes([pitched]).json()["results"][0]["status"] == "duplicate"
    # The call's outcomes are one contact on the campaign's outbound cap (1 of 1: reached).
    history = api.session.scalars(select(ContactHistory).where(ContactHistory.customer_id == "C1")).all()
    assert {(h.channel, h.campaign_id) for h in history} == {("outbound_call", OUTBOUND)}
    caps = {c["channel"]: c for c in outbound_pop(api, "C1").json()["contact"]["caps"]}
    assert (caps["outbound_call"]["used"], caps["outbound_call"]["max"]) == (1, 1)
