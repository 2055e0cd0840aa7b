"""undo: retractions of outcomes already sent, and counters that forget a deleted outcome

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

An agent may undo an outcome (desktop/services/outcomes.py OutcomeService.undo). Its local_contacts row is
deleted either way, so local guidance and statistics no longer see it; the trigger below subtracts it from
the counters of migration 0005 (they were kept on insert only) and re-decides the kept flag of the
customer's callbacks (the undone outcome may have been what kept one). `retractions` queues, for an outcome
that may have reached the server, the POST /v1/outcomes/{outcome_id}/retraction that sync sends once.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = (1, 8, 64)
RESULTS = ("accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb")  # as 0005
CALLBACK_GRACE_S = 1800  # as 0005
_LEVELS_SQL = "(VALUES " + ", ".join(f"({n})" for n in LEVELS) + ") AS lv"
_SLOT_COLUMNS = ("pops", "presented", *RESULTS)
_UPSERT_SLOT = "ON CONFLICT (width, slot) DO UPDATE SET " + ", ".join(f"{c} = {c} + excluded.{c}" for c in _SLOT_COLUMNS)
_INSERT_SLOT = f"INSERT INTO stats_slots (width, slot, {', '.join(_SLOT_COLUMNS)})"
_INSERT_BLOCK = "INSERT INTO stats_blocks (level, block, kind, k1, k2, result, n, us)"
_UPSERT_BLOCK = ("ON CONFLICT (level, block, kind, k1, k2, result) DO UPDATE SET n = n + excluded.n,"
                 " us = us + excluded.us")
_DAY = "(CAST(strftime('%s', substr(OLD.recorded_at, 1, 10)) AS INTEGER) / 86400)"
_QUARTER = "substr(OLD.recorded_at, 1, 14) || printf('%02d', (CAST(substr(OLD.recorded_at, 15, 2) AS INTEGER) / 15) * 15)"
_POP_US = ("(CASE WHEN OLD.popped_at IS NULL THEN NULL ELSE "
           "(CAST(strftime('%s', substr(OLD.recorded_at, 1, 19)) AS INTEGER)"
           " - CAST(strftime('%s', substr(OLD.popped_at, 1, 19)) AS INTEGER))"
           " * 1000000 + CAST(substr(OLD.recorded_at, 21, 6) AS INTEGER) - CAST(substr(OLD.popped_at, 21, 6) AS INTEGER) END)")
_BLOCK = f"lv.column1, {_DAY} - {_DAY} % lv.column1"
_PER_RESULT = ", ".join(f"-(OLD.result = '{r}')" for r in RESULTS)
_KEEPS = ("later.customer_id = local_contacts.customer_id AND later.recorded_at > local_contacts.recorded_at"
          " AND later.recorded_at <= strftime('%Y-%m-%d %H:%M:%S', local_contacts.callback_at,"
          f" '+{CALLBACK_GRACE_S} seconds') || '.000000'")

# The exact opposite of the per-row statements of 0005's trg_local_contacts_aggregates.
_SUBTRACT = [
    f"{_INSERT_SLOT} SELECT 60, substr(OLD.recorded_at, 1, 13), 0, 0, {_PER_RESULT} {_UPSERT_SLOT}",
    f"{_INSERT_SLOT} SELECT 15, {_QUARTER}, 0, 0, {_PER_RESULT} {_UPSERT_SLOT}",
    f"{_INSERT_BLOCK} SELECT {_BLOCK}, 'o', OLD.offer_id, -1, OLD.result, -1, 0 FROM {_LEVELS_SQL}"
    f" WHERE OLD.offer_id IS NOT NULL {_UPSERT_BLOCK}",
    f"{_INSERT_BLOCK} SELECT {_BLOCK}, 'c', OLD.campaign_id, coalesce(OLD.wave, -1), OLD.result, -1, 0"
    f" FROM {_LEVELS_SQL} WHERE OLD.campaign_id IS NOT NULL {_UPSERT_BLOCK}",
    f"{_INSERT_BLOCK} SELECT {_BLOCK}, 'a', OLD.agent_id, -1, OLD.result, -1, 0 FROM {_LEVELS_SQL}"
    f" WHERE OLD.agent_id IS NOT NULL {_UPSERT_BLOCK}",
    f"{_INSERT_BLOCK} SELECT {_BLOCK}, 'h', '', {_POP_US} / 1000000, '', -1, -({_POP_US}) FROM {_LEVELS_SQL}"
    f" WHERE {_POP_US} >= 0 {_UPSERT_BLOCK}",
    # The customer's callbacks: kept only by an outcome that still exists (no alias: SQLite allows none in a
    # trigger's UPDATE).
    "UPDATE local_contacts SET cb_kept = EXISTS (SELECT 1 FROM local_contacts AS later"
    f" INDEXED BY ix_local_contacts_customer WHERE {_KEEPS})"
    " WHERE customer_id = OLD.customer_id AND result = 'callback' AND callback_at IS NOT NULL",
]
TRIGGER = "trg_local_contacts_forget"


def upgrade() -> None:
    op.create_table(
        "retractions",
        sa.Column("outcome_id", sa.String(length=36), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("outcome_id"),
    )
    body = ";\n            ".join(_SUBTRACT)
    op.execute(f"""
        CREATE TRIGGER {TRIGGER} AFTER DELETE ON local_contacts
        BEGIN
            {body};
        END""")


def downgrade() -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
    op.drop_table("retractions")
