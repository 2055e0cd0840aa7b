"""WrapUpReminders: turns the CallRouter's wrap-up decisions into scheduled reminders.

Listen to the router with `router.add_listener(reminders.on_router_action)` (on the GUI thread): an Ended
action with a `remind_at` schedules a one-off job; the call's Closed action (outcome recorded, dismissed)
cancels it. When it fires, `reminder_due(call_id)` is emitted on the GUI thread for the panel.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QObject, Signal

from desktop.calls.router import Closed, Ended, RouterAction
from desktop.runtime.scheduler import JobScheduler


class WrapUpReminders(QObject):
    reminder_due = Signal(str)  # call id

    def __init__(self, scheduler: JobScheduler, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scheduler = scheduler

    @staticmethod
    def job_id(call_id: str) -> str:
        return f"wrap-up-reminder:{call_id}"

    def on_router_action(self, action: RouterAction) -> None:
        if isinstance(action, Ended) and action.remind_at is not None:
            self._scheduler.once_at(
                action.remind_at, partial(self.reminder_due.emit, action.call_id), self.job_id(action.call_id)
            )
        elif isinstance(action, Closed):
            self._scheduler.cancel(self.job_id(action.call_id))
