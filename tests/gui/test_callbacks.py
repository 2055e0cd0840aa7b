"""Callbacks are a queue: reminders rebuilt from the store at start, today's list on the idle screen, a
reminder opens the customer with one key, and the time picker keeps the minute the agent typed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from desktop.domain.states import PopState
from desktop.ui.i18n import Texts
from desktop.ui.outcome_bar import CallbackDialog
from desktop.ui.qt import QtCore, QtWidgets
from tests.gui.conftest import CALM, COMPLAINT, make_app, wait_for_state
from tests.gui.test_panel import ring

Qt = QtCore.Qt
TRANSLATIONS = Path(__file__).resolve().parents[2] / "resources" / "translations"


def idle_text(app) -> str:
    return "\n".join(w.text() for w in app.window.idle.findChildren(QtWidgets.QWidget)
                     if isinstance(w, QtWidgets.QLabel | QtWidgets.QPushButton) and w.isVisibleTo(app.window.idle))


def rows(app) -> list[QtWidgets.QFrame]:
    return [row for row in app.window.idle.findChildren(QtWidgets.QFrame, "CallbackRow")
            if row.isVisibleTo(app.window.idle)]


def callback_jobs(app) -> list[str]:
    return [job for job in app.scheduler.job_ids() if job.startswith("callback:")]


def agree_callback(qtbot, app, call_id: str, number: str, when: dt.datetime) -> None:
    ring(app, call_id, number, state="answered")
    wait_for_state(qtbot, app, call_id, PopState.LIVE)
    app.window.outcome_bar._ask_callback = lambda: when
    with qtbot.waitSignal(app.controller.outcome_recorded, timeout=5000):
        app.window.outcome_bar.buttons["callback"].click()


def test_a_callback_survives_a_restart_and_its_reminder_opens_the_customer(qapp, qtbot, tmp_path, server,
                                                                          memory_keyring):
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=3)
    first = make_app(qapp, tmp_path, server.base_url, server.token)
    first.start(show=True)
    try:
        agree_callback(qtbot, first, "call-cb", CALM[1], due)
    finally:
        first.close()  # before the reminder: the panel restarts mid-shift
    second = make_app(qapp, tmp_path, server.base_url, server.token)
    second.start(show=True)
    try:
        # Listed at once, from the store: time, masked number, name.
        qtbot.waitUntil(lambda: len(rows(second)) == 1, timeout=5000)
        text = idle_text(second)
        assert "王芳" in text and "138****8000" in text and CALM[1] not in text
        assert due.astimezone().strftime("%H:%M") in text
        with qtbot.waitSignal(second.controller.callback_due, timeout=10000) as reminded:
            pass
        assert "王芳" in reminded.args[0]
        assert "Ctrl+B" in second.window.notice.text()
        qtbot.waitUntil(lambda: rows(second) and rows(second)[0].property("overdue") is True)
        # One key opens the customer, as a search result would.
        qtbot.keyClick(second.window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: second.window.tabs.count() == 1)
        view = wait_for_state(qtbot, second, second.window.current_call_id(), PopState.LIVE)
        assert view.result.document.customer.customer_id == CALM[0]
    finally:
        second.close()


def later_today() -> dt.datetime:
    """Ahead and still today: 30 minutes from now, or the day's last second (after 23:30 local time +30 min
    would be tomorrow, out of today's list)."""
    now = dt.datetime.now().astimezone()
    return min(now + dt.timedelta(minutes=30), dt.datetime.combine(now.date(), dt.time(23, 59, 59), now.tzinfo))


def test_a_callback_kept_by_a_later_outcome_is_not_reminded(qtbot, panel):
    agree_callback(qtbot, panel, "call-k1", CALM[1], later_today())
    qtbot.waitUntil(lambda: len(callback_jobs(panel)) == 1 and len(rows(panel)) == 1, timeout=5000)
    # The agent reaches the customer before the agreed time: another outcome for them keeps the callback.
    panel.window.outcome_bar._ask_reason = lambda: "No time on this call"
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        panel.window.outcome_bar.buttons["not_offered"].click()
    qtbot.waitUntil(lambda: not callback_jobs(panel) and not rows(panel), timeout=5000)
    assert "No callbacks due today" in idle_text(panel)


def test_the_idle_screen_lists_todays_callbacks_overdue_ones_in_the_warning_colour(qtbot, panel):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ring(panel, "call-l1", CALM[1], state="answered")
    wait_for_state(qtbot, panel, "call-l1", PopState.LIVE)
    with qtbot.waitSignal(panel.controller.outcome_recorded, timeout=5000):
        panel.window.outcome_bar.buttons["considering"].click()
    with qtbot.waitSignal(panel.controller.callback_due, timeout=5000):  # just missed: overdue, reminded now
        agree_callback(qtbot, panel, "call-l1", CALM[1], now - dt.timedelta(minutes=1))
    later = min(now + dt.timedelta(minutes=2), dt.datetime.combine(
        now.astimezone().date(), dt.time(23, 59)).astimezone().astimezone(dt.UTC))
    agree_callback(qtbot, panel, "call-l2", COMPLAINT[1], later)
    qtbot.waitUntil(lambda: len(rows(panel)) == 2, timeout=5000)
    late, open_ = rows(panel)
    assert len(callback_jobs(panel)) == 1  # the overdue one was reminded once, not again at each re-read
    assert late.property("overdue") is True and open_.property("overdue") is False
    late_text = "\n".join(label.text() for label in late.findChildren(QtWidgets.QLabel))
    assert "王芳" in late_text and "138****8000" in late_text and "Considering" in late_text
    assert "overdue" in late_text
    assert "刘洋" in "\n".join(label.text() for label in open_.findChildren(QtWidgets.QLabel))
    assert "2 " in panel.window.idle.heading.text() and "1 overdue" in panel.window.idle.heading.text()
    # The row's own button opens that customer.
    before = panel.window.tabs.count()
    open_button = open_.findChild(QtWidgets.QPushButton)
    open_button.click()
    qtbot.waitUntil(lambda: panel.window.tabs.count() == before + 1)
    view = wait_for_state(qtbot, panel, panel.window.current_call_id(), PopState.LIVE)
    assert view.result.document.customer.customer_id == COMPLAINT[0]


# ---------------------------------------------------------------------- the time picker

def local(*args) -> dt.datetime:
    return dt.datetime(*args).astimezone()


def picker(qtbot, now: dt.datetime | None = None, language: str = "en") -> CallbackDialog:
    dialog = CallbackDialog(Texts(language, TRANSLATIONS), now=now)
    qtbot.addWidget(dialog)
    return dialog


def test_the_picker_keeps_the_exact_minute_the_agent_typed(qtbot):
    dialog = picker(qtbot, local(2026, 12, 7, 10, 0, 47))
    edit = dialog.when
    dialog.show()
    qtbot.waitExposed(dialog)
    edit.setFocus()
    edit.setSelectedSection(QtWidgets.QDateTimeEdit.Section.HourSection)
    qtbot.keyClicks(edit, "14")
    edit.setSelectedSection(QtWidgets.QDateTimeEdit.Section.MinuteSection)
    qtbot.keyClicks(edit, "30")
    assert edit.text() == "2026-12-07 14:30"
    assert dialog.callback_at() == local(2026, 12, 7, 14, 30)  # not 14:30:47
    # Whatever seconds the editor holds (a calendar pick, a host's default), the minute shown is the time.
    edit.setDateTime(QtCore.QDateTime(QtCore.QDate(2026, 12, 7), QtCore.QTime(15, 45, 59)))
    assert edit.text() == "2026-12-07 15:45" and dialog.callback_at() == local(2026, 12, 7, 15, 45)


def test_the_picker_never_moves_a_typed_time_to_now(qtbot):
    dialog = picker(qtbot)
    typed = (dt.datetime.now().astimezone() - dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    dialog.set_time(typed)
    assert dialog.callback_at() == typed  # a minute just gone stays what the agent typed
    dialog.set_time(typed - dt.timedelta(hours=1))
    dialog.accept()  # an hour ago is refused in words, not clamped to now
    assert dialog.result() != QtWidgets.QDialog.DialogCode.Accepted and dialog.problem.isVisibleTo(dialog)
    assert "passed" in dialog.problem.text()
    assert dialog.callback_at() == typed - dt.timedelta(hours=1)


def test_the_picker_presets(qtbot):
    dialog = picker(qtbot, local(2026, 12, 7, 10, 0, 47))
    dialog.presets["tomorrow"].click()
    assert dialog.callback_at() == local(2026, 12, 8, 9, 0)
    dialog.presets["evening"].click()
    assert dialog.callback_at() == local(2026, 12, 7, 19, 0)
    dialog.presets["hour"].click()
    assert dialog.callback_at() == local(2026, 12, 7, 11, 0)
    late = picker(qtbot, local(2026, 12, 7, 20, 15), language="zh_CN")
    assert not late.presets["evening"].isEnabled()  # this evening has passed
    assert late.presets["tomorrow"].text() != "Tomorrow 09:00"  # translated


def test_tomorrows_callback_is_reminded_but_listed_from_midnight(qtbot, panel):
    tomorrow = dt.datetime.now().astimezone().date() + dt.timedelta(days=1)
    due = dt.datetime.combine(tomorrow, dt.time(9, 0)).astimezone()
    agree_callback(qtbot, panel, "call-t1", CALM[1], due)
    qtbot.waitUntil(lambda: len(callback_jobs(panel)) == 1, timeout=5000)
    assert not rows(panel) and "No callbacks due today" in idle_text(panel)
    midnight = dt.datetime.combine(tomorrow, dt.time(0, 0)).astimezone()
    assert panel.scheduler.next_run_time("callbacks-new-day") == midnight
    panel.controller._clock = lambda: midnight.astimezone(dt.UTC) + dt.timedelta(seconds=1)
    panel.controller._new_day()  # what the job runs at midnight
    assert len(rows(panel)) == 1 and "王芳" in idle_text(panel)
    assert panel.scheduler.next_run_time("callbacks-new-day") == dt.datetime.combine(
        tomorrow + dt.timedelta(days=1), dt.time(0, 0)).astimezone()


def test_a_callback_keeps_the_name_and_number_seen_on_its_pop_when_the_cache_has_none(qtbot, panel):
    """The save re-reads the callbacks in its own task, which may run before the pop's cache write (that
    waits for the paint), or after the cached copy expired: the reminder still names the customer."""
    due = dt.datetime.combine(dt.datetime.now().astimezone().date() + dt.timedelta(days=1), dt.time(9, 0)).astimezone()
    agree_callback(qtbot, panel, "call-n1", CALM[1], due)
    qtbot.waitUntil(lambda: len(callback_jobs(panel)) == 1, timeout=5000)
    panel.store.views.clear()  # no cached pop left to take the name from
    with qtbot.waitSignal(panel.runner.task_finished, timeout=5000,
                          check_params_cb=lambda timing: timing.name == "callbacks.load"):
        panel.controller.load_callbacks()
    qtbot.waitUntil(lambda: bool(panel.controller._callback_queue), timeout=5000)
    (callback,) = panel.controller._callback_queue.values()
    assert callback.display_name == "王芳" and callback.masked_number == "138****8000"


def test_sign_out_forgets_who_the_callbacks_are_for_but_keeps_the_callbacks(qtbot, panel):
    """Sign-out clears the customer data on this PC: the name kept with a callback and the one seen on its
    pop go; the callback stays (the idle screen then shows the customer id)."""
    agree_callback(qtbot, panel, "call-so", CALM[1], later_today())
    qtbot.waitUntil(lambda: any(c.display_name == "王芳" for c in panel.controller._callback_queue.values()),
                    timeout=5000)
    with qtbot.waitSignal(panel.runner.task_finished, timeout=5000,
                          check_params_cb=lambda timing: timing.name == "callbacks.load"):
        panel.sign_out()
    (callback,) = panel.controller._callback_queue.values()
    assert callback.display_name is None and callback.customer_id == CALM[0]
    qtbot.waitUntil(lambda: "王芳" not in idle_text(panel) and "Customer C-CALM" in idle_text(panel),
                    timeout=5000)  # the old row goes at the next turn of the event loop
