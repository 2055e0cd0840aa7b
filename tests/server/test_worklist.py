"""The outbound worklist through the real API (and the service where the clock matters), SQLite and PostgreSQL:
who is handed out and in which order, what is skipped, leases, skips, call results and their retry rules, the
outcome of an outbound call, and the figures."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server_stub.api.app import create_app
from server_stub.api.schemas import AttemptResult, LeaseStateView, WorklistNext
from server_stub.db.models import (
    CampaignMember,
    ContactHistory,
    Customer,
    CustomerNumber,
    Decision,
    DndNumber,
    OfferStat,
    OutboundProgress,
    Outcome,
)
from server_stub.services.auth import create_token, set_team
from server_stub.services.catalog import load_catalog
from server_stub.services.pop import HistoryRow, OutboundCall, build_pop
from server_stub.services.worklist import (
    AttemptIn,
    Claim,
    Empty,
    next_for_agent,
    outbound_cap,
    record_attempt,
)
from server_stub.services.worklist import release as release_lease
from tests.server import factories
from tests.server.conftest import make_api
from tests.server.factories import NOW, OUTBOUND, add_contacts, add_customer, add_member
from tests.server.test_pop_rules import outcome


def take(api, token: str | None = None, **body) -> dict:
    response = api.client.post("/v1/worklist/next", json=body or None, headers=api.headers(token))
    assert response.status_code == 200, response.text
    doc = response.json()
    WorklistNext.model_validate(doc)  # the contract the route serializes without validating
    return doc


def result(api, lease_id: str, call_result: str, token: str | None = None, **extra):
    body = {"attempt_id": str(uuid.uuid4()), "lease_id": lease_id, "result": call_result,
            "called_at": dt.datetime.now(dt.UTC).isoformat(), **extra}
    return api.client.post("/v1/outbound/attempts", json=body, headers=api.headers(token))


def release(api, lease_id: str, hold_minutes: int = 30, token: str | None = None):
    return api.client.post(f"/v1/worklist/leases/{lease_id}/release", headers=api.headers(token),
                           json={"reason": "customer asked to be called next week", "hold_minutes": hold_minutes})


def customers(session, *specs) -> None:
    """specs: (customer_id, monthly fee in fen, value tier, member priority)."""
    for customer_id, fee, tier, priority in specs:
        add_customer(session, customer_id, None, campaign=False, monthly_fee_fen=fee, value_tier=tier)
        add_member(session, customer_id, priority=priority, reason=f"reason of {customer_id}")


def catalog(api):
    with Session(api.session.get_bind()) as session:
        return load_catalog(session)


# ------------------------------------------------------------------ what is handed out


def test_next_hands_out_a_customer_with_the_outbound_pop_and_why(api):
    factories.add_outbound_campaign(api.session)
    add_customer(api.session, "C1", "13800138000", churn_risk=0.7)  # also in CMP-FAMILY (its wave: inbound)
    add_member(api.session, "C1", priority=5, reason="合约到期前挽留")
    doc = take(api)
    assert doc["status"] == "leased" and doc["customer_id"] == "C1" and doc["attempt"] == 1
    assert doc["campaign"]["campaign_id"] == OUTBOUND
    assert (doc["wave"]["seq"], doc["wave"]["of"], doc["wave"]["channel"]) == (2, 2, "outbound_call")
    assert doc["wave"]["max_attempts"] == 3 and doc["wave"]["retry_after_minutes"]["no_answer"] == 120
    assert doc["why"]["priority"] == 5 and doc["why"]["member_reason"] == "合约到期前挽留"
    assert doc["why"]["expected_value"] == 129.0 and doc["why"]["score"] == pytest.approx(129.0 * doc["why"]["acceptance"],
                                                                                         abs=1e-3)
    pop = doc["pop"]
    assert pop["contact"]["channel"] == "outbound_call"
    assert pop["contact"]["campaign"]["campaign_id"] == OUTBOUND and pop["contact"]["wave"]["seq"] == 2
    offers = {o["offer_id"]: o for o in pop["offers"]}
    assert not offers["RET-DISCOUNT-20"]["suppressed"] and offers["RET-DISCOUNT-20"]["campaign_id"] == OUTBOUND
    # The inbound wave of the other campaign is not for an outbound call (and says so in both languages).
    family = offers["CAMP-FAMILY-PLAN"]["suppressed_by"]
    wave = next(r for r in family if r["code"] == "wave_channel")
    assert "outbound call may not serve it" in wave["en"] and "外呼不可执行" in wave["zh"]
    decision = api.session.get(Decision, pop["decision_id"])
    assert (decision.channel, decision.campaign_id, decision.wave, decision.lease_id) == (
        "outbound_call", OUTBOUND, 2, doc["lease"]["lease_id"])
    # A repeated request answers the same lease (renewed), never a second customer.
    add_customer(api.session, "C2", None, campaign=False)
    add_member(api.session, "C2", priority=9)
    again = take(api)
    assert again["lease"]["lease_id"] == doc["lease"]["lease_id"] and again["lease"]["resumed"] is True
    assert again["lease"]["expires_at"] >= doc["lease"]["expires_at"]
    get = api.client.get("/v1/worklist/next", headers=api.headers())
    assert get.status_code == 200 and get.json()["lease"]["lease_id"] == doc["lease"]["lease_id"]
    assert get.headers["cache-control"] == "no-store"


def test_priority_then_expected_value_times_acceptance(api):
    factories.add_outbound_campaign(api.session)
    # Same priority: 199 yuan × gold acceptance vs 99 yuan × diamond acceptance, with observed acceptance
    # making diamond customers 3× as likely to accept: 99 × 0.75 > 199 × 0.2 ... see the stats below.
    customers(api.session, ("LOW-PRIO-RICH", 99_900, "gold", 0), ("GOLD-199", 19_900, "gold", 1),
              ("DIAMOND-99", 9_900, "diamond", 1), ("SILVER-299", 29_900, "silver", 1))
    api.session.add_all([OfferStat(offer_id="RET-DISCOUNT-20", segment="gold", responses=100, accepted=10),
                         OfferStat(offer_id="RET-DISCOUNT-20", segment="diamond", responses=100, accepted=90)])
    api.session.commit()
    # Smoothed (prior 20 × base 0.45): gold (10 + 9) / 120 = 0.158, diamond (90 + 9) / 120 = 0.825, silver
    # (no responses) 0.45: 199 × 0.158 = 31.5; 99 × 0.825 = 81.7; 299 × 0.45 = 134.6.
    order = []
    for n in range(4):
        token = create_token(api.session, f"agent-{n}")
        doc = take(api, token)
        order.append(doc["customer_id"])
    assert order == ["SILVER-299", "DIAMOND-99", "GOLD-199", "LOW-PRIO-RICH"]


def test_priority_order_holds_across_a_long_list(api):
    """More members than a claim looks at at once (WINDOW): the best ones come first wherever they sit."""
    from server_stub.services.worklist import WINDOW

    factories.add_outbound_campaign(api.session)
    count = 2 * WINDOW + 20
    customers(api.session, *((f"C{n:04d}", 5_000 + 10 * n, "gold", 0) for n in range(count)))
    # Priority beats value; within a priority the higher monthly fee (same segment, same acceptance) first.
    for customer_id, priority in (("C0003", 2), ("C0100", 1), ("C0007", 1)):
        api.session.query(CampaignMember).filter_by(customer_id=customer_id).update({"priority": priority})
    api.session.commit()
    order = [take(api, create_token(api.session, f"agent-{n}"))["customer_id"] for n in range(5)]
    assert order == ["C0003", "C0100", "C0007", f"C{count - 1:04d}", f"C{count - 2:04d}"]


def test_dnd_retired_closed_numbers_and_held_customers_are_skipped(api):
    factories.add_outbound_campaign(api.session)
    customers(api.session, ("DND", 9_900, "gold", 9), ("RETIRED", 9_900, "gold", 8), ("CLOSED", 9_900, "gold", 7),
              ("OK-1", 9_900, "gold", 1), ("OK-2", 9_900, "gold", 0))
    api.session.query(Customer).filter_by(customer_id="DND").update({"dnd": True, "dnd_since": NOW})
    api.session.query(Customer).filter_by(customer_id="RETIRED").update({"retired_at": NOW})
    api.session.query(Customer).filter_by(customer_id="CLOSED").update({"service_status": "closed"})
    api.session.commit()
    first = take(api)
    other = take(api, create_token(api.session, "agent-008"))
    assert (first["customer_id"], other["customer_id"]) == ("OK-1", "OK-2")  # the held OK-1 is not handed twice
    third = take(api, create_token(api.session, "agent-009"))
    assert third["status"] == "empty" and third["empty"]["code"] == "worklist_done"
    assert "没有需要呼叫的客户" in third["empty"]["message_zh"]


def test_a_customer_holding_a_do_not_disturb_number_is_skipped(api):
    """An unknown caller asked for no more marketing on a number (outcome without a pop): nobody holding that
    number is called, whatever their own DND flag says."""
    factories.add_outbound_campaign(api.session)
    customers(api.session, ("SHARES-DND-NUMBER", 9_900, "gold", 9), ("OK", 9_900, "gold", 1))
    api.session.add_all([
        CustomerNumber(msisdn="13800000001", customer_id="SHARES-DND-NUMBER", is_primary=False),
        CustomerNumber(msisdn="13800000002", customer_id="OK", is_primary=True),
        DndNumber(msisdn="13800000001", since=NOW, outcome_id=str(uuid.uuid4()), agent_id="agent-007"),
    ])
    api.session.commit()
    assert take(api)["customer_id"] == "OK"
    again = take(api, create_token(api.session, "agent-008"))
    assert again["status"] == "empty" and again["empty"]["code"] == "worklist_done"


def test_members_over_a_cap_are_skipped_and_set_aside_until_it_frees(api):
    factories.add_outbound_campaign(api.session, outbound_cap=1)
    factories.add_customer_cap(api.session, "*", 3, 30)
    customers(api.session, ("CAMPAIGN-CAP", 9_900, "gold", 9), ("CUSTOMER-CAP", 9_900, "gold", 8),
              ("NOT-COUNTED", 9_900, "gold", 7))
    add_contacts(api.session, "CAMPAIGN-CAP", [2.0], channel="outbound_call", campaign_id=OUTBOUND, result="declined")
    add_contacts(api.session, "CUSTOMER-CAP", [1.0, 3.0, 5.0], channel="sms", campaign_id=None, result=None)
    # Calls that reached nobody and service contacts never count (as in the pop).
    add_contacts(api.session, "NOT-COUNTED", [1.0, 2.0], channel="outbound_call", campaign_id=OUTBOUND,
                 result="no_answer")
    add_contacts(api.session, "NOT-COUNTED", [1.0, 2.0, 3.0], channel="ivr", campaign_id=None, result=None,
                 purpose="service")
    doc = take(api)
    assert doc["customer_id"] == "NOT-COUNTED"
    held = {p.customer_id: p for p in api.session.scalars(select(OutboundProgress))}
    assert {c: p.hold_reason for c, p in held.items()} == {"CAMPAIGN-CAP": "cap", "CUSTOMER-CAP": "cap"}
    # Set aside until the cap frees: the oldest counted contact in the window plus the period.
    assert held["CAMPAIGN-CAP"].next_attempt_at == NOW - dt.timedelta(days=2) + dt.timedelta(days=30)
    assert held["CUSTOMER-CAP"].next_attempt_at == NOW - dt.timedelta(days=5) + dt.timedelta(days=30)


def test_waves_assigned_to_agents_or_teams_are_theirs_only(api):
    factories.add_outbound_campaign(api.session, agents=["agent-007"], teams=["retention-a"])
    customers(api.session, ("C1", 9_900, "gold", 0), ("C2", 9_900, "gold", 0))
    outsider = create_token(api.session, "agent-outsider")
    doc = take(api, outsider)
    assert doc["status"] == "empty" and doc["empty"]["code"] == "no_outbound_wave"
    named = take(api, outsider, campaign_id=OUTBOUND)["empty"]  # the campaign by its name, never its id
    assert "“Retention calls”" in named["message"] and "“客户挽留外呼”" in named["message_zh"], named
    assert OUTBOUND not in named["message"] + named["message_zh"]
    assert take(api)["status"] == "leased"  # agent-007 is named
    teammate = create_token(api.session, "agent-team")
    set_team(api.session, "agent-team", "retention-a")
    assert take(api, teammate)["status"] == "leased"


def test_unknown_campaign_and_bad_requests_answer_in_english_and_chinese(api):
    factories.add_outbound_campaign(api.session)
    missing = api.client.post("/v1/worklist/next", json={"campaign_id": "NOPE"}, headers=api.headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "campaign_not_found"
    assert missing.json()["error"]["message_zh"]
    bad = api.client.post("/v1/worklist/next", json={"lease_seconds": 5}, headers=api.headers())
    assert bad.status_code == 422 and bad.json()["error"]["message_zh"].startswith("请求无效")
    unknown = result(api, str(uuid.uuid4()), "busy")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "lease_not_found"
    assert "租约" in unknown.json()["error"]["message_zh"]
    wrong = api.client.post("/v1/outbound/attempts", headers=api.headers(), json={
        "attempt_id": str(uuid.uuid4()), "lease_id": str(uuid.uuid4()), "result": "hung_up",
        "called_at": dt.datetime.now(dt.UTC).isoformat()})
    assert wrong.status_code == 422 and "result" in wrong.json()["error"]["message"]
    naive = result(api, str(uuid.uuid4()), "busy", called_at="2026-12-08T10:00:00")
    assert naive.status_code in (404, 422)


def test_figures_are_for_leads(api):
    response = api.client.get("/v1/outbound/figures", headers=api.headers())
    assert response.status_code == 403 and response.json()["error"]["code"] == "lead_only"
    assert "班组长" in response.json()["error"]["message_zh"]


# ------------------------------------------------------------------ the clock: hours, expiry, retries


def test_calling_hours_in_the_campaign_time_zone(api):
    factories.add_outbound_campaign(api.session, calling_hours=["09:00-12:00", "14:00-21:00"],
                                    time_zone="Asia/Shanghai")
    customers(api.session, ("C1", 9_900, "gold", 0))
    engine, rules = api.session.get_bind(), api.client.app.state.context.rules
    day = factories.TODAY
    at = lambda hh, mm: dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=dt.UTC)  # noqa: E731
    # 05:00 UTC is 13:00 in Shanghai: the lunch break.
    lunch = next_for_agent(engine, catalog(api), rules, agent_id="agent-007", now=at(5, 0))
    assert isinstance(lunch, Empty) and lunch.code == "outside_calling_hours"
    assert lunch.next_at == at(6, 0)  # 14:00 Shanghai
    assert "09:00-12:00, 14:00-21:00 (Asia/Shanghai)" in lunch.en
    # Agents read it: the campaign by its name in each language, never its id.
    assert "Retention calls 09:00-12:00" in lunch.en and "客户挽留外呼 09:00-12:00" in lunch.zh
    assert OUTBOUND not in lunch.en + lunch.zh
    # 13:30 UTC is 21:30 in Shanghai: after hours, next opening 09:00 tomorrow (01:00 UTC).
    late = next_for_agent(engine, catalog(api), rules, agent_id="agent-007", now=at(13, 30))
    assert isinstance(late, Empty) and late.next_at == at(1, 0) + dt.timedelta(days=1)
    open_ = next_for_agent(engine, catalog(api), rules, agent_id="agent-007", now=at(6, 0))
    assert isinstance(open_, Claim) and open_.customer_id == "C1"


def test_an_expired_lease_goes_to_the_next_agent_and_its_late_result_still_counts(api):
    factories.add_outbound_campaign(api.session)
    customers(api.session, ("C1", 9_900, "gold", 0))
    engine, rules = api.session.get_bind(), api.client.app.state.context.rules
    t0 = dt.datetime.now(dt.UTC)
    first = next_for_agent(engine, catalog(api), rules, agent_id="agent-007", lease_seconds=60, now=t0)
    assert isinstance(first, Claim)
    still = next_for_agent(engine, catalog(api), rules, agent_id="agent-008", now=t0 + dt.timedelta(seconds=59))
    assert isinstance(still, Empty)
    second = next_for_agent(engine, catalog(api), rules, agent_id="agent-008", now=t0 + dt.timedelta(seconds=61))
    assert isinstance(second, Claim) and second.customer_id == "C1" and second.attempt == 1
    late = record_attempt(engine, catalog(api), AttemptIn(str(uuid.uuid4()), first.lease_id, "no_answer", t0),
                          agent_id="agent-007", now=t0 + dt.timedelta(seconds=90))
    assert late.status == "accepted" and late.attempt == 1
    # The second agent's call is the second attempt.
    done = record_attempt(engine, catalog(api), AttemptIn(str(uuid.uuid4()), second.lease_id, "busy", t0),
                          agent_id="agent-008", now=t0 + dt.timedelta(seconds=120))
    assert done.attempt == 2


def test_retry_rules_per_wave(api):
    factories.add_outbound_campaign(api.session, max_attempts=3, retry={"busy": 45, "refused_call": None})
    customers(api.session, ("C1", 9_900, "gold", 0), ("WRONG", 9_900, "gold", 0), ("BUSY", 9_900, "gold", 0),
              ("REFUSED", 9_900, "gold", 0))
    engine, rules = api.session.get_bind(), api.client.app.state.context.rules
    t = dt.datetime.now(dt.UTC)

    def call(customer_id: str, outcome_: str, when: dt.datetime):
        claim = next_for_agent(engine, catalog(api), rules, agent_id=f"agent-{customer_id}", now=when)
        assert isinstance(claim, Claim) and claim.customer_id == customer_id, (customer_id, claim)
        return record_attempt(engine, catalog(api), AttemptIn(str(uuid.uuid4()), claim.lease_id, outcome_, when),
                              agent_id=f"agent-{customer_id}", now=when)

    def due(customer_id: str, when: dt.datetime) -> bool:
        claim = next_for_agent(engine, catalog(api), rules, agent_id="probe", now=when)
        if isinstance(claim, Claim):
            release_lease(engine, claim.lease_id, agent_id="probe", reason="probe", hold_minutes=0, now=when)
            return claim.customer_id == customer_id
        return False

    # C1 first (the others wait at a lower priority). No answer: back after the default 2 h (this wave keeps
    # it), at most 3 attempts, then closed.
    for other in ("WRONG", "BUSY", "REFUSED"):
        api.session.query(CampaignMember).filter_by(customer_id=other).update({"priority": -1})
    api.session.commit()
    one = call("C1", "no_answer", t)
    assert one.attempt == 1 and one.next_attempt_at == t + dt.timedelta(minutes=120) and one.closed_reason is None
    two = call("C1", "no_answer", t + dt.timedelta(minutes=120))
    assert two.attempt == 2 and two.next_attempt_at == t + dt.timedelta(minutes=240)
    three = call("C1", "voicemail", t + dt.timedelta(minutes=240))
    assert three.attempt == 3 and three.next_attempt_at is None and three.closed_reason == "max_attempts"
    progress = api.session.get(OutboundProgress, (OUTBOUND, 2, "C1"))
    api.session.refresh(progress)
    assert progress.closed_reason == "max_attempts" and progress.attempts == 3
    # The wave's own delay for busy (45 min); refused_call is never retried here; a wrong number never is.
    busy = call("BUSY", "busy", t)
    assert busy.next_attempt_at == t + dt.timedelta(minutes=45)
    assert call("REFUSED", "refused_call", t).closed_reason == "refused_call"
    assert call("WRONG", "wrong_number", t).closed_reason == "wrong_number"
    assert not due("BUSY", t + dt.timedelta(minutes=44))
    assert due("BUSY", t + dt.timedelta(minutes=45))


def test_a_skip_is_no_attempt_and_the_customer_comes_back_after_the_hold(api):
    factories.add_outbound_campaign(api.session)
    customers(api.session, ("C1", 9_900, "gold", 0))
    doc = take(api)
    lease = doc["lease"]["lease_id"]
    done = release(api, lease, hold_minutes=60)
    assert done.status_code == 200
    state = LeaseStateView.model_validate(done.json())
    assert state.end_reason == "released" and state.next_attempt_at is not None
    assert release(api, lease, hold_minutes=60).json() == done.json()  # idempotent
    assert take(api)["status"] == "empty"  # held back for an hour
    refused = result(api, lease, "busy")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "lease_ended"
    renewed = api.client.post(f"/v1/worklist/leases/{lease}/renew", headers=api.headers())
    assert renewed.status_code == 409 and "已结束" in renewed.json()["error"]["message_zh"]
    assert api.session.scalar(select(OutboundProgress.attempts)) == 0
    assert release(api, lease, token=api.lead_token).status_code == 404  # someone else's lease


# ------------------------------------------------------------------ results and outcomes


def test_call_results_are_idempotent_and_a_lease_takes_one(api):
    factories.add_outbound_campaign(api.session)
    customers(api.session, ("C1", 9_900, "gold", 0))
    lease = take(api)["lease"]["lease_id"]
    body = {"attempt_id": str(uuid.uuid4()), "lease_id": lease, "result": "no_answer",
            "called_at": dt.datetime.now(dt.UTC).isoformat()}
    first = api.client.post("/v1/outbound/attempts", json=body, headers=api.headers())
    assert first.status_code == 200, first.text
    AttemptResult.model_validate(first.json())
    assert first.json()["status"] == "accepted" and first.json()["member"] == "due_again"
    again = api.client.post("/v1/outbound/attempts", json=body, headers=api.headers())
    assert again.json()["status"] == "duplicate" and again.json()["next_attempt_at"] == first.json()["next_attempt_at"]
    reused = api.client.post("/v1/outbound/attempts", json={**body, "result": "busy"}, headers=api.headers())
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "attempt_id_reused"
    second = result(api, lease, "busy")
    assert second.status_code == 409 and second.json()["error"]["code"] == "lease_has_result"
    history = api.session.scalars(select(ContactHistory).where(ContactHistory.customer_id == "C1")).all()
    assert [(h.channel, h.result, h.campaign_id) for h in history] == [("outbound_call", "no_answer", OUTBOUND)]


def test_an_attempt_id_used_again_for_another_lease_is_refused_and_the_lease_stays_open(api):
    factories.add_outbound_campaign(api.session)
    customers(api.session, ("C1", 9_900, "gold", 0), ("C2", 9_800, "gold", 0))
    first = take(api)["lease"]["lease_id"]
    body = {"attempt_id": str(uuid.uuid4()), "lease_id": first, "result": "busy",
            "called_at": dt.datetime.now(dt.UTC).isoformat()}
    assert api.client.post("/v1/outbound/attempts", json=body, headers=api.headers()).status_code == 200
    second = take(api)["lease"]["lease_id"]
    reused = api.client.post("/v1/outbound/attempts", json={**body, "lease_id": second}, headers=api.headers())
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "attempt_id_reused", reused.text
    assert result(api, second, "no_answer").status_code == 200  # the second lease still takes its own result


def test_the_outcome_of_a_connected_call_is_on_the_outbound_channel_and_its_cap(api):
    factories.add_outbound_campaign(api.session, outbound_cap=1)
    customers(api.session, ("C1", 9_900, "gold", 0))
    doc = take(api)
    connected = result(api, doc["lease"]["lease_id"], "connected").json()
    assert connected["member"] == "closed" and connected["closed_reason"] == "connected"
    assert connected["outcome_defaults"] == {"channel": "outbound_call", "campaign_id": OUTBOUND, "wave": 2,
                                             "call_id": doc["lease"]["call_id"]}
    pop = doc["pop"]
    wrong = outcome(pop, "accepted", "RET-DISCOUNT-20", channel="inbound_call")
    refused = api.post_outcomes([wrong]).json()["results"][0]
    assert refused["status"] == "rejected" and "outbound_call" in refused["reason"] and "外呼" in refused["reason_zh"]
    item = outcome(pop, "accepted", "RET-DISCOUNT-20")  # channel, campaign, wave and call left to the server
    assert api.post_outcomes([item]).json()["results"][0]["status"] == "accepted"
    stored = api.session.get(Outcome, item["outcome_id"])
    assert (stored.channel, stored.campaign_id, stored.wave, stored.call_id) == (
        "outbound_call", OUTBOUND, 2, doc["lease"]["call_id"])
    assert api.post_outcomes([item]).json()["results"][0]["status"] == "duplicate"  # same fingerprint again
    # The call and its outcome are one contact (one call id), on the outbound channel: the outbound cap is
    # reached (1 of 1), as the next pop of this customer shows.
    history = api.session.scalars(select(ContactHistory).where(ContactHistory.customer_id == "C1")).all()
    assert {(h.call_id, h.channel) for h in history} == {(doc["lease"]["call_id"], "outbound_call")}
    rows = [HistoryRow(h.campaign_id, h.channel, h.offer_id, h.result, h.contacted_at, h.purpose, h.topic, h.call_id)
            for h in history]
    cap = outbound_cap(catalog(api), catalog(api).campaigns[OUTBOUND], rows, dt.datetime.now(dt.UTC))
    assert (cap.used, cap.max, cap.reached) == (1, 1, True)
    caps = {c["channel"]: c for c in api.pop(customer_id="C1")["contact"]["caps"]}
    assert caps["outbound_call"]["used"] == 1


def test_an_inbound_outcome_without_a_channel_is_still_inbound(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    item = outcome(doc, "considering", "CARE-CHECKUP")
    assert api.post_outcomes([item]).json()["results"][0]["status"] == "accepted"
    assert api.session.get(Outcome, item["outcome_id"]).channel == "inbound_call"
    explicit = {**item, "channel": "inbound_call"}
    assert api.post_outcomes([explicit]).json()["results"][0]["status"] == "duplicate"


# ------------------------------------------------------------------ figures


def test_figures_match_an_independent_count(api):
    """Random call results and outcomes through the API; 接通率 and acceptance per campaign, wave and attempt
    counted here from what the test sent, not from the database."""
    import random

    rng = random.Random(16)
    factories.add_outbound_campaign(api.session, max_attempts=3)
    customers(api.session, *((f"C{n:02d}", 9_900, "gold", 0) for n in range(30)))
    engine, rules = api.session.get_bind(), api.client.app.state.context.rules
    expected: dict[tuple, list[int]] = {}
    t = dt.datetime.now(dt.UTC)
    for step in range(90):
        when = t + dt.timedelta(hours=3 * step)
        claim = next_for_agent(engine, catalog(api), rules, agent_id="agent-007", now=when)
        if isinstance(claim, Empty):
            break
        call_result = rng.choice(["connected", "no_answer", "busy", "voicemail", "connected"])
        record_attempt(engine, catalog(api), AttemptIn(str(uuid.uuid4()), claim.lease_id, call_result,
                                                       dt.datetime.now(dt.UTC)), agent_id="agent-007", now=when)
        accepted = False
        if call_result == "connected":
            with Session(engine) as session:  # the lease's pop, as the route builds it
                doc = build_pop(session, rules, catalog(api), ani=None, customer_id=claim.customer_id,
                                agent_id="agent-007", outbound=OutboundCall(OUTBOUND, 2, claim.lease_id))
            choice = rng.choice(["accepted", "declined", "accepted-retracted"])
            item = outcome(doc, choice.split("-")[0], "RET-DISCOUNT-20")
            assert api.post_outcomes([item]).json()["results"][0]["status"] == "accepted"
            if choice == "accepted-retracted":
                assert api.client.post(f"/v1/outcomes/{item['outcome_id']}/retraction",
                                       headers=api.headers()).status_code == 200
            accepted = choice == "accepted"
        for key in ((OUTBOUND, 2, claim.attempt), (OUTBOUND, 2, None), (OUTBOUND, None, None)):
            counts = expected.setdefault(key, [0, 0, 0])
            counts[0] += 1
            counts[1] += call_result == "connected"
            counts[2] += accepted
    body = api.client.get("/v1/outbound/figures", headers=api.headers(api.lead_token)).json()
    got = {(r["campaign_id"], r["wave"], r["attempt"]): r for r in body["rows"]}
    assert set(got) == set(expected)
    for key, (attempts, connected, accepted) in expected.items():
        row = got[key]
        assert (row["attempts"], row["connected"], row["accepted"]) == (attempts, connected, accepted), key
        assert row["connect_rate"] == round(connected / attempts, 4)
        assert row["acceptance_rate"] == (round(accepted / connected, 4) if connected else None)
    assert len({k[2] for k in expected if k[2]}) >= 2  # second attempts happened


# ------------------------------------------------------------------ two worker processes' view: the app


def test_two_apps_on_one_database_never_share_a_customer(migrated_engine):
    """Two app instances (as two worker processes have) alternate claims: each customer once."""
    api_a = make_api(migrated_engine)
    factories.add_outbound_campaign(api_a.session)
    customers(api_a.session, *((f"C{n}", 9_900, "gold", 0) for n in range(6)))
    tokens = [create_token(api_a.session, f"agent-{n}") for n in range(8)]
    app_b = TestClient(create_app(engine=migrated_engine, catalog_ttl_seconds=0, token_ttl_seconds=0))
    taken = []
    with api_a.client, app_b:
        for n, token in enumerate(tokens):
            client = api_a.client if n % 2 else app_b
            doc = client.post("/v1/worklist/next", headers={"Authorization": f"Bearer {token}"}).json()
            taken.append(doc["customer_id"])
    api_a.session.close()
    assert sorted(c for c in taken if c) == [f"C{n}" for n in range(6)] and taken[-2:] == [None, None]


def test_the_sample_world_has_a_running_outbound_wave_to_try_at_once(migrated_engine):
    from server_stub.seed import seed_database

    seed_database(migrated_engine, 400, 7)
    with Session(migrated_engine) as session:
        token = create_token(session, "new-user")
    with TestClient(create_app(engine=migrated_engine)) as client:
        doc = client.post("/v1/worklist/next", headers={"Authorization": f"Bearer {token}"}).json()
    WorklistNext.model_validate(doc)
    assert doc["status"] == "leased", doc  # whatever the hour: the sample wave calls at any time
    assert doc["campaign"]["campaign_id"] == "CMP_ROAMING_CARE" and doc["wave"]["channel"] == "outbound_call"
    assert doc["pop"]["contact"]["channel"] == "outbound_call"


def test_a_claim_that_read_its_candidates_before_a_result_does_not_hand_the_member_out_again(api):
    """PostgreSQL's candidates come from a snapshot that may predate another claim of the same member and
    that claim's call result: the lease insert checks again, on its own snapshot, that the member is due."""
    from server_stub.services import worklist

    factories.add_outbound_campaign(api.session)
    customers(api.session, ("C1", 9_900, "gold", 0))
    engine, rules = api.session.get_bind(), api.client.app.state.context.rules
    now = dt.datetime.now(dt.UTC)
    first = next_for_agent(engine, catalog(api), rules, agent_id="agent-a", now=now)
    record_attempt(engine, catalog(api), AttemptIn(str(uuid.uuid4()), first.lease_id, "no_answer", now),
                   agent_id="agent-a", now=now)
    wave = worklist.running_waves(catalog(api), now)[0]
    with engine.connect() as conn:  # a claim whose stale read still listed C1 as due
        inserted = worklist._claim(conn, str(uuid.uuid4()), "C1", wave, "agent-b", now, dt.timedelta(minutes=5))
        conn.commit()
    assert inserted is None


def test_a_stale_order_is_rebuilt_by_one_claim_while_the_others_keep_claiming(api, monkeypatch):
    """Sorting a long member list takes ~100 ms: after ORDER_TTL_SECONDS one claim rebuilds the order, and the
    other agents' claims are answered from the old order meanwhile instead of queueing behind the rebuild."""
    import threading

    from server_stub.services import worklist

    factories.add_outbound_campaign(api.session)
    customers(api.session, *((f"C{n}", 9_000 + n, "gold", 0) for n in range(4)))
    engine, rules, world = api.session.get_bind(), api.client.app.state.context.rules, catalog(api)
    first = next_for_agent(engine, world, rules, agent_id="agent-a")
    assert isinstance(first, Claim)
    for order in worklist._ORDERS.values():  # stale now, and too old to be kept
        order.checked -= worklist.ORDER_TTL_SECONDS
        order.built -= worklist.ORDER_MAX_AGE_SECONDS
    rebuilding, finish = threading.Event(), threading.Event()
    build = worklist._build_order

    def slow_build(*args):
        rebuilding.set()
        assert finish.wait(30)
        return build(*args)

    monkeypatch.setattr(worklist, "_build_order", slow_build)
    rebuilder = threading.Thread(target=next_for_agent, args=(engine, world, rules), kwargs={"agent_id": "agent-b"})
    rebuilder.start()
    answered: list = []
    taker = threading.Thread(target=lambda: answered.append(next_for_agent(engine, world, rules, agent_id="agent-c")))
    try:
        assert rebuilding.wait(30)
        taker.start()
        taker.join(10)
        assert answered, "a claim waited for another claim's rebuild of the order"
        assert isinstance(answered[0], Claim) and answered[0].customer_id != first.customer_id
    finally:
        finish.set()
        rebuilder.join(30)
        taker.join(30)
    assert not rebuilder.is_alive() and not taker.is_alive()


def test_an_order_is_sorted_again_only_when_its_member_list_changed(api, monkeypatch):
    """Sorting 50,000 members takes ~150 ms: after ORDER_TTL_SECONDS the member list is compared (~5 ms), and
    the order is rebuilt only when members came or went, or priorities changed."""
    from server_stub.services import worklist

    factories.add_outbound_campaign(api.session)
    customers(api.session, ("C1", 9_000, "gold", 0), ("C2", 8_000, "gold", 0))
    engine, rules, world = api.session.get_bind(), api.client.app.state.context.rules, catalog(api)
    assert next_for_agent(engine, world, rules, agent_id="agent-a").customer_id == "C1"
    builds = []
    build = worklist._build_order
    monkeypatch.setattr(worklist, "_build_order", lambda *args: builds.append(args) or build(*args))

    def age_orders() -> None:
        for order in worklist._ORDERS.values():
            order.checked -= worklist.ORDER_TTL_SECONDS

    age_orders()
    assert next_for_agent(engine, world, rules, agent_id="agent-b").customer_id == "C2"
    assert builds == []  # the same members: the order was kept
    customers(api.session, ("C3", 9_500, "gold", 5))  # a new member, first by priority
    age_orders()
    assert next_for_agent(engine, world, rules, agent_id="agent-c").customer_id == "C3"
    assert len(builds) == 1
