"""Sign-in: server URL, agent id and token. The token goes to the OS keyring, never to a file."""

from __future__ import annotations

from desktop.ui.qt import QtWidgets, Signal


class SignInDialog(QtWidgets.QDialog):
    submitted = Signal(str, str, str)  # server url, agent id, token

    def __init__(self, server_url: str = "", agent_id: str = "", message: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Sign in to CallCue"))
        self.setMinimumWidth(380)
        layout = QtWidgets.QFormLayout(self)
        self.message = QtWidgets.QLabel(message)
        self.message.setWordWrap(True)
        self.message.setProperty("state", "error" if message else "")
        layout.addRow(self.message)
        self.server = QtWidgets.QLineEdit(server_url)
        self.server.setPlaceholderText("https://analytics.example.com")
        self.server.setAccessibleName(self.tr("Server URL"))
        layout.addRow(self.tr("Server URL"), self.server)
        self.agent = QtWidgets.QLineEdit(agent_id)
        self.agent.setAccessibleName(self.tr("Agent ID"))
        layout.addRow(self.tr("Agent ID"), self.agent)
        self.token = QtWidgets.QLineEdit()
        self.token.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.token.setAccessibleName(self.tr("Token"))
        self.token.setPlaceholderText(self.tr("cc_… (from your team lead)"))
        layout.addRow(self.tr("Token"), self.token)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText(self.tr("Sign in"))
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout.addRow(self.buttons)
        (self.token if server_url and agent_id else self.server).setFocus()

    def _submit(self) -> None:
        self.set_busy(True)
        self.show_message(self.tr("Checking the token with the server…"), "loading")
        self.submitted.emit(self.server.text(), self.agent.text(), self.token.text())

    def set_busy(self, busy: bool) -> None:
        self.buttons.setEnabled(not busy)

    def show_message(self, text: str, state: str = "error") -> None:
        self.message.setText(text)
        self.message.setProperty("state", state)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
