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
class FaultServer:
    base_url: str
    behavior: Any
    requests_seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path without query)
    arrived: threading.Event = field(default_factory=threading.Event)  # set when any request arrives
    dripped: threading.Event = field(default_factory=threading.Event)  # set when a Drip answer was sent whole


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
            try:
                for i in range(len(head) + len(drip.body)):
                    self.wfile.write((head + drip.body)[i:i + 1])
                    self.wfile.flush()
                    if release.wait(drip.interval_s):
                        return  # the test is over
            except OSError:
                return  # the client gave up and closed the connection: what a deadline is for
            state.dripped.set()  # the whole answer went out: the client waited for all of it

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
