"""Outbound campaign work (外呼), Qt-free: the worklist's answer (a leased customer with the preview pop, or
why there is nobody to call), call results and their names, and a call result as it is stored and sent
(POST /v1/outbound/attempts). The server's side is docs/outbound-api.md.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from typing import Any

from desktop.domain._json import Fields
from desktop.domain.errors import MalformedResponse, UserError
from desktop.domain.pop import LocalText, PopDocument, parse_pop

OUTBOUND_CHANNEL = "outbound_call"
NOTE_MAX_CHARS = 2000
CALL_ID_MAX_CHARS = 100
SKIP_REASON_MAX_CHARS = 200


class CallResult(enum.StrEnum):
    """How an outbound call went (separate from the offer outcomes of a connected call)."""

    CONNECTED = "connected"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    WRONG_NUMBER = "wrong_number"
    INVALID_NUMBER = "invalid_number"
    REFUSED_CALL = "refused_call"

    @property
    def names(self) -> LocalText:
        return CALL_RESULT_NAMES[self]


CALL_RESULT_NAMES: dict[CallResult, LocalText] = {
    CallResult.CONNECTED: LocalText("接通", "Connected"),
    CallResult.NO_ANSWER: LocalText("无人接听", "No answer"),
    CallResult.BUSY: LocalText("占线", "Busy"),
    CallResult.VOICEMAIL: LocalText("语音信箱", "Voicemail"),
    CallResult.WRONG_NUMBER: LocalText("号码错误（非本人）", "Wrong number"),
    CallResult.INVALID_NUMBER: LocalText("空号 / 无效号码", "Invalid number"),
    CallResult.REFUSED_CALL: LocalText("拒接", "Refused the call"),
}

# Why an agent skips a previewed customer (the release's reason; the server keeps the English words).
SKIP_REASONS: dict[str, tuple[LocalText, int]] = {
    # code: (names, hold minutes: when the customer comes back to the worklist)
    "not_now": (LocalText("暂不适合拨打", "Not a good time to call"), 60),
    "asked_later": (LocalText("客户约定稍后联系", "Customer asked to be called later"), 24 * 60),
    "recently_contacted": (LocalText("近期已联系过", "Contacted recently"), 3 * 24 * 60),
    "other": (LocalText("其他原因", "Other reason"), 30),
}


@dataclass(frozen=True)
class Why:
    priority: int
    member_reason: str | None
    expected_value: float
    acceptance: float
    score: float


@dataclass(frozen=True)
class WaveInfo:
    seq: int
    of: int
    channel: str
    channel_name: LocalText
    calling_hours: tuple[str, ...]
    time_zone: str | None
    max_attempts: int | None
    retry_after_minutes: dict[str, int | None]


@dataclass(frozen=True)
class Lease:
    lease_id: str
    call_id: str
    taken_at: dt.datetime
    expires_at: dt.datetime
    resumed: bool


@dataclass(frozen=True)
class Previewed:
    """A customer the worklist handed to this agent (held by a lease), with the full preview pop."""

    lease: Lease
    customer_id: str
    campaign_id: str
    campaign_name: LocalText
    wave: WaveInfo
    attempt: int
    why: Why
    pop: PopDocument

    @property
    def number(self) -> str | None:
        """The number to dial: the customer's msisdn from the pop (None when the pop has none)."""
        customer = self.pop.customer
        return customer.matched_msisdn or (customer.msisdns[0] if customer.msisdns else None)


@dataclass(frozen=True)
class Empty:
    """Nobody to call now: `code` no_outbound_wave, outside_calling_hours, worklist_done or worklist_busy."""

    code: str
    message: LocalText
    next_at: dt.datetime | None


@dataclass(frozen=True)
class LeaseState:
    lease_id: str
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None
    next_attempt_at: dt.datetime | None


@dataclass(frozen=True)
class AttemptAnswer:
    status: str  # accepted | duplicate
    attempt_id: str
    attempt: int
    result: CallResult
    call_id: str
    member: str  # due_again | closed
    next_attempt_at: dt.datetime | None
    closed_reason: str | None


def _why(f: Fields) -> Why:
    return Why(f.integer("priority", 0), f.opt_string("member_reason"), f.number("expected_value"),
               f.number("acceptance"), f.number("score"))


def _wave(f: Fields) -> WaveInfo:
    retry = f.data.get("retry_after_minutes") or {}
    if not isinstance(retry, dict) or any(v is not None and not isinstance(v, int) for v in retry.values()):
        raise MalformedResponse(f"{f.at('retry_after_minutes')} should map results to minutes or null")
    hours = f.data.get("calling_hours") or []
    if not isinstance(hours, list) or not all(isinstance(h, str) for h in hours):
        raise MalformedResponse(f"{f.at('calling_hours')} should be a list of strings")
    return WaveInfo(
        seq=f.integer("seq"), of=f.integer("of"), channel=f.string("channel"),
        channel_name=f.obj("channel_name", lambda n: LocalText(n.string("zh"), n.string("en"))),
        calling_hours=tuple(hours), time_zone=f.opt_string("time_zone"), max_attempts=f.opt_integer("max_attempts"),
        retry_after_minutes=dict(retry),
    )


def _lease(f: Fields) -> Lease:
    return Lease(f.string("lease_id"), f.string("call_id"), f.datetime("taken_at"), f.datetime("expires_at"),
                 f.boolean("resumed", False))


def parse_worklist_next(data: Any) -> Previewed | Empty:
    """A POST /v1/worklist/next answer; raises MalformedResponse naming the first bad field."""
    f = Fields(data, "")
    status = f.choice("status", ("leased", "empty"))
    if status == "empty":
        def empty(e: Fields) -> Empty:
            return Empty(e.string("code"), LocalText(e.string("message_zh"), e.string("message")),
                         e.opt_datetime("next_at"))
        return f.obj("empty", empty)
    lease = f.obj("lease", _lease)
    try:
        pop = parse_pop(f.data.get("pop"))
    except MalformedResponse as exc:
        raise MalformedResponse(f"pop: {exc}") from None
    previewed = Previewed(
        lease=lease, customer_id=f.string("customer_id"),
        campaign_id=f.obj("campaign", lambda c: c.string("campaign_id")),
        campaign_name=f.obj("campaign", lambda c: c.obj("name", lambda n: LocalText(n.string("zh"), n.string("en")))),
        wave=f.obj("wave", _wave), attempt=f.integer("attempt"), why=f.obj("why", _why), pop=pop,
    )
    if pop.customer.customer_id != previewed.customer_id:
        raise MalformedResponse("pop.customer.customer_id is not the leased customer")
    return previewed


@dataclass(frozen=True)
class CallableCampaign:
    """A campaign the agent may make an outbound call for outside the worklist (GET /v1/outbound/campaigns):
    a customer opened from search may be called for it, and outcomes then go out on outbound_call."""

    campaign_id: str
    name: LocalText
    wave: int
    waves: int
    calling_hours: tuple[str, ...] = ()
    open_now: bool = True


def parse_callable_campaigns(data: Any) -> tuple[CallableCampaign, ...]:
    """A GET /v1/outbound/campaigns answer; raises MalformedResponse naming the first bad field."""
    def campaign(c: Fields) -> CallableCampaign:
        return CallableCampaign(
            c.string("campaign_id"), c.obj("name", lambda n: LocalText(n.string("zh"), n.string("en"))),
            c.obj("wave", lambda w: w.integer("seq")), c.obj("wave", lambda w: w.integer("of")),
            c.strings("calling_hours"), c.boolean("open_now", True))
    return Fields(data, "").items("items", campaign, required=True)


def parse_lease_state(data: Any) -> LeaseState:
    f = Fields(data, "")
    return LeaseState(f.string("lease_id"), f.datetime("expires_at"), f.opt_datetime("ended_at"),
                      f.opt_string("end_reason"), f.opt_datetime("next_attempt_at"))


def parse_attempt_answer(data: Any) -> AttemptAnswer:
    f = Fields(data, "")
    return AttemptAnswer(
        status=f.choice("status", ("accepted", "duplicate")), attempt_id=f.string("attempt_id"),
        attempt=f.integer("attempt"), result=CallResult(f.choice("result", tuple(CallResult))),
        call_id=f.string("call_id"), member=f.choice("member", ("due_again", "closed")),
        next_attempt_at=f.opt_datetime("next_attempt_at"), closed_reason=f.opt_string("closed_reason"),
    )


class Phase(enum.StrEnum):
    IDLE = "idle"  # nobody previewed (outbound mode off, or nothing asked yet)
    EMPTY = "empty"  # the worklist had nobody to call (state.empty says why)
    PREVIEW = "preview"  # a customer is held and shown; not dialed yet
    DIALING = "dialing"  # dial requested, not answered yet
    TALKING = "talking"  # the call is connected
    RESULT = "result"  # the call ended (or the agent pressed a result key): waiting for the call result
    WRAP_UP = "wrap_up"  # connected call, result recorded: offer outcomes, then finish()
    DONE = "done"  # result recorded (not connected), or wrap-up over: finish() shows the next customer


# Why a step does not fit now: a stable code (bridge hosts read it) and the English words (logs, `detail`). The
# panel shows them in its language: desktop/ui/outbound.py (outbound_message) holds the translatable texts.
STATE_ERRORS: dict[str, str] = {
    "not_signed_in": "not signed in",
    "inbound_call_up": "an inbound call is up: the outbound preview waits",
    "inbound_call_up_dial": "an inbound call is up: finish it before dialing",
    "nothing_to_skip": "only a previewed customer who was not called can be skipped",
    "nothing_to_dial": "nothing previewed to dial",
    "no_number": "the previewed customer has no number",
    "no_call": "no outbound call to record a result for",
    "not_connected": "offer outcomes follow a connected call's result",
    "no_result_yet": "the call has no result yet",
    "no_dialing_host": "no host application that dials is connected",
    "unknown_command": "unknown outbound command",
    "no_refused_result": "no refused call result to retry or dismiss",
}


class OutboundStateError(RuntimeError):
    """An action that does not fit the current phase (e.g. dialing without a previewed customer). `code` is
    one of STATE_ERRORS; `phase` the phase it met, when that says why."""

    def __init__(self, code: str, phase: str | None = None) -> None:
        if code not in STATE_ERRORS:
            raise ValueError(f"unknown outbound state error {code!r}")
        text = STATE_ERRORS[code] + (f" (phase {phase})" if phase else "")
        super().__init__(text)
        self.code = code
        self.phase = phase


@dataclass(frozen=True)
class OutboundState:
    phase: Phase = Phase.IDLE
    previewed: Previewed | None = None
    empty: Empty | None = None
    attempt: CallAttempt | None = None  # the call result recorded for the previewed customer
    called_at: dt.datetime | None = None
    call_id: str | None = None  # the softphone's id of the call, when it reported one
    prepared: Previewed | None = None  # the next customer, fetched during wrap-up
    paused: bool = False  # an inbound call is up: the preview waits
    error: UserError | None = None  # the last failure the agent should read (None once something worked)
    pending_results: int = 0  # call results stored here, not on the server yet
    suggested: CallResult | None = None  # what the softphone said about how the call ended (offered first)
    refused: tuple[RefusedResult, ...] = ()  # call results the server refused: the agent retries or dismisses

    @property
    def outcome_call_id(self) -> str | None:
        """The call id the offer outcomes of this call carry (the attempt's, else the lease's)."""
        if self.previewed is None:
            return None
        return self.call_id or self.previewed.lease.call_id


# What a softphone says about how a call ended, as a call result to offer the agent first.
_SIP_RESULTS = {
    486: CallResult.BUSY, 600: CallResult.BUSY,  # Busy Here / Busy Everywhere
    408: CallResult.NO_ANSWER, 480: CallResult.NO_ANSWER, 487: CallResult.NO_ANSWER,  # timeout, unavailable
    403: CallResult.REFUSED_CALL, 603: CallResult.REFUSED_CALL,  # Forbidden / Decline (the callee rejected)
    404: CallResult.INVALID_NUMBER, 484: CallResult.INVALID_NUMBER, 604: CallResult.INVALID_NUMBER,
}
_Q850_RESULTS = {
    17: CallResult.BUSY,  # user busy
    18: CallResult.NO_ANSWER, 19: CallResult.NO_ANSWER,  # no user responding / no answer
    21: CallResult.REFUSED_CALL,  # call rejected
    1: CallResult.INVALID_NUMBER, 22: CallResult.INVALID_NUMBER, 28: CallResult.INVALID_NUMBER,  # unallocated …
}


def dial_target(number: str, template: str | None) -> str:
    """What the softphone is given: the plain number (it completes the address with its own account's
    domain, as a desk phone does), or `template` with {number} replaced (e.g. 'sip:{number}@pbx.example.com')."""
    number = number.strip()
    if not template:
        return number
    if "{number}" not in template:
        raise ValueError("a dial template must contain {number}")
    return template.replace("{number}", number)


def suggested_result(end_reason: str | None, *, answered: bool) -> CallResult | None:
    """The call result a softphone's words suggest: 'SIP 486 Busy Here' or '486 Busy Here' (baresip's
    CALL_CLOSED), 'Q.850 cause 17' (Asterisk's Hangup cause). An answered call is connected whatever the
    reason of its end; None when the words say nothing useful (the agent chooses)."""
    if answered:
        return CallResult.CONNECTED
    text = (end_reason or "").strip()
    if not text:
        return None
    lowered = text.lower()
    if lowered.startswith(("q.850", "cause")):
        digits = "".join(ch for ch in lowered.split("cause")[-1] if ch.isdigit())
        return _Q850_RESULTS.get(int(digits)) if digits else None
    for token in lowered.replace("sip", " ").split():
        if token.isdigit() and len(token) == 3:
            return _SIP_RESULTS.get(int(token))
    if "busy" in lowered:
        return CallResult.BUSY
    if "declin" in lowered or "reject" in lowered:
        return CallResult.REFUSED_CALL
    return None


class InvalidCallResult(ValueError):
    pass


@dataclass(frozen=True)
class CallAttempt:
    """A call result as recorded on this PC (durable before it is sent; `attempt_id` is the idempotency key)."""

    attempt_id: str
    lease_id: str
    customer_id: str
    campaign_id: str
    wave: int
    result: CallResult
    called_at: dt.datetime
    call_id: str | None = None
    note: str | None = None

    @classmethod
    def new(cls, previewed: Previewed, result: CallResult | str, called_at: dt.datetime, *,
            call_id: str | None = None, note: str | None = None) -> CallAttempt:
        try:
            result = CallResult(result)
        except ValueError:
            raise InvalidCallResult(f"unknown call result {str(result)[:40]!r}") from None
        if called_at.tzinfo is None:
            raise InvalidCallResult("called_at needs a time zone")
        note = (note or "").strip() or None
        if note and len(note) > NOTE_MAX_CHARS:
            raise InvalidCallResult(f"the note is longer than {NOTE_MAX_CHARS} characters")
        call_id = (call_id or "").strip()[:CALL_ID_MAX_CHARS] or None
        return cls(str(uuid.uuid4()), previewed.lease.lease_id, previewed.customer_id, previewed.campaign_id,
                   previewed.wave.seq, result, called_at, call_id, note)

    def to_payload(self) -> dict[str, Any]:
        """The body of POST /v1/outbound/attempts."""
        body: dict[str, Any] = {"attempt_id": self.attempt_id, "lease_id": self.lease_id, "result": self.result.value,
                                "called_at": self.called_at.isoformat()}
        if self.call_id:
            body["call_id"] = self.call_id
        if self.note:
            body["note"] = self.note
        return body


# Why the server refused a call result (the server's error code), in plain words; the panel shows them in its
# language (desktop/ui/outbound.py, refusal_text). Anything else the server said is "invalid_request".
REFUSAL_CODES = ("lease_ended", "lease_not_found", "lease_has_result", "attempt_id_reused", "campaign_not_found",
                 "customer_gone", "invalid_request")


def refusal_code(stored: str | None) -> str:
    """The refusal's code from what the store kept ('lease_ended: the lease was released' -> 'lease_ended')."""
    code = (stored or "").split(":", 1)[0].strip()
    return code if code in REFUSAL_CODES else "invalid_request"


@dataclass(frozen=True)
class RefusedResult:
    """A call result the server refused (kept on this PC, not resent by itself): retry or dismiss."""

    attempt: CallAttempt
    code: str  # one of REFUSAL_CODES
    recorded_at: dt.datetime


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def outbound_json(state: OutboundState, *, mode: bool) -> dict[str, Any]:
    """The outbound section of the bridge's `state` and of `outbound.state` replies (protocol v1, additive):
    the previewed customer (masked number only), the campaign and wave, the lease, and the outbound call with
    its channel. `mode`: the agent's outbound window is open."""
    previewed = state.previewed
    customer = previewed.pop.customer if previewed is not None else None
    call = None
    if previewed is not None and state.called_at is not None:
        call = {"call_id": state.call_id or previewed.lease.call_id, "channel": OUTBOUND_CHANNEL,
                "called_at": _iso(state.called_at),
                "result": state.attempt.result.value if state.attempt is not None else None,
                "suggested_result": state.suggested.value if state.suggested is not None else None}
    return {
        "mode": mode,
        "phase": state.phase.value,
        "paused": state.paused,
        "customer_id": previewed.customer_id if previewed is not None else None,
        "customer_name": customer.display_name if customer is not None else None,
        "masked_number": customer.masked_msisdn if customer is not None else None,
        "decision_id": previewed.pop.decision_id if previewed is not None else None,
        "campaign": {"campaign_id": previewed.campaign_id, "name": {"zh": previewed.campaign_name.zh,
                                                                    "en": previewed.campaign_name.en}}
        if previewed is not None else None,
        "wave": {"seq": previewed.wave.seq, "of": previewed.wave.of, "channel": previewed.wave.channel}
        if previewed is not None else None,
        "attempt": previewed.attempt if previewed is not None else None,
        "lease": {"lease_id": previewed.lease.lease_id, "expires_at": _iso(previewed.lease.expires_at)}
        if previewed is not None else None,
        "call": call,
        "next_ready": state.prepared is not None,
        "empty": {"code": state.empty.code, "message": state.empty.message.en, "message_zh": state.empty.message.zh}
        if state.empty is not None and state.phase is Phase.EMPTY else None,
        "pending_results": state.pending_results,
        "error": state.error.code if state.error is not None else None,
    }
