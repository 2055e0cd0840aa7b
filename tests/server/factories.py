"""Small, explicit server data for rule and API tests (the seed generator is tested on its own)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from server_stub.db.models import (
    Bill,
    Campaign,
    CampaignMember,
    CampaignOffer,
    Complaint,
    ContactCap,
    ContactHistory,
    Customer,
    CustomerCap,
    CustomerNumber,
    CustomerScore,
    Offer,
    Subscription,
    UsageMonth,
    Wave,
)

NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.date()

OFFERS = [
    # offer_id, category, base score, fee delta (fen), name zh / en (as a carrier's catalog names them)
    ("PLAN-5G-199", "plan", 0.30, 6000, "5G畅享199元套餐", "5G Unlimited 199 plan"),
    ("ADDON-DATA-20G", "add-on", 0.40, 2000, "20GB流量加油包", "20 GB data add-on"),
    ("RBT-CLASSIC", "ringback", 0.25, 500, "经典彩铃", "Classic ringback tone"),
    ("ROAM-ASIA-7D", "roaming", 0.35, 3000, "亚洲7天漫游包", "Asia roaming, 7 days"),
    ("CARE-CHECKUP", "care", 0.50, 0, "套餐体检", "Plan check-up"),
    ("RET-DISCOUNT-20", "retention", 0.45, -2000, "老客户月减20元", "Loyalty discount ¥20 a month"),
    ("PAY-AUTOPAY", "payment", 0.30, 0, "银行卡自动缴费", "Autopay by bank card"),
    ("CAMP-FAMILY-PLAN", "plan", 0.35, 4000, "家庭融合套餐", "Family bundle plan"),
]


def add_catalog(session: Session, *, wave_channel: str = "inbound_call", inbound_any: bool = False,
                inbound_cap: int = 2) -> None:
    for offer_id, category, score, fee, name_zh, name_en in OFFERS:
        session.add(Offer(
            offer_id=offer_id, category=category, title_zh=name_zh, title_en=name_en,
            script_zh=f"您好，根据您最近的使用情况，为您推荐{name_zh}。", script_en=f"Based on how you use your line, "
            f"may I suggest the {name_en}?", monthly_fee_delta_fen=fee,
            base_score=score, active=True, created_at=NOW,
        ))
    session.add(Campaign(campaign_id="CMP-FAMILY", name_zh="家庭融合", name_en="Family bundle",
                         inbound_may_serve_any_wave=inbound_any, active=True))
    session.flush()
    session.add(CampaignOffer(campaign_id="CMP-FAMILY", offer_id="CAMP-FAMILY-PLAN"))
    session.add_all([
        Wave(campaign_id="CMP-FAMILY", seq=1, channel="sms", starts_on=TODAY - dt.timedelta(days=20),
             ends_on=TODAY - dt.timedelta(days=8)),
        Wave(campaign_id="CMP-FAMILY", seq=2, channel=wave_channel, starts_on=TODAY - dt.timedelta(days=7),
             ends_on=TODAY + dt.timedelta(days=7)),
        Wave(campaign_id="CMP-FAMILY", seq=3, channel="outbound_call", starts_on=TODAY + dt.timedelta(days=8),
             ends_on=TODAY + dt.timedelta(days=20)),
        ContactCap(campaign_id="CMP-FAMILY", channel="inbound_call", max_contacts=inbound_cap, period_days=30),
        ContactCap(campaign_id="CMP-FAMILY", channel="sms", max_contacts=4, period_days=30),
    ])
    session.commit()


def add_customer(session: Session, customer_id: str, msisdn: str | None = None, *, name: str = "张伟",
                 campaign: bool = True, bills=(12900, 12900, 12900), roaming_mb: int = 0,
                 complaints: list[tuple[str, str, str, int]] = (), **fields) -> Customer:
    """complaints: (category, status, severity, days ago)."""
    values = dict(
        customer_id=customer_id, name=name, gender="M", city="广州", plan_id="P129", plan_name="5G畅享 129元",
        monthly_fee_fen=12900, tenure_months=36, contract="month_to_month", payment_method="wechat",
        value_tier="gold", credit_score=720, points=3200, segments=["family"], churn_risk=0.2,
        late_payments_6m=0, bill_inquiries_3m=0, downgrades_12m=0, preferred_channel="sms", dnd=False,
        attributes={}, updated_at=NOW,
    )
    values.update(fields)
    customer = Customer(**values)
    session.add(customer)
    session.flush()
    if msisdn:
        session.add(CustomerNumber(msisdn=msisdn, customer_id=customer_id, is_primary=True))
    months = [(TODAY.replace(day=1) - dt.timedelta(days=1 + 31 * i)).strftime("%Y-%m") for i in range(3)]
    for month, bill in zip(months, bills, strict=True):
        session.add(UsageMonth(customer_id=customer_id, month=month, data_mb=15000, voice_min=300, sms=20, mms=1,
                               ringback_active=False, ringback_fee_fen=0, roaming_data_mb=roaming_mb,
                               roaming_voice_min=0, bill_fen=bill))
    for category, status, severity, days_ago in complaints:
        session.add(Complaint(customer_id=customer_id, opened_at=NOW - dt.timedelta(days=days_ago),
                              category=category, status=status, severity=severity,
                              summary_zh=f"{category} 投诉", summary_en=f"{category} complaint"))
    if campaign:
        session.add(CampaignMember(campaign_id="CMP-FAMILY", customer_id=customer_id))
    session.commit()
    return customer


def add_contacts(session: Session, customer_id: str, days_ago: list[float], channel: str = "inbound_call",
                 campaign_id: str | None = "CMP-FAMILY", result: str | None = "considering",
                 offer_id: str | None = None, *, purpose: str = "marketing", topic: str | None = None,
                 call_id: str | None = None, external_id: str | None = None) -> None:
    """Contacts as the contacts feed (or an outcome) stores them; days_ago may be fractional."""
    for days in days_ago:
        session.add(ContactHistory(customer_id=customer_id, campaign_id=campaign_id, wave=2 if campaign_id else None,
                                   channel=channel, offer_id=offer_id, result=result, purpose=purpose, topic=topic,
                                   call_id=call_id, external_id=external_id,
                                   contacted_at=NOW - dt.timedelta(days=days)))
    session.commit()


def add_number(session: Session, msisdn: str, customer_id: str, *, is_primary: bool = False) -> None:
    session.add(CustomerNumber(msisdn=msisdn, customer_id=customer_id, is_primary=is_primary))
    session.commit()


def add_bills(session: Session, customer_id: str, bills: list[tuple[str, int, int, bool]]) -> None:
    """bills: (month YYYY-MM, amount fen, paid fen, late); due on the 20th of the next month."""
    for month, amount, paid, late in bills:
        year, mon = map(int, month.split("-"))
        due = dt.date(year + mon // 12, mon % 12 + 1, 20)
        session.add(Bill(customer_id=customer_id, month=month, amount_fen=amount, paid_fen=paid, due_on=due,
                         paid_on=(due + dt.timedelta(days=9 if late else -3)) if paid else None, late=late))
    session.commit()


def add_subscription(session: Session, customer_id: str, product_id: str, *, name: str | None = None,
                     category: str | None = "add-on", since: dt.date | None = None,
                     until: dt.date | None = None) -> None:
    session.add(Subscription(customer_id=customer_id, product_id=product_id, name=name or f"{product_id} 产品",
                             category=category, since=since or TODAY - dt.timedelta(days=100), until=until))
    session.commit()


def add_score(session: Session, customer_id: str, **fields) -> None:
    values = dict(model="churn-xgb-2026.11", scored_at=NOW - dt.timedelta(days=1))
    values.update(fields)
    session.add(CustomerScore(customer_id=customer_id, **values))
    session.commit()


def add_customer_cap(session: Session, channel: str, max_contacts: int, period_days: int) -> None:
    session.add(CustomerCap(channel=channel, max_contacts=max_contacts, period_days=period_days))
    session.commit()


def set_member(session: Session, customer_id: str, campaign_id: str = "CMP-FAMILY", **fields) -> None:
    """Set wave / priority / reason / source of an existing membership."""
    session.execute(update(CampaignMember).where(CampaignMember.campaign_id == campaign_id,
                                                 CampaignMember.customer_id == customer_id).values(**fields))
    session.commit()


def set_offer(session: Session, offer_id: str, **fields) -> None:
    """Change a catalog offer (product_id, eligibility, retired_at, active …); the test app reloads the catalog
    on every request."""
    session.execute(update(Offer).where(Offer.offer_id == offer_id).values(**fields))
    session.commit()


def set_campaign(session: Session, campaign_id: str, **fields) -> None:
    session.execute(update(Campaign).where(Campaign.campaign_id == campaign_id).values(**fields))
    session.commit()


OUTBOUND = "CMP-OUT"  # add_outbound_campaign: a campaign whose outbound wave 2 runs today


def add_outbound_campaign(session: Session, campaign_id: str = OUTBOUND, *, offers=("RET-DISCOUNT-20",),
                          calling_hours: list[str] | None = None, time_zone: str | None = None,
                          max_attempts: int | None = None, retry: dict | None = None,
                          agents: list[str] | None = None, teams: list[str] | None = None,
                          outbound_cap: int | None = None) -> None:
    """A campaign of `offers` whose wave 2 (of 2) runs on outbound_call today; calling hours default to the
    whole day so tests do not depend on the clock (None keeps the feed's defaults: give [] for that)."""
    session.add(Campaign(campaign_id=campaign_id, name_zh="客户挽留外呼", name_en="Retention calls",
                         inbound_may_serve_any_wave=False, active=True,
                         calling_hours=["00:00-24:00"] if calling_hours is None else (calling_hours or None),
                         time_zone=time_zone))
    session.flush()
    for offer_id in offers:
        session.add(CampaignOffer(campaign_id=campaign_id, offer_id=offer_id))
    session.add_all([
        Wave(campaign_id=campaign_id, seq=1, channel="sms", starts_on=TODAY - dt.timedelta(days=20),
             ends_on=TODAY - dt.timedelta(days=8)),
        Wave(campaign_id=campaign_id, seq=2, channel="outbound_call", starts_on=TODAY - dt.timedelta(days=7),
             ends_on=TODAY + dt.timedelta(days=7), max_attempts=max_attempts, retry=retry, assigned_agents=agents,
             assigned_teams=teams),
    ])
    if outbound_cap is not None:
        session.add(ContactCap(campaign_id=campaign_id, channel="outbound_call", max_contacts=outbound_cap,
                               period_days=30))
    session.commit()


def add_member(session: Session, customer_id: str, campaign_id: str = OUTBOUND, *, priority: int = 0,
               reason: str | None = None, wave: int | None = None) -> None:
    session.add(CampaignMember(campaign_id=campaign_id, customer_id=customer_id, priority=priority, reason=reason,
                               wave=wave, source="test", added_at=NOW))
    session.commit()
