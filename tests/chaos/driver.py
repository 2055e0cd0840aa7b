"""The chaos suite's desktop client: the real CallCueApp (offscreen) in its own process, driven like an agent.

    python -m tests.chaos.driver --server-url URL --token T --home DIR --customers C1,C2,… [options]

It pops calls (through the call router, as a softphone would), presses outcome keys on the panel's outcome
bar (as the agent does) and reports what the agent would see, one JSON object per line on stdout:

    {"event": "ready", "notice": "…", "badge": "…"}        the panel is up (notice: what it told the agent)
    {"event": "confirmed", "outcome_id": "…", "n": 3}        the panel said "saved" (controller.outcome_recorded,
                                                             emitted after the durable commit)
    {"event": "failed", "notice": "…"}                        the panel said "not saved" and why
    {"event": "sync", "pending": 2, "attention": 0, "badge": "…", "error": "timeout"|null}
    {"event": "drained"}                                      outbox empty (mode drain, or command `drain`)

Commands, one per line on stdin: `stop` (quit cleanly), `drain` (stop recording; quit once the outbox is
empty), `pause` / `resume` (recording), `free PATH` (delete a file: IT freeing disk space), `sh CMD…` (run a
shell command, e.g. a remount inside the test's mount namespace), `record [CUSTOMER]` (one outcome now, in
pause; for that customer if given), `note TEXT` (type a note into the outcome bar, as the agent does).
"confirmed" and "failed" carry `note`: what the note field holds once the panel has answered.

A confirmation line is printed after the commit, so a SIGKILL between the two leaves an outcome that is
stored but not confirmed: the suite requires every *confirmed* outcome on the server exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"


def emit(event: str, **data) -> None:
    sys.stdout.write(json.dumps({"event": event, **data}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--agent-id", default="agent-007")
    parser.add_argument("--home", required=True, help="config, data and log directories live here")
    parser.add_argument("--store", help="the local store file (default: HOME/data/callcue.sqlite3)")
    parser.add_argument("--customers", required=True, help="comma-separated customer ids to pop")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--mode", choices=["loop", "drain", "idle"], default="loop")
    parser.add_argument("--max-outcomes", type=int, default=0, help="loop: stop recording after N (0: never)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ca-bundle")
    args = parser.parse_args(argv)

    from PySide6 import QtCore, QtWidgets

    def quiet(_kind, _context, message: str) -> None:
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    QtCore.qInstallMessageHandler(quiet)
    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    qapp.setQuitOnLastWindowClosed(False)

    from desktop.app import CallCueApp
    from desktop.calls.events import CallEvent
    from desktop.remote.credentials import CredentialStore
    from desktop.services.config import ConfigPaths, load_config

    home = Path(args.home)
    environ = {"CALLCUE_SERVER_URL": args.server_url, "CALLCUE_AGENT_ID": args.agent_id,
               "CALLCUE_TOKEN": args.token}
    # sync.undo_window_s 0: each outcome is sent at once (the kills test delivery, not the undo window's hold).
    cli = {"ui.language": args.lang, "ui.theme": "light", "bridge.port": "0", "sync.interval_s": "5",
           "sync.undo_window_s": "0", "ui.wrapup_reminder_s": "0", "store.path": args.store, "server.ca_bundle": args.ca_bundle}
    paths = ConfigPaths(machine_file=home / "machine.toml", user_file=home / "config.toml",
                        data_dir=home / "data", log_dir=home / "logs")
    config = load_config(machine_file=None, user_file=paths.user_file, environ=environ, cli=cli)
    app = CallCueApp(qapp, config, paths, environ=environ, headless=True, credentials=CredentialStore())
    rng = random.Random(args.seed or None)
    customers = [c for c in args.customers.split(",") if c]
    state = {"n": 0, "recording": args.mode == "loop", "busy": False, "draining": args.mode == "drain",
             "call": None, "seq": 0}
    window = app.window

    def notice() -> str:
        return window.notice.text() if window.notice.isVisible() else ""

    original_failed = window.outcome_failed

    def outcome_failed(message: str, **where) -> None:  # where: the call it belongs to (call_id=…)
        original_failed(message, **where)
        emit("failed", notice=notice(), note=window.outcome_bar.note.text())
        state["busy"] = False
        end_call()
        schedule_next()

    window.outcome_failed = outcome_failed  # observe what the agent is told (the panel still shows it)

    def on_recorded(event) -> None:  # OutcomeRecorded
        state["n"] += 1
        emit("confirmed", outcome_id=event.outcome_id, n=state["n"], notice=notice(),
             note=window.outcome_bar.note.text())
        state["busy"] = False
        end_call()
        schedule_next()

    def on_sync(event) -> None:  # SyncStateChanged
        sync_state = event.state
        error = sync_state.last_error.code if sync_state.last_error is not None else None
        emit("sync", pending=sync_state.pending, attention=sync_state.needs_attention,
             badge=window.sync_badge.text(), error=error)
        if state["draining"] and sync_state.pending == 0 and not state["busy"]:
            emit("drained")
            qapp.quit()

    def on_pop(event) -> None:  # PopShown
        if event.call_id != state["call"] or event.state == "loading" or state["busy"]:
            return
        view = app.window.view(event.call_id)
        if view is None or view.result is None or view.result.document is None:
            emit("pop_failed", state=event.state, notice=notice())
            end_call()
            schedule_next(200)
            return
        record_now()

    def record_now() -> None:
        bar = window.outcome_bar
        choices = [r for r in ("accepted", "declined", "considering") if bar._enabled(r)]
        result = rng.choice(choices) if choices else "do_not_disturb"
        state["busy"] = True
        bar.request(result)  # what the outcome button (or its shortcut) does

    def end_call() -> None:
        call_id, state["call"] = state["call"], None
        if call_id is not None:
            app.router.handle(CallEvent(call_id=call_id, state="ended", agent_id=args.agent_id, source="chaos"))
            app.router.dismiss(call_id)

    def next_call() -> None:
        if not state["recording"] or state["busy"] or state["call"] is not None:
            return
        if args.max_outcomes and state["n"] >= args.max_outcomes:
            state["recording"] = False
            return
        if state.pop("one_shot", False):
            state["recording"] = False
        state["seq"] += 1
        call_id = f"chaos-{os.getpid()}-{state['seq']}"
        state["call"] = call_id
        customer = state.pop("customer", None) or rng.choice(customers)
        app.router.handle(CallEvent(call_id=call_id, state="answered", customer_id=customer,
                                    agent_id=args.agent_id, source="chaos"))

    def schedule_next(delay_ms: int = 0) -> None:
        QtCore.QTimer.singleShot(delay_ms, next_call)

    app.controller.outcome_recorded.connect(on_recorded)
    app.controller.sync_state_changed.connect(on_sync)
    app.controller.pop_shown.connect(on_pop)

    def command(line: str) -> None:
        word, _, rest = line.strip().partition(" ")
        if word == "stop":
            state["recording"] = False
            qapp.quit()
        elif word == "drain":
            state["recording"], state["draining"] = False, True
            app.controller.refresh_sync_state()
        elif word == "pause":
            state["recording"] = False
        elif word == "resume":
            state["recording"] = True
            schedule_next()
        elif word == "record":
            state["recording"], state["one_shot"] = True, True
            if rest.strip():
                state["customer"] = rest.strip()
            schedule_next()
        elif word == "note":
            window.outcome_bar.note.setText(rest)
        elif word == "free":
            Path(rest).unlink(missing_ok=True)
            emit("done", command=line.strip())
        elif word == "sh":
            done = subprocess.run(rest, shell=True, capture_output=True, text=True)
            emit("done", command=line.strip(), rc=done.returncode, stderr=done.stderr[-500:])
        elif word == "notice":
            emit("notice", notice=notice(), badge=window.sync_badge.text())

    buffer = bytearray()

    def read_stdin() -> None:
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            notifier.setEnabled(False)
            return
        buffer.extend(chunk)
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            command(line.decode())

    notifier = QtCore.QSocketNotifier(sys.stdin.fileno(), QtCore.QSocketNotifier.Type.Read)
    notifier.activated.connect(read_stdin)

    qapp.aboutToQuit.connect(app.close)
    app.start(show=True)
    emit("ready", notice=notice(), badge=window.sync_badge.text(), pid=os.getpid(),
         store_problem=app.store_problem.code if app.store_problem else None)
    schedule_next()
    code = qapp.exec()
    notifier.setEnabled(False)
    return code


if __name__ == "__main__":
    sys.exit(main())
