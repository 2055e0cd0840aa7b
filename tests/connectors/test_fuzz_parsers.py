"""Bad input, generated: 10,000 messages for each connector's parser (hypothesis, one message per example).

Each generated message (wrong types, truncated frames, huge fields, non-ASCII and control characters,
unknown event types, broken framing) goes through the code a connector runs on its socket thread
(`_on_data`: framing, parsing, mapping, emitting), cut into random pieces, between two good calls. The
properties: no exception but the documented parse errors; whatever comes out is a valid CallEvent; memory
stays bounded; each message is handled quickly; and the good call after the bad message still comes out
(after a broken netstring the connector reconnects, which the test does by resetting the decoder).

Hypothesis spends most of its time per example and per drawn value, so a message is assembled from prepared
pools by a few drawn integers (`pick` reads one as an index into each of a few pools: every combination is
reachable, and shrinking moves each choice towards the first, plainest one), plus a few draws of arbitrary Unicode
text and bytes; the huge values are built once. That keeps 10,000 examples to about 10-15 s per parser.
"""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.calls.ami import (
    MAX_FIELDS,
    MAX_LINE_BYTES,
    AmiCallTracker,
    AmiConnector,
    AmiMessage,
    AmiMessageError,
    AmiProtocolError,
    AmiReader,
)
from desktop.calls.baresip import BaresipConnector, BaresipMessageError, BaresipResponse, parse_frame
from desktop.calls.events import CALL_STATES, CallEvent
from desktop.calls.netstring import NetstringDecoder, NetstringError, encode_netstring

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=10_000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PHONE = re.compile(r"\+?[0-9]{1,32}")
PER_MESSAGE_LIMIT_S = 5.0  # generous: a garbage collection can land inside one message; a hang cannot pass

HUGE = ["9" * 20_000, "坐" * 7_000, "\x00" * 9_000, "%" * 70_000, "sip:" + "1" * 5_000 + "@x"]
ODD_STRINGS = ["", " ", "\n", "\r\n", "\u2028", "\x1b[2J", "<unknown>", "anonymous", "１３８００１３８０００",
               "+86 139 0013 9000", "١٣٨٠٠١٣٨٠٠٠", "sip:13800138000@127.0.0.1", "tel:+8613800138000",
               "sip:%2B86%20138@x", '"名" <sip:13800138000@x>', "sip:", "sip:@", "sip:a@b@c", "坐席", "\ud800"]
WRONG_TYPES = [None, True, False, 0, -1, 2**70, 1.5, float("nan"), float("inf"), [], ["sip:13800138000@x"],
               {}, {"id": "x"}, [[[[]]]]]
free_text = st.one_of(st.none(), st.text(max_size=12))  # any Unicode: control characters, surrogates, scripts
pieces = st.integers(1, 40)


@pytest.fixture(autouse=True)
def quiet_connector_logs():
    """Every rejected message logs a warning: right in production, only noise (and time) here."""
    loggers = [logging.getLogger(name) for name in
               ("callcue.connectors", "callcue.connectors.baresip", "callcue.connectors.ami")]
    for logger in loggers:
        logger.disabled = True
    yield
    for logger in loggers:
        logger.disabled = False


def combinations(*pools) -> int:
    total = 1
    for pool in pools:
        total *= len(pool)
    return total


def pick(index: int, *pools):
    """One element of each pool, chosen by `index` (mixed radix) in 0 .. combinations(*pools) - 1."""
    chosen = []
    for pool in pools:
        index, position = divmod(index, len(pool))
        chosen.append(pool[position])
    return chosen


def chunks(data: bytes, count: int) -> list[bytes]:
    """`data` cut into `count` pieces (byte by byte for short data), as a socket might deliver it."""
    size = max(1, -(-len(data) // count))
    return [data[start : start + size] for start in range(0, len(data), size)]


def check_event(event: CallEvent, prefix: str) -> None:
    assert isinstance(event, CallEvent) and event.state in CALL_STATES
    assert event.call_id.startswith(prefix) and len(event.call_id) <= 128
    assert event.ani is None or PHONE.fullmatch(event.ani)
    assert event.dnis is None or PHONE.fullmatch(event.dnis)


# --- baresip: a netstring frame of JSON ---------------------------------------------------------------

KNOWN_TYPES = ["CALL_INCOMING", "CALL_OUTGOING", "CALL_RINGING", "CALL_PROGRESS", "CALL_ESTABLISHED",
               "CALL_TRANSFER", "CALL_CLOSED", "CALL_LOCAL_SDP", "CALL_RTCP", "REGISTER_OK", "UNKNOWN_NEW_TYPE"]
FIELDS = ["type", "class", "id", "direction", "peeruri", "param", "accountaor", "ok", "data", "token", "event",
          "response", "x", ""]
GOOD = {"class": "call", "id": "3324e1a1e0d908fb", "direction": "incoming", "peeruri": "sip:13800138000@127.0.0.1",
        "ok": True, "data": "", "token": "t1"}
TEMPLATES = [GOOD, {}, {k: v for k, v in GOOD.items() if k != "id"}, {**GOOD, "direction": "outgoing"}]
HEADS = [{"event": True}] * 6 + [{"response": True}] * 2 + [{}, {"event": "true"}]
TYPES = KNOWN_TYPES * 3 + ODD_STRINGS + HUGE + WRONG_TYPES
VALUES = ODD_STRINGS + HUGE + WRONG_TYPES + ["3324e1a1e0d908fb", "incoming", "outgoing", "sip:13900139000@x"]
KINDS = ["json"] * 7 + ["truncated", "bytes", "nested"]
FRAMINGS = ["good"] * 6 + ["no_comma", "bad_length", "huge_length", "cut"]
BAD_LENGTHS = [b"-1", b"1e3", b" 5", b"\xff", b"0x10", b"00", b"", b"\x00"]
# Two integers, each read by `pick` over a few pools: a shape (small pools) and a content part.
BARESIP_SHAPE = (FRAMINGS, KINDS, [True, False], HEADS, TEMPLATES)
BARESIP_CONTENT = (TYPES, FIELDS, VALUES, FIELDS)
baresip_case = st.tuples(st.integers(0, combinations(*BARESIP_SHAPE) - 1),
                         st.integers(0, combinations(*BARESIP_CONTENT) - 1), free_text, st.integers(0, 2**16),
                         st.binary(max_size=24))


def good_frame(call_id: str) -> bytes:
    return encode_netstring(json.dumps({"event": True, "type": "CALL_INCOMING", "id": call_id,
                                        "peeruri": "sip:13900139000@127.0.0.1"}).encode())


def baresip_frame(case) -> tuple[bytes, bytes, str]:
    """(payload, frame, framing) for a drawn case."""
    shape, content, text, cut, raw = case
    framing, kind, ascii_only, head, template = pick(shape, *BARESIP_SHAPE)
    kind_type, field, value, text_field = pick(content, *BARESIP_CONTENT)
    if kind == "bytes":
        payload = raw
    elif kind == "nested":
        depth = [10, 999, 1_001, 5_000, 60_000][cut % 5]
        payload = b"[" * depth + b"]" * (depth if cut % 2 else 0)
    else:
        message = {**head, **template, "type": kind_type, field: value}
        if text is not None:
            message[text_field] = text
        payload = json.dumps(message, ensure_ascii=ascii_only).encode("utf-8", errors="surrogatepass")
        if kind == "truncated":
            payload = payload[: cut % max(1, len(payload))]
    frame = encode_netstring(payload)
    if framing == "no_comma":
        frame = frame[:-1] + b";"
    elif framing == "bad_length":
        frame = BAD_LENGTHS[cut % len(BAD_LENGTHS)] + b":" + payload + b","
    elif framing == "huge_length":
        frame = b"%d:" % [65_537, 99_999, 10**30][cut % 3] + payload
    elif framing == "cut":
        frame = frame[: cut % len(frame)]
    return payload, frame, framing


@FUZZ
@given(case=baresip_case, pieces=pieces)
def test_fuzz_baresip_messages_through_the_connector(case, pieces):
    payload, frame, framing = baresip_frame(case)
    try:  # the message on its own, as the parser sees it
        result = parse_frame(payload)
    except BaresipMessageError as exc:
        assert exc.problem and "13800138000" not in exc.problem
    else:
        assert result is None or isinstance(result, BaresipResponse | CallEvent)

    events: list[CallEvent] = []
    connector = BaresipConnector("127.0.0.1", 4444, events.append)
    # A frame cut short only happens when a connection ends: the next call then comes on a new one.
    connections = ([good_frame("before") + frame, good_frame("after")] if framing == "cut"
                   else [good_frame("before") + frame + good_frame("after")])
    started = time.thread_time()
    broken = False
    for stream in connections:
        connector._decoder.reset()
        for piece in chunks(stream, pieces):  # in pieces, the way the socket delivers it
            try:
                connector._on_data(piece)
            except NetstringError:
                broken = True
                connector._decoder.reset()  # the connector reconnects: a fresh stream
            assert connector._decoder.buffered <= connector._decoder.max_frame + 8
    assert time.thread_time() - started < PER_MESSAGE_LIMIT_S
    for event in events:
        check_event(event, "baresip:")
    ids = [e.call_id for e in events]
    assert ids[0] == "baresip:before"
    if not broken:  # the stream stayed in sync: the good call after the bad message still pops
        assert ids[-1] == "baresip:after"


@settings(max_examples=1_000, deadline=None, database=None)
@given(payloads=st.lists(st.binary(max_size=300), max_size=6), cuts=st.lists(st.integers(1, 50), max_size=10))
def test_fuzz_netstring_round_trip_over_any_split(payloads, cuts):
    data = b"".join(encode_netstring(p) for p in payloads)
    decoder = NetstringDecoder(max_frame=300)
    got, position = [], 0
    for cut in [*cuts, len(data)]:
        got += decoder.feed(data[position : position + cut])
        position += cut
    got += decoder.feed(data[position:])
    assert got == payloads


# --- AMI: a block of Key: Value lines ----------------------------------------------------------------

EVENTS = ["Newchannel", "Newstate", "DialBegin", "DialEnd", "AgentCalled", "AgentConnect", "BridgeEnter",
          "Hangup", "BlindTransfer", "AttendedTransfer", "CoreShowChannel", "CoreShowChannelsComplete",
          "FullyBooted", "SomethingNew"]
KEYS = ["Uniqueid", "Linkedid", "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "ConnectedLineNum",
        "Exten", "DestUniqueid", "DestLinkedid", "DestChannel", "DestChannelState", "DestCallerIDNum",
        "DestConnectedLineNum", "DestExten", "DialStatus", "Interface", "Result", "Extension",
        "TransfereeLinkedid", "TransfererLinkedid", "OrigTransfererLinkedid", "SecondTransfererLinkedid",
        "TransferTargetChannel", "TransferTargetCallerIDNum", "ActionID", "Message"]
AMI_VALUES = ["1.1", "1.2", "1.3", "2.1", "2.2", "x" * 70, "1 .1", "13800138000", "+86 139 0013 9000",
              "<unknown>", "PJSIP/1001-00000001", "PJSIP/1002-00000002", "Local/1001@agents-0001;1",
              "PJSIP/1001", "4", "5", "6", "99999", "Up", "Ringing", "ANSWER", "Success", "Fail"]
RAW_LINES = [b"\xff\xfe\x00", b"no colon at all", b":", b": value without key", b"Key\x01: v", b"\r",
             b"Event: Hangup\rUniqueid: 1.1", "坐席: 值".encode(), b"A" * 9_000, b"Key: " + b"\x80" * 9_000]


def _line(key: str, value: str) -> bytes:
    return f"{key}: {value}".encode("utf-8", errors="surrogatepass").replace(b"\n", b"")


# Every key with every value, huge values, odd keys, raw lines: about 1,300 lines to combine.
LINES = ([_line(k, v) for k in KEYS for v in AMI_VALUES + ODD_STRINGS] + [_line(k, v) for k in KEYS[:8] for v in HUGE]
         + [_line(k, "1.1") for k in ODD_STRINGS] + RAW_LINES)
AMI_HEADS = [f"Event: {name}".encode() for name in EVENTS] * 3 + [b"Response: Success", b"Response: Error", b""]
GOOD_CALL = (b"Event: Newchannel\r\nChannel: PJSIP/carrier-good\r\nChannelState: 4\r\nCallerIDNum: 13900139000\r\n"
             b"Uniqueid: good.1\r\nLinkedid: good.1\r\n\r\n"
             b"Event: DialBegin\r\nChannel: PJSIP/carrier-good\r\nCallerIDNum: 13900139000\r\nUniqueid: good.1\r\n"
             b"Linkedid: good.1\r\nDestChannel: PJSIP/1001-good\r\nDestUniqueid: good.2\r\nDestLinkedid: good.1\r\n\r\n")
AMI_SHAPE = (range(7), [b"\r\n", b"\n"], AMI_HEADS, KEYS)
ami_case = st.tuples(st.integers(0, combinations(*AMI_SHAPE) - 1),
                     *[st.integers(0, combinations(LINES, LINES) - 1)] * 3, free_text, st.integers(0, 2**16))


def ami_message(case) -> bytes:
    shape, *line_pairs, text, cut = case
    count, newline, head, text_key = pick(shape, *AMI_SHAPE)
    lines = [line for pair in line_pairs for line in pick(pair, LINES, LINES)]
    chosen = ([head] if head else []) + lines[:count]
    if text is not None:
        chosen.append(_line(text_key, text))
    block = newline.join(chosen) + newline + newline
    if cut % 10 == 0:
        block = block[: cut % (len(block) + 1)]  # truncated mid-message
    return block


@FUZZ
@given(case=ami_case, pieces=pieces, devices=st.sampled_from([(), ("PJSIP/1001",)]))
def test_fuzz_ami_messages_through_the_connector(case, pieces, devices):
    events: list[CallEvent] = []
    connector = AmiConnector("127.0.0.1", 5038, "callcue", "secret", events.append, devices=devices)
    connector._phase = "ready"  # greeted and logged in: events go to the tracker
    connector._reader.banner = "Asterisk Call Manager/7.0.3"
    stream = ami_message(case) + b"\r\n\r\n" + GOOD_CALL  # any open message is closed; then a good call rings
    started = time.thread_time()
    for piece in chunks(stream, pieces):
        connector._on_data(piece)  # must not raise: bad messages are skipped
        reader = connector._reader
        assert len(reader._partial) <= MAX_LINE_BYTES and len(reader._lines) <= MAX_FIELDS
    assert time.thread_time() - started < PER_MESSAGE_LIMIT_S
    for event in events:
        check_event(event, "ami:")
    assert [(e.state, e.call_id, e.ani) for e in events][-1] == ("ringing", "ami:good.1", "13900139000")


@settings(max_examples=1_000, deadline=None, database=None)
@given(data=st.binary(max_size=400), banner=st.booleans())
def test_fuzz_ami_reader_raw_bytes(data, banner):
    reader = AmiReader(expect_banner=banner)
    try:
        items = reader.feed(data)
    except AmiProtocolError:  # only a missing greeting may end the connection
        assert banner
        return
    assert all(isinstance(i, AmiMessage | AmiMessageError) for i in items)


# --- AMI call tracking: any order of plausible events gives a sane lifecycle per call -----------------

UIDS = ["1.1", "1.2", "1.3", "2.1", "2.2"]
CHANNELS = ["PJSIP/carrier-00000001", "PJSIP/1001-00000002", "PJSIP/1002-00000003", "Local/1001@agents-01;1"]
plausible_event = st.builds(
    lambda name, uid, lid, chan, state, dest, dest_lid, dest_chan, number, extra: AmiMessage((
        ("Event", name), ("Uniqueid", uid), ("Linkedid", lid), ("Channel", chan), ("ChannelState", state),
        ("CallerIDNum", number), ("ConnectedLineNum", number), ("DestUniqueid", dest), ("DestLinkedid", dest_lid),
        ("DestChannel", dest_chan), ("DestCallerIDNum", "1002"), ("DialStatus", extra), ("Result", extra),
        ("Extension", "1002"), ("Interface", "PJSIP/1001"), ("TransfereeLinkedid", lid),
        ("OrigTransfererLinkedid", lid))),
    st.sampled_from(EVENTS), st.sampled_from(UIDS), st.sampled_from(UIDS), st.sampled_from(CHANNELS),
    st.sampled_from(["0", "4", "5", "6"]), st.sampled_from(UIDS), st.sampled_from(UIDS), st.sampled_from(CHANNELS),
    st.sampled_from(["13800138000", "<unknown>", "1001"]), st.sampled_from(["ANSWER", "Success", "BUSY"]),
)
ALLOWED_NEXT = {None: {"ringing", "answered"}, "ringing": {"answered", "ended"},
                "answered": {"transferred", "ended"}, "transferred": {"transferred", "ended"},
                "ended": {"ringing", "answered"}}  # after "ended" only a new call that reuses the id


@settings(max_examples=1_000, deadline=None, database=None)
@given(sequence=st.lists(plausible_event, max_size=30), devices=st.sampled_from([(), ("PJSIP/1001",)]))
def test_fuzz_ami_lifecycles_never_go_backwards(sequence, devices):
    tracker = AmiCallTracker(devices=devices)
    last: dict[str, str | None] = {}
    for message in sequence:
        try:
            events = tracker.handle(message)
        except AmiMessageError:
            continue
        for event in events:
            check_event(event, "ami:")
            previous = last.get(event.call_id)
            assert event.state in ALLOWED_NEXT[previous], (previous, event.state)
            last[event.call_id] = event.state
