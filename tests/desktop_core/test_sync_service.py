"""SyncService with the real server: offline recording, exactly-once delivery, lost answers, rejections,
expired tokens, backoff, and two threads syncing at once."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter

import pytest

from desktop.domain.outcomes import UNDO_WINDOW, OutboxStatus
from desktop.domain.states import PopKey, PopState
from desktop.remote.api_client import AnalyticsClient
from desktop.services.outcomes import OutcomeService
from desktop.services.pop import PopService
from desktop.services.sync import MAX_BACKOFF_S, SyncService, backoff_delay
from server_stub.live import free_port, live_server
from tests.desktop_core.conftest import AGENT, prepare_server_database
from tests.desktop_core.fault_server import Forward, Reply, fault_server


def offline_client(token: str = "t") -> AnalyticsClient:
    return AnalyticsClient(f"http://127.0.0.1:{free_port()}", lambda: token, timeout=(0.5, 0.5))


def record_outcomes(live, store, clock, customers: int, prefix: str) -> list[str]:
    """Pop each new customer from the real server, then record one outcome per pop."""
    pops = PopService(live.client(), store, clock)
    outcomes = OutcomeService(store, clock)
    ids = []
    for i in range(customers):
        msisdn = live.add_customer(f"{prefix}-{i}")
        result = pops.fetch(PopKey(ani=msisdn))
        assert result.state is PopState.LIVE
        offer = result.document.pitchable_offers[0].offer_id
        ids.append(outcomes.record(result, offer_id=offer, result="declined", agent_id=AGENT,
                                   call_id=f"{prefix}-call-{i}").outcome_id)
    past_undo_window(clock)
    return ids


def past_undo_window(clock) -> None:
    """Sync holds outcomes the agent may still undo: move past that."""
    clock.advance(seconds=UNDO_WINDOW.total_seconds())


# --- backoff (pure) -----------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_and_caps_at_five_minutes():
    rng = random.Random(7)
    for failures, ceiling in ((1, 2), (2, 4), (3, 8), (8, 256), (9, 300), (30, 300)):
        delays = [backoff_delay(failures, rng) for _ in range(200)]
        assert min(delays) >= ceiling * 0.5 and max(delays) <= ceiling
    assert max(backoff_delay(50, rng) for _ in range(500)) <= MAX_BACKOFF_S


# --- delivery -----------------------------------------------------------------------------------------


def test_outcomes_recorded_offline_are_delivered_exactly_once(tmp_path, store, clock):
    url, engine, token = prepare_server_database(tmp_path / "server.sqlite3")
    with live_server(url, tmp_path / "logs1") as server:
        pops = PopService(AnalyticsClient(server.base_url, lambda: token), store, clock)
        results = [pops.fetch(PopKey(ani=n)) for n in ("13800138000", "13900139000")]
    # Server gone: the agent keeps working from cached pops; outcomes go to the outbox.
    outcomes = OutcomeService(store, clock)
    recorded = []
    for result in results:
        stale = pops.fetch(result.key)
        assert stale.state is PopState.STALE
        recorded.append(outcomes.record(stale, offer_id=stale.document.pitchable_offers[0].offer_id,
                                        result="declined", agent_id=AGENT, call_id="c").outcome_id)
    recorded.append(outcomes.record(results[0], offer_id=None, result="do_not_disturb", agent_id=AGENT,
                                    call_id="c2").outcome_id)
    past_undo_window(clock)
    sync = SyncService(store, pops._client, clock, random.Random(1))
    report = sync.sync_once(force=True)
    assert report.error.code == "server_unreachable" and report.delivered == 0
    state = sync.state()
    assert state.kind == "offline" and state.pending == 3 and state.offline_since == clock.now
    assert not sync.due()  # backing off
    assert sync.sync_once().skipped == "backing_off"
    clock.advance(seconds=2)
    assert sync.due()
    # The server is back (on a new port, as after a restart behind a new address).
    with live_server(url, tmp_path / "logs2") as server:
        sync.use_client(AnalyticsClient(server.base_url, lambda: token))
        report = sync.sync_once()
        assert (report.sent, report.accepted, report.duplicate, report.rejected) == (3, 3, 0, 0)
        assert sync.sync_once(force=True).sent == 0  # nothing is sent twice
        state = sync.state()
        assert state.kind == "synced" and state.offline_since is None and state.last_synced_at == clock.now
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from server_stub.db.models import Outcome

    with Session(engine) as session:
        stored = Counter(session.scalars(select(Outcome.outcome_id)))
    engine.dispose()
    assert stored == Counter(recorded)


def test_lost_answer_is_resent_and_counted_as_duplicate(live, store, clock):
    ids = record_outcomes(live, store, clock, 3, "C-LOST")
    # A proxy passes the batch to the real server but loses its answer (connection dropped).
    with fault_server(Forward(live.base_url, drop_answer=True)) as proxy:
        sync = SyncService(store, AnalyticsClient(proxy.base_url, lambda: live.token), clock, random.Random(2))
        report = sync.sync_once(force=True)
    assert report.error is not None and report.delivered == 0
    assert set(live.stored_outcome_ids()) >= set(ids)  # the server did store them
    assert sync.state().pending == 3
    sync.use_client(live.client())
    report = sync.sync_once(force=True)
    assert (report.duplicate, report.accepted) == (3, 0)  # duplicate == delivered
    assert sync.state().kind == "synced"
    assert Counter(live.stored_outcome_ids())[ids[0]] == 1


def test_rejected_items_need_attention_with_the_servers_reason(live, store, clock):
    msisdn = live.add_customer("C-REJECT")
    pops = PopService(live.client(), store, clock)
    result = pops.fetch(PopKey(ani=msisdn))
    outcomes = OutcomeService(store, clock)
    good = outcomes.record(result, offer_id=result.document.offers[0].offer_id, result="considering",
                           agent_id=AGENT, call_id="r1")
    # A mistyped agent id at sign-in: the server refuses outcomes attributed to someone else.
    wrong = outcomes.record(result, offer_id=None, result="callback", agent_id="agent-999", call_id="r2",
                            callback_at=clock.now + dt.timedelta(days=1))
    past_undo_window(clock)
    sync = SyncService(store, live.client(), clock)
    report = sync.sync_once(force=True)
    assert (report.accepted, report.rejected) == (1, 1)
    [attention] = sync.needs_attention()
    assert attention.outcome_id == wrong.outcome_id
    assert "not the signed-in agent" in attention.server_reason
    # The server's reason in Chinese is kept too, and the panel shows the one of the agent's language.
    assert "不是当前登录的坐席" in attention.server_reason_zh
    assert attention.server_reason_in("zh_CN") == attention.server_reason_zh
    assert attention.server_reason_in("en") == attention.server_reason
    state = sync.state()
    assert state.kind == "attention" and state.needs_attention == 1 and state.pending == 0
    assert store.outcomes.entry(good.outcome_id).status is OutboxStatus.DELIVERED
    # Retrying sends it again (rejected again: the reason still holds); dismissing keeps the row.
    assert sync.retry_attention(wrong.outcome_id)
    assert sync.sync_once(force=True).rejected == 1
    assert sync.dismiss_attention(wrong.outcome_id)
    assert sync.state().kind == "synced" and sync.needs_attention() == []
    assert store.outcomes.entry(wrong.outcome_id).status is OutboxStatus.DISMISSED


def test_expired_token_loses_nothing(live, store, clock):
    ids = record_outcomes(live, store, clock, 2, "C-401")
    sync = SyncService(store, live.client(token="cc_0000000000000000_expired"), clock, random.Random(3))
    report = sync.sync_once(force=True)
    assert report.error.code == "auth_failed"
    state = sync.state()
    assert state.pending == 2 and state.last_error.code == "auth_failed"
    assert state.offline_since is None and state.kind == "pending"  # a sign-in prompt, not "offline"
    sync.use_client(None)
    assert sync.sync_once(force=True).skipped == "not_signed_in"
    # Signed in again with a fresh token.
    sync.use_client(live.client(token=live.new_token()))
    assert sync.state().last_error is None
    report = sync.sync_once()
    assert report.accepted == 2 and set(ids) <= set(live.stored_outcome_ids())


def test_server_errors_back_off_and_honour_retry_after(store, clock):
    from tests.desktop_core.test_storage import record

    store.record_outcome(record(at=clock.now))
    past_undo_window(clock)
    with fault_server(Reply(503, {"error": {"code": "database_unavailable", "message": "later"}},
                            {"Retry-After": "120"})) as fault:
        sync = SyncService(store, AnalyticsClient(fault.base_url, lambda: "t"), clock, random.Random(4))
        report = sync.sync_once(force=True)
    assert report.error.code == "server_error"
    assert (report.next_attempt_at - clock.now).total_seconds() == pytest.approx(120)
    assert sync.state().offline_since == clock.now
    assert store.outcomes.entries()[0].last_error == "server_error"
    assert store.outcomes.entries()[0].status is OutboxStatus.PENDING


def test_consecutive_failures_grow_the_delay(store, clock):
    from tests.desktop_core.test_storage import record

    store.record_outcome(record(at=clock.now))
    past_undo_window(clock)
    sync = SyncService(store, offline_client(), clock, random.Random(5))
    delays = []
    for _ in range(10):
        report = sync.sync_once(force=True)
        delays.append((report.next_attempt_at - clock.now).total_seconds())
    assert 1 <= delays[0] <= 2 and 2 <= delays[1] <= 4 and 4 <= delays[2] <= 8
    assert all(150 <= d <= MAX_BACKOFF_S for d in delays[8:])
    assert sync.state().pending == 1  # however long the outage, nothing is dropped


def test_batches_respect_item_and_byte_limits(live, store, clock):
    ids = record_outcomes(live, store, clock, 5, "C-BATCH")
    with fault_server(Forward(live.base_url)) as proxy:
        sync = SyncService(store, AnalyticsClient(proxy.base_url, lambda: live.token), clock,
                           batch_max_items=2)
        report = sync.sync_once(force=True)
    assert report.accepted == 5
    assert proxy.requests_seen.count(("POST", "/v1/outcomes")) == 3  # 2 + 2 + 1
    assert set(ids) <= set(live.stored_outcome_ids())


def test_payload_too_large_halves_the_batch(live, store, clock):
    record_outcomes(live, store, clock, 4, "C-413")

    with fault_server(Reply(413, {"error": {"code": "body_too_large", "message": "send smaller batches"}})) as fault:
        sync = SyncService(store, AnalyticsClient(fault.base_url, lambda: live.token), clock)
        report = sync.sync_once(force=True)
    # 4 → 2 → 1 item, and a single item that is still too large needs attention (never dropped).
    assert fault.requests_seen.count(("POST", "/v1/outcomes")) >= 3
    assert report.rejected == 4 and sync.state().needs_attention == 4
    assert all("too large" in e.server_reason for e in sync.needs_attention())


def test_two_threads_never_send_an_item_twice(live, store, clock):
    ids = record_outcomes(live, store, clock, 6, "C-RACE")
    hold = threading.Event()
    with fault_server(Forward(live.base_url, hold=hold)) as proxy:
        client = AnalyticsClient(proxy.base_url, lambda: live.token)
        first, second = SyncService(store, client, clock), SyncService(store, client, clock)
        reports = {}
        worker = threading.Thread(target=lambda: reports.setdefault("first", first.sync_once(force=True)))
        worker.start()
        assert proxy.arrived.wait(timeout=10)  # the first run's batch is in flight, held by the proxy
        # Meanwhile the UI thread records another outcome and a second sync is attempted.
        late = record_outcomes(live, store, clock, 1, "C-RACE-LATE")
        reports["second"] = second.sync_once(force=True)
        hold.set()
        worker.join(timeout=30)
        assert not worker.is_alive()
        assert reports["second"].skipped == "busy"
        # The running sync picks up the outcome recorded meanwhile in its next batch: nothing waits, nothing
        # is lost, and the second service has nothing left to send.
        assert reports["first"].accepted == 7 and reports["first"].duplicate == 0
        assert second.sync_once(force=True).sent == 0
    stored = Counter(live.stored_outcome_ids())
    assert all(stored[i] == 1 for i in [*ids, *late])
    assert proxy.requests_seen.count(("POST", "/v1/outcomes")) == 2


def test_old_delivered_rows_are_pruned_but_local_contacts_kept(live, store, clock):
    # The first outcome was recorded and delivered a month ago (the server takes outcomes recorded up to
    # 30 days back and up to 10 minutes ahead of its clock: the two stay inside that).
    clock.advance(days=-30, minutes=4)
    [old] = record_outcomes(live, store, clock, 1, "C-PRUNE-OLD")
    sync = SyncService(store, live.client(), clock)
    assert sync.sync_once(force=True).accepted == 1
    clock.advance(days=30, minutes=1)  # 30 days and a minute after that delivery: past the outbox retention
    record_outcomes(live, store, clock, 1, "C-PRUNE-NEW")
    assert sync.sync_once(force=True).accepted == 1
    assert store.outcomes.entry(old) is None
    assert [c.outcome_id for c in store.outcomes.local_contacts("C-PRUNE-OLD-0", clock.now - dt.timedelta(days=60))] \
        == [old]


# --- answers that do not confirm what was sent (a broken server, proxy or cache) -----------------------


def _ids(results: list[dict]) -> list[str]:
    return [r["outcome_id"] for r in results]


# Each rewrite takes the server's per-item results and returns (what the panel gets instead, the outcome
# ids that answer leaves unconfirmed).
def _unnamed(results):
    """Every result keeps its position but names no outcome."""
    return [{**r, "outcome_id": None} for r in results], _ids(results)


def _renamed(results):
    """Results for other outcomes (another batch's answer, a cache keyed wrongly)."""
    import uuid

    return [{**r, "outcome_id": str(uuid.uuid4())} for r in results], _ids(results)


def _last_missing(results):
    return results[:-1], _ids(results[-1:])


def _first_named_twice(results):
    """The first result appears twice; the second item's result is gone (a proxy that merged answers)."""
    return [results[0], {**results[0], "index": 1}, *results[2:]], _ids(results[:2])


def _reversed_order(results):
    """Right ids in the wrong positions: matched by id, every item is confirmed."""
    return list(reversed(results)), []


WRONG_ANSWERS = {f.__name__.strip("_"): f for f in (_unnamed, _renamed, _last_missing, _first_named_twice,
                                                     _reversed_order)}


@pytest.mark.parametrize("answer", list(WRONG_ANSWERS))
def test_only_results_that_name_an_outcome_mark_it_delivered(live, store, clock, caplog, answer):
    ids = record_outcomes(live, store, clock, 3, f"C-VERDICT-{answer}")
    caplog.set_level("INFO", logger="callcue")
    unconfirmed: list[str] = []

    def rewrite(_status, body):
        results, left = WRONG_ANSWERS[answer](body["results"])
        unconfirmed.extend(left)
        return {**body, "results": results}

    # The real server stores the batch; a proxy between it and the panel mangles the per-item answer.
    with fault_server(Forward(live.base_url, rewrite=rewrite)) as proxy:
        sync = SyncService(store, AnalyticsClient(proxy.base_url, lambda: live.token), clock, random.Random(6))
        report = sync.sync_once(force=True)
    assert set(ids) <= set(live.stored_outcome_ids())  # the server did store every item
    assert len(unconfirmed) == {"reversed_order": 0, "last_missing": 1, "first_named_twice": 2}.get(answer, 3)
    statuses = {outcome_id: store.outcomes.entry(outcome_id).status for outcome_id in ids}
    assert statuses == {i: OutboxStatus.PENDING if i in unconfirmed else OutboxStatus.DELIVERED for i in ids}
    assert report.accepted == 3 - len(unconfirmed) and report.unconfirmed == len(unconfirmed)
    state = sync.state()
    assert state.pending == len(unconfirmed)
    if unconfirmed:
        # Reported: the sync state the panel shows ("N pending — the server's answer is unreadable"), a
        # backoff (not "offline": the server was reached), and a log line with counts only.
        assert state.kind == "pending" and state.offline_since is None
        assert state.last_error.code == "bad_response" and "did not confirm" in state.last_error.detail
        assert report.next_attempt_at is not None and not sync.due()
        assert store.outcomes.entry(unconfirmed[0]).last_error == "the server's answer did not confirm this outcome"
        [warning] = [r for r in caplog.records if "did not confirm" in r.getMessage()]
        assert warning.unconfirmed == len(unconfirmed)
        logged = caplog.text + repr([r.__dict__ for r in caplog.records])
        assert "C-VERDICT" not in logged and not any(i in logged for i in ids)
    else:
        assert state.kind == "synced" and state.last_error is None
    # The server answers properly again: the unconfirmed items go out once more, come back "duplicate"
    # (the server already had them), and every outcome is stored exactly once.
    sync.use_client(live.client())
    report = sync.sync_once(force=True)
    assert (report.sent, report.duplicate, report.accepted, report.unconfirmed) == (
        len(unconfirmed), len(unconfirmed), 0, 0)
    assert sync.state().kind == "synced" and sync.state().last_error is None
    stored = Counter(live.stored_outcome_ids())
    assert all(stored[i] == 1 for i in ids)
