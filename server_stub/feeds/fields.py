"""What a feed kind is: its table, key, the fields a mapping may fill, the references checked per row and
what a --full snapshot does with the rows it no longer holds. Each kind module (customers.py, usage.py …)
declares one FeedKind with these building blocks; kinds.py finds them by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

INT4_MAX = 2**31 - 1  # PostgreSQL INTEGER; SQLite would accept more, so check here for both
INT8_MAX = 2**63 - 1

# The CSV types a mapping may give a field (`type = "..."`).
CELL_TYPES = ("str", "int", "decimal", "bool", "enum", "date", "datetime")


@dataclass(frozen=True)
class Target:
    """What one mapping field name means for the database.

    kind: text | code (lower-case word) | choice (one of `choices`) | int | money (fen; yuan in the file by
    default) | fraction (0..1, 85% allowed) | number (any float) | bool | date | datetime (aware UTC) |
    month (YYYY-MM) | segments | msisdns | attribute (the last three: customers only)."""

    name: str
    kind: str
    column: str | None
    types: frozenset[str]
    max_length: int | None = None
    minimum: int | None = 0
    maximum: int | None = INT4_MAX
    choices: tuple[str, ...] = ()
    always_sensitive: bool = False
    required: bool = False  # the mapping must map it (a key field, or a NOT NULL column without a default)


@dataclass(frozen=True)
class Reference:
    """A per-row check against other tables, run in the database on the staged rows.

    `bad` is an SQL condition over the staging table aliased `s` that holds for a bad row; `fields` are the
    staged columns it needs (the check is skipped when the file does not carry them) and the values quoted
    in the message templates ({customer_id}, {wave} …); the first of them is the column the problem names."""

    code: int
    fields: tuple[str, ...]
    bad: str
    en: str
    zh: str


@dataclass(frozen=True)
class FeedKind:
    name: str
    table: Table
    key: tuple[str, ...]  # the columns a row is found by (the upsert's conflict target)
    targets: Mapping[str, Target]
    references: tuple[Reference, ...] = ()
    # --full: "retire" sets retire_column on rows the file no longer holds, "delete" removes them. The
    # scope limits which target rows a snapshot speaks for: an SQL condition over the target aliased `t`
    # (full_filter), and/or a staged column whose values in the file bound it (full_scope_column).
    full_action: str = "delete"
    retire_column: str | None = None
    full_filter: str | None = None
    full_scope_column: str | None = None
    # Columns computed at merge time from the staged columns: name -> function(staged column names) giving
    # an SQL expression over the stage aliased `s`, or None when it cannot be computed from this file.
    derived: Mapping[str, Callable[[frozenset[str]], str | None]] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)  # written on every upsert (and compared)
    insert_only_now: tuple[str, ...] = ()  # set to the run's time when a row is inserted, never updated
    touch_column: str | None = None  # set to the run's time when a row is inserted or changed
    docs_en: str = ""
    docs_zh: str = ""

    @property
    def key_targets(self) -> tuple[Target, ...]:
        return tuple(next(t for t in self.targets.values() if t.column == column) for column in self.key)


# --------------------------------------------------------------------------------- target constructors


def _length(table: Table, column: str) -> int | None:
    return getattr(table.c[column].type, "length", None)


def text(table: Table, name: str, column: str | None = None, *, sensitive: bool = False,
         required: bool = False, types: tuple[str, ...] = ("str", "enum")) -> Target:
    column = column or name
    return Target(name, "text", column, frozenset(types), _length(table, column), always_sensitive=sensitive,
                  required=required)


def code(table: Table, name: str, column: str | None = None, *, required: bool = False) -> Target:
    """A lower-case code such as month_to_month: what the server's rules compare against."""
    column = column or name
    return Target(name, "code", column, frozenset({"str", "enum"}), _length(table, column), required=required)


def choice(table: Table, name: str, choices: tuple[str, ...], column: str | None = None, *,
           required: bool = False) -> Target:
    """One of a closed set of codes (the server's vocabulary); a str cell is matched ignoring case."""
    column = column or name
    return Target(name, "choice", column, frozenset({"str", "enum"}), _length(table, column),
                  choices=tuple(choices), required=required)


def count(name: str, column: str | None = None, *, minimum: int = 0, maximum: int = INT4_MAX,
          required: bool = False) -> Target:
    return Target(name, "int", column or name, frozenset({"int", "enum"}), minimum=minimum, maximum=maximum,
                  required=required)


def money(name: str, column: str, *, minimum: int = 0, maximum: int = INT4_MAX, required: bool = False) -> Target:
    """An amount of money: written in yuan (or fen with unit = "fen"), stored in fen."""
    return Target(name, "money", column, frozenset({"decimal", "int", "enum"}), minimum=minimum, maximum=maximum,
                  required=required)


def fraction(name: str, column: str | None = None) -> Target:
    return Target(name, "fraction", column or name, frozenset({"decimal", "enum"}))


def flag(name: str, column: str | None = None) -> Target:
    return Target(name, "bool", column or name, frozenset({"bool", "enum"}))


def date(name: str, column: str | None = None, *, required: bool = False) -> Target:
    return Target(name, "date", column or name, frozenset({"date", "str"}), required=required)


def datetime(name: str, column: str | None = None, *, required: bool = False) -> Target:
    return Target(name, "datetime", column or name, frozenset({"datetime", "date", "str"}), required=required)


def month(name: str = "month", column: str | None = None, *, required: bool = True) -> Target:
    return Target(name, "month", column or name, frozenset({"str", "date"}), required=required)


def customer_reference(code_: int = 1) -> Reference:
    return Reference(
        code_, ("customer_id",),
        "NOT EXISTS (SELECT 1 FROM customers r WHERE r.customer_id = s.customer_id)",
        "unknown customer {customer_id}: import the customers feed first",
        "未知客户 {customer_id}：请先导入客户数据",
    )


__all__ = [
    "CELL_TYPES",
    "INT4_MAX",
    "INT8_MAX",
    "FeedKind",
    "Reference",
    "Target",
    "choice",
    "code",
    "count",
    "customer_reference",
    "date",
    "datetime",
    "flag",
    "fraction",
    "money",
    "month",
    "text",
]
