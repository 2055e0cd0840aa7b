"""Readable in 3 seconds: search results that close, names instead of codes, drawn icons."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from desktop.ui.qt import Qt, QtWidgets
from tests.desktop_core.conftest import server_docs  # noqa: F401 - fixture
from tests.gui.conftest import make_app


def _search(qtbot, search, text: str) -> None:
    search.edit.setText(text)
    search.edit.returnPressed.emit()
    qtbot.waitUntil(lambda: search.results.isVisible() or "No customer" in search.message.text(), timeout=5000)


def test_search_results_close_with_esc_and_with_the_clear_button(qtbot, panel):
    search = panel.window.search
    _search(qtbot, search, "刘")
    assert search.results.isVisible() and search.results.hasFocus()
    qtbot.keyClick(search.results, Qt.Key.Key_Escape)
    assert not search.results.isVisible() and not search.message.isVisible()
    assert search.edit.hasFocus()  # the agent can type the next search at once

    _search(qtbot, search, "刘")
    clear = next(b for b in search.edit.findChildren(QtWidgets.QToolButton) if b.isVisible())
    qtbot.mouseClick(clear, Qt.MouseButton.LeftButton)
    assert search.edit.text() == "" and not search.results.isVisible()

    _search(qtbot, search, "no such person")
    assert search.message.isVisible()
    qtbot.keyClick(search.edit, Qt.Key.Key_Escape)
    assert not search.message.isVisible()


def test_an_answer_arriving_after_the_search_was_cleared_stays_closed(qtbot, panel):
    search = panel.window.search
    search.edit.setText("刘")
    search.edit.returnPressed.emit()
    assert search.message.isVisible()  # "Searching…"
    search.edit.clear()
    assert not search.message.isVisible()
    late = SimpleNamespace(customer_id="C-COMPLAINT", display_name="刘雅丽", msisdns=["13700137000"])
    search.show_results([late])  # the controller hands over the answer when it comes
    assert not search.results.isVisible() and not search.message.isVisible()


def _sign_in_with(qtbot, app, token: str) -> str:
    app.ask_sign_in()
    dialog = app._sign_in_dialog
    dialog.server.setText(app.config.server.url)
    dialog.agent.setText("agent-007")
    dialog.token.setText(token)
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: dialog.buttons.isEnabled(), timeout=10000)
    return dialog.message.text()


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_a_wrong_token_at_sign_in_is_called_wrong_not_expired(qapp, qtbot, tmp_path, server, memory_keyring,
                                                              language):
    app = make_app(qapp, tmp_path, server.base_url, server.token, language=language)
    app.start(show=True)
    try:
        message = _sign_in_with(qtbot, app, "cc_wrong_token")
        assert app._sign_in_dialog is not None  # still open: the agent fixes the token
        if language == "en":
            assert "did not accept this token" in message and "expired" not in message
        else:
            assert "令牌" in message and "过期" not in message and "token" not in message.lower()
    finally:
        app.close()


@pytest.mark.parametrize(("language", "ok", "cancel"), [("zh_CN", "确定", "取消"), ("en", "OK", "Cancel")])
def test_a_panel_dialog_shows_qt_standard_buttons_in_the_panel_language_without_an_app_translator(
        qtbot, language, ok, cancel):
    from desktop.ui.i18n import Texts
    from desktop.ui.outcome_bar import NotOfferedDialog

    dialog = NotOfferedDialog(Texts(language))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    box = dialog.findChild(QtWidgets.QDialogButtonBox)
    assert box.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).text() == ok
    assert box.button(QtWidgets.QDialogButtonBox.StandardButton.Cancel).text() == cancel
    # Nothing was installed in the (host's) application: its own standard texts stay as they were.
    assert QtWidgets.QApplication.translate("QPlatformTheme", "Cancel") == "Cancel"


# ---------------------------------------------------------------------- the pop, readable at a glance


@pytest.fixture
def pop_view(qtbot):
    from desktop.ui.i18n import Texts
    from desktop.ui.pop_view import PopView

    view = PopView(Texts("en"))
    qtbot.addWidget(view)
    view.resize(420, 500)
    view.show()
    qtbot.waitExposed(view)
    return view


def _live(doc):
    import datetime as dt

    from desktop.domain.states import PopKey, PopResult, PopState

    return PopResult(PopState.LIVE, PopKey(customer_id=doc.customer.customer_id), doc, dt.datetime.now(dt.UTC))


def _with_scripts(doc):
    import dataclasses

    offers = tuple(dataclasses.replace(o, script=dataclasses.replace(
        o.script, en=f"Opening for {o.offer_id}. Then the details. Shall I?", zh=f"{o.offer_id}开场。然后细节。")
    ) for o in doc.offers)
    return dataclasses.replace(doc, offers=offers)


def test_offer_one_shows_the_first_line_of_its_script_without_a_click(pop_view, server_docs):  # noqa: F811
    from desktop.domain.pop import parse_pop

    doc = _with_scripts(parse_pop(server_docs["plain"]))
    pop_view.render(_live(doc))
    first = next(o for o in doc.offers if o.rank == 1)
    card = pop_view._cards[first.offer_id]
    assert card.opening.isVisibleTo(pop_view) and card.opening.text() == f"Say: Opening for {first.offer_id}."
    assert "Then the details" not in card.opening.text()
    others = [c for oid, c in pop_view._cards.items() if oid != first.offer_id]
    assert others and not any(c.opening.isVisibleTo(pop_view) for c in others)
    card.script_button.click()  # the whole script: the opening line is part of it, not shown twice
    assert card.script.isVisible() and not card.opening.isVisibleTo(pop_view)
    card.script_button.click()
    assert card.opening.isVisibleTo(pop_view)


def test_the_header_stays_pinned_with_a_sensitivity_chip_while_the_rest_scrolls(pop_view, qtbot, server_docs):  # noqa: F811
    from desktop.domain.pop import parse_pop

    pop_view.render(_live(parse_pop(server_docs["complaint"])))
    bar = pop_view.scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)  # the pop is taller than the 500 px view
    header_at = pop_view.name.mapTo(pop_view, pop_view.name.rect().topLeft())
    bar.setValue(bar.maximum())
    assert pop_view.name.isVisibleTo(pop_view) and pop_view.name.text()
    assert pop_view.name.mapTo(pop_view, pop_view.name.rect().topLeft()) == header_at  # did not scroll away
    assert not pop_view.scroll.widget().isAncestorOf(pop_view.name)
    for label in (pop_view.number, pop_view.tier, pop_view.sensitivity_chip):
        assert label.isVisibleTo(pop_view) and not pop_view.scroll.widget().isAncestorOf(label)
    assert "Complaint-sensitive" in pop_view.sensitivity_chip.text()
    pop_view.render(_live(parse_pop(server_docs["plain"])))
    assert "Complaint-sensitive" not in pop_view.sensitivity_chip.text()


def test_a_suppressed_offer_has_a_drawn_icon_not_an_emoji(pop_view, server_docs):  # noqa: F811
    from desktop.domain.pop import parse_pop

    doc = parse_pop(server_docs["dnd"])
    pop_view.render(_live(doc))
    pop_view._toggle_suppressed()
    suppressed = [c for c in pop_view._cards.values() if c.suppressed]
    assert suppressed
    for card in suppressed:
        assert "⛔" not in card.why.text() and card.why.text()
        assert card.why_icon.isVisibleTo(pop_view) and not card.why_icon.pixmap().isNull()


def test_every_symbol_the_ui_writes_is_in_debians_default_font():
    """⛔ and other emoji are in no font of a stock Debian desktop: they render as empty boxes."""
    import pathlib

    from desktop.ui.qt import QtGui

    if "DejaVu Sans" not in QtGui.QFontDatabase.families():
        pytest.skip("DejaVu Sans (Debian's default font) is not installed")
    metrics = QtGui.QFontMetrics(QtGui.QFont("DejaVu Sans"))
    root = pathlib.Path(__file__).resolve().parents[2] / "desktop" / "ui"
    missing = {}
    for path in root.glob("*.py"):
        for char in set(path.read_text(encoding="utf-8")):
            code = ord(char)
            if (0x2190 <= code <= 0x2BFF or code >= 0x1F000) and not metrics.inFontUcs4(code):
                missing.setdefault(char, []).append(path.name)
    assert not missing, missing


def test_a_sign_in_form_mistake_is_told_in_the_agents_language(qapp, qtbot, tmp_path, server, memory_keyring):
    app = make_app(qapp, tmp_path, server.base_url, server.token, language="zh_CN")
    app.start(show=True)
    try:
        message = _sign_in_with(qtbot, app, "   ")  # no token pasted
        assert message == "请粘贴组长给您的令牌。", message  # complete, Chinese, no English detail appended
        app._sign_in_dialog.server.setText("analytics.local")
        app._sign_in_dialog.token.setText("cc_x")
        app._sign_in_dialog.buttons.accepted.emit()
        qtbot.waitUntil(lambda: app._sign_in_dialog.buttons.isEnabled(), timeout=10000)
        assert app._sign_in_dialog.message.text().startswith("服务器地址须以 http:// 或 https:// 开头")
    finally:
        app.close()
