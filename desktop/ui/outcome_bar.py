"""The outcome bar: one button and one configurable shortcut per result, an optional note, sync state.

Shortcuts use a modifier by default (Ctrl+1…6) because agents type digits into the softphone; the
panel never takes keyboard focus on a pop, so application-wide shortcuts are what make "one key" work.
"""

from __future__ import annotations

import datetime as dt

from desktop.domain.outcomes import CALLBACK_PAST_TOLERANCE
from desktop.ui.i18n import Localized, Texts
from desktop.ui.qt import Qt, QtCore, QtGui, QtWidgets, Signal

RESULTS = ("accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb")
DEFAULT_SHORTCUTS = {
    "accepted": "Ctrl+1",
    "declined": "Ctrl+2",
    "considering": "Ctrl+3",
    "callback": "Ctrl+4",
    "not_offered": "Ctrl+5",
    "do_not_disturb": "Ctrl+6",
}
# Do-not-disturb stops all marketing to the customer: the first press arms it, a second within this long
# records it (by key or by mouse).
CONFIRM_MS = 5000


def result_label(result: str, texts: Texts) -> str:
    return {
        "accepted": texts.translate("Messages", "Accepted"),
        "declined": texts.translate("Messages", "Declined"),
        "considering": texts.translate("Messages", "Considering"),
        "callback": texts.translate("Messages", "Call back"),
        "not_offered": texts.translate("Messages", "Not offered"),
        "do_not_disturb": texts.translate("Messages", "Do not disturb"),
    }[result]


class CallbackDialog(Localized, QtWidgets.QDialog):
    """Pick when to call back; the reminder fires then.

    The time is exactly the minute shown (no hidden seconds carried over from "now", no silent clamp to
    the present): a time that has passed is refused with a message, the agent decides. Presets: in an
    hour, this evening 19:00 (while it is before then), tomorrow 09:00.
    """

    EVENING, MORNING = dt.time(19, 0), dt.time(9, 0)

    def __init__(self, texts: Texts, parent=None, now: dt.datetime | None = None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setWindowTitle(self.tr("Call back"))
        self._now = now
        now = self.now()
        layout = QtWidgets.QFormLayout(self)
        self.when = QtWidgets.QDateTimeEdit()
        self.when.setCalendarPopup(True)
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.when.setAccessibleName(self.tr("Callback time"))
        self.set_time(now + dt.timedelta(hours=1))
        layout.addRow(self.tr("Call back at"), self.when)
        presets = QtWidgets.QHBoxLayout()
        self.presets: dict[str, QtWidgets.QPushButton] = {}
        for key, label in (("hour", self.tr("In 1 hour")), ("evening", self.tr("This evening 19:00")),
                           ("tomorrow", self.tr("Tomorrow 09:00"))):
            button = QtWidgets.QPushButton(label)
            button.setAutoDefault(False)
            button.clicked.connect(lambda _checked=False, k=key: self.use_preset(k))
            presets.addWidget(button)
            self.presets[key] = button
        self.presets["evening"].setEnabled(now.time() < self.EVENING)
        layout.addRow(presets)
        self.problem = QtWidgets.QLabel()
        self.problem.setProperty("sync", "attention")
        self.problem.setWordWrap(True)
        self.problem.setVisible(False)
        layout.addRow(self.problem)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def now(self) -> dt.datetime:
        """Local, aware."""
        return (self._now or dt.datetime.now()).astimezone()

    def set_time(self, when: dt.datetime) -> None:
        local = when.astimezone()
        self.when.setDateTime(QtCore.QDateTime(QtCore.QDate(local.year, local.month, local.day),
                                               QtCore.QTime(local.hour, local.minute)))

    def use_preset(self, key: str) -> None:
        now = self.now()
        if key == "hour":
            when = now + dt.timedelta(hours=1)
        elif key == "evening":
            when = dt.datetime.combine(now.date(), self.EVENING)
        else:
            when = dt.datetime.combine(now.date() + dt.timedelta(days=1), self.MORNING)
        self.set_time(when)
        self.problem.setVisible(False)

    def callback_at(self) -> dt.datetime:
        """The minute shown, in this computer's time zone, as UTC."""
        shown = self.when.dateTime()
        date, time = shown.date(), shown.time()
        local = dt.datetime(date.year(), date.month(), date.day(), time.hour(), time.minute()).astimezone()
        return local.astimezone(dt.UTC)

    def accept(self) -> None:
        if self.callback_at() < self.now() - CALLBACK_PAST_TOLERANCE:
            self.problem.setText(self.tr("That time has already passed: choose a later time."))
            self.problem.setVisible(True)
            return
        super().accept()


class NotOfferedDialog(Localized, QtWidgets.QDialog):
    """Why the offer was not made: common reasons one keypress away, or free text."""

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setWindowTitle(self.tr("Not offered"))
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QLabel(self.tr("Why was the offer not made?")))
        self.reason = QtWidgets.QComboBox()
        self.reason.setEditable(True)
        self.reason.setAccessibleName(self.tr("Reason"))
        self.reason.addItems([
            self.tr("Customer was upset"),
            self.tr("No time on this call"),
            self.tr("Customer not the account holder"),
            self.tr("Complaint handled first"),
        ])
        layout.addWidget(self.reason)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def text(self) -> str:
        return self.reason.currentText().strip()


class OutcomeBar(Localized, QtWidgets.QFrame):
    """Emits outcome_requested(result, extras) — extras: note, callback_at, reason.

    `shortcuts`: None for the defaults (Ctrl+1…6); a mapping gives exactly the keys to listen to (a
    result missing from it, or mapped to "", has no shortcut). `shortcut_context`: application-wide for
    the desktop panel; an embedded panel uses its host window's scope.
    """

    outcome_requested = Signal(str, dict)

    def __init__(self, texts: Texts, shortcuts: dict[str, str] | None = None, parent=None,
                 ask_callback=None, ask_reason=None,
                 shortcut_context: Qt.ShortcutContext = Qt.ShortcutContext.ApplicationShortcut) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setProperty("card", True)
        self.setAccessibleName(self.tr("Record outcome"))
        self._ask_callback = ask_callback or self._callback_dialog
        self._ask_reason = ask_reason or self._reason_dialog
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        self.target = QtWidgets.QLabel()
        self.target.setProperty("role", "muted")
        self.target.setWordWrap(True)
        layout.addWidget(self.target)
        grid = QtWidgets.QGridLayout()
        grid.setSpacing(4)
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        self.shortcuts: dict[str, QtGui.QShortcut] = {}
        keys = dict(DEFAULT_SHORTCUTS) if shortcuts is None else dict(shortcuts)
        for index, result in enumerate(RESULTS):
            label = result_label(result, texts)
            button = QtWidgets.QPushButton(label)
            button.setProperty("outcome", result)
            button.setAccessibleName(label)
            button.setToolTip(label)
            button.setMinimumHeight(40)
            button.clicked.connect(lambda _checked=False, r=result: self.request(r))
            grid.addWidget(button, index // 3, index % 3)
            self.buttons[result] = button
            if keys.get(result):
                sequence = QtGui.QKeySequence(keys[result])
                hint = sequence.toString(QtGui.QKeySequence.SequenceFormat.NativeText)
                button.setText(f"{label}\n{hint}")
                button.setAccessibleDescription(self.tr("Shortcut %1").replace("%1", hint))
                button.setToolTip(f"{label} ({hint})")
                shortcut = QtGui.QShortcut(sequence, self)
                shortcut.setContext(shortcut_context)
                shortcut.activated.connect(lambda r=result: self.request(r))
                self.shortcuts[result] = shortcut
        layout.addLayout(grid)
        self.note = QtWidgets.QLineEdit()
        self.note.setPlaceholderText(self.tr("Note (optional)"))
        self.note.setAccessibleName(self.tr("Note"))
        self.note.setMaxLength(2000)
        layout.addWidget(self.note)
        self._confirm_timer = QtCore.QTimer(self)
        self._confirm_timer.setSingleShot(True)
        self._confirm_timer.setInterval(CONFIRM_MS)
        self._confirm_timer.timeout.connect(self.disarm)
        self._dnd_text = self.buttons["do_not_disturb"].text()
        self.set_target(None, has_customer=False)

    def set_target(self, offer_title: str | None, *, has_customer: bool, awaiting_choice: bool = False,
                   caller: str | None = None) -> None:
        """What the next outcome is for; outcomes about an offer need one, DND/not-offered do not.
        `awaiting_choice`: the caller's number is shared and the agent has not said who is calling.
        `caller`: no customer record on screen (unknown caller, failed pop), only this (masked) number: not
        offered, call back and do not disturb by number still apply."""
        self._caller = caller if not has_customer and not awaiting_choice else None
        self._has_customer = (has_customer and not awaiting_choice) or self._caller is not None
        self._has_offer = offer_title is not None and self._caller is None
        if self._caller is not None:
            self.target.setText(self.tr("No customer record for %1: Not offered, Call back or Do not disturb "
                                        "(for this number) can still be recorded.").replace("%1", self._caller))
        elif awaiting_choice:
            self.target.setText(self.tr("Choose who is calling first: outcomes are recorded for that customer."))
        elif not has_customer:
            self.target.setText(self.tr("Outcome buttons work once a customer is on screen."))
        elif offer_title:
            self.target.setText(self.tr("Outcome for: %1").replace("%1", offer_title))
        else:
            self.target.setText(self.tr("No offer selected: only Not offered, Call back or DND apply."))
        for result, button in self.buttons.items():
            button.setEnabled(self._enabled(result))

    def _enabled(self, result: str) -> bool:
        if not self._has_customer:
            return False
        return self._has_offer or result in ("not_offered", "callback", "do_not_disturb")

    def request(self, result: str) -> None:
        if not self._enabled(result):
            return
        if result == "do_not_disturb" and not self.armed():
            self._arm()
            return
        self.disarm()
        extras: dict = {"note": self.note.text().strip() or None}
        if result == "callback":
            when = self._ask_callback()
            if when is None:
                return
            extras["callback_at"] = when
        elif result == "not_offered":
            reason = self._ask_reason()
            if not reason:
                return
            extras["reason"] = reason
        self.outcome_requested.emit(result, extras)

    def armed(self) -> bool:
        """Do-not-disturb was pressed once: the next press within CONFIRM_MS records it."""
        return self._confirm_timer.isActive()

    def _arm(self) -> None:
        button = self.buttons["do_not_disturb"]
        button.setText(self.tr("Press again to confirm\nStops all marketing"))
        button.setProperty("armed", True)
        button.style().unpolish(button)
        button.style().polish(button)
        if self._caller:
            self.target.setText(self.tr("Do not disturb stops all marketing to %1, whoever holds this number. "
                                        "Press it again to confirm.").replace("%1", self._caller))
        else:
            self.target.setText(self.tr("Do not disturb stops all marketing to this customer. Press it again to "
                                        "confirm."))
        self._confirm_timer.start()

    def disarm(self) -> None:
        if not self._confirm_timer.isActive() and not self.buttons["do_not_disturb"].property("armed"):
            return
        self._confirm_timer.stop()
        button = self.buttons["do_not_disturb"]
        button.setText(self._dnd_text)
        button.setProperty("armed", False)
        button.style().unpolish(button)
        button.style().polish(button)

    def clear_note(self, saved: str | None = None) -> None:
        """After a save: clear the note field if it still holds the note that was saved (`saved`, None for
        none); a note the agent typed while the save ran is for the next outcome and stays."""
        if self.note.text().strip() == (saved or ""):
            self.note.clear()

    def _callback_dialog(self) -> dt.datetime | None:
        dialog = CallbackDialog(self.texts, self.window())
        return dialog.callback_at() if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted else None

    def _reason_dialog(self) -> str | None:
        dialog = NotOfferedDialog(self.texts, self.window())
        return dialog.text() if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted else None


class SyncBadge(Localized, QtWidgets.QPushButton):
    """synced / N pending / offline since HH:MM / needs attention — click to see what needs attention."""

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setProperty("flat", True)
        self.setAccessibleName(self.tr("Sync status"))
        self._full = ""
        self.show_state(None)

    def _set_full_text(self, text: str) -> None:
        """The badge's text, on two lines (the state, then why) when one line is wider than the badge: a
        centred line wider than the panel lost both its ends ("ffline since … cannot reach the serve")."""
        self._full = text
        self._fit()

    def _fit(self) -> None:
        text = self._full
        room = self.width() - 24  # the button's own margins
        if " — " in text and room > 0 and self.fontMetrics().horizontalAdvance(text) > room:
            text = text.replace(" — ", "\n", 1)
        if self.text() != text:
            self.setText(text)

    def full_text(self) -> str:
        """What the badge says, on one line (its tooltip and accessible description)."""
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def show_state(self, state) -> None:
        if state is None:
            kind, text = "pending", self.tr("Sync: starting…")
        else:
            kind = state.kind
            if kind == "attention":
                text = self.tr("⚠ %1 outcome(s) need attention").replace("%1", str(state.needs_attention))
            elif not state.signed_in:
                # Nothing is sent without an account: never "synced", whatever the counts say.
                kind = "pending"
                text = (self.tr("Not signed in · %1 pending").replace("%1", str(state.pending)) if state.pending
                        else self.tr("Not signed in: outcomes are kept on this PC"))
            elif kind == "offline":
                since = state.offline_since.astimezone().strftime("%H:%M") if state.offline_since else ""
                text = self.tr("Offline since %1 · %2 pending").replace("%1", since).replace("%2", str(state.pending))
            elif kind == "pending":
                text = self.tr("%1 pending").replace("%1", str(state.pending))
            else:
                text = self.tr("✓ All outcomes synced")
            reason = self.reason(state.last_error) if kind in ("offline", "pending") and state.signed_in else ""
            if reason:
                # Say what is wrong, not only that it is: "offline" alone reads the same for a pulled cable,
                # a server error and an untrusted certificate, and IT needs to know which.
                text = f"{text} — {reason}"
        self._set_full_text(text)
        self.setToolTip(text)
        self.setProperty("sync", kind)
        self.setAccessibleDescription(text)
        self.style().unpolish(self)
        self.style().polish(self)

    def show_problem(self, error) -> None:
        """The local data file has a problem: a damaged one (until the panel restarts: damage does not heal),
        or an outbox that cannot be read now (instead of a count nobody knows)."""
        if error.code == "store_corrupt":
            text = self.tr("⚠ The local data file is damaged: restart CallCue")
        else:
            text = self.tr("⚠ Outcomes not readable — %1").replace("%1", self.reason(error))
        self._set_full_text(text)
        self.setToolTip(text)
        self.setProperty("sync", "attention")
        self.setAccessibleDescription(text)
        self.style().unpolish(self)
        self.style().polish(self)

    def reason(self, error) -> str:
        """Why the last delivery failed, in a few plain words ('' when it did not fail)."""
        if error is None:
            return ""
        return {
            "server_unreachable": self.tr("cannot reach the server"),
            "timeout": self.tr("the server does not answer"),
            "server_error": self.tr("the server reports an error"),
            "bad_response": self.tr("the server's answer is unreadable"),
            "answer_too_large": self.tr("the server's answer is too large"),
            "rate_limited": self.tr("the server asks to wait a minute"),
            "tls_failed": self.tr("the server's certificate is not trusted"),
            "auth_failed": self.tr("sign in again"),
            "disk_full": self.tr("the disk is full"),
            "read_only": self.tr("the data folder is read-only"),
            "store_corrupt": self.tr("the local data file is damaged"),
            "store_failed": self.tr("the local data file cannot be used"),
        }.get(error.code, self.tr("sync failed"))
