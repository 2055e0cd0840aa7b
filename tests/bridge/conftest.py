"""Fixtures of the local-bridge tests.

- `BridgeHarness`: the bridge's ASGI application driven in-process (no socket, no thread): thousands of
  requests a second, for the protocol and fuzz tests.
- `bridge`: the real BridgeServer on a free 127.0.0.1 port, answered by a Qt-free stand-in panel (a real
  CallRouter; a pop publishes pop.shown at once). Stopped after the test; no bridge thread may remain.
- `bridged_panel`: the real CallCueApp against the real server with a BridgeHost wired exactly as
  desktop/app.py wires it (GUI tests; pytest-qt).
- `validate(message)`: checks a message against its JSON Schema in plugin_sdk/schemas.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import pytest

from desktop.calls.bridge import BridgeApp, BridgeHandlers, BridgeServer, BridgeToken, FanOut
from desktop.calls.bridge_protocol import call_result, panel_result, state_snapshot
from desktop.calls.router import CallRouter, Closed, Ignored, Pop, RouterAction, UpdatePop
from desktop.domain.events import CallClosed, CallIgnored, CallUpdated, PopShown
from plugin_sdk import protocol
from tests.desktop_runtime.conftest import no_leftover_threads  # noqa: F401 - autouse: Qt tests leave no thread
from tests.gui.conftest import make_app, memory_keyring, server  # noqa: F401 - fixtures for the GUI tests

TOKEN = "test-token-0123456789abcdef-XYZ"


# --------------------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------------------

_VALIDATORS = {name: jsonschema_rs.validator_for(protocol.schema(name), validate_formats=True)
               for name in protocol.MESSAGE_TYPES}


def validate(message: Any) -> dict[str, Any]:
    """Assert `message` (a dict, JSON text or bytes) matches the schema of its type; returns it."""
    if isinstance(message, str | bytes | bytearray):
        message = json.loads(message)
    assert isinstance(message, dict), message
    kind = message.get("type")
    assert kind in _VALIDATORS, f"no schema for message type {kind!r}"
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in _VALIDATORS[kind].iter_errors(message)]
    assert not errors, f"{kind} does not match plugin_sdk/schemas/{kind}.json: {errors}\n{message}"
    return message


# --------------------------------------------------------------------------------------------------------
# A Qt-free stand-in for the panel
# --------------------------------------------------------------------------------------------------------


@dataclass
class FakePanel:
    """Answers the bridge like the panel would (a real CallRouter; a pop is "shown" at once, live, with
    the customer id the event named), synchronously on the bridge's loop."""

    router: CallRouter = field(default_factory=CallRouter)
    visible: bool = False
    fanout: FanOut | None = None
    events_handled: int = 0

    def handlers(self) -> BridgeHandlers:
        return BridgeHandlers(call_event=self.call_event, show=self.show, hide=self.hide, state=self.state)

    def call_event(self, event) -> dict[str, Any]:
        self.events_handled += 1
        actions = self.router.handle(event)
        for action in actions:
            self._publish_action(action)
        return call_result(event.call_id, actions)

    def _publish_action(self, action: RouterAction) -> None:
        if self.fanout is None:
            return
        if isinstance(action, Pop):
            event = PopShown(action.call_id, "live", action.key.customer_id, None, (), update=False)
        elif isinstance(action, UpdatePop):
            call = self.router.call(action.call_id)
            event = CallUpdated(call.call_id, call.key, "transfer", call.phase,
                                in_front=action.call_id == self.router.front_call_id(),
                                refetch=action.identity_changed)
        elif isinstance(action, Ignored):
            event = CallIgnored(action.call_id, action.reason, action.detail)
        elif isinstance(action, Closed):
            event = CallClosed(action.call_id, action.reason)
        else:
            return
        self.fanout.publish(event.type, event.to_json())

    def show(self) -> dict[str, Any]:
        self.visible = True
        return panel_result(True)

    def hide(self) -> dict[str, Any]:
        self.visible = False
        return panel_result(False)

    def state(self) -> dict[str, Any]:
        return state_snapshot(self.router.calls(), {}, None, self.visible, self.router.front_call_id())


def preset_token() -> BridgeToken:
    return BridgeToken(TOKEN, preset=True, path=None)


# --------------------------------------------------------------------------------------------------------
# In-process ASGI harness
# --------------------------------------------------------------------------------------------------------


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class BridgeHarness:
    """Drives a BridgeApp with ASGI messages on a private event loop."""

    def __init__(self, app: BridgeApp) -> None:
        self.app = app
        self.runner = asyncio.Runner()
        self.runner.run(self._attach())

    async def _attach(self) -> None:
        self.app.fanout.attach(asyncio.get_running_loop())

    def close(self) -> None:
        self.app.fanout.detach()
        self.runner.close()

    def http(self, method: str, path: str, *, headers: Iterable[tuple[str, str]] | None = None,
             body: bytes = b"", chunks: list[bytes] | None = None, token: str | None = TOKEN,
             host: str | None = "127.0.0.1:47615") -> HttpReply:
        raw_headers = []
        if host is not None:
            raw_headers.append((b"host", host.encode("latin-1")))
        if token is not None:
            raw_headers.append((b"authorization", f"Bearer {token}".encode("latin-1")))
        raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers or ()]
        scope = {"type": "http", "method": method, "path": path, "headers": raw_headers, "asgi": {"version": "3.0"}}
        parts = chunks if chunks is not None else [body]
        return self.runner.run(self._http(scope, parts))

    async def _http(self, scope: dict[str, Any], parts: list[bytes]) -> HttpReply:
        incoming = [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
                    for i, part in enumerate(parts)]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await asyncio.wait_for(self.app(scope, receive, send), 5)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
        return HttpReply(start["status"], headers, body)

    def websocket(self, frames: list[str | bytes], *, headers: Iterable[tuple[str, str]] | None = None,
                  subprotocols: list[str] | None = None, token: str | None = TOKEN, host: str = "127.0.0.1:47615",
                  path: str = "/v1/events", settle: int = 0) -> list[dict[str, Any]]:
        """Open a WebSocket session, send `frames`, disconnect; returns what the app sent (ASGI messages)."""
        raw_headers = [(b"host", host.encode("latin-1"))]
        if token is not None:
            raw_headers.append((b"authorization", f"Bearer {token}".encode("latin-1")))
        raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers or ()]
        scope = {"type": "websocket", "path": path, "headers": raw_headers, "subprotocols": subprotocols or [],
                 "extensions": {"websocket.http.response": {}}, "asgi": {"version": "3.0"}}
        return self.runner.run(self._websocket(scope, frames, settle))

    async def _websocket(self, scope: dict[str, Any], frames: list[str | bytes], settle: int) -> list[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        queue.put_nowait({"type": "websocket.connect"})
        sent: list[dict[str, Any]] = []
        accepted = asyncio.Event()
        closing = asyncio.Event()

        async def receive() -> dict[str, Any]:
            return await queue.get()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "websocket.accept":
                accepted.set()

        session = asyncio.create_task(self.app(scope, receive, send))
        done, _ = await asyncio.wait({session, asyncio.create_task(accepted.wait())},
                                     return_when=asyncio.FIRST_COMPLETED)
        if session in done:
            return sent
        for frame in frames:
            key = "text" if isinstance(frame, str) else "bytes"
            queue.put_nowait({"type": "websocket.receive", key: frame})
        # Let the session read every frame, answer, and flush (replies are written by its writer task).
        for _ in range(len(frames) * 4 + 20 + settle):
            await asyncio.sleep(0)
        closing.set()
        queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(session, 5)
        return sent


@pytest.fixture
def fake_panel() -> FakePanel:
    return FakePanel()


@pytest.fixture
def harness(fake_panel: FakePanel) -> Iterator[BridgeHarness]:
    fanout = FanOut()
    fake_panel.fanout = fanout
    app = BridgeApp(token=preset_token(), handlers=fake_panel.handlers(), fanout=fanout,
                    allowed_origins=["http://127.0.0.1:8123", "https://crm.example.com"])
    running = BridgeHarness(app)
    yield running
    running.close()


# --------------------------------------------------------------------------------------------------------
# The real server on a socket
# --------------------------------------------------------------------------------------------------------


def bridge_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "callcue-bridge"]


@pytest.fixture(autouse=True)
def no_bridge_left_running() -> Iterator[None]:
    assert not bridge_threads(), "a bridge thread was running before the test"
    yield
    assert not bridge_threads(), "the test left a bridge thread running"


@dataclass
class RunningBridge:
    server: BridgeServer
    panel: FakePanel
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port


def start_bridge(panel: FakePanel, *, allowed_origins: Iterable[str] = (), token: BridgeToken | None = None,
                 **options: Any) -> RunningBridge:
    token = token or preset_token()
    bridge_server = BridgeServer(token=token, handlers=panel.handlers(), port=0, allowed_origins=allowed_origins,
                                 **options)
    panel.fanout = bridge_server.fanout
    bridge_server.start()
    assert bridge_server.wait_ready(15), f"the bridge did not start: {bridge_server.failure!r}"
    return RunningBridge(bridge_server, panel, token.value)


@pytest.fixture
def bridge(fake_panel: FakePanel) -> Iterator[RunningBridge]:
    running = start_bridge(fake_panel, allowed_origins=["http://127.0.0.1:8123"])
    yield running
    assert running.server.stop(), "the bridge did not stop"


# --------------------------------------------------------------------------------------------------------
# The real panel (GUI tests)
# --------------------------------------------------------------------------------------------------------


def wire_bridge(app, *, port: int = 0):
    """A BridgeHost wired to `app` as desktop/app.py does (there: in start(), with bridge.port)."""
    from desktop.runtime.bridge_host import BridgeHost

    host = BridgeHost(app.config.bridge, app.paths.data_dir, app.router,
                      show=lambda: app.window.show_without_focus(), hide=lambda: app.window.hide(),
                      is_visible=lambda: app.window.isVisible(), parent=app)
    host.follow(app.controller)
    host.follow_outbound(app.panel.outbound)
    assert host.start(port=port)
    assert host.wait_ready(15), host.problem
    return host


@contextlib.contextmanager
def panel_with_host(qapp, qtbot, tmp_path, base_url: str, token: str, *, before_start=None, workers: int = 1,
                    **config: str):
    """The real app with its bridge wired and a BridgeClient: yields (app, client, run), `run(fn, …)` calling a
    blocking host function on a thread while the GUI thread keeps serving. `before_start(app)` runs before
    the app starts."""
    from plugin_sdk.bridge_client import BridgeClient

    app = make_app(qapp, tmp_path, base_url, token, **{"bridge.port": "0", **config})
    if before_start is not None:
        before_start(app)
    app.start(show=True)
    host = wire_bridge(app)
    client = BridgeClient(host.server.url, host.token.value)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="test-host") as pool:
        def run(fn, *args, **kwargs):
            future = pool.submit(fn, *args, **kwargs)
            qtbot.waitUntil(future.done, timeout=10000)
            return future.result()

        yield app, client, run
    client.close()
    host.stop()
    app.close()


@pytest.fixture
def bridged_panel(qapp, qtbot, tmp_path, server, memory_keyring):  # noqa: F811 - fixtures imported above
    # bridge.port 0 keeps the app's own bridge (once app.py starts one) off; the test wires its own.
    app = make_app(qapp, tmp_path, server.base_url, server.token,
                   **{"bridge.port": "0", "bridge.allowed_origins": "http://127.0.0.1:8123"})
    app.start(show=True)
    host = wire_bridge(app)
    yield app, host
    host.stop()
    app.close()
