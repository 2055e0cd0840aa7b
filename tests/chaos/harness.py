"""Real processes for the chaos suite: the analytics server (killable, restartable on the same port) and the
desktop client driver (tests/chaos/driver.py), plus what the suite checks in the server's database.

Everything started here is stopped by its context manager, also when a test fails: no process outlives
the test that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import Customer, Outcome
from server_stub.live import free_port
from server_stub.seed import seed_database
from server_stub.services.auth import create_token

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT = "agent-007"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("CALLCUE_TOKEN", None)
    env.update(extra)
    return env


# ---------------------------------------------------------------------- the server


@dataclass
class SeededDatabase:
    url: str
    token: str
    customers: list[str]


def seed_server_database(directory: Path, customers: int = 60) -> SeededDatabase:
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    seed_database(engine, customers, 7)
    with Session(engine) as session:
        token = create_token(session, AGENT)
        ids = list(session.scalars(select(Customer.customer_id).order_by(Customer.customer_id).limit(customers)))
    engine.dispose()
    return SeededDatabase(url, token, ids)


class ServerProcess:
    """`callcue-server serve` on a fixed loopback port; kill() is SIGKILL, start() brings it back."""

    def __init__(self, database_url: str, log_dir: Path, *, port: int | None = None,
                 tls: tuple[Path, Path] | None = None, ca: Path | None = None) -> None:
        """`tls`: (certificate chain, key) to serve HTTPS; `ca`: the CA that signed it (for readiness checks)."""
        self.database_url = database_url
        self.log_dir = log_dir
        self.port = port or free_port()
        self.tls = tls
        self.ca = ca
        self.process: subprocess.Popen | None = None
        self.starts = 0
        log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        command = [sys.executable, "-m", "server_stub.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--database-url", self.database_url, "--log-dir", str(self.log_dir),
                   "--token-cache-seconds", "0",
                   # The driver pops back to back, far beyond a person: the per-token limits would refuse it.
                   "--pop-per-minute", "0", "--search-per-minute", "0"]
        if self.tls:
            command += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        with (self.log_dir / "server.out").open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=child_env())
        self.starts += 1
        deadline = time.monotonic() + timeout
        verify = str(self.ca) if self.ca else True
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base_url}/v1/health", timeout=1, verify=verify).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /v1/health in time")
            try:
                self.process.wait(timeout=0.05)  # between tries, wait on the process: an exit shows at once
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"server exited with {self.process.returncode}: "
                               f"{(self.log_dir / 'server.out').read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def server_outcomes(database_url: str) -> dict[str, int]:
    """outcome_id -> how many rows the server holds for it."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(Outcome.outcome_id, func.count()).group_by(Outcome.outcome_id)).all()
    finally:
        engine.dispose()
    return {outcome_id: count for outcome_id, count in rows}


def assert_confirmed_exactly_once(database_url: str, confirmed: set[str]) -> dict[str, int]:
    held = server_outcomes(database_url)
    missing = confirmed - held.keys()
    doubled = {k: n for k, n in held.items() if n != 1}
    assert not missing, f"{len(missing)} confirmed outcomes never reached the server: {sorted(missing)[:5]}"
    assert not doubled, f"outcomes stored more than once on the server: {doubled}"
    return held


# ---------------------------------------------------------------------- the desktop client


@dataclass
class Driver:
    """One running tests/chaos/driver.py; `events` is everything it printed, in order."""

    process: subprocess.Popen
    lines: queue.Queue = field(default_factory=queue.Queue)
    events: list[dict] = field(default_factory=list)
    reader: threading.Thread | None = None

    def next_event(self, timeout: float) -> dict | None:
        try:
            event = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if event is not None:
            self.events.append(event)
        return event

    def wait_for(self, kind: str, timeout: float = 30.0, **match) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind!r} event within {timeout} s; last: {self.events[-5:]}; "
                                     f"stderr: {self.stderr_tail()}")
            event = self.next_event(left)
            if event is None:
                if self.process.poll() is not None and self.lines.empty():
                    raise AssertionError(f"driver exited ({self.process.returncode}) before {kind!r}; "
                                         f"last: {self.events[-5:]}; stderr: {self.stderr_tail()}")
                continue
            if event.get("event") == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    def wait_for_any(self, kinds: tuple[str, ...], timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"none of {kinds} within {timeout} s; last: {self.events[-5:]}")
            event = self.next_event(left)
            if event is None:
                if self.process.poll() is not None and self.lines.empty():
                    raise AssertionError(f"driver exited before {kinds}: {self.stderr_tail()}")
                continue
            if event.get("event") in kinds:
                return event

    def watch(self, seconds: float) -> None:
        """Follow the driver's output for `seconds` (a chaos test's random kill point): its events are kept,
        and a driver that died meanwhile fails the test at once instead of being "killed" later."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.next_event(left) is None and self.process.poll() is not None and self.lines.empty():
                raise AssertionError(f"driver exited ({self.process.returncode}) before its kill point; "
                                     f"last: {self.events[-5:]}; stderr: {self.stderr_tail()}")

    def drain_output(self) -> None:
        while True:
            try:
                event = self.lines.get_nowait()
            except queue.Empty:
                return
            if event is not None:
                self.events.append(event)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def confirmed(self) -> set[str]:
        self.drain_output()
        return {e["outcome_id"] for e in self.events if e.get("event") == "confirmed"}

    def stderr_tail(self) -> str:
        path = getattr(self, "stderr_path", None)
        return path.read_text(errors="replace")[-2000:] if path and path.exists() else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._finish()

    def wait_exit(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._finish()
        return code

    def _finish(self) -> None:
        if self.reader is not None:
            self.reader.join(timeout=10)
        self.drain_output()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()


def _read_lines(process: subprocess.Popen, lines: queue.Queue) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        try:
            lines.put(json.loads(raw))
        except ValueError:
            lines.put({"event": "garbage", "line": raw.decode(errors="replace")[:200]})
    process.stdout.close()
    lines.put(None)


def start_driver(server_url: str, token: str, home: Path, customers: list[str], *, mode: str = "loop",
                 lang: str = "en", seed: int = 0, prefix: list[str] | None = None, extra: list[str] | None = None,
                 env: dict[str, str] | None = None) -> Driver:
    home.mkdir(parents=True, exist_ok=True)
    command = [*(prefix or []), sys.executable, "-m", "tests.chaos.driver", "--server-url", server_url,
               "--token", token, "--home", str(home), "--customers", ",".join(customers), "--mode", mode,
               "--lang", lang, "--seed", str(seed), *(extra or [])]
    stderr_path = home / f"driver-{time.monotonic_ns()}.err"
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                   env=child_env(**(env or {})), cwd=REPO_ROOT)
    driver = Driver(process)
    driver.stderr_path = stderr_path  # type: ignore[attr-defined]
    driver.reader = threading.Thread(target=_read_lines, args=(process, driver.lines), daemon=True)
    driver.reader.start()
    return driver


def in_tmpfs(directory: Path, options: str) -> list[str]:
    """A command prefix: run in a private user + mount namespace with a tmpfs on `directory` (needs no root;
    the mount vanishes with the process, so a failing test never leaves one behind)."""
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            f"mount -t tmpfs -o {options} tmpfs {directory} && exec \"$@\"", "sh"]


def namespaces_available() -> bool:
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                          capture_output=True).returncode == 0


@contextlib.contextmanager
def running_driver(*args, **kwargs) -> Iterator[Driver]:
    driver = start_driver(*args, **kwargs)
    try:
        yield driver
    finally:
        if driver.process.poll() is None:
            driver.kill()
        else:
            driver._finish()
