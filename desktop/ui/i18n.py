"""Languages: zh_CN and en, following the system locale unless the agent or IT chose one.

UI strings are English in code (tr()) and translated by Qt .qm files in resources/translations; texts
that come from the analytics server carry both languages and are picked with `pick()`.
"""

from __future__ import annotations

from pathlib import Path

from desktop.ui.qt import QtCore

SUPPORTED = ("zh_CN", "en")


def resolve_language(setting: str, system_locale: str | None = None) -> str:
    if setting in SUPPORTED:
        return setting
    name = system_locale or QtCore.QLocale.system().name()
    return "zh_CN" if name.lower().startswith("zh") else "en"


class Translations:
    """Installs CallCue's and Qt's own translators for one language; switchable at run time."""

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
        qt_dir = QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.TranslationsPath)
        qt_own = QtCore.QTranslator(self._app)
        if qt_own.load(f"qtbase_{language}", qt_dir):
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
