"""PopService with the real server: live pops, the cache, and every way a pop can fail."""

from __future__ import annotations

import datetime as dt
import statistics
import time

from desktop.domain.states import PopKey, PopResult, PopState
from desktop.remote.api_client import AnalyticsClient
from desktop.services.outcomes import OutcomeService
from desktop.services.pop import PopService
from server_stub.live import free_port, live_server
from tests.desktop_core.conftest import prepare_server_database
from tests.desktop_core.fault_server import Hang, Reply, fault_server


def test_live_pop_is_cached_under_number_and_id(live, store, clock):
    msisdn = live.add_customer("C-POP-1", name="周杰")
    pops = PopService(live.client(), store, clock)
    assert pops.cached(PopKey(ani=msisdn)) is None
    live_result = pops.fetch(PopKey(ani="+86" + msisdn))
    assert live_result.state is PopState.LIVE and live_result.error is None
    assert live_result.document.customer.display_name == "周杰" and live_result.fetched_at == clock.now
    clock.advance(minutes=5)
    for key in (PopKey(ani=msisdn), PopKey(customer_id="C-POP-1")):
        cached = pops.cached(key)
        assert cached.state is PopState.LOADING
        assert cached.document.decision_id == live_result.document.decision_id
        assert cached.age(clock.now) == dt.timedelta(minutes=5)


def test_cache_expires_after_the_ttl(live, store, clock):
    msisdn = live.add_customer("C-POP-TTL")
    pops = PopService(live.client(), store, clock, cache_ttl=dt.timedelta(hours=24))
    assert pops.initial(PopKey(ani=msisdn)) == PopResult(PopState.LOADING, PopKey(ani=msisdn))
    pops.fetch(PopKey(ani=msisdn))
    assert pops.initial(PopKey(ani=msisdn)).document is not None
    clock.advance(hours=24, seconds=1)
    assert pops.cached(PopKey(ani=msisdn)) is None
    assert pops.purge_expired_cache() >= 1


def test_cached_lookup_is_fast(live, store, clock):
    msisdn = live.add_customer("C-POP-FAST")
    pops = PopService(live.client(), store, clock)
    pops.fetch(PopKey(ani=msisdn))
    timings = []
    for _ in range(30):
        started = time.perf_counter()
        assert pops.cached(PopKey(ani=msisdn)) is not None
        timings.append(time.perf_counter() - started)
    # The budget is 5 ms; the lower quartile keeps a busy CI machine's scheduling noise out of the verdict.
    quartile = statistics.quantiles(timings, n=4)[0]
    assert quartile < 0.005, f"lower quartile {quartile * 1000:.2f} ms, median {statistics.median(timings) * 1000:.2f} ms"


def test_a_fetch_that_leaves_caching_to_the_caller(live, store, clock):
    """The panel shows a live pop first and caches it afterwards (remember); the cached copy is the
    server's document, without this workstation's outcomes applied (they are applied on every read)."""
    msisdn = live.add_customer("C-POP-LATER")
    pops = PopService(live.client(), store, clock)
    result = pops.fetch(PopKey(ani=msisdn), remember=False)
    assert result.state is PopState.LIVE and result.server_document is not None
    assert pops.cached(PopKey(ani=msisdn)) is None
    assert PopService(None, store, clock).cached(PopKey(ani=msisdn)) is None
    pops.remember(result)
    assert pops.cached(PopKey(ani=msisdn)).document.decision_id == result.document.decision_id
    # Another service (a restarted panel: empty memory) reads the same from the store.
    fresh = PopService(None, store, clock).cached(PopKey(customer_id="C-POP-LATER"))
    assert fresh.document == result.server_document


def test_memory_copies_go_when_the_stored_cache_is_cleared(live, store, clock):
    msisdn = live.add_customer("C-POP-MEM")
    pops = PopService(live.client(), store, clock)
    pops.fetch(PopKey(ani=msisdn))
    first, second = pops.cached(PopKey(ani=msisdn)), pops.cached(PopKey(ani=msisdn))
    assert first.document is second.document  # parsed once, then served from memory
    store.views.clear()  # what sign-out does: customer data must not survive in memory either
    assert pops.cached(PopKey(ani=msisdn)) is None
    pops.fetch(PopKey(ani=msisdn))
    store.views.forget(f"ani:{msisdn}")  # the number changed hands
    assert pops.cached(PopKey(ani=msisdn)) is None
    assert pops.cached(PopKey(customer_id="C-POP-MEM")) is not None  # still known by id (from the store)


def test_a_recent_caller_is_answered_from_memory_and_outcomes_since_are_never_missed(live, store, clock):
    """cached_in_memory does no I/O (the panel calls it on the GUI thread); it answers only while what it
    holds is current: an outcome recorded since sends the caller back to the store."""
    msisdn = live.add_customer("C-POP-INSTANT")
    pops = PopService(live.client(), store, clock)
    assert pops.cached_in_memory(PopKey(ani=msisdn)) is None
    result = pops.fetch(PopKey(ani=msisdn))
    instant = pops.cached_in_memory(PopKey(ani=msisdn))
    assert instant.state is PopState.LOADING and instant.document.decision_id == result.document.decision_id
    top = result.document.pitchable_offers[0]
    OutcomeService(store, clock).record(result, offer_id=top.offer_id, result="declined", agent_id="agent-007",
                                        call_id="call-instant")
    assert pops.cached_in_memory(PopKey(ani=msisdn)) is None  # the refusal is not in memory yet
    from_store = pops.cached(PopKey(ani=msisdn))
    assert not from_store.document.offer(top.offer_id).pitchable
    again = pops.cached_in_memory(PopKey(customer_id="C-POP-INSTANT"))
    assert again is not None and not again.document.offer(top.offer_id).pitchable
    store.views.clear()
    assert pops.cached_in_memory(PopKey(ani=msisdn)) is None


def test_unknown_caller(live, store, clock):
    pops = PopService(live.client(), store, clock)
    result = pops.fetch(PopKey(ani="+86 199 0000 0001"))
    assert result.state is PopState.UNKNOWN_CALLER and result.document is None
    assert result.key.masked() == "199****0001"
    # Withheld numbers and extensions never reach the server.
    assert pops.fetch(PopKey()).state is PopState.UNKNOWN_CALLER
    assert pops.fetch(PopKey(ani="8001")).state is PopState.UNKNOWN_CALLER


def test_server_down_shows_cached_data_and_says_so(tmp_path, store, clock):
    url, engine, token = prepare_server_database(tmp_path / "server.sqlite3")
    key = PopKey(ani="13800138000")
    with live_server(url, tmp_path / "logs") as server:
        pops = PopService(AnalyticsClient(server.base_url, lambda: token), store, clock)
        first = pops.fetch(key)
        assert first.state is PopState.LIVE
    engine.dispose()
    # The server process is gone now.
    clock.advance(hours=2)
    stale = pops.fetch(key)
    assert stale.state is PopState.STALE
    assert stale.error.code == "server_unreachable"
    assert stale.document.decision_id == first.document.decision_id
    assert stale.age(clock.now) == dt.timedelta(hours=2)
    never_seen = pops.fetch(PopKey(ani="13900139000"))
    assert never_seen.state is PopState.ERROR and never_seen.error.code == "server_unreachable"
    assert never_seen.document is None


def test_server_faults_fall_back_to_cached_data(live, store, clock, server_docs):
    msisdn = live.add_customer("C-POP-FAULT")
    key = PopKey(ani=msisdn)
    PopService(live.client(), store, clock).fetch(key)
    faults = {
        "server_error": Reply(500, {"error": {"code": "internal", "message": "boom"}}),
        "bad_response": Reply(200, "{not json"),
        "timeout": Hang(),
    }
    for code, behavior in faults.items():
        with fault_server(behavior) as fault:
            client = AnalyticsClient(fault.base_url, lambda: live.token, timeout=(0.5, 0.3))
            result = PopService(client, store, clock).fetch(key)
            client.close()
        assert result.state is PopState.STALE, code
        assert result.error.code == code
        assert result.document.customer.customer_id == "C-POP-FAULT"


def test_schema_violation_without_cache_is_an_error(store, clock, server_docs):
    body = dict(server_docs["plain"])
    body.pop("contact")
    with fault_server(Reply(200, body)) as fault:
        result = PopService(AnalyticsClient(fault.base_url, lambda: "t"), store, clock).fetch(
            PopKey(ani="13800138000"))
    assert result.state is PopState.ERROR and result.error.code == "bad_response"
    assert "contact is missing" in result.error.detail


def test_expired_token_asks_for_sign_in_and_keeps_showing_data(live, store, clock):
    msisdn = live.add_customer("C-POP-401")
    pops = PopService(live.client(), store, clock)
    pops.fetch(PopKey(ani=msisdn))
    pops.use_client(live.client(token="cc_0000000000000000_expired"))
    result = pops.fetch(PopKey(ani=msisdn))
    assert result.state is PopState.ERROR and result.error.code == "auth_failed"
    assert result.document is not None  # still on screen while the agent signs in again
    pops.use_client(None)
    assert pops.fetch(PopKey(ani=msisdn)).error.code == "auth_failed"


def test_refusal_shows_at_once_even_offline(live, store, clock):
    msisdn = live.add_customer("C-POP-REFUSE")
    pops = PopService(live.client(), store, clock)
    outcomes = OutcomeService(store, clock)
    result = pops.fetch(PopKey(ani=msisdn))
    top = result.document.pitchable_offers[0]
    pop_id = pops.log_pop(result, "call-9", "agent-007")
    saved = outcomes.record(result, offer_id=top.offer_id, result="declined", agent_id="agent-007",
                            call_id="call-9")
    assert saved.pop_id == pop_id and saved.popped_at == clock.now
    updated = pops.with_local_outcomes(result)
    assert not updated.document.offer(top.offer_id).pitchable
    assert "recent_refusal" in [r.code for r in updated.document.offer(top.offer_id).suppressed_by]
    # The next call from this customer, with the server unreachable: still not re-pitched.
    pops.use_client(AnalyticsClient(f"http://127.0.0.1:{free_port()}", lambda: live.token))
    clock.advance(minutes=5)
    again = pops.fetch(PopKey(ani=msisdn))
    assert again.state is PopState.STALE
    assert not again.document.offer(top.offer_id).pitchable
    assert pops.cached(PopKey(ani=msisdn)).document.offer(top.offer_id).rank is None


def test_pop_log_records_what_was_shown(live, store, clock):
    msisdn = live.add_customer("C-POP-LOG", complaints=[("billing", "open", "serious", 3)])
    pops = PopService(live.client(), store, clock)
    result = pops.fetch(PopKey(ani=msisdn))
    pop_id = pops.log_pop(result, "call-1", "agent-007")
    unknown_id = pops.log_pop(pops.fetch(PopKey(ani="19900000000")), "call-2", "agent-007")
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.exec_driver_sql(
            "SELECT id, state, customer_id, decision_id, offers_presented, suppressed FROM pop_log")}
    row = rows[pop_id]
    assert row.state == "live" and row.customer_id == "C-POP-LOG"
    assert row.decision_id == result.document.decision_id
    assert '"codes"' in row.suppressed
    assert rows[unknown_id].state == "unknown_caller" and rows[unknown_id].customer_id is None


def test_search(live, store, clock):
    live.add_customer("C-SEARCH", name="欧阳锋")
    assert [c.customer_id for c in PopService(live.client(), store, clock).search("欧阳")] == ["C-SEARCH"]


def test_a_logged_pop_keeps_the_names_of_its_offers_and_campaign_for_statistics(live, store, clock):
    msisdn = live.add_customer("C-POP-NAMES")
    pops = PopService(live.client(), store, clock)
    result = pops.fetch(PopKey(ani=msisdn))
    pops.log_pop(result, "call-n", "agent-007")
    names = store.pops.names()
    for offer in result.document.offers:
        assert names["offer"][offer.offer_id] == (offer.title.zh, offer.title.en)
    campaign = result.document.contact.campaign
    if campaign is not None:
        assert names["campaign"][campaign.campaign_id] == (campaign.name.zh, campaign.name.en)
    store.views.clear()  # the pop cache goes (sign-out, TTL): the names stay
    assert store.pops.names() == names
