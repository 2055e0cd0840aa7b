"""One call's pop: header, state line, warnings, ranked offers, contact guidance, customer details.

A pure view: it renders a PopResult and reports which offer the agent selected. It never fetches.
"""

from __future__ import annotations

import datetime as dt

from desktop.ui.i18n import Localized, Texts, pick
from desktop.ui.qt import Qt, QtWidgets, Signal

LEVEL_ORDER = {"none": 0, "low": 1, "medium": 2, "high": 3}


def _label(text: str = "", role: str | None = None, wrap: bool = False, selectable: bool = False,
           **props) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    if role:
        label.setProperty("role", role)
    for key, value in props.items():
        label.setProperty(key, value)
    if wrap:
        label.setWordWrap(True)
    if selectable:  # only what agents copy (name, number, script): selectable labels cost layout time
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _restyle(widget: QtWidgets.QWidget) -> None:
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _clear(layout: QtWidgets.QLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item.widget():
            item.widget().deleteLater()
        elif item.layout():
            _clear(item.layout())


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

    def __init__(self, offer, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        language = texts.language
        self.offer_id = offer.offer_id
        self.suppressed = bool(offer.suppressed_by)
        self.setProperty("offer", True)
        self.setProperty("suppressed", self.suppressed)
        self.setProperty("selected", False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        title = pick(offer.title, language)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(3)
        top = QtWidgets.QHBoxLayout()
        if offer.rank is not None:
            top.addWidget(_label(str(offer.rank), rank=True))
        title_label = _label(title, offerTitle=True, suppressed=self.suppressed, wrap=True)
        top.addWidget(title_label, 1)
        fee = offer.monthly_fee_delta
        if fee:
            sign = "+" if fee > 0 else "−"
            top.addWidget(_label(self.tr("%1¥%2/mo").replace("%1", sign).replace("%2", f"{abs(fee):g}"),
                                 role="muted"))
        layout.addLayout(top)
        if self.suppressed:
            for reason in offer.suppressed_by:
                layout.addWidget(_label("⛔ " + pick(reason, language), wrap=True, reason="suppressed"))
            self.setAccessibleName(self.tr("Do not offer: %1").replace("%1", title))
        else:
            layout.addWidget(_label(self.tr("Why: %1").replace("%1", pick(offer.reason, language)),
                                    role="muted", wrap=True))
            self.script_button = QtWidgets.QPushButton(self.tr("Show script"))
            self.script_button.setProperty("flat", True)
            self.script_button.setAccessibleName(self.tr("Show script for %1").replace("%1", title))
            self.script = _label(pick(offer.script, language), wrap=True, selectable=True)
            self.script.setVisible(False)
            self.script_button.clicked.connect(self.toggle_script)
            layout.addWidget(self.script_button, 0, Qt.AlignmentFlag.AlignLeft)
            layout.addWidget(self.script)
            self.setAccessibleName(self.tr("Offer %1: %2").replace("%1", str(offer.rank)).replace("%2", title))

    def toggle_script(self) -> None:
        visible = not self.script.isVisible()
        self.script.setVisible(visible)
        self.script_button.setText(self.tr("Hide script") if visible else self.tr("Show script"))

    def set_selected(self, selected: bool) -> None:
        self.setProperty("selected", selected)
        _restyle(self)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self.offer_id)
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.clicked.emit(self.offer_id)
            return
        super().keyPressEvent(event)


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
        self.selected_offer_id: str | None = None
        self._cards: dict[str, OfferCard] = {}
        self._show_suppressed = False
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QtWidgets.QScrollArea()
        scroll.setObjectName("PanelScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        body = QtWidgets.QWidget()
        body.setObjectName("PanelBody")
        self.body = QtWidgets.QVBoxLayout(body)
        self.body.setContentsMargins(10, 8, 10, 8)
        self.body.setSpacing(8)
        scroll.setWidget(body)
        outer.addWidget(scroll)

        self.header = QtWidgets.QVBoxLayout()
        self.state_frame = QtWidgets.QFrame()
        self.state_frame.setObjectName("StateBox")
        state_layout = QtWidgets.QHBoxLayout(self.state_frame)
        state_layout.setContentsMargins(8, 4, 8, 4)
        self.state_label = _label(wrap=True)
        self.state_label.setAccessibleName(self.tr("Data status"))
        state_layout.addWidget(self.state_label, 1)
        self.warnings = QtWidgets.QVBoxLayout()
        self.offers = QtWidgets.QVBoxLayout()
        self.offers.setSpacing(6)
        self.contact = QtWidgets.QVBoxLayout()
        self.details = QtWidgets.QVBoxLayout()
        for part in (self.header,):
            self.body.addLayout(part)
        self.body.addWidget(self.state_frame)
        self.body.addLayout(self.warnings)
        self.offers_title = _label(self.tr("Next best offers"), role="section")
        self.body.addWidget(self.offers_title)
        self.body.addLayout(self.offers)
        self.body.addLayout(self.contact)
        self.body.addLayout(self.details)
        self.body.addStretch(1)

    # ------------------------------------------------------------------ rendering

    def render(self, result, now: dt.datetime | None = None, *, defer: bool = False) -> None:
        """Show `result`. Same document as on screen: only the status line changes. `defer` (a tab in the
        background): build when the tab is brought forward (ensure_built), so a burst of background calls
        costs the GUI thread nothing."""
        previous, self.result = self.result, result
        if (self._built and previous is not None and result.document is not None
                and previous.document is result.document):
            self._render_state(result, now or dt.datetime.now(dt.UTC))
            return
        if defer:
            self._built = False
            return
        self._build(result, now)

    def ensure_built(self) -> None:
        if not self._built and self.result is not None:
            self._build(self.result, None)

    def _build(self, result, now: dt.datetime | None) -> None:
        self._built = True
        now = now or dt.datetime.now(dt.UTC)
        for layout in (self.header, self.warnings, self.offers, self.contact, self.details):
            _clear(layout)
        self._cards.clear()
        self._render_state(result, now)
        doc = result.document
        self._render_header(result)
        if doc is None:
            self.offers_title.setVisible(False)
            if result.state == "unknown_caller":
                self._render_unknown_caller()
            return
        self.offers_title.setVisible(True)
        self._render_warnings(doc)
        self._render_offers(doc)
        self._render_contact(doc)
        self._render_details(doc)

    def _render_state(self, result, now: dt.datetime) -> None:
        state = str(result.state)
        texts = {
            "loading": self.tr("Loading customer data…"),
            "live": self.tr("Live data · %1").replace("%1", local_time(result.fetched_at)),
            "unknown_caller": self.tr("Unknown caller: no customer has this number"),
        }
        if state == "stale":
            age_min = int((now - result.fetched_at).total_seconds() // 60) if result.fetched_at else 0
            text = self.tr("Server unreachable — showing saved data from %1 (%2 min old)").replace(
                "%1", local_time(result.fetched_at)).replace("%2", str(age_min))
            if result.error is not None:
                text += "\n" + describe_error(result.error, self.texts)
        elif state == "error":
            text = describe_error(result.error, self.texts) if result.error else self.tr("Something went wrong.")
        elif state == "loading" and result.document is not None:
            text = self.tr("Showing saved data from %1 · refreshing…").replace("%1", local_time(result.fetched_at))
        else:
            text = texts.get(state, state)
        self.state_label.setText(text)
        for widget in (self.state_frame, self.state_label):
            widget.setProperty("state", state)
            _restyle(widget)

    def _render_header(self, result) -> None:
        doc = result.document
        row = QtWidgets.QHBoxLayout()
        if doc is not None:
            c = doc.customer
            name = _label(c.display_name, role="name", selectable=True)
            name.setAccessibleName(self.tr("Customer name"))
            row.addWidget(name)
            if c.masked_msisdn:
                row.addWidget(_label(c.masked_msisdn, role="number", selectable=True))
            row.addStretch(1)
            tier = _label(tier_name(c.value_tier, self.texts), role="tier")
            tier.setAccessibleName(self.tr("Value tier"))
            row.addWidget(tier)
            self.header.addLayout(row)
            facts = []
            if c.plan and c.plan.name:
                fee = f" · ¥{c.plan.monthly_fee:g}" if c.plan.monthly_fee is not None else ""
                facts.append(f"{c.plan.name}{fee}")
            facts.append(self.tr("%1 months with us").replace("%1", str(c.tenure_months)))
            if c.city:
                facts.append(c.city)
            self.header.addWidget(_label(" · ".join(facts), role="muted", wrap=True))
        else:
            row.addWidget(_label(result.key.masked() or result.key.customer_id or "—", role="name"))
            row.addStretch(1)
            self.header.addLayout(row)

    def _render_unknown_caller(self) -> None:
        frame = QtWidgets.QFrame()
        frame.setProperty("card", True)
        layout = QtWidgets.QVBoxLayout(frame)
        layout.addWidget(_label(self.tr("New or unregistered caller"), offerTitle=True))
        layout.addWidget(_label(self.tr(
            "Greet the caller, ask for their name and ID number, then search above by name or customer ID. "
            "Do not pitch offers until the customer is identified."), wrap=True))
        self.warnings.addWidget(frame)

    def _render_warnings(self, doc) -> None:
        price, complaint = doc.sensitivity.price, doc.sensitivity.complaint
        # Complaint first when the customer is complaint-sensitive: that is what the agent must handle first.
        items = [("complaint", complaint, self.tr("Complaint-sensitive")),
                 ("price", price, self.tr("Price-sensitive"))]
        items.sort(key=lambda item: -LEVEL_ORDER[item[1].level])
        for kind, sensitivity, title in items:
            if sensitivity.level == "none":
                continue
            frame = QtWidgets.QFrame()
            frame.setObjectName("WarningBox")
            frame.setProperty("warning", sensitivity.level)
            frame.setAccessibleName(title)
            layout = QtWidgets.QVBoxLayout(frame)
            layout.setContentsMargins(10, 6, 10, 6)
            layout.setSpacing(2)
            heading = f"⚠ {title} ({level_name(sensitivity.level, self.texts)})"
            layout.addWidget(_label(heading, warningTitle=True, tone=sensitivity.level))
            guidance = pick(sensitivity.guidance, self.language)
            if guidance:
                layout.addWidget(_label(guidance, wrap=True, tone=sensitivity.level))
            reasons = " · ".join(pick(r, self.language) for r in sensitivity.reasons)
            if reasons:
                layout.addWidget(_label(reasons, role="muted", wrap=True))
            if kind == "complaint":
                for complaint_item in sensitivity.recent_complaints[:3]:
                    status = self.tr("open") if complaint_item.status == "open" else self.tr("resolved")
                    layout.addWidget(_label(
                        f"• {local_date(complaint_item.opened_at)} [{status}] {pick(complaint_item.summary, self.language)}",
                        wrap=True))
            self.warnings.addWidget(frame)

    def _render_offers(self, doc) -> None:
        pitchable = [o for o in doc.offers if not o.suppressed_by]
        suppressed = [o for o in doc.offers if o.suppressed_by]
        if not pitchable:
            self.offers.addWidget(_label(self.tr("No offer to pitch on this call — see the reasons below."),
                                         role="muted", wrap=True))
        for offer in pitchable:
            self._add_card(offer)
        if suppressed:
            toggle = QtWidgets.QPushButton(
                (self.tr("Hide %1 suppressed offers") if self._show_suppressed
                 else self.tr("Show %1 suppressed offers (why not)")).replace("%1", str(len(suppressed))))
            toggle.setProperty("flat", True)
            toggle.setAccessibleName(self.tr("Suppressed offers"))
            toggle.clicked.connect(self._toggle_suppressed)
            self.offers.addWidget(toggle, 0, Qt.AlignmentFlag.AlignLeft)
            if self._show_suppressed:
                for offer in suppressed:
                    self._add_card(offer)
        valid = [o.offer_id for o in pitchable]
        if self.selected_offer_id not in valid:
            self.selected_offer_id = valid[0] if valid else None
        self._mark_selection()

    def _add_card(self, offer) -> None:
        card = OfferCard(offer, self.texts)
        card.clicked.connect(self.select_offer)
        self._cards[offer.offer_id] = card
        self.offers.addWidget(card)

    def _toggle_suppressed(self) -> None:
        self._show_suppressed = not self._show_suppressed
        if self.result is not None:
            self._build(self.result, None)

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
        c = doc.contact
        frame = QtWidgets.QFrame()
        frame.setProperty("card", True)
        frame.setAccessibleName(self.tr("Contact guidance"))
        grid = QtWidgets.QFormLayout(frame)
        grid.setContentsMargins(10, 6, 10, 6)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        grid.addRow(_label(self.tr("Contact guidance"), role="section"))
        if c.campaign is not None:
            grid.addRow(self.tr("Campaign"), _label(pick(c.campaign.name, self.language), wrap=True))
        if c.wave is not None:
            grid.addRow(self.tr("Wave"), _label(self.tr("%1 of %2 · %3").replace("%1", str(c.wave.seq))
                                                .replace("%2", str(c.wave.of))
                                                .replace("%3", pick(c.wave.channel_name, self.language))))
        if c.contacts_max is not None:
            grid.addRow(self.tr("Contacts"), _label(self.tr("%1 of %2 in %3 days").replace("%1", str(c.contacts_used))
                                                    .replace("%2", str(c.contacts_max))
                                                    .replace("%3", str(c.period_days))))
        if c.preferred_channel_name is not None:
            grid.addRow(self.tr("Prefers"), _label(pick(c.preferred_channel_name, self.language)))
        if c.dnd:
            dnd = _label(self.tr("Do not disturb — no marketing"), reason="suppressed")
        else:
            dnd = _label(self.tr("No"))
        grid.addRow(self.tr("DND"), dnd)
        if not c.eligible_now and c.next_eligible_at is not None:
            grid.addRow(self.tr("Next contact"), _label(local_date(c.next_eligible_at)))
        self.contact.addWidget(frame)

    def _render_details(self, doc) -> None:
        c = doc.customer
        frame = QtWidgets.QFrame()
        frame.setProperty("card", True)
        frame.setAccessibleName(self.tr("Customer details"))
        grid = QtWidgets.QFormLayout(frame)
        grid.setContentsMargins(10, 6, 10, 6)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        grid.addRow(_label(self.tr("Customer"), role="section"))
        u = c.usage
        if u is not None:
            grid.addRow(self.tr("Usage (%1)").replace("%1", u.month), _label(
                self.tr("Data %1 GB · Voice %2 min · SMS %3 · MMS %4").replace("%1", f"{u.data_mb / 1024:.1f}")
                .replace("%2", str(u.voice_min)).replace("%3", str(u.sms)).replace("%4", str(u.mms)), wrap=True))
            ringback = self.tr("Yes (¥%1/mo)").replace("%1", f"{u.ringback_fee:g}") if u.ringback_active else self.tr("No")
            grid.addRow(self.tr("Ringback tone"), _label(ringback))
            roaming = self.tr("%1 MB · %2 min").replace("%1", str(u.roaming_data_mb)).replace(
                "%2", str(u.roaming_voice_min)) if (u.roaming_data_mb or u.roaming_voice_min) else self.tr("None")
            grid.addRow(self.tr("Roaming"), _label(roaming))
            if u.bill is not None:
                grid.addRow(self.tr("Last bill"), _label(f"¥{u.bill:,.2f}"))
        grid.addRow(self.tr("Credit · Points"), _label(
            f"{c.credit_score if c.credit_score is not None else '—'} · {c.points:,}"))
        grid.addRow(self.tr("Churn risk"), _label(f"{round(c.churn_risk * 100)}%"))
        if c.segments:
            grid.addRow(self.tr("Segments"), _label(", ".join(c.segments), wrap=True))
        self.details.addWidget(frame)


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
    }
    text = texts_by_code.get(error.code, error.code)
    return f"{text} ({error.detail})" if getattr(error, "detail", "") else text
