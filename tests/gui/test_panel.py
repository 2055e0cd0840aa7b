"""The agent panel end to end: call events in, pops painted, outcomes saved and synced, against the real
server process (pytest-qt, offscreen)."""

from __future__ import annotations

from desktop.calls.events import CallEvent
from desktop.domain.states import PopState
from desktop.ui.qt import Qt, QtWidgets
from tests.gui.conftest import CALM, COMPLAINT, PRICE_SENSITIVE, make_app, wait_for_state


def ring(app, call_id: str, ani: str | None = None, state: str = "ringing", customer_id: str | None = None):
    return app.router.handle(CallEvent(call_id=call_id, state=state, ani=ani, customer_id=customer_id,
                                       source="test"))


def labels(widget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel))


def test_a_pop_never_takes_the_keyboard_from_the_softphone(qapp, qtbot, panel):
    softphone = QtWidgets.QLineEdit()
    qtbot.addWidget(softphone)
    softphone.show()
    softphone.activateWindow()
    softphone.setFocus()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is softphone)
    panel.window.hide()
    ring(panel, "call-focus", CALM[1])
    wait_for_state(qtbot, panel, "call-focus", PopState.LIVE)
    assert panel.window.isVisible()
    assert QtWidgets.QApplication.focusWidget() is softphone
    assert QtWidgets.QApplication.activeWindow() is not panel.window
    qtbot.keyClicks(softphone, "13800")
    assert softphone.text() == "13800"


def test_ringing_pops_live_data_with_warnings_offers_and_guidance(qtbot, panel):
    ring(panel, "call-1", "+86 139 0013 9000")
    view = wait_for_state(qtbot, panel, "call-1", PopState.LIVE)
    text = labels(view)
    assert "张伟" in text and "139****9000" in text
    assert "Price-sensitive (high)" in text
    assert "don't pitch" in text or "no paid offers" in text
    assert "Wave" in text or "Contact guidance" in text
    document = view.result.document
    assert document.pitchable_offers[0].offer_id == "RET-DISCOUNT-20"
    assert view.selected_offer_id == "RET-DISCOUNT-20"
    assert "Outcome for:" in panel.window.outcome_bar.target.text()
    # The number never appears unmasked anywhere in the panel.
    assert "13900139000" not in labels(panel.window)


def test_complaints_come_first_for_complaint_sensitive_callers(qtbot, panel):
    ring(panel, "call-c", COMPLAINT[1])
    view = wait_for_state(qtbot, panel, "call-c", PopState.LIVE)
    warnings = [view.warnings.itemAt(i).widget() for i in range(view.warnings.count())]
    assert "Complaint-sensitive" in labels(warnings[0])
    assert "[open]" in labels(warnings[0])


def test_duplicates_replays_and_transfers_never_pop_twice(qtbot, panel):
    ring(panel, "call-d", CALM[1])
    wait_for_state(qtbot, panel, "call-d", PopState.LIVE)
    ring(panel, "call-d", CALM[1])  # duplicate
    ring(panel, "call-d", CALM[1], state="answered")
    ring(panel, "call-d", CALM[1], state="ringing")  # replay of an older state
    assert panel.window.tabs.count() == 1
    ring(panel, "call-d", PRICE_SENSITIVE[1], state="transferred")  # now about another customer
    view = wait_for_state(qtbot, panel, "call-d", PopState.LIVE)
    qtbot.waitUntil(lambda: view.result.document.customer.customer_id == PRICE_SENSITIVE[0])
    assert panel.window.tabs.count() == 1


def test_concurrent_calls_get_one_tab_each(qtbot, panel):
    ring(panel, "call-a", CALM[1])
    ring(panel, "call-b", PRICE_SENSITIVE[1])
    wait_for_state(qtbot, panel, "call-a", PopState.LIVE)
    wait_for_state(qtbot, panel, "call-b", PopState.LIVE)
    assert panel.window.tabs.count() == 2


def test_unknown_caller_gets_new_customer_guidance(qtbot, panel):
    ring(panel, "call-u", "13012345678")
    view = wait_for_state(qtbot, panel, "call-u", PopState.UNKNOWN_CALLER)
    assert "130****5678" in labels(view)
    assert "New or unregistered caller" in labels(view)
    assert not panel.window.outcome_bar.buttons["accepted"].isEnabled()


def test_one_key_records_durably_guides_locally_and_syncs_exactly_once(qtbot, panel, server):
    before = server.outcome_count()
    ring(panel, "call-o", CALM[1], state="answered")
    view = wait_for_state(qtbot, panel, "call-o", PopState.LIVE)
    offer_id = view.selected_offer_id
    assert offer_id is not None
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000) as recorded:
        qtbot.keyClick(panel.window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert recorded.args[0].offer_id == offer_id
    assert "Recorded" in panel.window.notice.text() and "Ctrl+Z" in panel.window.notice.text()
    # Local guidance at once: the refused offer is not pitched again, even before the server knows.
    qtbot.waitUntil(lambda: bool(view.result.document.offer(offer_id).suppressed_by))
    assert "recent_refusal" in {r.code for r in view.result.document.offer(offer_id).suppressed_by}
    assert view.selected_offer_id != offer_id
    qtbot.waitUntil(lambda: server.outcome_count() == before + 1, timeout=10000)
    qtbot.waitUntil(lambda: "synced" in panel.window.sync_badge.text(), timeout=5000)
    panel.controller.request_sync(force=True)
    qtbot.waitUntil(lambda: not panel.controller._sync_running, timeout=5000)
    assert server.outcome_count() == before + 1


def test_outcome_buttons_show_their_shortcuts_and_names(panel):
    for result, button in panel.window.outcome_bar.buttons.items():
        assert button.accessibleName()
        assert "Ctrl+" in button.text(), result


def test_every_control_has_an_accessible_name_and_is_reachable_by_keyboard(qtbot, panel):
    ring(panel, "call-k", CALM[1])
    wait_for_state(qtbot, panel, "call-k", PopState.LIVE)
    window = panel.window
    for widget in window.findChildren(QtWidgets.QAbstractButton) + window.findChildren(QtWidgets.QLineEdit):
        if widget.isVisibleTo(window):
            assert widget.accessibleName() or widget.text(), widget
            if widget.accessibleName() == "Clear search":
                continue  # the search field itself is reachable; its text is cleared by keyboard there
            assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus, widget


def test_switching_language_keeps_open_calls(qtbot, panel):
    ring(panel, "call-l", PRICE_SENSITIVE[1])
    wait_for_state(qtbot, panel, "call-l", PopState.LIVE)
    panel.switch_language("zh_CN")
    view = wait_for_state(qtbot, panel, "call-l", PopState.LIVE)
    text = labels(view)
    assert "话费敏感" in text and "推荐业务" in text
    assert panel.window.outcome_bar.buttons["accepted"].text().startswith("接受")


def test_server_down_shows_stale_cached_data_and_keeps_outcomes(qapp, qtbot, tmp_path, server, memory_keyring):
    app = make_app(qapp, tmp_path, server.base_url, server.token)
    app.start(show=True)
    try:
        ring(app, "call-s1", CALM[1])
        wait_for_state(qtbot, app, "call-s1", PopState.LIVE)
    finally:
        app.close()
    # Same workstation, server unreachable (a closed port on loopback).
    offline = make_app(qapp, tmp_path, "http://127.0.0.1:9", server.token)
    offline.start(show=True)
    try:
        ring(offline, "call-s2", CALM[1])
        view = wait_for_state(qtbot, offline, "call-s2", PopState.STALE)
        text = labels(view)
        assert "Server unreachable" in text and "min old" in text
        with qtbot.waitSignal(offline.controller.outcome_recorded, timeout=5000):
            offline.window.outcome_bar.buttons["considering"].click()
        qtbot.waitUntil(lambda: "Offline since" in offline.window.sync_badge.text(), timeout=5000)
        assert "1 pending" in offline.window.sync_badge.text()
    finally:
        offline.close()


def test_an_outcome_key_pressed_just_before_the_panel_closes_is_still_saved(qapp, qtbot, tmp_path, server,
                                                                           memory_keyring):
    """The save of an outcome waits on the single "db" worker behind other store work; a close meanwhile
    (the agent signs off the moment they pressed the key) used to drop it unsaved. Now it runs before the
    panel goes (the agent is not told "saved" any more, but the key press is not lost)."""
    import sqlite3
    import threading

    app = make_app(qapp, tmp_path, server.base_url, server.token)
    app.start(show=True)
    busy, release = threading.Event(), threading.Event()
    try:
        ring(app, "call-k", CALM[1], state="answered")
        wait_for_state(qtbot, app, "call-k", PopState.LIVE)
        qtbot.waitUntil(lambda: app.runner.stats().pending == 0, timeout=10_000)
        app.runner.submit("db", lambda: (busy.set(), release.wait(10)), name="test.hold-db")
        assert busy.wait(5)
        app.window.outcome_bar.buttons["considering"].click()  # queued behind the held store work

        def release_once_closing() -> None:  # frees the worker while close() is waiting for it
            while not app.runner._dropping and not release.wait(0.005):
                pass
            release.set()

        closer = threading.Thread(target=release_once_closing)
        closer.start()
        app.close()
        closer.join()
    finally:
        release.set()
        app.close()
    database = sqlite3.connect(tmp_path / "data" / "callcue.sqlite3")
    try:
        saved = database.execute("SELECT result FROM outbox").fetchall()
    finally:
        database.close()
    assert saved == [("considering",)]


def test_a_panel_closed_the_moment_a_pop_goes_live_still_caches_and_logs_it(qapp, qtbot, tmp_path, server,
                                                                           memory_keyring):
    """The cache write and the pop log follow the paint (they wait for the events queued before them);
    a close in between used to drop them, so the next start had nothing to show offline (the flake of
    test_server_down_shows_stale_cached_data_and_keeps_outcomes, one run in three under load)."""
    import sqlite3

    app = make_app(qapp, tmp_path, server.base_url, server.token)
    app.start(show=True)
    closed_at_live = []

    def close_at_live(event) -> None:  # e.g. a host that closes the panel once it has popped
        if event.state == "live" and not closed_at_live:
            closed_at_live.append(event.call_id)
            app.close()

    app.controller.pop_shown.connect(close_at_live)
    try:
        ring(app, "call-q", CALM[1])
        qtbot.waitUntil(lambda: closed_at_live == ["call-q"], timeout=5000)
    finally:
        app.close()
    database = sqlite3.connect(tmp_path / "data" / "callcue.sqlite3")
    try:
        logged = database.execute("SELECT state FROM pop_log WHERE call_id = 'call-q'").fetchall()
        cached = database.execute("SELECT count(*) FROM cached_views").fetchone()[0]
    finally:
        database.close()
    assert logged == [("live",)]
    assert cached >= 1
    offline = make_app(qapp, tmp_path, "http://127.0.0.1:9", server.token)
    offline.start(show=True)
    try:
        ring(offline, "call-q2", CALM[1])
        view = wait_for_state(qtbot, offline, "call-q2", PopState.STALE)
        assert view.result.document.customer.customer_id == CALM[0]
    finally:
        offline.close()


def test_callback_outcome_reminds_the_agent_at_the_agreed_time(qtbot, panel):
    import datetime as dt

    ring(panel, "call-cb", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-cb", PopState.LIVE)
    bar = panel.window.outcome_bar
    bar._ask_callback = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        bar.buttons["callback"].click()
    with qtbot.waitSignal(panel.controller.callback_due, timeout=5000) as due:
        pass
    assert "王芳" in due.args[0]
    assert "call back" in panel.window.notice.text().lower()


def test_search_by_name_pops_the_customer_like_a_call(qtbot, panel):
    search = panel.window.search
    search.edit.setText("刘")
    search.edit.returnPressed.emit()
    qtbot.waitUntil(lambda: search.results.count() == 1, timeout=5000)
    assert "C-COMPLAINT" in search.results.item(0).text()
    assert "13700137000" not in search.results.item(0).text()  # numbers are masked in the list
    search.results.itemActivated.emit(search.results.item(0))
    qtbot.waitUntil(lambda: panel.window.tabs.count() == 1)
    call_id = panel.window.current_call_id()
    view = wait_for_state(qtbot, panel, call_id, PopState.LIVE)
    assert view.result.document.customer.customer_id == "C-COMPLAINT"
    search.edit.setText("no such person")
    search.edit.returnPressed.emit()
    qtbot.waitUntil(lambda: "No customer found" in search.message.text(), timeout=5000)


def test_wrap_up_reminder_fires_after_the_call_ends_without_an_outcome(qapp, qtbot, tmp_path, server, memory_keyring):
    app = make_app(qapp, tmp_path, server.base_url, server.token, **{"ui.wrapup_reminder_s": "1"})
    app.start(show=True)
    try:
        ring(app, "call-w", CALM[1], state="answered")
        wait_for_state(qtbot, app, "call-w", PopState.LIVE)
        ring(app, "call-w", CALM[1], state="ended")
        assert "wrap-up" in app.window.tabs.tabText(0)
        with qtbot.waitSignal(app.reminders.reminder_due, timeout=5000):
            pass
        assert "Wrap-up" in app.window.notice.text() and "王芳" in app.window.notice.text()
    finally:
        app.close()


def test_an_outcome_the_server_refuses_is_kept_and_shown_as_needing_attention(qtbot, panel, server):
    from sqlalchemy import create_engine, delete

    from server_stub.db.models import Decision

    ring(panel, "call-r", PRICE_SENSITIVE[1], state="answered")
    view = wait_for_state(qtbot, panel, "call-r", PopState.LIVE)
    # The server loses the decision (e.g. restored from an older backup) before the outcome arrives.
    engine = create_engine(server.database_url)
    with engine.begin() as connection:
        connection.execute(delete(Decision).where(Decision.decision_id == view.result.document.decision_id))
    engine.dispose()
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        panel.window.outcome_bar.buttons["accepted"].click()
    qtbot.waitUntil(lambda: "need attention" in panel.window.sync_badge.text(), timeout=10000)
    panel.window.sync_badge.click()
    dialog = None

    def dialog_listed():
        nonlocal dialog
        dialogs = [w for w in panel.window.findChildren(QtWidgets.QDialog) if w.isVisible()]
        assert dialogs
        dialog = dialogs[-1]

    qtbot.waitUntil(dialog_listed, timeout=5000)
    listing = dialog.findChild(QtWidgets.QListWidget)
    assert "never issued" in listing.item(0).text()
    assert "Accepted" in listing.item(0).text() and "accepted" not in listing.item(0).text()  # a name, no code
    dialog.close()


def test_a_revoked_token_asks_to_sign_in_again_and_loses_nothing(qapp, qtbot, tmp_path, server, memory_keyring):
    from sqlalchemy.orm import Session

    from server_stub.db.engine import make_engine
    from server_stub.services.auth import create_token, revoke_tokens

    engine = make_engine(server.database_url)
    with Session(engine) as session:
        token = create_token(session, "agent-temp")
    app = make_app(qapp, tmp_path, server.base_url, token)
    app.headless = False  # the sign-in prompt is for people; headless runs only note it
    app.start(show=True)
    try:
        ring(app, "call-t", CALM[1])
        wait_for_state(qtbot, app, "call-t", PopState.LIVE)
        with Session(engine) as session:
            revoke_tokens(session, "agent-temp")
        with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000):
            app.window.outcome_bar.buttons["considering"].click()
        qtbot.waitUntil(lambda: app._sign_in_dialog is not None and app._sign_in_dialog.isVisible(), timeout=10000)
        assert "expired or was revoked" in app._sign_in_dialog.message.text()
        qtbot.waitUntil(lambda: "1 pending" in app.window.sync_badge.text(), timeout=5000)
    finally:
        app.close()
        engine.dispose()


def test_cached_customer_data_past_its_ttl_is_deleted_from_the_workstation(qapp, qtbot, tmp_path, server,
                                                                          memory_keyring):
    """Pops ignore a cached view older than cache.ttl_h; the data itself must not stay on disk either: the
    session purges it at start (and every hour)."""
    import datetime as dt
    import sqlite3

    app = make_app(qapp, tmp_path, server.base_url, server.token)
    now = dt.datetime.now(dt.UTC)
    app.store.views.put(["cust:C-OLD"], "C-OLD", {"customer": {"customer_id": "C-OLD"}}, now - dt.timedelta(hours=25))
    app.store.views.put(["cust:C-NEW"], "C-NEW", {"customer": {"customer_id": "C-NEW"}}, now - dt.timedelta(hours=1))
    database = sqlite3.connect(tmp_path / "data" / "callcue.sqlite3")
    try:
        def cached() -> set[str]:
            return {row[0] for row in database.execute("SELECT customer_id FROM cached_documents")}

        assert cached() == {"C-OLD", "C-NEW"}
        app.start(show=True)
        qtbot.waitUntil(lambda: cached() == {"C-NEW"}, timeout=5000)
    finally:
        database.close()
        app.close()
