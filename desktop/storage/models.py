"""Tables of the local store (SQLite). The Alembic migrations in ./migrations create them.

Statistics for team leads (acceptance by offer / campaign / wave / day / hour / agent, time from pop to
outcome) read `local_contacts` joined to `pop_log`; the indexes below are the ones those queries use.
Times are stored as UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'), so SQLite's date functions work on them.
Some columns are derived by SQLite triggers (migration 0003): a batch migration that recreates pop_log or
local_contacts must create those triggers again. The stats_* tables are counters kept by the triggers
of migration 0005 (pre-aggregated statistics).
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
    # '' for an outcome without a pop (unknown caller, failed pop), whose customer_id is then the customer's
    # id when known, else the caller's key 'tel:<digits>' (desktop.domain.outcomes.caller_key).
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
    # Last: added by migration 0006 (ADD COLUMN appends; the salvage reader reads columns in table order).
    server_reason_zh: Mapped[str | None] = mapped_column(Text)  # the server's reason in Chinese, when given

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
    # For callbacks with a known time: 1 once kept (see desktop/services/stats.py), else 0; kept by the
    # triggers of migration 0005, so callbacks due / kept / missed are counts over ix_local_contacts_callback_kept.
    cb_kept: Mapped[int | None]

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
        Index("ix_local_contacts_callback_kept", "result", "callback_at", "cb_kept"),
    )


class Retraction(Base):
    """An outcome undone after it may have reached the server: POST /v1/outcomes/{id}/retraction, once
    (migration 0008). Its local_contacts row is deleted when the retraction is recorded."""

    __tablename__ = "retractions"

    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requested_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None]


class CallbackDetail(Base):
    """Who a callback is for, kept when it is scheduled (migration 0009): the queue names the customer after the
    cached pop expired. A caller without a customer record has only the masked number."""

    __tablename__ = "callback_details"

    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    masked_number: Mapped[str | None] = mapped_column(String(20))


class OutboundAttempt(Base):
    """A call result of an outbound worklist call (migration 0010): stored when the agent presses its key, sent
    to POST /v1/outbound/attempts (attempt_id is the idempotency key), the server's answer kept with it."""

    __tablename__ = "outbound_attempts"

    attempt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # exactly what POST /v1/outbound/attempts gets
    lease_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str] = mapped_column(String(40))
    wave: Mapped[int]
    result: Mapped[str] = mapped_column(String(20))
    called_at: Mapped[dt.datetime]
    recorded_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, delivered, needs_attention
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None]
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_outbound_attempts_status", "status", "recorded_at"),)


class StatsSlot(Base):
    """Pops, offers presented and outcomes of each result per UTC slot of `width` minutes (60 or 15; slot
    'YYYY-MM-DD HH' or 'YYYY-MM-DD HH:MM'). Counters kept by the triggers of migration 0005: statistics read
    them for daily and hourly figures instead of grouping the rows."""

    __tablename__ = "stats_slots"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[str] = mapped_column(String(16), primary_key=True)
    pops: Mapped[int]
    presented: Mapped[int]
    accepted: Mapped[int]
    declined: Mapped[int]
    considering: Mapped[int]
    callback: Mapped[int]
    not_offered: Mapped[int]
    do_not_disturb: Mapped[int]


class StatsBlock(Base):
    """Grouped counts per aligned block of `level` whole UTC days (1, 8, 64) starting at day `block` (days
    since 1970-01-01): kind 'o' (k1 offer, result), 'c' (k1 campaign, k2 wave or -1, result), 'a' (k1 agent,
    result), 'h' (k2 whole seconds from pop to outcome; us their microseconds), 's' (k1 suppression reason).
    Kept by the triggers of migration 0005."""

    __tablename__ = "stats_blocks"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    k1: Mapped[str] = mapped_column(String(64), primary_key=True)
    k2: Mapped[int] = mapped_column(Integer, primary_key=True)
    result: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    us: Mapped[int] = mapped_column(BigInteger)


class DisplayName(Base):
    """What the server calls an offer or a campaign (kind "offer" / "campaign"), from the latest pop that
    named it: statistics show names, not ids. Not customer data (kept after sign-out)."""

    __tablename__ = "display_names"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    zh: Mapped[str] = mapped_column(Text)
    en: Mapped[str] = mapped_column(Text)


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
