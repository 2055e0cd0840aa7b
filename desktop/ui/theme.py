"""Light and dark palettes and the panel style sheet (resources/themes/panel.qss with colour tokens)."""

from __future__ import annotations

from pathlib import Path
from string import Template

from desktop.ui.qt import QtGui, QtWidgets

LIGHT = {
    "bg": "#f4f6f8", "card": "#ffffff", "text": "#1f2328", "muted": "#5f6b7a", "border": "#d5dbe1",
    "accent": "#1664d9", "accent_text": "#ffffff", "danger_bg": "#fdecea", "danger": "#b42318",
    "warn_bg": "#fff4e0", "warn": "#8a5300", "ok": "#1a7f37", "ok_bg": "#e8f5ec", "info_bg": "#eaf2ff",
    "suppressed": "#8b949e", "selected": "#e3edff",
}
DARK = {
    "bg": "#1c1d20", "card": "#27292d", "text": "#e8e8e8", "muted": "#a0a7b0", "border": "#3b3e44",
    "accent": "#5b9dff", "accent_text": "#0d1117", "danger_bg": "#4a1d1b", "danger": "#ff9b8f",
    "warn_bg": "#45340f", "warn": "#ffcf70", "ok": "#56d364", "ok_bg": "#163222", "info_bg": "#1b2a44",
    "suppressed": "#7d848c", "selected": "#223656",
}


def resolve_theme(setting: str, app: QtWidgets.QApplication) -> str:
    if setting in ("light", "dark"):
        return setting
    scheme = app.styleHints().colorScheme()
    return "dark" if scheme == QtGui.Qt.ColorScheme.Dark else "light"


def apply_theme(app: QtWidgets.QApplication, theme: str, themes_dir: Path) -> dict[str, str]:
    tokens = DARK if theme == "dark" else LIGHT
    palette = QtGui.QPalette()
    role = QtGui.QPalette.ColorRole
    for r, key in ((role.Window, "bg"), (role.Base, "card"), (role.AlternateBase, "bg"), (role.Text, "text"),
                   (role.WindowText, "text"), (role.Button, "card"), (role.ButtonText, "text"),
                   (role.Highlight, "accent"), (role.HighlightedText, "accent_text"),
                   (role.ToolTipBase, "card"), (role.ToolTipText, "text"), (role.PlaceholderText, "muted")):
        palette.setColor(r, QtGui.QColor(tokens[key]))
    app.setPalette(palette)
    template = Template((themes_dir / "panel.qss").read_text(encoding="utf-8"))
    app.setStyleSheet(template.substitute(tokens))
    return tokens
