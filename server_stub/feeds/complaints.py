"""complaints: the operator's complaint records (key external_id, the operator's own complaint number).

- delta: upserts by external_id (a complaint that changed status is updated in place); a delete row
  removes that complaint.
- --full: fed complaints (those with an external_id) absent from the file are removed; complaints that did
  not come from this feed are never touched.
"""

from __future__ import annotations

from server_stub.db.models import Complaint
from server_stub.domain.vocabulary import COMPLAINT_CATEGORIES, COMPLAINT_SEVERITIES, COMPLAINT_STATUSES
from server_stub.feeds.fields import FeedKind, choice, customer_reference, datetime, text

TABLE = Complaint.__table__

KIND = FeedKind(
    name="complaints",
    table=TABLE,
    key=("external_id",),
    targets={
        target.name: target
        for target in (
            text(TABLE, "external_id", types=("str",), required=True),
            text(TABLE, "customer_id", types=("str",), required=True),
            datetime("opened_at", required=True),
            choice(TABLE, "category", COMPLAINT_CATEGORIES, required=True),
            choice(TABLE, "status", COMPLAINT_STATUSES, required=True),
            choice(TABLE, "severity", COMPLAINT_SEVERITIES),
            text(TABLE, "summary_zh"),
            text(TABLE, "summary_en"),
        )
    },
    references=(customer_reference(),),
    full_filter="t.external_id IS NOT NULL",
    docs_en="--full removes fed complaints (with an external_id) absent from the file",
    docs_zh="--full 删除文件中没有的、由本数据源导入的投诉（有 external_id）",
)

__all__ = ["KIND"]
