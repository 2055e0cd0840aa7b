"""Response and request shapes of API v1 (they generate the committed OpenAPI contract)."""

from __future__ import annotations

import datetime as dt
import uuid
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
    message_zh: str | None = Field(default=None, description="The same explanation in Chinese, where the server "
                                                             "has one (e.g. rate_limited).")
    details: list[dict[str, Any]] | None = None


class ErrorResponse(Strict):
    error: ErrorBody


class CallerCandidate(Strict):
    """One customer a shared number belongs to: the agent asks which one is calling, then pops by customer_id."""

    customer_id: str
    display_name: str
    masked_msisdn: str
    value_tier: str
    city: str | None
    brand: str | None
    plan_name: str | None
    relation_kind: str | None
    group_name: str | None


class AmbiguousCallerBody(Strict):
    code: Literal["ambiguous_caller"]
    message: str
    details: list[CallerCandidate] = Field(description="The customers (not retired) the number belongs to, "
                                                       "ordered by customer_id; at most 20.")


class AmbiguousCallerResponse(Strict):
    error: AmbiguousCallerBody


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


class Relation(Strict):
    kind: str | None = Field(description="primary_card | secondary_card | family_member | group_member")
    kind_name: LocalText | None
    group_id: str | None
    group_name: str | None = Field(description="Household or group (集团) name.")


class BillView(Strict):
    month: str = Field(description="YYYY-MM")
    amount: float | None = Field(description="Yuan charged.")
    paid: float | None = Field(description="Yuan paid.")
    due_on: dt.date | None
    paid_on: dt.date | None
    late: bool


class SubscriptionView(Strict):
    product_id: str
    name: str | None
    category: str | None
    since: dt.date | None
    until: dt.date | None


class ScoresView(Strict):
    model: str | None = Field(description="The operator's model that scored the customer.")
    scored_at: dt.datetime | None
    churn_reason: str | None


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
    churn_risk: float = Field(description="0..1: the operator's model score when fed (churn_source), else the "
                                          "customer feed's.")
    usage: Usage | None = Field(description="The latest complete month.")
    usage_history: list[Usage] = Field(description="Up to three months, newest first.")
    brand: str | None = None
    service_status: str | None = Field(default=None, description="normal | suspended | arrears_suspended | closed")
    service_status_name: LocalText | None = Field(default=None, description="正常 / 停机 / 欠费停机 / 销户")
    balance: float | None = Field(default=None, description="Yuan.")
    arrears: float | None = Field(default=None, description="Yuan owed.")
    contract_end: dt.date | None = None
    account_manager: str | None = Field(default=None, description="客户经理")
    handset: str | None = None
    star_level: int | None = Field(default=None, description="星级 0..7")
    relation: Relation | None = None
    bills: list[BillView] = Field(default_factory=list, description="Up to three, newest first.")
    subscriptions: list[SubscriptionView] = Field(
        default_factory=list, description="Products and services held today (not offered again), by product_id.")
    retired: bool = Field(default=False, description="No longer in the operator's customer snapshot.")
    churn_source: Literal["operator_model", "customer_feed"] = "customer_feed"
    scores: ScoresView | None = Field(default=None, description="The operator's own model scores, when fed.")


class ComplaintView(Strict):
    complaint_id: int
    opened_at: dt.datetime
    category: str
    status: str
    severity: str
    summary: LocalText


class PriceSensitivity(Strict):
    level: Level
    points: int = Field(description="The rules' points (also when the operator's model set the level).")
    reasons: list[Reason] = Field(description="With an operator score, its reason first (code operator_model).")
    guidance: LocalText
    source: Literal["operator_model", "rules"] = "rules"
    model: str | None = Field(default=None, description="The operator's model when source is operator_model.")


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
    suppressed_by: list[Reason] = Field(
        description="Why the agent should not pitch it; empty if pitchable. Codes include not_eligible "
                    "(eligibility), already_held (holdings), price_sensitive / complaint_sensitive (sensitivity), "
                    "dnd, recent_refusal, customer_cap, contact_cap, no_wave, not_in_wave, wave_channel (contact).")


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


class RecentContact(Strict):
    channel: str
    channel_name: LocalText
    at: dt.datetime
    purpose: str = Field(description="marketing | service")
    topic: str | None
    result: str | None
    campaign_id: str | None


class MemberView(Strict):
    campaign_id: str
    wave: int | None = Field(description="The wave the customer is targeted in; null: every wave.")
    priority: int
    reason: str | None = Field(description="Why the analyst chose them.")


class ContactView(Strict):
    channel: str = Field(description="The channel of this interaction: inbound_call, or outbound_call for the pop "
                                     "of an outbound worklist lease (its caps and wave checks are that channel's).")
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
    recent_contacts: list[RecentContact] = Field(
        default_factory=list,
        description="Last 30 days, every channel, newest first, at most 5; the outcomes of one call are one entry.")
    calls_7d: int = Field(default=0, description="Inbound calls (IVR included) in the last 7 days.")
    repeat_caller: bool = Field(default=False, description="calls_7d >= 2.")
    customer_cap: CapView | None = Field(
        default=None, description="The binding contact cap across campaigns (channel '*' = every channel).")
    member: MemberView | None = Field(default=None, description="The customer's membership in `campaign`.")


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
    reason_zh: str | None = Field(default=None, description="The reason in Chinese, where the server has one.")


class OutcomeBatchResult(Strict):
    results: list[OutcomeItemResult]
    accepted: int
    duplicate: int
    rejected: int


class OutcomeRetraction(Strict):
    outcome_id: str = Field(description="The outcome_id as the client sent it.")
    retracted_at: dt.datetime = Field(description="When it was first retracted (a repeat answers the same).")
    retracted_by: str = Field(description="The agent (or lead) who retracted it.")


class CustomerSummary(Strict):
    customer_id: str
    display_name: str
    msisdns: list[str]
    value_tier: str
    city: str | None
    brand: str | None = None
    plan_name: str | None = None
    relation_kind: str | None = None
    group_name: str | None = None
    retired: bool = False


class CustomerSearchResult(Strict):
    items: list[CustomerSummary]


class OfferInfo(Strict):
    offer_id: str
    category: str
    title: LocalText
    script: LocalText
    monthly_fee_delta: float | None
    base_score: float
    active: bool = Field(description="False when switched off or retired: never pitched.")
    campaign_ids: list[str]
    product_id: str | None = Field(default=None, description="Held as this product (null: the offer_id).")
    retired: bool = Field(default=False, description="Left the catalog; old outcomes still point at it.")


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
    role: Literal["agent", "lead", "analyst", "admin"] = Field(
        description="agent: their own work; lead: also their teams' agents'; analyst: reads everything, writes "
                    "nothing; admin: tokens, teams and feeds (the CLI). Each operation's x-callcue-roles lists the "
                    "roles that may call it.")
    team: str | None = Field(None, description="The team the agent is in (null: none).")
    teams: list[str | None] = Field(
        default_factory=list,
        description="A lead's teams: the one they are in and those they were made lead of (null: the agents in no "
                    "team). Empty for the other roles.")


# ---------------------------------------------------------------------------------------------- outbound

CallResult = Literal["connected", "no_answer", "busy", "voicemail", "wrong_number", "invalid_number", "refused_call"]


class WorklistRequest(Strict):
    campaign_id: str | None = Field(default=None, max_length=40,
                                    description="Only this campaign's running outbound wave (default: every wave "
                                                "open to the agent).")
    lease_seconds: int = Field(default=300, ge=30, le=3600,
                               description="How long the customer is held for the agent without a renewal.")


class LeaseView(Strict):
    lease_id: str
    taken_at: dt.datetime
    expires_at: dt.datetime = Field(description="Renew before this (POST /v1/worklist/leases/{id}/renew), or the "
                                                "customer goes back to the worklist.")
    call_id: str = Field(description="The call's id on the server: outcomes of this call default to it "
                                     "(one contact), unless the attempt names the softphone's own call id.")
    resumed: bool = Field(description="The agent already held this customer: a repeated request answers the same "
                                      "lease (renewed) instead of taking a second customer.")


class OutboundWaveView(Strict):
    seq: int
    of: int
    channel: str
    channel_name: LocalText
    starts_on: dt.date
    ends_on: dt.date
    calling_hours: list[str] = Field(description="Windows HH:MM-HH:MM in time_zone.")
    time_zone: str
    max_attempts: int
    retry_after_minutes: dict[str, int | None] = Field(
        description="Per retryable result (no_answer, busy, voicemail, refused_call): minutes until the next "
                    "attempt; null = the member is closed with that result.")


class OutboundCampaign(Strict):
    campaign_id: str
    name: LocalText
    wave: WaveView = Field(description="The campaign's wave running today (channel outbound_call).")
    calling_hours: list[str] = Field(description="Windows HH:MM-HH:MM in time_zone.")
    time_zone: str
    open_now: bool = Field(description="Within the calling hours now (a pop is built outside them too: the "
                                       "agent may be on the call already).")


class OutboundCampaignList(Strict):
    items: list[OutboundCampaign]


class WhyThisCustomer(Strict):
    priority: int = Field(description="The member's priority (higher first).")
    member_reason: str | None = Field(description="Why the analyst chose them.")
    expected_value: float = Field(description="The customer's monthly fee, yuan.")
    acceptance: float = Field(description="Best smoothed acceptance of the campaign's offers in the customer's "
                                          "segment.")
    score: float = Field(description="expected_value × acceptance: the order within a priority.")


class WorklistEmpty(Strict):
    code: Literal["no_outbound_wave", "outside_calling_hours", "worklist_done", "worklist_busy"]
    message: str
    message_zh: str
    next_at: dt.datetime | None = Field(description="When to ask again, where known (the next calling window).")


class WorklistNext(Strict):
    status: Literal["leased", "empty"]
    lease: LeaseView | None
    customer_id: str | None
    campaign: CampaignRef | None
    wave: OutboundWaveView | None
    attempt: int | None = Field(description="This call's number for the member in the wave (1 = first call).")
    why: WhyThisCustomer | None
    pop: PopDocument | None = Field(description="The full pop for the preview, built for the outbound_call channel; "
                                                "its decision_id is what the call's offer outcomes answer.")
    empty: WorklistEmpty | None


class RenewRequest(Strict):
    lease_seconds: int = Field(default=300, ge=30, le=3600)


class ReleaseRequest(Strict):
    reason: str = Field(min_length=1, max_length=200, description="Why the agent skips the customer (kept).")
    hold_minutes: int = Field(default=30, ge=0, le=10080,
                              description="The customer comes back to the worklist after this long (0: at once).")


class LeaseStateView(Strict):
    lease_id: str
    customer_id: str
    campaign_id: str
    wave: int
    attempt: int
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: Literal["result", "released", "expired"] | None
    next_attempt_at: dt.datetime | None = Field(description="A released customer is due again from then.")


class AttemptRequest(Strict):
    attempt_id: uuid.UUID = Field(description="Client-made UUID: the idempotency key of this call result.")
    lease_id: uuid.UUID = Field(description="The lease the call was made on (from worklist/next).")
    result: CallResult
    called_at: dt.datetime = Field(description="When the call was placed, with a time zone.")
    call_id: str | None = Field(default=None, min_length=1, max_length=100,
                                description="The softphone's call id, if any (default: the lease's call_id).")
    note: str | None = Field(default=None, max_length=2000)


class OutcomeDefaults(Strict):
    channel: Literal["outbound_call"]
    campaign_id: str
    wave: int
    call_id: str


class AttemptResult(Strict):
    status: Literal["accepted", "duplicate"]
    attempt_id: str
    lease_id: str
    customer_id: str
    campaign_id: str
    wave: int
    attempt: int
    result: CallResult
    call_id: str
    member: Literal["due_again", "closed"]
    next_attempt_at: dt.datetime | None = Field(description="When the member is due again (retry rule of the wave).")
    closed_reason: str | None = Field(description="connected, max_attempts, or the result that closed the member.")
    outcome_defaults: OutcomeDefaults = Field(description="What the call's offer outcomes (POST /v1/outcomes, "
                                                          "decision_id of the lease's pop) are recorded with.")


class FigureView(Strict):
    campaign_id: str
    wave: int | None = Field(description="null: the whole campaign.")
    attempt: int | None = Field(description="null: every attempt number.")
    attempts: int
    connected: int
    connect_rate: float | None = Field(description="外呼接通率: connected ÷ attempts.")
    accepted: int = Field(description="Connected calls with at least one accepted offer outcome (not retracted).")
    acceptance_rate: float | None = Field(description="accepted ÷ connected.")


class OutboundFigures(Strict):
    since: dt.datetime | None
    until: dt.datetime | None
    rows: list[FigureView] = Field(description="Per campaign, wave and attempt number; then per campaign and wave; "
                                               "then per campaign.")
