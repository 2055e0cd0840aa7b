"""usage: monthly usage per customer (key customer_id + month): data, voice, SMS, MMS, 彩铃 (ringback tone),
roaming, and the month's bill. The panel shows the last three months.

- delta: upserts by customer and month; a delete row removes that month of that customer.
- --full: the file is the complete picture of the months it contains: rows of those months absent from it
  are removed; other months are kept (a nightly file of the last three months never erases history).
"""

from __future__ import annotations

from server_stub.db.models import UsageMonth
from server_stub.feeds.fields import FeedKind, count, customer_reference, flag, money, month, text

TABLE = UsageMonth.__table__

KIND = FeedKind(
    name="usage",
    table=TABLE,
    key=("customer_id", "month"),
    targets={
        target.name: target
        for target in (
            text(TABLE, "customer_id", types=("str",), required=True),
            month(),
            count("data_mb"),
            count("voice_min"),
            count("sms"),
            count("mms"),
            flag("ringback_active"),
            money("ringback_fee", "ringback_fee_fen"),
            count("roaming_data_mb"),
            count("roaming_voice_min"),
            money("bill", "bill_fen"),
        )
    },
    references=(customer_reference(),),
    full_scope_column="month",
    docs_en="--full removes the rows of the file's months that it no longer holds; other months stay",
    docs_zh="--full 删除文件所含月份中文件里没有的行；其他月份保留",
)

__all__ = ["KIND"]
