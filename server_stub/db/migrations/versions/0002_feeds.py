"""feeds: the facts an operator's analytics system feeds in

Customer fields a carrier's agent expects (brand, service status, balance, arrears, contract end, account
manager, handset, star level, household / group relation, retirement by a full snapshot); numbers shared by
several customers; bills, subscriptions and the operator's own scores; contacts from every channel with
their feed key; offers with a product, eligibility conditions and retirement; customer caps across
campaigns; campaign members per wave with priority and reason; a log of applied feed files.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("brand", sa.String(40), nullable=True))
        batch.add_column(sa.Column("service_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("balance_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("arrears_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("contract_end", sa.Date(), nullable=True))
        batch.add_column(sa.Column("account_manager", sa.String(100), nullable=True))
        batch.add_column(sa.Column("handset", sa.String(100), nullable=True))
        batch.add_column(sa.Column("star_level", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("relation_kind", sa.String(20), nullable=True))
        batch.add_column(sa.Column("group_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("group_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("retired_at", _UTC, nullable=True))

    # One number, several customers: the key becomes (msisdn, customer_id). A new table, copied over, works
    # the same on both backends (SQLite cannot alter a primary key in place).
    _rebuild_numbers(["msisdn", "customer_id"])

    op.create_table(
        "bills",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", "month"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("category", sa.String(20), nullable=True),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", "product_id"),
    )
    op.create_table(
        "customer_scores",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("churn_risk", sa.Float(), nullable=True),
        sa.Column("price_level", sa.String(10), nullable=True),
        sa.Column("complaint_level", sa.String(10), nullable=True),
        sa.Column("churn_reason", sa.Text(), nullable=True),
        sa.Column("price_reason", sa.Text(), nullable=True),
        sa.Column("complaint_reason", sa.Text(), nullable=True),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("scored_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("external_id", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_complaints_external_id", ["external_id"])

    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("product_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("eligibility", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("retired_at", _UTC, nullable=True))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("retired_at", _UTC, nullable=True))

    op.create_table(
        "customer_caps",
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("max_contacts", sa.Integer(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    with op.batch_alter_table("campaign_members") as batch:
        batch.add_column(sa.Column("wave", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reason", sa.String(200), nullable=True))
        batch.add_column(sa.Column("source", sa.String(20), nullable=True))
        batch.add_column(sa.Column("added_at", _UTC, nullable=True))
        batch.create_index("ix_campaign_members_worklist", ["campaign_id", "wave", "priority"], unique=False)

    with op.batch_alter_table("contact_history") as batch:
        batch.add_column(sa.Column("purpose", sa.String(20), nullable=False, server_default="marketing"))
        batch.add_column(sa.Column("topic", sa.String(200), nullable=True))
        batch.add_column(sa.Column("call_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_contact_history_external_id", ["external_id"])

    op.create_table(
        "feed_runs",
        sa.Column("run_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )


def _rebuild_numbers(key: list[str]) -> None:
    op.create_table(
        "customer_numbers_new",
        sa.Column("msisdn", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*key, name="pk_customer_numbers_" + "_".join(key)),
    )
    op.execute("INSERT INTO customer_numbers_new (msisdn, customer_id, is_primary) "
               "SELECT msisdn, customer_id, is_primary FROM customer_numbers")
    op.drop_table("customer_numbers")
    op.rename_table("customer_numbers_new", "customer_numbers")
    op.create_index("ix_customer_numbers_customer_id", "customer_numbers", ["customer_id"], unique=False)


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def downgrade() -> None:
    op.drop_table("feed_runs")
    with op.batch_alter_table("contact_history") as batch:
        batch.drop_constraint("uq_contact_history_external_id", type_="unique")
        for name in ("external_id", "call_id", "topic", "purpose"):
            batch.drop_column(name)
    with op.batch_alter_table("campaign_members") as batch:
        batch.drop_index("ix_campaign_members_worklist")
        for name in ("added_at", "source", "reason", "priority", "wave"):
            batch.drop_column(name)
    op.drop_table("customer_caps")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("retired_at")
    with op.batch_alter_table("offers") as batch:
        for name in ("retired_at", "eligibility", "product_id"):
            batch.drop_column(name)
    with op.batch_alter_table("complaints") as batch:
        batch.drop_constraint("uq_complaints_external_id", type_="unique")
        batch.drop_column("external_id")
    op.drop_table("customer_scores")
    op.drop_table("subscriptions")
    op.drop_table("bills")
    op.execute("DELETE FROM customer_numbers WHERE rowid NOT IN (SELECT min(rowid) FROM customer_numbers "
               "GROUP BY msisdn)" if not _is_postgresql() else
               "DELETE FROM customer_numbers a USING customer_numbers b WHERE a.msisdn = b.msisdn "
               "AND a.customer_id > b.customer_id")
    _rebuild_numbers(["msisdn"])
    with op.batch_alter_table("customers") as batch:
        for name in ("retired_at", "group_name", "group_id", "relation_kind", "star_level", "handset",
                     "account_manager", "contract_end", "arrears_fen", "balance_fen", "service_status", "brand"):
            batch.drop_column(name)
