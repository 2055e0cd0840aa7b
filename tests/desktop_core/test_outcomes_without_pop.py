"""An unknown or unreachable caller still gets an outcome that makes sense without an offer (issue 15): not
offered, callback, do-not-disturb by number; stored at once, synced exactly once, the number kept for the
server and masked everywhere a person or a script reads it. And a callback keeps its customer's name."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.domain.outcomes import InvalidOutcome, OutcomeResult
from desktop.domain.states import PopKey, PopState
from desktop.remote.api_client import AnalyticsClient
from desktop.services.callbacks import CallbackService
from desktop.services.outcomes import OutcomeService
from desktop.services.pop import PopService
from desktop.services.sync import SyncService
from server_stub.db.models import Outcome
from tests.desktop_core.conftest import new_msisdn
from tests.desktop_core.test_sync_service import past_undo_window

AGENT = "agent-007"


def server_rows(live, outcome_id: str) -> list[Outcome]:
    with Session(live.engine) as session:
        return list(session.scalars(select(Outcome).where(Outcome.outcome_id == outcome_id)))


def unreachable(live) -> AnalyticsClient:
    return AnalyticsClient("http://127.0.0.1:9", lambda: live.token, timeout=(0.5, 0.5))


def test_an_unknown_caller_gets_the_three_outcomes_synced_exactly_once(live, store, clock):
    number = new_msisdn()  # no customer has it
    pop = PopService(live.client(), store, clock).fetch(PopKey(ani=number))
    assert pop.state is PopState.UNKNOWN_CALLER and pop.caller_only
    outcomes = OutcomeService(store, clock)
    records = [
        outcomes.record(pop, offer_id=None, result="not_offered", reason="only asked about coverage", agent_id=AGENT,
                        call_id="call-u1"),
        outcomes.record(pop, offer_id=None, result="callback", callback_at=clock.now + dt.timedelta(hours=3),
                        agent_id=AGENT, call_id="call-u1"),
        outcomes.record(pop, offer_id=None, result="do_not_disturb", agent_id=AGENT, call_id="call-u1"),
    ]
    for record in records:  # durable at once, in the outbox
        assert record.decision_id is None and record.customer_id is None and record.caller_number == number
        entry = store.outcomes.entry(record.outcome_id)
        assert entry is not None and entry.status == "pending"
    payload = dict(store.outcomes.pending(10))[records[0].outcome_id]
    assert payload["caller_number"] == number and "decision_id" not in payload and "customer_id" not in payload
    past_undo_window(clock)
    sync = SyncService(store, live.client(), clock)
    assert sync.sync_once(force=True).accepted == 3
    assert sync.sync_once(force=True).sent == 0  # exactly once
    for record in records:
        [row] = server_rows(live, record.outcome_id)
        assert (row.caller_number, row.decision_id, row.customer_id) == (number, None, None)


def test_what_needs_a_pop_is_refused_for_an_unknown_caller_and_nothing_is_stored(live, store, clock):
    pop = PopService(live.client(), store, clock).fetch(PopKey(ani=new_msisdn()))
    outcomes = OutcomeService(store, clock)
    for result in ("accepted", "declined", "considering"):
        with pytest.raises(InvalidOutcome, match="without a pop"):
            outcomes.record(pop, offer_id=None, result=result, agent_id=AGENT, call_id="c")
    with pytest.raises(InvalidOutcome, match="no offer was shown"):
        outcomes.record(pop, offer_id="CARE-CHECKUP", result="not_offered", reason="x", agent_id=AGENT, call_id="c")
    with pytest.raises(InvalidOutcome, match="reason"):
        outcomes.record(pop, offer_id=None, result="not_offered", agent_id=AGENT, call_id="c")
    withheld = PopService(live.client(), store, clock).fetch(PopKey(ani="8001"))  # an extension: no number
    assert not withheld.caller_only
    with pytest.raises(InvalidOutcome):
        outcomes.record(withheld, offer_id=None, result="callback", callback_at=clock.now, agent_id=AGENT,
                        call_id="c")
    assert store.outcomes.pending(10) == []


def test_a_known_customer_whose_pop_failed_keeps_customer_and_number(live, store, clock):
    number = new_msisdn()
    customer_id = f"C-FAILED-{number[-4:]}"
    live.add_customer(customer_id, number)
    pop = PopService(unreachable(live), store, clock).fetch(PopKey(ani=number, customer_id=customer_id))
    assert pop.state in (PopState.ERROR, PopState.STALE) and pop.document is None and pop.caller_only
    record = OutcomeService(store, clock).record(pop, offer_id=None, result="callback", agent_id=AGENT,
                                                 callback_at=clock.now + dt.timedelta(hours=1), call_id="c-f")
    assert (record.customer_id, record.caller_number) == (customer_id, number)
    past_undo_window(clock)
    assert SyncService(store, live.client(), clock).sync_once(force=True).accepted == 1
    [row] = server_rows(live, record.outcome_id)
    assert (row.customer_id, row.caller_number, row.decision_id) == (customer_id, number, None)


def test_dnd_by_number_from_the_panel_stops_marketing_in_the_next_pop(live, store, clock):
    number = new_msisdn()
    pop = PopService(unreachable(live), store, clock).fetch(PopKey(ani=number))  # the server was away
    OutcomeService(store, clock).record(pop, offer_id=None, result="do_not_disturb", agent_id=AGENT, call_id="c-d")
    live.add_customer(f"C-DND-{number[-4:]}", number)  # a customer holds the number
    past_undo_window(clock)
    assert SyncService(store, live.client(), clock).sync_once(force=True).accepted == 1
    later = PopService(live.client(), store, clock).fetch(PopKey(ani=number))
    assert later.state is PopState.LIVE and later.document.contact.dnd
    assert all(offer.category == "care" for offer in later.document.pitchable_offers)


def test_a_double_press_for_an_unknown_caller_is_one_outcome(live, store, clock):
    pop = PopService(live.client(), store, clock).fetch(PopKey(ani=new_msisdn()))
    outcomes = OutcomeService(store, clock)
    first = outcomes.record(pop, offer_id=None, result="not_offered", reason="no time", agent_id=AGENT, call_id="c")
    again = outcomes.record(pop, offer_id=None, result="not_offered", reason="no time", agent_id=AGENT, call_id="c")
    other = PopService(live.client(), store, clock).fetch(PopKey(ani=new_msisdn()))
    third = outcomes.record(other, offer_id=None, result="not_offered", reason="no time", agent_id=AGENT, call_id="c")
    assert again.outcome_id == first.outcome_id and third.outcome_id != first.outcome_id
    assert len(store.outcomes.pending(10)) == 2


def test_an_unknown_callers_callback_is_queued_under_the_masked_number_only(live, store, clock):
    number = new_msisdn()
    pop = PopService(live.client(), store, clock).fetch(PopKey(ani=number))
    record = OutcomeService(store, clock).record(pop, offer_id=None, result="callback", agent_id=AGENT, call_id="c",
                                                 callback_at=clock.now + dt.timedelta(hours=2))
    [callback] = [c for c in CallbackService(store, clock).scheduled() if c.outcome_id == record.outcome_id]
    masked = f"{number[:3]}****{number[-4:]}"
    assert callback.display_name is None and callback.masked_number == masked
    assert callback.caller_number == number and callback.shown_id is None  # opened by number
    assert number not in json.dumps(callback.to_json())  # scripts get the masked number only
    # The drawer of outcomes waiting names it by the masked number, never the full one.
    [entry] = [e for e in SyncService(store, live.client(), clock).waiting() if e.outcome_id == record.outcome_id]
    assert entry.customer_name == masked and number not in entry.customer_name
    # Another outcome for the same caller later keeps (closes) the callback, as for a customer.
    clock.advance(minutes=1)
    again = PopService(live.client(), store, clock).fetch(PopKey(ani=number))
    OutcomeService(store, clock).record(again, offer_id=None, result="not_offered", reason="called back",
                                        agent_id=AGENT, call_id="c2")
    assert record.outcome_id not in {c.outcome_id for c in CallbackService(store, clock).scheduled()}


def test_a_callback_keeps_its_customers_name_after_the_pop_cache_expired(live, store, clock):
    number = new_msisdn()
    customer_id = f"C-CB-NAME-{number[-4:]}"
    live.add_customer(customer_id, number, name="李娜")
    pops = PopService(live.client(), store, clock)
    pop = pops.fetch(PopKey(ani=number))
    assert pop.state is PopState.LIVE
    record = OutcomeService(store, clock).record(pop, offer_id=None, result="callback", agent_id=AGENT, call_id="c",
                                                 callback_at=clock.now + dt.timedelta(days=1))
    store.views.purge_expired(clock.now + dt.timedelta(days=2))  # the 24 h cache is gone
    assert store.views.get([f"cust:{customer_id}"], not_before=dt.datetime.min.replace(tzinfo=dt.UTC)) is None
    [callback] = [c for c in CallbackService(store, clock).scheduled() if c.outcome_id == record.outcome_id]
    assert callback.display_name == "李娜" and callback.masked_number == f"{number[:3]}****{number[-4:]}"
    assert callback.customer_id == customer_id


def test_an_undone_callback_forgets_its_details(live, store, clock):
    pop = PopService(live.client(), store, clock).fetch(PopKey(ani=new_msisdn()))
    outcomes = OutcomeService(store, clock)
    record = outcomes.record(pop, offer_id=None, result="callback", agent_id=AGENT, call_id="c",
                             callback_at=clock.now + dt.timedelta(hours=2))
    assert outcomes.undo(record.outcome_id).value == "removed"
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM callback_details").scalar() == 0
    assert record.result is OutcomeResult.CALLBACK
