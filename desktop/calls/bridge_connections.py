"""Which connections the local bridge keeps: nobody without the token can shut hosts out.

uvicorn alone counts every open connection against `limit_concurrency` and answers every request beyond it
with a plain-text 503, idle or not, token or not: 256 idle sockets from any local program stopped every
pop. It also reads a request head of any size (one 200 MiB header cost the panel 350 MiB). This module
replaces that with per-connection rules, on uvicorn's httptools protocol (subclassed: the parser and the
request cycle stay uvicorn's):

- a request head (request line and headers) of at most `max_head_bytes` (16 KiB) and `max_headers` (100)
  headers: beyond either, 431 `headers_too_large` and the connection is closed: the rest is never read;
- the head complete within `head_timeout_s` (5 s) of the connection (or of the first byte of a later
  request on a kept-alive connection), the whole request (head and body) within `request_timeout_s`
  (10 s): else 408 `request_timeout` and the connection is closed. A trickling client holds a connection
  for seconds, never for as long as it likes;
- at most `max_unauthenticated` (64) connections that have not shown the token yet (new ones, ones in the
  middle of a request, ones that were refused): a new connection closes the oldest of them (503
  `too_many_connections`). A host's own connection is closed that way only if that many others arrived
  while it was sending its head, which a host on the same machine does in well under a millisecond;
- at most `max_authenticated` (128) connections whose request showed the right token (kept-alive HTTP and
  WebSockets): one more closes the one idle for the longest (a kept-alive socket the host will reopen);
  when none is idle the new request gets 503 `too_many_connections` (`Retry-After: 1`).

So the bridge holds at most 192 client sockets (64 + 128), whatever anyone does, far below the usual
1,024 file descriptors. Every refusal is the protocol's JSON error (docs/bridge.md), never uvicorn's text.

uvicorn and httptools are imported here, so only the bridge's thread imports this module (at serving).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from desktop.calls.bridge import ConnectionLimits
from desktop.calls.bridge_protocol import BridgeRefusal, encode_message

_REASONS: Final = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large",
                   503: b"Service Unavailable"}
Peer = tuple[str, int]


@dataclass
class ConnectionStats:
    opened: int = 0
    evicted: int = 0  # closed to make room (the oldest without the token, or the longest idle with it)
    refused_full: int = 0  # requests with the token refused because every kept connection was busy
    timeouts: int = 0  # 408
    heads_too_large: int = 0  # 431
    malformed: int = 0  # 400 from the HTTP parser


class ConnectionGuard:
    """The connections of one bridge server: who is in which pool, in which order. Lives on the bridge's
    event loop (every call comes from it), so it needs no lock."""

    def __init__(self, limits: ConnectionLimits | None = None) -> None:
        self.limits = limits or ConnectionLimits()
        self.stats = ConnectionStats()
        # Insertion-ordered dicts used as ordered sets: the oldest (resp. least recently used) first.
        self._unauthenticated: dict[GuardedHttpProtocol, None] = {}
        self._authenticated: dict[GuardedHttpProtocol, None] = {}
        self._by_peer: dict[Peer, GuardedHttpProtocol] = {}
        self._by_transport: dict[Any, GuardedHttpProtocol] = {}

    @property
    def open_connections(self) -> int:
        return len(self._unauthenticated) + len(self._authenticated)

    @property
    def unauthenticated(self) -> int:
        return len(self._unauthenticated)

    @property
    def authenticated(self) -> int:
        return len(self._authenticated)

    def opened(self, connection: GuardedHttpProtocol) -> None:
        self.stats.opened += 1
        self._unauthenticated[connection] = None
        self._by_transport[connection.transport] = connection
        if connection.client is not None:
            self._by_peer[connection.client] = connection
        while len(self._unauthenticated) > self.limits.max_unauthenticated:
            oldest = next(iter(self._unauthenticated))
            del self._unauthenticated[oldest]  # now: its connection_lost comes on a later loop iteration
            self.stats.evicted += 1
            oldest.evict("too many connections without the bridge token are open; the oldest was closed")

    def closed(self, connection: GuardedHttpProtocol) -> None:
        self._unauthenticated.pop(connection, None)
        self._authenticated.pop(connection, None)
        self._by_transport.pop(connection.transport, None)
        if connection.client is not None and self._by_peer.get(connection.client) is connection:
            del self._by_peer[connection.client]

    def transport_closed(self, transport: Any) -> None:
        """A connection upgraded to a WebSocket ended (its HTTP protocol no longer hears of it)."""
        connection = self._by_transport.get(transport)
        if connection is not None:
            self.closed(connection)

    def admit(self, peer: Any) -> bool:
        """A request on the connection from `peer` showed the right token: move the connection to the
        authenticated pool (or refresh its place there). False when that pool is full of busy connections:
        the request is then refused (503) and the connection closed."""
        connection = self._by_peer.get(tuple(peer)) if isinstance(peer, list | tuple) and len(peer) == 2 else None
        if connection is None:
            return True  # not one of ours (e.g. the ASGI app driven in-process by tests)
        if connection in self._authenticated:
            del self._authenticated[connection]
            self._authenticated[connection] = None  # most recently used last
            return True
        if len(self._authenticated) >= self.limits.max_authenticated:
            idle = next((c for c in self._authenticated if c.idle), None)
            if idle is None:
                self.stats.refused_full += 1
                return False
            del self._authenticated[idle]
            self.stats.evicted += 1
            idle.close_idle()
        self._unauthenticated.pop(connection, None)
        self._authenticated[connection] = None
        return True


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above. `guard` is set on a subclass per server
    (see `protocol_classes`)."""

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = self.guard.limits
        self._timer: asyncio.TimerHandle | None = None
        self._in_head = True  # reading a request line and headers (or waiting for the next request)
        self._head_bytes = 0
        self._request_started = 0.0  # loop time the current request (or the connection) started
        self._refused = False
        self._upgraded = False

    # --- connection ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_request_clock()
        self.guard.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.guard.closed(self)
        super().connection_lost(exc)

    @property
    def idle(self) -> bool:
        """Kept alive between requests: closing it loses nothing (the host opens a new one)."""
        return (not self._upgraded and self._timer is None and not self.pipeline
                and (self.cycle is None or self.cycle.response_complete))

    def close_idle(self) -> None:
        self._cancel_timer()
        self.transport.close()

    def evict(self, message: str) -> None:
        if self._upgraded or (self.cycle is not None and self.cycle.response_started
                              and not self.cycle.response_complete):
            self.transport.abort()  # a response is being written (or it is a WebSocket): just end it
            return
        self._refuse(BridgeRefusal(503, "too_many_connections", f"{message}; try again"), retry_after=True)

    # --- reading ------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._timer is None:  # the first bytes of a new request on a kept-alive connection
            self._start_request_clock()
        limit = self.limits.max_head_bytes
        while data:
            if self._in_head:
                room = limit - self._head_bytes
                if room <= 0:
                    self._head_too_large()
                    return
                # Never hand the parser more head than the limit: httptools buffers a header until it ends.
                piece, data = data[:room], data[room:]
                self._head_bytes += len(piece)
            else:
                piece, data = data, b""
            super().data_received(piece)
            if self._upgraded:
                if data:
                    self.transport.get_protocol().data_received(data)
                return
            if self._refused or self.transport.is_closing():
                return
        if self._in_head and self._head_bytes >= limit:
            self._head_too_large()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # a pipelined request right behind the previous one
            self._start_request_clock()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        if len(self.headers) > self.limits.max_headers:
            self._head_too_large()
            raise _Refused  # stops the parser; uvicorn's handler then finds the connection refused
        if self._timer is not None:  # from now on the whole-request deadline
            self._timer.cancel()
            remaining = self._request_started + self.limits.request_timeout_s - self.loop.time()
            self._timer = self.loop.call_later(max(0.0, remaining), self._expired)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0
        self._cancel_timer()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timer()
        self._upgraded = True  # still counted: the WebSocket protocol reports when it ends
        super().handle_websocket_upgrade()

    def _unsupported_upgrade_warning(self) -> None:
        self._refuse(BridgeRefusal(400, "bad_request", "the bridge upgrades to WebSocket only (at /v1/events)"))

    def send_400_response(self, msg: str) -> None:
        if self._refused or self.transport.is_closing():
            return  # we stopped the parser ourselves (_Refused)
        self.guard.stats.malformed += 1
        self._refuse(BridgeRefusal(400, "bad_request", "the request is not valid HTTP/1.1"))

    # --- limits ---------------------------------------------------------------------------------------

    def _start_request_clock(self) -> None:
        self._cancel_timer()
        self._request_started = self.loop.time()
        self._timer = self.loop.call_later(self.limits.head_timeout_s, self._expired)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        self.guard.stats.timeouts += 1
        if self._in_head:
            message = (f"the request line and headers did not arrive within {self.limits.head_timeout_s:g} s "
                       "of the connection (or of the request's first byte)")
        else:
            message = f"the request did not arrive completely within {self.limits.request_timeout_s:g} s"
        self._refuse(BridgeRefusal(408, "request_timeout", message + "; send the whole request at once"))

    def _head_too_large(self) -> None:
        self.guard.stats.heads_too_large += 1
        self._refuse(BridgeRefusal(
            431, "headers_too_large",
            f"the request line and headers may be at most {self.limits.max_head_bytes // 1024} KiB and "
            f"{self.limits.max_headers} headers"))

    def _refuse(self, refusal: BridgeRefusal, *, retry_after: bool = False) -> None:
        """Answer with the protocol's JSON error and close at once (the file descriptor is freed now; what
        the client still sends is never read)."""
        if self._refused:
            return
        self._refused = True
        self._cancel_timer()
        if self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete:
            self.transport.abort()  # half a response is out: a second one would corrupt it
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's pending receive() ends; its own answer goes nowhere
            self.cycle.message_event.set()
        self.transport.write(_json_response(refusal, retry_after=retry_after))
        self.transport.abort()  # what fits the socket buffer (all of it, for a client that reads) is sent


def _json_response(refusal: BridgeRefusal, *, retry_after: bool = False) -> bytes:
    body = encode_message(refusal.as_message()).encode("utf-8")
    head = [b"HTTP/1.1 %d %s" % (refusal.status, _REASONS[refusal.status]),
            b"content-type: application/json; charset=utf-8", b"cache-control: no-store",
            b"x-content-type-options: nosniff", b"content-length: %d" % len(body), b"connection: close"]
    if retry_after:
        head.append(b"retry-after: 1")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    guard: ConnectionGuard

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.transport_closed(self.transport)
        super().connection_lost(exc)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The websockets library refuses a bad handshake (no Sec-WebSocket-Key, another version …) in plain
        # text; the bridge refuses it in its protocol's words. Its reason is not repeated: it can quote a
        # header's value.
        accept = self.conn.accept

        def accept_or_refuse_in_json(request: Request) -> Response:
            response = accept(request)
            if response.status_code == 101:
                return response
            body = encode_message(_BAD_HANDSHAKE.as_message()).encode("utf-8")
            headers = Headers([("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store"),
                               ("Content-Length", str(len(body))), ("Connection", "close")])
            return Response(400, "Bad Request", headers, body)

        self.conn.accept = accept_or_refuse_in_json  # type: ignore[method-assign]

    def handle_handshake_exception(self) -> None:
        self.handshake_complete = True
        self.close_sent = True
        self.transport.write(_json_response(_BAD_HANDSHAKE))
        self.transport.close()


_BAD_HANDSHAKE: Final = BridgeRefusal(
    400, "bad_request", "not a valid WebSocket handshake: send GET /v1/events with Upgrade: websocket, "
                        "Sec-WebSocket-Key and Sec-WebSocket-Version: 13", field="Sec-WebSocket-Key")


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request (httptools turns it into an
    HttpParserCallbackError, which uvicorn answers with send_400_response: a no-op once refused)."""


def protocol_classes(guard: ConnectionGuard) -> tuple[type[GuardedHttpProtocol], type[GuardedWebSocketProtocol]]:
    """The HTTP and WebSocket protocol classes for uvicorn.Config(http=…, ws=…), bound to `guard`."""
    http = type("BridgeHttpProtocol", (GuardedHttpProtocol,), {"guard": guard})
    ws = type("BridgeWebSocketProtocol", (GuardedWebSocketProtocol,), {"guard": guard})
    return http, ws

