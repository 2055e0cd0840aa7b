"""Call results of outbound calls in the local store (table outbound_attempts, migration 0010).

A result is committed here before the panel says "saved", then sent by desktop.services.outbound; the
attempt_id is the server's idempotency key, so an item resent after a lost answer comes back `duplicate`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.sqlite import insert

from desktop.domain.outbound import CallAttempt, CallResult, RefusedResult, refusal_code
from desktop.storage import models
from desktop.storage.store import _guarded, _Repository

PENDING, DELIVERED, NEEDS_ATTENTION = "pending", "delivered", "needs_attention"
DISMISSED = "dismissed"  # a refused result the agent set aside: kept here, never sent


def _attempt(row: Any) -> CallAttempt:
    payload = row.payload
    return CallAttempt(row.attempt_id, row.lease_id, row.customer_id, row.campaign_id, row.wave,
                       CallResult(row.result), dt.datetime.fromisoformat(payload["called_at"]),
                       payload.get("call_id"), payload.get("note"))


class AttemptRepository(_Repository):
    @_guarded
    def record(self, attempt: CallAttempt, recorded_at: dt.datetime) -> bool:
        """Store a call result (committed on return). False when this attempt_id is stored already."""
        t = models.OutboundAttempt
        with self._writing() as conn:
            result = conn.execute(insert(t).values(
                attempt_id=attempt.attempt_id, payload=attempt.to_payload(), lease_id=attempt.lease_id,
                customer_id=attempt.customer_id, campaign_id=attempt.campaign_id, wave=attempt.wave,
                result=attempt.result.value, called_at=attempt.called_at, recorded_at=recorded_at, status=PENDING,
                attempts=0,
            ).on_conflict_do_nothing(index_elements=["attempt_id"]))
        return result.rowcount == 1

    @_guarded
    def pending(self, limit: int = 50) -> list[CallAttempt]:
        t = models.OutboundAttempt
        query = select(t).where(t.status == PENDING).order_by(t.recorded_at, t.attempt_id).limit(limit)
        with self._read.connect() as conn:
            return [_attempt(r) for r in conn.execute(query)]

    @_guarded
    def of_lease(self, lease_id: str) -> CallAttempt | None:
        """The call result recorded for a lease, if any (a lease takes one)."""
        t = models.OutboundAttempt
        with self._read.connect() as conn:
            row = conn.execute(select(t).where(t.lease_id == lease_id).order_by(t.recorded_at)).first()
        return None if row is None else _attempt(row)

    @_guarded
    def mark_delivered(self, attempt_id: str, at: dt.datetime, answer: dict[str, Any]) -> None:
        t = models.OutboundAttempt
        with self._writing() as conn:
            conn.execute(update(t).where(t.attempt_id == attempt_id, t.status == PENDING).values(
                status=DELIVERED, delivered_at=at, attempts=t.attempts + 1, last_error=None, answer=answer))

    @_guarded
    def mark_attempted(self, attempt_id: str, error: str) -> None:
        t = models.OutboundAttempt
        with self._writing() as conn:
            conn.execute(update(t).where(t.attempt_id == attempt_id)
                         .values(attempts=t.attempts + 1, last_error=error))

    @_guarded
    def mark_needs_attention(self, attempt_id: str, reason: str) -> None:
        """The server refused it (never sent again by itself; kept for a person to look at)."""
        t = models.OutboundAttempt
        with self._writing() as conn:
            conn.execute(update(t).where(t.attempt_id == attempt_id)
                         .values(status=NEEDS_ATTENTION, attempts=t.attempts + 1, last_error=reason))

    @_guarded
    def refused(self, limit: int = 20) -> list[RefusedResult]:
        """The call results the server refused, oldest first (the agent retries or dismisses each)."""
        t = models.OutboundAttempt
        query = select(t).where(t.status == NEEDS_ATTENTION).order_by(t.recorded_at, t.attempt_id).limit(limit)
        with self._read.connect() as conn:
            return [RefusedResult(_attempt(r), refusal_code(r.last_error), r.recorded_at) for r in conn.execute(query)]

    @_guarded
    def requeue(self, attempt_id: str, new_attempt_id: str | None = None) -> bool:
        """A refused result goes back to pending (sent by the next delivery). `new_attempt_id`: sent under a new
        idempotency key (the server had another result under the old one). False when it was not refused."""
        t = models.OutboundAttempt
        with self._writing() as conn:
            row = conn.execute(select(t.payload).where(t.attempt_id == attempt_id, t.status == NEEDS_ATTENTION)).first()
            if row is None:
                return False
            values: dict[str, Any] = {"status": PENDING, "last_error": None}
            if new_attempt_id is not None:
                values.update(attempt_id=new_attempt_id, payload={**row.payload, "attempt_id": new_attempt_id})
            conn.execute(update(t).where(t.attempt_id == attempt_id).values(**values))
        return True

    @_guarded
    def dismiss(self, attempt_id: str) -> bool:
        """The agent set a refused result aside: kept on this PC (status dismissed), never sent."""
        t = models.OutboundAttempt
        with self._writing() as conn:
            done = conn.execute(update(t).where(t.attempt_id == attempt_id, t.status == NEEDS_ATTENTION)
                                .values(status=DISMISSED))
        return done.rowcount == 1

    @_guarded
    def status(self, attempt_id: str) -> tuple[str, int, dict[str, Any] | None] | None:
        """(status, send attempts, the server's answer) of one call result."""
        t = models.OutboundAttempt
        with self._read.connect() as conn:
            row = conn.execute(select(t.status, t.attempts, t.answer).where(t.attempt_id == attempt_id)).first()
        return None if row is None else (row.status, row.attempts, row.answer)

    @_guarded
    def counts(self) -> dict[str, int]:
        t = models.OutboundAttempt
        with self._read.connect() as conn:
            found = dict(conn.execute(select(t.status, func.count()).group_by(t.status)).all())
        return {s: found.get(s, 0) for s in (PENDING, DELIVERED, NEEDS_ATTENTION)}
