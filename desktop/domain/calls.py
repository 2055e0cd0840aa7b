"""Per-call view state: for each open call, its pop (what is on screen, which request may still replace
it), the choice among customers sharing a number, its transfer, its outcomes — and the outcomes recorded
lately, which an undo names.

The PanelController presents this model (tabs, notices, signals) and asks the services for the work; the
decisions — which answer may replace what is shown, when a call's pop is news for hosts, who the agent may
choose, which outcome an undo takes back — are made here. Pure Python: no Qt, no I/O, no clock of its own.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from desktop.domain.events import OutcomeRecorded, OutcomeRetracted, PopAmbiguous, PopShown
from desktop.domain.pop import PopDocument
from desktop.domain.states import PopKey, PopResult, PopState, mask_number, normalize_ani

# How fresh a result must be to replace what is on screen: a live answer is never replaced by the cached
# copy that happened to arrive later.
PRIORITY = {PopState.LOADING: 0, PopState.STALE: 1, PopState.ERROR: 1, PopState.UNKNOWN_CALLER: 2,
            PopState.AMBIGUOUS: 2, PopState.LIVE: 2}

# Outcomes remembered for an undo after their call closed (an outcome in wrap-up closes its call at once).
RECENT_OUTCOMES = 50


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer applied to a call, for its marker: `to_agent` (the call went to a colleague: it left this
    agent) or, for a call transferred to this agent, `from_agent` (who passed it on, if the call source said)
    and `via` (the queue or number it came through, if said). `previous`/`now`: who the call was and is with
    when the transfer changed the customer (else `now` is None)."""

    to_agent: str | None = None
    from_agent: str | None = None
    via: str | None = None
    previous: str = ""
    now: str | None = None


@dataclass
class CallView:
    """One open call as the panel shows it."""

    key: PopKey
    generation: int  # the request whose answers may still replace `shown`
    shown: PopResult
    pop_id: int | None = None  # the pop log row of the settled pop (outcomes link to it)
    announced: bool = False  # hosts heard of a pop of this call (a later one is an update)
    # A shared number: the customers who share it (from the server's ambiguous_caller answer) and the one
    # the agent chose (None until then: no outcome can be recorded for the call).
    candidates: tuple = ()
    chosen: str | None = None
    retrying: bool = False  # a fetch_again is on its way (the retry key or the server coming back)
    transfer: Transfer | None = None
    outcomes: list[OutcomeRecorded] = field(default_factory=list)

    @property
    def who(self) -> str:
        """The customer's name on screen (else the masked number): for the agent's eyes, never logged."""
        if self.shown.document is not None:
            return self.shown.document.customer.display_name
        return self.key.masked() or self.key.customer_id or ""

    @property
    def name(self) -> str:
        """The customer's name on screen, '' while there is none."""
        return self.shown.document.customer.display_name if self.shown.document is not None else ""

    @property
    def can_record(self) -> bool:
        """A customer is on screen and confirmed, or no customer record but the caller's number (an unknown
        or unreachable caller: the number-based outcomes only): an outcome may be recorded for the call."""
        if self.shown.state is PopState.AMBIGUOUS:
            return False
        return self.shown.document is not None or self.shown.caller_only


@dataclass(frozen=True, slots=True)
class Settled:
    """An answer that replaced what a call showed: `shown` to display, `event` for hosts (None while it
    is still loading), `log`: the pop settled (it goes to the pop log)."""

    shown: PopResult
    event: PopShown | PopAmbiguous | None

    @property
    def log(self) -> bool:
        return self.event is not None


def another_party(before: PopKey, after: PopKey) -> bool:
    """A transfer names a different customer (an id or a number that differs from the one before)."""
    return any(old is not None and new is not None and old != new
               for old, new in ((before.customer_id, after.customer_id), (before.ani, after.ani)))


def _shown(party: str | None) -> str | None:
    """An agent, queue or number as a marker shows it: a phone number masked (138****8000); short
    extensions, queue names and agent ids as they are."""
    if party is None:
        return None
    digits = normalize_ani(party)
    if digits is not None and len(digits) >= 8 and set(party) <= set("+0123456789 -()."):
        return mask_number(digits)
    return party


class CallViews:
    """The open calls' view state, by call id. Use from one thread (the GUI thread)."""

    def __init__(self) -> None:
        self._calls: dict[str, CallView] = {}
        self._generation = 0
        self._recent: OrderedDict[str, OutcomeRecorded] = OrderedDict()  # outcome id -> its event

    # ------------------------------------------------------------------ queries

    def get(self, call_id: str) -> CallView | None:
        return self._calls.get(call_id)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._calls))

    def items(self) -> list[tuple[str, CallView]]:
        return list(self._calls.items())

    def names(self) -> dict[str, str]:
        """customer id -> name, of the customers on screen."""
        return {call.shown.document.customer.customer_id: call.name
                for call in self._calls.values() if call.shown.document is not None}

    # ------------------------------------------------------------------ pops

    def start(self, call_id: str, key: PopKey, *, chosen: str | None = None,
              instant: Callable[[PopKey], PopResult | None] = lambda _key: None) -> CallView:
        """A (new) lookup for the call: what to show at once (`instant(key)`, a copy in memory, else
        LOADING). The agent's choice on a shared number holds while the same number calls again (a transfer,
        a refresh); the pop is then by customer id, and the call keeps its number."""
        self._generation += 1
        previous = self._calls.get(call_id)
        candidates = previous.candidates if previous is not None else ()
        if chosen is None and previous is not None and previous.chosen is not None \
                and key.customer_id is None and key.ani == previous.key.ani:
            chosen = previous.chosen
        if chosen is not None:
            key = PopKey(ani=key.ani, customer_id=chosen)
        elif previous is None or key.ani != previous.key.ani:
            candidates = ()
        shown = instant(key) or PopResult(PopState.LOADING, key)
        if chosen is not None:
            shown = replace(shown, candidates=candidates)
        call = CallView(key, self._generation, shown, announced=previous is not None and previous.announced,
                        candidates=candidates, chosen=chosen,
                        transfer=previous.transfer if previous is not None else None,
                        outcomes=previous.outcomes if previous is not None else [])
        self._calls[call_id] = call
        return call

    def settle(self, call_id: str, generation: int, result: PopResult | None) -> Settled | None:
        """An answer for the call's lookup `generation`: what to show, or None when it is too late (another
        lookup since, the call closed) or not better than what is on screen."""
        call = self._calls.get(call_id)
        if result is None or call is None or call.generation != generation:
            return None
        if PRIORITY[result.state] < PRIORITY[call.shown.state]:
            return None
        if result.state in (PopState.STALE, PopState.ERROR) and result.document is None \
                and call.shown.document is not None:
            # The fetch failed but a cached copy is on screen: keep it, say it is stale.
            result = replace(call.shown, state=PopState.STALE, error=result.error)
        if result.state is PopState.AMBIGUOUS:
            call.candidates = result.candidates
        elif call.chosen is not None:
            # The chosen customer's view remembers who else shares the number (the agent may choose again).
            result = replace(result, candidates=call.candidates)
        call.shown = result
        if result.state is PopState.LOADING:
            return Settled(result, None)
        update, call.announced = call.announced, True
        if result.state is PopState.AMBIGUOUS:
            return Settled(result, PopAmbiguous.of(call_id, result, update=update))
        return Settled(result, PopShown.of(call_id, result, update=update, chosen=call.chosen is not None))

    def logged(self, call_id: str, generation: int, pop_id: int | None) -> None:
        """The settled pop of lookup `generation` has its pop log row."""
        call = self._calls.get(call_id)
        if call is not None and call.generation == generation:
            call.pop_id = pop_id

    def begin_retry(self, call_id: str) -> CallView | None:
        """Ask again for a pop the server could not answer: the call, or None when it needs no retry or
        one is on its way."""
        call = self._calls.get(call_id)
        if call is None or call.retrying or not call.shown.can_retry:
            return None
        call.retrying = True
        return call

    def end_retry(self, call_id: str, call: CallView) -> None:
        if self._calls.get(call_id) is call:
            call.retrying = False

    # ------------------------------------------------------------------ shared numbers

    def may_choose(self, call_id: str, customer_id: str) -> bool:
        """Only one of the customers the server named may be chosen, while the call asks."""
        call = self._calls.get(call_id)
        return call is not None and call.shown.state is PopState.AMBIGUOUS \
            and customer_id in {candidate.customer_id for candidate in call.candidates}

    def choose_again(self, call_id: str) -> PopAmbiguous | None:
        """Back to the list of customers sharing the number (no new request); what is still being fetched
        for the previous choice is not shown. None when the call has no choice to undo."""
        call = self._calls.get(call_id)
        if call is None or call.chosen is None or not call.candidates:
            return None
        self._generation += 1
        call.generation, call.chosen, call.pop_id = self._generation, None, None
        call.key = PopKey(ani=call.key.ani)
        call.shown = PopResult(PopState.AMBIGUOUS, call.key, candidates=call.candidates)
        return PopAmbiguous.of(call_id, call.shown, update=True)

    # ------------------------------------------------------------------ inbound or outbound

    def ask_channel(self, call_id: str, generation: int, campaigns) -> PopResult | None:
        """The campaigns the agent may call this customer for arrived (lookup `generation`): the call asks
        whether it is an outbound call (nothing is fetched, nothing may be recorded until the answer). None
        when too late (another lookup since, the call closed) or there is nothing to ask."""
        call = self._calls.get(call_id)
        if call is None or call.generation != generation or call.shown.state is not PopState.LOADING \
                or not campaigns:
            return None
        call.shown = replace(call.shown, channels=tuple(campaigns))
        return call.shown

    def may_choose_channel(self, call_id: str, campaign_id: str) -> bool:
        """While the call asks: "" (inbound or a lookup) or one of the campaigns it offered."""
        call = self._calls.get(call_id)
        return call is not None and bool(call.shown.channels) and (
            campaign_id == "" or campaign_id in {c.campaign_id for c in call.shown.channels})

    # ------------------------------------------------------------------ transfers

    def transferred(self, call_id: str, before: PopKey, after: PopKey, *, to_agent: str | None = None,
                    from_agent: str | None = None, via: str | None = None) -> Transfer | None:
        """A transfer was applied to the call: its marker (who passed it on / where it went, and whether
        the customer changed). None for a call not open here."""
        call = self._calls.get(call_id)
        if call is None:
            return None
        changed = another_party(before, after)
        call.transfer = Transfer(to_agent=_shown(to_agent), from_agent=_shown(from_agent), via=_shown(via),
                                 previous=call.who if changed else "",
                                 now=(after.masked() or after.customer_id or "") if changed else None)
        return call.transfer

    # ------------------------------------------------------------------ outcomes

    def recorded(self, call_id: str, record, guided: PopDocument | None) -> OutcomeRecorded:
        """An outcome of the call is committed (an OutcomeRecord); `guided`: the pop it answered with the
        outcome applied (local guidance: what was just refused is not pitched again), shown if that pop is
        still the one on screen. Returns its event."""
        event = OutcomeRecorded.of(record, call_id)
        call = self._calls.get(call_id)
        if call is not None:
            call.outcomes.append(event)
            document = call.shown.document
            if guided is not None and document is not None and document.decision_id == guided.decision_id:
                call.shown = replace(call.shown, document=guided)
        self._recent[event.outcome_id] = event
        self._recent.move_to_end(event.outcome_id)
        while len(self._recent) > RECENT_OUTCOMES:
            self._recent.popitem(last=False)
        return event

    def retracted(self, outcome_id: str, delivery: str, at: dt.datetime) -> OutcomeRetracted | None:
        """The outcome was undone ('removed' or 'retracting'); its event, None for an outcome not recorded
        here lately (nothing to tell)."""
        recorded = self._recent.pop(outcome_id, None)
        if recorded is None:
            return None
        if recorded.call_id is not None and (call := self._calls.get(recorded.call_id)) is not None:
            call.outcomes = [o for o in call.outcomes if o.outcome_id != outcome_id]
        return OutcomeRetracted.of(recorded, delivery, at)

    # ------------------------------------------------------------------ closing

    def closed(self, call_id: str) -> CallView | None:
        return self._calls.pop(call_id, None)


__all__ = ["PRIORITY", "CallView", "CallViews", "Settled", "Transfer", "another_party"]
