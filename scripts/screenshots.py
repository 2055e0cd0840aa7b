"""Screenshots of the panel for docs/agent-guide.md, on a real X display with a window manager.

    xvfb-run -a -s "-screen 0 1280x1000x24" sh -c 'openbox & .venv/bin/python scripts/screenshots.py OUTDIR'

For each language (zh_CN, en) and theme (light, dark), against the sample server of `callcue demo`:
two calls (tabs), three calls (the list), the undo banner, an unknown caller with its three outcome keys,
the callback queue between calls, and offline (server stopped: a stale pop and the sync drawer); then the
outbound window (Ctrl+Shift+O) on the sample world's running outbound wave: the preview of the next customer,
dialing, the call-result keys (the softphone reported "486 Busy Here"), the wrap-up of a connected call with
its offer outcome keys, and the empty worklist. Writes OUTDIR/<scene>-<lang>-<theme>.png. Not a test: it
drives the real app with the real server and waits (polling) for what each scene needs.

    SCREENSHOTS_ONLY=en-dark       one language and theme
    SCREENSHOTS_PART=outbound      only the outbound scenes (panel: only the panel's)
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from desktop.calls.events import CallEvent  # noqa: E402
from desktop.cli import DemoServer  # noqa: E402
from desktop.domain.states import PopState  # noqa: E402
from desktop.services.config import ConfigPaths, load_config  # noqa: E402

UNKNOWN = "13312345678"  # no customer has this number in the sample data


def wait(qapp, condition, timeout_s: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        qapp.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def settle(qapp, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        qapp.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def ring(app, call_id: str, ani: str, state: str = "ringing") -> None:
    app.router.handle(CallEvent(call_id=call_id, state=state, ani=ani, source="screenshots"))


def state_of(app, call_id: str):
    view = app.window.view(call_id)
    return None if view is None or view.result is None else view.result.state


def grab_window(app, path: Path) -> None:
    app.window.grab().save(str(path))
    print(f"wrote {path}")


def grab_screen_around(qapp, widgets, path: Path) -> None:
    """The screen area covering `widgets` (a window and a dialog the window manager placed)."""
    rect = QtCore.QRect()
    for widget in widgets:
        rect = rect.united(widget.frameGeometry())
    screen = QtGui.QGuiApplication.primaryScreen()
    screen.grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height()).save(str(path))
    print(f"wrote {path}")


def open_app(qapp, server: DemoServer, language: str, theme: str):
    from desktop.app import CallCueApp

    info = server.info
    home = server.data_dir / "panel"
    paths = ConfigPaths(machine_file=home / "machine.toml", user_file=home / "config.toml",
                        data_dir=home / "data", log_dir=home / "logs")
    environ = {**os.environ, "CALLCUE_SERVER_URL": info["base_url"], "CALLCUE_AGENT_ID": info["agent_id"],
               "CALLCUE_TOKEN": info["token"]}
    config = load_config(machine_file=None, user_file=None, environ=environ,
                         cli={"ui.language": language, "ui.theme": theme, "bridge.port": "0",
                              "sync.undo_window_s": "8"})
    app = CallCueApp(qapp, config, paths, environ=environ, headless=True)
    app.start(show=True)
    return app


class ScreenshotDialer:
    """Stands in for the softphone: the number is "dialed" at once (the softphone's events follow below)."""

    name = "screenshots"

    def dial(self, number: str) -> str:
        return number


def run_outbound(qapp, out: Path, language: str, theme: str) -> None:
    """The outbound window on the sample world's running outbound wave (出境漫游关怀, wave 2, outbound_call)."""
    from desktop.domain.outbound import CallResult
    from desktop.services.outbound import Phase

    server = DemoServer(300)
    try:
        app = open_app(qapp, server, language, theme)
        app.window.resize(400, 860)
        app.window.move(40, 40)
        outbound = app.panel.outbound
        outbound.dialer = ScreenshotDialer()
        tag = f"{language}-{theme}"

        def phase_is(phase) -> bool:
            return outbound.service.state().phase is phase and not outbound._busy and not outbound._queue

        def grab(scene: str) -> None:
            settle(qapp, 0.5)
            outbound.window.grab().save(str(out / f"{scene}-{tag}.png"))
            print(f"wrote {out / f'{scene}-{tag}.png'}")

        try:
            outbound.set_mode(True)  # what Ctrl+Shift+O does
            outbound.window.resize(460, 900)
            outbound.window.move(460, 40)
            wait(qapp, lambda: phase_is(Phase.PREVIEW), what="the preview")
            grab("outbound-preview")
            # Call (Ctrl+Return): dialing; the result keys are there already (no answer is known before it ends).
            outbound.dial()
            wait(qapp, lambda: phase_is(Phase.DIALING), what="dialing")
            grab("outbound-dialing")
            # The customer answers (the softphone says so): connected → the wrap-up with the offer outcome keys.
            number = outbound.service.state().previewed.number
            for state in ("ringing", "answered"):
                app._call_event(CallEvent(call_id="baresip:shot-1", state=state, ani=number, source="baresip"))
            wait(qapp, lambda: phase_is(Phase.TALKING), what="talking")
            outbound.record_result(CallResult.CONNECTED.value)
            wait(qapp, lambda: phase_is(Phase.WRAP_UP) and outbound.service.state().prepared is not None,
                 what="the wrap-up")
            grab("outbound-wrap-up")
            # Done: the next customer (prepared meanwhile). The softphone says the call ended with 486 Busy Here:
            # Busy is offered first.
            outbound.finish()
            wait(qapp, lambda: phase_is(Phase.PREVIEW), what="the next preview")
            outbound.dial()
            wait(qapp, lambda: phase_is(Phase.DIALING), what="dialing 2")
            number = outbound.service.state().previewed.number
            for state, extra in (("ringing", {}), ("ended", {"end_reason": "486 Busy Here"})):
                app._call_event(CallEvent(call_id="baresip:shot-2", state=state, ani=number, source="baresip",
                                          **extra))
            wait(qapp, lambda: phase_is(Phase.RESULT), what="the result keys")
            grab("outbound-result-keys")
            outbound.record_result(CallResult.BUSY.value)
            wait(qapp, lambda: phase_is(Phase.DONE) and outbound.service.state().prepared is not None,
                 what="busy saved")
            # The empty worklist: Done shows the customer prepared meanwhile; skipped, the next one is asked of a
            # campaign whose outbound wave has not started yet (it starts next month).
            outbound.finish()
            wait(qapp, lambda: phase_is(Phase.PREVIEW), what="the prepared customer")
            outbound.service.campaign_id = "CMP_AUTOPAY_BONUS"
            outbound.skip("other")
            wait(qapp, lambda: phase_is(Phase.EMPTY), what="the empty worklist")
            grab("outbound-empty")
        finally:
            app.close()
            settle(qapp, 0.2)
    finally:
        server.stop()


def run(qapp, out: Path, language: str, theme: str) -> None:
    server = DemoServer(300)
    try:
        info = server.info
        callers = {c["kind"]: c["ani"] for c in info["callers"]}
        app = open_app(qapp, server, language, theme)
        window = app.window
        window.resize(400, 860)
        window.move(40, 40)
        tag = f"{language}-{theme}"
        try:
            # Two calls: the calm customer talking (in front), the price-sensitive one ringing.
            ring(app, "call-a", callers["calm"], "answered")
            wait(qapp, lambda: state_of(app, "call-a") is PopState.LIVE, what="call A")
            ring(app, "call-b", callers["price_sensitive"])
            wait(qapp, lambda: state_of(app, "call-b") is PopState.LIVE, what="call B")
            settle(qapp)
            grab_window(app, out / f"two-calls-{tag}.png")
            # Three calls: the tabs become a list.
            ring(app, "call-c", callers["complaint_sensitive"])
            wait(qapp, lambda: state_of(app, "call-c") is PopState.LIVE, what="call C")
            settle(qapp)
            grab_window(app, out / f"three-calls-{tag}.png")
            # The undo banner: Declined (Ctrl+2) for the call in front (A).
            app.window.outcome_bar.buttons["declined"].click()
            wait(qapp, lambda: "Ctrl+Z" in window.notice.text(), what="the undo banner")
            settle(qapp)
            grab_window(app, out / f"undo-banner-{tag}.png")
            # A callback agreed with the price-sensitive customer, then every call closed: the idle queue.
            app.router.handle(CallEvent(call_id="call-b", state="answered", source="screenshots"))
            wait(qapp, lambda: window.current_call_id() == "call-b", what="B in front")
            due = dt.datetime.now().astimezone().replace(second=0, microsecond=0) + dt.timedelta(hours=1)
            window.outcome_bar._ask_callback = lambda: due
            window.outcome_bar.buttons["callback"].click()
            wait(qapp, lambda: bool(app.controller._callback_queue), what="the callback queue")
            # An overdue one too (agreed earlier, with the calm customer): shown in the warning colour.
            for call_id in ("call-a", "call-b", "call-c"):
                app.router.dismiss(call_id)
            wait(qapp, lambda: not window.has_calls(), what="no calls")
            settle(qapp, 0.8)
            grab_window(app, out / f"callback-queue-{tag}.png")
            # An unknown caller: no customer record, three number-based outcome keys.
            ring(app, "call-u", UNKNOWN, "answered")
            wait(qapp, lambda: state_of(app, "call-u") is PopState.UNKNOWN_CALLER, what="unknown caller")
            settle(qapp)
            grab_window(app, out / f"unknown-caller-{tag}.png")
            app.router.dismiss("call-u")
            # Offline: the server stops; an outcome waits; the calm customer calls again (stale pop).
            server.stop()
            ring(app, "call-o", callers["calm"], "answered")
            wait(qapp, lambda: state_of(app, "call-o") in (PopState.STALE, PopState.LIVE), what="stale pop")
            window.outcome_bar.buttons["considering"].click()
            wait(qapp, lambda: "Ctrl+Z" in window.notice.text(), what="saved offline")
            app.controller.request_sync(force=True)
            wait(qapp, lambda: window.sync_badge.property("sync") == "attention"
                 or "Offline" in window.sync_badge.text() or "离线" in window.sync_badge.text(),
                 timeout_s=30, what="offline badge")
            settle(qapp, 0.5)
            window.sync_details_requested.emit()
            wait(qapp, lambda: window.findChild(QtWidgets.QDialog, "SyncDrawer") is not None, what="drawer")
            drawer = window.findChild(QtWidgets.QDialog, "SyncDrawer")
            drawer.move(window.frameGeometry().right() + 8, window.y() + 200)
            settle(qapp, 0.8)
            grab_screen_around(qapp, [window, drawer], out / f"offline-{tag}.png")
            drawer.close()
        finally:
            app.close()
            settle(qapp, 0.2)
    finally:
        server.stop()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["callcue-screenshots"])
    combos = [(lang, theme) for lang in ("zh_CN", "en") for theme in ("light", "dark")]
    only = os.environ.get("SCREENSHOTS_ONLY")
    part = os.environ.get("SCREENSHOTS_PART")
    for language, theme in combos:
        if only and only != f"{language}-{theme}":
            continue
        if part in (None, "", "panel"):
            run(qapp, out, language, theme)
        if part in (None, "", "outbound"):
            run_outbound(qapp, out, language, theme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
