"""outcome retraction: an agent takes back an outcome already delivered

`outcomes.retracted_at` / `retracted_by` mark a retracted outcome (kept for the audit, counted nowhere);
`set_dnd` says whether this outcome turned the customer's do-not-disturb on (only then does retracting it
turn it off); `segment` is the offer-statistics segment the outcome was counted in, so a retraction
subtracts from the same row even if the customer's tier changed since.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retracted_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("set_dnd", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("segment", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("segment")
        batch.drop_column("set_dnd")
        batch.drop_column("retracted_by")
        batch.drop_column("retracted_at")
