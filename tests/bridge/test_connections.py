"""The bridge's connection rules over real sockets (desktop/calls/bridge_connections.py, docs/bridge.md
"Limits and behaviour"): connections without the token can never shut an authenticated host out, a request
head is capped, a slow head or body is cut off, the sockets the bridge holds stay bounded, and every
refusal is the protocol's JSON error (never uvicorn's plain text).

Every socket a test opens is closed by the test; the bridge must then hold none."""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from desktop.calls.bridge import ConnectionLimits
from tests.bridge.conftest import TOKEN, RunningBridge, start_bridge, validate
from tests.bridge.test_server import recv_json, request, ringing, ws_connect

LINUX_PROC = Path("/proc/self/fd").is_dir() and Path("/proc/net/tcp").is_file()


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------


def bridge_sockets(port: int) -> int:
    """Sockets of this process that the bridge accepted on `port` (Linux /proc). The tests' own client
    sockets live in the same process; only sockets whose local port is the bridge's are counted."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.is_file():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] != "0A":  # 0A: the listening socket
                inodes.add(fields[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:[") and link[8:-1] in inodes:
            count += 1
    return count


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll `condition` (the bridge's own thread changes what it looks at) until true, like qtbot.waitUntil."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.02)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response from a raw socket (headers, then Content-Length bytes). Data that arrived before
    a reset is still read: the bridge closes refused connections without reading the rest."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        assert chunk, f"the connection ended without a response: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        body += chunk
    return status, headers, body


def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True when the bridge closed `sock` (EOF or reset) within `timeout`; False when it stayed open."""
    readable, _, _ = select.select([sock], [], [], timeout)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def head(port: int, *extra: bytes, method: bytes = b"GET", path: bytes = b"/v1/state", token: bool = True) -> bytes:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port]
    if token:
        lines.append(b"Authorization: Bearer " + TOKEN.encode())
    return b"\r\n".join([*lines, *extra]) + b"\r\n\r\n"


@pytest.fixture
def open_sockets():
    """Sockets a test opens; all closed at the end, whatever happened."""
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def assert_no_bridge_sockets_left(running: RunningBridge) -> None:
    wait_until(lambda: running.server.connections.open_connections == 0, "the bridge to forget every connection")
    if LINUX_PROC:
        wait_until(lambda: bridge_sockets(running.port) == 0, "the bridge to close every socket")


# --------------------------------------------------------------------------------------------------------
# Idle and dripping connections
# --------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not LINUX_PROC, reason="counts the bridge's sockets through /proc")
def test_idle_and_dripping_connections_never_shut_an_authenticated_host_out(bridge, open_sockets):
    port = bridge.port
    # Hosts connected before the flood, a subscriber and a kept-alive HTTP connection: connections with
    # the token are never the ones closed to make room.
    with ws_connect(bridge) as subscriber, contextlib.closing(
            http.client.HTTPConnection("127.0.0.1", port, timeout=10)) as kept:
        recv_json(subscriber)
        kept.request("GET", "/v1/state", headers={"Authorization": f"Bearer {TOKEN}"})
        assert kept.getresponse().read()

        for _ in range(256):  # idle: connected, nothing sent
            open_sockets.append(connect(port))
        for n in range(300):  # dripping: a head that never ends
            sock = connect(port)
            sock.sendall(b"POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Drip-%d: a" % (port, n))
            open_sockets.append(sock)

        started = time.monotonic()
        status, headers, body = request(bridge, "POST", "/v1/calls", ringing("while-flooded"))
        elapsed = time.monotonic() - started
        assert status == 200 and validate(body)["result"] == "popped", (status, body[:200])
        assert elapsed < 1.5, f"the host waited {elapsed:.2f} s"
        status, _, body = request(bridge, "GET", "/v1/state")
        assert status == 200 and [c["call_id"] for c in validate(body)["calls"]] == ["while-flooded"]
        shown = recv_json(subscriber)
        assert (shown["type"], shown["data"]["call_id"]) == ("pop.shown", "while-flooded")
        kept.request("GET", "/v1/state", headers={"Authorization": f"Bearer {TOKEN}"})
        assert kept.getresponse().status == 200

    # Bounded: the bridge holds at most its unauthenticated pool of the 556, never all of them.
    limits = bridge.server.limits
    assert bridge_sockets(port) <= limits.max_unauthenticated + 4  # + hosts' connections still closing
    # The whole process, less the test's own 556 client sockets: well under the usual 1,024.
    assert len(os.listdir("/proc/self/fd")) - len(open_sockets) < 256
    # The ones closed to make room were told why, in the protocol's words.
    status, headers, body = read_response(open_sockets[0])
    reply = validate(body)
    assert (status, reply["error"], headers["retry-after"], headers["connection"]) == (
        503, "too_many_connections", "1", "close")
    status, _, body = read_response(open_sockets[256])
    assert (status, validate(body)["error"]) == (503, "too_many_connections")
    assert bridge.server.connections.stats.evicted >= 556 - limits.max_unauthenticated

    for sock in open_sockets:
        sock.close()
    assert_no_bridge_sockets_left(bridge)


def test_a_silent_or_trickling_client_is_cut_off_with_408(fake_panel, open_sockets):
    limits = ConnectionLimits(head_timeout_s=0.4, request_timeout_s=0.8)
    running = start_bridge(fake_panel, limits=limits)
    try:
        port = running.port
        # Connected, never sends: cut when the head is due.
        silent = connect(port)
        open_sockets.append(silent)
        started = time.monotonic()
        status, headers, body = read_response(silent)
        waited = time.monotonic() - started
        assert (status, validate(body)["error"], headers["connection"]) == (408, "request_timeout", "close")
        assert 0.3 <= waited < 3, waited

        # Sends its head a byte at a time and never finishes: the clock does not restart with each byte.
        trickler = connect(port)
        open_sockets.append(trickler)
        whole = head(port, b"X-Slow: " + b"s" * 200)
        started, sent = time.monotonic(), 0
        while sent < len(whole) and not select.select([trickler], [], [], 0.02)[0]:
            trickler.sendall(whole[sent:sent + 1])
            sent += 1
        status, _, body = read_response(trickler)
        assert (status, validate(body)["error"]) == (408, "request_timeout")
        assert sent < len(whole) and time.monotonic() - started < 3

        # A whole head at once, then a body that trickles: cut at the whole-request deadline (counted from
        # the connection), not sooner and not later.
        started = time.monotonic()
        body_trickler = connect(port)
        open_sockets.append(body_trickler)
        body_trickler.sendall(head(port, b"Content-Type: application/json", b"Content-Length: 500",
                                   method=b"POST", path=b"/v1/calls"))
        while not select.select([body_trickler], [], [], 0.05)[0]:
            body_trickler.sendall(b" ")
        status, _, body = read_response(body_trickler)
        assert (status, validate(body)["error"]) == (408, "request_timeout")
        assert limits.request_timeout_s - 0.1 <= time.monotonic() - started < 3
        assert fake_panel.events_handled == 0

        # A host's kept-alive connection is not cut between its requests (only uvicorn's 30 s idle limit).
        host = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for attempt in range(2):
                host.request("GET", "/v1/state", headers={"Authorization": f"Bearer {TOKEN}"})
                response = host.getresponse()
                assert response.status == 200 and validate(response.read())["type"] == "state"
                if attempt == 0:
                    assert not closed_by_peer(host.sock, timeout=1.0)  # well past the head timeout
        finally:
            host.close()
        assert running.server.connections.stats.timeouts == 3
        for sock in open_sockets:
            sock.close()
        assert_no_bridge_sockets_left(running)
    finally:
        assert running.server.stop()


# --------------------------------------------------------------------------------------------------------
# The request head
# --------------------------------------------------------------------------------------------------------


def test_an_endless_header_is_cut_off_after_16_kib_with_431(bridge, open_sockets):
    sock = connect(bridge.port)
    open_sockets.append(sock)
    sock.sendall(head(bridge.port)[:-2] + b"X-Big: ")
    sent, chunk = 0, b"a" * 65536
    with pytest.raises(OSError):  # reset or broken pipe: the bridge stopped reading and closed
        while sent < 32 * 1024 * 1024:
            sock.sendall(chunk)
            sent += len(chunk)
    # What got out before the reset sat in socket buffers; the bridge kept none of it.
    assert sent < 8 * 1024 * 1024, f"{sent} bytes of header were accepted"
    status, headers, body = read_response(sock)
    reply = validate(body)
    assert (status, reply["error"], headers["connection"]) == (431, "headers_too_large", "close")
    assert "16 KiB" in reply["message"]
    assert bridge.server.connections.stats.heads_too_large == 1
    assert bridge.panel.events_handled == 0


@pytest.mark.parametrize(("extra", "status"), [
    ([b"X-Pad: " + b"p" * (15 * 1024)], 200),  # a 15 KiB head is served
    ([b"X-Pad: " + b"p" * (16 * 1024)], 431),  # over 16 KiB: refused
    ([b"X-H%d: 1" % n for n in range(90)], 200),
    ([b"X-H%d: 1" % n for n in range(101)], 431),  # over 100 headers, however small
])
def test_the_head_size_and_header_count_are_capped(bridge, open_sockets, extra, status):
    sock = connect(bridge.port)
    open_sockets.append(sock)
    sock.sendall(head(bridge.port, *extra))
    got, _, body = read_response(sock)
    reply = validate(body)
    assert got == status and (reply["type"] == "state" if status == 200 else reply["error"] == "headers_too_large")


def test_garbage_and_unknown_upgrades_get_the_json_error(bridge, open_sockets):
    for raw in (b"NOT HTTP AT ALL\r\n\r\n", b"GET /v1/state HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
                head(bridge.port, b"Connection: Upgrade", b"Upgrade: h2c"),
                head(bridge.port, b"Connection: Upgrade", b"Upgrade: websocket", path=b"/v1/events")):
        sock = connect(bridge.port)
        open_sockets.append(sock)
        sock.sendall(raw)
        status, headers, body = read_response(sock, timeout=3)
        assert headers["content-type"].startswith("application/json"), (raw, body)
        assert (status, validate(body)["error"]) == (400, "bad_request")


# --------------------------------------------------------------------------------------------------------
# Connections with the token
# --------------------------------------------------------------------------------------------------------


def test_connections_with_the_token_are_capped_and_idle_ones_make_room(fake_panel, open_sockets):
    running = start_bridge(fake_panel, limits=ConnectionLimits(max_authenticated=2))
    try:
        with ws_connect(running) as first, ws_connect(running) as second:
            recv_json(first)
            recv_json(second)
            status, headers, body = request(running, "GET", "/v1/state")  # both kept connections are busy
            reply = validate(body)
            assert (status, reply["error"], headers["retry-after"]) == (503, "too_many_connections", "1")
            with pytest.raises(InvalidStatus) as refused:
                ws_connect(running)
            assert refused.value.response.status_code == 503
            assert validate(refused.value.response.body)["error"] == "too_many_connections"
        wait_until(lambda: running.server.connections.authenticated == 0, "the WebSockets to be forgotten")

        # Two hosts keep idle connections; a third host is served and the longest idle one is closed.
        hosts = [http.client.HTTPConnection("127.0.0.1", running.port, timeout=10) for _ in range(2)]
        try:
            for host in hosts:
                host.request("GET", "/v1/state", headers={"Authorization": f"Bearer {TOKEN}"})
                assert host.getresponse().read()
            status, _, body = request(running, "POST", "/v1/calls", ringing("third-host"))
            assert status == 200 and validate(body)["result"] == "popped"
            assert closed_by_peer(hosts[0].sock)
            hosts[1].request("GET", "/v1/state", headers={"Authorization": f"Bearer {TOKEN}"})
            assert hosts[1].getresponse().status == 200  # the more recently used one stayed
        finally:
            for host in hosts:
                host.close()
        assert running.server.connections.stats.refused_full == 2
        assert_no_bridge_sockets_left(running)
    finally:
        assert running.server.stop()
