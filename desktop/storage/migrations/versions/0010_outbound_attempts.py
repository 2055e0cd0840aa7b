"""outbound_attempts: call results of outbound calls, durable before they are sent

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

A call result (connected, no answer, busy …) of an outbound worklist call is stored here when the agent
presses its key, then sent to POST /v1/outbound/attempts by the outbound service (the attempt_id is the
server's idempotency key, so a resend after a lost answer comes back `duplicate`: sent exactly once). The
server's answer (attempt number, when the customer is due again) is kept with it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbound_attempts",
        sa.Column("attempt_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("called_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("attempt_id"),
    )
    op.create_index("ix_outbound_attempts_status", "outbound_attempts", ["status", "recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_outbound_attempts_status", table_name="outbound_attempts")
    op.drop_table("outbound_attempts")
