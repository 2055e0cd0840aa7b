"""teams and roles: teams, their leads, a revocation generation, tokens' last use

- `teams`: one row per team (班组); `team_id` is the code (what `agents.team` and the catalog feed's wave
  assignments name), `display_name` what people read. Every team an agent is in today gets a row.
- `team_leads`: teams a lead leads besides the team they are in (a lead may lead several teams).
- `auth_state`: one row whose `generation` goes up with every change of who may do what (token revoked, role,
  team, team lead); servers compare it per request, so a revocation takes effect at once on every worker.
- `api_tokens.last_used_at`: when a server last verified the token (`token list`).
- Roles `analyst` and `admin` join `agent` and `lead` (agents.role is a String(10): no schema change).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 02:00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    teams = op.create_table(
        "teams",
        sa.Column("team_id", sa.String(40), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )
    op.create_table(
        "team_leads",
        sa.Column("team_id", sa.String(40), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.team_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.agent_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "agent_id"),
    )
    op.create_index("ix_team_leads_agent_id", "team_leads", ["agent_id"])
    state = op.create_table(
        "auth_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", _UTC, nullable=True))
    # The teams agents are in already (migration 0006 let `agent team` name any team).
    now = dt.datetime.now(dt.UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as UtcDateTime stores it on SQLite
    existing = op.get_bind().execute(sa.text("SELECT DISTINCT team FROM agents WHERE team IS NOT NULL")).scalars()
    op.bulk_insert(teams, [{"team_id": team, "display_name": None, "created_at": now} for team in sorted(existing)])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
    op.drop_table("auth_state")
    op.drop_index("ix_team_leads_agent_id", table_name="team_leads")
    op.drop_table("team_leads")
    op.drop_table("teams")
