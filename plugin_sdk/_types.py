"""The SDK's plain types: configuration, call-event results, event names and payloads, errors.

Qt-free on purpose: a host may build a PanelConfig (or read these types) before any QApplication exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypedDict
from urllib.parse import urlsplit

from desktop.domain.outcomes import OutcomeResult

# ---------------------------------------------------------------------------------------------- errors


class PanelError(Exception):
    """Base class of the SDK's errors."""


class PanelConfigError(PanelError, ValueError):
    """A PanelConfig field is invalid; `field` names it."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"PanelConfig.{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


class IncompatibleApiError(PanelError):
    """The host needs an API version this SDK does not implement (PanelConfig.require_api)."""


class PanelClosedError(PanelError, RuntimeError):
    """A method of a PanelHandle was called after close()."""


# ---------------------------------------------------------------------------------------------- events

EventName = Literal["pop_shown", "pop_ambiguous", "outcome_recorded", "outcome_retracted", "sync_state",
                    "dial_requested"]
EVENT_NAMES: tuple[str, ...] = ("pop_shown", "pop_ambiguous", "outcome_recorded", "outcome_retracted", "sync_state",
                                "dial_requested")
# The same events on the local bridge's WebSocket carry these type names (and the same payloads: both are
# the to_json() of one event class, desktop/domain/events.py).
WIRE_NAMES: Mapping[str, str] = MappingProxyType(
    {"pop_shown": "pop.shown", "pop_ambiguous": "pop.ambiguous", "outcome_recorded": "outcome.recorded",
     "outcome_retracted": "outcome.retracted", "sync_state": "sync.state", "dial_requested": "dial.requested"})


def event_name(name: str) -> str:
    """'pop_shown' or its wire name 'pop.shown' -> 'pop_shown'. Raises ValueError for anything else."""
    for python_name, wire_name in WIRE_NAMES.items():
        if name in (python_name, wire_name):
            return python_name
    raise ValueError(f"unknown event {name!r}; the events are {', '.join(EVENT_NAMES)}")


class PopShown(TypedDict):
    """`pop_shown`: a call's pop settled (live data, saved data, unknown caller or an error)."""

    call_id: str
    state: Literal["live", "stale", "unknown_caller", "error"]
    customer_id: str | None
    decision_id: str | None
    offers: list[str]
    update: bool
    chosen: bool  # API 1.1: the number is shared and the agent confirmed this customer (pop_ambiguous came first)


class PopAmbiguous(TypedDict):
    """`pop_ambiguous` (API 1.1): the caller's number belongs to several customers; the panel asks the agent
    who is calling (one key each) and records nothing before that choice. `pop_shown` with `chosen=True`
    follows. A host that knows the caller may answer with a `transferred` call event naming the customer_id."""

    call_id: str
    candidates: list[str]
    update: bool


class OutcomeRecorded(TypedDict):
    """`outcome_recorded`: the agent recorded an outcome; it is on disk (and queued for the server)."""

    outcome_id: str
    call_id: str | None
    customer_id: str | None
    offer_id: str | None
    result: str
    recorded_at: str


class OutcomeRetracted(TypedDict):
    """`outcome_retracted` (API 1.3): the agent undid an outcome (Ctrl+Z on its banner); it no longer counts.
    `delivery`: 'removed' (it never left the workstation) or 'retracting' (the server is told by the next
    delivery). The other fields repeat those of its `outcome_recorded`."""

    outcome_id: str
    call_id: str | None
    customer_id: str | None
    offer_id: str | None
    result: str
    delivery: Literal["removed", "retracting"]
    retracted_at: str


class SyncStateEvent(TypedDict):
    """`sync_state`: delivery of outcomes to the server changed (sent only when something changed)."""

    kind: Literal["synced", "pending", "offline", "attention"]
    pending: int
    needs_attention: int
    offline_since: str | None
    last_synced_at: str | None
    next_attempt_at: str | None
    last_error: str | None


class DialRequested(TypedDict):
    """`dial_requested` (API 1.5): the agent pressed Call on an outbound customer and this host dials for the
    panel (it subscribed to this event): dial `number` (after connectors.host_dial_template; in clear, the one
    payload with a number), then report the call with call_event(), best under this `call_id`."""

    call_id: str
    number: str
    masked_number: str | None
    customer_id: str
    campaign_id: str
    wave: dict  # seq, of, channel
    attempt: int
    lease: dict  # lease_id, expires_at
    requested_at: str


POP_SHOWN_FIELDS: tuple[str, ...] = tuple(PopShown.__annotations__)
POP_AMBIGUOUS_FIELDS: tuple[str, ...] = tuple(PopAmbiguous.__annotations__)
OUTCOME_RECORDED_FIELDS: tuple[str, ...] = tuple(OutcomeRecorded.__annotations__)
OUTCOME_RETRACTED_FIELDS: tuple[str, ...] = tuple(OutcomeRetracted.__annotations__)
SYNC_STATE_FIELDS: tuple[str, ...] = tuple(SyncStateEvent.__annotations__)


# ---------------------------------------------------------------------------------------------- results

CallEventResultName = Literal["popped", "updated", "answered", "ended", "closed", "ignored", "rejected", "outbound"]


@dataclass(frozen=True, slots=True)
class CallEventResult:
    """What a call event did, so a host can see why nothing popped. The same answer (result, reason) as
    the local bridge's `call.result` message.

    result  popped    a new tab opened for the call and its lookup started (pop_shown follows)
            updated   reason 'transfer': applied to the call's open tab, never a second pop; when the
                      party changed its data is fetched and pop_shown follows with update=True
            answered  the agent is now talking on the call
            ended     the call is over; its tab stays for wrap-up (reason 'hangup' or 'transferred_away')
            closed    the call's tab closed (reason 'answered_elsewhere', 'stale', 'evicted', …)
            ignored   nothing changed; reason 'duplicate', 'replay', 'closed', 'unknown_call',
                      'no_identity', 'other_agent' or 'no_change'
            rejected  the event is invalid (reason 'invalid_event'; `detail` names the field)
            outbound  (1.5) the event belongs to the outbound call this host was asked to dial
                      (dial_requested): the outbound window follows it; reason: the event's state
    `detail` is a sentence safe to log and show: it never contains a phone number.
    """

    call_id: str | None
    result: CallEventResultName
    reason: str | None = None
    detail: str = ""

    @property
    def popped(self) -> bool:
        return self.result == "popped"


# ---------------------------------------------------------------------------------------------- config

RESULTS: tuple[str, ...] = tuple(result.value for result in OutcomeResult)
LANGUAGES = ("system", "zh_CN", "en")
THEMES = ("system", "light", "dark")


@dataclass(frozen=True, kw_only=True)
class PanelConfig:
    """How to build one embedded panel. Every field is checked here; an error names the field.

    server_url       the analytics server, http(s)://host[:port]
    agent_id         the signed-in agent (1–64 characters)
    language         'system' (the OS locale), 'zh_CN' or 'en' — this panel's language
    theme            'system', 'light' or 'dark' — applied to this panel only
    store_path       the panel's local data file (outcome outbox, cache); None: one per server and
                     agent in the user's data directory. Two open panels may not share a file.
    shortcuts        outcome keys, result -> key sequence (e.g. {'accepted': 'Ctrl+1'}); None: the
                     defaults Ctrl+1…Ctrl+6; a mapping lists exactly the keys to use ({} for none).
                     They work while the host's window is active.
    require_api      the API version the host was written for, e.g. '1.0': embed_panel fails at once
                     (IncompatibleApiError) if this SDK does not implement it
    timeout_s        read timeout of a pop lookup (0.2–30 s)
    ca_bundle        a company CA bundle for https (None: the system's)
    sync_interval_s  how often pending outcomes are sent (5–3600 s; also right after each outcome)
    wrapup_reminder_s  remind the agent to record an outcome this long after a call ends (0: never)
    """

    server_url: str
    agent_id: str
    language: str = "system"
    theme: str = "system"
    store_path: str | os.PathLike[str] | None = None
    shortcuts: Mapping[str, str] | None = field(default=None, hash=False)
    require_api: str | None = None
    timeout_s: float = 2.0
    ca_bundle: str | os.PathLike[str] | None = None
    sync_interval_s: int = 15
    wrapup_reminder_s: int = 30

    def __post_init__(self) -> None:
        server_url = _text("server_url", self.server_url).rstrip("/")
        parts = urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PanelConfigError("server_url", "must be an http:// or https:// URL, e.g. https://analytics.example.com")
        object.__setattr__(self, "server_url", server_url)
        agent_id = _text("agent_id", self.agent_id)
        if not 1 <= len(agent_id) <= 64:
            raise PanelConfigError("agent_id", "must be 1 to 64 characters")
        object.__setattr__(self, "agent_id", agent_id)
        _choice("language", self.language, LANGUAGES)
        _choice("theme", self.theme, THEMES)
        if self.store_path is not None:
            object.__setattr__(self, "store_path", Path(self.store_path).expanduser())
        if self.ca_bundle is not None:
            object.__setattr__(self, "ca_bundle", Path(self.ca_bundle).expanduser())
        if self.shortcuts is not None:
            object.__setattr__(self, "shortcuts", MappingProxyType(_shortcuts(self.shortcuts)))
        if self.require_api is not None:
            from plugin_sdk._version import parse_api_version

            try:
                parse_api_version(self.require_api)
            except ValueError as exc:
                raise PanelConfigError("require_api", str(exc)) from None
        _number("timeout_s", self.timeout_s, 0.2, 30.0)
        _number("sync_interval_s", self.sync_interval_s, 5, 3600, integer=True)
        _number("wrapup_reminder_s", self.wrapup_reminder_s, 0, 3600, integer=True)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise PanelConfigError(name, f"must be a str, not {type(value).__name__}")
    return value.strip()


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise PanelConfigError(name, f"must be one of {', '.join(choices)}; got {value!r}")


def _number(name: str, value: object, low: float, high: float, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise PanelConfigError(name, f"must be {'a whole number' if integer else 'a number'}")
    if not low <= value <= high:
        raise PanelConfigError(name, f"must be between {low:g} and {high:g}; got {value}")


def _shortcuts(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise PanelConfigError("shortcuts", "must be a mapping of outcome result to key sequence, or None")
    checked: dict[str, str] = {}
    seen: dict[str, str] = {}
    for result, keys in value.items():
        if result not in RESULTS:
            raise PanelConfigError("shortcuts", f"unknown result {result!r}; the results are {', '.join(RESULTS)}")
        if not isinstance(keys, str):
            raise PanelConfigError("shortcuts", f"{result}: the key sequence must be a str such as 'Ctrl+1'")
        keys = keys.strip()
        if not keys:
            continue
        normalized = re.sub(r"\s+", "", keys).lower()
        if normalized in seen:
            raise PanelConfigError("shortcuts", f"{keys!r} is given to both {seen[normalized]} and {result}")
        seen[normalized] = result
        checked[result] = keys
    return checked
