"""The outbound window's wrap-up (issue 16) against the real server: an offer outcome of the connected call
takes the inbound outcomes' path (outcome.recorded to hosts, held for the undo window, Ctrl+Z in the outbound
window takes it back: outcome.retracted, never sent); a call result the server refuses is explained in plain
words with Send again (Ctrl+Shift+R) and Set aside (Ctrl+Shift+D)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from desktop.domain.events import OutcomeRecorded, OutcomeRetracted
from desktop.services.outbound import Phase
from desktop.ui.qt import Qt, QtWidgets
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import OutboundAttempt, Outcome
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.gui.conftest import LiveServer, make_app
from tests.gui.test_outbound_mode import FakeDialer, activate, rows, wait_phase
from tests.server import factories

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
# campaign -> (customer, agent): an agent holds one customer at a time, so each test is its own agent.
WORK = {"CMP-UNDO": ("WU-1", "agent-undo"), "CMP-REFUSED": ("WU-2", "agent-refused"),
        "CMP-ASIDE": ("WU-3", "agent-aside")}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("outbound-wrap-up")
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        tokens = {}
        for index, (campaign_id, (customer_id, agent_id)) in enumerate(WORK.items()):
            factories.add_outbound_campaign(session, campaign_id, offers=("RET-DISCOUNT-20",), max_attempts=3,
                                            retry={"no_answer": 120, "busy": 30})
            factories.add_customer(session, customer_id, f"1360013800{index}", name="钱程", campaign=False,
                                   churn_risk=0.7)
            factories.add_member(session, customer_id, campaign_id, priority=5)
            tokens[campaign_id] = create_token(session, agent_id)
        tokens["other"] = create_token(session, "agent-other")
    engine.dispose()
    with live_server(url, directory / "logs", token_cache_seconds=0) as running:
        server = LiveServer(running.base_url, "", url)
        server.tokens = tokens
        yield server


def open_app(qapp, tmp_path, server, campaign_id: str, **cli):
    app = make_app(qapp, tmp_path, server.base_url, server.tokens[campaign_id],
                   **{"agent.id": WORK[campaign_id][1], **cli})
    app.panel.outbound_service.campaign_id = campaign_id
    app.start(show=True)
    app.panel.outbound.dialer = FakeDialer([])
    return app


def connected_call(qtbot, outbound, result: str = "connected"):
    """Outbound mode on, call the previewed customer, record the call result."""
    outbound.set_mode(True)
    wait_phase(qtbot, outbound, Phase.PREVIEW)
    outbound.dial()
    outbound.record_result(result)
    return wait_phase(qtbot, outbound, Phase.WRAP_UP if result == "connected" else Phase.DONE)


def test_an_outbound_offer_outcome_reaches_hosts_and_ctrl_z_takes_it_back(qapp, qtbot, tmp_path, server,
                                                                         memory_keyring):
    # An undo window long enough that the outcome is still on this PC when Ctrl+Z is pressed.
    app = open_app(qapp, tmp_path, server, "CMP-UNDO", **{"sync.undo_window_s": "30"})
    try:
        events: list = []
        app.controller.panel_event.connect(events.append)
        outbound = app.panel.outbound
        state = connected_call(qtbot, outbound)
        call_id = state.outcome_call_id
        window = outbound.window
        view = window.view
        activate(qtbot, window)
        with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000) as recorded:
            qtbot.keyClick(window, Qt.Key.Key_2, CTRL | SHIFT)  # declined
        event = recorded.args[0]
        assert isinstance(event, OutcomeRecorded) and event in events
        assert (event.call_id, event.customer_id, event.offer_id, event.result) == (
            call_id, "WU-1", "RET-DISCOUNT-20", "declined")
        assert view.undo_offered == event.outcome_id
        assert view.notice.text() == "✓ Recorded “Declined” · 钱程 — Ctrl+Z to undo"
        with qtbot.waitSignal(app.controller.outcome_retracted, timeout=5000) as retracted:
            qtbot.keyClick(window, Qt.Key.Key_Z, CTRL)
        undone = retracted.args[0]
        assert isinstance(undone, OutcomeRetracted) and undone.outcome_id == event.outcome_id
        assert (undone.delivery, undone.call_id, undone.result) == ("removed", call_id, "declined")
        qtbot.waitUntil(lambda: view.notice.text() == "↶ Outcome undone: it no longer counts")
        assert view.undo_offered is None
        # Ctrl+Z again does nothing; the outcome is gone from the outbox: it never reaches the server.
        qtbot.keyClick(window, Qt.Key.Key_Z, CTRL)
        qtbot.waitUntil(lambda: app.panel.sync_service.state().pending == 0)
        # The agent records the right outcome: it goes out (no undo this time), once.
        with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000):
            qtbot.keyClick(window, Qt.Key.Key_1, CTRL | SHIFT)  # accepted
        assert [e.result for e in events if isinstance(e, OutcomeRecorded)] == ["declined", "accepted"]
    finally:
        app.close()
    # Nothing of the undone outcome on the server (the accepted one waits for its undo window on this PC).
    assert [o.result for o in rows(server, Outcome, customer_id="WU-1")] == []


def test_a_refused_call_result_is_explained_and_sent_again_from_the_keyboard(qapp, qtbot, tmp_path, server,
                                                                            memory_keyring):
    app = open_app(qapp, tmp_path, server, "CMP-REFUSED")
    try:
        outbound = app.panel.outbound
        service = app.panel.outbound_service
        own_client = service._client
        outbound.set_mode(True)
        wait_phase(qtbot, outbound, Phase.PREVIEW)
        # Delivered under another agent's sign-in, the server does not know this agent's lease: refused.
        from desktop.remote.api_client import AnalyticsClient

        other = AnalyticsClient(server.base_url, lambda: server.tokens["other"])
        service.use_client(other)
        outbound.dial()
        outbound.record_result("no_answer")
        qtbot.waitUntil(lambda: bool(service.state().refused) and not outbound._busy, timeout=5000)
        view = outbound.window.view
        assert view.refused_box.isVisible()
        text = view.refused_label.text()
        assert "The server refused the call result “No answer” for customer WU-2" in text
        assert "the server does not know this hold for your account" in text
        for button, name, key in ((view.retry_refused_button, "Send again", "Ctrl+Shift+R"),
                                  (view.dismiss_refused_button, "Set aside", "Ctrl+Shift+D")):
            assert button.isEnabled() and button.accessibleName() == name and key in button.toolTip()
            assert button.focusPolicy() & Qt.FocusPolicy.TabFocus
        assert rows(server, OutboundAttempt, customer_id="WU-2") == []
        # Signed in as the right agent again: Ctrl+Shift+R sends it.
        service.use_client(own_client)
        other.close()
        activate(qtbot, outbound.window)
        qtbot.keyClick(outbound.window, Qt.Key.Key_R, CTRL | SHIFT)
        qtbot.waitUntil(lambda: not service.state().refused and not outbound._busy, timeout=5000)
        assert not view.refused_box.isVisible()
        assert view.notice.text() == "The call result reached the server."
        assert [(a.result, a.attempt) for a in rows(server, OutboundAttempt, customer_id="WU-2")] == [
            ("no_answer", 1)]
    finally:
        app.close()


def test_a_refused_call_result_can_be_set_aside_in_chinese(qapp, qtbot, tmp_path, server, memory_keyring):
    app = open_app(qapp, tmp_path, server, "CMP-ASIDE", language="zh_CN")
    try:
        outbound = app.panel.outbound
        service = app.panel.outbound_service
        outbound.set_mode(True)
        state = wait_phase(qtbot, outbound, Phase.PREVIEW)
        outbound.dial()
        # The hold ends before the result arrives (released elsewhere): the server refuses it (lease_ended).
        service._client.release_lease(state.previewed.lease.lease_id, "released elsewhere", 0)
        outbound.record_result("busy")
        qtbot.waitUntil(lambda: bool(service.state().refused) and not outbound._busy, timeout=5000)
        view = outbound.window.view
        attempt_id = service.state().refused[0].attempt.attempt_id
        assert "服务器拒绝了客户 WU-3 的通话结果“占线”：该客户已不再为您保留" in view.refused_label.text()
        assert view.dismiss_refused_button.accessibleName() == "搁置"
        activate(qtbot, outbound.window)
        qtbot.keyClick(outbound.window, Qt.Key.Key_D, CTRL | SHIFT)
        qtbot.waitUntil(lambda: not service.state().refused and not outbound._busy, timeout=5000)
        assert not view.refused_box.isVisible()
        assert view.notice.text() == "已搁置：该通话结果保留在本机，不再发送。"
        assert app.store.attempts.status(attempt_id)[0] == "dismissed"
        assert service.deliver_pending() is None and rows(server, OutboundAttempt, customer_id="WU-3") == []
        # Pressed again with nothing refused: nothing happens.
        qtbot.keyClick(outbound.window, Qt.Key.Key_D, CTRL | SHIFT)
        assert not outbound._busy
        assert isinstance(view.findChild(QtWidgets.QFrame, "RefusedResult"), QtWidgets.QFrame)
    finally:
        app.close()
