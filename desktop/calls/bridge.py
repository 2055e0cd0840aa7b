"""The local bridge: HTTP + WebSocket on 127.0.0.1 for host applications in any language.

    POST /v1/calls          a call event            -> call.result (popped / updated / … / ignored + why)
    GET  /v1/state          open calls, what each one shows, panel visibility, sync state
    POST /v1/panel/show     show the panel without taking the keyboard
    POST /v1/panel/hide
    GET  /v1/events         WebSocket: hello, then events (pop.shown, outcome.recorded, sync.state, call.*);
                            the same commands as above may be sent on it, answered with their `id`

The protocol reference is docs/bridge.md; the messages are built in desktop.calls.bridge_protocol.

Qt-free: the server runs uvicorn on one dedicated thread with its own asyncio loop, so the GUI thread
never waits for a socket. It reaches the panel only through the injected BridgeHandlers, whose answers may
be concurrent.futures.Future objects completed on another thread (the GUI thread, see
desktop.runtime.bridge_host); it awaits them with a timeout and answers 503 when the panel is busy.
Events go out through `publish()`, callable from any thread: one bounded queue per subscriber, the oldest
dropped (and an `events.dropped` notice sent) when a subscriber does not keep up, so a slow host never
holds up the panel or the other hosts.

Every request passes, in order: the connection rules of desktop.calls.bridge_connections (request head at
most 16 KiB and 100 headers: 431; head within 5 s, whole request within 10 s: 408; capped pools of
connections with and without the token, so connections without it can never shut hosts out), Host is a
loopback name (421: DNS rebinding), Origin is absent or allowed (403), CORS preflight, bearer token (401,
constant-time comparison), room for the connection in the authenticated pool (503), body size (413),
content type (415), then the message itself (400 naming the field).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from desktop import __version__
from desktop.calls.bridge_protocol import (
    MAX_MESSAGE_BYTES,
    OPT_IN_EVENT_TYPES,
    TOKEN_SUBPROTOCOL_PREFIX,
    WS_SUBPROTOCOL,
    BridgeRefusal,
    Command,
    PanelUnavailable,
    decode_json,
    dialer_result,
    dropped_message,
    encode_message,
    event_message,
    hello_message,
    parse_command,
    with_id,
)
from desktop.calls.events import CallEvent

logger = logging.getLogger(__name__)

DEFAULT_PORT: Final = 47615
TOKEN_FILE_NAME: Final = "bridge-token"
DEFAULT_ANSWER_TIMEOUT_S: Final = 2.0
DEFAULT_QUEUE_LIMIT: Final = 1024  # events waiting per subscriber before the oldest are dropped
MAX_COMMANDS_IN_FLIGHT: Final = 64  # per WebSocket: beyond this the bridge stops reading (TCP backpressure)
_LOOPBACK_NAMES: Final = frozenset(("127.0.0.1", "localhost", "[::1]"))
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~+-]{16,256}")
_ORIGIN_PATTERN = re.compile(r"(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?")
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
_PORT_PATTERN = re.compile(r"[0-9]{1,5}")

# The answer of a handler: at once, or later from another thread.
Answer = Mapping[str, Any] | concurrent.futures.Future


@dataclass(frozen=True)
class BridgeHandlers:
    """What the bridge asks of the panel. Each returns the reply message, or a concurrent Future of it
    when the answer must come from another thread. They are called on the bridge thread, in the order the
    commands arrived."""

    call_event: Callable[[CallEvent], Answer]
    show: Callable[[], Answer]
    hide: Callable[[], Answer]
    state: Callable[[], Answer]
    # outbound.next / .dial / .result (issue 16); None: this panel has no outbound work (503 outbound_unavailable)
    outbound: Callable[[Command], Answer] | None = None
    outcome: Callable[[Command], Answer] | None = None  # outcome.record


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may cost the bridge (enforced by desktop.calls.bridge_connections; docs/bridge.md,
    "Limits and behaviour"). The defaults keep the bridge under 192 client sockets whatever anyone does."""

    max_head_bytes: int = 16 * 1024  # request line + headers; beyond: 431
    max_headers: int = 100
    head_timeout_s: float = 5.0  # the head must arrive within this of the connection (or of its first byte)
    request_timeout_s: float = 10.0  # the whole request (head + body) within this: else 408
    max_unauthenticated: int = 64  # connections that have not shown the token: a new one closes the oldest
    max_authenticated: int = 128  # connections that did: one more closes the longest idle, or gets 503

    def __post_init__(self) -> None:
        if self.max_head_bytes < 1024 or self.max_headers < 8:
            raise ValueError("a request head needs at least 1 KiB and 8 headers")
        if not 0 < self.head_timeout_s <= self.request_timeout_s:
            raise ValueError("need 0 < head_timeout_s <= request_timeout_s")
        if self.max_unauthenticated < 1 or self.max_authenticated < 1:
            raise ValueError("the connection caps must be at least 1")


class BridgeStartError(RuntimeError):
    """The bridge could not listen (port taken, no permission); the message says what to change."""


# --------------------------------------------------------------------------------------------------------
# The per-install token
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BridgeToken:
    value: str
    preset: bool  # set by IT (bridge.token / CALLCUE_BRIDGE_TOKEN), else generated into `path`
    path: Path | None

    def hint(self) -> str:
        """Where a host finds the token: said in every 401, so a host never loops on a wrong one."""
        if self.preset:
            return "this panel uses the token preset by IT (bridge.token or CALLCUE_BRIDGE_TOKEN)"
        return f"the token is in the file {self.path} (readable by this user only)"

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"BridgeToken(preset={self.preset}, path={self.path})"


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE_NAME


def resolve_token(preset: str | None, data_dir: Path) -> BridgeToken:
    """The preset token when IT set one, else this install's token: read from the data directory, or
    generated there on first use (mode 0600). The token never expires; delete the file to rotate it."""
    if preset:
        if not _TOKEN_PATTERN.fullmatch(preset):
            raise ValueError("bridge.token must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ + -")
        return BridgeToken(preset, True, None)
    path = token_path(data_dir)
    existing = _read_token_file(path)
    if existing is not None:
        return BridgeToken(existing, False, path)
    value = secrets.token_urlsafe(32)  # 256 bits; URL-safe characters fit a WebSocket subprotocol name
    _write_private_file(path, value + "\n")
    logger.info("generated the bridge token", extra={"path": str(path)})
    return BridgeToken(value, False, path)


def _read_token_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        logger.warning("the bridge token file is unreadable; making a new one", extra={"error": type(exc).__name__})
        return None
    if not _TOKEN_PATTERN.fullmatch(text):
        logger.warning("the bridge token file does not hold a valid token; making a new one")
        return None
    if os.name == "posix" and path.stat().st_mode & 0o077:
        # Someone loosened it: tighten it again rather than serve a token other users could read.
        logger.warning("the bridge token file was readable by others; restricted it to this user")
        path.chmod(0o600)
    return text


def _write_private_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------------
# Host and Origin
# --------------------------------------------------------------------------------------------------------


def normalize_origin(text: str) -> str | None:
    """'HTTPS://CRM.example.com:443/' -> 'https://crm.example.com'; None when it is not an origin."""
    match = _ORIGIN_PATTERN.fullmatch(text.strip().lower().rstrip("/"))
    if match is None:
        return None
    scheme, host, port = match.groups()
    if port is not None and not _valid_port(port):
        return None
    if port is not None and int(port) != int(_DEFAULT_PORTS[scheme]):
        return f"{scheme}://{host}:{int(port)}"
    return f"{scheme}://{host}"


def is_loopback_host(value: str) -> bool:
    """The Host header names this machine by a loopback name (with any port). A page whose DNS name was
    rebound to 127.0.0.1 still sends its own name here, so it is refused."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        name += "]"
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            return False
    else:
        name, colon, port = value.partition(":")
        if not colon:
            port = None
    if port is not None and not _valid_port(port):
        return False
    return name in _LOOPBACK_NAMES


def _valid_port(text: str) -> bool:
    """1 to 65535 in ASCII digits ('0', '99999', '４７６１５' and '²' are no ports)."""
    return _PORT_PATTERN.fullmatch(text) is not None and 0 < int(text) <= 65535


# --------------------------------------------------------------------------------------------------------
# Fan-out
# --------------------------------------------------------------------------------------------------------


class _Subscriber:
    """One WebSocket's outgoing messages: replies (never dropped; bounded by the commands in flight) and
    events (bounded: the oldest go first when full, counted for an `events.dropped` notice)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dials = False  # the host sent dialer.register: it gets dial.requested (opt-in events)
        self.replies: deque[str] = deque()
        self.events: deque[str] = deque()
        self.dropped = 0
        self.wake = asyncio.Event()

    def push_event(self, text: str) -> bool:
        dropped = False
        if len(self.events) >= self.limit:
            self.events.popleft()
            self.dropped += 1
            dropped = True
        self.events.append(text)
        self.wake.set()
        return dropped

    def push_reply(self, text: str) -> None:
        self.replies.append(text)
        self.wake.set()

    def next_message(self) -> str | None:
        if self.replies:
            return self.replies.popleft()
        if self.dropped:
            count, self.dropped = self.dropped, 0
            return encode_message(dropped_message(count))  # where the gap is: before the events after it
        if self.events:
            return self.events.popleft()
        return None


class FanOut:
    """Takes events from any thread and hands them to every subscriber on the bridge's loop.

    `publish` only appends to a list and, when the loop is not already due to drain it, wakes the loop
    once: a burst of events costs the publishing (GUI) thread microseconds and the loop one wake-up."""

    def __init__(self, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self.queue_limit = queue_limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Mapping[str, Any], datetime]] = []
        self._drain_scheduled = False
        self._subscribers: set[_Subscriber] = set()
        self.last_seq = 0
        self.published = 0
        self.dropped = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def detach(self) -> None:
        with self._lock:
            self._loop = None
            self._pending.clear()
            self._drain_scheduled = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def dialer_count(self) -> int:
        """Connected hosts that dial (sent dialer.register): read from any thread."""
        return sum(1 for subscriber in list(self._subscribers) if subscriber.dials)

    def publish(self, event_type: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            loop = self._loop
            if loop is None:
                return  # not serving: nobody can be subscribed
            self._pending.append((event_type, data, datetime.now(UTC)))
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop closed meanwhile (stopping)
            with self._lock:
                self._drain_scheduled = False

    def subscribe(self) -> _Subscriber:
        subscriber = _Subscriber(self.queue_limit)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._drain_scheduled = False
        for event_type, data, at in batch:
            opt_in = event_type in OPT_IN_EVENT_TYPES
            # An opt-in event is not counted: a host that never asked for it sees no gap in `seq` (it carries
            # the seq of the event before it).
            if not opt_in:
                self.last_seq += 1
            text = encode_message(event_message(event_type, data, self.last_seq, at))
            self.published += 1
            for subscriber in self._subscribers:
                if opt_in and not subscriber.dials:
                    continue
                if subscriber.push_event(text):
                    self.dropped += 1


# --------------------------------------------------------------------------------------------------------
# The ASGI application
# --------------------------------------------------------------------------------------------------------


@dataclass
class BridgeStats:
    requests: int = 0
    websockets: int = 0
    commands: int = 0
    refusals: dict[int, int] = field(default_factory=dict)
    events_published: int = 0
    events_dropped: int = 0
    subscribers: int = 0


_HTTP_ROUTES: Final = {
    "/v1/calls": ("POST", "call"),
    "/v1/state": ("GET", "state.get"),
    "/v1/panel/show": ("POST", "panel.show"),
    "/v1/panel/hide": ("POST", "panel.hide"),
    "/v1/outbound/next": ("POST", "outbound.next"),
    "/v1/outbound/dial": ("POST", "outbound.dial"),
    "/v1/outbound/result": ("POST", "outbound.result"),
    "/v1/outcomes": ("POST", "outcome.record"),
}
_EVENTS_PATH: Final = "/v1/events"
_JSON_HEADERS: Final = [(b"content-type", b"application/json; charset=utf-8"), (b"cache-control", b"no-store"),
                        (b"x-content-type-options", b"nosniff")]
_SINGLE_HEADERS: Final = (b"host", b"origin", b"authorization", b"content-length", b"content-type")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _RequestHeaders:
    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.values: dict[bytes, list[bytes]] = {}
        for name, value in raw:
            self.values.setdefault(name.lower(), []).append(value)

    def get(self, name: bytes) -> bytes | None:
        values = self.values.get(name)
        return values[0] if values else None

    def text(self, name: bytes) -> str | None:
        value = self.get(name)
        return None if value is None else value.decode("latin-1")


# A too-large body up to this size is read and thrown away before the 413, so the client can read the
# answer; closing with its bytes unread would reset the connection and lose the 413 on the way.
_DRAIN_LIMIT: Final = 1024 * 1024


class _BodyTooLarge(BridgeRefusal):
    def __init__(self, limit: int, *, drained: bool) -> None:
        super().__init__(413, "body_too_large", f"the body may be at most {limit} bytes")
        self.drained = drained


async def _discard_body(receive: Receive) -> bool:
    """Read the rest of a request body without keeping it; False when it goes on past _DRAIN_LIMIT."""
    size = 0
    while size <= _DRAIN_LIMIT:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return size <= _DRAIN_LIMIT
    return False


class BridgeApp:
    """The bridge as a plain ASGI 3 application (no framework: every refusal's bytes are ours, and the
    panel's start-up does not pay for importing one). Runs on the bridge's event loop."""

    def __init__(self, *, token: BridgeToken, handlers: BridgeHandlers, allowed_origins: Iterable[str] = (),
                 fanout: FanOut | None = None, answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._token = token.value.encode("ascii")
        self._token_hint = token.hint()
        self.handlers = handlers
        self.allowed_origins: frozenset[str] = frozenset(
            origin for origin in (normalize_origin(o) for o in allowed_origins) if origin is not None)
        self.fanout = fanout or FanOut()
        self.answer_timeout_s = answer_timeout_s
        self.max_message_bytes = max_message_bytes
        self.stats = BridgeStats()
        # Set by BridgeServer while serving: a request that showed the right token asks it to keep its
        # connection (desktop.calls.bridge_connections.ConnectionGuard.admit); False: no room, 503.
        self.admit: Callable[[Any], bool] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # --- checks shared by HTTP and WebSocket ------------------------------------------------------------

    def _check_request(self, headers: _RequestHeaders) -> str | None:
        """Host and Origin; returns the allowed Origin (for CORS headers) or None when there is none."""
        for name in _SINGLE_HEADERS:
            if len(headers.values.get(name, ())) > 1:
                raise BridgeRefusal(400, "bad_request", f"the {name.decode().title()} header appears twice",
                                    field=name.decode().title())
        host = headers.text(b"host")
        if host is None or not is_loopback_host(host):
            raise BridgeRefusal(421, "host_not_allowed",
                                "the Host header must name this machine: 127.0.0.1:<port> or localhost:<port> "
                                "(other names are refused to defeat DNS rebinding)", field="Host")
        origin = headers.text(b"origin")
        if origin is None:
            return None  # not a browser: the token alone decides
        normalized = normalize_origin(origin)
        if normalized is None or normalized not in self.allowed_origins:
            shown = normalized or "this page's origin"
            raise BridgeRefusal(403, "origin_not_allowed",
                                f"web pages from {shown} may not use the bridge; IT adds allowed origins to "
                                "bridge.allowed_origins", field="Origin")
        return normalized

    def _check_token(self, headers: _RequestHeaders, subprotocols: Iterable[str] = ()) -> None:
        presented: bytes | None = None
        authorization = headers.get(b"authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(b" ")
            if scheme.lower() != b"bearer" or not credentials.strip():
                raise BridgeRefusal(401, "unauthorized",
                                    f"use 'Authorization: Bearer <token>'; {self._token_hint}", field="Authorization")
            presented = credentials.strip()
        else:
            for protocol in subprotocols:
                if protocol.startswith(TOKEN_SUBPROTOCOL_PREFIX):
                    presented = protocol[len(TOKEN_SUBPROTOCOL_PREFIX):].encode("utf-8", "surrogateescape")
                    break
        if presented is None:
            raise BridgeRefusal(401, "unauthorized",
                                f"no token: send 'Authorization: Bearer <token>' (browsers: WebSocket subprotocol "
                                f"'{TOKEN_SUBPROTOCOL_PREFIX}<token>'); {self._token_hint}", field="Authorization")
        if not hmac.compare_digest(presented, self._token):
            raise BridgeRefusal(401, "unauthorized",
                                f"the token does not match this panel's; {self._token_hint}", field="Authorization")

    def _admit(self, scope: Scope) -> None:
        if self.admit is not None and not self.admit(scope.get("client")):
            raise BridgeRefusal(503, "too_many_connections",
                                "the bridge holds as many host connections as it keeps; close idle ones and retry")

    def count_refusal(self, status: int) -> None:
        self.stats.refusals[status] = self.stats.refusals.get(status, 0) + 1

    # --- HTTP --------------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.stats.requests += 1
        headers = _RequestHeaders(scope.get("headers", ()))
        origin: str | None = None
        body_read = False
        try:
            origin = self._check_request(headers)
            method, path = scope["method"], scope["path"]
            if method == "OPTIONS":
                await self._preflight(headers, origin, send)
                return
            self._check_token(headers)
            self._admit(scope)
            route = _HTTP_ROUTES.get(path)
            if route is None:
                if path == _EVENTS_PATH:
                    raise BridgeRefusal(426, "upgrade_required",
                                        "/v1/events is a WebSocket: connect with ws://…/v1/events")
                raise BridgeRefusal(404, "not_found", f"no such endpoint; see docs/bridge.md "
                                                      f"({', '.join(sorted(_HTTP_ROUTES))}, {_EVENTS_PATH})")
            allowed_method, command_type = route
            if method != allowed_method:
                raise BridgeRefusal(405, "method_not_allowed", f"use {allowed_method} on this URL")
            body = await self._read_body(headers, receive)
            body_read = True
            command = self._http_command(command_type, headers, body)
            reply = await self._dispatch(command)
            await self._respond(send, 200, reply, origin)
        except BridgeRefusal as refusal:
            self.count_refusal(refusal.status)
            extra = []
            if refusal.status == 401:
                extra.append((b"www-authenticate", b'Bearer realm="callcue-bridge"'))
            elif refusal.status == 405:
                extra.append((b"allow", _HTTP_ROUTES.get(scope["path"], ("GET",))[0].encode() + b", OPTIONS"))
            elif refusal.status == 426:
                extra.append((b"upgrade", b"websocket"))
            elif refusal.status == 503:
                extra.append((b"retry-after", b"1"))
            if not body_read and not (isinstance(refusal, _BodyTooLarge) and refusal.drained):
                extra.append((b"connection", b"close"))  # an unread body must not be taken for the next request
            await self._respond(send, refusal.status, refusal.as_message(),
                                origin if refusal.status not in (403, 421) else None, extra)
        except PanelUnavailable as busy:
            self.count_refusal(503)
            await self._respond(send, 503, BridgeRefusal(503, busy.code, str(busy)).as_message(), origin,
                                [(b"retry-after", b"1")])

    async def _preflight(self, headers: _RequestHeaders, origin: str | None, send: Send) -> None:
        """CORS preflight of a browser-based host (it carries no token: browsers never send one here)."""
        response = [(b"allow", b"GET, POST, OPTIONS"), (b"content-length", b"0")]
        if origin is not None:
            response += [
                (b"access-control-allow-origin", origin.encode()),
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", b"authorization, content-type"),
                (b"access-control-max-age", b"600"),
                (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            ]
            if headers.get(b"access-control-request-private-network") == b"true":
                # Chromium's Private Network Access: a public page may reach this loopback service.
                response.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": response})
        await send({"type": "http.response.body", "body": b""})

    async def _read_body(self, headers: _RequestHeaders, receive: Receive) -> bytes:
        limit = self.max_message_bytes
        declared = headers.text(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise _BodyTooLarge(limit, drained=int(declared) <= _DRAIN_LIMIT and await _discard_body(receive))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BridgeRefusal(400, "bad_request", "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > limit:
                raise _BodyTooLarge(limit, drained=not more or await _discard_body(receive))
            chunks.append(chunk)
            if not more:
                return b"".join(chunks)

    def _http_command(self, command_type: str, headers: _RequestHeaders, body: bytes) -> Command:
        if command_type not in ("call", "outbound.result", "outcome.record") and not body.strip():
            return Command(command_type)  # show, hide, state, outbound.next and .dial need no body
        content_type = (headers.text(b"content-type") or "application/json").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise BridgeRefusal(415, "unsupported_media_type", "send the body as Content-Type: application/json",
                                field="Content-Type")
        return parse_command(decode_json(body), expected_type=command_type)

    async def _respond(self, send: Send, status: int, message: Mapping[str, Any], origin: str | None,
                       extra: list[tuple[bytes, bytes]] | None = None) -> None:
        body = encode_message(message).encode("utf-8")
        response = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(extra or [])]
        if origin is not None:
            response += [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
        await send({"type": "http.response.start", "status": status, "headers": response})
        await send({"type": "http.response.body", "body": body})

    # --- commands ----------------------------------------------------------------------------------------

    def start_command(self, command: Command) -> Answer:
        """Hand the command to the panel now (in arrival order); the answer may come later."""
        self.stats.commands += 1
        if command.type == "call":
            assert command.event is not None
            return self.handlers.call_event(command.event)
        if command.type == "panel.show":
            return self.handlers.show()
        if command.type == "panel.hide":
            return self.handlers.hide()
        if command.type == "outcome.record":
            if self.handlers.outcome is None:
                raise BridgeRefusal(503, "panel_error", "this panel does not take outcomes from hosts",
                                    message_id=command.message_id)
            return self.handlers.outcome(command)
        if command.type.startswith("outbound."):
            if self.handlers.outbound is None:
                raise BridgeRefusal(503, "outbound_unavailable", "this panel does not do outbound work",
                                    message_id=command.message_id)
            return self.handlers.outbound(command)
        return self.handlers.state()

    async def _dispatch(self, command: Command) -> dict[str, Any]:
        return with_id(dict(await self.await_answer(self.start_command(command))), command.message_id)

    async def await_answer(self, answer: Answer) -> Mapping[str, Any]:
        """The panel's answer; PanelUnavailable (503) when it does not come within answer_timeout_s."""
        if not isinstance(answer, concurrent.futures.Future):
            return answer
        loop = asyncio.get_running_loop()
        # A plain future and a timer (not asyncio.wait_for, which makes a task per request): this runs
        # for every command, a thousand times a second in a burst.
        waiter: asyncio.Future[Mapping[str, Any]] = loop.create_future()

        def settle(done: concurrent.futures.Future) -> None:  # on the loop
            if waiter.done():
                return
            if done.cancelled():
                waiter.set_exception(PanelUnavailable("panel_closing", "the panel is closing; try again when it runs"))
            elif (error := done.exception()) is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(done.result())

        def relay(done: concurrent.futures.Future) -> None:  # on whichever thread completed it
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(settle, done)

        def expire() -> None:
            if waiter.done():
                return
            answer.cancel()  # not started yet: it never will be, so the host's retry is the only copy
            waiter.set_exception(PanelUnavailable(
                "panel_busy", f"the panel did not answer within {self.answer_timeout_s:g} s; retrying is safe "
                              "(a repeated call event is recognized as a duplicate)"))

        answer.add_done_callback(relay)
        timer = loop.call_later(self.answer_timeout_s, expire)
        try:
            return await waiter
        except PanelUnavailable:
            raise
        except Exception:
            logger.exception("the panel failed to handle a bridge command")
            raise PanelUnavailable("panel_error", "the panel could not handle this command; see its log") from None
        finally:
            timer.cancel()

    # --- WebSocket ---------------------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = _RequestHeaders(scope.get("headers", ()))
        offered = [p.strip() for p in scope.get("subprotocols", ()) if isinstance(p, str)]
        try:
            self._check_request(headers)
            if scope["path"] != _EVENTS_PATH:
                raise BridgeRefusal(404, "not_found", f"the WebSocket is at {_EVENTS_PATH}")
            self._check_token(headers, offered)
            self._admit(scope)
            if any(p.startswith(TOKEN_SUBPROTOCOL_PREFIX) for p in offered) and WS_SUBPROTOCOL not in offered:
                # The handshake must echo one offered subprotocol, and it must never be the token.
                raise BridgeRefusal(400, "bad_request", f"offer the subprotocol '{WS_SUBPROTOCOL}' with the token",
                                    field="Sec-WebSocket-Protocol")
        except BridgeRefusal as refusal:
            self.count_refusal(refusal.status)
            await self._refuse_handshake(scope, send, refusal)
            return
        self.stats.websockets += 1
        await send({"type": "websocket.accept", "subprotocol": WS_SUBPROTOCOL if WS_SUBPROTOCOL in offered else None})
        await _WebSocketSession(self, receive, send).run()

    async def _refuse_handshake(self, scope: Scope, send: Send, refusal: BridgeRefusal) -> None:
        if "websocket.http.response" in scope.get("extensions", {}):
            body = encode_message(refusal.as_message()).encode("utf-8")
            response = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
            await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": response})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": refusal.message[:120]})


class _WebSocketSession:
    """One connected host: a writer task sends replies and events; the reader handles commands, each
    answered by its own task (in flight at most MAX_COMMANDS_IN_FLIGHT), so a busy panel never stops
    events from flowing."""

    def __init__(self, app: BridgeApp, receive: Receive, send: Send) -> None:
        self.app = app
        self.receive = receive
        self.send = send
        self.fanout = app.fanout
        self.subscriber = self.fanout.subscribe()
        self.in_flight = asyncio.Semaphore(MAX_COMMANDS_IN_FLIGHT)
        self.tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        self.subscriber.push_reply(encode_message(hello_message(__version__, self.fanout.last_seq)))
        writer = asyncio.create_task(self._write())
        try:
            while True:
                message = await self.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message["type"] != "websocket.receive":
                    continue
                if message.get("text") is not None:
                    await self._command(message["text"])
                else:
                    self._reply_error(BridgeRefusal(400, "bad_json", "send commands as JSON in text frames, "
                                                                     "not binary frames"))
        finally:
            self.fanout.unsubscribe(self.subscriber)
            for task in (*self.tasks, writer):
                task.cancel()
            await asyncio.gather(*self.tasks, writer, return_exceptions=True)

    async def _command(self, text: str) -> None:
        if len(text.encode("utf-8")) > self.app.max_message_bytes:
            self._reply_error(BridgeRefusal(413, "body_too_large",
                                            f"a message may be at most {self.app.max_message_bytes} bytes"))
            return
        try:
            command = parse_command(decode_json(text), allow_id=True)
        except BridgeRefusal as refusal:
            self._reply_error(refusal)
            return
        if command.type == "dialer.register":  # this connection's own business: answered here, at once
            self.subscriber.dials = bool(command.fields and command.fields["dials"])
            self.subscriber.push_reply(encode_message(with_id(dialer_result(self.subscriber.dials,
                                                                            self.fanout.dialer_count),
                                                              command.message_id)))
            return
        await self.in_flight.acquire()
        try:
            answer = self.app.start_command(command)
        except BridgeRefusal as refusal:
            self.in_flight.release()
            self._reply_error(refusal)
            return
        except Exception:
            self.in_flight.release()
            logger.exception("the panel failed to take a bridge command")
            self._reply_error(BridgeRefusal(503, "panel_error", "the panel could not handle this command",
                                            message_id=command.message_id))
            return
        task = asyncio.create_task(self._answer(command, answer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, command: Command, answer: Answer) -> None:
        try:
            reply = with_id(dict(await self.app.await_answer(answer)), command.message_id)
        except PanelUnavailable as busy:
            self.app.count_refusal(503)
            reply = BridgeRefusal(503, busy.code, str(busy), message_id=command.message_id).as_message()
        finally:
            self.in_flight.release()
        self.subscriber.push_reply(encode_message(reply))

    def _reply_error(self, refusal: BridgeRefusal) -> None:
        self.app.count_refusal(refusal.status)
        self.subscriber.push_reply(encode_message(refusal.as_message()))

    async def _write(self) -> None:
        subscriber = self.subscriber
        try:
            while True:
                await subscriber.wake.wait()
                subscriber.wake.clear()
                while (text := subscriber.next_message()) is not None:
                    await self.send({"type": "websocket.send", "text": text})
        except (OSError, RuntimeError) as exc:
            # The host went away while we were sending; the reader sees the disconnect and ends the session.
            logger.debug("bridge WebSocket send failed: %s", type(exc).__name__)


# --------------------------------------------------------------------------------------------------------
# The server thread
# --------------------------------------------------------------------------------------------------------


class BridgeServer:
    """The bridge, listening on 127.0.0.1:`port` (0: any free port, for tests).

    Either `start()` (binds at once, so a taken port raises here, then serves from its own thread), or
    `bind()` then `serve()` on a thread of the caller's (the panel does that, so that even importing and
    binding stay off its GUI thread). Connections made before uvicorn is loaded wait in the listen
    backlog. `stop()` closes every connection and returns once serving has ended."""

    def __init__(self, *, token: BridgeToken, handlers: BridgeHandlers, port: int = DEFAULT_PORT,
                 allowed_origins: Iterable[str] = (), host: str = "127.0.0.1",
                 answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S, queue_limit: int = DEFAULT_QUEUE_LIMIT,
                 max_message_bytes: int = MAX_MESSAGE_BYTES, limits: ConnectionLimits | None = None) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the bridge listens on a loopback address only")
        self.host = host
        self.requested_port = port
        self.fanout = FanOut(queue_limit)
        self.app = BridgeApp(token=token, handlers=handlers, allowed_origins=allowed_origins, fanout=self.fanout,
                             answer_timeout_s=answer_timeout_s, max_message_bytes=max_message_bytes)
        self.limits = limits or ConnectionLimits()
        self.connections: Any = None  # bridge_connections.ConnectionGuard, made on the serving thread
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None  # uvicorn.Server, made on the serving thread
        self._ready = threading.Event()  # serving, or failed trying
        self._finished = threading.Event()  # serve() has returned
        self._serving = False
        self._stopping = False
        self.failure: BaseException | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._serving

    def start(self) -> None:
        """Bind, then serve from a new thread ("callcue-bridge"). Raises BridgeStartError."""
        if self._thread is not None:
            raise RuntimeError("the bridge was already started")
        self.bind()
        self._thread = threading.Thread(target=self.serve, name="callcue-bridge", daemon=False)
        self._thread.start()

    def bind(self) -> None:
        """Listen on the port. Raises BridgeStartError saying what to change."""
        if self._socket is not None:
            raise RuntimeError("the bridge is already bound")
        # proto=IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they
        # are TCP; with it on, a response's second write waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM,
                             socket.IPPROTO_TCP)
        try:
            if os.name == "nt":
                # Without it another program could bind the same port and receive hosts' tokens.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart within TIME_WAIT
            sock.bind((self.host, self.requested_port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise BridgeStartError(
                f"the local bridge cannot listen on {self.host}:{self.requested_port} ({exc.strerror or exc}); "
                "another program may use that port: set bridge.port (or CALLCUE_BRIDGE_PORT) to a free one"
            ) from None
        self._socket = sock
        self.port = sock.getsockname()[1]

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once uvicorn serves (tests and benchmarks; the panel itself never waits)."""
        return self._ready.wait(timeout) and self.failure is None and self.running

    def publish(self, event_type: str, data: Mapping[str, Any]) -> None:
        """Send an event to every WebSocket subscriber. Any thread; never blocks."""
        self.fanout.publish(event_type, data)

    @property
    def dialer_count(self) -> int:
        """Connected hosts that dial outbound calls (dialer.register); any thread."""
        return self.fanout.dialer_count

    def stats(self) -> BridgeStats:
        stats = self.app.stats
        return BridgeStats(stats.requests, stats.websockets, stats.commands, dict(stats.refusals),
                           self.fanout.published, self.fanout.dropped, self.fanout.subscriber_count)

    def stop(self, timeout: float = 5.0) -> bool:
        """Close every connection and end serving; False if it did not end within `timeout`."""
        self._stopping = True
        server = self._server
        if server is not None:
            server.should_exit = True
        if self._thread is None and not self._serving:
            if self._socket is not None and not self._finished.is_set():
                self._socket.close()  # bound, never served
            return True
        ended = self._finished.wait(timeout)
        if self._thread is not None:
            self._thread.join(max(0.0, timeout))
            ended = ended and not self._thread.is_alive()
        if not ended:
            logger.error("the bridge did not stop within %.1f s", timeout)
        return ended

    def serve(self) -> None:
        """Serve on the current thread until stop(); bind() first. Never raises: a failure is logged and
        kept in `failure`."""
        started = time.perf_counter()
        self._serving = True
        try:
            import uvicorn  # here, not at import time: the panel's start-up never pays for it

            from desktop.calls.bridge_connections import ConnectionGuard, protocol_classes

            self.connections = ConnectionGuard(self.limits)
            http_protocol, ws_protocol = protocol_classes(self.connections)
            config = uvicorn.Config(
                self.app, lifespan="off", log_config=None, log_level="warning", access_log=False, server_header=False,
                loop="asyncio",  # uvloop's libuv thread pool would outlive stop()
                # uvicorn's httptools protocol with the bridge's connection rules (bridge_connections):
                # head size and count, head and request deadlines, the two connection pools. No
                # limit_concurrency: it counts idle sockets too and answers in plain text.
                http=http_protocol,
                # Messages up to 4x the limit get a 413 reply and the connection stays; larger ones end it (1009).
                ws=ws_protocol, ws_max_size=4 * self.app.max_message_bytes, ws_per_message_deflate=False,
                ws_ping_interval=20.0, ws_ping_timeout=20.0, timeout_keep_alive=30, timeout_graceful_shutdown=2,
            )
            self.app.admit = self.connections.admit
            server = uvicorn.Server(config)
            self._server = server
            if self._stopping or self._socket is None:
                return
            with asyncio.Runner() as runner:
                runner.run(self._serve(server, started))
        except BaseException as exc:  # SystemExit from uvicorn too: report it, never end the process
            self.failure = exc
            logger.error("the local bridge stopped unexpectedly: %r", exc)
        finally:
            self._serving = False
            self.app.admit = None
            self.fanout.detach()
            if self._socket is not None:
                self._socket.close()
            self._ready.set()
            self._finished.set()

    async def _serve(self, server: Any, started: float) -> None:
        self.fanout.attach(asyncio.get_running_loop())

        async def announce_ready() -> None:
            while not server.started and not server.should_exit:
                await asyncio.sleep(0.005)
            if server.started:
                logger.info("local bridge listening on %s (ready in %.0f ms)", self.url,
                            (time.perf_counter() - started) * 1000)
                self._ready.set()

        watcher = asyncio.create_task(announce_ready())
        try:
            assert self._socket is not None
            await server.serve(sockets=[self._socket])
        finally:
            watcher.cancel()

