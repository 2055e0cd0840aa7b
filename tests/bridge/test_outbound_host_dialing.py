"""A host application dials the panel's outbound calls (issue 16): `dial.requested` to bridge hosts that sent
`dialer.register` (and to SDK hosts subscribed to `dial_requested`), the host's call events follow the outbound
call, a host that never asked sees nothing new; with nobody to dial the agent and the host are told (zh_CN/en)
and nothing is lost. Against the real panel, the real bridge and the real server on loopback."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from desktop.calls.dialer import UriDialer
from desktop.domain.outbound import CallResult
from desktop.services.outbound import Phase
from plugin_sdk import PanelConfig, embed_panel
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import OutboundAttempt, Outcome
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.bridge.conftest import panel_with_host, validate
from tests.gui.conftest import LiveServer, make_app
from tests.gui.test_outbound_mode import rows
from tests.sdk.conftest import host_window  # noqa: F401 - fixture
from tests.server import factories

# campaign -> (customer id, msisdn): each test works its own campaign (an agent holds one customer at a time).
CAMPAIGNS = {"CMP-HOST": ("HD-1", "13600137001"), "CMP-NOHOST": ("HD-2", "13600137002"),
             "CMP-SDK": ("HD-3", "13600137003"), "CMP-ZH": ("HD-4", "13600137004")}
AGENTS = {"CMP-HOST": "agent-host", "CMP-NOHOST": "agent-nohost", "CMP-SDK": "agent-sdk", "CMP-ZH": "agent-zh"}
TEMPLATE = "sip:{number}@pbx.example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("outbound-host")
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        for campaign_id, (customer_id, msisdn) in CAMPAIGNS.items():
            factories.add_outbound_campaign(session, campaign_id, offers=("RET-DISCOUNT-20",), max_attempts=3,
                                            retry={"no_answer": 120, "busy": 30})
            factories.add_customer(session, customer_id, msisdn, name="赵敏", campaign=False, churn_risk=0.7)
            factories.add_member(session, customer_id, campaign_id, priority=5)
        # An agent holds one customer at a time: each test is its own agent.
        tokens = {campaign_id: create_token(session, AGENTS[campaign_id]) for campaign_id in CAMPAIGNS}
    engine.dispose()
    with live_server(url, directory / "logs", token_cache_seconds=0) as running:
        server = LiveServer(running.base_url, "", url)
        server.tokens = tokens
        yield server


def as_agent(server, campaign_id: str) -> dict:
    """make_app's arguments for the agent who works `campaign_id`."""
    return {"token": server.tokens[campaign_id], "agent.id": AGENTS[campaign_id]}


@pytest.fixture
def bridged(qapp, qtbot, tmp_path, server, memory_keyring, request):
    """The desktop app (no softphone connector: it would dial tel: URIs through the system) with its bridge;
    `run(fn, …)` calls a blocking host function on a thread while the GUI thread keeps serving."""
    param = dict(getattr(request, "param", {}))
    agent = as_agent(server, param.pop("campaign"))
    config = {"connectors.host_dial_template": TEMPLATE, "agent.id": agent["agent.id"], **param}
    with panel_with_host(qapp, qtbot, tmp_path, server.base_url, agent["token"], workers=2, **config) as bridged:
        yield bridged


def preview(qtbot, run, client, app, campaign_id: str) -> dict:
    app.panel.outbound_service.campaign_id = campaign_id
    reply = validate(run(client.outbound_next))
    assert reply["accepted"] and reply["outbound"]["phase"] == "preview", reply
    return reply["outbound"]


@pytest.mark.parametrize("bridged", [{"campaign": "CMP-HOST"}], indirect=True)
def test_a_registered_host_is_asked_to_dial_and_its_call_events_drive_the_outbound_call(qtbot, bridged, server):
    app, client, run = bridged
    outbound = app.panel.outbound
    opened: list[str] = []
    # The system's tel: handler (what the app chose without a connector) must not be used while a host dials.
    outbound.dialer = UriDialer(lambda uri: opened.append(uri) or True)
    plain = run(client.subscribe)  # a v1 host that never asked
    dialer = run(client.subscribe, dialer=True)
    try:
        assert validate(dialer.dialer) == {"v": 1, "type": "dialer.result", "dials": True, "dialers": 1}
        assert "dial.requested" in dialer.hello["events"] and "dialer.register" in dialer.hello["commands"]
        previewed = preview(qtbot, run, client, app, "CMP-HOST")
        reply = validate(run(client.outbound_dial))
        assert reply["accepted"] and reply["outbound"]["phase"] == "dialing" and reply["code"] is None
        event = validate(run(dialer.next_event, 5))
        assert event["type"] == "dial.requested"
        data = event["data"]
        call_id = previewed["lease"]["lease_id"]
        assert data["number"] == "sip:13600137001@pbx.example.com" and data["masked_number"] == "136****7001"
        assert data["call_id"] == f"outbound:{call_id}" and data["lease"]["lease_id"] == call_id
        assert (data["customer_id"], data["campaign_id"], data["wave"]["channel"], data["attempt"]) == (
            "HD-1", "CMP-HOST", "outbound_call", 1)
        assert opened == []
        # The host's softphone reports the call under the id it was given: the outbound window's, no tab.
        for state, extra in (("ringing", {"ani": "13600137001"}), ("answered", {}),
                             ("ended", {"end_reason": "200 OK"})):
            result = run(client.send_call, data["call_id"], state, **extra)
            assert (result.result, result.reason) == ("outbound", state), result
        assert app.router.calls() == [] and not app.window.has_calls()
        state = outbound.service.state()
        assert state.phase is Phase.RESULT and state.suggested is CallResult.CONNECTED
        assert state.call_id == data["call_id"]
        assert validate(run(client.outbound_result, "connected"))["outbound"]["phase"] == "wrap_up"
        saved = validate(run(client.record_outcome, data["call_id"], "accepted", offer_id="RET-DISCOUNT-20"))
        assert saved["accepted"] and saved["channel"] == "outbound_call"
        # A host that never registered gets no dial.requested and sees no gap in seq.
        seen = []
        while not seen or seen[-1]["type"] != "outcome.recorded":
            seen.append(validate(run(plain.next_event, 5)))
        assert "dial.requested" not in [e["type"] for e in seen]
        seqs = [e["seq"] for e in seen]
        first = plain.hello["seq"] + 1  # the seq after the last event published before it connected
        assert seqs == list(range(first, first + len(seqs))), seqs
        assert seen[-1]["data"]["call_id"] == data["call_id"]
        qtbot.waitUntil(lambda: [(a.customer_id, a.result, a.call_id) for a in rows(server, OutboundAttempt)
                                 if a.customer_id == "HD-1"] == [("HD-1", "connected", data["call_id"])],
                        timeout=30000)  # sent after the outcome's undo hold (8 s), on a loaded machine too
    finally:
        plain.close()
        dialer.close()


@pytest.mark.parametrize("bridged", [{"campaign": "CMP-NOHOST", "outbound.dialer": "host"}], indirect=True)
def test_with_no_host_that_dials_nothing_is_dialed_and_everyone_is_told(qtbot, bridged, server):
    app, client, run = bridged
    outbound = app.panel.outbound
    preview(qtbot, run, client, app, "CMP-NOHOST")
    with run(client.subscribe):  # a host is connected, but it does not dial
        refused = validate(run(client.outbound_dial))
        assert not refused["accepted"] and refused["code"] == "no_dialing_host"
        assert refused["detail"] == "no host application that dials is connected"
        assert "没有为坐席助手拨号的应用在线" in refused["detail_zh"]
        assert refused["outbound"]["phase"] == "preview" and refused["outbound"]["call"] is None
    # The agent's key: told in the panel's language; the customer stays previewed and held.
    outbound.set_mode(True)
    qtbot.waitUntil(lambda: not outbound._busy)
    outbound.dial()
    assert "No application that dials for CallCue is connected" in outbound.window.view.notice.text()
    assert outbound.service.state().phase is Phase.PREVIEW
    # A host registers: the same key now asks it to dial (outbound.dialer = host: never the system's handler).
    with run(client.subscribe, dialer=True) as dialer:
        outbound.dial()
        event = validate(run(dialer.next_event, 5))
        assert event["type"] == "dial.requested" and event["data"]["customer_id"] == "HD-2"
        assert outbound.service.state().phase is Phase.DIALING
        withdrawn = run(dialer.register_dialer, False)
        assert validate(withdrawn)["dials"] is False and withdrawn["dialers"] == 0


def test_an_sdk_host_that_subscribes_dials_and_its_call_events_follow_the_call(qtbot, tmp_path, host_window,  # noqa: F811
                                                                              server, memory_keyring):
    config = PanelConfig(server_url=server.base_url, agent_id=AGENTS["CMP-SDK"], language="en", theme="light",
                         store_path=tmp_path / "sdk.sqlite3")
    handle = embed_panel(host_window, config, credentials=lambda: server.tokens["CMP-SDK"])
    try:
        outbound = handle._session.outbound
        handle._session.outbound_service.campaign_id = "CMP-SDK"
        requested: list[dict] = []
        assert not outbound.host_dialer.available()
        unsubscribe = handle.subscribe("dial_requested", requested.append)
        assert outbound.host_dialer.available()
        replies: list[dict] = []
        handle.outbound_next(replies.append)
        qtbot.waitUntil(lambda: len(replies) == 1, timeout=5000)
        assert replies[0]["outbound"]["customer_id"] == "HD-3", replies[0]
        handle.outbound_dial(replies.append)
        qtbot.waitUntil(lambda: len(replies) == 2, timeout=5000)
        assert replies[1]["accepted"] and [r["number"] for r in requested] == ["13600137003"]
        validate({"v": 1, "type": "dial.requested", "seq": 0, "at": "2026-11-02T01:31:00Z", "data": requested[0]})
        assert requested[0]["call_id"].startswith("outbound:")
        # The softphone reports the call under its own id: recognised by the number while dialing.
        ringing = handle.call_event("softphone-77", "ringing", ani="+86 136 0013 7003")
        assert (ringing.result, ringing.reason) == ("outbound", "ringing") and handle.calls() == []
        ended = handle.call_event("softphone-77", "ended", end_reason="486 Busy Here")
        assert ended.result == "outbound"
        state = outbound.service.state()
        assert state.phase is Phase.RESULT and state.suggested is CallResult.BUSY
        other = handle.call_event("in-9", "ringing", ani="13800138000")  # any other call pops as always
        assert other.result == "popped"
        unsubscribe()
        assert not outbound.host_dialer.available()
    finally:
        handle.close()


def test_outbound_refusals_reach_hosts_and_the_agent_in_chinese(qapp, qtbot, tmp_path, server, memory_keyring):
    agent = as_agent(server, "CMP-ZH")
    app = make_app(qapp, tmp_path, server.base_url, agent["token"], language="zh_CN", **{"agent.id": agent["agent.id"]})
    app.start(show=True)
    try:
        outbound = app.panel.outbound
        app.panel.outbound_service.campaign_id = "CMP-ZH"
        outbound.set_mode(True)
        qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.PREVIEW and not outbound._busy, timeout=5000)
        outbound.finish()  # "Done" before the call has a result
        assert outbound.window.view.notice.text() == "该通话还没有结果：请先记录通话情况。"
        answer = outbound.bridge_command("outbound.result", {"result": "busy"})
        reply = answer.result(timeout=0)
        assert reply == {"accepted": False, "detail": "no outbound call to record a result for (phase preview)",
                         "detail_zh": "没有可记录结果的外呼通话。（当前阶段：preview）", "code": "no_call"}
        refused: list = []
        outbound.record_outcome("RET-DISCOUNT-20", "accepted", {}, then=refused.append)
        assert outbound.refusal_reply(refused[0])["detail_zh"].startswith("接通的通话记录结果后")
    finally:
        app.close()
    assert not rows(server, Outcome, customer_id="HD-4")
