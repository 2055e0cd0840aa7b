"""Offline heals itself: the real server taken down and brought back at the same address (pytest-qt,
offscreen). Pops shown stale or failed are asked again once the server answers; a failed pop has a retry
button and key; the sync badge, its drawer and the tray say what is true."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from desktop.domain.states import PopState
from desktop.ui.qt import Qt, QtWidgets
from desktop.ui.tray import Tray
from server_stub.db.models import Outcome
from server_stub.live import free_port, live_server
from tests.gui.conftest import CALM, COMPLAINT, _populate, make_app, wait_for_state
from tests.gui.test_panel import ring

# No sync timer run during a test: each sync is the test's own (what the timer would do, at a known time).
QUIET = {"sync.interval_s": "3600"}


@pytest.fixture
def outage(tmp_path):
    """A server that the test stops and starts again on the same port: `up()` is a context manager."""
    url = f"sqlite:///{tmp_path / 'server.sqlite3'}"
    token = _populate(url)
    port = free_port()

    @contextmanager
    def up():
        with live_server(url, tmp_path / "server-logs", token_cache_seconds=0, port=port) as running:
            yield running

    return up, f"http://127.0.0.1:{port}", token, url


@pytest.fixture
def offline_panel(qapp, tmp_path, outage, memory_keyring):
    """A panel that saw 王芳 (CALM) live once, then lost its server."""
    up, base_url, token, _url = outage
    app = make_app(qapp, tmp_path, base_url, token, **QUIET)
    app.start(show=True)
    yield app, up
    app.close()


def _see_calm_live_then_lose_the_server(qtbot, app, up):
    with up():
        ring(app, "call-seen", CALM[1])
        wait_for_state(qtbot, app, "call-seen", PopState.LIVE)
        app.controller.request_sync()
        qtbot.waitUntil(lambda: "All outcomes synced" in app.window.sync_badge.text(), timeout=5000)


def test_stale_and_failed_pops_are_fetched_again_when_the_server_is_back(qtbot, offline_panel):
    app, up = offline_panel
    _see_calm_live_then_lose_the_server(qtbot, app, up)
    ring(app, "call-stale", CALM[1])  # cached: shown stale
    ring(app, "call-failed", COMPLAINT[1])  # never seen: nothing to show
    wait_for_state(qtbot, app, "call-stale", PopState.STALE)
    wait_for_state(qtbot, app, "call-failed", PopState.ERROR)
    # A delivery attempt while the server is still down changes nothing (and does not loop).
    app.controller.request_sync()
    qtbot.waitUntil(lambda: not app.controller._sync_running, timeout=5000)
    assert app.window.view("call-stale").result.state is PopState.STALE
    with up():
        app.controller.request_sync()  # what the sync timer does: the server answers, the badge is green
        wait_for_state(qtbot, app, "call-stale", PopState.LIVE)
        view = wait_for_state(qtbot, app, "call-failed", PopState.LIVE)
        assert view.result.document.customer.display_name == "刘洋"
        assert not view.retry_button.isVisibleTo(view)
    # What was fetched again is cached like any live pop: the next outage shows it saved, not "unreachable".
    ring(app, "call-again", COMPLAINT[1])
    assert wait_for_state(qtbot, app, "call-again", PopState.STALE).result.document.customer.display_name == "刘洋"


def test_a_failed_pop_has_a_retry_button_and_key(qtbot, offline_panel):
    app, up = offline_panel
    _see_calm_live_then_lose_the_server(qtbot, app, up)
    ring(app, "call-stale", CALM[1])
    ring(app, "call-failed", COMPLAINT[1])
    stale = wait_for_state(qtbot, app, "call-stale", PopState.STALE)
    failed = wait_for_state(qtbot, app, "call-failed", PopState.ERROR)
    # (a sync run that ends now asks again by itself: wait until that retry is back)
    qtbot.waitUntil(lambda: failed.retry_button.isEnabled(), timeout=5000)
    assert failed.retry_button.isVisibleTo(failed)
    # Pressed while the server is still down: asked again, failed again, the button is back.
    qtbot.mouseClick(failed.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: failed.retry_button.isEnabled(), timeout=5000)
    assert failed.result.state is PopState.ERROR
    with up():
        # No sync runs: only the button (on the failed call) and the key (on the call in front) ask again.
        qtbot.mouseClick(failed.retry_button, Qt.MouseButton.LeftButton)
        wait_for_state(qtbot, app, "call-failed", PopState.LIVE)
        assert app.window.view("call-stale").result.state is PopState.STALE
        app.window.tabs.setCurrentWidget(stale)
        app.window.activateWindow()
        qtbot.keyClick(app.window, Qt.Key.Key_F5)
        wait_for_state(qtbot, app, "call-stale", PopState.LIVE)


def _drawer(qtbot, app) -> QtWidgets.QDialog:
    app.window.sync_badge.click()
    qtbot.waitUntil(lambda: app.window.findChild(QtWidgets.QDialog, "SyncDrawer") is not None, timeout=5000)
    return app.window.findChild(QtWidgets.QDialog, "SyncDrawer")


def _drawer_text(drawer) -> str:
    listing = drawer.findChild(QtWidgets.QListWidget)
    items = [listing.item(i).text() for i in range(listing.count())] if listing is not None else []
    return "\n".join([*(label.text() for label in drawer.findChildren(QtWidgets.QLabel)), *items])


def test_the_sync_drawer_lists_what_waits_with_its_age_and_tells_the_truth(qtbot, offline_panel, outage):
    app, up = offline_panel
    _see_calm_live_then_lose_the_server(qtbot, app, up)
    ring(app, "call-stale", CALM[1], state="answered")
    decision_id = wait_for_state(qtbot, app, "call-stale", PopState.STALE).result.document.decision_id
    for result in ("considering", "declined"):
        with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000):
            app.window.outcome_bar.buttons[result].click()
    qtbot.waitUntil(lambda: "2 pending" in app.window.sync_badge.text(), timeout=5000)
    drawer = _drawer(qtbot, app)
    text = _drawer_text(drawer)
    assert "accepted" not in text.replace("Accepted", "")  # today: "every outcome was accepted"
    assert "2 waiting to be sent" in text
    listing = drawer.findChild(QtWidgets.QListWidget)
    assert listing.count() == 2
    # Each line whole: wrapped, never behind a horizontal scroll bar.
    assert listing.wordWrap() and listing.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    for i in range(2):
        line = listing.item(i).text()
        assert "just now" in line and "waiting to be sent" in line and "王芳" in line and "C-CALM" not in line
    drawer.close()
    qtbot.waitUntil(lambda: app.window.findChild(QtWidgets.QDialog, "SyncDrawer") is None, timeout=5000)
    with up():
        app.controller.request_sync(force=True)  # past the backoff (the timer's run would wait for it)
        qtbot.waitUntil(lambda: "All outcomes synced" in app.window.sync_badge.text(), timeout=10000)
        drawer = _drawer(qtbot, app)
        assert "Nothing is waiting to be sent" in _drawer_text(drawer)
        assert drawer.findChild(QtWidgets.QListWidget) is None
        drawer.close()
    # Recorded on a stale pop, both answer the decision of the cached pop, and the server took them.
    engine = create_engine(outage[3])
    with Session(engine) as session:
        stored = session.scalars(select(Outcome.result).where(Outcome.decision_id == decision_id)).all()
    engine.dispose()
    assert sorted(stored) == ["considering", "declined"]


def test_a_panel_that_never_signed_in_does_not_claim_all_outcomes_synced(qapp, qtbot, tmp_path, memory_keyring):
    app = make_app(qapp, tmp_path, "http://127.0.0.1:9", "", **QUIET)
    app.start(show=True)
    try:
        assert not app.session.current_token()  # a server and agent configured, never signed in
        app.controller.request_sync()
        qtbot.waitUntil(lambda: "Not signed in" in app.window.sync_badge.text(), timeout=5000)
        assert "synced" not in app.window.sync_badge.text()
    finally:
        app.close()


def test_the_tray_tooltip_says_the_sync_state(qtbot, offline_panel):
    app, up = offline_panel
    app.tray = Tray(app)  # offscreen Qt has no system tray: the app's own wiring fills this one
    _see_calm_live_then_lose_the_server(qtbot, app, up)
    assert "All outcomes synced" in app.tray.toolTip()
    ring(app, "call-stale", CALM[1], state="answered")
    wait_for_state(qtbot, app, "call-stale", PopState.STALE)
    with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000):
        app.window.outcome_bar.buttons["considering"].click()
    qtbot.waitUntil(lambda: "Offline since" in app.tray.toolTip() and "1 pending" in app.tray.toolTip(),
                    timeout=5000)


def test_a_save_only_updates_the_badge_the_servers_answer_comes_with_the_next_run(qtbot, panel):
    """After a save or an undo the badge counts it at once; asking pops again and the sign-in prompt follow
    a delivery's answer only (else each save doubled them: one for the count, one for the run)."""
    from desktop.domain.errors import UserError
    from desktop.domain.states import SyncState

    prompts: list[bool] = []
    panel.controller.auth_failed.connect(lambda: prompts.append(True))
    refused = SyncState(pending=1, last_error=UserError("auth_failed"))
    panel.controller._sync_state(refused, after_run=False)  # what a save's refresh shows
    assert prompts == [] and "1 pending" in panel.window.sync_badge.text()
    panel.controller._sync_state(refused, after_run=True)  # what a run's refresh shows
    assert prompts == [True]
