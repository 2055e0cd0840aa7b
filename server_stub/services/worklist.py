"""The outbound worklist (外呼名单): which customer an agent calls next, the lease that holds them, the call
results and their retry rules, and the figures (外呼接通率, acceptance) per campaign, wave and attempt.

How a customer is chosen (`next_for_agent`): among the campaigns whose current wave runs on outbound_call,
is open to the agent (nobody assigned, or the agent or their team named) and is within its calling hours,
the members due now — not closed, not waiting for a retry, not do-not-disturb, not retired or closed (销户),
not held by an open lease — in order of the member's priority, then expected value × acceptance (the
customer's monthly fee × the best smoothed acceptance of the campaign's offers in the customer's segment,
the formula the pop ranks offers by). Members over a contact cap (the campaign's outbound_call cap, the
per-customer caps "*" and outbound_call, counted exactly as the pop counts them) are skipped and set aside
until the cap frees.

No two agents ever hold the same customer: a lease is a row of outbound_leases, and a partial unique index
allows one open lease per customer (and one per agent). PostgreSQL claims with `FOR UPDATE SKIP LOCKED`
(concurrent agents pass over each other's candidates instead of queueing on them) and the index settles any
race; SQLite claims inside one write transaction (BEGIN IMMEDIATE), so claims are serialized. A lease expires
after `lease_seconds` unless renewed; the next claim ends expired leases, and the customer is due again.

Call results (`record_attempt`) are idempotent by the client's attempt_id; each ends its lease, counts as a
contact in contact_history (no answer, busy, wrong and invalid numbers never count toward caps, as in the
pop), and moves the member on by the wave's retry rule (domain/outbound.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from server_stub.db.models import (
    CampaignMember,
    ContactHistory,
    Customer,
    CustomerNumber,
    Decision,
    DndNumber,
    OfferStat,
    OutboundAttempt,
    OutboundLease,
    OutboundProgress,
    Outcome,
)
from server_stub.domain.outbound import AttemptVerdict, after_attempt
from server_stub.domain.rules import CapState, Rules, WaveInfo, binding_cap, window_cap
from server_stub.domain.vocabulary import ANY_CHANNEL, OUTBOUND_CALL_RESULTS
from server_stub.services.auth import AgentScope
from server_stub.services.catalog import CampaignRow, Catalog, WaveOutbound
from server_stub.services.pop import OUTBOUND_CHANNEL, HistoryRow, contact_times, counts_toward_caps

DEFAULT_LEASE_SECONDS = 300
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 30, 3600
DEFAULT_SKIP_HOLD_MINUTES = 30
BATCH = 16  # candidates read per round (SQLite: claims are serialized)
PG_BATCH = 4  # PostgreSQL: candidates locked per round (fewer locked rows: fewer for other claims to pass over)
MAX_ROUNDS = 12
BACKOFF_SECONDS = 0.002  # PostgreSQL: every due candidate is locked by other claims: wait this × round, again
MAX_CLOCK_SKEW = dt.timedelta(minutes=10)
MAX_AGE = dt.timedelta(days=30)

MEMBERS = CampaignMember.__table__
CUSTOMERS = Customer.__table__
LEASES = OutboundLease.__table__
PROGRESS = OutboundProgress.__table__
ATTEMPTS = OutboundAttempt.__table__
HISTORY = ContactHistory.__table__
NUMBERS = CustomerNumber.__table__
DND_NUMBERS = DndNumber.__table__
SEGMENT_COLUMNS = ("value_tier", "contract", "payment_method", "city", "gender", "plan_id", "preferred_channel")


class WorklistError(Exception):
    """A request the worklist refuses: an HTTP status, a stable code and the reason in en and zh."""

    def __init__(self, status: int, code: str, en: str, zh: str) -> None:
        super().__init__(en)
        self.status, self.code, self.en, self.zh = status, code, en, zh


@dataclass(frozen=True)
class Claim:
    lease_id: str
    customer_id: str
    campaign: CampaignRow
    wave: WaveInfo
    outbound: WaveOutbound
    attempt: int
    taken_at: dt.datetime
    expires_at: dt.datetime
    priority: int
    member_reason: str | None
    expected_value: float  # the customer's monthly fee, yuan
    acceptance: float  # best smoothed acceptance of the campaign's offers in the customer's segment
    resumed: bool  # the agent already held this lease (a repeated request answers the same customer)

    @property
    def call_id(self) -> str:
        return lease_call_id(self.lease_id)


@dataclass(frozen=True)
class Empty:
    """Nothing to call now: why (code, en, zh) and, where known, when to ask again."""

    code: str
    en: str
    zh: str
    next_at: dt.datetime | None = None


def lease_call_id(lease_id: str) -> str:
    """The call a lease's attempt and outcomes share (one contact), unless the client names its own call id."""
    return f"outbound:{lease_id}"


# ------------------------------------------------------------------------------------------ transactions


@contextlib.contextmanager
def _transaction(engine: Engine, write_lock: contextlib.AbstractContextManager) -> Iterator[Connection]:
    """One write transaction. SQLite: the process's write lock, then BEGIN IMMEDIATE (the database's write
    lock, across worker processes too): claims are serialized. PostgreSQL: READ COMMITTED."""
    sqlite = engine.dialect.name == "sqlite"
    with (write_lock if sqlite else contextlib.nullcontext()), engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _insert(conn: Connection):
    return _dialect_insert(conn.dialect.name == "postgresql")


def _dialect_insert(postgresql: bool):
    return pg_dialect.insert if postgresql else sqlite_dialect.insert


EXPIRY_SWEEP = dt.timedelta(seconds=1)  # claims end expired leases at most this often (per process)
_SWEPT: dict[Any, dt.datetime] = {}


def _expire_leases(conn: Connection, now: dt.datetime) -> None:
    """End the open leases past their expiry (the customer is due again; no attempt is counted). Leases last
    minutes: a second's delay in ending one costs nobody anything, and saves most claims a statement."""
    key = conn.engine.url
    last = _SWEPT.get(key)
    if last is not None and last <= now < last + EXPIRY_SWEEP:
        return
    conn.execute(_statement(conn, "expire_leases", _expire_leases_statement), {"now": now})
    _SWEPT[key] = now


def _expire_leases_statement(postgresql: bool):
    due = select(LEASES.c.lease_id).where(LEASES.c.ended_at.is_(None), LEASES.c.expires_at <= _NOW)
    if postgresql:
        due = due.with_for_update(skip_locked=True)
    return (update(LEASES).where(LEASES.c.lease_id.in_(due.scalar_subquery()))
            .values(ended_at=LEASES.c.expires_at, end_reason="expired"))


# Statements run on every claim are built once (per dialect) with bound parameters: building a SQLAlchemy
# statement of this size costs more than running it (~2 ms of a 3.4 ms claim did, measured).
_NOW = bindparam("now", type_=LEASES.c.expires_at.type)
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(conn: Connection, name: str, build):
    key = (name, conn.dialect.name)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(conn.dialect.name == "postgresql")
    return statement


# ------------------------------------------------------------------------------------------ choosing


@dataclass(frozen=True)
class _Wave:
    campaign: CampaignRow
    wave: WaveInfo
    outbound: WaveOutbound


def running_waves(catalog: Catalog, now: dt.datetime, *, agent_id: str | None = None, team: str | None = None,
                  campaign_id: str | None = None) -> list[_Wave]:
    """Outbound waves running today (UTC date, as the pop shows waves), open to the agent when one is given."""
    today = now.date()
    found = []
    for campaign in catalog.campaigns.values():
        if not campaign.active or (campaign_id is not None and campaign.campaign_id != campaign_id):
            continue
        wave = next((w for w in sorted(campaign.waves, key=lambda w: w.seq) if w.starts_on <= today <= w.ends_on),
                    None)
        if wave is None or wave.channel != OUTBOUND_CHANNEL or wave.seq not in campaign.outbound:
            continue
        settings = campaign.outbound[wave.seq]
        if agent_id is not None and not settings.open_to(agent_id, team):
            continue
        found.append(_Wave(campaign, wave, settings))
    return found


def outbound_wave_for_call(catalog: Catalog, now: dt.datetime, *, agent_id: str, team: str | None,
                           campaign_id: str) -> _Wave:
    """The running outbound wave of `campaign_id` open to the agent, for a call the agent makes outside the
    worklist (a customer opened from search, a host's show_customer): WorklistError 404 campaign_not_found,
    409 no_outbound_wave (no wave runs today, it runs on another channel, or it is not open to the agent).
    Calling hours are not checked: the agent may be on the call already (they are shown in the list)."""
    campaign = catalog.campaigns.get(campaign_id)
    if campaign is None:
        raise WorklistError(404, "campaign_not_found", f"There is no campaign {campaign_id!r}.",
                            f"没有活动 {campaign_id!r}。")
    found = running_waves(catalog, now, agent_id=agent_id, team=team, campaign_id=campaign_id)
    if not found:
        raise WorklistError(409, "no_outbound_wave",
                            f"Campaign {campaign_id!r} has no outbound wave running today that is open to you: "
                            "open the customer as an inbound call or a lookup.",
                            f"活动 {campaign_id!r} 今天没有分配给您、正在进行的外呼波次：请按呼入或查询打开该客户。")
    return found[0]


def campaigns_for_calls(conn: Connection, catalog: Catalog, now: dt.datetime, *, agent_id: str,
                        team: str | None, customer_id: str | None = None) -> list[_Wave]:
    """The campaigns an agent may call for outside the worklist: running outbound waves open to the agent, by
    campaign id; with `customer_id`, only the campaigns whose list holds that customer (the pop refuses the
    others: not_in_campaign)."""
    waves = sorted(running_waves(catalog, now, agent_id=agent_id, team=team), key=lambda w: w.campaign.campaign_id)
    if customer_id is None or not waves:
        return waves
    member_of = set(conn.execute(select(MEMBERS.c.campaign_id).where(
        MEMBERS.c.customer_id == customer_id,
        MEMBERS.c.campaign_id.in_([w.campaign.campaign_id for w in waves]))).scalars())
    return [w for w in waves if w.campaign.campaign_id in member_of]


def _acceptance_by_segment(conn: Connection, catalog: Catalog, rules: Rules, campaign: CampaignRow
                           ) -> tuple[dict[str, float], float]:
    """Segment -> the best smoothed acceptance of the campaign's active offers there; and the prior (no
    responses in a segment yet): the best base score."""
    offers = [catalog.offers[o] for o in campaign.offer_ids if o in catalog.offers and catalog.offers[o].active]
    if not offers:
        return {}, 0.0
    k = rules.ranking.prior_strength
    base = {o.offer_id: o.base_score for o in offers}
    best: dict[str, float] = {}
    rows = conn.execute(select(OfferStat.offer_id, OfferStat.segment, OfferStat.responses, OfferStat.accepted)
                        .where(OfferStat.offer_id.in_(list(base))))
    seen: dict[str, set[str]] = {}
    for offer_id, segment, responses, accepted in rows:
        value = (accepted + k * base[offer_id]) / (responses + k) if responses + k > 0 else base[offer_id]
        best[segment] = max(best.get(segment, 0.0), value)
        seen.setdefault(segment, set()).add(offer_id)
    prior = max(base.values())
    for segment, offers_seen in seen.items():  # offers without responses in the segment keep their prior
        if len(offers_seen) < len(base):
            best[segment] = max(best[segment], max(b for o, b in base.items() if o not in offers_seen))
    return best, prior


def _score_expression(segment_column: str | None, acceptance: dict[str, float], prior: float):
    factor = (case({segment: literal(value) for segment, value in sorted(acceptance.items())},
                   value=CUSTOMERS.c[segment_column], else_=literal(prior))
              if segment_column and acceptance else literal(prior))
    return (CUSTOMERS.c.monthly_fee_fen * factor).label("score"), factor.label("acceptance")


class _Order:
    """A wave's members in worklist order (priority, then expected value × acceptance, then id), built in this
    process and rebuilt after ORDER_TTL_SECONDS, with the acceptance figures it was sorted by and the claim's
    statements over them: a claim checks the members window by window with indexed lookups instead of sorting
    every member each time. Only a hint: whether a member is due (not closed, not retrying, not held, not DND …)
    is checked in the database on every claim. `skip` remembers members found not due, by the claim's clock,
    for SKIP_RECHECK (kept across rebuilds)."""

    def __init__(self, ids: list[str], built: float, acceptance: dict[str, float], prior: float, score,
                 factor, wave: _Wave, members: tuple) -> None:
        self.ids, self.built, self.acceptance, self.prior = ids, built, acceptance, prior
        self.checked, self.members = built, members  # when the member list was last compared, and what it was
        self.skip: dict[str, dt.datetime] = {}
        self.due_in_window = _due(wave, score, factor, BATCH, windowed=True, lock=False)
        self.due_in_window_locked = _due(wave, score, factor, PG_BATCH, windowed=True, lock=True)
        self.any_due = _due(wave, None, None, 1, windowed=False, lock=False)


ORDER_TTL_SECONDS = 30.0  # new members (feeds, audiences) reach the order after this
ORDER_MAX_AGE_SECONDS = 600.0  # new acceptance figures and monthly fees reshuffle it after this
SKIP_RECHECK = dt.timedelta(seconds=30)  # a claim that finds nobody due looks at every member again
WINDOW = 64
_ORDERS: dict[tuple[Any, str, int], _Order] = {}
_BUILDING: dict[tuple[Any, str, int], threading.Lock] = {}  # one builder per order
_ORDERS_LOCK = threading.Lock()


def _order(engine: Engine, catalog: Catalog, rules: Rules, wave: _Wave) -> _Order:
    """The wave's order. Built by one claim while the others wait (the first time) or keep using the old one
    (a rebuild: sorting 50,000 members takes ~100 ms, which no claim but the rebuilding one should wait for)."""
    key = (engine.url, wave.campaign.campaign_id, wave.wave.seq)
    with _ORDERS_LOCK:
        order = _ORDERS.get(key)
        if order is not None and time.monotonic() - order.checked < ORDER_TTL_SECONDS:
            return order
        building = _BUILDING.setdefault(key, threading.Lock())
    if not building.acquire(blocking=order is None):
        return order  # another claim is rebuilding it
    try:
        with _ORDERS_LOCK:
            current = _ORDERS.get(key)
        if current is not None and current is not order:
            return current  # built while this claim waited
        if order is not None and time.monotonic() - order.built < ORDER_MAX_AGE_SECONDS:
            # Sorting every member again costs ~150 ms at 50,000 members; comparing the list ~5 ms.
            with engine.connect() as conn:
                unchanged = _member_list(conn, wave) == order.members
            if unchanged:
                order.checked = time.monotonic()
                return order
        rebuilt = _build_order(engine, catalog, rules, wave)
        if order is not None:
            rebuilt.skip = order.skip
        with _ORDERS_LOCK:
            _ORDERS[key] = rebuilt
        return rebuilt
    finally:
        building.release()


def _member_list(conn: Connection, wave: _Wave) -> tuple:
    """What says the wave's member list changed (members added or removed, priorities or waves changed): read
    from the worklist index alone."""
    return tuple(conn.execute(
        select(func.count(), func.sum(MEMBERS.c.priority), func.sum(func.coalesce(MEMBERS.c.wave, 0)),
               func.min(MEMBERS.c.customer_id), func.max(MEMBERS.c.customer_id))
        .where(MEMBERS.c.campaign_id == wave.campaign.campaign_id,
               or_(MEMBERS.c.wave.is_(None), MEMBERS.c.wave == wave.wave.seq))).one())


def _build_order(engine: Engine, catalog: Catalog, rules: Rules, wave: _Wave) -> _Order:
    segment_column = rules.ranking.segment_fact if rules.ranking.segment_fact in SEGMENT_COLUMNS else None
    with engine.connect() as conn:
        members = _member_list(conn, wave)
        acceptance, prior = _acceptance_by_segment(conn, catalog, rules, wave.campaign)
        score, factor = _score_expression(segment_column, acceptance, prior)
        ids = conn.execute(
            select(MEMBERS.c.customer_id)
            .select_from(MEMBERS.join(CUSTOMERS, CUSTOMERS.c.customer_id == MEMBERS.c.customer_id))
            .where(MEMBERS.c.campaign_id == wave.campaign.campaign_id,
                   or_(MEMBERS.c.wave.is_(None), MEMBERS.c.wave == wave.wave.seq))
            .order_by(MEMBERS.c.priority.desc(), score.desc(), MEMBERS.c.customer_id)).scalars().all()
    return _Order(list(ids), time.monotonic(), acceptance, prior, score, factor, wave, members)


def forget_orders() -> None:
    """Drop every cached worklist order (tests that rewrite members within ORDER_TTL_SECONDS)."""
    with _ORDERS_LOCK:
        _ORDERS.clear()


def _candidates(conn: Connection, order: _Order, now: dt.datetime) -> list[Any]:
    """Up to a batch of due members in worklist order (PostgreSQL: locked, passing over those other claims
    hold)."""
    statement = order.due_in_window_locked if conn.dialect.name == "postgresql" else order.due_in_window
    for start in range(0, len(order.ids), WINDOW):
        window = [c for c in order.ids[start:start + WINDOW] if order.skip.get(c, now) <= now]
        if not window:
            continue
        rows = conn.execute(statement, {"now": now, "window": window}).all()
        if rows:
            return rows
        for customer_id in window:  # none due here: look again after a while (by the claim's clock)
            order.skip[customer_id] = now + SKIP_RECHECK
    return []


def _any_due(conn: Connection, order: _Order, now: dt.datetime) -> bool:
    """Is any member due (locked by other claims or not)?"""
    return conn.execute(order.any_due, {"now": now}).first() is not None


def _due(wave: _Wave, score, acceptance, limit: int, *, windowed: bool, lock: bool):
    """The wave's due members (bound parameters: `now`, and `window`, the member ids to look at)."""
    progress = PROGRESS.alias("p")
    statement = (
        select(MEMBERS.c.customer_id, MEMBERS.c.priority, MEMBERS.c.reason,
               *((score, acceptance) if score is not None else ()),
               CUSTOMERS.c.monthly_fee_fen, func.coalesce(progress.c.attempts, 0).label("attempts"))
        .select_from(
            MEMBERS.join(CUSTOMERS, CUSTOMERS.c.customer_id == MEMBERS.c.customer_id)
            .outerjoin(progress, and_(progress.c.campaign_id == MEMBERS.c.campaign_id,
                                      progress.c.wave == wave.wave.seq,
                                      progress.c.customer_id == MEMBERS.c.customer_id)))
        .where(
            MEMBERS.c.campaign_id == wave.campaign.campaign_id,
            or_(MEMBERS.c.wave.is_(None), MEMBERS.c.wave == wave.wave.seq),
            CUSTOMERS.c.dnd.is_(False),
            # Do-not-disturb by number (an unknown caller asked for no more marketing): whoever holds it.
            ~exists().where(NUMBERS.c.customer_id == MEMBERS.c.customer_id,
                            NUMBERS.c.msisdn.in_(select(DND_NUMBERS.c.msisdn))),
            CUSTOMERS.c.retired_at.is_(None),
            or_(CUSTOMERS.c.service_status.is_(None), CUSTOMERS.c.service_status != "closed"),
            progress.c.closed_at.is_(None),
            or_(progress.c.next_attempt_at.is_(None), progress.c.next_attempt_at <= _NOW),
            ~exists().where(LEASES.c.customer_id == MEMBERS.c.customer_id, LEASES.c.ended_at.is_(None)),
        )
        .limit(limit)
    )
    if windowed:
        statement = statement.where(MEMBERS.c.customer_id.in_(bindparam("window", expanding=True)))
    if score is not None:
        statement = statement.order_by(MEMBERS.c.priority.desc(), score.desc(), MEMBERS.c.customer_id)
    if lock:
        # PostgreSQL: candidates another claim is looking at are passed over, not waited for.
        statement = statement.with_for_update(of=MEMBERS, skip_locked=True)
    return statement


def _history(conn: Connection, customer_ids: Sequence[str], since: dt.datetime) -> dict[str, list[HistoryRow]]:
    rows: dict[str, list[HistoryRow]] = {c: [] for c in customer_ids}
    for row in conn.execute(_statement(conn, "history", _history_statement),
                            {"customers": list(customer_ids), "since": since}):
        rows[row[0]].append(HistoryRow(*row[1:]))
    return rows


def _history_statement(_postgresql: bool):
    return (select(HISTORY.c.customer_id, *(HISTORY.c[name] for name in HistoryRow._fields))
            .where(HISTORY.c.customer_id.in_(bindparam("customers", expanding=True)),
                   HISTORY.c.contacted_at > bindparam("since", type_=HISTORY.c.contacted_at.type)))


def outbound_cap(catalog: Catalog, campaign: CampaignRow, history: Sequence[HistoryRow], now: dt.datetime
                 ) -> CapState | None:
    """The binding cap of an outbound call of `campaign` to this customer: the campaign's outbound_call cap
    and the per-customer caps "*" and outbound_call, counted as the pop counts them (marketing contacts that
    reached the customer; the outcomes of one call are one contact)."""
    marketing = [r for r in history if counts_toward_caps(r)]
    caps = []
    if OUTBOUND_CHANNEL in campaign.caps:
        max_contacts, days = campaign.caps[OUTBOUND_CHANNEL]
        mine = [r for r in marketing if r.campaign_id == campaign.campaign_id and r.channel == OUTBOUND_CHANNEL]
        caps.append(window_cap(OUTBOUND_CHANNEL, contact_times(mine), max_contacts, days, now))
    for channel, (max_contacts, days) in sorted(catalog.customer_caps.items()):
        if channel in (ANY_CHANNEL, OUTBOUND_CHANNEL):
            rows = [r for r in marketing if channel == ANY_CHANNEL or r.channel == channel]
            caps.append(window_cap(channel, contact_times(rows), max_contacts, days, now))
    return binding_cap(caps)


def _longest_period(catalog: Catalog, waves: Sequence[_Wave]) -> int:
    periods = [days for w in waves for channel, (_, days) in w.campaign.caps.items() if channel == OUTBOUND_CHANNEL]
    periods += [days for channel, (_, days) in catalog.customer_caps.items() if channel in (ANY_CHANNEL,
                                                                                            OUTBOUND_CHANNEL)]
    return max(periods, default=0)


def _hold(conn: Connection, campaign_id: str, wave: int, customer_id: str, until: dt.datetime, reason: str) -> None:
    """Set the member aside until `until` (a cap freeing, a skip), keeping its attempts."""
    insert = _insert(conn)(PROGRESS).values(campaign_id=campaign_id, wave=wave, customer_id=customer_id, attempts=0,
                                            next_attempt_at=until, hold_reason=reason)
    conn.execute(insert.on_conflict_do_update(
        index_elements=["campaign_id", "wave", "customer_id"],
        set_={"next_attempt_at": insert.excluded.next_attempt_at, "hold_reason": insert.excluded.hold_reason}))


def _claim(conn: Connection, lease_id: str, customer_id: str, wave: _Wave, agent_id: str, now: dt.datetime,
           ttl: dt.timedelta) -> Any:
    """Insert the lease, checking again — in its own statement, so on its own snapshot, taken after the member
    row was locked — that the member is still due: on PostgreSQL the candidates' snapshot may predate another
    claim of the same member that committed, and whose call result (ending its lease) is in by now. The open
    lease of another agent is the unique index's to refuse (ON CONFLICT DO NOTHING). The new lease's id and
    attempt number, or None."""
    return conn.execute(_statement(conn, "claim", _claim_statement), {
        "lease_id": lease_id, "customer_id": customer_id, "campaign_id": wave.campaign.campaign_id,
        "wave": wave.wave.seq, "agent_id": agent_id, "now": now, "expires_at": now + ttl}).first()


def _claim_statement(postgresql: bool):
    customer_id, campaign_id, wave = (bindparam("customer_id", type_=LEASES.c.customer_id.type),
                                      bindparam("campaign_id", type_=LEASES.c.campaign_id.type),
                                      bindparam("wave", type_=LEASES.c.wave.type))
    key = and_(PROGRESS.c.campaign_id == campaign_id, PROGRESS.c.wave == wave, PROGRESS.c.customer_id == customer_id)
    attempts = select(PROGRESS.c.attempts).where(key).scalar_subquery()
    not_due = exists().where(key, or_(PROGRESS.c.closed_at.is_not(None), PROGRESS.c.next_attempt_at > _NOW))
    values = select(bindparam("lease_id", type_=LEASES.c.lease_id.type), customer_id, campaign_id, wave,
                    bindparam("agent_id", type_=LEASES.c.agent_id.type), func.coalesce(attempts, 0) + 1,
                    _NOW, bindparam("expires_at", type_=LEASES.c.expires_at.type)).where(~not_due)
    columns = ["lease_id", "customer_id", "campaign_id", "wave", "agent_id", "attempt", "taken_at", "expires_at"]
    insert = _dialect_insert(postgresql)(LEASES)
    return (insert.from_select(columns, values).on_conflict_do_nothing()
            .returning(LEASES.c.lease_id, LEASES.c.attempt))


def _held_lease(conn: Connection, agent_id: str) -> Any:
    return conn.execute(_statement(conn, "held_lease", lambda _pg: select(LEASES).where(
        LEASES.c.agent_id == bindparam("agent_id", type_=LEASES.c.agent_id.type), LEASES.c.ended_at.is_(None))),
        {"agent_id": agent_id}).first()


def _claim_from_lease(conn: Connection, catalog: Catalog, rules: Rules, lease: Any, resumed: bool) -> Claim | None:
    campaign = catalog.campaigns.get(lease.campaign_id)
    wave = next((w for w in campaign.waves if w.seq == lease.wave), None) if campaign else None
    if campaign is None or wave is None or wave.seq not in campaign.outbound:
        return None
    member = conn.execute(select(MEMBERS.c.priority, MEMBERS.c.reason).where(
        MEMBERS.c.campaign_id == lease.campaign_id, MEMBERS.c.customer_id == lease.customer_id)).first()
    fee = conn.execute(select(CUSTOMERS.c.monthly_fee_fen, *(
        [CUSTOMERS.c[rules.ranking.segment_fact]] if rules.ranking.segment_fact in SEGMENT_COLUMNS else []))
        .where(CUSTOMERS.c.customer_id == lease.customer_id)).first()
    acceptance, prior = _acceptance_by_segment(conn, catalog, rules, campaign)
    segment = str(fee[1]) if fee is not None and len(fee) > 1 else None
    return Claim(lease.lease_id, lease.customer_id, campaign, wave, campaign.outbound[wave.seq], lease.attempt,
                 lease.taken_at, lease.expires_at, member.priority if member else 0, member.reason if member else None,
                 round((fee.monthly_fee_fen if fee else 0) / 100, 2), round(acceptance.get(segment, prior), 4),
                 resumed)


def next_for_agent(engine: Engine, catalog: Catalog, rules: Rules, *, agent_id: str, team: str | None = None,
                   campaign_id: str | None = None, lease_seconds: int = DEFAULT_LEASE_SECONDS,
                   now: dt.datetime | None = None,
                   write_lock: contextlib.AbstractContextManager | None = None) -> Claim | Empty:
    """Hand the agent their next customer (a new lease), or the one they already hold (renewed), or say why
    there is none (Empty)."""
    now = now or dt.datetime.now(dt.UTC)
    write_lock = write_lock or contextlib.nullcontext()
    ttl = dt.timedelta(seconds=lease_seconds)
    waves = running_waves(catalog, now, agent_id=agent_id, team=team, campaign_id=campaign_id)
    callable_now = [w for w in waves if w.outbound.hours.open_at(now)]
    # Outside the write transaction: SQLite's other writers need not wait for an order being built.
    orders = {w.campaign.campaign_id: _order(engine, catalog, rules, w) for w in callable_now}
    since = now - dt.timedelta(days=_longest_period(catalog, callable_now))
    read_ahead: tuple[list, dict] | None = None
    if callable_now and engine.dialect.name == "sqlite":
        # SQLite's claims are serialized: the first candidates and their contacts are read before taking the
        # write lock (a WAL reader waits for nobody), so the lock is held only to check and insert the lease —
        # the insert checks on its own that the member is still due, and the unique index that nobody holds it.
        with engine.connect() as reader:
            pool = _pool(reader, callable_now, orders, now)
            if pool:
                read_ahead = pool, _history(reader, sorted({row.customer_id for _, row in pool}), since)
    with _transaction(engine, write_lock) as conn:
        if conn.dialect.name == "postgresql":
            # A lease is not worth a WAL flush (1-90 ms on this kind of VM, the claim's tail): lost in a database
            # crash, it is as if it had expired — the agent's call result is then refused as lease_not_found
            # and the member is due again. Call results still commit durably.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        _expire_leases(conn, now)
        held = _held_lease(conn, agent_id)
        if held is not None:
            conn.execute(update(LEASES).where(LEASES.c.lease_id == held.lease_id).values(expires_at=now + ttl))
            held = _held_lease(conn, agent_id)
            claim = _claim_from_lease(conn, catalog, rules, held, resumed=True)
            if claim is not None:
                return claim
            # Its campaign or wave left the catalog: let it go and choose anew.
            conn.execute(update(LEASES).where(LEASES.c.lease_id == held.lease_id)
                         .values(ended_at=now, end_reason="released", release_reason="wave no longer runs"))
        if not waves:
            if campaign_id is not None and campaign_id not in catalog.campaigns:
                raise WorklistError(404, "campaign_not_found", f"There is no campaign {campaign_id!r}.",
                                    f"没有活动 {campaign_id!r}。")
            # Agents read these: campaigns by their names, never their ids.
            name = catalog.campaigns[campaign_id].name if campaign_id else None
            return Empty("no_outbound_wave",
                         "No outbound wave is running that is open to you"
                         + (f" in the campaign “{name.en}”" if name else "") + ".",
                         "当前没有分配给您" + (f"（活动“{name.zh}”）" if name else "") + "、正在进行的外呼波次。")
        if not callable_now:
            opening = min((o for w in waves if (o := w.outbound.hours.next_opening(now)) is not None), default=None)

            def hours(language: str) -> str:
                return "; ".join(f"{getattr(w.campaign.name, language)} {', '.join(w.outbound.hours.texts())} "
                                 f"({w.outbound.hours.time_zone})" for w in waves)

            return Empty("outside_calling_hours", f"Outside the calling hours of every running outbound wave "
                         f"({hours('en')}).", f"当前不在任何进行中外呼波次的呼叫时段内（{hours('zh')}）。", opening)
        postgresql = conn.dialect.name == "postgresql"
        for round_ in range(MAX_ROUNDS):
            if read_ahead is not None:
                (pool, history), read_ahead = read_ahead, None
                if (claim := _try_claims(conn, catalog, rules, pool, history, agent_id, now, ttl)) is not None:
                    return claim
                continue  # taken meanwhile (another process's claim): read again, under the lock
            pool = _pool(conn, callable_now, orders, now)
            if not pool and any(_any_due(conn, orders[w.campaign.campaign_id], now) for w in callable_now):
                # Members are due: set aside by this process's order a moment ago, or (PostgreSQL) locked by
                # other claims this instant, whose transactions end in milliseconds (with a lease, or leaving
                # the member to us). Never "done" while someone is due: look at every member again.
                for order in orders.values():
                    order.skip.clear()
                if postgresql:
                    time.sleep(BACKOFF_SECONDS * (round_ + 1))
                continue
            if not pool:
                return Empty("worklist_done", "Nobody is due for a call now: every member is called, closed, "
                             "waiting for a retry, capped or held by another agent.",
                             "当前没有需要呼叫的客户：名单中的客户均已呼叫、已结束、等待重拨、已达接触上限或正由其他坐席处理。")
            history = _history(conn, sorted({row.customer_id for _, row in pool}), since)
            if (claim := _try_claims(conn, catalog, rules, pool, history, agent_id, now, ttl)) is not None:
                return claim
        return Empty("worklist_busy", "Every customer due now is being taken by other agents; ask again.",
                     "当前可呼叫的客户正被其他坐席领取，请稍后再试。")


def _pool(conn: Connection, waves: Sequence[_Wave], orders: dict[str, _Order], now: dt.datetime) -> list:
    """The due candidates of every wave, in worklist order: (wave, row)."""
    pool = [(w, row) for w in waves for row in _candidates(conn, orders[w.campaign.campaign_id], now)]
    pool.sort(key=lambda item: (-item[1].priority, -float(item[1].score or 0), item[1].customer_id,
                                item[0].campaign.campaign_id))
    return pool


def _try_claims(conn: Connection, catalog: Catalog, rules: Rules, pool: list, history: dict[str, list[HistoryRow]],
                agent_id: str, now: dt.datetime, ttl: dt.timedelta) -> Claim | None:
    """Lease the first candidate of `pool` not over a cap (those are set aside until it frees) and nobody took
    meanwhile. None: every candidate was capped or taken."""
    for w, row in pool:
        cap = outbound_cap(catalog, w.campaign, history[row.customer_id], now)
        if cap is not None and cap.reached:
            _hold(conn, w.campaign.campaign_id, w.wave.seq, row.customer_id, cap.next_eligible_at, "cap")
            continue
        lease_id = str(uuid.uuid4())
        inserted = _claim(conn, lease_id, row.customer_id, w, agent_id, now, ttl)
        if inserted is None:
            held = _held_lease(conn, agent_id)
            if held is not None:  # the same agent's concurrent request won: answer its lease
                claim = _claim_from_lease(conn, catalog, rules, held, resumed=True)
                if claim is not None:
                    return claim
            continue  # another agent took this customer a moment ago
        return Claim(lease_id, row.customer_id, w.campaign, w.wave, w.outbound, inserted.attempt, now, now + ttl,
                     row.priority, row.reason, round((row.monthly_fee_fen or 0) / 100, 2),
                     round(float(row.acceptance), 4), False)
    return None


def _lock_member(conn: Connection, lease: Any) -> bool:
    """PostgreSQL: lock the member row a lease is for before ending the lease (True: read the lease again). A
    claim holds that row locked from reading its candidates to inserting its lease, so ending a lease waits for
    such a claim, and a claim passes over a member whose lease is being ended: the claim's own check (_claim)
    then never sees the lease gone without the member's new state (retry time, hold) beside it. SQLite's write
    transactions are serialized: nothing to lock."""
    if conn.dialect.name != "postgresql":
        return False
    conn.execute(select(MEMBERS.c.customer_id).where(MEMBERS.c.campaign_id == lease.campaign_id,
                                                     MEMBERS.c.customer_id == lease.customer_id).with_for_update())
    return True


def _own_lease(conn: Connection, lease_id: str, agent_id: str) -> Any:
    lease = conn.execute(select(LEASES).where(LEASES.c.lease_id == lease_id)).first()
    if lease is None or lease.agent_id != agent_id:
        raise WorklistError(404, "lease_not_found", f"No lease {lease_id} of yours is on the server.",
                            f"服务器上没有您的租约 {lease_id}。")
    return lease


def _ended(lease: Any) -> WorklistError:
    words = {"result": ("a call result was recorded for it", "已记录呼叫结果"),
             "released": ("you released it", "您已释放该客户"),
             "expired": ("it expired and the customer went back to the worklist", "租约已过期，客户已回到名单")}
    en, zh = words.get(lease.end_reason, (lease.end_reason or "it ended", lease.end_reason or "租约已结束"))
    return WorklistError(409, "lease_ended", f"Lease {lease.lease_id} has ended: {en}.",
                         f"租约 {lease.lease_id} 已结束：{zh}。")


@dataclass(frozen=True)
class LeaseState:
    lease_id: str
    customer_id: str
    campaign_id: str
    wave: int
    attempt: int
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None
    next_attempt_at: dt.datetime | None = None


def _state(lease: Any, next_attempt_at: dt.datetime | None = None) -> LeaseState:
    return LeaseState(lease.lease_id, lease.customer_id, lease.campaign_id, lease.wave, lease.attempt,
                      lease.expires_at, lease.ended_at, lease.end_reason, next_attempt_at)


def renew(engine: Engine, lease_id: str, *, agent_id: str, lease_seconds: int = DEFAULT_LEASE_SECONDS,
          now: dt.datetime | None = None, write_lock: contextlib.AbstractContextManager | None = None) -> LeaseState:
    """Keep holding the customer (the panel renews while the agent previews or talks). An expired lease that
    nobody took over yet is renewed too; one that ended answers 409."""
    now = now or dt.datetime.now(dt.UTC)
    with _transaction(engine, write_lock or contextlib.nullcontext()) as conn:
        lease = _own_lease(conn, lease_id, agent_id)
        if lease.ended_at is not None:
            raise _ended(lease)
        conn.execute(update(LEASES).where(LEASES.c.lease_id == lease_id)
                     .values(expires_at=now + dt.timedelta(seconds=lease_seconds)))
        return _state(_own_lease(conn, lease_id, agent_id))


def release(engine: Engine, lease_id: str, *, agent_id: str, reason: str,
            hold_minutes: int = DEFAULT_SKIP_HOLD_MINUTES, now: dt.datetime | None = None,
            write_lock: contextlib.AbstractContextManager | None = None) -> LeaseState:
    """The agent skips the customer without calling (with a reason): the lease ends, no attempt is counted,
    and the member is due again after `hold_minutes` (for any agent). Repeating it answers the same."""
    now = now or dt.datetime.now(dt.UTC)
    with _transaction(engine, write_lock or contextlib.nullcontext()) as conn:
        lease = _own_lease(conn, lease_id, agent_id)
        if _lock_member(conn, lease):
            lease = _own_lease(conn, lease_id, agent_id)
        if lease.ended_at is not None:
            if lease.end_reason == "released":
                progress = conn.execute(select(PROGRESS.c.next_attempt_at).where(
                    PROGRESS.c.campaign_id == lease.campaign_id, PROGRESS.c.wave == lease.wave,
                    PROGRESS.c.customer_id == lease.customer_id)).scalar()
                return _state(lease, progress)
            raise _ended(lease)
        conn.execute(update(LEASES).where(LEASES.c.lease_id == lease_id)
                     .values(ended_at=now, end_reason="released", release_reason=reason))
        until = now + dt.timedelta(minutes=hold_minutes)
        if hold_minutes > 0:
            _hold(conn, lease.campaign_id, lease.wave, lease.customer_id, until, "skip")
        return _state(_own_lease(conn, lease_id, agent_id), until if hold_minutes > 0 else None)


# ------------------------------------------------------------------------------------------ call results


@dataclass(frozen=True)
class AttemptIn:
    attempt_id: str
    lease_id: str
    result: str
    called_at: dt.datetime
    call_id: str | None = None
    note: str | None = None

    def fingerprint(self) -> str:
        payload = {"attempt_id": self.attempt_id, "lease_id": self.lease_id, "result": self.result,
                   "called_at": self.called_at.astimezone(dt.UTC).isoformat(), "call_id": self.call_id,
                   "note": self.note}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class AttemptRecorded:
    status: str  # accepted, duplicate
    attempt_id: str
    lease_id: str
    customer_id: str
    campaign_id: str
    wave: int
    attempt: int
    result: str
    call_id: str
    next_attempt_at: dt.datetime | None
    closed_reason: str | None


def _recorded(row: Any, status: str) -> AttemptRecorded:
    return AttemptRecorded(status, row.attempt_id, row.lease_id, row.customer_id, row.campaign_id, row.wave,
                           row.attempt, row.result, row.call_id, row.next_attempt_at, row.closed_reason)


def _check_time(called_at: dt.datetime, now: dt.datetime) -> None:
    if called_at.tzinfo is None:
        raise WorklistError(422, "invalid_request", "called_at needs a time zone (e.g. 2026-12-08T10:00:00+08:00).",
                            "called_at 需要带时区（如 2026-12-08T10:00:00+08:00）。")
    if called_at > now + MAX_CLOCK_SKEW:
        raise WorklistError(422, "invalid_request", "called_at is in the future (check the workstation clock).",
                            "called_at（呼叫时间）晚于服务器当前时间：请检查工作站的时钟。")
    if called_at < now - MAX_AGE:
        raise WorklistError(422, "invalid_request", f"called_at is more than {MAX_AGE.days} days before the "
                            "server's time: check the workstation's date and clock.",
                            f"called_at（呼叫时间）比服务器时间早 {MAX_AGE.days} 天以上：请检查工作站的日期和时钟。")


def record_attempt(engine: Engine, catalog: Catalog, item: AttemptIn, *, agent_id: str, now: dt.datetime | None = None,
                   write_lock: contextlib.AbstractContextManager | None = None) -> AttemptRecorded:
    """Record how the call of a lease ended (idempotent by attempt_id; see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    if item.result not in OUTBOUND_CALL_RESULTS:
        raise WorklistError(422, "invalid_request", f"result must be one of {', '.join(OUTBOUND_CALL_RESULTS)}.",
                            f"result 必须是 {', '.join(OUTBOUND_CALL_RESULTS)} 之一。")
    _check_time(item.called_at, now)
    fingerprint = item.fingerprint()
    try:
        return _record_attempt(engine, catalog, item, agent_id, now, fingerprint, write_lock)
    except _Duplicate as duplicate:
        return duplicate.recorded


def _record_attempt(engine: Engine, catalog: Catalog, item: AttemptIn, agent_id: str, now: dt.datetime,
                    fingerprint: str, write_lock: contextlib.AbstractContextManager | None) -> AttemptRecorded:
    with _transaction(engine, write_lock or contextlib.nullcontext()) as conn:
        lease = _own_lease(conn, item.lease_id, agent_id)
        if _lock_member(conn, lease):
            lease = _own_lease(conn, item.lease_id, agent_id)  # as it is now that no claim holds its member
        if lease.end_reason in ("result", "released"):
            _answer_again(conn, item, agent_id, fingerprint)  # a retried request: the same answer
            if lease.end_reason == "released":
                raise _ended(lease)
            raise WorklistError(409, "lease_has_result", f"Lease {lease.lease_id} already has its call result; "
                                "take the next customer for a new call.",
                                f"租约 {lease.lease_id} 已有呼叫结果；新的呼叫请领取下一位客户。")
        # An expired lease still takes its result: the call happened (the member may be held by someone else
        # by now; the attempt counts all the same).
        campaign = catalog.campaigns.get(lease.campaign_id)
        settings = campaign.outbound.get(lease.wave) if campaign else None
        progress = conn.execute(_statement(conn, "member_attempts", _member_attempts_statement), {
            "campaign_id": lease.campaign_id, "wave": lease.wave, "customer_id": lease.customer_id}).scalar() or 0
        attempt = max(lease.attempt, progress + 1)
        if settings is not None:
            verdict = after_attempt(item.result, attempt, settings.retry, now)
        else:  # the wave left the catalog: nothing is called again
            verdict = AttemptVerdict(None, "connected" if item.result == "connected" else item.result)
        call_id = item.call_id or lease_call_id(lease.lease_id)
        inserted = conn.execute(_statement(conn, "insert_attempt", lambda pg: _dialect_insert(pg)(ATTEMPTS)
                                           .on_conflict_do_nothing().returning(*ATTEMPTS.c)), {
            "attempt_id": item.attempt_id, "lease_id": lease.lease_id, "agent_id": agent_id,
            "customer_id": lease.customer_id, "campaign_id": lease.campaign_id, "wave": lease.wave, "attempt": attempt,
            "result": item.result, "call_id": call_id, "note": item.note, "called_at": item.called_at,
            "received_at": now, "next_attempt_at": verdict.next_attempt_at, "closed_reason": verdict.closed_reason,
            "fingerprint": fingerprint}).first()
        if inserted is None:  # the attempt id is taken (a repeated request, or a reused id), or the lease's
            conn.rollback()  # result came in from a concurrent request
            _answer_again(conn, item, agent_id, fingerprint)
            raise WorklistError(409, "lease_has_result", f"Lease {lease.lease_id} already has its call result.",
                                f"租约 {lease.lease_id} 已有呼叫结果。")
        conn.execute(_statement(conn, "end_lease_with_result", _end_lease_statement),
                     {"ended_lease": lease.lease_id, "now": now})
        conn.execute(_statement(conn, "upsert_progress", _progress_upsert_statement), {
            "campaign_id": lease.campaign_id, "wave": lease.wave, "customer_id": lease.customer_id,
            "attempts": attempt, "last_result": item.result, "last_attempt_at": item.called_at,
            "next_attempt_at": verdict.next_attempt_at,
            "hold_reason": "retry" if verdict.next_attempt_at is not None else None,
            "closed_at": now if verdict.closed_reason else None, "closed_reason": verdict.closed_reason})
        # The call is a contact of the customer's (caps, recent contacts); its offer outcomes share its call id.
        conn.execute(_statement(conn, "insert_history", lambda pg: _dialect_insert(pg)(HISTORY)), {
            "customer_id": lease.customer_id, "campaign_id": lease.campaign_id, "wave": lease.wave,
            "channel": OUTBOUND_CHANNEL, "result": item.result, "contacted_at": item.called_at, "agent_id": agent_id,
            "purpose": "marketing", "call_id": call_id})
        return _recorded(inserted, "accepted")


class _Duplicate(Exception):
    def __init__(self, recorded: AttemptRecorded) -> None:
        super().__init__(recorded.attempt_id)
        self.recorded = recorded


def _answer_again(conn: Connection, item: AttemptIn, agent_id: str, fingerprint: str) -> None:
    """The attempt id is already stored: the same request again is answered as before (_Duplicate); the id
    used for another result is refused. Returns when the id is not stored."""
    stored = _stored_attempt(conn, item.attempt_id)
    if stored is None:
        return
    if stored.agent_id == agent_id and stored.fingerprint == fingerprint:
        raise _Duplicate(_recorded(stored, "duplicate"))
    raise WorklistError(409, "attempt_id_reused", "attempt_id was already used for a different call result: "
                        "make a new attempt_id for a new result.",
                        "attempt_id 已用于另一条呼叫结果：请为新结果生成新的 attempt_id。")


def _stored_attempt(conn: Connection, attempt_id: str) -> Any:
    return conn.execute(_statement(conn, "stored_attempt", lambda _pg: select(ATTEMPTS).where(
        ATTEMPTS.c.attempt_id == bindparam("attempt_id", type_=ATTEMPTS.c.attempt_id.type))),
        {"attempt_id": attempt_id}).first()


def _member_attempts_statement(_postgresql: bool):
    return select(PROGRESS.c.attempts).where(
        PROGRESS.c.campaign_id == bindparam("campaign_id", type_=PROGRESS.c.campaign_id.type),
        PROGRESS.c.wave == bindparam("wave", type_=PROGRESS.c.wave.type),
        PROGRESS.c.customer_id == bindparam("customer_id", type_=PROGRESS.c.customer_id.type))


def _end_lease_statement(_postgresql: bool):
    """The lease ends with its result (an expired lease keeps the time it expired at)."""
    return (update(LEASES).where(LEASES.c.lease_id == bindparam("ended_lease", type_=LEASES.c.lease_id.type))
            .values(ended_at=func.coalesce(LEASES.c.ended_at, _NOW), end_reason="result"))


def _progress_upsert_statement(postgresql: bool):
    upsert = _dialect_insert(postgresql)(PROGRESS)
    columns = ("attempts", "last_result", "last_attempt_at", "next_attempt_at", "hold_reason", "closed_at",
               "closed_reason")
    return upsert.on_conflict_do_update(index_elements=["campaign_id", "wave", "customer_id"],
                                        set_={k: upsert.excluded[k] for k in columns})


def call_ids_of_leases(conn: Connection, lease_ids: Sequence[str]) -> dict[str, str]:
    """Lease id -> the call id its attempt recorded (outcomes of the call default to it)."""
    if not lease_ids:
        return {}
    return dict(conn.execute(select(ATTEMPTS.c.lease_id, ATTEMPTS.c.call_id)
                             .where(ATTEMPTS.c.lease_id.in_(list(lease_ids)))).all())


# ------------------------------------------------------------------------------------------ figures


@dataclass
class FigureRow:
    campaign_id: str
    wave: int | None  # None: the whole campaign
    attempt: int | None  # None: every attempt number
    attempts: int = 0
    connected: int = 0
    accepted: int = 0  # connected calls with at least one accepted offer outcome (not retracted)

    @property
    def connect_rate(self) -> float | None:
        return None if not self.attempts else round(self.connected / self.attempts, 4)

    @property
    def acceptance_rate(self) -> float | None:
        return None if not self.connected else round(self.accepted / self.connected, 4)

    def as_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "wave": self.wave, "attempt": self.attempt,
                "attempts": self.attempts, "connected": self.connected, "connect_rate": self.connect_rate,
                "accepted": self.accepted, "acceptance_rate": self.acceptance_rate}


@dataclass(frozen=True)
class Figures:
    since: dt.datetime | None
    until: dt.datetime | None
    rows: list[FigureRow] = field(default_factory=list)  # per campaign, wave, attempt; then wave; then campaign


def outbound_figures(conn: Connection, *, campaign_id: str | None = None, since: dt.datetime | None = None,
                     until: dt.datetime | None = None, agents: AgentScope | None = None) -> Figures:
    """外呼接通率 (connected ÷ attempts) and acceptance (connected calls with an accepted offer ÷ connected
    calls) per campaign, wave and attempt number, over the attempts called in [since, until) by the agents
    `agents` covers (default: every agent)."""
    outcomes, decisions = Outcome.__table__, Decision.__table__
    accepted = exists().where(decisions.c.lease_id == ATTEMPTS.c.lease_id,
                              outcomes.c.decision_id == decisions.c.decision_id,
                              outcomes.c.result == "accepted", outcomes.c.retracted_at.is_(None))
    connected = ATTEMPTS.c.result == "connected"
    statement = (
        select(ATTEMPTS.c.campaign_id, ATTEMPTS.c.wave, ATTEMPTS.c.attempt, func.count(),
               func.sum(case((connected, 1), else_=0)), func.sum(case((and_(connected, accepted), 1), else_=0)))
        .group_by(ATTEMPTS.c.campaign_id, ATTEMPTS.c.wave, ATTEMPTS.c.attempt)
        .order_by(ATTEMPTS.c.campaign_id, ATTEMPTS.c.wave, ATTEMPTS.c.attempt)
    )
    if campaign_id is not None:
        statement = statement.where(ATTEMPTS.c.campaign_id == bindparam("campaign_id", campaign_id))
    if since is not None:
        statement = statement.where(ATTEMPTS.c.called_at >= since)
    if until is not None:
        statement = statement.where(ATTEMPTS.c.called_at < until)
    condition = agents.agent_condition(ATTEMPTS.c.agent_id) if agents is not None else None
    if condition is not None:
        statement = statement.where(condition)
    detail = [FigureRow(c, w, a, int(n), int(k or 0), int(x or 0)) for c, w, a, n, k, x in conn.execute(statement)]
    waves: dict[tuple[str, int], FigureRow] = {}
    campaigns: dict[str, FigureRow] = {}
    for row in detail:
        for total in (waves.setdefault((row.campaign_id, row.wave), FigureRow(row.campaign_id, row.wave, None)),
                      campaigns.setdefault(row.campaign_id, FigureRow(row.campaign_id, None, None))):
            total.attempts += row.attempts
            total.connected += row.connected
            total.accepted += row.accepted
    return Figures(since, until, [*detail, *waves.values(), *campaigns.values()])


def render_figures(figures: Figures, lang: str = "en") -> str:
    zh = lang.startswith("zh")
    head = (("活动", "波次", "第几次", "呼叫", "接通", "外呼接通率", "接受", "接受率") if zh else
            ("campaign", "wave", "attempt", "attempts", "connected", "connect rate", "accepted", "acceptance"))
    lines = ["\t".join(head)]

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.1f}%"

    every = "全部" if zh else "all"
    for row in figures.rows:
        lines.append("\t".join([row.campaign_id, every if row.wave is None else str(row.wave),
                                every if row.attempt is None else str(row.attempt), str(row.attempts),
                                str(row.connected), pct(row.connect_rate), str(row.accepted),
                                pct(row.acceptance_rate)]))
    if not figures.rows:
        lines.append("（没有外呼记录）" if zh else "(no outbound attempts)")
    return "\n".join(lines)


__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_SKIP_HOLD_MINUTES",
    "MAX_LEASE_SECONDS",
    "MIN_LEASE_SECONDS",
    "AttemptIn",
    "AttemptRecorded",
    "Claim",
    "Empty",
    "FigureRow",
    "Figures",
    "LeaseState",
    "WorklistError",
    "call_ids_of_leases",
    "campaigns_for_calls",
    "lease_call_id",
    "next_for_agent",
    "outbound_cap",
    "outbound_figures",
    "outbound_wave_for_call",
    "record_attempt",
    "release",
    "render_figures",
    "renew",
    "running_waves",
]
