"""One call's pop: header, state line, warnings, ranked offers, contact guidance, customer details.

A pure view: it renders a PopResult and reports which offer the agent selected. It never fetches.

Widgets are built once per view and updated in place: a pop is on the agent's screen within a few
milliseconds only if rendering sets texts instead of creating, polishing and laying out new widgets.
A view is reused for the next call (`PanelWidget` keeps a spare), so even a new tab creates nothing; its
labels are emptied first (`reset`), so nothing of the previous caller can be read from it.
"""

from __future__ import annotations

import datetime as dt
import re

from desktop.ui.i18n import Localized, Texts, pick
from desktop.ui.qt import Qt, QtCore, QtGui, QtWidgets, Signal

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


def _set_text(label: QtWidgets.QLabel, text: str) -> None:
    """Set a label that stays shown (a table cell): only when the text changed."""
    if label.text() != text:
        label.setText(text)


def _set_visible(widget: QtWidgets.QWidget, visible: bool) -> None:
    # setVisible() is not free even when nothing changes (it is called ~100 times per pop).
    if widget.isHidden() == visible:
        widget.setVisible(visible)


def no_entry_pixmap(colour: QtGui.QColor, size: int = 14, ratio: float = 1.0) -> QtGui.QPixmap:
    """A drawn "do not" sign (a filled circle with a bar), not the no-entry emoji U+26D4, which no font of a
    stock Debian desktop has (it renders as an empty box). `ratio`: the screen's device pixel ratio."""
    pixmap = QtGui.QPixmap(round(size * ratio), round(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawEllipse(QtCore.QRectF(0.5, 0.5, size - 1, size - 1))
    painter.setBrush(QtGui.QColor("white"))
    painter.drawRect(QtCore.QRectF(size * 0.22, size * 0.42, size * 0.56, size * 0.16))
    painter.end()
    return pixmap


_FIRST_SENTENCE = re.compile(r"^.+?(?:[。！？!?]|\.(?=\s|$))")


def first_line(text: str) -> str:
    """The script's opening line (its first sentence): what the agent says first."""
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            found = _FIRST_SENTENCE.match(line)
            return found.group(0) if found else line
    return ""


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
        why = QtWidgets.QHBoxLayout()
        why.setSpacing(4)
        self.why_icon = QtWidgets.QLabel()  # a drawn "do not" sign beside the reasons of a suppressed offer
        self.why_icon.setVisible(False)
        why.addWidget(self.why_icon, 0, Qt.AlignmentFlag.AlignTop)
        self.why = _label(role="muted", wrap=True)  # the reason to pitch, or (suppressed) why not
        why.addWidget(self.why, 1)
        layout.addLayout(why)
        # Offer #1: the script's first line, readable without a click (the agent may start with it).
        self.opening = _label(wrap=True, selectable=True, role="opening")
        self.opening.setVisible(False)
        layout.addWidget(self.opening)
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
            _show_text(self.why, "\n".join(pick(reason, language) for reason in offer.suppressed_by))
            _set_property(self.why, "role", None)
            _set_property(self.why, "reason", "suppressed")
            if self.why_icon.pixmap().isNull():
                self.why_icon.setPixmap(no_entry_pixmap(self.why.palette().color(QtGui.QPalette.ColorRole.WindowText),
                                                        ratio=self.devicePixelRatioF()))
            self.setAccessibleName(self.tr("Do not offer: %1").replace("%1", title))
        else:
            _show_text(self.why, self.tr("Why: %1").replace("%1", pick(offer.reason, language)))
            _set_property(self.why, "reason", None)
            _set_property(self.why, "role", "muted")
            self.setAccessibleName(self.tr("Offer %1: %2").replace("%1", str(offer.rank)).replace("%2", title))
        _set_visible(self.why_icon, suppressed)
        opening = first_line(pick(offer.script, language)) if offer.rank == 1 and not suppressed else ""
        _show_text(self.opening, self.tr("Say: %1").replace("%1", opening) if opening else "")
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
        _set_visible(self.opening, bool(self.opening.text()) and not visible)  # the whole script includes it
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
        self.title = _label(role="section", static=True)
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


class FlowLayout(QtWidgets.QLayout):
    """Left to right, wrapping to the next line when the panel is narrow (chips: status, balance …): a row
    of them must never make the panel wider than the agent made it."""

    def __init__(self, parent=None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QtWidgets.QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self):
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QtCore.QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QtCore.QSize:
        return self.minimumSize()

    def minimumSize(self) -> QtCore.QSize:
        size = QtCore.QSize()
        for item in self._items:
            if not item.isEmpty():
                size = size.expandedTo(item.minimumSize())
        return size

    def _arrange(self, rect, *, move: bool) -> int:
        x, y, line = rect.x(), rect.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            if x > rect.x() and x + hint.width() > rect.right() + 1:
                x, y, line = rect.x(), y + line + self._spacing, 0
            if move:
                item.setGeometry(QtCore.QRect(QtCore.QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line = max(line, hint.height())
        return y + line - rect.y()


def leading(text: str, language: str) -> str:
    """A server's name (lower case, for the middle of a sentence: "suspended for arrears") where it starts a
    chip or a line: "Suspended for arrears". Chinese is left as it is."""
    return text[:1].upper() + text[1:] if text and not language.startswith("zh") else text


def money(value: float) -> str:
    """¥129 or ¥129.50 (no empty decimals: figures an agent reads aloud)."""
    text = f"{abs(value):,.2f}"
    if text.endswith(".00"):
        text = text[:-3]
    return f"−¥{text}" if value < 0 else f"¥{text}"


_LOCALES = {"zh_CN": QtCore.QLocale(QtCore.QLocale.Language.Chinese, QtCore.QLocale.Country.China),
            "en": QtCore.QLocale(QtCore.QLocale.Language.English, QtCore.QLocale.Country.UnitedStates)}


_MONTH_NAMES: dict[tuple[str, str], str] = {}


def month_name(month: str, language: str) -> str:
    """'2026-10' -> '10月' / 'Oct' (the table's columns are three consecutive months)."""
    name = _MONTH_NAMES.get((month, language))
    if name is None:
        try:
            number = int(month[5:7])
        except ValueError:
            number = 0
        locale = _LOCALES.get(language, _LOCALES["en"])
        name = (locale.standaloneMonthName(number, QtCore.QLocale.FormatType.ShortFormat) if 1 <= number <= 12
                else month)
        if len(_MONTH_NAMES) < 512:
            _MONTH_NAMES[(month, language)] = name
    return name


class UsageTable(Localized, QtWidgets.QWidget):
    """Three months side by side (newest first): data, voice, SMS/MMS and the bill, a late or unpaid bill
    marked; roaming on a line below, only when there was any. Built once; a pop sets texts (cells are
    hidden only when the number of months changes: showing and hiding costs more than the texts)."""

    ROWS = ("data", "voice", "sms", "bill")
    COLUMNS = 3

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 2, 0, 2)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(1)
        names = {"data": self.tr("Data (GB)"), "voice": self.tr("Voice (min)"), "sms": self.tr("SMS / MMS"),
                 "bill": self.tr("Bill")}
        self.corner = _label(self.tr("Usage"), role="section", static=True)
        grid.addWidget(self.corner, 0, 0)
        self.months = [_label(role="muted", cell="head") for _ in range(self.COLUMNS)]
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for column, label in enumerate(self.months, start=1):
            label.setAlignment(right)
            grid.addWidget(label, 0, column)
        self.names: dict[str, QtWidgets.QLabel] = {}
        self.cells: dict[str, list[QtWidgets.QLabel]] = {}
        for row, key in enumerate(self.ROWS, start=1):
            self.names[key] = _label(names[key], role="muted", static=True)
            grid.addWidget(self.names[key], row, 0)
            self.cells[key] = []
            for column in range(1, self.COLUMNS + 1):
                cell = _label(tone="none")
                cell.setAlignment(right)
                grid.addWidget(cell, row, column)
                self.cells[key].append(cell)
        self.roaming = _label(role="muted", wrap=True)
        self.roaming.setVisible(False)
        grid.addWidget(self.roaming, len(self.ROWS) + 1, 0, 1, self.COLUMNS + 1)
        grid.setColumnStretch(0, 1)
        self._columns = self.COLUMNS

    def show_months(self, customer, language: str) -> bool:
        """Fill from the customer's usage months and bills; returns False when there is nothing to show."""
        usage = {u.month: u for u in customer.usage_months}
        bills = {b.month: b for b in customer.bills}
        months = sorted(set(usage) | set(sorted(bills, reverse=True)[:self.COLUMNS]), reverse=True)[:self.COLUMNS]
        if not months:
            return False
        if len(months) != self._columns:
            self._columns = len(months)
            for column in range(self.COLUMNS):
                for label in (self.months[column], *(self.cells[row][column] for row in self.ROWS)):
                    _set_visible(label, column < len(months))
        cells = self.cells
        roaming = []
        for column, month in enumerate(months):
            u = usage.get(month)
            name = month_name(month, language)
            _set_text(self.months[column], name)
            _set_text(cells["data"][column], f"{u.data_mb / 1024:.1f}" if u else "—")
            _set_text(cells["voice"][column], f"{u.voice_min:,}" if u else "—")
            _set_text(cells["sms"][column], f"{u.sms} / {u.mms}" if u else "—")
            text, tone, tip = self._bill(bills.get(month), u)
            cell = cells["bill"][column]
            _set_property(cell, "tone", tone)
            if cell.toolTip() != tip:
                cell.setToolTip(tip)
            _set_text(cell, text)
            if u is not None and (u.roaming_data_mb or u.roaming_voice_min):
                roaming.append(self._roaming(name, u))
        _show_text(self.roaming, self.tr("Roaming: %1").replace("%1", "; ".join(roaming)) if roaming else "")
        return True

    def _roaming(self, month: str, u) -> str:
        parts = []
        if u.roaming_data_mb:
            parts.append(f"{u.roaming_data_mb / 1024:.1f} GB")
        if u.roaming_voice_min:
            parts.append(self.tr("%1 min").replace("%1", str(u.roaming_voice_min)))
        return f"{month} {' · '.join(parts)}"

    def _bill(self, bill, u) -> tuple[str, str, str]:
        if bill is None:
            return (money(u.bill) if u is not None and u.bill is not None else "—"), "none", ""
        amount = money(bill.amount) if bill.amount is not None else "—"
        tip = []
        if bill.due_on is not None:
            tip.append(self.tr("due %1").replace("%1", bill.due_on.isoformat()))
        if bill.paid is not None:
            tip.append(self.tr("paid %1").replace("%1", money(bill.paid))
                       + (f" ({bill.paid_on.isoformat()})" if bill.paid_on else ""))
        if bill.late:
            return self.tr("%1 late").replace("%1", amount), "high", " · ".join(tip)
        if bill.unpaid > 0:
            return self.tr("%1 unpaid").replace("%1", amount), "low", " · ".join(tip)
        return amount, "none", " · ".join(tip)


def outbound_campaign(doc, language: str) -> str:
    """The campaign's name when `doc` is the pop of an outbound call ('' otherwise)."""
    if doc is None or doc.contact.channel != "outbound_call" or doc.contact.campaign is None:
        return ""
    return pick(doc.contact.campaign.name, language) if doc.contact.campaign.name else doc.contact.campaign.campaign_id


class CandidateCard(QtWidgets.QFrame):
    """One customer sharing the caller's number: its key, name and masked number, and what tells them
    apart (tier, city, brand, plan, relation or group). Click, Enter or its key chooses it."""

    clicked = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.customer_id = ""
        self.setProperty("candidate", True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 10, 6)
        layout.setSpacing(10)
        self.key = _label(keyHint=True)
        self.key.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.key, 0, Qt.AlignmentFlag.AlignVCenter)
        text = QtWidgets.QVBoxLayout()
        text.setSpacing(1)
        self.title = _label(offerTitle=True, wrap=True)
        self.details = _label(role="muted", wrap=True)
        text.addWidget(self.title)
        text.addWidget(self.details)
        layout.addLayout(text, 1)

    def show_candidate(self, customer_id: str, key: str, title: str, details: str, accessible: str) -> None:
        self.customer_id = customer_id
        _show_text(self.key, key)
        _show_text(self.title, title)
        _show_text(self.details, details)
        self.setAccessibleName(accessible)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self.customer_id)
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.clicked.emit(self.customer_id)
            return
        super().keyPressEvent(event)


class CallerChooser(Localized, QtWidgets.QFrame):
    """"This number belongs to several customers — who is calling?": one card (and one key) each."""

    chosen = Signal(str)

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setObjectName("Chooser")
        self.setAccessibleName(self.tr("Who is calling?"))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(6)
        self.heading = _label(self.tr("This number belongs to several customers — who is calling?"),
                              chooserTitle=True, wrap=True, static=True)
        self.hint = _label(self.tr("Ask for the caller's name, then press their key. Outcomes are recorded for "
                                   "the customer you choose; none can be recorded before."),
                           role="muted", wrap=True, static=True)
        layout.addWidget(self.heading)
        layout.addWidget(self.hint)
        self.cards_layout = QtWidgets.QVBoxLayout()
        self.cards_layout.setSpacing(6)
        layout.addLayout(self.cards_layout)
        self.cards: list[CandidateCard] = []

    def show_candidates(self, candidates, keys: list[str]) -> None:
        language = self.texts.language
        while len(self.cards) < len(candidates):
            card = CandidateCard()
            card.clicked.connect(self.chosen)
            self.cards_layout.addWidget(card)
            self.cards.append(card)
        # They share the caller's number: it tells them apart only when the server masked them differently.
        numbers = {candidate.masked_msisdn for candidate in candidates}
        for index, (card, candidate) in enumerate(zip(self.cards, candidates, strict=False)):
            key = keys[index] if index < len(keys) else ""
            title = " ".join(part for part in (
                candidate.display_name, candidate.masked_msisdn if len(numbers) > 1 else None) if part)
            # What tells them apart: the account (tier, city, brand, plan), then their place in the household
            # or group on a line of its own (主卡 · 李家 / 副卡 · 李家).
            account = " · ".join(part for part in (
                tier_name(candidate.value_tier, self.texts) if candidate.value_tier else "",
                candidate.city, candidate.brand, candidate.plan_name) if part)
            place = " · ".join(part for part in (
                relation_name(candidate.relation_kind, None, self.texts, language), candidate.group_name) if part)
            details = "\n".join(part for part in (account, place) if part)
            spoken = ", ".join(part for part in (title, account, place) if part)
            accessible = self.tr("%1 (key %2)").replace("%1", spoken).replace("%2", key) if key else spoken
            card.show_candidate(candidate.customer_id, key, title, details, accessible)
            _set_visible(card, True)
        for card in self.cards[len(candidates):]:
            _set_visible(card, False)
            card.customer_id = ""


class ChannelChooser(Localized, QtWidgets.QFrame):
    """"Is this an outbound call?" for a customer opened from search (or by a host) while outbound campaigns
    run: Enter (the first card, focused when the agent is in the panel) keeps the usual answer, an inbound
    call or a lookup; a campaign's key (or a click) makes it an outbound call for that campaign."""

    chosen = Signal(str)  # campaign id, "" for an inbound call or a lookup

    def __init__(self, texts: Texts, parent=None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setObjectName("Chooser")
        self.setAccessibleName(self.tr("Is this an outbound call?"))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(6)
        self.heading = _label(self.tr("Is this an outbound call?"), chooserTitle=True, wrap=True, static=True)
        self.hint = _label(self.tr("Enter: no, an inbound call or a lookup. Calling the customer for a campaign? "
                                   "Press its key: outcomes then count as that campaign's outbound call."),
                           role="muted", wrap=True, static=True)
        layout.addWidget(self.heading)
        layout.addWidget(self.hint)
        self.inbound = CandidateCard()
        self.inbound.clicked.connect(self.chosen)
        layout.addWidget(self.inbound)
        self.cards_layout = QtWidgets.QVBoxLayout()
        self.cards_layout.setSpacing(6)
        layout.addLayout(self.cards_layout)
        self.cards: list[CandidateCard] = []

    def show_campaigns(self, campaigns, keys: list[str]) -> None:
        language = self.texts.language
        enter = self.tr("Enter")
        title = self.tr("Inbound call or lookup")
        self.inbound.show_candidate("", "⏎", title, "", self.tr("%1 (key %2)").replace("%1", title)
                                    .replace("%2", enter))
        while len(self.cards) < len(campaigns):
            card = CandidateCard()
            card.clicked.connect(self.chosen)
            self.cards_layout.addWidget(card)
            self.cards.append(card)
        for index, (card, campaign) in enumerate(zip(self.cards, campaigns, strict=False)):
            key = keys[index] if index < len(keys) else ""
            title = self.tr("Outbound call: %1").replace("%1", pick(campaign.name, language))
            details = self.tr("Wave %1 of %2").replace("%1", str(campaign.wave)).replace("%2", str(campaign.waves))
            if campaign.calling_hours:
                details += " · " + self.tr("calling hours %1").replace("%1", ", ".join(campaign.calling_hours))
            if not campaign.open_now:
                details += " · " + self.tr("outside calling hours now")
            accessible = self.tr("%1 (key %2)").replace("%1", f"{title}, {details}").replace("%2", key) if key \
                else f"{title}, {details}"
            card.show_candidate(campaign.campaign_id, key, title, details, accessible)
            _set_visible(card, True)
        for card in self.cards[len(campaigns):]:
            _set_visible(card, False)
            card.customer_id = ""


class PopView(Localized, QtWidgets.QWidget):
    """Renders one PopResult. Emits offer_selected when the agent picks the offer an outcome is for, and
    candidate_chosen when, on a shared number, the agent says which customer is calling."""

    offer_selected = Signal(str)
    candidate_chosen = Signal(str)  # customer id
    channel_chosen = Signal(str)  # campaign id of an outbound call, "" for an inbound call or a lookup
    choose_again = Signal()
    retry_requested = Signal()  # ask the server again for a pop it could not answer

    def __init__(self, texts: Texts, parent=None, *, choice_keys: list[str] | None = None) -> None:
        self.texts = texts
        super().__init__(parent)
        self.setObjectName("PanelBody")
        self.language = texts.language
        self.choice_keys = list(choice_keys or [])
        self.result = None
        self._built = False
        self._shown_document = None
        self._now = dt.datetime.now(dt.UTC)
        self.chooser: CallerChooser | None = None  # built the first time a number is shared
        self.channel_chooser: ChannelChooser | None = None  # built the first time it asks
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

        # The header (who is calling, how sensitive) stays pinned while the rest scrolls.
        self.header = QtWidgets.QFrame()
        self.header.setObjectName("PopHeader")
        header_rows = QtWidgets.QVBoxLayout(self.header)
        header_rows.setContentsMargins(10, 8, 10, 6)
        header_rows.setSpacing(4)
        outer.addWidget(self.header)
        outer.addWidget(self.scroll)

        header = QtWidgets.QHBoxLayout()
        self.name = _label(role="name", selectable=True)
        self.name.setAccessibleName(self.tr("Customer name"))
        self.number = _label(role="number", selectable=True)
        self.tier = _label(role="tier")
        self.tier.setAccessibleName(self.tr("Value tier"))
        self.star = _label(role="star")
        self.star.setAccessibleName(self.tr("Star level"))
        header.addWidget(self.name)
        header.addWidget(self.number)
        header.addStretch(1)
        header.addWidget(self.star)
        header.addWidget(self.tier)
        header_rows.addLayout(header)
        self.sensitivity_chip = _label(chip="danger")  # the highest sensitivity, in a word
        self.sensitivity_chip.setAccessibleName(self.tr("Sensitivity"))
        self.sensitivity_chip.setVisible(False)
        header_rows.addWidget(self.sensitivity_chip, 0, Qt.AlignmentFlag.AlignLeft)
        # An outbound call (the agent calls the customer for a campaign): which one, on every pop of the call.
        self.outbound_note = _label(chip="quiet", wrap=True)
        self.outbound_note.setAccessibleName(self.tr("Outbound call"))
        self.outbound_note.setVisible(False)
        # The whole row: aligned left, a wrapped label gets its one-line size hint and a long campaign name was
        # cut through the middle of its second line.
        header_rows.addWidget(self.outbound_note)
        self.facts = _label(role="muted", wrap=True)
        self.body.addWidget(self.facts)
        self.relation = _label(role="muted", wrap=True)  # 主副卡 / 家庭 / 集团 and the account manager
        self.body.addWidget(self.relation)
        # Service status, balance or arrears, contract end: chips, coloured only when they need attention.
        self.account = QtWidgets.QWidget()
        account = FlowLayout(self.account)
        self.status_chip = _label(chip="quiet")
        self.status_chip.setAccessibleName(self.tr("Service status"))
        self.balance_chip = _label(chip="quiet")
        self.arrears_chip = _label(chip="danger")
        self.contract_chip = _label(chip="quiet")
        for chip in (self.status_chip, self.balance_chip, self.arrears_chip, self.contract_chip):
            chip.setVisible(False)
            account.addWidget(chip)
        self.body.addWidget(self.account)

        self.state_frame = QtWidgets.QFrame()
        self.state_frame.setObjectName("StateBox")
        state_layout = QtWidgets.QHBoxLayout(self.state_frame)
        state_layout.setContentsMargins(8, 4, 8, 4)
        self.state_label = _label(wrap=True)
        self.state_label.setAccessibleName(self.tr("Data status"))
        state_layout.addWidget(self.state_label, 1)
        # A pop the server could not answer (down, slow, broken): ask again now (F5), without waiting for
        # the panel to ask by itself once the server is back.
        self.retry_button = QtWidgets.QPushButton(self.tr("Try again (F5)"))
        self.retry_button.setAccessibleName(self.tr("Fetch this customer's data again"))
        self.retry_button.clicked.connect(self.retry_requested)
        self.retry_button.setVisible(False)
        state_layout.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignTop)
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
        self._chooser_index = self.body.count()  # where the chooser goes when first needed

        # On a shared number, once chosen: whom the agent chose among, and the way back to the choice.
        self.shared = QtWidgets.QWidget()
        shared = QtWidgets.QHBoxLayout(self.shared)
        shared.setContentsMargins(0, 0, 0, 0)
        self.shared_note = _label(role="muted", wrap=True)
        shared.addWidget(self.shared_note, 1)
        self.choose_again_button = QtWidgets.QPushButton(self.tr("Choose again"))
        self.choose_again_button.setProperty("flat", True)
        self.choose_again_button.setAccessibleName(self.tr("Choose another customer sharing this number"))
        self.choose_again_button.clicked.connect(self.choose_again)
        shared.addWidget(self.choose_again_button, 0, Qt.AlignmentFlag.AlignTop)
        self.shared.setVisible(False)
        self.body.addWidget(self.shared)

        # Everything drawn from a customer document, in one widget: hidden while there is none (loading,
        # unknown caller), so the next document updates hidden widgets and is shown in one go.
        self.content = QtWidgets.QWidget()
        content = QtWidgets.QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        content.setSpacing(8)
        self.body.addWidget(self.content)

        # Why they may be calling: a repeat caller (they came through again: settle that first) and the
        # customer's last contacts on every channel.
        self.repeat = _label(wrap=True, banner="repeat")
        self.repeat.setAccessibleName(self.tr("Repeat caller"))
        content.addWidget(self.repeat)
        self.recent = QtWidgets.QFrame()
        self.recent.setProperty("card", True)
        self.recent.setAccessibleName(self.tr("Recent contacts"))
        recent = QtWidgets.QVBoxLayout(self.recent)
        recent.setContentsMargins(10, 6, 10, 6)
        recent.setSpacing(2)
        self.recent_title = _label(self.tr("Recent contacts"), role="section", static=True)
        self.recent_first = _label(wrap=True)  # the latest, in full colour
        self.recent_more = _label(role="muted", wrap=True)
        for label in (self.recent_title, self.recent_first, self.recent_more):
            recent.addWidget(label)
        content.addWidget(self.recent)

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

        self.contact = FactsCard(("campaign", "wave", "member", "contacts", "customer_cap", "prefers", "dnd",
                                  "next"), wrap=("campaign", "member", "customer_cap"))
        self.contact.setAccessibleName(self.tr("Contact guidance"))
        self.contact.title.setText(self.tr("Contact guidance"))
        self.details = FactsCard(("ringback", "products", "handset", "credit", "churn", "segments"),
                                 wrap=("products", "churn", "segments"))
        self.details.setAccessibleName(self.tr("Customer details"))
        self.details.title.setText(self.tr("Customer"))
        self.usage = UsageTable(texts)
        self.details.form.insertRow(1, self.usage)
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
            if not label.property("static"):  # titles and row names say nothing about a caller
                label.setText("")
        self.result = None
        self._built = False
        self.selected_offer_id = None
        self.setProperty("call_state", None)
        self.scroll.verticalScrollBar().setValue(0)

    def _update(self, result, now: dt.datetime | None) -> None:
        self._built = True
        self._now = now or dt.datetime.now(dt.UTC)
        self._render_state(result, self._now)
        self._render_header(result)
        choosing = self.asks_for_caller()
        if result.document is not self._shown_document or result.document is None:
            self._show_document(None if choosing else result.document)
        _set_visible(self.unknown_box, result.document is None and str(result.state) == "unknown_caller")
        if not self.unknown_box.isHidden() and not self.unknown_title.text():
            self.unknown_title.setText(self.tr("New or unregistered caller"))
            self.unknown_text.setText(self.tr(
                "Greet the caller, ask for their name and ID number, then search above by name or customer ID. "
                "Do not pitch offers until the customer is identified."))
        self._render_choice(result, choosing)
        self._render_channel_choice(result)

    def show_retrying(self) -> None:
        """The retry is on its way: the button says so and cannot be pressed twice."""
        if self.result is not None and self.result.can_retry:
            self.retry_button.setEnabled(False)
            self.retry_button.setText(self.tr("Asking the server…"))

    # ------------------------------------------------------------------ shared numbers

    def asks_for_caller(self) -> bool:
        """The call's number belongs to several customers and the agent has not said who is calling."""
        return self.result is not None and str(self.result.state) == "ambiguous_caller"

    def candidate_id(self, index: int) -> str | None:
        """The customer behind choice key `index` (0-based), while the view asks who is calling."""
        candidates = self.result.candidates if self.asks_for_caller() else ()
        return candidates[index].customer_id if 0 <= index < len(candidates) else None

    # ------------------------------------------------------------------ inbound or outbound

    def asks_for_channel(self) -> bool:
        """A customer opened from search (or by a host) while outbound campaigns run: the agent has not said
        whether this is an outbound call yet."""
        return self.result is not None and bool(getattr(self.result, "channels", ()))

    def channel_id(self, index: int) -> str | None:
        """The campaign behind choice key `index` (0-based), while the view asks."""
        channels = self.result.channels if self.asks_for_channel() else ()
        return channels[index].campaign_id if 0 <= index < len(channels) else None

    def focus_channel_choice(self) -> None:
        """Enter answers "inbound or lookup" (the agent is in the panel already: no focus is taken)."""
        if self.channel_chooser is not None and self.asks_for_channel():
            self.channel_chooser.inbound.setFocus(Qt.FocusReason.OtherFocusReason)

    def _render_channel_choice(self, result) -> None:
        asking = bool(getattr(result, "channels", ()))
        if asking and self.channel_chooser is None:
            self.channel_chooser = ChannelChooser(self.texts)
            self.channel_chooser.chosen.connect(self.channel_chosen)
            self.body.insertWidget(self._chooser_index, self.channel_chooser)
        if self.channel_chooser is not None:
            if asking:
                self.channel_chooser.show_campaigns(result.channels, self.choice_keys)
            _set_visible(self.channel_chooser, asking)

    def _render_choice(self, result, choosing: bool) -> None:
        if choosing and self.chooser is None:
            self.chooser = CallerChooser(self.texts)
            self.chooser.chosen.connect(self.candidate_chosen)
            self.body.insertWidget(self._chooser_index, self.chooser)
        if self.chooser is not None:
            if choosing:
                self.chooser.show_candidates(result.candidates, self.choice_keys)
            _set_visible(self.chooser, choosing)
        chosen_among = len(result.candidates) if result.document is not None and not choosing else 0
        _show_text(self.shared_note, self.tr("Shared number: you confirmed this caller among %1 customers.")
                   .replace("%1", str(chosen_among)) if chosen_among else "")
        _set_visible(self.shared, bool(chosen_among))

    def _show_document(self, doc) -> None:
        self._shown_document = doc
        if doc is None:
            _set_visible(self.content, False)
            _show_text(self.sensitivity_chip, "")
            return
        self._render_recent(doc)
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
            "ambiguous_caller": self.tr("Shared number: %1 customers — confirm who is calling")
            .replace("%1", str(len(result.candidates))),
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
        _set_visible(self.retry_button, result.can_retry)
        if result.can_retry:
            self.retry_button.setEnabled(True)
            self.retry_button.setText(self.tr("Try again (F5)"))
        for widget in (self.state_frame, self.state_label):
            _set_property(widget, "state", state)

    def _render_header(self, result) -> None:
        doc = result.document
        campaign = outbound_campaign(doc, self.language)
        _show_text(self.outbound_note, self.tr("↗ Outbound call for %1").replace("%1", campaign) if campaign else "")
        if doc is None:
            _show_text(self.name, result.key.masked() or result.key.customer_id or "—")
            for label in (self.number, self.tier, self.star, self.facts, self.relation, self.sensitivity_chip):
                _show_text(label, "")
            _set_visible(self.account, False)
            return
        c = doc.customer
        if doc is self._shown_document and c.display_name == self.name.text():
            return  # the same document (a new state line only): the header is on screen already
        _show_text(self.name, c.display_name)
        _show_text(self.number, c.masked_msisdn)
        _show_text(self.tier, tier_name(c.value_tier, self.texts))
        _show_text(self.star, self.tr("%1-star").replace("%1", str(c.star_level))
                   if c.star_level is not None else "")
        facts = []
        if c.brand:
            facts.append(c.brand)
        if c.plan and c.plan.name:
            fee = f" · ¥{c.plan.monthly_fee:g}" if c.plan.monthly_fee is not None else ""
            facts.append(f"{c.plan.name}{fee}")
        facts.append(self.tr("1 month with us") if c.tenure_months == 1
                     else self.tr("%1 months with us").replace("%1", str(c.tenure_months)))
        if c.city:
            facts.append(c.city)
        _show_text(self.facts, " · ".join(facts))
        related = []
        if c.relation is not None:
            related.append(leading(relation_name(c.relation.kind, c.relation.kind_name, self.texts, self.language),
                                   self.language))
            if c.relation.group_name:
                related.append(c.relation.group_name)
        if c.account_manager:
            related.append(self.tr("Account manager %1").replace("%1", c.account_manager))
        _show_text(self.relation, " · ".join(part for part in related if part))
        self._render_account(c)

    def _render_account(self, c) -> None:
        if c.retired:
            status, tone = self.tr("No longer in the operator's data"), "danger"
        elif c.service_status:
            status = leading(pick(c.service_status_name, self.language), self.language) if c.service_status_name \
                else status_name(c.service_status, self.texts)
            tone = "quiet" if c.service_normal else "danger"
        else:
            status, tone = "", "quiet"
        _set_property(self.status_chip, "chip", tone)
        _show_text(self.status_chip, status)
        # Arrears say it all: a negative balance beside them would be the same debt twice.
        balance = c.balance if c.balance is not None and not (c.arrears and c.balance <= 0) else None
        _set_property(self.balance_chip, "chip", "danger" if (balance or 0) < 0 else "quiet")
        _show_text(self.balance_chip, self.tr("Balance %1").replace("%1", money(balance))
                   if balance is not None else "")
        _show_text(self.arrears_chip, self.tr("Arrears %1").replace("%1", money(c.arrears))
                   if c.arrears else "")
        contract, tone = "", "quiet"
        if c.contract_end is not None:
            days = (c.contract_end - self._now.astimezone().date()).days
            if days < 0:
                contract = self.tr("Contract ended %1").replace("%1", c.contract_end.isoformat())
            elif days <= 30:
                contract, tone = self.tr("Contract ends in %1 days").replace("%1", str(days)), "warn"
            else:
                contract = self.tr("Contract until %1").replace("%1", c.contract_end.isoformat())
        _set_property(self.contract_chip, "chip", tone)
        _show_text(self.contract_chip, contract)
        _set_visible(self.account, bool(status or c.balance is not None or c.arrears or contract))

    def _render_warnings(self, doc) -> None:
        price, complaint = doc.sensitivity.price, doc.sensitivity.complaint
        items = [("complaint", complaint, self.tr("Complaint-sensitive")),
                 ("price", price, self.tr("Price-sensitive"))]
        items.sort(key=lambda item: -LEVEL_ORDER[item[1].level])
        chips = [f"{title} · {level_name(sensitivity.level, self.texts)}" for _kind, sensitivity, title in items
                 if sensitivity.level != "none"]
        _set_property(self.sensitivity_chip, "chip", "danger" if LEVEL_ORDER[items[0][1].level] >= 2 else "warn")
        _show_text(self.sensitivity_chip, "⚠ " + " · ".join(chips) if chips else "")
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
            reasons = [pick(r, self.language) for r in sensitivity.reasons]
            reasons.append(self._source(sensitivity.source, sensitivity.model))
            box.show_warning(
                title, f"⚠ {title} ({level_name(sensitivity.level, self.texts)})", sensitivity.level,
                pick(sensitivity.guidance, self.language), " · ".join(r for r in reasons if r), complaints)

    def _source(self, source: str | None, model: str | None) -> str:
        """Where a figure comes from, quietly: the operator's own model, or CallCue's rules."""
        if source == "operator_model":
            return (self.tr("source: operator model %1").replace("%1", model) if model
                    else self.tr("source: operator model"))
        if source == "customer_feed":
            return self.tr("source: customer data")
        if source == "rules":
            return self.tr("source: rules")
        return ""

    def _render_recent(self, doc) -> None:
        contact = doc.contact
        if contact.repeat_caller:
            text = (self.tr("Repeat caller: %1 calls in 7 days — ask what is still unresolved")
                    .replace("%1", str(contact.calls_7d)) if contact.calls_7d >= 2
                    else self.tr("Repeat caller: called again within 7 days — ask what is still unresolved"))
            _show_text(self.repeat, "⟳ " + text)
        else:
            _show_text(self.repeat, "")
        lines = [self._contact_line(item) for item in contact.recent_contacts[:5]]
        _show_text(self.recent_first, lines[0] if lines else "")
        _show_text(self.recent_more, "\n".join(lines[1:]))
        _set_visible(self.recent, bool(lines))

    def _contact_line(self, item) -> str:
        """'IVR 10 min ago: bill inquiry' / 'IVR 10 分钟前：账单查询', with the result when there was one."""
        ago = self._ago(item.at)
        channel = leading(pick(item.channel_name, self.language), self.language)
        topic = pick(item.topic, self.language) if item.topic is not None else ""
        line = (self.tr("%1 %2: %3").replace("%3", topic) if topic else self.tr("%1 %2")) \
            .replace("%1", channel).replace("%2", ago)
        result = contact_result_name(item.result, self.texts) if item.result else ""
        if result:
            line = self.tr("%1 (%2)").replace("%1", line).replace("%2", result)
        if item.purpose == "marketing":
            line += " · " + self.tr("marketing")
        return line

    def _ago(self, at: dt.datetime) -> str:
        seconds = max(0, int((self._now - at).total_seconds()))
        if seconds < 60:
            return self.tr("just now")
        if seconds < 3600:
            return self.tr("%1 min ago").replace("%1", str(seconds // 60))
        if seconds < 86400:
            return self.tr("%1 h ago").replace("%1", str(seconds // 3600))
        if seconds < 7 * 86400:
            return self.tr("%1 days ago").replace("%1", str(seconds // 86400))
        return at.astimezone().strftime("%m-%d")

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

    def select_offer(self, offer_id: str, *, reveal: bool = False) -> None:
        """The offer the outcome keys answer. `reveal`: one behind "Show N more offers" is shown first and
        scrolled to (the outbound window selects its campaign's offer, wherever the pop ranks it)."""
        document = self._shown_document
        if reveal and offer_id not in self._cards and not self._show_more and document is not None \
                and any(o.offer_id == offer_id and not o.suppressed_by for o in document.offers):
            self._show_more = True
            self._render_offers(document)
        card = self._cards.get(offer_id)
        if reveal and card is not None:
            self.reveal_selected()
        if card is None or card.suppressed:
            return
        self.selected_offer_id = offer_id
        self._mark_selection()
        self.offer_selected.emit(offer_id)

    def reveal_selected(self) -> None:
        """Scroll the selected offer's card into view once the layout has placed it (the next turn of the event
        loop: a card shown just now has no geometry yet)."""
        def reveal() -> None:
            card = self._cards.get(self.selected_offer_id or "")
            if card is not None and not card.isHidden():
                self.scroll.ensureWidgetVisible(card, 0, 8)

        QtCore.QTimer.singleShot(0, self, reveal)

    def _mark_selection(self) -> None:
        for offer_id, card in self._cards.items():
            card.set_selected(offer_id == self.selected_offer_id)

    def _render_contact(self, doc) -> None:
        c, card, language = doc.contact, self.contact, self.language
        card.set_row("campaign", self.tr("Campaign"), pick(c.campaign.name, language) if c.campaign else None)
        card.set_row("wave", self.tr("Wave"), self.tr("%1 of %2 · %3").replace("%1", str(c.wave.seq))
                     .replace("%2", str(c.wave.of)).replace("%3", pick(c.wave.channel_name, language))
                     if c.wave is not None else None)
        member = c.member if c.member is not None and c.member.reason is not None else None
        card.set_row("member", self.tr("Why on the list"), pick(member.reason, language) if member else None)
        card.set_row("contacts", self.tr("Contacts"), self.tr("%1 of %2 in %3 days")
                     .replace("%1", str(c.contacts_used)).replace("%2", str(c.contacts_max))
                     .replace("%3", str(c.period_days)) if c.contacts_max is not None else None)
        cap = c.customer_cap
        if cap is not None:
            reached = cap.used >= cap.max
            text = self.tr("%1 of %2 in %3 days (all campaigns, %4)").replace("%1", str(cap.used)) \
                .replace("%2", str(cap.max)).replace("%3", str(cap.period_days)) \
                .replace("%4", pick(cap.channel_name, language))
            if reached:
                text += " — " + (self.tr("limit reached, next contact %1").replace(
                    "%1", local_date(cap.next_eligible_at)) if cap.next_eligible_at else self.tr("limit reached"))
            card.set_row("customer_cap", self.tr("Customer limit"), text, reason="suppressed" if reached else None)
        else:
            card.set_row("customer_cap", self.tr("Customer limit"), None)
        card.set_row("prefers", self.tr("Prefers"),
                     pick(c.preferred_channel_name, language) if c.preferred_channel_name is not None else None)
        card.set_row("dnd", self.tr("DND"), self.tr("Do not disturb — no marketing") if c.dnd else self.tr("No"),
                     reason="suppressed" if c.dnd else None)
        card.set_row("next", self.tr("Next contact"), local_date(c.next_eligible_at)
                     if not c.eligible_now and c.next_eligible_at is not None else None)

    def _render_details(self, doc) -> None:
        c, card = doc.customer, self.details
        has_usage = self.usage.show_months(c, self.language)
        if self.usage.isHidden() == has_usage:
            card.form.setRowVisible(self.usage, has_usage)
        u = c.usage or (c.usage_months[0] if c.usage_months else None)
        card.set_row("ringback", self.tr("Ringback tone"), (
            self.tr("Yes (¥%1/mo)").replace("%1", f"{u.ringback_fee:g}") if u.ringback_active
            else self.tr("No")) if u else None)
        held = [item.name or item.product_id for item in c.subscriptions]
        card.set_row("products", self.tr("Already has"), " · ".join(held) if held else None)
        card.set_row("handset", self.tr("Handset"), c.handset)
        card.set_row("credit", self.tr("Credit · Points"),
                     f"{c.credit_score if c.credit_score is not None else '—'} · {c.points:,}")
        churn = f"{round(c.churn_risk * 100)}%"
        reason = pick(c.scores.churn_reason, self.language) if c.scores and c.scores.churn_reason else ""
        source = self._source(c.churn_source, c.scores.model if c.scores else None)
        churn = " · ".join(part for part in (churn, reason) if part)
        card.set_row("churn", self.tr("Churn risk"), f"{churn}\n{source}" if source else churn)
        card.set_row("segments", self.tr("Segments"), ", ".join(c.segments) if c.segments else None)


def level_name(level: str, texts: Texts) -> str:
    return {"low": texts.translate("Messages", "low"), "medium": texts.translate("Messages", "medium"),
            "high": texts.translate("Messages", "high")}.get(level, level)


def status_name(status: str, texts: Texts) -> str:
    """正常 / 停机 / 欠费停机 / 销户 for a server that sent the code without its name."""
    return {"normal": texts.translate("Messages", "Active"),
            "suspended": texts.translate("Messages", "Suspended"),
            "arrears_suspended": texts.translate("Messages", "Suspended for arrears"),
            "closed": texts.translate("Messages", "Closed")}.get(status, status)


def relation_name(kind: str | None, kind_name, texts: Texts, language: str) -> str:
    """主卡 / 副卡 / 家庭成员 / 集团成员: the server's name when it sent one."""
    if kind_name is not None:
        return pick(kind_name, language)
    return {"primary_card": texts.translate("Messages", "Primary card"),
            "secondary_card": texts.translate("Messages", "Secondary card"),
            "family_member": texts.translate("Messages", "Family member"),
            "group_member": texts.translate("Messages", "Group member")}.get(kind or "", "")


def contact_result_name(result: str, texts: Texts) -> str:
    """What came of a past contact, in words; '' for a result this panel has no name for (never a code)."""
    return {
        "accepted": texts.translate("Messages", "accepted"),
        "declined": texts.translate("Messages", "declined"),
        "considering": texts.translate("Messages", "considering"),
        "callback": texts.translate("Messages", "callback agreed"),
        "not_offered": texts.translate("Messages", "not offered"),
        "do_not_disturb": texts.translate("Messages", "asked not to be disturbed"),
        "connected": texts.translate("Messages", "reached"),
        "no_answer": texts.translate("Messages", "no answer"),
        "busy": texts.translate("Messages", "busy"),
        "voicemail": texts.translate("Messages", "voicemail"),
        "refused_call": texts.translate("Messages", "refused the call"),
        "resolved": texts.translate("Messages", "resolved"),
        "unresolved": texts.translate("Messages", "unresolved"),
        "transferred": texts.translate("Messages", "transferred to an agent"),
        "abandoned": texts.translate("Messages", "hung up"),
        "delivered": texts.translate("Messages", "delivered"),
        "clicked": texts.translate("Messages", "opened"),
    }.get(result, "")


def tier_name(tier: str, texts: Texts) -> str:
    return {"standard": texts.translate("Messages", "Standard"), "silver": texts.translate("Messages", "Silver"),
            "gold": texts.translate("Messages", "Gold"),
            "diamond": texts.translate("Messages", "Diamond")}.get(tier, tier)


# Errors whose detail is the network library's own English text (a file path or a setting stays: IT needs it).
_TRANSPORT_CODES = frozenset({"server_unreachable", "timeout", "server_error", "bad_response", "answer_too_large",
                              "rate_limited", "tls_failed"})


def describe_error(error, texts: Texts) -> str:
    """Plain words for a UserError code: what happened and what to do."""
    texts_by_code = {
        "server_unreachable": texts.translate("Messages", "Cannot reach the analytics server. Check the network; "
                                              "outcomes are kept on this PC and sent later."),
        "timeout": texts.translate("Messages", "The analytics server is too slow to answer. Outcomes are kept and sent later."),
        "server_error": texts.translate("Messages", "The analytics server had an internal error. Try again; tell IT if it repeats."),
        "bad_response": texts.translate("Messages", "The analytics server sent data this panel cannot read. Tell IT."),
        "answer_too_large": texts.translate("Messages", "The analytics server's answer was too large and was "
                                            "refused. Outcomes are kept and sent later; tell IT."),
        "rate_limited": texts.translate("Messages", "The analytics server asks to wait: you opened many customers "
                                        "in a short time. Try again in a minute; outcomes are kept."),
        "auth_failed": texts.translate("Messages", "Your sign-in has expired or was revoked. Sign in again; nothing is lost."),
        "server_url_invalid": texts.translate("Messages", "The server URL must start with http:// or https://, "
                                              "e.g. https://analytics.example.com."),
        "agent_id_invalid": texts.translate("Messages", "Enter your agent ID (1 to 64 characters)."),
        "token_missing": texts.translate("Messages", "Paste the token your team lead gave you."),
        "token_other_agent": texts.translate("Messages", "This token belongs to another agent ID. Check the agent "
                                             "ID, or ask your team lead for your own token."),
        "token_refused": texts.translate("Messages", "The server did not accept this token. Check that it is "
                                         "complete and meant for this agent ID and server, or ask your team lead "
                                         "for a new one."),
        "unknown_caller": texts.translate("Messages", "No customer has this number. Search by name or customer ID."),
        "ambiguous_caller": texts.translate("Messages", "Several customers share this number: ask who is calling "
                                            "and choose before recording an outcome."),
        "disk_full": texts.translate("Messages", "The disk is full: outcomes cannot be saved. Free space or call IT now."),
        "read_only": texts.translate("Messages", "The data folder is read-only: outcomes cannot be saved. Call IT."),
        "store_corrupt": texts.translate("Messages", "The local data file is damaged: outcomes may not be saved. "
                                         "Restart CallCue: it sets the file aside, starts a new one and says how "
                                         "to rescue what it holds."),
        "config_invalid": texts.translate("Messages", "The configuration file is invalid."),
        "invalid_input": texts.translate("Messages", "That input is not valid."),
        "tls_failed": texts.translate("Messages", "The server's security certificate is not trusted. "
                                      "Ask IT for the right CA bundle; outcomes are kept and sent later."),
        "store_failed": texts.translate("Messages", "The local data file cannot be used right now. Tell IT."),
        "keyring_unavailable": texts.translate("Messages", "This computer has no password store to keep your "
                                               "sign-in. Tell IT."),
        "lease_ended": texts.translate("Messages", "This customer is no longer held for you (the result was "
                                       "recorded, the customer was skipped, or the hold expired). Take the next "
                                       "customer."),
        "dial_failed": texts.translate("Messages", "The call could not be placed through the softphone. Dial "
                                       "by hand, then record the call result."),
        "outbound_not_running": texts.translate("Messages", "That campaign has no outbound calls running for you "
                                                "now. Close the tab and open the customer again as an inbound "
                                                "call or a lookup."),
        "not_in_campaign": texts.translate("Messages", "This customer is not on that campaign's list. Close the tab "
                                           "and open them again as an inbound call or a lookup."),
        "outbound_refused": texts.translate("Messages", "The analytics server refused this outbound request. "
                                            "Take the next customer."),
    }
    text = texts_by_code.get(error.code, error.code)
    detail = getattr(error, "detail", "") or ""
    if detail and error.code in _TRANSPORT_CODES and texts.language != "en" \
            and any("a" <= ch.lower() <= "z" for ch in detail):
        detail = ""  # the transport's own English words ("cannot connect to …"): in the log for IT, not here
    return f"{text} ({detail})" if detail else text
