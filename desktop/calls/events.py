"""Call events: the one shape every call source (SDK facade, local bridge, `callcue pop`, softphone
connectors) hands to the CallRouter, and the strict parser that builds it from untrusted data.

Pure Python on purpose (no Qt): the parser is shared by transports that run outside the GUI.

Privacy rule: the caller's number (ani) and the dialled number (dnis) never appear in an error message or
a repr, because both end up in log files.

Text rules, the same for every source (they all come through `parse_call_event`; the connectors' number
extraction uses `canonical_number` too):
- every text field is printable: no control characters, no invisible or text-direction characters (zero
  width spaces and joiners, bidi overrides and isolates, the BOM, soft hyphens …), no line or paragraph
  separators, no spaces other than the ordinary one (Unicode categories C* and Z* except U+0020): ids
  are logged and compared, and one that looks like another must not be another;
- `ani` and `dnis`: decimal digits of any script become ASCII (Arabic-Indic, Persian, full-width …) and
  full-width signs and spaces their ASCII forms (NFKC); superscript, subscript, circled and other numeric
  characters that are not decimal digits are refused rather than guessed at;
- `ani` with digits in it must be a phone number: an optional leading +, digits, and spaces, dashes, dots,
  slashes or parentheses between them; it is kept as + and digits only. Text without any digit (e.g.
  "anonymous" from a softphone) is kept as it is, as before: it names no number to look up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from desktop.domain.states import NotDecimalDigit, fold_digits

CallState = Literal["ringing", "answered", "transferred", "ended"]
CALL_STATES: Final[tuple[str, ...]] = get_args(CallState)

MAX_FIELD_LENGTH: Final = 128
MAX_NUMBER_DIGITS: Final = 32
DEFAULT_SOURCE: Final = "unknown"

# The text fields of an event, in the order the error messages mention them.
_TEXT_FIELDS: Final = ("call_id", "state", "ani", "dnis", "customer_id", "agent_id", "from_agent", "source",
                        "end_reason")
_KNOWN_FIELDS: Final = frozenset((*_TEXT_FIELDS, "at", "outbound"))

_NUMBER_FIELDS: Final = frozenset(("ani", "dnis"))
_NUMBER_SEPARATORS = re.compile(r"[ ().\-/]")  # after NFKC: no-break and ideographic spaces are spaces too
_PHONE_NUMBER = re.compile(rf"\+?[0-9]{{1,{MAX_NUMBER_DIGITS}}}")
_ASCII_DIGITS = re.compile(r"[0-9]")
# A host may pass the caller as its softphone shows it: <sip:+8613800138000@pbx;user=phone> or tel:+86-138….
_URI_USER = re.compile(r"<?(?:sips?|tel):([^@;>]*)[^>]*>?", re.IGNORECASE)
_PRINTABLE_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")

# Epoch seconds accepted for `at`: 2000-01-01 .. 2100-01-01 (anything else is a unit mix-up, e.g. ms).
_EPOCH_MIN: Final = 946_684_800
_EPOCH_MAX: Final = 4_102_444_800


class InvalidCallEvent(ValueError):
    """A call event that cannot be understood. The message names the field; it never echoes a phone
    number, so it can be logged and shown to the sender as is."""

    def __init__(self, field: str | None, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"call event field '{field}': {problem}" if field else f"call event: {problem}")


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One thing that happened to one call, as reported by a call source.

    `call_id` is the source's identifier of the call (stable across ringing → answered → transferred →
    ended). `ani` is the caller's number, `dnis` the number dialled (for a transfer: the number or queue
    it was transferred to), `customer_id` the CRM id when the source already knows it, `agent_id` the agent
    the call is for. `from_agent`, on a transfer: the agent (or queue) who passed the call on, when the
    source knows. `at` is when it happened (UTC), if the source says so.
    """

    call_id: str
    state: CallState
    ani: str | None = None
    dnis: str | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    source: str = DEFAULT_SOURCE
    at: datetime | None = None
    from_agent: str | None = None
    # On `ended`: how the call ended, in the softphone's words ('486 Busy Here', 'Q.850 cause 17'), when it
    # says (outbound calls offer the matching call result first: desktop.domain.outbound.suggested_result).
    end_reason: str | None = None
    # An outbound call the agent makes for this campaign (a host says so: `"outbound": {"campaign_id": …}`):
    # the pop is the campaign's outbound wave's, and outcomes go out on outbound_call.
    outbound: str | None = None

    def __repr__(self) -> str:
        # Numbers are masked: reprs end up in logs and tracebacks.
        return (
            f"CallEvent(call_id={self.call_id!r}, state={self.state!r}, "
            f"ani={_presence(self.ani)}, dnis={_presence(self.dnis)}, customer_id={self.customer_id!r}, "
            f"agent_id={self.agent_id!r}, from_agent={self.from_agent!r}, source={self.source!r}, at={self.at!r})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form that `parse_call_event` reads back."""
        return {
            "call_id": self.call_id,
            "state": self.state,
            "ani": self.ani,
            "dnis": self.dnis,
            "customer_id": self.customer_id,
            "agent_id": self.agent_id,
            "from_agent": self.from_agent,
            "source": self.source,
            "at": self.at.isoformat() if self.at else None,
            **({"end_reason": self.end_reason} if self.end_reason else {}),  # additive: only when known
            **({"outbound": {"campaign_id": self.outbound}} if self.outbound else {}),
        }


def parse_call_event(data: object, *, source: str | None = None) -> CallEvent:
    """Build a CallEvent from untrusted data (a decoded JSON object, CLI options, a connector's dict).

    Strict: only the known fields, text of at most 128 printable characters, a known `state`, a
    `call_id`, and for `ringing` an `ani` or a `customer_id` (there is nothing to pop otherwise). Optional
    text fields that are empty or only spaces count as absent (softphones send "" for withheld numbers).
    `at` is an ISO-8601 timestamp with a UTC offset, epoch seconds, or an aware datetime.

    `source` names the transport (e.g. "cli", "bridge"); when given it wins over the data's own
    `source`, because the transport knows where the event came from.

    Raises InvalidCallEvent (a ValueError) and nothing else.
    """
    if not isinstance(data, Mapping):
        raise InvalidCallEvent(None, "must be an object with fields such as call_id and state")
    unknown = [key for key in data if key not in _KNOWN_FIELDS]
    if unknown:
        raise InvalidCallEvent(None, f"unknown field(s): {_describe_field_names(unknown)}")

    call_id = _text(data, "call_id", required=True)
    state = _text(data, "state", required=True)
    if state not in CALL_STATES:
        raise InvalidCallEvent("state", f"must be one of {', '.join(CALL_STATES)}")
    ani = _text(data, "ani")
    if ani is not None:
        try:
            ani = canonical_number(ani) or ani  # no digit at all ("anonymous"): kept, it pops nothing
        except ValueError as exc:
            raise InvalidCallEvent("ani", str(exc)) from None
    customer_id = _text(data, "customer_id")
    if state == "ringing" and ani is None and customer_id is None:
        raise InvalidCallEvent("ani", "a ringing call needs an ani or a customer_id to pop")
    if source is not None:
        source = _checked_text("source", source)
    else:
        source = _text(data, "source") or DEFAULT_SOURCE
    assert call_id is not None  # required=True guarantees it; narrows the type
    return CallEvent(
        call_id=call_id,
        state=state,  # type: ignore[arg-type]  # checked against CALL_STATES above
        ani=ani,
        dnis=_text(data, "dnis"),
        customer_id=customer_id,
        agent_id=_text(data, "agent_id"),
        source=source,
        at=_timestamp(data.get("at")),
        from_agent=_text(data, "from_agent"),
        end_reason=_text(data, "end_reason"),
        outbound=_outbound(data.get("outbound")),
    )


def _outbound(value: object) -> str | None:
    """`"outbound": {"campaign_id": "…"}`: an outbound call for that campaign (null or absent: not said)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidCallEvent("outbound", f'must be an object such as {{"campaign_id": "CMP-1"}}, not '
                                           f"{_json_type_name(value)}")
    unknown = [key for key in value if key != "campaign_id"]
    if unknown:
        raise InvalidCallEvent("outbound", f"unknown field(s): {_describe_field_names(unknown)}; it has campaign_id")
    if value.get("campaign_id") is None:
        raise InvalidCallEvent("outbound.campaign_id", "is required")
    return checked_identifier("outbound.campaign_id", value["campaign_id"])


def _text(data: Mapping[Any, Any], field: str, *, required: bool = False) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise InvalidCallEvent(field, "is required")
        return None
    text = _checked_text(field, value)
    if not text:
        if required:
            raise InvalidCallEvent(field, "must not be empty")
        return None
    return text


def _checked_text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidCallEvent(field, f"must be text, not {_json_type_name(value)}")
    text = value.strip()
    if len(text) > MAX_FIELD_LENGTH:
        raise InvalidCallEvent(field, f"must be at most {MAX_FIELD_LENGTH} characters")
    if field in _NUMBER_FIELDS:
        try:
            text = fold_digits(text).strip()
        except NotDecimalDigit as exc:
            raise InvalidCallEvent(field, f"must be written with ordinary digits ({exc}: superscript, subscript, "
                                          "circled and similar digits are refused)") from None
        if len(text) > MAX_FIELD_LENGTH:  # a compatibility form can be longer than the character it replaced
            raise InvalidCallEvent(field, f"must be at most {MAX_FIELD_LENGTH} characters")
    check_printable(field, text)
    return text


def checked_identifier(field: str, value: object) -> str:
    """An id from a host outside a call event (e.g. the SDK's show_customer): text of at most 128
    printable characters, stripped; the same rule as a call event's ids. Raises InvalidCallEvent."""
    text = _checked_text(field, value)
    if not text:
        raise InvalidCallEvent(field, "must not be empty")
    return text


def check_printable(field: str, text: str) -> None:
    """Refuses control, invisible and text-direction characters (InvalidCallEvent naming the field and the
    code point, never the text): the rule for every id and text field of a call event."""
    if text.isprintable():
        return
    char = next(c for c in text if not c.isprintable())
    category = unicodedata.category(char)
    kind = ("control" if category == "Cc" else "special space or line break" if category[0] == "Z"
            else "invisible or text-direction")
    raise InvalidCallEvent(field, f"must not contain {kind} characters (found U+{ord(char):04X}); only printable "
                                  "text, with the ordinary space")


def canonical_number(text: str) -> str | None:
    """A caller's (or dialled) number as '+' and ASCII digits: '+86 138-0013-8000', '(010) 8888 6666',
    '١٣٨٠٠١٣٨٠٠٠', '１３８ ００１３ ８０００' all become digits. None when `text` holds no digit at all (a
    withheld caller: '', 'anonymous', '<unknown>'). Raises ValueError, with a reason that never repeats
    the text, when it holds digits but is no phone number ('ext 12', 'sip:alice@10.0.0.1', '138²…', digits
    mixed with letters or invisible characters)."""
    try:
        folded = fold_digits(text).strip()
    except NotDecimalDigit as exc:
        raise ValueError(f"must be written with ordinary digits ({exc}: superscript, subscript, circled and "
                         "similar digits are refused)") from None
    uri = _URI_USER.fullmatch(folded)
    if uri:
        folded = uri.group(1)
    if not _ASCII_DIGITS.search(folded):
        return None
    compact = _NUMBER_SEPARATORS.sub("", folded)
    if not _PHONE_NUMBER.fullmatch(compact):
        raise ValueError(f"must be a phone number: up to {MAX_NUMBER_DIGITS} digits with an optional leading +, "
                         "and spaces, dashes, dots, slashes or parentheses between them")
    return compact


def _timestamp(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        if len(value) > MAX_FIELD_LENGTH:
            raise InvalidCallEvent("at", f"must be at most {MAX_FIELD_LENGTH} characters")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidCallEvent(
                "at", "must be an ISO-8601 timestamp such as 2026-11-02T09:30:00Z"
            ) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # A plain range check: also rejects NaN and infinity, and never converts a huge int to float.
        if not _EPOCH_MIN <= value <= _EPOCH_MAX:
            raise InvalidCallEvent("at", "epoch seconds must lie between the years 2000 and 2100")
        return datetime.fromtimestamp(value, UTC)
    else:
        raise InvalidCallEvent("at", f"must be a timestamp, not {_json_type_name(value)}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidCallEvent("at", "must include a UTC offset (e.g. 'Z' or '+08:00')")
    if not 2000 <= moment.year <= 2100:
        raise InvalidCallEvent("at", "must lie between the years 2000 and 2100")
    return moment.astimezone(UTC)


def _json_type_name(value: object) -> str:
    # Names the sender understands (they speak JSON), never the value itself.
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _describe_field_names(names: list[object]) -> str:
    shown = [
        repr(name) for name in names[:5] if isinstance(name, str) and _PRINTABLE_FIELD_NAME.fullmatch(name)
    ]
    hidden = len(names) - len(shown)
    if hidden:
        shown.append(f"{hidden} other(s)")
    return ", ".join(shown)


def _presence(value: str | None) -> str:
    return "None" if value is None else "<set>"
