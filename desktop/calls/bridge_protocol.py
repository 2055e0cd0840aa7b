"""The local bridge's protocol, v1: the messages hosts exchange with the panel, built and checked here.

Pure Python (no Qt, no I/O), shared by the bridge server (desktop.calls.bridge, which runs off the GUI
thread) and the Qt adapter (desktop.runtime.bridge_host, which answers on the GUI thread). The JSON Schemas
in plugin_sdk/schemas/ describe exactly these messages; tests validate real traffic against them.

Every message is a JSON object with `"v": 1` and a `"type"`:

    host -> panel   call, panel.show, panel.hide, state.get                 (HTTP body or WebSocket text)
    panel -> host   call.result, panel.result, state, error                  (the answer to one command)
                    hello, pop.shown, pop.ambiguous, call.updated, call.ignored, call.closed,
                    outcome.recorded, outcome.retracted, sync.state,
                    events.dropped                                          (WebSocket /v1/events only)

Privacy: caller numbers never appear in an error message; in state and events they are masked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from desktop.calls.events import CallEvent, InvalidCallEvent, parse_call_event
from desktop.calls.router import Activate, Closed, Ended, Ignored, OpenCall, Pop, RouterAction, UpdatePop
from desktop.domain.events import EVENT_TYPES as PANEL_EVENT_TYPES
from desktop.domain.events import OPT_IN_EVENT_TYPES as PANEL_OPT_IN_EVENT_TYPES
from desktop.domain.events import iso as _iso
from desktop.domain.states import mask_number, normalize_ani

PROTOCOL_VERSION: Final = 1
WS_SUBPROTOCOL: Final = "callcue.v1"
TOKEN_SUBPROTOCOL_PREFIX: Final = "token."  # browsers cannot set headers on a WebSocket: see docs/bridge.md
BRIDGE_SOURCE: Final = "bridge"  # CallEvent.source of events that came through the bridge
MAX_MESSAGE_BYTES: Final = 16 * 1024  # an HTTP body or a WebSocket message; a call event needs < 1 KiB
MAX_ID_LENGTH: Final = 64

# Protocol v1, additive: the outbound.* commands and their outbound.state reply came with issue 16.
# dialer.register (WebSocket only): this connection's host dials outbound calls (it gets dial.requested).
COMMAND_TYPES: Final = ("call", "panel.show", "panel.hide", "state.get", "outbound.next", "outbound.dial",
                        "outbound.result", "outcome.record", "dialer.register")
REPLY_TYPES: Final = ("call.result", "panel.result", "state", "error", "outbound.state", "outcome.result",
                      "dialer.result")
OUTCOME_RESULT_VALUES: Final = ("accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb")
CALL_RESULT_VALUES: Final = ("connected", "no_answer", "busy", "voicemail", "wrong_number", "invalid_number",
                             "refused_call")
MAX_NOTE_LENGTH: Final = 2000
EVENT_TYPES: Final = PANEL_EVENT_TYPES  # their payloads: desktop.domain.events (to_json)
OPT_IN_EVENT_TYPES: Final = PANEL_OPT_IN_EVENT_TYPES  # sent only to connections that asked (dial.requested)
NOTICE_TYPES: Final = ("hello", "events.dropped")

CALL_RESULTS: Final = ("popped", "updated", "answered", "ended", "closed", "ignored", "outbound")
_ENVELOPE_FIELDS: Final = frozenset(("v", "type", "id"))
_CALL_EVENT_FIELDS: Final = ("call_id", "state", "ani", "dnis", "customer_id", "agent_id", "from_agent", "at",
                              "outbound", "end_reason")


class BridgeRefusal(Exception):
    """A request the bridge refuses: an HTTP status, a stable machine-readable `code`, a message saying
    what to do, and for a bad message the `field` at fault. Safe to send back and to log as is."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 message_id: str | int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.message_id = message_id

    def as_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "error", "status": self.status,
                                   "error": self.code, "field": self.field, "message": self.message}
        if self.message_id is not None:
            message["id"] = self.message_id
        return message


class PanelUnavailable(Exception):
    """The panel did not answer a command (busy for too long, or closing): 503, retrying is safe."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command: `type` is one of COMMAND_TYPES; `event` is set for "call"."""

    type: str
    message_id: str | int | None = None
    event: CallEvent | None = None
    fields: Mapping[str, Any] | None = None  # "outbound.result": result, note


# --------------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------------


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Two values for one field is ambiguous; parsers disagree on which wins. Refuse it.
            raise BridgeRefusal(400, "bad_json", f"field {_field_label(key)} appears twice",
                                field=key if _printable_name(key) else None)
        result[key] = value
    return result


def _reject_constant(name: str) -> float:
    raise BridgeRefusal(400, "bad_json", f"{name} is not valid JSON (use null or a number)")


def decode_json(raw: bytes | str) -> object:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys, bounded nesting. Raises BridgeRefusal(400)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BridgeRefusal(400, "bad_json", f"the body is not UTF-8 text (byte {exc.start})") from None
    else:
        text = raw
    if not text.strip():
        raise BridgeRefusal(400, "bad_json", "the body is empty; send a JSON object")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BridgeRefusal(400, "bad_json",
                            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BridgeRefusal(400, "bad_json", "the JSON is nested too deeply") from None
    except ValueError:
        # e.g. an integer with more digits than Python converts
        raise BridgeRefusal(400, "bad_json", "the JSON holds a number that is too large") from None


def encode_message(message: Mapping[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# --------------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------------


def parse_command(data: object, *, expected_type: str | None = None, allow_id: bool = False) -> Command:
    """Check a command's envelope (v, type, id) and, for "call", the call event. `expected_type`: the type
    the HTTP route implies (the body must say the same). Raises BridgeRefusal(400) naming the field."""
    if not isinstance(data, Mapping):
        raise BridgeRefusal(400, "invalid_field", "a message must be a JSON object with \"v\" and \"type\"")
    message_id = _message_id(data) if allow_id else None

    def refuse(field: str | None, problem: str, code: str = "invalid_field") -> BridgeRefusal:
        return BridgeRefusal(400, code, problem, field=field, message_id=message_id)

    if not allow_id and "id" in data:
        raise refuse("id", "\"id\" is for WebSocket commands, to match replies; an HTTP request has its answer")
    version = data.get("v")
    if version is None:
        raise refuse("v", f"is required: add \"v\": {PROTOCOL_VERSION}")
    if version != PROTOCOL_VERSION or isinstance(version, bool) or not isinstance(version, int):
        raise refuse("v", f"protocol version {_describe(version)} is not spoken here; this panel speaks "
                          f"version {PROTOCOL_VERSION}", code="unsupported_version")
    kind = data.get("type")
    if kind is None:
        raise refuse("type", f"is required: one of {', '.join(COMMAND_TYPES)}")
    if not isinstance(kind, str) or kind not in COMMAND_TYPES:
        raise refuse("type", f"{_describe(kind)} is not a command; use one of {', '.join(COMMAND_TYPES)}")
    if expected_type is not None and kind != expected_type:
        raise refuse("type", f"must be \"{expected_type}\" on this URL")
    if kind == "outbound.result":
        return _outbound_result(data, kind, message_id, refuse)
    if kind == "outcome.record":
        return _outcome_record(data, kind, message_id, refuse)
    if kind == "dialer.register":
        extra = [key for key in data if key not in _ENVELOPE_FIELDS and key != "dials"]
        if extra:
            raise refuse(_first_printable(extra), f"unknown field(s) for \"{kind}\": {_describe_names(extra)}; "
                                                  "it has dials")
        dials = data.get("dials", True)
        if not isinstance(dials, bool):
            raise refuse("dials", "must be true (this host dials outbound calls) or false (it no longer does)")
        return Command(kind, message_id, fields={"dials": dials})
    if kind != "call":
        extra = [key for key in data if key not in _ENVELOPE_FIELDS]
        if extra:
            raise refuse(_first_printable(extra), f"unknown field(s) for \"{kind}\": {_describe_names(extra)}")
        return Command(kind, message_id)
    fields = {key: value for key, value in data.items() if key not in _ENVELOPE_FIELDS}
    unknown = [key for key in fields if key not in _CALL_EVENT_FIELDS]
    if unknown:
        raise refuse(_first_printable(unknown),
                     f"unknown field(s) {_describe_names(unknown)}; a call event has {', '.join(_CALL_EVENT_FIELDS)}")
    try:
        event = parse_call_event(fields, source=BRIDGE_SOURCE)
    except InvalidCallEvent as exc:
        raise refuse(exc.field, str(exc)) from None
    return Command(kind, message_id, event)


def _outbound_result(data: Mapping[Any, Any], kind: str, message_id, refuse) -> Command:
    extra = [key for key in data if key not in _ENVELOPE_FIELDS and key not in ("result", "note")]
    if extra:
        raise refuse(_first_printable(extra), f"unknown field(s) for \"{kind}\": {_describe_names(extra)}; "
                                              "it has result and note")
    result = data.get("result")
    if result not in CALL_RESULT_VALUES:
        raise refuse("result", f"{_describe(result)} is not a call result; use one of {', '.join(CALL_RESULT_VALUES)}")
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH):
        raise refuse("note", f"must be text of at most {MAX_NOTE_LENGTH} characters")
    return Command(kind, message_id, fields={"result": result, "note": note})


_OUTCOME_FIELDS: Final = ("call_id", "offer_id", "result", "note", "reason", "callback_at")


def _outcome_record(data: Mapping[Any, Any], kind: str, message_id, refuse) -> Command:
    extra = [key for key in data if key not in _ENVELOPE_FIELDS and key not in _OUTCOME_FIELDS]
    if extra:
        raise refuse(_first_printable(extra), f"unknown field(s) for \"{kind}\": {_describe_names(extra)}; "
                                              f"it has {', '.join(_OUTCOME_FIELDS)}")
    call_id = data.get("call_id")
    if not isinstance(call_id, str) or not call_id.strip() or len(call_id) > 128 or not call_id.isprintable():
        raise refuse("call_id", "is required: the open call's id (at most 128 printable characters)")
    result = data.get("result")
    if result not in OUTCOME_RESULT_VALUES:
        raise refuse("result", f"{_describe(result)} is not an outcome; use one of {', '.join(OUTCOME_RESULT_VALUES)}")
    fields: dict[str, Any] = {"call_id": call_id.strip(), "result": result}
    for name, limit in (("offer_id", 40), ("note", MAX_NOTE_LENGTH), ("reason", 200)):
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit or not value.isprintable()):
            raise refuse(name, f"must be text of at most {limit} printable characters")
        fields[name] = value or None
    when = data.get("callback_at")
    if when is not None:
        try:
            moment = datetime.fromisoformat(when) if isinstance(when, str) and len(when) <= 64 else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise refuse("callback_at", "must be an ISO-8601 time with a UTC offset, e.g. 2026-11-02T15:00:00+08:00")
        when = moment
    fields["callback_at"] = when
    return Command(kind, message_id, fields=fields)


def dialer_result(dials: bool, dialers: int) -> dict[str, Any]:
    """The reply to dialer.register: whether this connection now gets dial.requested, and how many connected
    hosts dial for the panel."""
    return {"v": PROTOCOL_VERSION, "type": "dialer.result", "dials": dials, "dialers": dialers}


def outcome_result(call_id: str, *, accepted: bool, detail: str, outcome_id: str | None = None,
                   channel: str | None = None, detail_zh: str | None = None,
                   code: str | None = None) -> dict[str, Any]:
    """The reply to outcome.record: saved on the PC (then synced exactly once) or why not (`detail` in
    English, `detail_zh` in Chinese and `code` where the outbound work refused it)."""
    message = {"v": PROTOCOL_VERSION, "type": "outcome.result", "call_id": call_id, "accepted": accepted,
               "detail": detail, "outcome_id": outcome_id, "channel": channel}
    if detail_zh is not None or code is not None:
        message.update(detail_zh=detail_zh, code=code)
    return message


def outbound_state(outbound: Mapping[str, Any], *, accepted: bool, detail: str, detail_zh: str | None = None,
                   code: str | None = None) -> dict[str, Any]:
    """The reply to outbound.next / outbound.dial / outbound.result: whether the step was taken (`detail`
    says why not, `detail_zh` the same in Chinese, `code` as a stable word) and the outbound state after it."""
    return {"v": PROTOCOL_VERSION, "type": "outbound.state", "accepted": accepted, "detail": detail,
            "detail_zh": detail_zh, "code": code, "outbound": dict(outbound)}


def _message_id(data: Mapping[Any, Any]) -> str | int | None:
    value = data.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BridgeRefusal(400, "invalid_field", "must be a string or an integer", field="id")
    if isinstance(value, int) and not -(2**53) < value < 2**53:
        raise BridgeRefusal(400, "invalid_field", "must be an integer JavaScript can hold exactly", field="id")
    if isinstance(value, str) and (len(value) > MAX_ID_LENGTH or not value.isprintable()):
        raise BridgeRefusal(400, "invalid_field", f"must be at most {MAX_ID_LENGTH} printable characters",
                            field="id")
    return value


# --------------------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------------------


def call_result(call_id: str, actions: Iterable[RouterAction]) -> dict[str, Any]:
    """What the router did with one event, for the host that sent it: popped (a new tab), updated (a
    transfer applied to the open tab: never a second pop), answered, ended, closed, or ignored with the
    reason (duplicate, replay, closed, unknown_call, no_identity, other_agent)."""
    mine = [action for action in actions if action.call_id == call_id]

    def first(kind: type) -> Any:
        return next((action for action in mine if isinstance(action, kind)), None)

    if first(Pop) is not None:
        which = "the active call" if first(Activate) is not None else "the ringing call"
        return _call_result(call_id, "popped", None, f"a new tab opened for {which}; its customer data is being fetched")
    if (update := first(UpdatePop)) is not None:
        detail = ("transfer applied to the open tab; fetching the data of the new party"
                  if update.identity_changed else "transfer applied to the open tab (same customer)")
        return _call_result(call_id, "updated", "transfer", detail)
    if (ended := first(Ended)) is not None:
        return _call_result(call_id, "ended", ended.reason, "the call ended; its tab stays open for wrap-up")
    if (closed := first(Closed)) is not None:
        return _call_result(call_id, "closed", closed.reason, "the call's tab was closed")
    if first(Activate) is not None:
        return _call_result(call_id, "answered", None, "the call is now active in its tab")
    if (ignored := first(Ignored)) is not None:
        return _call_result(call_id, "ignored", ignored.reason, ignored.detail)
    return _call_result(call_id, "ignored", "no_change", "the event changed nothing")


def claimed_call_result(call_id: str, state: str) -> dict[str, Any]:
    """A call event of the outbound call the panel asked this host to dial (dial.requested): the outbound
    window follows it (no tab, no pop); `reason` is the event's state."""
    return _call_result(call_id, "outbound", state, "the outbound call this panel asked you to dial: its "
                                                    "progress goes to the outbound window")


def _call_result(call_id: str, result: str, reason: str | None, detail: str) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": "call.result", "call_id": call_id, "result": result,
            "reason": reason, "detail": detail}


def panel_result(visible: bool) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": "panel.result", "visible": bool(visible)}


def state_snapshot(calls: Iterable[OpenCall], pops: Mapping[str, Mapping[str, Any]],
                   sync: Mapping[str, Any] | None, visible: bool, front: str | None = None,
                   outbound: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """GET /v1/state: the open calls (oldest first), what each one shows, the panel and the sync state.
    `front`: the call in front (`in_front: true` on it alone). `outbound`: the outbound work (issue 16:
    the previewed customer and the outbound call with its channel), when the panel has it (additive)."""
    extra = {"outbound": dict(outbound)} if outbound is not None else {}
    return {
        **extra,
        "v": PROTOCOL_VERSION,
        "type": "state",
        "panel": {"visible": bool(visible)},
        "calls": [
            {
                "call_id": call.call_id,
                "state": call.state,
                "phase": call.phase,
                "in_front": call.call_id == front,
                "customer_id": call.key.customer_id,
                "ani": masked_ani(call.key.ani),
                "source": call.source,
                "answered": call.answered,
                "transfers": call.transfers,
                "outcome_recorded": call.outcome_recorded,
                "started_at": _iso(call.started_at),
                "updated_at": _iso(call.updated_at),
                "pop": dict(pops[call.call_id]) if call.call_id in pops else None,
            }
            for call in calls
        ],
        "sync": dict(sync) if sync is not None else None,
    }


def with_id(message: dict[str, Any], message_id: str | int | None) -> dict[str, Any]:
    """A reply on the WebSocket carries the id of the command it answers."""
    return message if message_id is None else {**message, "id": message_id}


# --------------------------------------------------------------------------------------------------------
# Events: the `data` of each is a desktop.domain.events PanelEvent's to_json(); the server adds v, type,
# seq and at.
# --------------------------------------------------------------------------------------------------------


def event_message(event_type: str, data: Mapping[str, Any], seq: int, at: datetime) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": event_type, "seq": seq, "at": _iso(at), "data": dict(data)}


def hello_message(app_version: str, last_seq: int) -> dict[str, Any]:
    """The first message on every WebSocket: what this panel speaks. `seq` is the last event published
    before the connection; the next event the host gets has a higher one."""
    return {"v": PROTOCOL_VERSION, "type": "hello", "protocol": PROTOCOL_VERSION, "app": "CallCue",
            "app_version": app_version, "commands": list(COMMAND_TYPES), "events": list(EVENT_TYPES),
            "max_message_bytes": MAX_MESSAGE_BYTES, "seq": last_seq}


def dropped_message(count: int) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": "events.dropped", "count": count,
            "message": f"{count} event(s) were dropped because this connection did not read fast enough; "
                       "GET /v1/state gives the current picture"}


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------


def masked_ani(ani: str | None) -> str | None:
    digits = normalize_ani(ani)
    return mask_number(digits) if digits else None


def _printable_name(name: object) -> bool:
    return isinstance(name, str) and 0 < len(name) <= 40 and name.isprintable() and name.isascii()


def _first_printable(names: list[Any]) -> str | None:
    return next((name for name in names if _printable_name(name)), None)


def _field_label(name: object) -> str:
    return repr(name) if _printable_name(name) else "(a field with an unprintable or very long name)"


def _describe_names(names: list[Any]) -> str:
    shown = [repr(name) for name in names[:5] if _printable_name(name)]
    hidden = len(names) - len(shown)
    if hidden:
        shown.append(f"{hidden} other(s)")
    return ", ".join(shown)


def _describe(value: object) -> str:
    """A value in an error message: short, and never text the sender may have filled with a number."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**6 else "a large number"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) and abs(value) < 10**6 else "a number"
    if isinstance(value, str):
        return repr(value) if len(value) <= 24 and value.isprintable() and not any(c.isdigit() for c in value) \
            else "a string"
    return "an object" if isinstance(value, Mapping) else "a list" if isinstance(value, list) else "a value"
