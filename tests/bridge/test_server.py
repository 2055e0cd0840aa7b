"""The bridge over real sockets: every refusal and why, CORS, the WebSocket (handshake, commands, events),
fan-out to several hosts, a slow host, a busy panel, start and stop."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import socket
import time
from datetime import UTC, datetime

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from desktop.calls.bridge import BridgeHandlers, BridgeServer, BridgeStartError, FanOut
from desktop.calls.bridge_protocol import panel_result
from tests.bridge.conftest import TOKEN, FakePanel, RunningBridge, preset_token, start_bridge, validate

ALLOWED = "http://127.0.0.1:8123"


def request(bridge: RunningBridge, method: str, path: str, body: bytes | dict | None = None, *,
            headers: dict[str, str] | None = None, host: str | None = None, token: str | None = TOKEN,
            chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host or f"127.0.0.1:{bridge.port}")
        if token is not None:
            connection.putheader("Authorization", f"Bearer {token}")
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if payload is not None and "Content-Type" not in (headers or {}):
            connection.putheader("Content-Type", "application/json")
        if payload is not None and not chunked:
            connection.putheader("Content-Length", str(len(payload)))
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        if payload is not None and chunked:
            for start in range(0, len(payload), 4096):
                piece = payload[start:start + 4096]
                connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            connection.send(b"0\r\n\r\n")
        elif payload is not None:
            connection.send(payload)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def ringing(call_id: str, ani: str = "13800138000", **extra) -> dict:
    return {"v": 1, "type": "call", "call_id": call_id, "state": "ringing", "ani": ani, **extra}


def ws_connect(bridge: RunningBridge, *, token: str | None = TOKEN, origin: str | None = None,
               subprotocols: list[str] | None = None, **options):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return connect(f"ws://127.0.0.1:{bridge.port}/v1/events", additional_headers=headers, origin=origin,
                   subprotocols=subprotocols, proxy=None, compression=None, open_timeout=10, **options)


def recv_json(ws, timeout: float = 5.0) -> dict:
    return validate(ws.recv(timeout=timeout))


# --- HTTP ------------------------------------------------------------------------------------------------


def test_a_call_event_pops_and_a_repeat_says_duplicate(bridge):
    status, headers, body = request(bridge, "POST", "/v1/calls", ringing("c1"))
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert validate(body)["result"] == "popped"
    status, _, body = request(bridge, "POST", "/v1/calls", ringing("c1"))
    reply = validate(body)
    assert (status, reply["result"], reply["reason"]) == (200, "ignored", "duplicate")
    status, _, body = request(bridge, "GET", "/v1/state")
    assert status == 200 and [c["call_id"] for c in validate(body)["calls"]] == ["c1"]
    status, _, body = request(bridge, "POST", "/v1/panel/show")
    assert validate(body)["visible"] is True and bridge.panel.visible
    status, _, body = request(bridge, "POST", "/v1/panel/hide", {"v": 1, "type": "panel.hide"})
    assert validate(body)["visible"] is False


@pytest.mark.parametrize(("case", "status", "code", "field"), [
    ("no token", 401, "unauthorized", "Authorization"),
    ("wrong token", 401, "unauthorized", "Authorization"),
    ("basic auth", 401, "unauthorized", "Authorization"),
    ("foreign origin", 403, "origin_not_allowed", "Origin"),
    ("null origin", 403, "origin_not_allowed", "Origin"),
    ("rebound host", 421, "host_not_allowed", "Host"),
    ("declared too large", 413, "body_too_large", None),
    ("chunked too large", 413, "body_too_large", None),
    ("bad field", 400, "invalid_field", "state"),
    ("not json", 400, "bad_json", None),
    ("form post", 415, "unsupported_media_type", "Content-Type"),
    ("unknown path", 404, "not_found", None),
    ("wrong method", 405, "method_not_allowed", None),
    ("events without upgrade", 426, "upgrade_required", None),
])
def test_every_refusal_says_why(bridge, case, status, code, field):
    calls = {
        "no token": lambda: request(bridge, "POST", "/v1/calls", ringing("r"), token=None),
        "wrong token": lambda: request(bridge, "POST", "/v1/calls", ringing("r"), token=TOKEN[:-1] + "!"),
        "basic auth": lambda: request(bridge, "GET", "/v1/state", token=None,
                                      headers={"Authorization": "Basic dXNlcjpwYXNz"}),
        "foreign origin": lambda: request(bridge, "POST", "/v1/calls", ringing("r"),
                                          headers={"Origin": "https://evil.example"}),
        "null origin": lambda: request(bridge, "GET", "/v1/state", headers={"Origin": "null"}),
        "rebound host": lambda: request(bridge, "GET", "/v1/state", host=f"attacker.example:{bridge.port}"),
        "declared too large": lambda: request(bridge, "POST", "/v1/calls", b"{" + b" " * 20_000 + b"}"),
        "chunked too large": lambda: request(bridge, "POST", "/v1/calls", b"[" + b"1," * 20_000 + b"1]", chunked=True),
        "bad field": lambda: request(bridge, "POST", "/v1/calls", ringing("r") | {"state": "on_hold"}),
        "not json": lambda: request(bridge, "POST", "/v1/calls", b"call_id=1&state=ringing"),
        "form post": lambda: request(bridge, "POST", "/v1/calls", b"call_id=1",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"}),
        "unknown path": lambda: request(bridge, "GET", "/v1/calls/c1"),
        "wrong method": lambda: request(bridge, "DELETE", "/v1/calls"),
        "events without upgrade": lambda: request(bridge, "GET", "/v1/events"),
    }
    got_status, headers, body = calls[case]()
    reply = validate(body)
    assert (got_status, reply["status"], reply["error"], reply["field"]) == (status, status, code, field), reply
    assert reply["message"]
    if status == 401:
        assert headers["www-authenticate"].startswith("Bearer") and "preset by IT" in reply["message"]
    if status in (403, 421):
        assert "access-control-allow-origin" not in headers
    assert bridge.panel.events_handled == 0


def test_cors_preflight_is_answered_for_allowed_origins_only(bridge):
    status, headers, body = request(bridge, "OPTIONS", "/v1/calls", token=None, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
        "Access-Control-Request-Private-Network": "true"})
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in headers["access-control-allow-methods"]
    assert {"authorization", "content-type"} <= {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert headers["access-control-allow-private-network"] == "true" and "Origin" in headers["vary"]
    status, headers, body = request(bridge, "OPTIONS", "/v1/calls", token=None, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert status == 403 and "access-control-allow-origin" not in headers
    assert validate(body)["error"] == "origin_not_allowed"
    status, headers, body = request(bridge, "POST", "/v1/calls", ringing("cors"), headers={"Origin": ALLOWED})
    assert status == 200 and headers["access-control-allow-origin"] == ALLOWED


def test_duplicate_security_headers_are_refused(bridge):
    connection = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=10)
    connection.putrequest("GET", "/v1/state", skip_host=True)
    connection.putheader("Host", f"127.0.0.1:{bridge.port}")
    connection.putheader("Authorization", "Bearer nope")
    connection.putheader("Authorization", f"Bearer {TOKEN}")
    connection.endheaders()
    response = connection.getresponse()
    reply = validate(response.read())
    connection.close()
    assert response.status == 400 and reply["field"] == "Authorization"


def test_a_keep_alive_connection_serves_many_requests_without_nagle_delays(bridge):
    # A plain http.client (Nagle on, two writes per request): each answer must still come at once. With
    # Nagle on at the bridge's end too, every answer waited ~40 ms for the client's delayed ACK.
    connection = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=10)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    took = []
    for n in range(50):
        started = time.perf_counter()
        connection.request("POST", "/v1/calls", json.dumps(ringing(f"k{n}")), headers)
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["result"] == "popped"
        took.append(time.perf_counter() - started)
    connection.close()
    assert sorted(took)[len(took) // 2] < 0.02, f"median {sorted(took)[len(took) // 2] * 1000:.1f} ms"


# --- WebSocket handshake -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "status", "code"), [
    ({"token": None}, 401, "unauthorized"),
    ({"token": "wrong-token-0123456789"}, 401, "unauthorized"),
    ({"origin": "https://evil.example"}, 403, "origin_not_allowed"),
    ({"token": None, "subprotocols": [f"token.{TOKEN}"]}, 400, "bad_request"),
])
def test_the_websocket_handshake_is_refused_with_a_reason(bridge, options, status, code):
    with pytest.raises(InvalidStatus) as caught:
        ws_connect(bridge, **options)
    response = caught.value.response
    assert response.status_code == status
    assert validate(response.body)["error"] == code


def test_the_websocket_refuses_a_rebound_host(bridge):
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as raw:
        raw.sendall(b"GET /v1/events HTTP/1.1\r\nHost: attacker.example\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n\r\n")
        answer = raw.recv(65536)
    assert answer.startswith(b"HTTP/1.1 421") and b"host_not_allowed" in answer


def test_browsers_send_the_token_as_a_subprotocol_which_is_never_echoed(bridge):
    with ws_connect(bridge, token=None, origin=ALLOWED, subprotocols=["callcue.v1", f"token.{TOKEN}"]) as ws:
        assert ws.subprotocol == "callcue.v1"
        hello = recv_json(ws)
        assert hello["type"] == "hello" and hello["protocol"] == 1 and "pop.shown" in hello["events"]


# --- WebSocket messages ------------------------------------------------------------------------------------


def test_commands_on_the_websocket_are_answered_with_their_id(bridge):
    with ws_connect(bridge) as ws:
        recv_json(ws)  # hello
        ws.send(json.dumps(ringing("w1") | {"id": "a"}))
        ws.send(json.dumps({"v": 1, "type": "state.get", "id": 2}))
        ws.send(json.dumps({"v": 1, "type": "panel.show", "id": "s"}))
        ws.send("not json")
        ws.send(b"\x00\x01")
        ws.send(json.dumps(ringing("w2") | {"state": "bogus", "id": "bad"}))
        ws.send(json.dumps({"v": 1, "type": "state.get", "pad": "x" * 20_000}))
        replies, events = {}, []
        while len(replies) < 7:
            message = recv_json(ws)
            if "seq" in message:
                events.append(message)
            else:
                replies[message.get("id", f"#{len(replies)}")] = message
        assert replies["a"]["type"] == "call.result" and replies["a"]["result"] == "popped"
        assert replies[2]["type"] == "state" and replies[2]["calls"][0]["call_id"] == "w1"
        assert replies["s"] == {"v": 1, "type": "panel.result", "visible": True, "id": "s"}
        assert replies["bad"]["status"] == 400 and replies["bad"]["field"] == "state"
        errors = sorted(r["error"] for k, r in replies.items() if isinstance(k, str) and k.startswith("#"))
        assert errors == ["bad_json", "bad_json", "body_too_large"]
        ws.send(json.dumps({"v": 1, "type": "state.get", "id": "still-open"}))
        while (message := recv_json(ws)).get("id") != "still-open":
            pass


def test_a_message_far_over_the_limit_closes_the_connection_with_1009(bridge):
    with ws_connect(bridge, max_size=None) as ws:
        recv_json(ws)
        ws.send("x" * 100_000)
        with pytest.raises(ConnectionClosed) as caught:
            while True:
                ws.recv(timeout=5)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009


def test_events_fan_out_to_every_subscriber_in_order(bridge):
    with ws_connect(bridge) as first, ws_connect(bridge) as second:
        recv_json(first), recv_json(second)
        for n in range(20):
            request(bridge, "POST", "/v1/calls", ringing(f"f{n}"))
            request(bridge, "POST", "/v1/calls", ringing(f"f{n}"))  # -> call.ignored
        for ws in (first, second):
            got = [recv_json(ws) for _ in range(40)]
            assert [(m["type"], m["data"]["call_id"]) for m in got] == [
                (kind, f"f{n}") for n in range(20) for kind in ("pop.shown", "call.ignored")]
            seqs = [m["seq"] for m in got]
            assert seqs == list(range(seqs[0], seqs[0] + 40))


def test_a_slow_host_loses_its_oldest_events_and_is_told_while_others_get_everything(fake_panel):
    running = start_bridge(fake_panel, queue_limit=32)
    try:
        big = "x" * 8000  # fills the slow host's socket buffers quickly
        with ws_connect(running) as slow, ws_connect(running) as fast:
            recv_json(slow), recv_json(fast)
            received = []
            for n in range(3000):
                running.server.publish("call.ignored", {"call_id": f"s{n}", "reason": "duplicate", "detail": big})
                if n % 16 == 15:
                    while len(received) < n - 8:
                        received.append(json.loads(fast.recv(timeout=10)))
            while len(received) < 3000:
                received.append(json.loads(fast.recv(timeout=10)))
            assert [m["data"]["call_id"] for m in received] == [f"s{n}" for n in range(3000)]
            kinds, dropped = [], 0
            while True:
                try:
                    message = json.loads(slow.recv(timeout=1))
                except TimeoutError:
                    break
                kinds.append(message["type"])
                if message["type"] == "events.dropped":
                    validate(message)
                    dropped += message["count"]
            assert dropped > 0 and kinds.count("call.ignored") + dropped == 3000
            assert running.server.stats().events_dropped == dropped
    finally:
        running.server.stop()


def test_fanout_drops_the_oldest_and_notes_the_gap_in_place():
    fanout = FanOut(queue_limit=3)
    subscriber = fanout.subscribe()
    fanout._pending = [("call.closed", {"call_id": f"c{n}", "reason": "dismissed"}, datetime.now(UTC))
                       for n in range(7)]
    fanout._drain()
    messages = [json.loads(m) for m in iter(subscriber.next_message, None)]
    assert messages[0]["type"] == "events.dropped" and messages[0]["count"] == 4
    assert [m["data"]["call_id"] for m in messages[1:]] == ["c4", "c5", "c6"]


# --- a busy or closing panel ----------------------------------------------------------------------------------


def test_a_panel_that_does_not_answer_gets_503_and_the_event_is_not_applied_later():
    waiting: list[concurrent.futures.Future] = []

    def never_answers(_event):
        future: concurrent.futures.Future = concurrent.futures.Future()
        waiting.append(future)
        return future

    server = BridgeServer(token=preset_token(), port=0, answer_timeout_s=0.3, handlers=BridgeHandlers(
        call_event=never_answers, show=lambda: panel_result(True), hide=lambda: panel_result(False),
        state=lambda: panel_result(False)))
    server.start()
    try:
        assert server.wait_ready(15)
        running = RunningBridge(server, FakePanel(), TOKEN)
        started = time.monotonic()
        status, headers, body = request(running, "POST", "/v1/calls", ringing("busy"))
        assert 0.3 <= time.monotonic() - started < 3
        reply = validate(body)
        assert (status, reply["error"], headers["retry-after"]) == (503, "panel_busy", "1")
        assert "retrying is safe" in reply["message"]
        assert waiting[0].cancelled()  # the GUI thread will skip it: 503 means "not applied"
        status, _, body = request(running, "POST", "/v1/panel/show")
        assert status == 200  # other commands still work
    finally:
        server.stop()


# --- start and stop ---------------------------------------------------------------------------------------------


def test_a_taken_port_is_reported_clearly(fake_panel):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        server = BridgeServer(token=preset_token(), handlers=fake_panel.handlers(), port=port)
        with pytest.raises(BridgeStartError, match=f"127.0.0.1:{port}.*bridge.port"):
            server.start()
        assert server.stop()


def test_start_returns_at_once_and_stop_ends_everything(fake_panel):
    server = BridgeServer(token=preset_token(), handlers=fake_panel.handlers(), port=0)
    started = time.perf_counter()
    server.start()
    assert time.perf_counter() - started < 0.05  # binds; uvicorn loads on the bridge thread
    assert server.wait_ready(15)
    with ws_connect(RunningBridge(server, fake_panel, TOKEN)) as ws:
        recv_json(ws)
        stopping = time.perf_counter()
        assert server.stop()
        assert time.perf_counter() - stopping < 3
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_only_loopback_addresses_can_be_served(fake_panel):
    with pytest.raises(ValueError, match="loopback"):
        BridgeServer(token=preset_token(), handlers=fake_panel.handlers(), host="0.0.0.0")
