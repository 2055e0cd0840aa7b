"""The idle screen: "waiting for a call" and today's callbacks (time, masked number, name, last outcome).

Thin: it shows the ScheduledCallback list the controller read on a worker and asks for a customer to be
opened (a row's button, or the reminder key); the queue itself lives in desktop/services/callbacks.py.
"""

from __future__ import annotations

import datetime as dt

from desktop.domain.callbacks import ScheduledCallback
from desktop.ui.i18n import Localized, Texts
from desktop.ui.outcome_bar import result_label
from desktop.ui.qt import Qt, QtGui, QtWidgets, Signal

# Opens the customer of the reminder that fired last (or the first overdue callback): one key.
OPEN_CALLBACK_KEY = "Ctrl+B"


class IdleView(Localized, QtWidgets.QFrame):
    """What the panel shows when no call is open."""

    open_requested = Signal(str)  # customer id

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setObjectName("IdleView")
        self.setAutoFillBackground(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 8, 4, 4)
        self.waiting = QtWidgets.QLabel(self.tr("Waiting for a call. Incoming calls appear here automatically."))
        self.waiting.setProperty("role", "muted")
        self.waiting.setWordWrap(True)
        self.waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.waiting)
        self.heading = QtWidgets.QLabel()
        self.heading.setProperty("role", "section")
        layout.addWidget(self.heading)
        self.rows_area = QtWidgets.QWidget()
        self.rows_area.setObjectName("CallbackRows")
        self.rows = QtWidgets.QVBoxLayout(self.rows_area)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.rows.setSpacing(4)
        scroll = QtWidgets.QScrollArea()
        scroll.setObjectName("CallbackScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # rows wrap instead
        scroll.setWidget(self.rows_area)
        layout.addWidget(scroll, 1)
        self.callbacks: list[ScheduledCallback] = []
        self.reminded: str | None = None  # customer id of the reminder that fired last
        self.show_callbacks([], dt.datetime.now(dt.UTC))

    def text(self) -> str:
        return self.waiting.text()

    def install_key(self, panel: QtWidgets.QWidget, context: Qt.ShortcutContext) -> QtGui.QShortcut:
        """The open key lives on the panel (always visible), so it works with a call on screen too."""
        shortcut = QtGui.QShortcut(QtGui.QKeySequence(OPEN_CALLBACK_KEY), panel)
        shortcut.setContext(context)
        shortcut.activated.connect(self.open_next)
        return shortcut

    def remind(self, customer_id: str) -> None:
        self.reminded = customer_id

    def _key_target(self) -> str | None:
        """Who the key opens: the reminded customer, else the earliest callback listed."""
        return self.reminded or (self.callbacks[0].customer_id if self.callbacks else None)

    def open_next(self) -> None:
        customer_id = self._key_target()
        if customer_id is not None:
            self.reminded = None
            self.open_requested.emit(customer_id)

    def show_callbacks(self, callbacks: list[ScheduledCallback], now: dt.datetime) -> None:
        self.callbacks = list(callbacks)
        while self.rows.count():
            item = self.rows.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        overdue = sum(1 for c in callbacks if c.overdue(now))
        if not callbacks:
            self.heading.setText(self.tr("No callbacks due today"))
        elif overdue:
            self.heading.setText(self.tr("Callbacks today: %1 (%2 overdue)").replace("%1", str(len(callbacks)))
                                 .replace("%2", str(overdue)))
        else:
            self.heading.setText(self.tr("Callbacks today: %1").replace("%1", str(len(callbacks))))
        target = self._key_target()
        for callback in callbacks:
            self.rows.addWidget(self._row(callback, now, first=callback.customer_id == target))
        self.rows.addStretch(1)

    def _row(self, callback: ScheduledCallback, now: dt.datetime, *, first: bool) -> QtWidgets.QFrame:
        """`first`: the row the key opens (its button names the key)."""
        late = callback.overdue(now)
        row = QtWidgets.QFrame()
        row.setObjectName("CallbackRow")
        row.setProperty("overdue", late)
        grid = QtWidgets.QGridLayout(row)
        grid.setContentsMargins(8, 4, 8, 4)
        due = callback.due_at.astimezone()
        when = due.strftime("%H:%M") if due.date() == now.astimezone().date() else due.strftime("%m-%d %H:%M")
        time_label = QtWidgets.QLabel(when)
        time_label.setProperty("callback", "overdue" if late else "due")
        grid.addWidget(time_label, 0, 0)
        if callback.display_name:
            who = callback.display_name
        elif callback.caller_number is not None:
            who = self.tr("Unknown caller")  # no customer record: the masked number is on the line below
        else:
            who = self.tr("Customer %1").replace("%1", callback.customer_id)
        name = QtWidgets.QLabel(who)
        name.setProperty("callback", "name")
        name.setWordWrap(True)
        grid.addWidget(name, 0, 1)
        grid.setColumnStretch(1, 1)
        details = [callback.masked_number or self.tr("number not on this PC")]
        if callback.last_result:
            details.append(self.tr("last: %1").replace("%1", result_label(callback.last_result, self.texts)))
        if late:
            details.append(self.tr("overdue"))
        info = QtWidgets.QLabel(" · ".join(details))
        info.setProperty("callback", "overdue" if late else "info")
        info.setWordWrap(True)
        grid.addWidget(info, 1, 1)
        button = QtWidgets.QPushButton(self.tr("Open") + (f" ({OPEN_CALLBACK_KEY})" if first else ""))
        button.setAccessibleName(self.tr("Open %1").replace("%1", name.text()))
        button.clicked.connect(lambda _checked=False, c=callback.customer_id: self.open_requested.emit(c))
        grid.addWidget(button, 0, 2, 2, 1)
        return row


__all__ = ["OPEN_CALLBACK_KEY", "IdleView"]
