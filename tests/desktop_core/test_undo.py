"""Undo of an outcome (issue 15): held back while it may still be undone, removed if never sent, retracted
on the server once if it was; local statistics forget it either way. Against the real server."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from desktop.domain.outcomes import UNDO_WINDOW, OutboxStatus, UndoResult
from desktop.domain.states import PopKey
from desktop.remote.api_client import AnalyticsClient
from desktop.services.outcomes import OutcomeService
from desktop.services.pop import PopService
from desktop.services.sync import SyncService
from server_stub.db.models import Outcome
from tests.desktop_core.conftest import AGENT
from tests.desktop_core.fault_server import Forward, fault_server

RETRACT = "/v1/outcomes/{}/retraction"


def _pop(live, store, clock, customer_id: str):
    return PopService(live.client(), store, clock).fetch(PopKey(ani=live.add_customer(customer_id)))


def _record(store, clock, pop, result: str = "declined", **extra):
    offer = pop.document.pitchable_offers[0].offer_id if result in ("accepted", "declined") else None
    return OutcomeService(store, clock).record(
        pop, offer_id=offer, result=result, agent_id=AGENT, call_id=extra.pop("call_id", "call-1"), **extra
    )


def _counters(store) -> dict:
    """Every counter of migration 0005, as the statistics read them."""
    with store.engine.connect() as conn:
        slots = conn.execute(
            text(
                "SELECT width, slot, accepted, declined, considering, callback, not_offered,"
                " do_not_disturb FROM stats_slots ORDER BY 1, 2"
            )
        ).all()
        blocks = conn.execute(
            text(
                "SELECT level, block, kind, k1, k2, result, n, us FROM stats_blocks"
                " WHERE n != 0 OR us != 0 ORDER BY 1, 2, 3, 4, 5, 6"
            )
        ).all()
        slots = [s for s in slots if any(s[2:])]
    return {"slots": slots, "blocks": blocks}


def _retracted_on_server(live, outcome_id: str) -> bool:
    with Session(live.engine) as session:
        return (
            session.scalar(select(Outcome.retracted_at).where(Outcome.outcome_id == outcome_id)) is not None
        )


def test_sync_holds_an_outcome_for_the_undo_window(live, store, clock):
    pop = _pop(live, store, clock, "C-UNDO-HOLD")
    record = _record(store, clock, pop)
    sync = SyncService(store, live.client(), clock)
    assert sync.sync_once(force=True).sent == 0  # the agent may still undo it: nothing leaves
    clock.advance(seconds=UNDO_WINDOW.total_seconds() - 0.5)
    assert sync.sync_once(force=True).sent == 0
    clock.advance(seconds=0.5)
    assert sync.sync_once(force=True).accepted == 1
    assert record.outcome_id in live.stored_outcome_ids()


def test_sync_says_when_the_first_held_outcome_may_go(live, store, clock):
    """The runtime schedules one run at the end of the window from this (no polling meanwhile)."""
    pop = _pop(live, store, clock, "C-UNDO-WHEN")
    sync = SyncService(store, live.client(), clock)
    assert sync.sync_once(force=True).held_until is None  # nothing held
    first = _record(store, clock, pop)
    clock.advance(seconds=2)
    _record(store, clock, pop, result="not_offered", reason="no time")
    report = sync.sync_once(force=True)
    assert report.sent == 0 and report.held_until == first.recorded_at + UNDO_WINDOW
    clock.advance(seconds=UNDO_WINDOW.total_seconds() - 2)
    report = sync.sync_once(force=True)
    assert report.accepted == 1 and report.held_until == first.recorded_at + dt.timedelta(seconds=2) + UNDO_WINDOW
    clock.advance(seconds=2)
    report = sync.sync_once(force=True)
    assert report.accepted == 1 and report.held_until is None
    assert SyncService(store, live.client(), clock, hold=dt.timedelta(0)).sync_once(force=True).held_until is None


def test_undo_within_the_window_removes_it_before_it_is_sent(live, store, clock):
    pop = _pop(live, store, clock, "C-UNDO-NOW")
    before = _counters(store)
    record = _record(store, clock, pop)
    assert _counters(store) != before
    clock.advance(seconds=UNDO_WINDOW.total_seconds() - 1)
    assert OutcomeService(store, clock).undo(record.outcome_id) is UndoResult.REMOVED
    assert store.outcomes.entry(record.outcome_id) is None
    assert store.outcomes.local_contacts("C-UNDO-NOW", clock.now - dt.timedelta(days=1)) == []
    assert _counters(store) == before  # statistics as if it was never recorded
    clock.advance(seconds=60)
    sync = SyncService(store, live.client(), clock)
    assert sync.sync_once(force=True).sent == 0
    assert record.outcome_id not in live.stored_outcome_ids()
    assert OutcomeService(store, clock).undo(record.outcome_id) is UndoResult.NOT_FOUND
    # The same press again is a new outcome, not a repeat of the undone one.
    again = _record(store, clock, pop)
    assert again.outcome_id != record.outcome_id


def test_undo_after_delivery_is_retracted_on_the_server_exactly_once(live, store, clock):
    pop = _pop(live, store, clock, "C-UNDO-LATE")
    before = _counters(store)
    record = _record(store, clock, pop)
    clock.advance(seconds=UNDO_WINDOW.total_seconds())
    with fault_server(Forward(live.base_url)) as proxy:
        sync = SyncService(store, AnalyticsClient(proxy.base_url, lambda: live.token), clock)
        assert sync.sync_once(force=True).accepted == 1
        assert _counters(store) != before
        assert OutcomeService(store, clock).undo(record.outcome_id) is UndoResult.RETRACTING
        assert OutcomeService(store, clock).undo(record.outcome_id) is UndoResult.ALREADY
        assert (
            _counters(store) == before
            and store.outcomes.local_contacts("C-UNDO-LATE", clock.now - dt.timedelta(days=1)) == []
        )
        assert sync.state().pending == 1 and sync.due()
        report = sync.sync_once(force=True)
        assert report.retracted == 1 and report.error is None
        assert _retracted_on_server(live, record.outcome_id)
        assert sync.state().pending == 0 and not sync.due()
        assert sync.sync_once(force=True).retracted == 0
        assert proxy.requests_seen.count(("POST", RETRACT.format(record.outcome_id))) == 1
    # Pressing the same outcome again is a new outcome, not a repeat of the retracted one.
    assert _record(store, clock, pop).outcome_id != record.outcome_id


def test_a_retraction_waits_for_its_outcome_and_survives_the_server_being_away(live, store, clock):
    pop = _pop(live, store, clock, "C-UNDO-QUEUE")
    record = _record(store, clock, pop)
    clock.advance(seconds=UNDO_WINDOW.total_seconds() + 1)
    # Past the window but not yet sent (offline): undo queues a retraction behind the outcome.
    assert OutcomeService(store, clock).undo(record.outcome_id) is UndoResult.RETRACTING
    assert store.outcomes.pending_retractions() == []  # the server must have the outcome first
    away = SyncService(
        store, AnalyticsClient("http://127.0.0.1:9", lambda: live.token, timeout=(0.5, 0.5)), clock
    )
    assert away.sync_once(force=True).error.code == "server_unreachable"
    sync = SyncService(store, live.client(), clock)
    report = sync.sync_once(force=True)
    assert (report.accepted, report.retracted) == (1, 1)
    assert _retracted_on_server(live, record.outcome_id)
    assert store.outcomes.entry(record.outcome_id).status is OutboxStatus.DELIVERED


def test_undoing_the_outcome_that_kept_a_callback_reopens_it(live, store, clock):
    pop = _pop(live, store, clock, "C-UNDO-CB")
    _record(store, clock, pop, result="callback", callback_at=clock.now + dt.timedelta(hours=1), call_id="a")
    clock.advance(minutes=30)
    later = _record(store, clock, pop, call_id="b")

    def kept() -> int:
        with store.engine.connect() as conn:
            return conn.execute(text("SELECT cb_kept FROM local_contacts WHERE result = 'callback'")).scalar()

    assert kept() == 1
    assert OutcomeService(store, clock).undo(later.outcome_id) is UndoResult.REMOVED
    assert kept() == 0


def test_the_sync_service_schedules_its_own_runs_for_outcomes_and_retractions(live, store, clock):
    """What follows an outcome is chained in the services: the save asks the sync service for a run when
    its undo hold ends (earliest first, never a later one over an earlier), an undo after the hold for a run
    at once, and a run that finds outcomes still held asks for a run when the first may go."""
    wakes: list[dt.datetime] = []
    sync = SyncService(store, live.client(), clock, wake_at=wakes.append)
    outcomes = OutcomeService(store, clock, sync=sync)
    pop = _pop(live, store, clock, "C-UNDO-CHAIN")
    first = outcomes.record_and_follow(pop, offer_id=pop.document.pitchable_offers[0].offer_id, result="declined",
                                       agent_id=AGENT, call_id="call-1")
    assert wakes == [first.record.recorded_at + UNDO_WINDOW]
    assert sync.state().pending == 1
    clock.advance(seconds=2)
    second = outcomes.record_and_follow(pop, offer_id=None, result="not_offered", reason="no time",
                                        agent_id=AGENT, call_id="c-2")
    assert wakes == [first.record.recorded_at + UNDO_WINDOW]  # the run already asked for comes first
    clock.advance(seconds=UNDO_WINDOW.total_seconds() - 2)
    report = sync.sync_once(force=True)  # the scheduled run: the first goes, the second is still held
    assert report.accepted == 1
    assert wakes[-1] == second.record.recorded_at + UNDO_WINDOW == report.held_until
    clock.advance(seconds=60)
    assert sync.sync_once(force=True).accepted == 1
    undone = outcomes.undo_and_follow(first.record.outcome_id)  # sent already: a retraction, sent now
    assert undone.result is UndoResult.RETRACTING and wakes[-1] == clock.now
    assert sync.state().pending == 1  # the retraction
    wakes.clear()
    held = outcomes.record_and_follow(pop, result="considering", agent_id=AGENT, call_id="c-3",
                                      offer_id=pop.document.pitchable_offers[0].offer_id)
    assert wakes == [held.record.recorded_at + UNDO_WINDOW]
    assert outcomes.undo_and_follow(held.record.outcome_id).result is UndoResult.REMOVED
    assert wakes == [held.record.recorded_at + UNDO_WINDOW]  # nothing left to send: no run asked for
