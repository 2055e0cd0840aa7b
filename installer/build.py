"""Builds the workstation packages of the CallCue panel (docs/deployment.md).

    python installer/build.py bundle            dist/callcue/: the PyInstaller --onedir bundle (trimmed, stripped)
    python installer/build.py deb               dist/callcue_<version>_amd64.deb (builds the bundle if needed)
    python installer/build.py nsis              dist/CallCue-<version>-setup.exe from installer/windows/callcue.nsi
                                                (on Linux: a compile check with the Linux bundle as payload)
    python installer/build.py hash              the hash of everything the bundle is built from

The bundle is rebuilt only when its inputs changed (the hash of the sources, resources, spec and the
installed Python packages is kept next to it in dist/callcue/.callcue-build-hash); `--force` rebuilds.
Options: `--version 0.1.0` (default: desktop/__init__.py), `--bundle DIR` (package an existing bundle),
`--out DIR` (default dist/), `--fast` (quick gzip compression instead of xz, for tests).
Run it with the project's Python (.venv/bin/python, with the `installer` extra installed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: builds there run one at a time on the CI runner
    fcntl = None

ROOT = Path(__file__).resolve().parent.parent
INSTALLER = ROOT / "installer"
SPEC = INSTALLER / "callcue.spec"
BUNDLE_NAME = "callcue"
HASH_FILE = ".callcue-build-hash"
LINUX_BUDGET_BYTES = 120 * 1024 * 1024
# What the bundle is built from: a change in any of these rebuilds it.
SOURCE_DIRS = ("desktop", "plugin_sdk", "resources/translations", "resources/themes", "resources/samples")
SOURCE_FILES = ("installer/callcue.spec", "installer/callcue_main.py", "pyproject.toml")

# The Debian packages of every library the bundle loads from the system (the spec bundles none of the
# build machine's /usr/lib: X11/xcb, OpenGL, GLib, D-Bus, fonts, OpenSSL, SQLite, the C/C++ runtimes; Qt's
# xcb platform plugin aborts without the xcb-util ones). tests/installer checks this list against the
# NEEDED entries of the installed ELF files.
DEB_DEPENDS = (
    "libc6 (>= 2.34)", "libstdc++6", "libgcc-s1", "zlib1g", "libbz2-1.0", "liblzma5", "libzstd1", "libbrotli1",
    "libffi8", "libuuid1", "libssl3", "libsqlite3-0", "libgssapi-krb5-2", "libglib2.0-0", "libdbus-1-3",
    "libfontconfig1", "libfreetype6", "libegl1", "libgl1", "libx11-6", "libx11-xcb1", "libxcb1",
    "libxcb-cursor0", "libxcb-glx0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-render0", "libxcb-shape0", "libxcb-shm0", "libxcb-sync1", "libxcb-util1",
    "libxcb-xfixes0", "libxcb-xkb1", "libxkbcommon0", "libxkbcommon-x11-0",
)
DEB_RECOMMENDS = ("fonts-noto-cjk",)  # the panel's Chinese text
CONFFILE = "/etc/callcue/config.toml"


def say(message: str) -> None:
    print(f"[build] {message}", flush=True)


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def project_version() -> str:
    text = (ROOT / "desktop" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    if not match:
        raise BuildError("desktop/__init__.py has no __version__")
    return match.group(1)


def deb_version(version: str) -> str:
    """PEP 440 pre-releases sort before the release in Debian only with a tilde: 0.2.0rc1 -> 0.2.0~rc1."""
    return re.sub(r"(\d)(a|b|rc|dev)(\d*)$", r"\1~\2\3", version.replace(".dev", "~dev"))


def _files(path: Path):
    if path.is_file():
        yield path
        return
    for child in sorted(path.rglob("*")):
        if child.is_file() and "__pycache__" not in child.parts and child.suffix not in (".pyc", ".ts"):
            yield child


def inputs_hash() -> str:
    """sha256 over the bundle's sources and the installed versions of every Python distribution."""
    digest = hashlib.sha256()
    for name in (*SOURCE_DIRS, *SOURCE_FILES):
        for file in _files(ROOT / name):
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    for dist in sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()):
        digest.update(dist.encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def dir_size(path: Path) -> int:
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() or f.is_symlink())


def build_bundle(out: Path, *, force: bool = False) -> Path:
    """dist/callcue (the --onedir bundle); reused when its recorded inputs hash is current."""
    bundle = out / BUNDLE_NAME
    want = inputs_hash()
    stamp = bundle / HASH_FILE
    built = (bundle / "callcue").exists() or (bundle / "callcue.exe").exists()
    if not force and stamp.is_file() and stamp.read_text().strip() == want and built:
        say(f"bundle up to date: {bundle} ({dir_size(bundle) / 2**20:.1f} MiB)")
        return bundle
    if importlib_missing("PyInstaller"):
        raise BuildError("PyInstaller is not installed: pip install -e '.[installer]' (scripts/bootstrap.sh --test does)")
    # One work folder per output folder; two builds into the same output wait for each other.
    work = ROOT / "build" / "pyinstaller" / hashlib.sha256(str(out).encode()).hexdigest()[:10]
    out.mkdir(parents=True, exist_ok=True)
    with exclusive(out / ".callcue-build.lock"):
        if not force and stamp.is_file() and stamp.read_text().strip() == want:
            say(f"bundle built meanwhile by another process: {bundle}")
            return bundle
        return _run_pyinstaller(bundle, out, work, want)


@contextlib.contextmanager
def exclusive(lock_path: Path):
    """An exclusive lock file (waits for the holder): concurrent builds must not share folders."""
    with open(lock_path, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run_pyinstaller(bundle: Path, out: Path, work: Path, want: str) -> Path:
    stamp = bundle / HASH_FILE
    say(f"PyInstaller --onedir from {SPEC.relative_to(ROOT)} (a few minutes on 2 cores)")
    started = time.monotonic()
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
               "--distpath", str(out), "--workpath", str(work), str(SPEC)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit {result.returncode}):\n{result.stdout[-4000:]}{result.stderr[-4000:]}")
    size = dir_size(bundle)
    say(f"bundle {bundle} built in {time.monotonic() - started:.0f} s: {size / 2**20:.1f} MiB")
    if sys.platform.startswith("linux") and size > LINUX_BUDGET_BYTES:
        raise BuildError(f"the bundle is {size / 2**20:.1f} MiB, over the {LINUX_BUDGET_BYTES / 2**20:.0f} MiB budget")
    stamp.write_text(want + "\n")
    return bundle


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


# --------------------------------------------------------------------------------------------- .deb


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def build_deb(bundle: Path, out: Path, version: str, *, fast: bool = False) -> Path:
    """dist/callcue_<version>_amd64.deb with dpkg-deb (no root needed: --root-owner-group)."""
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb is not installed (Debian/Ubuntu: it is part of dpkg)")
    version = deb_version(version)
    (ROOT / "build" / "deb").mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"callcue_{version}.", dir=ROOT / "build" / "deb"))
    stage.chmod(0o755)
    try:
        return _build_deb(bundle, out, version, stage, fast)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _build_deb(bundle: Path, out: Path, version: str, stage: Path, fast: bool) -> Path:
    linux = INSTALLER / "linux"
    opt = stage / "opt" / "callcue"
    shutil.copytree(bundle, opt, symlinks=True, ignore=shutil.ignore_patterns(HASH_FILE))
    (stage / "usr" / "bin").mkdir(parents=True)
    (stage / "usr" / "bin" / "callcue").symlink_to("/opt/callcue/callcue")
    shutil.copy2(linux / "callcue.desktop", _mkparent(stage / "usr/share/applications/callcue.desktop"))
    shutil.copy2(linux / "callcue.svg", _mkparent(stage / "usr/share/icons/hicolor/scalable/apps/callcue.svg"))
    shutil.copy2(linux / "callcue-autostart.desktop",
                 _mkparent(stage / "usr/share/callcue/callcue-autostart.desktop"))
    shutil.copy2(INSTALLER / "config.toml", _mkparent(stage / CONFFILE.lstrip("/")))
    doc = stage / "usr/share/doc/callcue"
    _write(doc / "copyright", "CallCue (坐席助手). Proprietary; see the vendor's licence terms.\n")
    debian = stage / "DEBIAN"
    installed_kib = (dir_size(stage) + 1023) // 1024
    _write(debian / "control", "\n".join([
        "Package: callcue",
        f"Version: {version}",
        "Architecture: amd64",
        "Maintainer: CallCue <it-support@callcue.invalid>",
        f"Installed-Size: {installed_kib}",
        f"Depends: {', '.join(DEB_DEPENDS)}",
        f"Recommends: {', '.join(DEB_RECOMMENDS)}",
        "Section: misc",
        "Priority: optional",
        "Homepage: https://callcue.invalid/",
        "Description: CallCue (坐席助手) agent assistant panel",
        " Side panel for call-center agents: who is calling, warnings, ranked offers and the",
        " contact policy when a call rings; outcomes are stored locally and synced to the",
        " analytics server. Machine-wide settings: /etc/callcue/config.toml.",
        "",
    ]))
    _write(debian / "conffiles", CONFFILE + "\n")
    for script in ("postinst", "prerm", "postrm"):
        shutil.copy2(linux / script, debian / script)
        (debian / script).chmod(0o755)
    for path in [stage, *stage.rglob("*")]:  # dpkg-deb wants sane modes whatever the umask was
        if path.is_symlink():
            continue
        if path.is_dir():
            path.chmod(0o755)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"callcue_{version}_amd64.deb"
    compression = ["-Zgzip", "-z1"] if fast else ["-Zxz", "-z6"]
    say(f"dpkg-deb {' '.join(compression)} -> {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    result = subprocess.run(["dpkg-deb", "--root-owner-group", *compression, "--build", str(stage), str(target)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"dpkg-deb failed: {result.stderr.strip() or result.stdout.strip()}")
    say(f"{target.name}: {target.stat().st_size / 2**20:.1f} MiB")
    return target


def _mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------------- NSIS


def build_nsis(bundle: Path, out: Path, version: str, *, fast: bool = False) -> Path:
    """Compile installer/windows/callcue.nsi around `bundle` (on Windows the real one; on Linux a stand-in)."""
    makensis = shutil.which("makensis")
    if makensis is None:
        raise BuildError("makensis is not installed (Debian: apt-get install nsis; Windows: choco install nsis)")
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"CallCue-{version}-setup.exe"
    numeric = ".".join((re.findall(r"\d+", version) + ["0"] * 4)[:4])
    command = [makensis, "-WX", "-V2", "-INPUTCHARSET", "UTF8", f"-DVERSION={version}", f"-DVERSION_NUMERIC={numeric}",
               f"-DPAYLOAD={bundle}", f"-DOUTFILE={target}", f"-DCONFIG_TEMPLATE={INSTALLER / 'config.toml'}",
               *(["-DFAST"] if fast else []), str(INSTALLER / "windows" / "callcue.nsi")]
    say(f"makensis -> {target.name}")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"makensis failed (exit {result.returncode}):\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
    say(f"{target.name}: {target.stat().st_size / 2**20:.1f} MiB")
    return target


# --------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="installer/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=["bundle", "deb", "nsis", "hash"])
    parser.add_argument("--version", default=None, help="package version (default: desktop/__init__.py)")
    parser.add_argument("--bundle", type=Path, help="package this existing bundle instead of building one")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--fast", action="store_true",
                        help="tests: quick gzip for the .deb, no compression for the Windows installer")
    parser.add_argument("--force", action="store_true", help="rebuild the bundle even when it is up to date")
    args = parser.parse_args(argv)
    try:
        if args.target == "hash":
            print(inputs_hash())
            return 0
        version = args.version or project_version()
        bundle = args.bundle.resolve() if args.bundle else build_bundle(args.out.resolve(), force=args.force)
        if not (bundle / "callcue").exists() and not (bundle / "callcue.exe").exists():
            raise BuildError(f"{bundle} is not a CallCue bundle (no callcue executable in it)")
        if args.target == "deb":
            build_deb(bundle, args.out.resolve(), version, fast=args.fast)
        elif args.target == "nsis":
            build_nsis(bundle, args.out.resolve(), version, fast=args.fast)
    except BuildError as exc:
        print(f"installer/build.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
