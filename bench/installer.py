"""Workstation packaging: bundle size, .deb size, install time, start-up of the frozen app.

  .venv/bin/python bench/installer.py [--quick] [--json] [--runs N]

Builds the PyInstaller bundle (rebuilt from scratch, timed; --quick reuses an up-to-date one) and the
release .deb (xz; --quick: gzip -1) into bench/.cache/installer/, then, as root with dpkg and no callcue package already on
the machine, installs it (dpkg -i, timed), starts the installed program N times, and purges it again.
Without root the install figures are reported as not measured.

Start-up figures (median of N runs, page cache warm: the files were just written; a truly cold disk is
slower): `callcue --version` (bootloader, Python, exit), `callcue --self-test` (settings, a store created
and migrated, Qt offscreen, a pop rendered in two languages, exit), and the panel itself on a private X
server (Xvfb, xcb plugin): process start → window shown and the local bridge answering HTTP (it starts
right after the window), the first start (which creates the agent's store) reported apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE_DIR, REPO_ROOT, base_parser, emit, figure, format_table, log, machine_info, run_main

OUT = CACHE_DIR / "installer"
BUNDLE_BUDGET_MIB = 120
TARGETS = {"bundle_mib": BUNDLE_BUDGET_MIB, "self_test_s": 3.0, "start_s": 1.5}  # start: as pop_latency.py
PACKAGE_LOCK = "/tmp/callcue-package.lock"  # the same lock as tests/installer


def version() -> str:
    namespace: dict[str, Any] = {}
    exec((REPO_ROOT / "desktop" / "__init__.py").read_text(encoding="utf-8"), namespace)
    return namespace["__version__"]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def build(*args: str) -> tuple[float, bool]:
    """Seconds taken, and whether an up-to-date bundle was reused instead of built."""
    started = time.monotonic()
    out = run([sys.executable, str(REPO_ROOT / "installer" / "build.py"), *args, "--out", str(OUT)], timeout=1800)
    return time.monotonic() - started, "bundle up to date" in out.stdout


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def timed_runs(command: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(command, env=env, timeout=120)
        times.append(time.perf_counter() - started)
    return times


@contextlib.contextmanager
def xvfb_display():
    """A private X server (Xvfb): the panel starts as on a desktop, with the xcb platform plugin."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten",
                               "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            yield f":{pipe.readline().strip()}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bridge_answers(port: int) -> bool:
    """Any HTTP answer from the panel's local bridge (401 without a token is fine): it is serving."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        connection.request("GET", "/v1/state")
        return connection.getresponse().status > 0
    except OSError:
        return False
    finally:
        connection.close()


def panel_start_runs(program: Path, runs: int, home: Path, display: str) -> list[float]:
    """Process start → the panel's window shown and its local bridge answering HTTP (the bridge starts right
    after the window is shown: from then on hosts can send calls), then SIGTERM. The first run also
    creates and migrates the agent's store."""
    port = free_port()
    env = {**clean_env(home), "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "CALLCUE_BRIDGE_PORT": str(port)}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        panel = subprocess.Popen([str(program)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not bridge_answers(port):
                if panel.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the panel did not start (exit code {panel.poll()})")
                time.sleep(0.005)
            times.append(time.perf_counter() - started)
        finally:
            panel.send_signal(signal.SIGTERM)
            try:
                panel.wait(timeout=30)
            except subprocess.TimeoutExpired:
                panel.kill()
                panel.wait(timeout=10)
    return times


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CALLCUE_", "QT_"))}
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {**env, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), "TMPDIR": str(home)}


def package_installed() -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "callcue"], capture_output=True, text=True)
    return result.returncode == 0 and "install ok installed" in result.stdout


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="start-up runs of each kind (default 7; --quick 3)")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    result: dict[str, Any] = {"benchmark": "installer", "machine": machine_info(), "targets": TARGETS,
                              "runs": runs, "notes": []}
    log("building the bundle" + (" (reused when up to date: --quick)" if args.quick else " from scratch"))
    build_s, reused = build("bundle", *([] if args.quick else ["--force"]))
    bundle = OUT / "callcue"
    bundle_mib = tree_bytes(bundle) / 2**20
    compression = "gzip -1, --quick" if args.quick else "xz -6, release"
    log(f"building the .deb ({compression})")
    deb_s, _ = build("deb", "--bundle", str(bundle), *(["--fast"] if args.quick else []))
    deb = OUT / f"callcue_{version()}_amd64.deb"
    deb_mib = deb.stat().st_size / 2**20
    figures = [
        figure("Linux bundle size on disk (files)", round(bundle_mib, 1), "MiB", BUNDLE_BUDGET_MIB, "<="),
        figure("bundle build time" + (" (up to date: reused)" if reused else " (PyInstaller, from scratch)"),
               round(build_s, 1), "s"),
        figure(f".deb size ({compression})", round(deb_mib, 1), "MiB"),
        figure(f".deb build time (dpkg-deb, {compression})", round(deb_s, 1), "s"),
    ]
    executable: Path | None = None
    installed_here = False
    lock = open(PACKAGE_LOCK, "a")  # noqa: SIM115 - held until the package is removed again
    fcntl.flock(lock, fcntl.LOCK_EX)  # tests/installer installs the package too: one at a time
    if os.geteuid() != 0 or shutil.which("dpkg") is None:
        result["notes"].append("not root or no dpkg: install time and the installed program not measured")
    elif package_installed():
        result["notes"].append("a callcue package is already installed here: install time not measured")
    else:
        started = time.monotonic()
        run(["dpkg", "-i", str(deb)], timeout=600, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        install_s = time.monotonic() - started
        installed_here = True
        executable = Path("/usr/bin/callcue")
        figures.append(figure("install time (dpkg -i)", round(install_s, 1), "s"))
    try:
        with tempfile.TemporaryDirectory(prefix="callcue-bench-") as temp:
            env = clean_env(Path(temp))
            program = executable or bundle / "callcue"
            where = "installed" if executable else "bundle"
            version_runs = timed_runs([str(program), "--version"], runs, env)
            selftest_runs = timed_runs([str(program), "--self-test"], runs, env)
            figures.append(figure(f"start → exit, `callcue --version` ({where}), median",
                                  round(statistics.median(version_runs) * 1000), "ms"))
            figures.append(figure(f"start → pop rendered → exit, `callcue --self-test` ({where}), median",
                                  round(statistics.median(selftest_runs), 2), "s", TARGETS["self_test_s"], "<="))
            result["version_runs_ms"] = [round(t * 1000) for t in version_runs]
            if shutil.which("Xvfb"):
                home = Path(temp) / "agent"
                home.mkdir()
                with xvfb_display() as display:
                    panel_runs = panel_start_runs(program, runs + 1, home, display)
                figures.append(figure(f"first start → panel shown, bridge serving; new store ({where}, Xvfb)",
                                      round(panel_runs[0], 2), "s"))
                figures.append(figure(f"start → panel shown, bridge serving ({where}, Xvfb), median",
                                      round(statistics.median(panel_runs[1:]), 2), "s", TARGETS["start_s"], "<="))
                result["panel_start_runs_s"] = [round(t, 2) for t in panel_runs]
            else:
                result["notes"].append("no Xvfb: the panel's start-up on a display was not measured")
            result["self_test_runs_s"] = [round(t, 2) for t in selftest_runs]
    finally:
        if installed_here:
            started = time.monotonic()
            run(["dpkg", "--purge", "callcue"], timeout=600)
            figures.append(figure("remove time (dpkg --purge)", round(time.monotonic() - started, 1), "s"))
        lock.close()
    result["figures"] = figures
    emit(result, args.json, render)
    return 1 if any(f["met"] is False for f in figures) else 0  # a missed target: exit 1 (bench/report.py)


def render(result: dict[str, Any]) -> str:
    rows = [(f["name"], f["value"], f["unit"], f["target"], {True: "yes", False: "NO", None: ""}[f["met"]])
            for f in result["figures"]]
    text = format_table(["figure", "value", "unit", "target", "met"], rows, title="CallCue packaging")
    return text + "".join(f"\nnote: {note}" for note in result["notes"])


if __name__ == "__main__":
    sys.exit(run_main(main))
