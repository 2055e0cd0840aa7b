"""CallRouter decisions (pure Python, no Qt): one pop per call, transfers update, wrap-up, bounded memory."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.calls.events import CallEvent, InvalidCallEvent
from desktop.calls.router import (
    Activate,
    CallRouter,
    Closed,
    Ended,
    Front,
    Ignored,
    Pop,
    PopKey,
    RouterAction,
    UpdatePop,
)

PHONE = "+8613912345678"
OTHER_PHONE = "+8613800000000"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def router(clock: FakeClock) -> CallRouter:
    return CallRouter(clock=clock, wrap_up_reminder_after=timedelta(minutes=2))


def ev(call_id: str, state: str, **fields: str) -> CallEvent:
    if state == "ringing" and not {"ani", "customer_id"} & fields.keys():
        fields["ani"] = PHONE
    return CallEvent(call_id=call_id, state=state, **fields)  # type: ignore[arg-type]


def kinds(actions: list[RouterAction]) -> list[str]:
    return [type(action).__name__ for action in actions]


def reasons(actions: list[RouterAction]) -> list[str]:
    return [action.reason for action in actions if isinstance(action, Ignored | Closed)]


def test_ringing_pops_with_the_best_key(router: CallRouter) -> None:
    [pop] = router.handle(ev("c1", "ringing", ani=PHONE, customer_id="CUST-1"))
    assert isinstance(pop, Pop)
    assert pop.key == PopKey(customer_id="CUST-1", ani=PHONE)
    assert [(call.call_id, call.state) for call in router.calls()] == [("c1", "ringing")]


def test_duplicates_never_pop_twice(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing"))
    assert reasons(router.handle(ev("c1", "ringing"))) == ["duplicate"]
    router.handle(ev("c1", "answered"))
    assert reasons(router.handle(ev("c1", "answered"))) == ["duplicate"]
    router.handle(ev("c1", "ended"))
    assert reasons(router.handle(ev("c1", "ended"))) == ["duplicate"]


def test_replays_of_older_states_are_ignored(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing"))
    assert kinds(router.handle(ev("c1", "answered"))) == ["Activate"]
    assert reasons(router.handle(ev("c1", "ringing"))) == ["replay"]
    router.handle(ev("c1", "ended"))
    assert reasons(router.handle(ev("c1", "ringing"))) == ["replay"]
    assert reasons(router.handle(ev("c1", "answered"))) == ["replay"]
    assert reasons(router.handle(ev("c1", "transferred", customer_id="X"))) == ["replay"]


def test_events_for_a_closed_call_are_ignored(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing"))
    router.handle(ev("c1", "ended"))
    router.outcome_recorded("c1")
    for state in ("ringing", "answered", "ended"):
        assert reasons(router.handle(ev("c1", state))) == ["closed"]
    assert router.calls() == []


def test_a_transfer_updates_the_pop_without_a_second_pop(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing", ani=PHONE))
    router.handle(ev("c1", "answered"))
    [update] = router.handle(ev("c1", "transferred", ani=OTHER_PHONE))
    assert isinstance(update, UpdatePop)
    assert update.identity_changed
    assert update.previous_key == PopKey(ani=PHONE) and update.key == PopKey(ani=OTHER_PHONE)
    assert reasons(router.handle(ev("c1", "transferred", ani=OTHER_PHONE))) == ["duplicate"]
    [second] = router.handle(ev("c1", "transferred", customer_id="CUST-3"))
    assert isinstance(second, UpdatePop) and second.key == PopKey(customer_id="CUST-3")
    call = router.call("c1")
    assert call is not None and call.state == "active" and call.transfers == 2


def test_a_transfer_naming_nobody_keeps_the_key(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing", customer_id="CUST-1"))
    [update] = router.handle(ev("c1", "transferred", agent_id="a-2"))
    assert isinstance(update, UpdatePop)
    assert not update.identity_changed and update.key == PopKey(customer_id="CUST-1")


def test_a_call_transferred_to_us_pops_once(router: CallRouter) -> None:
    actions = router.handle(ev("c9", "transferred", customer_id="CUST-9"))
    assert kinds(actions) == ["Pop"]
    assert reasons(router.handle(ev("c9", "transferred", customer_id="CUST-9"))) == ["duplicate"]
    assert reasons(router.handle(ev("c9", "ringing", customer_id="CUST-9"))) == ["duplicate"]
    assert kinds(router.handle(ev("c9", "answered"))) == ["Activate"]


def test_answered_without_ringing_pops_and_activates(router: CallRouter) -> None:
    assert kinds(router.handle(ev("c1", "answered", ani=PHONE))) == ["Pop", "Activate"]
    assert reasons(router.handle(ev("c2", "answered"))) == ["no_identity"]
    assert reasons(router.handle(ev("c3", "ended"))) == ["unknown_call"]


def test_concurrent_calls_get_one_tab_each(router: CallRouter, clock: FakeClock) -> None:
    router.handle(ev("c1", "ringing", ani=PHONE))
    clock.advance(seconds=5)
    router.handle(ev("c2", "ringing", ani=OTHER_PHONE))
    router.handle(ev("c1", "answered"))
    assert [(call.call_id, call.state) for call in router.calls()] == [("c1", "active"), ("c2", "ringing")]
    router.handle(ev("c1", "ended"))
    assert [(call.call_id, call.state) for call in router.calls()] == [("c1", "wrap_up"), ("c2", "ringing")]


def test_wrap_up_stays_until_an_outcome_is_recorded(router: CallRouter, clock: FakeClock) -> None:
    router.handle(ev("c1", "ringing"))
    router.handle(ev("c1", "answered"))
    clock.advance(minutes=3)
    [ended] = router.handle(ev("c1", "ended"))
    assert ended == Ended("c1", answered=True, reason="hangup", remind_at=clock.now + timedelta(minutes=2))
    call = router.call("c1")
    assert call is not None and call.state == "wrap_up" and call.remind_at == ended.remind_at
    clock.advance(hours=5)  # wrap-up is never swept away: the agent still owes an outcome
    assert router.sweep() == []
    assert router.outcome_recorded("c1") == [Closed("c1", "outcome")]
    assert router.calls() == []
    assert reasons(router.outcome_recorded("c1")) == ["unknown_call"]


def test_dismiss_closes_at_any_state(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing"))
    assert router.dismiss("c1") == [Closed("c1", "dismissed")]
    assert reasons(router.dismiss("c1")) == ["unknown_call"]
    assert reasons(router.handle(ev("c1", "ringing"))) == ["closed"]
    router.handle(ev("c2", "ringing"))
    router.handle(ev("c2", "answered"))
    assert router.dismiss("c2") == [Closed("c2", "dismissed")]
    assert reasons(router.handle(ev("c2", "answered"))) == ["closed"]  # closed while talking: stays closed


def test_answered_for_a_ringing_call_the_agent_closed_pops_it_again(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing", ani=PHONE))
    router.dismiss("c1")  # by mistake
    actions = router.handle(ev("c1", "answered"))  # the event names no number: the call's own is used
    assert kinds(actions) == ["Pop", "Activate"]
    assert actions[0].key == PopKey(customer_id=None, ani=PHONE)
    assert router.front_call_id() == "c1"
    assert reasons(router.handle(ev("c1", "answered"))) == ["duplicate"]


def test_answered_brings_its_call_to_the_front(router: CallRouter) -> None:
    heard: list[RouterAction] = []
    router.add_listener(heard.append)
    router.handle(ev("a", "ringing", ani=PHONE))
    router.handle(ev("b", "ringing", ani=OTHER_PHONE))
    assert router.front_call_id() == "b"  # a new ringing call shows while nobody is talking
    router.handle(ev("a", "answered"))
    assert router.front_call_id() == "a"
    assert heard[-2:] == [Activate("a"), Front("a")]
    assert [c.phase for c in router.calls()] == ["talking", "ringing"]


def test_a_new_call_does_not_take_the_front_from_the_call_being_talked_on(router: CallRouter) -> None:
    router.handle(ev("a", "answered", ani=PHONE))
    router.handle(ev("b", "ringing", ani=OTHER_PHONE))
    assert router.front_call_id() == "a"
    assert router.bring_to_front("b") == [Front("b")]  # the agent clicks b's tab
    assert router.bring_to_front("b") == []
    assert router.bring_to_front("nope") == []
    router.handle(ev("b", "ended"))
    router.dismiss("b")
    assert router.front_call_id() == "a"  # the front closed: the call being talked on takes its place
    router.handle(ev("a", "ended"))
    assert router.call("a").phase == "wrap_up"
    router.outcome_recorded("a")
    assert router.front_call_id() is None


def test_the_phase_says_when_an_outcome_is_recorded(router: CallRouter) -> None:
    router.handle(ev("a", "ringing"))
    assert router.call("a").phase == "ringing"
    router.handle(ev("a", "answered"))
    router.outcome_recorded("a")
    assert router.call("a").phase == "recorded"


def test_an_outcome_during_the_call_closes_it_when_it_ends(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing"))
    router.handle(ev("c1", "answered"))
    assert router.outcome_recorded("c1") == []
    call = router.call("c1")
    assert call is not None and call.outcome_recorded and call.state == "active"
    assert router.handle(ev("c1", "ended")) == [
        Ended("c1", answered=True, reason="hangup", remind_at=None),
        Closed("c1", "outcome"),
    ]


def test_a_missed_call_goes_to_wrap_up_unanswered(router: CallRouter) -> None:
    router.handle(ev("c1", "ringing"))
    [ended] = router.handle(ev("c1", "ended"))
    assert isinstance(ended, Ended) and not ended.answered


def test_no_reminder_when_disabled(clock: FakeClock) -> None:
    router = CallRouter(clock=clock, wrap_up_reminder_after=None)
    router.handle(ev("c1", "ringing"))
    [ended] = router.handle(ev("c1", "ended"))
    assert isinstance(ended, Ended) and ended.remind_at is None


def test_events_for_other_agents(clock: FakeClock) -> None:
    router = CallRouter(clock=clock, agent_id="me")
    assert reasons(router.handle(ev("c1", "ringing", agent_id="you"))) == ["other_agent"]
    # Ring group: it rang here, a colleague answered.
    router.handle(ev("c2", "ringing", agent_id="me"))
    assert router.handle(ev("c2", "answered", agent_id="you")) == [Closed("c2", "answered_elsewhere")]
    # Talking here, then transferred to a colleague: the call is over for us (wrap-up).
    router.handle(ev("c3", "ringing"))
    router.handle(ev("c3", "answered", agent_id="me"))
    [ended] = router.handle(ev("c3", "transferred", agent_id="you", customer_id="CUST-3"))
    assert isinstance(ended, Ended) and ended.reason == "transferred_away" and ended.to_agent == "you"
    # "ended" counts whoever reports it.
    router.handle(ev("c4", "ringing"))
    assert kinds(router.handle(ev("c4", "ended", agent_id="you"))) == ["Ended"]


def test_closed_ids_are_remembered_for_a_bounded_count(clock: FakeClock) -> None:
    router = CallRouter(clock=clock, remember_closed=3)
    for number in range(5):
        router.handle(ev(f"c{number}", "ringing"))
        router.dismiss(f"c{number}")
    assert reasons(router.handle(ev("c4", "ringing"))) == ["closed"]
    assert reasons(router.handle(ev("c2", "ringing"))) == ["closed"]
    assert kinds(router.handle(ev("c0", "ringing"))) == ["Pop"]  # forgotten: beyond the last 3


def test_closed_ids_are_forgotten_after_a_while(clock: FakeClock) -> None:
    router = CallRouter(clock=clock, forget_closed_after=timedelta(minutes=30))
    router.handle(ev("c1", "ringing"))
    router.dismiss("c1")
    clock.advance(minutes=29)
    assert reasons(router.handle(ev("c1", "ringing"))) == ["closed"]
    clock.advance(minutes=2)
    assert kinds(router.handle(ev("c1", "ringing"))) == ["Pop"]


def test_open_calls_are_bounded_and_active_calls_are_kept(clock: FakeClock) -> None:
    router = CallRouter(clock=clock, max_open_calls=3)
    router.handle(ev("talking", "ringing"))
    router.handle(ev("talking", "answered"))
    for number in range(3):
        clock.advance(seconds=1)
        router.handle(ev(f"ring{number}", "ringing"))
    assert {call.call_id for call in router.calls()} == {"talking", "ring1", "ring2"}
    clock.advance(seconds=1)
    actions = router.handle(ev("ring3", "ringing"))
    assert actions[0] == Closed("ring1", "evicted") and isinstance(actions[1], Pop)


def test_a_ringing_call_that_goes_silent_is_closed_as_stale(clock: FakeClock) -> None:
    router = CallRouter(clock=clock, stale_ringing_after=timedelta(minutes=30))
    router.handle(ev("c1", "ringing"))
    router.handle(ev("c2", "ringing"))
    router.handle(ev("c2", "answered"))
    clock.advance(minutes=31)
    assert router.sweep() == [Closed("c1", "stale")]
    assert [call.call_id for call in router.calls()] == ["c2"]


def test_listeners_hear_every_action_and_one_failure_does_not_silence_the_others(
    router: CallRouter, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[RouterAction] = []

    def broken(action: RouterAction) -> None:
        raise RuntimeError("listener bug")

    router.add_listener(broken)
    remove = router.add_listener(heard.append)
    with caplog.at_level(logging.ERROR, logger="desktop.calls.router"):
        router.handle(ev("c1", "ringing"))
        router.handle(ev("c1", "answered"))
    assert kinds(heard) == ["Pop", "Front", "Activate"]
    assert "listener" in caplog.text
    remove()
    router.handle(ev("c1", "ended"))
    assert kinds(heard) == ["Pop", "Front", "Activate"]


def test_bad_data_is_logged_without_the_number_and_raised(
    router: CallRouter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="desktop.calls.router"), pytest.raises(InvalidCallEvent):
        router.handle_data({"call_id": "c1", "state": "rining", "ani": PHONE}, source="cli")
    assert "rejected a call event from cli" in caplog.text and "'state'" in caplog.text
    assert PHONE not in caplog.text
    assert kinds(router.handle_data({"call_id": "c1", "state": "ringing", "ani": PHONE}, source="cli")) == [
        "Pop"
    ]
    assert router.calls()[0].source == "cli"


def test_action_reprs_hide_the_number(router: CallRouter, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="desktop.calls.router"):
        router.handle(ev("c1", "ringing", ani=PHONE))
        router.handle(ev("c1", "transferred", ani=OTHER_PHONE))
    assert "c1" in caplog.text
    assert PHONE not in caplog.text and OTHER_PHONE not in caplog.text


# --- whatever order events arrive in, a call pops at most once ------------------------------------------

_random_events = st.lists(
    st.builds(
        CallEvent,
        call_id=st.sampled_from(["a", "b", "c"]),
        state=st.sampled_from(["ringing", "answered", "transferred", "ended"]),
        ani=st.sampled_from([None, PHONE, OTHER_PHONE]),
        customer_id=st.sampled_from([None, "CUST-1", "CUST-2"]),
        agent_id=st.sampled_from([None, "me", "you"]),
    )
    | st.sampled_from(["outcome", "dismiss", "tick"]).flatmap(
        lambda op: st.tuples(st.just(op), st.sampled_from(["a", "b", "c"]))
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, database=None)
@given(steps=_random_events)
def test_random_event_sequences_never_pop_a_call_twice(steps: list[object]) -> None:
    clock = FakeClock()
    router = CallRouter(clock=clock, agent_id="me", max_open_calls=2)
    pops: Counter[str] = Counter()
    allowed: Counter[str] = Counter()  # a ringing call the agent closed may pop again when it is answered
    for step in steps:
        clock.advance(seconds=7)
        if isinstance(step, CallEvent):
            actions = router.handle(step)
        else:
            op, call_id = step  # type: ignore[misc]
            closing = router.call(call_id)
            if op == "dismiss" and closing is not None and closing.state == "ringing":
                allowed[call_id] += 1
            actions = {
                "outcome": router.outcome_recorded,
                "dismiss": router.dismiss,
                "tick": lambda _: router.sweep(),
            }[op](call_id)
        pops.update(action.call_id for action in actions if isinstance(action, Pop))
        assert len(router.calls()) <= 2
        open_ids = {call.call_id for call in router.calls()}
        assert (router.front_call_id() in open_ids) if open_ids else router.front_call_id() is None
        for action in actions:
            if isinstance(action, Activate | Ended | UpdatePop):
                assert router.call(action.call_id) is not None or isinstance(action, Ended)
    # Nothing is forgotten within this short run (< 500 ids, < 30 minutes), so no call pops twice.
    assert all(count <= 1 + allowed[call_id] for call_id, count in pops.items()), (pops, allowed)
