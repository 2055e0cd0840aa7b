"""Fuzzing the bridge with hypothesis: wrong types, truncated frames, huge fields, non-ASCII, unknown
message types, hostile headers. Every answer must be a valid protocol message with a clear reason, nothing
may crash or hang, and the panel must keep working afterwards.

In-process (the ASGI application driven without sockets, thousands per second):
    HTTP bodies       4,000 messages
    WebSocket streams 1,000 streams of 1-8 frames (~4,500 messages)
    headers           1,500 requests
Over real sockets (uvicorn parsing included): 300 raw HTTP requests (truncated at random) and 300
WebSocket sessions with raw frames (bad opcodes, unmasked, truncated, oversized lengths).
Together well over 10,000 generated messages; each test asserts its own share.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.calls.bridge_protocol import COMMAND_TYPES, EVENT_TYPES, REPLY_TYPES
from tests.bridge.conftest import TOKEN, BridgeHarness, validate

pytestmark = pytest.mark.slow

HTTP_BODIES = 4000
WS_STREAMS = 1000
HEADER_REQUESTS = 1500
SOCKET_REQUESTS = 300
SOCKET_SESSIONS = 300
LOOPBACK_HOST = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?", re.IGNORECASE)
_IN_PROCESS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


# --------------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------------

FIELDS = ("call_id", "state", "ani", "dnis", "customer_id", "agent_id", "at", "source", "v", "type", "id")
# Generation is kept cheap (a flat value, big strings made by repetition): the budget goes to messages.
text_values = st.one_of(
    st.text(max_size=24),  # any Unicode: CJK, emoji, RTL marks, control characters
    st.text(max_size=8).map(lambda t: (t or "字") * 40),  # over the 128-character limit, non-ASCII
    st.integers(min_value=0, max_value=20_000).map(lambda n: "9" * n),  # huge fields
    st.sampled_from(["ringing", "answered", "transferred", "ended", "13800138000", "+86 138 0013 8000", "",
                     "   ", "\u2028", "\x00", "call\ncall", "2026-11-02T09:30:00Z", "2026-11-02T09:30:00"]),
)
def ascii_text(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(max_codepoint=127), max_size=size)


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        text_values)
json_values = st.one_of(json_leaves, st.lists(json_leaves, max_size=3),
                        st.dictionaries(st.text(max_size=8), json_leaves, max_size=3))


@st.composite
def call_messages(draw) -> dict:
    """A call event close to valid, with some fields wrong, missing or extra."""
    message = {"v": 1, "type": "call", "call_id": f"fz-{draw(st.integers(0, 50))}",
               "state": draw(st.sampled_from(["ringing", "answered", "transferred", "ended"])),
               "ani": draw(st.sampled_from(["13800138000", "13900139000", None]))}
    for _ in range(draw(st.integers(0, 3))):
        message[draw(st.sampled_from([*FIELDS, "extra", "页面", "x" * 60]))] = draw(json_values)
    for _ in range(draw(st.integers(0, 1))):
        message.pop(draw(st.sampled_from(sorted(message))), None)
    return message


@st.composite
def commands(draw) -> dict:
    kind = draw(st.sampled_from([*COMMAND_TYPES, *EVENT_TYPES, *REPLY_TYPES, "hello", "call.Result", "", "pop"]))
    message = draw(call_messages()) if kind == "call" else {"v": 1, "type": kind}
    if draw(st.booleans()):
        message["id"] = draw(st.one_of(st.integers(), st.text(max_size=80), st.booleans(), st.none(), st.floats()))
    return message


def encoded(message: object) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw) -> bytes:
    choice = draw(st.integers(0, 9))
    if choice <= 4:
        return encoded(draw(call_messages()))
    if choice == 5:
        return encoded(draw(json_values))
    if choice == 6:  # a truncated message
        whole = encoded(draw(call_messages()))
        return whole[:draw(st.integers(0, max(0, len(whole) - 1)))]
    if choice == 7:
        return draw(st.binary(max_size=300))
    if choice == 8:  # nesting, duplicates, NaN, big numbers
        return draw(st.sampled_from([b"[" * 5000 + b"]" * 5000, b'{"v":1,"v":1}', b'{"v":NaN}',
                                     b'{"v":1e999}', b'{"v":' + b"1" * 5000 + b"}", b"\xef\xbb\xbf{}"]))
    return encoded(draw(commands()))


# --------------------------------------------------------------------------------------------------------
# In-process
# --------------------------------------------------------------------------------------------------------


def assert_panel_still_pops(harness: BridgeHarness) -> None:
    call_id = f"after-fuzz-{time.monotonic_ns()}"
    reply = harness.http("POST", "/v1/calls", body=encoded(
        {"v": 1, "type": "call", "call_id": call_id, "state": "ringing", "ani": "13700137000"}))
    assert reply.status == 200 and validate(reply.json())["result"] == "popped"


def test_fuzzed_http_bodies_get_a_clear_answer(harness):
    sent = 0

    @settings(_IN_PROCESS, max_examples=HTTP_BODIES)
    @given(body=bodies(), content_type=st.sampled_from(["application/json", "application/json; charset=utf-8"]))
    def post(body: bytes, content_type: str) -> None:
        nonlocal sent
        sent += 1
        reply = harness.http("POST", "/v1/calls", body=body, headers=[("content-type", content_type)])
        message = validate(reply.json())
        assert reply.status in (200, 400, 413), reply.status
        assert message["type"] == ("call.result" if reply.status == 200 else "error")
        if reply.status == 400:
            assert message["message"] and message["error"] in ("bad_json", "invalid_field", "unsupported_version")

    post()
    assert sent >= HTTP_BODIES
    assert_panel_still_pops(harness)


def test_fuzzed_websocket_streams_get_one_clear_reply_per_frame(harness):
    sent = 0
    frames_strategy = st.lists(st.one_of(
        commands().map(lambda m: json.dumps(m, ensure_ascii=False)),
        bodies().map(lambda b: b.decode("utf-8", "replace")),
        st.binary(max_size=64),
        st.integers(16_385, 40_000).map(lambda n: "x" * n),
    ), min_size=1, max_size=8)

    @settings(_IN_PROCESS, max_examples=WS_STREAMS)
    @given(frames=frames_strategy)
    def session(frames: list[str | bytes]) -> None:
        nonlocal sent
        sent += len(frames)
        sent_messages = harness.websocket(frames)
        assert sent_messages[0] == {"type": "websocket.accept", "subprotocol": None}
        texts = [m["text"] for m in sent_messages[1:] if m["type"] == "websocket.send"]
        replies = [validate(text) for text in texts]
        assert replies[0]["type"] == "hello"
        answers = [r for r in replies[1:] if "seq" not in r and r["type"] != "events.dropped"]
        assert len(answers) == len(frames), (frames, replies)
        assert all(r["type"] in REPLY_TYPES for r in answers)

    session()
    assert sent >= 4000
    assert_panel_still_pops(harness)


def test_fuzzed_headers_are_refused_for_the_right_reason(harness):
    sent = 0

    @settings(_IN_PROCESS, max_examples=HEADER_REQUESTS)
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD", "BREW"]),
        path=st.sampled_from(["/v1/calls", "/v1/state", "/v1/panel/show", "/v1/panel/hide", "/v1/events", "/",
                              "/v2/calls", "/v1/calls/", "/v1/../v1/state", "/" + "a" * 2000, "/v1/状态"]),
        host=st.one_of(st.none(), st.sampled_from(["127.0.0.1:47615", "localhost", "[::1]:1", "evil.example",
                                                   "127.0.0.1.evil.example", "LOCALHOST:80", "", "localhost:x"]),
                       ascii_text(30)),
        origin=st.one_of(st.none(), st.sampled_from(["http://127.0.0.1:8123", "https://crm.example.com", "null",
                                                     "https://evil.example", "http://127.0.0.1:8124", "file://"]),
                         ascii_text(30)),
        token=st.one_of(st.none(), st.just(TOKEN), ascii_text(60)),
        body=st.one_of(st.just(b""), bodies()),
    )
    def request(method, path, host, origin, token, body) -> None:
        nonlocal sent
        sent += 1
        headers = [("origin", origin)] if origin is not None else []
        reply = harness.http(method, path, headers=headers, host=host, token=token, body=body)
        if method == "OPTIONS" and reply.status == 204:
            assert reply.body == b""
            return
        message = validate(reply.json())
        assert message["status"] == reply.status if message["type"] == "error" else reply.status == 200
        normal_host = host is not None and LOOPBACK_HOST.fullmatch(host) is not None
        if reply.status == 200:
            assert token == TOKEN and normal_host
        if not normal_host:
            assert reply.status in (400, 421)

    request()
    assert sent >= HEADER_REQUESTS
    assert_panel_still_pops(harness)


# --------------------------------------------------------------------------------------------------------
# Over real sockets
# --------------------------------------------------------------------------------------------------------


def exchange(port: int, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send `data`, stop sending (as a client that gave up mid-request would), read until the bridge
    closes or answers. A hang would show up as a timeout here."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as raw:
        try:
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the bridge already answered and closed (e.g. 413)
        chunks = []
        deadline = time.monotonic() + read_timeout
        while time.monotonic() < deadline:
            try:
                chunk = raw.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            pytest.fail("the bridge neither answered nor closed the connection")
        return b"".join(chunks)


@st.composite
def raw_requests(draw, port: int) -> bytes:
    body = draw(bodies())
    method = draw(st.sampled_from([b"POST", b"GET", b"OPTIONS", b"P\xc3\xb6ST", b""]))
    lines = [method + b" " + draw(st.sampled_from([b"/v1/calls", b"/v1/state", b"/v1/events", b"*", b"/\x00"]))
             + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port, b"Authorization: Bearer " + TOKEN.encode(),
             b"Content-Type: application/json"]
    length = draw(st.sampled_from(["exact", "short", "long", "none", "chunked", "garbage"]))
    if length == "exact":
        lines.append(b"Content-Length: %d" % len(body))
    elif length == "short":
        lines.append(b"Content-Length: %d" % max(0, len(body) - 3))
    elif length == "long":
        lines.append(b"Content-Length: %d" % (len(body) + 50_000_000))
    elif length == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        body = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    elif length == "garbage":
        lines.append(b"Content-Length: " + draw(st.sampled_from([b"-1", b"1e3", b"abc", b"99999999999999999999"])))
    if draw(st.booleans()):
        lines.append(b"X-Huge: " + b"h" * draw(st.integers(0, 100_000)))
    whole = b"\r\n".join(lines) + b"\r\n\r\n" + body
    return whole[:draw(st.integers(0, len(whole)))] if draw(st.booleans()) else whole


def test_raw_http_over_a_socket_never_crashes_or_hangs_the_bridge(bridge):
    sent = 0

    @settings(max_examples=SOCKET_REQUESTS, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=raw_requests(bridge.port))
    def send(data: bytes) -> None:
        nonlocal sent
        sent += 1
        answer = exchange(bridge.port, data)
        if answer:
            status_line = answer.split(b"\r\n", 1)[0]
            assert status_line.startswith(b"HTTP/1.1 "), status_line
            status = int(status_line.split()[1])
            assert status in (200, 204, 400, 401, 404, 405, 408, 413, 415, 426, 431, 503), status_line
            if status >= 400:  # every refusal is the protocol's JSON error, never the HTTP server's own text
                head, _, body = answer.partition(b"\r\n\r\n")
                assert b"content-type: application/json" in head.lower(), answer[:300]
                length = int(re.search(rb"content-length: *([0-9]+)", head, re.IGNORECASE).group(1))
                assert validate(body[:length])["status"] == status

    send()
    assert sent >= SOCKET_REQUESTS
    assert_bridge_healthy(bridge)


def handshake(port: int) -> socket.socket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                b"Authorization: Bearer %s\r\n\r\n" % (port, TOKEN.encode()))
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = raw.recv(4096)
        assert chunk, "handshake refused"
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return raw


@st.composite
def raw_frames(draw) -> bytes:
    payload = draw(st.one_of(bodies(), st.binary(max_size=200), commands().map(encoded)))
    opcode = draw(st.sampled_from([0x1, 0x1, 0x1, 0x2, 0x0, 0x8, 0x9, 0xA, 0x3, 0xB, 0xF]))
    fin = draw(st.booleans()) or opcode == 0x1
    masked = draw(st.sampled_from([True, True, True, False]))
    declared = draw(st.sampled_from(["exact", "exact", "bigger", "huge"]))
    length = {"exact": len(payload), "bigger": len(payload) + 10, "huge": 2**62}[declared]
    header = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header += bytes([mask_bit | length])
    elif length < 2**16:
        header += bytes([mask_bit | 126]) + struct.pack(">H", length)
    else:
        header += bytes([mask_bit | 127]) + struct.pack(">Q", length)
    if masked:
        key = os.urandom(4)
        header += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    frame = header + payload
    return frame[:draw(st.integers(1, len(frame)))] if draw(st.booleans()) else frame


def test_raw_websocket_frames_never_crash_or_hang_the_bridge(bridge):
    sent = 0

    @settings(max_examples=SOCKET_SESSIONS, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(frames=st.lists(raw_frames(), min_size=1, max_size=3))
    def session(frames: list[bytes]) -> None:
        nonlocal sent
        sent += len(frames)
        raw = handshake(bridge.port)
        with raw:
            try:
                raw.sendall(b"".join(frames))
                raw.shutdown(socket.SHUT_WR)
            except OSError:
                return  # the bridge closed on a protocol error already: that is an answer
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    if not raw.recv(65536):
                        return  # closed: a close frame with a code was sent first, or the peer is gone
                except (ConnectionResetError, TimeoutError):
                    return
            pytest.fail("the bridge neither answered nor closed the WebSocket")

    session()
    assert sent >= SOCKET_SESSIONS
    assert_bridge_healthy(bridge)


def assert_bridge_healthy(bridge) -> None:
    assert bridge.server.running
    from plugin_sdk.bridge_client import BridgeClient

    with BridgeClient(bridge.url, TOKEN) as client:
        assert client.send_call(f"healthy-{time.monotonic_ns()}", "ringing", ani="13800138000").popped
        assert client.show() is True
