"""members: campaign target lists (key campaign_id + customer_id): the wave the customer is targeted in
(blank: every wave), a priority (higher first) and the analyst's reason, shown to the agent.

- delta: upserts (source "members"; added_at is when the customer first joined); a delete row takes the
  customer off that campaign's list.
- --full: the file is the complete list of every campaign it names: members of those campaigns absent from
  it are removed (whatever added them); other campaigns' lists are kept.
"""

from __future__ import annotations

from server_stub.db.models import CampaignMember
from server_stub.feeds.fields import FeedKind, Reference, count, customer_reference, text

TABLE = CampaignMember.__table__

KIND = FeedKind(
    name="members",
    table=TABLE,
    key=("campaign_id", "customer_id"),
    targets={
        target.name: target
        for target in (
            text(TABLE, "customer_id", types=("str",), required=True),
            text(TABLE, "campaign_id", types=("str",), required=True),
            count("wave", minimum=1, maximum=1000),
            count("priority", minimum=-1_000_000, maximum=1_000_000),
            text(TABLE, "reason"),
        )
    },
    references=(
        customer_reference(),
        Reference(2, ("campaign_id",),
                  "NOT EXISTS (SELECT 1 FROM campaigns r WHERE r.campaign_id = s.campaign_id "
                  "AND r.retired_at IS NULL)",
                  "unknown campaign {campaign_id} (or retired): import the catalog first",
                  "未知（或已退役）的活动 {campaign_id}：请先导入产品目录"),
        Reference(3, ("wave", "campaign_id"),
                  "s.wave IS NOT NULL AND NOT EXISTS "
                  "(SELECT 1 FROM waves r WHERE r.campaign_id = s.campaign_id AND r.seq = s.wave)",
                  "campaign {campaign_id} has no wave {wave}",
                  "活动 {campaign_id} 没有第 {wave} 波次"),
    ),
    full_scope_column="campaign_id",
    constants={"source": "members"},
    insert_only_now=("added_at",),
    docs_en="--full removes the members of the file's campaigns that it no longer lists",
    docs_zh="--full 删除文件所列活动中文件里没有的成员",
)

__all__ = ["KIND"]
