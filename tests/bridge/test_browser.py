"""A real browser as the host: headless Chromium loads examples/web_host from an allowed origin, connects
to the bridge of the real panel (real server behind it), sends a call event and receives pop.shown. The
same page from another origin is refused: its CORS preflight fails and its WebSocket handshake gets 403.

Needs Debian's `chromium` (scripts/bootstrap.sh --test installs it). Without it the tests skip, except
under CI=true, where that is a failure."""

from __future__ import annotations

import concurrent.futures
import functools
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.domain.states import PopState
from tests.bridge.chromium import Chromium, find_chromium
from tests.bridge.conftest import validate, wire_bridge
from tests.gui.conftest import CALM, make_app, wait_for_state

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web_host"
CHROMIUM = find_chromium()

if CHROMIUM is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI must run the browser tests: install Debian's chromium (scripts/bootstrap.sh --test)")
    pytest.skip("Debian's chromium is not installed (scripts/bootstrap.sh --test installs it)", allow_module_level=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


@functools.cache
def _handler(directory: str):
    return functools.partial(_QuietHandler, directory=directory)


class StaticSite:
    """examples/web_host served on 127.0.0.1 (one origin per instance)."""

    def __init__(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(str(EXAMPLE)))
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-static-site")
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def sites() -> Iterator[tuple[StaticSite, StaticSite]]:
    allowed, foreign = StaticSite(), StaticSite()
    yield allowed, foreign
    allowed.close()
    foreign.close()


@pytest.fixture
def browser(tmp_path) -> Iterator[Chromium]:
    chromium = Chromium(CHROMIUM, tmp_path / "chromium-profile")
    yield chromium
    chromium.close()


@pytest.fixture
def web_panel(qapp, qtbot, tmp_path, server, memory_keyring, sites):
    allowed, _foreign = sites
    app = make_app(qapp, tmp_path, server.base_url, server.token,
                   **{"bridge.port": "0", "bridge.allowed_origins": allowed.origin})
    app.start(show=True)
    host = wire_bridge(app)
    yield app, host
    host.stop()
    app.close()


def test_a_page_from_an_allowed_origin_pops_a_call_and_receives_events(qtbot, web_panel, sites, browser):
    app, host = web_panel
    allowed, _ = sites
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="test-cdp") as cdp:
        def in_browser(fn, *args):  # CDP calls wait for the page, which waits for the GUI thread
            future = cdp.submit(fn, *args)
            qtbot.waitUntil(future.done, timeout=30000)
            return future.result()

        page = in_browser(browser.open, f"{allowed.origin}/index.html#bridge={host.server.url}"
                                        f"&token={host.token.value}&connect=1")
        qtbot.waitUntil(lambda: in_browser(browser.evaluate, page, "window.callcueHost?.status") == "ok",
                        timeout=20000)
        answer = in_browser(browser.evaluate, page,
                            "callcueHost.sendCall({call_id: 'web-1', state: 'ringing', ani: '13800138000'})")
        assert validate(answer)["result"] == "popped"
        wait_for_state(qtbot, app, "web-1", PopState.LIVE)

        def page_events() -> list[dict]:
            return json.loads(in_browser(browser.evaluate, page, "JSON.stringify(callcueHost.events)"))

        qtbot.waitUntil(lambda: any(e["type"] == "pop.shown" and e["data"]["call_id"] == "web-1"
                                    for e in page_events()), timeout=20000)
        shown = next(e for e in page_events() if e["type"] == "pop.shown")
        assert validate(shown)["data"]["customer_id"] == CALM[0] and shown["data"]["state"] == "live"
        # The page shows what it received.
        listed = in_browser(browser.evaluate, page, "document.getElementById('events').textContent")
        assert "pop.shown" in listed and "web-1" in listed and CALM[0] in listed
        # A repeated event is answered, not popped twice; the page hears why.
        again = in_browser(browser.evaluate, page,
                           "callcueHost.sendCall({call_id: 'web-1', state: 'ringing', ani: '13800138000'})")
        assert (again["result"], again["reason"]) == ("ignored", "duplicate")
        qtbot.waitUntil(lambda: any(e["type"] == "call.ignored" for e in page_events()), timeout=20000)
        # The token never stays in the address bar.
        assert host.token.value not in in_browser(browser.evaluate, page, "location.href")


def test_the_same_page_from_another_origin_is_refused(qtbot, web_panel, sites, browser):
    app, host = web_panel
    _, foreign = sites
    before = dict(host.server.stats().refusals)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="test-cdp") as cdp:
        def in_browser(fn, *args):
            future = cdp.submit(fn, *args)
            qtbot.waitUntil(future.done, timeout=30000)
            return future.result()

        page = in_browser(browser.open, f"{foreign.origin}/index.html#bridge={host.server.url}"
                                        f"&token={host.token.value}&connect=1")
        qtbot.waitUntil(lambda: in_browser(browser.evaluate, page, "window.callcueHost?.status") == "error",
                        timeout=20000)
        answer = in_browser(browser.evaluate, page,
                            "callcueHost.sendCall({call_id: 'web-x', state: 'ringing', ani: '13800138000'})")
        assert answer["error"] == "unreachable"  # the browser refused to send it: the preflight said no
    refusals = host.server.stats().refusals
    assert refusals.get(403, 0) - before.get(403, 0) >= 2  # the WebSocket handshake and the preflight
    assert app.router.call("web-x") is None and app.window.view("web-x") is None
