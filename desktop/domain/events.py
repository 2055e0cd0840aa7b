"""The panel's outgoing events: one vocabulary for hosts, the local bridge and the SDK (v1).

Each event is a frozen dataclass; `to_json()` returns its v1 payload — the `data` of a bridge event
message (plugin_sdk/schemas/<type>.json) and the dict a PanelHandle subscriber gets. This module is the
only place that payload is shaped: the controller emits these objects, the bridge publishes
`event.to_json()` under `event.type`, the SDK hands `event.to_json()` to the host under `event.name`.

Privacy: no phone number leaves in clear (a call's number is masked here, in `to_json`).

Pure Python: no Qt, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

from desktop.domain.states import PopKey, PopResult, PopState, SyncState


def iso(moment: dt.datetime | None) -> str | None:
    """A time on the wire: ISO 8601, UTC written 'Z'."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


class PanelEvent:
    """Base of the events. `type`: the wire name ('pop.shown'); `name`: the SDK's name ('pop_shown', None
    for events the SDK does not publish)."""

    type: ClassVar[str]
    name: ClassVar[str | None] = None
    opt_in: ClassVar[bool] = False

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class PopShown(PanelEvent):
    """A call's pop settled (live, stale, unknown caller or error). `update`: the call had one before (a
    transfer to another customer, a refresh, a choice on a shared number); `chosen`: the agent confirmed
    this customer among several sharing the number."""

    type: ClassVar[str] = "pop.shown"
    name: ClassVar[str | None] = "pop_shown"

    call_id: str
    state: str
    customer_id: str | None
    decision_id: str | None
    offers: tuple[str, ...]
    update: bool
    chosen: bool = False
    channel: str | None = None  # (1.5) the channel outcomes of this pop go out on: inbound_call, outbound_call
    campaign_id: str | None = None  # (1.5) the campaign the call serves, if any

    @classmethod
    def of(cls, call_id: str, result: PopResult, *, update: bool, chosen: bool) -> PopShown:
        document = result.document
        contact = document.contact if document else None
        return cls(call_id=call_id, state=str(result.state),
                   customer_id=document.customer.customer_id if document else None,
                   decision_id=document.decision_id if document else None,
                   offers=tuple(o.offer_id for o in document.pitchable_offers) if document else (),
                   update=update, chosen=chosen, channel=contact.channel if contact else None,
                   campaign_id=contact.campaign.campaign_id if contact and contact.campaign else None)

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "state": self.state, "customer_id": self.customer_id,
                "decision_id": self.decision_id, "offers": list(self.offers), "update": self.update,
                "chosen": self.chosen, "channel": self.channel, "campaign_id": self.campaign_id}


@dataclass(frozen=True, slots=True)
class PopAmbiguous(PanelEvent):
    """The caller's number belongs to several customers: the panel asks the agent who is calling. Only
    customer ids (no names, no numbers)."""

    type: ClassVar[str] = "pop.ambiguous"
    name: ClassVar[str | None] = "pop_ambiguous"

    call_id: str
    candidates: tuple[str, ...]
    update: bool

    @classmethod
    def of(cls, call_id: str, result: PopResult, *, update: bool) -> PopAmbiguous:
        return cls(call_id, tuple(c.customer_id for c in result.candidates), update)

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "candidates": list(self.candidates), "update": self.update}


@dataclass(frozen=True, slots=True)
class OutcomeRecorded(PanelEvent):
    """The agent recorded an outcome; it is committed to the local store (delivery follows). `call_id` is
    the call's tab ('search-…' for a customer opened by search)."""

    type: ClassVar[str] = "outcome.recorded"
    name: ClassVar[str | None] = "outcome_recorded"

    outcome_id: str
    call_id: str | None
    customer_id: str | None
    offer_id: str | None
    result: str
    recorded_at: dt.datetime

    @classmethod
    def of(cls, record: Any, call_id: str | None) -> OutcomeRecorded:
        """From an OutcomeRecord (desktop.domain.outcomes)."""
        return cls(record.outcome_id, call_id, record.customer_id, record.offer_id, str(record.result),
                   record.recorded_at)

    def to_json(self) -> dict[str, Any]:
        return {"outcome_id": self.outcome_id, "call_id": self.call_id, "customer_id": self.customer_id,
                "offer_id": self.offer_id, "result": self.result, "recorded_at": self.recorded_at.isoformat()}


@dataclass(frozen=True, slots=True)
class OutcomeRetracted(PanelEvent):
    """The agent undid an outcome (Ctrl+Z on its banner): it no longer counts. `delivery` says what
    happens to it: 'removed' (it never left this workstation), 'retracting' (the server has it or may
    have it: a retraction is sent by the next delivery)."""

    type: ClassVar[str] = "outcome.retracted"
    name: ClassVar[str | None] = "outcome_retracted"

    outcome_id: str
    call_id: str | None
    customer_id: str | None
    offer_id: str | None
    result: str
    delivery: str
    retracted_at: dt.datetime

    @classmethod
    def of(cls, recorded: OutcomeRecorded, delivery: str, at: dt.datetime) -> OutcomeRetracted:
        return cls(recorded.outcome_id, recorded.call_id, recorded.customer_id, recorded.offer_id,
                   recorded.result, delivery, at)

    def to_json(self) -> dict[str, Any]:
        return {"outcome_id": self.outcome_id, "call_id": self.call_id, "customer_id": self.customer_id,
                "offer_id": self.offer_id, "result": self.result, "delivery": self.delivery,
                "retracted_at": self.retracted_at.isoformat()}


@dataclass(frozen=True, slots=True)
class SyncStateChanged(PanelEvent):
    """Delivery of outcomes to the server: the state after a sync run or a refresh (hosts hear of
    changes only: compare `to_json()`)."""

    type: ClassVar[str] = "sync.state"
    name: ClassVar[str | None] = "sync_state"

    state: SyncState

    def to_json(self) -> dict[str, Any]:
        state = self.state
        return {"kind": state.kind, "pending": state.pending, "needs_attention": state.needs_attention,
                "offline_since": iso(state.offline_since), "last_synced_at": iso(state.last_synced_at),
                "next_attempt_at": iso(state.next_attempt_at),
                "last_error": state.last_error.code if state.last_error is not None else None}


@dataclass(frozen=True, slots=True)
class CallUpdated(PanelEvent):
    """An open call changed: `change` is 'transfer' (applied to its tab; `refetch`: the party changed),
    'phase' (answered or ended: see `phase`) or 'front' (it came to the front)."""

    type: ClassVar[str] = "call.updated"

    call_id: str
    key: PopKey
    change: str
    phase: str
    in_front: bool
    refetch: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "customer_id": self.key.customer_id, "ani": self.key.masked() or None,
                "refetch": self.refetch, "change": self.change, "phase": self.phase, "in_front": self.in_front}


@dataclass(frozen=True, slots=True)
class CallIgnored(PanelEvent):
    """A call event changed nothing; `detail` is safe to log and show."""

    type: ClassVar[str] = "call.ignored"

    call_id: str | None
    reason: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CallClosed(PanelEvent):
    """A call's tab closed."""

    type: ClassVar[str] = "call.closed"

    call_id: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class DialRequested(PanelEvent):
    """The agent pressed Call on an outbound customer and a host application dials for this panel: the host's
    softphone dials `number` (the customer's number after the host dial template: in clear, the one event that
    carries a number, sent only to hosts that declared they dial), then reports the call with call events as
    for any call (best with `call_id`, or with the number as `ani`); the outbound window follows them."""

    type: ClassVar[str] = "dial.requested"
    name: ClassVar[str | None] = "dial_requested"
    opt_in: ClassVar[bool] = True  # only hosts that asked for it (bridge: dialer.register; SDK: a subscriber)

    call_id: str
    number: str
    masked_number: str | None
    customer_id: str
    campaign_id: str
    wave_seq: int
    wave_of: int
    channel: str
    attempt: int
    lease_id: str
    lease_expires_at: dt.datetime
    requested_at: dt.datetime

    @classmethod
    def of(cls, previewed: Any, number: str, at: dt.datetime) -> DialRequested:
        """For a desktop.domain.outbound.Previewed customer; `number`: what the host's softphone dials."""
        return cls(previewed.lease.call_id, number, previewed.pop.customer.masked_msisdn or None,
                   previewed.customer_id, previewed.campaign_id, previewed.wave.seq, previewed.wave.of,
                   previewed.wave.channel, previewed.attempt, previewed.lease.lease_id, previewed.lease.expires_at, at)

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "number": self.number, "masked_number": self.masked_number,
                "customer_id": self.customer_id, "campaign_id": self.campaign_id,
                "wave": {"seq": self.wave_seq, "of": self.wave_of, "channel": self.channel}, "attempt": self.attempt,
                "lease": {"lease_id": self.lease_id, "expires_at": iso(self.lease_expires_at)},
                "requested_at": iso(self.requested_at)}


# The events hosts get, in the order the protocol lists them (EVENT_TYPES of the bridge).
EVENT_CLASSES: tuple[type[PanelEvent], ...] = (PopShown, PopAmbiguous, CallUpdated, CallIgnored, CallClosed,
                                              OutcomeRecorded, OutcomeRetracted, SyncStateChanged, DialRequested)
EVENT_TYPES: tuple[str, ...] = tuple(cls.type for cls in EVENT_CLASSES)
# Events a host gets only when it asked for them (a v1 host that never asked sees none of them).
OPT_IN_EVENT_TYPES: tuple[str, ...] = tuple(cls.type for cls in EVENT_CLASSES if cls.opt_in)
# The SDK's names of the events a PanelHandle publishes, and their wire names.
SDK_EVENTS: dict[str, str] = {cls.name: cls.type for cls in EVENT_CLASSES if cls.name is not None}

SETTLED = frozenset(s for s in PopState if s is not PopState.LOADING)

__all__ = ["EVENT_CLASSES", "EVENT_TYPES", "OPT_IN_EVENT_TYPES", "SDK_EVENTS", "CallClosed", "CallIgnored", "CallUpdated",
           "DialRequested", "OutcomeRecorded",
           "OutcomeRetracted", "PanelEvent", "PopAmbiguous", "PopShown", "SyncStateChanged", "iso"]
