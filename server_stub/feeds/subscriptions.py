"""subscriptions: products and services a customer already holds (key customer_id + product_id): add-ons,
彩铃, roaming packs, autopay … An offer whose product_id (or offer_id) the customer holds is never pitched.

- delta: upserts; a delete row removes that holding (the customer gave it up).
- --full: the file holds every holding of every customer: holdings absent from it are removed.
"""

from __future__ import annotations

from server_stub.db.models import Subscription
from server_stub.feeds.fields import FeedKind, customer_reference, date, text

TABLE = Subscription.__table__

KIND = FeedKind(
    name="subscriptions",
    table=TABLE,
    key=("customer_id", "product_id"),
    targets={
        target.name: target
        for target in (
            text(TABLE, "customer_id", types=("str",), required=True),
            text(TABLE, "product_id", types=("str",), required=True),
            text(TABLE, "name"),
            text(TABLE, "category"),
            date("since"),
            date("until"),
        )
    },
    references=(customer_reference(),),
    docs_en="holdings absent from a --full file are removed",
    docs_zh="--full 文件中没有的订购关系被删除",
)

__all__ = ["KIND"]
