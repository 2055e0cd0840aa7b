"""One mapped field's cell -> the value stored, per the field's CSV type and its target: parse_cell() for one
cell, cell_converter() for the compiled function a row converter calls per distinct cell text."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from server_stub.feeds.cells import (
    CODE_RE,
    MSISDN_MAX_DIGITS,
    MSISDN_MIN_DIGITS,
    REDACTED,
    CellError,
    fold,
    normalize_msisdn,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_month,
    plain_cents,
    quote,
    to_fen,
)

if TYPE_CHECKING:
    from server_stub.feeds.mapping import FieldSpec

def _shown(raw: str, spec: FieldSpec) -> str:
    return REDACTED if spec.sensitive else quote(raw)


def _error(spec: FieldSpec, raw: str, en: str, zh: str, column: str | None = None) -> CellError:
    """A CellError whose texts start with the quoted (or redacted) value: '"abc" is not a number'."""
    shown = _shown(raw, spec)
    return CellError(f"{shown} {en}", f"{shown} {zh}", column=column or spec.columns[0],
                     value=None if spec.sensitive else raw)


def blank_error(spec: FieldSpec, column: str | None = None) -> CellError:
    return CellError("is blank", "为空", column=column or spec.columns[0], value="")


def parse_cell(spec: FieldSpec, text: str, column: str | None = None, *, storage: str = "python") -> Any:
    """The stored value for one cell, or CellError saying what is wrong (never another exception).

    storage "sqlite" gives dates and datetimes as the text SQLAlchemy stores them in SQLite; "python" and
    "postgresql" keep them as date / aware datetime objects."""
    column = column or spec.columns[0]
    raw = text.strip()
    if not raw or (spec.null_words and fold(raw) in spec.null_words):
        if spec.blank == "error":
            raise blank_error(spec, column)
        return adapt(spec, spec.default, storage)
    if spec.type == "enum":
        assert spec.values is not None  # the mapping parser requires values with type = "enum"
        try:
            return spec.values[fold(raw)]
        except KeyError:
            choices = ", ".join(spec.value_labels[:12]) + (", …" if len(spec.value_labels) > 12 else "")
            raise _error(spec, raw, f"is not one of: {choices}", f"不是以下之一：{choices}", column) from None
    return adapt(spec, finish(spec, read(spec, raw, column), raw, column), storage)


def adapt(spec: FieldSpec, value: Any, storage: str) -> Any:
    if storage != "sqlite" or value is None:
        return value
    kind = spec.target.kind
    if kind == "date":
        return value.isoformat()
    if kind == "datetime":
        return sqlite_datetime(value)
    return value


def sqlite_datetime(value: dt.datetime) -> str:
    """The text SQLAlchemy's UtcDateTime stores in SQLite: naive UTC with microseconds."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def read(spec: FieldSpec, raw: str, column: str) -> Any:
    """The cell text as a Python value of the field's CSV type."""
    kind = spec.target.kind
    kind_type = spec.type
    if kind_type == "str":
        return raw
    if kind_type == "int":
        number = parse_decimal(raw)
        if number is None or number != number.to_integral_value():
            raise _error(spec, raw, "is not a whole number", "不是整数", column)
        return int(number)
    if kind_type == "decimal":
        number = parse_decimal(raw, percent=kind == "fraction", currency=kind == "money")
        if number is None:
            raise _error(spec, raw, "is not a number", "不是数字", column)
        return number
    if kind_type == "bool":
        folded = fold(raw)
        if folded in spec.true_words:
            return True
        if folded in spec.false_words:
            return False
        raise _error(spec, raw, "is not a yes/no value", "不是“是/否”值", column)
    if kind_type == "date":
        day = parse_date(raw, spec.format)
        if day is None:
            raise _error(spec, raw, "is not a date (write 2026-11-30)", "不是日期（应写作 2026-11-30）", column)
        return day
    if kind_type == "datetime":
        moment = parse_datetime(raw, spec.zone, spec.format)
        if moment is None:
            raise _error(spec, raw, "is not a date and time (write 2026-11-30 08:15:00)",
                         "不是日期时间（应写作 2026-11-30 08:15:00）", column)
        return moment
    raise AssertionError(f"unhandled cell type {kind_type}")


def finish(spec: FieldSpec, value: Any, raw: str, column: str) -> Any:
    """Check a read value against the target field and convert it to what the database stores."""
    target = spec.target
    kind = target.kind
    if kind == "attribute":
        # JSON has no Decimal or dates; floats and ISO texts are what queries on attributes compare with.
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        return value
    if kind in ("date", "datetime", "month"):
        return _finish_time(spec, value, raw, column)
    if kind in ("text", "code", "choice", "segments", "msisdns", "msisdn"):
        if not isinstance(value, str):
            raise _error(spec, raw, "must be text", "必须是文本", column)
        if kind == "segments":
            return _segments(value, spec, raw, column)
        if kind == "msisdns":
            return _msisdns(value, spec, column)
        if kind == "msisdn":
            number = normalize_msisdn(value, spec.strip_prefixes)
            if number is None:
                raise CellError(f"{REDACTED} is not a phone number", f"{REDACTED} 不是电话号码", column=column)
            return number
        if kind == "choice":
            return _choice(spec, value, raw, column)
        if target.max_length and len(value) > target.max_length:
            raise CellError(f"is longer than {target.max_length} characters", f"超过 {target.max_length} 个字符",
                            column=column, value=None)
        if kind == "code" and not CODE_RE.fullmatch(value):
            raise _error(spec, raw, 'is not a code (lower-case letters, digits and _); map it with type = "enum"',
                         '不是代码（小写字母、数字和下划线）；请用 type = "enum" 映射', column)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _error(spec, raw, "must be yes or no", "必须是“是”或“否”", column)
        return value
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise _error(spec, raw, "must be a number", "必须是数字", column)
    if kind == "fraction":
        if not 0 <= value <= 1:
            raise _error(spec, raw, "is not between 0 and 1 (write 0.85 or 85%)", "不在 0 到 1 之间（应写作 0.85 或 85%）",
                         column)
        return float(value)
    if kind == "money":
        fen = to_fen(value, spec.unit) if not isinstance(value, float) else to_fen(Decimal(str(value)), spec.unit)
        return _in_range(spec, fen, raw, column, negative=("is negative", "为负数"))
    if isinstance(value, Decimal | float):
        if value != int(value):
            raise _error(spec, raw, "is not a whole number", "不是整数", column)
        value = int(value)
    return _in_range(spec, value, raw, column)


def _in_range(spec: FieldSpec, value: int, raw: str, column: str, negative: tuple[str, str] | None = None) -> int:
    low, high = spec.target.minimum, spec.target.maximum
    if low is not None and value < low:
        if negative and low == 0:
            raise _error(spec, raw, *negative, column)
        if spec.target.kind == "money":
            raise _error(spec, raw, "is too small", "太小", column)
        raise _error(spec, raw, f"is out of range ({low}..{high})", f"超出范围（{low}..{high}）", column)
    if high is not None and value > high:
        if spec.target.kind == "money":
            raise _error(spec, raw, "is too large", "太大", column)
        raise _error(spec, raw, f"is out of range ({low}..{high})", f"超出范围（{low}..{high}）", column)
    return value


def _finish_time(spec: FieldSpec, value: Any, raw: str, column: str) -> Any:
    kind = spec.target.kind
    if kind == "month":
        if isinstance(value, dt.date):
            return f"{value.year:04d}-{value.month:02d}"
        month = parse_month(value) if isinstance(value, str) else None
        if month is None:
            raise _error(spec, raw, "is not a month (write 2026-11)", "不是月份（应写作 2026-11）", column)
        return month
    if isinstance(value, str):  # a str-typed date field: read it as a date
        value = parse_date(value, spec.format) if kind == "date" else parse_datetime(value, spec.zone, spec.format)
        if value is None:
            raise _error(spec, raw, "is not a date (write 2026-11-30)", "不是日期（应写作 2026-11-30）", column)
    if kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    if kind == "datetime" and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=spec.zone).astimezone(dt.UTC)
    return value


def _choice(spec: FieldSpec, value: str, raw: str, column: str) -> str:
    choices = spec.target.choices
    if value in choices:
        return value
    folded = fold(value).replace(" ", "_").replace("-", "_")
    if folded in choices:
        return folded
    listed = ", ".join(choices)
    raise _error(spec, raw, f"is not one of: {listed}", f"不是以下之一：{listed}", column)


def _segments(value: str, spec: FieldSpec, raw: str, column: str) -> list[str]:
    tags: list[str] = []
    for part in value.split(spec.separator) if spec.separator else [value]:
        tag = part.strip()
        if not tag or tag in tags:
            continue
        if len(tag) > (spec.target.max_length or 40):
            raise _error(spec, raw, f"has a segment longer than {spec.target.max_length} characters",
                         f"有超过 {spec.target.max_length} 个字符的标签", column)
        tags.append(tag)
    return tags


def _msisdns(value: str, spec: FieldSpec, column: str) -> list[str]:
    numbers: list[str] = []
    for part in value.split(spec.separator) if spec.separator else [value]:
        if not part.strip():
            continue
        number = normalize_msisdn(part, spec.strip_prefixes)
        if number is None:
            raise CellError(f"{REDACTED} is not a phone number", f"{REDACTED} 不是电话号码", column=column)
        if number not in numbers:
            numbers.append(number)
    return numbers


def cell_converter(spec: FieldSpec, storage: str) -> Callable[[str], Any]:
    """parse_cell(spec, ·) for one column, with the common cases short-cut (plain text, plain whole
    numbers, plain money): anything else goes through parse_cell, which says what is wrong."""
    column = spec.columns[0]
    kind = spec.target.kind
    null_words = spec.null_words
    null_length = max((len(word) for word in null_words), default=0)
    digits_are_null = any(word.isdigit() for word in null_words)

    def general(text: str) -> Any:
        return parse_cell(spec, text, column, storage=storage)

    if spec.type == "decimal" and kind == "money" and spec.unit == "yuan" and not digits_are_null:
        low, high = spec.target.minimum, spec.target.maximum

        def money(text: str) -> Any:
            fen = plain_cents(text)
            if fen is None or (low is not None and fen < low) or (high is not None and fen > high):
                return general(text)
            return fen

        return money
    if spec.type == "int" and kind == "int" and not digits_are_null:
        low, high = spec.target.minimum, spec.target.maximum

        def whole(text: str) -> Any:
            if text.isascii() and text.isdigit() and len(text) < 10:
                value = int(text)
                if (low is None or value >= low) and (high is None or value <= high):
                    return value
            return general(text)

        return whole
    if spec.type == "str" and kind == "text":
        limit = spec.target.max_length

        def plain(text: str) -> Any:
            raw = text.strip()
            if not raw or (limit and len(raw) > limit) or (len(raw) <= null_length and fold(raw) in null_words):
                return general(text)
            return raw

        return plain
    return general


def numbers_converter(spec: FieldSpec, columns: Sequence[str]) -> Callable[[tuple[str, ...]], str]:
    """The msisdns of a customers row, from one or more columns, as the JSON list staged (primary first)."""
    cell_spec = dataclasses.replace(spec, blank="null", default=None)  # a blank cell is "no number"
    plain_ok = not spec.strip_prefixes

    def numbers(cells: tuple[str, ...]) -> str:
        found: list[str] = []
        for column, cell in zip(columns, cells, strict=True):
            if plain_ok and cell.isascii() and cell.isdigit() and MSISDN_MIN_DIGITS <= len(cell) <= MSISDN_MAX_DIGITS \
                    and not cell.startswith("86") and not cell.startswith("0086"):
                if cell not in found:
                    found.append(cell)
                continue
            if not cell:
                continue
            for number in parse_cell(cell_spec, cell, column) or ():
                if number not in found:
                    found.append(number)
        if not found and spec.blank == "error":
            raise blank_error(spec, " / ".join(spec.columns))
        if not found:
            return "[]"
        # Canonical: the primary (the first number of the row) first, the others sorted; digits only, so
        # nothing to escape. The writer compares this text with the numbers a customer already has.
        return '["' + '","'.join([found[0], *sorted(found[1:])]) + '"]'


    return numbers


__all__ = [
    "adapt",
    "blank_error",
    "cell_converter",
    "finish",
    "numbers_converter",
    "parse_cell",
    "read",
    "sqlite_datetime",
]
