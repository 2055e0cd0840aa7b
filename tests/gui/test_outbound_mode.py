"""The panel's outbound mode (issue 16) end to end against the real server process: Ctrl+Shift+O previews the
worklist's next customer with the full pop, why and the script; Ctrl+Return dials; a call result key, then an
offer outcome key; the server has the attempt and the outcome with channel outbound_call, the campaign and
wave; Done shows the next customer prepared during wrap-up; skip with a reason; inbound calls pause it."""

from __future__ import annotations

import collections
import datetime as dt

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from desktop.calls.events import CallEvent
from desktop.domain.outbound import CallResult
from desktop.services.outbound import Phase
from desktop.ui.pop_view import OFFERS_SHOWN, OfferCard
from desktop.ui.qt import Qt, QtWidgets
from desktop.ui.theme import theme_tokens
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import OutboundAttempt, OutboundProgress, Outcome
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.gui.conftest import LiveServer, make_app
from tests.server import factories

CAMPAIGN = "CMP-GUI"
CTRL, SHIFT, ALT = (Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier,
                    Qt.KeyboardModifier.AltModifier)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("outbound-gui")
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_outbound_campaign(session, CAMPAIGN, offers=("RET-DISCOUNT-20",), max_attempts=3,
                                        retry={"no_answer": 120, "busy": 30, "voicemail": 240, "refused_call": None})
        for customer_id, msisdn, name, priority in (("OG-1", "13600136001", "赵敏", 9),
                                                    ("OG-2", "13600136002", "钱程", 5),
                                                    ("OG-3", "13600136003", "孙丽", 1)):
            factories.add_customer(session, customer_id, msisdn, name=name, campaign=False, churn_risk=0.7)
            factories.add_member(session, customer_id, CAMPAIGN, priority=priority, reason="合约到期前挽留")
        factories.add_customer(session, "C-IN", "13800138000", name="王芳")
        factories.add_outbound_campaign(session, "CMP-GUI2", offers=("CARE-CHECKUP",))
        factories.add_customer(session, "OG-4", "13600136004", name="周杰", campaign=False, churn_risk=0.7)
        factories.add_member(session, "OG-4", "CMP-GUI2")
        factories.add_outbound_campaign(session, "CMP-GUI3", offers=("CARE-CHECKUP",))
        factories.add_customer(session, "OG-5", "13600136005", name="郑爽", campaign=False)
        factories.add_member(session, "OG-5", "CMP-GUI3")
        # A campaign whose offer the pop ranks below the first three (the plain customer's best offers are others).
        factories.add_outbound_campaign(session, "CMP-GUI4", offers=("RBT-CLASSIC",))
        factories.add_customer(session, "OG-6", "13600136006", name="吴磊", campaign=False)
        factories.add_member(session, "OG-6", "CMP-GUI4")
        token = create_token(session, "agent-007")
    engine.dispose()
    with live_server(url, directory / "logs", token_cache_seconds=0) as running:
        yield LiveServer(running.base_url, token, url)


@pytest.fixture
def app(qapp, qtbot, tmp_path, server, memory_keyring):
    opened = make_app(qapp, tmp_path, server.base_url, server.token)
    opened.panel.outbound_service.campaign_id = CAMPAIGN  # CMP-GUI2 is the softphone test's
    opened.start(show=True)
    yield opened
    opened.close()


class FakeDialer:
    name = "test"

    def __init__(self, dialed: list[str]) -> None:
        self.dialed = dialed

    def dial(self, number: str) -> str:
        self.dialed.append(number)
        return number


def colours(widget) -> collections.Counter:
    image = widget.grab().toImage()
    return collections.Counter(image.pixelColor(x, y).name() for x in range(image.width())
                               for y in range(image.height()))


def rows(server, model, **where):
    engine = create_engine(server.database_url)
    try:
        with Session(engine) as session:
            query = select(model)
            for field, value in where.items():
                query = query.where(getattr(model, field) == value)
            return list(session.scalars(query))
    finally:
        engine.dispose()


def activate(qtbot, window) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window)


def labels(widget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel))


def wait_phase(qtbot, outbound, phase: Phase, timeout: int = 5000):
    qtbot.waitUntil(lambda: outbound.service.state().phase is phase and not outbound._busy, timeout=timeout)
    return outbound.service.state()


# The offscreen platform cannot raise a popup menu or let it grab the keyboard (the skip picker): noise of the
# test platform, as propagateSizeHints is; any other warning still fails the test.
@pytest.mark.qt_log_ignore("does not support raise", "does not support grabbing the keyboard")
def test_a_whole_outbound_call_from_the_keyboard(qtbot, app, server):
    outbound = app.panel.outbound
    dialed: list[str] = []
    outbound.dialer = FakeDialer(dialed)
    activate(qtbot, app.window)
    qtbot.keyClick(app.window, Qt.Key.Key_O, CTRL | SHIFT)  # outbound mode
    state = wait_phase(qtbot, outbound, Phase.PREVIEW)
    window = outbound.window
    assert window.isVisible() and state.previewed.customer_id == "OG-1"
    view = window.view
    text = labels(view)
    assert "赵敏" in text and "Retention calls · wave 2 of 2 · call attempt 1" in text
    assert "Why this customer: 合约到期前挽留 · priority 9" in text
    assert "Script for Loyalty discount ¥20 a month: " in text
    assert not view.results_box.isVisible() and not view.outcome_bar.isVisible()
    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Return, CTRL)  # call
    qtbot.waitUntil(lambda: dialed == ["13600136001"])
    wait_phase(qtbot, outbound, Phase.DIALING)
    assert view.results_box.isVisible() and "Connected" in view.result_buttons["connected"].text()
    qtbot.keyClick(window, Qt.Key.Key_1, CTRL | ALT)  # connected
    state = wait_phase(qtbot, outbound, Phase.WRAP_UP)
    assert "Saved: Connected" in view.notice.text()
    # The next customer is prepared while the agent wraps up; the result reached the server first.
    qtbot.waitUntil(lambda: outbound.service.state().prepared is not None and not outbound._busy, timeout=5000)
    assert [(a.customer_id, a.result, a.attempt) for a in rows(server, OutboundAttempt)] == [("OG-1", "connected", 1)]
    assert view.outcome_bar.isVisible() and view.pop.selected_offer_id == "RET-DISCOUNT-20"
    with qtbot.waitSignal(outbound.state_changed, timeout=5000):
        qtbot.keyClick(window, Qt.Key.Key_1, CTRL | SHIFT)  # accepted
    qtbot.waitUntil(lambda: len(rows(server, Outcome, customer_id="OG-1")) == 1, timeout=10000)
    outcome = rows(server, Outcome, customer_id="OG-1")[0]
    assert (outcome.channel, outcome.campaign_id, outcome.wave, outcome.result, outcome.offer_id) == (
        "outbound_call", CAMPAIGN, 2, "accepted", "RET-DISCOUNT-20")
    assert outcome.call_id == state.previewed.lease.call_id
    progress = rows(server, OutboundProgress, customer_id="OG-1")[0]
    assert (progress.attempts, progress.closed_reason) == (1, "connected")
    qtbot.keyClick(window, Qt.Key.Key_Return, CTRL | SHIFT)  # done: the prepared customer
    state = wait_phase(qtbot, outbound, Phase.PREVIEW)
    assert state.previewed.customer_id == "OG-2" and "钱程" in labels(view)
    # Skip with a reason: the short picker, key 2 = "customer asked to be called later".
    qtbot.keyClick(window, Qt.Key.Key_S, CTRL | SHIFT)
    menu = window.findChild(QtWidgets.QMenu, "SkipReasons")
    qtbot.waitUntil(lambda: menu.isVisible())
    qtbot.keyClick(menu, Qt.Key.Key_2)
    state = wait_phase(qtbot, outbound, Phase.PREVIEW)
    qtbot.waitUntil(lambda: outbound.service.state().previewed.customer_id == "OG-3" and not outbound._busy)
    assert "Skipped" in view.notice.text()
    skipped = rows(server, OutboundProgress, customer_id="OG-2")[0]
    assert skipped.attempts == 0 and skipped.hold_reason == "skip" and skipped.next_attempt_at is not None


def test_an_inbound_call_pauses_the_outbound_preview(qtbot, app, server):
    outbound = app.panel.outbound
    outbound.set_mode(True)
    wait_phase(qtbot, outbound, Phase.PREVIEW)
    view = outbound.window.view
    assert view.dial_button.isEnabled()
    app.router.handle(CallEvent(call_id="in-1", state="ringing", ani="13800138000", source="test"))
    qtbot.waitUntil(lambda: outbound.service.state().paused)
    assert not view.dial_button.isEnabled() and not view.dial_button.shortcut.isEnabled()
    assert "An inbound call is up" in view.status.text()
    held = outbound.service.state().previewed.lease.lease_id
    app.router.dismiss("in-1")
    qtbot.waitUntil(lambda: not outbound.service.state().paused)
    assert view.dial_button.isEnabled() and outbound.service.state().previewed.lease.lease_id == held


def test_outbound_mode_speaks_chinese(qapp, qtbot, tmp_path, server, memory_keyring):
    zh = make_app(qapp, tmp_path, server.base_url, server.token, language="zh_CN")
    zh.panel.outbound_service.campaign_id = CAMPAIGN
    zh.start(show=True)
    try:
        outbound = zh.panel.outbound
        outbound.set_mode(True)
        wait_phase(qtbot, outbound, Phase.PREVIEW)
        view = outbound.window.view
        text = labels(view) + "\n".join(b.text() for b in view.findChildren(QtWidgets.QPushButton))
        assert "客户挽留外呼" in text and "为什么是这位客户" in text and "拨打" in text and "跳过" in text
        assert "拒接" in view.result_buttons["refused_call"].text()
        assert "Why this customer" not in text
    finally:
        zh.close()


def test_the_lease_is_renewed_by_a_scheduled_job_not_a_loop(qtbot, app, server):
    outbound = app.panel.outbound
    outbound.set_mode(True)
    state = wait_phase(qtbot, outbound, Phase.PREVIEW)
    scheduler = app.panel.scheduler
    job = outbound._renewal_job
    expires = state.previewed.lease.expires_at
    assert scheduler.next_run_time(job) == outbound.service.renewal_due_at() == expires - dt.timedelta(seconds=100)
    # What the job runs when due, run now (scheduling it "now" raced with the render that ends the start's first
    # delivery of call results: that render put the job back to its due time before it ran).
    outbound._renew()
    qtbot.waitUntil(lambda: outbound.service.state().previewed.lease.expires_at > expires and not outbound._busy,
                    timeout=5000)
    renewed = outbound.service.state().previewed.lease.expires_at
    # Rescheduled for the renewed lease: one job, at its new time.
    assert scheduler.next_run_time(job) == renewed - dt.timedelta(seconds=100)
    assert sum(1 for j in scheduler.job_ids() if j.startswith("outbound-renewal")) == 1
    outbound.skip("other")
    qtbot.waitUntil(lambda: outbound.service.state().previewed is None or
                    outbound.service.state().previewed.lease.lease_id != state.previewed.lease.lease_id)
    qtbot.waitUntil(lambda: not outbound._busy)


def test_the_softphone_reports_the_dialed_call_and_suggests_its_result(qtbot, app, server):
    """Events of the call the panel dialed are the outbound window's (no inbound pop); an end reason such as
    486 Busy Here offers Busy first; an answered call is connected."""
    outbound = app.panel.outbound
    outbound.service.campaign_id = "CMP-GUI2"
    outbound.dialer = FakeDialer([])
    outbound.set_mode(True)
    qtbot.waitUntil(lambda: outbound.service.state().previewed is not None
                    and outbound.service.state().previewed.customer_id == "OG-4" and not outbound._busy, timeout=5000)
    outbound.dial()
    qtbot.waitUntil(lambda: not outbound._busy)
    for state, extra in (("ringing", {}), ("answered", {}), ("ended", {"end_reason": "486 Busy Here"})):
        app._call_event(CallEvent(call_id="baresip:abc", state=state, ani="+8613600136004", source="baresip",
                                  **extra))
    assert app.router.calls() == [] and not app.window.has_calls()  # no inbound pop for our own call
    state = outbound.service.state()
    assert state.phase is Phase.RESULT and state.call_id == "baresip:abc"
    # Answered, then ended: connected, whatever the end reason says.
    view = outbound.window.view
    assert state.suggested is CallResult.CONNECTED and view.result_buttons["connected"].isDefault()
    # … and stands out in the theme (a default button alone looks like any other under the panel's style).
    suggested = view.result_buttons["connected"]
    assert suggested.property("suggested") is True and not view.result_buttons["busy"].property("suggested")
    assert colours(suggested)[theme_tokens("light")["accent"]] > colours(view.result_buttons["busy"])[
        theme_tokens("light")["accent"]]
    assert "The softphone says: Connected" in view.status.text()
    # Another call's events still reach the router (an inbound call pops as always).
    app._call_event(CallEvent(call_id="in-2", state="ringing", ani="13800138000", source="baresip"))
    assert [c.call_id for c in app.router.calls()] == ["in-2"]
    app.router.dismiss("in-2")


def test_keys_pressed_while_a_step_runs_wait_their_turn(qtbot, app, server):
    """Call, then at once No answer: the result waits for the dial step, then is recorded (never dropped)."""
    outbound = app.panel.outbound
    outbound.service.campaign_id = "CMP-GUI3"
    outbound.dialer = FakeDialer([])
    outbound.set_mode(True)
    qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.PREVIEW and not outbound._busy, timeout=5000)
    outbound.dial()
    assert outbound._busy  # the dial step is on its way
    outbound.record_result("no_answer")
    qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.DONE, timeout=5000)
    assert outbound.service.state().attempt.result is CallResult.NO_ANSWER
    qtbot.waitUntil(lambda: not outbound._busy and not outbound._queue)


def test_the_dialer_follows_the_connectors_the_agent_has():
    from desktop.calls.ami import AmiConnector
    from desktop.calls.baresip import BaresipConnector
    from desktop.calls.dialer import AmiDialer, BaresipDialer, UriDialer
    from desktop.services.config import ConnectorSettings
    from desktop.ui.outbound import make_dialer

    settings = ConnectorSettings(baresip="127.0.0.1:4444", ami="127.0.0.1:5038", ami_username="u", ami_secret="s",
                                 ami_device="PJSIP/1001,PJSIP/1002", baresip_dial_template="sip:{number}@pbx",
                                 ami_dial_template="9{number}", ami_dial_context="outbound")
    baresip = BaresipConnector("127.0.0.1", 4444, lambda e: None)
    ami = AmiConnector("127.0.0.1", 5038, "u", "s", lambda e: None)
    chosen = make_dialer(settings, [ami, baresip])
    assert isinstance(chosen, BaresipDialer) and chosen.template == "sip:{number}@pbx"
    chosen = make_dialer(settings, [ami])
    assert isinstance(chosen, AmiDialer) and (chosen.device, chosen.context, chosen.template) == (
        "PJSIP/1001", "outbound", "9{number}")
    system = make_dialer(ConnectorSettings(None, None, None, None, None, system_dial_template="sip:{number}@x"), [])
    assert isinstance(system, UriDialer) and system.template == "sip:{number}@x"


def own_agent_app(qapp, tmp_path, server, agent_id: str, **cli):
    """A panel signed in as an agent of its own: an agent holds one customer at a time, and agent-007 may still
    hold one an earlier test left in the middle of a call."""
    engine = create_engine(server.database_url)
    try:
        with Session(engine) as session:
            token = create_token(session, agent_id)
    finally:
        engine.dispose()
    return make_app(qapp, tmp_path, server.base_url, token, **{"agent.id": agent_id, **cli})


@pytest.fixture
def own_app(qapp, tmp_path, server, memory_keyring):
    opened = own_agent_app(qapp, tmp_path, server, "agent-ob-offer")
    opened.start(show=True)
    yield opened
    opened.close()


def test_the_offer_keys_answer_the_offer_the_call_is_for(qtbot, own_app, server):
    """The wave's script is its campaign's offer: that offer is selected (shown, even when the pop ranks it
    below the first three) and the offer outcome keys record against it — never against the pop's first
    offer, which the agent did not pitch."""
    app = own_app
    outbound = app.panel.outbound
    outbound.service.campaign_id = "CMP-GUI4"
    outbound.dialer = FakeDialer([])
    outbound.set_mode(True)
    qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.PREVIEW and not outbound._busy, timeout=5000)
    window = outbound.window
    view = window.view
    pitchable = [o.offer_id for o in outbound.service.state().previewed.pop.offers if o.pitchable]
    assert pitchable.index("RBT-CLASSIC") >= OFFERS_SHOWN  # behind "Show N more offers" in the pop's order
    assert view.pop.selected_offer_id == "RBT-CLASSIC"
    assert view.script.text().startswith("Script for Classic ringback tone: ")
    [card] = [c for c in view.pop.findChildren(OfferCard) if c.offer_id == "RBT-CLASSIC" and not c.isHidden()]
    qtbot.waitUntil(lambda: not card.visibleRegion().isEmpty())  # scrolled into sight
    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Return, CTRL)  # call
    wait_phase(qtbot, outbound, Phase.DIALING)
    qtbot.keyClick(window, Qt.Key.Key_1, CTRL | ALT)  # connected
    wait_phase(qtbot, outbound, Phase.WRAP_UP)
    assert view.outcome_bar.target.text() == "Outcome for: Classic ringback tone"
    qtbot.waitUntil(lambda: not card.visibleRegion().isEmpty())  # still in sight above the outcome bar
    qtbot.keyClick(window, Qt.Key.Key_2, CTRL | SHIFT)  # declined
    qtbot.waitUntil(lambda: len(rows(server, Outcome, customer_id="OG-6")) == 1, timeout=10000)
    [outcome] = rows(server, Outcome, customer_id="OG-6")
    assert (outcome.offer_id, outcome.result, outcome.channel) == ("RBT-CLASSIC", "declined", "outbound_call")
    qtbot.waitUntil(lambda: not outbound._busy and not outbound._queue, timeout=5000)


def test_the_outbound_window_wears_the_panels_theme(qapp, qtbot, tmp_path, server, memory_keyring):
    """A window of its own: the panel's style sheet did not reach it (plain cards, disabled keys looking like
    live ones, no dark background)."""
    palette = qapp.palette()
    dark = own_agent_app(qapp, tmp_path, server, "agent-ob-dark", **{"ui.theme": "dark"})
    dark.panel.outbound_service.campaign_id = "CMP-FAMILY"  # no outbound wave: the empty worklist
    dark.start(show=True)
    try:
        outbound = dark.panel.outbound
        outbound.set_mode(True)
        qtbot.waitUntil(lambda: outbound.service.state().phase is Phase.EMPTY and not outbound._busy, timeout=5000)
        window = outbound.window
        assert window.styleSheet() and window.styleSheet() == dark.window.styleSheet()
        tokens = theme_tokens("dark")
        qtbot.waitExposed(window)
        seen = colours(window)
        assert seen.most_common(1)[0][0] == tokens["bg"], seen.most_common(3)
        view = window.view
        assert view.next_button.isEnabled() and not view.dial_button.isEnabled()
        # Why the worklist is empty (by the campaign's name) and the key to ask again sit together at the top.
        assert "“Family bundle”" in view.status.text()
        assert view.next_button.geometry().bottom() < window.height() // 3, view.next_button.geometry()
        # A disabled key looks disabled: on the window's background, not a card like a live one.
        assert colours(view.next_button).most_common(1)[0][0] == tokens["card"]
        assert colours(view.dial_button).most_common(1)[0][0] == tokens["bg"]
        dark.panel.set_language("zh_CN")  # the window is rebuilt in the new language: still themed
        assert outbound.window is not window and outbound.window.styleSheet() == dark.window.styleSheet()
    finally:
        dark.close()
        qapp.setPalette(palette)
