"""The store rescue carries outbound call results (issue 16): an unsent call result (no answer, busy …) of a
damaged or set-aside store is read back, keeps its attempt_id (the server's idempotency key) and payload, and
reaches the real server exactly once, so the member's retry rule runs. Every damaged file here is really
damaged (pages overwritten with garbage, a zero-length file beside its log) and SQLite itself refuses what the
test needs; expected counts come from SQLite's own page accounting (dbstat) taken before the damage."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.domain.outbound import CallAttempt, CallResult
from desktop.services.outbound import OutboundService
from desktop.services.store_recovery import MovedBack, SetAside, fallback_name, open_local_store, rescue_into
from desktop.storage import open_store
from desktop.storage.salvage import ATTEMPT_COLUMNS, salvage_store
from server_stub.db.models import OutboundAttempt, OutboundProgress
from server_stub.live import free_port, live_server
from tests.desktop_core.conftest import Live, new_msisdn, prepare_server_database
from tests.desktop_core.test_store_recovery import PAGE, digest, overwrite, record, run_rescue
from tests.server import factories

RETRY = {"no_answer": 120, "busy": 30, "voicemail": 240, "refused_call": None}
CAMPAIGNS = {"CMP-RESCUE-DOWN": "OB-RESCUE-DOWN", "CMP-RESCUE-LOST": "OB-RESCUE-LOST"}


def _texts(language: str):
    from desktop.panel_session import resources_dir
    from desktop.ui.i18n import Texts

    return Texts(language, resources_dir() / "translations")


def attempt(i: int, result: CallResult = CallResult.NO_ANSWER, *, note: str | None = None) -> CallAttempt:
    """A call result as the outbound service stores it (its lease is made up: these never reach a server)."""
    return CallAttempt(str(uuid.uuid4()), str(uuid.uuid4()), f"OB{i}", "CMP-OB", 2, result,
                       dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))),
                       f"sip-call-{i}", note if note is not None else f"第 {i} 次拨打")


def attempts_store(path: Path, n: int, *, delivered: int = 0) -> list[CallAttempt]:
    """A store with n call results, the first `delivered` of them delivered; closed cleanly."""
    made = [attempt(i, CallResult.BUSY if i % 3 else CallResult.NO_ANSWER) for i in range(n)]
    with open_store(path) as store:
        for item in made:
            store.attempts.record(item, dt.datetime.now(dt.UTC))
        for item in made[:delivered]:
            store.attempts.mark_delivered(item.attempt_id, dt.datetime.now(dt.UTC), {"status": "accepted"})
    return made


def table_pages(path: Path, name: str) -> list[tuple[int, str, int]]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT pageno, pagetype, ncell FROM dbstat WHERE name = ? ORDER BY pageno",
                                  (name,)).fetchall()


def sqlite_refuses(path: Path, tmp_path: Path, table: str) -> bool:
    copy = tmp_path / f"probe-{uuid.uuid4().hex[:6]}.sqlite3"
    for suffix in ("", "-wal"):
        if path.with_name(path.name + suffix).exists():
            shutil.copyfile(path.with_name(path.name + suffix), copy.with_name(copy.name + suffix))
    try:
        with sqlite3.connect(copy) as connection:
            connection.execute(f"SELECT * FROM {table}").fetchall()
    except sqlite3.DatabaseError:
        return True
    return False


def live_attempts(store) -> dict[str, tuple[str, dict]]:
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT attempt_id, status, payload FROM outbound_attempts").all()
    return {attempt_id: (status, json.loads(payload)) for attempt_id, status, payload in rows}


def payload_of(item: CallAttempt) -> dict:
    return json.loads(json.dumps(item.to_payload()))


# ---------------------------------------------------------------------- the reader


def test_the_attempt_readers_column_order_is_the_migrated_table(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    open_store(path).close()
    with sqlite3.connect(path) as connection:
        assert tuple(r[1] for r in connection.execute("PRAGMA table_info(outbound_attempts)")) == ATTEMPT_COLUMNS


def test_call_results_are_read_from_the_pages_and_never_taken_for_outcomes(tmp_path):
    path = tmp_path / "mixed.sqlite3"
    outcomes = [record(i) for i in range(5)]
    calls = [attempt(i) for i in range(5)]
    with open_store(path) as store:
        for outcome, call in zip(outcomes, calls, strict=True):
            store.record_outcome(outcome)
            store.attempts.record(call, dt.datetime.now(dt.UTC))
    salvage = salvage_store(path, sql=False)  # the page reader alone
    assert set(salvage.outcomes) == {o.outcome_id for o in outcomes}
    assert {a: (s.payload, s.status, s.lease_id, s.result) for a, s in salvage.attempts.items()} == {
        c.attempt_id: (payload_of(c), "pending", c.lease_id, c.result.value) for c in calls}
    assert {a.called_at for a in salvage.attempts.values()} == {c.called_at for c in calls}


def test_rescue_reads_call_results_below_a_garbage_root(tmp_path):
    damaged = tmp_path / "callcue.sqlite3.damaged"
    calls = attempts_store(damaged, 300)
    pages = table_pages(damaged, "outbound_attempts")
    interior = [page for page, kind, _n in pages if kind == "internal"]
    leaves = [(page, n) for page, kind, n in pages if kind == "leaf"]
    lost = leaves[len(leaves) // 3], leaves[2 * len(leaves) // 3]
    assert interior, "the call results should need more than one page"
    overwrite(damaged, interior + [page for page, _n in lost])
    expected = 300 - sum(n for _page, n in lost)
    assert sqlite_refuses(damaged, tmp_path, "outbound_attempts")
    assert not sqlite_refuses(damaged, tmp_path, "outbox")  # the outbox reads fine: the pages must still be read
    before = digest(damaged)
    by_id = {c.attempt_id: c for c in calls}
    with open_store(tmp_path / "live.sqlite3") as live:
        report = rescue_into(damaged, live)
        assert (report.call_results, report.call_results_to_send, report.rescued) == (expected, expected, 0)
        rows = live_attempts(live)
        assert len(rows) == expected and set(rows) <= set(by_id)
        assert all(rows[a] == ("pending", payload_of(by_id[a])) for a in rows)  # same ids, same requests
        assert [a.attempt_id for a in live.attempts.pending(limit=1000)] == sorted(
            rows, key=lambda a: [c.attempt_id for c in calls].index(a))  # sent oldest first, as recorded
        again = rescue_into(damaged, live)  # idempotent
        assert (again.call_results, again.call_results_present) == (0, expected)
        assert live.attempts.counts()["pending"] == expected
    assert digest(damaged) == before  # the evidence is never written to


def test_the_newest_copy_of_a_call_result_wins_a_delivered_one_is_not_sent_again(tmp_path):
    """Pending in the database file, delivered in the log (a killed panel): the log's newer copy counts."""
    work, damaged = tmp_path / "work.sqlite3", tmp_path / "callcue.sqlite3"
    calls = [attempt(i) for i in range(12)]
    store = open_store(work)
    try:
        for item in calls:
            store.attempts.record(item, dt.datetime.now(dt.UTC))
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        for item in calls[:5]:
            store.attempts.mark_delivered(item.attempt_id, dt.datetime.now(dt.UTC), {"status": "accepted"})
        for suffix in ("", "-wal"):  # as a SIGKILL leaves them
            shutil.copyfile(work.with_name(work.name + suffix), damaged.with_name(damaged.name + suffix))
    finally:
        store.close()
    salvage = salvage_store(damaged, sql=False)
    statuses = {a: s.status for a, s in salvage.attempts.items()}
    assert {statuses[c.attempt_id] for c in calls[:5]} == {"delivered"}
    assert {statuses[c.attempt_id] for c in calls[5:]} == {"pending"}
    assert len(salvage.undelivered_attempts) == 7
    with open_store(tmp_path / "live.sqlite3") as live:
        report = rescue_into(damaged, live)
        assert (report.call_results, report.call_results_to_send) == (12, 7)
        assert [a.attempt_id for a in live.attempts.pending()] == [c.attempt_id for c in calls[5:]]


# ---------------------------------------------------------------------- at start: set aside, counted, told


def test_a_damaged_store_holding_only_call_results_tells_the_agent_to_rescue_them(tmp_path):
    """Before, such a file was set aside with "No outcome waiting to be sent was found in it": nobody ran the
    rescue and the server never learnt of the calls."""
    path = tmp_path / "data" / "callcue.sqlite3"
    path.parent.mkdir()
    attempts_store(path, 3, delivered=1)
    overwrite(path, [page for page, *_ in table_pages(path, "ix_outbound_attempts_status")])
    opened = open_local_store(path, dirs=[tmp_path / "fallback"])
    opened.store.close()
    [event] = opened.events
    assert isinstance(event, SetAside) and (event.undelivered, event.call_results, event.complete) == (0, 2, True)
    from desktop.ui.store_notices import describe_store_event

    en = describe_store_event(event, _texts("en"))
    assert "It holds 2 outbound call result(s) (no answer, busy …) not yet sent to the server" in en, en
    assert f'callcue store rescue "{event.moved_to}"' in en and "No outcome" not in en
    zh = describe_store_event(event, _texts("zh_CN"))
    assert "其中有 2 条外呼呼叫结果（无人接听、占线等）尚未发送到服务器" in zh, zh
    assert f'callcue store rescue "{event.moved_to}"' in zh
    both = describe_store_event(SetAside(event.moved_to, 4, 0, False, False, 2), _texts("zh_CN"))
    assert "其中有 至少 4 条结果和 至少 2 条外呼呼叫结果尚未发送到服务器" in both, both
    nothing = describe_store_event(SetAside(event.moved_to, 0, 0, True, False, 0), _texts("en"))
    assert "No outcome or call result waiting to be sent was found in it." in nothing


def test_a_call_result_saved_in_a_fallback_store_is_moved_back_not_deleted_with_it(tmp_path):
    """The data folder was unusable: the panel kept outcomes and call results in a fallback store. Moving back
    removes that file, so a call result left out of the move was gone for good."""
    dirs = [tmp_path / "state" / "fallback"]
    dirs[0].mkdir(parents=True, mode=0o700)
    path = tmp_path / "data" / "callcue.sqlite3"
    fallback = dirs[0] / fallback_name(path)
    calls = attempts_store(fallback, 2, delivered=1)
    opened = open_local_store(path, dirs=dirs)
    try:
        [event] = opened.events
        assert isinstance(event, MovedBack) and (event.added, event.call_results) == (0, 1)
        assert [a.attempt_id for a in opened.store.attempts.pending()] == [calls[1].attempt_id]
        assert opened.store.attempts.status(calls[0].attempt_id)[0] == "delivered"
        assert not fallback.exists()
    finally:
        opened.store.close()
    from desktop.ui.store_notices import describe_store_event

    assert describe_store_event(event, _texts("en")) == (
        "1 outbound call result(s) saved while the data folder was unavailable were moved back and will be sent.")
    assert describe_store_event(event, _texts("zh_CN")) == "数据文件夹不可用期间保存的 1 条外呼呼叫结果已移回，将自动发送。"


# ---------------------------------------------------------------------- the real server on loopback


@pytest.fixture(scope="module")
def outbound_server(tmp_path_factory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("rescue-outbound")
    url, engine, token = prepare_server_database(base / "server.sqlite3")
    with Session(engine) as session:
        for campaign_id, customer_id in CAMPAIGNS.items():
            factories.add_outbound_campaign(session, campaign_id, offers=("CARE-CHECKUP",), max_attempts=3,
                                            retry=RETRY)
            factories.add_customer(session, customer_id, new_msisdn(), campaign=False)
            factories.add_member(session, customer_id, campaign_id, reason="合约到期前挽留")
    with live_server(url, base / "logs") as server:
        yield Live(server, engine, token)
    engine.dispose()


def server_attempts(live: Live, campaign_id: str) -> list[OutboundAttempt]:
    with Session(live.engine) as session:
        return list(session.scalars(select(OutboundAttempt).where(OutboundAttempt.campaign_id == campaign_id)))


def call_once(live: Live, store, campaign_id: str, agent_id: str, result: CallResult) -> tuple[CallAttempt, str]:
    """The agent previews the campaign's member, calls and records `result` (stored here, not sent)."""
    token = live.new_token(agent_id)
    outbound = OutboundService(store, live.client(token), campaign_id=campaign_id)
    outbound.take_next()
    outbound.dialing()
    outbound.use_client(None)  # nothing is sent from this store
    return outbound.record_result(result, note="没人接 / no answer"), token


def test_a_rescued_call_result_is_sent_exactly_once_and_the_retry_rule_runs(tmp_path, outbound_server):
    live = outbound_server
    damaged = tmp_path / "callcue.sqlite3.damaged-20261210-093000"
    with open_store(damaged) as store:  # the server was unreachable: the call result waits in the store
        call, token = call_once(live, store, "CMP-RESCUE-DOWN", "ob-rescue-down", CallResult.NO_ANSWER)
        for i in range(40):  # and some outcomes, so the file has more than the call result
            store.record_outcome(record(i))
    overwrite(damaged, [1])  # the file's header and schema page are garbage: SQLite refuses the whole file
    assert sqlite_refuses(damaged, tmp_path, "outbound_attempts")
    target = tmp_path / "live.sqlite3"

    done = run_rescue(tmp_path, str(damaged), "--store", str(target), "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "1 outbound call result(s) (no answer, busy …) rescued (1 to be sent), 0 already present." in done.stdout
    assert "The panel sends them at its next sync" in done.stdout, done.stdout
    with open_store(target) as store:
        outbound = OutboundService(store, live.client(token))  # the panel after the rescue
        assert outbound.deliver_pending() is None
        status, sends, answer = store.attempts.status(call.attempt_id)
        assert (status, sends, answer["status"], answer["attempt"]) == ("delivered", 1, "accepted", 1)
        assert outbound.deliver_pending() is None and store.attempts.status(call.attempt_id)[1] == 1
    [row] = server_attempts(live, "CMP-RESCUE-DOWN")
    assert (row.attempt_id, row.lease_id, row.result, row.attempt, row.note) == (
        call.attempt_id, call.lease_id, "no_answer", 1, "没人接 / no answer")
    with Session(live.engine) as session:  # the wave's retry rule ran: no answer → again in 2 h
        progress = session.get(OutboundProgress, ("CMP-RESCUE-DOWN", 2, "OB-RESCUE-DOWN"))
        assert (progress.attempts, progress.last_result, progress.closed_at) == (1, "no_answer", None)
        due = progress.next_attempt_at.replace(tzinfo=dt.UTC) - call.called_at
        assert dt.timedelta(minutes=119) <= due <= dt.timedelta(minutes=121)

    again = run_rescue(tmp_path, str(damaged), "--store", str(target), "--lang", "zh_CN")
    assert again.returncode == 0, again.stderr
    assert "已找回 0 条外呼呼叫结果（无人接听、占线等；其中 0 条待发送），1 条已存在" in again.stdout, again.stdout
    with open_store(target) as store:
        assert OutboundService(store, live.client(token)).deliver_pending() is None
        assert store.attempts.counts() == {"pending": 0, "delivered": 1, "needs_attention": 0}
    assert len(server_attempts(live, "CMP-RESCUE-DOWN")) == 1


def test_a_call_result_sent_before_the_crash_is_not_counted_twice(tmp_path, outbound_server):
    """The server took the call result but the answer never reached the disk (the panel was killed): the file
    says pending. The rescued copy is sent again with the same attempt_id and is a duplicate on the server."""
    live = outbound_server
    work, damaged = tmp_path / "work.sqlite3", tmp_path / "callcue.sqlite3"
    store = open_store(work)
    try:
        call, token = call_once(live, store, "CMP-RESCUE-LOST", "ob-rescue-lost", CallResult.BUSY)
        for suffix in ("", "-wal"):  # as a SIGKILL leaves them, before the delivery was written
            shutil.copyfile(work.with_name(work.name + suffix), damaged.with_name(damaged.name + suffix))
        assert live.client(token).post_attempt(call).status == "accepted"  # … but it reached the server
    finally:
        store.close()
    os.truncate(damaged, 0)  # a zero-length file beside its log
    assert damaged.with_name(damaged.name + "-wal").stat().st_size > PAGE
    with open_store(tmp_path / "live.sqlite3") as store:
        report = rescue_into(damaged, store)
        assert (report.call_results, report.call_results_to_send) == (1, 1)
        assert OutboundService(store, live.client(token)).deliver_pending() is None
        status, _sends, answer = store.attempts.status(call.attempt_id)
        assert (status, answer["status"]) == ("delivered", "duplicate")
    [row] = server_attempts(live, "CMP-RESCUE-LOST")
    assert (row.attempt_id, row.result, row.attempt) == (call.attempt_id, "busy", 1)


def test_a_rescued_call_result_waits_while_the_server_is_down(tmp_path):
    """Rescued into a store whose panel cannot reach the server: it stays pending (never dropped)."""
    damaged = tmp_path / "callcue.sqlite3.damaged"
    [call] = attempts_store(damaged, 1)
    overwrite(damaged, [1])
    with open_store(tmp_path / "live.sqlite3") as store:
        assert rescue_into(damaged, store).call_results_to_send == 1
        from desktop.remote.api_client import AnalyticsClient

        error = OutboundService(store, AnalyticsClient(f"http://127.0.0.1:{free_port()}", lambda: "t")).deliver_pending()
        assert error is not None and error.code == "server_unreachable"
        assert store.attempts.status(call.attempt_id)[:2] == ("pending", 1)
