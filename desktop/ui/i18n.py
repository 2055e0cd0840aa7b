"""Languages: zh_CN and en, following the system locale unless the agent or IT chose one.

UI strings are English in code (tr()) and translated from Qt .qm files in resources/translations; texts
that come from the analytics server carry both languages and are picked with `pick()`.

Per panel, not per process: every panel widget takes a `Texts` (one language's catalog) and its `tr()`
looks strings up there (the `Localized` mixin), so two panels in one process may show different
languages, and embedding a panel never installs a translator into the host's QApplication (which would
change the host's own texts). Only the desktop shell, which owns its process, also installs translators
app-wide (`Translations`): for the tray, the sign-in dialog and Qt's own texts (standard buttons).
Inside a panel, Qt's own texts come from the panel's `Texts` too: it also loads Qt's base catalog
(qtbase_zh_CN from PySide6's translations directory), and a panel dialog's standard buttons (OK, Cancel …)
are given their text from it when shown, so an embedded panel's dialogs speak its language, not the host's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from desktop.ui.qt import QtCore, QtWidgets

SUPPORTED = ("zh_CN", "en")


def translations_dir() -> Path:
    """resources/translations, in a source checkout and in a frozen (PyInstaller) build."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) / "resources" if frozen_root else Path(__file__).resolve().parents[2] / "resources"
    return root / "translations"


def qt_translations_dir() -> str:
    """Qt's own catalogs (qtbase_zh_CN.qm …): PySide6's translations directory, also in a frozen build."""
    return QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.TranslationsPath)


def resolve_language(setting: str, system_locale: str | None = None) -> str:
    if setting in SUPPORTED:
        return setting
    name = system_locale or QtCore.QLocale.system().name()
    return "zh_CN" if name.lower().startswith("zh") else "en"


class Texts:
    """CallCue's UI strings in one language, for one panel. Nothing is installed in the QApplication.

    `translate(context, source)` is the lookup (lupdate extracts `….translate("Context", "text")` calls);
    a string without a translation, or any string in English, comes back as written in the code.
    """

    def __init__(self, language: str, directory: Path | None = None) -> None:
        self.language = language
        # Localized.tr's answers (the catalog never changes): a pop asks ~130 of them, ~70 µs each uncached.
        self.tr_cache: dict[tuple, str] = {}
        self._translator: QtCore.QTranslator | None = None
        self._qt_translator: QtCore.QTranslator | None = None
        if language != "en":
            translator = QtCore.QTranslator()
            if translator.load(f"callcue_{language}", str(directory or translations_dir())):
                self._translator = translator
            qt_own = QtCore.QTranslator()
            if qt_own.load(f"qtbase_{language}", qt_translations_dir()):
                self._qt_translator = qt_own

    @property
    def loaded(self) -> bool:
        """False when a non-English catalog could not be loaded (the panel then shows English)."""
        return self.language == "en" or self._translator is not None

    def lookup(self, context: str, source: str, disambiguation: str | None = None, n: int = -1) -> str:
        """The translation, or "" when the catalog has none for this context."""
        if self._translator is None:
            return ""
        return self._translator.translate(context, source, disambiguation, n)

    def qt_text(self, context: str, source: str) -> str:
        """Qt's own text (e.g. ("QPlatformTheme", "Cancel")) in this language, or `source` unchanged."""
        if self._qt_translator is None:
            return source
        return self._qt_translator.translate(context, source) or source

    def localize_standard_buttons(self, widget: QtWidgets.QWidget) -> None:
        """The standard buttons of every button box in `widget` in this language (a text set by CallCue,
        e.g. "Sign in", has no Qt translation and stays)."""
        for box in widget.findChildren(QtWidgets.QDialogButtonBox):
            for button in box.buttons():
                if box.standardButton(button) != QtWidgets.QDialogButtonBox.StandardButton.NoButton:
                    button.setText(self.qt_text("QPlatformTheme", button.text()))

    def translate(self, context: str, source: str, disambiguation: str | None = None, n: int = -1) -> str:
        key = (context, source, disambiguation, n)
        found = self.tr_cache.get(key)
        if found is None:
            found = self.tr_cache[key] = self.lookup(context, source, disambiguation, n) or source
        return found


class Localized:
    """Mixin for CallCue's widgets: `self.tr()` uses the widget's own `texts` (its panel's language).

    Set `self.texts` before the first `self.tr()`. The context is the class that wrote the string (what
    lupdate records), found by walking the class hierarchy, as PySide's own tr() does.
    """

    texts: Texts

    def tr(self, source: str, disambiguation: str | None = None, n: int = -1) -> str:  # type: ignore[override]
        texts = self.texts
        key = (type(self), source, disambiguation, n)
        found = texts.tr_cache.get(key)
        if found is None:
            found = source
            for cls in type(self).__mro__:
                if cls is Localized:
                    break
                translated = texts.lookup(cls.__name__, source, disambiguation, n)
                if translated:
                    found = translated
                    break
            texts.tr_cache[key] = found
        return found

    def showEvent(self, event) -> None:
        """A panel dialog's standard buttons in the panel's language (no app-wide translator needed)."""
        if isinstance(self, QtWidgets.QDialog):
            self.texts.localize_standard_buttons(self)
        super().showEvent(event)


class Translations:
    """App-wide translators (CallCue's and Qt's own) for one language; switchable at run time.

    Only the desktop shell uses this: it owns the QApplication. Embedded panels use `Texts`.
    """

    def __init__(self, app: QtCore.QCoreApplication, translations_dir: Path) -> None:
        self._app = app
        self._dir = translations_dir
        self._installed: list[QtCore.QTranslator] = []
        self.language = "en"

    def remove(self) -> None:
        for translator in self._installed:
            self._app.removeTranslator(translator)
        self._installed.clear()

    def install(self, language: str) -> bool:
        self.remove()
        self.language = language
        if language == "en":
            return True
        ours = QtCore.QTranslator(self._app)
        if not ours.load(f"callcue_{language}", str(self._dir)):
            return False
        self._app.installTranslator(ours)
        self._installed.append(ours)
        qt_own = QtCore.QTranslator(self._app)
        if qt_own.load(f"qtbase_{language}", qt_translations_dir()):
            self._app.installTranslator(qt_own)
            self._installed.append(qt_own)
        return True


def pick(text, language: str) -> str:
    """A server text with zh and en, in the panel's language (objects with .zh/.en or dicts)."""
    if text is None:
        return ""
    if isinstance(text, dict):
        return text.get("zh" if language == "zh_CN" else "en") or text.get("en") or ""
    return (text.zh if language == "zh_CN" else text.en) or text.en
