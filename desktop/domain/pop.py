"""The screen-pop document (GET /v1/pop, resources/openapi/server-v1.json) as frozen dataclasses.

Field names equal the JSON names, so `document_to_json` / `parse_pop` round-trip (the local cache stores
documents that way). Required: what the panel cannot show without (ids, names, levels, offer texts, DND);
everything else defaults when absent so a leaner or newer v1 server still pops.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from desktop.domain._json import Fields
from desktop.domain.errors import MalformedResponse

API_VERSION = "1"
LEVELS = ("none", "low", "medium", "high")


@dataclass(frozen=True)
class LocalText:
    zh: str
    en: str

    def pick(self, lang: str) -> str:
        """'zh_CN' (or any zh*) → Chinese, otherwise English; falls back to the other when one is empty."""
        first, second = (self.zh, self.en) if lang.lower().startswith("zh") else (self.en, self.zh)
        return first or second


@dataclass(frozen=True)
class Reason:
    """Why an offer ranks or is suppressed, or why a sensitivity level was assessed."""

    code: str
    zh: str
    en: str
    kind: str | None = None

    @property
    def text(self) -> LocalText:
        return LocalText(self.zh, self.en)

    def pick(self, lang: str) -> str:
        return self.text.pick(lang)


@dataclass(frozen=True)
class Plan:
    plan_id: str | None = None
    name: str | None = None
    monthly_fee: float | None = None


@dataclass(frozen=True)
class Usage:
    month: str
    data_mb: int = 0
    voice_min: int = 0
    sms: int = 0
    mms: int = 0
    ringback_active: bool = False
    ringback_fee: float | None = None
    roaming_data_mb: int = 0
    roaming_voice_min: int = 0
    bill: float | None = None


SERVICE_STATUSES = ("normal", "suspended", "arrears_suspended", "closed")
RELATION_KINDS = ("primary_card", "secondary_card", "family_member", "group_member")


@dataclass(frozen=True)
class Relation:
    """Household or group membership: 主副卡, 家庭, 集团成员 (with the group's name)."""

    kind: str
    kind_name: LocalText | None = None
    group_id: str | None = None
    group_name: str | None = None


@dataclass(frozen=True)
class Bill:
    month: str
    amount: float | None = None
    paid: float | None = None
    due_on: dt.date | None = None
    paid_on: dt.date | None = None
    late: bool = False

    @property
    def unpaid(self) -> float:
        """What is still owed on this bill (0 when paid in full or unknown)."""
        if self.amount is None or self.paid is None:
            return 0.0
        return max(0.0, round(self.amount - self.paid, 2))


@dataclass(frozen=True)
class Subscription:
    """A product or service the customer already holds (add-on, 彩铃, roaming pack, autopay …)."""

    product_id: str
    name: str | None = None
    category: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None


@dataclass(frozen=True)
class OperatorScores:
    """The operator's own model scores (they take precedence over the rules' derivation)."""

    model: str | None = None
    scored_at: dt.datetime | None = None
    churn_reason: LocalText | None = None


@dataclass(frozen=True)
class Customer:
    customer_id: str
    display_name: str
    value_tier: str
    name: str | None = None
    msisdns: tuple[str, ...] = ()
    matched_msisdn: str | None = None
    masked_msisdn: str | None = None
    gender: str | None = None
    birth_year: int | None = None
    city: str | None = None
    plan: Plan = Plan()
    tenure_months: int = 0
    contract: str | None = None
    payment_method: str | None = None
    total_charges: float | None = None
    credit_score: int | None = None
    points: int = 0
    segments: tuple[str, ...] = ()
    churn_risk: float = 0.0
    usage: Usage | None = None
    usage_history: tuple[Usage, ...] = ()
    # Feed fields (all optional: an older server sends none of them).
    brand: str | None = None
    service_status: str | None = None
    service_status_name: LocalText | None = None
    balance: float | None = None
    arrears: float | None = None
    contract_end: dt.date | None = None
    account_manager: str | None = None
    handset: str | None = None
    star_level: int | None = None
    relation: Relation | None = None
    bills: tuple[Bill, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    retired: bool = False
    churn_source: str | None = None  # "operator_model" | "customer_feed"
    scores: OperatorScores | None = None

    @property
    def service_normal(self) -> bool:
        """Normal service (or not said): no 停机 / 欠费停机 / 销户 to warn about."""
        return self.service_status in (None, "", "normal")

    @property
    def usage_months(self) -> tuple[Usage, ...]:
        """Up to three months of usage, newest first (the last month alone from an older server)."""
        if self.usage_history:
            return tuple(sorted(self.usage_history, key=lambda u: u.month, reverse=True)[:3])
        return (self.usage,) if self.usage is not None else ()


@dataclass(frozen=True)
class Complaint:
    complaint_id: int
    opened_at: dt.datetime
    category: str
    status: str
    severity: str
    summary: LocalText


@dataclass(frozen=True)
class SensitivityAssessment:
    """Price or complaint sensitivity; `recent_complaints` is filled for the complaint one only."""

    level: str
    reasons: tuple[Reason, ...]
    guidance: LocalText
    points: int = 0
    recent_complaints: tuple[Complaint, ...] = ()
    source: str = "rules"  # "operator_model" when the level is the operator's own score
    model: str | None = None


@dataclass(frozen=True)
class Sensitivity:
    price: SensitivityAssessment
    complaint: SensitivityAssessment


@dataclass(frozen=True)
class Offer:
    offer_id: str
    category: str
    title: LocalText
    script: LocalText
    reason: LocalText
    rank: int | None = None
    reasons: tuple[Reason, ...] = ()
    score: float = 0.0
    acceptance: float = 0.0
    responses: int = 0
    monthly_fee_delta: float | None = None
    campaign_id: str | None = None
    wave: int | None = None
    suppressed: bool = False
    suppressed_by: tuple[Reason, ...] = ()

    @property
    def pitchable(self) -> bool:
        return not self.suppressed_by


@dataclass(frozen=True)
class CampaignRef:
    campaign_id: str
    name: LocalText


@dataclass(frozen=True)
class Wave:
    seq: int
    of: int
    channel: str
    channel_name: LocalText
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None


@dataclass(frozen=True)
class ContactCap:
    channel: str
    channel_name: LocalText
    used: int
    max: int
    period_days: int
    next_eligible_at: dt.datetime | None = None


@dataclass(frozen=True)
class RecentContact:
    """One contact with the customer on any channel (IVR, SMS, app, store, a call …), newest first."""

    channel: str
    channel_name: LocalText
    at: dt.datetime
    purpose: str | None = None  # "marketing" | "service"
    topic: LocalText | None = None
    result: str | None = None
    campaign_id: str | None = None


@dataclass(frozen=True)
class CampaignMember:
    """Why this customer is on the target list of the campaign this call serves (the analyst's text)."""

    campaign_id: str
    wave: int | None = None
    priority: int | None = None
    reason: LocalText | None = None


@dataclass(frozen=True)
class ContactGuidance:
    dnd: bool
    channel: str = "inbound_call"
    campaign: CampaignRef | None = None
    wave: Wave | None = None
    contacts_used: int | None = None
    contacts_max: int | None = None
    period_days: int | None = None
    caps: tuple[ContactCap, ...] = ()
    other_campaign_ids: tuple[str, ...] = ()
    preferred_channel: str | None = None
    preferred_channel_name: LocalText | None = None
    dnd_since: dt.datetime | None = None
    eligible_now: bool = True
    next_eligible_at: dt.datetime | None = None
    recent_contacts: tuple[RecentContact, ...] = ()
    calls_7d: int = 0
    repeat_caller: bool = False
    customer_cap: ContactCap | None = None
    member: CampaignMember | None = None


@dataclass(frozen=True)
class PopDocument:
    api_version: str
    decision_id: str
    generated_at: dt.datetime
    customer: Customer
    sensitivity: Sensitivity
    offers: tuple[Offer, ...]
    contact: ContactGuidance
    rules_version: str = ""

    def offer(self, offer_id: str) -> Offer | None:
        return next((o for o in self.offers if o.offer_id == offer_id), None)

    @property
    def pitchable_offers(self) -> tuple[Offer, ...]:
        return tuple(o for o in self.offers if o.pitchable)

    @property
    def suppressed_offers(self) -> tuple[Offer, ...]:
        return tuple(o for o in self.offers if not o.pitchable)


@dataclass(frozen=True)
class CallerCandidate:
    """One of the customers sharing the caller's number (HTTP 409 ambiguous_caller): the agent asks who
    is calling and chooses. No full number: only the masked one."""

    customer_id: str
    display_name: str
    masked_msisdn: str | None = None
    value_tier: str | None = None
    city: str | None = None
    brand: str | None = None
    plan_name: str | None = None
    relation_kind: str | None = None
    group_name: str | None = None


@dataclass(frozen=True)
class CustomerSummary:
    """One hit of GET /v1/customers (search when the number is withheld or wrong)."""

    customer_id: str
    display_name: str
    value_tier: str
    msisdns: tuple[str, ...] = ()
    city: str | None = None


# --- parsing -----------------------------------------------------------------------------------------


def _local_text(f: Fields) -> LocalText:
    return LocalText(f.string("zh"), f.string("en"))


def _reason(f: Fields) -> Reason:
    return Reason(code=f.string("code"), zh=f.string("zh"), en=f.string("en"), kind=f.opt_string("kind"))


def _plan(f: Fields) -> Plan:
    return Plan(f.opt_string("plan_id"), f.opt_string("name"), f.opt_number("monthly_fee"))


def _usage(f: Fields) -> Usage:
    return Usage(
        month=f.string("month"),
        data_mb=f.integer("data_mb", 0),
        voice_min=f.integer("voice_min", 0),
        sms=f.integer("sms", 0),
        mms=f.integer("mms", 0),
        ringback_active=f.boolean("ringback_active", False),
        ringback_fee=f.opt_number("ringback_fee"),
        roaming_data_mb=f.integer("roaming_data_mb", 0),
        roaming_voice_min=f.integer("roaming_voice_min", 0),
        bill=f.opt_number("bill"),
    )


def _text(f: Fields, name: str) -> LocalText | None:
    """A free text the operator's feed supplies: one string (shown in both languages), or {zh, en}."""
    value = f.data.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return LocalText(value, value) if value.strip() else None
    return f.obj(name, _local_text)


def _relation(f: Fields) -> Relation:
    return Relation(
        kind=f.string("kind"),
        kind_name=f.opt_obj("kind_name", _local_text),
        group_id=f.opt_string("group_id"),
        group_name=f.opt_string("group_name"),
    )


def _bill(f: Fields) -> Bill:
    return Bill(
        month=f.string("month"),
        amount=f.opt_number("amount"),
        paid=f.opt_number("paid"),
        due_on=f.opt_date("due_on"),
        paid_on=f.opt_date("paid_on"),
        late=f.boolean("late", False),
    )


def _subscription(f: Fields) -> Subscription:
    return Subscription(
        product_id=f.string("product_id"),
        name=f.opt_string("name"),
        category=f.opt_string("category"),
        since=f.opt_date("since"),
        until=f.opt_date("until"),
    )


def _scores(f: Fields) -> OperatorScores:
    return OperatorScores(model=f.opt_string("model"), scored_at=f.opt_datetime("scored_at"),
                          churn_reason=_text(f, "churn_reason"))


def _customer(f: Fields) -> Customer:
    return Customer(
        customer_id=f.string("customer_id"),
        display_name=f.string("display_name"),
        value_tier=f.string("value_tier"),
        name=f.opt_string("name"),
        msisdns=f.strings("msisdns"),
        matched_msisdn=f.opt_string("matched_msisdn"),
        masked_msisdn=f.opt_string("masked_msisdn"),
        gender=f.opt_string("gender"),
        birth_year=f.opt_integer("birth_year"),
        city=f.opt_string("city"),
        plan=f.opt_obj("plan", _plan) or Plan(),
        tenure_months=f.integer("tenure_months", 0),
        contract=f.opt_string("contract"),
        payment_method=f.opt_string("payment_method"),
        total_charges=f.opt_number("total_charges"),
        credit_score=f.opt_integer("credit_score"),
        points=f.integer("points", 0),
        segments=f.strings("segments"),
        churn_risk=f.number("churn_risk"),
        usage=f.opt_obj("usage", _usage),
        usage_history=f.items("usage_history", _usage),
        brand=f.opt_string("brand"),
        service_status=f.opt_string("service_status"),
        service_status_name=f.opt_obj("service_status_name", _local_text),
        balance=f.opt_number("balance"),
        arrears=f.opt_number("arrears"),
        contract_end=f.opt_date("contract_end"),
        account_manager=f.opt_string("account_manager"),
        handset=f.opt_string("handset"),
        star_level=f.opt_integer("star_level"),
        relation=f.opt_obj("relation", _relation),
        bills=f.items("bills", _bill),
        subscriptions=f.items("subscriptions", _subscription),
        retired=f.boolean("retired", False),
        churn_source=f.opt_string("churn_source"),
        scores=f.opt_obj("scores", _scores),
    )


def _complaint(f: Fields) -> Complaint:
    return Complaint(
        complaint_id=f.integer("complaint_id"),
        opened_at=f.datetime("opened_at"),
        category=f.string("category"),
        status=f.string("status"),
        severity=f.string("severity"),
        summary=f.obj("summary", _local_text),
    )


def _assessment(f: Fields) -> SensitivityAssessment:
    return SensitivityAssessment(
        level=f.choice("level", LEVELS),
        reasons=f.items("reasons", _reason, required=True),
        guidance=f.obj("guidance", _local_text),
        points=f.integer("points", 0),
        recent_complaints=f.items("recent_complaints", _complaint),
        source=f.opt_string("source") or "rules",
        model=f.opt_string("model"),
    )


def _sensitivity(f: Fields) -> Sensitivity:
    return Sensitivity(price=f.obj("price", _assessment), complaint=f.obj("complaint", _assessment))


def _offer(f: Fields) -> Offer:
    suppressed_by = f.items("suppressed_by", _reason, required=True)
    return Offer(
        offer_id=f.string("offer_id"),
        category=f.string("category"),
        title=f.obj("title", _local_text),
        script=f.obj("script", _local_text),
        reason=f.obj("reason", _local_text),
        rank=f.opt_integer("rank"),
        reasons=f.items("reasons", _reason),
        score=f.number("score"),
        acceptance=f.number("acceptance"),
        responses=f.integer("responses", 0),
        monthly_fee_delta=f.opt_number("monthly_fee_delta"),
        campaign_id=f.opt_string("campaign_id"),
        wave=f.opt_integer("wave"),
        suppressed=f.boolean("suppressed", bool(suppressed_by)),
        suppressed_by=suppressed_by,
    )


def _campaign_ref(f: Fields) -> CampaignRef:
    return CampaignRef(f.string("campaign_id"), f.obj("name", _local_text))


def _wave(f: Fields) -> Wave:
    return Wave(
        seq=f.integer("seq"),
        of=f.integer("of"),
        channel=f.string("channel"),
        channel_name=f.obj("channel_name", _local_text),
        starts_on=f.opt_date("starts_on"),
        ends_on=f.opt_date("ends_on"),
    )


def _cap(f: Fields) -> ContactCap:
    return ContactCap(
        channel=f.string("channel"),
        channel_name=f.obj("channel_name", _local_text),
        used=f.integer("used"),
        max=f.integer("max"),
        period_days=f.integer("period_days"),
        next_eligible_at=f.opt_datetime("next_eligible_at"),
    )


def _recent_contact(f: Fields) -> RecentContact:
    return RecentContact(
        channel=f.string("channel"),
        channel_name=f.opt_obj("channel_name", _local_text) or LocalText(f.string("channel"), f.string("channel")),
        at=f.datetime("at"),
        purpose=f.opt_string("purpose"),
        topic=_text(f, "topic"),
        result=f.opt_string("result"),
        campaign_id=f.opt_string("campaign_id"),
    )


def _member(f: Fields) -> CampaignMember:
    return CampaignMember(
        campaign_id=f.string("campaign_id"),
        wave=f.opt_integer("wave"),
        priority=f.opt_integer("priority"),
        reason=_text(f, "reason"),
    )


def _contact(f: Fields) -> ContactGuidance:
    dnd = f.boolean("dnd")
    return ContactGuidance(
        dnd=dnd,
        channel=f.opt_string("channel") or "inbound_call",
        campaign=f.opt_obj("campaign", _campaign_ref),
        wave=f.opt_obj("wave", _wave),
        contacts_used=f.opt_integer("contacts_used"),
        contacts_max=f.opt_integer("contacts_max"),
        period_days=f.opt_integer("period_days"),
        caps=f.items("caps", _cap),
        other_campaign_ids=f.strings("other_campaign_ids"),
        preferred_channel=f.opt_string("preferred_channel"),
        preferred_channel_name=f.opt_obj("preferred_channel_name", _local_text),
        dnd_since=f.opt_datetime("dnd_since"),
        eligible_now=f.boolean("eligible_now", not dnd),
        next_eligible_at=f.opt_datetime("next_eligible_at"),
        recent_contacts=f.items("recent_contacts", _recent_contact),
        calls_7d=f.integer("calls_7d", 0),
        repeat_caller=f.boolean("repeat_caller", False),
        customer_cap=f.opt_obj("customer_cap", _cap),
        member=f.opt_obj("member", _member),
    )


def parse_pop(data: Any) -> PopDocument:
    """Validate and convert a GET /v1/pop body; raises MalformedResponse naming the first bad field."""
    f = Fields(data, "")
    version = f.string("api_version")
    if version != API_VERSION:
        raise MalformedResponse(f"api_version is {version[:40]!r}; this panel understands version {API_VERSION}")
    decision_id = f.string("decision_id")
    if not decision_id:
        raise MalformedResponse("decision_id is empty")
    return PopDocument(
        api_version=version,
        decision_id=decision_id,
        generated_at=f.datetime("generated_at"),
        rules_version=f.opt_string("rules_version") or "",
        customer=f.obj("customer", _customer),
        sensitivity=f.obj("sensitivity", _sensitivity),
        offers=f.items("offers", _offer, required=True),
        contact=f.obj("contact", _contact),
    )


def _summary(f: Fields) -> CustomerSummary:
    return CustomerSummary(
        customer_id=f.string("customer_id"),
        display_name=f.string("display_name"),
        value_tier=f.string("value_tier"),
        msisdns=f.strings("msisdns"),
        city=f.opt_string("city"),
    )


def parse_customer_search(data: Any) -> list[CustomerSummary]:
    """GET /v1/customers body → summaries."""
    return list(Fields(data, "").items("items", _summary, required=True))


def _candidate(f: Fields) -> CallerCandidate:
    customer_id = f.string("customer_id")
    if not customer_id:
        raise MalformedResponse(f"{f.at('customer_id')} is empty")
    return CallerCandidate(
        customer_id=customer_id,
        display_name=f.opt_string("display_name") or customer_id,
        masked_msisdn=f.opt_string("masked_msisdn"),
        value_tier=f.opt_string("value_tier"),
        city=f.opt_string("city"),
        brand=f.opt_string("brand"),
        plan_name=f.opt_string("plan_name"),
        relation_kind=f.opt_string("relation_kind"),
        group_name=f.opt_string("group_name"),
    )


def parse_candidates(data: Any) -> tuple[CallerCandidate, ...]:
    """The `details` of a 409 ambiguous_caller answer: the customers sharing the number (at least two,
    distinct ids). Raises MalformedResponse naming the bad field."""
    f = Fields(data, "")
    error = f.obj("error", lambda e: e)
    candidates = error.items("details", _candidate, required=True)
    ids = [c.customer_id for c in candidates]
    if len(ids) < 2:
        raise MalformedResponse(f"error.details should name at least two customers, got {len(ids)}")
    if len(set(ids)) != len(ids):
        raise MalformedResponse("error.details names a customer twice")
    return candidates


# --- serialising (for the local cache) ---------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_to_json(v) for v in value]
    return value


def document_to_json(document: PopDocument) -> dict[str, Any]:
    """JSON-ready dict that `parse_pop` reads back into an equal document."""
    return _to_json(document)
