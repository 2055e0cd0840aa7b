"""outbound campaign work: worklist leases, members' attempts per wave, call results, calling hours, teams

- `outbound_leases`: one customer handed to one agent; a partial unique index keeps at most one open lease
  per customer (no two agents ever hold the same customer); the worklist takes over leases past expiry.
- `outbound_progress`: a member's attempts in one outbound wave, when they are due again or why closed.
- `outbound_attempts`: each call's result (connected, no_answer, …), idempotent by the client's attempt_id.
- `campaigns.calling_hours` / `time_zone`, `waves.calling_hours` / `max_attempts` / `retry` /
  `assigned_agents` / `assigned_teams`: the catalog feed's outbound keys (NULL: the defaults).
- `agents.team`: a team name a wave may be assigned to.
- `decisions.channel` / `campaign_id` / `wave` / `lease_id`: the pop of a lease, which outcomes answering it
  take as theirs (channel outbound_call).

Revision 0006 follows 0004 here; 0005 (decision-less outcomes) is another branch of work, and merging the
two re-chains this one after it.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)
_OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("calling_hours", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))
    with op.batch_alter_table("waves") as batch:
        batch.add_column(sa.Column("calling_hours", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("max_attempts", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retry", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("assigned_agents", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("assigned_teams", sa.JSON(), nullable=True))
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("team", sa.String(40), nullable=True))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("channel", sa.String(20), nullable=True))
        batch.add_column(sa.Column("campaign_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("wave", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("lease_id", sa.String(36), nullable=True))

    op.create_table(
        "outbound_leases",
        sa.Column("lease_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(40), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("taken_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("end_reason", sa.String(20), nullable=True),
        sa.Column("release_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("lease_id"),
    )
    op.create_index("ux_outbound_leases_open_customer", "outbound_leases", ["customer_id"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.create_index("ux_outbound_leases_open_agent", "outbound_leases", ["agent_id"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.create_index("ix_outbound_leases_open_expiry", "outbound_leases", ["expires_at"],
                    sqlite_where=_OPEN, postgresql_where=_OPEN)

    op.create_table(
        "outbound_progress",
        sa.Column("campaign_id", sa.String(40), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_result", sa.String(20), nullable=True),
        sa.Column("last_attempt_at", _UTC, nullable=True),
        sa.Column("next_attempt_at", _UTC, nullable=True),
        sa.Column("hold_reason", sa.String(20), nullable=True),
        sa.Column("closed_at", _UTC, nullable=True),
        sa.Column("closed_reason", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "wave", "customer_id"),
    )

    op.create_table(
        "outbound_attempts",
        sa.Column("attempt_id", sa.String(36), nullable=False),
        sa.Column("lease_id", sa.String(36), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(40), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("called_at", _UTC, nullable=False),
        sa.Column("received_at", _UTC, nullable=False),
        sa.Column("next_attempt_at", _UTC, nullable=True),
        sa.Column("closed_reason", sa.String(20), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id"),
        sa.UniqueConstraint("lease_id"),
    )
    op.create_index("ix_outbound_attempts_campaign", "outbound_attempts", ["campaign_id", "wave", "attempt"])


def downgrade() -> None:
    op.drop_index("ix_outbound_attempts_campaign", table_name="outbound_attempts")
    op.drop_table("outbound_attempts")
    op.drop_table("outbound_progress")
    for name in ("ix_outbound_leases_open_expiry", "ux_outbound_leases_open_agent", "ux_outbound_leases_open_customer"):
        op.drop_index(name, table_name="outbound_leases")
    op.drop_table("outbound_leases")
    with op.batch_alter_table("decisions") as batch:
        for column in ("lease_id", "wave", "campaign_id", "channel"):
            batch.drop_column(column)
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("team")
    with op.batch_alter_table("waves") as batch:
        for column in ("assigned_teams", "assigned_agents", "retry", "max_attempts", "calling_hours"):
            batch.drop_column(column)
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("calling_hours")
