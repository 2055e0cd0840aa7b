"""Column mappings: a TOML file says, for one feed kind, which CSV column feeds which field and how to read it.

Shipped mappings live in resources/feeds/mappings/: KIND.toml for every kind (the documented standard
headers, the default of `callcue-server import KIND FILE`), plus generic.toml and ibm-telco.toml for
customers. The format is documented in resources/feeds/mappings/README.md and docs/feeds.md:

    version = 1
    kind = "usage"                       # default "customers" (mappings written before kinds existed)
    [csv]        delimiter, encoding, null_values, timezone ("+08:00" default, or "UTC", "Asia/Shanghai")
    [fields.F]   column, type (str|int|decimal|bool|enum|date|datetime), required, blank (null|error|default),
                 default, values (enum), true_values / false_values (bool), unit (yuan|fen, money),
                 separator (segments, msisdns), strip_prefixes (phone numbers), format (date/datetime:
                 a strptime format such as "%d/%m/%Y"), sensitive
    [delete]     column = "op", values = ["D", "delete", "删除"], upsert_values = [...], required = false
    customers only: [attributes], [[segment_rules]], [derive.value_tier]
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import difflib
import json
import tomllib
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from server_stub.feeds.cells import CODE_RE, CellError, fixed_zone, fold
from server_stub.feeds.fields import CELL_TYPES, FeedKind, Target
from server_stub.feeds.kinds import ROW_KINDS, get_kind
from server_stub.feeds.report import FeedFailure
from server_stub.paths import resources_dir

MAPPING_FORMAT_VERSION = 1
BLANK_POLICIES = ("null", "error", "default")
DEFAULT_TIMEZONE = "+08:00"  # China Standard Time (no daylight saving): what a carrier's exports mean
_DEFAULT_TRUE_WORDS = ("yes", "y", "true", "t", "1", "是", "√")
_DEFAULT_FALSE_WORDS = ("no", "n", "false", "f", "0", "否", "×")
DEFAULT_UPSERT_WORDS = ("i", "u", "a", "insert", "update", "upsert", "add", "新增", "修改", "更新", "变更")
_NATURAL_TYPE = {"int": "int", "money": "decimal", "fraction": "decimal", "bool": "bool", "date": "date",
                 "datetime": "datetime"}
_ATTRIBUTE_TARGET = Target("attribute", "attribute", None, frozenset({"str", "int", "decimal", "bool", "enum", "date"}))


# ------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class FieldSpec:
    """How to read one mapped value (a field of the kind, or a customer attribute) from its CSV column(s)."""

    key: str  # where it sits in the mapping, e.g. "fields.monthly_fee" or "attributes.partner"
    name: str  # the field or attribute name: the key without its table
    target: Target
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
    format: str | None = None
    zone: dt.tzinfo = dt.UTC


@dataclass(frozen=True)
class SegmentRule:
    segment: str
    column: str
    words: frozenset[str]  # folded cell texts
    negate: bool  # True: the segment applies when the cell is NOT one of `words`
    required: bool

    def matches(self, cell: str) -> bool:
        folded = fold(cell)
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
class DeleteSpec:
    """The column that marks a row as a delete (values) or an upsert (blank or upsert_values)."""

    column: str
    values: frozenset[str]  # folded
    upsert_values: frozenset[str]  # folded; blank always upserts
    labels: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class Mapping:
    name: str
    source: Path | None
    version: int
    kind: str
    description: str
    delimiter: str
    encoding: str  # a Python codec name; "utf-8" also accepts a BOM
    timezone: str
    fields: tuple[FieldSpec, ...]  # the key fields first
    attributes: tuple[FieldSpec, ...] = ()
    segment_rules: tuple[SegmentRule, ...] = ()
    value_tier_bands: TierBands | None = None
    delete: DeleteSpec | None = None

    def field(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.name == name), None)

    @property
    def label(self) -> str:
        return self.source.name if self.source else self.name

    @property
    def feed_kind(self) -> FeedKind:
        return get_kind(self.kind)


# ------------------------------------------------------------------------------------------- loading


def mappings_dir() -> Path:
    return resources_dir() / "feeds" / "mappings"


def shipped_mappings() -> list[str]:
    return sorted(path.stem for path in mappings_dir().glob("*.toml"))


def load_mapping(name_or_path: str | Path) -> Mapping:
    """A mapping from a file path, or by the name of a shipped mapping (resources/feeds/mappings/NAME.toml)."""
    path = _find_mapping(str(name_or_path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _failure(f"mapping {path.name}: not UTF-8 text", f"映射文件 {path.name}：不是 UTF-8 文本") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise _failure(f"mapping {path}: cannot be read ({reason})", f"映射文件 {path}：无法读取（{reason}）") from None
    return parse_mapping(text, name=path.stem, source=path)


def default_mapping(kind: str) -> Mapping:
    """The shipped mapping of a kind: its documented standard headers."""
    return load_mapping(mappings_dir() / f"{kind}.toml")


def parse_mapping(text: str, *, name: str = "mapping", source: Path | None = None) -> Mapping:
    label = source.name if source else name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _failure(f"mapping {label} is not valid TOML: {exc}", f"映射文件 {label} 不是有效的 TOML：{exc}") from None
    return _MappingParser(label).parse(data, name=name, source=source)


def _failure(en: str, zh: str) -> FeedFailure:
    return FeedFailure(en, zh)


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
        raise _failure(f"mapping {name_or_path!r} is a directory, not a mapping file",
                       f"映射 {name_or_path!r} 是目录，不是映射文件")
    shipped_names = ", ".join(shipped_mappings()) or "none"
    raise _failure(
        f"no mapping {name_or_path!r}: no such file, and no shipped mapping of that name (shipped: {shipped_names})",
        f"找不到映射 {name_or_path!r}：没有这个文件，也没有这个名字的内置映射（内置：{shipped_names}）",
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
    names = {str: "a string", int: "an integer", float: "a number", bool: "true/false", list: "a list",
             dict: "a table"}
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _toml_kind(value: Any) -> str:
    return _kind_names((type(value),)) if not isinstance(value, dt.date | dt.time) else "a date/time"


def shown(value: Any, limit: int = 60) -> str:
    """A value quoted in a message (repr), cut short: a mapping or a header may hold kilobytes of text."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 2]}…{text[-1]}"


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_did_you_mean = did_you_mean


class _MappingParser:
    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, key: str, problem: str):
        raise _failure(f"mapping {self.label}: {key} {problem}", f"映射文件 {self.label} 有误：{key} {problem}")

    def parse(self, data: dict, *, name: str, source: Path | None) -> Mapping:
        top = _Table(data, "", self.fail)
        version = top.take("version", int)
        if version != MAPPING_FORMAT_VERSION:
            self.fail("version", f"is {version}; this CallCue reads mapping format {MAPPING_FORMAT_VERSION}")
        kind_name = top.take("kind", str, "customers")
        if kind_name not in ROW_KINDS:
            self.fail("kind", f"{shown(kind_name)} is not a feed kind{did_you_mean(kind_name, ROW_KINDS)}; "
                              f"known: {', '.join(ROW_KINDS)}")
        kind = get_kind(kind_name)
        customers = kind_name == "customers"
        description = top.take("description", str, "")

        csv_table = _Table(top.take("csv", dict, {}), "csv", self.fail)
        delimiter = csv_table.take("delimiter", str, ",")
        if len(delimiter) != 1 or delimiter in '"\r\n':
            self.fail("csv.delimiter", f"must be one character other than a quote or newline, not {shown(delimiter)}")
        encoding = csv_table.take("encoding", str, "utf-8")
        try:
            codecs.lookup(encoding)
        except LookupError:
            self.fail("csv.encoding", f"{shown(encoding)} is not an encoding Python knows (try utf-8 or gb18030)")
        null_words = frozenset(fold(word) for word in self._strings(csv_table, "null_values"))
        timezone = csv_table.take("timezone", str, DEFAULT_TIMEZONE)
        zone = self._zone(timezone)
        csv_table.done()

        fields_table = top.take("fields", dict)
        fields = []
        for field_name, body in fields_table.items():
            where = f"fields.{field_name}"
            if field_name not in kind.targets:
                hint = did_you_mean(field_name, list(kind.targets))
                self.fail(where, f"is not a {kind_name} field{hint}; known fields: {', '.join(kind.targets)}")
            if not isinstance(body, dict):
                self.fail(where, 'must be a table such as { column = "Header", type = "str" }')
            fields.append(self._field(body, where, kind.targets[field_name], null_words, zone))
        self._check_required(kind, fields)
        order = {target.name: position for position, target in enumerate(kind.key_targets)}
        fields.sort(key=lambda spec: order.get(spec.name, len(order)))

        attributes, rules, bands = [], [], None
        if customers:
            for attribute_name, body in top.take("attributes", dict, {}).items():
                where = f"attributes.{attribute_name}"
                if isinstance(body, str):
                    body = {"column": body}
                if not isinstance(body, dict):
                    self.fail(where, 'must be a column name or a table such as { column = "Header", type = "bool" }')
                attributes.append(self._field(body, where, _ATTRIBUTE_TARGET, null_words, zone))
            rules = [
                self._segment_rule(body, f"segment_rules[{index}]")
                for index, body in enumerate(top.take("segment_rules", list, []))
            ]
            derive = _Table(top.take("derive", dict, {}), "derive", self.fail)
            tier_table = derive.take("value_tier", dict, None)
            derive.done()
            bands = self._tier_bands(tier_table, fields) if tier_table is not None else None
        delete_table = top.take("delete", dict, None)
        delete = self._delete(delete_table, fields) if delete_table is not None else None
        top.done()
        return Mapping(
            name=name, source=source, version=version, kind=kind_name, description=description,
            delimiter=delimiter, encoding=encoding, timezone=timezone, fields=tuple(fields),
            attributes=tuple(attributes), segment_rules=tuple(rules), value_tier_bands=bands, delete=delete,
        )

    def _zone(self, text: str) -> dt.tzinfo:
        zone = fixed_zone(text.strip())
        if zone is not None:
            return zone
        try:
            return zoneinfo.ZoneInfo(text.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.fail("csv.timezone", f"{shown(text)} is not a time zone (write \"+08:00\", \"UTC\" or a name "
                                      "such as \"Asia/Shanghai\")")

    def _check_required(self, kind: FeedKind, fields: list[FieldSpec]) -> None:
        mapped = {spec.name: spec for spec in fields}
        key_names = {target.name for target in kind.key_targets}
        for target in kind.targets.values():
            if not target.required:
                continue
            where = f"fields.{target.name}"
            spec = mapped.get(target.name)
            if spec is None:
                why = "it is the key of a row" if target.name in key_names else "every row needs it"
                self.fail(where, f"is missing: a {kind.name} mapping must map it ({why})")
            if target.name in key_names:
                if not spec.required or spec.blank != "error":
                    self.fail(where, 'must be required with blank = "error": every row needs its key')
            elif not spec.required or spec.blank == "null":
                self.fail(where, 'must be required, with blank = "error" or a default: every row needs it')

    def _strings(self, table: _Table, key: str, default=()) -> tuple[str, ...] | None:
        values = table.take(key, list, None if default is None else list(default))
        if values is None:
            return None
        for index, value in enumerate(values):
            if not isinstance(value, str):
                self.fail(f"{table.path(key)}[{index}]", f"must be a string, not {_toml_kind(value)}")
        return tuple(values)

    def _field(self, body: dict, where: str, target: Target, null_words: frozenset[str],
               zone: dt.tzinfo) -> FieldSpec:
        table = _Table(body, where, self.fail)
        column = table.take("column", str, None)
        columns = self._strings(table, "columns", None) if "columns" in body else table.take("columns", list, None)
        if (column is None) == (columns is None):
            self.fail(where, 'needs exactly one of column = "Header" or columns = [...]')
        if columns is not None and target.kind != "msisdns":
            self.fail(f"{where}.columns", 'is only for msisdns (several phone-number columns); use column = "..."')
        headers = (column,) if column is not None else columns
        if not headers or any(not header.strip() for header in headers):
            self.fail(where, "names an empty column")

        natural = _NATURAL_TYPE.get(target.kind, "str")
        if target.kind == "attribute":
            natural = "str"
        cell_type = table.take("type", str, natural)
        if cell_type not in CELL_TYPES:
            self.fail(f"{where}.type", f"{shown(cell_type)} is not a type; use one of {', '.join(CELL_TYPES)}")
        if cell_type not in target.types:
            allowed = ", ".join(t for t in CELL_TYPES if t in target.types)
            self.fail(f"{where}.type", f"{shown(cell_type)} does not fit this field; it takes {allowed}")
        required = table.take("required", bool, True)
        has_default = "default" in body
        blank = table.take("blank", str, "default" if has_default else "null")
        if blank not in BLANK_POLICIES:
            self.fail(f"{where}.blank", f"{shown(blank)} is not a policy; use one of {', '.join(BLANK_POLICIES)}")
        if (blank == "default") != has_default:
            self.fail(f"{where}.blank", 'is "default" exactly when a default = ... value is given')
        raw_default = table.take("default", (str, int, float, bool), None)

        raw_values = table.take("values", dict, None)
        if (cell_type == "enum") != (raw_values is not None):
            self.fail(f"{where}.values", 'is needed with type = "enum", and only then')
        true_words = self._strings(table, "true_values", _DEFAULT_TRUE_WORDS) if cell_type == "bool" else ()
        false_words = self._strings(table, "false_values", _DEFAULT_FALSE_WORDS) if cell_type == "bool" else ()
        takes_separator = target.kind in ("segments", "msisdns")
        separator = (
            table.take("separator", str, ";" if target.kind == "segments" else None) if takes_separator else None
        )
        if separator is not None and len(separator) == 0:
            self.fail(f"{where}.separator", "must not be empty")
        unit = table.take("unit", str, "yuan") if target.kind == "money" else "yuan"
        if unit not in ("yuan", "fen"):
            self.fail(f"{where}.unit", f'{shown(unit)} is not a unit; use "yuan" or "fen"')
        prefixes = self._strings(table, "strip_prefixes", ()) if target.kind in ("msisdns", "msisdn") else ()
        fmt = table.take("format", str, None) if cell_type in ("date", "datetime") else None
        if fmt is not None and "%" not in fmt:
            self.fail(f"{where}.format", f'{shown(fmt)} is not a strptime format such as "%d/%m/%Y"')
        sensitive = table.take("sensitive", bool, False) or target.always_sensitive
        table.done()

        spec = FieldSpec(
            key=where, name=where.split(".", 1)[1], target=target,
            columns=tuple(header.strip() for header in headers), type=cell_type, required=required, blank=blank,
            true_words=frozenset(fold(word) for word in true_words),
            false_words=frozenset(fold(word) for word in false_words),
            separator=separator, unit=unit, strip_prefixes=prefixes, sensitive=sensitive, null_words=null_words,
            format=fmt, zone=zone,
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
            key = fold(text)
            if key in folded:
                self.fail(where, f"lists {shown(text)} twice (keys match ignoring case and spaces)")
            if not key:
                self.fail(where, 'has a blank key; blank cells follow the blank = "..." policy')
            folded[key] = self._stored(spec, stored, f"{where}.{json.dumps(text, ensure_ascii=False)}")
        return dataclasses.replace(spec, values=folded, value_labels=tuple(raw_values))

    def _stored(self, spec: FieldSpec, value: Any, where: str) -> Any:
        """Check a value written in the mapping (enum output, default) the way a cell would be checked."""
        from server_stub.feeds.values import finish  # values imports this module's types only

        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                self.fail(where, f"{shown(value)} is not a usable number")
            value = Decimal(str(value))
        if spec.target.kind in ("date", "datetime", "month") and not isinstance(value, str):
            self.fail(where, f'{shown(value)} must be a date text such as "2026-11-30"')
        try:
            return finish(spec, value, str(value), where)
        except CellError as exc:
            self.fail(where, exc.en)

    def _segment_rule(self, body: Any, where: str) -> SegmentRule:
        if not isinstance(body, dict):
            self.fail(where, 'must be a table like { segment = "senior", column = "SeniorCitizen", equals = "1" }')
        table = _Table(body, where, self.fail)
        segment = table.take("segment", str)
        if not CODE_RE.fullmatch(segment) or len(segment) > 40:
            self.fail(f"{where}.segment", f"{shown(segment)} must be a code: lower-case letters, digits, _")
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
            folded.add(fold(str(word)))
        if not folded or "" in folded:
            self.fail(where, "must compare with non-blank values")
        return SegmentRule(segment, column, frozenset(folded), negate=not_equals is not None, required=required)

    def _tier_bands(self, body: dict, fields: list[FieldSpec]) -> TierBands:
        from server_stub.feeds.customers import TIER_SOURCES

        where = "derive.value_tier"
        table = _Table(body, where, self.fail)
        source = table.take("from", str, "monthly_fee")
        if source not in TIER_SOURCES:
            self.fail(f"{where}.from", f"{shown(source)} cannot set tiers; use one of {', '.join(TIER_SOURCES)}")
        if not any(spec.name == source for spec in fields):
            self.fail(f"{where}.from", f"{shown(source)} is not mapped under [fields]")
        bands_raw = table.take("bands", list)
        table.done()
        bands: list[tuple[Decimal, str]] = []
        tier_length = get_kind("customers").targets["value_tier"].max_length or 20
        for index, band in enumerate(bands_raw):
            band_where = f"{where}.bands[{index}]"
            if not isinstance(band, dict):
                self.fail(band_where, 'must be a table like { at_least = 70, tier = "gold" }')
            band_table = _Table(band, band_where, self.fail)
            at_least = band_table.take("at_least", (int, float))
            tier = band_table.take("tier", str)
            band_table.done()
            if isinstance(at_least, float) and (at_least != at_least or at_least in (float("inf"), float("-inf"))):
                self.fail(f"{band_where}.at_least", "must be a finite number")
            at_least = Decimal(str(at_least))
            if not CODE_RE.fullmatch(tier) or len(tier) > tier_length:
                self.fail(f"{band_where}.tier", f"{shown(tier)} must be a code of at most {tier_length} characters")
            if bands and at_least <= bands[-1][0]:
                self.fail(f"{band_where}.at_least", "must be larger than the band before (list bands low to high)")
            bands.append((at_least, tier))
        if not bands:
            self.fail(f"{where}.bands", "is empty")
        return TierBands(source, tuple(bands))

    def _delete(self, body: dict, fields: list[FieldSpec]) -> DeleteSpec:
        table = _Table(body, "delete", self.fail)
        column = table.take("column", str).strip()
        values = self._strings(table, "values")
        upsert_values = self._strings(table, "upsert_values", DEFAULT_UPSERT_WORDS)
        required = table.take("required", bool, False)
        table.done()
        if not column:
            self.fail("delete.column", "names an empty column")
        if any(column in spec.columns for spec in fields):
            self.fail("delete.column", f"{shown(column)} is also mapped as a field")
        folded = frozenset(fold(value) for value in values)
        if not folded or "" in folded:
            self.fail("delete.values", 'must list the non-blank texts that mark a delete, e.g. ["D", "delete", "删除"]')
        upserts = frozenset(fold(value) for value in upsert_values) - {""}
        if folded & upserts:
            self.fail("delete.upsert_values", "shares words with delete.values")
        return DeleteSpec(column, folded, upserts, tuple(values), required)


__all__ = [
    "BLANK_POLICIES",
    "DEFAULT_TIMEZONE",
    "DEFAULT_UPSERT_WORDS",
    "MAPPING_FORMAT_VERSION",
    "DeleteSpec",
    "FieldSpec",
    "Mapping",
    "SegmentRule",
    "TierBands",
    "default_mapping",
    "did_you_mean",
    "load_mapping",
    "mappings_dir",
    "parse_mapping",
    "shipped_mappings",
    "shown",
]
