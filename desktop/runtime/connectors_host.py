"""ConnectorsHost: runs the softphone/PBX connectors (desktop.calls.connectors) for the Qt app.

Each connector reads its socket on its own thread and reports there. This QObject posts those reports to
the GUI thread's inbox (desktop.runtime.gui_thread, the one way back for every thread), so call events reach `handle_event` (the CallRouter's `handle`) and statuses reach
`status_changed` listeners on the GUI thread, one at a time, in the order they happened. Nothing here
touches widgets.

    host = ConnectorsHost(router.handle, parent=app)
    host.start_from_settings(config.connectors)   # GUI thread; a no-op when no connector is configured
    host.status_changed.connect(…)                 # ConnectorStatus, e.g. for a tray tooltip
    …
    host.stop()                                    # before the app quits: joins the connector threads

After stop(), events still queued are dropped: the router may be gone by then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from desktop.calls.connector_base import ConnectorStatus, TcpConnector
from desktop.calls.connectors import ConnectorSettingsLike, build_connectors
from desktop.calls.events import CallEvent
from desktop.runtime.gui_thread import GuiInbox

logger = logging.getLogger("callcue.connectors")


class ConnectorsHost(QObject):
    """Owns the running connectors; delivers their events and statuses on the GUI thread."""

    status_changed = Signal(object)  # ConnectorStatus, on the GUI thread

    def __init__(self, handle_event: Callable[[CallEvent], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handle_event = handle_event
        self._connectors: list[TcpConnector] = []
        self._statuses: dict[str, ConnectorStatus] = {}
        self._closed = False
        # Queued even when posted on the GUI thread: the router is never re-entered from a connector call.
        self._inbox = GuiInbox(self, name="callcue-connectors-inbox")

    # --- for the connectors (any thread) -------------------------------------------------------------

    def post_event(self, event: CallEvent) -> None:
        """The connectors' `on_event`: safe from any thread."""
        self._inbox.post(self._deliver_event, event)

    def post_status(self, status: ConnectorStatus) -> None:
        """The connectors' `on_status`: safe from any thread."""
        self._inbox.post(self._deliver_status, status)

    # --- lifecycle (GUI thread) ----------------------------------------------------------------------

    @property
    def connectors(self) -> tuple[TcpConnector, ...]:
        return tuple(self._connectors)

    def statuses(self) -> dict[str, ConnectorStatus]:
        """The latest status of each connector, by connector name."""
        return dict(self._statuses)

    def start_from_settings(self, settings: ConnectorSettingsLike, **options: Any) -> list[TcpConnector]:
        """Build the connectors the settings ask for (desktop.services.config.ConnectorSettings) and
        start them. Returns them (empty when none is configured)."""
        connectors = build_connectors(settings, on_event=self.post_event, on_status=self.post_status, **options)
        self.start(connectors)
        return connectors

    def start(self, connectors: Iterable[TcpConnector]) -> None:
        """Start connectors built with `on_event=host.post_event, on_status=host.post_status`."""
        self._require_gui_thread()
        if self._closed:
            raise RuntimeError("ConnectorsHost is stopped")
        for connector in connectors:
            self._connectors.append(connector)
            connector.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop every connector and wait for its thread (each says goodbye to its server first). Returns
        whether all threads ended. Safe to call twice."""
        self._closed = True
        stopped = True
        for connector in self._connectors:
            connector.request_stop()  # all at once: the waits below then overlap
        for connector in self._connectors:
            stopped = connector.stop(timeout_s) and stopped
        return stopped

    # --- delivery (GUI thread) -----------------------------------------------------------------------

    def _deliver_event(self, event: CallEvent) -> None:
        if self._closed:
            return
        try:
            self._handle_event(event)
        except Exception:  # the router logs its own listeners' failures; this is the router itself
            logger.exception("routing call %s from %s failed", event.call_id, event.source)

    def _deliver_status(self, status: ConnectorStatus) -> None:
        self._statuses[status.connector] = status
        if not self._closed or status.state == "stopped":
            self.status_changed.emit(status)

    def _require_gui_thread(self) -> None:
        if QThread.currentThread() != self.thread():
            raise RuntimeError("ConnectorsHost must be used from the GUI thread")
