"""CallCue SDK: the only module a host application imports (reference: docs/sdk.md).

In-process (API v1), for hosts written with PySide6:

    from plugin_sdk import PanelConfig, embed_panel

    handle = embed_panel(parent_widget, PanelConfig(server_url=..., agent_id=..., require_api="1.0"),
                         credentials=lambda: my_token)
    layout.addWidget(handle.widget)
    handle.subscribe("outcome_recorded", on_outcome)
    handle.call_event("call-42", "ringing", ani="13800138000")
    ...
    handle.close()

Hosts in other processes or languages use the local bridge (`BridgeClient`, JSON schemas in
plugin_sdk/schemas/). Importing this package does not import Qt: `embed_panel` and `PanelHandle` load
the panel (PySide6) on first use, `BridgeClient` its own module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugin_sdk._types import (
    EVENT_NAMES,
    WIRE_NAMES,
    CallEventResult,
    DialRequested,
    IncompatibleApiError,
    OutcomeRecorded,
    OutcomeRetracted,
    PanelClosedError,
    PanelConfig,
    PanelConfigError,
    PanelError,
    PopAmbiguous,
    PopShown,
    SyncStateEvent,
)
from plugin_sdk._version import API_VERSION, SUPPORTED_API_VERSIONS, api_supported, require_api

if TYPE_CHECKING:
    from plugin_sdk._embed import PanelHandle, embed_panel
    from plugin_sdk.bridge_client import BridgeClient

__all__ = [
    "API_VERSION",
    "EVENT_NAMES",
    "SUPPORTED_API_VERSIONS",
    "WIRE_NAMES",
    "BridgeClient",
    "CallEventResult",
    "DialRequested",
    "IncompatibleApiError",
    "OutcomeRecorded",
    "OutcomeRetracted",
    "PanelClosedError",
    "PanelConfig",
    "PanelConfigError",
    "PanelError",
    "PanelHandle",
    "PopAmbiguous",
    "PopShown",
    "SyncStateEvent",
    "api_supported",
    "embed_panel",
    "require_api",
]

_LAZY = {"embed_panel": "plugin_sdk._embed", "PanelHandle": "plugin_sdk._embed",
         "BridgeClient": "plugin_sdk.bridge_client"}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'plugin_sdk' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
