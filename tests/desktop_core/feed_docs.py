"""Pop documents with the feed fields of issue 13 (contract "Pop document additions"), and the body of a
409 ambiguous_caller answer, built on a real server document so everything else stays the server's own.

Used until (and beside) the reference server emitting these fields itself: the panel is built against the
contract, and these fixtures are that contract written down once.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def with_feed_fields(document: dict[str, Any], *, now: dt.datetime | None = None, repeat: bool = True,
                     status: str = "arrears_suspended", operator_model: bool = True) -> dict[str, Any]:
    """`document` (a GET /v1/pop body) with every field the feeds add: brand, status, balance and arrears,
    contract end, manager, handset, star level, group relation, three bills (one late), held products,
    operator scores, contacts on several channels (an IVR call 10 minutes ago about the bill), the repeat
    caller flag, the customer-wide cap and the campaign member's reason."""
    now = now or dt.datetime.now(dt.UTC)
    doc = copy.deepcopy(document)
    customer = doc["customer"]
    status_names = {"normal": ("正常", "Active"), "suspended": ("停机", "Suspended"),
                    "arrears_suspended": ("欠费停机", "Suspended for arrears"), "closed": ("销户", "Closed")}
    zh, en = status_names[status]
    customer.update({
        "brand": "全球通",
        "service_status": status,
        "service_status_name": {"zh": zh, "en": en},
        "balance": -86.5 if status == "arrears_suspended" else 23.4,
        "arrears": 86.5 if status == "arrears_suspended" else None,
        "contract_end": (now.date() + dt.timedelta(days=21)).isoformat(),
        "account_manager": "李明",
        "handset": "华为 Mate 60",
        "star_level": 5,
        "relation": {"kind": "group_member", "kind_name": {"zh": "集团成员", "en": "Group member"},
                     "group_id": "G-1001", "group_name": "广州市天河区教育局"},
        "bills": [
            {"month": "2026-10", "amount": 200.0, "paid": 113.5, "due_on": "2026-11-20", "paid_on": None,
             "late": True},
            {"month": "2026-09", "amount": 129.0, "paid": 129.0, "due_on": "2026-10-20", "paid_on": "2026-10-12",
             "late": False},
            {"month": "2026-08", "amount": 129.0, "paid": 129.0, "due_on": "2026-09-20", "paid_on": "2026-09-18",
             "late": False},
        ],
        "subscriptions": [
            {"product_id": "RBT-BASIC", "name": "彩铃基础包", "category": "ringback", "since": "2025-03-01",
             "until": None},
            {"product_id": "AUTOPAY", "name": "话费自动缴", "category": "care", "since": "2024-01-01", "until": None},
        ],
        "retired": False,
        "churn_source": "operator_model" if operator_model else "customer_feed",
        "scores": ({"model": "churn-gbm-2026.10", "scored_at": _iso(now - dt.timedelta(days=2)),
                    "churn_reason": "合约 21 天后到期，近 3 月流量下降 40%"} if operator_model else None),
    })
    months = ("2026-10", "2026-09", "2026-08")
    history = customer.get("usage_history") or []
    for index, month in enumerate(months):
        if index < len(history):
            history[index]["month"] = month
            history[index]["data_mb"] = (15360, 11264, 9216)[index]
            history[index]["voice_min"] = (312, 268, 401)[index]
            if index == 1:
                history[index]["roaming_data_mb"] = 820
                history[index]["roaming_voice_min"] = 35
    if customer.get("usage"):
        customer["usage"]["month"] = months[0]
    for name in ("price", "complaint"):
        assessment = doc["sensitivity"][name]
        assessment["source"] = "operator_model" if operator_model else "rules"
        assessment["model"] = f"{name}-sens-v2" if operator_model else None
    contact = doc["contact"]
    contact.update({
        "recent_contacts": [
            {"channel": "ivr", "channel_name": {"zh": "IVR", "en": "IVR"}, "at": _iso(now - dt.timedelta(minutes=10)),
             "purpose": "service", "topic": {"zh": "账单查询", "en": "bill inquiry"}, "result": "transferred",
             "campaign_id": None},
            {"channel": "inbound_call", "channel_name": {"zh": "来电", "en": "Inbound call"},
             "at": _iso(now - dt.timedelta(days=2, hours=3)), "purpose": "service",
             "topic": {"zh": "账单查询", "en": "bill inquiry"}, "result": "unresolved", "campaign_id": None},
            {"channel": "sms", "channel_name": {"zh": "短信", "en": "SMS"}, "at": _iso(now - dt.timedelta(days=4)),
             "purpose": "marketing", "topic": "彩铃推荐", "result": "delivered", "campaign_id": "CMP-RBT"},
        ],
        "calls_7d": 3 if repeat else 0,
        "repeat_caller": repeat,
        "customer_cap": {"channel": "*", "channel_name": {"zh": "全部渠道", "en": "all channels"}, "used": 2,
                         "max": 3, "period_days": 30, "next_eligible_at": None},
        "member": ({"campaign_id": contact["campaign"]["campaign_id"], "wave": 1, "priority": 5,
                    "reason": "合约到期前 30 天，流量下降"} if contact.get("campaign") else None),
    })
    return doc


CUSTOMER_ADDITIONS = ("brand", "service_status", "service_status_name", "balance", "arrears", "contract_end",
                      "account_manager", "handset", "star_level", "relation", "bills", "subscriptions", "retired",
                      "churn_source", "scores")
CONTACT_ADDITIONS = ("recent_contacts", "calls_7d", "repeat_caller", "customer_cap", "member")


def without_feed_fields(document: dict[str, Any]) -> dict[str, Any]:
    """`document` as a server from before issue 13 sent it: none of the contract's additions."""
    doc = copy.deepcopy(document)
    for name in CUSTOMER_ADDITIONS:
        doc["customer"].pop(name, None)
    for name in CONTACT_ADDITIONS:
        doc["contact"].pop(name, None)
    for name in ("price", "complaint"):
        doc["sensitivity"][name].pop("source", None)
        doc["sensitivity"][name].pop("model", None)
    return doc


def ambiguous_body(candidates: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A 409 ambiguous_caller body, as the contract defines it."""
    return {"error": {"code": "ambiguous_caller", "message": "several customers share this number",
                      "details": candidates if candidates is not None else CANDIDATES}}


CANDIDATES = [
    {"customer_id": "C-SHARED-A", "display_name": "张伟", "masked_msisdn": "139****0101", "value_tier": "gold",
     "city": "广州", "brand": "全球通", "plan_name": "5G畅享 129元", "relation_kind": "primary_card",
     "group_name": "张家"},
    {"customer_id": "C-SHARED-B", "display_name": "张小雨", "masked_msisdn": "139****0101", "value_tier": "standard",
     "city": "广州", "brand": "动感地带", "plan_name": "校园卡 39元", "relation_kind": "secondary_card",
     "group_name": "张家"},
    {"customer_id": "C-SHARED-C", "display_name": "广州天河教育局", "masked_msisdn": "139****0101",
     "value_tier": "diamond", "city": "广州", "brand": "全球通", "plan_name": "集团V网 88元",
     "relation_kind": "group_member", "group_name": "广州市天河区教育局"},
]
