"""baresip connector: call events from the baresip softphone's `ctrl_tcp` module.

ctrl_tcp speaks netstring-framed JSON over TCP (desktop.calls.netstring). baresip sends events,

    {"event":true,"type":"CALL_INCOMING","class":"call","accountaor":"sip:agent@10.0.0.5",
     "direction":"incoming","peeruri":"sip:13800138000@10.0.0.1","id":"3324e1a1e0d908fb","param":"…"}

and answers commands ({"command":"accept","params":"","token":"t1"}) with
{"response":true,"ok":true,"data":"…","token":"t1"}.

Mapping (call_id = "baresip:" + the event's `id`, source = "baresip"):

| baresip event                              | CallEvent                                               |
| ------------------------------------------ | ------------------------------------------------------- |
| CALL_INCOMING                              | ringing, ani = number in `peeruri` (the caller); from_agent = the user part of `diverteruri` (who diverted or transferred the call here) when baresip reports one |
| CALL_OUTGOING / CALL_RINGING / CALL_PROGRESS (direction outgoing) | ringing, ani = the number dialled — only with `pop_outgoing` and a customer-length number (extensions do not pop) |
| CALL_ESTABLISHED                           | answered (pops too, if the call was not seen ringing)   |
| CALL_TRANSFER                              | transferred (dnis = the transfer target's number, if any) |
| CALL_CLOSED                                | ended                                                   |
| anything else (SDP, RTCP, registration …)  | ignored                                                 |

Transfers and `from_agent`: a CALL_TRANSFER event is baresip being asked (REFER) to call someone else: its
`param` is only the Refer-To target, and baresip reports nothing about who sent the REFER (no
Referred-By). A call transferred *to* the agent arrives as a new CALL_INCOMING; baresip versions that know
the INVITE's Diversion header add `diverteruri` to call events (baresip 1.0 of Debian 12 does not), and
that is the only referrer baresip reports: it becomes the ringing event's `from_agent`.

An incoming call whose `peeruri` holds no phone number (withheld, "anonymous", a SIP name) has nothing to
pop: it is logged (without the URI) and skipped. A message that cannot be understood raises
BaresipMessageError inside the parser; the connector logs it (never the phone number) and goes on with
the next frame. A broken netstring stream cannot be resynchronised, so the connector reconnects.

ctrl_tcp serves one client at a time: a second client (another tool) takes the connection over, and this
connector then reconnects (with backoff) and takes it back. Run one CallCue per baresip.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from desktop.calls.connector_base import (
    ConnectorMessageError,
    EventCallback,
    StatusCallback,
    TcpConnector,
    is_dialable_customer_number,
    number_from_uri,
)
from desktop.calls.events import CallEvent, InvalidCallEvent, parse_call_event
from desktop.calls.netstring import DEFAULT_MAX_FRAME, NetstringDecoder, NetstringError, encode_netstring

logger = logging.getLogger("callcue.connectors.baresip")

SOURCE: Final = "baresip"
CALL_ID_PREFIX: Final = "baresip:"
MAX_TEXT_FIELD: Final = 1024  # a URI or a response's text; longer is not a baresip we understand
_MAX_TYPE_LENGTH: Final = 64

_RINGING_OUT: Final = frozenset({"CALL_OUTGOING", "CALL_RINGING", "CALL_PROGRESS"})
_CALL_TYPES: Final = frozenset({"CALL_INCOMING", "CALL_ESTABLISHED", "CALL_TRANSFER", "CALL_CLOSED", *_RINGING_OUT})


class BaresipMessageError(ConnectorMessageError):
    """A ctrl_tcp frame that is not a baresip event or response we can understand."""


@dataclass(frozen=True, slots=True)
class BaresipEvent:
    type: str
    call_id: str | None = None  # baresip's `id`
    direction: str | None = None  # "incoming" | "outgoing"
    peer_uri: str | None = None
    account: str | None = None  # `accountaor`: which of baresip's accounts the call is on
    param: str | None = None
    diverter_uri: str | None = None  # `diverteruri`: who diverted/transferred the call here (newer baresip)

    def __repr__(self) -> str:  # URIs carry phone numbers: keep them out of logs
        return (f"BaresipEvent(type={self.type!r}, call_id={self.call_id!r}, direction={self.direction!r}, "
                f"peer_uri={'<set>' if self.peer_uri else None})")


@dataclass(frozen=True, slots=True)
class BaresipResponse:
    ok: bool
    data: str
    token: str | None


def decode_message(payload: bytes) -> BaresipEvent | BaresipResponse:
    """One ctrl_tcp frame's payload as an event or a command response. Raises BaresipMessageError."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BaresipMessageError("frame is not UTF-8 text") from None
    try:
        message = json.loads(text)
    except RecursionError:
        raise BaresipMessageError("frame nests JSON too deeply") from None
    except ValueError:
        raise BaresipMessageError("frame is not JSON") from None
    if not isinstance(message, dict):
        raise BaresipMessageError(f"frame must be a JSON object, not {_type_name(message)}")
    if message.get("event") is True:
        return BaresipEvent(
            type=_required_text(message, "type", _MAX_TYPE_LENGTH),
            call_id=_optional_text(message, "id"),
            direction=_optional_text(message, "direction"),
            peer_uri=_optional_text(message, "peeruri"),
            account=_optional_text(message, "accountaor"),
            param=_optional_text(message, "param"),
            diverter_uri=_optional_text(message, "diverteruri"),
        )
    if message.get("response") is True:
        ok = message.get("ok")
        if not isinstance(ok, bool):
            raise BaresipMessageError(f"response field 'ok' must be true or false, not {_type_name(ok)}")
        return BaresipResponse(ok=ok, data=_optional_text(message, "data") or "",
                               token=_optional_text(message, "token"))
    raise BaresipMessageError("frame is neither an event (\"event\": true) nor a response (\"response\": true)")


def call_event_from_baresip(event: BaresipEvent, *, pop_outgoing: bool = True) -> CallEvent | None:
    """The CallEvent for a baresip event, or None when it is not a call-lifecycle event we report.
    Raises BaresipMessageError for a call event that lacks what it needs."""
    kind = event.type
    if kind not in _CALL_TYPES:
        return None
    if event.direction not in (None, "incoming", "outgoing"):
        raise BaresipMessageError(f"{kind}: field 'direction' must be 'incoming' or 'outgoing'")
    if not event.call_id:
        raise BaresipMessageError(f"{kind}: the call 'id' is missing")
    call_id = CALL_ID_PREFIX + event.call_id
    outgoing = event.direction == "outgoing" or (event.direction is None and kind in _RINGING_OUT)
    number = number_from_uri(event.peer_uri)
    if outgoing and not (pop_outgoing and is_dialable_customer_number(number)):
        number = None  # an extension, or outgoing pops are off: nothing to look up
    if kind == "CALL_INCOMING" or kind in _RINGING_OUT:
        if outgoing != (kind in _RINGING_OUT):
            return None  # CALL_INCOMING is incoming by definition; remote ringing only means something outgoing
        if number is None:
            logger.info("baresip call %s: %s without a customer number (withheld or internal): nothing to pop",
                        _loggable(call_id), "incoming call" if kind == "CALL_INCOMING" else "outgoing call")
            return None
        state = "ringing"
    elif kind == "CALL_ESTABLISHED":
        state = "answered"
    elif kind == "CALL_TRANSFER":
        state = "transferred"
    else:
        state = "ended"
    data: dict[str, Any] = {"call_id": call_id, "state": state, "ani": number}
    if kind == "CALL_INCOMING":
        data["from_agent"] = _sip_user(event.diverter_uri)
    if state == "transferred":
        data["dnis"] = number_from_uri(event.param)
    elif state == "ended" and event.param:
        # CALL_CLOSED's param is why ('486 Busy Here', '603 Decline', 'Connection reset by user'): kept (one
        # printable line) so an outbound call's result can be suggested; never a number in the log.
        reason = "".join(ch for ch in event.param if ch.isprintable())[:128].strip()
        data["end_reason"] = reason or None
    try:
        return parse_call_event(data, source=SOURCE)
    except InvalidCallEvent as exc:
        raise BaresipMessageError(f"{kind}: {exc}") from None


def parse_frame(payload: bytes, *, pop_outgoing: bool = True) -> CallEvent | BaresipResponse | None:
    """decode_message + call_event_from_baresip: what the connector does with each frame."""
    message = decode_message(payload)
    if isinstance(message, BaresipResponse):
        return message
    return call_event_from_baresip(message, pop_outgoing=pop_outgoing)


class BaresipConnector(TcpConnector):
    """Connects to baresip's ctrl_tcp (HOST:PORT), turns its call events into CallEvents for `on_event`,
    and reconnects with backoff when baresip is not there (yet) or goes away."""

    connector_name = "baresip"

    def __init__(self, host: str, port: int, on_event: EventCallback, on_status: StatusCallback | None = None,
                 *, pop_outgoing: bool = True, max_frame: int = DEFAULT_MAX_FRAME, **options: Any) -> None:
        super().__init__(host, port, on_event, on_status, **options)
        self.pop_outgoing = pop_outgoing
        self._decoder = NetstringDecoder(max_frame)
        self._tokens = itertools.count(1)
        self._outbox: deque[tuple[str, bytes, Future[BaresipResponse]]] = deque()
        self._pending: dict[str, Future[BaresipResponse]] = {}  # connector thread only
        self._outbox_lock = threading.Lock()

    def send_command(self, command: str, params: str = "") -> Future[BaresipResponse]:
        """Send a ctrl_tcp command (e.g. "accept", "hangup", "dial" with a URI) from any thread. The future
        resolves with baresip's response, or fails with ConnectionError when the connection is not up or
        drops first. (CallCue itself sends none: this is for tests and future panel buttons.)"""
        future: Future[BaresipResponse] = Future()
        token = f"callcue-{next(self._tokens)}"
        payload = json.dumps({"command": command, "params": params, "token": token}).encode("utf-8")
        with self._outbox_lock:
            if self._sock is None or self._stopping.is_set():
                future.set_exception(ConnectionError("not connected to baresip"))
                return future
            self._outbox.append((token, payload, future))
        self._post(self._flush_outbox)
        return future

    # --- protocol hooks (connector thread) ----------------------------------------------------------

    def _on_connected(self) -> None:
        self._decoder.reset()
        self._mark_ready("receiving call events")

    def _on_data(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except NetstringError:
            for frame in self._decoder.salvaged:
                self._handle_frame(frame)
            raise  # the stream cannot be trusted any more: reconnect
        for frame in frames:
            self._handle_frame(frame)

    def _on_disconnected(self, reason: str) -> None:
        with self._outbox_lock:
            waiting = [future for _token, _payload, future in self._outbox]
            self._outbox.clear()
        waiting += self._pending.values()
        self._pending.clear()
        for future in waiting:
            if not future.done():
                future.set_exception(ConnectionError(f"baresip connection ended: {reason}"))

    def _flush_outbox(self) -> None:
        while True:
            with self._outbox_lock:
                if not self._outbox:
                    return
                token, payload, future = self._outbox.popleft()
            self._pending[token] = future
            self._send(encode_netstring(payload))

    def _handle_frame(self, frame: bytes) -> None:
        try:
            result = parse_frame(frame, pop_outgoing=self.pop_outgoing)
        except BaresipMessageError as exc:
            logger.warning("baresip: ignored a message that cannot be understood: %s", exc.problem)
            return
        if isinstance(result, BaresipResponse):
            future = self._pending.pop(result.token, None) if result.token else None
            if future is not None and not future.done():
                future.set_result(result)
            return
        if result is not None:
            self._emit(result)


def _sip_user(uri: str | None) -> str | None:
    """Who a SIP URI names, for a marker: its number ('sip:1002@pbx' → '1002'), else its user part
    ('sip:lina@pbx' → 'lina'), else None. Printable, at most 64 characters."""
    if not uri:
        return None
    number = number_from_uri(uri)
    if number is not None:
        return number
    text = uri.strip()
    if "<" in text:
        text = text[text.find("<") + 1:].split(">", 1)[0]
    scheme, colon, rest = text.partition(":")
    if not colon or scheme.strip().lower() not in ("sip", "sips") or "@" not in rest:
        return None
    user = "".join(ch for ch in rest.split("@", 1)[0].split(";", 1)[0] if ch.isprintable())[:64].strip()
    return None if not user or user.lower() == "anonymous" else user


def _optional_text(message: dict[str, Any], field: str, limit: int = MAX_TEXT_FIELD) -> str | None:
    value = message.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BaresipMessageError(f"field '{field}' must be text, not {_type_name(value)}")
    if len(value) > limit:
        raise BaresipMessageError(f"field '{field}' is longer than {limit} characters")
    return value


def _required_text(message: dict[str, Any], field: str, limit: int) -> str:
    value = _optional_text(message, field, limit)
    if not value:
        raise BaresipMessageError(f"field '{field}' is missing")
    return value


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return "text"


def _loggable(call_id: str) -> str:
    # Call ids go to the log; repr() keeps a hostile one from forging lines, the cut from flooding it.
    return repr(call_id[:80])
