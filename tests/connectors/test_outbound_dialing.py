"""Outbound dialing (issue 16), Qt-free: dial templates, the dialers over baresip's ctrl_tcp and the system's
tel:/sip: handler, and the call result a softphone's end reason suggests."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from desktop.calls.baresip import BaresipResponse, parse_frame
from desktop.calls.dialer import BaresipDialer, DialFailed, UriDialer
from desktop.calls.events import parse_call_event
from desktop.domain.outbound import CallResult, dial_target, suggested_result


def test_a_plain_number_goes_as_it_is_and_a_template_rewrites_it():
    assert dial_target(" 13600136001 ", None) == "13600136001"
    assert dial_target("13600136001", "sip:{number}@pbx.example.com") == "sip:13600136001@pbx.example.com"
    with pytest.raises(ValueError):
        dial_target("13600136001", "sip:pbx.example.com")


@pytest.mark.parametrize(("reason", "answered", "expected"), [
    ("486 Busy Here", False, CallResult.BUSY),
    ("SIP 600 Busy Everywhere", False, CallResult.BUSY),
    ("603 Decline", False, CallResult.REFUSED_CALL),
    ("480 Temporarily Unavailable", False, CallResult.NO_ANSWER),
    ("408 Request Timeout", False, CallResult.NO_ANSWER),
    ("404 Not Found", False, CallResult.INVALID_NUMBER),
    ("Q.850 cause 17", False, CallResult.BUSY),
    ("Q.850 cause 19", False, CallResult.NO_ANSWER),
    ("Q.850 cause 21", False, CallResult.REFUSED_CALL),
    ("Q.850 cause 1", False, CallResult.INVALID_NUMBER),
    ("Q.850 cause 16", False, None),
    ("Connection reset by user", False, None),
    (None, False, None),
    ("486 Busy Here", True, CallResult.CONNECTED),
])
def test_the_softphone_end_reason_suggests_the_call_result(reason, answered, expected):
    assert suggested_result(reason, answered=answered) is expected


def test_baresip_call_closed_carries_its_reason_and_a_v1_event_stays_as_it_was():
    frame = (b'{"event":true,"type":"CALL_CLOSED","id":"c1","direction":"outgoing",'
             b'"peeruri":"sip:13600136001@127.0.0.1","param":"486 Busy Here"}')
    event = parse_frame(frame)
    assert event.state == "ended" and event.end_reason == "486 Busy Here" and event.ani == "13600136001"
    assert event.as_dict()["end_reason"] == "486 Busy Here"
    assert parse_call_event(event.as_dict()).end_reason == "486 Busy Here"
    plain = parse_call_event({"call_id": "x", "state": "ended"})
    assert plain.end_reason is None and "end_reason" not in plain.as_dict()  # additive: v1 payloads unchanged


class FakeBaresip:
    def __init__(self, answer: BaresipResponse | BaseException | None) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str]] = []

    def send_command(self, command: str, params: str = "") -> Future:
        self.sent.append((command, params))
        future: Future = Future()
        if isinstance(self.answer, BaseException):
            future.set_exception(self.answer)
        elif self.answer is not None:
            future.set_result(self.answer)
        return future


def test_baresip_dialer_sends_dial_with_the_template_and_reports_refusals():
    baresip = FakeBaresip(BaresipResponse(ok=True, data="", token="t"))
    assert BaresipDialer(baresip, "sip:{number}@127.0.0.1:5070").dial("13600136001") == "sip:13600136001@127.0.0.1:5070"
    assert baresip.sent == [("dial", "sip:13600136001@127.0.0.1:5070")]
    with pytest.raises(DialFailed, match="refused") as refused:
        BaresipDialer(FakeBaresip(BaresipResponse(ok=False, data="no account", token="t"))).dial("13600136001")
    assert refused.value.user_error.code == "dial_failed"
    with pytest.raises(DialFailed, match="not connected"):
        BaresipDialer(FakeBaresip(ConnectionError("down"))).dial("13600136001")
    with pytest.raises(DialFailed, match="in time"):
        BaresipDialer(FakeBaresip(None), timeout_s=0.01).dial("13600136001")


def test_uri_dialer_hands_a_tel_uri_to_the_system():
    opened: list[str] = []
    assert UriDialer(lambda uri: opened.append(uri) or True, None).dial("13600136001") == "tel:13600136001"
    assert opened == ["tel:13600136001"]
    with pytest.raises(DialFailed, match="no application"):
        UriDialer(lambda uri: False).dial("13600136001")
    with pytest.raises(DialFailed, match="URI"):
        UriDialer(lambda uri: True, "{number}").dial("13600136001")


def _transcript_events(name: str) -> list:
    """The PBX's events of a hand-written transcript (tests/connectors/transcripts), as AmiMessages."""
    from pathlib import Path

    from desktop.calls.ami import AmiMessage

    blocks, current = [], []
    for line in (Path(__file__).parent / "transcripts" / name).read_text().splitlines():
        if ": " in line and not line.startswith("#"):
            key, value = line.split(": ", 1)
            current.append((key, value))
        elif current:
            blocks.append(current)
            current = []
    return [AmiMessage(tuple(block)) for block in blocks if block[0][0] == "Event"]


def test_asterisk_hangup_cause_of_an_unanswered_outgoing_call_suggests_busy():
    from desktop.calls.ami import AmiCallTracker, AmiMessage

    tracker = AmiCallTracker(devices=["PJSIP/1001"])
    events = []
    messages = [m for m in _transcript_events("outbound_call.txt") if m.event not in ("DialEnd", "Newstate")]
    hangups = [m for m in messages if m.event == "Hangup"]
    # The customer's leg (the carrier's channel) ends first with "user busy" (Q.850 17), then the agent's
    # phone hangs up normally (16): the customer's reason is the one that counts.
    carrier = next(m for m in hangups if "carrier" in m.get("Channel"))
    agent = next(m for m in hangups if m is not carrier)
    ordered = [m for m in messages if m.event != "Hangup"] + [
        AmiMessage(tuple((k, "17" if k == "Cause" else v) for k, v in carrier.fields)),
        AmiMessage(tuple((k, "16" if k == "Cause" else v) for k, v in agent.fields))]
    for message in ordered:
        events += tracker.handle(message)
    ended = [e for e in events if e.state == "ended"]
    assert len(ended) == 1 and ended[0].end_reason == "Q.850 cause 17"
    assert suggested_result(ended[0].end_reason, answered=False) is CallResult.BUSY


def test_asterisk_originate_rings_the_agents_phone_then_the_customer():
    from desktop.calls.ami import AmiConnector
    from desktop.calls.connector_base import Backoff
    from desktop.calls.dialer import AmiDialer
    from tests.connectors.conftest import Recorder
    from tests.connectors.fake_ami import ScriptedAmiServer

    recorder = Recorder()
    with ScriptedAmiServer(["originate.txt"]) as server:
        connector = AmiConnector("127.0.0.1", server.port, "callcue", "s3cret", recorder.on_event, recorder.on_status,
                                 devices=["PJSIP/1001"], backoff=Backoff(0.05, 0.2, jitter=0.1), keepalive_s=60.0)
        with pytest.raises(DialFailed, match="cannot dial now"):
            AmiDialer(connector, "PJSIP/1001").dial("13600136001")  # not started: nothing to send it on
        connector.start()
        try:
            recorder.wait_for(lambda r: r.states("connected"), 5, "the AMI login")
            dialer = AmiDialer(connector, "PJSIP/1001", "outbound-calls", "9{number}")
            assert dialer.dial("13600136001") == "913600136001"
            with pytest.raises(DialFailed, match="Extension does not exist"):
                dialer.dial("13600136002")
        finally:
            assert connector.stop(5)
        originate = next(a for a in server.connections[0].actions if a.get("action") == "Originate")
        assert {k: originate.get(k.lower()) for k in ("Channel", "Exten", "Context", "Priority", "Async")} == {
            "Channel": "PJSIP/1001", "Exten": "913600136001", "Context": "outbound-calls", "Priority": "1",
            "Async": "true"}
    assert not server.errors, server.errors
