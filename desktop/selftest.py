"""`callcue --self-test`: does this installation work? For IT after an install or upgrade, and for CI.

Offscreen, nothing shown, nothing of the agent's touched: checks that the settings (machine, user,
environment) are valid, that the bundled resources are there (translations, theme, sample pop,
the SDK's protocol schemas), that a local store can be created and migrated to this version's schema in
a temporary folder, that the panel renders the sample pop (in Chinese and English) and that the
statistics window's charts load and draw, and which password store the token would go to. Prints one
line per check; exit 0 when all pass, 1 with the failing check and a plain reason otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from desktop import __version__

EXIT_OK, EXIT_FAILED = 0, 1


class CheckFailed(Exception):
    """A check's plain-language reason."""


def resources_dir() -> Path:
    """resources/ in a source checkout and in a frozen (PyInstaller) bundle (sys._MEIPASS)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise CheckFailed(f"{what} is missing: {path} (the installation is incomplete; reinstall CallCue)")
    return path


def check_config() -> str:
    from desktop.services.config import ConfigError, default_paths, load_config

    paths = default_paths()
    try:
        config = load_config(machine_file=paths.machine_file, user_file=paths.user_file,
                             environ=dict(os.environ), cli={})
    except ConfigError as exc:
        raise CheckFailed(f"the settings are invalid: {exc}") from None
    server = config.server.url or "not set (the agent signs in with a server address)"
    return f"machine file {paths.machine_file} (exists: {paths.machine_file.is_file()}), server {server}"


def check_resources() -> str:
    root = resources_dir()
    _require(root / "translations" / "callcue_zh_CN.qm", "the Chinese translation")
    _require(root / "themes" / "panel.qss", "the panel style sheet")
    _require(root / "samples" / "pop-sample.json", "the sample pop document")
    return str(root)


def check_schemas() -> str:
    from importlib import resources

    folder = resources.files("plugin_sdk").joinpath("schemas")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))
    if not names:
        raise CheckFailed(f"the bridge protocol schemas are missing ({folder})")
    for name in names:
        try:
            json.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CheckFailed(f"the bridge protocol schema {name} is damaged: {exc}") from None
    return f"{len(names)} bridge protocol schemas"


def check_store(directory: Path) -> str:
    from desktop.storage import StoreError, open_store
    from desktop.storage.engine import current_revision, head_revision

    path = directory / "self-test.sqlite3"
    try:
        store = open_store(path)
    except StoreError as exc:
        raise CheckFailed(f"a local store cannot be created and migrated: {exc}") from None
    try:
        revision, head = current_revision(store.engine), head_revision()
    finally:
        store.close()
    if revision != head:
        raise CheckFailed(f"the local store was migrated to {revision}, expected {head}")
    return f"created and migrated to schema {head} in a temporary folder"


def check_pop(directory: Path) -> str:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import QtCore, QtWidgets

    from desktop.domain.pop import parse_pop
    from desktop.domain.states import PopKey, PopResult, PopState
    from desktop.services.config import load_config
    from desktop.ui.i18n import Texts
    from desktop.ui.panel import PanelWindow
    from desktop.ui.theme import apply_theme_to_widget

    QtCore.qInstallMessageHandler(_quiet_offscreen_messages)
    QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    root = resources_dir()
    document = parse_pop(json.loads((root / "samples" / "pop-sample.json").read_text(encoding="utf-8")))
    config = load_config(machine_file=None, user_file=None, environ={}, cli={})
    shortcuts = {name: getattr(config.shortcuts, name) for name in config.shortcuts.__dataclass_fields__}
    result = PopResult(state=PopState.LIVE, key=PopKey(customer_id=document.customer.customer_id),
                       document=document, fetched_at=dt.datetime.now(dt.UTC))
    shown = []
    for language in ("zh_CN", "en"):
        texts = Texts(language, root / "translations")
        heading = texts.translate("PopView", "Next best offers")
        if not texts.loaded or (language != "en" and heading == "Next best offers"):
            raise CheckFailed(f"the {language} translation cannot be loaded from {root / 'translations'}")
        window = PanelWindow(texts, shortcuts)
        try:
            apply_theme_to_widget(window, "light", root / "themes")
            window.resize(420, 760)
            window.show_pop("self-test", result)
            view = window.view("self-test")
            if view is None:
                raise CheckFailed("the panel did not open a tab for the sample pop")
            view.ensure_built()
            labels = " ".join(label.text() for label in view.findChildren(QtWidgets.QLabel))
            for expected in (document.customer.display_name, heading):
                if expected not in labels:
                    raise CheckFailed(f"the rendered {language} pop does not show {expected!r}")
            image = window.grab()
            if image.isNull() or image.width() < 100:
                raise CheckFailed("the panel could not be drawn offscreen")
            image.save(str(directory / f"pop-{language}.png"))
        finally:
            window.close()
            window.deleteLater()
        shown.append(language)
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    return f"sample pop rendered offscreen in {', '.join(shown)} (Qt {QtCore.qVersion()})"


# What keyring needs to reach the system's password store, per platform (packaging must not lose it: keyring
# silently reports "no keyring" when its backend's library is missing).
KEYRING_BACKEND_MODULES = {"linux": "secretstorage", "win32": "win32ctypes.pywin32.win32cred"}


def check_keyring() -> str:
    import importlib

    import keyring
    from keyring.backends import fail

    module = next((m for p, m in KEYRING_BACKEND_MODULES.items() if sys.platform.startswith(p)), None)
    if module is not None:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise CheckFailed(f"the password-store support is missing from this installation ({exc})") from None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return ("no password store is running for this user now (Secret Service / Credential Manager): "
                "sign-in cannot save the token until one runs")
    return f"{type(backend).__module__}.{type(backend).__name__}"


def check_charts() -> str:
    """The statistics window's charts: QtCharts (PySide6-Addons) and the OpenGL libraries it links."""
    try:
        from PySide6 import QtCharts
    except ImportError as exc:
        raise CheckFailed(f"the statistics charts cannot be loaded (QtCharts: {exc})") from None
    from PySide6 import QtWidgets

    QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    bars = QtCharts.QBarSet("self-test")
    bars.append([3.0, 5.0, 2.0])
    series = QtCharts.QBarSeries()
    series.append(bars)
    chart = QtCharts.QChart()
    chart.addSeries(series)
    view = QtCharts.QChartView(chart)
    try:
        view.resize(320, 200)
        image = view.grab()
        if image.isNull():
            raise CheckFailed("the statistics chart could not be drawn offscreen")
    finally:
        view.close()
        view.deleteLater()
    return "QtCharts chart drawn offscreen"


def _quiet_offscreen_messages(_kind, _context, message: str) -> None:
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def run_self_test(out=None) -> int:
    out = out or sys.stdout
    frozen = getattr(sys, "frozen", False)
    where = Path(sys.executable).parent if frozen else Path(__file__).resolve().parent.parent
    print(f"callcue {__version__} self-test ({'installed bundle' if frozen else 'source'} in {where})", file=out)
    with tempfile.TemporaryDirectory(prefix="callcue-selftest-") as temp:
        directory = Path(temp)
        checks: list[tuple[str, Callable[[], str]]] = [
            ("settings", check_config),
            ("resources", check_resources),
            ("protocol schemas", check_schemas),
            ("local store", lambda: check_store(directory)),
            ("pop rendering", lambda: check_pop(directory)),
            ("statistics charts", check_charts),
            ("password store", check_keyring),
        ]
        for name, check in checks:
            try:
                detail = check()
            except CheckFailed as exc:
                print(f"FAILED {name}: {exc}", file=out)
                return EXIT_FAILED
            except Exception as exc:  # an unexpected failure is still reported in one plain line
                print(f"FAILED {name}: {type(exc).__name__}: {exc}", file=out)
                return EXIT_FAILED
            print(f"ok     {name}: {detail}", file=out)
    print(f"self-test passed ({len(checks)} checks)", file=out)
    return EXIT_OK


__all__ = ["CheckFailed", "resources_dir", "run_self_test"]
