"""What the panel shows around the open calls, decided without Qt: each call's notices and phase (with its
wrap-up clock), its transfer marker, the panel's own notice, what a closed call leaves on screen between
calls, and the outcome the undo banner offers to take back.

desktop.domain.calls.CallViews holds each call's pop and outcomes (the controller's side); CallScreen
holds what the panel widget renders for the calls it shows. The widget asks it what to put on screen and
tells it what happened; the decisions live here:

- a notice belongs to its call and shows only while that call is in front (a ⚠ on its tab otherwise);
  the panel's own notice (None) shows under whatever call is in front;
- a closed call's last "saved" word stays on screen only until another call comes to the front — never
  under another customer — and nothing a closed call says after it closed (its undo banner ending) shows
  under another call;
- a wrap-up counts from the hang-up (m:ss), and the clock ticks only while a call is in wrap-up;
- closing a ringing call or a call in wrap-up asks first;
- the undo banner offers one outcome of one call until its deadline; its end brings back the notice it
  covered.

Pure Python: no Qt, no I/O, no clock of its own (times are passed in).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from desktop.domain.calls import Transfer

# Notice kinds, most urgent first: the notice line takes the most urgent kind of what it shows.
KINDS = ("attention", "pending", "synced")
PHASES = ("ringing", "talking", "wrap_up", "recorded")
ASK_BEFORE_CLOSING = frozenset({"ringing", "wrap_up"})


@dataclass(frozen=True, slots=True)
class Notice:
    text: str
    kind: str = "synced"


@dataclass(frozen=True, slots=True)
class NoticeLine:
    """The notice line under the calls: its text (the call's own notice, then the panel's) and kind."""

    text: str = ""
    kind: str = "synced"


@dataclass(frozen=True, slots=True)
class UndoOffer:
    """The undo banner: which outcome of which call Ctrl+Z takes back, until when, and the call's notice
    it covers (shown again when the banner ends)."""

    outcome_id: str
    call_id: str | None
    deadline: dt.datetime
    covered: str = ""


@dataclass(frozen=True, slots=True)
class UndoEnded:
    """The banner ended unused: the call's notice to show again."""

    call_id: str | None
    text: str


def wrap_up_clock(since: dt.datetime | None, now: dt.datetime) -> str:
    """Time since the hang-up as m:ss (0:00 before it or without one)."""
    elapsed = max(int((now - since).total_seconds()), 0) if since is not None else 0
    return f"{elapsed // 60}:{elapsed % 60:02d}"


class CallScreen:
    """Per-call view state of the panel widget. Use from one thread (the GUI thread)."""

    def __init__(self) -> None:
        self._phases: dict[str, tuple[str, dt.datetime | None]] = {}  # call id -> (phase, wrap-up since)
        self._transfers: dict[str, Transfer] = {}
        self._notices: dict[str | None, Notice] = {}  # call id (None: the panel's) -> notice
        self._left_behind: Notice | None = None  # a closed call's last word, shown until the next call
        self._closed: set[str] = set()
        self._undo: UndoOffer | None = None
        self._undo_call: str | None = None

    # ------------------------------------------------------------------ calls

    def opened(self, call_id: str) -> None:
        """A call's tab opened (again: answered after a mistaken close): it speaks for itself again."""
        self._closed.discard(call_id)

    def closed(self, call_id: str) -> None:
        """The call's tab closed: its phase, marker and notices go; "✓ Saved … for <name>" stays on screen
        until another call comes to the front."""
        self._closed.add(call_id)
        self._phases.pop(call_id, None)
        self._transfers.pop(call_id, None)
        notice = self._notices.pop(call_id, None)
        if notice is not None and notice.kind == "synced":
            self._left_behind = notice

    # ------------------------------------------------------------------ phases

    def mark_phase(self, call_id: str, phase: str, since: dt.datetime | None = None) -> None:
        """The call's phase ('ringing', 'talking', 'wrap_up' since the hang-up, 'recorded')."""
        self._phases[call_id] = (phase, since if phase == "wrap_up" else None)

    def phase(self, call_id: str) -> str:
        return self._phases.get(call_id, ("", None))[0]

    def wrap_up_since(self, call_id: str) -> dt.datetime | None:
        return self._phases.get(call_id, ("", None))[1]

    def wrap_up_clock(self, call_id: str, now: dt.datetime) -> str | None:
        """'m:ss' since the hang-up for a call in wrap-up, else None."""
        phase, since = self._phases.get(call_id, ("", None))
        return wrap_up_clock(since, now) if phase == "wrap_up" else None

    def in_wrap_up(self) -> list[str]:
        """The calls whose tab shows a running wrap-up clock."""
        return [call_id for call_id, (phase, _since) in self._phases.items() if phase == "wrap_up"]

    def clock_ticks(self) -> bool:
        """Some call is in wrap-up: its clock on the tab needs a tick each second."""
        return bool(self.in_wrap_up())

    def asks_before_closing(self, call_id: str) -> bool:
        """A ringing call closed by mistake loses its pop, a wrap-up its outcome: ask first."""
        return self.phase(call_id) in ASK_BEFORE_CLOSING

    # ------------------------------------------------------------------ transfers

    def mark_transfer(self, call_id: str, transfer: Transfer) -> None:
        self._transfers[call_id] = transfer

    def transfer(self, call_id: str) -> Transfer | None:
        return self._transfers.get(call_id)

    # ------------------------------------------------------------------ notices

    def set_notice(self, call_id: str | None, text: str, kind: str = "synced") -> None:
        """A notice of the call (None: of the panel); '' clears it. What a closed call says now (its undo
        banner ending, an undo answered after it closed) is its last word between calls, never a notice
        under another call."""
        if call_id is not None and call_id in self._closed:
            self._left_behind = Notice(text, kind) if text else None
        elif text:
            self._notices[call_id] = Notice(text, kind)
        else:
            self._notices.pop(call_id, None)

    def notice_of(self, call_id: str | None) -> str:
        notice = self._notices.get(call_id)
        return notice.text if notice is not None else ""

    def warns(self, call_id: str) -> bool:
        """The call has a warning waiting (shown as ⚠ on its tab while another call is in front)."""
        notice = self._notices.get(call_id)
        return notice is not None and notice.kind == "attention"

    def notice_line(self, front: str | None) -> NoticeLine:
        """What the notice line shows with `front` in front: its own notice (between calls: what the last
        closed call left), then the panel's. A call in front ends what a closed call left behind."""
        if front is not None:
            self._left_behind = None
        own = self._notices.get(front) if front is not None else self._left_behind
        shown = [notice for notice in (own, self._notices.get(None)) if notice is not None]
        kinds = {notice.kind for notice in shown}
        kind = next((k for k in KINDS if k in kinds), "synced")
        return NoticeLine("\n".join(notice.text for notice in shown), kind)

    # ------------------------------------------------------------------ undo

    def offer_undo(self, outcome_id: str, call_id: str | None, now: dt.datetime,
                   window: dt.timedelta) -> UndoOffer:
        """The banner for this outcome, up for `window` from `now`; it covers the call's notice."""
        self._undo = UndoOffer(outcome_id, call_id, now + window, self.notice_of(call_id))
        self._undo_call = call_id
        return self._undo

    @property
    def undo(self) -> UndoOffer | None:
        return self._undo

    @property
    def undo_call(self) -> str | None:
        """The call whose outcome the banner offers (or offered last) to undo: undo's answers go there."""
        return self._undo_call

    def take_undo(self) -> str | None:
        """Ctrl+Z: the outcome to take back, or None when no banner is up. The banner is used up (a second
        Ctrl+Z does nothing). The deadline is when the banner goes; while it is up, Ctrl+Z works (undo later
        still works, as a retraction on the server)."""
        offer, self._undo = self._undo, None
        return None if offer is None else offer.outcome_id

    def end_undo(self) -> UndoEnded | None:
        """The banner's time is up: the notice it covered comes back (None: no banner was up)."""
        offer, self._undo = self._undo, None
        if offer is None:
            return None
        return UndoEnded(offer.call_id, offer.covered)


__all__ = ["ASK_BEFORE_CLOSING", "KINDS", "PHASES", "CallScreen", "Notice", "NoticeLine", "UndoEnded",
           "UndoOffer", "wrap_up_clock"]
