"""The agent sees whether calls arrive from the softphone / PBX connectors: a dead connection means no pops."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from desktop.calls.connector_base import ConnectorStatus
from desktop.ui.i18n import Texts
from desktop.ui.panel import PanelWindow
from server_stub.live import free_port
from tests.gui.conftest import make_app

TRANSLATIONS = Path(__file__).resolve().parents[2] / "resources" / "translations"


def test_a_connector_that_cannot_connect_is_shown_as_a_warning(qapp, qtbot, tmp_path, server, memory_keyring):
    port = free_port()  # nothing listens there: connection refused
    app = make_app(qapp, tmp_path, server.base_url, server.token, **{"connectors.baresip": f"127.0.0.1:{port}"})
    app.start(show=True)
    try:
        line = app.window.call_sources
        qtbot.waitUntil(lambda: "Not receiving calls from baresip" in line.text(), timeout=10_000)
        assert f"127.0.0.1:{port}" in line.text() and line.isVisible()
        assert line.property("sync") == "attention"
        # A listener appears: the connector connects on its next retry and the warning goes.
        with socket.create_server(("127.0.0.1", port)) as listener:
            listener.settimeout(30)
            qtbot.waitUntil(lambda: line.text() == "Calls from baresip", timeout=30_000)
        app.switch_language("zh_CN")  # the rebuilt panel shows the sources too
        qtbot.waitUntil(lambda: "baresip" in app.window.call_sources.text(), timeout=10_000)
    finally:
        app.close()


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_call_source_states_in_plain_words(qtbot, language):
    window = PanelWindow(Texts(language, TRANSLATIONS))
    qtbot.addWidget(window)
    window.set_call_sources([])
    assert not window.call_sources.isVisibleTo(window)
    window.set_call_sources([ConnectorStatus("ami", "pbx.example.com:5038", "failed", "login refused", 30.0),
                             ConnectorStatus("baresip", "127.0.0.1:4444", "connected")])
    text = window.call_sources.text()
    assert "ami pbx.example.com:5038" in text and "login refused" in text and "30" in text
    if language == "zh_CN":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text)
    window.set_call_sources([ConnectorStatus("baresip", "127.0.0.1:4444", "connecting")])
    assert window.call_sources.property("sync") == "pending" and "baresip" in window.call_sources.text()
