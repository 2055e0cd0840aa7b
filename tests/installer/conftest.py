"""Installer tests: the frozen bundle, the .deb on this machine, the NSIS script.

The bundle is built once and reused while its inputs are unchanged (installer/build.py keeps the hash of
the sources, spec and installed packages next to it, under build/installer-tests/, which git ignores), so
a second run costs seconds. The .deb tests install the package on this machine: they need root and dpkg.
Without them they skip with a loud reason, except under CI=true, where that is a failure. They replace a
callcue package already installed here and purge it at the end (the machine is left without it); two runs
on one machine take turns (a lock file), and so does bench/installer.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_PY = ROOT / "installer" / "build.py"
CACHE = ROOT / "build" / "installer-tests"
PACKAGE = "callcue"
PACKAGE_LOCK = "/tmp/callcue-package.lock"  # also taken by bench/installer.py


def unavailable(reason: str) -> None:
    """Skip loudly; under CI=true the missing tool is a failure (CI must run these tests)."""
    message = f"INSTALLER TESTS NOT RUN: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: this is an error, not a skip)")
    print(f"\n{'#' * 100}\n# {message}\n{'#' * 100}", file=sys.stderr)
    pytest.skip(message)


def run(command: list[str], *, timeout: float = 120, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def build(*args: str, out: Path = CACHE, timeout: float = 900) -> subprocess.CompletedProcess:
    return run([sys.executable, str(BUILD_PY), *args, "--out", str(out)], timeout=timeout)


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The PyInstaller bundle (built when its inputs changed, else reused)."""
    if not sys.platform.startswith("linux"):
        unavailable("the bundle tests run on Linux (the Windows build: .github/workflows/windows-installer.yml)")
    if importlib.util.find_spec("PyInstaller") is None:
        unavailable("PyInstaller is not installed (pip install -e '.[installer]'; scripts/test.sh does)")
    if shutil.which("objdump") is None:
        unavailable("objdump (binutils) is missing: apt-get install binutils (scripts/bootstrap.sh --test does)")
    build("bundle")
    return CACHE / "callcue"


def dpkg_ready() -> None:
    if shutil.which("dpkg") is None or shutil.which("dpkg-deb") is None:
        unavailable("dpkg/dpkg-deb are missing: the .deb tests need Debian or Ubuntu")
    if os.geteuid() != 0:
        unavailable("the .deb tests install the package with dpkg -i and need root (run them as root, as CI does)")


@contextlib.contextmanager
def package_lock():
    """Held while a test (or bench/installer.py) builds, installs and removes the package: two test runs on
    one machine (developers share it) wait for each other instead of installing over each other."""
    with open(PACKAGE_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def installed_version() -> str | None:
    result = run(["dpkg-query", "-W", "-f=${Status} ${Version}", PACKAGE], check=False)
    if result.returncode != 0 or "install ok installed" not in result.stdout:
        return None
    return result.stdout.split()[-1]


def purge() -> None:
    """Leave the machine without the package (and its conffile)."""
    if run(["dpkg-query", "-W", PACKAGE], check=False).returncode == 0:
        run(["dpkg", "--purge", PACKAGE], timeout=300)
