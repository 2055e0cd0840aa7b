"""Every role on every endpoint (issue 17, teams and roles): the cases come from the app's own routes, so a new
route without an entry in the role table (api/policy.py) or in REQUESTS here fails. Through the real app and
database (SQLite, and PostgreSQL when CALLCUE_TEST_PG_URL is set)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from server_stub.api.app import create_app
from server_stub.api.policy import POLICY, READ_ONLY_ROLES
from server_stub.services.auth import ROLE_NAMES, ROLES, create_token, set_team
from server_stub.services.teams import create_team
from tests.server import factories
from tests.server.factories import add_customer
from tests.server.test_authorisation import _route_families
from tests.server.test_pop_rules import outcome


@dataclass
class World:
    """Teams T1 (agent-007 and lead-01) and T2 (agent-201); an analyst and an administrator; customers C1-C6,
    members of a running outbound wave; an outcome agent-007 recorded on their own pop."""

    api: object
    tokens: dict[str, str]
    colleague: str  # agent-201's token (team T2)
    recorded: dict  # agent-007's stored outcome item
    agent_pop: dict  # agent-007's pop of C1
    agent_lease: str  # agent-007's open lease

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def world(api) -> World:
    session = api.session
    create_team(session, "T1", "挽留一组")
    create_team(session, "T2", "挽留二组")
    set_team(session, "agent-007", "T1")
    set_team(session, "lead-01", "T1")
    tokens = {"agent": api.token, "lead": api.lead_token,
              "analyst": create_token(session, "analyst-01", "analyst"),
              "admin": create_token(session, "admin-01", "admin")}
    colleague = create_token(session, "agent-201", team="T2")
    for n in range(1, 7):
        add_customer(session, f"C{n}", f"1380013800{n}")
    factories.add_outbound_campaign(session)
    for n in range(2, 7):
        factories.add_member(session, f"C{n}")
    doc = api.pop(customer_id="C1")
    recorded = outcome(doc, "considering", "CARE-CHECKUP")
    assert api.post_outcomes([recorded]).json()["accepted"] == 1
    lease = api.client.post("/v1/worklist/next", headers=api.headers()).json()["lease"]["lease_id"]
    return World(api, tokens, colleague, recorded, doc, lease)


def _lease(world: World, role: str) -> str:
    """A lease of the role's own if it may take one, else agent-007's (so a refused role meets a real lease)."""
    if role not in POLICY[("POST", "/v1/worklist/next")].roles:
        return world.agent_lease
    body = world.api.client.post("/v1/worklist/next", headers=world.headers(role)).json()
    assert body["status"] == "leased", body
    return body["lease"]["lease_id"]


def _attempt(world: World, role: str):
    return world.api.client.post("/v1/outbound/attempts", headers=world.headers(role), json={
        "attempt_id": str(uuid.uuid4()), "lease_id": _lease(world, role), "result": "no_answer",
        "called_at": dt.datetime.now(dt.UTC).isoformat()})


# A request per route that succeeds (200) for a role the table allows.
REQUESTS: dict[tuple[str, str], Callable[[World, str], object]] = {
    ("GET", "/v1/health"): lambda w, role: w.api.client.get("/v1/health"),
    ("GET", "/v1/me"): lambda w, role: w.api.client.get("/v1/me", headers=w.headers(role)),
    ("GET", "/v1/pop"): lambda w, role: w.api.client.get("/v1/pop", params={"customer_id": "C1"},
                                                         headers=w.headers(role)),
    ("POST", "/v1/outcomes"): lambda w, role: w.api.client.post(
        "/v1/outcomes", headers=w.headers(role),
        json={"outcomes": [outcome(w.agent_pop, "declined", "CARE-CHECKUP", agent_id="agent-007")]}),
    ("POST", "/v1/outcomes/{outcome_id}/retraction"): lambda w, role: w.api.client.post(
        f"/v1/outcomes/{w.recorded['outcome_id']}/retraction", headers=w.headers(role)),
    ("GET", "/v1/customers"): lambda w, role: w.api.client.get("/v1/customers", params={"q": "C1"},
                                                               headers=w.headers(role)),
    ("GET", "/v1/offers"): lambda w, role: w.api.client.get("/v1/offers", headers=w.headers(role)),
    ("GET", "/v1/campaigns"): lambda w, role: w.api.client.get("/v1/campaigns", headers=w.headers(role)),
    ("POST", "/v1/worklist/next"): lambda w, role: w.api.client.post("/v1/worklist/next", headers=w.headers(role)),
    ("GET", "/v1/worklist/next"): lambda w, role: w.api.client.get("/v1/worklist/next", headers=w.headers(role)),
    ("POST", "/v1/worklist/leases/{lease_id}/renew"): lambda w, role: w.api.client.post(
        f"/v1/worklist/leases/{_lease(w, role)}/renew", headers=w.headers(role)),
    ("POST", "/v1/worklist/leases/{lease_id}/release"): lambda w, role: w.api.client.post(
        f"/v1/worklist/leases/{_lease(w, role)}/release", headers=w.headers(role),
        json={"reason": "asked to be called later", "hold_minutes": 0}),
    ("POST", "/v1/outbound/attempts"): _attempt,
    ("GET", "/v1/outbound/campaigns"): lambda w, role: w.api.client.get("/v1/outbound/campaigns",
                                                                        headers=w.headers(role)),
    ("GET", "/v1/outbound/figures"): lambda w, role: w.api.client.get("/v1/outbound/figures", headers=w.headers(role)),
}

WRITTEN_TABLES = ("decisions", "outcomes", "contact_history", "outbound_leases", "outbound_attempts",
                  "outbound_progress", "offer_stats", "dnd_numbers")


def _snapshot(api) -> dict[str, list]:
    api.session.expire_all()
    with api.session.get_bind().connect() as conn:
        return {table: sorted(map(repr, conn.execute(text(f"SELECT * FROM {table}")).all()))
                for table in WRITTEN_TABLES}


def test_every_route_of_the_app_is_in_the_role_table_and_in_these_tests(api):
    routes = set(_route_families(api.client.app.routes))
    assert routes == set(POLICY), "a route without a role rule (api/policy.py), or a rule without a route"
    assert routes == set(REQUESTS), "a route this test does not try: add a request to REQUESTS"
    for key, rule in POLICY.items():
        assert not (rule.writes and READ_ONLY_ROLES & set(rule.roles)), key


@pytest.mark.parametrize("role", ROLES)
def test_each_role_on_each_route(world, role):
    refused_writes_before = _snapshot(world.api)
    wrote = False
    for (method, path) in sorted(_route_families(world.api.client.app.routes)):
        rule = POLICY[(method, path)]
        response = REQUESTS[(method, path)](world, role)
        if rule.public or role in rule.roles:
            assert response.status_code == 200, (role, method, path, response.text)
            wrote = wrote or rule.writes
            continue
        assert response.status_code == 403, (role, method, path, response.text)
        error = response.json()["error"]
        assert error["code"] == rule.refusal, (role, method, path)
        assert f"{ROLE_NAMES[role][0]}'s" in error["message"], error
        assert ROLE_NAMES[role][1] in error["message_zh"] and "仅供" in error["message_zh"], error
    if role in READ_ONLY_ROLES or not wrote:  # an analyst (or an administrator) changed nothing over HTTP
        assert _snapshot(world.api) == refused_writes_before


def test_without_a_token_every_route_but_health_says_sign_in(world):
    for (method, path) in _route_families(world.api.client.app.routes):
        concrete = path.replace("{outcome_id}", str(uuid.uuid4())).replace("{lease_id}", str(uuid.uuid4()))
        response = world.api.client.request(method, concrete)
        if POLICY[(method, path)].public:
            assert response.status_code == 200
        else:
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["message_zh"].startswith("请登录")


def test_a_route_missing_from_the_table_refuses_everyone(world, monkeypatch):
    from server_stub.api import deps

    trimmed = {key: rule for key, rule in POLICY.items() if key != ("GET", "/v1/offers")}
    monkeypatch.setattr(deps, "POLICY", trimmed)
    response = world.api.client.get("/v1/offers", headers=world.headers("lead"))
    assert response.status_code == 403 and response.json()["error"]["code"] == "no_role_rule"
    assert world.api.client.get("/v1/campaigns", headers=world.headers("lead")).status_code == 200


# ------------------------------------------------------------------ a lead's teams


def test_a_lead_records_and_retracts_for_their_teams_agents_only(world):
    api = world.api
    theirs = api.client.get("/v1/pop", params={"customer_id": "C2"}, headers={
        "Authorization": f"Bearer {world.colleague}"}).json()  # agent-201 (T2)'s pop
    other_team = outcome(theirs, "accepted", "ADDON-DATA-20G", agent_id="agent-201")
    own_team = outcome(world.agent_pop, "accepted", "ADDON-DATA-20G", agent_id="agent-007")
    body = api.post_outcomes([other_team, own_team], token=api.lead_token).json()
    assert [r["status"] for r in body["results"]] == ["rejected", "accepted"]
    refused = body["results"][0]
    assert "not an agent of a team you lead (T1)" in refused["reason"]
    assert "不是您所领导班组（T1）的坐席" in refused["reason_zh"]
    # agent-201's own outcome: the lead of T1 cannot retract it (answered as an unknown outcome), T2's agent can.
    mine = outcome(theirs, "declined", "CARE-CHECKUP")
    assert api.post_outcomes([mine], token=world.colleague).json()["accepted"] == 1
    path = f"/v1/outcomes/{mine['outcome_id']}/retraction"
    assert api.client.post(path, headers=api.headers(api.lead_token)).status_code == 404
    assert api.client.post(f"/v1/outcomes/{world.recorded['outcome_id']}/retraction",
                           headers=api.headers(api.lead_token)).status_code == 200  # agent-007: T1
    assert api.client.post(path, headers=api.headers(world.colleague)).status_code == 200


def test_a_lead_reads_the_figures_of_their_teams_an_analyst_everyones(world):
    api = world.api
    for token in (api.token, world.colleague):  # one call each: agent-007 (T1), agent-201 (T2)
        lease = api.client.post("/v1/worklist/next", headers=api.headers(token)).json()["lease"]["lease_id"]
        assert api.client.post("/v1/outbound/attempts", headers=api.headers(token), json={
            "attempt_id": str(uuid.uuid4()), "lease_id": lease, "result": "connected",
            "called_at": dt.datetime.now(dt.UTC).isoformat()}).status_code == 200

    def attempts(token: str) -> int:
        rows = api.client.get("/v1/outbound/figures", headers=api.headers(token)).json()["rows"]
        return sum(r["attempts"] for r in rows if r["wave"] is None)

    assert attempts(api.lead_token) == 1  # T1's call only
    assert attempts(world.tokens["analyst"]) == 2
    # Made lead of T2 as well: both calls, from the next request (the cached token follows the change).
    app = create_app(engine=api.session.get_bind(), catalog_ttl_seconds=0, token_ttl_seconds=60)
    with TestClient(app) as warm:
        def figures(token: str):
            return warm.get("/v1/outbound/figures", headers=api.headers(token))

        assert sum(r["attempts"] for r in figures(api.lead_token).json()["rows"] if r["wave"] is None) == 1
        from server_stub.services.teams import set_lead

        assert set_lead(api.session, "T2", "lead-01")
        assert sum(r["attempts"] for r in figures(api.lead_token).json()["rows"] if r["wave"] is None) == 2
        # Moved into T2 (which they lead anyway), the lead leaves T1 behind, from the next request too.
        assert set_team(api.session, "lead-01", "T2") == ("T1", "T2")
        assert warm.get("/v1/me", headers=api.headers(api.lead_token)).json()["teams"] == ["T2"]
        assert sum(r["attempts"] for r in figures(api.lead_token).json()["rows"] if r["wave"] is None) == 1


def test_a_lead_in_no_team_leads_the_agents_in_no_team_only(world):
    api = world.api
    session = api.session
    create_token(session, "lead-99", "lead")
    loner = create_token(session, "agent-99")
    set_team(session, "lead-01", None)  # lead-01 in no team now: leads agent-99 (no team), not agent-007 (T1)
    pop = api.client.get("/v1/pop", params={"customer_id": "C3"}, headers=api.headers(loner)).json()
    body = api.post_outcomes([outcome(pop, "declined", "CARE-CHECKUP", agent_id="agent-99"),
                              outcome(world.agent_pop, "declined", "CARE-CHECKUP", agent_id="agent-007")],
                             token=api.lead_token).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected"]
    assert "(no team)" in body["results"][1]["reason"] and "（无班组）" in body["results"][1]["reason_zh"]
