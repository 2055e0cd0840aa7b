"""Helpers of the local-bridge benchmarks (bridge_pop.py, bridge_burst.py): the real panel with its bridge,
and waiting on the Qt event loop.

The panel is the real CallCueApp (offscreen, signed in through CALLCUE_SERVER_URL / CALLCUE_AGENT_ID /
CALLCUE_TOKEN, its own store in the benchmark's work directory) with a BridgeHost wired exactly as
desktop/app.py wires it, listening on a free 127.0.0.1 port. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def panel_with_bridge(workdir: Path, server_url: str, agent_id: str, token: str) -> Iterator[tuple[Any, Any]]:
    """(app, bridge_host): the panel shown, its bridge serving. Both are stopped on exit."""
    from desktop.cli import _qt_application
    from desktop.services.config import ConfigPaths, load_config

    home = workdir / "panel"
    paths = ConfigPaths(machine_file=home / "machine.toml", user_file=home / "config.toml",
                        data_dir=home / "data", log_dir=home / "logs")
    environ = {**os.environ, "CALLCUE_SERVER_URL": server_url, "CALLCUE_AGENT_ID": agent_id,
               "CALLCUE_TOKEN": token}
    for name in ("CALLCUE_STORE_PATH", "CALLCUE_BRIDGE_PORT", "CALLCUE_BRIDGE_TOKEN"):
        environ.pop(name, None)
    # bridge.port 0 keeps a bridge the app may start itself off; the benchmark wires one on a free port.
    # Periodic sync off (1 h): outcomes would still force one.
    config = load_config(machine_file=None, user_file=None, environ=environ,
                         cli={"sync.interval_s": 3600, "bridge.port": "0"})
    qapp = _qt_application(True)
    from desktop.app import CallCueApp

    app = CallCueApp(qapp, config, paths, environ=environ, headless=True)
    host = None
    try:
        app.start(show=True)
        host, startup = start_bridge(app)
        host.startup = startup
        yield app, host
    finally:
        if host is not None:
            host.stop()
        app.close()


def start_bridge(app: Any) -> tuple[Any, dict[str, float]]:
    """Wire and start a BridgeHost as desktop/app.py does; returns it and what starting it cost: the GUI
    thread's time in import + construct + start(), the time until it serves, and the longest GUI event-loop
    stall meanwhile (the bridge's thread imports uvicorn and binds, competing for the GIL)."""
    from desktop.runtime.stall_monitor import EventLoopStallMonitor

    monitor = EventLoopStallMonitor(interval_ms=2, threshold_ms=50)
    monitor.start()
    began = time.perf_counter()
    from desktop.runtime.bridge_host import BridgeHost

    host = BridgeHost(app.config.bridge, app.paths.data_dir, app.router,
                      show=lambda: app.window.show_without_focus(), hide=lambda: app.window.hide(),
                      is_visible=lambda: app.window.isVisible(), parent=app)
    host.follow(app.controller)
    host.start(port=0)
    gui_thread_ms = (time.perf_counter() - began) * 1000
    wait_until(lambda: (host.server is not None and host.server.wait_ready(0)) or host.problem is not None, 30)
    ready_ms = (time.perf_counter() - began) * 1000
    if not host.wait_ready(0):
        raise RuntimeError(f"the bridge did not start: {host.problem}")
    wait_until(lambda: False, 0.2)  # a little of the loop after ready, so a late stall counts too
    monitor.stop()
    return host, {"gui_thread_ms": round(gui_thread_ms, 2), "ready_ms": round(ready_ms, 1),
                  "max_gui_stall_ms": round(monitor.report().max_stall_ms, 2)}


def wait_until(predicate: Callable[[], bool], timeout_s: float, *, poll_ms: int = 5) -> bool:
    """Run the Qt event loop until predicate() holds (checked every `poll_ms`) or the time is up."""
    from PySide6 import QtCore

    if predicate():
        return True
    loop = QtCore.QEventLoop()
    deadline = time.monotonic() + timeout_s
    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)

    def check() -> None:
        if predicate() or time.monotonic() >= deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start(poll_ms)
    loop.exec()
    timer.stop()
    return predicate()
