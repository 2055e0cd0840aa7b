"""The server's vocabulary: the closed sets of codes that feeds, rules, the sample generator and the API share.

One place, so a feed, the rules file, an audience condition and a pop cannot disagree on how a channel,
a category or a status is spelt. Pure data: no database, no I/O. Display names that vary per deployment
(channel names, value tiers) live in the rules file; the names here are the fixed ones the pop document
carries ({"zh", "en"}).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


def _names(table: dict[str, tuple[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({code: MappingProxyType({"zh": zh, "en": en}) for code, (zh, en) in table.items()})


# ---------------------------------------------------------------- catalog

# The rules file suppresses and ranks by these.
OFFER_CATEGORIES = ("plan", "add-on", "ringback", "roaming", "care", "retention", "payment")

# Every channel a contact can happen on. The first five are the ones campaigns and agents record outcomes
# on; ivr, self_service (app / web / WeChat self-service) and store (营业厅) arrive through the contacts feed.
CHANNELS = ("inbound_call", "outbound_call", "sms", "app_push", "email", "ivr", "self_service", "store")
# Channels a panel outcome may name (the v1 outcomes API; unchanged by the feeds).
OUTCOME_CHANNELS = ("inbound_call", "outbound_call", "sms", "app_push", "email")
# A per-customer cap's channel may be "*": every channel counts toward it.
ANY_CHANNEL = "*"

# Why a contact happened: marketing contacts count toward caps, service contacts never do.
CONTACT_PURPOSES = ("marketing", "service")

# ---------------------------------------------------------------- outcomes and contacts

# What the agent records about an offer (maps onto Pega / Salesforce / NICE response codes).
OUTCOME_RESULTS = ("accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb")
RESULTS_NEEDING_OFFER = ("accepted", "declined", "considering")
RESPONSE_RESULTS = ("accepted", "declined", "considering", "callback")
# What may be recorded without a pop (an unknown caller, or a pop that failed): no offer was made, so none of
# these counts as a response to one. Such an outcome names the caller's number instead of a decision.
RESULTS_WITHOUT_POP = ("not_offered", "callback", "do_not_disturb")
# How an outbound call attempt ended, separate from the offer outcome (each wave may name a retry rule).
OUTBOUND_CALL_RESULTS = (
    "connected", "no_answer", "busy", "voicemail", "wrong_number", "invalid_number", "refused_call",
)  # fmt: skip

# ---------------------------------------------------------------- customers

PAYMENT_METHODS = ("autopay_bank", "autopay_alipay", "wechat", "bank_transfer", "cash")
# The rules fact `payment_autopay` is `payment_method in AUTOPAY_METHODS`.
AUTOPAY_METHODS = frozenset({"autopay_bank", "autopay_alipay"})
CONTRACTS = ("month_to_month", "one_year", "two_year")
VALUE_TIERS = ("standard", "silver", "gold", "diamond")
SEGMENTS = ("young", "family", "business", "senior", "student", "heavy_data", "roamer")
GENDERS = ("female", "male")

# 正常 / 停机 / 欠费停机 / 销户
SERVICE_STATUS_NAMES = _names(
    {
        "normal": ("正常", "active"),
        "suspended": ("停机", "suspended"),
        "arrears_suspended": ("欠费停机", "suspended for arrears"),
        "closed": ("销户", "closed"),
    }
)
SERVICE_STATUSES = tuple(SERVICE_STATUS_NAMES)

# 主卡 / 副卡 / 家庭成员 / 集团成员
RELATION_KIND_NAMES = _names(
    {
        "primary_card": ("主卡", "primary line"),
        "secondary_card": ("副卡", "secondary line"),
        "family_member": ("家庭成员", "family member"),
        "group_member": ("集团成员", "group member"),
    }
)
RELATION_KINDS = tuple(RELATION_KIND_NAMES)

STAR_LEVELS = range(8)  # 星级 0..7

# ---------------------------------------------------------------- complaints

COMPLAINT_CATEGORIES = ("billing", "network", "service", "marketing", "other")
COMPLAINT_STATUSES = ("open", "resolved")
COMPLAINT_SEVERITIES = ("normal", "serious")

# ---------------------------------------------------------------- the rules' fact language

# Operators of a condition {fact, op, value} (rules file, catalog eligibility, audience --where).
CONDITION_OPS = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains")

# Every fact a condition may name: what the server computes for a customer at pop time. A condition on
# any other name never holds, so `rules check` and the catalog feed refuse it.
FACTS = (
    # who they are and what they have
    "tenure_months", "monthly_fee", "value_tier", "credit_score", "star_level", "points", "segments",
    "brand", "service_status", "balance", "arrears", "contract", "contract_months_left", "relation_kind",
    "group_name", "city", "gender", "payment_method", "payment_autopay", "plan_id", "holds",
    # risk (the operator's score when fed, else the customer row)
    "churn_risk", "churn_risk_pct",
    # price signals
    "late_payments_6m", "bill_inquiries_3m", "downgrades_12m", "bill_change_ratio", "bill_change_pct",
    # complaints
    "complaints_90d", "billing_complaints_90d", "open_complaints", "serious_complaints_180d",
    "marketing_complaints_180d",
    # usage (last month; roaming_activity over three months)
    "data_mb", "data_gb", "voice_min", "roaming_mb", "roaming_min", "roaming_activity", "ringback_active",
    # contact
    "dnd", "dnd_since", "calls_7d",
    # derived by the rules themselves (suppression and ranking only)
    "price_level", "complaint_level", "price_level_name", "complaint_level_name",
)  # fmt: skip
# Facts that exist only after sensitivity is assessed: eligibility (catalog or rules) cannot use them.
DERIVED_FACTS = frozenset({"price_level", "complaint_level", "price_level_name", "complaint_level_name"})


__all__ = [
    "ANY_CHANNEL",
    "AUTOPAY_METHODS",
    "CHANNELS",
    "COMPLAINT_CATEGORIES",
    "COMPLAINT_SEVERITIES",
    "COMPLAINT_STATUSES",
    "CONDITION_OPS",
    "CONTACT_PURPOSES",
    "CONTRACTS",
    "DERIVED_FACTS",
    "FACTS",
    "GENDERS",
    "OFFER_CATEGORIES",
    "OUTBOUND_CALL_RESULTS",
    "OUTCOME_CHANNELS",
    "OUTCOME_RESULTS",
    "PAYMENT_METHODS",
    "RELATION_KINDS",
    "RELATION_KIND_NAMES",
    "RESPONSE_RESULTS",
    "RESULTS_NEEDING_OFFER",
    "SEGMENTS",
    "SERVICE_STATUSES",
    "SERVICE_STATUS_NAMES",
    "STAR_LEVELS",
    "VALUE_TIERS",
]
