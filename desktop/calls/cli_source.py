"""`callcue pop …`: the command-line call source (softphones that run a command on an incoming call).

The second `callcue` process forwards its argv to the running instance (desktop.runtime.single_instance);
the running instance turns the arguments after "pop" into a CallEvent here and routes it. Both sides can
use `pop_event_from_argv`: the sender to fail fast, the receiver to decide. Errors are InvalidCallEvent,
whose message is safe to print and to send back (it never repeats a phone number).

    callcue pop --ani NUMBER [--call-id ID] [--customer-id ID] [--dnis NUMBER] [--agent-id ID]
                [--state ringing|answered|transferred|ended]

Without --call-id every invocation is a new call (a generated id), so a softphone that knows its call id
should pass it: then repeated commands never pop twice, and `--state ended` with the same id ends it.

--ani also takes the caller as a SIP/TEL URI, as some softphones hand it to the command they run
('sip:13800138000@pbx', '"Name" <sip:…>', 'tel:+86…'): the number is taken from its user part.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Sequence
from typing import NoReturn

from desktop.calls.connector_base import number_from_uri
from desktop.calls.events import CallEvent, InvalidCallEvent, parse_call_event

CLI_SOURCE = "cli"
POP_USAGE = (
    "callcue pop --ani NUMBER [--call-id ID] [--customer-id ID] [--dnis NUMBER] [--agent-id ID] "
    "[--state ringing|answered|transferred|ended]"
)


class _RaisingParser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting: this also runs inside the GUI process."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            message = "unrecognized arguments"  # argparse would repeat them, and one may be a phone number
        raise InvalidCallEvent(None, f"{message} (usage: {POP_USAGE})")


def add_pop_arguments(parser: argparse.ArgumentParser) -> None:
    """The `pop` options, for the CLI's own parser (so `callcue pop --help` shows them)."""
    parser.add_argument("--ani", help="the caller's number")
    parser.add_argument("--call-id", dest="call_id", help="the softphone's id of the call")
    parser.add_argument("--customer-id", dest="customer_id", help="the CRM customer id, when known")
    parser.add_argument("--dnis", help="the number that was dialled")
    parser.add_argument("--agent-id", dest="agent_id", help="the agent the call is for")
    parser.add_argument("--state", default="ringing", help="ringing (default), answered, transferred, ended")


def pop_event_from_argv(
    argv: Sequence[str], *, new_call_id: Callable[[], str] = lambda: f"cli-{uuid.uuid4().hex}"
) -> CallEvent:
    """The CallEvent for the arguments after `pop`. Raises InvalidCallEvent."""
    if not all(isinstance(arg, str) for arg in argv):
        raise InvalidCallEvent(None, "arguments must be text")
    parser = _RaisingParser(prog="callcue pop", add_help=False, allow_abbrev=False)
    add_pop_arguments(parser)
    options = parser.parse_args(list(argv))
    return pop_event_from_options(options, new_call_id=new_call_id)


def pop_event_from_options(
    options: argparse.Namespace, *, new_call_id: Callable[[], str] = lambda: f"cli-{uuid.uuid4().hex}"
) -> CallEvent:
    """The CallEvent for options parsed with `add_pop_arguments`. Raises InvalidCallEvent."""
    data = {
        "call_id": options.call_id or new_call_id(),
        "state": options.state,
        "ani": _number(options.ani),
        "customer_id": options.customer_id,
        "dnis": options.dnis,
        "agent_id": options.agent_id,
    }
    return parse_call_event(data, source=CLI_SOURCE)


def _number(ani: object) -> object:
    """A SIP/TEL URI becomes the number in its user part; anything else is checked as it is."""
    if not isinstance(ani, str) or not ani.strip().lower().startswith(("sip:", "sips:", "tel:", "<", '"')):
        return ani
    number = number_from_uri(ani)
    if number is None:
        raise InvalidCallEvent("ani", "the SIP/TEL URI holds no phone number (a withheld or internal caller?)")
    return number
