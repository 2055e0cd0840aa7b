"""CSV cells -> the staged tuple of one row, for one mapping and one file's header.

Built once per file (checking the header: every required column present, none ambiguous), then called per
row. The per-row path is a loop over precompiled steps: each step picks its cell(s) with an itemgetter and
converts them through a cache of the results of the texts already seen in that column (bounded; a column
whose texts keep changing, like an id, stops caching). Only a row that fails goes through the slow path
that collects every problem of the row with its column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

from server_stub.feeds.cells import CellError, fold, json_text
from server_stub.feeds.customers import MONEY_TIER_SOURCES
from server_stub.feeds.fields import FeedKind
from server_stub.feeds.mapping import FieldSpec, Mapping
from server_stub.feeds.reader import header_index
from server_stub.feeds.values import cell_converter, numbers_converter, parse_cell
from server_stub.feeds.writer import DELETE, REJECTED, UPSERT, WHY_CONVERSION

CACHE_LIMIT = 8192  # distinct texts remembered per column
_MISSING = object()


class RowRejected(ValueError):
    """A whole row is refused; `problems` lists every problem found in it (CellErrors with their column)."""

    def __init__(self, problems: list[CellError]) -> None:
        super().__init__("; ".join(f"{p.column}: {p.en}" if p.column else p.en for p in problems))
        self.problems = problems


class _Step:
    """One staged value: which cell(s) it reads (one position: the text; several: a tuple of texts) and
    how they become the value."""

    __slots__ = ("cache", "convert", "get", "name", "positions")

    def __init__(self, name: str, positions: Sequence[int], convert: Callable[[Any], Any], cache: bool = True,
                 *, as_tuple: bool = False) -> None:
        self.name, self.convert, self.positions = name, convert, tuple(positions)
        if len(self.positions) == 1 and not as_tuple:
            self.get = itemgetter(self.positions[0])
        elif len(self.positions) == 1:
            position = self.positions[0]
            self.get = lambda cells: (cells[position],)
        else:
            self.get = itemgetter(*self.positions)
        self.cache: dict | None = {} if cache else None

    @property
    def tuple_input(self) -> bool:
        return not isinstance(self.get, itemgetter) or len(self.positions) > 1


class RowConverter:
    """Turns the cells of one CSV row into its staged tuple (line, op, why, *stage columns).

    storage: "sqlite" or "postgresql" (dates and datetimes are given as each stores them best)."""

    def __init__(self, mapping: Mapping, header: Sequence[str], *, file_label: str = "the file",
                 storage: str = "postgresql", full: bool = False) -> None:
        self.mapping = mapping
        self.kind: FeedKind = mapping.feed_kind
        self.storage = storage
        self.full = full
        self.width = len(header)
        delete = mapping.delete
        extra = [(delete.column, delete.required)] if delete else []
        self.index = header_index(header, mapping, file_label, extra)
        self.fields = [spec for spec in mapping.fields if any(c in self.index for c in spec.columns)]
        self.attributes = [spec for spec in mapping.attributes if spec.columns[0] in self.index]
        self.rules = [rule for rule in mapping.segment_rules if rule.column in self.index]
        self.delete = delete if delete and delete.column in self.index else None
        self._op_at = self.index[delete.column] if self.delete else None
        mapped = {spec.name: spec for spec in self.fields}
        number_spec = mapped.get("msisdns")
        self.writes_numbers = number_spec is not None
        bands = mapping.value_tier_bands
        self.tier_bands = bands if bands is not None and bands.source in mapped else None

        steps: list[_Step] = []
        columns: list[str] = []
        for spec in self.fields:
            if spec.target.kind == "msisdns" or (spec.name == "value_tier" and self.tier_bands):
                continue
            if spec.name == "segments":
                continue  # with the segment rules, below
            steps.append(self._field_step(spec))
            columns.append(spec.target.column)
        if self.tier_bands is not None:
            steps.append(self._tier_step(mapped))
            columns.append("value_tier")
        if "segments" in mapped or self.rules:
            steps.append(self._segments_step(mapped.get("segments")))
            columns.append("segments")
        if self.attributes:
            steps.append(self._attributes_step())
            columns.append("attributes")
        if number_spec is not None:
            steps.append(self._numbers_step(number_spec))
        self.steps = steps
        self.columns = columns  # the kind's table columns staged, the key first
        self.key_steps = steps[: len(self.kind.key)]
        self.stage_width = len(columns) + (1 if number_spec is not None else 0)
        self._padding = (None,) * (self.stage_width - len(self.key_steps))
        self._op_cache: dict[str, int] = {"": UPSERT}
        self._compiled = self._compile()

    @property
    def key_columns(self) -> list[str]:
        """The CSV header of each key field."""
        return [spec.columns[0] for spec in self.fields[: len(self.kind.key)]]

    def header_of(self, column: str) -> str:
        """The CSV header that feeds a staged column (for messages)."""
        for spec in self.fields:
            if spec.target.column == column:
                return spec.columns[0]
        return column

    # ------------------------------------------------------------------------------------ building

    def _blank_default(self, spec: FieldSpec) -> FieldSpec:
        """A blank cell of a NOT NULL column stores the column's default (0, "standard" …), unless the
        kind computes the value at merge time (a derived column stays NULL for the merge to fill)."""
        column = spec.target.column
        if spec.blank != "null" or column is None or column in self.kind.derived:
            return spec
        table_column = self.kind.table.c[column]
        default = table_column.default
        if table_column.nullable or default is None or not default.is_scalar:
            return spec
        return dataclasses.replace(spec, blank="default", default=default.arg)

    def _field_step(self, spec: FieldSpec) -> _Step:
        spec = self._blank_default(spec)
        return _Step(spec.name, [self.index[spec.columns[0]]], cell_converter(spec, self.storage))

    def _tier_step(self, mapped: dict[str, FieldSpec]) -> _Step:
        bands = self.tier_bands
        source = self._blank_default(mapped[bands.source])
        tier_spec = mapped.get("value_tier")
        tier_column = self.index[tier_spec.columns[0]] if tier_spec is not None else None
        source_at = self.index[source.columns[0]]
        default_tier = self.kind.table.c.value_tier.default.arg
        money = bands.source in MONEY_TIER_SOURCES

        def tier(cells: tuple[str, str] | str) -> str:
            if tier_spec is not None:
                written = parse_cell(tier_spec, cells[0])
                if written is not None:
                    return written
                source_text = cells[1]
            else:
                source_text = cells
            value = parse_cell(source, source_text)
            if value is None:
                return default_tier
            amount = Decimal(value) / 100 if money else Decimal(value)
            return bands.tier_for(amount) or default_tier

        positions = [tier_column, source_at] if tier_column is not None else [source_at]
        return _Step("value_tier", positions, tier)

    def _segments_step(self, spec: FieldSpec | None) -> _Step:
        rules = self.rules
        positions = ([self.index[spec.columns[0]]] if spec is not None else []) + [
            self.index[rule.column] for rule in rules]
        offset = 1 if spec is not None else 0

        def segments(cells: tuple[str, ...]) -> str:
            tags = list(parse_cell(spec, cells[0]) or []) if spec is not None else []
            for rule, cell in zip(rules, cells[offset:], strict=True):
                if rule.segment not in tags and rule.matches(cell):
                    tags.append(rule.segment)
            return json_text(tags)

        return _Step("segments", positions, segments, as_tuple=True)

    def _attributes_step(self) -> _Step:
        specs = self.attributes
        positions = [self.index[spec.columns[0]] for spec in specs]

        def attributes(cells: tuple[str, ...]) -> str:
            values: dict[str, Any] = {}
            problems: list[CellError] = []
            for spec, cell in zip(specs, cells, strict=True):
                try:
                    value = parse_cell(spec, cell)
                except CellError as problem:
                    problems.append(problem)
                    continue
                if value is not None:
                    values[spec.name] = value
            if problems:
                raise RowRejected(problems)
            return json_text(values)

        return _Step("attributes", positions, attributes, as_tuple=True)

    def _numbers_step(self, spec: FieldSpec) -> _Step:
        present = [column for column in spec.columns if column in self.index]
        positions = [self.index[column] for column in present]
        return _Step("msisdns", positions, numbers_converter(spec, present), cache=False, as_tuple=True)

    # ------------------------------------------------------------------------------------- per row

    def convert(self, line: int, cells: Sequence[str]) -> tuple:
        """The staged tuple of one row; RowRejected (every problem of the row) when it cannot be used."""
        return self._compiled(line, cells)

    def _compile(self) -> Callable[[int, Sequence[str]], tuple]:
        """The per-row function, generated for this mapping and header: each step inlined as a cache
        lookup of its cell text(s); anything unusual (a delete mark, a wrong cell count, a bad value) goes
        to the general path."""
        namespace: dict[str, Any] = {"MISSING": _MISSING, "general": self._general, "width": self.width,
                                     "UPSERT": UPSERT}
        body = ["def convert(line, cells):", "    if len(cells) != width:", "        return general(line, cells)"]
        if self._op_at is not None:
            namespace["op_cache"] = self._op_cache
            body += [f"    if op_cache.get(cells[{self._op_at}]) != UPSERT:", "        return general(line, cells)"]
        body.append("    try:")
        names = []
        for number, step in enumerate(self.steps):
            cells_text = (f"cells[{step.positions[0]}]" if not step.tuple_input
                          else "(" + ", ".join(f"cells[{p}]" for p in step.positions) + ",)")
            value = f"v{number}"
            names.append(value)
            if step.cache is None:
                namespace[f"f{number}"] = step.convert
                body.append(f"        {value} = f{number}({cells_text})")
                continue
            namespace[f"c{number}"] = step.cache
            namespace[f"m{number}"] = self._miss(step)
            body += [f"        r = {cells_text}", f"        {value} = c{number}.get(r, MISSING)",
                     f"        if {value} is MISSING:", f"            {value} = m{number}(r)"]
        body += ["    except Exception:", "        return general(line, cells)",
                 f"    return (line, UPSERT, None, {', '.join(names)}{',' if len(names) == 1 else ''})"]
        exec("\n".join(body), namespace)
        return namespace["convert"]

    @staticmethod
    def _miss(step: _Step) -> Callable[[Any], Any]:
        cache, convert = step.cache, step.convert

        def miss(raw: Any) -> Any:
            value = convert(raw)
            if len(cache) < CACHE_LIMIT:  # a column whose texts keep changing stops growing its cache
                cache[raw] = value
            return value

        return miss

    def _general(self, line: int, cells: Sequence[str]) -> tuple:
        if len(cells) != self.width:
            raise RowRejected([CellError(
                f"has {len(cells)} values but the header has {self.width} columns (an unquoted delimiter inside "
                "a value, or a cut-off line?)",
                f"有 {len(cells)} 个值，但表头有 {self.width} 列（值中有未加引号的分隔符，或行被截断？）")])
        op = UPSERT if self._op_at is None else self._op(cells[self._op_at])
        steps = self.steps if op == UPSERT else self.key_steps
        try:
            values = [step.convert(step.get(cells)) for step in steps]
        except (CellError, RowRejected):
            raise RowRejected(self._problems(cells, steps)) from None
        if op == DELETE:
            return (line, DELETE, None, *values, *self._padding)
        return (line, UPSERT, None, *values)

    def rejected(self, line: int, cells: Sequence[str]) -> tuple | None:
        """A rejected row's staged tuple (--full: its key keeps the row from being retired), None when its
        key cannot be read either."""
        if not self.full or len(cells) != self.width:
            return None
        try:
            key = [step.convert(step.get(cells)) for step in self.key_steps]
        except (CellError, RowRejected):
            return None
        return (line, REJECTED, WHY_CONVERSION, *key, *self._padding)

    def _op(self, cell: str) -> int:
        op = self._op_cache.get(cell)
        if op is not None:
            return op
        folded = fold(cell)
        if not folded or folded in self.delete.upsert_values:
            op = UPSERT
        elif folded in self.delete.values:
            op = DELETE
        if op is not None:
            if len(self._op_cache) < CACHE_LIMIT:
                self._op_cache[cell] = op
            return op
        labels = ", ".join(self.delete.labels)
        raise RowRejected([CellError(
            f"{json_text(cell.strip())[:42]} is neither a delete ({labels}) nor blank / an upsert mark",
            f"{json_text(cell.strip())[:42]} 既不是删除标记（{labels}），也不是空白或新增/修改标记",
            column=self.delete.column, value=cell.strip())])

    def _problems(self, cells: Sequence[str], steps: list[_Step]) -> list[CellError]:
        problems: list[CellError] = []
        seen: set[tuple[str | None, str]] = set()
        for step in steps:
            try:
                step.convert(step.get(cells))
            except CellError as problem:
                found = [problem]
            except RowRejected as rejection:
                found = rejection.problems
            else:
                continue
            for problem in found:
                if (problem.column, problem.en) not in seen:  # the tier step re-reads its source field
                    seen.add((problem.column, problem.en))
                    problems.append(problem)
        return problems


__all__ = ["CACHE_LIMIT", "RowConverter", "RowRejected"]
