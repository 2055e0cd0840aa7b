"""callback_details: who a callback is for, kept with it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09

The callback queue named a customer from the cached pop, which expires after 24 h: a callback agreed for the
day after showed the customer id. The name and masked number are kept with the callback when it is
scheduled (one row per callback outcome). A callback for a caller without a customer record (an unknown
caller, a pop that failed) has no name: its masked number is what the queue shows.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callback_details",
        sa.Column("outcome_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("masked_number", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("outcome_id"),
    )


def downgrade() -> None:
    op.drop_table("callback_details")
