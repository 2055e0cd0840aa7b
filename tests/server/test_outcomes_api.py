"""POST /v1/outcomes, auth, search and bad input."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

from sqlalchemy import func, select

from server_stub.db.models import ContactHistory, Outcome
from server_stub.services.auth import revoke_tokens
from tests.server.factories import add_customer
from tests.server.test_pop_rules import outcome


def count_outcomes(api) -> int:
    api.session.expire_all()
    return api.session.scalar(select(func.count()).select_from(Outcome))


def test_health_is_open_and_everything_else_needs_a_token(api):
    health = api.client.get("/v1/health")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    for path in ("/v1/pop?ani=13800138000", "/v1/offers", "/v1/campaigns", "/v1/customers?q=1"):
        missing = api.client.get(path)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "missing_token"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = api.client.get(path, headers={"Authorization": "Bearer cc_0123456789abcdef_nope"})
        assert wrong.status_code == 401 and "wrong" in wrong.json()["error"]["message"]
        garbage = api.client.get(path, headers={"Authorization": "Bearer hello"})
        assert garbage.status_code == 401 and "cc_" in garbage.json()["error"]["message"]


def test_revoked_token_is_refused(api):
    assert api.get("/v1/offers").status_code == 200
    revoke_tokens(api.session, "agent-007")
    response = api.get("/v1/offers")
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_batch_is_idempotent_and_one_bad_item_never_fails_the_batch(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    good = [outcome(doc, "accepted", "ADDON-DATA-20G"), outcome(doc, "considering", "CARE-CHECKUP")]
    bad = [
        outcome(doc, "accepted", "NO-SUCH-OFFER"),
        outcome(doc, "declined", "ADDON-DATA-20G", decision_id="never-issued"),
        outcome(doc, "callback", "CARE-CHECKUP"),  # no callback_at
        {**outcome(doc, "accepted", "CARE-CHECKUP"), "surprise": 1},
        {**outcome(doc, "accepted", "CARE-CHECKUP"), "recorded_at": "yesterday"},
        "not an object",
        outcome(doc, "not_offered"),  # no reason
        outcome(doc, "accepted", "CARE-CHECKUP", recorded_at="2026-01-01T10:00:00"),  # no time zone
    ]
    response = api.post_outcomes(good + bad)
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, len(bad))
    reasons = [r["reason"] for r in body["results"] if r["status"] == "rejected"]
    assert "unknown offer_id 'NO-SUCH-OFFER'" in reasons[0]
    assert "never issued" in reasons[1]
    assert "callback_at" in reasons[2]
    assert "surprise" in reasons[3]
    assert "recorded_at" in reasons[4]
    assert "JSON object" in reasons[5]
    assert "reason" in reasons[6]
    assert "time zone" in reasons[7]
    assert [r["index"] for r in body["results"]] == list(range(len(good) + len(bad)))

    again = api.post_outcomes(good).json()
    assert (again["accepted"], again["duplicate"]) == (0, 2)
    assert count_outcomes(api) == 2
    api.session.expire_all()
    assert api.session.scalar(select(func.count()).select_from(ContactHistory)) == 2

    reused = {**good[0], "result": "declined"}
    result = api.post_outcomes([reused]).json()["results"][0]
    assert result["status"] == "rejected" and "different outcome" in result["reason"]


def test_outcome_must_answer_its_own_decision(api):
    add_customer(api.session, "C1", "13800138000")
    add_customer(api.session, "C2", "13900139000", campaign=False)
    first, second = api.pop(customer_id="C1"), api.pop(customer_id="C2")
    crossed = outcome(second, "accepted", "ADDON-DATA-20G", customer_id="C1")
    not_shown = outcome(second, "accepted", "CAMP-FAMILY-PLAN")  # C2 is not in the campaign
    unknown_customer = outcome(first, "accepted", "ADDON-DATA-20G", customer_id="NOPE")
    results = api.post_outcomes([crossed, not_shown, unknown_customer]).json()["results"]
    assert "another customer" in results[0]["reason"]
    assert "not part of decision" in results[1]["reason"]
    # Compared with the decision's customer first: an outcome is no oracle of which customer ids exist.
    assert results[2]["reason"] == results[0]["reason"]
    assert results[2]["reason_zh"] == "decision_id 属于另一位客户"


def test_agents_record_only_for_themselves_leads_for_anyone(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")  # agent-007's pop
    as_other = outcome(doc, "accepted", "CARE-CHECKUP", agent_id="someone-else")
    result = api.post_outcomes([as_other]).json()["results"][0]
    assert result["status"] == "rejected" and "signed-in agent" in result["reason"]
    # A lead records for anyone, on the pop that agent was shown (e.g. delivering a rescued outbox).
    for_agent = outcome(doc, "accepted", "CARE-CHECKUP", agent_id="agent-007")
    assert api.post_outcomes([for_agent], token=api.lead_token).json()["accepted"] == 1
    result = api.post_outcomes([as_other], token=api.lead_token).json()["results"][0]
    assert result["status"] == "rejected" and "another agent's pop" in result["reason"]


def test_same_outcome_sent_by_two_clients_at_once_is_stored_once(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    items = [outcome(doc, "considering", "CARE-CHECKUP") for _ in range(20)]
    statuses: list[list[str]] = []
    barrier = threading.Barrier(4)

    def send():
        barrier.wait()
        statuses.append([r["status"] for r in api.post_outcomes(items).json()["results"]])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == 4
    for i in range(20):
        column = [s[i] for s in statuses]
        assert sorted(column) == ["accepted", "duplicate", "duplicate", "duplicate"], column
    assert count_outcomes(api) == 20


def test_bad_bodies_get_specific_errors_and_lose_nothing(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    api.post_outcomes([outcome(doc, "accepted", "CARE-CHECKUP")])
    headers = {**api.headers(), "Content-Type": "application/json"}
    malformed = api.client.post("/v1/outcomes", content=b'{"outcomes": [', headers=headers)
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    wrong_type = api.client.post("/v1/outcomes", json={"outcomes": "lots"}, headers=api.headers())
    assert wrong_type.status_code == 422 and wrong_type.json()["error"]["details"][0]["field"] == "body.outcomes"
    unknown = api.client.post("/v1/outcomes", json={"outcomes": [], "extra": 1}, headers=api.headers())
    assert unknown.status_code == 422
    assert {d["field"] for d in unknown.json()["error"]["details"]} >= {"body.extra"}
    huge = json.dumps({"outcomes": [{"note": "x" * 2_000_000}]}).encode()
    too_big = api.client.post("/v1/outcomes", content=huge, headers=headers)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "body_too_large"
    bad_limit = api.get("/v1/customers", q="x", limit=1000)
    assert bad_limit.status_code == 422 and "query.limit" in bad_limit.json()["error"]["message"]
    assert api.client.get("/v2/pop").json()["error"]["code"] == "not_found"
    nul = api.post_outcomes([outcome(doc, "accepted", "CARE-CHECKUP", customer_id="C\x001")]).json()
    assert nul["rejected"] == 1 and "NUL" in nul["results"][0]["reason"]
    assert api.get("/v1/pop", customer_id="C\x001").status_code == 422
    assert api.get("/v1/customers", q="\x00").status_code == 422
    assert count_outcomes(api) == 1
    assert api.get("/v1/health").status_code == 200


def test_search_by_number_name_and_id(api):
    add_customer(api.session, "C100", "13800138000", name="王芳")
    add_customer(api.session, "C101", "13900139000", name="王磊")
    add_customer(api.session, "C200", "13700137000", name="刘洋")
    by_number = api.get("/v1/customers", q="1380013").json()["items"]
    assert [c["customer_id"] for c in by_number] == ["C100"]
    assert by_number[0]["msisdns"] == ["13800138000"]
    by_name = api.get("/v1/customers", q="王").json()["items"]
    assert {c["customer_id"] for c in by_name} == {"C100", "C101"}
    by_id = api.get("/v1/customers", q="C200").json()["items"]
    assert by_id[0]["display_name"] == "刘洋"
    assert api.get("/v1/customers", q="王", limit=1).json()["items"].__len__() == 1
    assert api.get("/v1/customers", q="%").json()["items"] == []


def test_catalog_endpoints(api):
    offers = api.get("/v1/offers").json()["items"]
    assert {o["category"] for o in offers} >= {"plan", "care", "retention", "payment"}
    family = next(o for o in offers if o["offer_id"] == "CAMP-FAMILY-PLAN")
    assert family["campaign_ids"] == ["CMP-FAMILY"]
    campaigns = api.get("/v1/campaigns").json()["items"]
    assert campaigns[0]["current_wave"] == 2 and len(campaigns[0]["waves"]) == 3


def test_recorded_at_far_in_the_future_is_rejected(api):
    add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    result = api.post_outcomes([outcome(doc, "accepted", "CARE-CHECKUP", recorded_at=future)]).json()
    assert result["rejected"] == 1 and "clock" in result["results"][0]["reason"]
    assert uuid.UUID(result["results"][0]["outcome_id"])


def test_token_cache_trusts_a_verified_token_only_for_its_ttl():
    from server_stub.services.auth import Principal, TokenCache

    principal = Principal("a-1", "agent")
    cache = TokenCache(ttl_seconds=60)
    assert cache.get("cc_x_y") is None
    cache.put("cc_x_y", principal)
    assert cache.get("cc_x_y") == principal
    assert cache.get("cc_x_z") is None
    expired = TokenCache(ttl_seconds=0)
    expired.put("cc_x_y", principal)
    assert expired.get("cc_x_y") is None
