"""The bridge in the real panel: the real CallCueApp (offscreen) against the real server process, a
BridgeHost wired as desktop/app.py wires it, hosts talking to it over 127.0.0.1 with the SDK's client.

Hosts run on worker threads: the bridge answers from the GUI thread, which must keep spinning (qtbot)."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from desktop.domain.states import PopState
from desktop.ui.qt import Qt, QtWidgets
from plugin_sdk.bridge_client import BridgeBusy, BridgeClient, BridgeRequestError, BridgeUnavailable
from tests.bridge.conftest import validate, wire_bridge
from tests.gui.conftest import CALM, PRICE_SENSITIVE, wait_for_state


class EventRecorder:
    """A host listening to /v1/events on its own thread; every event is checked against its schema."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[dict] = []
        self.client = BridgeClient(url, token)
        self.stream = self.client.subscribe()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._listen, name="test-event-recorder")
        self._thread.start()

    def _listen(self) -> None:
        try:
            for event in self.stream:
                self.events.append(validate(event))
        except BaseException as exc:
            self.failure = exc

    def of_type(self, kind: str, **data) -> list[dict]:
        return [e for e in self.events if e["type"] == kind and all(e["data"].get(k) == v for k, v in data.items())]

    def close(self) -> None:
        self.stream.close()
        self._thread.join(5)
        self.client.close()


@pytest.fixture
def host_thread() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-host") as pool:
        yield pool


@dataclass
class HostSession:
    app: Any
    host: Any  # BridgeHost
    client: BridgeClient
    recorder: EventRecorder
    qtbot: Any
    pool: concurrent.futures.ThreadPoolExecutor

    def run(self, fn, *args, **kwargs):
        """Call `fn` on a host thread while the GUI thread keeps serving; returns its result."""
        future = self.pool.submit(fn, *args, **kwargs)
        self.qtbot.waitUntil(future.done, timeout=10000)
        return future.result()

    def wait_for(self, kind: str, count: int = 1, **data) -> list[dict]:
        self.qtbot.waitUntil(lambda: len(self.recorder.of_type(kind, **data)) >= count, timeout=10000)
        return [e["data"] for e in self.recorder.of_type(kind, **data)]


@pytest.fixture
def session(qtbot, bridged_panel, host_thread) -> Iterator[HostSession]:
    app, host = bridged_panel
    url, token = host.server.url, host.token.value
    recorder = EventRecorder(url, token)
    client = BridgeClient(url, token)
    yield HostSession(app, host, client, recorder, qtbot, host_thread)
    recorder.close()
    client.close()
    assert recorder.failure is None, recorder.failure


def test_a_bridge_event_pops_live_server_data_and_hosts_hear_it(qtbot, session):
    app, client = session.app, session.client
    assert session.run(client.send_call, "b-1", "ringing", ani=CALM[1]).popped
    view = wait_for_state(qtbot, app, "b-1", PopState.LIVE)
    assert view.result.document.customer.customer_id == CALM[0]
    shown = session.wait_for("pop.shown", call_id="b-1")[0]
    assert shown["state"] == "live" and shown["customer_id"] == CALM[0] and shown["update"] is False
    assert shown["decision_id"] and shown["offers"] == [o.offer_id for o in view.result.document.pitchable_offers]
    # A repeat from a host that retried: no second pop, and it is told why.
    again = session.run(client.send_call, "b-1", "ringing", ani=CALM[1])
    assert (again.result, again.reason) == ("ignored", "duplicate")
    session.wait_for("call.ignored", call_id="b-1")
    assert app.window.tabs.count() == 1
    state = validate(session.run(client.state))
    assert state["calls"][0]["call_id"] == "b-1" and state["calls"][0]["pop"]["state"] == "live"
    assert state["calls"][0]["ani"] == "138****8000" and state["panel"]["visible"] is True
    assert CALM[1] not in json.dumps(state) + json.dumps(session.recorder.events)


def test_a_transfer_updates_the_tab_and_never_pops_twice(qtbot, session):
    app, client = session.app, session.client
    session.run(client.send_call, "b-t", "ringing", ani=CALM[1])
    session.run(client.send_call, "b-t", "answered")
    wait_for_state(qtbot, app, "b-t", PopState.LIVE)
    result = session.run(client.send_call, "b-t", "transferred", ani=PRICE_SENSITIVE[1])
    assert (result.result, result.reason) == ("updated", "transfer")
    second = session.wait_for("pop.shown", count=2, call_id="b-t")[1]
    assert second["update"] is True and second["customer_id"] == PRICE_SENSITIVE[0]
    assert session.wait_for("call.updated", call_id="b-t", change="transfer")[0]["refetch"] is True
    assert app.window.tabs.count() == 1
    ended = session.run(client.send_call, "b-t", "ended")
    assert (ended.result, ended.reason) == ("ended", "hangup")


def test_hosts_see_which_call_is_in_front_and_each_calls_phase(qtbot, session):
    app, client = session.app, session.client
    session.run(client.send_call, "f-a", "ringing", ani=CALM[1])
    session.run(client.send_call, "f-b", "ringing", ani=PRICE_SENSITIVE[1])
    state = validate(session.run(client.state))
    assert [(c["call_id"], c["phase"], c["in_front"]) for c in state["calls"]] == [
        ("f-a", "ringing", False), ("f-b", "ringing", True)]
    session.run(client.send_call, "f-a", "answered")
    front = session.wait_for("call.updated", call_id="f-a", change="front", phase="talking")[0]
    assert front["in_front"] is True
    assert session.wait_for("call.updated", call_id="f-a", change="phase")[0]["phase"] == "talking"
    state = validate(session.run(client.state))
    assert [(c["call_id"], c["phase"], c["in_front"]) for c in state["calls"]] == [
        ("f-a", "talking", True), ("f-b", "ringing", False)]
    assert app.window.current_call_id() == "f-a"
    session.run(client.send_call, "f-a", "ended")
    assert session.wait_for("call.updated", call_id="f-a", change="phase", phase="wrap_up")


def test_an_outcome_and_its_sync_reach_the_host(qtbot, session):
    app = session.app
    session.run(session.client.send_call, "b-o", "answered", ani=PRICE_SENSITIVE[1])
    view = wait_for_state(qtbot, app, "b-o", PopState.LIVE)
    offer_id = view.selected_offer_id
    assert offer_id
    app.window.outcome_bar.buttons["declined"].click()
    outcome = session.wait_for("outcome.recorded", call_id="b-o")[0]
    assert outcome["offer_id"] == offer_id and outcome["result"] == "declined"
    assert outcome["customer_id"] == PRICE_SENSITIVE[0]
    qtbot.waitUntil(lambda: any(e["data"]["kind"] == "synced" and e["data"]["last_synced_at"]
                                for e in session.recorder.of_type("sync.state")), timeout=10000)
    seqs = [e["seq"] for e in session.recorder.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_an_undone_outcome_reaches_the_host_as_outcome_retracted(qtbot, session):
    app = session.app
    session.run(session.client.send_call, "b-u", "answered", ani=PRICE_SENSITIVE[1])
    wait_for_state(qtbot, app, "b-u", PopState.LIVE)
    app.window.outcome_bar.buttons["declined"].click()
    recorded = session.wait_for("outcome.recorded", call_id="b-u")[0]
    qtbot.keyClick(app.window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    retracted = session.wait_for("outcome.retracted", outcome_id=recorded["outcome_id"])
    assert len(retracted) == 1 and retracted[0]["delivery"] in ("removed", "retracting")
    assert {k: retracted[0][k] for k in ("call_id", "customer_id", "offer_id", "result")} == {
        k: recorded[k] for k in ("call_id", "customer_id", "offer_id", "result")}
    # The undo banner is gone: a second Ctrl+Z retracts nothing more.
    qtbot.keyClick(app.window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    session.run(session.client.state)  # a round trip through the GUI thread after the key
    assert len(session.recorder.of_type("outcome.retracted")) == 1


def test_a_transfer_names_who_passed_the_call_on(qtbot, session):
    app, client = session.app, session.client
    session.run(client.send_call, "b-f", "answered", ani=CALM[1])
    wait_for_state(qtbot, app, "b-f", PopState.LIVE)
    result = session.run(client.send_call, "b-f", "transferred", from_agent="张伟", dnis="8001")
    assert (result.result, result.reason) == ("updated", "transfer")
    assert app.window.call_title("b-f").startswith("⇄ from 张伟 via 8001")


def test_show_and_hide_never_take_the_keyboard(qapp, qtbot, session):
    app, client = session.app, session.client
    softphone = QtWidgets.QLineEdit()
    qtbot.addWidget(softphone)
    softphone.show()
    softphone.activateWindow()
    softphone.setFocus()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is softphone)
    assert session.run(client.hide) is False and not app.window.isVisible()
    assert session.run(client.show) is True and app.window.isVisible()
    assert QtWidgets.QApplication.focusWidget() is softphone
    assert QtWidgets.QApplication.activeWindow() is not app.window
    session.run(client.send_call, "b-f", "ringing", ani=CALM[1])
    wait_for_state(qtbot, app, "b-f", PopState.LIVE)
    assert QtWidgets.QApplication.focusWidget() is softphone


def test_a_stalled_gui_thread_gets_503_and_the_event_is_not_applied(qtbot, bridged_panel, host_thread):
    app, _host = bridged_panel
    host = wire_bridge(app)  # a second bridge with a short answer timeout, on its own port
    host._answer_timeout_s = 0.2
    host.server.app.answer_timeout_s = 0.2
    try:
        with BridgeClient(host.server.url, host.token.value) as client:
            future = host_thread.submit(client.send_call, "b-busy", "ringing", ani=CALM[1])
            # The GUI thread is busy (a long layout, a slow plugin): it does not serve the bridge meanwhile.
            threading.Event().wait(0.6)
            with pytest.raises(BridgeBusy) as caught:
                future.result(timeout=5)
            assert "retrying is safe" in str(caught.value)
            qtbot.wait(50)  # the queued command reaches the GUI thread now: it must be skipped
            assert app.router.call("b-busy") is None and app.window.view("b-busy") is None
            retried = host_thread.submit(client.send_call, "b-busy", "ringing", ani=CALM[1])
            qtbot.waitUntil(retried.done, timeout=5000)
            assert retried.result().popped
    finally:
        host.stop()


def test_garbage_from_a_host_leaves_the_panel_working(qtbot, session):
    port, client = session.host.port, session.client

    def send_garbage() -> int:
        answers = 0
        samples = [b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                   b"POST /v1/calls HTTP/1.1\r\n",
                   b"POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n{\"v\"",
                   b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n", bytes(range(256))]
        for n in range(120):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                raw.sendall(samples[n % len(samples)] * (1 + n % 3))
                raw.shutdown(socket.SHUT_WR)
                while raw.recv(65536):
                    pass
                answers += 1
        for body in ({"v": 1, "type": "call", "call_id": "g", "state": "rining"}, {"v": 9}, ["call"], "电话"):
            with pytest.raises(BridgeRequestError) as caught:
                client._request("POST", "/v1/calls", body, expect="call.result")  # type: ignore[arg-type]
            assert caught.value.status == 400 and str(caught.value)
        return answers

    assert session.run(send_garbage) == 120
    assert session.run(client.send_call, "b-after", "ringing", ani=CALM[1]).popped
    wait_for_state(qtbot, session.app, "b-after", PopState.LIVE)
    assert session.host.running


def test_closing_the_panel_ends_the_stream_and_leaves_nothing_running(qapp, qtbot, tmp_path, server, memory_keyring):
    from tests.gui.conftest import make_app

    app = make_app(qapp, tmp_path, server.base_url, server.token, **{"bridge.port": "0"})
    app.start(show=True)
    host = wire_bridge(app)
    url, token, port = host.server.url, host.token.value, host.port
    recorder = EventRecorder(url, token)
    try:
        with BridgeClient(url, token) as client:
            host.stop()
            app.close()
            recorder._thread.join(5)
            assert isinstance(recorder.failure, BridgeUnavailable)
            with pytest.raises(BridgeUnavailable):
                client.state()
    finally:
        recorder.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def _standalone_host(tmp_path, port: int, token: str | None = None):
    from desktop.calls.router import CallRouter
    from desktop.runtime.bridge_host import BridgeHost
    from desktop.services.config import load_config

    cli = {"bridge.port": str(port)} | ({"bridge.token": token} if token else {})
    settings = load_config(machine_file=None, user_file=None, environ={}, cli=cli).bridge
    return BridgeHost(settings, tmp_path / "data", CallRouter(), show=lambda: None, hide=lambda: None,
                      is_visible=lambda: False)


def test_a_taken_port_leaves_the_panel_running_and_says_why(qtbot, tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        host = _standalone_host(tmp_path, squatter.getsockname()[1])
        assert host.start() is True  # returns at once; the bridge's thread finds the port taken
        assert not host.wait_ready(10)
        assert "bridge.port" in host.problem and not host.running
        host.stop()


def test_port_zero_turns_the_bridge_off(qtbot, tmp_path):
    host = _standalone_host(tmp_path, 0)
    assert host.start() is False and "off" in host.problem
    host.stop()


def test_an_it_preset_token_is_used_and_no_token_file_is_written(qtbot, tmp_path):
    import time

    host = _standalone_host(tmp_path, 0, token="it-preset-token-0123456789")
    started = time.perf_counter()
    assert host.start(port=0)
    assert time.perf_counter() - started < 0.05  # imports, token and bind happen on the bridge's thread
    try:
        assert host.wait_ready(15)
        assert host.token.preset and not (tmp_path / "data" / "bridge-token").exists()
        with BridgeClient(host.server.url, "it-preset-token-0123456789") as client:
            future = concurrent.futures.ThreadPoolExecutor(1)
            try:
                answer = future.submit(client.show)
                qtbot.waitUntil(answer.done, timeout=5000)
                assert answer.result() is False  # the stand-in panel stays hidden
            finally:
                future.shutdown()
    finally:
        host.stop()
