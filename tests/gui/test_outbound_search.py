"""Opening a customer from search while outbound campaigns run (issue 16): the tab asks "is this an outbound call?"
(Enter: an inbound call or a lookup; a campaign's key: an outbound call for it), pops for that channel, says so on
the tab, and the outcomes reach the real server (loopback) with channel outbound_call, the campaign and its wave.
No question for a customer on no running outbound list."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from desktop.domain.states import PopState
from desktop.ui.qt import Qt, QtWidgets
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import Outcome
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.gui.conftest import LiveServer, make_app, wait_for_state
from tests.server import factories

CAMPAIGN = "CMP-SEARCH"
ALT = Qt.KeyboardModifier.AltModifier
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("outbound-search")
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_outbound_campaign(session, CAMPAIGN, offers=("RET-DISCOUNT-20",))
        for customer_id, msisdn, name in (("OS-1", "13600136101", "赵敏"), ("OS-2", "13600136102", "钱程"),
                                          ("OS-3", "13600136103", "孙丽")):
            factories.add_customer(session, customer_id, msisdn, name=name, churn_risk=0.7)
            factories.add_member(session, customer_id, CAMPAIGN, reason="合约到期前挽留")
        factories.add_customer(session, "IN-1", "13800138101", name="王芳")  # on no outbound list
        token = create_token(session, "agent-007")
    engine.dispose()
    with live_server(url, directory / "logs", token_cache_seconds=0) as running:
        yield LiveServer(running.base_url, token, url)


@pytest.fixture
def app(qapp, qtbot, tmp_path, server, memory_keyring):
    opened = make_app(qapp, tmp_path, server.base_url, server.token)
    opened.start(show=True)
    yield opened
    opened.close()


def outcomes(server, customer_id: str) -> list[Outcome]:
    engine = create_engine(server.database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Outcome).where(Outcome.customer_id == customer_id)))
    finally:
        engine.dispose()


def search_and_open(qtbot, app, text: str) -> str:
    """Search from the keyboard (Ctrl+F, type, Enter) and open the first result with Enter: the tab's call id."""
    window = app.window
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)
    qtbot.keyClick(window, Qt.Key.Key_F, CTRL)
    search = window.search
    qtbot.waitUntil(search.edit.hasFocus)
    qtbot.keyClicks(search.edit, text)
    qtbot.keyClick(search.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: search.results.count() == 1 and search.results.hasFocus(), timeout=5000)
    qtbot.keyClick(search.results, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.tabs.count() >= 1)
    return window.current_call_id()


def asking(qtbot, app, call_id: str):
    def asks():
        view = app.window.view(call_id)
        assert view is not None and view.asks_for_channel()
    qtbot.waitUntil(asks, timeout=5000)
    return app.window.view(call_id)


def labels(widget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel) if label.isVisibleTo(widget))


def test_an_outbound_call_for_a_campaign_is_recorded_as_one(qtbot, app, server):
    call_id = search_and_open(qtbot, app, "OS-1")
    view = asking(qtbot, app, call_id)
    text = labels(view.channel_chooser)
    assert "Is this an outbound call?" in text and "Outbound call: Retention calls" in text
    assert "Inbound call or lookup" in text and CAMPAIGN not in text  # names, never codes
    assert view.channel_chooser.cards[0].key.text() == app.window.choice_keys[0]
    # Nothing can be recorded before the answer.
    assert not app.window.outcome_bar.buttons["accepted"].isEnabled()
    qtbot.keyClick(app.window, Qt.Key.Key_1, ALT)  # the campaign's key
    view = wait_for_state(qtbot, app, call_id, PopState.LIVE)
    doc = view.result.document
    assert doc.contact.channel == "outbound_call" and doc.contact.campaign.campaign_id == CAMPAIGN
    assert not view.channel_chooser.isVisible()
    assert "↗ Outbound call for Retention calls" in view.outbound_note.text() and view.outbound_note.isVisible()
    note = view.outbound_note  # its whole text on screen, however long the campaign's name (never cut through)
    qtbot.waitUntil(lambda: note.height() >= note.heightForWidth(note.width()) and note.width() > 250)
    assert "↗ outbound Retention calls" in app.window.tabs.tabText(app.window.tabs.indexOf(view))
    offer = next(o for o in doc.offers if o.offer_id == "RET-DISCOUNT-20")
    assert offer.pitchable  # the outbound wave's offer is no longer greyed "not for inbound calls"
    with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000):
        app.controller.record_outcome(call_id, "RET-DISCOUNT-20", "accepted", {})
    qtbot.waitUntil(lambda: len(outcomes(server, "OS-1")) == 1, timeout=10000)
    stored = outcomes(server, "OS-1")[0]
    assert (stored.channel, stored.campaign_id, stored.wave, stored.result, stored.decision_id) == (
        "outbound_call", CAMPAIGN, 2, "accepted", doc.decision_id)


def test_enter_keeps_the_usual_answer_an_inbound_call_or_a_lookup(qtbot, app, server):
    call_id = search_and_open(qtbot, app, "OS-2")
    view = asking(qtbot, app, call_id)
    qtbot.waitUntil(lambda: view.channel_chooser.inbound.hasFocus())  # the agent was in the panel: Enter answers
    qtbot.keyClick(view.channel_chooser.inbound, Qt.Key.Key_Return)
    view = wait_for_state(qtbot, app, call_id, PopState.LIVE)
    assert view.result.document.contact.channel == "inbound_call" and not view.outbound_note.isVisible()
    assert "outbound" not in app.window.tabs.tabText(app.window.tabs.indexOf(view))
    with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000):
        app.controller.record_outcome(call_id, "CARE-CHECKUP", "considering", {})
    qtbot.waitUntil(lambda: len(outcomes(server, "OS-2")) == 1, timeout=10000)
    assert outcomes(server, "OS-2")[0].channel == "inbound_call"


def test_no_question_for_a_customer_on_no_running_outbound_list(qtbot, app):
    asked = []
    app.controller.calls.ask_channel = lambda *args, original=app.controller.calls.ask_channel: (
        asked.append(args[2]) or original(*args))
    call_id = search_and_open(qtbot, app, "IN-1")
    view = wait_for_state(qtbot, app, call_id, PopState.LIVE)
    assert asked == [()] and view.channel_chooser is None  # the server named no campaign: no question
    assert view.result.document.contact.channel == "inbound_call"


def test_a_stale_choice_is_refused_and_the_question_speaks_chinese(qapp, qtbot, tmp_path, server, memory_keyring):
    zh = make_app(qapp, tmp_path, server.base_url, server.token, language="zh_CN")
    zh.start(show=True)
    try:
        call_id = zh.controller.pop_customer("OS-3")[0].call_id
        view = asking(qtbot, zh, call_id)
        text = labels(view.channel_chooser)
        assert "这是外呼吗？" in text and "外呼：客户挽留外呼" in text and "呼入或查询" in text
        assert not zh.controller.choose_channel(call_id, "CMP-NOT-OFFERED")  # only what the tab offered
        assert zh.controller.choose_channel(call_id, CAMPAIGN)
        view = wait_for_state(qtbot, zh, call_id, PopState.LIVE)
        assert "外呼：客户挽留外呼" in view.outbound_note.text()
        assert not zh.controller.choose_channel(call_id, "")  # answered already
    finally:
        zh.close()
