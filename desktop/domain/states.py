"""What the panel shows: the state of one pop and of outcome syncing."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from dataclasses import dataclass, field

from desktop.domain.errors import UserError
from desktop.domain.pop import CallerCandidate, PopDocument

MIN_ANI_DIGITS = 5  # the server refuses shorter numbers; they are extensions or withheld ids


class NotDecimalDigit(ValueError):
    """A number holds a numeric character that is not a decimal digit (², ₂, ①, ½, Ⅻ, ⒈ …)."""


def fold_digits(text: str) -> str:
    """`text` with the decimal digits of every script as ASCII 0-9 (Arabic-Indic ١٣٨, Persian ۱۳۸,
    full-width １３８, Devanagari १३८ …) and every other character in its NFKC form (full-width ＋－（）
    and ideographic or no-break spaces become + - ( ) and a space).

    Raises NotDecimalDigit for a numeric character that is not a decimal digit — superscripts (²),
    subscripts (₂), circled (①), fractions (½), Roman numerals (Ⅻ), '⒈', '㏠' …: NFKC would silently turn
    some of them into digits and a digit filter would silently drop the others, so either way the number
    would change without anyone noticing."""
    if text.isascii():
        return text
    out = []
    for char in text:
        if char.isascii():
            out.append(char)
        elif unicodedata.category(char) == "Nd":
            out.append(chr(0x30 + unicodedata.decimal(char)))
        else:
            folded = unicodedata.normalize("NFKC", char)
            if unicodedata.numeric(char, None) is not None or any(c.isdigit() for c in folded):
                raise NotDecimalDigit(f"U+{ord(char):04X} is not a decimal digit")
            out.append(folded)
    return "".join(out)


def normalize_ani(raw: str | None) -> str | None:
    """Caller ids arrive as +86 138 0013 8000, 0086-13800138000, 13800138000 …; keep the national digits
    (ASCII: decimal digits of other scripts are folded, other numeric characters dropped — every call source
    refuses those before they get here, see desktop.calls.events)."""
    digits = "".join(chr(0x30 + unicodedata.decimal(c)) for c in raw or "" if unicodedata.category(c) == "Nd")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix):]
    return digits or None


def mask_number(digits: str) -> str:
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else digits


class PopState(enum.StrEnum):
    LOADING = "loading"  # fetching; `document` holds cached data when there is any
    LIVE = "live"  # fresh from the server
    STALE = "stale"  # server unreachable: cached data, `error` says why, `fetched_at` how old
    UNKNOWN_CALLER = "unknown_caller"  # no customer has this number: new-customer guidance
    # The number belongs to several customers: `candidates` lists them; the agent asks who is calling and
    # chooses (the call then pops by customer id). Nothing may be recorded before that choice.
    AMBIGUOUS = "ambiguous_caller"
    ERROR = "error"  # nothing to show (or signed out): `error` says what happened and what to do


@dataclass(frozen=True)
class PopKey:
    """Who is calling: the caller number (normalized digits) and/or a customer id the host already knows."""

    ani: str | None = None
    customer_id: str | None = None
    # An outbound call the agent makes for this campaign (outside the worklist): the pop is built for the
    # campaign's outbound wave, and its outcomes go out on outbound_call. None: an inbound call or a lookup.
    outbound: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ani", normalize_ani(self.ani))
        object.__setattr__(self, "customer_id", (self.customer_id or "").strip() or None)
        object.__setattr__(self, "outbound", (self.outbound or "").strip() or None)

    def __repr__(self) -> str:  # keeps full phone numbers out of logs and tracebacks
        outbound = f", outbound={self.outbound!r}" if self.outbound else ""
        return f"PopKey(ani={self.masked()!r}, customer_id={self.customer_id!r}{outbound})"

    @property
    def is_lookupable(self) -> bool:
        """Enough to ask the server: a customer id, or a number of at least MIN_ANI_DIGITS digits."""
        return bool(self.customer_id) or len(self.ani or "") >= MIN_ANI_DIGITS

    def masked(self) -> str:
        """'138****8000' (or '' when the number is withheld)."""
        return mask_number(self.ani) if self.ani else ""

    def cache_keys(self) -> list[str]:
        """Where a cached view for this key may be found. With a customer id, only under that id: the
        number may be shared with other customers, so its entry could be another customer's view. An outbound
        call's view has keys of its own: it must never stand in for an inbound call's (its outcomes would go
        out on the wrong channel)."""
        suffix = f"|outbound:{self.outbound}" if self.outbound else ""
        if self.customer_id:
            return [f"cust:{self.customer_id}{suffix}"]
        return [f"ani:{self.ani}{suffix}"] if self.ani else []


# UserError codes of a pop fetch that says nothing about the caller: the server was down, slow or broken.
RETRYABLE_POP_ERRORS = frozenset({"server_unreachable", "timeout", "server_error", "rate_limited", "bad_response"})


@dataclass(frozen=True)
class PopResult:
    state: PopState
    key: PopKey
    document: PopDocument | None = None
    fetched_at: dt.datetime | None = None  # when the shown document came from the server
    error: UserError | None = None
    # The document as the server sent it, before this workstation's outcomes were applied: what the local
    # cache keeps (set by a fetch that leaves caching to the caller, see PopService.remember).
    server_document: PopDocument | None = field(default=None, repr=False, compare=False)
    # AMBIGUOUS: the customers sharing the caller's number, in the server's order.
    candidates: tuple[CallerCandidate, ...] = ()
    # LOADING, before anything is fetched: a customer opened from search (or a host's show_customer) while
    # outbound campaigns run — the agent says whether this is an outbound call and for which of these
    # campaigns (desktop.domain.outbound.CallableCampaign); nothing may be recorded before.
    channels: tuple = ()

    @property
    def can_retry(self) -> bool:
        """The server could not answer this pop for a reason that passes (down, slow, overloaded, a bad
        answer): asking again may succeed. The panel offers a retry and asks again by itself once the server
        is back. Not after a refused token or request (sign in / nothing to retry)."""
        return self.state in (PopState.STALE, PopState.ERROR) and self.error is not None \
            and self.error.code in RETRYABLE_POP_ERRORS

    @property
    def caller_only(self) -> bool:
        """No customer record on screen (an unknown caller, a pop that failed) but the caller's number is
        known: not offered, call back and do not disturb (by number) may still be recorded for the call."""
        return self.document is None and len(self.key.ani or "") >= MIN_ANI_DIGITS and self.state in (
            PopState.UNKNOWN_CALLER, PopState.ERROR, PopState.STALE)

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        """How old the shown data is ("data from 2 h ago")."""
        return None if self.fetched_at is None else max(dt.timedelta(0), now - self.fetched_at)


@dataclass(frozen=True)
class SyncState:
    pending: int = 0
    needs_attention: int = 0
    offline_since: dt.datetime | None = None  # first failed delivery of the current outage
    last_synced_at: dt.datetime | None = None
    last_error: UserError | None = None
    next_attempt_at: dt.datetime | None = None
    # False while no account is signed in: nothing is sent, so nothing may be called "synced".
    signed_in: bool = True

    @property
    def kind(self) -> str:
        """'attention' | 'offline' | 'pending' | 'synced': what the status line leads with (the panel also
        says when no account is signed in: `signed_in`; hosts' `kind` values stay these four).

        Rejected items come first because only a person can resolve them; the other fields stay
        available so the panel can also say "offline since 10:42, 3 pending".
        """
        if self.needs_attention:
            return "attention"
        if self.offline_since is not None:
            return "offline"
        if self.pending:
            return "pending"
        return "synced"

    def as_event(self) -> dict[str, object]:
        """The `sync.state` event payload for hosts (SDK, bridge): plain JSON values, times in ISO 8601."""

        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "kind": self.kind,
            "pending": self.pending,
            "needs_attention": self.needs_attention,
            "offline_since": iso(self.offline_since),
            "last_synced_at": iso(self.last_synced_at),
            "next_attempt_at": iso(self.next_attempt_at),
            "last_error": self.last_error.code if self.last_error is not None else None,
        }
