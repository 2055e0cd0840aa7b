"""The access audit: which agent read which customer, when, through which route (table customer_access).

A pop's row is written with its decision (services/pop.py: the same statement on PostgreSQL, the same
transaction on SQLite), so the audit costs a pop no round trip of its own; the owners listed for a shared
number and search results are written here after the read. Only an administrator reads it
(`callcue-server audit access`); nothing of it goes to the plain logs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from server_stub.db.models import AgentRoleChange, CustomerAccess

# What a row's route means: the whole profile (pop), a summary of each owner of a shared number before the
# agent chooses (pop_ambiguous, a 409), a summary per search hit (search), the whole profile of the customer
# the outbound worklist handed to the agent (worklist).
ROUTES = ("pop", "pop_ambiguous", "search", "worklist")
ACCESS = CustomerAccess.__table__
INSERT_ACCESS = insert(ACCESS)


def record_access(session: Session, *, agent_id: str, token_id: str | None, route: str,
                  customer_ids: Iterable[str], now: dt.datetime | None = None,
                  write_lock: contextlib.AbstractContextManager | None = None) -> int:
    """One row per customer (in the order shown), committed. Returns the number of rows."""
    now = now or dt.datetime.now(dt.UTC)
    rows = [{"at": now, "agent_id": agent_id, "token_id": token_id, "route": route, "customer_id": customer_id,
             "decision_id": None} for customer_id in dict.fromkeys(customer_ids)]
    if not rows:
        return 0
    session.rollback()  # end a read snapshot first: a SQLite write must start fresh
    with write_lock or contextlib.nullcontext():
        session.execute(INSERT_ACCESS, rows)
        session.commit()
    return len(rows)


@dataclass(frozen=True)
class AccessRow:
    at: dt.datetime
    agent_id: str
    token_id: str | None
    route: str
    customer_id: str
    decision_id: str | None

    def as_dict(self) -> dict:
        return {"at": self.at.isoformat(), "agent_id": self.agent_id, "token_id": self.token_id,
                "route": self.route, "customer_id": self.customer_id, "decision_id": self.decision_id}


def query_access(session: Session, *, agent_id: str | None = None, customer_id: str | None = None,
                 route: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 limit: int = 100) -> list[AccessRow]:
    """Newest first; `since` inclusive, `until` exclusive."""
    statement = select(ACCESS.c.at, ACCESS.c.agent_id, ACCESS.c.token_id, ACCESS.c.route, ACCESS.c.customer_id,
                       ACCESS.c.decision_id)
    if agent_id is not None:
        statement = statement.where(ACCESS.c.agent_id == agent_id)
    if customer_id is not None:
        statement = statement.where(ACCESS.c.customer_id == customer_id)
    if route is not None:
        statement = statement.where(ACCESS.c.route == route)
    if since is not None:
        statement = statement.where(ACCESS.c.at >= since)
    if until is not None:
        statement = statement.where(ACCESS.c.at < until)
    statement = statement.order_by(ACCESS.c.at.desc(), ACCESS.c.access_id.desc()).limit(limit)
    return [AccessRow(*row) for row in session.execute(statement)]


def prune_access(session: Session, before: dt.datetime) -> int:
    """Delete the audit rows older than `before` (the operator's retention); returns how many."""
    deleted = session.execute(delete(CustomerAccess).where(CustomerAccess.at < before)).rowcount
    session.commit()
    return deleted or 0


def role_changes(session: Session, agent_id: str | None = None) -> Sequence[AgentRoleChange]:
    statement = select(AgentRoleChange).order_by(AgentRoleChange.changed_at, AgentRoleChange.change_id)
    if agent_id is not None:
        statement = statement.where(AgentRoleChange.agent_id == agent_id)
    return session.scalars(statement).all()
