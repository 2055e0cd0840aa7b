"""ConnectorsHost: connector threads in, router calls out on the GUI thread; reconnects; bad input from a
softphone never breaks the panel. The softphone here is a scripted netstring peer on 127.0.0.1 (the real
baresip test is test_baresip_real.py)."""

from __future__ import annotations

import json
import logging
import socket
import threading

import pytest

from desktop.calls.baresip import BaresipConnector
from desktop.calls.connector_base import Backoff
from desktop.calls.netstring import encode_netstring
from desktop.domain.states import PopState
from desktop.runtime.connectors_host import ConnectorsHost
from tests.gui.conftest import CALM, PRICE_SENSITIVE, make_app, wait_for_state

FAST = {"backoff": Backoff(0.05, 0.2, jitter=0.1)}


def event_frame(kind: str, call_id: str, number: str = CALM[1], direction: str = "incoming") -> bytes:
    return encode_netstring(json.dumps({"event": True, "type": kind, "class": "call", "direction": direction,
                                        "peeruri": f"sip:{number}@127.0.0.1", "id": call_id}).encode())


class ScriptedSoftphone:
    """Plays one list of byte chunks per accepted connection (None: close it), then keeps it open."""

    def __init__(self, scripts: list[list[bytes | None]]) -> None:
        self.scripts = scripts
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-softphone", daemon=True)

    def __enter__(self) -> ScriptedSoftphone:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            script = self.scripts[self.connections] if self.connections < len(self.scripts) else []
            self.connections += 1
            with conn:
                conn.settimeout(0.1)
                closed = False
                for chunk in script:
                    if chunk is None:
                        closed = True
                        break
                    conn.sendall(chunk)
                while not closed and not self._stop.is_set():
                    try:
                        if not conn.recv(4096):
                            break
                    except TimeoutError:
                        continue
                    except OSError:
                        break


def test_events_reach_the_handler_on_the_gui_thread_in_order_and_stop_joins(qtbot):
    received = []
    host = ConnectorsHost(lambda event: received.append((event.state, threading.current_thread())))
    statuses = []
    host.status_changed.connect(statuses.append)
    frames = [event_frame("CALL_INCOMING", "c1"), event_frame("CALL_ESTABLISHED", "c1"),
              event_frame("CALL_CLOSED", "c1")]
    with ScriptedSoftphone([[b"".join(frames)]]) as phone:
        connector = BaresipConnector("127.0.0.1", phone.port, host.post_event, host.post_status, **FAST)
        host.start([connector])
        qtbot.waitUntil(lambda: len(received) == 3, timeout=5000)
        assert [state for state, _ in received] == ["ringing", "answered", "ended"]
        assert all(thread is threading.main_thread() for _, thread in received)
        assert host.statuses()["baresip"].state == "connected"
        assert host.stop() and not connector.is_running
    assert [s.state for s in statuses][:2] == ["connecting", "connected"]


def test_garbage_and_drops_from_the_softphone_never_break_the_panel(qapp, qtbot, tmp_path, server, memory_keyring,
                                                                   caplog):
    caplog.set_level(logging.INFO, logger="callcue.connectors")
    app = make_app(qapp, tmp_path, server.base_url, server.token)
    app.start(show=True)
    host = ConnectorsHost(app.router.handle, parent=app)
    scripts = [
        # Connection 1: a call pops, then a frame that is not JSON, an event with a wrong type, an unknown
        # event, and then a broken netstring: the connector drops the connection and reconnects.
        [event_frame("CALL_INCOMING", "g1"), encode_netstring(b"{not json"),
         encode_netstring(json.dumps({"event": True, "type": "CALL_INCOMING", "id": 7}).encode()),
         encode_netstring(b'{"event": true, "type": "CALL_FROBNICATED", "id": "x"}'),
         b"99999999999999:{", None],
        # Connection 2: huge and non-ASCII fields are refused one by one; the next call still pops.
        [encode_netstring(json.dumps({"event": True, "type": "CALL_INCOMING", "id": "g2",
                                      "peeruri": "sip:" + "坐" * 5000 + "@x"}).encode()),
         event_frame("CALL_INCOMING", "g3", PRICE_SENSITIVE[1])],
    ]
    with ScriptedSoftphone(scripts) as phone:
        connector = BaresipConnector("127.0.0.1", phone.port, host.post_event, host.post_status, **FAST)
        try:
            host.start([connector])
            view = wait_for_state(qtbot, app, "baresip:g1", PopState.LIVE)
            assert view.result.document.customer.customer_id == CALM[0]
            second = wait_for_state(qtbot, app, "baresip:g3", PopState.LIVE)
            assert second.result.document.customer.customer_id == PRICE_SENSITIVE[0]
            assert phone.connections == 2 and app.window.tabs.count() == 2
            assert app.router.call("baresip:g2") is None
            problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert any("frame is not JSON" in p for p in problems)
            assert any("field 'id' must be text, not a number" in p for p in problems)
            assert any("'peeruri' is longer than 1024 characters" in p for p in problems)
            assert any("more than 5 digits" in p for p in problems)
            assert CALM[1] not in caplog.text and PRICE_SENSITIVE[1] not in caplog.text
        finally:
            host.stop()
            app.close()


@pytest.mark.parametrize("when", ["before start", "twice"])
def test_stop_is_safe_before_start_and_twice(qtbot, when):
    host = ConnectorsHost(lambda _e: None)
    connector = BaresipConnector("127.0.0.1", 9, host.post_event, host.post_status, **FAST)
    if when == "twice":
        host.start([connector])
    assert host.stop() and host.stop()
    with pytest.raises(RuntimeError):
        host.start([])


def test_commands_fail_fast_when_not_connected(qtbot):
    connector = BaresipConnector("127.0.0.1", 9, lambda _e: None, **FAST)
    with pytest.raises(ConnectionError):
        connector.send_command("accept").result(1)
