"""customers: one row per customer (key customer_id); its phone numbers may ride along (msisdns).

- delta: new customers are inserted, known ones get the columns this file maps (columns it does not map —
  DND set by agents, counters fed by other jobs — are left alone); a retired customer who reappears is
  active again. A delete row (the mapping's [delete] column) retires the customer: customers are never
  deleted, their history keeps pointing at them (counted as deleted).
- --full: customers absent from the file are retired (retired_at set); a pop by their number no longer
  finds them.
- msisdns: the numbers of every customer in the file become exactly the file's (first one primary); a
  number may belong to several customers, so nothing is taken from customers outside the file.
"""

from __future__ import annotations

from server_stub.db.models import Customer
from server_stub.domain.vocabulary import RELATION_KINDS, SERVICE_STATUSES
from server_stub.feeds.fields import (
    INT8_MAX,
    FeedKind,
    Target,
    code,
    count,
    date,
    fraction,
    money,
    text,
)

TABLE = Customer.__table__
SEGMENT_MAX_LENGTH = 40  # offer_stats.segment is String(40)


def _targets() -> dict[str, Target]:
    t = TABLE
    fields = [
        text(t, "customer_id", types=("str",), required=True),
        text(t, "name", types=("str",), sensitive=True),
        code(t, "gender"),
        count("birth_year", minimum=1900, maximum=2100),
        text(t, "city"),
        text(t, "plan_id"),
        text(t, "plan_name"),
        money("monthly_fee", "monthly_fee_fen"),
        money("total_charges", "total_charges_fen", maximum=INT8_MAX),
        count("tenure_months", maximum=1200),
        code(t, "contract"),
        code(t, "payment_method"),
        code(t, "value_tier"),
        count("credit_score"),
        count("points"),
        fraction("churn_risk"),
        count("late_payments_6m"),
        count("bill_inquiries_3m"),
        count("downgrades_12m"),
        Target("segments", "segments", "segments", frozenset({"str"}), SEGMENT_MAX_LENGTH),
        code(t, "preferred_channel"),
        Target("msisdns", "msisdns", None, frozenset({"str"}), 20, always_sensitive=True),
        # 0002: what a Chinese carrier's agent expects on screen
        text(t, "brand"),
        Target("service_status", "choice", "service_status", frozenset({"str", "enum"}), 20,
               choices=SERVICE_STATUSES),
        money("balance", "balance_fen", minimum=-INT8_MAX, maximum=INT8_MAX),
        money("arrears", "arrears_fen", maximum=INT8_MAX),
        date("contract_end"),
        text(t, "account_manager"),
        text(t, "handset"),
        count("star_level", maximum=7),
        Target("relation_kind", "choice", "relation_kind", frozenset({"str", "enum"}), 20, choices=RELATION_KINDS),
        text(t, "group_id"),
        text(t, "group_name"),
    ]
    return {target.name: target for target in fields}


KIND = FeedKind(
    name="customers",
    table=TABLE,
    key=("customer_id",),
    targets=_targets(),
    full_action="retire",
    retire_column="retired_at",
    constants={"retired_at": None},  # a customer in the file is not retired (any more)
    touch_column="updated_at",
    docs_en="customers absent from a --full file are retired (never deleted); a delete row retires one",
    docs_zh="--full 文件中没有的客户被标记为退役（从不删除）；删除行使该客户退役",
)
# Numeric fields a value tier can be derived from ([derive.value_tier] from = ...).
TIER_SOURCES = ("monthly_fee", "total_charges", "tenure_months", "points", "credit_score")
MONEY_TIER_SOURCES = ("monthly_fee", "total_charges")

__all__ = ["KIND", "MONEY_TIER_SOURCES", "SEGMENT_MAX_LENGTH", "TIER_SOURCES"]
