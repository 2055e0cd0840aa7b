"""PopView updates its widgets in place and panels reuse views between calls: nothing of one call may
remain visible (or readable) in the next, and the offers shown follow the agent's toggles."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from desktop.domain.pop import parse_pop
from desktop.domain.states import PopKey, PopResult, PopState
from desktop.ui.i18n import Texts
from desktop.ui.panel import SPARE_VIEWS, PanelWindow
from desktop.ui.pop_view import OFFERS_SHOWN, PopView
from desktop.ui.qt import QtWidgets
from tests.desktop_core.conftest import server_docs  # noqa: F401 - fixture

TRANSLATIONS = Path(__file__).resolve().parents[2] / "resources" / "translations"
NOW = dt.datetime.now(dt.UTC)


def visible_text(widget: QtWidgets.QWidget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel) if label.isVisibleTo(widget))


def all_text(widget: QtWidgets.QWidget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QtWidgets.QLabel))


def live(doc) -> PopResult:
    return PopResult(PopState.LIVE, PopKey(customer_id=doc.customer.customer_id), doc, NOW)


def with_pitchable_offers(doc, count: int):
    """The document with `count` pitchable offers (copies of its first one under new ids and ranks)."""
    template = dataclasses.replace(doc.offers[0], suppressed=False, suppressed_by=())
    offers = tuple(dataclasses.replace(template, offer_id=f"OFFER-{n}", rank=n + 1) for n in range(count))
    return dataclasses.replace(doc, offers=offers + tuple(o for o in doc.offers if o.suppressed_by))


@pytest.fixture
def view(qtbot):
    widget = PopView(Texts("en", TRANSLATIONS))
    qtbot.addWidget(widget)
    widget.resize(420, 900)
    widget.show()
    return widget


def test_a_reused_view_keeps_nothing_of_the_previous_customer(view, server_docs):  # noqa: F811
    complaint = parse_pop(server_docs["complaint"])
    view.render(live(complaint))
    name = complaint.customer.display_name
    assert name in visible_text(view) and "Complaint-sensitive" in visible_text(view)
    view.reset()
    view.render(PopResult(PopState.UNKNOWN_CALLER, PopKey(ani="13012345678")))
    shown = visible_text(view)
    assert "130****5678" in shown and "New or unregistered caller" in shown
    # Hidden labels are emptied too: nothing of the previous caller can be read from the widget tree.
    everything = all_text(view)
    assert name not in everything and "Complaint-sensitive" not in everything
    assert not view.contact.isVisible() and not view.details.isVisible() and not view.offers_title.isVisible()
    plain = parse_pop(server_docs["plain"])
    view.reset()
    view.render(live(plain))
    assert "New or unregistered caller" not in visible_text(view)
    assert plain.customer.display_name in visible_text(view)


def test_the_top_offers_show_and_the_rest_are_one_click_away(view, server_docs):  # noqa: F811
    doc = with_pitchable_offers(parse_pop(server_docs["plain"]), OFFERS_SHOWN + 2)
    view.render(live(doc))
    assert sorted(view._cards) == [f"OFFER-{n}" for n in range(OFFERS_SHOWN)]
    assert view.more_toggle.isVisible() and view.more_toggle.text() == "Show 2 more offers"
    assert view.selected_offer_id == "OFFER-0"
    view.more_toggle.click()
    assert sorted(view._cards) == [f"OFFER-{n}" for n in range(OFFERS_SHOWN + 2)]
    view.select_offer(f"OFFER-{OFFERS_SHOWN + 1}")
    assert view.selected_offer_id == f"OFFER-{OFFERS_SHOWN + 1}"
    # A new document with fewer offers: the extra cards go (hidden and not selectable), the choice resets.
    fewer = with_pitchable_offers(parse_pop(server_docs["plain"]), 2)
    view.render(live(fewer))
    assert sorted(view._cards) == ["OFFER-0", "OFFER-1"] and view.selected_offer_id == "OFFER-0"
    assert not view.more_toggle.isVisible()
    view.select_offer(f"OFFER-{OFFERS_SHOWN + 1}")  # a hidden card's old offer cannot be chosen
    assert view.selected_offer_id == "OFFER-0"


def test_suppressed_offers_show_their_reasons_on_request(view, server_docs):  # noqa: F811
    doc = parse_pop(server_docs["dnd"])
    suppressed = [o for o in doc.offers if o.suppressed_by]
    assert suppressed, "the DND customer has suppressed offers"
    view.render(live(doc))
    assert view.suppressed_toggle.isVisible()
    reason = suppressed[0].suppressed_by[0].en
    assert reason not in all_text(view)
    view.suppressed_toggle.click()
    assert reason in visible_text(view)
    assert all(view._cards[o.offer_id].suppressed for o in suppressed)
    view.select_offer(suppressed[0].offer_id)  # never the target of an outcome
    assert view.selected_offer_id != suppressed[0].offer_id


def test_the_script_opens_on_request_and_closes_for_the_next_customer(view, server_docs):  # noqa: F811
    doc = parse_pop(server_docs["plain"])
    view.render(live(doc))
    card = view._cards[view.selected_offer_id]
    script = doc.offer(view.selected_offer_id).script.en
    assert card.script is None  # built on first use; offer #1 shows only its opening line before (test_readable)
    card.script_button.click()
    assert script in visible_text(view) and card.script_button.text() == "Hide script"
    view.reset()
    view.render(live(parse_pop(server_docs["complaint"])))
    assert card.script is None or not card.script.isVisible()
    assert card.script_button.text() == "Show script"


def test_the_first_calls_after_login_pop_into_views_built_with_the_panel(qtbot, server_docs, monkeypatch):  # noqa: F811
    """Callers wait in the queue while the agent logs in: the first two calls ring at once. Their views were
    built with the panel; the pops only fill them (building one costs the GUI thread 8-17 ms)."""
    panel = PanelWindow(Texts("en", TRANSLATIONS))
    qtbot.addWidget(panel)
    spares = list(panel._spare_views)
    assert len(spares) == SPARE_VIEWS  # before the event loop ever ran
    monkeypatch.setattr(panel, "_new_view", lambda: pytest.fail("a pop built its view"))
    panel.show()
    panel.show_pop("call-1", live(parse_pop(server_docs["complaint"])))
    panel.show_pop("call-2", live(parse_pop(server_docs["plain"])))
    assert {panel.view("call-1"), panel.view("call-2")} == set(spares)
    monkeypatch.undo()


def test_closed_calls_leave_their_views_ready_for_the_next_call(qtbot, server_docs):  # noqa: F811
    panel = PanelWindow(Texts("en", TRANSLATIONS))
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: len(panel._spare_views) == SPARE_VIEWS)
    complaint, plain = parse_pop(server_docs["complaint"]), parse_pop(server_docs["plain"])
    panel.show_pop("call-1", live(complaint))
    first = panel.view("call-1")
    panel.close_call("call-1")
    assert first in panel._spare_views and len(panel._spare_views) <= SPARE_VIEWS
    panel.show_pop("call-2", live(plain))
    second = panel.view("call-2")
    assert second.result.document is plain
    assert complaint.customer.display_name not in all_text(second)
    assert panel.tabs.count() == 1


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_every_error_code_has_plain_words_in_both_languages(language):
    from desktop.domain.errors import ERROR_CODES, UserError
    from desktop.ui.pop_view import describe_error

    texts = Texts(language, TRANSLATIONS)
    for code in sorted(ERROR_CODES):
        text = describe_error(UserError(code), texts)
        assert text != code and len(text) >= (5 if language == "zh_CN" else 15), code
        if language == "zh_CN":
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text), (code, text)


def test_a_stale_pop_names_the_real_cause(view, server_docs):  # noqa: F811
    from desktop.domain.errors import UserError

    doc = parse_pop(server_docs["plain"])
    fetched = NOW - dt.timedelta(minutes=7)
    key = PopKey(customer_id=doc.customer.customer_id)
    view.render(PopResult(PopState.STALE, key, doc, fetched, UserError("server_error", "HTTP 500")), NOW)
    text = view.state_label.text()
    assert "unreachable" not in text and "7 min old" in text and "internal error" in text
    view.render(PopResult(PopState.STALE, key, doc, fetched, UserError("server_unreachable")), NOW)
    assert view.state_label.text().startswith("Server unreachable")


def test_the_chinese_pop_has_no_english_words_in_its_warnings(qtbot, server_docs):  # noqa: F811
    view = PopView(Texts("zh_CN", TRANSLATIONS))
    qtbot.addWidget(view)
    view.show()
    view.render(live(parse_pop(server_docs["complaint"])))
    box = view.warning_boxes["complaint"]
    text = "\n".join(label.text() for label in box.findChildren(QtWidgets.QLabel))
    assert "投诉敏感" in text and ("[未结]" in text or "[已解决]" in text), text
    assert "[open]" not in text and "[resolved]" not in text


def test_wrapped_label_heights_follow_text_width_and_font(qtbot):
    """WrappedLabel remembers heights per (width, text): never a stale one after a text or font change."""
    from desktop.ui.pop_view import WrappedLabel

    label = WrappedLabel("短")
    qtbot.addWidget(label)
    one_line = label.heightForWidth(300)
    assert label.heightForWidth(300) == one_line == QtWidgets.QLabel.heightForWidth(label, 300)
    label.setText("话费敏感：不要推荐新套餐、升档或新增付费业务；关怀与挽留类可推荐。" * 3)
    long_wide = label.heightForWidth(300)
    assert long_wide > one_line
    assert label.heightForWidth(120) > long_wide  # narrower: more lines
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    label.setFont(font)
    assert label.heightForWidth(300) == QtWidgets.QLabel.heightForWidth(label, 300) > long_wide
    assert label.minimumSizeHint().width() < label.sizeHint().width() <= 300


@pytest.mark.parametrize(("months", "en", "zh"), [(1, "1 month with us", "在网 1 个月"),
                                                  (14, "14 months with us", "在网 14 个月")])
def test_tenure_reads_as_a_sentence_in_both_languages(qtbot, server_docs, months, en, zh):  # noqa: F811
    doc = parse_pop(server_docs["complaint"])
    doc = dataclasses.replace(doc, customer=dataclasses.replace(doc.customer, tenure_months=months))
    for language, expected in (("en", en), ("zh_CN", zh)):
        widget = PopView(Texts(language, TRANSLATIONS))
        qtbot.addWidget(widget)
        widget.render(live(doc))
        assert expected in all_text(widget).split(" · "), all_text(widget)


def test_the_transports_english_detail_stays_out_of_the_chinese_message():
    """"(cannot connect to 127.0.0.1:44215)" stood in the middle of the Chinese stale-pop banner."""
    from desktop.domain.errors import UserError
    from desktop.ui.pop_view import describe_error

    error = UserError("server_unreachable", "cannot connect to 127.0.0.1:44215")
    assert describe_error(error, Texts("en", TRANSLATIONS)).endswith("(cannot connect to 127.0.0.1:44215)")
    zh = describe_error(error, Texts("zh_CN", TRANSLATIONS))
    assert not any("a" <= ch.lower() <= "z" for ch in zh), zh
    # A detail without words (a number, an address) still helps IT in either language.
    assert describe_error(UserError("server_unreachable", "127.0.0.1:44215"), Texts("zh_CN", TRANSLATIONS)) \
        .endswith("(127.0.0.1:44215)")
