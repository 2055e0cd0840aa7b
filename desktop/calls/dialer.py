"""Dialing an outbound call through what the agent has (issue 16), Qt-free: a dialer takes the customer's
number, applies its connector's dial template (desktop.domain.outbound.dial_target: a plain number goes as
it is; e.g. 'sip:{number}@pbx.example.com' rewrites it) and hands it to the softphone. Progress comes back
as call events from the same connector (answered / ended with the softphone's end reason), which the
outbound mode claims for the dialed call.

- BaresipDialer: baresip's ctrl_tcp command `dial` (the connector in desktop/calls/baresip.py).
- AmiDialer: Asterisk's Originate (desktop/calls/ami.py): the PBX rings the agent's phone, then the customer.
- UriDialer: a tel:/sip: URI handed to the system (the UI passes QDesktopServices.openUrl; a softphone
  registered for the scheme dials it). No progress comes back: the agent presses the result.
- HostDialer: a host application dials (the panel event `dial.requested`, desktop/domain/events.py): bridge
  hosts that sent `dialer.register`, SDK hosts subscribed to `dial_requested` (docs/bridge.md, docs/sdk.md).
  The host reports the call with call events, which the outbound mode claims as it does a connector's.

`dial()` blocks (a command and its answer): call it on a worker. Raises DialFailed with what to tell the agent.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from desktop.domain.errors import UserFacingError
from desktop.domain.outbound import dial_target

DIAL_TIMEOUT_S = 5.0


class DialFailed(UserFacingError):
    code = "dial_failed"


class Dialer(Protocol):
    name: str

    def dial(self, number: str) -> str:
        """Dial `number`; returns what was handed to the softphone. Raises DialFailed."""
        ...


class BaresipDialer:
    name = "baresip"

    def __init__(self, connector, template: str | None = None, *, timeout_s: float = DIAL_TIMEOUT_S) -> None:
        self._connector = connector  # a BaresipConnector (send_command)
        self.template = template
        self.timeout_s = timeout_s

    def dial(self, number: str) -> str:
        target = dial_target(number, self.template)
        future = self._connector.send_command("dial", target)
        try:
            response = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise DialFailed("baresip did not answer the dial command in time") from None
        except ConnectionError as exc:
            raise DialFailed(f"baresip is not connected ({exc})") from None
        if not response.ok:
            raise DialFailed(f"baresip refused to dial: {response.data[:200]}")
        return target


class AmiDialer:
    name = "ami"

    def __init__(self, connector, device: str, context: str = "from-internal", template: str | None = None, *,
                 timeout_s: float = DIAL_TIMEOUT_S) -> None:
        self._connector = connector  # an AmiConnector (originate)
        self.device = device  # the agent's phone, e.g. PJSIP/1001 (connectors.ami_device)
        self.context = context
        self.template = template
        self.timeout_s = timeout_s

    def dial(self, number: str) -> str:
        target = dial_target(number, self.template)
        future = self._connector.originate(self.device, target, self.context)
        try:
            response = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise DialFailed("the PBX did not answer the Originate in time") from None
        except (ConnectionError, ValueError) as exc:
            raise DialFailed(f"the PBX cannot dial now ({exc})") from None
        if (response.response or "").lower() != "success":
            raise DialFailed(f"the PBX refused to dial: {(response.get('Message') or 'no reason given')[:200]}")
        return target


class UriDialer:
    name = "system"

    def __init__(self, open_uri: Callable[[str], bool], template: str | None = "tel:{number}") -> None:
        self._open_uri = open_uri
        self.template = template or "tel:{number}"

    def dial(self, number: str) -> str:
        target = dial_target(number, self.template)
        if not target.startswith(("tel:", "sip:", "sips:", "callto:")):
            raise DialFailed("a system dial template must give a tel:, sip: or callto: URI")
        if not self._open_uri(target):
            raise DialFailed("no application on this computer dials tel:/sip: links")
        return target


class HostDialer:
    """Dialing by a host application: the panel emits `dial.requested` (on the GUI thread: nothing blocks) to
    the hosts that declared they dial. `template` (connectors.host_dial_template) rewrites the number as the
    host's softphone should dial it. Sources say whether such a host is connected now (the local bridge's
    registered connections, an SDK panel's subscribers); with none, the panel tells the agent and dials
    nothing."""

    name = "host"

    def __init__(self, template: str | None = None) -> None:
        self.template = template
        self._sources: list[Callable[[], bool]] = []

    def add_source(self, can_dial: Callable[[], bool]) -> Callable[[], None]:
        """`can_dial()`: a host that dials is connected through this source now. Returns its remover."""
        self._sources.append(can_dial)

        def remove() -> None:
            if can_dial in self._sources:
                self._sources.remove(can_dial)

        return remove

    def available(self) -> bool:
        return any(can_dial() for can_dial in list(self._sources))

    def target(self, number: str) -> str:
        return dial_target(number, self.template)
