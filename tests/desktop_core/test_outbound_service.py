"""Outbound campaign work on the desktop (issue 16): the API client's worklist methods and the Qt-free outbound
service against the real server process on loopback: preview, lease renewal, skip, call results stored first
and sent exactly once (also after the server was down), the offer outcome of a connected call with channel
outbound_call through the outbox, the next customer prepared during wrap-up, inbound priority."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.domain.errors import MalformedResponse
from desktop.domain.outbound import CallAttempt, CallResult, Empty, Previewed, parse_worklist_next
from desktop.remote.api_client import AnalyticsClient, BadResponse, LeaseEnded
from desktop.services.outbound import OutboundService, OutboundStateError, Phase
from desktop.services.outcomes import OutcomeService
from desktop.services.sync import SyncService
from server_stub.db.models import OutboundAttempt, OutboundProgress, Outcome
from server_stub.live import free_port, live_server
from tests.desktop_core.conftest import Live, new_msisdn, prepare_server_database
from tests.server import factories

RETRY = {"no_answer": 120, "busy": 30, "voicemail": 240, "refused_call": None}
# campaign -> its members (customer id, priority); every test works its own campaign with its own agent.
CAMPAIGNS = {
    "CMP-LOOP": [("OB-LOOP-1", 5), ("OB-LOOP-2", 1)],
    "CMP-DOWN": [("OB-DOWN-1", 0)],
    "CMP-RETRY": [("OB-RETRY-1", 0)],
    "CMP-SKIP": [("OB-SKIP-1", 0)],
    "CMP-LEASE": [("OB-LEASE-1", 0)],
    "CMP-PAUSE": [("OB-PAUSE-1", 0)],
    "CMP-CLIENT": [("OB-CLIENT-1", 0)],
    "CMP-ENDED": [("OB-ENDED-1", 0)],
    "CMP-WRAP": [("OB-WRAP-1", 0)],
    "CMP-NEXT": [("OB-NEXT-1", 0)],
}


@pytest.fixture(scope="module")
def outbound_live(tmp_path_factory) -> Iterator[Live]:
    """A real server whose outbound campaigns exist before it starts (its catalog cache then knows them)."""
    base = tmp_path_factory.mktemp("outbound")
    url, engine, token = prepare_server_database(base / "server.sqlite3")
    with Session(engine) as session:
        for campaign_id, members in CAMPAIGNS.items():
            offers = ("RET-DISCOUNT-20",) if campaign_id == "CMP-LOOP" else ("CARE-CHECKUP",)
            factories.add_outbound_campaign(session, campaign_id, offers=offers, max_attempts=3, retry=RETRY)
            for customer_id, priority in members:
                factories.add_customer(session, customer_id, new_msisdn(), campaign=False)
                factories.add_member(session, customer_id, campaign_id, priority=priority,
                                     reason="合约到期前挽留")
    with live_server(url, base / "logs") as server:
        yield Live(server, engine, token)
    engine.dispose()


def agent_client(live: Live, agent_id: str) -> AnalyticsClient:
    return live.client(live.new_token(agent_id))


def service(live: Live, store, campaign_id: str, agent_id: str) -> OutboundService:
    return OutboundService(store, agent_client(live, agent_id), campaign_id=campaign_id)


def server_attempts(live: Live, campaign_id: str) -> list[OutboundAttempt]:
    with Session(live.engine) as session:
        return list(session.scalars(select(OutboundAttempt).where(OutboundAttempt.campaign_id == campaign_id)))


def progress(live: Live, campaign_id: str, customer_id: str) -> OutboundProgress:
    with Session(live.engine) as session:
        return session.get(OutboundProgress, (campaign_id, 2, customer_id))


# ------------------------------------------------------------------ the client


def test_client_previews_renews_and_releases_a_lease(outbound_live):
    client = agent_client(outbound_live, "ob-client")
    first = client.worklist_next("CMP-CLIENT", 120)
    assert isinstance(first, Previewed)
    assert (first.customer_id, first.campaign_id, first.attempt) == ("OB-CLIENT-1", "CMP-CLIENT", 1)
    assert (first.wave.seq, first.wave.of, first.wave.channel) == (2, 2, "outbound_call")
    assert first.wave.retry_after_minutes["no_answer"] == 120 and first.wave.max_attempts == 3
    assert first.why.member_reason == "合约到期前挽留" and first.campaign_name.zh == "客户挽留外呼"
    assert first.pop.contact.channel == "outbound_call" and first.pop.customer.customer_id == "OB-CLIENT-1"
    assert first.lease.call_id == f"outbound:{first.lease.lease_id}" and first.number
    again = client.worklist_next("CMP-CLIENT", 120)  # asked again (a lost answer): the same customer
    assert isinstance(again, Previewed) and again.lease.lease_id == first.lease.lease_id and again.lease.resumed
    renewed = client.renew_lease(first.lease.lease_id, 600)
    assert renewed.expires_at > first.lease.expires_at + dt.timedelta(seconds=300)
    released = client.release_lease(first.lease.lease_id, "Customer asked to be called later", 60)
    assert released.end_reason == "released" and released.next_attempt_at is not None
    with pytest.raises(LeaseEnded) as ended:
        client.renew_lease(first.lease.lease_id)
    assert ended.value.user_error.code == "lease_ended"
    # Released for an hour: nobody else of this campaign is due.
    nobody = client.worklist_next("CMP-CLIENT")
    assert isinstance(nobody, Empty) and nobody.code == "worklist_done" and nobody.message.zh


def test_a_malformed_worklist_answer_is_named():
    with pytest.raises(MalformedResponse, match="status"):
        parse_worklist_next({"status": "maybe"})
    with pytest.raises(MalformedResponse, match="lease"):
        parse_worklist_next({"status": "leased", "pop": None})
    with pytest.raises(MalformedResponse, match=r"^pop: "):
        parse_worklist_next({"status": "leased", "pop": None, "lease": {
            "lease_id": "l", "call_id": "c", "taken_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-01T00:05:00Z", "resumed": False}})


# ------------------------------------------------------------------ the service


def test_the_whole_loop_connected_call_result_and_outcome_reach_the_server_once(outbound_live, store):
    outbound = service(outbound_live, store, "CMP-LOOP", "ob-loop")
    state = outbound.take_next()
    assert state.phase is Phase.PREVIEW and state.previewed.customer_id == "OB-LOOP-1"  # priority 5 first
    assert outbound.take_next().previewed is state.previewed  # the customer on screen stays
    with pytest.raises(OutboundStateError):
        outbound.record_result(CallResult.CONNECTED)  # not called yet
    outbound.dialing()
    outbound.connected("softphone-call-1")
    attempt = outbound.record_result(CallResult.CONNECTED, note="客户有兴趣")
    # Stored here at once (durable) before anything is sent.
    assert store.attempts.status(attempt.attempt_id)[0] == "pending"
    assert outbound.state().phase is Phase.WRAP_UP and outbound.state().pending_results == 1
    assert outbound.record_result(CallResult.BUSY) is attempt  # a second key press records nothing new
    assert outbound.deliver_pending() is None
    status, _, answer = store.attempts.status(attempt.attempt_id)
    assert status == "delivered" and answer["attempt"] == 1 and answer["member"] == "closed"
    assert outbound.deliver_pending() is None  # nothing sent twice
    rows = server_attempts(outbound_live, "CMP-LOOP")
    assert [(r.customer_id, r.result, r.attempt, r.call_id, r.wave) for r in rows] == [
        ("OB-LOOP-1", "connected", 1, "softphone-call-1", 2)]
    # The offer outcome of the connected call: the outbox, then the sync, with the call's channel and campaign.
    outcomes = OutcomeService(store)
    record = outbound.record_outcome(outcomes, offer_id="RET-DISCOUNT-20", result="accepted", agent_id="ob-loop")
    assert record.channel == "outbound_call" and record.call_id == "softphone-call-1"
    report = SyncService(store, agent_client(outbound_live, "ob-loop"), hold=dt.timedelta(0)).sync_once(force=True)
    assert report.accepted == 1, report
    with Session(outbound_live.engine) as session:
        stored = session.get(Outcome, record.outcome_id)
        assert (stored.channel, stored.campaign_id, stored.wave, stored.call_id) == (
            "outbound_call", "CMP-LOOP", 2, "softphone-call-1")
    assert progress(outbound_live, "CMP-LOOP", "OB-LOOP-1").attempts == 1


def test_the_next_customer_is_prepared_during_wrap_up(outbound_live, store):
    # CMP-LOOP's second member: the first test closed the first one (connected).
    outbound = service(outbound_live, store, "CMP-LOOP", "ob-loop-2")
    outbound.take_next()
    with pytest.raises(OutboundStateError):
        outbound.finish()  # no result yet
    outbound.dialing()
    outbound.call_ended(CallResult.NO_ANSWER)
    assert outbound.state().phase is Phase.RESULT
    outbound.record_result(CallResult.NO_ANSWER)
    state = outbound.prepare_next()
    assert state.phase is Phase.DONE and state.prepared is None and state.empty.code == "worklist_done"
    assert outbound.finish().phase is Phase.EMPTY


def test_wrap_up_prepares_the_next_and_finish_shows_it(outbound_live, store):
    outbound = service(outbound_live, store, None, "ob-any")
    outbound.campaign_id = "CMP-WRAP"
    outbound.take_next()
    outbound.dialing()
    outbound.connected()
    outbound.record_result(CallResult.CONNECTED)
    outbound.campaign_id = "CMP-NEXT"  # the next customer comes from another campaign here
    prepared = outbound.prepare_next().prepared
    assert prepared is not None and prepared.customer_id == "OB-NEXT-1"
    assert outbound.state().phase is Phase.WRAP_UP  # the agent still wraps up the call
    assert outbound.renewal_due_at() is not None  # the prepared customer's lease is kept
    state = outbound.finish()
    assert state.phase is Phase.PREVIEW and state.previewed is prepared and state.attempt is None
    outbound.skip("other")


def test_a_result_recorded_while_the_server_is_down_is_sent_later_exactly_once(outbound_live, store):
    outbound = service(outbound_live, store, "CMP-DOWN", "ob-down")
    outbound.take_next()
    outbound.dialing()
    outbound.use_client(AnalyticsClient(f"http://127.0.0.1:{free_port()}", lambda: "t"))  # the server is gone
    attempt = outbound.record_result(CallResult.BUSY)
    error = outbound.deliver_pending()
    assert error is not None and error.code == "server_unreachable"
    assert outbound.state().error == error and outbound.state().pending_results == 1
    assert store.attempts.status(attempt.attempt_id)[:2] == ("pending", 1)
    assert server_attempts(outbound_live, "CMP-DOWN") == []
    # The panel restarts (a new service over the same store), the server is back.
    again = service(outbound_live, store, "CMP-DOWN", "ob-down")
    assert again.deliver_pending() is None
    assert store.attempts.status(attempt.attempt_id)[0] == "delivered"
    # A resend after a lost answer (same attempt id) is a duplicate on the server, never a second attempt.
    client = agent_client(outbound_live, "ob-down")
    assert client.post_attempt(attempt).status == "duplicate"
    rows = server_attempts(outbound_live, "CMP-DOWN")
    assert len(rows) == 1 and rows[0].result == "busy"
    assert again.state().pending_results == 0 and again.state().error is None


def test_no_answer_schedules_the_retry_of_the_wave(outbound_live, store):
    outbound = service(outbound_live, store, "CMP-RETRY", "ob-retry")
    outbound.take_next()
    outbound.dialing()
    attempt = outbound.record_result(CallResult.NO_ANSWER)
    assert outbound.deliver_pending() is None
    answer = store.attempts.status(attempt.attempt_id)[2]
    assert answer["member"] == "due_again" and answer["attempt"] == 1
    due = dt.datetime.fromisoformat(answer["next_attempt_at"])
    assert dt.timedelta(minutes=119) <= due - attempt.called_at <= dt.timedelta(minutes=121)
    row = progress(outbound_live, "CMP-RETRY", "OB-RETRY-1")
    assert (row.attempts, row.last_result, row.closed_at) == (1, "no_answer", None)


def test_release_with_a_reason_holds_the_customer_for_that_reason(outbound_live, store):
    outbound = service(outbound_live, store, "CMP-SKIP", "ob-skip")
    with pytest.raises(ValueError):
        outbound.skip("nonsense")
    outbound.take_next()
    released = outbound.skip("asked_later", note="周五再打")
    assert released.end_reason == "released"
    hold = released.next_attempt_at - released.ended_at
    assert dt.timedelta(hours=23, minutes=59) <= hold <= dt.timedelta(hours=24, minutes=1)
    assert outbound.state().phase is Phase.IDLE and outbound.state().previewed is None
    with pytest.raises(OutboundStateError):
        outbound.skip("other")  # nobody to skip any more


def test_the_lease_is_renewed_on_schedule_and_a_lost_lease_leaves_the_screen(outbound_live, store):
    outbound = OutboundService(store, agent_client(outbound_live, "ob-lease"), campaign_id="CMP-LEASE",
                               lease_seconds=90)
    assert outbound.renewal_due_at() is None  # nothing held: nothing to schedule
    state = outbound.take_next()
    expires = state.previewed.lease.expires_at
    assert outbound.renewal_due_at() == expires - dt.timedelta(seconds=30)
    outbound.lease_seconds = 600
    renewed = outbound.renew().previewed.lease.expires_at
    assert renewed > expires + dt.timedelta(seconds=400)
    assert outbound.renewal_due_at() == renewed - dt.timedelta(seconds=200)
    # The lease ends behind the panel's back (released elsewhere): the next renewal drops the customer.
    agent_client(outbound_live, "ob-lease").release_lease(state.previewed.lease.lease_id, "test", 0)
    state = outbound.renew()
    assert state.phase is Phase.IDLE and state.previewed is None and state.error.code == "lease_ended"


def test_an_inbound_call_pauses_the_preview_and_keeps_the_customer_held(outbound_live, store):
    outbound = service(outbound_live, store, "CMP-PAUSE", "ob-pause")
    outbound.take_next()
    lease = outbound.state().previewed.lease
    outbound.inbound_started()
    with pytest.raises(OutboundStateError):
        outbound.dialing()
    with pytest.raises(OutboundStateError):
        outbound.take_next()
    state = outbound.renew()  # the runtime keeps renewing while the inbound call is up
    assert state.previewed.lease.lease_id == lease.lease_id and state.previewed.lease.expires_at >= lease.expires_at
    outbound.inbound_ended()
    assert outbound.dialing().phase is Phase.DIALING


def test_a_result_the_server_refuses_is_kept_for_attention_not_resent(outbound_live, store):
    outbound = service(outbound_live, store, "CMP-ENDED", "ob-ended")
    state = outbound.take_next()
    outbound.dialing()
    agent_client(outbound_live, "ob-ended").release_lease(state.previewed.lease.lease_id, "elsewhere", 0)
    attempt = outbound.record_result(CallResult.VOICEMAIL)
    error = outbound.deliver_pending()
    assert error.code == "lease_ended"
    assert store.attempts.status(attempt.attempt_id)[0] == "needs_attention"
    assert outbound.deliver_pending() is None and store.attempts.status(attempt.attempt_id)[1] == 1


def test_a_call_result_is_stored_once_per_id(store):
    previewed_like = CallAttempt("0b8a3c1e-0000-4000-8000-000000000001", "0b8a3c1e-0000-4000-8000-000000000002",
                                 "C1", "CMP", 2, CallResult.BUSY, dt.datetime.now(dt.UTC))
    assert store.attempts.record(previewed_like, dt.datetime.now(dt.UTC)) is True
    assert store.attempts.record(previewed_like, dt.datetime.now(dt.UTC)) is False
    assert store.attempts.counts() == {"pending": 1, "delivered": 0, "needs_attention": 0}
    assert [a.attempt_id for a in store.attempts.pending()] == [previewed_like.attempt_id]


def test_an_answer_naming_another_attempt_is_refused(outbound_live, store, monkeypatch):
    client = agent_client(outbound_live, "ob-x")
    monkeypatch.setattr(client, "_json", lambda *a, **k: {
        "status": "accepted", "attempt_id": "other", "attempt": 1, "result": "busy", "call_id": "c",
        "member": "due_again", "next_attempt_at": None, "closed_reason": None})
    attempt = CallAttempt("0b8a3c1e-0000-4000-8000-000000000003", "0b8a3c1e-0000-4000-8000-000000000004",
                          "C1", "CMP", 2, CallResult.BUSY, dt.datetime.now(dt.UTC))
    with pytest.raises(BadResponse, match="another attempt"):
        client.post_attempt(attempt)


def test_a_refused_result_keeps_its_reason_and_goes_again_under_a_new_id_when_the_id_was_taken(store):
    attempt = CallAttempt("0b8a3c1e-0000-4000-8000-000000000005", "0b8a3c1e-0000-4000-8000-000000000006",
                          "C1", "CMP", 2, CallResult.BUSY, dt.datetime.now(dt.UTC))
    store.attempts.record(attempt, dt.datetime.now(dt.UTC))
    store.attempts.mark_needs_attention(attempt.attempt_id, "attempt_id_reused: another result has this id")
    [refused] = store.attempts.refused()
    assert (refused.code, refused.attempt.attempt_id) == ("attempt_id_reused", attempt.attempt_id)
    assert store.attempts.requeue(attempt.attempt_id, "0b8a3c1e-0000-4000-8000-000000000007") is True
    assert store.attempts.refused() == [] and store.attempts.requeue(attempt.attempt_id) is False
    [again] = store.attempts.pending()
    assert again.attempt_id == "0b8a3c1e-0000-4000-8000-000000000007"
    assert again.to_payload()["attempt_id"] == again.attempt_id and again.result is CallResult.BUSY
    store.attempts.mark_needs_attention(again.attempt_id, "something the panel does not know")
    assert store.attempts.refused()[0].code == "invalid_request"
    assert store.attempts.dismiss(again.attempt_id) is True and store.attempts.dismiss(again.attempt_id) is False
    assert store.attempts.refused() == [] and store.attempts.pending() == []
