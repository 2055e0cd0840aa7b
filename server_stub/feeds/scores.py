"""scores: the operator's own model scores per customer (key customer_id): churn risk, price and complaint
sensitivity levels with their reasons, the model's name and when it scored. When present they take
precedence over the rules' own derivation, and the pop says so.

- delta: upserts; a delete row removes the customer's scores (the rules decide again).
- --full: scores of customers absent from the file are removed.
"""

from __future__ import annotations

from server_stub.db.models import CustomerScore
from server_stub.feeds.fields import FeedKind, choice, customer_reference, datetime, fraction, text

TABLE = CustomerScore.__table__
LEVELS = ("none", "low", "medium", "high")

KIND = FeedKind(
    name="scores",
    table=TABLE,
    key=("customer_id",),
    targets={
        target.name: target
        for target in (
            text(TABLE, "customer_id", types=("str",), required=True),
            fraction("churn_risk"),
            choice(TABLE, "price_level", LEVELS),
            choice(TABLE, "complaint_level", LEVELS),
            text(TABLE, "churn_reason"),
            text(TABLE, "price_reason"),
            text(TABLE, "complaint_reason"),
            text(TABLE, "model"),
            datetime("scored_at"),
        )
    },
    references=(customer_reference(),),
    docs_en="scores of customers absent from a --full file are removed",
    docs_zh="--full 文件中没有的客户评分被删除",
)

__all__ = ["KIND", "LEVELS"]
