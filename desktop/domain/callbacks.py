"""Scheduled callbacks: what the agent agreed to call back, read back from the local store (no Qt).

A callback is *open* until another outcome is recorded for that customer after it was agreed (the agent
called back, or the customer called in and got an outcome): the same "after it was agreed" that makes a
callback kept in the statistics (desktop/domain/stats.py), without the grace limit, since an outcome after
a late call-back still closes it. Only open callbacks are reminded or listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from desktop.domain.outcomes import number_of

# How far back an open callback is still reminded and listed (overdue): older ones are history.
OPEN_CALLBACK_WINDOW = dt.timedelta(days=7)


@dataclass(frozen=True)
class ScheduledCallback:
    outcome_id: str
    customer_id: str
    due_at: dt.datetime  # aware, UTC, whole seconds: the time the agent typed
    agreed_at: dt.datetime  # when the callback outcome was recorded
    display_name: str | None = None  # from the cached pop (None once the cache expired)
    masked_number: str | None = None
    last_result: str | None = None  # the customer's last outcome before the callback (e.g. considering)

    def overdue(self, now: dt.datetime) -> bool:
        return self.due_at <= now

    @property
    def caller_number(self) -> str | None:
        """A callback for a caller without a customer record (unknown caller, failed pop): the number to pop
        by when it is opened. Never shown: screens and scripts show masked_number."""
        return number_of(self.customer_id)

    @property
    def shown_id(self) -> str | None:
        """The customer id to show or hand to a script (None for a caller without a customer record)."""
        return None if self.caller_number is not None else self.customer_id

    def to_json(self) -> dict[str, Any]:
        """For scripts (`callcue callbacks --json`): no full phone number, only the masked one."""
        return {
            "outcome_id": self.outcome_id,
            "customer_id": self.shown_id,
            "due_at": self.due_at.isoformat(),
            "agreed_at": self.agreed_at.isoformat(),
            "display_name": self.display_name,
            "masked_number": self.masked_number,
            "last_result": self.last_result,
        }


def local_day(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of `now`'s day in the time zone of `now` (pass a local, aware time)."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=1, hours=3)).replace(hour=0)  # a DST day may be 23 or 25 hours long
    return start, end


def due_today(callbacks: list[ScheduledCallback], now: dt.datetime) -> list[ScheduledCallback]:
    """Those due before the end of `now`'s day (its time zone; pass a local, aware time): today's and the
    overdue ones."""
    _start, end = local_day(now)
    return [c for c in callbacks if c.due_at < end]


__all__ = ["OPEN_CALLBACK_WINDOW", "ScheduledCallback", "due_today", "local_day"]
