"""Undo in the panel (issue 15): the banner after an outcome, Ctrl+Z while it is up, and the outcome no
longer counting anywhere afterwards (local store and the real server)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from desktop.domain.states import PopState
from desktop.ui.qt import Qt
from server_stub.db.models import Outcome
from tests.gui.conftest import CALM, wait_for_state
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
