"""GET /v1/pop: everything one screen pop shows, in one round trip, with a decision id to answer."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, bindparam, column, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from server_stub.db.models import (
    CampaignMember,
    Complaint,
    ContactHistory,
    Customer,
    CustomerNumber,
    Decision,
    OfferStat,
    UsageMonth,
)
from server_stub.domain.rules import (
    LEVEL_NAMES,
    CampaignContext,
    OfferCandidate,
    RankedOffer,
    Rules,
    assess_sensitivity,
    cap_state,
    rank_offers,
)
from server_stub.services.catalog import Catalog

# Core statements on the tables (not ORM entities): a pop reads a handful of rows and builds a document,
# so identity-map bookkeeping would be most of its cost.
CUSTOMERS = Customer.__table__
NUMBERS = CustomerNumber.__table__
USAGE = UsageMonth.__table__
COMPLAINTS = Complaint.__table__

MEMBERS = CampaignMember.__table__
HISTORY = ContactHistory.__table__
STATS = OfferStat.__table__

# Built once: a pop runs these with new parameter values only (no per-request statement construction).
_CUSTOMER_BY_ID = select(CUSTOMERS).where(CUSTOMERS.c.customer_id == bindparam("customer_id"))
_CUSTOMER_BY_NUMBER = (select(CUSTOMERS).join(NUMBERS, NUMBERS.c.customer_id == CUSTOMERS.c.customer_id)
                       .where(NUMBERS.c.msisdn == bindparam("msisdn")))
_NUMBERS = (select(NUMBERS.c.msisdn).where(NUMBERS.c.customer_id == bindparam("customer_id"))
            .order_by(NUMBERS.c.is_primary.desc(), NUMBERS.c.msisdn))
_USAGE = (select(USAGE).where(USAGE.c.customer_id == bindparam("customer_id"))
          .order_by(USAGE.c.month.desc()).limit(3))
_COMPLAINTS = (select(COMPLAINTS)
               .where(COMPLAINTS.c.customer_id == bindparam("customer_id"), COMPLAINTS.c.opened_at >= bindparam("since"))
               .order_by(COMPLAINTS.c.opened_at.desc()))
_MEMBERSHIPS = select(MEMBERS.c.campaign_id).where(MEMBERS.c.customer_id == bindparam("customer_id"))
_HISTORY = (select(HISTORY.c.campaign_id, HISTORY.c.channel, HISTORY.c.offer_id, HISTORY.c.result,
                   HISTORY.c.contacted_at)
            .where(HISTORY.c.customer_id == bindparam("customer_id"), HISTORY.c.contacted_at > bindparam("since")))
_INSERT_DECISION = insert(Decision.__table__)
_STATS = (select(STATS.c.offer_id, STATS.c.responses, STATS.c.accepted)
          .where(STATS.c.segment == bindparam("segment")))

COMPLAINT_LOOKBACK_DAYS = 180
# Contact results that count against contact caps ("频次"); a call where nothing was offered does not.
CONTACT_RESULTS = ("accepted", "declined", "considering", "callback", "do_not_disturb")


class CustomerNotFound(LookupError):
    pass


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


@dataclass(frozen=True)
class PopInputs:
    """Everything a pop reads from the database, before any rule runs."""

    record: CustomerRecord
    campaign_ids: list[str]  # campaigns the customer is a member of
    history: list[tuple[str | None, str, str | None, str | None, dt.datetime]]  # campaign, channel, offer, result, at
    stats: dict[str, tuple[int, int]]  # offer_id -> (responses, accepted) for stats_segment
    stats_segment: str | None  # None: not read yet


def _history_lookback(catalog: Catalog, rules: Rules, campaign_ids: Sequence[str]) -> dt.timedelta:
    """How far back contacts matter: the longest cap period of these campaigns, or the refusal cool-down."""
    periods = (days for c in campaign_ids if c in catalog.campaigns and catalog.campaigns[c].active
               for _, days in catalog.campaigns[c].caps.values())
    return dt.timedelta(days=max(max(periods, default=0), rules.contact.refusal_cooldown_days))


def read_inputs(conn: Connection, catalog: Catalog, rules: Rules, *, ani: str | None, customer_id: str | None,
                now: dt.datetime) -> PopInputs:
    """Statement by statement, in the caller's transaction: cheap on SQLite, where a query is a function call."""
    matched = None
    if customer_id:
        customer = conn.execute(_CUSTOMER_BY_ID, {"customer_id": customer_id}).first()
    else:
        matched = normalize_msisdn(ani or "")
        customer = conn.execute(_CUSTOMER_BY_NUMBER, {"msisdn": matched}).first()
    if customer is None:
        raise CustomerNotFound
    key = {"customer_id": customer.customer_id}
    numbers = conn.execute(_NUMBERS, key).scalars().all()
    usage = conn.execute(_USAGE, key).all()
    since = now - dt.timedelta(days=COMPLAINT_LOOKBACK_DAYS)
    complaints = conn.execute(_COMPLAINTS, {**key, "since": since}).all()
    campaign_ids = list(conn.execute(_MEMBERSHIPS, key).scalars())
    history_since = now - _history_lookback(catalog, rules, campaign_ids)
    history = [tuple(row) for row in conn.execute(_HISTORY, {**key, "since": history_since})]
    record = CustomerRecord(customer, list(numbers), matched, list(usage), list(complaints))
    return PopInputs(record, campaign_ids, history, {}, None)


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


def _pg_inputs_statement(by_number: bool, segment_column: str | None):
    columns = ", ".join(f"c.{name}" for name in CUSTOMERS.c.keys())  # noqa: SIM118 - names, not columns
    usage = ", ".join(f"u.{name}" for name in _USAGE_FIELDS)
    complaint = ", ".join(_UTC_TEXT.format("x.opened_at") if name == "opened_at" else f"x.{name}"
                          for name in _COMPLAINT_FIELDS)
    stats = (f"""(SELECT coalesce(json_agg(json_build_array(s.offer_id, s.responses, s.accepted)), '[]')
                  FROM offer_stats s WHERE s.segment = c.{segment_column})""" if segment_column else "NULL")
    source = ("customers c JOIN customer_numbers m ON m.customer_id = c.customer_id WHERE m.msisdn = :msisdn"
              if by_number else "customers c WHERE c.customer_id = :customer_id")
    sql = f"""
        SELECT {columns},
          (SELECT coalesce(json_agg(n.msisdn ORDER BY n.is_primary DESC, n.msisdn), '[]')
             FROM customer_numbers n WHERE n.customer_id = c.customer_id) AS pop_numbers,
          (SELECT coalesce(json_agg(json_build_array({usage}) ORDER BY u.month DESC), '[]')
             FROM (SELECT * FROM usage_monthly WHERE customer_id = c.customer_id ORDER BY month DESC LIMIT 3) u
          ) AS pop_usage,
          (SELECT coalesce(json_agg(json_build_array({complaint}) ORDER BY x.opened_at DESC), '[]')
             FROM complaints x WHERE x.customer_id = c.customer_id AND x.opened_at >= :complaints_since
          ) AS pop_complaints,
          (SELECT coalesce(json_agg(g.campaign_id), '[]')
             FROM campaign_members g WHERE g.customer_id = c.customer_id) AS pop_campaigns,
          (SELECT coalesce(json_agg(json_build_array(h.campaign_id, h.channel, h.offer_id, h.result,
                                                     {_UTC_TEXT.format("h.contacted_at")})), '[]')
             FROM contact_history h WHERE h.customer_id = c.customer_id AND h.contacted_at > :history_since
          ) AS pop_history,
          {stats} AS pop_stats
        FROM {source}"""
    return text(sql).columns(*CUSTOMERS.c, column("pop_numbers", JSON), column("pop_usage", JSON),
                             column("pop_complaints", JSON), column("pop_campaigns", JSON),
                             column("pop_history", JSON), column("pop_stats", JSON))


_PG_STATEMENTS: dict[tuple[bool, str | None], Any] = {}


def _utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


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
        "customer_id": customer_id, "msisdn": matched,
        "complaints_since": now - dt.timedelta(days=COMPLAINT_LOOKBACK_DAYS),
        # Every campaign's longest period: the rules later keep the contacts of this customer's campaigns.
        "history_since": now - _history_lookback(catalog, rules, list(catalog.campaigns)),
    }).first()
    if row is None:
        raise CustomerNotFound
    complaints = [ComplaintRow(i, _utc(at), *rest) for i, at, *rest in row.pop_complaints]
    history = [(campaign, channel, offer, result, _utc(at)) for campaign, channel, offer, result, at in row.pop_history]
    record = CustomerRecord(row, row.pop_numbers, matched, [UsageRow(*u) for u in row.pop_usage], complaints)
    stats = {offer_id: (responses, accepted) for offer_id, responses, accepted in row.pop_stats or ()}
    segment = None if segment_column is None else getattr(row, segment_column)
    return PopInputs(record, row.pop_campaigns, history, stats, None if segment is None else str(segment))


def customer_facts(record: CustomerRecord, now: dt.datetime) -> dict[str, Any]:
    c = record.customer
    latest = record.usage[0] if record.usage else None
    bill_change_ratio = None
    if len(record.usage) >= 3:
        before = (record.usage[1].bill_fen + record.usage[2].bill_fen) / 2
        if before > 0:
            bill_change_ratio = round(record.usage[0].bill_fen / before, 3)
    day90 = now - dt.timedelta(days=90)
    recent = [x for x in record.complaints if x.opened_at >= day90]
    return {
        "tenure_months": c.tenure_months,
        "monthly_fee": fen_to_yuan(c.monthly_fee_fen),
        "value_tier": c.value_tier,
        "credit_score": c.credit_score,
        "points": c.points,
        "churn_risk": c.churn_risk,
        "churn_risk_pct": round(100 * c.churn_risk),
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
        "dnd": c.dnd,
        "dnd_since": c.dnd_since.date().isoformat() if c.dnd_since else None,
    }


@dataclass(frozen=True)
class ContactRecord:
    """This customer's campaign contexts (with contacts per channel) and recent refusals per offer."""

    campaigns: dict[str, CampaignContext]
    refusals: dict[str, dt.datetime]


def contact_record(inputs: PopInputs, catalog: Catalog, rules: Rules, now: dt.datetime) -> ContactRecord:
    """One contact history serves both the contact caps and the refusal cool-down."""
    campaigns = [catalog.campaigns[c] for c in inputs.campaign_ids
                 if c in catalog.campaigns and catalog.campaigns[c].active]
    longest_period = max((days for c in campaigns for _, days in c.caps.values()), default=0)
    mine = {c.campaign_id for c in campaigns}
    cap_window_start = now - dt.timedelta(days=longest_period)
    refusal_start = now - dt.timedelta(days=rules.contact.refusal_cooldown_days)
    times: dict[str, dict[str, list[dt.datetime]]] = {}
    refusals: dict[str, dt.datetime] = {}
    for campaign_id, channel, offer_id, result, contacted_at in inputs.history:
        if campaign_id in mine and result in CONTACT_RESULTS and contacted_at > cap_window_start:
            times.setdefault(campaign_id, {}).setdefault(channel, []).append(contacted_at)
        if result == "declined" and offer_id is not None and contacted_at > refusal_start:
            refusals[offer_id] = max(contacted_at, refusals.get(offer_id, contacted_at))
    contexts = {
        c.campaign_id: CampaignContext(
            c.campaign_id, c.name, c.waves, c.caps, c.inbound_may_serve_any_wave, times.get(c.campaign_id, {})
        )
        for c in campaigns
    }
    return ContactRecord(contexts, refusals)


def _stats(conn: Connection, segment: str) -> dict[str, tuple[int, int]]:
    rows = conn.execute(_STATS, {"segment": segment})
    return {offer_id: (responses, accepted) for offer_id, responses, accepted in rows}


def _candidates(catalog: Catalog, contexts: dict[str, CampaignContext]) -> list[OfferCandidate]:
    """Always-on offers, plus campaign offers of campaigns this customer is in."""
    candidates = []
    for offer in catalog.offers.values():
        if not offer.active:
            continue
        campaign_ids = catalog.campaigns_by_offer.get(offer.offer_id, ())
        if campaign_ids:
            mine = [contexts[c] for c in campaign_ids if c in contexts]
            if not mine:
                continue
            campaign = mine[0]
        else:
            campaign = None
        candidates.append(
            OfferCandidate(offer.offer_id, offer.category, offer.title, offer.script, offer.base_score,
                           offer.monthly_fee_delta_fen, campaign)
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


def _customer_view(record: CustomerRecord) -> dict[str, Any]:
    c = record.customer
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
        "churn_risk": c.churn_risk,
        "usage": _usage_view(record.usage[0]) if record.usage else None,
        "usage_history": [_usage_view(u) for u in record.usage],
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


def _contact_view(
    rules: Rules, record: CustomerRecord, ranked: Sequence[RankedOffer], contexts: dict[str, CampaignContext],
    now: dt.datetime,
) -> dict[str, Any]:
    policy = rules.contact
    # The campaign this call serves: that of the best pitchable campaign offer, else the first with a wave.
    primary = next((r.candidate.campaign for r in ranked if r.candidate.campaign and not r.suppressed_by), None)
    if primary is None:
        ordered = sorted(contexts.values(), key=lambda c: (c.current_wave(now.date()) is None, c.campaign_id))
        primary = ordered[0] if ordered else None
    c = record.customer
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
        "dnd": c.dnd,
        "dnd_since": c.dnd_since,
        "eligible_now": not c.dnd,
        "next_eligible_at": None,
    }
    if primary is None:
        return view
    view["campaign"] = {"campaign_id": primary.campaign_id, "name": {"zh": primary.name.zh, "en": primary.name.en}}
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
    view["caps"] = [
        {
            "channel": cap.channel,
            "channel_name": policy.channel_name(cap.channel),
            "used": cap.used,
            "max": cap.max,
            "period_days": cap.period_days,
            "next_eligible_at": cap.next_eligible_at,
        }
        for cap in caps
        if cap is not None
    ]
    mine = cap_state(primary, policy.interaction_channel, now)
    if mine is not None:
        view.update(contacts_used=mine.used, contacts_max=mine.max, period_days=mine.period_days)
        if mine.reached:
            view["eligible_now"] = False
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
    now: dt.datetime | None = None,
    write_lock: contextlib.AbstractContextManager | None = None,
) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
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
    record, facts = inputs.record, rules.fact_sheet(customer_facts(inputs.record, now))
    price = assess_sensitivity(rules.price, facts)
    complaint = assess_sensitivity(rules.complaint, facts)
    facts.update(
        price_level=price.level, price_level_name=price.level_name,
        complaint_level=complaint.level, complaint_level_name=complaint.level_name,
    )
    segment = str(facts.get(rules.ranking.segment_fact))
    stats = inputs.stats if inputs.stats_segment == segment else _stats(conn, segment)
    if not postgresql:
        session.rollback()  # end the read transaction: a SQLite write must not upgrade a stale snapshot
    contacts = contact_record(inputs, catalog, rules, now)
    contexts = contacts.campaigns
    ranked = rank_offers(rules, facts, _candidates(catalog, contexts), stats, contacts.refusals, now)
    decision_id = str(uuid.uuid4())
    with write_lock:
        session.execute(_INSERT_DECISION, {
            "decision_id": decision_id, "customer_id": record.customer.customer_id, "agent_id": agent_id,
            "created_at": now, "rules_version": rules.version,
            "offer_ids": [r.candidate.offer_id for r in ranked],
        })
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
            "price": {"level": price.level_name, "points": price.points, "reasons": price.reasons,
                      "guidance": price.guidance},
            "complaint": {"level": complaint.level_name, "points": complaint.points, "reasons": complaint.reasons,
                          "guidance": complaint.guidance,
                          "recent_complaints": [_complaint_view(x) for x in complaints]},
        },
        "offers": offers,
        "contact": _contact_view(rules, record, ranked, contexts, now),
    }


__all__ = ["LEVEL_NAMES", "CustomerNotFound", "build_pop", "mask_msisdn", "normalize_msisdn"]
