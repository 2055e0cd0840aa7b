"""Outbound calls through real baresip (issue 16), end to end: the real panel (CallCueApp, its baresip
connector from the configuration) takes the next customer from the real server on loopback, dials through
the baresip connector (dial template sip:{number}@127.0.0.1:PORT), a second baresip registered as that
customer's number answers by itself (answermode=auto), the outbound window shows the connected call, the call
result and an offer outcome are recorded and the server has them with channel outbound_call, the campaign
and wave, and the attempt counted. A second customer's baresip rejects the call: the softphone's end reason
suggests busy / refused, and the server schedules the retry by the wave's rule.

Skipped when baresip is not installed here; under CI=true that is a failure instead.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from desktop.calls.baresip import BaresipConnector
from desktop.calls.connector_base import Backoff
from desktop.domain.outbound import CallResult, Phase
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import OutboundAttempt, OutboundProgress, Outcome
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.connectors.baresip_agents import free_ports, start_agent
from tests.connectors.conftest import Recorder
from tests.connectors.test_baresip_real import _require_baresip
from tests.gui.conftest import LiveServer, make_app
from tests.gui.test_outbound_mode import rows
from tests.server import factories

pytestmark = pytest.mark.timeout(120)

CAMPAIGN = "CMP-SIP"
ANSWERS, REJECTS = ("OS-1", "13600137001", 9), ("OS-2", "13600137002", 1)
RETRY = {"no_answer": 120, "busy": 30, "voicemail": 240, "refused_call": 1440}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("outbound-sip")
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_outbound_campaign(session, CAMPAIGN, offers=("RET-DISCOUNT-20",), max_attempts=3, retry=RETRY)
        for customer_id, msisdn, priority in (ANSWERS, REJECTS):
            factories.add_customer(session, customer_id, msisdn, name="吴磊", campaign=False, churn_risk=0.7)
            factories.add_member(session, customer_id, CAMPAIGN, priority=priority, reason="合约到期前挽留")
        token = create_token(session, "agent-007")
    engine.dispose()
    with live_server(url, directory / "logs", token_cache_seconds=0) as running:
        yield LiveServer(running.base_url, token, url)


@pytest.fixture
def phones(tmp_path):
    """The agent's baresip, the answering customer's (answermode=auto) and the rejecting customer's."""
    _require_baresip()
    sips = free_ports(3, span=2)
    taken = {p + d for p in sips for d in (0, 1)}
    ctrls = free_ports(3, taken=taken)
    started = []
    try:
        started.append(start_agent(tmp_path / "agent", "agent", "agent", sips[0], ctrls[0]))
        started.append(start_agent(tmp_path / "answers", "answers", ANSWERS[1], sips[1], ctrls[1],
                                   account_params=";answermode=auto"))
        started.append(start_agent(tmp_path / "rejects", "rejects", REJECTS[1], sips[2], ctrls[2]))
        yield tuple(started)
    finally:
        for agent in reversed(started):
            agent.stop()
        for agent in started:
            assert agent.process.poll() is not None, f"baresip {agent.name} is still running"


def test_outbound_calls_through_real_baresip(qapp, qtbot, tmp_path, server, memory_keyring, phones):
    agent, answers, rejects = phones
    qtbot.waitUntil(lambda: agent.ready and answers.ready and rejects.ready, timeout=10_000)
    app = make_app(qapp, tmp_path / "panel", server.base_url, server.token, **{
        "connectors.baresip": f"127.0.0.1:{agent.ctrl_port}",
        "connectors.baresip_dial_template": f"sip:{{number}}@127.0.0.1:{answers.sip_port}"})
    app.panel.outbound_service.campaign_id = CAMPAIGN
    rejecter = Recorder()
    on_rejects = BaresipConnector("127.0.0.1", rejects.ctrl_port, rejecter.on_event, rejecter.on_status,
                                  backoff=Backoff(0.05, 0.5), pop_outgoing=False)
    app.start(show=True)
    try:
        on_rejects.start()
        outbound = app.panel.outbound
        connector = app.connectors.connectors[0]
        qtbot.waitUntil(lambda: app.connectors.statuses().get("baresip") is not None
                        and app.connectors.statuses()["baresip"].state == "connected", timeout=10_000)
        rejecter.wait_for(lambda r: r.states("connected"), 10, "the rejecting customer's ctrl_tcp")

        # 1. The customer answers: connected, offer outcome, all on the server with the outbound channel.
        outbound.set_mode(True)
        qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.PREVIEW and not outbound._busy, timeout=5000)
        first = outbound.service.state().previewed
        assert first.customer_id == ANSWERS[0]
        outbound.dial()
        qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.TALKING, timeout=10_000)
        view = outbound.window.view
        assert "Connected." in view.status.text() and app.router.calls() == []  # no inbound pop of our own call
        assert connector.send_command("hangup").result(5).ok  # the agent hangs up
        qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.RESULT, timeout=5000)
        assert outbound.service.state().suggested is CallResult.CONNECTED
        view.request_result("connected")
        qtbot.waitUntil(lambda: outbound.service.state().prepared is not None and not outbound._busy, timeout=10_000)
        view.outcome_bar.request("accepted")
        qtbot.waitUntil(lambda: len(rows(server, Outcome, customer_id=ANSWERS[0])) == 1, timeout=10_000)
        outcome = rows(server, Outcome, customer_id=ANSWERS[0])[0]
        attempt = rows(server, OutboundAttempt, customer_id=ANSWERS[0])[0]
        assert (outcome.channel, outcome.campaign_id, outcome.wave, outcome.result) == (
            "outbound_call", CAMPAIGN, 2, "accepted")
        assert (attempt.result, attempt.attempt, attempt.campaign_id, attempt.wave) == ("connected", 1, CAMPAIGN, 2)
        assert attempt.call_id.startswith("baresip:") and outcome.call_id == attempt.call_id
        assert rows(server, OutboundProgress, customer_id=ANSWERS[0])[0].attempts == 1

        # 2. The next customer's phone rejects the call: the softphone's reason suggests the result.
        outbound.finish()
        assert outbound.service.state().previewed.customer_id == REJECTS[0]
        outbound.dialer.template = f"sip:{{number}}@127.0.0.1:{rejects.sip_port}"
        outbound.dial()
        # The call rings at the customer's phone (its log says so: the agent's URI pops nothing there).
        qtbot.waitUntil(lambda: "ncoming call" in rejects.log, timeout=10_000)
        assert on_rejects.send_command("hangup").result(5).ok  # the customer rejects it
        qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.RESULT, timeout=10_000)
        suggested = outbound.service.state().suggested
        assert suggested in (CallResult.BUSY, CallResult.REFUSED_CALL), outbound.service.state()
        assert view.result_buttons[suggested.value].isDefault()
        print(f"real baresip: the rejected call suggested {suggested.value}")
        called = outbound.service.state().called_at
        view.request_result(suggested.value)
        qtbot.waitUntil(lambda: len(rows(server, OutboundAttempt, customer_id=REJECTS[0])) == 1, timeout=10_000)
        progress = rows(server, OutboundProgress, customer_id=REJECTS[0])[0]
        assert (progress.attempts, progress.last_result, progress.closed_at) == (1, suggested.value, None)
        wait = dt.timedelta(minutes=RETRY[suggested.value])
        assert wait - dt.timedelta(minutes=1) <= progress.next_attempt_at - called <= wait + dt.timedelta(minutes=1)
        qtbot.waitUntil(lambda: not outbound._busy)
    finally:
        on_rejects.stop()
        app.close()
