"""plugin_sdk API v1: the panel embedded in a host's Qt window, against the real server (pytest-qt,
offscreen). Only plugin_sdk is used to build and drive panels; desktop internals are read only to check."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema_rs
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from sqlalchemy.orm import Session

import plugin_sdk
from plugin_sdk import (
    API_VERSION,
    SUPPORTED_API_VERSIONS,
    CallEventResult,
    IncompatibleApiError,
    PanelClosedError,
    PanelConfig,
    PanelConfigError,
    PanelError,
    embed_panel,
    protocol,
)
from tests.desktop_runtime.conftest import os_thread_names
from tests.sdk.conftest import CALM, COMPLAINT, PRICE_SENSITIVE

REPO = Path(__file__).resolve().parents[2]


def wait_pop(qtbot, handle, call_id: str, *, timeout: int = 5000) -> dict:
    """The next pop_shown for `call_id`."""
    seen: list[dict] = []
    unsubscribe = handle.subscribe("pop_shown", lambda p: seen.append(p) if p["call_id"] == call_id else None)
    try:
        qtbot.waitUntil(lambda: bool(seen), timeout=timeout)
    finally:
        unsubscribe()
    return seen[0]


def panel_of(handle):
    """The PanelWidget inside the handle's container (for checks only)."""
    return handle.widget.panel


def callcue_threads() -> list[str]:
    return [name for name in os_thread_names() or [] if name.startswith("callcue")]


# ------------------------------------------------------------------ versions and configuration


def test_api_version_is_major_minor_and_supported():
    # 1.1 added pop_ambiguous and pop_shown's chosen; 1.2 calls()' phase, in_front; 1.3 outcome_retracted,
    # from_agent; 1.4 outbound work (outbound_state/_next/_dial/_result, outbound_mode); 1.5 show_customer's and
    # call_event's outbound, dial_requested
    assert API_VERSION == "1.5"
    assert API_VERSION in SUPPORTED_API_VERSIONS
    assert plugin_sdk.api_supported("1.0") and plugin_sdk.api_supported("1.1") and plugin_sdk.api_supported("1.2") \
        and plugin_sdk.api_supported("1.3") and plugin_sdk.api_supported("1.4") and plugin_sdk.api_supported("1.5")
    assert not plugin_sdk.api_supported("1.6")
    assert not plugin_sdk.api_supported("2.0")
    plugin_sdk.require_api("1.0")
    with pytest.raises(IncompatibleApiError, match=r"needs CallCue SDK API 2\.0"):
        plugin_sdk.require_api("2.0")
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR"):
        plugin_sdk.api_supported("1")


def test_importing_the_sdk_loads_no_qt_and_no_server():
    code = ("import sys, plugin_sdk; c = plugin_sdk.PanelConfig(server_url='http://x', agent_id='a'); "
            "assert 'PySide6' not in sys.modules and 'server_stub' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize(("fields", "field"), [
    ({"server_url": "ftp://x"}, "server_url"),
    ({"agent_id": ""}, "agent_id"),
    ({"language": "fr"}, "language"),
    ({"theme": "pink"}, "theme"),
    ({"shortcuts": {"accepted": "Ctrl+1", "declined": "ctrl + 1"}}, "shortcuts"),
    ({"shortcuts": {"bought": "Ctrl+1"}}, "shortcuts"),
    ({"require_api": "v1"}, "require_api"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"sync_interval_s": 1.5}, "sync_interval_s"),
])
def test_a_bad_config_fails_at_once_naming_the_field(fields, field):
    with pytest.raises(PanelConfigError) as caught:
        PanelConfig(**{"server_url": "http://127.0.0.1:1", "agent_id": "a1", **fields})
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_a_host_needing_a_newer_api_fails_fast(qapp, tmp_path):
    config = PanelConfig(server_url="http://127.0.0.1:9", agent_id="a1", store_path=tmp_path / "s.sqlite3",
                         require_api="1.6")
    with pytest.raises(IncompatibleApiError):
        embed_panel(None, config, credentials=lambda: "cc_x")
    assert not (tmp_path / "s.sqlite3").exists()  # nothing was started


# ------------------------------------------------------------------ pops, transfers, focus


def test_a_pop_never_moves_the_keyboard_from_the_hosts_field(qtbot, host_window, embed):
    handle = embed(host_window)
    host_window.layout().addWidget(handle.widget, 1)
    host_window.show()
    qtbot.waitExposed(host_window)
    host_window.activateWindow()
    host_window.number.setFocus()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is host_window.number)
    qtbot.keyClicks(host_window.number, "1380")
    result = handle.call_event("call-f", "ringing", ani=CALM[1])
    assert isinstance(result, CallEventResult) and result.popped and result.reason is None
    payload = wait_pop(qtbot, handle, "call-f")
    assert payload["customer_id"] == CALM[0] and payload["state"] == "live"
    assert QtWidgets.QApplication.focusWidget() is host_window.number
    assert QtWidgets.QApplication.activeWindow() is host_window
    qtbot.keyClicks(host_window.number, "0138000")
    assert host_window.number.text() == "13800138000"


def test_a_hidden_embedded_panel_stays_hidden_on_a_pop(qtbot, host_window, embed):
    handle = embed(host_window)
    host_window.layout().addWidget(handle.widget, 1)
    host_window.show()
    handle.widget.hide()  # the host collapsed its side pane
    handle.call_event("call-h", "ringing", ani=CALM[1])
    wait_pop(qtbot, handle, "call-h")
    assert not handle.widget.isVisible()
    assert QtWidgets.QApplication.activeWindow() in (host_window, None)


def test_call_events_say_what_happened_and_transfers_never_pop_twice(qtbot, host_window, embed):
    handle = embed(host_window)
    pops: list[dict] = []
    handle.subscribe("pop.shown", pops.append)  # the wire name works too
    assert handle.call_event("c1", "ringing", ani=CALM[1]).popped
    qtbot.waitUntil(lambda: len(pops) == 1, timeout=5000)
    assert pops[0]["update"] is False

    repeat = handle.call_event("c1", "ringing", ani=CALM[1])
    assert (repeat.result, repeat.reason) == ("ignored", "duplicate")
    assert handle.call_event("c1", "answered", ani=CALM[1]).result == "answered"
    replay = handle.call_event("c1", "ringing", ani=CALM[1])
    assert (replay.result, replay.reason) == ("ignored", "replay")
    same = handle.call_event("c1", "transferred", ani=CALM[1], dnis="8001")
    assert (same.result, same.reason) == ("updated", "transfer")
    again = handle.call_event("c1", "transferred", ani=CALM[1], dnis="8001")
    assert (again.result, again.reason) == ("ignored", "duplicate")
    # A consult transfer to another customer: same tab, fresh data, one update event.
    other = handle.call_event("c1", "transferred", customer_id=PRICE_SENSITIVE[0], dnis="8002")
    assert (other.result, other.reason) == ("updated", "transfer")
    qtbot.waitUntil(lambda: len(pops) == 2, timeout=5000)
    assert pops[1]["update"] is True and pops[1]["customer_id"] == PRICE_SENSITIVE[0]
    assert panel_of(handle).tabs.count() == 1
    assert [c["call_id"] for c in handle.calls()] == ["c1"]

    ended = handle.call_event("c1", "ended")
    assert (ended.result, ended.reason) == ("ended", "hangup")
    late = handle.call_event("c1", "ended")
    assert late.result == "ignored"
    assert handle.calls()[0]["state"] == "wrap_up"
    assert len(pops) == 2


def test_calls_say_which_call_is_in_front_and_each_calls_phase(qtbot, host_window, embed):
    handle = embed(host_window)
    handle.call_event("a", "ringing", ani=CALM[1])
    handle.call_event("b", "ringing", ani=PRICE_SENSITIVE[1])
    handle.call_event("a", "answered")
    assert [(c["call_id"], c["phase"], c["in_front"]) for c in handle.calls()] == [
        ("a", "talking", True), ("b", "ringing", False)]
    assert panel_of(handle).current_call_id() == "a"
    handle.call_event("a", "ended")
    assert [(c["call_id"], c["phase"], c["in_front"]) for c in handle.calls()] == [
        ("a", "wrap_up", True), ("b", "ringing", False)]


def test_queue_and_transferred_in_calls_pop_once_and_bad_events_say_why(qtbot, host_window, embed):
    handle = embed(host_window)
    # From a queue: the first event this agent sees is "answered".
    assert handle.call_event("q1", "answered", ani=COMPLAINT[1]).popped
    # Transferred in by a colleague: the first event is "transferred".
    assert handle.call_event("t1", "transferred", customer_id=CALM[0]).popped
    wait_pop(qtbot, handle, "t1")
    withheld = handle.call_event("w1", "ringing")
    assert (withheld.result, withheld.reason) == ("rejected", "invalid_event")
    assert "ani" in withheld.detail
    bad = handle.call_event("x1", "bridged", ani=CALM[1])
    assert bad.result == "rejected" and "state" in bad.detail
    never = handle.call_event("n1", "ended", ani=CALM[1])
    assert (never.result, never.reason) == ("ignored", "unknown_call")
    assert CALM[1] not in withheld.detail + bad.detail + never.detail


def test_call_event_results_are_the_bridges_call_results():
    """The SDK answers a call event exactly as the local bridge's call.result does (one vocabulary)."""
    bridge_protocol = pytest.importorskip("desktop.calls.bridge_protocol")
    from desktop.calls.events import parse_call_event
    from desktop.calls.router import CallRouter
    from plugin_sdk._embed import _summarize

    router = CallRouter(agent_id="me")
    script = [("a", "ringing", {"ani": CALM[1]}), ("a", "ringing", {"ani": CALM[1]}), ("a", "answered", {}),
              ("a", "ringing", {"ani": CALM[1]}), ("a", "transferred", {"dnis": "8001"}), ("a", "transferred", {"dnis": "8001"}),
              ("a", "transferred", {"customer_id": "C-X"}), ("b", "answered", {"customer_id": "C-Y"}),
              ("c", "transferred", {"ani": PRICE_SENSITIVE[1]}), ("d", "ringing", {"ani": CALM[1]}),
              ("d", "answered", {"agent_id": "colleague"}), ("a", "ended", {}), ("a", "ended", {}),
              ("e", "ended", {}), ("b", "transferred", {"agent_id": "colleague"})]
    for call_id, state, fields in script:
        actions = router.handle(parse_call_event({"call_id": call_id, "state": state, **fields}, source="test"))
        ours = _summarize(call_id, actions)
        bridge = bridge_protocol.call_result(call_id, actions)
        assert (ours.result, ours.reason, ours.detail) == (bridge["result"], bridge["reason"], bridge["detail"]), (
            call_id, state)


def test_show_customer_opens_a_tab_like_a_call(qtbot, host_window, embed):
    handle = embed(host_window)
    result = handle.show_customer(COMPLAINT[0])
    assert result.popped and result.call_id.startswith("search-")
    payload = wait_pop(qtbot, handle, result.call_id)
    assert payload["customer_id"] == COMPLAINT[0] and payload["update"] is False
    assert handle.show_customer("  ").result == "rejected"


def test_call_events_and_ids_follow_the_bridges_text_rules(qtbot, host_window, embed):
    """docs/bridge.md "Text and ids", "Numbers": the SDK applies the rules every call source applies."""
    handle = embed(host_window)
    arabic = CALM[1].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert handle.call_event("u1", "ringing", ani=arabic).popped
    payload = wait_pop(qtbot, handle, "u1")
    assert (payload["state"], payload["customer_id"]) == ("live", CALM[0])  # the same customer as ASCII digits
    hidden = handle.call_event("u\u202e2", "ringing", ani=CALM[1])
    assert (hidden.result, hidden.reason) == ("rejected", "invalid_event") and "U+202E" in hidden.detail
    superscript = handle.call_event("u3", "ringing", ani=CALM[1][:-1] + "\u00b2")
    assert superscript.result == "rejected" and "ani" in superscript.detail
    assert CALM[1][:-1] not in superscript.detail
    shown = handle.show_customer(CALM[0] + "\u200b")
    assert (shown.result, shown.call_id) == ("rejected", None) and "U+200B" in shown.detail
    assert [c["call_id"] for c in handle.calls()] == ["u1"]


# ------------------------------------------------------------------ outcomes and events


def test_an_outcome_key_works_while_the_host_has_the_keyboard(qtbot, host_window, embed, server):
    handle = embed(host_window)
    host_window.layout().addWidget(handle.widget, 1)
    host_window.show()
    qtbot.waitExposed(host_window)
    host_window.activateWindow()
    host_window.number.setFocus()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is host_window.number)
    before = server.outcome_count()
    handle.call_event("call-k", "answered", ani=CALM[1])
    wait_pop(qtbot, handle, "call-k")
    outcomes: list[dict] = []
    handle.subscribe("outcome_recorded", outcomes.append)
    with qtbot.waitSignal(handle.outcome_recorded, timeout=5000) as signal:
        qtbot.keyClick(host_window.number, QtCore.Qt.Key.Key_3, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert signal.args[0]["result"] == "considering"
    assert outcomes[0]["call_id"] == "call-k" and outcomes[0]["customer_id"] == CALM[0]
    assert set(outcomes[0]) == {"outcome_id", "call_id", "customer_id", "offer_id", "result", "recorded_at"}
    assert host_window.number.text() == ""  # the key went to the panel, not into the number
    qtbot.waitUntil(lambda: server.outcome_count() == before + 1, timeout=10000)


def test_an_undone_outcome_reaches_the_host_as_outcome_retracted(qtbot, host_window, embed):
    handle = embed(host_window)
    host_window.layout().addWidget(handle.widget, 1)
    host_window.show()
    qtbot.waitExposed(host_window)
    host_window.activateWindow()
    handle.call_event("call-u", "answered", ani=CALM[1])
    wait_pop(qtbot, handle, "call-u")
    retracted: list[dict] = []
    handle.subscribe("outcome.retracted", retracted.append)  # the wire name works too
    with qtbot.waitSignal(handle.outcome_recorded, timeout=5000) as recorded:
        qtbot.keyClick(host_window, QtCore.Qt.Key.Key_2, QtCore.Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(handle.outcome_retracted, timeout=5000) as signal:
        qtbot.keyClick(host_window, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    payload = signal.args[0]
    assert retracted == [payload]
    assert set(payload) == {"outcome_id", "call_id", "customer_id", "offer_id", "result", "delivery", "retracted_at"}
    assert payload["outcome_id"] == recorded.args[0]["outcome_id"] and payload["result"] == "declined"
    assert payload["call_id"] == "call-u" and payload["customer_id"] == CALM[0]
    assert payload["delivery"] in ("removed", "retracting")
    # The same dict the bridge sends as outcome.retracted's data (one shape, checked by its schema).
    message = {"v": 1, "type": "outcome.retracted", "seq": 1, "at": payload["retracted_at"], "data": payload}
    jsonschema_rs.validator_for(protocol.schema("outcome.retracted"), validate_formats=True).validate(message)


def test_sync_state_is_sent_on_change_only_and_subscribers_are_isolated(qtbot, host_window, embed):
    handle = embed(host_window, sync_interval_s=5)
    states: list[dict] = []
    handle.subscribe("sync_state", states.append)
    qtbot.waitUntil(lambda: bool(states), timeout=5000)
    assert states[0]["kind"] == "synced" and states[0]["pending"] == 0
    # Several syncs later, nothing changed: no new events.
    for _ in range(3):
        with qtbot.waitSignal(handle._session.controller.sync_state_changed, timeout=5000):
            handle.sync_now()
    assert len(states) == 1
    # A late subscriber gets the current state at once; a failing one harms nobody.
    late: list[dict] = []
    handle.subscribe("sync_state", late.append)
    assert late == states

    def broken(_payload):
        raise RuntimeError("host bug")

    handle.subscribe("pop_shown", broken)
    pops: list[dict] = []
    unsubscribe = handle.subscribe("pop_shown", pops.append)
    handle.call_event("s1", "ringing", ani=CALM[1])
    qtbot.waitUntil(lambda: len(pops) == 1, timeout=5000)
    unsubscribe()
    unsubscribe()  # idempotent
    handle.call_event("s2", "ringing", ani=CALM[1])
    wait_pop(qtbot, handle, "s2")
    assert len(pops) == 1
    with pytest.raises(ValueError, match="unknown event"):
        handle.subscribe("popShown", print)


def test_payloads_are_the_bridge_events_data(qtbot, host_window, embed):
    """The SDK's events carry exactly what the local bridge's pop.shown / outcome.recorded / sync.state
    messages carry in `data` (validated against the JSON Schemas shipped in plugin_sdk/schemas)."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    protocol = pytest.importorskip("plugin_sdk.protocol")
    handle = embed(host_window)
    seen: dict[str, list[dict]] = {name: [] for name in plugin_sdk.EVENT_NAMES}
    for name in plugin_sdk.EVENT_NAMES:
        handle.subscribe(name, seen[name].append)
    handle.call_event("call-p", "answered", ani=PRICE_SENSITIVE[1])
    handle.call_event("call-u", "ringing", ani="13012345678")  # unknown caller
    qtbot.waitUntil(lambda: len(seen["pop_shown"]) == 2, timeout=5000)
    panel_of(handle).tabs.setCurrentWidget(panel_of(handle).view("call-p"))
    with qtbot.waitSignal(handle.outcome_recorded, timeout=5000):
        panel_of(handle).outcome_bar.buttons["declined"].click()
    qtbot.waitUntil(lambda: len(seen["sync_state"]) >= 2, timeout=5000)
    for name, payloads in seen.items():
        wire = plugin_sdk.WIRE_NAMES[name]
        validator = jsonschema_rs.validator_for(protocol.schema(wire)["properties"]["data"], validate_formats=True)
        for payload in payloads:
            assert validator.is_valid(payload), (wire, payload, list(validator.iter_errors(payload)))


# ------------------------------------------------------------------ several panels, close()


def test_two_panels_are_independent_and_closing_one_keeps_the_other(qtbot, host_window, embed, server):
    threads_before = callcue_threads()
    app_style = QtWidgets.QApplication.instance().styleSheet()
    first = embed(host_window, "first")
    second = embed(host_window, "second", language="zh_CN", theme="dark")
    host_window.layout().addWidget(first.widget, 1)
    host_window.layout().addWidget(second.widget, 1)
    host_window.show()
    first.call_event("call-1", "ringing", ani=CALM[1])
    wait_pop(qtbot, first, "call-1")
    assert panel_of(first).tabs.count() == 1 and panel_of(second).tabs.count() == 0
    assert [c["call_id"] for c in second.calls()] == []
    # Languages and themes are per panel; the host's application is untouched.
    assert first.language == "en" and second.language == "zh_CN"
    assert "Waiting for a call" in panel_of(first).idle.text()
    assert "等待来电" in panel_of(second).idle.text()
    assert QtWidgets.QApplication.instance().styleSheet() == app_style
    assert QtCore.QCoreApplication.translate("PanelWidget", "Calls") == "Calls"
    assert first.widget.styleSheet() != second.widget.styleSheet()

    with pytest.raises(PanelError, match="another open panel"):
        embed(host_window, "first")
    first_timer = first._session.scheduler._timer
    first.close()
    first.close()  # idempotent
    assert first.closed
    assert not first_timer.isActive() and first._session.scheduler.job_ids() == []
    with pytest.raises(PanelClosedError):
        first.call_event("call-2", "ringing", ani=CALM[1])
    # The other panel still pops, records and syncs.
    before = server.outcome_count()
    second.call_event("call-3", "answered", ani=PRICE_SENSITIVE[1])
    wait_pop(qtbot, second, "call-3")
    with qtbot.waitSignal(second.outcome_recorded, timeout=5000):
        panel_of(second).outcome_bar.buttons["considering"].click()
    qtbot.waitUntil(lambda: server.outcome_count() == before + 1, timeout=10000)
    second.close()
    # close() stopped every worker thread the panels started.
    qtbot.waitUntil(lambda: callcue_threads() == threads_before, timeout=3000)


def test_deleting_the_hosts_window_without_close_stops_the_panel(qtbot, embed):
    window = QtWidgets.QWidget()
    handle = embed(window)
    handle.call_event("call-d", "ringing", ani=CALM[1])
    wait_pop(qtbot, handle, "call-d")
    with qtbot.waitSignal(handle.widget.destroyed, timeout=2000):
        window.deleteLater()
    assert handle.closed
    assert not callcue_threads()


def test_a_zh_cn_panel_shows_no_untranslated_text(qtbot, host_window, embed):
    handle = embed(host_window, language="zh_CN")
    host_window.layout().addWidget(handle.widget, 1)
    host_window.show()
    handle.call_event("call-z", "answered", ani=PRICE_SENSITIVE[1])
    wait_pop(qtbot, handle, "call-z")
    translated = {
        message.findtext("source")
        for message in ET.parse(REPO / "resources/translations/callcue_zh_CN.ts").getroot().iter("message")
        if (message.findtext("translation") or "").strip() != (message.findtext("source") or "").strip()
    }
    shown = []
    for widget in handle.widget.findChildren(QtWidgets.QWidget):
        for getter in ("text", "placeholderText", "accessibleName", "toolTip"):
            value = getattr(widget, getter, None)
            if callable(value):
                text = value()
                if isinstance(text, str) and text:
                    shown.append(text.split("\n")[0])
    untranslated = sorted({text for text in shown if text in translated})
    assert not untranslated


# ------------------------------------------------------------------ credentials


def test_an_expired_token_asks_the_host_once_and_carries_on(qtbot, host_window, embed, server):
    from server_stub.db.engine import make_engine
    from server_stub.services.auth import create_token, revoke_tokens

    engine = make_engine(server.database_url)
    with Session(engine) as session:
        expired = create_token(session, "agent-sdk-expired")
        revoke_tokens(session, "agent-sdk-expired")
    engine.dispose()
    tokens = [expired, server.token]
    asked: list[str] = []

    def credentials() -> str:
        asked.append(tokens[0])
        return tokens.pop(0) if len(tokens) > 1 else tokens[0]

    handle = embed(host_window, credentials=credentials)
    handle.call_event("call-e", "ringing", ani=CALM[1])
    payload = wait_pop(qtbot, handle, "call-e")
    assert payload["state"] == "live"
    assert asked == [expired, server.token]  # once at first use, once after the 401


def test_a_refused_token_is_not_retried_in_a_loop(qtbot, host_window, embed, server):
    from tests.desktop_core.fault_server import Forward, fault_server

    asked: list[int] = []

    def credentials() -> str:
        asked.append(1)
        return "cc_0000000000000000_refused"

    with fault_server(Forward(server.base_url)) as proxy:  # counts the requests that reach the server
        handle = embed(host_window, server_url=proxy.base_url, credentials=credentials)
        handle.call_event("call-r1", "ringing", ani=CALM[1])
        payload = wait_pop(qtbot, handle, "call-r1")
        assert payload["state"] == "error"
        assert panel_of(handle).view("call-r1").result.error.code == "auth_failed"
        assert len(proxy.requests_seen) == 1  # the refused token is not sent again
        assert len(asked) == 2  # first use, then once after the 401
        # Later calls ask the host first; while it has no new token the server is not bothered.
        for n in range(3):
            handle.call_event(f"call-r{n + 2}", "ringing", ani=CALM[1])
            assert wait_pop(qtbot, handle, f"call-r{n + 2}")["state"] == "error"
        assert len(proxy.requests_seen) == 1
        handle.close()


def test_embed_panel_checks_its_arguments(qapp, tmp_path):
    config = PanelConfig(server_url="http://127.0.0.1:9", agent_id="a1", store_path=tmp_path / "s.sqlite3")
    with pytest.raises(TypeError):
        embed_panel(QtGui.QWindow(), config)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        embed_panel(None, {"server_url": "http://x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        embed_panel(None, config, credentials="cc_token")  # type: ignore[arg-type]


def test_the_agent_switches_one_panels_language_and_keeps_its_calls(qtbot, host_window, embed):
    handle = embed(host_window)
    container = handle.widget
    handle.call_event("call-l", "answered", ani=PRICE_SENSITIVE[1])
    wait_pop(qtbot, handle, "call-l")
    qtbot.mouseClick(panel_of(handle).language_button, QtCore.Qt.MouseButton.LeftButton)  # 中 / EN
    assert handle.language == "zh_CN" and handle.widget is container
    qtbot.waitUntil(lambda: panel_of(handle).view("call-l") is not None
                    and panel_of(handle).view("call-l").result.state == "live", timeout=5000)
    assert panel_of(handle).outcome_bar.buttons["accepted"].text().startswith("接受")
    handle.set_language("en")
    assert panel_of(handle).outcome_bar.buttons["accepted"].text().startswith("Accepted")
    with pytest.raises(ValueError):
        handle.set_language("fr")
