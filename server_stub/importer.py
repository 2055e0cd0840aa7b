"""Generic CSV customer importer: a TOML column mapping turns a carrier's export into Customer rows.

The mapping (resources/mappings/*.toml, or any file) says which CSV column feeds which Customer field, how
to read it (str, int, decimal, bool, enum), what a blank cell means, which segments to add from column
values, which columns to keep as free-form attributes and how to derive the value tier. The format is
documented in resources/mappings/generic.toml.

How an import runs:
1. file-level checks first (readable, text not binary, decodes in the mapping's encoding, header has every
   required column): any failure is an ImportFailure and nothing is written;
2. every row is converted on its own: a bad row becomes a RowError (physical line + reason) and the good
   rows still land; a key repeated within the file is rejected on its later line;
3. accepted rows are upserted in batches inside ONE transaction, so a fatal problem found mid-file (broken
   CSV quoting, a database error) rolls everything back.

Privacy: nothing here logs row contents. Row-error reasons may quote a bad value, except for names, phone
numbers and columns the mapping marks `sensitive`, whose values are shown as <redacted>.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import datetime as dt
import difflib
import json
import logging
import re
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from server_stub.db.models import Customer, CustomerNumber
from server_stub.paths import resources_dir
from server_stub.services.pop import normalize_msisdn as pop_ani_digits

log = logging.getLogger(__name__)

MAPPING_FORMAT_VERSION = 1
REDACTED = "<redacted>"

__all__ = [
    "MAPPING_FORMAT_VERSION",
    "CellError",
    "ConvertedRow",
    "FieldSpec",
    "ImportFailure",
    "ImportReport",
    "Mapping",
    "RowConverter",
    "RowError",
    "RowRejected",
    "import_customers",
    "load_mapping",
    "mappings_dir",
    "normalize_msisdn",
    "parse_cell",
    "parse_mapping",
    "shipped_mappings",
]


# ---------------------------------------------------------------------------------------------- results


class ImportFailure(Exception):
    """The import (or its mapping) cannot run at all; the message says why in plain words."""


class CellError(ValueError):
    """One cell cannot be used; the message names the column (and the value unless it is sensitive)."""


class RowRejected(ValueError):
    """A whole row is refused; the message lists every problem found in it."""


@dataclass(frozen=True)
class RowError:
    line: int  # physical line of the CSV file, the header being line 1
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class ImportReport:
    """imported = new customers, updated = customers that existed and were overwritten;
    imported + updated + rejected == rows_read (blank lines are not rows)."""

    rows_read: int
    imported: int
    updated: int
    rejected: int
    errors: list[RowError]
    elapsed_s: float


# ------------------------------------------------------------------------------------- target fields

_INT4_MAX = 2**31 - 1  # PostgreSQL INTEGER; SQLite would accept more, so check here for both
_INT8_MAX = 2**63 - 1
_CODE_RE = re.compile(r"[a-z][a-z0-9_]*")
_SEGMENT_MAX_LENGTH = 40  # offer_stats.segment is String(40)
_MSISDN_MAX_LENGTH = CustomerNumber.__table__.c.msisdn.type.length


@dataclass(frozen=True)
class _Target:
    """What one mapping field name means for the database."""

    kind: str  # text, code, int, money, fraction, segments, msisdns, attribute
    column: str | None  # the Customer column written (None: msisdns and attributes go elsewhere)
    types: frozenset[str]  # the CSV types that may feed it
    max_length: int | None = None
    minimum: int = 0
    maximum: int = _INT4_MAX
    always_sensitive: bool = False


def _length(column: str) -> int:
    return Customer.__table__.c[column].type.length


def _text(column: str, *, types=("str", "enum"), sensitive=False) -> _Target:
    return _Target("text", column, frozenset(types), _length(column), always_sensitive=sensitive)


def _code(column: str) -> _Target:
    # Codes (lower-case words like month_to_month) are what the server's rules compare against.
    return _Target("code", column, frozenset({"str", "enum"}), _length(column))


def _count(column: str, maximum: int = _INT4_MAX, minimum: int = 0) -> _Target:
    return _Target("int", column, frozenset({"int", "enum"}), minimum=minimum, maximum=maximum)


TARGET_FIELDS: dict[str, _Target] = {
    "customer_id": _text("customer_id", types=("str",)),
    "name": _text("name", types=("str",), sensitive=True),
    "gender": _code("gender"),
    "birth_year": _count("birth_year", minimum=1900, maximum=2100),
    "city": _text("city"),
    "plan_id": _text("plan_id"),
    "plan_name": _text("plan_name"),
    "monthly_fee": _Target("money", "monthly_fee_fen", frozenset({"decimal", "int", "enum"})),
    "total_charges": _Target(
        "money", "total_charges_fen", frozenset({"decimal", "int", "enum"}), maximum=_INT8_MAX
    ),
    "tenure_months": _count("tenure_months", maximum=1200),
    "contract": _code("contract"),
    "payment_method": _code("payment_method"),
    "value_tier": _code("value_tier"),
    "credit_score": _count("credit_score"),
    "points": _count("points"),
    "churn_risk": _Target("fraction", "churn_risk", frozenset({"decimal", "enum"})),
    "late_payments_6m": _count("late_payments_6m"),
    "bill_inquiries_3m": _count("bill_inquiries_3m"),
    "downgrades_12m": _count("downgrades_12m"),
    "segments": _Target("segments", "segments", frozenset({"str"}), _SEGMENT_MAX_LENGTH),
    "preferred_channel": _code("preferred_channel"),
    "msisdns": _Target("msisdns", None, frozenset({"str"}), _MSISDN_MAX_LENGTH, always_sensitive=True),
}
_ATTRIBUTE_TARGET = _Target("attribute", None, frozenset({"str", "int", "decimal", "bool", "enum"}))
CELL_TYPES = ("str", "int", "decimal", "bool", "enum")
BLANK_POLICIES = ("null", "error", "default")
_TIER_SOURCES = ("monthly_fee", "total_charges", "tenure_months", "points", "credit_score")
_DEFAULT_TRUE_WORDS = ("yes", "y", "true", "t", "1", "是", "√")
_DEFAULT_FALSE_WORDS = ("no", "n", "false", "f", "0", "否", "×")


def _column_defaults() -> dict[str, Any]:
    """Defaults of the NOT NULL customer columns: a blank cell with blank = "null" stores these instead."""
    defaults = {}
    for column in Customer.__table__.c:
        if not column.nullable and column.default is not None and column.default.is_scalar:
            defaults[column.name] = column.default.arg
    return defaults


_NOT_NULL_DEFAULTS = _column_defaults()


# ------------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class FieldSpec:
    """How to read one mapped value (a Customer field, or an attribute) from its CSV column(s)."""

    key: str  # where it sits in the mapping, e.g. "fields.monthly_fee" or "attributes.partner"
    name: str  # the field or attribute name: the key without its table
    target: _Target
    columns: tuple[str, ...]
    type: str = "str"
    required: bool = True
    blank: str = "null"
    default: Any = None  # already converted to what is stored
    values: dict[str, Any] | None = None  # enum: folded CSV text -> stored value
    value_labels: tuple[str, ...] = ()  # enum keys as written in the mapping, for messages
    true_words: frozenset[str] = frozenset()
    false_words: frozenset[str] = frozenset()
    separator: str | None = None
    unit: str = "yuan"
    strip_prefixes: tuple[str, ...] = ()
    sensitive: bool = False
    null_words: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SegmentRule:
    segment: str
    column: str
    words: frozenset[str]  # folded cell texts
    negate: bool  # True: the segment applies when the cell is NOT one of `words`
    required: bool

    def matches(self, cell: str) -> bool:
        folded = _fold(cell)
        if not folded:
            return False  # a blank cell says nothing, not even "not equal"
        return (folded in self.words) != self.negate


@dataclass(frozen=True)
class TierBands:
    source: str  # a numeric field name, e.g. monthly_fee (money is compared in yuan)
    bands: tuple[tuple[Decimal, str], ...]  # ascending (at_least, tier)

    def tier_for(self, amount: Decimal) -> str | None:
        chosen = None
        for at_least, tier in self.bands:
            if amount >= at_least:
                chosen = tier
        return chosen


@dataclass(frozen=True)
class Mapping:
    name: str
    source: Path | None
    version: int
    description: str
    delimiter: str
    encoding: str  # a Python codec name; "utf-8" also accepts a BOM
    fields: tuple[FieldSpec, ...]  # customer_id first
    attributes: tuple[FieldSpec, ...]
    segment_rules: tuple[SegmentRule, ...]
    value_tier_bands: TierBands | None

    def field(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.name == name), None)

    @property
    def label(self) -> str:
        return self.source.name if self.source else self.name


def mappings_dir() -> Path:
    return resources_dir() / "mappings"


def shipped_mappings() -> list[str]:
    return sorted(path.stem for path in mappings_dir().glob("*.toml"))


def load_mapping(name_or_path: str | Path) -> Mapping:
    """A mapping from a file path, or by the name of a shipped mapping (resources/mappings/NAME.toml)."""
    path = _find_mapping(str(name_or_path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFailure(f"mapping {path.name}: not UTF-8 text") from None
    except OSError as exc:
        raise ImportFailure(f"mapping {path}: cannot be read ({exc.strerror or exc})") from None
    return parse_mapping(text, name=path.stem, source=path)


def parse_mapping(text: str, *, name: str = "mapping", source: Path | None = None) -> Mapping:
    label = source.name if source else name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImportFailure(f"mapping {label} is not valid TOML: {exc}") from None
    return _MappingParser(label).parse(data, name=name, source=source)


def _find_mapping(name_or_path: str) -> Path:
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    looks_like_a_name = not any(sep in name_or_path for sep in ("/", "\\")) and name_or_path.strip()
    if looks_like_a_name:
        shipped = mappings_dir() / f"{name_or_path.removesuffix('.toml')}.toml"
        if shipped.is_file():
            return shipped
    if candidate.is_dir():
        raise ImportFailure(f"mapping {name_or_path!r} is a directory, not a mapping file")
    shipped_names = ", ".join(shipped_mappings()) or "none"
    raise ImportFailure(
        f"no mapping {name_or_path!r}: no such file, and no shipped mapping of that name (shipped: {shipped_names})"
    )


_REQUIRED = object()


class _Table:
    """A TOML table read key by key; keys nobody asked for are typos and get reported by name."""

    def __init__(self, data: dict, where: str, fail) -> None:
        self.data = dict(data)
        self.where = where
        self.fail = fail
        self.known: list[str] = []

    def take(self, key: str, kinds: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
        self.known.append(key)
        if key not in self.data:
            if default is _REQUIRED:
                self.fail(self.path(key), "is missing")
            return default
        value = self.data.pop(key)
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        # TOML booleans are Python ints too: never let true stand for 1.
        if isinstance(value, bool) and bool not in kinds:
            self.fail(self.path(key), f"must be {_kind_names(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            self.fail(self.path(key), f"must be {_kind_names(kinds)}, not {_toml_kind(value)}")
        return value

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def done(self) -> None:
        for key in self.data:
            hint = _did_you_mean(key, self.known)
            self.fail(self.path(key), f"unknown key{hint} (known here: {', '.join(self.known)})")


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _toml_kind(value: Any) -> str:
    return _kind_names((type(value),)) if not isinstance(value, dt.date | dt.time) else "a date/time"


def _shown(value: Any, limit: int = 60) -> str:
    """A value quoted in a message (repr), cut short: a mapping or a header may hold kilobytes of text."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 2]}…{text[-1]}"


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _MappingParser:
    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, key: str, problem: str):
        raise ImportFailure(f"mapping {self.label}: {key} {problem}")

    def parse(self, data: dict, *, name: str, source: Path | None) -> Mapping:
        top = _Table(data, "", self.fail)
        version = top.take("version", int)
        if version != MAPPING_FORMAT_VERSION:
            self.fail("version", f"is {version}; this CallCue reads mapping format {MAPPING_FORMAT_VERSION}")
        description = top.take("description", str, "")

        csv_table = _Table(top.take("csv", dict, {}), "csv", self.fail)
        delimiter = csv_table.take("delimiter", str, ",")
        if len(delimiter) != 1 or delimiter in '"\r\n':
            self.fail(
                "csv.delimiter", f"must be one character other than a quote or newline, not {_shown(delimiter)}"
            )
        encoding = csv_table.take("encoding", str, "utf-8")
        try:
            codecs.lookup(encoding)
        except LookupError:
            self.fail("csv.encoding", f"{_shown(encoding)} is not an encoding Python knows (try utf-8 or gb18030)")
        null_words = frozenset(_fold(word) for word in self._strings(csv_table, "null_values"))
        csv_table.done()

        fields_table = top.take("fields", dict)
        fields = []
        for field_name, body in fields_table.items():
            where = f"fields.{field_name}"
            if field_name not in TARGET_FIELDS:
                hint = _did_you_mean(field_name, list(TARGET_FIELDS))
                self.fail(where, f"is not a customer field{hint}; known fields: {', '.join(TARGET_FIELDS)}")
            if not isinstance(body, dict):
                self.fail(where, 'must be a table such as { column = "Header", type = "str" }')
            fields.append(self._field(body, where, TARGET_FIELDS[field_name], null_words))
        fields.sort(key=lambda spec: spec.name != "customer_id")
        if not fields or fields[0].name != "customer_id":
            self.fail(
                "fields.customer_id", "is missing: every mapping needs the column that identifies a customer"
            )
        key_spec = fields[0]
        if not key_spec.required or key_spec.blank != "error":
            self.fail("fields.customer_id", 'must be required with blank = "error": every row needs its key')

        attributes = []
        for attribute_name, body in top.take("attributes", dict, {}).items():
            where = f"attributes.{attribute_name}"
            if isinstance(body, str):
                body = {"column": body}
            if not isinstance(body, dict):
                self.fail(
                    where, 'must be a column name or a table such as { column = "Header", type = "bool" }'
                )
            attributes.append(self._field(body, where, _ATTRIBUTE_TARGET, null_words))

        rules = [
            self._segment_rule(body, f"segment_rules[{index}]")
            for index, body in enumerate(top.take("segment_rules", list, []))
        ]
        derive = _Table(top.take("derive", dict, {}), "derive", self.fail)
        tier_table = derive.take("value_tier", dict, None)
        derive.done()
        bands = self._tier_bands(tier_table, fields) if tier_table is not None else None
        top.done()
        return Mapping(
            name=name,
            source=source,
            version=version,
            description=description,
            delimiter=delimiter,
            encoding=encoding,
            fields=tuple(fields),
            attributes=tuple(attributes),
            segment_rules=tuple(rules),
            value_tier_bands=bands,
        )

    def _strings(self, table: _Table, key: str, default=()) -> tuple[str, ...] | None:
        values = table.take(key, list, None if default is None else list(default))
        if values is None:
            return None
        for index, value in enumerate(values):
            if not isinstance(value, str):
                self.fail(f"{table.path(key)}[{index}]", f"must be a string, not {_toml_kind(value)}")
        return tuple(values)

    def _field(self, body: dict, where: str, target: _Target, null_words: frozenset[str]) -> FieldSpec:
        table = _Table(body, where, self.fail)
        column = table.take("column", str, None)
        columns = (
            self._strings(table, "columns", None) if "columns" in body else table.take("columns", list, None)
        )
        if (column is None) == (columns is None):
            self.fail(where, 'needs exactly one of column = "Header" or columns = [...]')
        if columns is not None and target.kind != "msisdns":
            self.fail(
                f"{where}.columns", 'is only for msisdns (several phone-number columns); use column = "..."'
            )
        headers = (column,) if column is not None else columns
        if not headers or any(not header.strip() for header in headers):
            self.fail(where, "names an empty column")

        cell_type = table.take("type", str, "str")
        if cell_type not in CELL_TYPES:
            self.fail(f"{where}.type", f"{_shown(cell_type)} is not a type; use one of {', '.join(CELL_TYPES)}")
        if cell_type not in target.types:
            allowed = ", ".join(t for t in CELL_TYPES if t in target.types)
            self.fail(f"{where}.type", f"{_shown(cell_type)} does not fit this field; it takes {allowed}")
        required = table.take("required", bool, True)
        has_default = "default" in body
        blank = table.take("blank", str, "default" if has_default else "null")
        if blank not in BLANK_POLICIES:
            self.fail(f"{where}.blank", f"{_shown(blank)} is not a policy; use one of {', '.join(BLANK_POLICIES)}")
        if (blank == "default") != has_default:
            self.fail(f"{where}.blank", 'is "default" exactly when a default = ... value is given')
        raw_default = table.take("default", (str, int, float, bool), None)

        raw_values = table.take("values", dict, None)
        if (cell_type == "enum") != (raw_values is not None):
            self.fail(f"{where}.values", 'is needed with type = "enum", and only then')
        true_words = self._strings(table, "true_values", _DEFAULT_TRUE_WORDS) if cell_type == "bool" else ()
        false_words = (
            self._strings(table, "false_values", _DEFAULT_FALSE_WORDS) if cell_type == "bool" else ()
        )
        takes_separator = target.kind in ("segments", "msisdns")
        separator = (
            table.take("separator", str, ";" if target.kind == "segments" else None)
            if takes_separator
            else None
        )
        if separator is not None and len(separator) == 0:
            self.fail(f"{where}.separator", "must not be empty")
        unit = table.take("unit", str, "yuan") if target.kind == "money" else "yuan"
        if unit not in ("yuan", "fen"):
            self.fail(f"{where}.unit", f'{_shown(unit)} is not a unit; use "yuan" or "fen"')
        prefixes = self._strings(table, "strip_prefixes", ()) if target.kind == "msisdns" else ()
        sensitive = table.take("sensitive", bool, False) or target.always_sensitive
        table.done()

        spec = FieldSpec(
            key=where,
            name=where.split(".", 1)[1],
            target=target,
            columns=tuple(header.strip() for header in headers),
            type=cell_type,
            required=required,
            blank=blank,
            true_words=frozenset(_fold(word) for word in true_words),
            false_words=frozenset(_fold(word) for word in false_words),
            separator=separator,
            unit=unit,
            strip_prefixes=prefixes,
            sensitive=sensitive,
            null_words=null_words,
        )
        if cell_type == "bool" and spec.true_words & spec.false_words:
            self.fail(f"{where}.true_values", "shares words with false_values")
        if raw_values is not None:
            spec = self._with_values(spec, raw_values)
        if has_default:
            spec = dataclasses.replace(spec, default=self._stored(spec, raw_default, f"{where}.default"))
        return spec

    def _with_values(self, spec: FieldSpec, raw_values: dict) -> FieldSpec:
        where = f"{spec.key}.values"
        if not raw_values:
            self.fail(where, "is empty")
        folded: dict[str, Any] = {}
        for text, stored in raw_values.items():
            key = _fold(text)
            if key in folded:
                self.fail(where, f"lists {_shown(text)} twice (keys match ignoring case and spaces)")
            if not key:
                self.fail(where, 'has a blank key; blank cells follow the blank = "..." policy')
            folded[key] = self._stored(spec, stored, f"{where}.{json.dumps(text, ensure_ascii=False)}")
        return dataclasses.replace(spec, values=folded, value_labels=tuple(raw_values))

    def _stored(self, spec: FieldSpec, value: Any, where: str) -> Any:
        """Check a value written in the mapping (enum output, default) the way a cell would be checked."""
        if isinstance(value, float):
            value = Decimal(str(value))
        try:
            shown = json.dumps(value if not isinstance(value, Decimal) else float(value), ensure_ascii=False)
            return _finish(spec, value, _Cell(where, shown, literal=True))
        except CellError as exc:
            raise ImportFailure(f"mapping {self.label}: {exc}") from None

    def _segment_rule(self, body: Any, where: str) -> SegmentRule:
        if not isinstance(body, dict):
            self.fail(
                where, 'must be a table like { segment = "senior", column = "SeniorCitizen", equals = "1" }'
            )
        table = _Table(body, where, self.fail)
        segment = table.take("segment", str)
        if not _CODE_RE.fullmatch(segment) or len(segment) > _SEGMENT_MAX_LENGTH:
            self.fail(f"{where}.segment", f"{_shown(segment)} must be a code: lower-case letters, digits, _")
        column = table.take("column", str).strip()
        equals = table.take("equals", (str, int, list), None)
        not_equals = table.take("not_equals", (str, int, list), None)
        if (equals is None) == (not_equals is None):
            self.fail(where, "needs exactly one of equals = ... or not_equals = ...")
        required = table.take("required", bool, True)
        table.done()
        words = equals if equals is not None else not_equals
        words = words if isinstance(words, list) else [words]
        folded = set()
        for index, word in enumerate(words):
            if isinstance(word, bool) or not isinstance(word, str | int):
                self.fail(f"{where}[{index}]", "values must be strings or integers")
            folded.add(_fold(str(word)))
        if not folded or "" in folded:
            self.fail(where, "must compare with non-blank values")
        return SegmentRule(
            segment, column, frozenset(folded), negate=not_equals is not None, required=required
        )

    def _tier_bands(self, body: dict, fields: list[FieldSpec]) -> TierBands:
        where = "derive.value_tier"
        table = _Table(body, where, self.fail)
        source = table.take("from", str, "monthly_fee")
        if source not in _TIER_SOURCES:
            self.fail(f"{where}.from", f"{_shown(source)} cannot set tiers; use one of {', '.join(_TIER_SOURCES)}")
        if not any(spec.name == source for spec in fields):
            self.fail(f"{where}.from", f"{_shown(source)} is not mapped under [fields]")
        bands_raw = table.take("bands", list)
        table.done()
        bands: list[tuple[Decimal, str]] = []
        for index, band in enumerate(bands_raw):
            band_where = f"{where}.bands[{index}]"
            if not isinstance(band, dict):
                self.fail(band_where, 'must be a table like { at_least = 70, tier = "gold" }')
            band_table = _Table(band, band_where, self.fail)
            at_least = Decimal(str(band_table.take("at_least", (int, float))))
            tier = band_table.take("tier", str)
            band_table.done()
            if not _CODE_RE.fullmatch(tier) or len(tier) > _length("value_tier"):
                self.fail(
                    f"{band_where}.tier",
                    f"{_shown(tier)} must be a code of at most {_length('value_tier')} characters",
                )
            if bands and at_least <= bands[-1][0]:
                self.fail(
                    f"{band_where}.at_least", "must be larger than the band before (list bands low to high)"
                )
            bands.append((at_least, tier))
        if not bands:
            self.fail(f"{where}.bands", "is empty")
        return TierBands(source, tuple(bands))


# --------------------------------------------------------------------------------------- cell values

_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_GROUPED_RE = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")  # 1,234.50 from spreadsheets
_MSISDN_TEXT_RE = re.compile(r"\+?[0-9(][0-9 \-.()\u00a0]*")
_MSISDN_MIN_DIGITS = 5  # the pop refuses shorter caller ids
_CURRENCY_MARKS = ("¥", "￥", "CNY", "RMB")
_LARGEST_PLAIN_NUMBER = Decimal(10) ** 18  # beyond any column; stops absurd inputs before arithmetic


def _fold(text: str) -> str:
    """Comparison form of a cell: case and runs of whitespace don't matter."""
    return " ".join(text.split()).casefold()


def _quote(raw: str) -> str:
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    return json.dumps(shown, ensure_ascii=False)


class _Cell:
    """Names a cell in messages: its column and, unless sensitive, its value. Formatted only on error."""

    __slots__ = ("column", "literal", "raw", "sensitive")

    def __init__(self, column: str, raw: str, *, sensitive: bool = False, literal: bool = False) -> None:
        self.column, self.raw, self.sensitive, self.literal = column, raw, sensitive, literal

    def __str__(self) -> str:
        shown = REDACTED if self.sensitive else self.raw if self.literal else _quote(self.raw)
        return f"{self.column} {shown}"


def parse_cell(spec: FieldSpec, text: str, column: str | None = None) -> Any:
    """The stored value for one cell, or CellError saying what is wrong (never another exception)."""
    column = column or spec.columns[0]
    raw = text.strip()
    if not raw or (spec.null_words and _fold(raw) in spec.null_words):
        if spec.blank == "error":
            raise CellError(f"{column} is blank")
        return spec.default  # None when blank = "null"
    cell = _Cell(column, raw, sensitive=spec.sensitive)
    if spec.type == "enum":
        return _enum_value(spec, raw, cell)  # enum outputs were checked when the mapping loaded
    return _finish(spec, _read(spec, raw, cell), cell)


def _read(spec: FieldSpec, raw: str, cell: _Cell) -> Any:
    """The cell text as a Python value of the field's CSV type."""
    kind = spec.target.kind
    if spec.type == "str":
        return raw
    if spec.type == "int":
        number = _parse_decimal(raw)
        if number is None or number != number.to_integral_value():
            raise CellError(f"{cell} is not a whole number")
        return int(number)
    if spec.type == "decimal":
        number = _parse_decimal(raw, percent=kind == "fraction", currency=kind == "money")
        if number is None:
            raise CellError(f"{cell} is not a number")
        return number
    if spec.type == "bool":
        folded = _fold(raw)
        if folded in spec.true_words:
            return True
        if folded in spec.false_words:
            return False
        raise CellError(f"{cell} is not a yes/no value")
    raise AssertionError(f"unhandled cell type {spec.type}")


def _enum_value(spec: FieldSpec, raw: str, cell: _Cell) -> Any:
    assert spec.values is not None  # the mapping parser requires values with type = "enum"
    try:
        return spec.values[_fold(raw)]
    except KeyError:
        choices = ", ".join(spec.value_labels[:12]) + (", …" if len(spec.value_labels) > 12 else "")
        raise CellError(f"{cell} is not one of: {choices}") from None


def _parse_decimal(raw: str, *, percent: bool = False, currency: bool = False) -> Decimal | None:
    text = raw
    if currency:
        for mark in _CURRENCY_MARKS:
            text = text.removeprefix(mark)
        text = text.removesuffix("元").strip()
    scale = 1
    if percent and text.endswith("%"):
        text, scale = text[:-1].strip(), 100
    if _GROUPED_RE.fullmatch(text):
        text = text.replace(",", "")
    elif not _DECIMAL_RE.fullmatch(text):
        return None
    number = Decimal(text)
    if abs(number) >= _LARGEST_PLAIN_NUMBER:
        return None
    return number / scale


def _finish(spec: FieldSpec, value: Any, cell: _Cell) -> Any:
    """Check a read value against the target field and convert it to what the database stores."""
    target = spec.target
    kind = target.kind
    if kind == "attribute":
        # JSON has no Decimal; floats are what queries on attributes compare with.
        return float(value) if isinstance(value, Decimal) else value
    if kind in ("text", "code", "segments", "msisdns"):
        if not isinstance(value, str):
            raise CellError(f"{cell} must be text")
        if kind == "segments":
            return _segments(value, spec, cell)
        if kind == "msisdns":
            return _msisdns(value, spec, cell.column)
        if target.max_length and len(value) > target.max_length:
            raise CellError(f"{cell.column} is longer than {target.max_length} characters")
        if kind == "code" and not _CODE_RE.fullmatch(value):
            raise CellError(
                f'{cell} is not a code (lower-case letters, digits and _); map it with type = "enum"'
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise CellError(f"{cell} must be a number")
    if kind == "fraction":
        if not 0 <= value <= 1:
            raise CellError(f"{cell} is not between 0 and 1 (write 0.85 or 85%)")
        return float(value)
    if kind == "money":
        amount = Decimal(value) * (100 if spec.unit == "yuan" else 1)
        if amount < 0:
            raise CellError(f"{cell} is negative")
        if amount > target.maximum:
            raise CellError(f"{cell} is too large")
        return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise CellError(f"{cell} is not a whole number")
        value = int(value)
    if not target.minimum <= value <= target.maximum:
        raise CellError(f"{cell} is out of range ({target.minimum}..{target.maximum})")
    return value


def _segments(value: str, spec: FieldSpec, cell: _Cell) -> list[str]:
    tags: list[str] = []
    for part in value.split(spec.separator) if spec.separator else [value]:
        tag = part.strip()
        if not tag or tag in tags:
            continue
        if len(tag) > _SEGMENT_MAX_LENGTH:
            raise CellError(f"{cell} has a segment longer than {_SEGMENT_MAX_LENGTH} characters")
        tags.append(tag)
    return tags


def normalize_msisdn(text: str, strip_prefixes: Sequence[str] = ()) -> str | None:
    """The stored form of a phone number, or None when the text is not one.

    The mapping's strip_prefixes go first; then the pop's own ANI normalization (digits only, +86 / 0086
    dropped), so that a caller id finds the number it was imported as."""
    number = text.strip()
    for prefix in strip_prefixes:
        if number.startswith(prefix) and len(number) > len(prefix):
            number = number[len(prefix) :].strip()
            break
    if not _MSISDN_TEXT_RE.fullmatch(number):
        return None  # letters, Excel's 1.38E+10 and the like: refuse rather than guess
    number = pop_ani_digits(number)
    if not _MSISDN_MIN_DIGITS <= len(number) <= _MSISDN_MAX_LENGTH:
        return None
    return number


def _msisdns(value: str, spec: FieldSpec, column: str) -> list[str]:
    numbers: list[str] = []
    for part in value.split(spec.separator) if spec.separator else [value]:
        if not part.strip():
            continue
        number = normalize_msisdn(part, spec.strip_prefixes)
        if number is None:
            raise CellError(f"{column} {REDACTED} is not a phone number")
        if number not in numbers:
            numbers.append(number)
    return numbers


# ---------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class ConvertedRow:
    customer: dict[str, Any]  # Customer column -> value (customer_id always; updated_at added on write)
    msisdns: list[str]  # primary first


class RowConverter:
    """Turns the cells of one CSV row into a ConvertedRow, for one file's header and one mapping.

    Building it checks the header (every required column present, none ambiguous) and raises
    ImportFailure otherwise; after that, convert() never fails for anything but RowRejected."""

    def __init__(self, mapping: Mapping, header: Sequence[str], *, file_label: str = "the file") -> None:
        self.mapping = mapping
        self.width = len(header)
        names = [cell.strip().removeprefix("\ufeff") for cell in header]
        self.index = _header_index(names, mapping, file_label)
        self.fields = [spec for spec in mapping.fields if any(c in self.index for c in spec.columns)]
        self.attributes = [spec for spec in mapping.attributes if spec.columns[0] in self.index]
        self.rules = [rule for rule in mapping.segment_rules if rule.column in self.index]
        self.key_column = mapping.fields[0].columns[0]
        mapped = {spec.name for spec in self.fields}
        self.writes_segments = "segments" in mapped or bool(self.rules)
        self.writes_attributes = bool(self.attributes)
        self.writes_numbers = "msisdns" in mapped
        number_spec = mapping.field("msisdns")
        # Blank number cells are read as "no number"; the field's own blank policy applies to the row.
        self._number_cell_spec = (
            dataclasses.replace(number_spec, blank="null", default=None) if number_spec is not None else None
        )
        bands = mapping.value_tier_bands
        self.tier_bands = bands if bands is not None and bands.source in mapped else None
        # Columns that a re-import overwrites: only what this file provides, so values kept elsewhere
        # (DND set from call outcomes, counters fed by other jobs) survive an import.
        written = [spec.target.column for spec in self.fields if spec.target.column]
        if self.tier_bands is not None and "value_tier" not in written:
            written.append("value_tier")
        if self.writes_segments and "segments" not in written:
            written.append("segments")
        if self.writes_attributes:
            written.append("attributes")
        self.update_columns = [column for column in written if column != "customer_id"] + ["updated_at"]

    def convert(self, cells: Sequence[str]) -> ConvertedRow:
        if len(cells) != self.width:
            raise RowRejected(
                f"has {len(cells)} values but the header has {self.width} columns "
                "(an unquoted delimiter inside a value, or a cut-off line?)"
            )
        problems: list[str] = []
        values: dict[str, Any] = {}
        for spec in self.fields:
            try:
                values[spec.name] = self._field_value(spec, cells)
            except CellError as exc:
                problems.append(str(exc))
        attributes: dict[str, Any] = {}
        for spec in self.attributes:
            try:
                value = parse_cell(spec, cells[self.index[spec.columns[0]]])
            except CellError as exc:
                problems.append(str(exc))
                continue
            if value is not None:
                attributes[spec.name] = value
        if problems:
            raise RowRejected("; ".join(problems))

        customer: dict[str, Any] = {}
        for spec in self.fields:
            column = spec.target.column
            if column is not None:
                value = values[spec.name]
                customer[column] = _NOT_NULL_DEFAULTS.get(column) if value is None else value
        if self.tier_bands is not None and values.get("value_tier") is None:
            customer["value_tier"] = self._derived_tier(values)
        if self.writes_segments:
            segments = list(values.get("segments") or [])
            for rule in self.rules:
                if rule.segment not in segments and rule.matches(cells[self.index[rule.column]]):
                    segments.append(rule.segment)
            customer["segments"] = segments
        if self.writes_attributes:
            customer["attributes"] = attributes
        return ConvertedRow(customer, list(values.get("msisdns") or []))

    def _field_value(self, spec: FieldSpec, cells: Sequence[str]) -> Any:
        if spec.target.kind != "msisdns":
            return parse_cell(spec, cells[self.index[spec.columns[0]]])
        numbers: list[str] = []
        for column in spec.columns:
            if column in self.index:
                for number in parse_cell(self._number_cell_spec, cells[self.index[column]], column) or []:
                    if number not in numbers:
                        numbers.append(number)
        if not numbers and spec.blank == "error":
            raise CellError(f"{' / '.join(spec.columns)} is blank")
        return numbers

    def _derived_tier(self, values: dict[str, Any]) -> str | None:
        bands = self.tier_bands
        source = values.get(bands.source)
        if source is None:
            return _NOT_NULL_DEFAULTS.get("value_tier")
        amount = (
            Decimal(source) / 100 if bands.source in ("monthly_fee", "total_charges") else Decimal(source)
        )
        return bands.tier_for(amount) or _NOT_NULL_DEFAULTS.get("value_tier")


def _header_index(names: list[str], mapping: Mapping, file_label: str) -> dict[str, int]:
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names):
        positions.setdefault(name, []).append(position)
    used: list[tuple[str, bool]] = []  # (column, required)
    for spec in (*mapping.fields, *mapping.attributes):
        used.extend((column, spec.required) for column in spec.columns)
    used.extend((rule.column, rule.required) for rule in mapping.segment_rules)

    missing = [column for column, required in used if required and column not in positions]
    if missing:
        missing = list(dict.fromkeys(missing))
        delimiter_hint = _delimiter_hint(names, mapping, missing)
        if not any(column in positions for column, _required in used):
            # Maybe no header at all: the first line would be a customer's data, so don't echo it.
            raise ImportFailure(
                f"{file_label}: its first line ({len(names)} columns) has none of the columns that mapping "
                f"{mapping.label} reads, such as {_shown(missing[0])}. Is the header line missing, or is this the "
                f"wrong mapping?{delimiter_hint}"
            )
        described = ", ".join(f"{_shown(column)}{_did_you_mean(column, names)}" for column in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        shown_header = ", ".join(repr(name) for name in names[:12]) + (", …" if len(names) > 12 else "")
        raise ImportFailure(
            f"{file_label} lacks column(s) that mapping {mapping.label} requires: {described}{more}. "
            f"Its header has: {shown_header}.{delimiter_hint}"
        )
    for column, _required in used:
        if len(positions.get(column, ())) > 1:
            places = " and ".join(str(p + 1) for p in positions[column])
            raise ImportFailure(
                f"{file_label} has two columns named {_shown(column)} (columns {places}); the mapping cannot tell which to use"
            )
    return {column: places[0] for column, places in positions.items()}


def _delimiter_hint(names: list[str], mapping: Mapping, missing: list[str]) -> str:
    header_line = mapping.delimiter.join(names)
    best, best_hits = None, 0
    for candidate in (",", ";", "\t", "|"):
        if candidate == mapping.delimiter or candidate not in header_line:
            continue
        split = {part.strip().strip('"') for part in header_line.split(candidate)}
        hits = sum(column in split for column in missing)
        if hits > best_hits:
            best, best_hits = candidate, hits
    if best is None:
        return ""
    return (
        f" The file looks {_shown(best)}-separated, but the mapping reads {_shown(mapping.delimiter)}-separated files: "
        f"set delimiter = {json.dumps(best)} under [csv] in the mapping, or re-export the file."
    )


# ---------------------------------------------------------------------------------------------- file

_CHUNK_BYTES = 1 << 20
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)


def _python_codec(encoding: str) -> str:
    # "utf-8" in a mapping means UTF-8 with or without the BOM that Excel writes.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _check_file_bytes(path: Path, mapping: Mapping) -> None:
    """Fail before touching the database if the file is unreadable, binary or not in the mapping's encoding."""
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        raise ImportFailure(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportFailure(f"{path} is a directory, not a CSV file") from None
    except OSError as exc:
        raise ImportFailure(f"{path} cannot be read ({exc.strerror or exc})") from None
    with stream:
        chunk = stream.read(_CHUNK_BYTES)
        if not chunk.strip():
            raise ImportFailure(f"{path.name} is empty: a CSV file starts with its header line")
        for signature, what in _BINARY_SIGNATURES:
            if chunk.startswith(signature):
                raise ImportFailure(
                    f"{path.name} is {what}, not a CSV text file: export or save it as CSV (UTF-8)"
                )
        decoder = codecs.getincrementaldecoder(_python_codec(mapping.encoding))(errors="strict")
        lines_before = 0
        head = chunk
        while chunk:
            if b"\x00" in chunk:
                line = lines_before + chunk[: chunk.index(b"\x00")].count(b"\n") + 1
                raise ImportFailure(
                    f"{path.name} contains NUL bytes (line {line}): binary data, not a CSV text file"
                )
            pending = _pending_bytes(decoder)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                where = max(exc.start - pending, 0)
                line = lines_before + chunk[:where].count(b"\n") + 1
                bad_byte = exc.object[exc.start : exc.start + 1].hex()
                raise ImportFailure(_encoding_problem(path, mapping, line, bad_byte, head)) from None
            lines_before += chunk.count(b"\n")
            chunk = stream.read(_CHUNK_BYTES)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ImportFailure(
                _encoding_problem(path, mapping, lines_before + 1, "end of file", head)
            ) from None


def _pending_bytes(decoder: codecs.IncrementalDecoder) -> int:
    try:
        state = decoder.getstate()
    except (AttributeError, NotImplementedError):
        return 0
    return len(state[0]) if isinstance(state, tuple) and isinstance(state[0], bytes) else 0


def _encoding_problem(path: Path, mapping: Mapping, line: int, bad_byte: str, head: bytes) -> str:
    byte_text = bad_byte if bad_byte == "end of file" else f"byte 0x{bad_byte}"
    message = f"{path.name} is not {mapping.encoding} text: {byte_text} on line {line} cannot be decoded."
    if _python_codec(mapping.encoding) == "utf-8-sig" and _looks_like_gb18030(head):
        return (
            f'{message} It looks like GB18030/GBK (common for Chinese Excel exports): set encoding = "gb18030" '
            f"under [csv] in the mapping, or convert the file: iconv -f GB18030 -t UTF-8 IN.csv > OUT.csv"
        )
    return f'{message} Save it as CSV UTF-8 (or set encoding = "..." under [csv] in the mapping).'


def _looks_like_gb18030(head: bytes) -> bool:
    try:
        text = head.decode("gb18030")
    except UnicodeDecodeError:
        # The sample may end in the middle of a character.
        try:
            text = head[:-1].decode("gb18030")
        except UnicodeDecodeError:
            return False
    return any("\u4e00" <= char <= "\u9fff" for char in text)


class _Record(NamedTuple):
    line: int  # physical line where the record starts
    cells: list[str]
    problem: str | None  # the CSV syntax of this record is broken (cells then are empty)


def _csv_records(path: Path, mapping: Mapping) -> Iterator[_Record]:
    """Every non-empty record, the header included. A record with broken quoting on its own line is
    reported and reading goes on; a quote that is never closed swallows the rest of the file: fatal."""
    with path.open("r", encoding=_python_codec(mapping.encoding), newline="") as text:
        # strict: '"abc"x' is an error instead of silently becoming 'abcx'.
        reader = csv.reader(text, delimiter=mapping.delimiter, strict=True)
        end_of_previous = 0
        while True:
            line = end_of_previous + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "end of data" in str(exc) or "field limit" in str(exc):
                    raise ImportFailure(
                        f"{path.name}: the quoted value opened on line {line} is never closed "
                        f"(it runs on to line {reader.line_num}); fix the quoting and import again"
                    ) from None
                end_of_previous = reader.line_num
                yield _Record(line, [], f"broken CSV quoting ({exc})")
                continue
            except UnicodeDecodeError:
                raise ImportFailure(
                    f"{path.name} changed while it was being imported (it no longer decodes)"
                ) from None
            end_of_previous = reader.line_num
            if any(cell.strip() for cell in cells):
                yield _Record(line, cells, None)


# ---------------------------------------------------------------------------------------------- import


def import_customers(
    engine: Engine, csv_path: str | Path, mapping: Mapping, *, batch_size: int = 2000
) -> ImportReport:
    """Upsert the customers of one CSV file; see the module docstring for what is checked when."""
    started = time.perf_counter()
    path = Path(csv_path)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    dialect = engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise ImportFailure(f"importing into {dialect} is not supported (use SQLite or PostgreSQL)")
    _check_file_bytes(path, mapping)

    with contextlib.closing(_csv_records(path, mapping)) as records:
        header = next(records, None)
        if header is None:
            raise ImportFailure(f"{path.name} has no header line")
        if header.problem:
            raise ImportFailure(f"{path.name}: the header on line {header.line} has {header.problem}")
        converter = RowConverter(mapping, header.cells, file_label=path.name)
        report = _import_rows(engine, converter, records, batch_size)
    elapsed = time.perf_counter() - started
    log.info(
        "customer import of %s with mapping %s: %d rows, %d new, %d updated, %d rejected in %.2f s",
        path.name, mapping.label, report.rows_read, report.imported, report.updated, report.rejected, elapsed,
    )  # fmt: skip
    return dataclasses.replace(report, elapsed_s=round(elapsed, 3))


def _import_rows(
    engine: Engine, converter: RowConverter, records: Iterator[_Record], batch_size: int
) -> ImportReport:
    now = dt.datetime.now(dt.UTC)
    errors: list[RowError] = []
    first_line_of_id: dict[str, int] = {}
    owner_of_number: dict[str, tuple[str, int]] = {}
    rows_read = imported = updated = 0
    batch: list[ConvertedRow] = []
    try:
        with engine.begin() as connection:
            for line, cells, problem in records:
                rows_read += 1
                try:
                    if problem:
                        raise RowRejected(problem)
                    row = converter.convert(cells)
                    _check_unique(row, line, converter, first_line_of_id, owner_of_number)
                except RowRejected as exc:
                    errors.append(RowError(line, str(exc)))
                    continue
                first_line_of_id[row.customer["customer_id"]] = line
                for number in row.msisdns:
                    owner_of_number[number] = (row.customer["customer_id"], line)
                row.customer["updated_at"] = now
                batch.append(row)
                if len(batch) >= batch_size:
                    new, existing = _write_batch(connection, converter, batch)
                    imported, updated, batch = imported + new, updated + existing, []
            if batch:
                new, existing = _write_batch(connection, converter, batch)
                imported, updated = imported + new, updated + existing
    except SQLAlchemyError as exc:
        # The driver's own message may quote row values (names, numbers): report its first line only.
        original = getattr(exc, "orig", None) or exc
        first_line = (str(original).strip().splitlines() or [""])[0]
        raise ImportFailure(
            f"the database refused the import ({type(original).__name__}: {first_line}); nothing was written"
        ) from None
    return ImportReport(rows_read, imported, updated, len(errors), errors, elapsed_s=0.0)


def _check_unique(
    row: ConvertedRow,
    line: int,
    converter: RowConverter,
    first_line_of_id: dict[str, int],
    owner_of_number: dict[str, tuple[str, int]],
) -> None:
    customer_id = row.customer["customer_id"]
    if customer_id in first_line_of_id:
        key_spec = converter.mapping.fields[0]
        cell = _Cell(converter.key_column, customer_id, sensitive=key_spec.sensitive)
        raise RowRejected(f"{cell} repeats line {first_line_of_id[customer_id]} (kept that one)")
    for number in row.msisdns:
        if number in owner_of_number:
            _other_id, other_line = owner_of_number[number]
            raise RowRejected(
                f"phone number {REDACTED} is already given to another customer on line {other_line}"
            )


_IN_CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


def _write_batch(connection, converter: RowConverter, batch: list[ConvertedRow]) -> tuple[int, int]:
    """Upsert one batch; returns (new customers, existing customers updated)."""
    ids = [row.customer["customer_id"] for row in batch]
    existing: set[str] = set()
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        existing.update(
            connection.scalars(select(Customer.customer_id).where(Customer.customer_id.in_(chunk)))
        )
    _upsert(
        connection,
        Customer.__table__,
        [row.customer for row in batch],
        "customer_id",
        converter.update_columns,
    )
    if converter.writes_numbers:
        # The file is the truth for these customers' numbers: drop the old ones, then add the file's. A number
        # that belonged to a customer outside the file moves (carriers recycle numbers).
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            connection.execute(delete(CustomerNumber).where(CustomerNumber.customer_id.in_(chunk)))
        numbers = [
            {"msisdn": number, "customer_id": row.customer["customer_id"], "is_primary": position == 0}
            for row in batch
            for position, number in enumerate(row.msisdns)
        ]
        if numbers:
            _upsert(connection, CustomerNumber.__table__, numbers, ("msisdn", "customer_id"), ["is_primary"])
    return len(ids) - len(existing), len(existing)


def _upsert(connection, table: Table, rows: list[dict], key: str | tuple[str, ...], update_columns: list[str]) -> None:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    keys = (key,) if isinstance(key, str) else key
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={column: statement.excluded[column] for column in update_columns},
    )
    connection.execute(statement, rows)
