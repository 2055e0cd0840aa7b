"""local store: outbox, local contacts, pop log, cached views

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Migrations spell out plain column types (times are DATETIME text in UTC, see models.UtcDateTime) so they
never depend on today's model code.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pop_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=100), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("decision_id", sa.String(length=36), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("popped_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("offers_presented", sa.JSON(), nullable=False),
        sa.Column("suppressed", sa.JSON(), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=True),
        sa.Column("wave", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pop_log_popped_at", "pop_log", ["popped_at"])
    op.create_index("ix_pop_log_agent_id", "pop_log", ["agent_id", "popped_at"])
    op.create_index("ix_pop_log_decision_id", "pop_log", ["decision_id"])
    op.create_index("ix_pop_log_campaign", "pop_log", ["campaign_id", "wave"])

    op.create_table(
        "outbox",
        sa.Column("outcome_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.String(length=40), nullable=True),
        sa.Column("campaign_id", sa.String(length=40), nullable=True),
        sa.Column("wave", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("call_id", sa.String(length=100), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("pop_id", sa.Integer(), nullable=True),
        sa.Column("popped_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("server_reason", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["pop_id"], ["pop_log.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("outcome_id"),
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "recorded_at"])

    op.create_table(
        "local_contacts",
        sa.Column("outcome_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.String(length=40), nullable=True),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("campaign_id", sa.String(length=40), nullable=True),
        sa.Column("wave", sa.Integer(), nullable=True),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("call_id", sa.String(length=100), nullable=True),
        sa.Column("pop_id", sa.Integer(), nullable=True),
        sa.Column("popped_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["pop_id"], ["pop_log.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("outcome_id"),
    )
    op.create_index("ix_local_contacts_customer", "local_contacts", ["customer_id", "recorded_at"])
    op.create_index("ix_local_contacts_recorded_at", "local_contacts", ["recorded_at"])
    op.create_index("ix_local_contacts_agent", "local_contacts", ["agent_id", "recorded_at"])
    op.create_index("ix_local_contacts_offer", "local_contacts", ["offer_id", "recorded_at"])
    op.create_index("ix_local_contacts_campaign", "local_contacts", ["campaign_id", "wave", "recorded_at"])
    op.create_index("ix_local_contacts_decision", "local_contacts", ["decision_id"])

    op.create_table(
        "cached_documents",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_index("ix_cached_documents_fetched_at", "cached_documents", ["fetched_at"])
    op.create_table(
        "cached_views",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["cached_documents.customer_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_cached_views_customer_id", "cached_views", ["customer_id"])


def downgrade() -> None:
    op.drop_table("cached_views")
    op.drop_table("cached_documents")
    op.drop_table("local_contacts")
    op.drop_table("outbox")
    op.drop_table("pop_log")
