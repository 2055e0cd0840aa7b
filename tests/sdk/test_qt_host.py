"""examples/qt_host: the example softphone (it imports only plugin_sdk) driven like an agent would, against
the real server process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from examples.qt_host.host import SoftphoneHost
from plugin_sdk import PanelConfig
from tests.sdk.conftest import CALM, PRICE_SENSITIVE

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def host(qtbot, tmp_path, server, memory_keyring):
    config = PanelConfig(server_url=server.base_url, agent_id="agent-007", language="en", theme="light",
                         store_path=tmp_path / "host.sqlite3", require_api="1.0")
    window = SoftphoneHost(config, credentials=lambda: server.token)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.number.setFocus()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is window.number)
    yield window
    window.close_panel()


def type_number(qtbot, host, number: str) -> None:
    """Digits from the keyboard and from the dial pad, as an agent does."""
    qtbot.keyClicks(host.number, number[:-2])
    pad = {b.text(): b for b in host.findChildren(QtWidgets.QPushButton) if b.text() in "0123456789"}
    for digit in number[-2:]:
        qtbot.mouseClick(pad[digit], QtCore.Qt.MouseButton.LeftButton)


def test_an_incoming_call_pops_the_caller_and_the_number_field_keeps_the_keyboard(qtbot, host):
    type_number(qtbot, host, CALM[1])
    assert host.number.text() == CALM[1]
    qtbot.mouseClick(host.incoming_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(host.pops), timeout=5000)
    assert host.pops[0]["customer_id"] == CALM[0] and host.pops[0]["state"] == "live"
    panel = host.panel.widget.panel
    assert "王芳" in panel.tabs.tabText(0)
    assert QtWidgets.QApplication.focusWidget() is host.number
    assert QtWidgets.QApplication.activeWindow() is host
    qtbot.keyClicks(host.number, "#")  # still typing into the softphone
    assert host.number.text() == CALM[1] + "#"
    assert any(host.log.item(i).text().startswith("ringing → popped") for i in range(host.log.count()))


def test_a_transfer_updates_the_same_tab_without_a_second_pop(qtbot, host):
    host.number.setText(PRICE_SENSITIVE[1])
    host.incoming_button.click()
    qtbot.waitUntil(lambda: len(host.pops) == 1, timeout=5000)
    host.answer_button.click()
    host.transfer_target.setText("8002")
    result = host.transfer()
    assert (result.result, result.reason) == ("updated", "transfer")
    host.transfer_button.click()  # the same transfer reported twice by the PBX
    assert "ignored (duplicate)" in host.log.item(host.log.count() - 1).text()
    # Every lookup the panel started has finished: none was a second pop.
    qtbot.waitUntil(lambda: host.panel._session.runner.stats().pending == 0, timeout=5000)
    assert len(host.pops) == 1
    panel = host.panel.widget.panel
    assert panel.tabs.count() == 1
    assert host.panel.calls()[0]["transfers"] == 1


def test_an_outcome_recorded_in_the_panel_reaches_the_host_and_the_server(qtbot, host, server):
    before = server.outcome_count()
    host.number.setText(CALM[1])
    host.incoming_button.click()
    host.answer_button.click()
    qtbot.waitUntil(lambda: bool(host.pops), timeout=5000)
    panel = host.panel.widget.panel
    offer_id = panel.view(host.call_id).selected_offer_id
    qtbot.mouseClick(panel.outcome_bar.buttons["accepted"], QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(host.outcomes), timeout=5000)
    outcome = host.outcomes[0]
    assert outcome["call_id"] == host.call_id and outcome["result"] == "accepted"
    assert outcome["offer_id"] == offer_id and outcome["customer_id"] == CALM[0]
    qtbot.waitUntil(lambda: server.outcome_count() == before + 1, timeout=10000)
    host.hang_up_button.click()
    assert host.log.item(host.log.count() - 1).text().startswith("ended → ended (hangup)")
    assert host.panel.calls() == []  # the outcome was recorded: no wrap-up tab left


def test_the_example_runs_as_a_program(tmp_path, server):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(REPO / "examples/qt_host/host.py"), "--server-url", server.base_url, "--token",
         server.token, "--store", str(tmp_path / "cli.sqlite3"), "--headless", "--caller", CALM[1],
         "--lang", "en"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "result='popped'" in result.stdout
    assert f"'customer_id': '{CALM[0]}'" in result.stdout
