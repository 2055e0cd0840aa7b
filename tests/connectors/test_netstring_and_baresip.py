"""Netstring framing and the baresip event mapping (pure parsers; no sockets, no Qt)."""

from __future__ import annotations

import json

import pytest

from desktop.calls.baresip import (
    BaresipEvent,
    BaresipMessageError,
    BaresipResponse,
    call_event_from_baresip,
    decode_message,
    parse_frame,
)
from desktop.calls.connector_base import ConnectorMessageError, number_from_uri, phone_number
from desktop.calls.netstring import NetstringDecoder, NetstringError, encode_netstring

INCOMING = {"event": True, "type": "CALL_INCOMING", "class": "call", "accountaor": "sip:agent@127.0.0.1:5070",
            "direction": "incoming", "peeruri": "sip:13800138000@127.0.0.1:5060", "id": "3324e1a1e0d908fb",
            "param": "sip:13800138000@127.0.0.1:5060"}


def frame(message: dict) -> bytes:
    return json.dumps(message).encode()


# --- netstrings -------------------------------------------------------------------------------------


def test_netstrings_decode_across_any_split():
    payloads = [b"", b"hello world!", "坐席".encode(), b"x" * 1000]
    stream = b"".join(encode_netstring(p) for p in payloads)
    for size in (1, 2, 3, 7, len(stream)):
        decoder = NetstringDecoder()
        got = []
        for start in range(0, len(stream), size):
            got += decoder.feed(stream[start : start + size])
        assert got == payloads and decoder.buffered == 0


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"12x:hello,", "must be ASCII digits, found 'x'"),
        (b"\xff:", "found a non-ASCII byte"),
        (b"\n5:hello,", "found a control byte"),
        (b":hello,", "no length before ':'"),
        (b"05:hello,", "leading zero"),
        (b"5:hello;", "not followed by ','"),
        (b"70000:", "exceeds the limit of 65536 bytes"),
        (b"1234567", "more than 5 digits"),
    ],
)
def test_bad_netstrings_say_what_is_wrong(data, problem):
    decoder = NetstringDecoder()
    with pytest.raises(NetstringError, match=problem) as caught:
        decoder.feed(data)
    assert isinstance(caught.value, ConnectorMessageError) and "hello" not in str(caught.value)


def test_after_an_error_the_decoder_stays_failed_until_reset_and_keeps_the_good_frames():
    decoder = NetstringDecoder()
    with pytest.raises(NetstringError):
        decoder.feed(b"2:ok,3:bad;")
    assert decoder.salvaged == [b"ok"] and decoder.failed
    with pytest.raises(NetstringError, match="reconnect to resynchronise"):
        decoder.feed(b"2:ok,")
    decoder.reset()
    assert decoder.feed(b"2:ok,") == [b"ok"]


def test_a_huge_announced_frame_is_refused_before_it_is_buffered():
    decoder = NetstringDecoder(max_frame=100)
    with pytest.raises(NetstringError, match="exceeds the limit of 100 bytes"):
        decoder.feed(b"101:")
    decoder.reset()
    decoder.feed(b"100:" + b"a" * 99)
    assert decoder.buffered == 103  # waiting for one byte and the comma, never more than the limit


# --- numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        ("sip:13800138000@127.0.0.1:5060", "13800138000"),
        ("sips:+8613800138000@pbx.example;transport=tls", "+8613800138000"),
        ('"Wang Fang" <sip:138-0013-8000@10.0.0.1>', "13800138000"),
        ("sip:%2B86%20138%200013%208000@pbx", "+8613800138000"),
        ("tel:+86-138-0013-8000;phone-context=example.com", "+8613800138000"),
        ("sip:１３８００１３８０００@pbx", "13800138000"),  # full-width digits
        ("sip:13800138000;user=phone@pbx", "13800138000"),
        ("sip:alice@pbx", None),
        ("sip:anonymous@anonymous.invalid", None),
        ("sip:pbx.example.com", None),
        ("http://13800138000@x", None),
        ("sip:١٣٨@pbx", "138"),  # Arabic-Indic digits are folded to ASCII, as in every call source
        ("sip:138²@pbx", None),  # a superscript is no digit: refused, never turned into one or dropped
        ("sip:138\u202e00@pbx", None),  # a text-direction override is no separator
        ("sip:" + "1" * 40 + "@pbx", None),
        ("", None),
        (None, None),
    ],
)
def test_caller_numbers_from_sip_uris(uri, number):
    assert number_from_uri(uri) == number


def test_phone_numbers_drop_visual_separators_only():
    assert phone_number(" +86 (138) 0013.8000 ") == "+8613800138000"
    assert phone_number("<unknown>") is None and phone_number("1001a") is None and phone_number("++1") is None


# --- baresip messages -------------------------------------------------------------------------------


def test_incoming_call_rings_with_the_callers_number():
    event = parse_frame(frame(INCOMING))
    assert event.call_id == "baresip:3324e1a1e0d908fb" and event.state == "ringing"
    assert event.ani == "13800138000" and event.source == "baresip"


@pytest.mark.parametrize(
    ("kind", "state"),
    [("CALL_ESTABLISHED", "answered"), ("CALL_CLOSED", "ended"), ("CALL_TRANSFER", "transferred")],
)
def test_call_lifecycle_events(kind, state):
    event = parse_frame(frame({**INCOMING, "type": kind, "param": "sip:13900139000@pbx"}))
    assert event.state == state and event.ani == "13800138000"
    assert event.dnis == ("13900139000" if state == "transferred" else None)


@pytest.mark.parametrize(("diverter", "from_agent"), [
    ("sip:1002@pbx.example", "1002"),  # the colleague's extension
    ('"Li Na" <sip:lina@pbx.example>', "lina"),  # a SIP user name
    ("sip:anonymous@anonymous.invalid", None),
    (None, None),  # baresip 1.0 (Debian 12) sends no diverteruri at all
])
def test_an_incoming_call_names_who_diverted_it_here_when_baresip_reports_it(diverter, from_agent):
    event = parse_frame(frame({**INCOMING, "diverteruri": diverter}))
    assert event.state == "ringing" and event.from_agent == from_agent


def test_a_refer_reports_only_its_target_so_a_transfer_names_no_referrer():
    """CALL_TRANSFER's param is the Refer-To target; baresip says nothing of who sent the REFER."""
    event = parse_frame(frame({**INCOMING, "type": "CALL_TRANSFER", "param": "sip:13900139000@pbx",
                               "diverteruri": "sip:1002@pbx"}))
    assert event.state == "transferred" and event.dnis == "13900139000" and event.from_agent is None


def test_outgoing_calls_pop_the_dialled_customer_but_not_an_extension_or_when_off():
    out = {**INCOMING, "direction": "outgoing", "peeruri": "sip:13900139000@pbx"}
    for kind in ("CALL_OUTGOING", "CALL_RINGING", "CALL_PROGRESS"):
        event = parse_frame(frame({**out, "type": kind}))
        assert event.state == "ringing" and event.ani == "13900139000"
    assert parse_frame(frame({**out, "type": "CALL_RINGING"}), pop_outgoing=False) is None
    assert parse_frame(frame({**out, "type": "CALL_RINGING", "peeruri": "sip:1002@pbx"})) is None
    established = parse_frame(frame({**out, "type": "CALL_ESTABLISHED", "peeruri": "sip:1002@pbx"}))
    assert established.state == "answered" and established.ani is None  # nothing to pop; the router ignores it


def test_withheld_callers_and_non_call_events_are_not_reported():
    assert parse_frame(frame({**INCOMING, "peeruri": "sip:anonymous@anonymous.invalid"})) is None
    assert parse_frame(frame({**INCOMING, "peeruri": None})) is None
    for kind in ("CALL_LOCAL_SDP", "CALL_RTCP", "REGISTER_OK", "VU_RX", "SOMETHING_NEW"):
        assert parse_frame(frame({**INCOMING, "type": kind})) is None
    assert parse_frame(frame({**INCOMING, "direction": "outgoing"})) is None  # INCOMING is never outgoing


def test_responses_are_returned_as_such():
    response = parse_frame(frame({"response": True, "ok": False, "data": "command not found", "token": "t1"}))
    assert response == BaresipResponse(ok=False, data="command not found", token="t1")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not JSON"),
        (b"[" * 100_000, "nests JSON too deeply"),
        (b"[1, 2]", "must be a JSON object, not a list"),
        (b'{"hello": 1}', "neither an event"),
        (frame({**INCOMING, "type": 7}), "'type' must be text, not a number"),
        (frame({**INCOMING, "peeruri": ["sip:x"]}), "'peeruri' must be text, not a list"),
        (frame({**INCOMING, "peeruri": "sip:" + "1" * 2000}), "'peeruri' is longer than 1024"),
        (frame({**INCOMING, "id": ""}), "the call 'id' is missing"),
        (frame({**INCOMING, "id": "x" * 200}), "call_id.*at most 128"),
        (frame({**INCOMING, "id": "a\nb"}), "control characters"),
        (frame({**INCOMING, "direction": "sideways"}), "'direction' must be"),
        (frame({"response": True, "ok": "yes"}), "'ok' must be true or false"),
    ],
)
def test_messages_that_cannot_be_understood_get_a_clear_error_without_the_number(payload, problem):
    with pytest.raises(BaresipMessageError, match=problem) as caught:
        parse_frame(payload)
    assert "13800138000" not in str(caught.value)


def test_event_reprs_hide_the_peer_uri():
    message = decode_message(frame(INCOMING))
    assert isinstance(message, BaresipEvent) and "13800138000" not in repr(message)
    assert call_event_from_baresip(message).ani == "13800138000"
