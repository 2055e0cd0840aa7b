"""One call's pop: header, state line, warnings, ranked offers, contact guidance, customer details.

A pure view: it renders a PopResult and reports which offer the agent selected. It never fetches.

Widgets are built once per view and updated in place: a pop is on the agent's screen within a few
milliseconds only if rendering sets texts instead of creating, polishing and laying out new widgets.
A view is reused for the next call (`PanelWidget` keeps a spare), so even a new tab creates nothing; its
labels are emptied first (`reset`), so nothing of the previous caller can be read from it.
"""

from __future__ import annotations

import datetime as dt

from desktop.ui.i18n import Localized, Texts, pick
from desktop.ui.qt import Qt, QtCore, QtWidgets, Signal

LEVEL_ORDER = {"none": 0, "low": 1, "medium": 2, "high": 3}
# Pitchable offers shown at once: the agent pitches the first, the next two are the fallbacks; the rest
# are one click away (fewer cards also keep the pop fast to lay out and paint).
OFFERS_SHOWN = 3


# A wrapped label may shrink to this width; it asks for this width when there is room (the panel's own
# width decides, through heightForWidth).
WRAP_MIN_WIDTH = 60
WRAP_HINT_WIDTH = 200


class WrappedLabel(QtWidgets.QLabel):
    """A word-wrapped label with cheap size hints. On every text change QLabel works out a wrapped label's
    hints by laying its text out three times, once at width 0, where each Chinese character becomes a line
    of its own. And the panel's nested layouts (scroll area, cards, form rows) ask each wrapped label its
    height for a width ~175 times per pop for ~7 distinct (text, width) pairs; QLabel lays the text out
    anew each time. Here the minimum is small and fixed, and heights are remembered per text and width
    until the font or style changes."""

    HEIGHT_CACHE_SIZE = 64

    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self._heights: dict[tuple[int, str], int] = {}

    def heightForWidth(self, width: int) -> int:
        key = (width, self.text())
        height = self._heights.get(key)
        if height is None:
            if len(self._heights) >= self.HEIGHT_CACHE_SIZE:
                self._heights.clear()
            height = self._heights[key] = super().heightForWidth(width)
        return height

    def changeEvent(self, event) -> None:
        if event.type() in (QtCore.QEvent.Type.FontChange, QtCore.QEvent.Type.StyleChange):
            self._heights.clear()  # a re-polish (state colours, bold) may change the font
        super().changeEvent(event)

    def _one_line(self, width: int) -> QtCore.QSize:
        margins = self.contentsMargins()
        return QtCore.QSize(width, self.fontMetrics().height() + margins.top() + margins.bottom()
                            + 2 * self.margin())

    def minimumSizeHint(self) -> QtCore.QSize:
        return self._one_line(WRAP_MIN_WIDTH)

    def sizeHint(self) -> QtCore.QSize:
        return self._one_line(WRAP_HINT_WIDTH)


def _label(text: str = "", role: str | None = None, wrap: bool = False, selectable: bool = False,
           **props) -> QtWidgets.QLabel:
    label = WrappedLabel(text) if wrap else QtWidgets.QLabel(text)
    if role:
        label.setProperty("role", role)
    for key, value in props.items():
        label.setProperty(key, value)
    if selectable:  # only what agents copy (name, number, script): selectable labels cost layout time
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _restyle(widget: QtWidgets.QWidget) -> None:
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _set_property(widget: QtWidgets.QWidget, name: str, value) -> None:
    """Style-relevant property: re-polish only when it changed (a re-polish costs more than the rest)."""
    if widget.property(name) != value:
        widget.setProperty(name, value)
        _restyle(widget)


def _show_text(label: QtWidgets.QLabel, text: str | None) -> None:
    """Show `text`, or hide the label (and empty it) when there is none."""
    text = text or ""
    if label.text() != text:
        label.setText(text)
    _set_visible(label, bool(text))


def _set_visible(widget: QtWidgets.QWidget, visible: bool) -> None:
    # setVisible() is not free even when nothing changes (it is called ~100 times per pop).
    if widget.isHidden() == visible:
        widget.setVisible(visible)


def local_time(value: dt.datetime | None) -> str:
    return value.astimezone().strftime("%H:%M") if value else ""


def local_date(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone().date()
    return value.isoformat()


class OfferCard(Localized, QtWidgets.QFrame):
    """One offer: rank, title, fee, the main reason, an expandable script; greyed with reasons if suppressed."""

    clicked = Signal(str)

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.offer = None
        self.offer_id = ""
        self.suppressed = False
        self.setProperty("offer", True)
        self.setProperty("suppressed", False)
        self.setProperty("selected", False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(3)
        top = QtWidgets.QHBoxLayout()
        self.rank = _label(rank=True)
        top.addWidget(self.rank)
        self.title = _label(offerTitle=True, suppressed=False, wrap=True)
        top.addWidget(self.title, 1)
        self.fee = _label(role="muted")
        top.addWidget(self.fee)
        layout.addLayout(top)
        self.why = _label(role="muted", wrap=True)  # the reason to pitch, or (suppressed) why not
        layout.addWidget(self.why)
        self.script_button = QtWidgets.QPushButton()
        self.script_button.setProperty("flat", True)
        self.script_button.clicked.connect(self.toggle_script)
        layout.addWidget(self.script_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.script: QtWidgets.QLabel | None = None  # built on first use: most calls never open a script

    def show_offer(self, offer) -> None:
        language = self.texts.language
        self.offer, self.offer_id = offer, offer.offer_id
        suppressed = bool(offer.suppressed_by)
        self.suppressed = suppressed
        _set_property(self, "suppressed", suppressed)
        title = pick(offer.title, language)
        _show_text(self.rank, str(offer.rank) if offer.rank is not None else "")
        _show_text(self.title, title)
        _set_property(self.title, "suppressed", suppressed)
        fee = offer.monthly_fee_delta
        _show_text(self.fee, self.tr("%1¥%2/mo").replace("%1", "+" if fee > 0 else "−")
                   .replace("%2", f"{abs(fee):g}") if fee else "")
        if suppressed:
            _show_text(self.why, "\n".join("⛔ " + pick(reason, language) for reason in offer.suppressed_by))
            _set_property(self.why, "role", None)
            _set_property(self.why, "reason", "suppressed")
            self.setAccessibleName(self.tr("Do not offer: %1").replace("%1", title))
        else:
            _show_text(self.why, self.tr("Why: %1").replace("%1", pick(offer.reason, language)))
            _set_property(self.why, "reason", None)
            _set_property(self.why, "role", "muted")
            self.setAccessibleName(self.tr("Offer %1: %2").replace("%1", str(offer.rank)).replace("%2", title))
        _set_visible(self.script_button, not suppressed)
        self.script_button.setText(self.tr("Show script"))
        self.script_button.setAccessibleName(self.tr("Show script for %1").replace("%1", title))
        if self.script is not None:
            _set_visible(self.script, False)
            self.script.setText("")

    def toggle_script(self) -> None:
        if self.script is None:
            self.script = _label(wrap=True, selectable=True)
            self.layout().addWidget(self.script)
        visible = not self.script.isVisible()
        self.script.setText(pick(self.offer.script, self.texts.language) if visible else "")
        self.script.setVisible(visible)
        self.script_button.setText(self.tr("Hide script") if visible else self.tr("Show script"))

    def set_selected(self, selected: bool) -> None:
        _set_property(self, "selected", selected)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self.offer_id)
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.clicked.emit(self.offer_id)
            return
        super().keyPressEvent(event)


class WarningBox(QtWidgets.QFrame):
    """A sensitivity warning: title and level, what to do, why, and (complaints) the latest complaints."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("WarningBox")
        self.setProperty("warning", "none")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        self.heading = _label(warningTitle=True, tone="none")
        self.guidance = _label(wrap=True, tone="none")
        self.reasons = _label(role="muted", wrap=True)
        self.items = _label(wrap=True)
        for label in (self.heading, self.guidance, self.reasons, self.items):
            layout.addWidget(label)

    def show_warning(self, title: str, heading: str, level: str, guidance: str, reasons: str, items: str) -> None:
        _set_property(self, "warning", level)
        for label in (self.heading, self.guidance):
            _set_property(label, "tone", level)
        self.setAccessibleName(title)
        _show_text(self.heading, heading)
        _show_text(self.guidance, guidance)
        _show_text(self.reasons, reasons)
        _show_text(self.items, items)
        _set_visible(self, True)

    def clear(self) -> None:
        _set_visible(self, False)
        for label in (self.heading, self.guidance, self.reasons, self.items):
            _show_text(label, "")


class FactsCard(QtWidgets.QFrame):
    """A titled card of label/value rows whose set is fixed; rows without a value are hidden."""

    def __init__(self, keys: tuple[str, ...], wrap: tuple[str, ...] = (), parent=None) -> None:
        super().__init__(parent)
        self.setProperty("card", True)
        self.form = QtWidgets.QFormLayout(self)
        self.form.setContentsMargins(10, 6, 10, 6)
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(2)
        self.title = _label(role="section")
        self.form.addRow(self.title)
        self.names: dict[str, QtWidgets.QLabel] = {}
        self.values: dict[str, QtWidgets.QLabel] = {}
        for key in keys:
            self.names[key], self.values[key] = QtWidgets.QLabel(), _label(wrap=key in wrap)
            self.form.addRow(self.names[key], self.values[key])

    def set_row(self, key: str, name: str, value: str | None, **props) -> None:
        label = self.values[key]
        for prop, prop_value in props.items():
            _set_property(label, prop, prop_value)
        _show_text(self.names[key], name if value else "")
        if label.isHidden() == bool(value):
            self.form.setRowVisible(self.names[key], bool(value))
        _show_text(label, value)


class PopView(Localized, QtWidgets.QWidget):
    """Renders one PopResult. Emits offer_selected when the agent picks the offer an outcome is for."""

    offer_selected = Signal(str)

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setObjectName("PanelBody")
        self.language = texts.language
        self.result = None
        self._built = False
        self._shown_document = None
        self.selected_offer_id: str | None = None
        self._cards: dict[str, OfferCard] = {}
        self._show_more = False
        self._show_suppressed = False
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setObjectName("PanelScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        body = QtWidgets.QWidget()
        body.setObjectName("PanelBody")
        self.body = QtWidgets.QVBoxLayout(body)
        self.body.setContentsMargins(10, 8, 10, 8)
        self.body.setSpacing(8)
        self.scroll.setWidget(body)
        outer.addWidget(self.scroll)

        header = QtWidgets.QHBoxLayout()
        self.name = _label(role="name", selectable=True)
        self.name.setAccessibleName(self.tr("Customer name"))
        self.number = _label(role="number", selectable=True)
        self.tier = _label(role="tier")
        self.tier.setAccessibleName(self.tr("Value tier"))
        header.addWidget(self.name)
        header.addWidget(self.number)
        header.addStretch(1)
        header.addWidget(self.tier)
        self.body.addLayout(header)
        self.facts = _label(role="muted", wrap=True)
        self.body.addWidget(self.facts)

        self.state_frame = QtWidgets.QFrame()
        self.state_frame.setObjectName("StateBox")
        state_layout = QtWidgets.QHBoxLayout(self.state_frame)
        state_layout.setContentsMargins(8, 4, 8, 4)
        self.state_label = _label(wrap=True)
        self.state_label.setAccessibleName(self.tr("Data status"))
        state_layout.addWidget(self.state_label, 1)
        self.body.addWidget(self.state_frame)

        self.unknown_box = QtWidgets.QFrame()
        self.unknown_box.setProperty("card", True)
        unknown_layout = QtWidgets.QVBoxLayout(self.unknown_box)
        self.unknown_title = _label(offerTitle=True)
        self.unknown_text = _label(wrap=True)
        unknown_layout.addWidget(self.unknown_title)
        unknown_layout.addWidget(self.unknown_text)
        self.unknown_box.setVisible(False)
        self.body.addWidget(self.unknown_box)

        # Everything drawn from a customer document, in one widget: hidden while there is none (loading,
        # unknown caller), so the next document updates hidden widgets and is shown in one go.
        self.content = QtWidgets.QWidget()
        content = QtWidgets.QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        content.setSpacing(8)
        self.body.addWidget(self.content)

        # Highest level first (complaint first on a tie): what the agent must handle first is on top.
        self.warnings = QtWidgets.QVBoxLayout()
        self.warning_boxes = {"complaint": WarningBox(), "price": WarningBox()}
        for box in self.warning_boxes.values():
            box.setVisible(False)
            self.warnings.addWidget(box)
        content.addLayout(self.warnings)

        self.offers_title = _label(self.tr("Next best offers"), role="section")
        content.addWidget(self.offers_title)
        self.no_offer = _label(role="muted", wrap=True)
        content.addWidget(self.no_offer)
        self.offers = QtWidgets.QVBoxLayout()
        self.offers.setSpacing(6)
        content.addLayout(self.offers)
        self.more_toggle = self._flat_button(self._toggle_more)
        self.more_toggle.setAccessibleName(self.tr("More offers"))
        self.suppressed_toggle = self._flat_button(self._toggle_suppressed)
        self.suppressed_toggle.setAccessibleName(self.tr("Suppressed offers"))
        self.suppressed_offers = QtWidgets.QVBoxLayout()
        self.suppressed_offers.setSpacing(6)
        content.addWidget(self.more_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        content.addWidget(self.suppressed_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        content.addLayout(self.suppressed_offers)

        self.contact = FactsCard(("campaign", "wave", "contacts", "prefers", "dnd", "next"), wrap=("campaign",))
        self.contact.setAccessibleName(self.tr("Contact guidance"))
        self.contact.title.setText(self.tr("Contact guidance"))
        self.details = FactsCard(("usage", "ringback", "roaming", "bill", "credit", "churn", "segments"),
                                 wrap=("usage", "segments"))
        self.details.setAccessibleName(self.tr("Customer details"))
        self.details.title.setText(self.tr("Customer"))
        content.addWidget(self.contact)
        content.addWidget(self.details)
        self.body.addStretch(1)
        self._show_document(None)

    def _flat_button(self, slot) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton()
        button.setProperty("flat", True)
        button.clicked.connect(slot)
        button.setVisible(False)
        return button

    # ------------------------------------------------------------------ rendering

    def render(self, result, now: dt.datetime | None = None, *, defer: bool = False) -> None:
        """Show `result`. Same document as on screen: only the status line changes. `defer` (a tab in the
        background): update when the tab is brought forward (ensure_built), so a burst of background calls
        costs the GUI thread nothing."""
        self.result = result
        if defer:
            self._built = False
            return
        self._update(result, now)

    def ensure_built(self) -> None:
        if not self._built and self.result is not None:
            self._update(self.result, None)

    def reset(self) -> None:
        """Forget the call shown (the view is about to be reused for another call). Every text is emptied,
        but the (hidden) view keeps its widgets' visibility: showing the customer part again costs ~1.3 ms,
        and the next caller is most often one with a document (a re-pop shows the cached one at once)."""
        self._show_more = self._show_suppressed = False
        self._shown_document = None
        for label in self.findChildren(QtWidgets.QLabel):
            if label is not self.offers_title and label is not self.contact.title and label is not self.details.title:
                label.setText("")
        self.result = None
        self._built = False
        self.selected_offer_id = None
        self.setProperty("call_state", None)
        self.scroll.verticalScrollBar().setValue(0)

    def _update(self, result, now: dt.datetime | None) -> None:
        self._built = True
        self._render_state(result, now or dt.datetime.now(dt.UTC))
        self._render_header(result)
        if result.document is not self._shown_document or result.document is None:
            self._show_document(result.document)
        _set_visible(self.unknown_box, result.document is None and str(result.state) == "unknown_caller")
        if not self.unknown_box.isHidden() and not self.unknown_title.text():
            self.unknown_title.setText(self.tr("New or unregistered caller"))
            self.unknown_text.setText(self.tr(
                "Greet the caller, ask for their name and ID number, then search above by name or customer ID. "
                "Do not pitch offers until the customer is identified."))

    def _show_document(self, doc) -> None:
        self._shown_document = doc
        if doc is None:
            _set_visible(self.content, False)
            return
        self._render_warnings(doc)
        self._render_offers(doc)
        self._render_contact(doc)
        self._render_details(doc)
        _set_visible(self.content, True)

    def _render_state(self, result, now: dt.datetime) -> None:
        state = str(result.state)
        texts = {
            "loading": self.tr("Loading customer data…"),
            "live": self.tr("Live data · %1").replace("%1", local_time(result.fetched_at)),
            "unknown_caller": self.tr("Unknown caller: no customer has this number"),
        }
        if state == "stale":
            age_min = int((now - result.fetched_at).total_seconds() // 60) if result.fetched_at else 0
            unreachable = result.error is None or result.error.code == "server_unreachable"
            # "Unreachable" only when it is: after a server error or an unreadable answer the next line
            # says what happened, and the agent should not go checking the network cable.
            text = (self.tr("Server unreachable — showing saved data from %1 (%2 min old)") if unreachable
                    else self.tr("Showing saved data from %1 (%2 min old)")).replace(
                "%1", local_time(result.fetched_at)).replace("%2", str(age_min))
            if result.error is not None:
                text += "\n" + describe_error(result.error, self.texts)
        elif state == "error":
            text = describe_error(result.error, self.texts) if result.error else self.tr("Something went wrong.")
        elif state == "loading" and result.document is not None:
            text = self.tr("Showing saved data from %1 · refreshing…").replace("%1", local_time(result.fetched_at))
        else:
            text = texts.get(state, state)
        if self.state_label.text() != text:
            self.state_label.setText(text)
        for widget in (self.state_frame, self.state_label):
            _set_property(widget, "state", state)

    def _render_header(self, result) -> None:
        doc = result.document
        if doc is None:
            _show_text(self.name, result.key.masked() or result.key.customer_id or "—")
            for label in (self.number, self.tier, self.facts):
                _show_text(label, "")
            return
        c = doc.customer
        _show_text(self.name, c.display_name)
        _show_text(self.number, c.masked_msisdn)
        _show_text(self.tier, tier_name(c.value_tier, self.texts))
        facts = []
        if c.plan and c.plan.name:
            fee = f" · ¥{c.plan.monthly_fee:g}" if c.plan.monthly_fee is not None else ""
            facts.append(f"{c.plan.name}{fee}")
        facts.append(self.tr("%1 months with us").replace("%1", str(c.tenure_months)))
        if c.city:
            facts.append(c.city)
        _show_text(self.facts, " · ".join(facts))

    def _render_warnings(self, doc) -> None:
        price, complaint = doc.sensitivity.price, doc.sensitivity.complaint
        items = [("complaint", complaint, self.tr("Complaint-sensitive")),
                 ("price", price, self.tr("Price-sensitive"))]
        items.sort(key=lambda item: -LEVEL_ORDER[item[1].level])
        for index, (kind, sensitivity, title) in enumerate(items):
            box = self.warning_boxes[kind]
            if self.warnings.indexOf(box) != index:
                self.warnings.removeWidget(box)
                self.warnings.insertWidget(index, box)
            if sensitivity.level == "none":
                box.clear()
                continue
            complaints = ""
            if kind == "complaint":
                # Plain tr() calls (not inside an f-string), so lupdate finds these words.
                status_words = {"open": self.tr("open"), "resolved": self.tr("resolved")}
                complaints = "\n".join(
                    f"• {local_date(item.opened_at)} "
                    f"[{status_words.get(item.status, status_words['resolved'])}] "
                    f"{pick(item.summary, self.language)}"
                    for item in sensitivity.recent_complaints[:3])
            box.show_warning(
                title, f"⚠ {title} ({level_name(sensitivity.level, self.texts)})", sensitivity.level,
                pick(sensitivity.guidance, self.language),
                " · ".join(pick(r, self.language) for r in sensitivity.reasons), complaints)

    def _render_offers(self, doc) -> None:
        offers = doc.offers
        pitchable = [o for o in offers if not o.suppressed_by]
        suppressed = [o for o in offers if o.suppressed_by]
        _show_text(self.no_offer, self.tr("No offer to pitch on this call — see the reasons below.")
                   if not pitchable else "")
        shown = pitchable if self._show_more else pitchable[:OFFERS_SHOWN]
        hidden = len(pitchable) - OFFERS_SHOWN
        _set_visible(self.more_toggle, hidden > 0)
        if hidden > 0:
            self.more_toggle.setText(self.tr("Show fewer offers") if self._show_more
                                     else self.tr("Show %1 more offers").replace("%1", str(hidden)))
        _set_visible(self.suppressed_toggle, bool(suppressed))
        if suppressed:
            self.suppressed_toggle.setText(
                (self.tr("Hide %1 suppressed offers") if self._show_suppressed
                 else self.tr("Show %1 suppressed offers (why not)")).replace("%1", str(len(suppressed))))
        self._fill(self.offers, shown)
        self._fill(self.suppressed_offers, suppressed if self._show_suppressed else [])
        self._cards = {card.offer_id: card for layout in (self.offers, self.suppressed_offers)
                       for card in self._layout_cards(layout) if not card.isHidden()}
        valid = [o.offer_id for o in pitchable]
        if self.selected_offer_id not in valid:
            self.selected_offer_id = valid[0] if valid else None
        self._mark_selection()

    @staticmethod
    def _layout_cards(layout: QtWidgets.QLayout) -> list[OfferCard]:
        return [layout.itemAt(i).widget() for i in range(layout.count())]

    def _fill(self, layout: QtWidgets.QVBoxLayout, offers) -> None:
        """Show `offers` in the cards of `layout`, adding cards only when it has too few."""
        cards = self._layout_cards(layout)
        while len(cards) < len(offers):
            card = OfferCard(self.texts)
            card.clicked.connect(self.select_offer)
            layout.addWidget(card)
            cards.append(card)
        for card, offer in zip(cards, offers, strict=False):
            card.show_offer(offer)
            _set_visible(card, True)
        for card in cards[len(offers):]:
            _set_visible(card, False)
            card.offer_id = ""

    def _toggle_more(self) -> None:
        self._show_more = not self._show_more
        self._render_offers(self._shown_document)

    def _toggle_suppressed(self) -> None:
        self._show_suppressed = not self._show_suppressed
        self._render_offers(self._shown_document)

    def select_offer(self, offer_id: str) -> None:
        card = self._cards.get(offer_id)
        if card is None or card.suppressed:
            return
        self.selected_offer_id = offer_id
        self._mark_selection()
        self.offer_selected.emit(offer_id)

    def _mark_selection(self) -> None:
        for offer_id, card in self._cards.items():
            card.set_selected(offer_id == self.selected_offer_id)

    def _render_contact(self, doc) -> None:
        c, card, language = doc.contact, self.contact, self.language
        card.set_row("campaign", self.tr("Campaign"), pick(c.campaign.name, language) if c.campaign else None)
        card.set_row("wave", self.tr("Wave"), self.tr("%1 of %2 · %3").replace("%1", str(c.wave.seq))
                     .replace("%2", str(c.wave.of)).replace("%3", pick(c.wave.channel_name, language))
                     if c.wave is not None else None)
        card.set_row("contacts", self.tr("Contacts"), self.tr("%1 of %2 in %3 days")
                     .replace("%1", str(c.contacts_used)).replace("%2", str(c.contacts_max))
                     .replace("%3", str(c.period_days)) if c.contacts_max is not None else None)
        card.set_row("prefers", self.tr("Prefers"),
                     pick(c.preferred_channel_name, language) if c.preferred_channel_name is not None else None)
        card.set_row("dnd", self.tr("DND"), self.tr("Do not disturb — no marketing") if c.dnd else self.tr("No"),
                     reason="suppressed" if c.dnd else None)
        card.set_row("next", self.tr("Next contact"), local_date(c.next_eligible_at)
                     if not c.eligible_now and c.next_eligible_at is not None else None)

    def _render_details(self, doc) -> None:
        c, card = doc.customer, self.details
        u = c.usage
        card.set_row("usage", self.tr("Usage (%1)").replace("%1", u.month) if u else "", self.tr(
            "Data %1 GB · Voice %2 min · SMS %3 · MMS %4").replace("%1", f"{u.data_mb / 1024:.1f}")
            .replace("%2", str(u.voice_min)).replace("%3", str(u.sms)).replace("%4", str(u.mms)) if u else None)
        card.set_row("ringback", self.tr("Ringback tone"), (
            self.tr("Yes (¥%1/mo)").replace("%1", f"{u.ringback_fee:g}") if u.ringback_active
            else self.tr("No")) if u else None)
        card.set_row("roaming", self.tr("Roaming"), (
            self.tr("%1 MB · %2 min").replace("%1", str(u.roaming_data_mb)).replace("%2", str(u.roaming_voice_min))
            if (u.roaming_data_mb or u.roaming_voice_min) else self.tr("None")) if u else None)
        card.set_row("bill", self.tr("Last bill"), f"¥{u.bill:,.2f}" if u and u.bill is not None else None)
        card.set_row("credit", self.tr("Credit · Points"),
                     f"{c.credit_score if c.credit_score is not None else '—'} · {c.points:,}")
        card.set_row("churn", self.tr("Churn risk"), f"{round(c.churn_risk * 100)}%")
        card.set_row("segments", self.tr("Segments"), ", ".join(c.segments) if c.segments else None)


def level_name(level: str, texts: Texts) -> str:
    return {"low": texts.translate("Messages", "low"), "medium": texts.translate("Messages", "medium"),
            "high": texts.translate("Messages", "high")}.get(level, level)


def tier_name(tier: str, texts: Texts) -> str:
    return {"standard": texts.translate("Messages", "Standard"), "silver": texts.translate("Messages", "Silver"),
            "gold": texts.translate("Messages", "Gold"),
            "diamond": texts.translate("Messages", "Diamond")}.get(tier, tier)


def describe_error(error, texts: Texts) -> str:
    """Plain words for a UserError code: what happened and what to do."""
    texts_by_code = {
        "server_unreachable": texts.translate("Messages", "Cannot reach the analytics server. Check the network; "
                                              "outcomes are kept on this PC and sent later."),
        "timeout": texts.translate("Messages", "The analytics server is too slow to answer. Outcomes are kept and sent later."),
        "server_error": texts.translate("Messages", "The analytics server had an internal error. Try again; tell IT if it repeats."),
        "bad_response": texts.translate("Messages", "The analytics server sent data this panel cannot read. Tell IT."),
        "auth_failed": texts.translate("Messages", "Your sign-in has expired or was revoked. Sign in again; nothing is lost."),
        "unknown_caller": texts.translate("Messages", "No customer has this number. Search by name or customer ID."),
        "disk_full": texts.translate("Messages", "The disk is full: outcomes cannot be saved. Free space or call IT now."),
        "read_only": texts.translate("Messages", "The data folder is read-only: outcomes cannot be saved. Call IT."),
        "store_corrupt": texts.translate("Messages", "The local data file was damaged; it was set aside and a new one started."),
        "config_invalid": texts.translate("Messages", "The configuration file is invalid."),
        "invalid_input": texts.translate("Messages", "That input is not valid."),
        "tls_failed": texts.translate("Messages", "The server's security certificate is not trusted. "
                                      "Ask IT for the right CA bundle; outcomes are kept and sent later."),
        "store_failed": texts.translate("Messages", "The local data file cannot be used right now. Tell IT."),
        "keyring_unavailable": texts.translate("Messages", "This computer has no password store to keep your "
                                               "sign-in. Tell IT."),
    }
    text = texts_by_code.get(error.code, error.code)
    return f"{text} ({error.detail})" if getattr(error, "detail", "") else text
