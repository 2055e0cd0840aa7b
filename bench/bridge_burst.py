"""Benchmark the local bridge under a burst: 1,000 call events a second for 10 s over HTTP, then over the
WebSocket, with hosts subscribed to the events.

    .venv/bin/python bench/bridge_burst.py [--quick] [--json] [--rate N] [--duration S] [--subscribers N]
        [--calls-per-s N] [--http-clients N]

Three processes besides the server: this one runs the real panel (CallCueApp offscreen, signed in, real
server on 127.0.0.1) with its bridge and an event-loop stall monitor on the GUI thread; a load process
sends the events open-loop (each due at start + i/rate, latency counted from the due time); a subscriber
process holds --subscribers WebSocket connections to /v1/events and timestamps every event it receives.
Load and subscribers live in their own processes so that their Python threads do not compete with the
panel for its GIL, nor with each other.

The events are a busy PBX's: --calls-per-s new calls a second (default 5), each ringing -> answered ->
transferred -> ended over 1.2 s, with distinct seeded callers (each pops and fetches live data), and the
rest of the rate made of repeats of recent events (retransmissions, replays of older states) that the
panel must recognize and ignore (each answered `ignored`, each published as call.ignored). The agent
closes each call's tab a second after the call ended.

Figures (the issue's targets):
  none lost        every HTTP request answered 200 with a call.result, every WebSocket command answered
                   (matched by id), every published event received by every subscriber (seq contiguous,
                   no events.dropped notice)
  GUI stall        the longest gap of a 5 ms timer on the GUI thread over both phases: <= 50 ms
  fan-out p99      publish() on the GUI thread -> the event read from a subscriber's socket: <= 10 ms
                   (both timestamps are CLOCK_MONOTONIC, shared by the processes)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import (
    CpuMeter,
    base_parser,
    emit,
    format_table,
    latency_summary,
    log,
    machine_info,
    run_main,
    run_open_loop,
)

TARGETS = {"gui_max_stall_ms": 50.0, "fanout_p99_ms": 10.0, "lost": 0}
AGENT_PREFIX = "bench-burst"
PHASES = ("http", "ws")
LIFECYCLE = (("ringing", 0.0), ("answered", 0.4), ("transferred", 0.8), ("ended", 1.2))


def parse_args(argv: list[str] | None):
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second (default 1000)")
    parser.add_argument("--duration", type=float, help="seconds per phase (default 10; --quick 3)")
    parser.add_argument("--subscribers", type=int, default=2, help="WebSocket event subscribers (default 2)")
    parser.add_argument("--calls-per-s", type=float, default=5.0, help="new calls a second (default 5)")
    parser.add_argument("--http-clients", type=int, default=8, help="HTTP load threads (default 8)")
    parser.add_argument("--customers", type=int, help="seeded customers (default 1,000,000; --quick 20,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child", choices=["load", "subscribers"], help=argparse_suppress())
    parser.add_argument("--url", help=argparse_suppress())
    parser.add_argument("--token", help=argparse_suppress())
    parser.add_argument("--events-file", help=argparse_suppress())
    parser.add_argument("--phase", choices=PHASES, help=argparse_suppress())
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if args.customers is None:
        args.customers = 20_000 if args.quick else 1_000_000
    return args


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


# --------------------------------------------------------------------------------------------------------
# The events
# --------------------------------------------------------------------------------------------------------


def burst_events(phase: str, rate: float, duration: float, calls_per_s: float, callers: list[str],
                 seed: int) -> list[dict[str, Any]]:
    """rate*duration call events: the lifecycles of new calls at their times, repeats in between."""
    rng = random.Random(f"{seed}:{phase}")
    total = round(rate * duration)
    slots: list[dict[str, Any] | None] = [None] * total
    calls = int(duration * calls_per_s)
    ani_of: dict[str, str] = {}
    for n in range(calls):
        call_id, ani = f"{phase}-{n:05d}", callers[n % len(callers)]
        ani_of[call_id] = ani
        for state, delay in LIFECYCLE:
            index = round((n / calls_per_s + delay) * rate)
            while index < total and slots[index] is not None:
                index += 1
            if index < total:
                event = {"v": 1, "type": "call", "call_id": call_id, "state": state}
                if state in ("ringing", "transferred"):
                    event["ani"] = ani
                if state == "transferred":
                    event["dnis"] = "10086-2"  # to the second-level queue: same customer, no refetch
                slots[index] = event
    sent: list[dict[str, Any]] = []
    for index, slot in enumerate(slots):
        if slot is None:
            # A retransmission of a recent event, or a replay of an older state of a recent call.
            recent = sent[-40:]
            if recent:
                slot = dict(rng.choice(recent))
                if rng.random() < 0.2 and slot["state"] != "ringing" and slot["call_id"] in ani_of:
                    slot = {"v": 1, "type": "call", "call_id": slot["call_id"], "state": "ringing",
                            "ani": ani_of[slot["call_id"]]}
            else:
                slot = {"v": 1, "type": "call", "call_id": f"{phase}-pre-{index}", "state": "ended"}
        slots[index] = slot
        sent.append(slot)
    return sent


# --------------------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------------------


def load_child(args) -> int:
    """Send the events of one phase open-loop; print one JSON line with what came back."""
    events = json.loads(Path(args.events_file).read_text())
    port = int(args.url.rsplit(":", 1)[1])
    result = http_load(events, port, args) if args.phase == "http" else ws_load(events, port, args)
    print(json.dumps(result), flush=True)
    return 0


def http_load(events: list[dict], port: int, args) -> dict[str, Any]:
    import http.client

    local = threading.local()
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    bodies = [json.dumps(e).encode() for e in events]

    def send(i: int) -> str:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.connect()
            # One write per request: without it, Nagle holds the body back for the peer's delayed ACK.
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            connection.request("POST", "/v1/calls", bodies[i], headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            local.connection = None
            raise
        if response.status != 200:
            return f"status {response.status}"
        reply = json.loads(body)
        return reply["result"] if reply.get("type") == "call.result" and reply["call_id"] == events[i]["call_id"] \
            else "wrong answer"

    run = run_open_loop(send, rate=args.rate, duration=len(events) / args.rate, clients=args.http_clients)
    return {"sent": run.sent, "planned": run.planned, "outcomes": dict(run.outcomes()),
            "latency": latency_summary(s.latency for s in run.samples),
            "service": latency_summary(s.service_time for s in run.samples),
            "achieved_rate": round(run.achieved_rate(lambda o: o in RESULTS), 1), **run.late_starts()}


RESULTS = ("popped", "updated", "answered", "ended", "closed", "ignored")


def ws_load(events: list[dict], port: int, args) -> dict[str, Any]:
    """One WebSocket host sends every event as a command with an id; a reader thread matches replies."""
    from websockets.sync.client import connect

    due_at: list[float] = [0.0] * len(events)
    answered: dict[int, tuple[float, str]] = {}
    with connect(f"ws://127.0.0.1:{port}/v1/events", additional_headers={"Authorization": f"Bearer {args.token}"},
                 proxy=None, compression=None, max_size=None, max_queue=None) as ws:
        json.loads(ws.recv(timeout=10))  # hello
        done = threading.Event()

        def read() -> None:
            while len(answered) < len(events):
                try:
                    message = json.loads(ws.recv(timeout=15))
                except TimeoutError:
                    break
                if "id" in message:
                    kind = message["result"] if message["type"] == "call.result" else f"error {message.get('error')}"
                    answered[message["id"]] = (time.perf_counter(), kind)
            done.set()

        reader = threading.Thread(target=read)
        reader.start()
        start = time.perf_counter() + 0.05
        late = 0
        lag: list[float] = []
        for i, event in enumerate(events):
            due = start + i / args.rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            elif now - due > 0.002:
                late += 1
            lag.append(max(0.0, time.perf_counter() - due))
            due_at[i] = due
            ws.send(json.dumps({**event, "id": i}))
        done.wait(30)
        reader.join(5)
    latencies = [answered[i][0] - due_at[i] for i in answered]
    outcomes = Counter(kind for _t, kind in answered.values())
    wall = max((t for t, _k in answered.values()), default=start) - start
    lags = sorted(lag)
    return {"sent": len(events), "planned": len(events), "outcomes": dict(outcomes),
            "unanswered": len(events) - len(answered), "latency": latency_summary(latencies),
            "achieved_rate": round(len(answered) / wall, 1) if wall > 0 else 0.0, "late_over_2ms": late,
            "p99_start_lag_ms": round(lags[int(len(lags) * 0.99) - 1] * 1000, 2) if lags else None}


def subscribers_child(args) -> int:
    """Hold the connections; on a line on stdin, report every event's (seq, receive time) and exit."""
    from websockets.sync.client import connect

    stop = threading.Event()
    received: list[list[tuple[int, float, str]]] = [[] for _ in range(args.subscribers)]
    dropped = [0] * args.subscribers
    ready = threading.Barrier(args.subscribers + 1)

    def listen(n: int) -> None:
        with connect(args.url.replace("http", "ws") + "/v1/events", proxy=None, compression=None, max_size=None,
                     additional_headers={"Authorization": f"Bearer {args.token}"}) as ws:
            json.loads(ws.recv(timeout=10))  # hello
            ready.wait()
            while not stop.is_set():
                try:
                    text = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                at = time.perf_counter()
                message = json.loads(text)
                if message["type"] == "events.dropped":
                    dropped[n] += message["count"]
                else:
                    received[n].append((message["seq"], at, message["type"]))

    threads = [threading.Thread(target=listen, args=(n,)) for n in range(args.subscribers)]
    for thread in threads:
        thread.start()
    ready.wait()
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    stop.set()
    for thread in threads:
        thread.join(10)
    print(json.dumps({"received": received, "dropped": dropped}), flush=True)
    return 0


# --------------------------------------------------------------------------------------------------------
# The panel process
# --------------------------------------------------------------------------------------------------------


def child_command(args, *extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--rate", str(args.rate), "--subscribers",
            str(args.subscribers), "--http-clients", str(args.http_clients), *extra]


def run(args) -> dict[str, Any]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from _bridge import panel_with_bridge, wait_until
    from _server import BenchEnvironment, issue_tokens, sqlite_database
    from pop_latency import distinct_callers

    from desktop.runtime.stall_monitor import EventLoopStallMonitor
    from server_stub.live import live_server

    result: dict[str, Any] = {"benchmark": "bridge_burst", "machine": machine_info(), "targets": TARGETS,
                              "config": {k: getattr(args, k) for k in ("rate", "duration", "subscribers",
                                                                       "calls_per_s", "http_clients", "customers",
                                                                       "quick")}}
    with BenchEnvironment(args) as env:
        database = sqlite_database(args, env.workdir)
        agent_id, token = issue_tokens(database.url, 1, prefix=AGENT_PREFIX)[0]
        needed = int(args.duration * args.calls_per_s) * len(PHASES) + 20
        callers = [ani for _c, ani in distinct_callers(database.url, args.customers, needed + 50, args.seed)]
        with live_server(database.url, env.workdir / "server-logs", startup_timeout=60) as live, \
                panel_with_bridge(env.workdir, live.base_url, agent_id, token) as (app, host):
            server = host.server
            published: list[tuple[float, str]] = []  # (perf_counter, type), in publish order (GUI thread)
            seq_offset = server.fanout.last_seq
            publish = server.publish

            def timed_publish(event_type: str, data) -> None:
                published.append((time.perf_counter(), event_type))
                publish(event_type, data)

            server.publish = timed_publish
            gui_time: list[float] = []  # GUI-thread CPU seconds per bridge command (router + panel update)
            run_command = host._run

            def timed_run(call) -> None:
                began = time.thread_time()
                run_command(call)
                gui_time.append(time.thread_time() - began)

            host._run = timed_run
            env_vars = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                                  os.environ.get("PYTHONPATH")]))}
            subscribers = subprocess.Popen(child_command(args, "--child", "subscribers", "--url", server.url,
                                                         "--token", host.token.value),
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env_vars, text=True)
            phase_results: dict[str, Any] = {}
            monitor = EventLoopStallMonitor(interval_ms=5, threshold_ms=TARGETS["gui_max_stall_ms"])
            tracer = GapTracer()
            closer = AgentClosingTabs(app)
            try:
                line: list[str] = []
                reader = threading.Thread(target=lambda: line.append(subscribers.stdout.readline()))
                reader.start()
                if not wait_until(lambda: bool(line), 30) or not json.loads(line[0]).get("ready"):
                    raise RuntimeError("the subscriber process did not connect")
                reader.join()
                wait_until(lambda: server.stats().subscribers >= args.subscribers, 10)
                first_watched = len(published)  # events before this reached no subscriber
                log(f"panel + bridge up ({server.url}); {args.subscribers} subscribers connected")
                # The load's events are drawn before the GUI thread is watched: writing them is the
                # benchmark's work (~60 ms of this thread per phase), not the panel's.
                offset, events_files = 0, {}
                for phase in PHASES:
                    events = burst_events(phase, args.rate, args.duration, args.calls_per_s,
                                          callers[offset:], args.seed)
                    offset += int(args.duration * args.calls_per_s) + 5
                    events_files[phase] = (env.workdir / f"events-{phase}.json", len(events))
                    events_files[phase][0].write_text(json.dumps(events))
                meter = CpuMeter({"server": live.process.pid, "subscribers": subscribers.pid})
                meter.start()
                monitor.start()
                tracer.start()
                closer.start()
                for phase in PHASES:
                    events_file, count = events_files[phase]
                    log(f"{phase}: {count:,} events at {args.rate:g}/s …")
                    mark = len(published)
                    load = subprocess.Popen(child_command(args, "--child", "load", "--phase", phase, "--url",
                                                          server.url, "--token", host.token.value,
                                                          "--events-file", str(events_file)),
                                            stdout=subprocess.PIPE, env=env_vars, text=True)
                    output: list[str] = []
                    collector = threading.Thread(target=lambda p=load, o=output: o.append(p.stdout.read()))
                    collector.start()
                    wait_until(lambda p=load: p.poll() is not None, args.duration + 120, poll_ms=20)
                    collector.join(10)
                    if load.returncode != 0 or not output or not output[0].strip():
                        raise RuntimeError(f"the {phase} load process failed ({load.returncode})")
                    phase_results[phase] = json.loads(output[0].strip().splitlines()[-1])
                    # Let the last pops finish (their pop.shown is published after the fetch).
                    wait_until(lambda: app.runner.stats().pending == 0, 15)
                    wait_until(lambda: False, 0.5)
                    phase_results[phase]["published"] = len(published) - mark
                    phase_results[phase]["published_types"] = dict(Counter(t for _at, t in published[mark:]))
                    log(f"  {phase}: {phase_results[phase]['outcomes']}; published {len(published) - mark:,} events")
                monitor.stop()
                tracer.stop()
                closer.stop()
                result["cpu"] = meter.stop()

                subscribers.stdin.write("stop\n")
                subscribers.stdin.flush()
                report_text: list[str] = []
                collector = threading.Thread(target=lambda: report_text.append(subscribers.stdout.read()))
                collector.start()
                wait_until(lambda: subscribers.poll() is not None, 60, poll_ms=20)
                collector.join(10)
                received = json.loads(report_text[0].strip().splitlines()[-1])
            finally:
                if subscribers.poll() is None:
                    subscribers.kill()
                    subscribers.wait(10)
            result["phases"] = phase_results
            result["gui_thread_per_command"] = latency_summary(gui_time)
            result["stall"] = {**dataclasses.asdict(monitor.report()), "longest_gaps": tracer.longest(5)}
            result["fanout"] = fanout_figures(published, seq_offset, first_watched, received)
            result["bridge_stats"] = vars(server.stats())
    result["lost"] = lost(result)
    result["figures"] = figures(result)
    return result


class AgentClosingTabs:
    """The agent at the desk: a call's tab is closed a second after the call ended (as if the outcome
    were recorded), so a few tabs are open at a time, not twenty."""

    def __init__(self, app) -> None:
        from PySide6 import QtCore

        self.app = app
        self.closed = 0
        self._timer = QtCore.QTimer()
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._close_wrapped_up)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _close_wrapped_up(self) -> None:
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        for call in self.app.router.calls():
            if call.state == "wrap_up" and call.ended_at is not None and now - call.ended_at > timedelta(seconds=1):
                self.app.controller.dismiss(call.call_id)
                self.closed += 1


class GapTracer:
    """Says what the GUI thread did in its longest event-loop gaps: a second 5 ms timer notes each gap
    over 30 ms with the GUI thread's CPU time in it. High CPU: the panel was working (a pop rendering);
    low CPU: the thread was runnable but not running (other processes on the machine, or the GIL)."""

    def __init__(self) -> None:
        from PySide6 import QtCore

        self.gaps: list[dict[str, float]] = []
        self._timer = QtCore.QTimer()
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)
        self._last = (time.perf_counter(), time.thread_time())

    def start(self) -> None:
        self._last = (time.perf_counter(), time.thread_time())
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if now - self._last[0] > 0.030:
            self.gaps.append({"ms": round((now - self._last[0]) * 1000, 1),
                              "gui_cpu_ms": round((cpu - self._last[1]) * 1000, 1)})
        self._last = (now, cpu)

    def longest(self, count: int) -> list[dict[str, float]]:
        return sorted(self.gaps, key=lambda gap: gap["ms"], reverse=True)[:count]


def fanout_figures(published: list[tuple[float, str]], seq_offset: int, first_watched: int,
                   received: dict) -> dict[str, Any]:
    """Match each subscriber's events to the publishes by seq (seq = offset + publish index + 1); every
    event from the `first_watched`-th publish on must have reached every subscriber."""
    latencies: list[float] = []
    per_subscriber = []
    for events, dropped in zip(received["received"], received["dropped"], strict=True):
        seqs = [seq for seq, _at, _type in events]
        expected = range(seq_offset + first_watched + 1, seq_offset + len(published) + 1)
        mismatched = sum(1 for seq, _at, kind in events
                         if not 0 < seq - seq_offset <= len(published) or published[seq - seq_offset - 1][1] != kind)
        for seq, at, _kind in events:
            if 0 < seq - seq_offset <= len(published):
                latencies.append(at - published[seq - seq_offset - 1][0])
        per_subscriber.append({"received": len(events), "missing": len(set(expected) - set(seqs)),
                               "out_of_order": sum(1 for a, b in itertools.pairwise(seqs) if b <= a),
                               "type_mismatch": mismatched, "dropped_notices": dropped})
    return {"published": len(published) - first_watched, "subscribers": per_subscriber,
            "latency": latency_summary(latencies)}


def lost(result: dict[str, Any]) -> dict[str, int]:
    http, ws = result["phases"]["http"], result["phases"]["ws"]
    return {
        "http_unanswered": http["planned"] - sum(n for o, n in http["outcomes"].items() if o in RESULTS),
        "ws_unanswered": ws["planned"] - sum(n for o, n in ws["outcomes"].items() if o in RESULTS),
        "events_missing": sum(s["missing"] + s["dropped_notices"] for s in result["fanout"]["subscribers"]),
    }


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    lost_total = sum(result["lost"].values())
    rows = [
        ("events lost (HTTP + WebSocket commands, and events to subscribers)", "lost", lost_total, ""),
        ("longest GUI stall during the burst", "gui_max_stall_ms", round(result["stall"]["max_stall_ms"], 2), "ms"),
        ("event fan-out to WebSocket subscribers, p99", "fanout_p99_ms", result["fanout"]["latency"]["p99_ms"], "ms"),
    ]
    return [{"figure": label, "key": key, "target": TARGETS[key], "unit": unit, "measured": measured,
             "meets_target": measured is not None and measured <= TARGETS[key]} for label, key, measured, unit in rows]


def render(result: dict[str, Any]) -> str:
    c, m = result["config"], result["machine"]
    out = [
        f"Bridge burst: {c['rate']:g} events/s for {c['duration']:g} s over HTTP ({c['http_clients']} keep-alive "
        f"clients), then over one WebSocket; {c['subscribers']} subscribers; {c['calls_per_s']:g} new calls/s "
        f"(each popping live data), the rest repeats/replays{' (quick)' if c['quick'] else ''}",
        f"machine: {m['cores']} cores, {m['cpu_model']}, Python {m['python']}; CPU (% of one core): panel "
        f"{result['cpu']['load generator_pct']}, subscribers {result['cpu']['subscribers_pct']}, server "
        f"{result['cpu']['server_pct']}, other processes (incl. the load process) {result['cpu']['other processes_pct']}",
        "",
        format_table(["figure", "target", "measured", "ok"], [
            [f["figure"], f"<= {f['target']:g} {f['unit']}".strip(), f"{f['measured']:g} {f['unit']}".strip(),
             "yes" if f["meets_target"] else "NO"] for f in result["figures"]]),
        "",
    ]
    rows = []
    for phase in PHASES:
        r = result["phases"][phase]
        lat = r["latency"]
        rows.append([phase, r["sent"], r["achieved_rate"], lat["p50_ms"], lat["p99_ms"], lat["max_ms"],
                     r.get("p99_start_lag_ms"), ", ".join(f"{k} {v:,}" for k, v in sorted(r["outcomes"].items())),
                     r["published"]])
    out.append(format_table(["phase", "sent", "answered/s", "answer p50", "answer p99", "answer max",
                             "send lag p99", "results", "events published"], rows,
                            title="Commands (ms, from each event's due time to its answer in the host's hand; "
                                  "send lag: how late the load process got each request out):"))
    f = result["fanout"]
    out += ["", f"Fan-out: {f['published']:,} events published; publish → received p50 {f['latency']['p50_ms']} ms, "
                f"p90 {f['latency']['p90_ms']} ms, p99 {f['latency']['p99_ms']} ms, max {f['latency']['max_ms']} ms "
                f"over {f['latency']['count']:,} deliveries"]
    for n, s in enumerate(f["subscribers"]):
        out.append(f"  subscriber {n}: received {s['received']:,}, missing {s['missing']}, out of order "
                   f"{s['out_of_order']}, dropped notices {s['dropped_notices']}")
    g = result["gui_thread_per_command"]
    out.append(f"GUI-thread CPU per bridge command (router + panel update, pops included): p50 {g['p50_ms']} ms, "
               f"p99 {g['p99_ms']} ms, max {g['max_ms']} ms over {g['count']:,}")
    st = result["stall"]
    out.append(f"GUI thread: {st['ticks']:,} ticks over {st['measured_ms'] / 1000:.1f} s, longest stall "
               f"{st['max_stall_ms']:.1f} ms, {st['stalls_over_threshold']} over {st['threshold_ms']:g} ms; longest "
               "gaps (GUI-thread CPU in them): "
               + ", ".join(f"{g['ms']} ms ({g['gui_cpu_ms']} ms)" for g in st["longest_gaps"]))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "load":
        return load_child(args)
    if args.child == "subscribers":
        return subscribers_child(args)
    result = run(args)
    emit(result, args.json, render)
    return 0 if all(f["meets_target"] for f in result["figures"]) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
