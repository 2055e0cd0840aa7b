"""The side panel: search, one tab per call, the outcome bar and the sync badge.

`PanelWidget` is the panel's content, embeddable as a child widget of a host application (plugin_sdk);
`PanelWindow` is the same content as the desktop app's own top-level window; `PanelContainer` is the
stable widget an embedding host holds (the panel inside it is rebuilt on a language switch).

It shows what the controller tells it and reports what the agent does; it does no work itself.
A pop never takes keyboard focus: agents are typing into the softphone when the phone rings.
"""

from __future__ import annotations

import datetime as dt

from desktop.domain.call_screen import CallScreen
from desktop.domain.calls import Transfer
from desktop.domain.outcomes import UNDO_WINDOW, OutboxStatus
from desktop.ui.callbacks import IdleView
from desktop.ui.i18n import Localized, Texts, pick
from desktop.ui.outcome_bar import OutcomeBar, SyncBadge, result_label
from desktop.ui.pop_view import PopView, outbound_campaign
from desktop.ui.qt import Qt, QtCore, QtGui, QtWidgets, Signal

# Views kept ready for the next call (built while no pop is painting) and how long after a pop to build one.
SPARE_VIEWS = 2
SPARE_VIEW_DELAY_MS = 400
# Keys that choose among the customers sharing a caller's number: a modifier and the digits 1-9 (agents
# type bare digits into the softphone). The first modifier none of whose digits is an outcome key.
CHOICE_MODIFIERS = ("Alt", "Ctrl+Alt", "Ctrl+Shift", "Meta")
CHOICE_KEYS = 9
# More open calls than this: the tabs become a list, one full line per call (tab titles would be cut off).
MAX_TABS = 2


def choice_key_sequences(taken) -> list:
    """Alt+1 … Alt+9, or with the next modifier in CHOICE_MODIFIERS when one of those is an outcome key
    (`taken`: the outcome bar's key sequences)."""
    taken = {sequence.toString() for sequence in taken}
    for modifier in CHOICE_MODIFIERS:
        sequences = [QtGui.QKeySequence(f"{modifier}+{digit}") for digit in range(1, CHOICE_KEYS + 1)]
        if not any(sequence.toString() in taken for sequence in sequences):
            return sequences
    return []


class SearchBox(Localized, QtWidgets.QWidget):
    """Look a caller up by number, name or customer id (withheld or wrong numbers)."""

    search_requested = Signal(str)
    customer_chosen = Signal(str, str)  # customer id, display name

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.edit = QtWidgets.QLineEdit()
        self.edit.setPlaceholderText(self.tr("Search caller: number, name or customer ID (Ctrl+F)"))
        self.edit.setAccessibleName(self.tr("Search caller"))
        self.edit.setClearButtonEnabled(True)
        for button in self.edit.findChildren(QtWidgets.QToolButton):
            button.setAccessibleName(self.tr("Clear search"))
        self.edit.returnPressed.connect(self._submit)
        layout.addWidget(self.edit)
        self.results = QtWidgets.QListWidget()
        self.results.setAccessibleName(self.tr("Search results"))
        self.results.setVisible(False)
        self.results.setMaximumHeight(160)
        self.results.itemActivated.connect(self._chosen)
        layout.addWidget(self.results)
        self.message = QtWidgets.QLabel()
        self.message.setProperty("role", "muted")
        self.message.setVisible(False)
        layout.addWidget(self.message)
        # Esc (in the field or the list) and the field's clear button close the results and any message.
        self.edit.textChanged.connect(lambda text: None if text else self.close_results())
        self.edit.installEventFilter(self)
        self.results.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if (event.type() == QtCore.QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape
                and (self.results.isVisible() or self.message.isVisible())):
            self.close_results()
            self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
            return True
        return super().eventFilter(watched, event)

    def close_results(self) -> None:
        self.results.clear()
        self.results.setVisible(False)
        self.message.setVisible(False)

    def _submit(self) -> None:
        text = self.edit.text().strip()
        if text:
            self.message.setText(self.tr("Searching…"))
            self.message.setVisible(True)
            self.search_requested.emit(text)

    def show_results(self, items) -> None:
        if not self.edit.text().strip():
            return  # the agent cleared the search while it ran: the answer is no longer wanted
        self.results.clear()
        for item in items:
            numbers = ", ".join(f"{n[:3]}****{n[-4:]}" for n in item.msisdns[:2])
            row = QtWidgets.QListWidgetItem(f"{item.display_name} · {item.customer_id} · {numbers}")
            row.setData(Qt.ItemDataRole.UserRole, (item.customer_id, item.display_name))
            self.results.addItem(row)
        self.results.setVisible(bool(items))
        self.message.setText("" if items else self.tr("No customer found. Check the spelling or try the number."))
        self.message.setVisible(not items)
        if items:
            self.results.setCurrentRow(0)
            self.results.setFocus()

    def show_error(self, text: str) -> None:
        self.results.setVisible(False)
        self.message.setText(text)
        self.message.setVisible(True)

    def _chosen(self, item: QtWidgets.QListWidgetItem) -> None:
        customer_id, name = item.data(Qt.ItemDataRole.UserRole)
        self.results.setVisible(False)
        self.message.setVisible(False)
        self.edit.clear()
        self.customer_chosen.emit(customer_id, name)


def _call_name(view) -> str:
    """Who a call's view is about: the customer's name, else the masked number or the customer id."""
    result = view.result
    if result is None:
        return ""
    if result.document:
        return result.document.customer.display_name
    return result.key.masked() or result.key.customer_id or ""


class PanelWidget(Localized, QtWidgets.QWidget):
    """The panel's content. `embedded`: a child of a host's window (plugin_sdk) — then a pop never shows,
    raises or activates anything, the outcome keys work while the host's window is active (not
    application-wide), and Ctrl+F only while the keyboard is already in the panel."""

    outcome_requested = Signal(str, str, str, dict)  # call id, offer id ('' for none), result, extras
    dismiss_requested = Signal(str)  # call id
    caller_chosen = Signal(str, str)  # call id, customer id: who is calling on a shared number
    channel_chosen = Signal(str, str)  # call id, campaign id of an outbound call ("" inbound or a lookup)
    choose_again_requested = Signal(str)  # call id
    language_requested = Signal(str)
    sync_details_requested = Signal()
    retry_requested = Signal(str)  # call id: ask the server again for its pop
    front_requested = Signal(str)  # call id: the agent brought this call forward (a click on its tab)
    undo_requested = Signal(str)  # outcome id: Ctrl+Z while the "recorded — Ctrl+Z to undo" banner is up

    def __init__(self, texts: Texts, shortcuts: dict[str, str] | None = None, parent=None, *,
                 embedded: bool = True) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setObjectName("Panel")
        self.language = texts.language
        self.embedded = embedded
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        top = QtWidgets.QHBoxLayout()
        self.search = SearchBox(texts)
        top.addWidget(self.search, 1)
        self.language_button = QtWidgets.QPushButton("中 / EN")
        self.language_button.setProperty("flat", True)
        self.language_button.setAccessibleName(self.tr("Switch language"))
        self.language_button.setToolTip(self.tr("Switch language"))
        self.language_button.clicked.connect(self._toggle_language)
        top.addWidget(self.language_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setAccessibleName(self.tr("Calls"))
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.tabCloseRequested.connect(self._close_requested)
        self.tabs.currentChanged.connect(self._tab_brought_forward)
        # Between calls: "waiting for a call" and today's callbacks (desktop/ui/callbacks.py).
        self.idle = IdleView(texts)
        # Ctrl+B opens the customer to call back; embedded, only from inside the panel (as Ctrl+F).
        self.callback_key = self.idle.install_key(self, Qt.ShortcutContext.WidgetWithChildrenShortcut if embedded
                                                  else Qt.ShortcutContext.ApplicationShortcut)
        # More than MAX_TABS calls: this list replaces the tab titles (names never cut off).
        self.call_list = QtWidgets.QListWidget()
        self.call_list.setAccessibleName(self.tr("Open calls"))
        self.call_list.setWordWrap(True)
        self.call_list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.call_list.setVisible(False)
        self.call_list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # a pop never takes the keyboard
        self.call_list.currentRowChanged.connect(self._list_row_chosen)
        layout.addWidget(self.call_list)
        # The list has no close buttons of its own: this one closes the call in front (asking first, as a tab's).
        self.close_front_button = QtWidgets.QPushButton()
        self.close_front_button.setProperty("flat", True)
        self.close_front_button.setVisible(False)
        self.close_front_button.clicked.connect(lambda: self._close_requested(self.tabs.currentIndex()))
        layout.addWidget(self.close_front_button, 0, Qt.AlignmentFlag.AlignRight)
        # Each call's phase, transfer and notices, the closed call's last word and the undo banner's target
        # (desktop.domain.call_screen): decided there, rendered here.
        self.screen = CallScreen()
        self._programmatic = 0  # >0 while the panel itself changes the call in front
        self.now = lambda: dt.datetime.now(dt.UTC)
        self._wrap_up_timer = QtCore.QTimer(self)
        self._wrap_up_timer.setInterval(1000)
        self._wrap_up_timer.timeout.connect(self._tick_wrap_up)
        self._confirm_close: QtWidgets.QMessageBox | None = None
        # Between calls the idle note covers the (empty) tabs instead of the tabs being hidden: showing the
        # tab widget again with a pop in it cost each first call ~2.5 ms (every widget in it shown anew).
        calls_area = QtWidgets.QWidget()
        stack = QtWidgets.QStackedLayout(calls_area)
        stack.setStackingMode(QtWidgets.QStackedLayout.StackingMode.StackAll)
        stack.addWidget(self.tabs)
        stack.addWidget(self.idle)
        layout.addWidget(calls_area, 1)
        self.notice = QtWidgets.QLabel()
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.notice.setAccessibleName(self.tr("Last action"))
        layout.addWidget(self.notice)
        self.outcome_bar = OutcomeBar(texts, shortcuts, shortcut_context=(
            Qt.ShortcutContext.WindowShortcut if embedded else Qt.ShortcutContext.ApplicationShortcut))
        self.outcome_bar.outcome_requested.connect(self._outcome_requested)
        layout.addWidget(self.outcome_bar)
        # One key per customer when a number is shared (shown on each choice); active only while the call
        # in front asks "who is calling?", so the keys reach other widgets the rest of the time.
        sequences = choice_key_sequences(s.key() for s in self.outcome_bar.shortcuts.values())
        self.choice_keys = [sequence.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for sequence in sequences]
        self._choice_shortcuts: list[QtGui.QShortcut] = []
        for index, sequence in enumerate(sequences):
            shortcut = QtGui.QShortcut(sequence, self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut if embedded
                                else Qt.ShortcutContext.ApplicationShortcut)
            shortcut.setEnabled(False)
            shortcut.activated.connect(lambda i=index: self.choose_candidate(i))
            self._choice_shortcuts.append(shortcut)
        self._choosing = False
        self.sync_badge = SyncBadge(texts)
        self.sync_badge.clicked.connect(self.sync_details_requested)
        layout.addWidget(self.sync_badge)
        self.call_sources = QtWidgets.QLabel()
        self.call_sources.setWordWrap(True)
        self.call_sources.setAccessibleName(self.tr("Call sources"))
        self.call_sources.setVisible(False)
        layout.addWidget(self.call_sources)
        self._views: dict[str, PopView] = {}
        self._showing_calls: bool | None = None
        self._spare_views: list[PopView] = []
        self._spare_timer = QtCore.QTimer(self)
        self._spare_timer.setSingleShot(True)
        self._spare_timer.setInterval(SPARE_VIEW_DELAY_MS)
        self._spare_timer.timeout.connect(self._prepare_spare_view)
        # The first calls may ring the moment the agent logs in (callers wait in the queue, a second line
        # rings): their views are built now, with the panel, not in the pop (a view's build costs the GUI
        # thread 8-17 ms, on top of the pop's own layout and paint).
        while len(self._spare_views) < SPARE_VIEWS:
            self._spare_views.append(self._polished_view())
        find = QtGui.QShortcut(QtGui.QKeySequence("Ctrl+F"), self)
        # Embedded, the host's window has its own Ctrl+F: the panel's works only from inside the panel.
        find.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut if embedded
                        else Qt.ShortcutContext.WindowShortcut)
        find.activated.connect(self.focus_search)
        retry = QtGui.QShortcut(QtGui.QKeySequence("F5"), self)
        retry.setContext(find.context())
        retry.activated.connect(lambda: self.current_call_id() and self.retry_requested.emit(self.current_call_id()))
        # Ctrl+Z undoes the outcome just recorded, only while its banner is up (UNDO_WINDOW): the rest of the
        # time the key belongs to the text fields.
        self._undo_window = UNDO_WINDOW
        self._undo_shortcut = QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Z"), self)
        self._undo_shortcut.setContext(Qt.ShortcutContext.WindowShortcut if embedded
                                       else Qt.ShortcutContext.ApplicationShortcut)
        self._undo_shortcut.setEnabled(False)
        self._undo_shortcut.activated.connect(self._undo_pressed)
        self._undo_timer = QtCore.QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self._undo_expired)
        self._update_idle()

    def set_undo_window(self, window: dt.timedelta) -> None:
        """How long sync holds an outcome (undo removes it meanwhile): the banner stays up at least that long,
        and never less than UNDO_WINDOW (undone later, the outcome is retracted on the server)."""
        self._undo_window = max(window, UNDO_WINDOW)

    # ------------------------------------------------------------------ calls

    def view(self, call_id: str) -> PopView | None:
        return self._views.get(call_id)

    def has_calls(self) -> bool:
        """A call is on screen (ringing, in progress or in wrap-up)."""
        return bool(self._views)

    def show_pop(self, call_id: str, result, *, activate: bool = True) -> None:
        """Show or update a call's tab. New calls open a tab; the panel appears without taking focus."""
        view = self._views.get(call_id)
        new_call = view is None
        if new_call:
            view = self._spare_views.pop() if self._spare_views else self._new_view()
            self._views[call_id] = view
            self.screen.opened(call_id)  # (again: answered after a mistaken close)
        in_front = activate or self.tabs.currentWidget() is view
        # A new call's view is rendered before it joins the tabs, while it is hidden: in a visible view,
        # each label that appears makes Qt lay out the whole panel at once (~0.35 ms each, several per pop).
        view.render(result, defer=not in_front)
        self._programmatic += 1
        try:
            if new_call:
                self.tabs.addTab(view, "")
                if not self._spare_timer.isActive():  # restarting it on every call would starve it in a burst
                    self._spare_timer.start()
            self._set_tab_title(call_id)
            if activate:
                self.tabs.setCurrentWidget(view)
        finally:
            self._programmatic -= 1
        self._update_idle()
        self._refresh_outcome_target()
        if not self.embedded and not self.isVisible():
            self.show_without_focus()
        focus = QtWidgets.QApplication.focusWidget()
        if view.asks_for_channel() and in_front and focus is not None and self.isAncestorOf(focus):
            view.focus_channel_choice()  # the agent is in the panel (they just searched): Enter answers

    def show_without_focus(self) -> None:
        """Appear without taking the keyboard. WA_ShowWithoutActivating covers other applications' windows
        (a separate softphone); a host window in this process (an embedding softphone) gets its focus back
        explicitly, since some platforms activate every newly shown window."""
        focus_window = QtGui.QGuiApplication.focusWindow()
        focus_widget = QtWidgets.QApplication.focusWidget()
        self.show()
        if focus_window is not None and focus_window is not self.windowHandle():
            focus_window.requestActivate()
            if focus_widget is not None:
                focus_widget.setFocus(Qt.FocusReason.OtherFocusReason)

    def _new_view(self) -> PopView:
        # Born a (hidden) child of the tab widget's page stack, where addTab puts it: polished once with the
        # panel's style sheet. A parentless view was re-polished by addTab's reparenting (first use of a
        # view 17 -> 13 ms).
        pages = self.tabs.findChild(QtWidgets.QStackedWidget)
        view = PopView(self.texts, pages, choice_keys=self.choice_keys)
        view.hide()
        view.offer_selected.connect(lambda _offer_id: self._refresh_outcome_target())
        view.candidate_chosen.connect(lambda customer_id, v=view: self._candidate_chosen(v, customer_id))
        view.choose_again.connect(lambda v=view: self._choose_again(v))
        view.channel_chosen.connect(lambda campaign_id, v=view: self._channel_chosen(v, campaign_id))
        view.retry_requested.connect(lambda v=view: self._call_of(v) and self.retry_requested.emit(self._call_of(v)))
        return view

    def _call_of(self, view: PopView) -> str | None:
        return next((cid for cid, v in self._views.items() if v is view), None)

    def _candidate_chosen(self, view: PopView, customer_id: str) -> None:
        call_id = self._call_of(view)
        if call_id is not None:
            self.caller_chosen.emit(call_id, customer_id)

    def _channel_chosen(self, view: PopView, campaign_id: str) -> None:
        call_id = self._call_of(view)
        if call_id is not None:
            self.channel_chosen.emit(call_id, campaign_id)

    def _choose_again(self, view: PopView) -> None:
        call_id = self._call_of(view)
        if call_id is not None:
            self.choose_again_requested.emit(call_id)

    def choose_candidate(self, index: int) -> None:
        """Key `index` (0-based) of the call in front: its customer is the caller."""
        call_id = self.current_call_id()
        view = self._views.get(call_id) if call_id else None
        if view is not None and view.asks_for_channel():
            campaign_id = view.channel_id(index)  # the same keys choose an outbound call's campaign
            if campaign_id is not None:
                self.channel_chosen.emit(call_id, campaign_id)
            return
        if view is None or not view.asks_for_caller():
            return
        customer_id = view.candidate_id(index)
        if customer_id is not None:
            self.caller_chosen.emit(call_id, customer_id)

    def _prepare_spare_view(self) -> None:
        """Between calls: build and polish the next call's view, so a pop only sets texts. One per turn:
        each costs the GUI thread a few ms, and a pop may be waiting."""
        if len(self._spare_views) < SPARE_VIEWS:
            self._spare_views.append(self._polished_view())
        if len(self._spare_views) < SPARE_VIEWS:
            self._spare_timer.start()

    def _polished_view(self) -> PopView:
        view = self._new_view()
        view.ensurePolished()
        return view

    def close_call(self, call_id: str) -> None:
        view = self._views.pop(call_id, None)
        self.screen.closed(call_id)
        if self._confirm_close is not None and self._confirm_close.property("call_id") == call_id:
            self._confirm_close.reject()
        if view is not None:
            self._programmatic += 1
            try:
                self.tabs.removeTab(self.tabs.indexOf(view))
            finally:
                self._programmatic -= 1
            if len(self._spare_views) < SPARE_VIEWS:
                view.reset()
                self._spare_views.append(view)
            else:
                view.deleteLater()
        self._update_idle()
        self._refresh_outcome_target()
        self._refresh_call_list()
        self._show_front_notice()

    def bring_to_front(self, call_id: str) -> None:
        """This call is in front (an `answered`, or the call in front closed): its tab shows, the outcome
        keys act on it. Takes no keyboard focus."""
        view = self._views.get(call_id)
        if view is None or self.tabs.currentWidget() is view:
            return
        self._programmatic += 1
        try:
            self.tabs.setCurrentWidget(view)
        finally:
            self._programmatic -= 1

    def mark_call_state(self, call_id: str, state: str, since: dt.datetime | None = None) -> None:
        """The call's phase ('ringing', 'talking', 'wrap_up' since `since`, 'recorded') on its tab."""
        view = self._views.get(call_id)
        if view is not None:
            view.setProperty("call_state", state)
            self.screen.mark_phase(call_id, state, since)
            self._set_tab_title(call_id)
        if self.screen.clock_ticks():
            if not self._wrap_up_timer.isActive():
                self._wrap_up_timer.start()
        else:
            self._wrap_up_timer.stop()

    def mark_transfer(self, call_id: str, transfer: Transfer) -> None:
        """A transfer was applied to the call (desktop.domain.calls.Transfer): a marker on its tab — to a
        colleague, or to this agent from whom / through which queue when the call source said — and when
        the customer changed (`transfer.now`) the call's notice says so instead of silently swapping the tab."""
        if call_id not in self._views:
            return
        self.screen.mark_transfer(call_id, transfer)
        self._set_tab_title(call_id)
        if transfer.now is not None:
            text = (self.tr("⇄ Transferred by %3: the customer changed from %1 to %2. Check who you are talking to.")
                    if transfer.from_agent else
                    self.tr("⇄ Transferred: the customer changed from %1 to %2. Check who you are talking to."))
            self.show_notice(text.replace("%1", transfer.previous or "?").replace("%2", transfer.now or "?")
                             .replace("%3", transfer.from_agent or ""), "attention", call_id=call_id)

    def _transfer_marker(self, transfer: Transfer) -> str:
        if transfer.to_agent:
            return self.tr("⇄ to %1").replace("%1", transfer.to_agent)
        if transfer.from_agent and transfer.via:
            return self.tr("⇄ from %1 via %2").replace("%1", transfer.from_agent).replace("%2", transfer.via)
        if transfer.from_agent:
            return self.tr("⇄ from %1").replace("%1", transfer.from_agent)
        if transfer.via:
            return self.tr("⇄ transferred to you via %1").replace("%1", transfer.via)
        return self.tr("⇄ transferred to you")

    def call_title(self, call_id: str) -> str:
        """What the call's tab (or list line) says: transfer marker, name, phase."""
        view = self._views[call_id]
        name = _call_name(view)
        clock = self.screen.wrap_up_clock(call_id, self.now())
        if clock is not None:
            label = self.tr("wrap-up %1").replace("%1", clock)
        else:
            label = {"ringing": self.tr("ringing"), "talking": self.tr("talking"),
                     "recorded": self.tr("✓ outcome recorded")}.get(self.screen.phase(call_id), "")
        transfer = self.screen.transfer(call_id)
        marker = self._transfer_marker(transfer) if transfer is not None else ""
        campaign = outbound_campaign(view.result.document if view.result is not None else None, self.language)
        if campaign:
            marker = " ".join(part for part in (marker, self.tr("↗ outbound %1").replace("%1", campaign)) if part)
        # A warning of this call (the wrap-up reminder, a save that failed) shows on its tab too: the notice
        # itself shows only while the call is in front.
        warning = "⚠" if self.screen.warns(call_id) else ""
        return " · ".join(part for part in (warning, marker, name, label) if part)

    def _tick_wrap_up(self) -> None:
        for call_id in self.screen.in_wrap_up():
            if call_id in self._views:
                self._set_tab_title(call_id)

    def show_retrying(self, call_id: str) -> None:
        view = self._views.get(call_id)
        if view is not None:
            view.show_retrying()

    def current_call_id(self) -> str | None:
        widget = self.tabs.currentWidget()
        return next((cid for cid, v in self._views.items() if v is widget), None)

    def _set_tab_title(self, call_id: str) -> None:
        view = self._views[call_id]
        name = _call_name(view)
        title = self.call_title(call_id)
        index = self.tabs.indexOf(view)
        if self.tabs.tabText(index) != title:
            self.tabs.setTabText(index, title)
            self.tabs.setTabToolTip(index, title)
            self._refresh_call_list()
        close_button = self.tabs.tabBar().tabButton(index, QtWidgets.QTabBar.ButtonPosition.RightSide)
        if close_button is not None:
            close_button.setAccessibleName(self.tr("Close call %1").replace("%1", name))
            close_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)

    def _close_requested(self, index: int) -> None:
        widget = self.tabs.widget(index)
        call_id = next((cid for cid, v in self._views.items() if v is widget), None)
        if call_id is None:
            return
        if not self.screen.asks_before_closing(call_id):
            self.dismiss_requested.emit(call_id)
            return
        phase = self.screen.phase(call_id)
        # A ringing call closed by mistake loses its pop; a wrap-up closed loses its outcome: ask first.
        box = QtWidgets.QMessageBox(self)
        box.setIcon(QtWidgets.QMessageBox.Icon.Question)
        box.setWindowTitle(self.tr("Close call"))
        name = self.call_title(call_id)
        box.setText(self.tr("Close the ringing call %1?").replace("%1", name) if phase == "ringing" else
                    self.tr("Close %1 without recording an outcome?").replace("%1", name))
        close = box.addButton(self.tr("Close call"), QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton(self.tr("Keep it open"), QtWidgets.QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.setProperty("call_id", call_id)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def finished(_result: int) -> None:
            if self._confirm_close is box:
                self._confirm_close = None
            if box.clickedButton() is close and call_id in self._views:
                self.dismiss_requested.emit(call_id)

        box.finished.connect(finished)
        self._confirm_close = box
        box.open()

    def _refresh_call_list(self) -> None:
        """More than MAX_TABS calls: one full line per call in a list instead of cut-off tab titles."""
        as_list = len(self._views) > MAX_TABS
        if as_list != self.call_list.isVisibleTo(self):  # setVisible() costs even when nothing changes
            self.tabs.tabBar().setVisible(not as_list)
            self.call_list.setVisible(as_list)
            self.close_front_button.setVisible(as_list)
        if not as_list:
            return
        ids = [self._call_of(self.tabs.widget(i)) for i in range(self.tabs.count())]
        self._programmatic += 1
        try:
            while self.call_list.count() > len(ids):
                self.call_list.takeItem(self.call_list.count() - 1)
            for row, call_id in enumerate(ids):
                item = self.call_list.item(row) or QtWidgets.QListWidgetItem()
                if self.call_list.row(item) < 0:
                    self.call_list.addItem(item)
                title = self.call_title(call_id) if call_id else ""
                if item.text() != title:
                    item.setText(title)
                    item.setToolTip(title)
                item.setData(Qt.ItemDataRole.UserRole, call_id)
            self.call_list.setCurrentRow(self.tabs.currentIndex())
            front = self.current_call_id()
            view = self._views.get(front) if front else None
            name = view.result.document.customer.display_name if view is not None and view.result is not None \
                and view.result.document is not None else ""
            self.close_front_button.setText(self.tr("Close call %1").replace("%1", name).strip())
            self.call_list.setFixedHeight(self.call_list.sizeHintForRow(0) * len(ids)
                                          + 2 * self.call_list.frameWidth() + 2)
        finally:
            self._programmatic -= 1

    def _list_row_chosen(self, row: int) -> None:
        if self._programmatic or row < 0:
            return
        call_id = self.call_list.item(row).data(Qt.ItemDataRole.UserRole)
        if call_id in self._views:
            self.tabs.setCurrentWidget(self._views[call_id])  # the agent's choice: reported by currentChanged

    def _update_idle(self) -> None:
        has_calls = bool(self._views)
        if self._showing_calls is not has_calls:  # setVisible() costs even when nothing changes
            self._showing_calls = has_calls
            self.idle.setVisible(not has_calls)
            if not has_calls:
                self.idle.raise_()

    # ------------------------------------------------------------------ outcomes

    def _tab_brought_forward(self, _index: int) -> None:
        view = self.tabs.currentWidget()
        if isinstance(view, PopView):
            view.ensure_built()
        self._refresh_outcome_target()
        self._show_front_notice()
        if self.call_list.isVisibleTo(self):
            self._refresh_call_list()
        call_id = self.current_call_id()
        if not self._programmatic and call_id is not None:
            self.front_requested.emit(call_id)  # the agent's click: the router decides what is in front

    def _refresh_outcome_target(self) -> None:
        call_id = self.current_call_id()
        if call_id != getattr(self, "_outcome_call", None):
            self._outcome_call = call_id
            self.outcome_bar.disarm()  # a do-not-disturb armed for one call never confirms for another
        view = self._views.get(call_id) if call_id else None
        choosing = view is not None and (view.asks_for_caller() or view.asks_for_channel())
        if choosing != self._choosing:
            self._choosing = choosing
            for shortcut in self._choice_shortcuts:
                shortcut.setEnabled(choosing)
        document = view.result.document if view is not None and view.result is not None else None
        if document is None or choosing:
            caller = view.result.key.masked() if document is None and view is not None and view.result is not None \
                and view.result.caller_only else None
            self.outcome_bar.set_target(None, has_customer=False, awaiting_choice=choosing, caller=caller)
            return
        offer = document.offer(view.selected_offer_id) if view.selected_offer_id else None
        self.outcome_bar.set_target(pick(offer.title, self.language) if offer else None, has_customer=True)

    def _outcome_requested(self, result: str, extras: dict) -> None:
        call_id = self.current_call_id()
        if call_id is None:
            return
        view = self._views[call_id]
        offer_id = view.selected_offer_id or ""
        if result in ("do_not_disturb",):
            offer_id = ""
        self.show_notice(self.tr("Saving “%1”…").replace("%1", result_label(result, self.texts)), "pending",
                         call_id=call_id)
        self.outcome_requested.emit(call_id, offer_id, result, extras)

    def show_notice(self, text: str, kind: str = "synced", *, call_id: str | None = None) -> None:
        """A notice of the call `call_id` (shown only while that call is in front) or of the panel (None:
        shown whatever call is in front, below the call's own)."""
        self.screen.set_notice(call_id, text, kind)
        self._show_front_notice()
        if call_id in self._views:
            self._set_tab_title(call_id)

    def notice_of(self, call_id: str | None) -> str:
        return self.screen.notice_of(call_id)

    def _show_front_notice(self) -> None:
        # The call's own notice (or, between calls, what the last closed call left), then the panel's.
        line = self.screen.notice_line(self.current_call_id())
        text, kind = line.text, line.kind
        if self.notice.text() != text:
            self.notice.setText(text)
        self.notice.setVisible(bool(text))
        if self.notice.property("sync") != kind:
            self.notice.setProperty("sync", kind)
            self.notice.style().unpolish(self.notice)
            self.notice.style().polish(self.notice)

    def outcome_saved(self, result: str, note: str | None = None, *, call_id: str | None = None,
                      name: str = "") -> None:
        """The outcome is committed: say so (naming the customer), and clear the note it carried (not one
        typed since)."""
        self.outcome_bar.clear_note(note)
        label = result_label(result, self.texts)
        text = (self.tr("✓ Saved “%1” for %2 on this PC").replace("%1", label).replace("%2", name) if name
                else self.tr("✓ Saved “%1” on this PC").replace("%1", label))
        self.show_notice(text, "synced", call_id=call_id)

    def outcome_failed(self, message: str, *, call_id: str | None = None) -> None:
        self.show_notice(self.tr("✗ Not saved: %1").replace("%1", message), "attention", call_id=call_id)

    def offer_undo(self, outcome_id: str, result: str, name: str, *, call_id: str | None = None) -> None:
        """After an outcome: "Recorded Declined · 刘雅丽 — Ctrl+Z to undo" on its call for UNDO_WINDOW, then the
        call's "saved" notice again."""
        label = result_label(result, self.texts)
        if name:
            text = self.tr("✓ Recorded “%1” · %2 — Ctrl+Z to undo")
        else:
            text = self.tr("✓ Recorded “%1” — Ctrl+Z to undo")
        offer = self.screen.offer_undo(outcome_id, call_id, self.now(), self._undo_window)
        self.show_notice(text.replace("%1", label).replace("%2", name), "synced", call_id=call_id)
        self._undo_shortcut.setEnabled(True)
        self._undo_timer.start(max(0, int((offer.deadline - self.now()).total_seconds() * 1000)))

    def _undo_pressed(self) -> None:
        outcome_id = self.screen.take_undo()
        self._undo_timer.stop()
        self._undo_shortcut.setEnabled(False)
        if outcome_id is not None:
            self.undo_requested.emit(outcome_id)

    def _undo_expired(self) -> None:
        self._undo_shortcut.setEnabled(False)
        ended = self.screen.end_undo()
        if ended is not None:
            self.show_notice(ended.text, "synced", call_id=ended.call_id)

    def outcome_undone(self) -> None:
        self.show_notice(self.tr("↶ Outcome undone: it no longer counts"), "synced", call_id=self.screen.undo_call)

    def outcome_undo_failed(self, message: str) -> None:
        self.show_notice(self.tr("✗ Not undone: %1").replace("%1", message), "attention", call_id=self.screen.undo_call)

    def set_sync_state(self, state) -> None:
        self.sync_badge.show_state(state)

    def set_call_sources(self, statuses) -> None:
        """Where calls come from (softphone / PBX connectors, ConnectorStatus): a quiet line while all are
        connected; a warning while one is not, because its calls will not pop until it reconnects."""
        statuses = [s for s in statuses if s.state != "stopped"]
        down = [s for s in statuses if s.state in ("disconnected", "failed")]
        if down:
            parts = []
            for status in down:
                retry = (self.tr("retrying in %1 s").replace("%1", f"{status.retry_in_s:.0f}")
                         if status.retry_in_s else "")
                detail = " · ".join(part for part in (status.detail, retry) if part)
                parts.append(f"{status.connector} {status.address}" + (f" ({detail})" if detail else ""))
            text = self.tr("⚠ Not receiving calls from %1. Its calls will not pop: search for the caller.") \
                .replace("%1", "; ".join(parts))
            kind = "attention"
        elif statuses:
            names = ", ".join(s.connector for s in statuses)
            connecting = any(s.state == "connecting" for s in statuses)
            text = (self.tr("Connecting to %1…") if connecting else self.tr("Calls from %1")).replace("%1", names)
            kind = "pending" if connecting else "synced"
        else:
            text, kind = "", "synced"
        self.call_sources.setText(text)
        self.call_sources.setToolTip("\n".join(s.text for s in statuses))
        self.call_sources.setVisible(bool(text))
        if self.call_sources.property("sync") != kind:
            self.call_sources.setProperty("sync", kind)
            self.call_sources.style().unpolish(self.call_sources)
            self.call_sources.style().polish(self.call_sources)

    def show_sync_drawer(self, entries, now: dt.datetime | None = None) -> QtWidgets.QDialog:
        """What the sync badge stands for, item by item, with its age: outcomes the server refused (with its
        reason: a person has to decide about each) first, then those waiting to be sent."""
        now = now or dt.datetime.now(dt.UTC)
        dialog = QtWidgets.QDialog(self)
        dialog.setObjectName("SyncDrawer")
        dialog.setWindowTitle(self.tr("Outcomes waiting"))
        layout = QtWidgets.QVBoxLayout(dialog)
        refused = [e for e in entries if e.status is OutboxStatus.NEEDS_ATTENTION]
        waiting = [e for e in entries if e.status is OutboxStatus.PENDING]
        if not entries:
            layout.addWidget(QtWidgets.QLabel(self.tr("Nothing is waiting to be sent and nothing needs attention.")))
        else:
            lines = []
            if refused:
                lines.append(self.tr("%1 refused by the server: kept on this PC; tell your team lead.")
                             .replace("%1", str(len(refused))))
            if waiting:
                lines.append(self.tr("%1 waiting to be sent: they go as soon as the server answers.")
                             .replace("%1", str(len(waiting))))
            summary = QtWidgets.QLabel("\n".join(lines))
            summary.setWordWrap(True)
            layout.addWidget(summary)
            listing = QtWidgets.QListWidget()
            listing.setAccessibleName(self.tr("Outcomes waiting"))
            # Each line whole (age, who, what, why), wrapped instead of cut off behind a scroll bar.
            listing.setWordWrap(True)
            listing.setTextElideMode(Qt.TextElideMode.ElideNone)
            listing.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            for entry in refused + waiting:
                what = entry.server_reason_in(self.language) if entry in refused else self.tr("waiting to be sent")
                mark = "⚠ " if entry in refused else ""
                listing.addItem(f"{mark}{self._age(now - entry.recorded_at)} · {entry.customer_name or entry.customer_id} · "
                                f"{result_label(entry.result, self.texts)} — {what}")
            layout.addWidget(listing)
        close = QtWidgets.QPushButton(self.tr("Close"))
        close.clicked.connect(dialog.accept)
        layout.addWidget(close)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.resize(max(dialog.sizeHint().width(), 460), dialog.sizeHint().height())
        dialog.show()
        return dialog

    def _age(self, age: dt.timedelta) -> str:
        minutes = max(0, int(age.total_seconds() // 60))
        if minutes < 1:
            return self.tr("just now")
        if minutes < 60:
            return self.tr("%1 min ago").replace("%1", str(minutes))
        if minutes < 48 * 60:
            return self.tr("%1 h ago").replace("%1", str(minutes // 60))
        return self.tr("%1 days ago").replace("%1", str(minutes // (24 * 60)))

    # ------------------------------------------------------------------ misc

    def focus_search(self) -> None:
        if not self.embedded:
            self.activateWindow()
        self.search.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.edit.selectAll()

    def _toggle_language(self) -> None:
        self.language_requested.emit("en" if self.language == "zh_CN" else "zh_CN")


class PanelWindow(PanelWidget):
    """The desktop app's panel: a top-level window that appears on a pop without being activated."""

    def __init__(self, texts: Texts, shortcuts: dict[str, str] | None = None, parent=None) -> None:
        super().__init__(texts, shortcuts, parent, embedded=False)
        self.setWindowTitle(self.tr("CallCue agent assistant"))
        # Shown on a pop without activation, so the softphone keeps the keyboard.
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        self.setMinimumWidth(380)


class PanelContainer(QtWidgets.QWidget):
    """What an embedding host puts in its layout: stays the same widget while the panel inside it is
    replaced (language switch). The panel's theme is set here, so it reaches the panel and its dialogs
    and nothing else of the host."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CallCuePanel")
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.panel: PanelWidget | None = None

    def set_panel(self, panel: PanelWidget) -> PanelWidget | None:
        """Put `panel` in; returns the previous one (the caller deletes it)."""
        previous = self.panel
        if previous is not None:
            self._layout.removeWidget(previous)
            previous.hide()
        self.panel = panel
        self._layout.addWidget(panel)
        return previous
