"""Who may answer which pop, the time window of an outcome, replayed outcome ids and wrong secrets (issue 14:
points 9, 12 and 18), through the real API on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server_stub.api.app import create_app
from server_stub.db.models import ContactHistory, Outcome
from server_stub.services.auth import create_token
from tests.server import factories
from tests.server.factories import add_customer
from tests.server.test_pop_rules import outcome


@pytest.fixture
def colleague(api) -> str:
    """A second agent's token (agent-008)."""
    return create_token(api.session, "agent-008")


def pop_as(api, token: str, **params) -> dict:
    response = api.client.get("/v1/pop", params=params, headers=api.headers(token))
    assert response.status_code == 200, response.text
    return response.json()


def stored(api, **where) -> list[Outcome]:
    api.session.expire_all()
    statement = select(Outcome).order_by(Outcome.received_at, Outcome.outcome_id)
    for name, value in where.items():
        statement = statement.where(getattr(Outcome, name) == value)
    return list(api.session.scalars(statement))


def history_count(api) -> int:
    api.session.expire_all()
    return api.session.scalar(select(func.count()).select_from(ContactHistory))


# ------------------------------------------------------------------ point 9: the decision is the agent's own


def test_an_outcome_on_another_agents_pop_is_refused_and_says_nothing_of_its_customer(api, colleague):
    add_customer(api.session, "C1", "13800138000")
    add_customer(api.session, "C2", "13900139000")
    mine = api.pop(customer_id="C1")  # agent-007's pop
    theirs = outcome(mine, "accepted", "ADDON-DATA-20G")
    wrong_customer = outcome(mine, "accepted", "ADDON-DATA-20G", customer_id="C2")
    unknown_customer = outcome(mine, "accepted", "ADDON-DATA-20G", customer_id="NOPE")
    body = api.post_outcomes([theirs, wrong_customer, unknown_customer], token=colleague).json()
    assert (body["accepted"], body["rejected"]) == (0, 3)
    first = body["results"][0]
    assert "another agent's pop" in first["reason"] and "'agent-008'" in first["reason"]
    assert "另一位坐席" in first["reason_zh"]
    assert "agent-007" not in first["reason"] + first["reason_zh"]  # whose pop it was is not told
    # The same answer whatever customer the item names: no oracle of the decision's customer.
    assert [(r["reason"], r["reason_zh"]) for r in body["results"]] == [(first["reason"], first["reason_zh"])] * 3
    assert stored(api) == [] and history_count(api) == 0
    # The agent who was shown the pop answers it.
    assert api.post_outcomes([theirs]).json()["accepted"] == 1
    assert [o.agent_id for o in stored(api)] == ["agent-007"]


def test_a_lead_answers_an_agents_pop_for_that_agent_only(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")  # agent-007's pop
    as_lead = outcome(doc, "considering", "CARE-CHECKUP")  # no agent_id: recorded for the lead
    result = api.post_outcomes([as_lead], token=api.lead_token).json()["results"][0]
    assert result["status"] == "rejected" and "another agent's pop" in result["reason"]
    for_agent = outcome(doc, "considering", "CARE-CHECKUP", agent_id="agent-007")
    assert api.post_outcomes([for_agent], token=api.lead_token).json()["accepted"] == 1
    # The agent's own outbox sending the same outcome later is a duplicate, not a second outcome.
    again = {k: v for k, v in for_agent.items() if k != "agent_id"}
    assert api.post_outcomes([again]).json()["duplicate"] == 1
    assert [(o.agent_id, o.result) for o in stored(api)] == [("agent-007", "considering")]


def test_a_transferred_call_is_answered_on_each_agents_own_pop(api, colleague):
    """Transfers today: the colleague's panel pops the call itself (its own decision); the agent who handed
    it over may still record on theirs (wrap-up). Each is accepted; crossing them is refused."""
    add_customer(api.session, "C1", "13800138000")
    before = api.pop(ani="13800138000")
    after = pop_as(api, colleague, ani="13800138000")
    handed_over = outcome(before, "not_offered", reason="transferred to billing")
    taken = outcome(after, "accepted", "ADDON-DATA-20G")
    assert api.post_outcomes([handed_over]).json()["accepted"] == 1
    assert api.post_outcomes([taken], token=colleague).json()["accepted"] == 1
    crossed = api.post_outcomes([outcome(after, "declined", "CARE-CHECKUP")]).json()["results"][0]
    assert crossed["status"] == "rejected" and "transferred call pops again" in crossed["reason"]
    assert sorted((o.agent_id, o.decision_id) for o in stored(api)) == [
        ("agent-007", before["decision_id"]), ("agent-008", after["decision_id"])]


# ------------------------------------------------------------------ point 12: times within a sane window


BAD_TIMES = ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+08:00", "1900-01-01T00:00:00+00:00",
             "1970-01-01T00:00:00+00:00"]


def test_recorded_at_must_be_within_30_days_back_and_a_few_minutes_ahead(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    now = dt.datetime.now(dt.UTC)
    old = [*BAD_TIMES, (now - dt.timedelta(days=30, minutes=5)).isoformat()]
    items = [outcome(doc, "considering", "CARE-CHECKUP", recorded_at=when) for when in old]
    items.append(outcome(doc, "considering", "CARE-CHECKUP", recorded_at=(now + dt.timedelta(hours=2)).isoformat()))
    body = api.post_outcomes(items).json()
    assert body["rejected"] == len(items) and stored(api) == []
    for result, when in zip(body["results"][:-1], old, strict=True):
        assert result["reason"].startswith(f"recorded_at {when[:10]}"), result
        assert "more than 30 days before the server's time" in result["reason"]
        assert result["reason_zh"].startswith("recorded_at（记录时间）") and "早 30 天以上" in result["reason_zh"]
    assert "recorded_at is in the future" in body["results"][-1]["reason"]
    assert "recorded_at" in body["results"][-1]["reason_zh"]
    inside = [outcome(doc, "considering", "CARE-CHECKUP", recorded_at=(now - dt.timedelta(days=29)).isoformat()),
              outcome(doc, "considering", "CARE-CHECKUP", recorded_at=(now + dt.timedelta(minutes=5)).isoformat())]
    assert api.post_outcomes(inside).json()["accepted"] == 2


def test_callback_at_must_be_within_30_days_back_and_a_year_ahead(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    now = dt.datetime.now(dt.UTC)
    far = (now + dt.timedelta(days=367)).isoformat()
    old = [*BAD_TIMES, (now - dt.timedelta(days=31)).isoformat()]
    items = [outcome(doc, "callback", "CARE-CHECKUP", callback_at=when) for when in [*old, "9999-12-31T23:00:00-05:00"]]
    body = api.post_outcomes(items).json()
    assert body["rejected"] == len(items) and stored(api) == []
    for result, when in zip(body["results"][:-1], old, strict=True):
        assert result["reason"].startswith(f"callback_at {when[:10]}") and "30 days before" in result["reason"]
        assert result["reason_zh"].startswith("callback_at（回拨时间）")
    assert body["results"][-1]["reason"].startswith("callback_at 9999-12-31 23:00-05:00")
    assert "more than a year after" in body["results"][-1]["reason"]
    assert "晚一年以上" in body["results"][-1]["reason_zh"]
    beyond = api.post_outcomes([outcome(doc, "callback", "CARE-CHECKUP", callback_at=far)]).json()["results"][0]
    assert beyond["status"] == "rejected" and beyond["reason"].startswith(f"callback_at {far[:10]}")
    inside = [outcome(doc, "callback", "CARE-CHECKUP", callback_at=(now + dt.timedelta(days=364)).isoformat()),
              outcome(doc, "callback", "CARE-CHECKUP", callback_at=(now - dt.timedelta(hours=3)).isoformat())]
    assert api.post_outcomes(inside).json()["accepted"] == 2


# ------------------------------------------------------------------ point 12: another agent's outcome_id


def answers(body: dict) -> list[tuple]:
    """What an answer says about each item, but for the echoed id."""
    return [(r["index"], r["status"], r["reason"], r["reason_zh"]) for r in body["results"]]


def test_replaying_another_agents_outcome_id_is_answered_as_a_fresh_id_would_be(api, colleague):
    add_customer(api.session, "C1", "13800138000")
    add_customer(api.session, "C2", "13900139000")
    original = outcome(api.pop(customer_id="C1"), "accepted", "ADDON-DATA-20G")
    assert api.post_outcomes([original]).json()["accepted"] == 1
    theirs = pop_as(api, colleague, customer_id="C2")
    fresh_id = str(uuid.uuid4())

    def pair(result: str, offer: str) -> tuple[dict, dict]:
        item = outcome(theirs, result, offer)
        return {**item, "outcome_id": original["outcome_id"]}, {**item, "outcome_id": fresh_id}

    recorded_at = dt.datetime.now(dt.UTC).isoformat()
    # Sent, re-sent, then re-sent with other content: the replayed id gets the fresh id's answers each time.
    for replay_item, fresh_item in (pair("declined", "CARE-CHECKUP"), pair("declined", "CARE-CHECKUP"),
                                    pair("considering", "CARE-CHECKUP")):
        replay_item["recorded_at"] = fresh_item["recorded_at"] = recorded_at
        replay_answer = api.post_outcomes([replay_item], token=colleague).json()
        fresh_answer = api.post_outcomes([fresh_item], token=colleague).json()
        assert answers(replay_answer) == answers(fresh_answer)
        assert replay_answer["results"][0]["outcome_id"] == original["outcome_id"]  # the client's id echoed
    assert [r[1] for r in answers(replay_answer)] == ["rejected"]
    # agent-007's outcome is untouched; agent-008's two outcomes are stored (one under an id of its own).
    mine = stored(api, agent_id="agent-007")
    assert [(o.outcome_id, o.customer_id, o.result, o.offer_id) for o in mine] == [
        (original["outcome_id"], "C1", "accepted", "ADDON-DATA-20G")]
    colleagues = stored(api, agent_id="agent-008")
    assert len(colleagues) == 2 and {o.customer_id for o in colleagues} == {"C2"}
    assert fresh_id in {o.outcome_id for o in colleagues}
    assert original["outcome_id"] not in {o.outcome_id for o in colleagues}
    # Each stored outcome is one contact of its own customer; the original's owner still gets "duplicate".
    api.session.expire_all()
    assert sorted(api.session.scalars(select(ContactHistory.customer_id))) == ["C1", "C2", "C2"]
    assert api.post_outcomes([original]).json()["duplicate"] == 1


def test_a_replayed_id_in_a_batch_with_others_is_answered_like_them(api, colleague):
    add_customer(api.session, "C1", "13800138000")
    add_customer(api.session, "C2", "13900139000")
    original = outcome(api.pop(customer_id="C1"), "accepted", "ADDON-DATA-20G")
    api.post_outcomes([original])
    theirs = pop_as(api, colleague, customer_id="C2")
    batch = [outcome(theirs, "considering", "CARE-CHECKUP"),
             {**outcome(theirs, "considering", "CARE-CHECKUP"), "outcome_id": original["outcome_id"]},
             outcome(theirs, "accepted", "ADDON-DATA-20G")]
    body = api.post_outcomes(batch, token=colleague).json()
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3
    again = api.post_outcomes(batch, token=colleague).json()
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
    assert [r["outcome_id"] for r in again["results"]] == [item["outcome_id"] for item in batch]
    assert len(stored(api, agent_id="agent-008")) == 3


# ------------------------------------------------------------------ point 18: a wrong secret for a known id


def _route_families(routes, prefix: str = ""):
    """(method, path) of every API route, also inside included routers (as tests/fuzz lists them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield from ((m, prefix + route.path) for m in route.methods if m not in ("HEAD", "OPTIONS"))
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and hasattr(inner, "routes"):
            context = getattr(route, "include_context", None)
            yield from _route_families(inner.routes,
                                       prefix + (getattr(context, "prefix", "") or getattr(route, "path", "")))


def test_a_wrong_secret_for_a_known_token_id_is_refused_on_every_route(api):
    """Token ids are not secret (they name the row); the secret after them must match. Checked on every
    authenticated route, with the token cache on and warm (a cache keyed by the id alone would let a wrong
    secret in), for a changed, shortened, lengthened and borrowed secret."""
    add_customer(api.session, "C1", "13800138000")
    other = create_token(api.session, "agent-009")
    prefix, token_id, secret = api.token.split("_", 2)
    wrong_secrets = {
        "last character changed": secret[:-1] + ("A" if secret[-1] != "A" else "B"),
        "shortened": secret[:-1],
        "lengthened": secret + "x",
        "another token's secret": other.split("_", 2)[2],
        "the token id again": token_id,
    }
    doc = api.pop(customer_id="C1")
    item = outcome(doc, "considering", "CARE-CHECKUP")
    factories.add_outbound_campaign(api.session)
    factories.add_member(api.session, "C1")
    right = api.headers()

    def lease(client, headers) -> str:
        body = client.post("/v1/worklist/next", headers=headers).json()
        return body["lease"]["lease_id"] if body.get("lease") else str(uuid.uuid4())

    def attempt(client, headers):
        return client.post("/v1/outbound/attempts", headers=headers, json={
            "attempt_id": str(uuid.uuid4()), "lease_id": lease(client, right), "result": "no_answer",
            "called_at": dt.datetime.now(dt.UTC).isoformat()})

    requests = {
        ("GET", "/v1/me"): lambda c, h: c.get("/v1/me", headers=h),
        ("GET", "/v1/pop"): lambda c, h: c.get("/v1/pop", params={"customer_id": "C1"}, headers=h),
        ("POST", "/v1/outcomes"): lambda c, h: c.post("/v1/outcomes", json={"outcomes": [item]}, headers=h),
        ("POST", "/v1/outcomes/{outcome_id}/retraction"):
            lambda c, h: c.post(f"/v1/outcomes/{item['outcome_id']}/retraction", headers=h),
        ("GET", "/v1/customers"): lambda c, h: c.get("/v1/customers", params={"q": "C1"}, headers=h),
        ("GET", "/v1/offers"): lambda c, h: c.get("/v1/offers", headers=h),
        ("GET", "/v1/campaigns"): lambda c, h: c.get("/v1/campaigns", headers=h),
        ("POST", "/v1/worklist/next"): lambda c, h: c.post("/v1/worklist/next", headers=h),
        ("GET", "/v1/worklist/next"): lambda c, h: c.get("/v1/worklist/next", headers=h),
        ("POST", "/v1/worklist/leases/{lease_id}/renew"):
            lambda c, h: c.post(f"/v1/worklist/leases/{lease(c, right)}/renew", headers=h),
        ("POST", "/v1/worklist/leases/{lease_id}/release"):
            lambda c, h: c.post(f"/v1/worklist/leases/{lease(c, right)}/release", headers=h,
                                json={"reason": "test", "hold_minutes": 0}),
        ("POST", "/v1/outbound/attempts"): attempt,
        ("GET", "/v1/outbound/campaigns"): lambda c, h: c.get("/v1/outbound/campaigns", headers=h),
        ("GET", "/v1/outbound/figures"):
            lambda c, h: c.get("/v1/outbound/figures", headers=api.headers(api.lead_token) if h == right else h),
    }
    app = create_app(engine=api.session.get_bind(), catalog_ttl_seconds=0, token_ttl_seconds=60)
    assert set(_route_families(app.routes)) - {("GET", "/v1/health")} == set(requests), "a route is not covered"
    with TestClient(app) as client:
        for (method, path), send in requests.items():
            assert send(client, api.headers()).status_code == 200, (method, path)  # the cache now holds the token
            for kind, wrong in wrong_secrets.items():
                response = send(client, api.headers(f"{prefix}_{token_id}_{wrong}"))
                assert response.status_code == 401, (method, path, kind, response.text)
                error = response.json()["error"]
                assert error["code"] == "invalid_token" and "wrong" in error["message"], (path, kind)
                assert response.headers["www-authenticate"] == "Bearer"
    # The refused outcome posts stored nothing: only the one sent with the right secret is there.
    assert [o.outcome_id for o in stored(api)] == [item["outcome_id"]]
