"""The softphone/PBX connectors, built from the `connectors.*` settings.

    connectors = build_connectors(config.connectors, on_event=…, on_status=…)
    for connector in connectors: connector.start()      # each runs on its own thread
    …
    for connector in connectors: connector.stop()

`on_event` and `on_status` are called on the connectors' threads: in the panel, hand them to
desktop.runtime.connectors_host.ConnectorsHost, which delivers them on the GUI thread.
"""

from __future__ import annotations

from typing import Any, Protocol

from desktop.calls.ami import AmiConnector
from desktop.calls.baresip import BaresipConnector
from desktop.calls.connect_option import (
    CONNECTOR_NAMES,
    ConnectOptionError,
    ConnectTarget,
    connect_argument,
    connect_overrides,
    parse_connect_option,
    parse_host_port,
)
from desktop.calls.connector_base import (
    Backoff,
    ConnectorMessageError,
    ConnectorStatus,
    EventCallback,
    StatusCallback,
    TcpConnector,
)


class ConnectorSettingsLike(Protocol):
    """What build_connectors reads (desktop.services.config.ConnectorSettings has these)."""

    @property
    def baresip(self) -> str | None: ...
    @property
    def ami(self) -> str | None: ...
    @property
    def ami_username(self) -> str | None: ...
    @property
    def ami_secret(self) -> str | None: ...
    @property
    def ami_device(self) -> str | None: ...


def build_connectors(settings: ConnectorSettingsLike, *, on_event: EventCallback,
                     on_status: StatusCallback | None = None, **options: Any) -> list[TcpConnector]:
    """The configured connectors, not started yet (none when no connector is configured). `options` go
    to every connector (e.g. backoff=…, for tests). Raises ConnectOptionError for unusable settings (the
    configuration loader has normally refused those already)."""
    connectors: list[TcpConnector] = []
    if settings.baresip:
        host, port = parse_host_port(settings.baresip, name="baresip")
        connectors.append(BaresipConnector(host, port, on_event, on_status, **options))
    if settings.ami:
        host, port = parse_host_port(settings.ami, name="ami")
        if not settings.ami_username or not settings.ami_secret:
            raise ConnectOptionError("ami: needs connectors.ami_username and connectors.ami_secret")
        devices = [d.strip() for d in (settings.ami_device or "").split(",") if d.strip()]
        connectors.append(AmiConnector(host, port, settings.ami_username, settings.ami_secret, on_event,
                                       on_status, devices=devices, **options))
    return connectors


__all__ = [
    "CONNECTOR_NAMES",
    "AmiConnector",
    "Backoff",
    "BaresipConnector",
    "ConnectOptionError",
    "ConnectTarget",
    "ConnectorMessageError",
    "ConnectorSettingsLike",
    "ConnectorStatus",
    "TcpConnector",
    "build_connectors",
    "connect_argument",
    "connect_overrides",
    "parse_connect_option",
    "parse_host_port",
]
