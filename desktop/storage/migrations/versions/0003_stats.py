"""statistics: callback times, offers-presented counts, suppression rows, covering indexes

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23

Team-lead statistics (desktop/storage/stats.py) read ranges of local_contacts, pop_log and pop_suppressions
through covering indexes, so a refresh touches only index pages. The derived columns and the suppression rows
are filled by triggers, so the code that writes outcomes and pops (desktop/storage/store.py) stays as it is
and can never forget them; existing rows are filled here once.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ISO 8601 with a ±HH:MM offset (what OutcomeRecord.to_payload writes) → the store's UTC text, to the second.
# The fraction is dropped before SQLite parses it (SQLite rounds fractions to milliseconds).
_CALLBACK_UTC = (
    "CASE WHEN {x} IS NULL THEN NULL "
    "WHEN {x} LIKE '%+__:__' OR {x} LIKE '%-__:__' "
    "THEN datetime(substr({x}, 1, 19) || substr({x}, -6)) || '.000000' "
    "ELSE datetime(substr({x}, 1, 19)) || '.000000' END"
)
_PAYLOAD_CALLBACK = "json_extract(o.payload, '$.callback_at')"
# Whole microseconds from pop to outcome, exact: strftime('%s') on the seconds part only (SQLite would round
# a fraction to milliseconds), the microseconds added from the text.
_POP_US = (
    "CASE WHEN {p} IS NULL THEN NULL ELSE "
    "(CAST(strftime('%s', substr({r}, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr({p}, 1, 19)) AS INTEGER))"
    " * 1000000 + CAST(substr({r}, 21, 6) AS INTEGER) - CAST(substr({p}, 21, 6) AS INTEGER) END"
)

TRIGGERS = {
    "trg_local_contacts_callback_at": f"""
        CREATE TRIGGER trg_local_contacts_callback_at AFTER INSERT ON local_contacts
        WHEN NEW.result = 'callback' AND NEW.callback_at IS NULL
        BEGIN
            UPDATE local_contacts SET callback_at = (
                SELECT {_CALLBACK_UTC.format(x=_PAYLOAD_CALLBACK)} FROM outbox o
                WHERE o.outcome_id = NEW.outcome_id)
            WHERE outcome_id = NEW.outcome_id;
        END""",
    "trg_local_contacts_pop_us": f"""
        CREATE TRIGGER trg_local_contacts_pop_us AFTER INSERT ON local_contacts
        WHEN NEW.popped_at IS NOT NULL AND NEW.pop_us IS NULL
        BEGIN
            UPDATE local_contacts SET pop_us = {_POP_US.format(p="NEW.popped_at", r="NEW.recorded_at")}
            WHERE outcome_id = NEW.outcome_id;
        END""",
    "trg_pop_log_stats": """
        CREATE TRIGGER trg_pop_log_stats AFTER INSERT ON pop_log
        BEGIN
            UPDATE pop_log SET n_presented = coalesce(json_array_length(NEW.offers_presented), 0)
            WHERE id = NEW.id;
            INSERT INTO pop_suppressions (pop_id, popped_at, agent_id, campaign_id, wave, offer_id, reason)
            SELECT NEW.id, NEW.popped_at, NEW.agent_id, NEW.campaign_id, NEW.wave,
                   json_extract(s.value, '$.offer_id'), c.value
            FROM json_each(NEW.suppressed) AS s, json_each(s.value, '$.codes') AS c
            WHERE s.type = 'object' AND c.type = 'text';
        END""",
}


def upgrade() -> None:
    with op.batch_alter_table("local_contacts") as batch:
        batch.add_column(sa.Column("callback_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("pop_us", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("pop_log") as batch:
        batch.add_column(sa.Column("n_presented", sa.Integer(), nullable=True))
    op.create_table(
        "pop_suppressions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pop_id", sa.Integer(), nullable=False),
        sa.Column("popped_at", sa.DateTime(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("campaign_id", sa.String(length=40), nullable=True),
        sa.Column("wave", sa.Integer(), nullable=True),
        sa.Column("offer_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(["pop_id"], ["pop_log.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pop_suppressions_pop_id", "pop_suppressions", ["pop_id"])
    op.create_index("ix_pop_suppressions_stats", "pop_suppressions",
                    ["popped_at", "agent_id", "campaign_id", "wave", "reason"])
    op.create_index("ix_local_contacts_stats", "local_contacts",
                    ["recorded_at", "agent_id", "campaign_id", "wave", "offer_id", "result", "pop_us"])
    op.create_index("ix_local_contacts_callback", "local_contacts", ["result", "callback_at"])
    op.create_index("ix_pop_log_stats", "pop_log", ["popped_at", "agent_id", "campaign_id", "wave", "n_presented"])

    # Existing rows, once (outbox rows already pruned after delivery no longer know their callback time).
    op.execute(f"""
        UPDATE local_contacts SET callback_at = (
            SELECT {_CALLBACK_UTC.format(x=_PAYLOAD_CALLBACK)} FROM outbox o
            WHERE o.outcome_id = local_contacts.outcome_id)
        WHERE result = 'callback'""")
    op.execute(f"UPDATE local_contacts SET pop_us = {_POP_US.format(p='popped_at', r='recorded_at')}"
               " WHERE popped_at IS NOT NULL")
    op.execute("UPDATE pop_log SET n_presented = coalesce(json_array_length(offers_presented), 0)")
    op.execute("""
        INSERT INTO pop_suppressions (pop_id, popped_at, agent_id, campaign_id, wave, offer_id, reason)
        SELECT p.id, p.popped_at, p.agent_id, p.campaign_id, p.wave, json_extract(s.value, '$.offer_id'), c.value
        FROM pop_log AS p, json_each(p.suppressed) AS s, json_each(s.value, '$.codes') AS c
        WHERE s.type = 'object' AND c.type = 'text'""")
    for sql in TRIGGERS.values():
        op.execute(sql)


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_pop_log_stats", "pop_log")
    op.drop_index("ix_local_contacts_callback", "local_contacts")
    op.drop_index("ix_local_contacts_stats", "local_contacts")
    op.drop_table("pop_suppressions")
    with op.batch_alter_table("pop_log") as batch:
        batch.drop_column("n_presented")
    with op.batch_alter_table("local_contacts") as batch:
        batch.drop_column("pop_us")
        batch.drop_column("callback_at")
