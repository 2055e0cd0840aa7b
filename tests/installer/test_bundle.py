"""The frozen bundle itself: size budget, trimming, and that it runs (--version, --self-test)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from desktop import __version__
from tests.installer.conftest import ROOT, run, unavailable

LINUX_BUDGET = 120 * 1024 * 1024


def bundle_files(bundle: Path) -> list[Path]:
    return [path for path in bundle.rglob("*") if path.is_file() and not path.is_symlink()]


def app_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for the frozen app: its own HOME, no XDG overrides from this session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CALLCUE_", "QT_", "PYTHON"))}
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {**env, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), "TMPDIR": str(home), **extra}


def test_bundle_is_within_the_size_budget(bundle):
    size = sum(path.stat().st_size for path in bundle_files(bundle))
    assert size <= LINUX_BUDGET, f"bundle is {size / 2**20:.1f} MiB, budget {LINUX_BUDGET / 2**20:.0f} MiB"


def test_bundle_holds_the_panel_only(bundle):
    internal = bundle / "_internal"
    names = {path.relative_to(internal).as_posix() for path in internal.rglob("*")}
    # Not the reference server, not the test tools, not a second Qt binding.
    for unwanted in ("server_stub", "fastapi", "pydantic", "psycopg", "pytest", "hypothesis", "PyQt5", "PyQt6",
                     "PySide6/Qt/qml", "PySide6/QtWebEngineCore.abi3.so", "PySide6/QtQuick.abi3.so"):
        assert not any(name == unwanted or name.startswith(unwanted + "/") for name in names), unwanted
    qt_translations = sorted(n.rsplit("/", 1)[-1] for n in names if n.startswith("PySide6/Qt/translations/"))
    assert qt_translations, "Qt's own zh_CN translations (standard buttons) must ship"
    assert all(re.search(r"_(zh_CN|en)\.qm$", name) for name in qt_translations), qt_translations
    libs = {n.rsplit("/", 1)[-1] for n in names if n.startswith("PySide6/Qt/lib/")}
    assert not any(lib.startswith(("libQt6Quick", "libQt6Qml", "libQt6Pdf", "libQt6WebEngine")) for lib in libs)
    # The statistics window's QtCharts ships whenever PySide6-Addons is installed (nothing else of Addons).
    if importlib.util.find_spec("PySide6.QtCharts") is not None:
        assert "PySide6/QtCharts.abi3.so" in names and "libQt6Charts.so.6" in libs
    # No library of the build machine's /usr/lib: the .deb depends on the Debian packages instead.
    assert not any(re.match(r"lib(X11|xcb|glib-2\.0|dbus-1|fontconfig|ssl|crypto)\b", n) for n in names
                   if "/" not in n), sorted(n for n in names if "/" not in n and n.startswith("lib"))
    # Resources the panel reads, migrations Alembic loads from files, the SDK's protocol schemas.
    for needed in ("resources/translations/callcue_zh_CN.qm", "resources/themes/panel.qss",
                   "resources/samples/pop-sample.json", "desktop/storage/migrations/env.py",
                   "plugin_sdk/schemas/call.json"):
        assert needed in names, needed
    versions = sorted(p.name for p in (ROOT / "desktop/storage/migrations/versions").glob("*.py"))
    bundled = sorted(n.rsplit("/", 1)[-1] for n in names if n.startswith("desktop/storage/migrations/versions/")
                     and n.endswith(".py"))
    assert bundled == versions


def test_bundle_binaries_are_stripped(bundle):
    libs = [bundle / "_internal/PySide6/Qt/lib/libQt6Core.so.6", bundle / "callcue"]
    for lib in libs:
        assert ".symtab" not in run(["objdump", "-h", str(lib)]).stdout, f"{lib} is not stripped"


def test_frozen_version(bundle, tmp_path):
    result = run([str(bundle / "callcue"), "--version"], env=app_env(tmp_path))
    assert result.stdout.strip() == f"callcue {__version__}"


def test_frozen_self_test_passes(bundle, tmp_path):
    result = run([str(bundle / "callcue"), "--self-test"], env=app_env(tmp_path), timeout=60)
    lines = result.stdout.splitlines()
    assert "installed bundle" in lines[0]
    checks = ("settings", "resources", "protocol schemas", "local store", "pop rendering", "statistics charts",
              "password store")
    for check in checks:
        assert any(line.startswith(f"ok     {check}:") for line in lines), (check, result.stdout)
    assert lines[-1] == "self-test passed (7 checks)"
    assert "zh_CN, en" in result.stdout
    assert not list(tmp_path.glob("callcue-selftest-*")), "the self-test left its temporary folder behind"


def test_frozen_self_test_fails_in_plain_words_on_a_broken_user_file(bundle, tmp_path):
    config = tmp_path / ".config" / "CallCue" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("schema_version = 1\n[ui]\ndock = 'top'\n", encoding="utf-8")
    result = run([str(bundle / "callcue"), "--self-test"], env=app_env(tmp_path), timeout=60, check=False)
    assert result.returncode == 1, result.stdout
    assert f"FAILED settings: the settings are invalid: {config}: ui.dock: must be one of right, left" in result.stdout


def test_frozen_panel_starts_on_a_real_x_server(bundle, tmp_path):
    """The xcb platform plugin and the system libraries the .deb depends on load (Qt >= 6.5 aborts without
    libxcb-cursor0): the panel starts on Xvfb, takes a forwarded `callcue pop`, and quits on SIGTERM."""
    if shutil.which("Xvfb") is None:
        unavailable("Xvfb is missing: apt-get install xvfb (scripts/bootstrap.sh does)")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    panel = None
    try:
        with os.fdopen(read_fd) as pipe:
            display = pipe.readline().strip()
        assert display, "Xvfb did not start"
        env = app_env(tmp_path, DISPLAY=f":{display}", QT_QPA_PLATFORM="xcb", CALLCUE_BRIDGE_PORT="0")
        panel = subprocess.Popen([str(bundle / "callcue")], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        socket = tmp_path / f"callcue-u{os.getuid()}"
        deadline = time.monotonic() + 60
        while not socket.exists():  # the panel listens for commands once its window is built
            assert time.monotonic() < deadline, "the panel did not start within 60 s"
            try:
                panel.wait(timeout=0.1)  # between looks, wait on the process: an early exit shows at once
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"the panel exited ({panel.returncode}): {panel.stdout.read()}")
        run([str(bundle / "callcue"), "pop", "--ani", "13900139000", "--call-id", "xcb-1"], env=env, timeout=30)
        assert panel.poll() is None, "the panel stopped after the forwarded pop"
        panel.send_signal(signal.SIGTERM)
        output, _ = panel.communicate(timeout=30)
        assert panel.returncode == 0, output
        assert "qt.qpa" not in output and "platform plugin" not in output, output
    finally:
        if panel is not None and panel.poll() is None:
            panel.kill()
            panel.communicate(timeout=10)
        xvfb.terminate()
        xvfb.wait(timeout=10)


def test_frozen_demo_explains_that_it_needs_a_source_checkout(bundle, tmp_path):
    result = run([str(bundle / "callcue"), "demo", "--headless"], env=app_env(tmp_path), check=False)
    assert result.returncode == 2
    assert "does not include the sample server" in result.stderr


def test_frozen_app_reaches_a_real_secret_service(bundle, tmp_path):
    """keyring's Secret Service backend (secretstorage, jeepney, cryptography) made it into the bundle: with
    gnome-keyring running on a private session bus, the self-test finds it (without it: "no keyring")."""
    if shutil.which("gnome-keyring-daemon") is None or shutil.which("dbus-run-session") is None:
        unavailable("gnome-keyring / dbus-run-session are missing: apt-get install gnome-keyring dbus-daemon "
                    "(scripts/bootstrap.sh --test does)")
    script = ("printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && "
              f"exec '{bundle / 'callcue'}' --self-test")
    env = {k: v for k, v in app_env(tmp_path).items() if not k.startswith("DBUS_")}
    result = run(["dbus-run-session", "--", "sh", "-c", script], env=env, timeout=60)
    assert "ok     password store: keyring.backends.SecretService.Keyring" in result.stdout, result.stdout


def test_bundle_carries_no_compiled_leftovers_of_the_source_tree(bundle):
    assert not [p for p in bundle.rglob("__pycache__")], "__pycache__ folders were collected into the bundle"
