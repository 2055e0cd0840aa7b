"""The side panel: search, one tab per call, the outcome bar and the sync badge.

`PanelWidget` is the panel's content, embeddable as a child widget of a host application (plugin_sdk);
`PanelWindow` is the same content as the desktop app's own top-level window; `PanelContainer` is the
stable widget an embedding host holds (the panel inside it is rebuilt on a language switch).

It shows what the controller tells it and reports what the agent does; it does no work itself.
A pop never takes keyboard focus: agents are typing into the softphone when the phone rings.
"""

from __future__ import annotations

from desktop.domain.outcomes import UNDO_WINDOW
from desktop.ui.i18n import Localized, Texts, pick
from desktop.ui.outcome_bar import OutcomeBar, SyncBadge, result_label
from desktop.ui.pop_view import PopView
from desktop.ui.qt import Qt, QtCore, QtGui, QtWidgets, Signal

# Views kept ready for the next call (built while no pop is painting) and how long after a pop to build one.
SPARE_VIEWS = 2
SPARE_VIEW_DELAY_MS = 400
# Keys that choose among the customers sharing a caller's number: a modifier and the digits 1-9 (agents
# type bare digits into the softphone). The first modifier none of whose digits is an outcome key.
CHOICE_MODIFIERS = ("Alt", "Ctrl+Alt", "Ctrl+Shift", "Meta")
CHOICE_KEYS = 9


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

    def _submit(self) -> None:
        text = self.edit.text().strip()
        if text:
            self.message.setText(self.tr("Searching…"))
            self.message.setVisible(True)
            self.search_requested.emit(text)

    def show_results(self, items) -> None:
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


class PanelWidget(Localized, QtWidgets.QWidget):
    """The panel's content. `embedded`: a child of a host's window (plugin_sdk) — then a pop never shows,
    raises or activates anything, the outcome keys work while the host's window is active (not
    application-wide), and Ctrl+F only while the keyboard is already in the panel."""

    outcome_requested = Signal(str, str, str, dict)  # call id, offer id ('' for none), result, extras
    dismiss_requested = Signal(str)  # call id
    caller_chosen = Signal(str, str)  # call id, customer id: who is calling on a shared number
    choose_again_requested = Signal(str)  # call id
    language_requested = Signal(str)
    sync_details_requested = Signal()
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
        self.idle = QtWidgets.QLabel(self.tr("Waiting for a call. Incoming calls appear here automatically."))
        self.idle.setProperty("role", "muted")
        self.idle.setWordWrap(True)
        self.idle.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.idle.setAutoFillBackground(True)
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
        self._spare_timer.start()
        find = QtGui.QShortcut(QtGui.QKeySequence("Ctrl+F"), self)
        # Embedded, the host's window has its own Ctrl+F: the panel's works only from inside the panel.
        find.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut if embedded
                        else Qt.ShortcutContext.WindowShortcut)
        find.activated.connect(self.focus_search)
        # Ctrl+Z undoes the outcome just recorded, only while its banner is up (UNDO_WINDOW): the rest of the
        # time the key belongs to the text fields.
        self._undo_id: str | None = None
        self._undo_shortcut = QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Z"), self)
        self._undo_shortcut.setContext(Qt.ShortcutContext.WindowShortcut if embedded
                                       else Qt.ShortcutContext.ApplicationShortcut)
        self._undo_shortcut.setEnabled(False)
        self._undo_shortcut.activated.connect(self._undo_pressed)
        self._undo_timer = QtCore.QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(int(UNDO_WINDOW.total_seconds() * 1000))
        self._undo_timer.timeout.connect(self._undo_expired)
        self._update_idle()

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
        in_front = activate or self.tabs.currentWidget() is view
        # A new call's view is rendered before it joins the tabs, while it is hidden: in a visible view,
        # each label that appears makes Qt lay out the whole panel at once (~0.35 ms each, several per pop).
        view.render(result, defer=not in_front)
        if new_call:
            self.tabs.addTab(view, "")
            if not self._spare_timer.isActive():  # restarting it on every call would starve it in a burst
                self._spare_timer.start()
        self._set_tab_title(call_id)
        if activate:
            self.tabs.setCurrentWidget(view)
        self._update_idle()
        self._refresh_outcome_target()
        if not self.embedded and not self.isVisible():
            self.show_without_focus()

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
        return view

    def _call_of(self, view: PopView) -> str | None:
        return next((cid for cid, v in self._views.items() if v is view), None)

    def _candidate_chosen(self, view: PopView, customer_id: str) -> None:
        call_id = self._call_of(view)
        if call_id is not None:
            self.caller_chosen.emit(call_id, customer_id)

    def _choose_again(self, view: PopView) -> None:
        call_id = self._call_of(view)
        if call_id is not None:
            self.choose_again_requested.emit(call_id)

    def choose_candidate(self, index: int) -> None:
        """Key `index` (0-based) of the call in front: its customer is the caller."""
        call_id = self.current_call_id()
        view = self._views.get(call_id) if call_id else None
        if view is None or not view.asks_for_caller():
            return
        customer_id = view.candidate_id(index)
        if customer_id is not None:
            self.caller_chosen.emit(call_id, customer_id)

    def _prepare_spare_view(self) -> None:
        """Between calls: build and polish the next call's view, so a pop only sets texts. One per turn:
        each costs the GUI thread a few ms, and a pop may be waiting."""
        if len(self._spare_views) < SPARE_VIEWS:
            view = self._new_view()
            view.ensurePolished()
            self._spare_views.append(view)
        if len(self._spare_views) < SPARE_VIEWS:
            self._spare_timer.start()

    def close_call(self, call_id: str) -> None:
        view = self._views.pop(call_id, None)
        if view is not None:
            self.tabs.removeTab(self.tabs.indexOf(view))
            if len(self._spare_views) < SPARE_VIEWS:
                view.reset()
                self._spare_views.append(view)
            else:
                view.deleteLater()
        self._update_idle()
        self._refresh_outcome_target()

    def mark_call_state(self, call_id: str, state: str) -> None:
        view = self._views.get(call_id)
        if view is not None:
            view.setProperty("call_state", state)
            self._set_tab_title(call_id)

    def current_call_id(self) -> str | None:
        widget = self.tabs.currentWidget()
        return next((cid for cid, v in self._views.items() if v is widget), None)

    def _set_tab_title(self, call_id: str) -> None:
        view = self._views[call_id]
        result = view.result
        name = ""
        if result is not None:
            name = result.document.customer.display_name if result.document else (
                result.key.masked() or result.key.customer_id or "")
        state = view.property("call_state")
        marks = {"wrap_up": self.tr("wrap-up"), "ringing": self.tr("ringing")}
        suffix = f" · {marks[state]}" if state in marks else ""
        index = self.tabs.indexOf(view)
        self.tabs.setTabText(index, f"{name}{suffix}")
        self.tabs.setTabToolTip(index, f"{name}{suffix}")
        close_button = self.tabs.tabBar().tabButton(index, QtWidgets.QTabBar.ButtonPosition.RightSide)
        if close_button is not None:
            close_button.setAccessibleName(self.tr("Close call %1").replace("%1", name))
            close_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)

    def _close_requested(self, index: int) -> None:
        widget = self.tabs.widget(index)
        call_id = next((cid for cid, v in self._views.items() if v is widget), None)
        if call_id is not None:
            self.dismiss_requested.emit(call_id)

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

    def _refresh_outcome_target(self) -> None:
        call_id = self.current_call_id()
        view = self._views.get(call_id) if call_id else None
        choosing = view is not None and view.asks_for_caller()
        if choosing != self._choosing:
            self._choosing = choosing
            for shortcut in self._choice_shortcuts:
                shortcut.setEnabled(choosing)
        document = view.result.document if view is not None and view.result is not None else None
        if document is None or choosing:
            self.outcome_bar.set_target(None, has_customer=False, awaiting_choice=choosing)
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
        self.show_notice(self.tr("Saving “%1”…").replace("%1", result_label(result, self.texts)), "pending")
        self.outcome_requested.emit(call_id, offer_id, result, extras)

    def show_notice(self, text: str, kind: str = "synced") -> None:
        self.notice.setText(text)
        self.notice.setProperty("sync", kind)
        self.notice.setVisible(bool(text))
        self.notice.style().unpolish(self.notice)
        self.notice.style().polish(self.notice)

    def outcome_saved(self, result: str, note: str | None = None) -> None:
        """The outcome is committed: say so, and clear the note it carried (not one typed since)."""
        self.outcome_bar.clear_note(note)
        self.show_notice(self.tr("✓ Saved “%1” on this PC").replace("%1", result_label(result, self.texts)), "synced")

    def offer_undo(self, outcome_id: str, result: str, name: str) -> None:
        """After an outcome: "Recorded Declined · 刘雅丽 — Ctrl+Z to undo" for UNDO_WINDOW."""
        label = result_label(result, self.texts)
        if name:
            text = self.tr("✓ Recorded “%1” · %2 — Ctrl+Z to undo")
        else:
            text = self.tr("✓ Recorded “%1” — Ctrl+Z to undo")
        self.show_notice(text.replace("%1", label).replace("%2", name), "synced")
        self._undo_id = outcome_id
        self._undo_saved_text = self.tr("✓ Saved “%1” on this PC").replace("%1", label)
        self._undo_shortcut.setEnabled(True)
        self._undo_timer.start()

    def _undo_pressed(self) -> None:
        outcome_id, self._undo_id = self._undo_id, None
        self._undo_timer.stop()
        self._undo_shortcut.setEnabled(False)
        if outcome_id is not None:
            self.undo_requested.emit(outcome_id)

    def _undo_expired(self) -> None:
        self._undo_id = None
        self._undo_shortcut.setEnabled(False)
        self.show_notice(self._undo_saved_text, "synced")

    def outcome_undone(self) -> None:
        self.show_notice(self.tr("↶ Outcome undone: it no longer counts"), "synced")

    def outcome_undo_failed(self, message: str) -> None:
        self.show_notice(self.tr("✗ Not undone: %1").replace("%1", message), "attention")

    def outcome_failed(self, message: str) -> None:
        self.show_notice(self.tr("✗ Not saved: %1").replace("%1", message), "attention")

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

    def show_attention(self, entries) -> None:
        """Outcomes the server rejected, with its reason: a person has to decide about each."""
        dialog = QtWidgets.QDialog(self)
        dialog.setWindowTitle(self.tr("Outcomes that need attention"))
        layout = QtWidgets.QVBoxLayout(dialog)
        if not entries:
            layout.addWidget(QtWidgets.QLabel(self.tr("Nothing needs attention: every outcome was accepted.")))
        else:
            layout.addWidget(QtWidgets.QLabel(self.tr(
                "The server refused these outcomes. They are kept on this PC; tell your team lead.")))
            listing = QtWidgets.QListWidget()
            listing.setAccessibleName(self.tr("Refused outcomes"))
            for entry in entries:
                when = entry.recorded_at.astimezone().strftime("%m-%d %H:%M")
                listing.addItem(f"{when} · {entry.customer_id} · {result_label(entry.result, self.texts)} — "
                                f"{entry.server_reason_in(self.language)}")
            layout.addWidget(listing)
        close = QtWidgets.QPushButton(self.tr("Close"))
        close.clicked.connect(dialog.accept)
        layout.addWidget(close)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

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
