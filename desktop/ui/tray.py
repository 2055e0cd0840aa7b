"""Tray icon and menu: show the panel, statistics, sign in or out, switch language, quit."""

from __future__ import annotations

from desktop.ui.qt import Qt, QtGui, QtWidgets, Signal


def app_icon() -> QtGui.QIcon:
    """Drawn at run time: a blue rounded square with 坐 (no image files to lose in a frozen build)."""
    icon = QtGui.QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        pixmap = QtGui.QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(pixmap)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setBrush(QtGui.QColor("#1664d9"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(0, 0, size, size, size * 0.22, size * 0.22)
        painter.setPen(QtGui.QColor("white"))
        font = painter.font()
        font.setPixelSize(int(size * 0.62))
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "坐")
        painter.end()
        icon.addPixmap(pixmap)
    return icon


class Tray(QtWidgets.QSystemTrayIcon):
    show_requested = Signal()
    stats_requested = Signal()
    sign_in_requested = Signal()
    sign_out_requested = Signal()
    language_requested = Signal(str)
    quit_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(app_icon(), parent)
        self.setToolTip(self.tr("CallCue agent assistant"))
        self.menu = QtWidgets.QMenu()
        self.show_action = self.menu.addAction(self.tr("Show panel"), self.show_requested.emit)
        self.stats_action = self.menu.addAction(self.tr("Statistics…"), self.stats_requested.emit)
        self.menu.addSeparator()
        self.sign_in_action = self.menu.addAction(self.tr("Sign in…"), self.sign_in_requested.emit)
        self.sign_out_action = self.menu.addAction(self.tr("Sign out"), self.sign_out_requested.emit)
        self.menu.addSeparator()
        self.menu.addAction("中文", lambda: self.language_requested.emit("zh_CN"))
        self.menu.addAction("English", lambda: self.language_requested.emit("en"))
        self.menu.addSeparator()
        self.menu.addAction(self.tr("Quit"), self.quit_requested.emit)
        self.setContextMenu(self.menu)
        self.activated.connect(self._activated)

    def _activated(self, reason: QtWidgets.QSystemTrayIcon.ActivationReason) -> None:
        if reason == QtWidgets.QSystemTrayIcon.ActivationReason.Trigger:
            self.show_requested.emit()

    def show_sync(self, text: str) -> None:
        """The sync state in the tooltip (the sync badge's words): outcomes waiting or refused are seen
        without opening the panel."""
        self.setToolTip(f"{self.tr('CallCue agent assistant')}\n{text}" if text else self.tr("CallCue agent assistant"))

    def set_signed_in(self, signed_in: bool) -> None:
        self.sign_out_action.setEnabled(signed_in)
