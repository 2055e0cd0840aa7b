"""The callback queue: open callbacks from the local store, for reminders, the idle screen and the CLI.

Reads only (the "db" pool in the panel, or `callcue callbacks`); what is open is defined in
desktop/domain/callbacks.py.
"""

from __future__ import annotations

import datetime as dt

from desktop.domain.callbacks import OPEN_CALLBACK_WINDOW, ScheduledCallback, local_day
from desktop.services.clock import Clock, utc_now
from desktop.storage import LocalStore

# Reminders are set for open callbacks up to this far ahead (a panel runs for a shift, restarts daily).
_AHEAD = dt.timedelta(days=400)


class CallbackService:
    def __init__(self, store: LocalStore, clock: Clock = utc_now) -> None:
        self._store = store
        self._clock = clock

    def scheduled(self) -> list[ScheduledCallback]:
        """Every open callback, overdue ones of the last week included, earliest first: the reminders to
        set at start and what `callcue callbacks` lists."""
        now = self._clock()
        return self._store.outcomes.open_callbacks(now - OPEN_CALLBACK_WINDOW, now + _AHEAD)

    def today(self, zone: dt.tzinfo | None = None) -> list[ScheduledCallback]:
        """Open callbacks due before the end of today (local day; overdue ones of the last week included)."""
        now = self._clock()
        _start, end = local_day(now.astimezone(zone))
        return self._store.outcomes.open_callbacks(now - OPEN_CALLBACK_WINDOW, end)

    def queue(self) -> tuple[list[ScheduledCallback], dt.datetime]:
        """Every open callback (scheduled()) and the time it was read at: one read for the reminders and
        the idle screen (which shows due_today() of it)."""
        return self.scheduled(), self._clock()


__all__ = ["CallbackService"]
