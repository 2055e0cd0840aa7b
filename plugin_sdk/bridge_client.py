"""BridgeClient: drive a running CallCue panel from another process through its local bridge.

    from plugin_sdk.bridge_client import BridgeClient

    with BridgeClient() as bridge:                   # 127.0.0.1:47615, the token of this user's install
        result = bridge.send_call("pbx-4711", "ringing", ani="13800138000")
        print(result.result, result.reason)          # popped None | ignored duplicate | updated transfer …
        for event in bridge.events():                # pop.shown, outcome.recorded, sync.state, call.* …
            print(event["type"], event["data"])

Where the token comes from (first found): the `token` argument, CALLCUE_BRIDGE_TOKEN, the per-install
token file the panel writes on first start (`bridge-token` in CallCue's data directory, readable by this
user only). The port: `base_url`, else CALLCUE_BRIDGE_PORT, else 47615. The token never expires; when it
was read from the file and the panel answers 401 (the file was deleted to rotate it), the client reads
the file again and retries once, then raises BridgeAuthError: never a loop.

Errors are BridgeError subclasses carrying the bridge's status, code, field and message. Thread safety:
one HTTP connection per client, guarded by a lock; `events()` opens its own WebSocket.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plugin_sdk.protocol import (
    CALL_STATES,
    DEFAULT_PORT,
    EVENT_TYPES,
    PROTOCOL_VERSION,
    TOKEN_FILE_NAME,
    WS_SUBPROTOCOL,
)

APP_NAME = "CallCue"
_LOOPBACK_HOSTS = frozenset(("127.0.0.1", "localhost", "::1"))


class BridgeError(Exception):
    """The bridge refused or failed a request. `status` is the HTTP status (0: no answer at all), `code`
    the bridge's stable error code, `field` the message field or header at fault."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


class BridgeUnavailable(BridgeError):
    """Nothing answers: CallCue is not running, its bridge is off (bridge.port = 0), or another port."""


class BridgeAuthError(BridgeError):
    """401: no token or the wrong one; the message says where this panel's token is."""


class BridgeForbidden(BridgeError):
    """403 (this web origin is not allowed) or 421 (not addressed as 127.0.0.1/localhost)."""


class BridgeRequestError(BridgeError):
    """400/404/405/413/415: the request itself is wrong; `field` names what to fix."""


class BridgeBusy(BridgeError):
    """503: the panel did not answer in time or is closing. Retrying is safe (duplicates are ignored)."""


class BridgeProtocolError(BridgeError):
    """The answer was not what protocol v1 says (another program on the port, or a newer panel)."""


@dataclass(frozen=True)
class CallResult:
    """What the panel did with a call event. `result`: popped | updated | answered | ended | closed |
    ignored; `reason` says why for ignored (duplicate, replay, closed, unknown_call, no_identity, …)."""

    call_id: str
    result: str
    reason: str | None
    detail: str

    @property
    def popped(self) -> bool:
        return self.result == "popped"

    @property
    def ignored(self) -> bool:
        return self.result == "ignored"


def default_data_dir() -> Path:
    """CallCue's per-user data directory (where the panel keeps its store and the bridge token)."""
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def default_base_url(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    port = (environ.get("CALLCUE_BRIDGE_PORT") or "").strip() or str(DEFAULT_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"CALLCUE_BRIDGE_PORT must be a port number, got {port!r}")
    return f"http://127.0.0.1:{int(port)}"


def find_token(environ: Mapping[str, str] | None = None, data_dir: Path | None = None) -> str | None:
    """CALLCUE_BRIDGE_TOKEN, else the panel's token file; None when neither exists (the panel has not
    started yet on this account, or IT preset a token and did not give it to this host)."""
    environ = os.environ if environ is None else environ
    preset = (environ.get("CALLCUE_BRIDGE_TOKEN") or "").strip()
    if preset:
        return preset
    path = (data_dir or default_data_dir()) / TOKEN_FILE_NAME
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class BridgeClient:
    def __init__(self, base_url: str | None = None, token: str | None = None, *, timeout: float = 5.0,
                 data_dir: Path | None = None) -> None:
        """`base_url`: http://127.0.0.1:<port> (loopback only: the bridge never listens elsewhere).
        `token`: see the module docstring for where it is found when omitted."""
        self.base_url = (base_url or default_base_url()).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(f"the bridge is reached at http://127.0.0.1:<port>, not {self.base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self.timeout = timeout
        self._data_dir = data_dir
        self._token_given = token is not None
        self._token = token
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # --- commands ----------------------------------------------------------------------------------------

    def send_call(self, call_id: str, state: str, *, ani: str | None = None, dnis: str | None = None,
                  customer_id: str | None = None, agent_id: str | None = None,
                  at: datetime | str | float | None = None, from_agent: str | None = None,
                  outbound_campaign: str | None = None, end_reason: str | None = None) -> CallResult:
        """Report a call event. Send every state change of a call with the same `call_id` (ringing,
        answered, transferred, ended): repeats are answered `ignored: duplicate`, never a second pop.
        On a transfer, `from_agent` names who passed the call on and `dnis` where it came through; on
        `ended`, `end_reason` the softphone's words (e.g. '486 Busy Here'). `outbound_campaign` (SDK 1.5): the
        agent calls the customer for this campaign (sent as `"outbound": {"campaign_id": …}`): the pop is its
        outbound wave's, outcomes go out on outbound_call."""
        if state not in CALL_STATES:
            raise ValueError(f"state must be one of {', '.join(CALL_STATES)}")
        body: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "call", "call_id": call_id, "state": state}
        for name, value in (("ani", ani), ("dnis", dnis), ("customer_id", customer_id), ("agent_id", agent_id),
                            ("from_agent", from_agent), ("end_reason", end_reason)):
            if value is not None:
                body[name] = value
        if at is not None:
            body["at"] = at.isoformat() if isinstance(at, datetime) else at
        if outbound_campaign is not None:
            body["outbound"] = {"campaign_id": outbound_campaign}
        reply = self._request("POST", "/v1/calls", body, expect="call.result")
        return CallResult(reply["call_id"], reply["result"], reply.get("reason"), reply.get("detail", ""))

    def state(self) -> dict[str, Any]:
        """The open calls, what each one shows, whether the panel is visible, the sync state."""
        return self._request("GET", "/v1/state", None, expect="state")

    def show(self) -> bool:
        """Show the panel (it never takes the keyboard). Returns whether it is visible."""
        return bool(self._request("POST", "/v1/panel/show", None, expect="panel.result")["visible"])

    def hide(self) -> bool:
        return bool(self._request("POST", "/v1/panel/hide", None, expect="panel.result")["visible"])

    def record_outcome(self, call_id: str, result: str, *, offer_id: str | None = None, note: str | None = None,
                       reason: str | None = None, callback_at: datetime | str | None = None) -> dict[str, Any]:
        """An offer outcome for an open call (inbound, or the outbound call in wrap-up), saved as the agent's
        key would save it. Returns the `outcome.result` reply: `accepted`, `detail`, `outcome_id`, `channel`."""
        body: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "outcome.record", "call_id": call_id, "result": result}
        for name, value in (("offer_id", offer_id), ("note", note), ("reason", reason)):
            if value is not None:
                body[name] = value
        if callback_at is not None:
            body["callback_at"] = callback_at.isoformat() if isinstance(callback_at, datetime) else callback_at
        return self._request("POST", "/v1/outcomes", body, expect="outcome.result")

    # --- outbound work (protocol v1, additive; docs/bridge.md "Outbound") ----------------------------

    def outbound_next(self) -> dict[str, Any]:
        """Preview the worklist's next customer (after a call's result: end the wrap-up). Returns the
        `outbound.state` reply: `accepted`, `detail`, and `outbound` (the previewed customer, the call)."""
        return self._request("POST", "/v1/outbound/next", None, expect="outbound.state")

    def outbound_dial(self) -> dict[str, Any]:
        """Dial the previewed customer through the panel's softphone connector."""
        return self._request("POST", "/v1/outbound/dial", None, expect="outbound.state")

    def outbound_result(self, result: str, note: str | None = None) -> dict[str, Any]:
        """The outbound call's result: connected, no_answer, busy, voicemail, wrong_number, invalid_number or
        refused_call (saved on the PC at once, sent to the server exactly once)."""
        body: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "outbound.result", "result": result}
        if note is not None:
            body["note"] = note
        return self._request("POST", "/v1/outbound/result", body, expect="outbound.state")

    # --- events ------------------------------------------------------------------------------------------

    def subscribe(self, *, dialer: bool = False) -> EventStream:
        """Open the event stream (WebSocket /v1/events). Use it as a context manager; iterate it or call
        `next_event(timeout)`; `close()` may be called from another thread to end the iteration.
        `dialer=True`: this host dials the panel's outbound calls (it sends `dialer.register` and gets
        `dial.requested` events while the stream is open; `stream.dialer` is the panel's `dialer.result`)."""
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        token = self._current_token()
        url = f"ws://{self._host}:{self._port}/v1/events"
        try:
            # No proxy (a loopback service), no compression (events are small and latency matters).
            connection = connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                 subprotocols=[WS_SUBPROTOCOL], compression=None, proxy=None,  # type: ignore[list-item]
                                 open_timeout=self.timeout)
            # Entered as `with` would (websockets >= 17.1 warns about unmanaged connections); EventStream
            # owns it from here and closes it.
            connection.__enter__()
        except InvalidStatus as exc:
            raise _error_from_reply(exc.response.status_code, bytes(exc.response.body or b"")) from None
        except OSError as exc:
            raise self._unavailable(exc) from None
        try:
            hello = _decode(connection.recv(timeout=self.timeout))
        except BaseException:
            connection.close()
            raise
        if hello.get("type") != "hello" or hello.get("protocol") != PROTOCOL_VERSION:
            connection.close()
            raise BridgeProtocolError(f"expected a protocol {PROTOCOL_VERSION} hello, got {hello.get('type')!r}")
        stream = EventStream(connection, hello)
        if dialer:
            try:
                stream.register_dialer(timeout=self.timeout)
            except BaseException:
                stream.close()
                raise
        return stream

    def events(self, *, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Events as the panel publishes them (dicts with v, type, seq, at, data), plus `events.dropped`
        notices if this consumer falls behind. `timeout`: seconds to wait for each event (TimeoutError
        ends the iteration); None waits for ever. Closing the generator closes the connection."""
        with self.subscribe() as stream:
            while True:
                yield stream.next_event(timeout)

    # --- plumbing ----------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> BridgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _current_token(self) -> str:
        if self._token is None:
            self._token = find_token(data_dir=self._data_dir)
        if self._token is None:
            raise BridgeAuthError(
                "no bridge token: pass token=…, set CALLCUE_BRIDGE_TOKEN, or start CallCue once on this account "
                f"(it writes {(self._data_dir or default_data_dir()) / TOKEN_FILE_NAME})", status=401,
                code="unauthorized")
        return self._token

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None, *, expect: str) -> dict[str, Any]:
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            return self._exchange(method, path, payload, expect)
        except BridgeAuthError:
            if self._token_given:
                raise
            stale = self._token
            self._token = find_token(data_dir=self._data_dir)
            if self._token is None or self._token == stale:
                raise
            return self._exchange(method, path, payload, expect)  # the file has a new token: once, not a loop

    def _exchange(self, method: str, path: str, payload: bytes | None, expect: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._current_token()}", "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        with self._lock:
            for attempt in (1, 2):
                connection = self._connection or _NoDelayConnection(self._host, self._port, timeout=self.timeout)
                self._connection = connection
                try:
                    connection.request(method, path, body=payload, headers=headers)
                    response = connection.getresponse()
                    status, data = response.status, response.read()
                    if response.will_close:
                        connection.close()
                        self._connection = None
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    # A kept-alive connection the bridge closed meanwhile: every bridge command is safe to
                    # repeat (a repeated call event is a duplicate), so try once on a fresh connection.
                    connection.close()
                    self._connection = None
                    if attempt == 2:
                        raise self._unavailable(exc) from None
                except OSError as exc:
                    connection.close()
                    self._connection = None
                    raise self._unavailable(exc) from None
        if status != 200:
            raise _error_from_reply(status, data)
        reply = _decode(data)
        if reply.get("type") != expect or reply.get("v") != PROTOCOL_VERSION:
            raise BridgeProtocolError(f"expected {expect!r} (v{PROTOCOL_VERSION}), got {reply.get('type')!r}",
                                      status=status)
        return reply

    def _unavailable(self, exc: BaseException) -> BridgeUnavailable:
        if isinstance(exc, TimeoutError):
            return BridgeUnavailable(f"the panel at {self.base_url} did not answer within {self.timeout:g} s",
                                     code="timeout")
        return BridgeUnavailable(
            f"nothing answers at {self.base_url} ({type(exc).__name__}): is CallCue running, with its bridge on "
            "(bridge.port, CALLCUE_BRIDGE_PORT)?", code="unavailable")


class EventStream:
    """An open event stream. `hello` is the panel's greeting (protocol, app version, event types)."""

    def __init__(self, connection: Any, hello: dict[str, Any]) -> None:
        self._connection = connection
        self._closed_by_us = False
        self._early: list[dict[str, Any]] = []  # events that arrived before a reply we waited for
        self.hello = hello
        self.dialer: dict[str, Any] | None = None  # the dialer.result, once registered

    def register_dialer(self, dials: bool = True, timeout: float | None = 5.0) -> dict[str, Any]:
        """Tell the panel this host dials its outbound calls (`dial.requested` events follow) or, with
        `dials=False`, no longer does. Returns the panel's `dialer.result`."""
        self._connection.send(json.dumps({"v": PROTOCOL_VERSION, "type": "dialer.register", "dials": dials}))
        while True:
            message = _decode(self._connection.recv(timeout=timeout))
            if message.get("type") == "dialer.result":
                self.dialer = message
                return message
            if message.get("type") == "error":
                raise _error_from_reply(int(message.get("status") or 400), json.dumps(message).encode())
            if message.get("type") in EVENT_TYPES or message.get("type") == "events.dropped":
                self._early.append(message)

    def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next event; TimeoutError after `timeout` seconds without one; StopIteration once closed
        here; BridgeUnavailable when the panel ended the stream (it quit or stopped its bridge)."""
        from websockets.exceptions import ConnectionClosed

        if self._early:
            return self._early.pop(0)
        while True:
            try:
                message = _decode(self._connection.recv(timeout=timeout))
            except ConnectionClosed as exc:
                if self._closed_by_us:
                    raise StopIteration from None
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                raise BridgeUnavailable(f"the panel closed the event stream (WebSocket close code {code})",
                                        code="closed") from None
            if message.get("type") in EVENT_TYPES or message.get("type") == "events.dropped":
                return message

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        return self.next_event()

    def close(self) -> None:
        self._closed_by_us = True
        self._connection.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoDelayConnection(http.client.HTTPConnection):
    """http.client sends a request's headers and body in two writes; with Nagle's algorithm on, the body
    then waits for the bridge's delayed ACK (40 ms on Linux). TCP_NODELAY sends both at once."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _decode(data: bytes | str) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except ValueError:
        raise BridgeProtocolError("the answer is not JSON: is another program using the bridge's port?") from None
    if not isinstance(message, dict):
        raise BridgeProtocolError("the answer is not a JSON object")
    return message


_ERRORS_BY_STATUS: dict[int, type[BridgeError]] = {401: BridgeAuthError, 403: BridgeForbidden, 421: BridgeForbidden,
                                                   503: BridgeBusy}


def _error_from_reply(status: int, data: bytes) -> BridgeError:
    message: dict[str, Any] = {}
    with contextlib.suppress(BridgeProtocolError):
        message = _decode(data)
    kind = _ERRORS_BY_STATUS.get(status, BridgeRequestError if 400 <= status < 500 else BridgeProtocolError)
    text = message.get("message") or f"HTTP {status}"
    return kind(f"{status} {message.get('error', '')}: {text}".replace(" :", ":"), status=status,
                code=str(message.get("error", "")), field=message.get("field"))


__all__ = [
    "BridgeAuthError",
    "BridgeBusy",
    "BridgeClient",
    "BridgeError",
    "BridgeForbidden",
    "BridgeProtocolError",
    "BridgeRequestError",
    "BridgeUnavailable",
    "CallResult",
    "EventStream",
    "default_base_url",
    "default_data_dir",
    "find_token",
]
