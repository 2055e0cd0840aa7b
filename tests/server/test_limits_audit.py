"""Per-token rate limits on pop and search, and the access audit (issue 14, point 11), on SQLite and
PostgreSQL. The limiter's own behaviour runs on a fake clock; the API on the real app."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from server_stub.api.app import create_app
from server_stub.cli import CliError, _rate_limits, build_parser, main
from server_stub.db.models import CustomerAccess, Decision
from server_stub.logging_setup import JsonFormatter
from server_stub.services.auth import create_token
from server_stub.services.limits import ENV, Limit, RateLimiter, RateLimits
from tests.server.factories import add_customer, add_number


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(limiter: RateLimiter, clock: Clock, route: str, times: list[float], token: str = "t1") -> list[bool]:
    """Requests at these seconds from the start; True where allowed."""
    start, allowed = clock.now, []
    for at in times:
        clock.now = start + at
        allowed.append(limiter.take(route, token, "agent-1") is None)
    return allowed


# ------------------------------------------------------------------ the limiter


def test_default_limits_never_slow_a_real_agent_but_stop_a_dump():
    clock = Clock()
    limiter = RateLimiter(RateLimits(), clock=clock)
    # A shift: a queue floods (50 calls answered one a second), then a call every 15 s for 8 hours with
    # another flood of 40 each hour.
    day = [float(i) for i in range(50)]
    t = 50.0
    for _hour in range(8):
        day += [t + i for i in range(40)]
        t += 40
        day += [t + 15 * i for i in range(1, 240)]
        t += 15 * 240
    assert all(run(limiter, clock, "pop", day)), "the default pop limit refused a real agent"
    # Searches: 25 at once (a caller who cannot give their number, a colleague's list), then one every 10 s.
    searches = [float(i) for i in range(25)] + [25.0 + 10 * i for i in range(1, 360)]
    assert all(run(limiter, clock, "search", searches, token="t2"))
    # A dump: 512 pops a second for 10 minutes gets the burst and the refill only.
    dump = [i / 512 for i in range(512 * 600)]
    allowed = sum(run(limiter, clock, "pop", dump, token="t3"))
    assert allowed <= RateLimits().pop.burst + 10 * RateLimits().pop.per_minute + 1, allowed
    assert sum(run(limiter, clock, "search", [i / 50 for i in range(50 * 600)], token="t4")) <= 30 + 100 + 1


def test_a_bucket_refills_and_says_how_long_to_wait():
    clock = Clock()
    limiter = RateLimiter(RateLimits(pop=Limit(6, 3)), clock=clock)  # one every 10 s, 3 at once
    assert [limiter.take("pop", "t", "a") for _ in range(3)] == [None, None, None]
    assert limiter.take("pop", "t", "a") == pytest.approx(10.0)
    assert limiter.take("pop", "other-token", "a") is None  # per token
    clock.now += 4
    assert limiter.take("pop", "t", "a") == pytest.approx(6.0)
    clock.now += 6
    assert limiter.take("pop", "t", "a") is None
    clock.now += 3600  # refills up to the burst, no further
    assert [limiter.take("pop", "t", "a") is None for _ in range(4)] == [True, True, True, False]
    assert RateLimiter(RateLimits.off(), clock=clock).take("pop", "t", "a") is None


def test_exceeding_a_limit_logs_one_alert_a_minute_without_personal_data(caplog):
    clock = Clock()
    limiter = RateLimiter(RateLimits(search=Limit(6, 2)), clock=clock)
    caplog.set_level(logging.WARNING, logger="callcue.server.limits")
    run(limiter, clock, "search", [i * 0.5 for i in range(20)], token="0123456789abcdef")  # 10 s of 2/s
    alerts = [r for r in caplog.records if r.name == "callcue.server.limits"]
    assert len(alerts) == 1
    first = json.loads(JsonFormatter().format(alerts[0]))
    assert {k: first[k] for k in ("msg", "event", "route", "agent_id", "token_id", "limit_per_minute", "burst",
                                  "refused")} == {
        "msg": "rate limit exceeded", "event": "rate_limited", "route": "search", "agent_id": "agent-1",
        "token_id": "0123456789abcdef", "limit_per_minute": 6, "burst": 2, "refused": 1}
    clock.now += 60
    assert limiter.take("search", "0123456789abcdef", "agent-1") is None  # refilled
    limiter.take("search", "0123456789abcdef", "agent-1")
    limiter.take("search", "0123456789abcdef", "agent-1")
    alerts = [r for r in caplog.records if r.name == "callcue.server.limits"]
    # Every refusal since the first alert: 17 more in those 10 s, and this one.
    assert len(alerts) == 2 and alerts[1].refused == 17 + 1


def test_limits_come_from_options_then_environment_then_defaults(monkeypatch):
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    parse = build_parser().parse_args
    assert _rate_limits(parse(["serve"])) == RateLimits()
    monkeypatch.setenv("CALLCUE_SERVER_POP_PER_MINUTE", "120")
    monkeypatch.setenv("CALLCUE_SERVER_SEARCH_BURST", "5")
    assert _rate_limits(parse(["serve"])) == RateLimits(pop=Limit(120, 60), search=Limit(10, 5))
    limits = _rate_limits(parse(["serve", "--pop-per-minute", "0", "--search-burst", "9"]))
    assert not limits.pop.enabled and limits.search == Limit(10, 9)
    assert RateLimits.from_environment(limits.environment()) == limits  # what worker processes read
    monkeypatch.setenv("CALLCUE_SERVER_POP_BURST", "lots")
    with pytest.raises(CliError, match="CALLCUE_SERVER_POP_BURST='lots' is not a number"):
        _rate_limits(parse(["serve"]))
    monkeypatch.setenv("CALLCUE_SERVER_POP_BURST", "0")
    with pytest.raises(CliError, match="burst must be at least 1"):
        _rate_limits(parse(["serve"]))
    monkeypatch.delenv("CALLCUE_SERVER_POP_BURST")
    with pytest.raises(CliError, match="0 \\(off\\) or a positive number"):
        _rate_limits(parse(["serve", "--search-per-minute", "-1", "--pop-burst", "3"]))


# ------------------------------------------------------------------ the API


@pytest.fixture
def limited(api):
    """The test app's data with small limits: pop 6 a minute in bursts of 3, search 6 a minute in bursts of 2."""
    app = create_app(engine=api.session.get_bind(), catalog_ttl_seconds=0, token_ttl_seconds=0,
                     rate_limits=RateLimits(pop=Limit(6, 3), search=Limit(6, 2)))
    with TestClient(app) as client:
        yield client


def count(api, model) -> int:
    api.session.expire_all()
    return api.session.scalar(select(func.count()).select_from(model))


def formatted_logs(caplog) -> str:
    """What the server logged (not the test client's own httpx lines), as server.log would hold it."""
    return "\n".join(JsonFormatter().format(r) for r in caplog.records if r.name.startswith("callcue.server"))


def test_a_token_over_its_limit_gets_429_in_both_languages_and_reads_nothing(api, limited, caplog):
    caplog.set_level(logging.INFO)
    add_customer(api.session, "C1", "13800138000", name="王芳")
    headers = api.headers()
    assert limited.get("/v1/pop", params={"customer_id": "C1"}, headers=headers).status_code == 200
    assert limited.get("/v1/pop", params={"ani": "13800138000"}, headers=headers).status_code == 200
    assert limited.get("/v1/pop", params={"ani": "13999999999"}, headers=headers).status_code == 404  # counts too
    decisions, reads = count(api, Decision), count(api, CustomerAccess)
    refused = limited.get("/v1/pop", params={"customer_id": "C1"}, headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert "at most 6 a minute (bursts of 3)" in error["message"] and "Try again in" in error["message"]
    assert "每分钟最多 6 次" in error["message_zh"] and "秒后重试" in error["message_zh"]
    assert (count(api, Decision), count(api, CustomerAccess)) == (decisions, reads)  # nothing read or written
    # Every token has its own bucket (another of this agent's too); the catalogue and outcomes are not limited.
    assert limited.get("/v1/pop", params={"customer_id": "C1"}, headers=api.headers(api.lead_token)).status_code == 200
    second = create_token(api.session, "agent-007")
    assert limited.get("/v1/pop", params={"customer_id": "C1"}, headers=api.headers(second)).status_code == 200
    assert limited.get("/v1/offers", headers=headers).status_code == 200
    # Search: its own, smaller bucket.
    assert [limited.get("/v1/customers", params={"q": "王"}, headers=headers).status_code
            for _ in range(3)] == [200, 200, 429]
    alerts = [r for r in caplog.records if r.name == "callcue.server.limits"]
    assert [(r.route, r.agent_id, r.token_id) for r in alerts] == [
        ("pop", "agent-007", api.token.split("_")[1]), ("search", "agent-007", api.token.split("_")[1])]
    logs = formatted_logs(caplog)
    assert '"status": 429' in logs and '"event": "rate_limited"' in logs
    for private in ("C1", "13800138000", "王芳", "13999999999", api.token.split("_", 2)[2]):
        assert private not in logs


def test_every_customer_read_is_audited_and_only_an_admin_command_shows_it(api, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    add_customer(api.session, "C1", "13800138000", name="王芳")
    add_customer(api.session, "C2", "13900139000", name="王磊")
    add_customer(api.session, "C3", "13700137000", name="刘洋")
    add_number(api.session, "13700137000", "C2")  # C2 and C3 share a number
    token_id, lead_token_id = api.token.split("_")[1], api.lead_token.split("_")[1]
    doc = api.pop(customer_id="C1")
    assert api.get("/v1/pop", ani="13700137000").status_code == 409
    assert api.get("/v1/pop", ani="13999999999").status_code == 404
    assert [c["customer_id"] for c in api.get("/v1/customers", q="王").json()["items"]] == ["C1", "C2"]
    lead = api.client.get("/v1/pop", params={"customer_id": "C3"}, headers=api.headers(api.lead_token)).json()
    api.session.expire_all()
    rows = [(r.agent_id, r.token_id, r.route, r.customer_id, r.decision_id) for r in api.session.scalars(
        select(CustomerAccess).order_by(CustomerAccess.access_id))]
    assert rows == [
        ("agent-007", token_id, "pop", "C1", doc["decision_id"]),
        ("agent-007", token_id, "pop_ambiguous", "C2", None),
        ("agent-007", token_id, "pop_ambiguous", "C3", None),
        ("agent-007", token_id, "search", "C1", None),
        ("agent-007", token_id, "search", "C2", None),
        ("lead-01", lead_token_id, "pop", "C3", lead["decision_id"]),
    ]
    api.session.expire_all()
    times = api.session.scalars(select(CustomerAccess.at)).all()
    assert all(abs(dt.datetime.now(dt.UTC) - at) < dt.timedelta(minutes=5) for at in times)
    # Nothing of it in the plain logs.
    logs = formatted_logs(caplog)
    assert logs.count('"logger": "callcue.server.access"') == 5  # the requests are logged, not whom they read
    for private in ("C1", "C2", "C3", "王芳", "13700137000", doc["decision_id"]):
        assert private not in logs

    url = api.session.get_bind().url.render_as_string(hide_password=False)

    def audit(*args: str) -> list[dict]:
        assert main(["audit", "access", *args, "--json", "--database-url", url]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    everything = audit()
    newest = everything[0]
    assert (newest["agent_id"], newest["route"], newest["customer_id"]) == ("lead-01", "pop", "C3")
    assert len(everything) == 6
    assert [r["customer_id"] for r in audit("--agent", "agent-007", "--route", "search")] == ["C2", "C1"]
    assert {r["agent_id"] for r in audit("--customer", "C3")} == {"agent-007", "lead-01"}
    assert audit("--since", (dt.date.today() + dt.timedelta(days=2)).isoformat()) == []
    assert len(audit("--until", (dt.date.today() + dt.timedelta(days=2)).isoformat(), "--limit", "4")) == 4
    assert main(["audit", "access", "--since", "2026-12-01T09:00", "--database-url", url]) == 2
    assert "needs a zone" in capsys.readouterr().err
    assert main(["audit", "access", "--database-url", url]) == 0
    table = capsys.readouterr()
    assert "\tagent-007\tpop\tC1\t" in table.out and "6 row(s)" in table.err
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert main(["audit", "prune", "--before", tomorrow, "--database-url", url]) == 0
    assert "deleted 6 access audit row(s)" in capsys.readouterr().out
    assert count(api, CustomerAccess) == 0
