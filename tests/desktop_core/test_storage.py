"""The local SQLite store: pragmas, permissions, migrations, durability, faults, repositories."""

from __future__ import annotations

import datetime as dt
import errno
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from desktop.domain.outcomes import OutboxStatus, OutcomeRecord, OutcomeResult
from desktop.storage import (
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreReadOnly,
    open_store,
    quarantine_corrupt_store,
)
from desktop.storage.engine import alembic_config, classify, current_revision, head_revision
from desktop.storage.models import Base
from tests.desktop_core.fs_scenarios import run_in_namespace

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def record(customer_id: str = "C1", offer_id: str | None = "CARE-CHECKUP", result: str = "declined", *,
           at: dt.datetime = T0, decision_id: str | None = None, **fields) -> OutcomeRecord:
    return OutcomeRecord(outcome_id=str(uuid.uuid4()), decision_id=decision_id or str(uuid.uuid4()),
                         customer_id=customer_id, result=OutcomeResult(result), recorded_at=at, offer_id=offer_id,
                         **fields)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_pragmas_make_commits_durable(store):
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL
    assert store.pragma("foreign_keys") == 1
    assert store.pragma("busy_timeout") == 5000
    assert store.pragma("secure_delete") == 1  # deleted customer data does not linger in the file
    assert store.check_integrity()


def test_files_are_private(tmp_path):
    path = tmp_path / "new-dir" / "callcue.sqlite3"
    with open_store(path) as store:
        store.record_outcome(record())
        assert mode(path.parent) == 0o700
        for suffix in ("", "-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            assert companion.exists(), suffix
            assert mode(companion) == 0o600, suffix


def test_existing_file_with_loose_mode_is_tightened(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    open_store(path).close()
    os.chmod(path, 0o644)
    open_store(path).close()
    assert mode(path) == 0o600


def test_migrations_reach_head_and_match_the_models(store):
    assert current_revision(store.engine) == head_revision() == ScriptDirectory.from_config(
        alembic_config()).get_current_head()
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_reopening_does_not_migrate_again(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    with open_store(path) as store:
        kept = store.record_outcome(record())
    with open_store(path) as store:
        assert store.outcomes.entry(kept.outcome_id) is not None


def test_recorded_outcome_is_visible_to_a_fresh_connection_before_close(store):
    kept = store.record_outcome(record(note="客户说下个月再考虑"))
    # A separate connection (as after a crash and restart) sees the committed row.
    raw = sqlite3.connect(store.path)
    try:
        rows = raw.execute("SELECT status, customer_id FROM outbox WHERE outcome_id = ?",
                           (kept.outcome_id,)).fetchall()
        contacts = raw.execute("SELECT result FROM local_contacts WHERE outcome_id = ?", (kept.outcome_id,)).fetchall()
    finally:
        raw.close()
    assert rows == [("pending", "C1")] and contacts == [("declined",)]


def test_a_second_identical_press_is_not_a_second_outcome(store):
    decision = str(uuid.uuid4())
    first = store.record_outcome(record(decision_id=decision, call_id="call-1"))
    again = store.record_outcome(record(decision_id=decision, call_id="call-1", at=T0 + dt.timedelta(seconds=2)))
    assert again.outcome_id == first.outcome_id
    changed = store.record_outcome(record(decision_id=decision, call_id="call-1", result="considering",
                                          at=T0 + dt.timedelta(seconds=3)))
    assert changed.outcome_id != first.outcome_id
    assert store.outcomes.counts()[OutboxStatus.PENDING] == 2


def test_corrupt_file_is_reported_plainly(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    path.write_bytes(b"this is not a database, just text that got here somehow" * 100)
    with pytest.raises(StoreCorrupt, match="damaged or is not a CallCue data file") as caught:
        open_store(path)
    assert caught.value.user_error.code == "store_corrupt"
    moved = quarantine_corrupt_store(path, T0)
    assert moved.exists() and not path.exists()
    open_store(path).close()  # a fresh store can be created in its place


def test_file_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    open_store(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE alembic_version SET version_num = '9999'")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="written by a newer CallCue"):
        open_store(path)


def test_full_disk_is_reported_and_saved_outcomes_survive(tmp_path):
    outcome = run_in_namespace("full", tmp_path, REPO_ROOT)
    if outcome is None:
        pytest.skip("this machine cannot create a private mount namespace (unshare) for a tiny tmpfs")
    assert outcome["error"]["type"] == "StoreFull" and outcome["error"]["code"] == "disk_full"
    assert "is full" in outcome["error"]["message"]
    assert outcome["saved"] > 0 and outcome["all_saved_present"]


def test_space_freed_after_a_full_disk_goes_to_outcomes_before_cache_and_pop_log(tmp_path):
    """A real 24 MiB tmpfs: full, then 4 MiB freed (less than the 16 MiB outcome reserve). The next 300 pops'
    cache documents and pop-log rows would eat it; they wait, so the outcomes that follow are all saved."""
    outcome = run_in_namespace("reserve", tmp_path, REPO_ROOT)
    if outcome is None:
        pytest.skip("this machine cannot create a private mount namespace (unshare) for a tiny tmpfs")
    assert outcome["full_error"] == "disk_full", outcome  # the episode was real
    assert (outcome["cached"], outcome["logged"], outcome["skipped"]) == (0, 0, 300), outcome
    assert (outcome["outcomes_after"], outcome["after_error"]) == (30, None), outcome
    assert outcome["cache_resumed"], outcome  # with space back above the reserve, caching resumes
    # A store file the full disk did not let SQLite write is not left behind (an empty store file at the
    # next start means a store that lost its content, see store_recovery._emptied).
    assert outcome["new_store_error"] == "disk_full" and not outcome["never_written_left"], outcome


def test_read_only_directory_is_reported(tmp_path):
    outcome = run_in_namespace("readonly_new", tmp_path, REPO_ROOT)
    if outcome is None:
        pytest.skip("this machine cannot create a private mount namespace (unshare) for a read-only tmpfs")
    assert outcome["error"]["type"] == "StoreReadOnly" and outcome["error"]["code"] == "read_only"


def test_volume_turning_read_only_is_reported(tmp_path):
    outcome = run_in_namespace("readonly_existing", tmp_path, REPO_ROOT)
    if outcome is None:
        pytest.skip("this machine cannot create a private mount namespace (unshare) for a read-only tmpfs")
    assert outcome["error"]["type"] == "StoreReadOnly", outcome


@pytest.mark.parametrize(
    ("error", "expected"),
    [(OSError(errno.ENOSPC, "No space left on device"), StoreFull),
     (OSError(errno.EROFS, "Read-only file system"), StoreReadOnly),
     (PermissionError(errno.EACCES, "Permission denied"), StoreReadOnly),
     (OSError(errno.EIO, "I/O error"), StoreError)],
)
def test_os_errors_are_classified(tmp_path, error, expected):
    assert type(classify(error, tmp_path / "x.sqlite3")) is expected


def test_outbox_lifecycle(store):
    a, b, c = (store.record_outcome(record(f"C{i}", at=T0 + dt.timedelta(seconds=i))) for i in range(3))
    assert [i for i, _ in store.outcomes.pending(10)] == [a.outcome_id, b.outcome_id, c.outcome_id]
    assert [i for i, _ in store.outcomes.pending(10, exclude=[b.outcome_id])] == [a.outcome_id, c.outcome_id]
    assert store.outcomes.mark_delivered([a.outcome_id], T0) == 1
    store.outcomes.mark_needs_attention({b.outcome_id: "unknown offer_id 'X'"})
    store.outcomes.mark_attempted([c.outcome_id], "timeout")
    counts = store.outcomes.counts()
    assert (counts[OutboxStatus.DELIVERED], counts[OutboxStatus.NEEDS_ATTENTION], counts[OutboxStatus.PENDING]) == (1, 1, 1)
    [attention] = store.outcomes.entries(OutboxStatus.NEEDS_ATTENTION)
    assert attention.server_reason == "unknown offer_id 'X'" and attention.attempts == 1
    assert store.outcomes.entry(c.outcome_id).last_error == "timeout"
    assert store.outcomes.last_delivered_at() == T0
    # A delivered item is never re-queued by mistake; a needs-attention one only on request.
    assert not store.outcomes.retry(a.outcome_id)
    assert store.outcomes.retry(b.outcome_id)
    assert store.outcomes.entry(b.outcome_id).status is OutboxStatus.PENDING
    store.outcomes.mark_needs_attention({b.outcome_id: "still wrong"})
    assert store.outcomes.dismiss(b.outcome_id)
    assert store.outcomes.entry(b.outcome_id).status is OutboxStatus.DISMISSED
    assert store.outcomes.prune_delivered(T0 + dt.timedelta(days=31)) == 1
    # local_contacts keeps every outcome for statistics and local guidance.
    assert len(store.outcomes.local_contacts("C0", T0 - dt.timedelta(days=1))) == 1


def test_cached_views_share_one_document_and_expire(store):
    doc = {"decision_id": "d1", "customer": {"customer_id": "C1"}}
    store.views.put(["ani:13800138000", "cust:C1", "ani:13800138000"], "C1", doc, T0)
    assert store.views.get(["ani:13800138000"], not_before=T0 - dt.timedelta(hours=24)) == (doc, T0)
    assert store.views.get(["cust:missing", "cust:C1"], not_before=T0)[0] == doc
    assert store.views.get(["cust:C1"], not_before=T0 + dt.timedelta(seconds=1)) is None  # past the TTL
    newer = {**doc, "decision_id": "d2"}
    store.views.put(["cust:C1"], "C1", newer, T0 + dt.timedelta(hours=1))
    assert store.views.get(["ani:13800138000"], not_before=T0)[0] == newer  # both keys see the update
    store.views.forget("ani:13800138000")
    assert store.views.get(["ani:13800138000"], not_before=T0) is None
    assert store.views.purge_expired(T0 + dt.timedelta(hours=2)) == 1
    assert store.views.get(["cust:C1"], not_before=T0) is None
    store.views.put(["cust:C2"], "C2", doc, T0)
    store.views.clear()
    assert store.views.get(["cust:C2"], not_before=T0) is None


def test_pop_log_links_outcomes(store):
    first = store.pops.log(popped_at=T0, state="live", call_id="call-1", customer_id="C1", decision_id="d1",
                           agent_id="a", offers_presented=["CARE-CHECKUP"],
                           suppressed=[{"offer_id": "PLAN-5G-199", "codes": ["price_sensitive"]}],
                           campaign_id="CMP-FAMILY", wave=2)
    second = store.pops.log(popped_at=T0 + dt.timedelta(minutes=5), state="stale", call_id="call-2",
                            customer_id="C1", decision_id="d1", agent_id="a", offers_presented=[], suppressed=[],
                            campaign_id=None, wave=None)
    at = T0 + dt.timedelta(minutes=6)

    def linked(**fields) -> tuple[int | None, dt.datetime | None]:
        kept = store.record_outcome(record(at=at, **fields), link_pop=True)
        return kept.pop_id, kept.popped_at

    # The same call's pop first, else the latest pop of the decision; a given pop_id wins when logged.
    assert linked(decision_id="d1", call_id="call-1") == (first, T0)
    assert linked(decision_id="d1", call_id="call-9", result="accepted") == (second, T0 + dt.timedelta(minutes=5))
    assert linked(decision_id="d1", call_id="call-2", pop_id=first, result="considering") == (first, T0)
    assert linked(decision_id="d1", call_id="call-1", pop_id=999, result="callback",
                  callback_at=at + dt.timedelta(hours=1)) == (first, T0)
    assert linked(decision_id="unknown", pop_id=first) == (first, T0)
    assert linked(decision_id="unknown", call_id="call-1") == (None, None)
    assert store.record_outcome(record(at=at, decision_id="d1", pop_id=first)).pop_id == first  # kept as given


def test_naive_times_are_refused(store):
    with pytest.raises(StoreError):
        store.record_outcome(record(at=dt.datetime(2026, 11, 23, 10, 0)))


def test_opening_an_up_to_date_store_does_not_load_alembic(tmp_path):
    """Start-up cost: Alembic (~16 MiB) is imported only when a migration has to run."""
    path = tmp_path / "callcue.sqlite3"
    open_store(path).close()
    probe = (
        "import sys; from desktop.storage import open_store; "
        f"open_store({str(path)!r}).close(); print('alembic' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False", result.stderr
