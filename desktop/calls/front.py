"""Which open call is in front and what phase each call is in: what the agent's keys act on and what hosts
are told (GET /v1/state, `call.updated`, PanelHandle.calls()).

Rules (the router applies them after each decision, so every listener sees the same answer):
- `answered` brings that call to the front: the agent is talking to that customer now;
- a new call comes to the front unless the agent is talking on the call in front (a second ringing call
  must not take the outcome keys away from the customer on the line);
- the agent may bring any call to the front (a click on its tab);
- when the call in front closes, the call the agent is talking on (else the newest) takes its place.

Pure Python, no Qt.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

Phase = Literal["ringing", "talking", "wrap_up", "recorded"]
PHASES: tuple[Phase, ...] = ("ringing", "talking", "wrap_up", "recorded")


class _Call(Protocol):
    call_id: str
    state: str
    outcome_recorded: bool
    started_at: object
    updated_at: object


def phase_of(call: _Call) -> Phase:
    """'ringing', 'talking', 'wrap_up' (ended, no outcome yet) or 'recorded' (an outcome is saved)."""
    if call.outcome_recorded:
        return "recorded"
    return {"ringing": "ringing", "active": "talking"}.get(call.state, "wrap_up")  # type: ignore[return-value]


class FrontCall:
    """The call in front (None while no call is open)."""

    def __init__(self) -> None:
        self.call_id: str | None = None

    def opened(self, call_id: str, open_calls: dict[str, _Call]) -> bool:
        """A new call popped; returns whether it came to the front."""
        current = open_calls.get(self.call_id) if self.call_id is not None else None
        if current is not None and current.state == "active" and call_id != self.call_id:
            return False
        return self._set(call_id)

    def answered(self, call_id: str) -> bool:
        return self._set(call_id)

    def chosen(self, call_id: str) -> bool:
        return self._set(call_id)

    def closed(self, call_id: str, open_calls: Iterable[_Call]) -> str | None:
        """The call `call_id` closed; returns the call that comes to the front in its place (None: the
        front did not change, or no call is left)."""
        if call_id != self.call_id:
            return None
        remaining = list(open_calls)
        talking = [call for call in remaining if call.state == "active"]
        pool = talking or remaining
        self.call_id = (
            max(pool, key=lambda call: (call.updated_at, call.started_at)).call_id if pool else None
        )
        return self.call_id

    def _set(self, call_id: str) -> bool:
        changed = call_id != self.call_id
        self.call_id = call_id
        return changed
