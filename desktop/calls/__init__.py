"""Call sources and the CallRouter. Qt-free: transports that run outside the GUI reuse the parser."""

from desktop.calls.events import CALL_STATES, CallEvent, CallState, InvalidCallEvent, parse_call_event
from desktop.calls.router import (
    Activate,
    CallRouter,
    Closed,
    Ended,
    Ignored,
    OpenCall,
    Pop,
    PopKey,
    RouterAction,
    RouterListener,
    UpdatePop,
)

__all__ = [
    "CALL_STATES",
    "Activate",
    "CallEvent",
    "CallRouter",
    "CallState",
    "Closed",
    "Ended",
    "Ignored",
    "InvalidCallEvent",
    "OpenCall",
    "Pop",
    "PopKey",
    "RouterAction",
    "RouterListener",
    "UpdatePop",
    "parse_call_event",
]
