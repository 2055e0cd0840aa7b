"""The statistics window for team leads (and agents, who see their own figures only).

Imported only when the window is opened (from the tray), so QtCharts costs nothing at panel start-up. All
queries run on the TaskRunner's "db" pool through StatsService; this module only shows the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCharts  # PySide6-Addons; only this lazily imported module uses it

from desktop.domain.errors import UserFacingError
from desktop.domain.stats import (
    Breakdown,
    InvalidStatsRequest,
    StatsFilters,
    StatsForbidden,
    StatsReport,
    Viewer,
    report_to_csv,
)
from desktop.runtime.tasks import TaskRunner
from desktop.ui.qt import QCoreApplication, Qt, QtCore, QtGui, QtWidgets, Signal

RESULT_COLORS = {
    "accepted": "#2e9d5b", "declined": "#d64545", "considering": "#e0a526", "callback": "#3b7dd8",
    "not_offered": "#9aa3ad", "do_not_disturb": "#6b4fbb",
}
MAX_OFFER_BARS = 10


def result_names() -> dict[str, str]:
    return {
        "accepted": QCoreApplication.translate("StatsWindow", "Accepted"),
        "declined": QCoreApplication.translate("StatsWindow", "Declined"),
        "considering": QCoreApplication.translate("StatsWindow", "Considering"),
        "callback": QCoreApplication.translate("StatsWindow", "Callback"),
        "not_offered": QCoreApplication.translate("StatsWindow", "Not offered"),
        "do_not_disturb": QCoreApplication.translate("StatsWindow", "Do not disturb"),
    }


def reason_names() -> dict[str, str]:
    return {
        "price_sensitive": QCoreApplication.translate("StatsWindow", "Price-sensitive customer"),
        "complaint_sensitive": QCoreApplication.translate("StatsWindow", "Complaint-sensitive customer"),
        "not_eligible": QCoreApplication.translate("StatsWindow", "Not eligible"),
        "dnd": QCoreApplication.translate("StatsWindow", "Do not disturb"),
        "recent_refusal": QCoreApplication.translate("StatsWindow", "Refused recently"),
        "contact_cap": QCoreApplication.translate("StatsWindow", "Contact limit reached"),
        "wave_channel": QCoreApplication.translate("StatsWindow", "Wave is for another channel"),
        "no_wave": QCoreApplication.translate("StatsWindow", "No active wave"),
    }


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def save_png(widget: QtWidgets.QWidget, path: Path) -> bool:
    """Write what `widget` shows as a PNG; False when the file cannot be written."""
    return widget.grab().save(str(path), "PNG")


class KpiCard(QtWidgets.QFrame):
    def __init__(self, caption: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("kpiCard")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(0)
        self.value = QtWidgets.QLabel("—")
        font = self.value.font()
        font.setPixelSize(22)
        font.setBold(True)
        self.value.setFont(font)
        self.caption = QtWidgets.QLabel(caption)
        self.caption.setProperty("role", "muted")
        self.detail = QtWidgets.QLabel("")
        self.detail.setProperty("role", "muted")
        for label in (self.caption, self.value, self.detail):
            layout.addWidget(label)

    def set(self, value: str, detail: str = "", warn: bool = False) -> None:
        self.value.setText(value)
        self.value.setStyleSheet("color: #c0392b;" if warn else "")
        self.detail.setText(detail)


class StatsWindow(QtWidgets.QWidget):
    """Filters, key figures, three charts and the detail tables. `report_shown` fires after each report is on
    screen (tests and the benchmark wait for it). `service` is a desktop.services.stats.StatsService (passed
    in: the UI layer does not import services that reach the store)."""

    report_shown = Signal(object)
    failed = Signal(str)

    def __init__(self, service, runner: TaskRunner, viewer: Viewer, *,
                 describe: Callable[[UserFacingError], str] | None = None, language: str = "en",
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.language = language  # offers and campaigns are shown by name in this language
        self.service = service
        self.runner = runner
        self.viewer = viewer
        self._describe = describe
        self.report: StatsReport | None = None
        self._task: int | None = None
        self._again = False
        self.setObjectName("statsWindow")
        self.setWindowTitle(self.tr("CallCue statistics"))
        self.resize(1240, 800)
        self._debounce = QtCore.QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self._build()
        self._apply_viewer()
        self._preset(7)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        root = QtWidgets.QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 10)
        root.setSpacing(8)

        title_row = QtWidgets.QHBoxLayout()
        title = QtWidgets.QLabel(self.tr("Statistics"))
        font = title.font()
        font.setPixelSize(20)
        font.setBold(True)
        title.setFont(font)
        self.scope_label = QtWidgets.QLabel()
        self.scope_label.setProperty("role", "muted")
        title_row.addWidget(title)
        title_row.addSpacing(12)
        title_row.addWidget(self.scope_label, 1)
        root.addLayout(title_row)

        bar = QtWidgets.QHBoxLayout()
        bar.setSpacing(6)
        self.date_from = QtWidgets.QDateEdit(calendarPopup=True)
        self.date_to = QtWidgets.QDateEdit(calendarPopup=True)
        for edit in (self.date_from, self.date_to):
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.dateChanged.connect(lambda _d: self._debounce.start())
        bar.addWidget(QtWidgets.QLabel(self.tr("From")))
        bar.addWidget(self.date_from)
        bar.addWidget(QtWidgets.QLabel(self.tr("to")))
        bar.addWidget(self.date_to)
        self.preset_buttons = []
        for days, text in ((1, self.tr("Today")), (7, self.tr("7 days")), (30, self.tr("30 days"))):
            button = QtWidgets.QToolButton()
            button.setText(text)
            button.clicked.connect(lambda _c=False, d=days: self._preset(d))
            bar.addWidget(button)
            self.preset_buttons.append(button)
        bar.addSpacing(10)
        self.agent_label = QtWidgets.QLabel(self.tr("Agent"))
        self.agent_box = QtWidgets.QComboBox()
        self.campaign_box = QtWidgets.QComboBox()
        self.wave_box = QtWidgets.QComboBox()
        for box in (self.agent_box, self.campaign_box, self.wave_box):
            box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
            box.activated.connect(lambda _i: self._debounce.start())
        self.agent_box.addItem(self.tr("All agents"), None)
        self.campaign_box.addItem(self.tr("All campaigns"), None)
        self.wave_box.addItem(self.tr("All waves"), None)
        bar.addWidget(self.agent_label)
        bar.addWidget(self.agent_box)
        bar.addWidget(QtWidgets.QLabel(self.tr("Campaign")))
        bar.addWidget(self.campaign_box)
        bar.addWidget(QtWidgets.QLabel(self.tr("Wave")))
        bar.addWidget(self.wave_box)
        bar.addStretch(1)
        self.refresh_button = QtWidgets.QPushButton(self.tr("Refresh"))
        self.refresh_button.clicked.connect(self.refresh)
        self.csv_button = QtWidgets.QPushButton(self.tr("Export CSV…"))
        self.csv_button.clicked.connect(self._ask_csv)
        self.png_button = QtWidgets.QPushButton(self.tr("Export PNG…"))
        self.png_button.clicked.connect(self._ask_png)
        for button in (self.refresh_button, self.csv_button, self.png_button):
            bar.addWidget(button)
        root.addLayout(bar)

        self.notice = QtWidgets.QLabel()
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        root.addWidget(self.notice)

        # What the PNG export shows: key figures and charts.
        self.board = QtWidgets.QWidget()
        board = QtWidgets.QVBoxLayout(self.board)
        board.setContentsMargins(0, 0, 0, 0)
        kpis = QtWidgets.QHBoxLayout()
        kpis.setSpacing(8)
        self.kpi_pops = KpiCard(self.tr("Pops"))
        self.kpi_outcomes = KpiCard(self.tr("Outcomes"))
        self.kpi_rate = KpiCard(self.tr("Acceptance rate"))
        self.kpi_time = KpiCard(self.tr("Pop to outcome (median)"))
        self.kpi_callbacks = KpiCard(self.tr("Callbacks due"))
        self.kpi_sync = KpiCard(self.tr("Waiting to sync"))
        for card in (self.kpi_pops, self.kpi_outcomes, self.kpi_rate, self.kpi_time, self.kpi_callbacks,
                     self.kpi_sync):
            kpis.addWidget(card, 1)
        board.addLayout(kpis)

        self.pages = QtWidgets.QStackedWidget()
        self.charts = QtWidgets.QWidget()
        charts = QtWidgets.QHBoxLayout(self.charts)
        charts.setContentsMargins(0, 0, 0, 0)
        self.offer_chart = self._chart_view(self.tr("Acceptance by offer"))
        self.trend_chart = self._chart_view(self.tr("Daily trend"))
        self.mix_chart = self._chart_view(self.tr("Results mix by day"))
        charts.addWidget(self.offer_chart, 5)
        charts.addWidget(self.trend_chart, 5)
        charts.addWidget(self.mix_chart, 5)
        self.pages.addWidget(self.charts)

        self.empty = QtWidgets.QWidget()
        empty = QtWidgets.QVBoxLayout(self.empty)
        empty.addStretch(1)
        self.empty_title = QtWidgets.QLabel(self.tr("No outcomes in this range"))
        font = self.empty_title.font()
        font.setPixelSize(18)
        font.setBold(True)
        self.empty_title.setFont(font)
        self.empty_hint = QtWidgets.QLabel()
        self.empty_hint.setProperty("role", "muted")
        self.empty_hint.setWordWrap(True)
        for label in (self.empty_title, self.empty_hint):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            empty.addWidget(label)
        empty.addStretch(1)
        self.pages.addWidget(self.empty)
        board.addWidget(self.pages, 1)

        self.tables = QtWidgets.QTabWidget()
        self.table_offer = self._table()
        self.table_campaign = self._table()
        self.table_wave = self._table()
        self.table_day = self._table()
        self.table_hour = self._table()
        self.table_agent = self._table()
        self.table_suppressed = self._table()
        self.table_attention = self._table()
        self.tables.addTab(self.table_offer, self.tr("By offer"))
        self.tables.addTab(self.table_campaign, self.tr("By campaign"))
        self.tables.addTab(self.table_wave, self.tr("By wave"))
        self.tables.addTab(self.table_day, self.tr("By day"))
        self.tables.addTab(self.table_hour, self.tr("By hour"))
        self.agent_tab = self.tables.addTab(self.table_agent, self.tr("By agent"))
        self.tables.addTab(self.table_suppressed, self.tr("Suppressed offers"))
        self.attention_tab = self.tables.addTab(self.table_attention, self.tr("Needs attention"))

        self.tables.currentChanged.connect(self._fill_table)

        split = QtWidgets.QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.board)
        split.addWidget(self.tables)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        root.addWidget(split, 1)

    def _chart_view(self, title: str) -> QtCharts.QChartView:
        chart = QtCharts.QChart()
        chart.setTitle(title)
        chart.setAnimationOptions(QtCharts.QChart.AnimationOption.NoAnimation)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setMargins(QtCore.QMargins(4, 4, 4, 4))
        font = chart.titleFont()
        font.setBold(True)
        font.setPixelSize(14)
        chart.setTitleFont(font)
        view = QtCharts.QChartView(chart)
        view.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        view.setMinimumSize(260, 240)
        return view

    def _table(self) -> QtWidgets.QTableWidget:
        table = QtWidgets.QTableWidget()
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        table.setAlternatingRowColors(True)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    # ------------------------------------------------------------------ viewer and filters

    def set_viewer(self, viewer: Viewer) -> None:
        """Who is looking changed (e.g. the server confirmed a lead role): show their scope and refresh."""
        if viewer == self.viewer:
            return
        self.viewer = viewer
        self._apply_viewer()
        self.refresh()

    def _apply_viewer(self) -> None:
        lead = self.viewer.is_lead
        for widget in (self.agent_label, self.agent_box):
            widget.setVisible(lead)
        self.tables.setTabVisible(self.agent_tab, lead)
        if lead:
            self.scope_label.setText(self.tr("Team lead: every agent on this workstation · %1")
                                     .replace("%1", self.service_zone()))
        else:
            self.scope_label.setText(self.tr("Your own figures (%1) · %2")
                                     .replace("%1", self.viewer.agent_id or "—").replace("%2", self.service_zone()))

    def service_zone(self) -> str:
        return getattr(self.service.zone, "key", None) or str(self.service.zone)

    def _preset(self, days: int) -> None:
        today = self.service.today()
        for edit, day in ((self.date_from, today - dt.timedelta(days=days - 1)), (self.date_to, today)):
            edit.blockSignals(True)
            edit.setDate(QtCore.QDate(day.year, day.month, day.day))
            edit.blockSignals(False)
        self._debounce.stop()
        self.refresh()

    def filters(self) -> StatsFilters:
        def day(edit: QtWidgets.QDateEdit) -> dt.date:
            d = edit.date()
            return dt.date(d.year(), d.month(), d.day())

        return StatsFilters(day(self.date_from), day(self.date_to),
                            agent_id=self.agent_box.currentData() if self.viewer.is_lead else None,
                            campaign_id=self.campaign_box.currentData(), wave=self.wave_box.currentData())

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> None:
        """Ask for a new report (on the db pool); a refresh asked while one runs follows it."""
        self._debounce.stop()
        try:
            filters = self.filters()
        except InvalidStatsRequest:
            self._show_notice(self.tr("The start date is after the end date: pick a start on or before the end."),
                              error=True)
            return
        if self._task is not None:
            self._again = True
            return
        self._again = False
        self.refresh_button.setEnabled(False)
        self._task = self.runner.submit("reports", self.service.report, filters, self.viewer, on_done=self._done,
                                        on_error=self._failed, owner=self, name="stats_report")

    def _finished(self) -> bool:
        self._task = None
        self.refresh_button.setEnabled(True)
        if self._again:
            self.refresh()
            return True
        return False

    def _failed(self, exc: BaseException) -> None:
        if self._finished():
            return
        if isinstance(exc, InvalidStatsRequest | StatsForbidden):
            detail = str(exc)  # already plain words, in both languages
        elif isinstance(exc, UserFacingError):
            detail = self._describe(exc) if self._describe else str(exc)
        else:
            detail = type(exc).__name__
        text = self.tr("The statistics could not be read: %1").replace("%1", detail)
        self._show_notice(text, error=True)
        self.failed.emit(text)

    def _done(self, report: StatsReport) -> None:
        if self._finished():
            return
        self.show_report(report)

    def _show_notice(self, text: str, error: bool = False) -> None:
        self.notice.setText(text)
        self.notice.setStyleSheet("color: #c0392b;" if error else "")
        self.notice.setVisible(bool(text))

    # ------------------------------------------------------------------ showing a report

    def show_report(self, report: StatsReport) -> None:
        self.report = report
        if not self.viewer.confirmed and not self.viewer.is_lead:
            self._show_notice(self.tr("Showing your own figures. Team leads: sign in with a lead token to see "
                                      "every agent."))
        else:
            self._show_notice("")
        self._update_choices(report)
        self._update_kpis(report)
        if report.empty:
            f = report.filters
            self.empty_hint.setText(
                self.tr("Nothing was recorded on this workstation from %1 to %2 for this selection. "
                        "Pick a wider date range, or another agent, campaign or wave.")
                .replace("%1", f.date_from.isoformat()).replace("%2", f.date_to.isoformat()))
            self.pages.setCurrentWidget(self.empty)
        else:
            self.pages.setCurrentWidget(self.charts)
            self._update_charts(report)
        self._update_tables(report)
        self.report_shown.emit(report)

    def _update_choices(self, report: StatsReport) -> None:
        def fill(box: QtWidgets.QComboBox, items: list[tuple[str, object]]) -> None:
            current = box.currentData()
            box.blockSignals(True)
            while box.count() > 1:
                box.removeItem(1)
            for text, data in items:
                box.addItem(text, data)
            index = box.findData(current) if current is not None else 0
            if index < 0:  # keep a chosen value even if the new range has none of it
                box.addItem(str(current), current)
                index = box.count() - 1
            box.setCurrentIndex(index)
            box.blockSignals(False)

        fill(self.agent_box, [(a, a) for a in report.agents])
        fill(self.campaign_box, [(report.name("campaign", c, self.language), c)
                                 for c in dict.fromkeys(c for c, _w in report.campaigns)])
        campaign = self.campaign_box.currentData()
        waves = sorted({w for c, w in report.campaigns if w is not None and campaign in (None, c)})
        fill(self.wave_box, [(self.tr("Wave %1").replace("%1", str(w)), w) for w in waves])

    def _update_kpis(self, report: StatsReport) -> None:
        t = report.totals
        self.kpi_pops.set(f"{report.pops:,}", self.tr("%1 offers presented").replace("%1", f"{report.offers_presented:,}"))
        self.kpi_outcomes.set(f"{t.outcomes:,}", self.tr("%1 accepted").replace("%1", f"{t.accepted:,}"))
        self.kpi_rate.set(percent(t.rate), self.tr("of %1 offers answered").replace("%1", f"{t.answered:,}"))
        p = report.pop_to_outcome
        self.kpi_time.set(duration(p.median_s), self.tr("p90 %1 · mean %2").replace("%1", duration(p.p90_s))
                          .replace("%2", duration(p.mean_s)))
        c = report.callbacks
        self.kpi_callbacks.set(f"{c.due:,}", self.tr("%1 missed · %2 kept · %3 open").replace("%1", f"{c.missed:,}")
                               .replace("%2", f"{c.kept:,}").replace("%3", f"{c.open:,}"), warn=c.missed > 0)
        b = report.backlog
        oldest = b.oldest_pending.astimezone(self.service.zone).strftime("%m-%d %H:%M") if b.oldest_pending else "—"
        self.kpi_sync.set(f"{b.pending:,}", self.tr("%1 need attention · oldest %2")
                          .replace("%1", f"{b.needs_attention:,}").replace("%2", oldest), warn=b.needs_attention > 0)

    # ------------------------------------------------------------------ charts

    @staticmethod
    def _reset(view: QtCharts.QChartView) -> QtCharts.QChart:
        chart = view.chart()
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
            axis.deleteLater()
        return chart

    def _update_charts(self, report: StatsReport) -> None:
        names = result_names()
        # Acceptance by offer: the offers answered most, as horizontal bars (offer ids can be long).
        chart = self._reset(self.offer_chart)
        offers = sorted((b for b in report.by_offer if b.answered), key=lambda b: (-b.answered, b.key))
        offers = list(reversed(offers[:MAX_OFFER_BARS]))  # Qt draws the first category at the bottom
        bars = QtCharts.QBarSet(self.tr("Acceptance %"))
        bars.setColor(QtGui.QColor(RESULT_COLORS["accepted"]))
        for b in offers:
            bars.append(round((b.rate or 0) * 100, 1))
        series = QtCharts.QHorizontalBarSeries()
        series.append(bars)
        series.setLabelsVisible(True)
        series.setLabelsFormat("@value%")
        series.setLabelsPosition(QtCharts.QAbstractBarSeries.LabelsPosition.LabelsInsideEnd)
        chart.addSeries(series)
        categories = QtCharts.QBarCategoryAxis()
        categories.append([report.name("offer", b.key, self.language) for b in offers] or ["—"])
        small = categories.labelsFont()
        small.setPixelSize(11)
        categories.setLabelsFont(small)
        values = QtCharts.QValueAxis()
        # Rates sit close together: an axis up to just above the best one shows the differences.
        best = max((b.rate or 0 for b in offers), default=0) * 100
        values.setRange(0, min(100, (int(best) // 10 + 2) * 10))
        values.setLabelFormat("%d%%")
        values.applyNiceNumbers()
        chart.addAxis(categories, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(values, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(categories)
        series.attachAxis(values)
        chart.legend().setVisible(False)

        # Daily trend: outcomes (left axis) and acceptance rate (right axis).
        chart = self._reset(self.trend_chart)
        outcomes = QtCharts.QLineSeries()
        outcomes.setName(self.tr("Outcomes"))
        rate = QtCharts.QLineSeries()
        rate.setName(self.tr("Acceptance %"))
        rate.setColor(QtGui.QColor(RESULT_COLORS["accepted"]))
        outcomes.setColor(QtGui.QColor(RESULT_COLORS["callback"]))
        top = 0
        def at(day: dt.date, hour: int, minute: int = 0) -> QtCore.QDateTime:
            # The axis formats in this process's time zone: place each day at its noon there.
            return QtCore.QDateTime(QtCore.QDate(day.year, day.month, day.day), QtCore.QTime(hour, minute))

        for day in report.daily:
            x_ms = at(day.day, 12).toMSecsSinceEpoch()
            outcomes.append(x_ms, day.outcomes.outcomes)
            top = max(top, day.outcomes.outcomes)
            if day.outcomes.rate is not None:
                rate.append(x_ms, round(day.outcomes.rate * 100, 1))
        for s in (outcomes, rate):
            s.setPointsVisible(len(report.daily) <= 31)
            chart.addSeries(s)
        x = QtCharts.QDateTimeAxis()
        x.setFormat("MM-dd")
        x.setRange(at(report.daily[0].day, 0), at(report.daily[-1].day, 23, 59))
        x.setTickCount(min(7, len(report.daily) + 1))
        left = QtCharts.QValueAxis()
        left.setRange(0, max(1, top * 1.1))
        left.setLabelFormat("%d")
        left.applyNiceNumbers()
        right = QtCharts.QValueAxis()
        right.setRange(0, 100)
        right.setLabelFormat("%d%%")
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(left, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(right, Qt.AlignmentFlag.AlignRight)
        outcomes.attachAxis(x)
        outcomes.attachAxis(left)
        rate.attachAxis(x)
        rate.attachAxis(right)
        chart.legend().setVisible(True)

        # Results mix: shares of each result (100 % stacked), one bar per day, per week from 15 days on (so
        # bars and labels stay readable; a short last week is still comparable as shares).
        chart = self._reset(self.mix_chart)
        buckets: list[tuple[str, dict[str, int]]] = []
        weekly = len(report.daily) > 14
        monthly = len(report.daily) > 92  # a bar per week would be a few pixels wide
        chart.setTitle(self.tr("Results mix by month") if monthly else
                       self.tr("Results mix by week") if weekly else self.tr("Results mix by day"))
        for i, day in enumerate(report.daily):
            if monthly:
                if i == 0 or day.day.day == 1:
                    buckets.append((f"{day.day.year % 100:02d}/{day.day.month}", {}))
            elif not weekly or i % 7 == 0:
                buckets.append((f"{day.day.month}/{day.day.day}", {}))
            counts_of = buckets[-1][1]
            for result, n in day.outcomes.by_result.items():
                counts_of[result] = counts_of.get(result, 0) + n
        stacked = QtCharts.QPercentBarSeries()
        for result, color in RESULT_COLORS.items():
            if not report.totals.by_result.get(result):
                continue
            bar = QtCharts.QBarSet(names[result])
            bar.setColor(QtGui.QColor(color))
            bar.setBorderColor(QtGui.QColor(color))
            for _label, counts_of in buckets:
                bar.append(counts_of.get(result, 0))
            stacked.append(bar)
        stacked.setBarWidth(0.8)
        chart.addSeries(stacked)
        days = QtCharts.QBarCategoryAxis()
        # About eight visible labels; the others are distinct invisible strings (categories must be unique).
        step = max(1, -(-len(buckets) // 8))
        days.append([label if i % step == 0 else "\u200b" * (i + 1) for i, (label, _c) in enumerate(buckets)])
        # QtCharts elides category labels wider than a bar to "…": the days are those of the trend chart, in
        # the same order, and hovering a bar names its day.
        days.setLabelsVisible(len(buckets) <= 8)
        small = days.labelsFont()
        small.setPixelSize(9)
        days.setLabelsFont(small)
        labels = [label for label, _c in buckets]
        stacked.hovered.connect(lambda on, index, bar_set, labels=labels: self._bar_hovered(on, index, bar_set, labels))
        counts = QtCharts.QValueAxis()
        counts.setRange(0, 100)
        counts.setLabelFormat("%d%%")
        chart.addAxis(days, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(counts, Qt.AlignmentFlag.AlignLeft)
        stacked.attachAxis(days)
        stacked.attachAxis(counts)
        chart.legend().setVisible(True)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignRight)
        legend_font = chart.legend().font()
        legend_font.setPixelSize(11)
        chart.legend().setFont(legend_font)

    def _bar_hovered(self, on: bool, index: int, bar_set, labels: list[str]) -> None:
        if on and 0 <= index < len(labels):
            QtWidgets.QToolTip.showText(QtGui.QCursor.pos(), f"{labels[index]} · {bar_set.label()}: "
                                                              f"{int(bar_set.at(index))}")
        else:
            QtWidgets.QToolTip.hideText()

    # ------------------------------------------------------------------ tables

    def _fill(self, table: QtWidgets.QTableWidget, headers: list[str], rows: list[list[object]]) -> None:
        table.setSortingEnabled(False)
        table.clear()
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QtWidgets.QTableWidgetItem()
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    item.setData(Qt.ItemDataRole.DisplayRole, value)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                else:
                    item.setText("—" if value is None else str(value))
                table.setItem(r, c, item)
        table.setSortingEnabled(True)
        table.resizeColumnsToContents()

    def _breakdown_rows(self, rows: tuple[Breakdown, ...] | list[Breakdown], key_name: str,
                        extra: Callable[[Breakdown], list[object]] | None = None,
                        extra_headers: list[str] | None = None, label: Callable[[str], str] = str):
        names = result_names()
        headers = [key_name, self.tr("Outcomes"), *names.values(), self.tr("Acceptance rate"),
                   *(extra_headers or [])]
        body = [[label(b.key), b.outcomes, *(b.by_result.get(r, 0) for r in names), percent(b.rate),
                 *(extra(b) if extra else [])] for b in rows]
        return headers, body

    def _update_tables(self, report: StatsReport) -> None:
        """Fill the table on screen now; the others when their tab is opened (filling all costs a refresh
        tens of milliseconds with a year of days)."""
        self._stale_tables = set(range(self.tables.count()))
        self._fill_table(self.tables.currentIndex())
        attention = report.backlog.needs_attention
        self.tables.setTabText(self.attention_tab, self.tr("Needs attention (%1)").replace("%1", str(attention)))

    def _fill_table(self, index: int) -> None:
        report = self.report
        if report is None or index not in getattr(self, "_stale_tables", ()):
            return
        self._stale_tables.discard(index)
        table = self.tables.widget(index)
        if table is self.table_offer:
            self._fill(table, *self._breakdown_rows(report.by_offer, self.tr("Offer"),
                                                    label=lambda key: report.name("offer", key, self.language)))
        elif table is self.table_campaign:
            self._fill(table, *self._breakdown_rows(report.by_campaign, self.tr("Campaign"),
                                                    label=lambda key: report.name("campaign", key, self.language)))
        elif table is self.table_wave:
            def wave_label(key: str) -> str:  # "CMP-1 · 2" -> "冬季挽留 · 2"
                campaign, _, wave = key.rpartition(" · ")
                return f"{report.name('campaign', campaign, self.language)} · {wave}" if campaign else key

            self._fill(table, *self._breakdown_rows(report.by_wave, self.tr("Campaign · wave"), label=wave_label))
        elif table is self.table_day:
            per_day = {d.day.isoformat(): d for d in report.daily}
            self._fill(table, *self._breakdown_rows(
                [d.outcomes for d in report.daily], self.tr("Day"),
                extra=lambda b: [per_day[b.key].pops, per_day[b.key].offers_presented],
                extra_headers=[self.tr("Pops"), self.tr("Offers presented")]))
        elif table is self.table_hour:
            self._fill(table, *self._breakdown_rows(
                [Breakdown(f"{b.key}:00", b.outcomes, b.by_result) for b in report.by_hour], self.tr("Hour")))
        elif table is self.table_agent:
            self._fill(table, *self._breakdown_rows(report.by_agent, self.tr("Agent")))
        elif table is self.table_suppressed:
            reasons = reason_names()
            self._fill(table, [self.tr("Reason"), self.tr("Offers suppressed"), self.tr("Code")],
                       [[reasons.get(code, code), n, code] for code, n in report.suppressed])
        elif table is self.table_attention:
            names = result_names()
            self._fill(table,
                       [self.tr("Recorded"), self.tr("Customer"), self.tr("Offer"), self.tr("Result"),
                        self.tr("Server's reason")],
                       [[e.recorded_at.astimezone(self.service.zone).strftime("%Y-%m-%d %H:%M"), e.customer_id,
                         report.name("offer", e.offer_id, self.language) or "—",
                         names.get(e.result.value, e.result.value), e.server_reason]
                        for e in report.backlog.items])

    # ------------------------------------------------------------------ export

    def export_csv(self, path: Path) -> Path | None:
        """Write the shown report as CSV (every figure); None when there is no report yet."""
        if self.report is None:
            return None
        path = Path(path)
        # UTF-8 with a BOM, so Excel shows Chinese agent and campaign names right.
        path.write_text(report_to_csv(self.report), encoding="utf-8-sig")
        return path

    def export_png(self, path: Path) -> bool:
        """Write the key figures and charts (or the empty-state message) as a PNG."""
        return save_png(self.board, Path(path))

    def _ask_csv(self) -> None:
        self._ask_path(self.tr("Export statistics as CSV"), "csv", self.tr("CSV files (*.csv)"), self.export_csv)

    def _ask_png(self) -> None:
        self._ask_path(self.tr("Export charts as PNG"), "png", self.tr("PNG images (*.png)"), self.export_png)

    def _ask_path(self, caption: str, suffix: str, pattern: str, write: Callable[[Path], object]) -> None:
        if self.report is None:
            return
        f = self.report.filters
        suggested = str(Path.home() / f"callcue-stats-{f.date_from}-{f.date_to}.{suffix}")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, caption, suggested, pattern)
        if not path:
            return
        try:
            ok = write(Path(path))
        except OSError as exc:
            ok, detail = False, exc.strerror or str(exc)
        else:
            detail = ""
        if ok:
            self._show_notice(self.tr("Saved %1").replace("%1", path))
        else:
            self._show_notice(self.tr("Could not save %1 %2").replace("%1", path).replace("%2", detail), error=True)
