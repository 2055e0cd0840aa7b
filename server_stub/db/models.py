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
    false,
    text,
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
    # What a Chinese carrier's agent expects on screen (migration 0002, fed by the customers feed).
    brand: Mapped[str | None] = mapped_column(String(40))  # 全球通 / 动感地带 / 神州行 or the operator's own
    service_status: Mapped[str | None] = mapped_column(String(20))  # vocabulary.SERVICE_STATUSES
    balance_fen: Mapped[int | None] = mapped_column(BigInteger)
    arrears_fen: Mapped[int | None] = mapped_column(BigInteger)
    contract_end: Mapped[dt.date | None] = mapped_column(Date)
    account_manager: Mapped[str | None] = mapped_column(String(100))
    handset: Mapped[str | None] = mapped_column(String(100))
    star_level: Mapped[int | None] = mapped_column(Integer)  # 星级 0..7, instead of / beside credit_score
    relation_kind: Mapped[str | None] = mapped_column(String(20))  # vocabulary.RELATION_KINDS
    group_id: Mapped[str | None] = mapped_column(String(64))  # household or group (集团) the relation is in
    group_name: Mapped[str | None] = mapped_column(String(200))
    # Set when a full customers snapshot no longer holds the customer; history keeps pointing at the row.
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_customers_name", "name"),)


class CustomerNumber(Base):
    """A number may belong to several customers (family line, recycled number, group switchboard): a pop
    by such a number asks the agent which customer is calling (migration 0002 widened the key)."""

    __tablename__ = "customer_numbers"

    msisdn: Mapped[str] = mapped_column(String(20), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True, index=True
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


class Bill(Base):
    """One monthly bill (bills feed): what was charged, what was paid, whether it was paid late."""

    __tablename__ = "bills"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(Boolean, default=False)


class Subscription(Base):
    """A product or service the customer already holds (subscriptions feed): never offered again."""

    __tablename__ = "subscriptions"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # an offer's product_id (or offer_id)
    name: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(20))
    since: Mapped[dt.date | None] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date)


class CustomerScore(Base):
    """The operator's own model scores (scores feed); when present they take precedence over the rules'
    derivation, and the pop says so."""

    __tablename__ = "customer_scores"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )
    churn_risk: Mapped[float | None] = mapped_column(Float)
    price_level: Mapped[str | None] = mapped_column(String(10))  # none, low, medium, high
    complaint_level: Mapped[str | None] = mapped_column(String(10))
    churn_reason: Mapped[str | None] = mapped_column(Text)
    price_reason: Mapped[str | None] = mapped_column(Text)
    complaint_reason: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(100))
    scored_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


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
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # the complaints feed's key

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
    # What holding it means: a customer with a subscription to this product is not offered it (None: offer_id).
    product_id: Mapped[str | None] = mapped_column(String(40))
    # Conditions in the rules' fact language ([{fact, op, value}]) that must all hold to pitch it.
    eligibility: Mapped[list] = mapped_column(JSON, default=list)
    # An offer that left the catalog is retired, never deleted: old decisions and outcomes point at it.
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Campaign(Base):
    __tablename__ = "campaigns"

    campaign_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    inbound_may_serve_any_wave: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Migration 0006 (outbound): calling hours ["09:00-21:00", …] in time_zone (None: the defaults of
    # domain/outbound.py); a wave may narrow them.
    calling_hours: Mapped[list | None] = mapped_column(JSON)
    time_zone: Mapped[str | None] = mapped_column(String(64))


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
    # Migration 0006 (outbound waves): None means the campaign's / the defaults (domain/outbound.py).
    calling_hours: Mapped[list | None] = mapped_column(JSON)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    retry: Mapped[dict | None] = mapped_column(JSON)  # result -> minutes (null: never), as the feed gave them
    # Who may work the wave's worklist: nobody named = every agent; else these agents and these teams' agents.
    assigned_agents: Mapped[list | None] = mapped_column(JSON)
    assigned_teams: Mapped[list | None] = mapped_column(JSON)


class ContactCap(Base):
    __tablename__ = "contact_caps"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    max_contacts: Mapped[int] = mapped_column(Integer)
    period_days: Mapped[int] = mapped_column(Integer)


class CustomerCap(Base):
    """Contacts per customer across ALL campaigns (避免重复打扰): channel "*" counts every channel."""

    __tablename__ = "customer_caps"

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
    wave: Mapped[int | None] = mapped_column(Integer)  # None: every wave of the campaign
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first in a worklist
    reason: Mapped[str | None] = mapped_column(String(200))  # why the analyst chose them, shown to agents
    source: Mapped[str | None] = mapped_column(String(20))  # members feed, audience, seed
    added_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_campaign_members_customer", "customer_id"),
        Index("ix_campaign_members_worklist", "campaign_id", "wave", "priority"),
    )


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
    # Migration 0002: contacts fed from every channel (IVR, self-service, SMS sent elsewhere …).
    purpose: Mapped[str] = mapped_column(String(20), default="marketing", server_default="marketing")  # or service
    topic: Mapped[str | None] = mapped_column(String(200))  # e.g. 账单查询 / bill inquiry
    call_id: Mapped[str | None] = mapped_column(String(100))  # outcomes of one call count as one contact
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # the contacts feed's key

    __table_args__ = (Index("ix_contact_history_customer_time", "customer_id", "contacted_at"),)


class Agent(Base):
    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), default="agent")  # agent, lead, analyst, admin (0007)
    display_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Migration 0006: a wave may be assigned to a team. Since 0007 a name of `teams` (checked by the services,
    # not by a foreign key: the team of an agent is the one place the catalog feed's wave assignments name).
    team: Mapped[str | None] = mapped_column(String(40))


class Team(Base):
    """A team (班组), migration 0007. `team_id` is the code agents, wave assignments (catalog feed) and exports
    name, so it never changes; `display_name` is what people read, and `team rename` changes it."""

    __tablename__ = "teams"

    team_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class TeamLead(Base):
    """A lead of a team besides the team the lead is in (migration 0007): a lead leads their own team and every
    team listed here, which lets one lead cover several teams."""

    __tablename__ = "team_leads"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.team_id", ondelete="CASCADE"), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id", ondelete="CASCADE"), primary_key=True,
                                          index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AuthState(Base):
    """One row (id 1) whose generation goes up with every change of who may do what (a token revoked, a role,
    team or team lead changed), in the same transaction as the change. Every server process reads it per request
    (one primary-key row) and drops its cached tokens when it moved: a revocation takes effect at once on
    every worker. Migration 0007."""

    __tablename__ = "auth_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)


class AgentRoleChange(Base):
    """Every change of an agent's role (migration 0003): `agent role` writes one, and so does the creation of an
    agent (old_role NULL). A token never carries a role of its own: every token of an agent has the agent's."""

    __tablename__ = "agent_role_changes"

    change_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    old_role: Mapped[str | None] = mapped_column(String(10))
    new_role: Mapped[str] = mapped_column(String(10))
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    changed_by: Mapped[str | None] = mapped_column(String(100))  # the operator (OS user) who ran the command
    reason: Mapped[str | None] = mapped_column(String(200))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id", ondelete="CASCADE"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Migration 0007: when a server last verified it (to within LAST_USE_RESOLUTION, services/auth.py).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Decision(Base):
    """What one pop showed: outcomes must answer a decision that exists, for its customer."""

    __tablename__ = "decisions"

    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    rules_version: Mapped[str] = mapped_column(String(40))
    offer_ids: Mapped[list] = mapped_column(JSON, default=list)  # presented and suppressed, ranked
    # Migration 0006: the pop of an outbound worklist lease (NULL: an inbound pop). Outcomes answering it take
    # this channel, campaign and wave, and the lease's call as their call.
    channel: Mapped[str | None] = mapped_column(String(20))
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    wave: Mapped[int | None] = mapped_column(Integer)
    lease_id: Mapped[str | None] = mapped_column(String(36))


class CustomerAccess(Base):
    """Who read which customer, when, through which route (migration 0003): one row per customer a response
    showed. Written in the pop's own decision statement (PostgreSQL) or transaction (SQLite); read by an
    administrator (`callcue-server audit access`), never logged."""

    __tablename__ = "customer_access"

    access_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                           autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    agent_id: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[str | None] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(20))  # pop, pop_ambiguous, search (services/audit.py ROUTES)
    customer_id: Mapped[str] = mapped_column(String(64))
    decision_id: Mapped[str | None] = mapped_column(String(36))  # the pop's decision

    __table_args__ = (Index("ix_customer_access_agent_at", "agent_id", "at"),
                      Index("ix_customer_access_customer_at", "customer_id", "at"))


class Outcome(Base):
    __tablename__ = "outcomes"

    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Migration 0005: an outcome without a pop (unknown caller, failed pop) has no decision, maybe no customer,
    # and names the caller's number instead (vocabulary.RESULTS_WITHOUT_POP only).
    decision_id: Mapped[str | None] = mapped_column(String(36))
    customer_id: Mapped[str | None] = mapped_column(String(64))
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
    # Migration 0004: a retracted outcome is kept for the audit and counted nowhere (services/outcomes.py).
    retracted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    retracted_by: Mapped[str | None] = mapped_column(String(64))
    set_dnd: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # it turned DND on
    segment: Mapped[str | None] = mapped_column(String(20))  # the offer_stats segment it was counted in
    caller_number: Mapped[str | None] = mapped_column(String(20))  # national digits (migration 0005)

    __table_args__ = (Index("ix_outcomes_customer", "customer_id", "recorded_at"),
                      Index("ix_outcomes_caller_number", "caller_number"))


class DndNumber(Base):
    """Do-not-disturb by number (migration 0005): a caller no customer record was shown for asked for no more
    marketing. Every customer holding the number is treated as DND (pops, audiences) while the row stands.
    `outcome_id` is the outcome that set it: only retracting that one (with no other standing) removes it."""

    __tablename__ = "dnd_numbers"

    msisdn: Mapped[str] = mapped_column(String(20), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    outcome_id: Mapped[str] = mapped_column(String(36))
    agent_id: Mapped[str | None] = mapped_column(String(64))


_OPEN = text("ended_at IS NULL")  # an open lease (partial indexes of outbound_leases)


class OutboundLease(Base):
    """One customer handed to one agent by the worklist (migration 0006). At most one lease per customer is
    open (ended_at NULL) — a partial unique index, the guarantee that no two agents get the same customer; an
    open lease past expires_at is taken over by the next claim. One agent holds at most one open lease (unique too)."""

    __tablename__ = "outbound_leases"

    lease_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str] = mapped_column(String(40))
    wave: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)  # the attempt this lease is for (1 = first call in the wave)
    taken_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))  # result, released, expired
    release_reason: Mapped[str | None] = mapped_column(String(200))  # the agent's words when skipping

    __table_args__ = (
        Index("ux_outbound_leases_open_customer", "customer_id", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ux_outbound_leases_open_agent", "agent_id", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_outbound_leases_open_expiry", "expires_at",
              sqlite_where=_OPEN, postgresql_where=_OPEN),
    )


class OutboundProgress(Base):
    """A member's attempts in one outbound wave (migration 0006): due again at next_attempt_at, or closed."""

    __tablename__ = "outbound_progress"

    campaign_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_result: Mapped[str | None] = mapped_column(String(20))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    hold_reason: Mapped[str | None] = mapped_column(String(20))  # why not before next_attempt_at: retry, skip, cap
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    closed_reason: Mapped[str | None] = mapped_column(String(20))  # connected, max_attempts, or the result


class OutboundAttempt(Base):
    """One call of the worklist and how it ended (migration 0006), separate from the offer outcomes of the
    call. Idempotent by the client's attempt_id."""

    __tablename__ = "outbound_attempts"

    attempt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lease_id: Mapped[str] = mapped_column(String(36), unique=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str] = mapped_column(String(40))
    wave: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(20))
    call_id: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    called_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    closed_reason: Mapped[str | None] = mapped_column(String(20))
    fingerprint: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_outbound_attempts_campaign", "campaign_id", "wave", "attempt"),)


class FeedRun(Base):
    """One feed file applied (or refused): what it changed, for the operator's audit and for idempotency."""

    __tablename__ = "feed_runs"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(10))  # delta, full
    status: Mapped[str] = mapped_column(String(20))  # applied, unchanged, failed
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)  # explicit deletes, and retirements of --full
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)


class OfferStat(Base):
    """Observed responses per offer and segment; the ranking's learning signal."""

    __tablename__ = "offer_stats"

    offer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    segment: Mapped[str] = mapped_column(String(40), primary_key=True)
    responses: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)


__all__ = [
    "Agent",
    "AgentRoleChange",
    "ApiToken",
    "Base",
    "Bill",
    "Campaign",
    "CampaignMember",
    "CampaignOffer",
    "Complaint",
    "ContactCap",
    "ContactHistory",
    "Customer",
    "CustomerAccess",
    "CustomerCap",
    "CustomerNumber",
    "CustomerScore",
    "Decision",
    "DndNumber",
    "FeedRun",
    "Offer",
    "OfferStat",
    "OutboundAttempt",
    "OutboundLease",
    "OutboundProgress",
    "Outcome",
    "Subscription",
    "UsageMonth",
]
