"""Headless Chromium driven through the Chrome DevTools Protocol (CDP) with the `websockets` client:
enough to open pages and evaluate JavaScript in them. No Selenium, no chromedriver.

Chromium writes its DevTools port to <user-data-dir>/DevToolsActivePort once it listens; we connect to
the browser endpoint, create a page target and attach to it with a flat session.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class CdpError(RuntimeError):
    pass


class Chromium:
    """One headless browser process (and its children, in their own process group)."""

    def __init__(self, binary: str, profile: Path, *, start_timeout: float = 30.0) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log_path = profile / "chromium.log"
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--no-default-browser-check", "--remote-debugging-port=0",
                f"--user-data-dir={profile}", "about:blank"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        self._ids = itertools.count(1)
        try:
            self._socket = connect(self._browser_endpoint(profile, start_timeout), proxy=None, compression=None,
                                   max_size=None, open_timeout=10)
            self._socket.__enter__()  # managed here: close() closes it
        except BaseException:
            self.close()
            raise

    def _browser_endpoint(self, profile: Path, timeout: float) -> str:
        marker = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                port, path = marker.read_text().split("\n")[:2]
                return f"ws://127.0.0.1:{int(port)}{path}"
            try:  # waiting on the browser process also notices it exiting early
                self.process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise CdpError(f"chromium exited ({self.process.returncode}): {self.log_path.read_text()[-2000:]}")
        raise CdpError(f"chromium did not open its DevTools port within {timeout:g} s")

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 20.0) -> dict[str, Any]:
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self._socket.recv(timeout=max(0.01, deadline - time.monotonic())))
            if reply.get("id") != message_id:
                continue  # an event, or the answer to something else
            if "error" in reply:
                raise CdpError(f"{method}: {reply['error']}")
            return reply["result"]

    def open(self, url: str) -> str:
        """A new tab showing `url`; returns its session id."""
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        return self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(self, session: str, expression: str, *, timeout: float = 20.0) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True, "timeout": int(timeout * 1000)},
                           session=session, timeout=timeout + 5)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} threw: {result['exceptionDetails'].get('text')} "
                           f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        with contextlib.suppress(Exception):
            self._socket.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        # Our own process group only (start_new_session): the browser's helper processes (zygote,
        # renderers) must not outlive the test, whatever state the browser ended in.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
