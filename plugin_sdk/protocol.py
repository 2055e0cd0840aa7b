"""The local bridge protocol, v1, as hosts see it: constants and the JSON Schemas of every message.

The schemas (JSON Schema draft 2020-12) ship in plugin_sdk/schemas/, one file per message type, e.g.
`schemas/pop.shown.json`; hosts in other languages can copy them from there. The reference is
docs/bridge.md.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Final

PROTOCOL_VERSION: Final = 1
DEFAULT_PORT: Final = 47615
WS_SUBPROTOCOL: Final = "callcue.v1"
TOKEN_SUBPROTOCOL_PREFIX: Final = "token."
TOKEN_FILE_NAME: Final = "bridge-token"
MAX_MESSAGE_BYTES: Final = 16 * 1024

CALL_STATES: Final = ("ringing", "answered", "transferred", "ended")
COMMAND_TYPES: Final = ("call", "panel.show", "panel.hide", "state.get", "outbound.next", "outbound.dial",
                        "outbound.result", "outcome.record", "dialer.register")
REPLY_TYPES: Final = ("call.result", "panel.result", "state", "error", "outbound.state", "outcome.result",
                      "dialer.result")
EVENT_TYPES: Final = ("pop.shown", "pop.ambiguous", "call.updated", "call.ignored", "call.closed", "outcome.recorded",
                      "outcome.retracted", "sync.state", "dial.requested")
# Sent only to WebSocket connections that asked (dial.requested: after dialer.register).
OPT_IN_EVENT_TYPES: Final = ("dial.requested",)
NOTICE_TYPES: Final = ("hello", "events.dropped")
MESSAGE_TYPES: Final = (*COMMAND_TYPES, *REPLY_TYPES, *EVENT_TYPES, *NOTICE_TYPES)


@cache
def _load(message_type: str) -> str:
    return resources.files(__package__).joinpath("schemas", f"{message_type}.json").read_text(encoding="utf-8")


def schema(message_type: str) -> dict[str, Any]:
    """The JSON Schema of one message type (a fresh dict each call). KeyError for an unknown type."""
    if message_type not in MESSAGE_TYPES:
        raise KeyError(f"no message type {message_type!r}; known: {', '.join(MESSAGE_TYPES)}")
    return json.loads(_load(message_type))


__all__ = [
    "CALL_STATES",
    "COMMAND_TYPES",
    "DEFAULT_PORT",
    "EVENT_TYPES",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_TYPES",
    "NOTICE_TYPES",
    "OPT_IN_EVENT_TYPES",
    "PROTOCOL_VERSION",
    "REPLY_TYPES",
    "TOKEN_FILE_NAME",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "WS_SUBPROTOCOL",
    "schema",
]
