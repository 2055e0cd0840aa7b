"""A fake softphone that embeds the CallCue panel through plugin_sdk (the only CallCue module it imports).

    python examples/qt_host/host.py --server-url http://127.0.0.1:8000 --agent-id agent-007 --token cc_…

Left: a dial pad with the caller's number, "Incoming call", "Answer", "Transfer to…", "Hang up" and a log
of what the SDK reported. Right: the panel. Type a number (the field keeps the keyboard while the panel
pops), press "Incoming call", then record the outcome in the panel (or with Ctrl+1…6 from anywhere in
this window). Scripted input (no window): `--headless` runs one call against the server and exits.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from plugin_sdk import API_VERSION, CallEventResult, PanelConfig, embed_panel

DIAL_PAD = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")


class SoftphoneHost(QtWidgets.QMainWindow):
    """The host: a softphone window with the panel on the right."""

    def __init__(self, config: PanelConfig, credentials: Callable[[], str | None]) -> None:
        super().__init__()
        self.setWindowTitle("Softphone (CallCue SDK example)")
        self._call_ids = itertools.count(1)
        self.call_id: str | None = None  # the call on the line
        self.caller: str | None = None
        self.outcomes: list[dict] = []  # what the panel reported (a real host would write it to its CRM)
        self.pops: list[dict] = []

        central = QtWidgets.QWidget()
        self.setCentralWidget(central)
        row = QtWidgets.QHBoxLayout(central)
        row.addWidget(self._softphone(), 0)

        # The panel: a child widget of this window, built and run by the SDK.
        self.panel = embed_panel(central, config, credentials=credentials)
        self.panel.widget.setMinimumWidth(400)
        row.addWidget(self.panel.widget, 1)
        self._unsubscribe = [
            self.panel.subscribe("pop_shown", self._pop_shown),
            self.panel.subscribe("outcome_recorded", self._outcome_recorded),
            self.panel.subscribe("sync_state", self._sync_state),
        ]
        self.resize(1000, 720)
        self.number.setFocus()

    def _softphone(self) -> QtWidgets.QWidget:
        box = QtWidgets.QGroupBox("Softphone")
        box.setMinimumWidth(300)
        layout = QtWidgets.QVBoxLayout(box)
        self.number = QtWidgets.QLineEdit()
        self.number.setPlaceholderText("Caller number")
        self.number.setAccessibleName("Caller number")
        layout.addWidget(self.number)
        pad = QtWidgets.QGridLayout()
        for index, key in enumerate(DIAL_PAD):
            button = QtWidgets.QPushButton(key)
            # Like a real softphone: clicking the pad keeps typing in the number field.
            button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _checked=False, k=key: self.number.insert(k))
            pad.addWidget(button, index // 3, index % 3)
        layout.addLayout(pad)
        self.incoming_button = self._button("Incoming call", self.incoming_call)
        self.answer_button = self._button("Answer", self.answer)
        self.hang_up_button = self._button("Hang up", self.hang_up)
        calls = QtWidgets.QHBoxLayout()
        for button in (self.incoming_button, self.answer_button, self.hang_up_button):
            calls.addWidget(button)
        layout.addLayout(calls)
        transfer = QtWidgets.QHBoxLayout()
        self.transfer_target = QtWidgets.QLineEdit()
        self.transfer_target.setPlaceholderText("Extension or queue")
        self.transfer_target.setAccessibleName("Transfer target")
        self.transfer_button = self._button("Transfer to…", self.transfer)
        transfer.addWidget(self.transfer_target, 1)
        transfer.addWidget(self.transfer_button)
        layout.addLayout(transfer)
        self.status = QtWidgets.QLabel("Idle")
        layout.addWidget(self.status)
        layout.addWidget(QtWidgets.QLabel(f"What the CallCue SDK (API {API_VERSION}) reported:"))
        self.log = QtWidgets.QListWidget()
        self.log.setAccessibleName("SDK log")
        self.log.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        layout.addWidget(self.log, 1)
        return box

    def _button(self, text: str, slot: Callable[[], object]) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton(text)
        button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    # ------------------------------------------------------------------ the softphone's call events

    def incoming_call(self) -> CallEventResult:
        self.call_id = f"demo-{os.getpid()}-{next(self._call_ids)}"
        self.caller = self.number.text().strip() or None
        self.status.setText("Ringing")
        return self._send("ringing", ani=self.caller)

    def answer(self) -> CallEventResult | None:
        self.status.setText("Talking")
        return self._send("answered", ani=self.caller)

    def transfer(self) -> CallEventResult | None:
        """The call moves to another extension or queue (the caller stays the same): the panel updates
        the call's tab; it never pops a second time."""
        target = self.transfer_target.text().strip() or None
        self.status.setText(f"Transferred to {target}" if target else "Transferred")
        return self._send("transferred", ani=self.caller, dnis=target)

    def hang_up(self) -> CallEventResult | None:
        self.status.setText("Idle (wrap-up)")
        return self._send("ended", ani=self.caller)

    def _send(self, state: str, **fields: str | None) -> CallEventResult | None:
        if self.call_id is None:
            self._note(f"{state}: no call yet")
            return None
        result = self.panel.call_event(self.call_id, state, **fields)
        # Every result says what happened, so a host can see why nothing popped.
        reason = f" ({result.reason})" if result.reason else ""
        self._note(f"{state} → {result.result}{reason} {result.detail}".strip())
        return result

    # ------------------------------------------------------------------ what the panel reports

    def _pop_shown(self, payload: dict) -> None:
        self.pops.append(payload)
        kind = "update" if payload["update"] else "pop"
        self._note(f"{kind}: {payload['state']} customer {payload['customer_id'] or '—'}")

    def _outcome_recorded(self, payload: dict) -> None:
        self.outcomes.append(payload)
        self._note(f"outcome: {payload['result']} for {payload['customer_id']}")

    def _sync_state(self, payload: dict) -> None:
        self._note(f"sync: {payload['kind']} ({payload['pending']} pending)")

    def _note(self, text: str) -> None:
        self.log.addItem(text)
        self.log.scrollToBottom()

    # ------------------------------------------------------------------ shutting down

    def close_panel(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.panel.close()

    def closeEvent(self, event) -> None:
        self.close_panel()
        super().closeEvent(event)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="A fake softphone embedding the CallCue panel.")
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--agent-id", default="agent-007")
    parser.add_argument("--token", default=os.environ.get("CALLCUE_TOKEN"),
                        help="the agent's token (default: $CALLCUE_TOKEN; without one, the OS keyring)")
    parser.add_argument("--lang", default="system", choices=["system", "zh_CN", "en"])
    parser.add_argument("--theme", default="system", choices=["system", "light", "dark"])
    parser.add_argument("--store", help="the panel's local data file (default: per agent, in the user data dir)")
    parser.add_argument("--headless", action="store_true",
                        help="offscreen: ring --caller, print what the SDK reported, exit")
    parser.add_argument("--caller", default="13800138000", help="with --headless: the number that rings")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    # Recommended for hosts (docs/sdk.md, "Paint speed"): paint on the GUI thread, set before Qt paints.
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    config = PanelConfig(server_url=args.server_url, agent_id=args.agent_id, language=args.lang,
                         theme=args.theme, store_path=args.store, require_api="1.0")
    token = args.token
    host = SoftphoneHost(config, credentials=(lambda: token) if token else None)
    if not args.headless:
        host.show()
        return app.exec()

    def finish(payload: dict) -> None:
        print(f"pop_shown: {payload}")
        QtCore.QTimer.singleShot(0, app.quit)

    host.panel.subscribe("pop_shown", finish)
    host.number.setText(args.caller)
    print(f"call_event: {host.incoming_call()}")
    QtCore.QTimer.singleShot(20_000, lambda: app.exit(1))
    code = app.exec()
    host.close_panel()
    return code


if __name__ == "__main__":
    sys.exit(main())
