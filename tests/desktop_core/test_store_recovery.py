"""Never lose a confirmed outcome to the local file: damaged stores set aside and rescued, fallback stores
drained. Every damaged file here is really damaged (truncated, zero length, pages overwritten with garbage)
and SQLite itself refuses it; the expected counts come from SQLite's own page accounting (dbstat) taken
before the damage."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from desktop.domain.outcomes import OutboxStatus, OutcomeRecord, OutcomeResult
from desktop.services.store_recovery import (
    MovedBack,
    SetAside,
    UsingFallback,
    check_in_background,
    drain_fallbacks,
    fallback_name,
    open_local_store,
    rescue_into,
)
from desktop.storage import StoreCorrupt, open_store
from desktop.storage.salvage import CONTACT_COLUMNS, OUTBOX_COLUMNS, salvage_store
from desktop.storage.store import check_store_file, suspect_marker

PAGE = 4096
REPO_ROOT = Path(__file__).resolve().parents[2]


def record(i: int, *, note: str | None = None) -> OutcomeRecord:
    return OutcomeRecord(outcome_id=str(uuid.uuid4()), decision_id=str(uuid.uuid4()), customer_id=f"C{i}",
                         result=OutcomeResult.DECLINED, recorded_at=dt.datetime.now(dt.UTC), offer_id="CARE-CHECKUP",
                         note=note if note is not None else f"note {i}")


def long_note(i: int) -> str:
    return f"{i}:" + "客户说下个月再考虑" * 200  # ~5.4 KB of UTF-8: the row spills onto overflow pages


def make_store(path: Path, n: int, *, note=lambda i: None) -> list[OutcomeRecord]:
    """A store with n pending outcomes, closed cleanly (everything checkpointed into the file)."""
    records = [record(i, note=note(i)) for i in range(n)]
    with open_store(path) as store:
        for item in records:
            store.record_outcome(item)
    assert not path.with_name(path.name + "-wal").exists()
    return records


def killed_store(path: Path, before: int, after: int, *,
                 delivered_later: int = 0) -> tuple[list[OutcomeRecord], list[OutcomeRecord]]:
    """A store as a killed panel leaves it: `before` outcomes checkpointed into the file, `after` more only in
    its -wal (the files are copied while the store is still open, as a SIGKILL would leave them). The first
    `delivered_later` are marked delivered after the checkpoint: pending in the file, delivered in the log."""
    work = path.with_name("work-" + path.name)
    first = [record(i) for i in range(before)]
    second = [record(before + i) for i in range(after)]
    store = open_store(work)
    try:
        for item in first:
            store.record_outcome(item)
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        if delivered_later:
            store.outcomes.mark_delivered([r.outcome_id for r in first[:delivered_later]], dt.datetime.now(dt.UTC))
        for item in second:
            store.record_outcome(item)
        for suffix in ("", "-wal"):
            shutil.copyfile(work.with_name(work.name + suffix), path.with_name(path.name + suffix))
    finally:
        store.close()
    return first, second


def outbox_pages(path: Path) -> list[tuple[int, str, int]]:
    """(page number, page type, cells) of the outbox table, from SQLite's own dbstat."""
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT pageno, pagetype, ncell FROM dbstat WHERE name = 'outbox' "
                                  "ORDER BY pageno").fetchall()


def overwrite(path: Path, pages: list[int], seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("r+b") as handle:
        for page in pages:
            handle.seek((page - 1) * PAGE)
            handle.write(rng.randbytes(PAGE))


def sqlite_refuses(path: Path, tmp_path: Path) -> bool:
    """Plain SQLite cannot read the whole outbox (tried on a copy: the damaged file stays as it is)."""
    copy = tmp_path / f"probe-{uuid.uuid4().hex[:6]}.sqlite3"
    for suffix in ("", "-wal"):
        if path.with_name(path.name + suffix).exists():
            shutil.copyfile(path.with_name(path.name + suffix), copy.with_name(copy.name + suffix))
    try:
        with sqlite3.connect(copy) as connection:
            connection.execute("SELECT * FROM outbox").fetchall()
    except sqlite3.DatabaseError:
        return True
    return False


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def live_payloads(store) -> dict[str, dict]:
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT outcome_id, payload FROM outbox").all()
    return {oid: json.loads(payload) for oid, payload in rows}


def payload_of(item: OutcomeRecord) -> dict:
    return json.loads(json.dumps(item.to_payload()))


# ---------------------------------------------------------------------- the reader


def test_the_readers_column_order_is_the_migrated_tables(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    open_store(path).close()
    with sqlite3.connect(path) as connection:
        assert tuple(r[1] for r in connection.execute("PRAGMA table_info(outbox)")) == OUTBOX_COLUMNS
        assert tuple(r[1] for r in connection.execute("PRAGMA table_info(local_contacts)")) == CONTACT_COLUMNS


# ---------------------------------------------------------------------- callcue store rescue (the core)


def test_rescue_reads_every_row_left_in_a_store_truncated_to_half(tmp_path):
    damaged = tmp_path / "callcue.sqlite3.damaged"
    records = make_store(damaged, 200)
    cut = damaged.stat().st_size // 2 // PAGE
    expected = sum(n for page, kind, n in outbox_pages(damaged) if kind == "leaf" and page <= cut)
    os.truncate(damaged, cut * PAGE)
    assert sqlite_refuses(damaged, tmp_path) and 0 < expected < 200
    before = digest(damaged)
    with open_store(tmp_path / "live.sqlite3") as live:
        report = rescue_into(damaged, live)
        assert report.rescued == report.to_send == expected
        payloads = live_payloads(live)
        by_id = {r.outcome_id: r for r in records}
        assert set(payloads) <= set(by_id)
        assert all(payloads[oid] == payload_of(by_id[oid]) for oid in payloads)
        assert live.outcomes.counts()[OutboxStatus.PENDING] == expected
        again = rescue_into(damaged, live)  # idempotent
        assert (again.rescued, again.present) == (0, expected)
        assert live.outcomes.counts()[OutboxStatus.PENDING] == expected
    assert digest(damaged) == before  # the evidence is never written to


def test_rescue_reads_rows_below_a_garbage_root_and_their_overflow_pages(tmp_path):
    damaged = tmp_path / "callcue.sqlite3.damaged"
    records = make_store(damaged, 120, note=lambda i: long_note(i) if i % 4 == 0 else None)
    pages = outbox_pages(damaged)
    interior = [page for page, kind, _n in pages if kind == "internal"]
    leaves = [(page, n) for page, kind, n in pages if kind == "leaf"]
    lost = leaves[len(leaves) // 3], leaves[2 * len(leaves) // 3]
    assert interior, "the outbox should need more than one page"
    overwrite(damaged, interior + [page for page, _n in lost])
    expected = 120 - sum(n for _page, n in lost)
    assert sqlite_refuses(damaged, tmp_path)
    with open_store(tmp_path / "live.sqlite3") as live:
        report = rescue_into(damaged, live)
        assert report.rescued == expected
        payloads = live_payloads(live)
    by_id = {r.outcome_id: r for r in records}
    rescued_long = [oid for oid in payloads if by_id[oid].note and len(by_id[oid].note) > 1000]
    assert len(rescued_long) >= 20  # rows with overflow pages came back whole
    assert all(payloads[oid] == payload_of(by_id[oid]) for oid in payloads)


def test_rescue_of_a_zero_length_store_reads_the_committed_outcomes_of_its_log(tmp_path):
    damaged = tmp_path / "callcue.sqlite3"
    first, second = killed_store(damaged, 40, 25)
    os.truncate(damaged, 0)
    with open_store(tmp_path / "live.sqlite3") as live:
        report = rescue_into(damaged, live)
        rescued = set(live_payloads(live))
    assert {r.outcome_id for r in second} <= rescued <= {r.outcome_id for r in first + second}
    assert report.rescued == len(rescued)


def test_the_newest_copy_of_a_row_wins_a_delivered_outcome_is_not_sent_again(tmp_path):
    """Pending in the database file, delivered in the log: the page reader keeps the log's, newer copy."""
    damaged = tmp_path / "callcue.sqlite3"
    first, _second = killed_store(damaged, 60, 5, delivered_later=20)
    salvage = salvage_store(damaged, sql=False)  # the pages alone, as when SQLite cannot read the tree
    statuses = {oid: outcome.status for oid, outcome in salvage.outcomes.items()}
    assert len(statuses) == 65
    assert {statuses[r.outcome_id] for r in first[:20]} == {"delivered"}
    assert sum(status == "pending" for status in statuses.values()) == 45


def test_an_outcome_of_a_transaction_that_never_committed_is_not_rescued(tmp_path):
    """The agent is told "saved" after the commit: a torn last transaction was never confirmed."""
    damaged = tmp_path / "callcue.sqlite3"
    _first, second = killed_store(damaged, 10, 6)
    wal = damaged.with_name(damaged.name + "-wal")
    data = bytearray(wal.read_bytes())
    page_size = int.from_bytes(data[8:12], "big")
    frames = (len(data) - 32) // (24 + page_size)
    last = 32 + (frames - 1) * (24 + page_size)
    assert int.from_bytes(data[last + 4:last + 8], "big") != 0  # the last frame commits the last outcome
    data[last + 4:last + 8] = bytes(4)  # … its commit record never reached the disk
    wal.write_bytes(bytes(data))
    os.truncate(damaged, 0)
    salvage = salvage_store(damaged)
    assert {r.outcome_id for r in second[:-1]} <= set(salvage.outcomes)
    assert second[-1].outcome_id not in salvage.outcomes


# ---------------------------------------------------------------------- at start: set aside, counted, told


def test_a_store_damaged_behind_its_log_is_set_aside_at_start_and_counted(tmp_path):
    """The store opens (its first pages are in the -wal) but reads fail: found by the start-up check."""
    path = tmp_path / "data" / "callcue.sqlite3"
    path.parent.mkdir()
    _first, second = killed_store(path, 150, 30, delivered_later=40)
    os.truncate(path, path.stat().st_size // 2)
    damaged_bytes = {suffix: digest(path.with_name(path.name + suffix)) for suffix in ("", "-wal")}
    expected = salvage_store(path).undelivered  # what the rescue would get (read before anything is moved)
    opened = open_local_store(path, dirs=[tmp_path / "fallback"])
    try:
        [event] = opened.events
        assert isinstance(event, SetAside) and not event.empty and event.complete
        assert event.undelivered == len(expected) > len(second)
        assert event.undelivered < len(salvage_store(event.moved_to).outcomes)  # delivered ones are not counted
        assert opened.problem is not None and opened.problem.code == "store_corrupt"
        assert {s: digest(event.moved_to.with_name(event.moved_to.name + s)) for s in ("", "-wal")} == damaged_bytes
        assert opened.store.path == path and opened.store.outcomes.counts()[OutboxStatus.PENDING] == 0
        opened.store.record_outcome(record(999))  # the fresh store works
        report = rescue_into(event.moved_to, opened.store)
        assert report.to_send == event.undelivered
    finally:
        opened.store.close()


def test_a_store_with_a_garbage_index_page_is_set_aside_and_every_outcome_counted(tmp_path):
    """SQLite opens it and most reads work (the outbox table itself is intact): only the check finds it."""
    path = tmp_path / "callcue.sqlite3"
    make_store(path, 60)
    with sqlite3.connect(path) as connection:
        pages = [p for (p,) in connection.execute("SELECT pageno FROM dbstat WHERE name = 'ix_outbox_status'")]
    overwrite(path, pages)
    open_store(path).close()  # opening alone does not notice
    opened = open_local_store(path, dirs=[tmp_path / "fallback"])
    opened.store.close()
    [event] = opened.events
    assert isinstance(event, SetAside) and (event.undelivered, event.unreadable, event.complete) == (60, 0, True)


def test_a_zero_length_store_is_set_aside_before_its_log_is_reset(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    _first, second = killed_store(path, 20, 12)
    os.truncate(path, 0)
    wal_bytes = path.with_name(path.name + "-wal").read_bytes()
    opened = open_local_store(path, dirs=[tmp_path / "fallback"])
    try:
        [event] = opened.events
        assert isinstance(event, SetAside) and event.empty and event.undelivered >= len(second)
        assert event.moved_to.read_bytes() == b""
        assert event.moved_to.with_name(event.moved_to.name + "-wal").read_bytes() == wal_bytes
    finally:
        opened.store.close()


def test_a_zero_length_store_without_a_log_is_still_reported(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    make_store(path, 3)
    os.truncate(path, 0)
    opened = open_local_store(path, dirs=[tmp_path / "fallback"])
    opened.store.close()
    [event] = opened.events
    assert isinstance(event, SetAside) and event.empty and event.undelivered == 0


def test_a_sound_store_opens_without_any_event(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    make_store(path, 5)
    opened = open_local_store(path, dirs=[tmp_path / "fallback"])
    opened.store.close()
    assert opened.events == [] and opened.problem is None and not opened.check_later


def test_the_start_up_check_has_a_time_budget_and_a_big_store_is_checked_later(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    make_store(path, 5)
    with sqlite3.connect(path) as connection:  # ~50 MB more to check: quick_check takes ~50 ms or more
        connection.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, blob BLOB)")
        connection.execute("WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 300000) "
                           "INSERT INTO filler SELECT n, randomblob(150) FROM k")
    timings = []
    for _ in range(2):  # the second run reads from the page cache: the fastest a check gets
        started = time.perf_counter()
        assert check_store_file(path) is True
        timings.append(time.perf_counter() - started)
    full_s = min(timings)
    assert check_store_file(path, budget_s=full_s / 20) is None  # interrupted, not a verdict
    opened = open_local_store(path, dirs=[tmp_path / "fallback"], check_budget_s=full_s / 20)
    try:
        assert opened.check_later and opened.events == []
        assert opened.store.check_integrity(budget_s=full_s / 20) is None
        assert check_in_background(opened.store) is True
    finally:
        opened.store.close()


def test_damage_found_while_running_gets_a_full_check_at_the_next_start(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    make_store(path, 80)
    store = open_store(path)
    try:
        store.engine.dispose()  # no connection keeps pages cached: the next read goes to the file
        overwrite(path, [page for page, kind, _n in outbox_pages(path) if kind == "internal"])
        with pytest.raises(StoreCorrupt):
            store.outcomes.pending(500)
    finally:
        store.close()
    assert suspect_marker(path).exists()
    # A budget too small to check anything: the marker alone makes this start check the whole file.
    opened = open_local_store(path, dirs=[tmp_path / "fallback"], check_budget_s=0.0)
    opened.store.close()
    assert [type(e) for e in opened.events] == [SetAside] and not suspect_marker(path).exists()


def test_a_damaged_store_found_by_the_background_check_is_remembered(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    make_store(path, 300)
    with sqlite3.connect(path) as connection:  # the b-tree page quick_check reaches last
        [(last,)] = connection.execute("SELECT max(pageno) FROM dbstat WHERE pagetype = 'leaf'").fetchall()
    overwrite(path, [last])
    assert check_store_file(path, budget_s=None) is False
    opened = open_local_store(path, dirs=[tmp_path / "fallback"], check_budget_s=0.0)
    try:
        assert opened.check_later and opened.events == []  # not found within the start-up budget …
        assert check_in_background(opened.store) is False  # … but by the check that follows
        assert suspect_marker(path).exists()
    finally:
        opened.store.close()
    again = open_local_store(path, dirs=[tmp_path / "fallback"], check_budget_s=0.0)
    again.store.close()
    assert [type(e) for e in again.events] == [SetAside]


# ---------------------------------------------------------------------- fallback stores: used, then drained


def blocked_data_folder(tmp_path: Path) -> Path:
    """A store path whose folder cannot be created (a file is in the way): a real unusable data folder."""
    (tmp_path / "data").write_text("not a folder")
    return tmp_path / "data" / "callcue.sqlite3"


def test_outcomes_saved_in_a_fallback_store_are_moved_back_once(tmp_path):
    path = blocked_data_folder(tmp_path)
    dirs = [tmp_path / "state" / "fallback", tmp_path / "tmp" / "callcue-0"]
    opened = open_local_store(path, dirs=dirs)
    [event] = opened.events
    assert isinstance(event, UsingFallback) and event.fallback == dirs[0] / fallback_name(path)
    assert opened.store.path == event.fallback and opened.problem.code == "store_failed"
    records = [opened.store.record_outcome(record(i)) for i in range(5)]
    opened.store.outcomes.mark_delivered([records[0].outcome_id], dt.datetime.now(dt.UTC))
    opened.store.close()

    (tmp_path / "data").unlink()  # IT fixes the folder
    again = open_local_store(path, dirs=dirs)
    try:
        [moved] = again.events
        assert isinstance(moved, MovedBack) and (moved.undelivered, moved.added) == (4, 5)
        assert again.problem is None and again.store.path == path
        counts = again.store.outcomes.counts()
        assert (counts[OutboxStatus.PENDING], counts[OutboxStatus.DELIVERED]) == (4, 1)
        assert not event.fallback.exists() and not list(dirs[0].iterdir())
    finally:
        again.store.close()
    third = open_local_store(path, dirs=dirs)
    third.store.close()
    assert third.events == []
    with open_store(path) as store:
        assert store.outcomes.counts()[OutboxStatus.PENDING] == 4


def test_a_fallback_store_in_the_temp_folder_is_found_too(tmp_path):
    """Where older versions (and a user whose state folder is unusable) kept it."""
    dirs = [tmp_path / "state" / "fallback", tmp_path / "tmp" / "callcue-0"]
    path = tmp_path / "data" / "callcue.sqlite3"
    with open_store(dirs[1] / fallback_name(path)) as old:
        old.record_outcome(record(1))
        old.record_outcome(record(2))
    opened = open_local_store(path, dirs=dirs)
    opened.store.close()
    assert [(type(e), e.undelivered) for e in opened.events] == [(MovedBack, 2)]
    assert not (dirs[1] / fallback_name(path)).exists()


def test_moving_back_never_revives_an_outcome_delivered_and_pruned_here(tmp_path):
    dirs = [tmp_path / "fallback"]
    path = tmp_path / "data" / "callcue.sqlite3"
    item = record(1)
    with open_store(dirs[0] / fallback_name(path)) as fallback:  # an old copy, still pending there
        fallback.record_outcome(item)
    with open_store(path) as live:  # … here it was delivered long ago; its outbox row is pruned
        live.record_outcome(item)
        live.outcomes.mark_delivered([item.outcome_id], dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
        assert live.outcomes.prune_delivered(dt.datetime.now(dt.UTC)) == 1
    opened = open_local_store(path, dirs=dirs)
    try:
        assert opened.events == []  # nothing new to move back
        assert opened.store.outcomes.counts()[OutboxStatus.PENDING] == 0
    finally:
        opened.store.close()
    assert not (dirs[0] / fallback_name(path)).exists()  # drained all the same: it holds nothing new


def test_a_fallback_store_stays_until_the_live_store_has_taken_its_outcomes(tmp_path):
    dirs = [tmp_path / "fallback"]
    path = tmp_path / "data" / "callcue.sqlite3"
    fallback = dirs[0] / fallback_name(path)
    with open_store(fallback) as store:
        store.record_outcome(record(1))
    live = open_store(path)
    try:
        blocker = sqlite3.connect(path, isolation_level=None)  # another program holds the live store's lock
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            assert drain_fallbacks(live, path, dirs) is None  # the adoption failed (locked) …
            assert fallback.exists()  # … so the fallback store is kept for the next start
        finally:
            blocker.close()
        moved = drain_fallbacks(live, path, dirs)
        assert moved is not None and moved.undelivered == 1 and not fallback.exists()
    finally:
        live.close()


def test_a_fallback_store_still_in_use_is_left_alone(tmp_path):
    dirs = [tmp_path / "fallback"]
    path = tmp_path / "data" / "callcue.sqlite3"
    other = open_store(dirs[0] / fallback_name(path))  # another CallCue working on the fallback right now
    try:
        other.record_outcome(record(1))
        live = open_store(path)
        try:
            assert drain_fallbacks(live, path, dirs) is None
            assert (dirs[0] / fallback_name(path)).exists()
        finally:
            live.close()
    finally:
        other.close()
    opened = open_local_store(path, dirs=dirs)
    opened.store.close()
    assert [(type(e), e.added) for e in opened.events] == [(MovedBack, 1)]


def test_a_damaged_fallback_store_gives_what_it_can_and_is_set_aside(tmp_path):
    dirs = [tmp_path / "fallback"]
    path = tmp_path / "data" / "callcue.sqlite3"
    fallback = dirs[0] / fallback_name(path)
    fallback.parent.mkdir()
    make_store(fallback, 60)
    overwrite(fallback, [page for page, kind, _n in outbox_pages(fallback) if kind == "internal"])
    opened = open_local_store(path, dirs=dirs)
    opened.store.close()
    [moved] = opened.events
    assert isinstance(moved, MovedBack) and moved.undelivered == 60
    assert not fallback.exists() and len(list(dirs[0].glob(fallback.name + ".damaged-*"))) == 1


# ---------------------------------------------------------------------- the command, end to end


def run_rescue(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_STATE_HOME": str(home / ".local/state"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "desktop.cli", "store", "rescue", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_callcue_store_rescue_sends_what_a_damaged_store_holds_exactly_once(tmp_path, live, clock):
    from collections import Counter

    from desktop.services.sync import SyncService
    from tests.desktop_core.test_sync_service import record_outcomes

    damaged = tmp_path / "callcue.sqlite3.damaged-20261123-101500"
    with open_store(damaged) as store:  # confirmed to the agent, never delivered (the server was down)
        ids = record_outcomes(live, store, clock, 30, "C-RESCUE")
    overwrite(damaged, [page for page, kind, _n in outbox_pages(damaged) if kind == "internal"])
    assert sqlite_refuses(damaged, tmp_path)
    target = tmp_path / "live.sqlite3"

    done = run_rescue(tmp_path, str(damaged), "--store", str(target), "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert f"30 outcome(s) rescued into {target} (30 to be sent), 0 already present, 0 unreadable." in done.stdout
    with open_store(target) as store:
        report = SyncService(store, live.client(), clock).sync_once(force=True)
        assert report.accepted == 30 and store.outcomes.counts()[OutboxStatus.PENDING] == 0

    again = run_rescue(tmp_path, str(damaged), "--store", str(target), "--lang", "zh_CN")
    assert again.returncode == 0, again.stderr
    assert "已找回 0 条结果" in again.stdout and "30 条已存在" in again.stdout, again.stdout
    with open_store(target) as store:
        assert SyncService(store, live.client(), clock).sync_once(force=True).sent == 0
    stored = Counter(live.stored_outcome_ids())
    assert all(stored[oid] == 1 for oid in ids)

    missing = run_rescue(tmp_path, str(tmp_path / "nothing-here"), "--store", str(target), "--lang", "en")
    assert missing.returncode == 2 and "there is no file" in missing.stderr
    itself = run_rescue(tmp_path, str(target), "--store", str(target), "--lang", "en")
    assert itself.returncode == 2 and "is the live data file itself" in itself.stderr


def test_a_fallback_store_someone_else_could_have_written_is_not_taken_in(tmp_path):
    """Outcomes moved back are sent with this agent's token: a file another user planted in a shared temp
    folder (or left writable to others) must not be."""
    dirs = [tmp_path / "shared"]
    path = tmp_path / "data" / "callcue.sqlite3"
    planted = dirs[0] / fallback_name(path)
    with open_store(planted) as store:
        store.record_outcome(record(1))
    os.chmod(dirs[0], 0o777)  # a folder anyone can write to
    opened = open_local_store(path, dirs=dirs)
    opened.store.close()
    assert opened.events == [] and planted.exists()
    os.chmod(dirs[0], 0o700)
    if os.getuid() == 0:  # a file owned by another user, in a private-looking folder
        os.chown(planted, 4242, 4242)
        opened = open_local_store(path, dirs=dirs)
        opened.store.close()
        assert opened.events == [] and planted.exists()
        os.chown(planted, 0, 0)
    opened = open_local_store(path, dirs=dirs)  # this user's own, private file: taken in
    opened.store.close()
    assert [(type(e), e.undelivered) for e in opened.events] == [(MovedBack, 1)]


# ---------------------------------------------------------------------- retractions (undo) are rescued too


def _retracted_on_server(live, outcome_id: str) -> bool:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from server_stub.db.models import Outcome

    with Session(live.engine) as session:
        return session.scalar(select(Outcome.retracted_at).where(Outcome.outcome_id == outcome_id)) is not None


def _undo_store(path: Path, live, clock) -> dict[str, str]:
    """A store where the agent undid outcomes past their window: one already delivered (retraction pending),
    one never sent (retraction waits behind it), one whose retraction the server already applied; and one
    outcome that stands."""
    from desktop.services.outcomes import OutcomeService
    from desktop.services.sync import SyncService
    from tests.desktop_core.test_sync_service import record_outcomes

    with open_store(path) as store:
        sent, applied, kept = record_outcomes(live, store, clock, 3, f"C-UNDO-RESCUE-{uuid.uuid4().hex[:6]}")
        sync = SyncService(store, live.client(), clock)
        assert sync.sync_once(force=True).accepted == 3
        assert OutcomeService(store, clock).undo(applied).value == "retracting"
        assert sync.sync_once(force=True).retracted == 1
        unsent = record_outcomes(live, store, clock, 1, f"C-UNDO-RESCUE-{uuid.uuid4().hex[:6]}")[0]
        for outcome_id in (sent, unsent):
            assert OutcomeService(store, clock).undo(outcome_id).value == "retracting"
    return {"sent": sent, "applied": applied, "kept": kept, "unsent": unsent}


def _contacts(store) -> set[str]:
    with store.engine.connect() as connection:
        return set(connection.exec_driver_sql("SELECT outcome_id FROM local_contacts").scalars())


def _retractions(store) -> dict[str, str]:
    with store.engine.connect() as connection:
        return dict(connection.exec_driver_sql("SELECT outcome_id, status FROM retractions").all())


def test_rescue_carries_retractions_once_and_the_undone_outcomes_count_nowhere(tmp_path, live, clock):
    from desktop.services.sync import SyncService

    damaged = tmp_path / "callcue.sqlite3.damaged-20261209-101500"
    ids = _undo_store(damaged, live, clock)
    overwrite(damaged, [page for page, kind, _n in outbox_pages(damaged) if kind == "internal"] or [])
    with open_store(tmp_path / "live.sqlite3") as store:
        report = rescue_into(damaged, store)
        assert report.rescued == 4 and report.retractions == 3
        assert _retractions(store) == {ids["sent"]: "pending", ids["unsent"]: "pending", ids["applied"]: "delivered"}
        assert _contacts(store) == {ids["kept"]}  # undone there: not counted here either
        again = rescue_into(damaged, store)  # idempotent
        assert (again.rescued, again.retractions) == (0, 0)
        assert store.outcomes.count_pending_retractions() == 2
        report = SyncService(store, live.client(), clock).sync_once(force=True)
        assert report.accepted == 1 and report.retracted == 2  # the unsent outcome first, then both taken back
        assert store.outcomes.count_pending_retractions() == 0
    for key in ("sent", "unsent", "applied"):
        assert _retracted_on_server(live, ids[key]), key
    assert not _retracted_on_server(live, ids["kept"])


def test_retractions_are_read_from_the_pages_when_sql_cannot(tmp_path, live, clock):
    path = tmp_path / "undo.sqlite3"
    ids = _undo_store(path, live, clock)
    salvage = salvage_store(path, sql=False)  # the page reader alone
    assert {oid: r.status for oid, r in salvage.retractions.items()} == {
        ids["sent"]: "pending", ids["unsent"]: "pending", ids["applied"]: "delivered"}
    assert set(salvage.outcomes) == set(ids.values())  # a retraction row is never taken for an outcome


def test_an_outcome_already_here_is_undone_by_a_rescued_retraction(tmp_path, live, clock):
    """The live store got the outcome from a fallback store before; the damaged store knew it was undone."""
    path = tmp_path / "undo.sqlite3"
    ids = _undo_store(path, live, clock)
    salvage = salvage_store(path)
    with open_store(tmp_path / "live.sqlite3") as store:
        store.outcomes.adopt([salvage.outcomes[ids["sent"]]])  # taken in without its retraction
        assert ids["sent"] in _contacts(store)
        assert rescue_into(path, store).retractions == 3
        assert ids["sent"] not in _contacts(store)


def test_the_retraction_readers_column_order_is_the_migrated_table(tmp_path):
    from desktop.storage.salvage import RETRACTION_COLUMNS

    path = tmp_path / "fresh.sqlite3"
    open_store(path).close()
    with sqlite3.connect(path) as connection:
        assert tuple(r[1] for r in connection.execute("PRAGMA table_info(retractions)")) == RETRACTION_COLUMNS


def test_callcue_store_rescue_reports_the_retractions_in_both_languages(tmp_path, live, clock):
    damaged = tmp_path / "callcue.sqlite3.damaged-20261209-111500"
    _undo_store(damaged, live, clock)
    target = tmp_path / "live.sqlite3"
    done = run_rescue(tmp_path, str(damaged), "--store", str(target), "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "3 undo(s) of outcomes taken in" in done.stdout, done.stdout
    zh = run_rescue(tmp_path, str(damaged), "--store", str(tmp_path / "other.sqlite3"), "--lang", "zh_CN")
    assert "已找回 3 条撤销记录" in zh.stdout, zh.stdout


def test_retractions_made_in_a_fallback_store_are_moved_back_with_its_outcomes(tmp_path, live, clock):
    dirs = [tmp_path / "state" / "fallback"]
    path = tmp_path / "data" / "callcue.sqlite3"
    dirs[0].mkdir(parents=True, mode=0o700)
    ids = _undo_store(dirs[0] / fallback_name(path), live, clock)  # the panel ran on it while data/ was unusable
    opened = open_local_store(path, dirs=dirs)
    try:
        assert isinstance(opened.events[0], MovedBack)
        assert _retractions(opened.store) == {ids["sent"]: "pending", ids["unsent"]: "pending",
                                              ids["applied"]: "delivered"}
        assert _contacts(opened.store) == {ids["kept"]}
    finally:
        opened.store.close()


def _callback_store(path: Path, live, clock) -> str:
    """A store with a callback agreed with a customer whose pop names them (callback_details keeps the name)."""
    from desktop.domain.states import PopKey
    from desktop.services.outcomes import OutcomeService
    from desktop.services.pop import PopService

    with open_store(path) as store:
        pop = PopService(live.client(), store, clock).fetch(PopKey(ani=live.add_customer(f"C-CB-{uuid.uuid4().hex[:6]}")))
        record = OutcomeService(store, clock).record(pop, offer_id=None, result="callback", agent_id="agent-007",
                                                     call_id="cb-1", callback_at=clock.now + dt.timedelta(hours=2))
        assert record.display_name  # kept with the callback
    return record.outcome_id


def _callback_names(store) -> dict[str, tuple]:
    with store.engine.connect() as connection:
        return {r[0]: (r[1], r[2]) for r in connection.exec_driver_sql(
            "SELECT outcome_id, display_name, masked_number FROM callback_details").all()}


def _queue_names(store, clock) -> dict[str, str | None]:
    calls = store.outcomes.open_callbacks(clock.now - dt.timedelta(days=7), clock.now + dt.timedelta(days=1))
    return {c.outcome_id: c.display_name for c in calls}


def test_rescue_carries_the_names_of_callbacks_so_the_queue_still_says_who_to_call(tmp_path, live, clock):
    damaged = tmp_path / "callcue.sqlite3.damaged-20261209-121500"
    outcome_id = _callback_store(damaged, live, clock)
    with sqlite3.connect(damaged) as connection:
        name, masked = connection.execute("SELECT display_name, masked_number FROM callback_details").fetchone()
    assert "*" in masked
    # Read from the pages alone too (SQLite refuses a damaged file).
    salvage = salvage_store(damaged, sql=False)
    assert {oid: (d.display_name, d.masked_number) for oid, d in salvage.callback_details.items()} == {
        outcome_id: (name, masked)}
    with open_store(tmp_path / "live.sqlite3") as store:  # no cached pop here: only the rescued name tells
        report = rescue_into(damaged, store)
        assert report.rescued == 1 and report.callback_details == 1
        assert _callback_names(store) == {outcome_id: (name, masked)}
        assert _queue_names(store, clock) == {outcome_id: name}
        assert rescue_into(damaged, store).callback_details == 0  # idempotent
    done = run_rescue(tmp_path, str(damaged), "--store", str(tmp_path / "other.sqlite3"), "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "1 callback(s) keep the name of who to call back" in done.stdout, done.stdout


def test_callback_names_of_a_fallback_store_are_moved_back_with_its_outcomes(tmp_path, live, clock):
    dirs = [tmp_path / "state" / "fallback"]
    path = tmp_path / "data" / "callcue.sqlite3"
    dirs[0].mkdir(parents=True, mode=0o700)
    outcome_id = _callback_store(dirs[0] / fallback_name(path), live, clock)
    opened = open_local_store(path, dirs=dirs)
    try:
        assert isinstance(opened.events[0], MovedBack)
        names = _callback_names(opened.store)
        assert set(names) == {outcome_id} and names[outcome_id][0]
    finally:
        opened.store.close()


def test_a_callback_name_row_is_never_taken_for_a_callback_without_its_outcome(tmp_path, live, clock):
    """Only names of callbacks the rescued file brought: a stray row of another store names nobody here."""
    from desktop.storage.salvage import SalvagedCallbackDetail

    with open_store(tmp_path / "live.sqlite3") as store:
        stray = SalvagedCallbackDetail(str(uuid.uuid4()), "王芳", "138****8000")
        assert store.outcomes.adopt([], [], [], [stray]).callback_details == 0
        assert _callback_names(store) == {}
