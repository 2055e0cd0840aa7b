"""outcomes without a pop: an unknown or unreachable caller's not-offered, callback or do-not-disturb

`outcomes.decision_id` and `customer_id` may be NULL (no pop was shown: the caller is unknown, or the pop
failed); such an outcome names `caller_number` (national digits). `dnd_numbers` records do-not-disturb by
number: every customer holding the number is treated as DND while its row stands (services/pop.py), and
`outcome_id` is the outcome that set it (a retraction of it hands the row to another standing one, or
removes it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.alter_column("decision_id", existing_type=sa.String(36), nullable=True)
        batch.alter_column("customer_id", existing_type=sa.String(64), nullable=True)
        batch.add_column(sa.Column("caller_number", sa.String(20), nullable=True))
        batch.create_index("ix_outcomes_caller_number", ["caller_number"])
    op.create_table(
        "dnd_numbers",
        sa.Column("msisdn", sa.String(20), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome_id", sa.String(36), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("dnd_numbers")
    # Outcomes without a pop cannot go back into NOT NULL columns: they are removed with the columns' nulls.
    op.execute("DELETE FROM outcomes WHERE decision_id IS NULL OR customer_id IS NULL")
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_index("ix_outcomes_caller_number")
        batch.drop_column("caller_number")
        batch.alter_column("customer_id", existing_type=sa.String(64), nullable=False)
        batch.alter_column("decision_id", existing_type=sa.String(36), nullable=False)
