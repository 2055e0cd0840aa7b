"""Readable in 3 seconds: search results that close, names instead of codes, drawn icons."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from desktop.ui.qt import Qt, QtWidgets
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
