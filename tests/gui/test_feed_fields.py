"""The pop's feed fields as the agent reads them (issue 13): names, never codes, in zh_CN and en; warning
colours only where something needs attention; three months side by side; the last contacts across
channels and the repeat-caller flag; where the figures come from, quietly. And a document from an older
server (none of these fields) shows none of it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from desktop.domain.pop import parse_pop
from desktop.domain.states import PopKey, PopResult, PopState
from desktop.ui.i18n import Texts
from desktop.ui.pop_view import PopView
from desktop.ui.qt import QtWidgets
from tests.desktop_core.conftest import server_docs  # noqa: F401 - fixture
from tests.desktop_core.feed_docs import with_feed_fields, without_feed_fields

TRANSLATIONS = Path(__file__).resolve().parents[2] / "resources" / "translations"
NOW = dt.datetime.now(dt.UTC)
CODES = ("arrears_suspended", "group_member", "operator_model", "customer_feed", "RBT-BASIC", "AUTOPAY",
         "(transferred)", "inbound_call", "2026-10 ", "None")

EXPECTED = {
    "en": ("Suspended for arrears", "Arrears ¥86.50", "Group member · 广州市天河区教育局", "Account manager 李明",
           "5-star", "Contract ends in 21 days", "Repeat caller: 3 calls in 7 days",
           "IVR 10 min ago: bill inquiry (transferred to an agent)",
           "Inbound call 2 days ago: bill inquiry (unresolved)", "SMS 4 days ago: 彩铃推荐 (delivered) · marketing",
           "source: operator model complaint-sens-v2", "Why on the list", "合约到期前 30 天，流量下降",
           "2 of 3 in 30 days (all campaigns, all channels)", "彩铃基础包 · 话费自动缴", "华为 Mate 60",
           "source: operator model churn-gbm-2026.10", "¥200 late", "Oct", "Sep", "Aug"),
    "zh_CN": ("欠费停机", "欠费 ¥86.50", "集团成员 · 广州市天河区教育局", "客户经理 李明", "5星", "合约 21 天后到期",
              "重复来电：7 天内来电 3 次", "IVR 10 分钟前：账单查询（转人工）", "来电 2 天前：账单查询（未解决）",
              "短信 4 天前：彩铃推荐（已送达） · 营销", "来源：运营商模型 complaint-sens-v2", "入选原因",
              "30 天内 2/3 次（所有活动，全部渠道）", "已订业务", "终端", "来源：运营商模型 churn-gbm-2026.10",
              "¥200 逾期", "10月", "9月", "8月", "近三月用量"),
}


def visible_text(widget: QtWidgets.QWidget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel) if label.isVisibleTo(widget))


def all_text(widget: QtWidgets.QWidget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel))


def make_view(qtbot, language: str) -> PopView:
    view = PopView(Texts(language, TRANSLATIONS))
    qtbot.addWidget(view)
    view.resize(420, 1600)
    view.show()
    return view


def live(body: dict) -> PopResult:
    doc = parse_pop(body)
    return PopResult(PopState.LIVE, PopKey(customer_id=doc.customer.customer_id), doc, NOW)


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_feed_fields_read_as_names_in_the_agents_language(qtbot, server_docs, language):  # noqa: F811
    view = make_view(qtbot, language)
    view.render(live(with_feed_fields(server_docs["complaint"], now=NOW)), NOW)
    shown = visible_text(view)
    for text in EXPECTED[language]:
        assert text in shown, (text, shown)
    for code in CODES:
        assert code not in shown, (code, shown)
    if language == "zh_CN":
        for english in ("Repeat caller", "Suspended", "source:", "late", "Account manager", "min ago"):
            assert english not in shown, english


def test_what_needs_attention_is_coloured_and_nothing_else(qtbot, server_docs):  # noqa: F811
    view = make_view(qtbot, "en")
    view.render(live(with_feed_fields(server_docs["plain"], now=NOW)), NOW)
    assert view.status_chip.property("chip") == "danger" and view.arrears_chip.property("chip") == "danger"
    assert view.contract_chip.property("chip") == "warn"  # 21 days left: a retention cue
    assert view.repeat.isVisible() and view.repeat.property("banner") == "repeat"
    # Arrears say it: the negative balance beside them would be the same debt twice.
    assert not view.balance_chip.isVisible()
    late = [cell for cell in view.usage.cells["bill"] if "late" in cell.text()]
    assert len(late) == 1 and late[0].property("tone") == "high"
    assert all(cell.property("tone") == "none" for cell in view.usage.cells["bill"] if cell is not late[0])
    # A customer in good standing: a quiet status and balance, no repeat banner, a far contract end.
    body = with_feed_fields(server_docs["plain"], now=NOW, repeat=False, status="normal")
    body["customer"]["contract_end"] = (NOW.date() + dt.timedelta(days=200)).isoformat()
    view.render(live(body), NOW)
    assert view.status_chip.text() == "Active" and view.status_chip.property("chip") == "quiet"
    assert view.balance_chip.text() == "Balance ¥23.40" and view.balance_chip.property("chip") == "quiet"
    assert not view.arrears_chip.isVisible() and not view.repeat.isVisible()
    assert view.contract_chip.property("chip") == "quiet" and view.contract_chip.text().startswith("Contract until")


def test_three_months_side_by_side_newest_first(qtbot, server_docs):  # noqa: F811
    view = make_view(qtbot, "en")
    view.render(live(with_feed_fields(server_docs["plain"], now=NOW)), NOW)
    assert [label.text() for label in view.usage.months] == ["Oct", "Sep", "Aug"]
    assert [cell.text() for cell in view.usage.cells["data"]] == ["15.0", "11.0", "9.0"]
    assert [cell.text() for cell in view.usage.cells["voice"]] == ["312", "268", "401"]
    assert [cell.text() for cell in view.usage.cells["bill"]] == ["¥200 late", "¥129", "¥129"]
    # Roaming only because September had some, on a line of its own.
    assert view.usage.roaming.isVisible() and view.usage.roaming.text() == "Roaming: Sep 0.8 GB · 35 min"
    view.render(live(with_feed_fields(server_docs["complaint"], now=NOW)), NOW)
    body = with_feed_fields(server_docs["plain"], now=NOW)
    for month in body["customer"]["usage_history"]:
        month["roaming_data_mb"] = month["roaming_voice_min"] = 0
    view.render(live(body), NOW)
    assert not view.usage.roaming.isVisible()
    # Fewer months (an older server's last month only): the other columns go.
    body["customer"]["usage_history"] = body["customer"]["usage_history"][:1]
    body["customer"]["bills"] = []
    view.render(live(body), NOW)
    assert [label.text() for label in view.usage.months if label.isVisible()] == ["Oct"]
    assert [cell.isVisible() for cell in view.usage.cells["data"]] == [True, False, False]


def test_the_sources_of_the_figures_say_rules_when_no_operator_model(qtbot, server_docs):  # noqa: F811
    view = make_view(qtbot, "en")
    view.render(live(with_feed_fields(server_docs["complaint"], now=NOW, operator_model=False)), NOW)
    shown = visible_text(view)
    assert "source: operator model" not in shown
    assert "source: rules" in view.warning_boxes["complaint"].reasons.text()
    assert "source: customer data" in view.details.values["churn"].text()


def test_an_older_servers_document_shows_none_of_it(qtbot, server_docs):  # noqa: F811
    view = make_view(qtbot, "en")
    view.render(live(with_feed_fields(server_docs["plain"], now=NOW)), NOW)
    view.reset()
    old = without_feed_fields(server_docs["plain"])
    view.render(live(old), NOW)
    assert not view.account.isVisible() and not view.repeat.isVisible() and not view.recent.isVisible()
    assert not view.star.isVisible() and not view.relation.isVisible()
    everything = all_text(view)
    for leftover in ("Suspended", "李明", "IVR", "彩铃基础包", "late", "operator model"):
        assert leftover not in everything, leftover
    # The usage table still shows what an older server sends (its months).
    assert view.usage.isVisible() and view.usage.months[0].text()


def test_chips_wrap_in_a_narrow_panel_instead_of_widening_it(qtbot, server_docs):  # noqa: F811
    view = make_view(qtbot, "en")
    view.resize(330, 1200)
    view.render(live(with_feed_fields(server_docs["plain"], now=NOW)), NOW)
    qtbot.waitUntil(lambda: view.contract_chip.y() > view.status_chip.y())  # on a second line
    assert not view.scroll.horizontalScrollBar().isVisible()
    assert view.account.geometry().right() <= view.scroll.viewport().width()


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_new_suppression_codes_read_with_the_servers_own_texts(qtbot, server_docs, language):  # noqa: F811
    body = with_feed_fields(server_docs["plain"], now=NOW)
    reasons = {"already_held": ("客户已订购该业务", "Customer already has it"),
               "not_eligible": ("在网不满 12 个月", "Less than 12 months with us"),
               "customer_cap": ("本月已联系 3 次（所有活动）", "Contacted 3 times this month (all campaigns)"),
               "not_in_wave": ("客户不在本波次名单", "Not targeted in this wave")}
    for offer, (code, (zh, en)) in zip(body["offers"], reasons.items(), strict=False):
        offer["suppressed"] = True
        offer["suppressed_by"] = [{"code": code, "kind": "contact", "zh": zh, "en": en}]
    view = make_view(qtbot, language)
    view.render(live(body), NOW)
    view.suppressed_toggle.click()
    shown = visible_text(view)
    for code, (zh, en) in reasons.items():
        assert (zh if language == "zh_CN" else en) in shown
        assert code not in shown
