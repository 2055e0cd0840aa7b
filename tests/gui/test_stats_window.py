"""The statistics window: real StatsService and TaskRunner (db pool), offscreen; and the app opening it from
the tray with the role from the real server (agent and lead tokens)."""

from __future__ import annotations

import datetime as dt
import sys
from zoneinfo import ZoneInfo

import pytest
from PySide6 import QtGui

from desktop.runtime.tasks import TaskRunner
from desktop.services.stats import StatsService, Viewer
from desktop.storage import open_store
from tests.gui.conftest import make_app
from tests.stats.conftest import T0, seed_team, token_server  # noqa: F401 - module fixture

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = T0 + dt.timedelta(hours=3)


@pytest.fixture
def runner(qapp):
    runner = TaskRunner()
    yield runner
    runner.shutdown()


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "callcue.sqlite3") as store:
        yield store


def open_window(qtbot, store, runner, viewer):
    from desktop.ui.stats_window import StatsWindow

    window = StatsWindow(StatsService(store, SHANGHAI, clock=lambda: NOW), runner, viewer)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.report_shown, timeout=10_000):
        window.show()
    return window


def test_a_lead_sees_every_agent_charts_and_tables(qtbot, store, runner):
    seed_team(store)
    window = open_window(qtbot, store, runner, Viewer("lead-01", "lead", True))
    report = window.report
    assert (report.filters.date_from, report.filters.date_to) == (dt.date(2026, 11, 14), dt.date(2026, 11, 20))
    assert window.kpi_outcomes.value.text() == "6"
    assert window.kpi_rate.value.text() == "60.0%"
    assert window.pages.currentWidget() is window.charts
    assert window.agent_box.isVisibleTo(window)
    assert [window.agent_box.itemData(i) for i in range(window.agent_box.count())] == [None, "agent-007", "agent-008"]
    assert window.offer_chart.chart().series()[0].barSets()[0].at(0) == pytest.approx(60.0)
    assert window.table_offer.rowCount() == 1  # the tab on screen is filled at once
    assert window.table_agent.rowCount() == 0  # the others when opened
    window.tables.setCurrentWidget(window.table_agent)
    assert window.table_agent.rowCount() == 2
    window.tables.setCurrentWidget(window.table_suppressed)
    assert window.table_suppressed.item(0, 1).data(0) == 2
    # Picking an agent refreshes with that agent only.
    window.agent_box.setCurrentIndex(2)
    with qtbot.waitSignal(window.report_shown, timeout=10_000):
        window.refresh()
    assert window.report.scope_agent == "agent-008"
    assert window.kpi_outcomes.value.text() == "3"


def test_an_agent_sees_own_figures_without_the_agent_filter(qtbot, store, runner):
    seed_team(store)
    window = open_window(qtbot, store, runner, Viewer("agent-007"))
    assert window.report.scope_agent == "agent-007"
    assert window.kpi_outcomes.value.text() == "3"
    assert not window.agent_box.isVisibleTo(window)
    assert not window.tables.isTabVisible(window.agent_tab)
    assert "sign in with a lead token" in window.notice.text()


def test_reports_run_beside_the_agents_outcome_saves(qtbot, store, runner):
    """The statistics run on the "reports" pool, never on "db" where outcome saves queue."""
    pools: list[str] = []
    runner.task_finished.connect(lambda timing: pools.append(timing.pool))
    seed_team(store)
    open_window(qtbot, store, runner, Viewer("lead-01", "lead", True))
    assert pools and set(pools) == {"reports"}


def test_an_empty_range_is_explained(qtbot, store, runner):
    window = open_window(qtbot, store, runner, Viewer("lead-01", "lead", True))
    assert window.report.empty
    assert window.pages.currentWidget() is window.empty
    assert window.empty_title.text() == "No outcomes in this range"
    assert "2026-11-14" in window.empty_hint.text() and "2026-11-20" in window.empty_hint.text()


def test_export_csv_and_png(qtbot, store, runner, tmp_path):
    seed_team(store)
    window = open_window(qtbot, store, runner, Viewer("lead-01", "lead", True))
    csv_path = window.export_csv(tmp_path / "stats.csv")
    text = csv_path.read_text(encoding="utf-8-sig")
    assert text.startswith("section,key,metric,value\n") and "by_agent,agent-008,outcomes,3" in text
    assert window.export_png(tmp_path / "stats.png")
    image = QtGui.QImage(str(tmp_path / "stats.png"))
    assert not image.isNull() and image.width() > 600 and image.height() > 300
    assert not window.export_png(tmp_path / "missing-dir" / "stats.png")


def test_the_start_after_the_end_is_explained_not_queried(qtbot, store, runner):
    window = open_window(qtbot, store, runner, Viewer("lead-01", "lead", True))
    window.date_from.setDate(window.date_to.date().addDays(3))
    window.refresh()
    assert window.notice.isVisibleTo(window) and "start date is after the end date" in window.notice.text()


def test_qtcharts_is_not_loaded_by_the_panel_start_up():
    import subprocess

    script = ("import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen'; import desktop.app, desktop.ui.tray; "
              "assert 'PySide6.QtCharts' not in sys.modules, 'QtCharts imported at start-up'")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("token", "agent", "lead"), [("lead_token", "lead-01", True),
                                                      ("agent_token", "agent-007", False)])
def test_the_app_opens_statistics_with_the_servers_role(qapp, qtbot, tmp_path, token_server, memory_keyring,  # noqa: F811
                                                        token, agent, lead):
    app = make_app(qapp, tmp_path, token_server.base_url, getattr(token_server, token), **{"agent.id": agent})
    try:
        assert app.session.account.agent_id == agent and app.session.account.role is None
        seed_team(app.store)
        app.open_stats()
        window = app.stats_window
        assert window is not None and not window.viewer.is_lead  # own figures until the server says more
        qtbot.waitUntil(lambda: window.viewer.confirmed, timeout=10_000)
        qtbot.waitUntil(lambda: window.report is not None and window.report.scope_agent == (None if lead else agent),
                        timeout=10_000)
        assert window.viewer.is_lead is lead
        assert window.agent_box.isVisibleTo(window) is lead
        app.switch_language("zh_CN")  # the window is rebuilt in the new language
        qtbot.waitUntil(lambda: app.stats_window is not None and app.stats_window is not window, timeout=5000)
        assert app.stats_window.windowTitle() == "坐席助手 · 统计"
        qtbot.waitUntil(lambda: app.stats_window.report is not None, timeout=10_000)
    finally:
        app.close()


def test_nobody_signed_in_is_told_to_sign_in(qtbot, store, runner):
    from desktop.ui.stats_window import StatsWindow

    window = StatsWindow(StatsService(store, SHANGHAI, clock=lambda: NOW), runner, Viewer(None))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.failed, timeout=10_000) as failed:
        window.show()
    assert "sign in first" in failed.args[0] and "请先登录" in failed.args[0]
    assert window.report is None


@pytest.mark.parametrize(("language", "offer", "campaign"), [("zh_CN", "5G畅享套餐", "冬季挽留"),
                                                             ("en", "5G Plan", "Winter retention")])
def test_offers_and_campaigns_are_shown_by_name_in_the_window_and_its_export(qtbot, store, runner, tmp_path,
                                                                              language, offer, campaign):
    from desktop.ui.stats_window import StatsWindow

    seed_team(store)
    # A pop named them (the desktop keeps what the server called them with the pop log).
    store.pops.log(popped_at=T0, state="live", call_id=None, customer_id="C1", decision_id=None,
                   agent_id="agent-007", offers_presented=["OFF-A"], suppressed=[], campaign_id="CMP-1", wave=1,
                   names=[("offer", "OFF-A", "5G畅享套餐", "5G Plan"), ("campaign", "CMP-1", "冬季挽留", "Winter retention")])
    window = StatsWindow(StatsService(store, SHANGHAI, clock=lambda: NOW), runner, Viewer("lead-01", "lead", True),
                         language=language)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.report_shown, timeout=10_000):
        window.show()
    assert window.table_offer.item(0, 0).text() == offer
    from PySide6 import QtCharts

    axes = [a for a in window.offer_chart.chart().axes() if isinstance(a, QtCharts.QBarCategoryAxis)]
    assert axes[0].categories() == [offer]
    window.tables.setCurrentWidget(window.table_campaign)
    assert window.table_campaign.item(0, 0).text() == campaign
    assert campaign in [window.campaign_box.itemText(i) for i in range(window.campaign_box.count())]
    window.tables.setCurrentWidget(window.table_wave)
    assert window.table_wave.item(0, 0).text() == f"{campaign} · 1"
    text = window.export_csv(tmp_path / "stats.csv").read_text(encoding="utf-8-sig")
    assert "by_offer,OFF-A,name_zh,5G畅享套餐" in text and "by_campaign,CMP-1,name_en,Winter retention" in text


def test_an_offer_no_pop_named_keeps_its_id(qtbot, store, runner):
    seed_team(store)
    window = open_window(qtbot, store, runner, Viewer("lead-01", "lead", True))
    assert window.table_offer.item(0, 0).text() == "OFF-A"
