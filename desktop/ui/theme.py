"""Light and dark palettes and the panel style sheet (resources/themes/panel.qss with colour tokens).

`apply_theme` styles a whole QApplication (the desktop shell owns its process); `apply_theme_to_widget`
styles one panel and its children only (an embedded panel must not restyle its host).
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from desktop.ui.qt import QtGui, QtWidgets

LIGHT = {
    "bg": "#f4f6f8", "card": "#ffffff", "text": "#1f2328", "muted": "#5f6b7a", "border": "#d5dbe1",
    "accent": "#1664d9", "accent_text": "#ffffff", "danger_bg": "#fdecea", "danger": "#b42318",
    "warn_bg": "#fff4e0", "warn": "#8a5300", "ok": "#1a7f37", "ok_bg": "#e8f5ec", "info_bg": "#eaf2ff",
    "suppressed": "#8b949e", "selected": "#e3edff", "focus": "#0a3a8c",
}
DARK = {
    "bg": "#1c1d20", "card": "#27292d", "text": "#e8e8e8", "muted": "#a0a7b0", "border": "#3b3e44",
    "accent": "#5b9dff", "accent_text": "#0d1117", "danger_bg": "#4a1d1b", "danger": "#ff9b8f",
    "warn_bg": "#45340f", "warn": "#ffcf70", "ok": "#56d364", "ok_bg": "#163222", "info_bg": "#1b2a44",
    "suppressed": "#7d848c", "selected": "#223656", "focus": "#ffd866",
}


def resolve_theme(setting: str, app: QtWidgets.QApplication) -> str:
    if setting in ("light", "dark"):
        return setting
    scheme = app.styleHints().colorScheme()
    return "dark" if scheme == QtGui.Qt.ColorScheme.Dark else "light"


def theme_tokens(theme: str) -> dict[str, str]:
    return DARK if theme == "dark" else LIGHT


def make_palette(tokens: dict[str, str]) -> QtGui.QPalette:
    palette = QtGui.QPalette()
    role = QtGui.QPalette.ColorRole
    for r, key in ((role.Window, "bg"), (role.Base, "card"), (role.AlternateBase, "bg"), (role.Text, "text"),
                   (role.WindowText, "text"), (role.Button, "card"), (role.ButtonText, "text"),
                   (role.Highlight, "accent"), (role.HighlightedText, "accent_text"),
                   (role.ToolTipBase, "card"), (role.ToolTipText, "text"), (role.PlaceholderText, "muted")):
        palette.setColor(r, QtGui.QColor(tokens[key]))
    return palette


def style_sheet(tokens: dict[str, str], themes_dir: Path) -> str:
    template = Template((themes_dir / "panel.qss").read_text(encoding="utf-8"))
    return template.substitute(tokens)


def apply_theme(app: QtWidgets.QApplication, theme: str, themes_dir: Path) -> dict[str, str]:
    """The whole application's palette (desktop shell only). The style sheet goes on the panel widget
    alone (apply_theme_to_widget): a second, application-wide copy would double every style lookup."""
    tokens = theme_tokens(theme)
    app.setPalette(make_palette(tokens))
    return tokens


def apply_theme_to_widget(widget: QtWidgets.QWidget, theme: str, themes_dir: Path) -> dict[str, str]:
    """One widget and its children (an embedded panel): the host's other widgets keep their look."""
    tokens = theme_tokens(theme)
    widget.setPalette(make_palette(tokens))
    widget.setAutoFillBackground(True)
    widget.setStyleSheet(style_sheet(tokens, themes_dir))
    return tokens
