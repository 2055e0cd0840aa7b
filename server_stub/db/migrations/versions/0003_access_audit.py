"""access audit: who read which customer, and every change of an agent's role

`customer_access` holds one row per customer a response showed (pop, the owners listed for a shared number,
search results): the agent, the token, the route and when, for an administrator to query
(`callcue-server audit access`), never in the plain logs. `agent_role_changes` logs every role an agent was
given (`callcue-server agent role`); each existing agent gets one row with its current role, so the log
starts complete.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 20:00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer_access",
        sa.Column("access_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(16), nullable=True),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("access_id"),
    )
    op.create_index("ix_customer_access_agent_at", "customer_access", ["agent_id", "at"], unique=False)
    op.create_index("ix_customer_access_customer_at", "customer_access", ["customer_id", "at"], unique=False)

    changes = op.create_table(
        "agent_role_changes",
        sa.Column("change_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("old_role", sa.String(10), nullable=True),
        sa.Column("new_role", sa.String(10), nullable=False),
        sa.Column("changed_at", _UTC, nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("change_id"),
    )
    op.create_index("ix_agent_role_changes_agent_id", "agent_role_changes", ["agent_id"], unique=False)

    connection = op.get_bind()
    agents = sa.table("agents", sa.column("agent_id", sa.String), sa.column("role", sa.String))
    existing = connection.execute(sa.select(agents.c.agent_id, agents.c.role).order_by(agents.c.agent_id)).all()
    if existing:
        # SQLite keeps no zone: write what UtcDateTime writes there (naive UTC).
        now = dt.datetime.now(dt.UTC)
        stamp = now.replace(tzinfo=None) if connection.dialect.name == "sqlite" else now
        op.bulk_insert(changes, [
            {"agent_id": agent_id, "old_role": None, "new_role": role or "agent", "changed_at": stamp,
             "changed_by": "migration 0003", "reason": "role held before role changes were logged"}
            for agent_id, role in existing
        ])


def downgrade() -> None:
    op.drop_index("ix_agent_role_changes_agent_id", table_name="agent_role_changes")
    op.drop_table("agent_role_changes")
    op.drop_index("ix_customer_access_customer_at", table_name="customer_access")
    op.drop_index("ix_customer_access_agent_at", table_name="customer_access")
    op.drop_table("customer_access")
