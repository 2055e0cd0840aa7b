"""A small typed reader for server JSON: every failure names the field path, e.g. `offers[2].title.zh`.

Unknown keys are ignored (a newer v1 server may add fields); missing required keys and wrong types raise
MalformedResponse. Hand-written rather than a schema library so the domain layer stays dependency-free.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from desktop.domain.errors import MalformedResponse

T = TypeVar("T")
_MISSING = object()


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


class Fields:
    """Typed access to one JSON object at `path`."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            where = path or "the response"
            raise MalformedResponse(f"{where} should be an object, got {_type_name(data)}")
        self.data = data
        self.path = path

    def at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name, _MISSING)
        if value is _MISSING:
            if required:
                raise MalformedResponse(f"{self.at(name)} is missing")
            return None
        return value

    def _fail(self, name: str, expected: str, value: Any) -> MalformedResponse:
        return MalformedResponse(f"{self.at(name)} should be {expected}, got {_type_name(value)}")

    def string(self, name: str) -> str:
        value = self._get(name, True)
        if not isinstance(value, str):
            raise self._fail(name, "a string", value)
        return value

    def opt_string(self, name: str) -> str | None:
        value = self._get(name, False)
        if value is not None and not isinstance(value, str):
            raise self._fail(name, "a string or null", value)
        return value

    def integer(self, name: str, default: int | None = None) -> int:
        """Required when no default is given."""
        value = self._get(name, default is None)
        if value is None and default is not None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(name, "a whole number", value)
        return value

    def opt_integer(self, name: str) -> int | None:
        value = self._get(name, False)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise self._fail(name, "a whole number or null", value)
        return value

    def opt_number(self, name: str) -> float | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._fail(name, "a number or null", value)
        return float(value)

    def number(self, name: str, default: float = 0.0) -> float:
        value = self.opt_number(name)
        return default if value is None else value

    def boolean(self, name: str, default: bool | None = None) -> bool:
        value = self._get(name, default is None)
        if value is None and default is not None:
            return default
        if not isinstance(value, bool):
            raise self._fail(name, "true or false", value)
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.string(name)
        if value not in allowed:
            raise MalformedResponse(f"{self.at(name)} should be one of {', '.join(allowed)}, got {value[:40]!r}")
        return value

    def datetime(self, name: str) -> dt.datetime:
        value = self.opt_datetime(name, required=True)
        assert value is not None
        return value

    def opt_datetime(self, name: str, *, required: bool = False) -> dt.datetime | None:
        value = self._get(name, required)
        if value is None:
            if required:
                raise self._fail(name, "a date-time", value)
            return None
        if not isinstance(value, str):
            raise self._fail(name, "a date-time string", value)
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise MalformedResponse(f"{self.at(name)} is not a date-time: {value[:40]!r}") from None
        # RFC 3339 requires an offset; a naive value from a sloppy server is taken as UTC.
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    def opt_date(self, name: str) -> dt.date | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._fail(name, "a date string", value)
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise MalformedResponse(f"{self.at(name)} is not a date: {value[:40]!r}") from None

    def obj(self, name: str, parse: Callable[[Fields], T]) -> T:
        return parse(Fields(self._get(name, True), self.at(name)))

    def opt_obj(self, name: str, parse: Callable[[Fields], T]) -> T | None:
        value = self._get(name, False)
        return None if value is None else parse(Fields(value, self.at(name)))

    def items(self, name: str, parse: Callable[[Fields], T], *, required: bool = False) -> tuple[T, ...]:
        value = self._get(name, required)
        if value is None and not required:
            return ()
        if not isinstance(value, list):
            raise self._fail(name, "a list", value)
        return tuple(parse(Fields(item, f"{self.at(name)}[{i}]")) for i, item in enumerate(value))

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._get(name, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(name, "a list of strings", value)
        return tuple(value)
