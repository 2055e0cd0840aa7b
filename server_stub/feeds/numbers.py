"""numbers: phone numbers of customers, several per customer (key msisdn + customer_id).

The same number may belong to several customers (a family line, a group switchboard, a recycled number):
a pop by such a number asks the agent which customer is calling.
- delta: each row adds the number to the customer (or updates is_primary); a delete row removes that
  number from that customer only.
- --full: the file holds every number of every customer: numbers absent from it are removed.
"""

from __future__ import annotations

from server_stub.db.models import CustomerNumber
from server_stub.feeds.fields import FeedKind, Target, customer_reference, flag, text

TABLE = CustomerNumber.__table__

KIND = FeedKind(
    name="numbers",
    table=TABLE,
    key=("msisdn", "customer_id"),
    targets={
        "customer_id": text(TABLE, "customer_id", types=("str",), required=True),
        # One number per cell here (no separator): the key of the row.
        "msisdn": Target("msisdn", "msisdn", "msisdn", frozenset({"str"}), 20, always_sensitive=True, required=True),
        "is_primary": flag("is_primary"),
    },
    references=(customer_reference(),),
    docs_en="numbers absent from a --full file are removed",
    docs_zh="--full 文件中没有的号码被删除",
)

__all__ = ["KIND"]
