"""The panel's outbound mode (外呼, issue 16): a window beside the panel that previews the worklist's next
customer with the full pop, why this customer, the wave's script and warnings; one key calls, one key skips
(with a reason from a short picker); after the call, one key per call result, then one key per offer outcome
of a connected call; the next customer is prepared while the agent wraps up.

Keys (active while the outbound window is the active window, and only in the phase they belong to; none
while an inbound call is up, so they never compete with the panel's own keys):
  Ctrl+Shift+O (in the panel)  outbound mode on / off
  Ctrl+Return                 call the previewed customer
  Ctrl+Shift+S                skip (a picker of reasons, keys 1-4)
  Ctrl+Alt+1 … Ctrl+Alt+7     call result: connected, no answer, busy, voicemail, wrong number, invalid
                              number, refused
  Ctrl+Shift+1 … Ctrl+Shift+6 offer outcome of a connected call (accepted … do not disturb)
  Ctrl+Shift+Return           done: show the next customer (prepared during wrap-up)
  Ctrl+Shift+N                ask for the next customer (nobody on screen)
  Ctrl+Z                      undo the offer outcome just recorded (while its banner is up)
  Ctrl+Shift+R / Ctrl+Shift+D a call result the server refused: send it again / set it aside

OutboundController does no I/O itself: the service (desktop/services/outbound.py) runs on the TaskRunner, the
lease is renewed by a one-off scheduler job at `renewal_due_at()` (rescheduled after each renewal), pending
call results are sent with the periodic sync, and inbound calls (any open call of the router) pause the
preview: the lease stays held and renewed, dial and fetch wait (see the service's docstring).
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import logging
from collections.abc import Callable

from desktop.domain.errors import UserError
from desktop.domain.events import DialRequested
from desktop.domain.outbound import (
    CALL_RESULT_NAMES,
    SKIP_REASONS,
    STATE_ERRORS,
    CallResult,
    OutboundState,
    OutboundStateError,
    Phase,
    outbound_json,
    suggested_result,
)
from desktop.domain.outcomes import UNDO_WINDOW
from desktop.domain.states import PopKey, PopResult, PopState
from desktop.ui.i18n import Localized, Texts, pick, translations_dir
from desktop.ui.outcome_bar import OutcomeBar, result_label
from desktop.ui.pop_view import PopView, describe_error
from desktop.ui.qt import Qt, QtCore, QtGui, QtWidgets, Signal

log = logging.getLogger("callcue.outbound")

MODE_KEY = "Ctrl+Shift+O"
DIAL_KEY = "Ctrl+Return"
SKIP_KEY = "Ctrl+Shift+S"
FINISH_KEY = "Ctrl+Shift+Return"
NEXT_KEY = "Ctrl+Shift+N"
UNDO_KEY = "Ctrl+Z"
RETRY_REFUSED_KEY = "Ctrl+Shift+R"
DISMISS_REFUSED_KEY = "Ctrl+Shift+D"
RESULT_KEYS = {result: f"Ctrl+Alt+{index}" for index, result in enumerate(CallResult, start=1)}
OUTCOME_KEYS = {"accepted": "Ctrl+Shift+1", "declined": "Ctrl+Shift+2", "considering": "Ctrl+Shift+3",
                "callback": "Ctrl+Shift+4", "not_offered": "Ctrl+Shift+5", "do_not_disturb": "Ctrl+Shift+6"}
_CALL_PHASES = (Phase.DIALING, Phase.TALKING, Phase.RESULT)
_REFUSAL_ERRORS = frozenset({"lease_ended", "outbound_refused", "invalid_input"})


def call_result_label(result: CallResult | str, texts: Texts) -> str:
    """A call result's name in the panel's language (never the code)."""
    return pick(CALL_RESULT_NAMES[CallResult(result)], texts.language)


def outbound_message(code: str, texts: Texts, phase: str | None = None) -> str:
    """Why an outbound step does not fit now (OutboundStateError.code), in the panel's language."""
    messages = {
        "not_signed_in": texts.translate("OutboundMessages", "You are not signed in: sign in to work the worklist."),
        "inbound_call_up": texts.translate("OutboundMessages", "An inbound call is up: the outbound preview waits."),
        "inbound_call_up_dial": texts.translate("OutboundMessages",
                                                "An inbound call is up: finish it before dialing."),
        "nothing_to_skip": texts.translate("OutboundMessages",
                                           "Only a previewed customer who was not called can be skipped."),
        "nothing_to_dial": texts.translate("OutboundMessages", "Nobody is previewed to dial."),
        "no_number": texts.translate("OutboundMessages", "This customer has no number to dial."),
        "no_call": texts.translate("OutboundMessages", "There is no outbound call to record a result for."),
        "not_connected": texts.translate("OutboundMessages",
                                         "Offer outcomes follow a connected call's result: record the call "
                                         "result first."),
        "no_result_yet": texts.translate("OutboundMessages", "The call has no result yet: record how it went first."),
        "no_dialing_host": texts.translate("OutboundMessages",
                                           "No application that dials for CallCue is connected (its softphone "
                                           "link is not running). Start it and press Call again, or dial by hand; "
                                           "the customer stays previewed and held for you."),
        "unknown_command": texts.translate("OutboundMessages", "This outbound command is unknown."),
        "no_refused_result": texts.translate("OutboundMessages",
                                             "That call result is no longer waiting to be retried or dismissed."),
        "done": texts.translate("OutboundMessages", "Done."),
    }
    text = messages.get(code) or STATE_ERRORS.get(code, code)
    if phase:
        text = texts.translate("OutboundMessages", "%1 (phase: %2)").replace("%1", text).replace("%2", phase)
    return text


def refusal_text(code: str, texts: Texts) -> str:
    """Why the server refused a call result (RefusedResult.code), in plain words."""
    reasons = {
        "lease_ended": texts.translate("OutboundMessages", "the customer was no longer held for you (skipped, or "
                                                           "the hold ended and a colleague took them)"),
        "lease_not_found": texts.translate("OutboundMessages", "the server does not know this hold for your "
                                                               "account (signed in as another agent, or the server "
                                                               "was reset)"),
        "lease_has_result": texts.translate("OutboundMessages", "the server already has another result for this "
                                                                "call"),
        "attempt_id_reused": texts.translate("OutboundMessages", "the server has a different result under this "
                                                                 "result's id (Send again uses a new one)"),
        "campaign_not_found": texts.translate("OutboundMessages", "the campaign no longer exists on the server"),
        "customer_gone": texts.translate("OutboundMessages", "the customer no longer exists on the server"),
        "invalid_request": texts.translate("OutboundMessages", "the server found the result invalid (for example "
                                                               "the call time is too far from the server's clock)"),
    }
    return reasons.get(code, reasons["invalid_request"])


def make_dialer(settings, connectors):
    """How this panel dials outbound calls: through the baresip connector when one runs, else Asterisk's
    Originate to the agent's phone (connectors.ami_device), else a tel:/sip: URI handed to the system
    (QDesktopServices). Templates from connectors.*_dial_template."""
    from desktop.calls.ami import AmiConnector
    from desktop.calls.baresip import BaresipConnector
    from desktop.calls.dialer import AmiDialer, BaresipDialer, UriDialer

    for connector in connectors:
        if isinstance(connector, BaresipConnector):
            return BaresipDialer(connector, settings.baresip_dial_template)
    devices = [d.strip() for d in (settings.ami_device or "").split(",") if d.strip()]
    for connector in connectors:
        if isinstance(connector, AmiConnector) and devices:
            return AmiDialer(connector, devices[0], settings.ami_dial_context, settings.ami_dial_template)
    return UriDialer(lambda uri: QtGui.QDesktopServices.openUrl(QtCore.QUrl(uri)), settings.system_dial_template)


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


class OutboundView(Localized, QtWidgets.QWidget):
    next_requested = Signal()
    dial_requested = Signal()
    skip_requested = Signal(str)  # reason code (SKIP_REASONS)
    result_requested = Signal(str)  # call result
    outcome_requested = Signal(str, str, dict)  # offer id ('' none), outcome result, extras
    finish_requested = Signal()
    undo_requested = Signal(str)  # outcome id: Ctrl+Z while its banner is up
    retry_refused_requested = Signal(str)  # attempt id of a call result the server refused
    dismiss_refused_requested = Signal(str)

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setObjectName("OutboundView")
        self.language = texts.language
        self.state = OutboundState()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName(self.tr("Outbound status"))
        layout.addWidget(self.status)
        self.campaign = QtWidgets.QLabel()
        self.campaign.setWordWrap(True)
        self.campaign.setAccessibleName(self.tr("Campaign and wave"))
        layout.addWidget(self.campaign)
        self.why = QtWidgets.QLabel()
        self.why.setWordWrap(True)
        self.why.setAccessibleName(self.tr("Why this customer"))
        layout.addWidget(self.why)
        self.script = QtWidgets.QLabel()
        self.script.setWordWrap(True)
        self.script.setAccessibleName(self.tr("Script"))
        self.script.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.script)
        self.pop = PopView(texts)  # the full pop: warnings, sensitivity, offers, contact guidance
        self.pop.offer_selected.connect(lambda _offer: self._refresh_outcome_target())
        layout.addWidget(self.pop, 1)

        actions = QtWidgets.QHBoxLayout()
        self.next_button = self._button(self.tr("Next customer"), NEXT_KEY, self.next_requested.emit, actions)
        self.dial_button = self._button(self.tr("Call"), DIAL_KEY, self.dial_requested.emit, actions)
        self.skip_button = self._button(self.tr("Skip…"), SKIP_KEY, self.pick_skip_reason, actions)
        self.finish_button = self._button(self.tr("Done: next customer"), FINISH_KEY, self.finish_requested.emit,
                                          actions)
        layout.addLayout(actions)

        self.results_box = QtWidgets.QFrame()
        self.results_box.setProperty("card", True)
        results = QtWidgets.QGridLayout(self.results_box)
        results.setSpacing(4)
        self.result_buttons: dict[str, QtWidgets.QPushButton] = {}
        for index, result in enumerate(CallResult):
            button = self._button(call_result_label(result, texts), RESULT_KEYS[result],
                                  lambda r=result.value: self.request_result(r), None)
            button.setProperty("call_result", result.value)
            results.addWidget(button, index // 4, index % 4)
            self.result_buttons[result.value] = button
        layout.addWidget(self.results_box)

        self.outcome_bar = OutcomeBar(texts, OUTCOME_KEYS, shortcut_context=Qt.ShortcutContext.WindowShortcut)
        self.outcome_bar.outcome_requested.connect(self._outcome_requested)
        layout.addWidget(self.outcome_bar)
        # A call result the server refused: why, in plain words, and the way on (send again, or set aside).
        self.refused_box = QtWidgets.QFrame()
        self.refused_box.setObjectName("RefusedResult")
        self.refused_box.setProperty("card", True)
        refused = QtWidgets.QVBoxLayout(self.refused_box)
        self.refused_label = QtWidgets.QLabel()
        self.refused_label.setWordWrap(True)
        self.refused_label.setAccessibleName(self.tr("Call result refused by the server"))
        refused.addWidget(self.refused_label)
        refused_actions = QtWidgets.QHBoxLayout()
        self.retry_refused_button = self._button(self.tr("Send again"), RETRY_REFUSED_KEY,
                                                 lambda: self._refused_action(self.retry_refused_requested),
                                                 refused_actions)
        self.dismiss_refused_button = self._button(self.tr("Set aside"), DISMISS_REFUSED_KEY,
                                                   lambda: self._refused_action(self.dismiss_refused_requested),
                                                   refused_actions)
        refused.addLayout(refused_actions)
        layout.addWidget(self.refused_box)
        self.notice = QtWidgets.QLabel()
        self.notice.setWordWrap(True)
        self.notice.setAccessibleName(self.tr("Last action"))
        layout.addWidget(self.notice)
        # Ctrl+Z undoes the offer outcome just recorded while its banner is up (as in the panel).
        self._undo_outcome: str | None = None
        self._undo_covered = ""
        self._undo_shortcut = QtGui.QShortcut(QtGui.QKeySequence(UNDO_KEY), self)
        self._undo_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self._undo_shortcut.setEnabled(False)
        self._undo_shortcut.activated.connect(self._undo_pressed)
        self._undo_timer = QtCore.QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self._undo_expired)
        # Takes the room of the pop while nobody is on screen (the empty worklist): the message and its key stay
        # together at the top instead of being spread over the window.
        self.filler = QtWidgets.QWidget()
        self.filler.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Expanding)
        layout.addWidget(self.filler, 1)
        self.render(self.state)

    def _button(self, label: str, key: str, slot: Callable[[], object], row) -> QtWidgets.QPushButton:
        sequence = QtGui.QKeySequence(key)
        hint = sequence.toString(QtGui.QKeySequence.SequenceFormat.NativeText)
        button = QtWidgets.QPushButton(f"{label}\n{hint}")
        button.setAccessibleName(label)
        button.setToolTip(f"{label} ({hint})")
        button.setMinimumHeight(36)
        button.clicked.connect(lambda _checked=False: slot())
        shortcut = QtGui.QShortcut(sequence, self)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(lambda: button.isEnabled() and slot())
        button.setProperty("shortcut", shortcut)
        button.shortcut = shortcut  # type: ignore[attr-defined]
        if row is not None:
            row.addWidget(button)
        return button

    # --- actions ---------------------------------------------------------------------------------------

    def request_result(self, result: str) -> None:
        if self.result_buttons[result].isEnabled():
            self.result_requested.emit(result)

    def skip_menu(self) -> QtWidgets.QMenu:
        menu = QtWidgets.QMenu(self)
        menu.setObjectName("SkipReasons")
        for index, (code, (names, _hold)) in enumerate(SKIP_REASONS.items(), start=1):
            action = menu.addAction(f"&{index}  {pick(names, self.language)}")
            action.setData(code)
        menu.triggered.connect(lambda action: self.skip_requested.emit(action.data()))
        menu.aboutToHide.connect(menu.deleteLater)
        return menu

    def pick_skip_reason(self) -> QtWidgets.QMenu | None:
        """The short picker (not modal): one of SKIP_REASONS by key 1-4 or a click; Esc picks nothing."""
        if not self.skip_button.isEnabled():
            return None
        menu = self.skip_menu()
        menu.popup(self.skip_button.mapToGlobal(self.skip_button.rect().bottomLeft()))
        return menu

    def _refused_action(self, signal) -> None:
        if self.state.refused:
            signal.emit(self.state.refused[0].attempt.attempt_id)

    def offer_undo(self, outcome_id: str, result: str, name: str, window: dt.timedelta) -> None:
        """After an offer outcome: "Recorded … — Ctrl+Z to undo" for `window` (at least UNDO_WINDOW)."""
        label = result_label(result, self.texts)
        text = (self.tr("✓ Recorded “%1” · %2 — Ctrl+Z to undo") if name
                else self.tr("✓ Recorded “%1” — Ctrl+Z to undo"))
        self._undo_covered = self.notice.text()
        self._undo_outcome = outcome_id
        self.notice.setText(text.replace("%1", label).replace("%2", name))
        self._undo_shortcut.setEnabled(True)
        self._undo_timer.start(int(max(window, UNDO_WINDOW).total_seconds() * 1000))

    @property
    def undo_offered(self) -> str | None:
        """The outcome Ctrl+Z would take back now (None: no banner up)."""
        return self._undo_outcome

    def _undo_pressed(self) -> None:
        outcome_id, self._undo_outcome = self._undo_outcome, None
        self._undo_timer.stop()
        self._undo_shortcut.setEnabled(False)
        if outcome_id is not None:
            self.undo_requested.emit(outcome_id)

    def _undo_expired(self) -> None:
        self._undo_shortcut.setEnabled(False)
        if self._undo_outcome is not None:
            self._undo_outcome = None
            self.notice.setText(self._undo_covered)

    def _outcome_requested(self, result: str, extras: dict) -> None:
        offer_id = "" if result == "do_not_disturb" else (self.pop.selected_offer_id or "")
        self.outcome_requested.emit(offer_id, result, extras)

    # --- rendering -------------------------------------------------------------------------------------

    def campaign_offer(self):
        """The offer this call is for: the first one of the lease's campaign the pop lets the agent pitch (its
        script is shown; the offer outcome keys answer it unless the agent clicks another card)."""
        previewed = self.state.previewed
        if previewed is None:
            return None
        return next((o for o in previewed.pop.offers if o.campaign_id == previewed.campaign_id and o.pitchable),
                    None)

    def render(self, state: OutboundState, now: dt.datetime | None = None) -> None:
        previous, previous_phase = self.state.previewed, self.state.phase
        self.state = state
        lang = self.language
        previewed = state.previewed
        offer = self.campaign_offer()
        if previewed is not None and previewed is not previous:
            self.pop.reset()  # a new customer: the offer list starts folded again
            self.pop.render(PopResult(PopState.LIVE, PopKey(customer_id=previewed.customer_id), previewed.pop,
                                      now or dt.datetime.now(dt.UTC)), now)
            if offer is not None:
                self.pop.select_offer(offer.offer_id, reveal=True)
        self.pop.setVisible(previewed is not None)
        self.filler.setVisible(previewed is None)
        if previewed is None:
            self.campaign.setText("")
            self.why.setText("")
            self.script.setText("")
        else:
            self.campaign.setText(self.tr("%1 · wave %2 of %3 · call attempt %4").replace(
                "%1", pick(previewed.campaign_name, lang)).replace("%2", str(previewed.wave.seq))
                .replace("%3", str(previewed.wave.of)).replace("%4", str(previewed.attempt)))
            why = previewed.why
            parts = [why.member_reason] if why.member_reason else []
            if why.priority:  # the analyst's priority; 0, everyone's default, says nothing
                parts.append(self.tr("priority %1").replace("%1", str(why.priority)))
            parts.append(self.tr("expected ¥%1 × acceptance %2%").replace("%1", f"{why.expected_value:g}")
                         .replace("%2", f"{why.acceptance * 100:.0f}"))
            self.why.setText(self.tr("Why this customer: %1").replace("%1", " · ".join(parts)))
            self.script.setText(self.tr("Script for %1: %2").replace("%1", pick(offer.title, lang))
                                .replace("%2", pick(offer.script, lang)) if offer is not None and offer.script else "")
        self.status.setText(self._status_text(state))
        phase, paused = state.phase, state.paused
        self.next_button.setEnabled(not paused and phase in (Phase.IDLE, Phase.EMPTY))
        self.dial_button.setEnabled(not paused and phase is Phase.PREVIEW)
        self.skip_button.setEnabled(not paused and phase is Phase.PREVIEW)
        self.finish_button.setEnabled(phase in (Phase.WRAP_UP, Phase.DONE))
        self.results_box.setVisible(phase in _CALL_PHASES)
        for result, button in self.result_buttons.items():
            button.setEnabled(not paused and phase in _CALL_PHASES)
            suggested = state.suggested is not None and result == state.suggested.value
            button.setDefault(suggested)
            if bool(button.property("suggested")) != suggested:  # the theme marks it (a default alone shows not)
                button.setProperty("suggested", suggested)
                button.style().unpolish(button)
                button.style().polish(button)
        self.outcome_bar.setVisible(phase is Phase.WRAP_UP)
        if phase is Phase.WRAP_UP and previous_phase is not Phase.WRAP_UP:
            self.pop.reveal_selected()  # the outcome bar took room: the offer it answers stays in sight
        for shortcut in self.outcome_bar.shortcuts.values():
            shortcut.setEnabled(not paused and phase is Phase.WRAP_UP)
        refused = state.refused
        self.refused_box.setVisible(bool(refused))
        if refused:
            first = refused[0]
            text = self.tr("The server refused the call result “%1” for customer %2: %3.").replace(
                "%1", call_result_label(first.attempt.result, self.texts)).replace(
                "%2", first.attempt.customer_id).replace("%3", refusal_text(first.code, self.texts))
            text += "\n" + self.tr("Send again once the cause is fixed; Set aside keeps it on this PC only.")
            if len(refused) > 1:
                text += "\n" + self.tr("%1 more refused call result(s) after this one.").replace(
                    "%1", str(len(refused) - 1))
            self.refused_label.setText(text)
        self.retry_refused_button.setEnabled(bool(refused))
        self.dismiss_refused_button.setEnabled(bool(refused))
        for button in (self.next_button, self.dial_button, self.skip_button, self.finish_button,
                       self.retry_refused_button, self.dismiss_refused_button, *self.result_buttons.values()):
            button.shortcut.setEnabled(button.isEnabled())
        self._refresh_outcome_target()

    def _refresh_outcome_target(self) -> None:
        previewed = self.state.previewed
        if previewed is None or self.state.phase is not Phase.WRAP_UP:
            self.outcome_bar.set_target(None, has_customer=False)
            return
        offer = previewed.pop.offer(self.pop.selected_offer_id) if self.pop.selected_offer_id else None
        self.outcome_bar.set_target(pick(offer.title, self.language) if offer else None, has_customer=True)

    def _status_text(self, state: OutboundState) -> str:
        texts = []
        if state.paused:
            texts.append(self.tr("An inbound call is up: the outbound preview waits (the customer stays held "
                                 "for you)."))
        phase = state.phase
        if phase is Phase.IDLE:
            texts.append(self.tr("Outbound mode: press Next customer to preview the worklist's next customer."))
        elif phase is Phase.EMPTY and state.empty is not None:
            texts.append(pick(state.empty.message, self.language))
        elif phase is Phase.PREVIEW:
            texts.append(self.tr("Preview: read why this customer and the script, then call or skip."))
        elif phase is Phase.DIALING:
            texts.append(self.tr("Calling…"))
        elif phase is Phase.TALKING:
            texts.append(self.tr("Connected."))
        elif phase is Phase.RESULT:
            texts.append(self.tr("The call ended: record how it went."))
            if state.suggested is not None:
                texts.append(self.tr("The softphone says: %1").replace(
                    "%1", call_result_label(state.suggested, self.texts)))
        elif phase is Phase.WRAP_UP:
            texts.append(self.tr("Connected call: record the offer outcome, then Done."))
        elif phase is Phase.DONE:
            texts.append(self.tr("Call result saved. Done shows the next customer."))
        if state.prepared is not None and phase in (Phase.WRAP_UP, Phase.DONE):
            texts.append(self.tr("Next customer ready."))
        if state.pending_results:
            texts.append(self.tr("%1 call result(s) saved on this PC, not yet on the server: sent automatically.")
                         .replace("%1", str(state.pending_results)))
        if state.error is not None and not (state.refused and state.error.code in _REFUSAL_ERRORS):
            texts.append(describe_error(state.error, self.texts))  # a refusal is explained in its own box
        return "\n".join(texts)

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)


class OutboundWindow(Localized, QtWidgets.QWidget):
    """The outbound mode's window (beside the panel)."""

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(self.tr("CallCue — outbound calls"))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = OutboundView(texts)
        layout.addWidget(self.view)
        self.resize(420, 720)


class OutboundController(QtCore.QObject):
    """Turns the outbound window's keys into service calls on the TaskRunner and renders the state.
    `service`: a desktop.services.outbound.OutboundService (passed in: the UI reaches services it is given)."""

    state_changed = Signal(object)  # OutboundState
    mode_changed = Signal(bool)
    panel_event = Signal(object)  # desktop.domain.events (dial.requested): the panel's one stream for hosts

    def __init__(self, service, runner, scheduler, router, outcomes, texts: Texts, *,
                 agent_id: str | None, dialer=None, host_dialer=None, dialer_choice: str = "auto",
                 panel=None, undo_window: dt.timedelta = UNDO_WINDOW,
                 request_sync: Callable[[], object] | None = None, clock=None,
                 style: Callable[[QtWidgets.QWidget], object] | None = None, parent=None) -> None:
        """`host_dialer`: a desktop.calls.dialer.HostDialer (dial.requested to hosts that dial); it dials when
        `dialer_choice` is 'host', or ('auto') when no softphone connector dials and such a host is connected.
        `panel`: the PanelController, through which offer outcomes reach hosts (outcome.recorded) and are
        undone (outcome.retracted), as inbound ones. `style`: the panel's theme for the outbound window (a
        window of its own: the panel's style sheet does not reach it), applied to each window this makes."""
        super().__init__(parent)
        self.style_window = style
        self.host_dialer = host_dialer
        self.dialer_choice = dialer_choice
        self.panel = panel
        self.undo_window = undo_window
        self._requested_call_id: str | None = None  # the call id a host was asked to dial (dial.requested)
        self._zh: Texts | None = None  # Chinese texts for bridge replies (detail_zh), whatever the panel shows
        self.service = service
        self.runner = runner
        self.scheduler = scheduler
        self.router = router
        self.outcomes = outcomes
        self.texts = texts
        self.agent_id = agent_id
        # desktop.calls.dialer: dial() blocks (a connector's command, a URI handed out): runs on the "net" pool.
        self.dialer = dialer
        self._dialed: str | None = None  # the digits of the number dialed, until its call is claimed
        self._call_id: str | None = None  # the softphone's id of the outbound call (its events are claimed)
        self._answered = False
        self.request_sync = request_sync
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.window: OutboundWindow | None = None
        self._mode_shortcuts: list[QtGui.QShortcut] = []
        self._renewal_job = f"outbound-renewal-{id(self)}"
        self._delivery_job = f"outbound-results-{id(self)}"
        self._busy = False  # an agent's step is running: the next one waits in _queue
        self._queue: collections.deque = collections.deque()
        self._idle_waiters: list[Callable[[], object]] = []
        self._remove_listener = router.add_listener(self._router_action) if router is not None else None

    @property
    def active(self) -> bool:
        return self.window is not None and self.window.isVisible()

    # --- mode ------------------------------------------------------------------------------------------

    def install_mode_key(self, panel: QtWidgets.QWidget, context=Qt.ShortcutContext.WindowShortcut) -> None:
        shortcut = QtGui.QShortcut(QtGui.QKeySequence(MODE_KEY), panel)
        shortcut.setContext(context)
        shortcut.activated.connect(self.toggle_mode)
        self._mode_shortcuts.append(shortcut)

    def set_texts(self, texts: Texts) -> None:
        """A language switch: the outbound window is rebuilt in the new language (shown again if it was)."""
        self.texts = texts
        if self.window is None:
            return
        visible, geometry = self.window.isVisible(), self.window.geometry()
        self.window.close()
        self.window.deleteLater()
        self.window = self._make_window()
        self.window.setGeometry(geometry)
        if visible:
            self.window.show()
        self.render()

    def toggle_mode(self) -> None:
        self.set_mode(not self.active)

    def set_mode(self, on: bool) -> None:
        if on:
            if self.window is None:
                self.window = self._make_window()
            self.window.show()
            self.render()
            if self.service.state().phase in (Phase.IDLE, Phase.EMPTY):
                self.take_next()
        elif self.window is not None:
            self.window.hide()
        self.mode_changed.emit(on)

    def _make_window(self) -> OutboundWindow:
        window = OutboundWindow(self.texts)
        if self.style_window is not None:
            self.style_window(window)
        self._connect(window.view)
        return window

    def _connect(self, view: OutboundView) -> None:
        view.next_requested.connect(self.take_next)
        view.dial_requested.connect(self.dial)
        view.skip_requested.connect(self.skip)
        view.result_requested.connect(self.record_result)
        view.outcome_requested.connect(self.record_outcome)
        view.finish_requested.connect(self.finish)
        view.undo_requested.connect(self.undo_outcome)
        view.retry_refused_requested.connect(self.retry_refused)
        view.dismiss_refused_requested.connect(self.dismiss_refused)

    def start(self, interval_s: float) -> None:
        """Send pending call results with the periodic sync (also those of an earlier session)."""
        self.scheduler.every(interval_s, self.deliver_pending, self._delivery_job, run_now=True)

    def close(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for job in (self._renewal_job, self._delivery_job):
            self.scheduler.cancel(job)
        if self.window is not None:
            self.window.close()
            self.window.deleteLater()
            self.window = None

    # --- rendering -------------------------------------------------------------------------------------

    def render(self, state: OutboundState | None = None) -> None:
        state = state or self.service.state()
        if self.window is not None:
            self.window.view.render(state, self._clock())
        self._schedule_renewal()
        self.state_changed.emit(state)

    def _notice(self, text: str) -> None:
        if self.window is not None:
            self.window.view.show_notice(text)

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self._queue.clear()  # the steps pressed after a failed one assumed it worked
        error = getattr(exc, "user_error", None)
        if isinstance(exc, OutboundStateError):
            self._notice(outbound_message(exc.code, self.texts, exc.phase))
        elif error is not None:
            self._notice(describe_error(error, self.texts))
        else:
            log.error("outbound task failed", exc_info=exc)
            self._notice(describe_error(UserError("store_failed", type(exc).__name__), self.texts))
        self.render()

    def _submit(self, pool: str, fn, *args, name: str, on_done=None, on_error=None) -> None:
        """An agent's step: one at a time, in the order pressed (a step pressed meanwhile waits its turn)."""
        self._queue.append((pool, fn, args, name, on_done, on_error))
        if not self._busy:
            self._run_next()

    def _run_next(self) -> None:
        if not self._queue:
            self._idle()
            return
        pool, fn, args, name, on_done, on_error = self._queue.popleft()
        self._busy = True

        def done(result) -> None:
            self._busy = False
            if on_done is not None:
                on_done(result)
            self.render()
            self._run_next()

        def failed(exc: BaseException) -> None:
            self._failed(exc)
            if on_error is not None:
                on_error(exc)
            self._run_next()

        self.runner.submit(pool, fn, *args, name=name, owner=self, on_done=done, on_error=failed)

    def _background(self, fn, *, name: str) -> None:
        """Housekeeping beside the agent's steps (renewals, sending results): never queued behind them."""
        self.runner.submit("net", fn, name=name, owner=self, on_done=lambda _result: self.render(),
                           on_error=lambda exc: log.warning("%s failed: %s", name, type(exc).__name__))

    # --- the steps -------------------------------------------------------------------------------------

    def take_next(self) -> None:
        self._submit("net", self.service.take_next, name="outbound.next")

    def _through_host(self) -> bool:
        """Whether the next call is dialed by a host application (dial.requested): always with outbound.dialer
        = host; with auto, when no softphone connector dials (baresip, AMI) and a host that dials is connected."""
        if self.host_dialer is None:
            return False
        if self.dialer_choice == "host":
            return True
        return getattr(self.dialer, "name", None) not in ("baresip", "ami") and self.host_dialer.available()

    def _dial_refusal(self) -> OutboundStateError | None:
        """Why Call cannot go ahead now (None: it can)."""
        state = self.service.state()
        if state.paused:
            return OutboundStateError("inbound_call_up_dial")
        if state.phase is not Phase.PREVIEW or state.previewed is None:
            return OutboundStateError("nothing_to_dial", state.phase.value)
        if not state.previewed.number:
            return OutboundStateError("no_number")
        if self._through_host() and not self.host_dialer.available():
            return OutboundStateError("no_dialing_host")
        return None

    def dial(self) -> None:
        refusal = self._dial_refusal()
        if refusal is not None:
            if refusal.code in ("no_number", "no_dialing_host"):  # the others: the key is not offered then
                self._notice(outbound_message(refusal.code, self.texts))
            return
        previewed = self.service.state().previewed
        number = previewed.number
        self._dialed, self._call_id, self._answered = _digits(number), None, False
        if self._through_host():
            # The host's softphone dials; its call events come back through the bridge or the SDK (claim()).
            target = self.host_dialer.target(number)
            self.service.dialing()
            self._requested_call_id = previewed.lease.call_id
            self.render()
            self.panel_event.emit(DialRequested.of(previewed, target, self._clock()))
            self._notice(self.texts.translate("OutboundController", "Calling: the host application dials…"))
            return
        self._requested_call_id = None
        self.service.dialing()
        if self.dialer is not None:
            self._submit("net", self.dialer.dial, number, name="outbound.dial")
        else:
            self.render()

    def claim(self, event) -> bool:
        """A call event from a connector (GUI thread, before the router): True when it is the outbound call
        this panel dialed (its tab is the outbound window, not an inbound pop): answered → connected, ended
        → the call result keys, with the one the softphone's end reason suggests offered first."""
        state = self.service.state()
        if self._call_id is not None:
            ours = event.call_id == self._call_id
        elif state.phase is not Phase.DIALING:
            ours = False
        elif self._requested_call_id is not None and event.call_id == self._requested_call_id:
            ours = True  # a host reports the call it was asked to dial under the id dial.requested gave
        elif self._requested_call_id is not None and state.previewed is not None \
                and event.customer_id == state.previewed.customer_id:
            ours = True
        else:
            ours = self._dialed is not None and event.ani is not None and bool(_digits(event.ani)) \
                and _digits(event.ani)[-11:] == self._dialed[-11:]
        if not ours:
            return False
        self._call_id = event.call_id
        if event.state == "answered":
            self._answered = True
            self.service.connected(event.call_id)
        elif event.state == "ended":
            self.service.call_ended(suggested_result(event.end_reason, answered=self._answered))
            self._dialed = None
        self.render()
        return True

    def skip(self, reason_code: str) -> None:
        self._submit("net", self.service.skip, reason_code, name="outbound.skip",
                     on_done=lambda _released: self._after_skip())

    def _after_skip(self) -> None:
        self._notice(self.texts.translate("OutboundController", "Skipped: the customer comes back to the worklist later."))
        if self.active:
            self.take_next()

    def record_result(self, result: str, note: str | None = None) -> None:
        def saved(attempt) -> None:
            self._notice(self.texts.translate("OutboundController", "Saved: %1").replace("%1", call_result_label(attempt.result, self.texts)))
            self.prepare_next()

        self._submit("db", self.service.record_result, result, note, name="outbound.result", on_done=saved)

    def prepare_next(self) -> None:
        """Send the result and fetch the next customer while the agent wraps up."""
        self._submit("net", self.service.prepare_next, name="outbound.prepare")

    def owns_call(self, call_id: str) -> bool:
        """`call_id` is this panel's outbound call, in wrap-up (its offer outcomes are recorded here)."""
        state = self.service.state()
        return state.phase is Phase.WRAP_UP and state.previewed is not None and call_id in (
            state.outcome_call_id, state.previewed.lease.call_id)

    def record_outcome(self, offer_id: str, result: str, extras: dict, then=None) -> None:
        """`then(record or exception)`, if given, once saved or refused (a host's outcome.record). The outcome
        takes the inbound outcomes' path: held for the undo window before it is sent, outcome.recorded to
        hosts, and a "Ctrl+Z to undo" banner in the outbound window."""
        if then is not None and not self.owns_call(self.service.state().outcome_call_id or ""):
            then(OutboundStateError("not_connected"))
            return

        def record():
            return self.service.record_outcome_and_follow(self.outcomes, offer_id=offer_id or None, result=result,
                                                          agent_id=self.agent_id, **extras)

        def saved(done) -> None:
            record = done.record
            if self.panel is not None:
                self.panel.outcome_saved_elsewhere(record.call_id, done)
            elif self.request_sync is not None:
                self.request_sync()
            if self.window is not None:
                previewed = self.service.state().previewed
                name = previewed.pop.customer.display_name if previewed is not None else ""
                if self.panel is not None:
                    self.window.view.offer_undo(record.outcome_id, record.result.value, name or "", self.undo_window)
                else:
                    self._notice(self.texts.translate("OutboundController", "Saved: %1").replace(
                        "%1", result_label(record.result.value, self.texts)))
            if then is not None:
                then(record)

        self._submit("db", record, name="outbound.outcome", on_done=saved,
                     on_error=(lambda exc: then(exc)) if then is not None else None)

    def undo_outcome(self, outcome_id: str) -> None:
        """Ctrl+Z on the outbound window's banner: the same undo as the panel's (removed if not sent yet, else
        retracted on the server; outcome.retracted to hosts)."""
        if self.panel is None:
            return

        def undone(done) -> None:
            if isinstance(done, BaseException):
                error = getattr(done, "user_error", None)
                self._notice(self.texts.translate("OutboundController", "✗ Not undone: %1").replace(
                    "%1", describe_error(error, self.texts) if error is not None else type(done).__name__))
                return
            self._notice(self.texts.translate("OutboundController", "↶ Outcome undone: it no longer counts"))

        self.panel.undo_outcome(outcome_id, then=undone)

    # --- call results the server refused ------------------------------------------------------------------

    def retry_refused(self, attempt_id: str) -> None:
        """Send a refused call result again (Ctrl+Shift+R); refused again, it is shown again with the reason."""
        def sent(error) -> None:
            if error is None:
                self._notice(self.texts.translate("OutboundController", "The call result reached the server."))
            elif any(r.attempt.attempt_id == attempt_id for r in self.service.state().refused):
                self._notice(self.texts.translate("OutboundController", "The server refused it again."))
            else:
                self._notice(describe_error(error, self.texts))

        self._submit("net", self.service.retry_refused, attempt_id, name="outbound.retry_refused", on_done=sent)

    def dismiss_refused(self, attempt_id: str) -> None:
        """Set a refused call result aside (Ctrl+Shift+D): kept on this PC, never sent."""
        self._submit("db", self.service.dismiss_refused, attempt_id, name="outbound.dismiss_refused",
                     on_done=lambda _state: self._notice(self.texts.translate(
                         "OutboundController", "Set aside: the call result stays on this PC and is not sent.")))

    def finish(self) -> None:
        try:
            state = self.service.finish()
        except OutboundStateError as exc:
            self._notice(outbound_message(exc.code, self.texts, exc.phase))
            return
        self.render(state)
        if state.phase is Phase.IDLE and self.active:
            self.take_next()

    def deliver_pending(self) -> None:
        self._background(self.service.deliver_pending, name="outbound.deliver")

    # --- hosts over the local bridge (outbound.next / .dial / .result) ------------------------------------

    def bridge_state(self) -> dict:
        """The outbound section of GET /v1/state (protocol v1, additive)."""
        return outbound_json(self.service.state(), mode=self.active)

    def bridge_command(self, kind: str, fields: dict) -> concurrent.futures.Future:
        """A host's outbound step (GUI thread): a Future of the reply, set once the step is done: a dict with
        `accepted`, `detail` (English), `detail_zh` (Chinese) and `code` (why not, a stable word; None when
        accepted)."""
        answer: concurrent.futures.Future = concurrent.futures.Future()
        state = self.service.state()
        phase = state.phase
        refusal: OutboundStateError | None = None
        if state.paused and kind != "outbound.result":
            refusal = OutboundStateError("inbound_call_up")
        elif kind == "outbound.next":
            if phase in (Phase.WRAP_UP, Phase.DONE):
                self.finish()  # the customer prepared during wrap-up, if any
                phase = self.service.state().phase
            if phase in (Phase.IDLE, Phase.EMPTY):
                if not (self._busy or self._queue):
                    self.take_next()
            elif phase is not Phase.PREVIEW:
                refusal = OutboundStateError("no_result_yet", phase.value)
        elif kind == "outbound.dial":
            refusal = self._dial_refusal()
            if refusal is None:
                self.dial()
        elif kind == "outbound.result":
            if phase not in _CALL_PHASES:
                refusal = OutboundStateError("no_call", phase.value)
            else:
                self.record_result(fields["result"], fields.get("note"))
        else:
            refusal = OutboundStateError("unknown_command")
        if refusal is not None:
            answer.set_result(self.refusal_reply(refusal))
        else:
            self.when_idle(lambda: answer.set_result({"accepted": True, "detail": "done",
                                                      "detail_zh": outbound_message("done", self._chinese()),
                                                      "code": None}))
        return answer

    def refusal_reply(self, refusal: OutboundStateError) -> dict:
        """A refused step for a host: the English words, the Chinese ones, and the code."""
        return {"accepted": False, "detail": str(refusal),
                "detail_zh": outbound_message(refusal.code, self._chinese(), refusal.phase), "code": refusal.code}

    def _chinese(self) -> Texts:
        if self.texts.language == "zh_CN":
            return self.texts
        if self._zh is None:
            self._zh = Texts("zh_CN", translations_dir())
        return self._zh

    def when_idle(self, callback: Callable[[], object]) -> None:
        """Run `callback` once no agent's step is running or waiting (at once if none is)."""
        if not self._busy and not self._queue:
            callback()
        else:
            self._idle_waiters.append(callback)

    def _idle(self) -> None:
        if self._busy or self._queue:
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for callback in waiters:
            callback()

    # --- the lease and inbound calls ----------------------------------------------------------------------

    def _schedule_renewal(self) -> None:
        due = self.service.renewal_due_at()
        self.scheduler.cancel(self._renewal_job)
        if due is not None:
            self.scheduler.once_at(due, self._renew, self._renewal_job)

    def _renew(self) -> None:
        self._background(self.service.renew, name="outbound.renew")

    def _router_action(self, _action) -> None:
        """Any open call of the router (a tab in the panel) is an inbound call: the preview waits."""
        inbound = bool(self.router.calls())
        if inbound != self.service.state().paused:
            (self.service.inbound_started if inbound else self.service.inbound_ended)()
            self.render()
