"""`callcue`: the agent panel.

  callcue [--headless] [--server-url URL] [--agent-id ID] [--lang zh_CN|en] [--theme light|dark]
  (these panel options may also come before a subcommand: `callcue --lang zh_CN run`)
  callcue pop --ani NUMBER [--call-id ID] [--customer-id ID]   # forwards to the running panel
  callcue demo [--headless] [--screenshot PATH] [--lang zh_CN|en]  # server + sample data + a real pop
                                                 # (a visible demo is the panel `callcue pop` reaches)
  callcue stats --from DATE --to DATE [--agent A] [--format csv|json]  # local statistics, no GUI needed
  callcue callbacks [--json] [--store PATH]  # open callbacks in the local data file, earliest first
  callcue store rescue FILE [--store PATH]  # outcomes and call results of a damaged / set-aside data file

A second `callcue …` hands its command to the running instance and exits; softphones that run a command on
an incoming call use `callcue pop`.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from desktop import __version__
from desktop.calls.connect_option import connect_argument, connect_overrides

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcue", description="CallCue agent assistant (坐席助手)")
    parser.add_argument("--version", action="version", version=f"callcue {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation offscreen (settings, resources, store, a sample pop) and exit")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--headless", action="store_true",
                        help="no visible window (offscreen platform): for automation and kiosks")
    common.add_argument("--server-url", help="analytics server, e.g. https://analytics.example.com")
    common.add_argument("--agent-id")
    common.add_argument("--lang", choices=["system", "zh_CN", "en"], help="interface language")
    common.add_argument("--theme", choices=["system", "light", "dark"])
    common.add_argument("--store", help="local data file (default: the platform data directory)")
    common.add_argument("--connect", action="append", type=connect_argument, metavar="NAME=HOST:PORT",
                        help="take calls from baresip=127.0.0.1:4444 or ami=pbx.example.com:5038 (repeatable)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", parents=[common], help="run the panel (the default)")
    pop = sub.add_parser("pop", parents=[common], help="pop a caller in the running panel")
    pop.add_argument("--ani", help="the caller's number")
    pop.add_argument("--call-id", help="the softphone's call id (repeats with the same id are ignored)")
    pop.add_argument("--customer-id")
    pop.add_argument("--state", default="ringing", choices=["ringing", "answered", "transferred", "ended"])
    demo = sub.add_parser("demo", parents=[common], help="start a sample server and show a real pop")
    demo.add_argument("--screenshot", help="write a PNG of the panel after the pop (headless: then exit)")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--caller", choices=["price_sensitive", "complaint_sensitive", "calm"],
                      default="price_sensitive")
    stats = sub.add_parser("stats", help="statistics from this workstation's local data file (CSV or JSON)",
                           description="Figures from the local data file, without the panel or the server. Dates "
                                       "are days in this computer's time zone ($TZ overrides), both included. "
                                       "Team leads (lead token) see every agent; agents see their own figures.")
    stats.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD", help="first day")
    stats.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD", help="last day (included)")
    stats.add_argument("--agent", help="only this agent (team leads)")
    stats.add_argument("--campaign", help="only this campaign")
    stats.add_argument("--wave", type=int, help="only this wave")
    stats.add_argument("--format", choices=["csv", "json"], default="csv")
    stats.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    stats.add_argument("--store", help="local data file (default: the platform data directory)")
    stats.add_argument("--server-url", help="analytics server asked for your role (GET /v1/me)")
    stats.add_argument("--agent-id", help="who you are (default: the last sign-in)")
    callbacks = sub.add_parser("callbacks", help="the callbacks still to make, from the local data file",
                               description="Open callbacks (no outcome for that customer since it was agreed), "
                                           "overdue ones of the last 7 days included, earliest first; times in "
                                           "this computer's time zone. 列出待回拨（本机数据文件）。")
    callbacks.add_argument("--json", action="store_true", help="one JSON array (times with their UTC offset)")
    callbacks.add_argument("--store", help="local data file (default: the platform data directory)")
    store = sub.add_parser("store", help="the local data file: rescue outcomes from a damaged copy")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    rescue = store_sub.add_parser(
        "rescue", help="send the outcomes and outbound call results a damaged or set-aside data file still holds",
        description="Reads every outcome and outbound call result that can still be read from FILE (a data file "
                    "CallCue set aside as damaged, or any copy of one; it is never modified) and adds the ones this "
                    "computer's data file does not have yet: the panel then sends them. Safe to run again "
                    "(nothing is added or sent twice). 从损坏的数据文件中找回结果和外呼呼叫结果并加入待发送队列，可重复运行。")
    rescue.add_argument("file", metavar="FILE", help="the damaged file, e.g. callcue.sqlite3.damaged-20261123-101500")
    rescue.add_argument("--store", help="the live data file to rescue into (default: the panel's)")
    rescue.add_argument("--lang", choices=["system", "zh_CN", "en"], help="language of the report")
    # The panel options are also accepted before the subcommand (`callcue --lang zh_CN run`): as copies with
    # their own dest, because a subcommand's defaults would otherwise overwrite them silently; parse_args
    # moves them to the subcommand, or refuses them where the subcommand has no such option.
    for action in common._actions:
        if action.option_strings and action.dest != "help":
            leading = copy.copy(action)
            leading.dest, leading.default = LEADING + action.dest, None
            if action.nargs != 0 and action.metavar is None and action.choices is None:
                leading.metavar = action.dest.upper()
            parser._add_action(leading)
    parser.set_defaults(subcommands=sub.choices)
    return parser


LEADING = "leading_"


def _accepted_dests(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, argparse.Action]:
    """The options a subcommand (and its chosen sub-subcommand, e.g. `store rescue`) takes, by dest."""
    accepted: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                accepted.update(_accepted_dests(chosen, args))
        elif action.option_strings:
            accepted[action.dest] = action
    return accepted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; options given before the subcommand apply to it, or are refused with a message."""
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    if args.command is None:  # `callcue [options]` is `callcue run [options]`
        args = parser.parse_args([*raw, "run"])
    accepted = _accepted_dests(args.subcommands[args.command], args)
    for dest in [name for name in vars(args) if name.startswith(LEADING)]:
        value, dest = getattr(args, dest), dest.removeprefix(LEADING)
        delattr(args, LEADING + dest)
        if value is None:
            continue
        option = next(a.option_strings[-1] for a in parser._actions if a.dest == LEADING + dest)
        if dest not in accepted:
            parser.error(f"{option} does not apply to `callcue {args.command}` (see `callcue {args.command} --help`)")
        given_after = getattr(args, dest, None)
        if given_after not in (None, False) and given_after != value:
            parser.error(f"{option} is given twice, before and after `{args.command}`, with different values")
        setattr(args, dest, value)
    del args.subcommands
    return args


def _config_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "server.url": args.server_url,
        "agent.id": args.agent_id,
        "ui.language": args.lang,
        "ui.theme": args.theme,
        "store.path": args.store,
        **connect_overrides(getattr(args, "connect", None)),
    }


def _pop_argv(args: argparse.Namespace) -> list[str]:
    argv = ["pop", "--state", args.state]
    for option, value in (("--ani", args.ani), ("--call-id", args.call_id), ("--customer-id", args.customer_id)):
        if value:
            argv += [option, value]
    return argv


def _qt_application(headless: bool):
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from desktop.runtime.painting import serial_painting

    serial_painting()
    from PySide6 import QtCore, QtWidgets

    if headless:
        QtCore.qInstallMessageHandler(_quiet_offscreen_messages)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    _quit_on_sigterm(app)
    app.setApplicationName("CallCue")
    app.setOrganizationName("CallCue")
    app.setQuitOnLastWindowClosed(False)  # the tray keeps running between calls
    return app


def _quiet_offscreen_messages(_kind, _context, message: str) -> None:
    # The offscreen platform says this for every window; it is noise, not a problem to report.
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def _quit_on_sigterm(app) -> None:
    """SIGTERM (service stop, logout) quits through Qt, so the store and threads close cleanly."""
    import signal

    from PySide6 import QtCore

    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    # Python runs signal handlers only between bytecodes: a light timer lets it in while Qt waits.
    timer = QtCore.QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def _load_config(args: argparse.Namespace, paths, environ):
    """(config, problems): a damaged settings file is set aside and reported, not fatal (see
    load_config_or_defaults); a wrong option or environment variable still stops with its message."""
    from desktop.services.config import load_config_or_defaults

    return load_config_or_defaults(machine_file=paths.machine_file, user_file=paths.user_file, environ=environ,
                                   cli=_config_overrides(args))


def _configure_logging(log_dir: Path, level: int | None = None) -> logging.Handler:
    """LOG_DIR/callcue.log, private to the user; the level from CALLCUE_LOG_LEVEL unless given."""
    from desktop.services.logfiles import configure_file_logging, level_from_environment

    return configure_file_logging(log_dir, level_from_environment() if level is None else level)


def run_panel(args: argparse.Namespace, initial: list[str] | None = None) -> int:
    from desktop.services.config import ConfigError, default_paths

    environ = dict(os.environ)
    paths = default_paths()
    try:
        config, config_problems = _load_config(args, paths, environ)
    except ConfigError as exc:
        print(f"callcue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for problem in config_problems:
        print(f"callcue: {problem}", file=sys.stderr)
    from desktop.runtime.single_instance import SingleInstance, SingleInstanceError

    qapp = _qt_application(args.headless)
    instance = SingleInstance("callcue")
    try:
        primary = instance.acquire_or_forward(initial or [], timeout_ms=3000)
    except SingleInstanceError as exc:
        print(f"callcue: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not primary:
        return EXIT_OK
    import logging.handlers  # noqa: F401 - RotatingFileHandler

    _configure_logging(paths.log_dir)
    from desktop.app import CallCueApp

    app = CallCueApp(qapp, config, paths, environ=environ, headless=args.headless, config_problems=config_problems)
    instance.set_handler(app.handle_command)
    instance.listen()
    qapp.aboutToQuit.connect(app.close)
    qapp.aboutToQuit.connect(instance.close)
    app.start(show=not args.headless)
    if initial:
        app.handle_command(initial)
    return qapp.exec()


def forward_pop(args: argparse.Namespace) -> int:
    """`callcue pop`: hand the call to the running panel; start one if none runs."""
    from desktop.calls.cli_source import pop_event_from_argv
    from desktop.calls.events import InvalidCallEvent

    argv = _pop_argv(args)
    try:
        pop_event_from_argv(argv[1:])
    except (InvalidCallEvent, ValueError) as exc:
        print(f"callcue pop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from desktop.runtime.single_instance import ForwardRefused, SingleInstance, SingleInstanceError

    try:
        if SingleInstance("callcue").try_forward(argv, timeout_ms=2000):
            return EXIT_OK
    except ForwardRefused as exc:
        print(f"callcue pop: the panel refused the call: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SingleInstanceError as exc:
        print(f"callcue pop: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return run_panel(args, initial=argv)


# ---------------------------------------------------------------------- demo


class DemoServer:
    """The reference server with sample data, as a child process on loopback (stopped on exit)."""

    def __init__(self, customers: int) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.data_dir = Path(tempfile.mkdtemp(prefix="callcue-demo-"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server_stub.cli", "demo", "--json", "--port", str(port), "--data-dir",
             str(self.data_dir), "--customers", str(customers)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the demo server did not start (is the server package installed?)")
        self.info = json.loads(line)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        import requests

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.info['base_url']}/v1/health", timeout=0.5).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("the demo server stopped during start-up")
            time.sleep(0.05)
        raise RuntimeError("the demo server did not answer within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()


def run_demo(args: argparse.Namespace) -> int:
    from desktop.services.config import ConfigPaths, load_config

    if getattr(sys, "frozen", False):  # the installed bundle carries the panel only, not the reference server
        print("callcue demo: the installed panel does not include the sample server; run the demo from a source "
              "checkout (scripts/run.sh)", file=sys.stderr)
        return EXIT_USAGE
    print("callcue demo: starting the sample analytics server …", file=sys.stderr)
    server = DemoServer(args.customers)
    try:
        info = server.info
        caller = next((c for c in info["callers"] if c["kind"] == args.caller), info["callers"][0])
        demo_home = server.data_dir / "panel"
        paths = ConfigPaths(machine_file=demo_home / "machine.toml", user_file=demo_home / "config.toml",
                            data_dir=demo_home / "data", log_dir=demo_home / "logs")
        # The demo signs in through the automation variables: nothing is written to the keyring.
        environ = {**os.environ, "CALLCUE_SERVER_URL": info["base_url"], "CALLCUE_AGENT_ID": info["agent_id"],
                   "CALLCUE_TOKEN": info["token"]}
        config = load_config(machine_file=None, user_file=None, environ=environ, cli=_config_overrides(args))
        qapp = _qt_application(args.headless)
        from PySide6 import QtCore

        from desktop.app import CallCueApp
        from desktop.runtime.single_instance import SingleInstance, SingleInstanceError

        # A visible demo is this user's panel: `callcue pop` reaches it instead of starting a second one. A
        # headless demo takes its screenshot and exits, so it claims nothing (several may run side by side).
        instance = None if args.headless else SingleInstance("callcue")
        try:
            if instance is not None and not instance.listen():
                print("callcue demo: a CallCue panel is already running; quit it (tray menu) before starting the "
                      "demo, or send it calls with `callcue pop`（已有 CallCue 面板在运行：请先退出它）", file=sys.stderr)
                return EXIT_USAGE
        except SingleInstanceError as exc:
            print(f"callcue demo: {exc}", file=sys.stderr)
            return EXIT_FAILED
        app = CallCueApp(qapp, config, paths, environ=environ, headless=args.headless)
        qapp.aboutToQuit.connect(app.close)
        if instance is not None:
            instance.set_handler(app.handle_command)
            qapp.aboutToQuit.connect(instance.close)
        app.start(show=True)
        screenshot = Path(args.screenshot).resolve() if args.screenshot else (
            server.data_dir / f"callcue-demo-{app.language}.png" if args.headless else None)

        def on_pop(event) -> None:  # desktop.domain.events.PopShown
            if event.state in ("loading",) or screenshot is None:
                return
            app.controller.pop_shown.disconnect(on_pop)
            # Let the layout settle for one event-loop turn before grabbing the window.
            QtCore.QTimer.singleShot(150, lambda: _capture(app, screenshot, quit_after=args.headless))

        app.controller.pop_shown.connect(on_pop)
        call = ["pop", "--call-id", "demo-call-1", "--ani", caller["ani"], "--state", "ringing"]
        QtCore.QTimer.singleShot(300, lambda: app.handle_command(call))
        if args.headless:
            QtCore.QTimer.singleShot(30_000, lambda: (print("callcue demo: no pop within 30 s", file=sys.stderr),
                                                     qapp.exit(EXIT_FAILED)))
        else:
            print(f"callcue demo: ringing {caller['ani'][:3]}****{caller['ani'][-4:]} ({caller['kind']}); "
                  "close the panel from the tray to stop.", file=sys.stderr)
        return qapp.exec()
    finally:
        server.stop()


def _capture(app, path: Path, *, quit_after: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    app.window.grab().save(str(path))
    print(f"callcue demo: screenshot written to {path}")
    if quit_after:
        app.qapp.quit()


# ---------------------------------------------------------------------- stats


def run_stats(args: argparse.Namespace) -> int:
    """`callcue stats`: read the local data file and print every figure; never starts Qt or the panel."""
    from desktop.domain.errors import UserFacingError
    from desktop.remote.credentials import CredentialStore
    from desktop.services.config import ConfigError, default_paths, load_config
    from desktop.services.session import SignInService, make_client_factory
    from desktop.services.stats import (
        ROLE_LEAD,
        StatsFilters,
        StatsService,
        Viewer,
        parse_date,
        report_to_csv,
        report_to_json_text,
    )
    from desktop.storage import open_store

    def fail(message: str, code: int) -> int:
        print(f"callcue stats: {message}", file=sys.stderr)
        return code

    environ = dict(os.environ)
    paths = default_paths()
    try:
        config = load_config(machine_file=paths.machine_file, user_file=paths.user_file, environ=environ,
                             cli={"store.path": args.store, "server.url": args.server_url, "agent.id": args.agent_id})
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        filters = StatsFilters(parse_date(args.date_from, "--from"), parse_date(args.date_to, "--to"),
                               agent_id=args.agent, campaign_id=args.campaign, wave=args.wave)
    except UserFacingError as exc:
        return fail(str(exc), EXIT_USAGE)
    path = Path(config.store.path or paths.store_file)
    if not path.is_file():
        return fail(f"there is no CallCue data file at {path} (has the panel run on this computer? --store PATH) "
                    f"（{path} 没有 CallCue 数据文件）", EXIT_FAILED)
    try:
        store = open_store(path)
    except UserFacingError as exc:
        return fail(str(exc), EXIT_FAILED)
    try:
        session = SignInService(make_client_factory(config), CredentialStore(), store,
                                server_url=config.server.url, agent_id=config.agent.id, environ=environ)
        role = session.role()  # the server says whether this token is a lead's; offline: own figures only
        viewer = Viewer(config.agent.id, role or "agent", confirmed=role is not None)
        if role != ROLE_LEAD and (args.agent or not config.agent.id):
            print("callcue stats: the server did not confirm a team-lead role "
                  f"({config.server.url or 'no server configured'}): own figures only"
                  "（服务器未确认组长身份：只能查看自己的数据）", file=sys.stderr)
        report = StatsService(store).report(filters, viewer)
    except UserFacingError as exc:
        return fail(str(exc), EXIT_USAGE if isinstance(exc, ValueError | PermissionError) else EXIT_FAILED)
    finally:
        store.close()
    text = report_to_csv(report) if args.format == "csv" else report_to_json_text(report) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            return fail(f"cannot write {args.output}: {exc.strerror or exc}", EXIT_FAILED)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# ---------------------------------------------------------------------- callbacks


def run_callbacks(args: argparse.Namespace) -> int:
    """`callcue callbacks [--json]`: the open callbacks of the local data file; no Qt, no network."""
    import datetime as dt

    from desktop.domain.errors import UserFacingError
    from desktop.services.callbacks import CallbackService
    from desktop.services.config import ConfigError, default_paths, load_config
    from desktop.storage import open_store

    paths = default_paths()
    try:
        config = load_config(machine_file=paths.machine_file, user_file=paths.user_file, environ=dict(os.environ),
                             cli={"store.path": args.store})
    except ConfigError as exc:
        print(f"callcue callbacks: {exc}", file=sys.stderr)
        return EXIT_USAGE
    path = Path(config.store.path or paths.store_file)
    if not path.is_file():
        print(f"callcue callbacks: there is no CallCue data file at {path} (--store PATH)"
              f"（{path} 没有 CallCue 数据文件）", file=sys.stderr)
        return EXIT_FAILED
    try:
        store = open_store(path)
    except UserFacingError as exc:
        print(f"callcue callbacks: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        callbacks = CallbackService(store).scheduled()
    except UserFacingError as exc:
        print(f"callcue callbacks: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    if args.json:
        print(json.dumps([c.to_json() | {"due_at": c.due_at.astimezone().isoformat()} for c in callbacks],
                         ensure_ascii=False, indent=1))
        return EXIT_OK
    now = dt.datetime.now(dt.UTC)
    for c in callbacks:
        print("\t".join((c.due_at.astimezone().strftime("%Y-%m-%d %H:%M"), c.masked_number or "-",
                         c.display_name or c.shown_id or "unknown caller（陌生来电）", c.last_result or "-",
                         "overdue（已逾期）" if c.overdue(now) else "")).rstrip())
    if not callbacks:
        print("no callbacks scheduled（没有待回拨）")
    return EXIT_OK


# ---------------------------------------------------------------------- store rescue

_RESCUE_TEXTS = {
    "en": {
        "done": "callcue store rescue: {rescued} outcome(s) rescued into {store} ({to_send} to be sent), "
                "{present} already present, {unreadable} unreadable.",
        "contacts": "callcue store rescue: {contacts} more outcome(s) were known only to statistics (their "
                    "delivery data is gone); they count in this computer's statistics again.",
        "retractions": "callcue store rescue: {retractions} undo(s) of outcomes taken in: those outcomes count "
                       "nowhere here, and the server is asked once to take back any it already has.",
        "callbacks": "callcue store rescue: {callbacks} callback(s) keep the name of who to call back.",
        "call_results": "callcue store rescue: {call_results} outbound call result(s) (no answer, busy …) rescued "
                        "({to_send} to be sent), {present} already present. Each keeps its id: the server counts "
                        "every call once, even if it had one already.",
        "send": "The panel sends them at its next sync (start CallCue if it is not running).",
        "unreadable": "Unreadable outcomes are recent outcomes the file names but whose details are damaged: tell "
                      "IT (a backup of the file may still have them).",
        "missing": "callcue store rescue: there is no file {file}",
        "same": "callcue store rescue: {file} is the live data file itself; give the damaged copy instead "
                "(e.g. {file}.damaged-…)",
        "failed": "callcue store rescue: {error}",
    },
    "zh_CN": {
        "done": "callcue store rescue：已找回 {rescued} 条结果到 {store}（其中 {to_send} 条待发送），"
                "{present} 条已存在，{unreadable} 条无法读取。",
        "contacts": "callcue store rescue：另有 {contacts} 条结果只剩统计记录（发送数据已丢失），已重新计入本机统计。",
        "retractions": "callcue store rescue：已找回 {retractions} 条撤销记录：这些结果在本机不再计入，"
                       "服务器已收到的会被请求撤回一次。",
        "callbacks": "callcue store rescue：{callbacks} 条预约回访保留了回访对象的姓名。",
        "call_results": "callcue store rescue：已找回 {call_results} 条外呼呼叫结果（无人接听、占线等；其中 {to_send} "
                        "条待发送），{present} 条已存在。每条保留原编号：即使服务器已收到，每通呼叫也只计一次。",
        "send": "面板会在下次同步时发送（如果面板未运行，请启动 CallCue）。",
        "unreadable": "无法读取的结果：文件中有记录但内容已损坏的近期结果，请联系 IT（文件的备份可能仍有这些结果）。",
        "missing": "callcue store rescue：文件 {file} 不存在",
        "same": "callcue store rescue：{file} 就是正在使用的数据文件；请指定损坏的副本（例如 {file}.damaged-…）",
        "failed": "callcue store rescue：{error}",
    },
}


def _report_language(choice: str | None, config_language: str | None, environ: dict[str, str]) -> str:
    for setting in (choice, config_language):
        if setting in ("zh_CN", "en"):
            return setting
    locale = environ.get("LC_ALL") or environ.get("LC_MESSAGES") or environ.get("LANG") or ""
    return "zh_CN" if locale.lower().startswith("zh") else "en"


def run_store_rescue(args: argparse.Namespace) -> int:
    """`callcue store rescue FILE`: every readable outcome of FILE into the live outbox; no Qt, no network."""
    from desktop.domain.errors import UserFacingError
    from desktop.services.config import ConfigError, default_paths, load_config
    from desktop.services.store_recovery import rescue_into
    from desktop.storage import open_store

    environ = dict(os.environ)
    paths = default_paths()
    try:
        config = load_config(machine_file=paths.machine_file, user_file=paths.user_file, environ=environ,
                             cli={"store.path": args.store})
        config_language = config.ui.language
    except ConfigError as exc:
        print(f"callcue store rescue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    texts = _RESCUE_TEXTS[_report_language(args.lang, config_language, environ)]
    file = Path(args.file)
    live = Path(config.store.path or paths.store_file)
    if not file.exists() and not file.with_name(file.name + "-wal").exists():
        print(texts["missing"].format(file=file), file=sys.stderr)
        return EXIT_USAGE
    if file.exists() and live.exists() and file.resolve() == live.resolve():
        print(texts["same"].format(file=file), file=sys.stderr)
        return EXIT_USAGE
    try:
        store = open_store(live)
    except UserFacingError as exc:
        print(texts["failed"].format(error=exc), file=sys.stderr)
        return EXIT_FAILED
    try:
        report = rescue_into(file, store)
    except (UserFacingError, OSError) as exc:
        print(texts["failed"].format(error=exc), file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    print(texts["done"].format(rescued=report.rescued, store=live, to_send=report.to_send, present=report.present,
                               unreadable=report.unreadable))
    if report.contacts:
        print(texts["contacts"].format(contacts=report.contacts))
    if report.retractions:
        print(texts["retractions"].format(retractions=report.retractions))
    if report.callback_details:
        print(texts["callbacks"].format(callbacks=report.callback_details))
    if report.call_results or report.call_results_present:
        print(texts["call_results"].format(call_results=report.call_results, to_send=report.call_results_to_send,
                                           present=report.call_results_present))
    if report.to_send or report.call_results_to_send:
        print(texts["send"])
    if report.unreadable:
        print(texts["unreadable"])
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_test:
        from desktop.selftest import run_self_test

        return run_self_test()
    command = args.command or "run"
    if command == "stats":
        return run_stats(args)
    if command == "store":
        return run_store_rescue(args)
    if command == "callbacks":
        return run_callbacks(args)
    if command == "pop":
        return forward_pop(args)
    if command == "demo":
        return run_demo(args)
    return run_panel(args)


if __name__ == "__main__":
    sys.exit(main())
