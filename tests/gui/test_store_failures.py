"""The panel and a local store that really fails: a save that does not commit is never shown as saved and
keeps the agent's note; a store that turns unreadable while the panel runs is shown, not only logged; the
next start sets it aside and says what it holds (pytest-qt, offscreen, real store files, real server)."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from desktop.calls.events import CallEvent
from desktop.domain.outcomes import OutboxStatus
from desktop.domain.states import PopState
from desktop.storage.store import suspect_marker
from tests.gui.conftest import CALM, make_app, wait_for_state

NOTE = "客户下月换套餐，先发短信 / will switch plans next month"


def answer(app, call_id: str, ani: str) -> None:
    app.router.handle(CallEvent(call_id=call_id, state="answered", ani=ani, source="test"))


def settle(qtbot, app) -> None:
    """Every background task of the pop (cache write, pop log, first sync) has finished."""
    qtbot.waitUntil(lambda: app.runner.stats().pending == 0, timeout=10_000)


@contextlib.contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another program holds the store's write lock (a real SQLite lock, from a second connection): the
    panel's save waits for it (busy timeout 5 s) and then fails with "locked"."""
    connection = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def notices_seen(app) -> list[str]:
    """Record every notice the panel shows from now on (the panel still shows it)."""
    seen: list[str] = []
    window = app.window
    original = window.show_notice

    def show_notice(text: str, kind: str = "synced", **where) -> None:
        seen.append(text)
        original(text, kind, **where)

    window.show_notice = show_notice
    return seen


def stored(app) -> dict[str, dict]:
    with app.store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT outcome_id, payload FROM outbox").all()
    return {oid: json.loads(payload) for oid, payload in rows}


def test_a_save_that_fails_never_says_saved_and_keeps_the_note(qtbot, panel, server):
    answer(panel, "call-locked", CALM[1])
    wait_for_state(qtbot, panel, "call-locked", PopState.LIVE)
    settle(qtbot, panel)
    seen = notices_seen(panel)
    bar = panel.window.outcome_bar
    bar.note.setText(NOTE)
    before = server.outcome_count()
    with write_locked(panel.store.path):
        bar.request("declined")
        qtbot.waitUntil(lambda: "Not saved" in panel.window.notice.text(), timeout=20_000)
    assert not any("✓" in text for text in seen), seen  # never claimed "saved", not even for a moment
    assert "locked" in panel.window.notice.text()
    assert bar.note.text() == NOTE  # the agent's note is still there to try again
    assert stored(panel) == {}
    # The lock is gone: the same press saves it, says so, and only now clears the note.
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=10_000) as recorded:
        bar.request("declined")
    assert "✓" in panel.window.notice.text() and bar.note.text() == ""
    assert stored(panel)[recorded.args[0].outcome_id]["note"] == NOTE
    qtbot.waitUntil(lambda: server.outcome_count() == before + 1, timeout=10_000)


def test_a_note_typed_while_the_save_runs_is_kept_for_the_next_outcome(qtbot, panel):
    answer(panel, "call-busy", CALM[1])
    wait_for_state(qtbot, panel, "call-busy", PopState.LIVE)
    settle(qtbot, panel)
    bar = panel.window.outcome_bar
    # The lock is released (inner context, left first) within the save's busy timeout: the save then commits.
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=10_000) as recorded, \
            write_locked(panel.store.path):
        bar.note.setText("first: declined the roaming pack")
        bar.request("declined")
        bar.note.setText("second: asks for a callback")  # typed while the first save waits for the disk
    assert "✓" in panel.window.notice.text()
    assert stored(panel)[recorded.args[0].outcome_id]["note"] == "first: declined the roaming pack"
    assert bar.note.text() == "second: asks for a callback"


def index_pages(path: Path, name: str) -> list[int]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as connection:
        return [page for (page,) in connection.execute("SELECT pageno FROM dbstat WHERE name = ?", (name,))]


def test_a_store_damaged_while_the_panel_runs_is_shown_then_set_aside_at_the_next_start(
        qapp, qtbot, tmp_path, server, memory_keyring):
    app = make_app(qapp, tmp_path, server.base_url, server.token)
    path = app.store.path
    try:
        app.start(show=True)
        answer(app, "call-damage", CALM[1])
        wait_for_state(qtbot, app, "call-damage", PopState.LIVE)
        settle(qtbot, app)
        app.panel.use_client(None, "agent-007")  # signed out: the outcome stays in the outbox, undelivered
        with qtbot.waitSignal(app.controller.outcome_recorded, timeout=10_000):
            app.window.outcome_bar.request("declined")
        settle(qtbot, app)
        app.store.engine.dispose()  # the pooled connections go: the next read comes from the file itself
        rng = random.Random(3)
        with path.open("r+b") as handle:  # the disk garbles the outbox's status index
            for page in index_pages(path, "ix_outbox_status"):
                handle.seek((page - 1) * 4096)
                handle.write(rng.randbytes(4096))
        app.controller.refresh_sync_state()
        qtbot.waitUntil(lambda: "damaged: restart CallCue" in app.window.sync_badge.text(), timeout=10_000)
        assert "The local data file is damaged" in app.window.notice.text()
        assert "Restart CallCue" in app.window.notice.text()
        assert suspect_marker(path).exists()  # the next start checks the whole file
    finally:
        app.close()
    again = make_app(qapp, tmp_path, server.base_url, server.token)
    try:
        again.start(show=True)
        text = again.window.notice.text()
        assert "was damaged. It was set aside as" in text, text
        assert "It holds 1 outcome(s) not yet sent to the server" in text and "callcue store rescue" in text, text
        kept = [p for p in path.parent.glob(path.name + ".damaged-*") if not p.name.endswith(("-wal", "-shm"))]
        assert len(kept) == 1 and str(kept[0]) in text
        assert again.store.outcomes.counts()[OutboxStatus.PENDING] == 0
    finally:
        again.close()


def test_damage_the_start_up_check_had_no_time_for_is_found_in_the_background_and_shown(
        qapp, qtbot, tmp_path, server, memory_keyring, monkeypatch):
    from desktop.services import store_recovery

    path = tmp_path / "data" / "callcue.sqlite3"
    first = make_app(qapp, tmp_path, server.base_url, server.token)
    first.close()  # a store exists
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as connection:  # a page start-up does not read
        [(page,)] = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'local_contacts'").fetchall()
    with path.open("r+b") as handle:
        handle.seek((page - 1) * 4096)
        handle.write(random.Random(5).randbytes(4096))
    monkeypatch.setattr(store_recovery, "START_CHECK_BUDGET_S", 0.0)  # as if the store were too big to check
    app = make_app(qapp, tmp_path, server.base_url, server.token)
    try:
        app.start(show=True)
        assert app.panel.store_events == []  # not found at start …
        qtbot.waitUntil(lambda: "The local data file is damaged" in app.window.notice.text(), timeout=10_000)
        with qtbot.waitSignal(app.controller.sync_state_changed, timeout=10_000):
            app.controller.refresh_sync_state()  # the outbox itself reads fine: the badge keeps the damage
        assert "damaged: restart CallCue" in app.window.sync_badge.text()  # … found by the background check
        assert suspect_marker(path).exists()
    finally:
        app.close()
