"""plugin_sdk.bridge_client.BridgeClient against the real bridge server (Qt-free stand-in panel)."""

from __future__ import annotations

import threading

import pytest

from desktop.calls.bridge import resolve_token, token_path
from plugin_sdk.bridge_client import (
    BridgeAuthError,
    BridgeBusy,
    BridgeClient,
    BridgeForbidden,
    BridgeRequestError,
    BridgeUnavailable,
    default_base_url,
    find_token,
)
from tests.bridge.conftest import TOKEN, FakePanel, start_bridge, validate


def test_send_call_state_show_hide(bridge):
    with BridgeClient(bridge.url, TOKEN) as client:
        result = client.send_call("c1", "ringing", ani="13800138000", dnis="10086")
        assert result.popped and result.reason is None
        again = client.send_call("c1", "ringing", ani="13800138000")
        assert again.ignored and again.reason == "duplicate" and "already" in again.detail
        assert client.send_call("c1", "transferred", customer_id="C-9").result == "updated"
        state = validate(client.state())
        assert state["calls"][0]["customer_id"] == "C-9" and state["calls"][0]["transfers"] == 1
        assert client.show() is True and client.hide() is False


def test_events_arrive_in_order_with_increasing_seq(bridge):
    with BridgeClient(bridge.url, TOKEN) as client, client.subscribe() as stream:
        assert validate(stream.hello)["protocol"] == 1
        client.send_call("e1", "ringing", customer_id="C-1")
        client.send_call("e1", "ringing", customer_id="C-1")
        client.send_call("e1", "transferred", customer_id="C-2")
        received = [validate(stream.next_event(timeout=5)) for _ in range(3)]
        with pytest.raises(TimeoutError):
            stream.next_event(timeout=0.05)
    assert [e["type"] for e in received] == ["pop.shown", "call.ignored", "call.updated"]
    assert received[1]["data"]["reason"] == "duplicate" and received[2]["data"]["refetch"] is True
    assert [e["seq"] for e in received] == sorted(e["seq"] for e in received)


def test_an_event_stream_can_be_closed_from_another_thread(bridge):
    with BridgeClient(bridge.url, TOKEN) as client:
        stream = client.subscribe()
        ended = threading.Event()

        def consume() -> None:
            for _event in stream:
                pass
            ended.set()

        consumer = threading.Thread(target=consume)
        consumer.start()
        stream.close()
        consumer.join(5)
        assert ended.is_set()
        events = client.events(timeout=0.1)
        with pytest.raises(TimeoutError):
            next(events)  # connects, then nothing happens within the timeout


def test_errors_are_typed_and_say_what_to_do(bridge):
    with BridgeClient(bridge.url, "wrong-token-but-long-enough") as client:
        with pytest.raises(BridgeAuthError) as caught:
            client.state()
        assert caught.value.status == 401 and "preset by IT" in str(caught.value)
        with pytest.raises(BridgeAuthError):
            next(client.events())
    with BridgeClient(bridge.url, TOKEN) as client:
        with pytest.raises(BridgeRequestError) as caught:
            client.send_call("x" * 200, "ringing", ani="13800138000")
        assert caught.value.status == 400 and caught.value.field == "call_id"
        with pytest.raises(ValueError):
            client.send_call("c", "on_hold")
    port = bridge.port
    bridge.server.stop()
    with BridgeClient(f"http://127.0.0.1:{port}", TOKEN) as client, pytest.raises(BridgeUnavailable) as caught:
        client.state()
    assert "is CallCue running" in str(caught.value)
    with pytest.raises(ValueError):
        BridgeClient("http://crm.example.com:47615", TOKEN)


def test_a_busy_panel_raises_bridge_busy():
    import concurrent.futures

    from desktop.calls.bridge import BridgeHandlers, BridgeServer
    from desktop.calls.bridge_protocol import panel_result
    from tests.bridge.conftest import preset_token

    server = BridgeServer(token=preset_token(), port=0, answer_timeout_s=0.2, handlers=BridgeHandlers(
        call_event=lambda _e: concurrent.futures.Future(), show=lambda: panel_result(True),
        hide=lambda: panel_result(False), state=lambda: concurrent.futures.Future()))
    server.start()
    try:
        assert server.wait_ready(15)
        with BridgeClient(server.url, TOKEN) as client, pytest.raises(BridgeBusy) as caught:
            client.state()
        assert caught.value.code == "panel_busy"
    finally:
        server.stop()


def test_the_token_is_found_in_the_environment_or_the_install_file(tmp_path, fake_panel: FakePanel):
    token = resolve_token(None, tmp_path)  # as the panel does on first start
    assert find_token({}, tmp_path) == token.value
    assert find_token({"CALLCUE_BRIDGE_TOKEN": "from-env-1234567890"}, tmp_path) == "from-env-1234567890"
    assert find_token({}, tmp_path / "elsewhere") is None
    assert default_base_url({"CALLCUE_BRIDGE_PORT": "48001"}) == "http://127.0.0.1:48001"
    running = start_bridge(fake_panel, token=token)
    try:
        with BridgeClient(running.url, data_dir=tmp_path) as client:
            assert client.show() is True
            # The file was deleted to rotate the token and the panel made a new one: one retry, no loop.
            token_path(tmp_path).unlink()
            rotated = resolve_token(None, tmp_path)
            running.server.app._token = rotated.value.encode()  # the panel restarted with the new token
            assert client.hide() is False
            running.server.app._token = b"another-token-nobody-has"
            with pytest.raises(BridgeAuthError):
                client.state()
    finally:
        running.server.stop()


def test_a_client_of_a_foreign_origin_host_gets_forbidden(bridge):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=5)
    connection.request("GET", "/v1/state", headers={"Authorization": f"Bearer {TOKEN}", "Origin": "https://x.example"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    from plugin_sdk.bridge_client import _error_from_reply

    error = _error_from_reply(response.status, body)
    assert isinstance(error, BridgeForbidden) and error.field == "Origin"
