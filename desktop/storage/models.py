"""Tables of the local store (SQLite). The Alembic migrations in ./migrations create them.

Statistics for team leads (acceptance by offer / campaign / wave / day / hour / agent, time from pop to
outcome) read `local_contacts` joined to `pop_log`; the indexes below are the ones those queries use.
Times are stored as UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'), so SQLite's date functions work on them.
Some columns are derived by SQLite triggers (migration 0003): a batch migration that recreates pop_log or
local_contacts must create those triggers again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out (SQLite itself has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the local store keeps aware times only")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UtcDateTime()}


class PopLog(Base):
    """One row per pop shown (for statistics; no phone numbers)."""

    __tablename__ = "pop_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str | None] = mapped_column(String(100))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    decision_id: Mapped[str | None] = mapped_column(String(36))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    popped_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(20))
    offers_presented: Mapped[list[str]] = mapped_column(JSON)  # pitchable offer ids, in rank order
    suppressed: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{offer_id, codes: [...]}]
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    wave: Mapped[int | None]
    # len(offers_presented), set by the trigger trg_pop_log_stats (migration 0003): statistics sum it from
    # the covering index instead of parsing JSON.
    n_presented: Mapped[int | None]

    __table_args__ = (
        Index("ix_pop_log_popped_at", "popped_at"),
        Index("ix_pop_log_agent_id", "agent_id", "popped_at"),
        Index("ix_pop_log_decision_id", "decision_id"),
        Index("ix_pop_log_campaign", "campaign_id", "wave"),
        Index("ix_pop_log_stats", "popped_at", "agent_id", "campaign_id", "wave", "n_presented"),
    )


class PopSuppression(Base):
    """One (suppressed offer, reason code) of a logged pop; rows are written by the trigger
    trg_pop_log_stats (migration 0003) from pop_log.suppressed, so "offers suppressed by reason" is an
    indexed count. Deleted with their pop."""

    __tablename__ = "pop_suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pop_id: Mapped[int] = mapped_column(ForeignKey("pop_log.id", ondelete="CASCADE"))
    popped_at: Mapped[dt.datetime]
    agent_id: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    wave: Mapped[int | None]
    offer_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(60))

    __table_args__ = (
        Index("ix_pop_suppressions_pop_id", "pop_id"),
        Index("ix_pop_suppressions_stats", "popped_at", "agent_id", "campaign_id", "wave", "reason"),
    )


class OutboxItem(Base):
    """An outcome waiting for (or done with) delivery to the analytics server."""

    __tablename__ = "outbox"

    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # exactly what POST /v1/outcomes gets
    decision_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[str | None] = mapped_column(String(40))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    wave: Mapped[int | None]
    result: Mapped[str] = mapped_column(String(20))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime]
    pop_id: Mapped[int | None] = mapped_column(ForeignKey("pop_log.id", ondelete="SET NULL"))
    popped_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    server_reason: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None]

    __table_args__ = (
        Index("ix_outbox_status", "status", "recorded_at"),
        Index("ix_outbox_decision", "decision_id", "recorded_at"),  # the double-press check
    )


class LocalContact(Base):
    """Every outcome recorded here; kept after delivery (local guidance and statistics read it)."""

    __tablename__ = "local_contacts"

    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[str | None] = mapped_column(String(40))
    result: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[dt.datetime]
    agent_id: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    wave: Mapped[int | None]
    decision_id: Mapped[str] = mapped_column(String(36))
    call_id: Mapped[str | None] = mapped_column(String(100))
    pop_id: Mapped[int | None] = mapped_column(ForeignKey("pop_log.id", ondelete="SET NULL"))
    popped_at: Mapped[dt.datetime | None]
    # For result 'callback': the agreed time in UTC (to the second), copied from the outbox payload by the
    # trigger trg_local_contacts_callback_at (migration 0003); kept after delivered outbox rows are pruned.
    callback_at: Mapped[dt.datetime | None]
    # Microseconds from popped_at to recorded_at, set by the trigger trg_local_contacts_pop_us (0003).
    pop_us: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_local_contacts_customer", "customer_id", "recorded_at"),
        Index("ix_local_contacts_recorded_at", "recorded_at"),
        Index("ix_local_contacts_agent", "agent_id", "recorded_at"),
        Index("ix_local_contacts_offer", "offer_id", "recorded_at"),
        Index("ix_local_contacts_campaign", "campaign_id", "wave", "recorded_at"),
        Index("ix_local_contacts_decision", "decision_id"),
        # Statistics: a date range read from the index alone (covering), see desktop/storage/stats.py.
        Index("ix_local_contacts_stats", "recorded_at", "agent_id", "campaign_id", "wave", "offer_id", "result",
              "pop_us"),
        Index("ix_local_contacts_callback", "result", "callback_at"),
    )


class CachedDocument(Base):
    """The latest pop document per customer (customer data: cleared on sign-out, expires after the TTL)."""

    __tablename__ = "cached_documents"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_cached_documents_fetched_at", "fetched_at"),)


class CachedView(Base):
    """Lookup keys ('ani:<digits>', 'cust:<id>') pointing at one cached document."""

    __tablename__ = "cached_views"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("cached_documents.customer_id", ondelete="CASCADE"), index=True
    )
