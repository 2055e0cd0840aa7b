"""bills: one bill per customer and month (key customer_id + month): amount, paid, due and paid dates, late.

`late` may be left out (or blank): it is then true when the bill was paid after its due date.
- delta: upserts by customer and month; a delete row removes that bill.
- --full: the file is the complete picture of the months it contains: bills of those months absent from it
  are removed; other months are kept.
"""

from __future__ import annotations

from server_stub.db.models import Bill
from server_stub.feeds.fields import INT8_MAX, FeedKind, customer_reference, date, flag, money, month, text

TABLE = Bill.__table__


def _late(staged: frozenset[str]) -> str | None:
    computed = ("CASE WHEN s.paid_on IS NOT NULL AND s.due_on IS NOT NULL AND s.paid_on > s.due_on "
                "THEN TRUE ELSE FALSE END") if {"paid_on", "due_on"} <= staged else "FALSE"
    return f"COALESCE(s.late, {computed})" if "late" in staged else computed


KIND = FeedKind(
    name="bills",
    table=TABLE,
    key=("customer_id", "month"),
    targets={
        target.name: target
        for target in (
            text(TABLE, "customer_id", types=("str",), required=True),
            month(),
            money("amount", "amount_fen", maximum=INT8_MAX),
            money("paid", "paid_fen", maximum=INT8_MAX),
            date("due_on"),
            date("paid_on"),
            flag("late"),
        )
    },
    references=(customer_reference(),),
    full_scope_column="month",
    derived={"late": _late},
    docs_en="--full removes the bills of the file's months that it no longer holds; other months stay",
    docs_zh="--full 删除文件所含月份中文件里没有的账单；其他月份保留",
)

__all__ = ["KIND"]
