"""statistics: pre-aggregated counters (UTC slots and day blocks), kept by triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

A first look at a long range grouped up to a million rows (SQLite sorts for every GROUP BY, ~1 µs a row).
These tables hold the same counts already grouped, maintained by triggers on insert (rows are only ever
added to local_contacts, pop_log and pop_suppressions), so desktop/storage/stats.py reads a year in a few
tens of thousands of small rows, exactly, for any time zone:

- stats_slots: pops, offers presented and outcomes of each result (one column each, RESULTS) per UTC slot
  of 60 and of 15 minutes (width; slot 'YYYY-MM-DD HH' or 'YYYY-MM-DD HH:MM'). Every offset of a zone in
  use is a multiple of 15 minutes, so a local day or hour is a union of slots: daily and hourly figures.
- stats_blocks: per aligned block of whole UTC days (level 1, 8 or 64 days; block = the first day, days
  since 1970-01-01): outcomes by (offer, result) 'o', by (campaign, wave, result) 'c', by (agent, result)
  'a', whole seconds from pop to outcome 'h' (n and the sum of microseconds) and suppressed offers by
  reason 's'. The parts of a range that are not whole UTC days are read from the covering indexes of 0003.
- local_contacts.cb_kept (callbacks only): 1 once another outcome for that customer was recorded after the
  callback was agreed and no later than its time + CALLBACK_GRACE_S (the definition of desktop/services/
  stats.py), else 0; set when the callback's time is known and when a later outcome arrives, in whichever
  order the rows are written. Callbacks due / kept / missed are then counts over one index range.

Sentinels keep the keys NOT NULL (a NULL would never match ON CONFLICT): k1 '' and k2 -1 for "none".
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = (1, 8, 64)
RESULTS = ("accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb")  # OutcomeResult
CALLBACK_GRACE_S = 1800  # desktop.domain.stats.CALLBACK_GRACE (a test checks they agree)
_LEVELS_SQL = "(VALUES " + ", ".join(f"({n})" for n in LEVELS) + ") AS lv"


def _day(x: str) -> str:
    """Days since 1970-01-01 of a stored UTC time (text)."""
    return f"(CAST(strftime('%s', substr({x}, 1, 10)) AS INTEGER) / 86400)"


def _quarter(x: str) -> str:
    return f"substr({x}, 1, 14) || printf('%02d', (CAST(substr({x}, 15, 2) AS INTEGER) / 15) * 15)"


# Whole microseconds from pop to outcome, as trg_local_contacts_pop_us (0003) computes pop_us; computed here
# again because the order in which SQLite fires two AFTER INSERT triggers is not something to rely on.
def _pop_us(p: str, r: str) -> str:
    return (f"(CASE WHEN {p} IS NULL THEN NULL ELSE "
            f"(CAST(strftime('%s', substr({r}, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr({p}, 1, 19)) AS INTEGER))"
            f" * 1000000 + CAST(substr({r}, 21, 6) AS INTEGER) - CAST(substr({p}, 21, 6) AS INTEGER) END)")


_SLOT_COLUMNS = ("pops", "presented", *RESULTS)
_UPSERT_SLOT = "ON CONFLICT (width, slot) DO UPDATE SET " + ", ".join(f"{c} = {c} + excluded.{c}" for c in _SLOT_COLUMNS)
_INSERT_SLOT = f"INSERT INTO stats_slots (width, slot, {', '.join(_SLOT_COLUMNS)})"
_UPSERT_BLOCK = ("ON CONFLICT (level, block, kind, k1, k2, result) DO UPDATE SET n = n + excluded.n,"
                 " us = us + excluded.us")


def _outcome_inserts(src: str, where: str, grouped: bool) -> list[str]:
    """INSERT … SELECT statements adding the rows of `src` (NEW in a trigger, local_contacts in the back-fill)
    to the counters."""
    t = "t" if grouped else "NEW"
    count = "count(*)" if grouped else "1"
    us_sum = "sum" if grouped else ""
    d = _day(f"{t}.recorded_at")

    def g(keys: str) -> str:
        return f" GROUP BY {keys}" if grouped else ""

    from_ = f"FROM {src} AS {t}" if grouped else ""
    lv = f"{from_}, {_LEVELS_SQL}" if grouped else f"FROM {_LEVELS_SQL}"
    w = f" WHERE {where}" if where else " WHERE 1"
    pop_us = _pop_us(f"{t}.popped_at", f"{t}.recorded_at")
    per_result = ", ".join(f"{'sum' if grouped else ''}({t}.result = '{r}')" for r in RESULTS)
    return [
        f"{_INSERT_SLOT} SELECT 60, substr({t}.recorded_at, 1, 13), 0, 0, {per_result} {from_}{w}{g('2')}"
        f" {_UPSERT_SLOT}",
        f"{_INSERT_SLOT} SELECT 15, {_quarter(f'{t}.recorded_at')}, 0, 0, {per_result} {from_}{w}{g('2')}"
        f" {_UPSERT_SLOT}",
        f"INSERT INTO stats_blocks (level, block, kind, k1, k2, result, n, us)"
        f" SELECT lv.column1, {d} - {d} % lv.column1, 'o', {t}.offer_id, -1, {t}.result, {count}, 0"
        f" {lv}{w} AND {t}.offer_id IS NOT NULL{g('1, 2, 4, 6')} {_UPSERT_BLOCK}",
        f"INSERT INTO stats_blocks (level, block, kind, k1, k2, result, n, us)"
        f" SELECT lv.column1, {d} - {d} % lv.column1, 'c', {t}.campaign_id, coalesce({t}.wave, -1), {t}.result,"
        f" {count}, 0 {lv}{w} AND {t}.campaign_id IS NOT NULL{g('1, 2, 4, 5, 6')} {_UPSERT_BLOCK}",
        f"INSERT INTO stats_blocks (level, block, kind, k1, k2, result, n, us)"
        f" SELECT lv.column1, {d} - {d} % lv.column1, 'a', {t}.agent_id, -1, {t}.result, {count}, 0"
        f" {lv}{w} AND {t}.agent_id IS NOT NULL{g('1, 2, 4, 6')} {_UPSERT_BLOCK}",
        f"INSERT INTO stats_blocks (level, block, kind, k1, k2, result, n, us)"
        f" SELECT lv.column1, {d} - {d} % lv.column1, 'h', '', {pop_us} / 1000000, '', {count}, {us_sum}({pop_us})"
        f" {lv}{w} AND {pop_us} >= 0{g('1, 2, 5')} {_UPSERT_BLOCK}",
    ]


def _pop_inserts(grouped: bool) -> list[str]:
    t = "t" if grouped else "NEW"
    from_ = f"FROM pop_log AS {t}" if grouped else ""
    count, total = ("count(*)", f"sum(coalesce(json_array_length({t}.offers_presented), 0))") if grouped else (
        "1", f"coalesce(json_array_length({t}.offers_presented), 0)")
    g = " GROUP BY 2" if grouped else ""
    zeros = ", ".join("0" for _ in RESULTS)
    return [
        f"{_INSERT_SLOT} SELECT 60, substr({t}.popped_at, 1, 13), {count}, {total}, {zeros} {from_} WHERE 1{g}"
        f" {_UPSERT_SLOT}",
        f"{_INSERT_SLOT} SELECT 15, {_quarter(f'{t}.popped_at')}, {count}, {total}, {zeros} {from_} WHERE 1{g}"
        f" {_UPSERT_SLOT}",
    ]


def _suppression_insert(grouped: bool) -> str:
    t = "t" if grouped else "NEW"
    from_ = f"FROM pop_suppressions AS {t}, {_LEVELS_SQL}" if grouped else f"FROM {_LEVELS_SQL}"
    d = _day(f"{t}.popped_at")
    count = "count(*)" if grouped else "1"
    g = " GROUP BY 1, 2, 4" if grouped else ""
    return (f"INSERT INTO stats_blocks (level, block, kind, k1, k2, result, n, us)"
            f" SELECT lv.column1, {d} - {d} % lv.column1, 's', {t}.reason, -1, '', {count}, 0"
            f" {from_} WHERE 1{g} {_UPSERT_BLOCK}")


def _trigger(name: str, table: str, statements: list[str]) -> str:
    body = ";\n            ".join(statements)
    return f"""
        CREATE TRIGGER {name} AFTER INSERT ON {table}
        BEGIN
            {body};
        END"""


def _keeps(later: str, cb: str) -> str:
    """SQL: outcome `later` keeps callback `cb` (same customer, after it was agreed, by its time + grace)."""
    return (f"{later}.customer_id = {cb}.customer_id AND {later}.recorded_at > {cb}.recorded_at"
            f" AND {later}.recorded_at <= strftime('%Y-%m-%d %H:%M:%S', {cb}.callback_at,"
            f" '+{CALLBACK_GRACE_S} seconds') || '.000000'")


_CB_KEPT = (f"UPDATE local_contacts SET cb_kept = EXISTS (SELECT 1 FROM local_contacts AS later"
            f" INDEXED BY ix_local_contacts_customer WHERE {_keeps('later', 'NEW')})"
            " WHERE outcome_id = NEW.outcome_id")

TRIGGERS = {
    "trg_local_contacts_aggregates": _trigger("trg_local_contacts_aggregates", "local_contacts",
                                              _outcome_inserts("local_contacts", "", grouped=False)),
    # An outcome keeps the open callbacks of its customer it comes in time for.
    "trg_local_contacts_keeps_callbacks": f"""
        CREATE TRIGGER trg_local_contacts_keeps_callbacks AFTER INSERT ON local_contacts
        BEGIN
            UPDATE local_contacts SET cb_kept = 1
            WHERE customer_id = NEW.customer_id AND recorded_at < NEW.recorded_at AND result = 'callback'
              AND cb_kept = 0 AND {_keeps('NEW', 'local_contacts')};
        END""",
    # A callback's own flag, once its time is known: written with the row, or filled in by
    # trg_local_contacts_callback_at (0003) from the outbox payload.
    "trg_local_contacts_callback_inserted": f"""
        CREATE TRIGGER trg_local_contacts_callback_inserted AFTER INSERT ON local_contacts
        WHEN NEW.result = 'callback' AND NEW.callback_at IS NOT NULL
        BEGIN
            {_CB_KEPT};
        END""",
    "trg_local_contacts_callback_known": f"""
        CREATE TRIGGER trg_local_contacts_callback_known AFTER UPDATE OF callback_at ON local_contacts
        WHEN NEW.result = 'callback' AND NEW.callback_at IS NOT NULL
        BEGIN
            {_CB_KEPT};
        END""",
    "trg_pop_log_aggregates": _trigger("trg_pop_log_aggregates", "pop_log", _pop_inserts(grouped=False)),
    "trg_pop_suppressions_aggregates": _trigger("trg_pop_suppressions_aggregates", "pop_suppressions",
                                                [_suppression_insert(grouped=False)]),
}


def back_fill_callbacks() -> str:
    return (f"UPDATE local_contacts AS cb SET cb_kept = EXISTS (SELECT 1 FROM local_contacts AS later"
            f" INDEXED BY ix_local_contacts_customer WHERE {_keeps('later', 'cb')})"
            " WHERE cb.result = 'callback' AND cb.callback_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "stats_slots",
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        *[sa.Column(c, sa.Integer(), nullable=False) for c in _SLOT_COLUMNS],
        sa.PrimaryKeyConstraint("width", "slot"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stats_blocks",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("k1", sa.String(length=64), nullable=False),
        sa.Column("k2", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("level", "block", "kind", "k1", "k2", "result"),
        sqlite_with_rowid=False,
    )
    op.add_column("local_contacts", sa.Column("cb_kept", sa.Integer(), nullable=True))
    op.drop_index("ix_local_contacts_callback", "local_contacts")
    op.create_index("ix_local_contacts_callback_kept", "local_contacts", ["result", "callback_at", "cb_kept"])
    # Existing rows, once; then the triggers keep the counters.
    op.execute(back_fill_callbacks())
    for sql in _outcome_inserts("local_contacts", "", grouped=True):
        op.execute(sql)
    for sql in _pop_inserts(grouped=True):
        op.execute(sql)
    op.execute(_suppression_insert(grouped=True))
    for sql in TRIGGERS.values():
        op.execute(sql)


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_local_contacts_callback_kept", "local_contacts")
    op.create_index("ix_local_contacts_callback", "local_contacts", ["result", "callback_at"])
    # Not a batch migration: recreating local_contacts would drop the triggers of 0003.
    op.execute("ALTER TABLE local_contacts DROP COLUMN cb_kept")
    op.drop_table("stats_blocks")
    op.drop_table("stats_slots")
