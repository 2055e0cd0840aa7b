"""Outcomes land on the right call (issue 15): the call in front follows `answered`, each tab says its phase,
notices stay with their call, three calls become a list, transfers are marked, closing asks first and
do-not-disturb needs a second press. Real app, real server on loopback (pytest-qt, offscreen)."""

from __future__ import annotations

import datetime as dt

from desktop.calls.events import CallEvent
from desktop.domain.states import PopState
from desktop.ui.qt import Qt, QtWidgets
from tests.gui.conftest import CALM, COMPLAINT, PRICE_SENSITIVE, wait_for_state


def ring(app, call_id: str, ani: str | None = None, state: str = "ringing", **fields):
    return app.router.handle(CallEvent(call_id=call_id, state=state, ani=ani, source="test", **fields))


def two_ringing_then_a_answered(qtbot, app) -> None:
    ring(app, "call-a", CALM[1])
    ring(app, "call-b", PRICE_SENSITIVE[1])
    wait_for_state(qtbot, app, "call-a", PopState.LIVE)
    wait_for_state(qtbot, app, "call-b", PopState.LIVE)
    assert app.window.current_call_id() == "call-b"  # the newest ringing call shows while nobody talks
    ring(app, "call-a", CALM[1], state="answered")


def test_answered_brings_its_call_to_the_front_and_ctrl_1_records_for_it(qtbot, panel):
    two_ringing_then_a_answered(qtbot, panel)
    assert panel.window.current_call_id() == "call-a"
    assert panel.router.front_call_id() == "call-a"
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000) as recorded:
        qtbot.keyClick(panel.window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert recorded.args[0].call_id == "call-a"
    assert recorded.args[0].customer_id == CALM[0]


def test_a_new_ringing_call_does_not_take_the_keys_from_the_customer_on_the_line(qtbot, panel):
    ring(panel, "call-a", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-a", PopState.LIVE)
    ring(panel, "call-b", PRICE_SENSITIVE[1])
    wait_for_state(qtbot, panel, "call-b", PopState.LIVE)
    assert panel.window.current_call_id() == "call-a"
    panel.window.tabs.setCurrentIndex(1)  # the agent clicks b's tab: the router and hosts follow
    assert panel.router.front_call_id() == "call-b"


def test_each_tab_shows_its_phase_with_a_wrap_up_timer(qtbot, panel):
    two_ringing_then_a_answered(qtbot, panel)
    tabs = panel.window.tabs
    assert "talking" in tabs.tabText(0) and "王芳" in tabs.tabText(0)
    assert "ringing" in tabs.tabText(1) and "张伟" in tabs.tabText(1)
    ring(panel, "call-a", state="ended")
    ended_at = panel.router.call("call-a").ended_at
    panel.window.now = lambda: ended_at + dt.timedelta(seconds=65)
    qtbot.waitUntil(lambda: "wrap-up 1:05" in tabs.tabText(0), timeout=3000)  # the timer ticks
    ring(panel, "call-b", state="answered")
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        qtbot.keyClick(panel.window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert "✓ outcome recorded" in tabs.tabText(tabs.indexOf(panel.window.view("call-b")))


def test_notices_belong_to_their_call(qtbot, panel):
    two_ringing_then_a_answered(qtbot, panel)
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        qtbot.keyClick(panel.window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    notice = panel.window.notice
    assert "Recorded" in notice.text() and "王芳" in notice.text()  # the undo banner, on a's notice
    panel.window.tabs.setCurrentWidget(panel.window.view("call-b"))
    assert "Recorded" not in notice.text() and not notice.isVisible()  # not under 张伟
    panel.controller.remind("call-a")  # the wrap-up reminder of a is a's
    assert "Wrap-up" not in notice.text()
    assert panel.window.tabs.tabText(0).startswith("⚠")  # a's tab says a warning waits there
    assert "⚠" not in panel.window.tabs.tabText(1)
    panel.window.tabs.setCurrentWidget(panel.window.view("call-a"))
    assert "Wrap-up" in notice.text() and notice.isVisible()


def test_more_than_two_calls_become_a_list_whose_names_are_never_cut_off(qtbot, panel):
    panel.window.resize(380, 700)
    for call_id, (_customer, ani) in (("c1", CALM), ("c2", PRICE_SENSITIVE)):
        ring(panel, call_id, ani)
        wait_for_state(qtbot, panel, call_id, PopState.LIVE)
    assert panel.window.tabs.tabBar().isVisible() and not panel.window.call_list.isVisible()
    ring(panel, "c3", COMPLAINT[1])
    wait_for_state(qtbot, panel, "c3", PopState.LIVE)
    listing = panel.window.call_list
    assert listing.isVisible() and not panel.window.tabs.tabBar().isVisible()
    texts = [listing.item(row).text() for row in range(listing.count())]
    assert [name in text for name, text in zip(("王芳", "张伟", "刘洋"), texts, strict=True)] == [True] * 3
    for row in range(listing.count()):
        rect = listing.visualItemRect(listing.item(row))
        assert listing.viewport().rect().contains(rect), texts[row]  # every line fully visible
        wanted = listing.fontMetrics().horizontalAdvance(texts[row])
        assert rect.width() >= wanted or rect.height() > listing.fontMetrics().height() * 1.5  # fits or wraps
    listing.setCurrentRow(0)  # the agent picks a call from the list
    assert panel.window.current_call_id() == "c1" and panel.router.front_call_id() == "c1"
    assert "王芳" in panel.window.close_front_button.text()  # says which call it closes
    panel.window.close_front_button.click()  # no tab close buttons in a list: this one, asking first
    next(b for b in _close_box(panel.window).buttons() if b.text() == "Keep it open").click()
    assert panel.router.call("c1") is not None
    panel.router.dismiss("c3")
    assert not listing.isVisible() and panel.window.tabs.tabBar().isVisible()


def test_a_transfer_is_marked_and_a_changed_customer_is_said(qtbot, panel):
    ring(panel, "call-t", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-t", PopState.LIVE)
    ring(panel, "call-t", PRICE_SENSITIVE[1], state="transferred", agent_id="agent-007")
    view = panel.window.view("call-t")
    qtbot.waitUntil(
        lambda: (
            view.result.document is not None
            and view.result.document.customer.customer_id == PRICE_SENSITIVE[0]
        ),
        timeout=5000,
    )
    assert "⇄ transferred to you" in panel.window.tabs.tabText(0)
    notice = panel.window.notice.text()
    assert "customer changed" in notice and "王芳" in notice and "139****9000" in notice
    assert PRICE_SENSITIVE[1] not in notice


def test_a_transfer_says_from_whom_and_through_which_queue_in_both_languages(qtbot, panel):
    ring(panel, "call-f", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-f", PopState.LIVE)
    ring(panel, "call-f", PRICE_SENSITIVE[1], state="transferred", from_agent="张伟", dnis="8001")
    view = panel.window.view("call-f")
    qtbot.waitUntil(lambda: view.result.document is not None
                    and view.result.document.customer.customer_id == PRICE_SENSITIVE[0], timeout=5000)
    assert "⇄ from 张伟 via 8001 · " in panel.window.call_title("call-f")
    notice = panel.window.notice.text()
    assert "Transferred by 张伟: the customer changed from 王芳 to 139****9000" in notice
    # The marker belongs to the call (desktop/domain/calls.py): a language switch rebuilds the panel with it.
    panel.switch_language("zh_CN")
    qtbot.waitUntil(lambda: panel.window.view("call-f") is not None, timeout=5000)
    assert "⇄ 来自 张伟，经 8001 · " in panel.window.call_title("call-f")
    assert "由 张伟 转接：客户由 王芳 变为 139****9000" in panel.window.notice.text()
    # A transfer that names nobody but the queue: '⇄ transferred to you via …'; a phone number is masked.
    ring(panel, "call-f", state="transferred", dnis="+86 139 0000 2222")
    assert "⇄ 经 139****2222 转给您 · " in panel.window.call_title("call-f")


def test_a_call_transferred_before_it_reached_this_agent_rings_with_its_marker(qtbot, panel):
    """A connector that saw a colleague's transfer (AMI BlindTransfer into a queue) reports the first ring
    with from_agent and the queue: the new tab says so at once."""
    ring(panel, "call-q", PRICE_SENSITIVE[1], from_agent="李娜", dnis="sales")
    wait_for_state(qtbot, panel, "call-q", PopState.LIVE)
    assert "⇄ from 李娜 via sales · " in panel.window.call_title("call-q")
    ring(panel, "call-plain", CALM[1])
    wait_for_state(qtbot, panel, "call-plain", PopState.LIVE)
    assert "⇄" not in panel.window.call_title("call-plain")


def _close_box(window):
    return next(w for w in window.findChildren(QtWidgets.QMessageBox) if w.isVisible())


def test_closing_a_ringing_or_wrap_up_tab_asks_first(qtbot, panel):
    ring(panel, "call-r", CALM[1])
    wait_for_state(qtbot, panel, "call-r", PopState.LIVE)
    panel.window.tabs.tabCloseRequested.emit(0)
    box = _close_box(panel.window)
    assert "ringing" in box.text()
    keep = next(b for b in box.buttons() if b.text() == "Keep it open")
    keep.click()
    assert panel.router.call("call-r") is not None and panel.window.view("call-r") is not None
    ring(panel, "call-r", state="answered")
    panel.window.tabs.tabCloseRequested.emit(0)  # talking: closes at once (the agent may want it gone)
    assert panel.router.call("call-r") is None
    ring(panel, "call-w", CALM[1], state="answered")
    ring(panel, "call-w", state="ended")
    panel.window.tabs.tabCloseRequested.emit(0)
    box = _close_box(panel.window)
    assert "without recording an outcome" in box.text()
    next(b for b in box.buttons() if b.text() == "Close call").click()
    assert panel.router.call("call-w") is None and panel.window.view("call-w") is None


def test_answered_for_a_ringing_call_closed_by_mistake_pops_it_again(qtbot, panel):
    ring(panel, "call-m", CALM[1])
    wait_for_state(qtbot, panel, "call-m", PopState.LIVE)
    panel.window.tabs.tabCloseRequested.emit(0)
    next(b for b in _close_box(panel.window).buttons() if b.text() == "Close call").click()
    assert panel.window.view("call-m") is None
    ring(panel, "call-m", state="answered")  # the agent took the call after all
    wait_for_state(qtbot, panel, "call-m", PopState.LIVE)
    assert panel.window.current_call_id() == "call-m"
    assert "talking" in panel.window.tabs.tabText(0)


def test_do_not_disturb_needs_a_second_press_by_key_and_by_mouse(qtbot, panel):
    ring(panel, "call-n", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-n", PopState.LIVE)
    recorded: list[dict] = []
    panel.controller.outcome_recorded.connect(recorded.append)
    bar = panel.window.outcome_bar
    qtbot.keyClick(panel.window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert bar.armed() and "Press again" in bar.buttons["do_not_disturb"].text()
    assert "stops all marketing" in bar.target.text()
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        qtbot.keyClick(panel.window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert [r.result for r in recorded] == ["do_not_disturb"] and not bar.armed()
    ring(panel, "call-p", PRICE_SENSITIVE[1], state="answered")
    wait_for_state(qtbot, panel, "call-p", PopState.LIVE)
    button = bar.buttons["do_not_disturb"]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert bar.armed() and len(recorded) == 1
    bar.disarm()  # e.g. the confirmation window ran out
    assert "Press again" not in button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(recorded) == 2, timeout=5000)
    assert recorded[1].call_id == "call-p"


def test_a_do_not_disturb_armed_on_one_call_does_not_confirm_on_another(qtbot, panel):
    two_ringing_then_a_answered(qtbot, panel)
    bar = panel.window.outcome_bar
    panel.window.tabs.setCurrentWidget(panel.window.view("call-b"))
    qtbot.keyClick(panel.window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert bar.armed()
    panel.window.tabs.setCurrentWidget(panel.window.view("call-a"))
    assert not bar.armed()


def test_a_call_transferred_to_a_colleague_says_to_whom(qtbot, panel):
    ring(panel, "call-x", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-x", PopState.LIVE)
    ring(panel, "call-x", CALM[1], state="transferred", agent_id="agent-042")
    assert "⇄ to agent-042" in panel.window.tabs.tabText(0)


def test_a_notice_that_outlives_its_call_is_shown_once(qtbot, panel):
    """With no call in front the call's slot and the panel's are the same: the notice a closed call leaves
    behind ("✓ Recorded … — Ctrl+Z to undo") must not be shown twice."""
    ring(panel, "call-once", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-once", PopState.LIVE)
    record_a_callback(qtbot, panel)  # needs no offer: earlier tests of this module set DND on the customers
    panel.router.dismiss("call-once")
    qtbot.waitUntil(lambda: panel.window.current_call_id() is None, timeout=5000)
    text = panel.window.notice.text()
    assert text and len(text.splitlines()) == 1, text


def test_a_closed_calls_saved_notice_never_stands_under_the_next_customer(qtbot, panel):
    """'✓ Saved … for 王芳' outlives her closed tab only until another call is in front."""
    ring(panel, "call-first", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-first", PopState.LIVE)
    record_a_callback(qtbot, panel)  # needs no offer: earlier tests of this module set DND on the customers
    panel.router.dismiss("call-first")
    qtbot.waitUntil(lambda: panel.window.current_call_id() is None, timeout=5000)
    assert "王芳" in panel.window.notice.text()
    ring(panel, "call-next", PRICE_SENSITIVE[1], state="answered")
    wait_for_state(qtbot, panel, "call-next", PopState.LIVE)
    assert "王芳" not in panel.window.notice.text()


def record_a_callback(qtbot, panel) -> None:
    bar = panel.window.outcome_bar
    bar._ask_callback = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        bar.buttons["callback"].click()
