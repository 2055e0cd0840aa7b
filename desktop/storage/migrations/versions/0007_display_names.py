"""display_names: what the server calls an offer or a campaign, for statistics

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Statistics count outcomes by offer and campaign id; the agent reads names. Each pop brings the names of its
offers and campaign (both languages); they are kept here (one row per id, the latest wins), so the
statistics window and its exports show 5G畅享129元套餐, not PLAN_5G_129, even after the pop cache expired.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "display_names",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("zh", sa.Text(), nullable=False),
        sa.Column("en", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )


def downgrade() -> None:
    op.drop_table("display_names")
