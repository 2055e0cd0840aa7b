"""SQLAlchemy 2.0 models of the reference analytics server.

Money is stored in fen (integer hundredths of a yuan) so sums never drift; usage in natural units
(MB, minutes, messages). Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(10))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    city: Mapped[str | None] = mapped_column(String(50))
    plan_id: Mapped[str | None] = mapped_column(String(40))
    plan_name: Mapped[str | None] = mapped_column(String(100))
    monthly_fee_fen: Mapped[int] = mapped_column(Integer, default=0)
    total_charges_fen: Mapped[int | None] = mapped_column(BigInteger)
    tenure_months: Mapped[int] = mapped_column(Integer, default=0)
    contract: Mapped[str | None] = mapped_column(String(40))
    payment_method: Mapped[str | None] = mapped_column(String(40))
    value_tier: Mapped[str] = mapped_column(String(20), default="standard")
    credit_score: Mapped[int | None] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[list] = mapped_column(JSON, default=list)
    churn_risk: Mapped[float] = mapped_column(Float, default=0.0)
    late_payments_6m: Mapped[int] = mapped_column(Integer, default=0)
    bill_inquiries_3m: Mapped[int] = mapped_column(Integer, default=0)
    downgrades_12m: Mapped[int] = mapped_column(Integer, default=0)
    preferred_channel: Mapped[str | None] = mapped_column(String(20))
    dnd: Mapped[bool] = mapped_column(Boolean, default=False)
    dnd_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_customers_name", "name"),)


class CustomerNumber(Base):
    __tablename__ = "customer_numbers"

    msisdn: Mapped[str] = mapped_column(String(20), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), index=True
    )
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)


class UsageMonth(Base):
    __tablename__ = "usage_monthly"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    data_mb: Mapped[int] = mapped_column(Integer, default=0)
    voice_min: Mapped[int] = mapped_column(Integer, default=0)
    sms: Mapped[int] = mapped_column(Integer, default=0)
    mms: Mapped[int] = mapped_column(Integer, default=0)
    ringback_active: Mapped[bool] = mapped_column(Boolean, default=False)
    ringback_fee_fen: Mapped[int] = mapped_column(Integer, default=0)
    roaming_data_mb: Mapped[int] = mapped_column(Integer, default=0)
    roaming_voice_min: Mapped[int] = mapped_column(Integer, default=0)
    bill_fen: Mapped[int] = mapped_column(Integer, default=0)


class Complaint(Base):
    __tablename__ = "complaints"

    complaint_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id", ondelete="CASCADE"))
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    category: Mapped[str] = mapped_column(String(20))  # billing, network, service, marketing, other
    status: Mapped[str] = mapped_column(String(10))  # open, resolved
    severity: Mapped[str] = mapped_column(String(10), default="normal")  # normal, serious
    summary_zh: Mapped[str | None] = mapped_column(Text)
    summary_en: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_complaints_customer_opened", "customer_id", "opened_at"),)


class Offer(Base):
    __tablename__ = "offers"

    offer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    category: Mapped[str] = mapped_column(String(20))
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    script_zh: Mapped[str] = mapped_column(Text)
    script_en: Mapped[str] = mapped_column(Text)
    monthly_fee_delta_fen: Mapped[int] = mapped_column(Integer, default=0)
    base_score: Mapped[float] = mapped_column(Float, default=0.5)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Campaign(Base):
    __tablename__ = "campaigns"

    campaign_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    inbound_may_serve_any_wave: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CampaignOffer(Base):
    __tablename__ = "campaign_offers"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id", ondelete="CASCADE"), primary_key=True
    )
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.offer_id", ondelete="CASCADE"), primary_key=True)


class Wave(Base):
    __tablename__ = "waves"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)


class ContactCap(Base):
    __tablename__ = "contact_caps"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    max_contacts: Mapped[int] = mapped_column(Integer)
    period_days: Mapped[int] = mapped_column(Integer)


class CampaignMember(Base):
    __tablename__ = "campaign_members"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_campaign_members_customer", "customer_id"),)


class ContactHistory(Base):
    __tablename__ = "contact_history"

    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id", ondelete="CASCADE"))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    wave: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    offer_id: Mapped[str | None] = mapped_column(String(40))
    result: Mapped[str | None] = mapped_column(String(20))
    contacted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    agent_id: Mapped[str | None] = mapped_column(String(64))
    outcome_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_contact_history_customer_time", "customer_id", "contacted_at"),)


class Agent(Base):
    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), default="agent")  # agent, lead
    display_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id", ondelete="CASCADE"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Decision(Base):
    """What one pop showed: outcomes must answer a decision that exists, for its customer."""

    __tablename__ = "decisions"

    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    rules_version: Mapped[str] = mapped_column(String(40))
    offer_ids: Mapped[list] = mapped_column(JSON, default=list)  # presented and suppressed, ranked


class Outcome(Base):
    __tablename__ = "outcomes"

    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[str | None] = mapped_column(String(40))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    wave: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    result: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    callback_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    agent_id: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    fingerprint: Mapped[str] = mapped_column(String(64))  # tells a true duplicate from a reused id

    __table_args__ = (Index("ix_outcomes_customer", "customer_id", "recorded_at"),)


class OfferStat(Base):
    """Observed responses per offer and segment; the ranking's learning signal."""

    __tablename__ = "offer_stats"

    offer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    segment: Mapped[str] = mapped_column(String(40), primary_key=True)
    responses: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)


__all__ = [
    "Agent",
    "ApiToken",
    "Base",
    "Campaign",
    "CampaignMember",
    "CampaignOffer",
    "Complaint",
    "ContactCap",
    "ContactHistory",
    "Customer",
    "CustomerNumber",
    "Decision",
    "Offer",
    "OfferStat",
    "Outcome",
    "UsageMonth",
]
