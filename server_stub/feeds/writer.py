"""The feed writer: typed rows of one feed kind -> a staging table -> one set-based merge into the kind's table.

    with open_writer(engine, "usage", ("customer_id", "month", "data_mb", "voice_min")) as writer:
        writer.write(rows)          # tuples in that column order, typed values (int, date, aware datetime …)
        result = writer.finish()    # checks, merge, commit; FeedFailure listing the bad rows, if any

The CSV runner uses the same writer with rows it converted itself (stage() takes (line, op, why, *values)
tuples) and runs check() and merge() as separate steps around its own bookkeeping.

How it works, on both backends:
- rows go to a staging table first: PostgreSQL COPYs them into a TEMP table (psycopg's write_row), SQLite
  executemany()s them into a temp table (its own file: the import connection's memory stays bounded);
- duplicate keys within the file are found in the staging table (the first line wins, the later ones are
  bad rows), and so are references to rows that do not exist (an unknown customer, campaign, wave, offer):
  set-based, no per-row round trips;
- explicit deletes, then one INSERT … SELECT … ON CONFLICT (key) DO UPDATE … WHERE (columns) IS DISTINCT
  FROM (new columns): rows that did not change are not written, and are counted as unchanged; then --full
  retires or removes what the file no longer holds.
On SQLite the staging runs outside the write lock (pops keep writing their decisions meanwhile); the checks
and the merge run in one BEGIN IMMEDIATE transaction. On PostgreSQL all of it is one transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from server_stub.feeds.cells import json_text
from server_stub.feeds.fields import FeedKind
from server_stub.feeds.kinds import get_kind
from server_stub.feeds.report import FeedFailure
from server_stub.feeds.values import sqlite_datetime

# _op values of a staged row
UPSERT, DELETE, REJECTED = 0, 1, 2
# _why of a rejected row: the reference codes of the kinds (1..99) and these
WHY_CONVERSION, WHY_DUPLICATE = 100, 101
STAGE, KEYS, STAGE_NUMBERS, STAGE_CHANGED = "feed_stage", "feed_keys", "feed_numbers", "feed_changed"
NUMBERS_COLUMN = "_numbers"  # customers: the row's phone numbers as a JSON list (primary first)
CHUNK_ROWS = 50_000  # PostgreSQL merges every this many rows, while the next ones are being read
# The import connection's SQLite page caches (KiB, negative = size): big enough for the B-tree of a
# province's customers, small enough for the 300 MB budget of a 5,000,000-row import.
SQLITE_CACHE_KIB, SQLITE_TEMP_CACHE_KIB = 96 * 1024, 48 * 1024
# The import session's PostgreSQL memory (server side, for this transaction only).
PG_WORK_MEM, PG_TEMP_BUFFERS = "256MB", "512MB"


class StageProblem(NamedTuple):
    """A row the database checks refused: its line, why (_why), the column named and the staged values."""

    line: int
    why: int
    column: str
    values: dict[str, Any]
    first_line: int | None = None  # duplicates: the line that was kept


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0  # explicit delete rows that removed (customers: retired) a row
    delete_noops: int = 0  # explicit delete rows of rows that were not there (or already retired)
    retired: int = 0  # --full: rows retired or removed because the file no longer holds them


@dataclass
class CheckResult:
    problems: list[StageProblem] = field(default_factory=list)  # the first `limit`, by line
    rejected: int = 0  # how many rows the checks refused in all


class _Db:
    """The few things the writer does with a DBAPI connection, per backend."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        module = type(connection).__module__
        self.backend = "sqlite" if module.startswith("sqlite3") else "postgresql"
        self.sqlite = self.backend == "sqlite"
        self.dialect = sqlite_dialect.dialect() if self.sqlite else pg_dialect.dialect()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, params) if params else cursor.execute(sql)
            return cursor.rowcount
        finally:
            cursor.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, params) if params else cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def scalar(self, sql: str) -> Any:
        rows = self.query(sql)
        return rows[0][0] if rows else None

    @property
    def placeholder(self) -> str:
        return "?" if self.sqlite else "%s"

    def temp(self, name: str) -> str:
        return f"temp.{name}" if self.sqlite else name

    def literal(self, value: Any) -> str:
        """An SQL literal for the writer's own values (times, codes); never for file contents."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, dt.datetime):
            if self.sqlite:
                return f"'{sqlite_datetime(value)}'"
            return f"'{value.astimezone(dt.UTC).isoformat()}'::timestamptz"
        text = str(value)
        if "'" in text:
            raise ValueError("literals are the writer's own codes")
        return f"'{text}'"

    def column_type(self, kind: FeedKind, column: str) -> str:
        if column == NUMBERS_COLUMN:
            return "TEXT"
        target = kind.table.c[column]
        return target.type.compile(dialect=self.dialect)

    def distinct(self, left: Sequence[str], right: Sequence[str]) -> str:
        if not left:
            return "FALSE"
        pair = (left[0], right[0]) if len(left) == 1 else (f"({', '.join(left)})", f"({', '.join(right)})")
        return f"{pair[0]} IS NOT {pair[1]}" if self.sqlite else f"{pair[0]} IS DISTINCT FROM {pair[1]}"


class TableWriter:
    """Stages and merges the rows of one feed kind on one DBAPI connection (sqlite3 or psycopg), chunk by
    chunk, inside one transaction the caller commits (finish() commits for the generator's use).

    Per chunk (PostgreSQL: every `chunk_rows` rows; SQLite: the whole file in one chunk, staged before the
    write lock is taken): stage(), then check_chunk() (references, in-file duplicates), then apply_chunk()
    (deletes, upserts, the customers' numbers), then end_chunk(). apply_full() at the end, for --full."""

    def __init__(self, connection: Any, kind: FeedKind | str, columns: Sequence[str] | None = None, *,
                 full: bool = False, now: dt.datetime | None = None, numbers: bool = False,
                 chunk_rows: int = CHUNK_ROWS, defer_duplicates: bool = False) -> None:
        self.db = _Db(connection)
        self.kind = get_kind(kind) if isinstance(kind, str) else kind
        table_columns = [column.name for column in self.kind.table.c]
        columns = list(columns) if columns is not None else [
            c for c in table_columns if c not in self._managed_columns() and not self._is_serial(c)]
        for column in columns:
            if column not in table_columns:
                raise ValueError(f"{self.kind.table.name} has no column {column!r}")
        missing_key = [column for column in self.kind.key if column not in columns]
        if missing_key:
            raise ValueError(f"the key column(s) {', '.join(missing_key)} must be written")
        if self.kind.full_scope_column and self.kind.full_scope_column not in self.kind.key:
            raise ValueError("a --full scope column must be part of the key")
        self.given_columns = tuple(columns)  # the order write() takes values in
        self.columns = [*self.kind.key, *(c for c in columns if c not in self.kind.key)]  # the order staged
        self.numbers = numbers and self.kind.name == "customers"
        self.stage_columns = self.columns + ([NUMBERS_COLUMN] if self.numbers else [])
        self.full = full
        self.now = now or dt.datetime.now(dt.UTC)
        self.chunk_rows = chunk_rows
        # PostgreSQL, chunk by chunk: look for repeated keys once at the end (duplicates_found()) instead of
        # per chunk; a run that has some is redone in one chunk with the per-row check (they are errors).
        self.defer_duplicates = defer_duplicates and not self.db.sqlite
        self.counts = MergeCounts()
        self.rejected = 0  # rows the checks refused so far (each chunk's CheckResult lists its first ones)
        self._created = False
        self._merging = False
        self._was_empty = False  # PostgreSQL: the table held nothing when the merge began (a first load)
        self._numbers_were_empty = False
        self._direct: tuple[list[str], tuple] | None = None  # a first load's columns and the values it sets
        self._next_line = 0
        self._pending = 0  # rows staged by write()/delete() and not merged yet

    # ------------------------------------------------------------------------------------ tables

    def _managed_columns(self) -> set[str]:
        kind = self.kind
        managed = set(kind.constants) | set(kind.insert_only_now) | set(kind.derived)
        managed |= {column for column in (kind.touch_column, kind.retire_column) if column}
        return managed

    def _is_serial(self, column: str) -> bool:
        table_column = self.kind.table.c[column]
        return bool(table_column.primary_key and table_column.autoincrement is True)

    def _create_tables(self) -> None:
        db, key = self.db, ", ".join(self.kind.key)
        definitions = ["_line BIGINT", "_op SMALLINT", "_why SMALLINT"]
        definitions += [f"{column} {db.column_type(self.kind, column)}" for column in self.stage_columns]
        if db.sqlite:
            drop_temp_tables(db.connection)
            db.execute(f"CREATE TEMP TABLE {STAGE} ({', '.join(definitions)})")
            # One chunk on SQLite: the keys seen are the staged rows themselves.
            db.execute(f"CREATE TEMP VIEW {KEYS} AS SELECT {key}, _line, _op FROM {STAGE}")
        else:
            db.execute(f"CREATE TEMP TABLE {STAGE} ({', '.join(definitions)}) ON COMMIT DROP")
            key_definitions = ", ".join(f"{column} {db.column_type(self.kind, column)}" for column in self.kind.key)
            db.execute(f"CREATE TEMP TABLE {KEYS} ({key_definitions}, _line BIGINT, _op SMALLINT) ON COMMIT DROP")
            if self.numbers:
                db.execute(f"CREATE TEMP TABLE {STAGE_NUMBERS} (customer_id VARCHAR(64), msisdn VARCHAR(20), "
                           "is_primary BOOLEAN) ON COMMIT DROP")
                db.execute(f"CREATE TEMP TABLE {STAGE_CHANGED} (customer_id VARCHAR(64)) ON COMMIT DROP")
        self._created = True

    def stage(self, rows: Iterable[Sequence[Any]]) -> None:
        """Load (line, op, why, *stage_columns) tuples into the chunk's staging table, consuming the
        iterable as it goes (SQLite: executemany, PostgreSQL: COPY): the rows never sit in memory at once."""
        if not self._created:
            self._create_tables()
        names = ", ".join(["_line", "_op", "_why", *self.stage_columns])
        if self.db.sqlite:
            if self._merging:
                raise RuntimeError("SQLite stages the whole feed before merging it")
            marks = ", ".join("?" * (len(self.stage_columns) + 3))
            cursor = self.db.connection.cursor()
            try:
                cursor.executemany(f"INSERT INTO temp.{STAGE} ({names}) VALUES ({marks})", rows)
            finally:
                cursor.close()
            return
        with self.db.connection.cursor() as cursor, cursor.copy(f"COPY {STAGE} ({names}) FROM STDIN") as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    # ------------------------------------------------------------------------ a first load, by COPY

    def loads_directly(self) -> bool:
        """PostgreSQL, a first load (the table held nothing of this kind when the run began), a kind whose
        rows need no SQL (no references to check, nothing derived in SQL): each chunk is COPYed straight
        into the table (and the customers' numbers into theirs) — no staging, no merge. A key repeated in
        the file fails the COPY on the table's unique index, and the run is redone line by line."""
        if self.db.sqlite:
            return False
        self.begin_merge()
        if not self._was_empty:
            return False
        if self.numbers and not self._numbers_were_empty:
            return False
        staged = frozenset(self.columns)
        derived_in_sql = any(derive(staged) is not None for derive in self.kind.derived.values())
        return not self.kind.references and not derived_in_sql

    def load_directly(self, rows: Sequence[tuple]) -> bool:
        """COPY one chunk of staged tuples into the table; False (nothing done) when the chunk holds anything
        but upserts (deletes, rejected keys)."""
        if any(row[1] != UPSERT for row in rows):
            return False
        names, extra = self._direct_columns()
        width = len(self.columns)
        db = self.db
        with db.connection.cursor() as cursor:
            with cursor.copy(f"COPY {self.kind.table.name} ({', '.join(names)}) FROM STDIN") as copy:
                write_row = copy.write_row
                end = 3 + width
                for row in rows:
                    write_row(row[3:end] + extra)
            if self.numbers:
                number_rows = []
                for row in rows:
                    listed = row[-1]
                    if listed == "[]":
                        continue
                    customer_id = row[3]
                    # The staged list is canonical JSON of digits only (values.numbers_converter): no escapes.
                    for position, msisdn in enumerate(listed[2:-2].split('","')):
                        number_rows.append((msisdn, customer_id, position == 0))
                number_rows.sort()  # in key order the number index takes the chunk leaf by leaf
                with cursor.copy("COPY customer_numbers (msisdn, customer_id, is_primary) FROM STDIN") as copy:
                    write_row = copy.write_row
                    for number_row in number_rows:
                        write_row(number_row)
        self.counts.inserted += len(rows)
        return True

    def _direct_columns(self) -> tuple[list[str], tuple]:
        """The columns a direct load writes (the staged ones, then those the writer sets) and the values it
        gives the latter: the same as the merge's INSERT (constants, the run's time, the model's defaults)."""
        if self._direct is not None:
            return self._direct
        kind = self.kind
        names, values = list(self.columns), []
        for column, value in kind.constants.items():
            if column not in names:
                names.append(column)
                values.append(value)
        if kind.touch_column and kind.touch_column not in names:
            names.append(kind.touch_column)
            values.append(self.now)
        default_names, default_values = self._default_values(names)
        now_names = [name for name in kind.insert_only_now if name not in names]  # as the merge's INSERT
        names += [*default_names, *now_names]
        values += [*default_values, *(self.now for _ in now_names)]
        self._direct = (names, tuple(values))
        return self._direct

    # -------------------------------------------------------------------------- the generator's API

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Stage typed rows (tuples in the order of the columns the writer was made with) for an upsert: the
        generator's entry point.
        Values are Python values: int (fen for money), float, bool, str, date, aware datetime, list/dict
        for JSON columns. PostgreSQL merges every chunk_rows rows; SQLite merges in finish()."""
        if self.numbers:
            raise ValueError("write customers' numbers with the numbers kind")
        width = len(self.given_columns)
        positions = [self.given_columns.index(column) for column in self.columns]
        adapters = [self._adapter(column) for column in self.columns]
        plain = not any(adapters) and positions == list(range(width))
        for batch in _batches(rows, self.chunk_rows):
            for row in batch:
                if len(row) != width:
                    raise ValueError(f"a row has {len(row)} values for {width} columns: {self.given_columns}")
            if not plain:
                batch = [tuple(a(row[p]) if a else row[p] for a, p in zip(adapters, positions, strict=True))
                         for row in batch]
            first = self._next_line
            self._next_line += len(batch)
            self.stage((first + number + 1, UPSERT, None, *row) for number, row in enumerate(batch))
            self._after_batch(len(batch))

    def delete(self, keys: Iterable[Sequence[Any]]) -> None:
        """Stage explicit deletes (key tuples in `self.kind.key` order)."""
        padding = (None,) * (len(self.stage_columns) - len(self.kind.key))
        for batch in _batches(keys, self.chunk_rows):
            first = self._next_line
            self._next_line += len(batch)
            self.stage((first + number + 1, DELETE, None, *key, *padding) for number, key in enumerate(batch))
            self._after_batch(len(batch))

    def _after_batch(self, count: int) -> None:
        self._pending += count
        if not self.db.sqlite and self._pending >= self.chunk_rows:
            self._merge_pending()

    def _merge_pending(self, limit: int = 20) -> None:
        self.begin_merge()
        checked = self.check_chunk(limit)
        if checked.rejected:
            shown = "; ".join(f"row {p.line}: {describe(self.kind, p)[0]}" for p in checked.problems[:5])
            raise FeedFailure(f"{checked.rejected} {self.kind.name} row(s) refused: {shown}",
                              f"{checked.rejected} 行 {self.kind.name} 数据被拒绝：{shown}")
        try:
            self.apply_chunk()
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            # Deferred duplicate check: two rows of the chunk share a new key, and the plain insert said so.
            self.db.connection.rollback()
            raise FeedFailure(f"{self.kind.name} rows repeat a key: nothing was written",
                              f"{self.kind.name} 数据中有重复的键：未写入任何内容") from None
        self.end_chunk()
        self._pending = 0

    def finish(self) -> MergeCounts:
        """Merge what is still staged, apply --full, commit; returns what changed. Any bad row (unknown
        reference, repeated key) fails the whole write with a FeedFailure naming the first ones."""
        if not self._created:
            self._create_tables()
        if self._pending or self.db.sqlite:
            self._merge_pending()
        if self.defer_duplicates and self.duplicates_found():
            raise FeedFailure(f"{self.kind.name} rows repeat a key: nothing was written",
                              f"{self.kind.name} 数据中有重复的键：未写入任何内容")
        if self.full:
            self.apply_full()
        self.db.connection.commit()
        return self.counts

    def _adapter(self, column: str):
        type_name = self.db.column_type(self.kind, column)
        if type_name == "JSON":
            return lambda value: value if value is None or isinstance(value, str) else json_text(value)
        if self.db.sqlite and type_name == "DATETIME":
            return lambda value: sqlite_datetime(value) if isinstance(value, dt.datetime) else value
        if self.db.sqlite and type_name == "DATE":
            return lambda value: value.isoformat() if isinstance(value, dt.date) else value
        return None

    # ------------------------------------------------------------------------------------- checks

    def begin_merge(self) -> None:
        """Before the first merge: SQLite commits the temp-only staging, takes the write lock and indexes
        the staged keys (PostgreSQL has held its one transaction all along)."""
        if self._merging:
            return
        if not self._created:
            self._create_tables()
        db = self.db
        if db.sqlite:
            db.connection.commit()
            db.execute("BEGIN IMMEDIATE")
            key = ", ".join([*self.kind.key, "_op", "_line"])
            db.execute(f"CREATE INDEX temp.feed_stage_key ON {STAGE} ({key})")
            self._was_empty = not db.scalar(f"SELECT EXISTS (SELECT 1 FROM {self.kind.table.name})")
            self._numbers_were_empty = self.numbers and not db.scalar("SELECT EXISTS (SELECT 1 FROM customer_numbers)")
        else:
            # One feed at a time writes a table (SQLite's write lock does the same): the merge inserts the
            # keys it did not find without ON CONFLICT, so nobody else may insert them meanwhile.
            for table in sorted({self.kind.table.name} | ({"customer_numbers"} if self.numbers else set())):
                db.execute(f"SELECT pg_advisory_xact_lock(hashtext('callcue.feed.{table}'))")
            self._was_empty = not db.scalar(f"SELECT EXISTS (SELECT 1 FROM {self.kind.table.name})")
            self._numbers_were_empty = self.numbers and not db.scalar("SELECT EXISTS (SELECT 1 FROM customer_numbers)")
        self._merging = True

    def check_chunk(self, limit: int = 1000) -> CheckResult:
        """Mark the staged rows with broken references, then those repeating a key of an earlier line (the
        first line wins), as rejected (_op 2); returns them (the first `limit`) and how many there were."""
        self.begin_merge()
        result = CheckResult()
        staged = frozenset(self.columns)
        stage = self.db.temp(STAGE)
        for reference in self.kind.references:
            if not set(reference.fields) <= staged:
                continue
            marked = self.db.execute(f"UPDATE {stage} AS s SET _op = {REJECTED}, _why = {reference.code} "
                                     f"WHERE s._op = {UPSERT} AND {reference.bad}")
            if marked:
                result.rejected += marked
                fields = ", ".join(reference.fields)
                for line, *values in self.db.query(
                        f"SELECT _line, {fields} FROM {stage} WHERE _why = {reference.code} "
                        f"ORDER BY _line LIMIT {int(limit)}"):
                    result.problems.append(StageProblem(line, reference.code, reference.fields[0],
                                                        dict(zip(reference.fields, values, strict=True))))
        if not self.db.sqlite:
            key = ", ".join(self.kind.key)
            self.db.execute(f"INSERT INTO {KEYS} ({key}, _line, _op) SELECT {key}, _line, _op FROM {STAGE}")
        if not self.defer_duplicates:
            self._check_duplicates(result, limit)
        result.problems.sort(key=lambda problem: problem.line)
        del result.problems[limit:]
        self.rejected += result.rejected
        return result

    def duplicates_found(self) -> bool:
        """Whether two lines staged so far share a key (the deferred check of a chunked run)."""
        if not self._created:
            return False
        keys = ", ".join(self.kind.key)
        return bool(self.db.scalar(f"SELECT 1 FROM {self.db.temp(KEYS)} WHERE _op IN ({UPSERT}, {DELETE}) "
                                   f"GROUP BY {keys} HAVING count(*) > 1 LIMIT 1"))

    def _check_duplicates(self, result: CheckResult, limit: int) -> None:
        db, kind = self.db, self.kind
        stage, keys = db.temp(STAGE), db.temp(KEYS)
        live = f"_op IN ({UPSERT}, {DELETE})"
        if db.sqlite and not db.scalar(f"SELECT 1 FROM {stage} WHERE {live} GROUP BY {', '.join(kind.key)} "
                                       "HAVING count(*) > 1 LIMIT 1"):
            return
        same = " AND ".join(f"k.{column} = s.{column}" for column in kind.key)
        marked = db.execute(f"UPDATE {stage} AS s SET _op = {REJECTED}, _why = {WHY_DUPLICATE} WHERE s.{live} "
                            f"AND EXISTS (SELECT 1 FROM {keys} k WHERE {same} AND k.{live} AND k._line < s._line)")
        if not marked:
            return
        result.rejected += marked
        selected = ", ".join(f"s.{column}" for column in kind.key)
        for line, first_line, *values in db.query(
                f"SELECT s._line, (SELECT min(k._line) FROM {keys} k WHERE {same} AND k.{live}), {selected} "
                f"FROM {stage} s WHERE s._why = {WHY_DUPLICATE} ORDER BY s._line LIMIT {int(limit)}"):
            result.problems.append(StageProblem(line, WHY_DUPLICATE, kind.key[-1],
                                                dict(zip(kind.key, values, strict=True)), first_line))

    # -------------------------------------------------------------------------------------- merge

    def apply_chunk(self) -> MergeCounts:
        """Apply the staged rows that passed: deletes, upserts and the customers' numbers."""
        counts = MergeCounts()
        by_op = dict(self.db.query(f"SELECT _op, count(*) FROM {self.db.temp(STAGE)} GROUP BY _op"))
        if by_op.get(DELETE):
            counts.deleted = self._delete_rows()
            counts.delete_noops = by_op[DELETE] - counts.deleted
        upserts = by_op.get(UPSERT, 0)
        if upserts:
            if self.numbers:
                self._stage_numbers()
            counts.inserted, changed = self._upsert(upserts)
            counts.updated = changed - counts.inserted
            counts.unchanged = upserts - changed
            if self.numbers:
                self._apply_numbers()
        for name in ("inserted", "updated", "unchanged", "deleted", "delete_noops"):
            setattr(self.counts, name, getattr(self.counts, name) + getattr(counts, name))
        return counts

    def end_chunk(self) -> None:
        """PostgreSQL: empty the chunk's staging tables for the next one (the keys seen stay)."""
        if not self.db.sqlite:
            tables = [STAGE] + ([STAGE_NUMBERS, STAGE_CHANGED] if self.numbers else [])
            self.db.execute(f"TRUNCATE {', '.join(tables)}")

    def _where_key(self, alias: str, other: str) -> str:
        return " AND ".join(f"{other}.{column} = {alias}.{column}" for column in self.kind.key)

    def _delete_rows(self) -> int:
        kind, db = self.kind, self.db
        table, stage = kind.table.name, db.temp(STAGE)
        key = ", ".join(kind.key)
        selected = f"SELECT {key} FROM {stage} WHERE _op = {DELETE}"
        matches = f"({key}) IN ({selected})" if len(kind.key) > 1 else f"{key} IN ({selected})"
        if kind.full_action == "retire":
            column = kind.retire_column
            return db.execute(f"UPDATE {table} SET {column} = {db.literal(self.now)} "
                              f"WHERE {column} IS NULL AND {matches}")
        return db.execute(f"DELETE FROM {table} WHERE {matches}")

    def _written(self) -> tuple[list[str], list[str], list[str]]:
        """(columns written on insert and update, their SELECT expressions over the stage `s`, compared)."""
        kind, db = self.kind, self.db
        staged = frozenset(self.columns)
        names = list(self.columns)
        expressions = [f"s.{column}" for column in self.columns]
        for column, derive in kind.derived.items():
            expression = derive(staged)
            if expression is None:
                continue
            if column in names:
                expressions[names.index(column)] = expression
            else:
                names.append(column)
                expressions.append(expression)
        for column, value in kind.constants.items():
            if column not in names:
                names.append(column)
                expressions.append(db.literal(value))
        compared = [column for column in names if column not in kind.key]
        if kind.touch_column and kind.touch_column not in names:  # a producer's own time wins (the generator's)
            names.append(kind.touch_column)
            expressions.append(db.literal(self.now))
        return names, expressions, compared

    def _defaults(self, written: Sequence[str]) -> tuple[list[str], list[str]]:
        """NOT NULL columns this write does not set: their defaults on insert (the model's), as SQL literals."""
        names, values = self._default_values(written)
        return names, [self.db.literal(value) for value in values]

    def _default_values(self, written: Sequence[str]) -> tuple[list[str], list[Any]]:
        """NOT NULL columns this write does not set (the run's time ones aside) and the model's defaults."""
        names, values = [], []
        for column in self.kind.table.c:
            if column.name in written or column.nullable or self._is_serial(column.name):
                continue
            if column.name in self.kind.insert_only_now:
                continue
            default = column.default
            if default is None:
                raise FeedFailure(
                    f"a {self.kind.name} feed must provide {column.name} (it has no default)",
                    f"{self.kind.name} 数据必须提供 {column.name}（该列没有默认值）")
            value = default.arg(None) if default.is_callable else default.arg
            names.append(column.name)
            values.append(json_text(value) if isinstance(value, list | dict) else value)
        return names, values

    def _upsert(self, upserts: int) -> tuple[int, int]:
        """Insert new rows, update the changed ones; returns (inserted, inserted + updated).

        SQLite: one INSERT … SELECT … ON CONFLICT (key) DO UPDATE … WHERE (columns) IS NOT (new columns).
        PostgreSQL: UPDATE … FROM the stage for the rows that changed, then a plain INSERT of the new keys —
        half the cost of ON CONFLICT's speculative insertion, which also locks (writes) every unchanged
        row. The transaction holds the table's feed lock (begin_merge), so no other feed inserts the same
        keys meanwhile."""
        kind, db = self.kind, self.db
        table, stage = kind.table.name, db.temp(STAGE)
        names, expressions, compared = self._written()
        default_names, default_values = self._defaults(names)
        now_names = [name for name in kind.insert_only_now if name not in names]  # given ones win
        insert_names = [*names, *default_names, *now_names]
        select = [*expressions, *default_values, *(db.literal(self.now) for _ in now_names)]
        # JSON is compared as the text the feeds write (one serializer: an unchanged value is the same text);
        # PostgreSQL's json type has no equality of its own.
        json_columns = set() if db.sqlite else {
            c.name for c in kind.table.c if c.type.compile(dialect=db.dialect) == "JSON"}

        def as_compared(expression: str, name: str) -> str:
            return f"({expression})::text" if name in json_columns else expression

        updates = [name for name in names if name not in kind.key]
        renumbered = f"IN (SELECT customer_id FROM {db.temp(STAGE_CHANGED)})"
        if db.sqlite:
            set_clause = ", ".join(f"{name} = excluded.{name}" for name in updates)
            changed = db.distinct([f"{table}.{n}" for n in compared], [f"excluded.{n}" for n in compared])
            if self.numbers:
                changed = f"({changed}) OR {table}.customer_id {renumbered}"
            action = f"DO UPDATE SET {set_clause} WHERE {changed}" if updates else "DO NOTHING"
            existing = 0 if self._was_empty else db.scalar(
                f"SELECT count(*) FROM {stage} s WHERE s._op = {UPSERT} AND EXISTS "
                f"(SELECT 1 FROM {table} t WHERE {self._where_key('s', 't')})")
            changed_rows = db.execute(
                f"INSERT INTO {table} ({', '.join(insert_names)}) SELECT {', '.join(select)} FROM {stage} s "
                f"WHERE s._op = {UPSERT} ON CONFLICT ({', '.join(kind.key)}) {action}")
            return upserts - existing, changed_rows
        plain_insert = (f"INSERT INTO {table} ({', '.join(insert_names)}) SELECT {', '.join(select)} "
                        f"FROM {stage} s WHERE s._op = {UPSERT}")
        if self._was_empty:
            # A first load: the table held nothing of this kind when the run began, so every key is new
            # (one repeated in the file fails the insert, and the run is redone line by line).
            inserted = db.execute(plain_insert)
            return inserted, inserted
        by_name = dict(zip(names, expressions, strict=True))
        changed = db.distinct([as_compared(f"t.{n}", n) for n in compared],
                              [as_compared(by_name[n], n) for n in compared]) if compared else "FALSE"
        if self.numbers:
            changed = f"({changed}) OR t.customer_id {renumbered}"
        key_column = kind.key[0]
        # One read-only probe per row says what the chunk needs: a file sent again changes nothing and
        # costs just this; an UPDATE or INSERT runs only when some row needs it.
        new, differing = db.query(
            f"SELECT count(*) FILTER (WHERE t.{key_column} IS NULL), "
            f"count(*) FILTER (WHERE t.{key_column} IS NOT NULL AND ({changed})) "
            f"FROM {stage} s LEFT JOIN {table} t ON {self._where_key('s', 't')} WHERE s._op = {UPSERT}")[0]
        updated = inserted = 0
        if differing and updates:
            set_clause = ", ".join(f"{name} = {by_name[name]}" for name in updates)
            updated = db.execute(f"UPDATE {table} AS t SET {set_clause} FROM {stage} s WHERE s._op = {UPSERT} "
                                 f"AND {self._where_key('s', 't')} AND ({changed})")
        if new == upserts:
            inserted = db.execute(plain_insert)
        elif new:
            inserted = db.execute(f"{plain_insert} AND NOT EXISTS (SELECT 1 FROM {table} t "
                                  f"WHERE {self._where_key('s', 't')})")
        return inserted, inserted + updated

    def apply_full(self) -> int:
        """--full: retire or remove the rows (in the kind's scope) that no line of the file holds; a line
        rejected with a readable key still holds its row."""
        kind, db = self.kind, self.db
        if self._was_empty:
            return 0  # every row there is now came from this file: none is absent from it
        table, keys = kind.table.name, db.temp(KEYS)
        conditions = [f"NOT EXISTS (SELECT 1 FROM {keys} s WHERE {self._where_key('t', 's')})"]
        if kind.full_filter:
            conditions.append(kind.full_filter)
        if kind.full_scope_column:
            column = kind.full_scope_column
            conditions.append(f"t.{column} IN (SELECT DISTINCT {column} FROM {keys} WHERE {column} IS NOT NULL)")
        where = " AND ".join(conditions)
        if kind.full_action == "retire":
            column = kind.retire_column
            retired = db.execute(f"UPDATE {table} AS t SET {column} = {db.literal(self.now)} "
                                 f"WHERE t.{column} IS NULL AND {where}")
        else:
            retired = db.execute(f"DELETE FROM {table} AS t WHERE {where}")
        self.counts.retired += retired
        return retired

    # ------------------------------------------------------------------------- customers' numbers

    def _stage_numbers(self) -> None:
        """Note whose numbers the chunk changes (they count as updated) and stage those numbers one per row.

        The staged list is canonical (the primary first, the others sorted), so PostgreSQL compares it with
        the customer's numbers as one text built from the customer_id index: one probe per customer, and
        only the customers whose numbers changed are exploded. SQLite compares number by number."""
        db, stage = self.db, self.db.temp(STAGE)
        numbers, changed = db.temp(STAGE_NUMBERS), db.temp(STAGE_CHANGED)
        upserted = f"s._op = {UPSERT}"
        if db.sqlite:
            db.execute(f"CREATE TEMP TABLE {STAGE_NUMBERS} AS SELECT s.customer_id AS customer_id, j.value AS msisdn, "
                       f"j.key = 0 AS is_primary FROM {stage} s, json_each(s.{NUMBERS_COLUMN}) j WHERE {upserted}")
            db.execute(f"CREATE TEMP TABLE {STAGE_CHANGED} (customer_id VARCHAR(64) PRIMARY KEY)")
            if self._numbers_were_empty:
                if not self._was_empty:  # a first load has no customer whose numbers could change
                    db.execute(f"INSERT INTO {changed} (customer_id) SELECT DISTINCT customer_id FROM {numbers}")
                return
            db.execute(f"CREATE INDEX temp.feed_numbers_key ON {STAGE_NUMBERS} (customer_id, msisdn)")
            db.execute(
                f"INSERT INTO {changed} (customer_id) "
                f"SELECT n.customer_id FROM customer_numbers n WHERE n.customer_id IN "
                f"(SELECT customer_id FROM {stage} s WHERE {upserted}) AND NOT EXISTS (SELECT 1 FROM {numbers} f "
                f"WHERE f.customer_id = n.customer_id AND f.msisdn = n.msisdn AND f.is_primary = n.is_primary) "
                f"UNION SELECT f.customer_id FROM {numbers} f WHERE NOT EXISTS (SELECT 1 FROM customer_numbers n "
                f"WHERE n.msisdn = f.msisdn AND n.customer_id = f.customer_id AND n.is_primary = f.is_primary)")
            return
        if self._numbers_were_empty:
            db.execute(f"INSERT INTO {changed} (customer_id) SELECT s.customer_id FROM {stage} s "
                       f"WHERE {upserted} AND s.{NUMBERS_COLUMN} <> '[]'")
            chosen = upserted
        else:
            held = ("SELECT '[' || string_agg('\"' || n.msisdn || '\"', ',' ORDER BY n.is_primary DESC, n.msisdn) "
                    "|| ']' FROM customer_numbers n WHERE n.customer_id = s.customer_id")
            db.execute(f"INSERT INTO {changed} (customer_id) SELECT s.customer_id FROM {stage} s WHERE {upserted} "
                       f"AND s.{NUMBERS_COLUMN} <> COALESCE(({held}), '[]')")
            chosen = f"{upserted} AND s.customer_id IN (SELECT customer_id FROM {changed})"
        db.execute(f"INSERT INTO {numbers} SELECT s.customer_id, m.msisdn, m.position = 1 FROM {stage} s, "
                   f"json_array_elements_text(s.{NUMBERS_COLUMN}::json) WITH ORDINALITY AS m(msisdn, position) "
                   f"WHERE {chosen}")

    def _apply_numbers(self) -> None:
        db = self.db
        numbers, changed = db.temp(STAGE_NUMBERS), db.temp(STAGE_CHANGED)
        ours = f"f.customer_id IN (SELECT customer_id FROM {changed})"
        columns = "INSERT INTO customer_numbers (msisdn, customer_id, is_primary) SELECT f.msisdn, f.customer_id, " \
                  f"f.is_primary FROM {numbers} f"
        if self._numbers_were_empty:
            # A first load: every (number, customer) of the run is new. In key order, the number index
            # takes the chunk leaf by leaf instead of at random.
            db.execute(f"{columns} ORDER BY f.msisdn, f.customer_id")
            return
        db.execute(f"DELETE FROM customer_numbers WHERE customer_id IN (SELECT customer_id FROM {changed}) "
                   f"AND NOT EXISTS (SELECT 1 FROM {numbers} f WHERE f.customer_id = customer_numbers.customer_id "
                   "AND f.msisdn = customer_numbers.msisdn)")
        if db.sqlite:
            differs = db.distinct(["customer_numbers.is_primary"], ["excluded.is_primary"])
            db.execute(f"{columns} WHERE {ours} ON CONFLICT (msisdn, customer_id) DO UPDATE "
                       f"SET is_primary = excluded.is_primary WHERE {differs}")
            return
        # PostgreSQL: plain statements (no speculative insertion); the feed lock keeps other writers out.
        db.execute(f"UPDATE customer_numbers AS n SET is_primary = f.is_primary FROM {numbers} f WHERE {ours} "
                   "AND n.msisdn = f.msisdn AND n.customer_id = f.customer_id AND n.is_primary <> f.is_primary")
        db.execute(f"{columns} WHERE {ours} AND NOT EXISTS (SELECT 1 FROM customer_numbers n "
                   "WHERE n.msisdn = f.msisdn AND n.customer_id = f.customer_id)")


def is_unique_violation(exc: BaseException) -> bool:
    """PostgreSQL refused a plain INSERT for a key that is already there (a key repeated in the feed)."""
    import psycopg

    return isinstance(exc, psycopg.errors.UniqueViolation)


def drop_temp_tables(connection: Any) -> None:
    """SQLite: the writer's temp tables (they outlive a rolled-back transaction on a pooled connection)."""
    connection.execute(f"DROP VIEW IF EXISTS temp.{KEYS}")
    for name in (STAGE, STAGE_NUMBERS, STAGE_CHANGED):
        connection.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def describe(kind: FeedKind, problem: StageProblem) -> tuple[str, str]:
    """(en, zh) text of a problem the database checks found."""
    if problem.why == WHY_DUPLICATE:
        key = ", ".join(f"{column} {problem.values[column]}" for column in kind.key)
        return (f"repeats the key ({key}) of line {problem.first_line} (kept that one)",
                f"与第 {problem.first_line} 行的键（{key}）重复（保留第 {problem.first_line} 行）")
    reference = next(r for r in kind.references if r.code == problem.why)
    values = {name: ("" if value is None else value) for name, value in problem.values.items()}
    return reference.en.format(**values), reference.zh.format(**values)


@contextlib.contextmanager
def import_connection(engine: Engine) -> Iterator[Any]:
    """A DBAPI connection for one feed. SQLite: its own connection (larger page caches, no memory map),
    closed afterwards rather than returned to the pool — closing drops the temp database (the staging) at
    once, where DROP TABLE would free a big one page by page. PostgreSQL: a pooled connection with the
    import's settings, reset before it goes back to the pool."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver != "psycopg":
        raise FeedFailure(f"feeds need the psycopg driver, not {engine.dialect.driver}: use postgresql+psycopg://…",
                          f"数据导入需要 psycopg 驱动，而不是 {engine.dialect.driver}：请使用 postgresql+psycopg://…")
    if engine.dialect.name not in ("sqlite", "postgresql"):
        raise FeedFailure(f"feeds into {engine.dialect.name} are not supported (use SQLite or PostgreSQL)",
                          f"不支持向 {engine.dialect.name} 导入数据（请使用 SQLite 或 PostgreSQL）")
    raw = engine.raw_connection()
    connection = raw.driver_connection
    try:
        if engine.dialect.name == "sqlite":
            connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            connection.execute(f"PRAGMA temp.cache_size=-{SQLITE_TEMP_CACHE_KIB}")
            # The server reads through a shared 1 GiB map of the file; a feed touches every page of it,
            # and mapped pages would count against the import's memory budget.
            connection.execute("PRAGMA mmap_size=0")
            try:
                yield connection
            finally:
                connection.rollback()
                raw.invalidate()  # closed, not pooled: its temp database (the staging) goes with it
        else:
            try:
                _postgresql_session(connection)
                yield connection
            finally:
                if not connection.closed:
                    connection.rollback()
                    _reset_postgresql_session(connection)
    finally:
        raw.close()


_PG_SETTINGS = {"work_mem": PG_WORK_MEM, "jit": "off", "random_page_cost": "1.1"}


def _postgresql_session(connection: Any) -> None:
    """Settings for this connection while it imports (reset when it goes back to the pool): hash joins and
    sorts of a chunk in memory, no JIT (it compiles the merge's expressions for seconds), index probes
    priced as the cached pages they are; temp tables (the staging) in larger local buffers when the
    session has not used temp tables yet (PostgreSQL only lets temp_buffers change before that)."""
    import psycopg

    with connection.cursor() as cursor:
        for name, value in _PG_SETTINGS.items():
            cursor.execute(f"SET {name} = '{value}'")
        cursor.execute("SAVEPOINT feed_settings")
        try:
            cursor.execute(f"SET temp_buffers = '{PG_TEMP_BUFFERS}'")
        except psycopg.errors.InvalidParameterValue:
            cursor.execute("ROLLBACK TO SAVEPOINT feed_settings")
        cursor.execute("RELEASE SAVEPOINT feed_settings")
    connection.commit()


def _reset_postgresql_session(connection: Any) -> None:
    with connection.cursor() as cursor:
        for name in _PG_SETTINGS:
            cursor.execute(f"RESET {name}")
    connection.commit()


@contextlib.contextmanager
def open_writer(engine: Engine, kind: FeedKind | str, columns: Sequence[str] | None = None, *,
                full: bool = False) -> Iterator[TableWriter]:
    """A TableWriter on its own import connection; finish() commits, leaving the block without it rolls back."""
    with import_connection(engine) as connection:
        yield TableWriter(connection, kind, columns, full=full)


__all__ = [
    "DELETE",
    "REJECTED",
    "UPSERT",
    "WHY_CONVERSION",
    "WHY_DUPLICATE",
    "CheckResult",
    "MergeCounts",
    "StageProblem",
    "TableWriter",
    "describe",
    "drop_temp_tables",
    "import_connection",
    "is_unique_violation",
    "open_writer",
]
