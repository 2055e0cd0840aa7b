"""A tiny real HTTP server on 127.0.0.1 that misbehaves on purpose (a fault injector, not a fake API).

Each request is answered by the current `behavior`:
- Reply(status, body, headers): a canned answer (500s, malformed or schema-violating JSON, 503 + Retry-After)
- Hang(): accept the request and never answer until the test ends (the client's read timeout fires)
- Forward(upstream, drop_answer=False, hold=None, rewrite=None): pass the request to the real server; with
  `drop_answer` the server's answer is thrown away and the connection closed (a lost answer), with
  `hold` an Event the forwarding waits for first (to line up concurrent callers deterministically), with
  `rewrite` a function (status, parsed JSON body) -> JSON body the client gets instead (a broken proxy or
  cache that mangles the server's answer after the server acted on the request).
- Drip(status, body, interval_s): the status line and headers at once, then the body one byte every
  `interval_s` seconds (a slow or hostile answer: each read gets a byte well within its read timeout).
  `Drip(headers_too=True)` drips the status line and headers as well.
- Flood(size, declare=True, gzip=False): a 200 answer of `size` bytes ('[0,0,…]' JSON), as fast as the
  client takes it; `declare=False` sends no Content-Length (the end is the connection's close), `gzip`
  compresses it (the client decompresses: a small transfer, a huge answer). Stops quietly when the client
  hangs up; `FaultServer.flooded` counts the bytes that went out.
- a function (method, path, query) -> one of the above: per request (e.g. one number answered 409 by
  the fault injector, everything else forwarded to the real server).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import requests


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass
class Hang:
    pass


@dataclass
class Forward:
    upstream: str
    drop_answer: bool = False
    hold: threading.Event | None = None
    rewrite: Any = None


@dataclass
class Drip:
    status: int = 200
    body: bytes = b'{"status": "ok"}' * 64
    interval_s: float = 0.2
    headers_too: bool = False


@dataclass
class Flood:
    size: int
    declare: bool = True
    gzip: bool = False


def _flood_chunks(size: int, chunk: int = 64 * 1024):
    """Exactly `size` bytes of the JSON list [0,0,…,0] (at least 3), in chunks of one reused block: the
    server's own memory stays small."""
    block = b",0" * (chunk // 2)
    yield b"[0"
    left = size - 3
    while left >= 2:
        piece = block[: min(left - left % 2, len(block))]
        left -= len(piece)
        yield piece
    yield b" " * left + b"]"


def _gzipped_flood(size: int):
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    for piece in _flood_chunks(size):
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


@dataclass
class FaultServer:
    base_url: str
    behavior: Any
    requests_seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path without query)
    arrived: threading.Event = field(default_factory=threading.Event)  # set when any request arrives
    dripped: threading.Event = field(default_factory=threading.Event)  # set when a Drip answer was sent whole
    flooded: int = 0  # bytes of Flood answers that went out


@contextmanager
def fault_server(behavior: Any = None, *, tls_context: ssl.SSLContext | None = None) -> Iterator[FaultServer]:
    release = threading.Event()  # ends every Hang when the test is over: no thread outlives the test
    state = FaultServer("", behavior or Reply())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 5  # socket timeout: an idle client cannot keep a handler thread alive


        def log_message(self, *_args) -> None:  # keep test output quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests_seen.append((self.command, self.path.split("?", 1)[0]))
            state.arrived.set()
            behavior = state.behavior
            if callable(behavior):
                path, _, query = self.path.partition("?")
                behavior = behavior(self.command, path, {k: v[0] for k, v in parse_qs(query).items()})
            if isinstance(behavior, Hang):
                release.wait(timeout=30)
                self.close_connection = True
                return
            if isinstance(behavior, Drip):
                self._drip(behavior)
                return
            if isinstance(behavior, Flood):
                self._flood(behavior)
                return
            if isinstance(behavior, Forward):
                if behavior.hold is not None:
                    behavior.hold.wait(timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                upstream = requests.request(self.command, behavior.upstream + self.path, data=body or None,
                                            headers=headers, timeout=10)
                if behavior.drop_answer:
                    self.close_connection = True
                    return
                reply = Reply(upstream.status_code, upstream.content,
                              {"Content-Type": upstream.headers.get("Content-Type", "application/json")})
                if behavior.rewrite is not None:
                    reply.body = behavior.rewrite(upstream.status_code, upstream.json())
            else:
                reply = behavior
            payload = reply.encoded()
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            # One request per connection, so closing the server never waits on an idle keep-alive.
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.write(payload)

        def _drip(self, drip: Drip) -> None:
            head = (f"HTTP/1.1 {drip.status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(drip.body)}\r\nConnection: close\r\n\r\n").encode()
            self.close_connection = True
            if not drip.headers_too:
                self.wfile.write(head)
                head = b""
            answer = head + drip.body
            try:
                for i in range(len(answer)):
                    if i and release.wait(drip.interval_s):
                        return  # the test is over
                    self.wfile.write(answer[i:i + 1])
            except OSError:
                return  # the client gave up and closed the connection: what a deadline is for
            state.dripped.set()  # the whole answer went out: the client waited for all of it

        def _flood(self, flood: Flood) -> None:
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            if flood.gzip:
                self.send_header("Content-Encoding", "gzip")
            elif flood.declare:
                self.send_header("Content-Length", str(flood.size))
            self.end_headers()
            try:
                for piece in _gzipped_flood(flood.size) if flood.gzip else _flood_chunks(flood.size):
                    if release.is_set():
                        return
                    self.wfile.write(piece)
                    state.flooded += len(piece)
            except OSError:
                return  # the client refused the rest and hung up

        do_GET = _handle
        do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False
    server.block_on_close = True  # server_close() joins the handler threads
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls_context else "http"
    state.base_url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        release.set()
        hold = getattr(state.behavior, "hold", None)
        if hold is not None:
            hold.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
