"""Response and request shapes of API v1 (they generate the committed OpenAPI contract)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from server_stub.services.outcomes import ItemStatus, OutcomeIn

Level = Literal["none", "low", "medium", "high"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalText(Strict):
    zh: str
    en: str


class Reason(Strict):
    code: str
    kind: str | None = None
    zh: str
    en: str


class ErrorBody(Strict):
    code: str = Field(description="Stable machine-readable code, e.g. customer_not_found.")
    message: str = Field(description="Plain-language explanation (English).")
    details: list[dict[str, Any]] | None = None


class ErrorResponse(Strict):
    error: ErrorBody


class Plan(Strict):
    plan_id: str | None
    name: str | None
    monthly_fee: float | None = Field(description="Yuan per month.")


class Usage(Strict):
    month: str = Field(description="YYYY-MM")
    data_mb: int
    voice_min: int
    sms: int
    mms: int
    ringback_active: bool = Field(description="彩铃 subscribed.")
    ringback_fee: float | None
    roaming_data_mb: int
    roaming_voice_min: int
    bill: float | None = Field(description="Yuan.")


class CustomerView(Strict):
    customer_id: str
    name: str | None
    display_name: str
    msisdns: list[str]
    matched_msisdn: str | None
    masked_msisdn: str | None = Field(description="The number to show, e.g. 138****8000.")
    gender: str | None
    birth_year: int | None
    city: str | None
    plan: Plan
    tenure_months: int
    contract: str | None
    payment_method: str | None
    total_charges: float | None
    value_tier: str
    credit_score: int | None
    points: int
    segments: list[str]
    churn_risk: float
    usage: Usage | None = Field(description="The latest complete month.")
    usage_history: list[Usage] = Field(description="Up to three months, newest first.")


class ComplaintView(Strict):
    complaint_id: int
    opened_at: dt.datetime
    category: str
    status: str
    severity: str
    summary: LocalText


class PriceSensitivity(Strict):
    level: Level
    points: int
    reasons: list[Reason]
    guidance: LocalText


class ComplaintSensitivity(PriceSensitivity):
    recent_complaints: list[ComplaintView] = Field(description="Last 180 days, open ones first.")


class Sensitivity(Strict):
    price: PriceSensitivity
    complaint: ComplaintSensitivity


class OfferView(Strict):
    offer_id: str
    rank: int | None = Field(description="1 = pitch first; null when suppressed.")
    category: str
    title: LocalText
    script: LocalText
    reason: LocalText = Field(description="The main reason it is ranked here.")
    reasons: list[Reason]
    score: float
    acceptance: float = Field(description="Smoothed observed acceptance for the customer's segment.")
    responses: int
    monthly_fee_delta: float | None
    campaign_id: str | None
    wave: int | None
    suppressed: bool
    suppressed_by: list[Reason] = Field(description="Why the agent should not pitch it; empty if pitchable.")


class CampaignRef(Strict):
    campaign_id: str
    name: LocalText


class WaveView(Strict):
    seq: int
    of: int
    channel: str
    channel_name: LocalText
    starts_on: dt.date
    ends_on: dt.date


class CapView(Strict):
    channel: str
    channel_name: LocalText
    used: int
    max: int
    period_days: int
    next_eligible_at: dt.datetime | None


class ContactView(Strict):
    channel: str = Field(description="The channel of this interaction (an inbound call).")
    campaign: CampaignRef | None
    wave: WaveView | None
    contacts_used: int | None
    contacts_max: int | None
    period_days: int | None
    caps: list[CapView]
    other_campaign_ids: list[str]
    preferred_channel: str | None
    preferred_channel_name: LocalText | None
    dnd: bool
    dnd_since: dt.datetime | None
    eligible_now: bool
    next_eligible_at: dt.datetime | None


class PopDocument(Strict):
    api_version: Literal["1"]
    decision_id: str
    generated_at: dt.datetime
    rules_version: str
    customer: CustomerView
    sensitivity: Sensitivity
    offers: list[OfferView]
    contact: ContactView


OutcomeItem = Annotated[Any, WithJsonSchema(OutcomeIn.model_json_schema())]


class OutcomeBatch(Strict):
    outcomes: list[OutcomeItem] = Field(
        min_length=1,
        max_length=500,
        description="Items are checked one by one: a bad item is rejected with a reason, the rest are stored.",
    )


class OutcomeItemResult(Strict):
    index: int = Field(description="Position of the item in the request.")
    outcome_id: str | None
    status: ItemStatus
    reason: str | None


class OutcomeBatchResult(Strict):
    results: list[OutcomeItemResult]
    accepted: int
    duplicate: int
    rejected: int


class CustomerSummary(Strict):
    customer_id: str
    display_name: str
    msisdns: list[str]
    value_tier: str
    city: str | None


class CustomerSearchResult(Strict):
    items: list[CustomerSummary]


class OfferInfo(Strict):
    offer_id: str
    category: str
    title: LocalText
    script: LocalText
    monthly_fee_delta: float | None
    base_score: float
    active: bool
    campaign_ids: list[str]


class OfferList(Strict):
    items: list[OfferInfo]


class CampaignInfo(Strict):
    campaign_id: str
    name: LocalText
    active: bool
    inbound_may_serve_any_wave: bool
    waves: list[WaveView]
    caps: list[CapView]
    offer_ids: list[str]
    current_wave: int | None


class CampaignList(Strict):
    items: list[CampaignInfo]


class Health(Strict):
    status: Literal["ok", "degraded"]
    api_version: Literal["1"]
    server_version: str
    rules_version: str
    database: Literal["ok", "unreachable"]


class Me(Strict):
    agent_id: str
    role: Literal["agent", "lead"]
