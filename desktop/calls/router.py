"""The CallRouter: the one place that turns call events into "the agent is now on call X".

Every call source feeds it CallEvents; it answers with RouterActions (Pop, UpdatePop, Activate, Ended,
Closed, Ignored) and hands each to its listeners. It decides, the UI and services act:

- duplicates (same call_id and state) and replays of older states ("ringing" after "answered") are
  Ignored, so a call never pops twice;
- a transfer updates the existing pop (UpdatePop); a transfer of a call we have not seen yet pops it once;
- concurrent calls are separate call ids, hence separate tabs;
- one open call is in front (what the outcome keys act on): `answered` brings its call to the front, the
  agent may bring any call forward (`bring_to_front`); each change is a Front action (desktop.calls.front);
- an `answered` for a ringing call the agent closed (by mistake) opens it again;
- after "ended" a call stays in wrap-up until `outcome_recorded()` or `dismiss()`; Ended carries the time
  a wrap-up reminder is due (the app schedules it);
- memory is bounded: closed call ids are remembered for replay detection for `forget_closed_after` and at
  most `remember_closed` of them; at most `max_open_calls` calls are open; a call that rang and then went
  silent is closed as stale.

Pure Python (no Qt), time is injected. Not thread-safe: call it from one thread (the GUI thread).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from desktop.calls.events import CallEvent, InvalidCallEvent, parse_call_event
from desktop.calls.front import FrontCall, Phase, phase_of
from desktop.domain.states import PopKey

logger = logging.getLogger(__name__)

OpenCallState = Literal["ringing", "active", "wrap_up"]
IgnoreReason = Literal["duplicate", "replay", "closed", "unknown_call", "no_identity", "other_agent"]
EndReason = Literal["hangup", "transferred_away"]
CloseReason = Literal["outcome", "dismissed", "answered_elsewhere", "stale", "evicted"]


def key_of(event: CallEvent) -> PopKey | None:
    """Whom to look up for a pop: the CRM id when known (exact), else the caller's number (None: the event
    names neither)."""
    if event.customer_id is None and event.ani is None:
        return None
    return PopKey(ani=event.ani, customer_id=event.customer_id, outbound=event.outbound)


@dataclass(frozen=True, slots=True)
class Pop:
    """A new call: open a tab for it and fetch its pop document."""

    call_id: str
    key: PopKey
    event: CallEvent


@dataclass(frozen=True, slots=True)
class UpdatePop:
    """A transfer of an open call: update its tab (refetch when `identity_changed`), never a second pop."""

    call_id: str
    key: PopKey
    previous_key: PopKey
    event: CallEvent

    @property
    def identity_changed(self) -> bool:
        return self.key != self.previous_key


@dataclass(frozen=True, slots=True)
class Activate:
    """The agent is now talking on this call."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Ended:
    """The call is over for this agent; its tab stays in wrap-up. `remind_at`: when to nudge the agent to
    record an outcome (None: no reminder, e.g. an outcome is already recorded)."""

    call_id: str
    answered: bool
    reason: EndReason
    remind_at: datetime | None
    to_agent: str | None = None  # transferred_away: the colleague the call went to
    to_number: str | None = None  # transferred_away: the number or queue it went to (the event's dnis)


@dataclass(frozen=True, slots=True)
class Closed:
    """The call's tab can go: the router forgets the call (and ignores later events for it)."""

    call_id: str
    reason: CloseReason


@dataclass(frozen=True, slots=True)
class Ignored:
    """The event changed nothing; `detail` is safe to log and to show the sender."""

    call_id: str | None
    reason: IgnoreReason
    detail: str


@dataclass(frozen=True, slots=True)
class Front:
    """This call is now in front: the panel shows it and the outcome keys act on it."""

    call_id: str


RouterAction = Pop | UpdatePop | Activate | Ended | Closed | Ignored | Front
RouterListener = Callable[[RouterAction], None]


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A snapshot of one open call (a tab), as `CallRouter.calls()` lists them."""

    call_id: str
    state: OpenCallState
    key: PopKey
    source: str
    started_at: datetime
    updated_at: datetime
    answered: bool = False
    transfers: int = 0
    outcome_recorded: bool = False
    ended_at: datetime | None = None
    remind_at: datetime | None = None

    @property
    def phase(self) -> Phase:
        return phase_of(self)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Order of the states a call moves through; an event for an earlier state than the call's is a replay.
_STATE_ORDER: dict[str, int] = {"ringing": 0, "active": 1, "wrap_up": 2}
_EVENT_TARGET: dict[str, str] = {"ringing": "ringing", "answered": "active", "ended": "wrap_up"}


class CallRouter:
    def __init__(
        self,
        *,
        agent_id: str | None = None,
        wrap_up_reminder_after: timedelta | None = timedelta(minutes=2),
        forget_closed_after: timedelta = timedelta(minutes=30),
        remember_closed: int = 500,
        max_open_calls: int = 20,
        stale_ringing_after: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        """`agent_id`: this workstation's agent; events naming another agent do not pop here (None: accept
        all). `clock` returns an aware datetime."""
        if remember_closed < 1 or max_open_calls < 1:
            raise ValueError("remember_closed and max_open_calls must be at least 1")
        self._agent_id = agent_id
        self._wrap_up_reminder_after = wrap_up_reminder_after
        self._forget_closed_after = forget_closed_after
        self._remember_closed = remember_closed
        self._max_open_calls = max_open_calls
        self._stale_ringing_after = stale_ringing_after
        self._clock = clock
        self._open: dict[str, OpenCall] = {}
        self._last_transfer: dict[str, tuple[object, ...]] = {}
        self._closed_at: OrderedDict[str, datetime] = OrderedDict()  # oldest first
        self._listeners: list[RouterListener] = []
        self._front = FrontCall()
        # Ringing calls the agent closed: an `answered` for one opens it again (closed by mistake).
        self._dismissed_ringing: OrderedDict[str, PopKey] = OrderedDict()

    # --- listeners ------------------------------------------------------------------------------------

    def add_listener(self, listener: RouterListener) -> Callable[[], None]:
        """Call `listener(action)` for every action, in order. Returns the function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # --- inputs -----------------------------------------------------------------------------------------

    def handle(self, event: CallEvent) -> list[RouterAction]:
        """Route one event; returns the actions (also given to the listeners)."""
        now = self._clock()
        actions = self._sweep(now)
        actions += self._decide(event, now)
        return self._emit(actions)

    def handle_data(self, data: object, *, source: str) -> list[RouterAction]:
        """Parse untrusted data from transport `source` and route it. An event that cannot be understood
        is logged (without the phone number) and re-raised as InvalidCallEvent for the sender."""
        try:
            event = parse_call_event(data, source=source)
        except InvalidCallEvent as exc:
            logger.warning("rejected a call event from %s: %s", source, exc)
            raise
        return self.handle(event)

    def outcome_recorded(self, call_id: str) -> list[RouterAction]:
        """An outcome is saved for the call: a call in wrap-up closes; during the call it is remembered
        (the call then closes as soon as it ends)."""
        call = self._open.get(call_id)
        if call is None:
            return self._emit([Ignored(call_id, "unknown_call", "no open call with this id")])
        if call.state == "wrap_up":
            return self._emit([self._close(call_id, "outcome", self._clock())])
        self._open[call_id] = replace(call, outcome_recorded=True, remind_at=None)
        return []

    def dismiss(self, call_id: str) -> list[RouterAction]:
        """The agent closed the tab without an outcome (at any state)."""
        call = self._open.get(call_id)
        if call is None:
            return self._emit([Ignored(call_id, "unknown_call", "no open call with this id")])
        if call.state == "ringing":
            self._dismissed_ringing[call_id] = call.key
            while len(self._dismissed_ringing) > self._remember_closed:
                self._dismissed_ringing.popitem(last=False)
        return self._emit([self._close(call_id, "dismissed", self._clock())])

    def bring_to_front(self, call_id: str) -> list[RouterAction]:
        """The agent brought this call's tab forward (a click): it is the call in front."""
        if call_id not in self._open or not self._front.chosen(call_id):
            return []
        return self._broadcast([Front(call_id)])

    def front_call_id(self) -> str | None:
        """The call in front (None while no call is open)."""
        return self._front.call_id

    def sweep(self) -> list[RouterAction]:
        """Housekeeping (also done on every event): closes stale ringing calls, forgets old call ids.
        Worth running from a periodic job so a silent source cannot leave a ringing tab forever."""
        return self._emit(self._sweep(self._clock()))

    # --- queries ----------------------------------------------------------------------------------------

    def calls(self) -> list[OpenCall]:
        """The open calls (one tab each), oldest first."""
        return sorted(self._open.values(), key=lambda call: call.started_at)

    def call(self, call_id: str) -> OpenCall | None:
        return self._open.get(call_id)

    # --- decisions --------------------------------------------------------------------------------------

    def _decide(self, event: CallEvent, now: datetime) -> list[RouterAction]:
        call_id = event.call_id
        call = self._open.get(call_id)
        if self._for_another_agent(event):
            return self._other_agent(event, call, now)
        if call_id in self._dismissed_ringing and event.state == "answered":
            # The agent closed the ringing tab, then took the call: the customer is on the line, pop again.
            key = self._dismissed_ringing.pop(call_id)
            self._closed_at.pop(call_id, None)
            return self._first_event(event, now, fallback_key=key)
        if call_id in self._closed_at:
            return [Ignored(call_id, "closed", f"'{event.state}' for a call that is already closed")]
        if call is None:
            return self._first_event(event, now)
        if event.state == "transferred":
            return self._transfer(event, call, now)
        target = _EVENT_TARGET[event.state]
        if target == call.state:
            return [Ignored(call_id, "duplicate", f"'{event.state}' was already received")]
        if _STATE_ORDER[target] < _STATE_ORDER[call.state]:
            return [Ignored(call_id, "replay", f"'{event.state}' arrived after the call was {call.state}")]
        if event.state == "answered":
            self._open[call_id] = replace(call, state="active", answered=True, updated_at=now)
            return [Activate(call_id)]
        return self._end(call, "hangup", now)

    def _first_event(
        self, event: CallEvent, now: datetime, fallback_key: PopKey | None = None
    ) -> list[RouterAction]:
        call_id = event.call_id
        if event.state == "ended":
            return [Ignored(call_id, "unknown_call", "'ended' for a call that never popped")]
        key = key_of(event) or fallback_key
        if key is None:
            return [Ignored(call_id, "no_identity", f"'{event.state}' without ani or customer_id cannot pop")]
        actions: list[RouterAction] = self._make_room(now)
        answered = event.state == "answered"
        self._open[call_id] = OpenCall(
            call_id=call_id,
            state="active" if answered else "ringing",
            key=key,
            source=event.source,
            started_at=now,
            updated_at=now,
            answered=answered,
            transfers=1 if event.state == "transferred" else 0,
        )
        if event.state == "transferred":
            self._last_transfer[call_id] = _transfer_signature(event, key)
        actions.append(Pop(call_id, key, event))
        if answered:
            actions.append(Activate(call_id))  # a source that reports no ringing (outbound, late start)
        return actions

    def _transfer(self, event: CallEvent, call: OpenCall, now: datetime) -> list[RouterAction]:
        if call.state == "wrap_up":
            return [Ignored(call.call_id, "replay", "'transferred' arrived after the call ended")]
        # A transfer that names a party replaces the key; one that names nobody keeps it.
        key = key_of(event) or call.key
        if event.outbound is None and call.key.outbound and (key.ani, key.customer_id) == (
                call.key.ani, call.key.customer_id):
            key = call.key  # the same outbound call, on the same customer (the event did not repeat the campaign)
        signature = _transfer_signature(event, key)
        if self._last_transfer.get(call.call_id) == signature:
            return [Ignored(call.call_id, "duplicate", "the same transfer was already received")]
        self._last_transfer[call.call_id] = signature
        self._open[call.call_id] = replace(call, key=key, transfers=call.transfers + 1, updated_at=now)
        return [UpdatePop(call.call_id, key, call.key, event)]

    def _other_agent(self, event: CallEvent, call: OpenCall | None, now: datetime) -> list[RouterAction]:
        if call is not None and call.state == "ringing" and event.state == "answered":
            return [self._close(call.call_id, "answered_elsewhere", now)]  # ring group: a colleague took it
        if call is not None and call.state != "wrap_up" and event.state == "transferred":
            return self._end(call, "transferred_away", now, to_agent=event.agent_id, to_number=event.dnis)
        return [Ignored(event.call_id, "other_agent", f"'{event.state}' for another agent")]

    def _for_another_agent(self, event: CallEvent) -> bool:
        # "ended" always applies: whoever reports it, the call is over.
        return (
            self._agent_id is not None
            and event.agent_id is not None
            and event.agent_id != self._agent_id
            and event.state != "ended"
        )

    def _end(
        self, call: OpenCall, reason: EndReason, now: datetime, to_agent: str | None = None,
        to_number: str | None = None,
    ) -> list[RouterAction]:
        remind_at = None
        if self._wrap_up_reminder_after is not None and not call.outcome_recorded:
            remind_at = now + self._wrap_up_reminder_after
        self._open[call.call_id] = replace(
            call, state="wrap_up", updated_at=now, ended_at=now, remind_at=remind_at
        )
        actions: list[RouterAction] = [Ended(call.call_id, call.answered, reason, remind_at, to_agent, to_number)]
        if call.outcome_recorded:
            actions.append(self._close(call.call_id, "outcome", now))
        return actions

    def _close(self, call_id: str, reason: CloseReason, now: datetime) -> Closed:
        del self._open[call_id]
        self._last_transfer.pop(call_id, None)
        self._closed_at[call_id] = now
        self._closed_at.move_to_end(call_id)
        while len(self._closed_at) > self._remember_closed:
            self._closed_at.popitem(last=False)
        return Closed(call_id, reason)

    def _make_room(self, now: datetime) -> list[RouterAction]:
        """Keep the number of open calls bounded (a source that never sends 'ended' must not grow us):
        evict the least recently updated call, preferring one the agent is not talking on."""
        actions: list[RouterAction] = []
        while len(self._open) >= self._max_open_calls:
            idle = [call for call in self._open.values() if call.state != "active"]
            victim = min(idle or self._open.values(), key=lambda call: call.updated_at)
            logger.warning("too many open calls (%d): closing call %s", len(self._open), victim.call_id)
            actions.append(self._close(victim.call_id, "evicted", now))
        return actions

    def _sweep(self, now: datetime) -> list[RouterAction]:
        while self._closed_at:
            call_id, closed_at = next(iter(self._closed_at.items()))
            if now - closed_at < self._forget_closed_after:
                break
            del self._closed_at[call_id]
            self._dismissed_ringing.pop(call_id, None)
        stale = [
            call.call_id
            for call in self._open.values()
            if call.state == "ringing" and now - call.updated_at >= self._stale_ringing_after
        ]
        return [self._close(call_id, "stale", now) for call_id in stale]

    def _with_front(self, actions: list[RouterAction]) -> list[RouterAction]:
        """`actions`, each followed by the Front action it causes (see desktop.calls.front)."""
        out: list[RouterAction] = []
        for action in actions:
            out.append(action)
            front: str | None = None
            if isinstance(action, Pop) and action.event.state != "answered" and action.call_id in self._open:
                front = action.call_id if self._front.opened(action.call_id, self._open) else None
            elif isinstance(action, Activate) and action.call_id in self._open:
                front = action.call_id if self._front.answered(action.call_id) else None
            elif isinstance(action, Closed):
                front = self._front.closed(action.call_id, self._open.values())
            if front is not None:
                out.append(Front(front))
        return out

    def _emit(self, actions: list[RouterAction]) -> list[RouterAction]:
        """Give `actions` to the listeners, each followed by the Front change it caused; returns `actions`
        (what the event decided; who is in front is the listeners' and `front_call_id()`'s business)."""
        self._broadcast(self._with_front(actions))
        return actions

    def _broadcast(self, actions: list[RouterAction]) -> list[RouterAction]:
        for action in actions:
            logger.debug("call router: %r", action)
            for listener in list(self._listeners):
                try:
                    listener(action)
                except Exception:
                    # One broken listener must not keep the others (e.g. the panel) from hearing about it.
                    logger.exception("call router listener %r failed on %s", listener, type(action).__name__)
        return actions


def _transfer_signature(event: CallEvent, key: PopKey) -> tuple[object, ...]:
    return (key, event.agent_id, event.dnis)
