"""The AMI connector against documentation-based transcripts, served over real TCP on 127.0.0.1.

Asterisk is not packaged in Debian 12: the transcripts (tests/connectors/transcripts/) were written by hand
from the AMI documentation, and a scripted peer (fake_ami.py) plays the PBX side of them. These tests check
the CallEvents that come out, the login (MD5 challenge, no secret on the wire), reconnects after a drop,
the keepalive, and that bad input is skipped without losing the calls after it.
"""

from __future__ import annotations

import contextlib
import logging

import pytest

from desktop.calls.ami import AmiConnector
from desktop.calls.connector_base import Backoff
from tests.connectors.conftest import SENTINEL_CALL, Recorder
from tests.connectors.fake_ami import ScriptedAmiServer

CALM, PRICE, COMPLAINT = "13800138000", "13900139000", "13700137000"


@contextlib.contextmanager
def ami_session(transcripts: list[str], recorder: Recorder, *, devices=("PJSIP/1001",), **options):
    options.setdefault("keepalive_s", 60.0)
    with ScriptedAmiServer(transcripts) as server:
        connector = AmiConnector("127.0.0.1", server.port, "callcue", "s3cret", recorder.on_event,
                                 recorder.on_status, devices=devices,
                                 backoff=Backoff(0.05, 0.2, jitter=0.1), **options)
        connector.start()
        try:
            yield server, connector
        finally:
            assert connector.stop(5), "the AMI connector thread did not stop"
    assert not server.errors, server.errors


def call(linkedid: str) -> str:
    return f"ami:{linkedid}"


def test_inbound_call_to_the_agents_device_rings_answers_and_ends(recorder):
    with ami_session(["inbound_call.txt"], recorder) as (server, _connector):
        reported = recorder.until_sentinel()
        assert reported == [
            ("ringing", call("1730000000.1"), CALM, None),
            ("answered", call("1730000000.1"), CALM, None),
            ("ended", call("1730000000.1"), CALM, None),
        ]  # the colleague's concurrent call (PJSIP/1002) did not pop here
        first = server.connections[0]
        assert [a["action"] for a in first.actions[:3]] == ["Challenge", "Login", "CoreShowChannels"]
        login = first.actions[1]
        assert first.login_key_ok and "secret" not in login and login["events"] == "call,agent"
        assert all(e.source == "ami" for e in recorder.events)
    # stop() logged off politely
    server.wait_for(lambda: any(a["action"] == "Logoff" for a in server.connections[0].actions))
    assert [s.state for s in recorder.statuses][:2] == ["connecting", "connected"]
    assert recorder.statuses[-1].state == "stopped"


def test_without_a_device_filter_every_call_on_the_pbx_pops(recorder):
    with ami_session(["inbound_call.txt"], recorder, devices=()):
        reported = recorder.until_sentinel()
    assert reported == [
        ("ringing", call("1730000000.1"), CALM, None),
        ("ringing", call("1730000010.3"), COMPLAINT, None),
        ("answered", call("1730000000.1"), CALM, None),
        ("ended", call("1730000000.1"), CALM, None),
    ]


def test_queue_call_pops_when_the_queue_rings_this_agent_not_the_colleague(recorder):
    with ami_session(["queue_call.txt"], recorder):
        reported = recorder.until_sentinel()
    number = "+8613900139000"  # as the carrier gave it, separators dropped; the pop service normalises it
    assert reported == [
        ("ringing", call("1730000100.10"), number, None),
        ("answered", call("1730000100.10"), number, None),
        ("ended", call("1730000100.10"), number, None),
    ]


def test_withheld_numbers_pop_nothing(recorder):
    with ami_session(["withheld_caller.txt"], recorder):
        assert recorder.until_sentinel() == []


def test_blind_transfer_updates_the_call_then_it_ends_for_this_agent(recorder):
    with ami_session(["blind_transfer.txt"], recorder):
        reported = recorder.until_sentinel()
    linked = call("1730000300.1")
    assert reported == [
        ("ringing", linked, COMPLAINT, None),
        ("answered", linked, COMPLAINT, None),
        ("transferred", linked, COMPLAINT, "1002"),
        ("ended", linked, COMPLAINT, None),
    ]


def test_attended_transfer_and_the_consultation_call_to_a_colleague(recorder):
    with ami_session(["attended_transfer.txt"], recorder):
        reported = recorder.until_sentinel()
    linked = call("1730000400.1")
    assert reported == [
        ("ringing", linked, CALM, None),
        ("answered", linked, CALM, None),
        ("transferred", linked, CALM, "1002"),
        ("ended", linked, CALM, None),
    ]  # nothing for the consultation call 1730000400.5: an extension is not a customer


def _with_from_agent(recorder, call_id: str) -> list[tuple]:
    return [(e.state, e.ani, e.dnis, e.from_agent) for e in recorder.events if e.call_id == call_id]


def test_this_agents_own_transfers_name_no_from_agent(recorder):
    """The agent (PJSIP/1001) transferred the call away: the marker must not say it came from them."""
    with ami_session(["blind_transfer.txt", "attended_transfer.txt"], recorder):
        recorder.until_sentinel()
    assert all(e.from_agent is None for e in recorder.events)


def test_a_call_a_colleague_blind_transferred_into_a_queue_rings_here_from_them_via_the_queue(recorder):
    with ami_session(["blind_transfer_to_agent.txt"], recorder):
        recorder.until_sentinel()
    assert _with_from_agent(recorder, call("1730000600.1")) == [
        ("ringing", PRICE, "sales", "李娜"),  # TransfererCallerIDName; via the queue that rang this agent
        ("answered", PRICE, None, None),
    ]


def test_a_colleagues_attended_transfer_hands_this_agents_consultation_call_the_customer(recorder):
    with ami_session(["attended_transfer_to_agent.txt"], recorder):
        recorder.until_sentinel()
    consultation = _with_from_agent(recorder, call("1730000700.5"))
    assert consultation[:2] == [("ringing", "1002", None, None), ("answered", "1002", None, None)]
    # No caller ID name ("<unknown>"): the colleague's extension; the customer's number replaces theirs.
    assert consultation[2:] == [("transferred", COMPLAINT, None, "1002")]


def test_a_second_dial_to_another_destination_is_a_transfer_not_a_second_pop(recorder):
    with ami_session(["transfer_by_second_dial.txt"], recorder, devices=()):
        reported = recorder.until_sentinel()
    linked = call("1730000500.1")
    assert reported == [
        ("ringing", linked, PRICE, None),
        ("answered", linked, PRICE, None),
        ("transferred", linked, PRICE, "1002"),
        ("ended", linked, PRICE, None),
    ]


def test_outbound_call_from_the_agents_phone_pops_the_dialled_customer(recorder):
    with ami_session(["outbound_call.txt"], recorder):
        reported = recorder.until_sentinel()
    linked = call("1730000600.1")
    assert reported == [("ringing", linked, PRICE, None), ("answered", linked, PRICE, None),
                        ("ended", linked, PRICE, None)]


def test_outbound_calls_do_not_pop_when_turned_off(recorder):
    with ami_session(["outbound_call.txt"], recorder, pop_outgoing=False):
        assert recorder.until_sentinel() == []


def test_refused_login_says_so_and_retries_with_backoff(recorder):
    with ami_session(["auth_failed.txt"], recorder) as (server, _connector):
        recorder.wait_for(lambda r: r.states("failed"), what="a failed status")
        server.wait_for(lambda: len(server.connections) >= 2)  # it tried again
        failed = recorder.states("failed")[0]
        assert "refused the login (Authentication failed)" in failed.detail
        assert "connectors.ami_secret" in failed.detail and failed.retry_in_s is not None
        assert server.connections[0].login_key_ok is True  # the key was right; this PBX says no anyway
        assert "s3cret" not in failed.text
    assert recorder.events == []


def test_a_peer_that_is_not_ami_is_left(recorder):
    with ami_session(["not_ami.txt"], recorder):
        recorder.wait_for(lambda r: any("not an AMI server" in s.detail for s in r.states("disconnected")),
                          what="a 'not an AMI server' status")
    assert recorder.events == []


def test_reconnect_after_a_drop_ends_a_call_that_vanished_meanwhile(recorder):
    with ami_session(["reconnect_drop.txt", "reconnect_call_gone.txt"], recorder) as (server, _connector):
        reported = recorder.until_sentinel()
        assert len(server.connections) == 2
    linked = call("1730000700.1")
    assert reported == [("ringing", linked, CALM, None), ("answered", linked, CALM, None),
                        ("ended", linked, CALM, None)]
    states = [s.state for s in recorder.statuses]
    assert states.count("connected") == 2 and "disconnected" in states


def test_reconnect_after_a_drop_keeps_a_call_that_is_still_up(recorder):
    with ami_session(["reconnect_drop.txt", "reconnect_call_alive.txt"], recorder):
        before_sentinel = recorder.until_sentinel()
        recorder.wait_for(lambda r: r.summary()[-1][0] == "ended", what="the end of the call")
    linked = call("1730000700.1")
    assert before_sentinel == [("ringing", linked, CALM, None), ("answered", linked, CALM, None)]
    assert recorder.summary()[-1] == ("ended", linked, CALM, None)


def test_a_pbx_that_stops_answering_pings_is_dropped_and_reconnected(recorder):
    with ami_session(["silent_pbx.txt", "inbound_call.txt"], recorder, keepalive_s=0.1,
                     response_timeout_s=0.3) as (server, _connector):
        reported = recorder.until_sentinel()
        assert len(server.connections) == 2
        assert any(a["action"] == "Ping" for a in server.connections[0].actions)
    assert any("stopped answering" in s.detail for s in recorder.states("disconnected"))
    assert reported[0] == ("ringing", call("1730000000.1"), CALM, None)


def test_bad_messages_are_skipped_with_a_log_line_and_the_next_call_still_pops(recorder, caplog):
    caplog.set_level(logging.WARNING, logger="callcue.connectors")
    with ami_session(["malformed_messages.txt"], recorder):
        reported = recorder.until_sentinel()
    linked = call("1730000800.1")
    assert reported == [("ringing", linked, PRICE, None), ("answered", linked, PRICE, None)]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert any("is not 'Key: Value'" in m for m in skipped)
    assert any("longer than 8192 bytes" in m for m in skipped)
    assert any("invalid key" in m for m in skipped)
    assert any("'Uniqueid' is not a valid id" in m for m in skipped)
    assert PRICE not in caplog.text and "139" not in caplog.text  # no phone number in the log


def test_the_sentinel_itself_is_an_ordinary_inbound_pop(recorder):
    with ami_session(["inbound_call.txt"], recorder):
        recorder.until_sentinel()
    sentinel = next(e for e in recorder.events if e.call_id == SENTINEL_CALL)
    assert sentinel.state == "ringing" and sentinel.ani == "19999999999"


@pytest.mark.parametrize("secret", ["", "two\nlines"])
def test_credentials_are_checked_up_front(secret):
    with pytest.raises(ValueError):
        AmiConnector("127.0.0.1", 5038, "callcue", secret, lambda _e: None)
