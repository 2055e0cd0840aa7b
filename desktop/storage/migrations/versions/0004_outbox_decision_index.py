"""outbox: index for the double-press check of record_outcome

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Recording an outcome first looks for the same answer to the same decision moments ago (a double press);
with thousands of undelivered outcomes queued offline that look-up must not scan the outbox.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_decision", "outbox", ["decision_id", "recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_decision", table_name="outbox")
