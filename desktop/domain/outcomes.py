"""Outcomes the agent records, the outbox view of them, and the server's per-item verdicts."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from typing import Any

from desktop.domain._json import Fields
from desktop.domain.errors import UserError, UserFacingError
from desktop.domain.pop import PopDocument
from desktop.domain.states import MIN_ANI_DIGITS, PopKey, mask_number

NOTE_MAX_CHARS = 2000  # the server's limits (OutcomeIn): checked here so the server never rejects them
REASON_MAX_CHARS = 200
CALL_ID_MAX_CHARS = 100
AGENT_ID_MAX_CHARS = 64
# A callback "in the past" by more than this is a typo, not clock drift.
CALLBACK_PAST_TOLERANCE = dt.timedelta(minutes=5)
# An outcome can be undone this long after it was recorded before anything leaves the workstation: sync
# sends no outcome younger than this. Undone later (once sent), it is retracted on the server.
UNDO_WINDOW = dt.timedelta(seconds=8)
# An outcome without a pop (an unknown caller, a pop that failed) is one of these: no offer was shown. It names
# the caller's number instead of a decision (the server's RESULTS_WITHOUT_POP).
CALLER_NUMBER_MAX_DIGITS = 20
# Where the local store keys such a caller when no customer id is known (local_contacts.customer_id): the
# callback queue and "later outcome of the same caller" work by it. Never shown, never sent.
CALLER_KEY_PREFIX = "tel:"


def caller_key(number: str) -> str:
    return CALLER_KEY_PREFIX + number


def number_of(key: str | None) -> str | None:
    """The caller's number of a local caller key ('tel:…'), None for a customer id."""
    return key[len(CALLER_KEY_PREFIX):] if key and key.startswith(CALLER_KEY_PREFIX) else None


def masked_key(key: str) -> str:
    """A customer id as it is, a caller key as its masked number (what a screen or a script may show)."""
    number = number_of(key)
    return mask_number(number) if number is not None else key


class UndoResult(enum.StrEnum):
    REMOVED = "removed"  # never sent: gone from the outbox and the local contacts
    RETRACTING = "retracting"  # sent (or about to be): a retraction is queued, sync sends it once
    ALREADY = "already"  # undone before
    NOT_FOUND = "not_found"  # no such outcome in this store


class OutcomeResult(enum.StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CONSIDERING = "considering"
    CALLBACK = "callback"
    NOT_OFFERED = "not_offered"
    DO_NOT_DISTURB = "do_not_disturb"

    @property
    def needs_offer(self) -> bool:
        """The agent answered about one specific offer."""
        return self in (OutcomeResult.ACCEPTED, OutcomeResult.DECLINED, OutcomeResult.CONSIDERING)

    @property
    def without_pop(self) -> bool:
        """May be recorded for a caller no customer record was shown for (unknown caller, failed pop)."""
        return self in RESULTS_WITHOUT_POP


RESULTS_WITHOUT_POP = frozenset({OutcomeResult.NOT_OFFERED, OutcomeResult.CALLBACK, OutcomeResult.DO_NOT_DISTURB})


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    NEEDS_ATTENTION = "needs_attention"
    DISMISSED = "dismissed"  # the agent/lead looked at a rejected item and chose to drop it (kept for audit)


class InvalidOutcome(UserFacingError, ValueError):
    """The outcome cannot be recorded as given; the message says which field and why."""

    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    @property
    def user_error(self) -> UserError:
        return UserError("invalid_input", f"{self.field}: {self}")


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


@dataclass(frozen=True)
class OutcomeDraft:
    """An outcome before it gets its id and time. Construction validates (raises InvalidOutcome).

    Without a pop (`decision_id` None) it names `caller_number` instead, and only a result that needs no
    offer (RESULTS_WITHOUT_POP); `customer_id` then when the panel knew the customer (a pop that failed)."""

    decision_id: str | None
    customer_id: str | None
    result: OutcomeResult
    offer_id: str | None = None
    campaign_id: str | None = None
    wave: int | None = None
    channel: str = "inbound_call"
    note: str | None = None
    callback_at: dt.datetime | None = None
    reason: str | None = None
    agent_id: str | None = None
    call_id: str | None = None
    caller_number: str | None = None  # national digits (the server keeps it: DND by number, callbacks)

    def __post_init__(self) -> None:
        try:
            result = OutcomeResult(self.result)
        except ValueError:
            raise InvalidOutcome("result", f"unknown result {str(self.result)[:40]!r}") from None
        object.__setattr__(self, "result", result)
        object.__setattr__(self, "note", _clean(self.note))
        object.__setattr__(self, "reason", _clean(self.reason))
        # Call ids come from softphones and can be long; they are only context, so trimming is harmless.
        call_id = _clean(self.call_id)
        object.__setattr__(self, "call_id", call_id[:CALL_ID_MAX_CHARS] if call_id else None)
        if self.caller_number is not None and not (
                self.caller_number.isascii() and self.caller_number.isdigit()
                and MIN_ANI_DIGITS <= len(self.caller_number) <= CALLER_NUMBER_MAX_DIGITS):
            raise InvalidOutcome("caller_number", f"the caller's number must have {MIN_ANI_DIGITS} to "
                                                  f"{CALLER_NUMBER_MAX_DIGITS} digits")
        if not self.decision_id:
            if not self.caller_number:
                raise InvalidOutcome("decision_id", "an outcome answers a pop, or names the caller's number: "
                                                    "neither is known")
            if not result.without_pop:
                raise InvalidOutcome("result", f"{result.value} answers an offer of a pop: without a pop only "
                                               "not offered, call back or do not disturb apply")
            if self.offer_id:
                raise InvalidOutcome("offer_id", "without a pop no offer was made")
            object.__setattr__(self, "decision_id", None)
        elif not self.customer_id:
            raise InvalidOutcome("customer_id", "an outcome needs a known customer")
        if result.needs_offer and not self.offer_id:
            raise InvalidOutcome("offer_id", f"{result.value} needs the offer it answers")
        if result is OutcomeResult.CALLBACK:
            if self.callback_at is None:
                raise InvalidOutcome("callback_at", "a callback needs a time")
            if self.callback_at.tzinfo is None:
                raise InvalidOutcome("callback_at", "the callback time needs a time zone")
        if result is OutcomeResult.NOT_OFFERED and not self.reason:
            raise InvalidOutcome("reason", "not offered needs a reason")
        if self.note and len(self.note) > NOTE_MAX_CHARS:
            raise InvalidOutcome("note", f"the note is longer than {NOTE_MAX_CHARS} characters")
        if self.reason and len(self.reason) > REASON_MAX_CHARS:
            raise InvalidOutcome("reason", f"the reason is longer than {REASON_MAX_CHARS} characters")
        if self.agent_id and len(self.agent_id) > AGENT_ID_MAX_CHARS:
            raise InvalidOutcome("agent_id", f"the agent id is longer than {AGENT_ID_MAX_CHARS} characters")
        if self.wave is not None and not 1 <= self.wave <= 99:
            raise InvalidOutcome("wave", "wave must be between 1 and 99")

    @classmethod
    def for_pop(
        cls,
        document: PopDocument,
        *,
        result: OutcomeResult | str,
        offer_id: str | None = None,
        agent_id: str | None = None,
        call_id: str | None = None,
        note: str | None = None,
        callback_at: dt.datetime | None = None,
        reason: str | None = None,
    ) -> OutcomeDraft:
        """Fill decision, customer, campaign and wave from the pop the agent is answering."""
        campaign_id = wave = None
        if offer_id is not None:
            offer = document.offer(offer_id)
            if offer is None:
                raise InvalidOutcome("offer_id", f"offer {offer_id[:40]!r} is not part of this pop")
            campaign_id, wave = offer.campaign_id, offer.wave
        elif document.contact.campaign is not None:
            # No specific offer (DND, callback, not offered): it counts against the campaign this call serves.
            campaign_id = document.contact.campaign.campaign_id
            wave = document.contact.wave.seq if document.contact.wave else None
        return cls(
            decision_id=document.decision_id,
            customer_id=document.customer.customer_id,
            result=result,  # type: ignore[arg-type]  # __post_init__ converts and validates
            offer_id=offer_id,
            campaign_id=campaign_id,
            wave=wave,
            channel=document.contact.channel,
            note=note,
            callback_at=callback_at,
            reason=reason,
            agent_id=agent_id,
            call_id=call_id,
        )

    @classmethod
    def for_caller(
        cls,
        key: PopKey,
        *,
        result: OutcomeResult | str,
        agent_id: str | None = None,
        call_id: str | None = None,
        note: str | None = None,
        callback_at: dt.datetime | None = None,
        reason: str | None = None,
    ) -> OutcomeDraft:
        """No customer record on screen (unknown caller, failed pop): the outcome names the caller's number
        (and the customer id when the call named one)."""
        return cls(
            decision_id=None, customer_id=key.customer_id, result=result,  # type: ignore[arg-type]
            note=note, callback_at=callback_at, reason=reason, agent_id=agent_id, call_id=call_id,
            caller_number=key.ani,
        )

    def check_time(self, now: dt.datetime) -> None:
        if self.callback_at is not None and self.callback_at < now - CALLBACK_PAST_TOLERANCE:
            raise InvalidOutcome("callback_at", "the callback time is in the past")

    def finalize(
        self,
        *,
        recorded_at: dt.datetime,
        outcome_id: str | None = None,
        pop_id: int | None = None,
        popped_at: dt.datetime | None = None,
        display_name: str | None = None,
        masked_number: str | None = None,
    ) -> OutcomeRecord:
        if recorded_at.tzinfo is None:
            raise InvalidOutcome("recorded_at", "recorded_at needs a time zone")
        return OutcomeRecord(
            outcome_id=outcome_id or str(uuid.uuid4()),
            recorded_at=recorded_at,
            pop_id=pop_id,
            popped_at=popped_at,
            display_name=display_name,
            masked_number=masked_number,
            **{f: getattr(self, f) for f in self.__dataclass_fields__},
        )


@dataclass(frozen=True)
class OutcomeRecord:
    """A recorded outcome: durable in the local store, identified by its UUID (the idempotency key)."""

    outcome_id: str
    decision_id: str | None  # None: recorded without a pop (then caller_number is set)
    customer_id: str | None
    result: OutcomeResult
    recorded_at: dt.datetime
    offer_id: str | None = None
    campaign_id: str | None = None
    wave: int | None = None
    channel: str = "inbound_call"
    note: str | None = None
    callback_at: dt.datetime | None = None
    reason: str | None = None
    agent_id: str | None = None
    call_id: str | None = None
    pop_id: int | None = None  # pop_log row it answers (local statistics: time from pop to outcome)
    popped_at: dt.datetime | None = None
    caller_number: str | None = None
    # Kept with a callback on this PC only (the queue shows them after the cached pop expired).
    display_name: str | None = None
    masked_number: str | None = None

    @property
    def contact_key(self) -> str:
        """Who the outcome is about in the local store: the customer id, else the caller's key ('tel:…')."""
        if self.customer_id:
            return self.customer_id
        if self.caller_number:
            return caller_key(self.caller_number)
        raise InvalidOutcome("customer_id", "an outcome needs a customer or the caller's number")

    def to_payload(self) -> dict[str, Any]:
        """The item as POST /v1/outcomes takes it (OutcomeIn)."""
        payload: dict[str, Any] = {
            "outcome_id": self.outcome_id,
            "decision_id": self.decision_id,
            "customer_id": self.customer_id,
            "offer_id": self.offer_id,
            "campaign_id": self.campaign_id,
            "wave": self.wave,
            "channel": self.channel,
            "result": self.result.value,
            "reason": self.reason,
            "callback_at": self.callback_at.isoformat() if self.callback_at else None,
            "note": self.note,
            "agent_id": self.agent_id,
            "call_id": self.call_id,
            "caller_number": self.caller_number,
            "recorded_at": self.recorded_at.isoformat(),
        }
        return {k: v for k, v in payload.items() if v is not None}


@dataclass(frozen=True)
class LocalContact:
    """An outcome this workstation recorded, as local guidance and statistics read it."""

    outcome_id: str
    customer_id: str
    offer_id: str | None
    result: OutcomeResult
    recorded_at: dt.datetime
    agent_id: str | None = None
    campaign_id: str | None = None
    wave: int | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row as the "needs attention" list shows it."""

    outcome_id: str
    customer_id: str
    offer_id: str | None
    result: OutcomeResult
    recorded_at: dt.datetime
    status: OutboxStatus
    attempts: int
    server_reason: str | None = None
    server_reason_zh: str | None = None
    last_error: str | None = None
    delivered_at: dt.datetime | None = None
    customer_name: str | None = None  # from this PC's cached pop, when there is one (the sync drawer's lines)

    def server_reason_in(self, language: str) -> str:
        """The server's reason in `language` ('zh_CN' or 'en'); English when no Chinese one was given."""
        if language == "zh_CN" and self.server_reason_zh:
            return self.server_reason_zh
        return self.server_reason or ""


ItemStatus = str  # 'accepted' | 'duplicate' | 'rejected'
ITEM_STATUSES = ("accepted", "duplicate", "rejected")


@dataclass(frozen=True)
class ItemResult:
    """The server's verdict on one posted outcome."""

    index: int
    outcome_id: str | None
    status: ItemStatus
    reason: str | None = None
    reason_zh: str | None = None  # the same reason in Chinese (servers since issue 14)

    @property
    def delivered(self) -> bool:
        """A duplicate means the server already has it (an earlier attempt got through)."""
        return self.status in ("accepted", "duplicate")


def _item_result(f: Fields) -> ItemResult:
    return ItemResult(
        index=f.integer("index"),
        outcome_id=f.opt_string("outcome_id"),
        status=f.choice("status", ITEM_STATUSES),
        reason=f.opt_string("reason"),
        reason_zh=f.opt_string("reason_zh"),
    )


def parse_batch_result(data: Any) -> list[ItemResult]:
    """POST /v1/outcomes body → per-item results."""
    return list(Fields(data, "").items("results", _item_result, required=True))
