"""GET /v1/pop: everything one screen pop shows, in one round trip, with a decision id to answer."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import uuid
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, and_, bindparam, column, func, insert, or_, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from server_stub.db.models import (
    Bill,
    CampaignMember,
    Complaint,
    ContactHistory,
    Customer,
    CustomerAccess,
    CustomerNumber,
    CustomerScore,
    Decision,
    DndNumber,
    OfferStat,
    Subscription,
    UsageMonth,
)
from server_stub.domain.rules import (
    LEVEL_NAMES,
    CampaignContext,
    CapState,
    OfferCandidate,
    RankedOffer,
    Rules,
    assess_sensitivity,
    binding_cap,
    cap_state,
    operator_sensitivity,
    rank_offers,
    window_cap,
)
from server_stub.domain.vocabulary import ANY_CHANNEL, RELATION_KIND_NAMES, SERVICE_STATUS_NAMES
from server_stub.services.catalog import Catalog

# Core statements on the tables (not ORM entities): a pop reads a handful of rows and builds a document,
# so identity-map bookkeeping would be most of its cost.
CUSTOMERS = Customer.__table__
NUMBERS = CustomerNumber.__table__
USAGE = UsageMonth.__table__
COMPLAINTS = Complaint.__table__
BILLS = Bill.__table__
SUBSCRIPTIONS = Subscription.__table__
SCORES = CustomerScore.__table__

MEMBERS = CampaignMember.__table__
HISTORY = ContactHistory.__table__
STATS = OfferStat.__table__
DND_NUMBERS = DndNumber.__table__

COMPLAINT_LOOKBACK_DAYS = 180
RECENT_CONTACT_DAYS = 30  # contact.recent_contacts: all channels, newest first …
RECENT_CONTACTS = 5  # … at most this many
REPEAT_CALL_DAYS = 7  # calls_7d: inbound calls (IVR included) in this many days; repeat_caller from 2
REPEAT_CALLS = 2
CALL_CHANNELS = ("inbound_call", "ivr")
BILLS_SHOWN = 3
CANDIDATES_SHOWN = 20  # owners of a shared number listed in the 409 (ordered by customer id)
# Results of a contact attempt that reached nobody or offered nothing: they never count toward a cap. Any
# other result (or none: an SMS sent, a push delivered) is a contact made.
NON_CONTACT_RESULTS = frozenset({"not_offered", "no_answer", "busy", "wrong_number", "invalid_number"})
# Of the outcomes of one call (collapsed into one recent contact), the one shown: the most telling.
_RESULT_WEIGHT = {"do_not_disturb": 6, "accepted": 5, "callback": 4, "considering": 3, "declined": 2}

_SCORE_FIELDS = ("churn_risk", "price_level", "complaint_level", "churn_reason", "price_reason",
                 "complaint_reason", "model", "scored_at")
ScoreRow = namedtuple("ScoreRow", _SCORE_FIELDS)
_SCORE_COLUMNS = (SCORES.c.customer_id.label("score_customer_id"),
                  *(SCORES.c[name].label(f"score_{name}") for name in _SCORE_FIELDS))
_HISTORY_FIELDS = ("campaign_id", "channel", "offer_id", "result", "contacted_at", "purpose", "topic", "call_id")
HistoryRow = namedtuple("HistoryRow", _HISTORY_FIELDS)
MemberRow = namedtuple("MemberRow", ("campaign_id", "wave", "priority", "reason"))
BillRow = namedtuple("BillRow", ("month", "amount_fen", "paid_fen", "due_on", "paid_on", "late"))
SubscriptionRow = namedtuple("SubscriptionRow", ("product_id", "name", "category", "since", "until"))

# Built once: a pop runs these with new parameter values only (no per-request statement construction).
_WITH_SCORE = CUSTOMERS.outerjoin(SCORES, SCORES.c.customer_id == CUSTOMERS.c.customer_id)
_CUSTOMER_BY_ID = (select(CUSTOMERS, *_SCORE_COLUMNS).select_from(_WITH_SCORE)
                   .where(CUSTOMERS.c.customer_id == bindparam("customer_id")))
# Every owner of a number that still pops (not retired); the key (msisdn, customer_id) serves the lookup.
_CUSTOMERS_BY_NUMBER = (
    select(CUSTOMERS, *_SCORE_COLUMNS)
    .select_from(NUMBERS.join(_WITH_SCORE, NUMBERS.c.customer_id == CUSTOMERS.c.customer_id))
    .where(NUMBERS.c.msisdn == bindparam("msisdn"), CUSTOMERS.c.retired_at.is_(None))
    .order_by(NUMBERS.c.customer_id).limit(CANDIDATES_SHOWN)
)
_NUMBERS = (select(NUMBERS.c.msisdn).where(NUMBERS.c.customer_id == bindparam("customer_id"))
            .order_by(NUMBERS.c.is_primary.desc(), NUMBERS.c.msisdn))
_USAGE = (select(USAGE).where(USAGE.c.customer_id == bindparam("customer_id"))
          .order_by(USAGE.c.month.desc()).limit(3))
_BILLS = (select(*(BILLS.c[name] for name in BillRow._fields)).where(BILLS.c.customer_id == bindparam("customer_id"))
          .order_by(BILLS.c.month.desc()).limit(BILLS_SHOWN))
_SUBSCRIPTIONS = (select(*(SUBSCRIPTIONS.c[name] for name in SubscriptionRow._fields))
                  .where(SUBSCRIPTIONS.c.customer_id == bindparam("customer_id"),
                         or_(SUBSCRIPTIONS.c.until.is_(None), SUBSCRIPTIONS.c.until >= bindparam("today")))
                  .order_by(SUBSCRIPTIONS.c.product_id))
_COMPLAINTS = (select(COMPLAINTS)
               .where(COMPLAINTS.c.customer_id == bindparam("customer_id"), COMPLAINTS.c.opened_at >= bindparam("since"))
               .order_by(COMPLAINTS.c.opened_at.desc()))
_MEMBERSHIPS = select(MEMBERS.c.campaign_id, MEMBERS.c.wave, MEMBERS.c.priority, MEMBERS.c.reason).where(
    MEMBERS.c.customer_id == bindparam("customer_id"))
# Contacts since the longest window any rule looks at, plus every accepted offer (what the customer holds);
# both through the (customer_id, contacted_at) index.
_HISTORY = (select(*(HISTORY.c[name] for name in _HISTORY_FIELDS))
            .where(HISTORY.c.customer_id == bindparam("customer_id"),
                   or_(HISTORY.c.contacted_at > bindparam("since"),
                       and_(HISTORY.c.result == "accepted", HISTORY.c.offer_id.is_not(None)))))
# Do-not-disturb by number (migration 0005): the earliest one standing on any of the customer's numbers.
_NUMBER_DND = (select(func.min(DND_NUMBERS.c.since))
               .select_from(DND_NUMBERS.join(NUMBERS, NUMBERS.c.msisdn == DND_NUMBERS.c.msisdn))
               .where(NUMBERS.c.customer_id == bindparam("customer_id")))
_INSERT_DECISION = insert(Decision.__table__)
_INSERT_ACCESS = insert(CustomerAccess.__table__)
# PostgreSQL: the decision and its access-audit row in one statement (a pop stays two round trips).
_INSERT_DECISION_AND_ACCESS = text("""
    WITH decision AS (
      INSERT INTO decisions (decision_id, customer_id, agent_id, created_at, rules_version, offer_ids, channel,
                             campaign_id, wave, lease_id)
      VALUES (:decision_id, :customer_id, :agent_id, :created_at, :rules_version, :offer_ids, :channel,
              :campaign_id, :wave, :lease_id))
    INSERT INTO customer_access (at, agent_id, token_id, route, customer_id, decision_id)
    VALUES (:created_at, :agent_id, :token_id, :route, :customer_id, :decision_id)""").bindparams(
    bindparam("created_at", type_=Decision.__table__.c.created_at.type),
    bindparam("offer_ids", type_=Decision.__table__.c.offer_ids.type))
_STATS = (select(STATS.c.offer_id, STATS.c.responses, STATS.c.accepted)
          .where(STATS.c.segment == bindparam("segment")))


OUTBOUND_CHANNEL = "outbound_call"


@dataclass(frozen=True)
class OutboundCall:
    """The outbound call a pop is built for: a worklist lease's, or (lease_id None) one the agent makes
    outside the worklist for a campaign of theirs (a customer opened from search, a host's show_customer)."""

    campaign_id: str
    wave: int
    lease_id: str | None = None


class CustomerNotFound(LookupError):
    pass


class NotInCampaign(LookupError):
    """An outbound call outside the worklist for a campaign whose list does not hold the customer."""


class AmbiguousCaller(LookupError):
    """The number belongs to several customers (not retired): the agent must say which one is calling."""

    def __init__(self, msisdn: str, candidates: list[dict[str, Any]]) -> None:
        super().__init__(f"{msisdn} belongs to {len(candidates)} customers")
        self.msisdn, self.candidates = msisdn, candidates


def normalize_msisdn(raw: str) -> str:
    """Caller ids arrive as +86 138 0013 8000, 0086-13800138000, 13800138000 …; keep the national digits."""
    digits = re.sub(r"[^\d]", "", raw)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix):]
    return digits


def mask_msisdn(msisdn: str) -> str:
    return f"{msisdn[:3]}****{msisdn[-4:]}" if len(msisdn) >= 8 else msisdn


def fen_to_yuan(fen: int | None) -> float | None:
    return None if fen is None else round(fen / 100, 2)


def is_autopay(payment_method: str | None) -> bool | None:
    return None if payment_method is None else payment_method.startswith("autopay")


@dataclass(frozen=True)
class CustomerRecord:
    customer: Any  # a customers row (same attribute names as the Customer model)
    msisdns: list[str]
    matched_msisdn: str | None
    usage: list[Any]  # usage_monthly rows, newest first
    complaints: list[Any]  # complaints rows, newest first
    bills: list[Any] = field(default_factory=list)  # BillRow, newest first, up to BILLS_SHOWN
    subscriptions: list[Any] = field(default_factory=list)  # SubscriptionRow held today, by product id
    score: ScoreRow | None = None  # the operator's own model scores
    number_dnd_since: dt.datetime | None = None  # a do-not-disturb by number on one of their numbers

    @property
    def dnd(self) -> bool:
        """Do-not-disturb: asked by the customer, or by number (a caller without a pop, on a number of theirs)."""
        return bool(self.customer.dnd) or self.number_dnd_since is not None

    @property
    def dnd_since(self) -> dt.datetime | None:
        since = [t for t in (self.customer.dnd_since if self.customer.dnd else None, self.number_dnd_since) if t]
        return min(since) if since else None

    @property
    def churn_risk(self) -> float:
        """The operator's churn score when fed, else the customer row's."""
        if self.score is not None and self.score.churn_risk is not None:
            return self.score.churn_risk
        return self.customer.churn_risk


@dataclass(frozen=True)
class PopInputs:
    """Everything a pop reads from the database, before any rule runs."""

    record: CustomerRecord
    memberships: list[MemberRow]  # campaigns the customer is a member of, by campaign id
    history: list[HistoryRow]  # contacts in the lookback window, plus every accepted offer
    stats: dict[str, tuple[int, int]]  # offer_id -> (responses, accepted) for stats_segment
    stats_segment: str | None  # None: not read yet

    @property
    def campaign_ids(self) -> list[str]:
        return [m.campaign_id for m in self.memberships]


def _history_lookback(catalog: Catalog, rules: Rules, campaign_ids: Sequence[str]) -> dt.timedelta:
    """How far back contacts matter: the longest cap period of these campaigns or across campaigns, the
    refusal cool-down, the recent contacts shown, the repeat-call window."""
    periods = (days for c in campaign_ids if c in catalog.campaigns and catalog.campaigns[c].active
               for _, days in catalog.campaigns[c].caps.values())
    customer_periods = (days for _, days in catalog.customer_caps.values())
    return dt.timedelta(days=max(max(periods, default=0), max(customer_periods, default=0),
                                 rules.contact.refusal_cooldown_days, RECENT_CONTACT_DAYS, REPEAT_CALL_DAYS))


def _score(row: Any) -> ScoreRow | None:
    if row.score_customer_id is None:
        return None
    return ScoreRow(*(getattr(row, f"score_{name}") for name in _SCORE_FIELDS))


def _candidate(row: Any, msisdn: str) -> dict[str, Any]:
    """One owner of a shared number, as the 409 lists it (the agent asks which customer is calling)."""
    return {
        "customer_id": row.customer_id, "display_name": row.name or row.customer_id,
        "masked_msisdn": mask_msisdn(msisdn), "value_tier": row.value_tier, "city": row.city, "brand": row.brand,
        "plan_name": row.plan_name, "relation_kind": row.relation_kind, "group_name": row.group_name,
    }


def _owner(rows: Sequence[Any], msisdn: str) -> Any:
    if not rows:
        raise CustomerNotFound
    if len(rows) > 1:
        raise AmbiguousCaller(msisdn, [_candidate(r, msisdn) for r in sorted(rows, key=lambda r: r.customer_id)])
    return rows[0]


def read_inputs(conn: Connection, catalog: Catalog, rules: Rules, *, ani: str | None, customer_id: str | None,
                now: dt.datetime) -> PopInputs:
    """Statement by statement, in the caller's transaction: cheap on SQLite, where a query is a function call."""
    matched = None
    if customer_id:
        customer = conn.execute(_CUSTOMER_BY_ID, {"customer_id": customer_id}).first()
        if customer is None:
            raise CustomerNotFound
    else:
        matched = normalize_msisdn(ani or "")
        customer = _owner(conn.execute(_CUSTOMERS_BY_NUMBER, {"msisdn": matched}).all(), matched)
    key = {"customer_id": customer.customer_id}
    numbers = conn.execute(_NUMBERS, key).scalars().all()
    usage = conn.execute(_USAGE, key).all()
    bills = [BillRow(*row) for row in conn.execute(_BILLS, key)]
    subscriptions = [SubscriptionRow(*row) for row in conn.execute(_SUBSCRIPTIONS, {**key, "today": now.date()})]
    since = now - dt.timedelta(days=COMPLAINT_LOOKBACK_DAYS)
    complaints = conn.execute(_COMPLAINTS, {**key, "since": since}).all()
    memberships = [MemberRow(*row) for row in conn.execute(_MEMBERSHIPS, key)]
    history_since = now - _history_lookback(catalog, rules, [m.campaign_id for m in memberships])
    history = [HistoryRow(*row) for row in conn.execute(_HISTORY, {**key, "since": history_since})]
    number_dnd = conn.execute(_NUMBER_DND, key).scalar()  # func.min keeps the column's UtcDateTime type
    record = CustomerRecord(customer, list(numbers), matched, list(usage), list(complaints), bills,
                            subscriptions, _score(customer), number_dnd)
    return PopInputs(record, sorted(memberships, key=lambda m: m.campaign_id), history, {}, None)


# PostgreSQL: one statement reads the customer and, as JSON arrays, everything else a pop needs: a round trip
# to PostgreSQL costs more than the query itself (~10 statements were most of a pop's CPU on both sides).
_USAGE_FIELDS = ("month", "data_mb", "voice_min", "sms", "mms", "ringback_active", "ringback_fee_fen",
                 "roaming_data_mb", "roaming_voice_min", "bill_fen")
_COMPLAINT_FIELDS = ("complaint_id", "opened_at", "category", "status", "severity", "summary_zh", "summary_en")
UsageRow = namedtuple("UsageRow", _USAGE_FIELDS)  # attribute access as on a Row
ComplaintRow = namedtuple("ComplaintRow", _COMPLAINT_FIELDS)
# Segments the stats are read for in the same statement: text columns whose fact is the column's value.
_SEGMENT_COLUMNS = ("value_tier", "contract", "payment_method", "city", "gender", "plan_id", "preferred_channel")
_UTC_TEXT = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
_CANDIDATE_FIELDS = ("customer_id", "name", "value_tier", "city", "brand", "plan_name", "relation_kind", "group_name")
CandidateRow = namedtuple("CandidateRow", _CANDIDATE_FIELDS)


def _pg_inputs_statement(by_number: bool, segment_column: str | None):
    columns = ", ".join(f"c.{name}" for name in CUSTOMERS.c.keys())  # noqa: SIM118 - names, not columns
    scores = ", ".join(f"s.{name} AS score_{name}" for name in ("customer_id", *_SCORE_FIELDS))
    usage = ", ".join(f"u.{name}" for name in _USAGE_FIELDS)
    complaint = ", ".join(_UTC_TEXT.format("x.opened_at") if name == "opened_at" else f"x.{name}"
                          for name in _COMPLAINT_FIELDS)
    history = ", ".join(_UTC_TEXT.format("h.contacted_at") if name == "contacted_at" else f"h.{name}"
                        for name in _HISTORY_FIELDS)
    stats = (f"""(SELECT coalesce(json_agg(json_build_array(s.offer_id, s.responses, s.accepted)), '[]')
                  FROM offer_stats s WHERE s.segment = c.{segment_column})""" if segment_column else "NULL")
    if by_number:
        # The owners of the number that still pop, in code-point order like SQLite's; the first one's pop is
        # read, and when there are several the 409 lists them instead (no decision is recorded).
        owners = ", ".join(f"o.{name}" for name in _CANDIDATE_FIELDS)
        prefix = f"""WITH owners AS (
              SELECT {owners} FROM customer_numbers m JOIN customers o ON o.customer_id = m.customer_id
               WHERE m.msisdn = :msisdn AND o.retired_at IS NULL
               ORDER BY o.customer_id COLLATE "C" LIMIT {CANDIDATES_SHOWN})"""
        where = """c.customer_id = (SELECT customer_id FROM owners ORDER BY customer_id COLLATE "C" LIMIT 1)"""
        candidates = f"""CASE WHEN (SELECT count(*) FROM owners) > 1 THEN
              (SELECT json_agg(json_build_array({owners}) ORDER BY o.customer_id COLLATE "C") FROM owners o) END"""
    else:
        prefix, where, candidates = "", "c.customer_id = :customer_id", "NULL"
    sql = f"""{prefix}
        SELECT {columns}, {scores},
          (SELECT coalesce(json_agg(n.msisdn ORDER BY n.is_primary DESC, n.msisdn), '[]')
             FROM customer_numbers n WHERE n.customer_id = c.customer_id) AS pop_numbers,
          (SELECT coalesce(json_agg(json_build_array({usage}) ORDER BY u.month DESC), '[]')
             FROM (SELECT * FROM usage_monthly WHERE customer_id = c.customer_id ORDER BY month DESC LIMIT 3) u
          ) AS pop_usage,
          (SELECT coalesce(json_agg(json_build_array(b.month, b.amount_fen, b.paid_fen, b.due_on, b.paid_on, b.late)
                                    ORDER BY b.month DESC), '[]')
             FROM (SELECT * FROM bills WHERE customer_id = c.customer_id ORDER BY month DESC
                   LIMIT {BILLS_SHOWN}) b
          ) AS pop_bills,
          (SELECT coalesce(json_agg(json_build_array(p.product_id, p.name, p.category, p.since, p.until)
                                    ORDER BY p.product_id COLLATE "C"), '[]')
             FROM subscriptions p WHERE p.customer_id = c.customer_id AND (p.until IS NULL OR p.until >= :today)
          ) AS pop_subscriptions,
          (SELECT coalesce(json_agg(json_build_array({complaint}) ORDER BY x.opened_at DESC), '[]')
             FROM complaints x WHERE x.customer_id = c.customer_id AND x.opened_at >= :complaints_since
          ) AS pop_complaints,
          (SELECT coalesce(json_agg(json_build_array(g.campaign_id, g.wave, g.priority, g.reason)), '[]')
             FROM campaign_members g WHERE g.customer_id = c.customer_id) AS pop_members,
          (SELECT coalesce(json_agg(json_build_array({history})), '[]')
             FROM contact_history h WHERE h.customer_id = c.customer_id
              AND (h.contacted_at > :history_since OR (h.result = 'accepted' AND h.offer_id IS NOT NULL))
          ) AS pop_history,
          {stats} AS pop_stats,
          {candidates} AS pop_candidates,
          (SELECT min(d.since) FROM dnd_numbers d JOIN customer_numbers dn ON dn.msisdn = d.msisdn
            WHERE dn.customer_id = c.customer_id) AS pop_number_dnd
        FROM customers c LEFT JOIN customer_scores s ON s.customer_id = c.customer_id
        WHERE {where}"""
    score_columns = [column(f"score_{name}", SCORES.c[name].type) for name in ("customer_id", *_SCORE_FIELDS)]
    return text(sql).columns(*CUSTOMERS.c, *score_columns, *(column(name, JSON) for name in (
        "pop_numbers", "pop_usage", "pop_bills", "pop_subscriptions", "pop_complaints", "pop_members", "pop_history",
        "pop_stats", "pop_candidates")), column("pop_number_dnd", DND_NUMBERS.c.since.type))


_PG_STATEMENTS: dict[tuple[bool, str | None], Any] = {}


def _utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def read_inputs_postgresql(conn: Connection, catalog: Catalog, rules: Rules, *, ani: str | None,
                           customer_id: str | None, now: dt.datetime) -> PopInputs:
    segment_fact = rules.ranking.segment_fact
    segment_column = segment_fact if segment_fact in _SEGMENT_COLUMNS else None
    key = (not customer_id, segment_column)
    statement = _PG_STATEMENTS.get(key)
    if statement is None:
        statement = _PG_STATEMENTS[key] = _pg_inputs_statement(*key)
    matched = None if customer_id else normalize_msisdn(ani or "")
    row = conn.execute(statement, {
        "customer_id": customer_id, "msisdn": matched, "today": now.date(),
        "complaints_since": now - dt.timedelta(days=COMPLAINT_LOOKBACK_DAYS),
        # Every campaign's longest period: the rules later keep the contacts of this customer's campaigns.
        "history_since": now - _history_lookback(catalog, rules, list(catalog.campaigns)),
    }).first()
    if row is None:
        raise CustomerNotFound
    if row.pop_candidates:
        _owner([CandidateRow(*c) for c in row.pop_candidates], matched or "")
    complaints = [ComplaintRow(i, _utc(at), *rest) for i, at, *rest in row.pop_complaints]
    history = [HistoryRow(campaign, channel, offer, result, _utc(at), *rest)
               for campaign, channel, offer, result, at, *rest in row.pop_history]
    bills = [BillRow(month, amount, paid, _date(due), _date(paid_on), late)
             for month, amount, paid, due, paid_on, late in row.pop_bills]
    subscriptions = [SubscriptionRow(product, name, category, _date(since), _date(until))
                     for product, name, category, since, until in row.pop_subscriptions]
    record = CustomerRecord(row, row.pop_numbers, matched, [UsageRow(*u) for u in row.pop_usage], complaints,
                            bills, subscriptions, _score(row), row.pop_number_dnd)
    stats = {offer_id: (responses, accepted) for offer_id, responses, accepted in row.pop_stats or ()}
    segment = None if segment_column is None else getattr(row, segment_column)
    memberships = sorted((MemberRow(*m) for m in row.pop_members), key=lambda m: m.campaign_id)
    return PopInputs(record, memberships, history, stats, None if segment is None else str(segment))


def contract_months_left(contract_end: dt.date | None, today: dt.date) -> int | None:
    """Whole months from today until the contract ends (0 in its last month; negative once it has ended)."""
    if contract_end is None:
        return None
    months = (contract_end.year - today.year) * 12 + contract_end.month - today.month
    return months - 1 if contract_end.day < today.day else months


def customer_facts(record: CustomerRecord, now: dt.datetime, *, holds: Sequence[str] | None = None,
                   calls_7d: int = 0) -> dict[str, Any]:
    """The facts conditions name (rules file, catalog eligibility, audiences: vocabulary.FACTS).

    `holds`: product ids the customer holds (subscriptions and accepted offers; default: the subscriptions);
    `calls_7d`: inbound calls, IVR included, in the last 7 days.
    """
    c = record.customer
    latest = record.usage[0] if record.usage else None
    bill_change_ratio = None
    if len(record.usage) >= 3:
        before = (record.usage[1].bill_fen + record.usage[2].bill_fen) / 2
        if before > 0:
            bill_change_ratio = round(record.usage[0].bill_fen / before, 3)
    day90 = now - dt.timedelta(days=90)
    recent = [x for x in record.complaints if x.opened_at >= day90]
    churn_risk = record.churn_risk
    return {
        "tenure_months": c.tenure_months,
        "monthly_fee": fen_to_yuan(c.monthly_fee_fen),
        "value_tier": c.value_tier,
        "credit_score": c.credit_score,
        "star_level": c.star_level,
        "points": c.points,
        "brand": c.brand,
        "service_status": c.service_status,
        "balance": fen_to_yuan(c.balance_fen),
        "arrears": fen_to_yuan(c.arrears_fen),
        "contract": c.contract,
        "contract_months_left": contract_months_left(c.contract_end, now.date()),
        "relation_kind": c.relation_kind,
        "group_name": c.group_name,
        "city": c.city,
        "gender": c.gender,
        "payment_method": c.payment_method,
        "plan_id": c.plan_id,
        "holds": sorted(holds if holds is not None else (s.product_id for s in record.subscriptions)),
        "calls_7d": calls_7d,
        "churn_risk": churn_risk,
        "churn_risk_pct": round(100 * churn_risk),
        "segments": list(c.segments or []),
        "late_payments_6m": c.late_payments_6m,
        "bill_inquiries_3m": c.bill_inquiries_3m,
        "downgrades_12m": c.downgrades_12m,
        "bill_change_ratio": bill_change_ratio,
        "bill_change_pct": None if bill_change_ratio is None else round(100 * (bill_change_ratio - 1)),
        "complaints_90d": len(recent),
        "billing_complaints_90d": sum(1 for x in recent if x.category == "billing"),
        "open_complaints": sum(1 for x in record.complaints if x.status == "open"),
        "serious_complaints_180d": sum(1 for x in record.complaints if x.severity == "serious"),
        "marketing_complaints_180d": sum(1 for x in record.complaints if x.category == "marketing"),
        "data_mb": latest.data_mb if latest else 0,
        "data_gb": round(latest.data_mb / 1024, 1) if latest else 0,
        "voice_min": latest.voice_min if latest else 0,
        "roaming_mb": latest.roaming_data_mb if latest else 0,
        "roaming_min": latest.roaming_voice_min if latest else 0,
        "roaming_activity": sum(u.roaming_data_mb + u.roaming_voice_min for u in record.usage),
        "ringback_active": latest.ringback_active if latest else False,
        "payment_autopay": is_autopay(c.payment_method),
        "dnd": record.dnd,
        "dnd_since": record.dnd_since.date().isoformat() if record.dnd_since else None,
    }


@dataclass(frozen=True)
class ContactRecord:
    """What this customer's contact history means for the pop."""

    campaigns: dict[str, CampaignContext]  # active campaigns they are in, with their contacts per channel
    refusals: dict[str, dt.datetime]  # offer id -> last declined
    accepted_offers: frozenset[str]  # offers they ever accepted (held, like a subscription)
    customer_cap: CapState | None  # the binding cap across campaigns for this interaction's channel
    calls_7d: int
    recent: list[dict[str, Any]]  # contact.recent_contacts


def contact_times(rows: Sequence[HistoryRow]) -> list[dt.datetime]:
    """When each contact happened: the outcomes of one call (same call_id) are one contact, at its first."""
    times, calls = [], {}
    for row in rows:
        if row.call_id is None:
            times.append(row.contacted_at)
        elif row.call_id not in calls or row.contacted_at < calls[row.call_id]:
            calls[row.call_id] = row.contacted_at
    return sorted(times + list(calls.values()))


def counts_toward_caps(row: HistoryRow) -> bool:
    return row.purpose == "marketing" and row.result not in NON_CONTACT_RESULTS


def _recent_contacts(rows: Sequence[HistoryRow], policy: Any, now: dt.datetime) -> list[dict[str, Any]]:
    """The last contacts on every channel, newest first; the outcomes of one call are one entry (its most
    telling result, at its latest time)."""
    start = now - dt.timedelta(days=RECENT_CONTACT_DAYS)
    groups: dict[Any, list[HistoryRow]] = {}
    for n, row in enumerate(rows):
        if row.contacted_at > start:
            groups.setdefault(row.call_id if row.call_id is not None else ("row", n), []).append(row)

    def order(row: HistoryRow) -> tuple:  # a total order: both backends pick the same row
        return (row.contacted_at, *(("" if v is None else str(v)) for v in row))

    entries = []
    for group in groups.values():
        shown = max(group, key=lambda r: (_RESULT_WEIGHT.get(r.result or "", 1 if r.result else 0), order(r)))
        latest = max(r.contacted_at for r in group)
        # The shown outcome's topic, else the latest one the call has (rows arrive in any order).
        topic = shown.topic or max(((order(r), r.topic) for r in group if r.topic), default=(None, None))[1]
        entries.append((latest, order(shown), topic or "", {
            "channel": shown.channel,
            "channel_name": policy.channel_name(shown.channel),
            "at": latest,
            "purpose": shown.purpose,
            "topic": topic,
            "result": shown.result,
            "campaign_id": shown.campaign_id,
        }))
    entries.sort(key=lambda e: e[:3], reverse=True)
    return [entry for *_, entry in entries[:RECENT_CONTACTS]]


def contact_record(inputs: PopInputs, catalog: Catalog, rules: Rules, now: dt.datetime) -> ContactRecord:
    """One contact history serves the caps (per campaign and across campaigns), the refusal cool-down, the
    holdings, the repeat-caller count and the recent contacts."""
    members = {m.campaign_id: m for m in inputs.memberships}
    campaigns = [catalog.campaigns[c] for c in members if c in catalog.campaigns and catalog.campaigns[c].active]
    longest_period = max((days for c in campaigns for _, days in c.caps.values()), default=0)
    mine = {c.campaign_id for c in campaigns}
    cap_window_start = now - dt.timedelta(days=longest_period)
    refusal_start = now - dt.timedelta(days=rules.contact.refusal_cooldown_days)
    per_campaign: dict[str, dict[str, list[HistoryRow]]] = {}
    refusals: dict[str, dt.datetime] = {}
    marketing: list[HistoryRow] = []
    calls: list[HistoryRow] = []
    calls_start = now - dt.timedelta(days=REPEAT_CALL_DAYS)
    for row in inputs.history:
        if counts_toward_caps(row):
            marketing.append(row)
            if row.campaign_id in mine and row.contacted_at > cap_window_start:
                per_campaign.setdefault(row.campaign_id, {}).setdefault(row.channel, []).append(row)
        if row.result == "declined" and row.offer_id is not None and row.contacted_at > refusal_start:
            refusals[row.offer_id] = max(row.contacted_at, refusals.get(row.offer_id, row.contacted_at))
        if row.channel in CALL_CHANNELS and row.contacted_at > calls_start:
            calls.append(row)
    contexts = {}
    for c in campaigns:
        member = members[c.campaign_id]
        times = {channel: contact_times(rows) for channel, rows in per_campaign.get(c.campaign_id, {}).items()}
        contexts[c.campaign_id] = CampaignContext(
            c.campaign_id, c.name, c.waves, c.caps, c.inbound_may_serve_any_wave, times,
            member.wave, member.priority or 0, member.reason,
        )
    channel = rules.contact.interaction_channel
    caps = [window_cap(cap_channel, contact_times([r for r in marketing if cap_channel in (ANY_CHANNEL, r.channel)]),
                       max_contacts, period_days, now)
            for cap_channel, (max_contacts, period_days) in sorted(catalog.customer_caps.items())
            if cap_channel in (ANY_CHANNEL, channel)]
    accepted = frozenset(r.offer_id for r in inputs.history if r.result == "accepted" and r.offer_id is not None)
    return ContactRecord(contexts, refusals, accepted, binding_cap(caps), len(contact_times(calls)),
                         _recent_contacts(inputs.history, rules.contact, now))


def held_products(record: CustomerRecord, accepted_offers: frozenset[str], catalog: Catalog) -> list[str]:
    """Product ids the customer holds: subscriptions held today, and every offer they accepted (its product)."""
    held = {s.product_id for s in record.subscriptions}
    held.update(catalog.offers[o].product_key if o in catalog.offers else o for o in accepted_offers)
    return sorted(held)


def _stats(conn: Connection, segment: str) -> dict[str, tuple[int, int]]:
    rows = conn.execute(_STATS, {"segment": segment})
    return {offer_id: (responses, accepted) for offer_id, responses, accepted in rows}


def _candidates(catalog: Catalog, contexts: dict[str, CampaignContext], today: dt.date) -> list[OfferCandidate]:
    """Always-on offers, plus campaign offers of campaigns this customer is in (retired ones never)."""
    candidates = []
    for offer in catalog.offers.values():
        if not offer.active:
            continue
        campaign_ids = catalog.campaigns_by_offer.get(offer.offer_id, ())
        if campaign_ids:
            mine = [contexts[c] for c in campaign_ids if c in contexts]
            if not mine:
                continue
            # An offer in several of the customer's campaigns: the one targeting them now, then by priority.
            campaign = min(mine, key=lambda c: (c.outside_member_wave(today), -c.member_priority, c.campaign_id))
        else:
            campaign = None
        candidates.append(
            OfferCandidate(offer.offer_id, offer.category, offer.title, offer.script, offer.base_score,
                           offer.monthly_fee_delta_fen, campaign, offer.product_key, offer.eligibility)
        )
    return candidates


def _usage_view(u: Any) -> dict[str, Any]:
    return {
        "month": u.month,
        "data_mb": u.data_mb,
        "voice_min": u.voice_min,
        "sms": u.sms,
        "mms": u.mms,
        "ringback_active": u.ringback_active,
        "ringback_fee": fen_to_yuan(u.ringback_fee_fen),
        "roaming_data_mb": u.roaming_data_mb,
        "roaming_voice_min": u.roaming_voice_min,
        "bill": fen_to_yuan(u.bill_fen),
    }


def _names(table: Any, code: str | None) -> dict[str, str] | None:
    if code is None:
        return None
    names = table.get(code)
    return {"zh": names["zh"], "en": names["en"]} if names else {"zh": code, "en": code}


def _relation_view(c: Any) -> dict[str, Any] | None:
    if c.relation_kind is None and c.group_id is None and c.group_name is None:
        return None
    return {"kind": c.relation_kind, "kind_name": _names(RELATION_KIND_NAMES, c.relation_kind),
            "group_id": c.group_id, "group_name": c.group_name}


def _customer_view(record: CustomerRecord) -> dict[str, Any]:
    c = record.customer
    score = record.score
    return {
        "customer_id": c.customer_id,
        "name": c.name,
        "display_name": c.name or c.customer_id,
        "msisdns": record.msisdns,
        "matched_msisdn": record.matched_msisdn,
        "masked_msisdn": mask_msisdn(record.matched_msisdn or (record.msisdns[0] if record.msisdns else "")) or None,
        "gender": c.gender,
        "birth_year": c.birth_year,
        "city": c.city,
        "plan": {"plan_id": c.plan_id, "name": c.plan_name, "monthly_fee": fen_to_yuan(c.monthly_fee_fen)},
        "tenure_months": c.tenure_months,
        "contract": c.contract,
        "payment_method": c.payment_method,
        "total_charges": fen_to_yuan(c.total_charges_fen),
        "value_tier": c.value_tier,
        "credit_score": c.credit_score,
        "points": c.points,
        "segments": list(c.segments or []),
        "churn_risk": record.churn_risk,
        "usage": _usage_view(record.usage[0]) if record.usage else None,
        "usage_history": [_usage_view(u) for u in record.usage],
        "brand": c.brand,
        "service_status": c.service_status,
        "service_status_name": _names(SERVICE_STATUS_NAMES, c.service_status),
        "balance": fen_to_yuan(c.balance_fen),
        "arrears": fen_to_yuan(c.arrears_fen),
        "contract_end": c.contract_end,
        "account_manager": c.account_manager,
        "handset": c.handset,
        "star_level": c.star_level,
        "relation": _relation_view(c),
        "bills": [
            {"month": b.month, "amount": fen_to_yuan(b.amount_fen), "paid": fen_to_yuan(b.paid_fen),
             "due_on": b.due_on, "paid_on": b.paid_on, "late": bool(b.late)}
            for b in record.bills
        ],
        "subscriptions": [
            {"product_id": x.product_id, "name": x.name, "category": x.category, "since": x.since, "until": x.until}
            for x in record.subscriptions
        ],
        "retired": c.retired_at is not None,
        "churn_source": "operator_model" if score is not None and score.churn_risk is not None else "customer_feed",
        "scores": None if score is None else {"model": score.model, "scored_at": score.scored_at,
                                              "churn_reason": score.churn_reason},
    }


def _complaint_view(x: Any) -> dict[str, Any]:
    return {
        "complaint_id": x.complaint_id,
        "opened_at": x.opened_at,
        "category": x.category,
        "status": x.status,
        "severity": x.severity,
        "summary": {"zh": x.summary_zh or "", "en": x.summary_en or ""},
    }


def _offer_view(r: RankedOffer, rank: int | None, today: dt.date) -> dict[str, Any]:
    c = r.candidate
    wave = c.campaign.current_wave(today) if c.campaign else None
    return {
        "offer_id": c.offer_id,
        "rank": rank,
        "category": c.category,
        "title": {"zh": c.title.zh, "en": c.title.en},
        "script": {"zh": c.script.zh, "en": c.script.en},
        "reason": {"zh": r.reasons[0]["zh"], "en": r.reasons[0]["en"]},
        "reasons": r.reasons,
        "score": r.score,
        "acceptance": round(r.acceptance, 4),
        "responses": r.responses,
        "monthly_fee_delta": fen_to_yuan(c.monthly_fee_delta_fen),
        "campaign_id": c.campaign.campaign_id if c.campaign else None,
        "wave": wave.seq if wave else None,
        "suppressed": bool(r.suppressed_by),
        "suppressed_by": r.suppressed_by,
    }


def _cap_view(rules: Rules, cap: CapState) -> dict[str, Any]:
    return {
        "channel": cap.channel,
        "channel_name": rules.contact.channel_name(cap.channel),
        "used": cap.used,
        "max": cap.max,
        "period_days": cap.period_days,
        "next_eligible_at": cap.next_eligible_at,
    }


def _sensitivity_view(result: Any) -> dict[str, Any]:
    return {"level": result.level_name, "points": result.points, "reasons": result.reasons,
            "guidance": result.guidance, "source": result.source, "model": result.model}


def _contact_view(
    rules: Rules, record: CustomerRecord, ranked: Sequence[RankedOffer], contacts: ContactRecord, now: dt.datetime,
    serves: str | None = None,
) -> dict[str, Any]:
    policy = rules.contact
    contexts = contacts.campaigns
    # The campaign this call serves: the one it was made for (an outbound call of the worklist), else that of
    # the best pitchable campaign offer, else the first with a wave (the customer's wave first, then by their
    # priority in it).
    primary = contexts.get(serves) if serves else None
    if primary is None:
        primary = next((r.candidate.campaign for r in ranked if r.candidate.campaign and not r.suppressed_by), None)
    if primary is None:
        today = now.date()
        ordered = sorted(contexts.values(), key=lambda c: (c.current_wave(today) is None, c.outside_member_wave(today),
                                                            -c.member_priority, c.campaign_id))
        primary = ordered[0] if ordered else None
    c = record.customer
    customer_cap = contacts.customer_cap
    view: dict[str, Any] = {
        "channel": policy.interaction_channel,
        "campaign": None,
        "wave": None,
        "contacts_used": None,
        "contacts_max": None,
        "period_days": None,
        "caps": [],
        "other_campaign_ids": sorted(k for k in contexts if primary is None or k != primary.campaign_id),
        "preferred_channel": c.preferred_channel,
        "preferred_channel_name": policy.channel_name(c.preferred_channel) if c.preferred_channel else None,
        "dnd": record.dnd,
        "dnd_since": record.dnd_since,
        "eligible_now": not record.dnd,
        "next_eligible_at": None,
        "recent_contacts": contacts.recent,
        "calls_7d": contacts.calls_7d,
        "repeat_caller": contacts.calls_7d >= REPEAT_CALLS,
        "customer_cap": None if customer_cap is None else _cap_view(rules, customer_cap),
        "member": None,
    }
    if customer_cap is not None and customer_cap.reached:
        view["eligible_now"] = False
        view["next_eligible_at"] = customer_cap.next_eligible_at
    if primary is None:
        return view
    view["campaign"] = {"campaign_id": primary.campaign_id, "name": {"zh": primary.name.zh, "en": primary.name.en}}
    view["member"] = {"campaign_id": primary.campaign_id, "wave": primary.member_wave,
                      "priority": primary.member_priority, "reason": primary.member_reason}
    wave = primary.current_wave(now.date())
    if wave is not None:
        view["wave"] = {
            "seq": wave.seq,
            "of": len(primary.waves),
            "channel": wave.channel,
            "channel_name": policy.channel_name(wave.channel),
            "starts_on": wave.starts_on,
            "ends_on": wave.ends_on,
        }
    caps = [cap_state(primary, channel, now) for channel in sorted(primary.caps)]
    view["caps"] = [_cap_view(rules, cap) for cap in caps if cap is not None]
    mine = cap_state(primary, policy.interaction_channel, now)
    if mine is not None:
        view.update(contacts_used=mine.used, contacts_max=mine.max, period_days=mine.period_days)
        if mine.reached:
            view["eligible_now"] = False
            if view["next_eligible_at"] is None or mine.next_eligible_at > view["next_eligible_at"]:
                view["next_eligible_at"] = mine.next_eligible_at
    return view


def build_pop(
    session: Session,
    rules: Rules,
    catalog: Catalog,
    *,
    ani: str | None,
    customer_id: str | None,
    agent_id: str,
    token_id: str | None = None,
    now: dt.datetime | None = None,
    write_lock: contextlib.AbstractContextManager | None = None,
    outbound: OutboundCall | None = None,
) -> dict[str, Any]:
    """The pop document; CustomerNotFound for an unknown caller, AmbiguousCaller (no decision recorded) for a
    number several customers share. The decision is written with its access-audit row (services/audit.py).

    `outbound`: the pop of an outbound call, a worklist lease's (services/worklist.py) or one the agent makes
    for a campaign outside the worklist (no lease; NotInCampaign when the customer is not on its list): built
    for the outbound_call channel (its caps, its wave checks), serving that campaign, and its decision records
    channel, campaign, wave and lease, which outcomes answering it take as theirs."""
    now = now or dt.datetime.now(dt.UTC)
    if outbound is not None:
        rules = dataclasses.replace(rules, contact=rules.contact.for_channel(OUTBOUND_CHANNEL))
    write_lock = write_lock or contextlib.nullcontext()
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        if session.in_transaction():
            session.commit()  # the catalog was just (re)loaded on this session: its connection is not autocommit
        # Autocommit: the one read statement is its own snapshot and the decision insert commits alone,
        # so a pop costs two round trips (no BEGIN / ROLLBACK / COMMIT of their own).
        conn = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        inputs = read_inputs_postgresql(conn, catalog, rules, ani=ani, customer_id=customer_id, now=now)
    else:
        conn = session.connection()
        inputs = read_inputs(conn, catalog, rules, ani=ani, customer_id=customer_id, now=now)
    record = inputs.record
    contacts = contact_record(inputs, catalog, rules, now)
    facts = rules.fact_sheet(customer_facts(record, now, holds=held_products(record, contacts.accepted_offers, catalog),
                                            calls_7d=contacts.calls_7d))
    score = record.score or ScoreRow(*(None,) * len(_SCORE_FIELDS))
    price = operator_sensitivity(rules, rules.price, assess_sensitivity(rules.price, facts), "price",
                                 score.price_level, score.model, score.price_reason, facts)
    complaint = operator_sensitivity(rules, rules.complaint, assess_sensitivity(rules.complaint, facts), "complaint",
                                     score.complaint_level, score.model, score.complaint_reason, facts)
    facts.update(
        price_level=price.level, price_level_name=price.level_name,
        complaint_level=complaint.level, complaint_level_name=complaint.level_name,
    )
    segment = str(facts.get(rules.ranking.segment_fact))
    stats = inputs.stats if inputs.stats_segment == segment else _stats(conn, segment)
    if not postgresql:
        session.rollback()  # end the read transaction: a SQLite write must not upgrade a stale snapshot
    contexts = contacts.campaigns
    if outbound is not None and outbound.lease_id is None and outbound.campaign_id not in contexts:
        raise NotInCampaign(outbound.campaign_id)  # before any decision is written
    ranked = rank_offers(rules, facts, _candidates(catalog, contexts, now.date()), stats, contacts.refusals, now,
                         customer_cap=contacts.customer_cap)
    decision_id = str(uuid.uuid4())
    decision = {
        "decision_id": decision_id, "customer_id": record.customer.customer_id, "agent_id": agent_id,
        "created_at": now, "rules_version": rules.version, "offer_ids": [r.candidate.offer_id for r in ranked],
        "channel": None, "campaign_id": None, "wave": None, "lease_id": None,
    }
    route = "pop"
    if outbound is not None:
        decision.update(channel=OUTBOUND_CHANNEL, campaign_id=outbound.campaign_id, wave=outbound.wave,
                        lease_id=outbound.lease_id)
        route = "worklist" if outbound.lease_id is not None else "pop"
    with write_lock:
        if postgresql:
            session.execute(_INSERT_DECISION_AND_ACCESS, {**decision, "token_id": token_id, "route": route})
        else:
            session.execute(_INSERT_DECISION, decision)
            session.execute(_INSERT_ACCESS, {"at": now, "agent_id": agent_id, "token_id": token_id, "route": route,
                                             "customer_id": decision["customer_id"], "decision_id": decision_id})
        session.commit()
    complaints = sorted(record.complaints, key=lambda x: (x.status != "open", -x.opened_at.timestamp()))
    pitchable = 0
    offers = []
    for r in ranked:
        rank = None
        if not r.suppressed_by:
            pitchable += 1
            rank = pitchable
        offers.append(_offer_view(r, rank, now.date()))
    return {
        "api_version": "1",
        "decision_id": decision_id,
        "generated_at": now,
        "rules_version": rules.version,
        "customer": _customer_view(record),
        "sensitivity": {
            "price": _sensitivity_view(price),
            "complaint": {**_sensitivity_view(complaint),
                          "recent_complaints": [_complaint_view(x) for x in complaints]},
        },
        "offers": offers,
        "contact": _contact_view(rules, record, ranked, contacts, now,
                                 outbound.campaign_id if outbound is not None else None),
    }


__all__ = ["LEVEL_NAMES", "OUTBOUND_CHANNEL", "AmbiguousCaller", "CustomerNotFound", "NotInCampaign", "OutboundCall", "build_pop", "customer_facts", "mask_msisdn",
           "normalize_msisdn"]
