"""contacts: contact history from every channel (key external_id): calls in and out, SMS, app pushes, email,
IVR, self-service and store visits made outside CallCue, so caps count them and the pop shows a customer's
last contacts ("IVR 10 min ago: bill inquiry") with a repeat-caller flag.

purpose is marketing (counts toward contact caps) or service (never does); left out or blank it is
marketing when the row names a campaign or an offer, else service.
- delta: upserts by external_id; a delete row removes that contact.
- --full: fed contacts (with an external_id) absent from the file are removed; the contacts CallCue
  recorded itself (agents' outcomes) are never touched.
"""

from __future__ import annotations

from server_stub.db.models import ContactHistory
from server_stub.domain.vocabulary import CHANNELS, CONTACT_PURPOSES
from server_stub.feeds.fields import (
    FeedKind,
    Reference,
    choice,
    code,
    count,
    customer_reference,
    datetime,
    text,
)

TABLE = ContactHistory.__table__


def _purpose(staged: frozenset[str]) -> str:
    named = [f"s.{column} IS NOT NULL" for column in ("campaign_id", "offer_id") if column in staged]
    default = f"CASE WHEN {' OR '.join(named)} THEN 'marketing' ELSE 'service' END" if named else "'service'"
    return f"COALESCE(s.purpose, {default})" if "purpose" in staged else default


KIND = FeedKind(
    name="contacts",
    table=TABLE,
    key=("external_id",),
    targets={
        target.name: target
        for target in (
            text(TABLE, "external_id", types=("str",), required=True),
            text(TABLE, "customer_id", types=("str",), required=True),
            datetime("contacted_at", required=True),
            choice(TABLE, "channel", CHANNELS, required=True),
            choice(TABLE, "purpose", CONTACT_PURPOSES),
            text(TABLE, "topic"),
            code(TABLE, "result"),
            text(TABLE, "campaign_id"),
            count("wave", minimum=1, maximum=1000),
            text(TABLE, "offer_id"),
            text(TABLE, "agent_id"),
            text(TABLE, "call_id"),
        )
    },
    references=(
        customer_reference(),
        Reference(2, ("campaign_id",),
                  "s.campaign_id IS NOT NULL AND NOT EXISTS "
                  "(SELECT 1 FROM campaigns r WHERE r.campaign_id = s.campaign_id)",
                  "unknown campaign {campaign_id}: import the catalog first",
                  "未知活动 {campaign_id}：请先导入产品目录"),
        Reference(4, ("offer_id",),
                  "s.offer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM offers r WHERE r.offer_id = s.offer_id)",
                  "unknown offer {offer_id}: it is in no catalog imported here",
                  "未知产品 {offer_id}：已导入的产品目录中没有"),
    ),
    full_filter="t.external_id IS NOT NULL",
    derived={"purpose": _purpose},
    docs_en="--full removes fed contacts (with an external_id) absent from the file; CallCue's own stay",
    docs_zh="--full 删除文件中没有的、由本数据源导入的接触记录；CallCue 自己记录的保留",
)

__all__ = ["KIND"]
