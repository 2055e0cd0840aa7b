"""Undo in the panel (issue 15): the banner after an outcome, Ctrl+Z while it is up, and the outcome no
longer counting anywhere afterwards (local store and the real server)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from desktop.domain.states import PopState
from desktop.ui.qt import Qt
from server_stub.db.models import Outcome
from tests.gui.conftest import CALM, make_app, wait_for_state
from tests.gui.test_panel import ring


def _standing_on_server(server, outcome_id: str) -> bool:
    engine = create_engine(server.database_url)
    try:
        with Session(engine) as session:
            row = session.scalar(select(Outcome.retracted_at).where(Outcome.outcome_id == outcome_id))
            exists = session.scalar(select(Outcome.outcome_id).where(Outcome.outcome_id == outcome_id))
        return exists is not None and row is None
    finally:
        engine.dispose()


def test_ctrl_z_on_the_banner_takes_the_outcome_back(qtbot, panel, server):
    ring(panel, "call-undo", CALM[1], state="answered")
    view = wait_for_state(qtbot, panel, "call-undo", PopState.LIVE)
    name = view.result.document.customer.display_name
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000) as recorded:
        qtbot.keyClick(panel.window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    outcome_id = recorded.args[0].outcome_id
    banner = panel.window.notice.text()
    assert "Declined" in banner and name in banner and "Ctrl+Z" in banner
    with qtbot.waitSignal(panel.window.undo_requested, timeout=5000) as undo:
        qtbot.keyClick(panel.window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert undo.args == [outcome_id]
    qtbot.waitUntil(lambda: "undone" in panel.window.notice.text(), timeout=5000)
    assert panel.store.outcomes.local_contacts(CALM[0], dt.datetime.now(dt.UTC) - dt.timedelta(days=1)) == []
    # Removed before sending, or sent and then retracted: either way nothing of it stands on the server.
    qtbot.waitUntil(lambda: panel.sync_service.state().pending == 0, timeout=10_000)
    assert not _standing_on_server(server, outcome_id)
    # A second Ctrl+Z does nothing more (the banner is gone).
    with qtbot.assertNotEmitted(panel.window.undo_requested, wait=100):
        qtbot.keyClick(panel.window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


HELD_JOB = "sync-after-undo-window"


def _on_server(server, outcome_id: str) -> bool:
    engine = create_engine(server.database_url)
    try:
        with Session(engine) as session:
            return session.scalar(select(Outcome.outcome_id).where(Outcome.outcome_id == outcome_id)) is not None
    finally:
        engine.dispose()


def _record_declined(qtbot, app, call_id: str) -> str:
    ring(app, call_id, CALM[1], state="answered")
    wait_for_state(qtbot, app, call_id, PopState.LIVE)
    with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000) as recorded:
        qtbot.keyClick(app.window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    return recorded.args[0].outcome_id


def test_an_outcome_is_sent_when_its_undo_window_ends_by_a_scheduled_run(qapp, qtbot, tmp_path, server,
                                                                          memory_keyring):
    # No periodic sync during the test: only the run scheduled for the window's end can send it.
    app = make_app(qapp, tmp_path, server.base_url, server.token,
                   **{"sync.undo_window_s": "2", "sync.interval_s": "3600"})
    app.start(show=True)
    try:
        outcome_id = _record_declined(qtbot, app, "call-hold")
        recorded_at = app.store.outcomes.entry(outcome_id).recorded_at
        # The sync forced by the outcome sent nothing and scheduled one run for the end of the window.
        qtbot.waitUntil(lambda: app.scheduler.has_job(HELD_JOB), timeout=5000)
        due = app.scheduler.next_run_time(HELD_JOB)
        assert abs((due - (recorded_at + dt.timedelta(seconds=2))).total_seconds()) < 0.01
        assert not _on_server(server, outcome_id)
        assert app.store.outcomes.entry(outcome_id).status == "pending"
        qtbot.waitUntil(lambda: _on_server(server, outcome_id), timeout=6000)
        qtbot.waitUntil(lambda: app.store.outcomes.entry(outcome_id).status == "delivered", timeout=5000)
    finally:
        app.close()


def test_undo_within_the_window_removes_the_outcome_before_anything_is_sent(qapp, qtbot, tmp_path, server,
                                                                            memory_keyring):
    app = make_app(qapp, tmp_path, server.base_url, server.token, **{"sync.undo_window_s": "60"})
    app.start(show=True)
    try:
        outcome_id = _record_declined(qtbot, app, "call-undo-held")
        qtbot.waitUntil(lambda: app.scheduler.has_job(HELD_JOB), timeout=5000)  # held, not sent
        with qtbot.waitSignal(app.window.undo_requested, timeout=5000):
            qtbot.keyClick(app.window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: "undone" in app.window.notice.text(), timeout=5000)
        assert app.store.outcomes.entry(outcome_id) is None  # gone from the outbox
        assert app.store.outcomes.count_pending_retractions() == 0  # nothing to take back on the server
        qtbot.waitUntil(lambda: app.sync_service.state().pending == 0, timeout=5000)
        assert not _on_server(server, outcome_id)
    finally:
        app.close()


def test_closing_keeps_held_outcomes_in_the_outbox_and_the_next_start_sends_them(qapp, qtbot, tmp_path, server,
                                                                                  memory_keyring):
    from desktop.storage import open_store

    first = make_app(qapp, tmp_path, server.base_url, server.token, **{"sync.undo_window_s": "60"})
    first.start(show=True)
    try:
        outcome_id = _record_declined(qtbot, first, "call-close-held")
        qtbot.waitUntil(lambda: first.scheduler.has_job(HELD_JOB), timeout=5000)
        path = first.store.path
    finally:
        first.close()  # at once: the window does not hold the panel open
    assert not _on_server(server, outcome_id)
    with open_store(path) as store:
        assert store.outcomes.entry(outcome_id).status == "pending"
    again = make_app(qapp, tmp_path, server.base_url, server.token,
                     **{"sync.undo_window_s": "1", "sync.interval_s": "3600"})
    again.start(show=True)
    try:
        qtbot.waitUntil(lambda: _on_server(server, outcome_id), timeout=8000)
        qtbot.waitUntil(lambda: again.store.outcomes.entry(outcome_id).status == "delivered", timeout=5000)
    finally:
        again.close()


def test_when_the_banner_ends_the_calls_saved_notice_comes_back_and_ctrl_z_is_the_fields_again(qtbot, panel):
    ring(panel, "call-banner-end", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-banner-end", PopState.LIVE)
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        qtbot.keyClick(panel.window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert "Ctrl+Z" in panel.window.notice.text()
    assert panel.window._undo_timer.isActive()
    panel.window._undo_timer.stop()
    panel.window._undo_expired()  # what the banner's timer does when its time is up
    notice = panel.window.notice.text()
    assert "Saved" in notice and "Declined" in notice and "Ctrl+Z" not in notice
    with qtbot.assertNotEmitted(panel.window.undo_requested, wait=100):
        qtbot.keyClick(panel.window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
