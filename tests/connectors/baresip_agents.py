"""Real baresip user agents for tests: headless, loopback-only, bounded in time (DESIGN.md §6).

Each agent gets its own config directory (baresip -f DIR) with:
- modules g711 (codec), ausine (a 440 Hz source: it only does 48 kHz, hence ausrc_srate/channels),
  aubridge (`audio_player aubridge,nil`: no sound card needed), account, menu (dial/accept/hangup/quit),
  ctrl_tcp on 127.0.0.1 (its default would be 0.0.0.0); not stdio (no terminal);
- `sip_listen 127.0.0.1:PORT` and `net_interface 127.0.0.1`; SIP ports are at least 2 apart (baresip
  also binds PORT+1);
- one account `<sip:USER@127.0.0.1:PORT>;regint=0` (no registrar: agents call each other directly).

Every process runs with `-t SECONDS` (baresip quits by itself after that), in its own session, and
`stop()` hangs calls up before it quits (SIGTERM while ringing once crashed baresip), then terminates and
finally kills what is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from desktop.calls.netstring import encode_netstring

MODULE_DIRS = ("/usr/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules",
               "/usr/lib/aarch64-linux-gnu/baresip/modules", "/usr/local/lib/baresip/modules")


def baresip_binary() -> str | None:
    return shutil.which("baresip")


def module_dir() -> str | None:
    return next((d for d in MODULE_DIRS if Path(d, "ctrl_tcp.so").is_file()), None)


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_ports(count: int, *, span: int = 1, taken: set[int] | None = None) -> list[int]:
    """`count` loopback ports where PORT..PORT+span-1 are free for TCP and UDP, at least `span` apart."""
    taken = set() if taken is None else taken
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        block = set(range(port, port + span))
        if port + span > 65535 or block & taken or not all(_free(p) for p in block):
            continue
        taken |= set(range(port - span + 1, port + span))
        ports.append(port)
    return ports


@dataclass
class BaresipAgent:
    name: str
    user: str
    sip_port: int
    ctrl_port: int
    directory: Path
    process: subprocess.Popen

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.sip_port}"

    @property
    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "baresip.log").read_text(errors="replace")
        return ""

    @property
    def ready(self) -> bool:
        return "baresip is ready" in self.log

    def stop(self) -> None:
        """Hang up, quit, and make sure the process is gone (terminate, then kill)."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.ctrl_port), 1) as ctrl:
                # One ctrl_tcp client at a time: this takes over from any connector still attached.
                for command in ("hangup", "quit"):
                    ctrl.sendall(encode_netstring(json.dumps({"command": command, "params": "",
                                                              "token": command}).encode()))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_agent(directory: Path, name: str, user: str, sip_port: int, ctrl_port: int, *,
                lifetime_s: int = 120, account_params: str = "") -> BaresipAgent:
    """`account_params`: more account parameters, e.g. ';answermode=auto' (answers every call by itself)."""
    modules = module_dir()
    binary = baresip_binary()
    assert binary and modules, "baresip is not installed"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config").write_text("\n".join([
        "poll_method epoll",
        f"sip_listen 127.0.0.1:{sip_port}",
        "net_interface 127.0.0.1",
        "audio_player aubridge,nil",
        "audio_source ausine,440",
        "audio_alert aubridge,nil",
        "ausrc_srate 48000",
        "ausrc_channels 2",
        "rtp_ports 20000-40000",
        f"module_path {modules}",
        "module g711.so",
        "module ausine.so",
        "module aubridge.so",
        "module_app account.so",
        "module_app menu.so",
        "module_app ctrl_tcp.so",
        f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
        "",
    ]))
    (directory / "accounts").write_text(f"<sip:{user}@127.0.0.1:{sip_port}>;regint=0{account_params}\n")
    log = (directory / "baresip.log").open("wb")
    try:
        process = subprocess.Popen([binary, "-f", str(directory), "-t", str(lifetime_s)], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    return BaresipAgent(name, user, sip_port, ctrl_port, directory, process)
