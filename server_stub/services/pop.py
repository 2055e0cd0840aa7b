"""GET /v1/pop: everything one screen pop shows, in one round trip, with a decision id to answer."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
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
    customer: Customer
    msisdns: list[str]
    matched_msisdn: str | None
    usage: list[UsageMonth]  # newest first
    complaints: list[Complaint]  # newest first


def find_customer(session: Session, *, ani: str | None, customer_id: str | None) -> tuple[Customer, str | None]:
    matched = None
    if customer_id:
        customer = session.get(Customer, customer_id)
    else:
        matched = normalize_msisdn(ani or "")
        customer = session.scalar(
            select(Customer).join(CustomerNumber).where(CustomerNumber.msisdn == matched)
        )
    if customer is None:
        raise CustomerNotFound
    return customer, matched


def load_record(session: Session, customer: Customer, matched: str | None, now: dt.datetime) -> CustomerRecord:
    numbers = session.execute(
        select(CustomerNumber.msisdn)
        .where(CustomerNumber.customer_id == customer.customer_id)
        .order_by(CustomerNumber.is_primary.desc(), CustomerNumber.msisdn)
    ).scalars().all()
    usage = session.scalars(
        select(UsageMonth)
        .where(UsageMonth.customer_id == customer.customer_id)
        .order_by(UsageMonth.month.desc())
        .limit(3)
    ).all()
    complaints = session.scalars(
        select(Complaint)
        .where(
            Complaint.customer_id == customer.customer_id,
            Complaint.opened_at >= now - dt.timedelta(days=COMPLAINT_LOOKBACK_DAYS),
        )
        .order_by(Complaint.opened_at.desc())
    ).all()
    return CustomerRecord(customer, list(numbers), matched, list(usage), list(complaints))


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
        "roaming_mb": latest.roaming_data_mb if latest else 0,
        "roaming_min": latest.roaming_voice_min if latest else 0,
        "roaming_activity": sum(u.roaming_data_mb + u.roaming_voice_min for u in record.usage),
        "ringback_active": latest.ringback_active if latest else False,
        "payment_autopay": is_autopay(c.payment_method),
        "dnd": c.dnd,
        "dnd_since": c.dnd_since.date().isoformat() if c.dnd_since else None,
    }


def _campaign_contexts(
    session: Session, catalog: Catalog, customer_id: str, now: dt.datetime
) -> dict[str, CampaignContext]:
    member_of = session.scalars(
        select(CampaignMember.campaign_id).where(CampaignMember.customer_id == customer_id)
    ).all()
    campaigns = [catalog.campaigns[c] for c in member_of if c in catalog.campaigns and catalog.campaigns[c].active]
    if not campaigns:
        return {}
    longest_period = max((days for c in campaigns for _, days in c.caps.values()), default=30)
    times: dict[str, dict[str, list[dt.datetime]]] = {}
    rows = session.execute(
        select(ContactHistory.campaign_id, ContactHistory.channel, ContactHistory.contacted_at).where(
            ContactHistory.customer_id == customer_id,
            ContactHistory.campaign_id.in_([c.campaign_id for c in campaigns]),
            ContactHistory.contacted_at > now - dt.timedelta(days=longest_period),
            ContactHistory.result.in_(CONTACT_RESULTS),
        )
    )
    for campaign_id, channel, contacted_at in rows:
        times.setdefault(campaign_id, {}).setdefault(channel, []).append(contacted_at)
    return {
        c.campaign_id: CampaignContext(
            c.campaign_id, c.name, c.waves, c.caps, c.inbound_may_serve_any_wave, times.get(c.campaign_id, {})
        )
        for c in campaigns
    }


def _refusals(session: Session, customer_id: str, rules: Rules, now: dt.datetime) -> dict[str, dt.datetime]:
    rows = session.execute(
        select(ContactHistory.offer_id, func.max(ContactHistory.contacted_at))
        .where(
            ContactHistory.customer_id == customer_id,
            ContactHistory.result == "declined",
            ContactHistory.offer_id.is_not(None),
            ContactHistory.contacted_at > now - dt.timedelta(days=rules.contact.refusal_cooldown_days),
        )
        .group_by(ContactHistory.offer_id)
    )
    return {offer_id: when for offer_id, when in rows}


def _stats(session: Session, segment: str) -> dict[str, tuple[int, int]]:
    rows = session.execute(
        select(OfferStat.offer_id, OfferStat.responses, OfferStat.accepted).where(OfferStat.segment == segment)
    )
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


def _usage_view(u: UsageMonth) -> dict[str, Any]:
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


def _complaint_view(x: Complaint) -> dict[str, Any]:
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
) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    customer, matched = find_customer(session, ani=ani, customer_id=customer_id)
    record = load_record(session, customer, matched, now)
    facts = customer_facts(record, now)
    price = assess_sensitivity(rules.price, facts)
    complaint = assess_sensitivity(rules.complaint, facts)
    facts.update(
        price_level=price.level, price_level_name=price.level_name,
        complaint_level=complaint.level, complaint_level_name=complaint.level_name,
    )
    contexts = _campaign_contexts(session, catalog, customer.customer_id, now)
    ranked = rank_offers(
        rules,
        facts,
        _candidates(catalog, contexts),
        _stats(session, str(facts.get(rules.ranking.segment_fact))),
        _refusals(session, customer.customer_id, rules, now),
        now,
    )
    decision_id = str(uuid.uuid4())
    session.add(
        Decision(
            decision_id=decision_id,
            customer_id=customer.customer_id,
            agent_id=agent_id,
            created_at=now,
            rules_version=rules.version,
            offer_ids=[r.candidate.offer_id for r in ranked],
        )
    )
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
