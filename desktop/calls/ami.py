"""Asterisk Manager Interface (AMI) connector: call events from an Asterisk PBX.

The protocol (docs.asterisk.org, "AMI v2 Specification", AMI_Actions / AMI_Events): on connect the PBX sends
one line, `Asterisk Call Manager/<version>`; after that both sides exchange messages of `Key: Value` lines
ending with an empty line (CRLF line ends). The client sends actions (`Action: Login`, each with an
`ActionID`), the PBX answers with `Response: Success|Error` carrying that ActionID, and sends `Event: …`
messages. A failed login is answered with `Response: Error` and the PBX closes the connection.

This module has three layers, all Qt-free:

- AmiReader: bytes → messages. Bounded (line and message sizes, fields per message); a malformed message
  is reported as an AmiMessageError item and skipped (the empty line is a natural resync point); only a
  peer that does not greet like an AMI server is fatal (AmiProtocolError).
- AmiCallTracker: messages → CallEvents, keyed by `Linkedid` (the Uniqueid of the oldest channel of a
  call, shared by every channel of it), call_id "ami:<Linkedid>", source "ami". See its docstring.
- AmiConnector: the TCP session on one thread: MD5 challenge login (the secret never crosses the wire),
  `CoreShowChannels` after every (re)login to learn which calls ended while disconnected, a `Ping`
  keepalive, `Logoff` on stop, exponential backoff with jitter.

Asterisk is not packaged in Debian 12, so this code is tested against transcripts written by hand from the
AMI documentation (tests/connectors/transcripts/), served over a real TCP socket by a scripted peer.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final

from desktop.calls.connector_base import (
    ConnectorMessageError,
    EventCallback,
    SessionEnded,
    StatusCallback,
    TcpConnector,
    is_dialable_customer_number,
    phone_number,
)
from desktop.calls.events import CallEvent, InvalidCallEvent, parse_call_event

logger = logging.getLogger("callcue.connectors.ami")

SOURCE: Final = "ami"
CALL_ID_PREFIX: Final = "ami:"
MAX_LINE_BYTES: Final = 8 * 1024
MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_FIELDS: Final = 256
_MAX_KEY_LENGTH: Final = 64
_MAX_ID_LENGTH: Final = 64
_MAX_CHANNEL_LENGTH: Final = 256
_BANNER_MARK: Final = "Call Manager/"
_KEY = re.compile(rf"[A-Za-z0-9_()./-]{{1,{_MAX_KEY_LENGTH}}}")
_ID = re.compile(rf"[\x21-\x7e]{{1,{_MAX_ID_LENGTH}}}")  # printable ASCII, no spaces
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
# Keys as received: printable ASCII (inner spaces allowed), e.g. "ChanVariable(Local/1001@agents-0001;1)".
_RECEIVED_KEY = re.compile(rf"[\x21-\x7e](?:[\x20-\x7e]{{0,{_MAX_KEY_LENGTH * 2 - 2}}}[\x21-\x7e])?")

# Channel states (AMI ChannelState / ChannelStateDesc).
RING, RINGING, UP = 4, 5, 6
_STATE_BY_NAME: Final = {"down": 0, "rsrvd": 1, "offhook": 2, "dialing": 3, "ring": RING, "ringing": RINGING,
                         "up": UP, "busy": 7, "dialing offhook": 8, "pre-ring": 9}


class AmiProtocolError(ConnectorMessageError):
    """The peer is not speaking AMI (no `Asterisk Call Manager/…` greeting): give up this connection."""


class AmiMessageError(ConnectorMessageError):
    """One AMI message that cannot be understood; it is skipped, the connection goes on."""


# --- messages ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI message: its `Key: Value` fields in order. Keys are looked up case-insensitively; a key that
    appears twice keeps its first value for `get` (all are in `fields`)."""

    fields: tuple[tuple[str, str], ...]
    _index: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for key, value in self.fields:
            index.setdefault(key.lower(), value)
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, **fields: str) -> AmiMessage:
        return cls(tuple(fields.items()))

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._index.get(key.lower(), default)

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def __repr__(self) -> str:  # values hold phone numbers: keys only
        kind = f"event={safe_name(self.event)!r}" if self.event is not None else (
            f"response={safe_name(self.response)!r}")
        return f"AmiMessage({kind}, keys={[key for key, _ in self.fields]!r})"


def safe_name(name: str | None) -> str:
    """An event/response name fit for a log line (anything odd is replaced)."""
    return name if name is not None and _SAFE_NAME.fullmatch(name) else "<unrecognised>"


def encode_action(action: str, fields: Sequence[tuple[str, str]] = ()) -> bytes:
    """An action message. Raises ValueError for a key or value that would break the framing."""
    lines = [("Action", action), *fields]
    out = []
    for key, value in lines:
        if not _KEY.fullmatch(key):
            raise ValueError(f"invalid AMI key {key!r}")
        if any(ch in value for ch in "\r\n\0"):
            raise ValueError(f"AMI field {key} must not contain line breaks")
        out.append(f"{key}: {value}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")


class AmiReader:
    """Bytes from the PBX → the greeting, then AmiMessage items (or AmiMessageError items for messages
    that were skipped). Memory is bounded by MAX_MESSAGE_BYTES plus one line, whatever arrives."""

    def __init__(self, *, max_line: int = MAX_LINE_BYTES, max_message: int = MAX_MESSAGE_BYTES,
                 max_fields: int = MAX_FIELDS, expect_banner: bool = True) -> None:
        self.max_line = max_line
        self.max_message = max_message
        self.max_fields = max_fields
        self.banner: str | None = None if expect_banner else ""
        self._partial = bytearray()  # the current incomplete line
        self._skipping_line = False  # the current line is too long: drop bytes up to its end
        self._lines: list[str] = []
        self._size = 0
        self._problem: str | None = None  # the current message is bad: skip it up to its empty line

    def feed(self, data: bytes) -> list[AmiMessage | AmiMessageError]:
        items: list[AmiMessage | AmiMessageError] = []
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            chunk = data[start:end]
            start = end + 1
            if self._skipping_line:
                if newline >= 0:
                    self._skipping_line = False
                continue
            if len(self._partial) + len(chunk) > self.max_line:
                if self.banner is None:
                    raise AmiProtocolError("the peer is not an AMI server (its first line is far too long)")
                self._partial.clear()
                self._skipping_line = newline < 0
                self._flag(f"a line is longer than {self.max_line} bytes")
                continue
            self._partial += chunk
            if newline < 0:
                break
            raw = bytes(self._partial)
            self._partial.clear()
            item = self._line(raw[:-1] if raw.endswith(b"\r") else raw)
            if item is not None:
                items.append(item)
        return items

    def _line(self, raw: bytes) -> AmiMessage | AmiMessageError | None:
        text = raw.decode("utf-8", errors="replace")
        if self.banner is None:
            if _BANNER_MARK not in text or len(text) > 200:
                raise AmiProtocolError("the peer is not an AMI server (no 'Asterisk Call Manager/…' greeting)")
            self.banner = "".join(ch for ch in text if ch.isprintable())
            return None
        if text.strip() == "":
            return self._finish()
        self._size += len(raw) + 2
        if self._problem is not None:
            return None
        if self._size > self.max_message:
            self._flag(f"a message is larger than {self.max_message} bytes")
        elif len(self._lines) >= self.max_fields:
            self._flag(f"a message has more than {self.max_fields} fields")
        else:
            self._lines.append(text)
        return None

    def _flag(self, problem: str) -> None:
        if self._problem is None:
            self._problem = problem

    def _finish(self) -> AmiMessage | AmiMessageError | None:
        lines, problem = self._lines, self._problem
        self._lines, self._problem, self._size = [], None, 0
        if problem is not None:
            return AmiMessageError(f"{problem} (message skipped)")
        if not lines:
            return None  # extra empty lines between messages
        try:
            return parse_ami_message(lines)
        except AmiMessageError as exc:
            return exc


def parse_ami_message(lines: Sequence[str]) -> AmiMessage:
    """`Key: Value` lines → AmiMessage. Raises AmiMessageError (naming the line number, not its text)."""
    fields = []
    for number, line in enumerate(lines, 1):
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon:
            raise AmiMessageError(f"line {number} of a message is not 'Key: Value' (message skipped)")
        if not _RECEIVED_KEY.fullmatch(key):
            raise AmiMessageError(f"line {number} of a message has an invalid key (message skipped)")
        fields.append((key, value.strip()))
    message = AmiMessage(tuple(fields))
    if message.event is None and message.response is None:
        raise AmiMessageError("a message has neither 'Event' nor 'Response' (message skipped)")
    return message


# --- call tracking -------------------------------------------------------------------------------------


def device_of(channel: str) -> str:
    """The device (endpoint) of a channel name, lower-cased: 'PJSIP/1001-0000000a' → 'pjsip/1001',
    'Local/1001@agents-00000003;2' → 'local/1001@agents'; a queue Interface 'Local/1001@agents/n' →
    'local/1001@agents'."""
    name = channel.strip()
    if ";" in name:
        name = name.rsplit(";", 1)[0]
    slash = name.find("/")
    if name.lower().startswith("local/") and name.lower().endswith("/n"):
        name = name[:-2]
    else:
        dash = name.rfind("-")
        if 0 <= slash < dash:
            name = name[:dash]
    return name.lower()


@dataclass
class _Channel:
    device: str
    state: int | None
    originating: bool  # its Uniqueid is the call's Linkedid: the leg that started the call


@dataclass
class _Call:
    linkedid: str
    channels: dict[str, _Channel] = field(default_factory=dict)
    caller: str | None = None  # the originating party's number
    dialled: str | None = None  # what the originating party dialled (its Exten)
    agent_legs: set[str] = field(default_factory=set)  # Uniqueids on the agent's device(s)
    outbound: bool = False  # the agent's own device started the call
    counterpart: str | None = None  # the customer's number, as reported in `ani`
    reported: str | None = None  # ringing | answered | transferred | ended | silent (nothing to pop)
    answered_device: str | None = None
    last_transfer: str | None = None
    # A colleague transferred the call before it reached this agent: who (their caller ID name, else
    # extension, else device) and where to (the extension or queue): the first report here carries them.
    transferred_by: str | None = None
    transferred_via: str | None = None
    end_reason: str | None = None  # the Hangup's Q.850 cause of the customer's leg ('Q.850 cause 17')


_ACTIVE = ("ringing", "answered", "transferred")


class AmiCallTracker:
    """AMI events → CallEvents for this agent, keyed by Linkedid.

    `devices` are the agent's endpoints (e.g. {"PJSIP/1001"}; config `connectors.ami_device`, comma-separated).
    With devices, only calls that reach them count ("agent legs"); without, every dialled channel counts
    (every call on the PBX pops: fine for a one-agent PBX or a test, not for a call centre).

    - ringing: an agent leg rings — DialBegin or queue AgentCalled toward the device, or a Newchannel /
      Newstate in Ring/Ringing — with ani = the caller's CallerIDNum (else the leg's ConnectedLineNum).
      Outgoing calls from the agent's device ring at DialBegin with ani = the dialled number (only with
      `pop_outgoing` and a customer-length number: calls to colleagues' extensions do not pop).
    - answered: an agent leg goes Up, enters a bridge (BridgeEnter), DialEnd ANSWER, or AgentConnect.
    - transferred: BlindTransfer / AttendedTransfer (Result: Success) of an answered call, or a new
      DialBegin in an answered call toward another destination; dnis = the target's number when it is one.
      `from_agent` names the transferer (TransfererCallerIDName, else TransfererCallerIDNum, else its
      device; OrigTransferer… for an attended transfer) unless that is this agent's own leg. A call a
      colleague blind-transferred before it reached this agent rings here with that `from_agent` and the
      extension or queue it came through as `dnis`; an attended transfer that hands this agent's
      consultation call the customer reports `transferred` with the customer's number as `ani`.
    - ended: with devices, when the call's last agent leg hangs up (the call is over *for this agent*);
      without, when the call's last channel hangs up.
    - a call without a usable caller number (withheld, "anonymous") is not popped, and stays silent.
    - after a reconnect, a CoreShowChannels listing (`begin_resync` … CoreShowChannelsComplete) ends the
      calls that vanished meanwhile, and picks up a call already ringing or answered on the device.

    Each state is reported at most once per call (transfers once per target). Memory is bounded: at most
    `max_calls` calls (least recently active dropped first) of at most `max_channels` channels.
    """

    def __init__(self, *, devices: Iterable[str] = (), pop_outgoing: bool = True, max_calls: int = 2000,
                 max_channels: int = 64) -> None:
        self.devices = frozenset(device_of(d) for d in devices if d.strip())
        self.pop_outgoing = pop_outgoing
        self.max_calls = max_calls
        self.max_channels = max_channels
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._listing: set[tuple[str, str]] | None = None  # (Linkedid, Uniqueid) seen in a resync
        self._handlers: dict[str, Callable[[AmiMessage], list[CallEvent]]] = {
            "newchannel": self._on_channel_state,
            "newstate": self._on_channel_state,
            "coreshowchannel": self._on_channel_state,  # a resync's listing: same fields as Newstate
            "coreshowchannelscomplete": lambda _m: self.finish_resync(),
            "dialbegin": self._on_dial_begin,
            "dialend": self._on_dial_end,
            "agentcalled": self._on_agent_called,
            "agentconnect": self._on_agent_connect,
            "bridgeenter": self._on_bridge_enter,
            "hangup": self._on_hangup,
            "blindtransfer": self._on_blind_transfer,
            "attendedtransfer": self._on_attended_transfer,
        }

    @property
    def tracked_calls(self) -> int:
        return len(self._calls)

    def open_call_ids(self) -> list[str]:
        """Calls reported ringing/answered/transferred and not yet ended."""
        return [CALL_ID_PREFIX + c.linkedid for c in self._calls.values() if c.reported in _ACTIVE]

    def handle(self, message: AmiMessage) -> list[CallEvent]:
        """The CallEvents an AMI message causes (often none). Raises AmiMessageError for a call event
        whose fields cannot be used; responses and unrelated events give []."""
        name = message.event
        if name is None:
            return []
        handler = self._handlers.get(name.lower())
        return [] if handler is None else handler(message)

    def begin_resync(self) -> None:
        """A CoreShowChannels listing starts: remember what it lists."""
        self._listing = set()

    def cancel_resync(self) -> None:
        self._listing = None

    def finish_resync(self) -> list[CallEvent]:
        """The listing is complete: forget channels it did not list; end calls that are gone."""
        listing, self._listing = self._listing, None
        if listing is None:
            return []
        events: list[CallEvent] = []
        for linkedid in list(self._calls):
            call = self._calls[linkedid]
            gone = [uid for uid in call.channels if (linkedid, uid) not in listing]
            for uid in gone:
                del call.channels[uid]
            call.agent_legs &= call.channels.keys()
            if not call.channels:
                events += self._end(call)
                del self._calls[linkedid]
            elif self.devices and not call.agent_legs and call.reported in _ACTIVE:
                events += self._end(call)
        return events

    # --- handlers -------------------------------------------------------------------------------------

    def _on_channel_state(self, m: AmiMessage) -> list[CallEvent]:
        uid = _id(m, "Uniqueid")
        call = self._call(_id(m, "Linkedid", default=uid))
        channel = self._channel(call, uid, _channel_name(m, "Channel"), _state(m, ""))
        if channel is None:
            return []
        if channel.originating and call.caller is None:
            call.caller = phone_number(m.get("CallerIDNum"))
            call.dialled = phone_number(m.get("Exten"))
        if uid not in call.agent_legs:
            return []
        if channel.originating:  # the agent's own call: answered when its leg comes Up
            return self._answered(call, device=None) if channel.state == UP and call.reported else []
        ani = call.caller or phone_number(m.get("ConnectedLineNum"))
        if channel.state in (RING, RINGING):
            return self._ringing(call, ani)
        if channel.state == UP:
            return self._answered(call, ani=ani, device=channel.device)
        return []

    def _on_dial_begin(self, m: AmiMessage) -> list[CallEvent]:
        dest_uid = _id(m, "DestUniqueid")
        caller_uid = _id(m, "Uniqueid", required=False)
        linkedid = _id(m, "DestLinkedid", required=False) or _id(m, "Linkedid", default=dest_uid)
        call = self._call(linkedid)
        if caller_uid is not None:
            self._channel(call, caller_uid, _channel_name(m, "Channel"), _state(m, ""))
        dest = self._channel(call, dest_uid, _channel_name(m, "DestChannel"), _state(m, "Dest"))
        if dest is None:
            return []
        caller_number = phone_number(m.get("CallerIDNum"))
        if call.caller is None and caller_uid == linkedid:
            call.caller = caller_number
        dest_number = phone_number(m.get("DestCallerIDNum")) or phone_number(m.get("DestExten"))
        if call.reported in ("answered", "transferred") and dest.device != call.answered_device:
            return self._transferred(call, dest_number, dest.device)
        if dest_uid in call.agent_legs:
            return self._ringing(call, call.caller or caller_number or phone_number(m.get("DestConnectedLineNum")))
        if call.outbound and caller_uid in call.agent_legs:
            number = dest_number or call.dialled
            if self.pop_outgoing and is_dialable_customer_number(number):
                return self._ringing(call, number)
            if call.reported is None:
                call.reported = "silent"  # a call to a colleague's extension: not a customer call
        return []

    def _on_dial_end(self, m: AmiMessage) -> list[CallEvent]:
        if (m.get("DialStatus") or "").upper() != "ANSWER":
            return []
        dest_uid = _id(m, "DestUniqueid")
        caller_uid = _id(m, "Uniqueid", required=False)
        call = self._known(_id(m, "DestLinkedid", required=False) or _id(m, "Linkedid", default=dest_uid))
        if call is None:
            return []
        dest = call.channels.get(dest_uid)
        device = dest.device if dest else device_of(_channel_name(m, "DestChannel"))
        if dest_uid in call.agent_legs or (call.outbound and caller_uid in call.agent_legs):
            return self._answered(call, device=device)
        return []

    def _on_agent_called(self, m: AmiMessage) -> list[CallEvent]:
        call, _device = self._queue_leg(m)
        if call is None:
            return []
        queue = _party_text(m.get("Queue"))
        if call.transferred_by is not None and queue is not None:
            call.transferred_via = queue  # transferred into a queue that now rings this agent
        return self._ringing(call, call.caller or phone_number(m.get("CallerIDNum")))

    def _on_agent_connect(self, m: AmiMessage) -> list[CallEvent]:
        call, leg = self._queue_leg(m)
        if call is None:
            return []
        return self._answered(call, ani=call.caller or phone_number(m.get("CallerIDNum")), device=leg)

    def _queue_leg(self, m: AmiMessage) -> tuple[_Call | None, str | None]:
        """For AgentCalled/AgentConnect: the call, if the queue member is this agent (else None)."""
        interface = device_of(m.get("Interface") or "")
        dest_name = m.get("DestChannel")
        dest_device = device_of(dest_name) if dest_name else None
        if self.devices and interface not in self.devices and dest_device not in self.devices:
            return None, None
        dest_uid = _id(m, "DestUniqueid", required=False)
        caller_uid = _id(m, "Uniqueid", required=False)
        linkedid = (_id(m, "DestLinkedid", required=False) or _id(m, "Linkedid", required=False)
                    or dest_uid or caller_uid)
        if linkedid is None:
            raise AmiMessageError(f"{safe_name(m.event)}: no Linkedid or Uniqueid")
        call = self._call(linkedid)
        if dest_uid is not None and dest_name:
            self._channel(call, dest_uid, _channel_name(m, "DestChannel"), _state(m, "Dest"), agent=True)
        if call.caller is None and caller_uid == linkedid:
            call.caller = phone_number(m.get("CallerIDNum"))
        return call, dest_device or interface

    def _on_bridge_enter(self, m: AmiMessage) -> list[CallEvent]:
        uid = _id(m, "Uniqueid")
        call = self._known(_id(m, "Linkedid", default=uid))
        if call is None or uid not in call.agent_legs:
            return []
        channel = call.channels.get(uid)
        if channel is not None and channel.originating:
            return self._answered(call, device=None) if call.reported else []
        ani = call.caller or phone_number(m.get("ConnectedLineNum"))
        return self._answered(call, ani=ani, device=channel.device if channel else None)

    def _on_hangup(self, m: AmiMessage) -> list[CallEvent]:
        uid = _id(m, "Uniqueid")
        linkedid = _id(m, "Linkedid", default=uid)
        call = self._known(linkedid)
        if call is None:
            return []
        call.channels.pop(uid, None)
        cause = (m.get("Cause") or "").strip()
        if cause.isascii() and cause.isdigit() and len(cause) <= 3 and int(cause) != 0 \
                and (uid not in call.agent_legs or call.end_reason is None):
            # Why the call ended (Q.850: 17 busy, 19 no answer, 21 rejected): the customer's leg says it best;
            # the agent's leg only when it is all there is.
            call.end_reason = f"Q.850 cause {int(cause)}"
        events: list[CallEvent] = []
        if uid in call.agent_legs:
            call.agent_legs.discard(uid)
            if self.devices and not call.agent_legs:
                events += self._end(call)
        if not call.channels:
            events += self._end(call)
            del self._calls[linkedid]
        return events

    def _on_blind_transfer(self, m: AmiMessage) -> list[CallEvent]:
        if (m.get("Result") or "").lower() != "success":
            return []
        extension = m.get("Extension") or ""
        target = phone_number(extension)
        events: list[CallEvent] = []
        for linkedid in _distinct(m, "TransfereeLinkedid", "TransfererLinkedid"):
            call = self._known(linkedid)
            if call is None:
                continue
            by = self._transferer(m, "Transferer", call)
            if call.reported is None and by is not None:
                # Not (yet) this agent's call: if it rings here next, it came from `by` through `extension`.
                call.transferred_by, call.transferred_via = by, _party_text(extension)
            events += self._transferred(call, target, f"exten:{extension[:64]}", from_agent=by)
        return events

    def _on_attended_transfer(self, m: AmiMessage) -> list[CallEvent]:
        if (m.get("Result") or "").lower() != "success":
            return []
        target = phone_number(m.get("TransferTargetCallerIDNum"))
        target_channel = m.get("TransferTargetChannel")
        signature = device_of(target_channel) if target_channel else f"target:{target}"
        target_uid = _id(m, "TransferTargetUniqueid", required=False)
        customer = phone_number(m.get("TransfereeCallerIDNum"))
        events: list[CallEvent] = []
        for linkedid in _distinct(m, "OrigTransfererLinkedid", "SecondTransfererLinkedid", "TransfereeLinkedid",
                                  "TransferTargetLinkedid"):
            call = self._known(linkedid)
            if call is None:
                continue
            by = self._transferer(m, "OrigTransferer", call)
            if target_uid is not None and target_uid in call.agent_legs and customer is not None:
                # This agent is the target: the consultation call now carries the transferred customer.
                if call.reported in ("answered", "transferred") and call.counterpart != customer:
                    call.counterpart = customer
                    events += self._transferred(call, None, f"customer:{customer}", from_agent=by)
                continue
            events += self._transferred(call, target, signature, from_agent=by)
        return events

    def _transferer(self, m: AmiMessage, prefix: str, call: _Call) -> str | None:
        """Who transferred (their caller ID name, else number, else device), None when it is this agent."""
        channel = m.get(f"{prefix}Channel") or ""
        uid = m.get(f"{prefix}Uniqueid")
        device = device_of(channel) if channel else None
        if (uid is not None and uid in call.agent_legs) or (self.devices and device in self.devices):
            return None
        return (_party_text(m.get(f"{prefix}CallerIDName")) or _party_text(m.get(f"{prefix}CallerIDNum"))
                or _party_text(device))

    # --- state ----------------------------------------------------------------------------------------

    def _call(self, linkedid: str) -> _Call:
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid)
            while len(self._calls) > self.max_calls:
                self._calls.popitem(last=False)
        else:
            self._calls.move_to_end(linkedid)
        return call

    def _known(self, linkedid: str) -> _Call | None:
        call = self._calls.get(linkedid)
        if call is not None:
            self._calls.move_to_end(linkedid)
        return call

    def _channel(self, call: _Call, uid: str, name: str, state: int | None, *, agent: bool = False
                 ) -> _Channel | None:
        """Create or update a channel of the call; decides once it has a name whether it is an agent leg.
        During a resync every channel seen counts as alive (it was listed, or is newer than the list)."""
        channel = call.channels.get(uid)
        if channel is None:
            if len(call.channels) >= self.max_channels:
                return None
            channel = call.channels[uid] = _Channel("", state, originating=uid == call.linkedid)
        elif state is not None:
            channel.state = state
        if self._listing is not None:
            self._listing.add((call.linkedid, uid))
        if not channel.device and name:
            channel.device = device_of(name)
            on_device = channel.device in self.devices if self.devices else not channel.originating
            if on_device:
                agent = True
        if agent and uid not in call.agent_legs:
            call.agent_legs.add(uid)
            if channel.originating:
                call.outbound = True
        return channel

    def _ringing(self, call: _Call, ani: str | None) -> list[CallEvent]:
        if call.reported is not None:
            return []
        if ani is None:
            call.reported = "silent"
            logger.info("AMI call %r rings without a caller number (withheld or internal): nothing to pop",
                        call.linkedid)
            return []
        call.counterpart = ani
        return self._report(call, "ringing")

    def _answered(self, call: _Call, *, ani: str | None = None, device: str | None) -> list[CallEvent]:
        if call.reported not in (None, "ringing"):
            return []
        if call.reported is None:  # first sight of the call (started before we connected, or no ringing seen)
            if ani is None:
                call.reported = "silent"
                return []
            call.counterpart = ani
        call.answered_device = device
        return self._report(call, "answered")

    def _transferred(self, call: _Call, target: str | None, signature: str, *, from_agent: str | None = None
                     ) -> list[CallEvent]:
        if call.reported not in ("answered", "transferred") or signature == call.last_transfer:
            return []
        call.last_transfer = signature
        call.answered_device = signature if not signature.startswith(("exten:", "target:", "customer:")) \
            else call.answered_device
        return self._report(call, "transferred", dnis=target, from_agent=from_agent)

    def _end(self, call: _Call) -> list[CallEvent]:
        if call.reported not in _ACTIVE:
            return []  # never popped (or already ended): nothing to say; a later leg may still ring
        return self._report(call, "ended")

    def _report(self, call: _Call, state: str, *, dnis: str | None = None, from_agent: str | None = None
                ) -> list[CallEvent]:
        if call.reported is None and call.transferred_by is not None:
            # The first report of a call a colleague transferred here: from whom, through which extension/queue.
            from_agent, dnis = call.transferred_by, dnis or call.transferred_via
        data: dict[str, Any] = {"call_id": CALL_ID_PREFIX + call.linkedid, "state": state,
                                "ani": call.counterpart, "dnis": dnis, "from_agent": from_agent}
        if state == "ended" and call.end_reason:
            data["end_reason"] = call.end_reason
        try:
            event = parse_call_event(data, source=SOURCE)
        except InvalidCallEvent as exc:
            raise AmiMessageError(f"call {state}: {exc}") from None
        call.reported = state
        return [event]


def _id(m: AmiMessage, key: str, *, default: str | None = None, required: bool = True) -> Any:
    value = m.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        if required:
            raise AmiMessageError(f"{safe_name(m.event)}: field '{key}' is missing")
        return None
    if not _ID.fullmatch(value):
        raise AmiMessageError(f"{safe_name(m.event)}: field '{key}' is not a valid id")
    return value


def _channel_name(m: AmiMessage, key: str) -> str:
    value = m.get(key) or ""
    if len(value) > _MAX_CHANNEL_LENGTH:
        raise AmiMessageError(f"{safe_name(m.event)}: field '{key}' is longer than {_MAX_CHANNEL_LENGTH} characters")
    return value


def _state(m: AmiMessage, prefix: str) -> int | None:
    number = m.get(f"{prefix}ChannelState")
    if number is not None and number.isascii() and number.isdigit() and len(number) <= 3:
        return int(number)
    return _STATE_BY_NAME.get((m.get(f"{prefix}ChannelStateDesc") or "").lower())


def _party_text(value: str | None) -> str | None:
    """A caller ID name, extension, queue or device as a marker may show it: None when absent or Asterisk's
    "<unknown>"; printable, at most 64 characters."""
    if value is None:
        return None
    text = "".join(ch for ch in value.strip() if ch.isprintable())[:64].strip()
    if not text or text.lower() in ("<unknown>", "unknown", "anonymous"):
        return None
    return text


def _distinct(m: AmiMessage, *keys: str) -> list[str]:
    seen: list[str] = []
    for key in keys:
        value = _id(m, key, required=False)
        if value is not None and value not in seen:
            seen.append(value)
    return seen


# --- the connector -------------------------------------------------------------------------------------


class AmiConnector(TcpConnector):
    """Logs in to an Asterisk PBX's AMI (HOST:PORT, usually port 5038) and reports this agent's calls.

    `devices`: the agent's endpoints (e.g. ["PJSIP/1001"]); without them every call on the PBX pops.
    The secret is used only for the MD5 challenge-response login: it is never sent over the network.
    """

    connector_name = "ami"

    def __init__(self, host: str, port: int, username: str, secret: str, on_event: EventCallback,
                 on_status: StatusCallback | None = None, *, devices: Iterable[str] = (), pop_outgoing: bool = True,
                 keepalive_s: float = 20.0, response_timeout_s: float = 10.0, events: str = "call,agent",
                 **options: Any) -> None:
        super().__init__(host, port, on_event, on_status, **options)
        if not username or not secret:
            raise ValueError("AMI needs a username and a secret")
        if any(ch in username + secret + events for ch in "\r\n\0"):
            raise ValueError("AMI username, secret and events must be single-line text")
        self.username = username
        self._secret = secret
        self._events = events
        self._keepalive_s = keepalive_s
        self._response_timeout_s = response_timeout_s
        self.tracker = AmiCallTracker(devices=devices, pop_outgoing=pop_outgoing)
        self._action_ids = itertools.count(1)
        self._reader = AmiReader()
        self._phase = "banner"
        self._waiting_for: str | None = None  # ActionID of the action we wait on (challenge/login)
        self._deadline = 0.0
        self._ping_id: str | None = None
        self._next_ping = 0.0
        self._resync_id: str | None = None
        self._originating: dict[str, Future[AmiMessage]] = {}  # ActionID -> the Originate's answer (thread)

    def __repr__(self) -> str:
        return f"AmiConnector({self.address}, username={self.username!r})"

    def originate(self, channel: str, exten: str, context: str, *, timeout_ms: int = 30000) -> Future[AmiMessage]:
        """Ask the PBX to call `channel` (the agent's phone) and, once it answers, `exten` in `context` (the
        customer): the AMI action Originate, asynchronous on the PBX (Async: true). From any thread; the
        future resolves with the PBX's response (Response: Success or Error), or fails with ConnectionError
        when not logged in. The call's progress then arrives as call events, as for any call."""
        future: Future[AmiMessage] = Future()
        fields = [("Channel", channel), ("Exten", exten), ("Context", context), ("Priority", "1"),
                  ("Timeout", str(timeout_ms)), ("Async", "true")]
        if any(ch in value for _key, value in fields for ch in "\r\n\0"):
            future.set_exception(ValueError("Originate fields must be single-line text"))
            return future

        def send() -> None:  # connector thread
            if self._phase != "ready":
                future.set_exception(ConnectionError("not logged in to the PBX"))
                return
            self._originating[self._send_action("Originate", fields)] = future

        if self._stopping.is_set() or self._sock is None:
            future.set_exception(ConnectionError("not connected to the PBX"))
        else:
            self._post(send)
        return future

    # --- protocol hooks (connector thread) ----------------------------------------------------------

    def _on_connected(self) -> None:
        self._reader = AmiReader()
        self._phase = "banner"
        self._waiting_for = self._ping_id = self._resync_id = None
        self._deadline = time.monotonic() + self._response_timeout_s

    def _on_data(self, data: bytes) -> None:
        had_banner = self._reader.banner is not None
        items = self._reader.feed(data)  # AmiProtocolError ends the session (not an AMI server)
        if not had_banner and self._reader.banner is not None:
            self._send_action("Challenge", [("AuthType", "MD5")], phase="challenge")
        for item in items:
            if isinstance(item, AmiMessageError):
                logger.warning("AMI: skipped a message that cannot be understood: %s", item.problem)
                continue
            if item.response is not None:
                self._on_response(item)
            elif self._phase == "ready":
                self._on_event(item)

    def _on_tick(self, now: float) -> float | None:
        if self._phase != "ready":
            if now >= self._deadline:
                step = "greeting" if self._phase == "banner" else "login"
                raise SessionEnded(f"no AMI {step} within {self._response_timeout_s:g} s")
            return self._deadline - now
        if self._ping_id is not None:
            if now >= self._deadline:
                raise SessionEnded(f"the PBX stopped answering (no reply to Ping within {self._response_timeout_s:g} s)")
            return self._deadline - now
        if now >= self._next_ping:
            self._ping_id = self._send_action("Ping")
            self._deadline = now + self._response_timeout_s
            return self._response_timeout_s
        return self._next_ping - now

    def _on_stopping(self) -> None:
        if self._phase == "ready":
            self._send_action("Logoff")

    def _on_disconnected(self, reason: str) -> None:
        self._phase = "banner"
        self.tracker.cancel_resync()
        waiting, self._originating = self._originating, {}
        for future in waiting.values():
            future.set_exception(ConnectionError(f"the PBX connection ended ({reason})"))

    # --- messages -------------------------------------------------------------------------------------

    def _send_action(self, action: str, fields: Sequence[tuple[str, str]] = (), *, phase: str | None = None) -> str:
        action_id = f"callcue-{next(self._action_ids)}"
        self._send(encode_action(action, [("ActionID", action_id), *fields]))
        if phase is not None:
            self._phase = phase
            self._waiting_for = action_id
            self._deadline = time.monotonic() + self._response_timeout_s
        return action_id

    def _on_response(self, message: AmiMessage) -> None:
        action_id = message.action_id
        success = (message.response or "").lower() == "success"
        text = _printable(message.get("Message") or "")
        if action_id is not None and action_id == self._waiting_for:
            self._waiting_for = None
            if self._phase == "challenge":
                challenge = message.get("Challenge")
                if not success or not challenge:
                    raise SessionEnded(f"the PBX refused the MD5 challenge login ({text or 'no challenge'})",
                                       failed=True)
                key = hashlib.md5((challenge + self._secret).encode("utf-8"), usedforsecurity=False).hexdigest()
                self._send_action("Login", [("Username", self.username), ("AuthType", "MD5"), ("Key", key),
                                            ("Events", self._events)], phase="login")
            elif self._phase == "login":
                if not success:
                    raise SessionEnded(f"the PBX refused the login ({text or 'no reason given'}): check "
                                       "connectors.ami_username and connectors.ami_secret", failed=True)
                self._phase = "ready"
                self._mark_ready(f"logged in as {self.username}")
                self.tracker.begin_resync()
                self._resync_id = self._send_action("CoreShowChannels")
                self._next_ping = time.monotonic() + self._keepalive_s
            return
        if action_id is not None and action_id in self._originating:
            self._originating.pop(action_id).set_result(message)
            return
        if action_id is not None and action_id == self._ping_id:
            self._ping_id = None
            self._next_ping = time.monotonic() + self._keepalive_s
        elif action_id is not None and action_id == self._resync_id and not success:
            self._resync_id = None
            self.tracker.cancel_resync()
            logger.warning("AMI: CoreShowChannels refused (%s): calls that end while CallCue is disconnected "
                           "stay open until the agent closes them (give the AMI user 'write = reporting')", text)

    def _on_event(self, message: AmiMessage) -> None:
        try:
            events = self.tracker.handle(message)
        except AmiMessageError as exc:
            logger.warning("AMI: skipped an event that cannot be understood: %s", exc.problem)
            return
        for event in events:
            self._emit(event)


def _printable(text: str) -> str:
    return "".join(ch for ch in text[:120] if ch.isprintable())
