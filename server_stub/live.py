"""Run `callcue-server serve` as a real process on loopback and wait until it answers /v1/health.

Used by integration tests, benchmarks and demos: they talk to the real server over TCP, not to a mock.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from server_stub.services.limits import RateLimits


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    process: subprocess.Popen
    log_dir: Path


class ServerStartError(RuntimeError):
    pass


def _die_with_parent() -> None:  # in the server's process, before exec
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextmanager
def live_server(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 1,
    token_cache_seconds: float = 10.0,
    startup_timeout: float = 30.0,
    extra_env: dict[str, str] | None = None,
    log_level: str = "INFO",
    die_with_parent: bool = False,
    rate_limits: RateLimits | None = None,
    port: int | None = None,
) -> Iterator[LiveServer]:
    """`die_with_parent` (Linux): the server also gets SIGTERM if the calling thread's process dies without
    cleaning up (SIGKILL, a Qt abort), for long benchmarks that must never leave a server behind. Only from
    a thread that outlives the server: the signal follows the thread that started it.

    `rate_limits`: the per-token limits of pop and search; None turns them off (tests and benchmarks load the
    server far beyond what a person does; `callcue-server serve` itself has limits on by default)."""
    from server_stub.services.limits import RateLimits

    limits = rate_limits or RateLimits.off()
    port = port or free_port()
    command = [sys.executable, "-m", "server_stub.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--database-url", database_url, "--workers", str(workers), "--log-dir", str(log_dir),
               "--token-cache-seconds", str(token_cache_seconds), "--log-level", log_level]
    for route in ("pop", "search", "worklist"):
        limit = limits.get(route)
        command += [f"--{route}-per-minute", f"{limit.per_minute:g}", f"--{route}-burst", str(max(1, limit.burst))]
    env = {**os.environ, **(extra_env or {})}
    log_dir.mkdir(parents=True, exist_ok=True)
    # Output goes to a file, not a pipe nobody reads: a chatty server must never block on a full pipe.
    output_path = log_dir / "server.out"
    output = output_path.open("ab")
    preexec = _die_with_parent if die_with_parent and sys.platform.startswith("linux") else None
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if requests.get(f"{base_url}/v1/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            try:
                process.wait(timeout=0.05)  # waiting on the process also notices an early exit
            except subprocess.TimeoutExpired:
                pass
            else:
                raise ServerStartError(f"server exited with {process.returncode}: "
                                       f"{output_path.read_text(encoding='utf-8', errors='replace')[-4000:]}")
            if time.monotonic() > deadline:
                raise ServerStartError(f"server did not answer /v1/health within {startup_timeout} s")
        yield LiveServer(base_url, process, log_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        output.close()
