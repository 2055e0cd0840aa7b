"""The unknown-caller and failed-pop views still take an outcome (issue 15): Not offered, Call back and Do not
disturb (by number) on the outcome bar's usual keys, DND only on a confirming second press, the number masked
on screen and kept in full for the server."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from desktop.domain.states import PopState
from desktop.ui.qt import Qt
from server_stub.db.models import Outcome
from tests.gui.conftest import make_app, wait_for_state
from tests.gui.test_panel import labels, ring

STRANGER = "15500155000"  # no customer has this number
MASKED = "155****5000"


def _server_outcomes(server) -> dict[str, Outcome]:
    engine = create_engine(server.database_url)
    try:
        with Session(engine) as session:
            return {o.outcome_id: o for o in session.scalars(select(Outcome).where(Outcome.caller_number == STRANGER))}
    finally:
        engine.dispose()


def test_an_unknown_caller_gets_not_offered_callback_and_dnd_on_the_usual_keys(qtbot, panel, server):
    bar = panel.window.outcome_bar
    # Due a minute ago (within the picker's tolerance): listed among today's whatever the time of day.
    callback_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    bar._ask_callback = lambda: callback_at  # the picker, answered
    bar._ask_reason = lambda: "只是咨询信号覆盖"
    ring(panel, "call-stranger", STRANGER, state="answered")
    wait_for_state(qtbot, panel, "call-stranger", PopState.UNKNOWN_CALLER)
    enabled = {result for result, button in bar.buttons.items() if button.isEnabled()}
    assert enabled == {"not_offered", "callback", "do_not_disturb"}
    assert MASKED in bar.target.text() and STRANGER not in labels(panel.window)

    recorded = []
    panel.controller.outcome_recorded.connect(recorded.append)
    # Accepted needs an offer: its key does nothing here.
    qtbot.keyClick(panel.window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    # Do not disturb: the first press only arms it (it stops marketing to whoever holds the number).
    qtbot.keyClick(panel.window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert bar.armed() and MASKED in bar.target.text() and not recorded
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        qtbot.keyClick(panel.window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        qtbot.keyClick(panel.window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        qtbot.keyClick(panel.window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert [r.result for r in recorded] == ["do_not_disturb", "not_offered", "callback"]
    assert all(r.customer_id is None and r.offer_id is None for r in recorded)
    assert MASKED in panel.window.notice.text() and STRANGER not in panel.window.notice.text()

    # Synced exactly once, with the full number for the server.
    qtbot.waitUntil(lambda: len(_server_outcomes(server)) == 3, timeout=10_000)
    qtbot.waitUntil(lambda: panel.sync_service.state().pending == 0, timeout=10_000)
    stored = _server_outcomes(server)
    assert set(stored) == {r.outcome_id for r in recorded}
    assert {o.reason for o in stored.values() if o.result == "not_offered"} == {"只是咨询信号覆盖"}
    assert all(o.decision_id is None for o in stored.values())

    # Between calls, the callback is in the queue under the masked number, not the number or a code.
    panel.controller.dismiss("call-stranger")
    qtbot.waitUntil(lambda: not panel.window.has_calls(), timeout=5000)
    qtbot.waitUntil(lambda: any(c.masked_number == MASKED for c in panel.window.idle.callbacks), timeout=5000)
    idle = labels(panel.window.idle)
    assert MASKED in idle and "Unknown caller" in idle and STRANGER not in idle and "tel:" not in idle
    # Its Open key pops the caller by number again.
    panel.window.idle.open_next()
    qtbot.waitUntil(lambda: panel.window.has_calls(), timeout=5000)
    call_id = panel.window.current_call_id()
    view = wait_for_state(qtbot, panel, call_id, PopState.UNKNOWN_CALLER)
    assert view.result.key.ani == STRANGER


def test_a_failed_pop_takes_the_three_outcomes_into_the_outbox(qapp, qtbot, tmp_path, memory_keyring):
    app = make_app(qapp, tmp_path, "http://127.0.0.1:9", "not-a-token", **{"server.timeout_s": "0.5"})
    app.start(show=True)
    try:
        app.window.outcome_bar._ask_reason = lambda: "No time on this call"
        ring(app, "call-down", STRANGER, state="answered")
        view = wait_for_state(qtbot, app, "call-down", PopState.ERROR, PopState.STALE)
        assert view.result.document is None
        bar = app.window.outcome_bar
        assert {r for r, b in bar.buttons.items() if b.isEnabled()} == {"not_offered", "callback", "do_not_disturb"}
        with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000) as recorded:
            qtbot.keyClick(app.window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
        entry = app.store.outcomes.entry(recorded.args[0].outcome_id)
        assert entry is not None and entry.status == "pending"  # kept until the server answers
        payload = dict(app.store.outcomes.pending(10))[entry.outcome_id]
        assert payload["caller_number"] == STRANGER and payload["reason"] == "No time on this call"
    finally:
        app.close()


def test_the_unknown_caller_actions_speak_chinese(qapp, qtbot, tmp_path, server, memory_keyring):
    app = make_app(qapp, tmp_path, server.base_url, server.token, language="zh_CN")
    app.start(show=True)
    try:
        ring(app, "call-zh", STRANGER, state="answered")
        wait_for_state(qtbot, app, "call-zh", PopState.UNKNOWN_CALLER)
        bar = app.window.outcome_bar
        assert "没有客户资料" in bar.target.text() and MASKED in bar.target.text()
        qtbot.keyClick(app.window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
        assert bar.armed() and "无论该号码属于哪位客户" in bar.target.text()
        bar.disarm()
    finally:
        app.close()
