"""Cell values: how one CSV cell becomes what the database stores, or a CellError in en and zh_CN.

Everything here is pure (no database, no files) and cheap: the row converter calls these functions once per
distinct cell text (results are cached per column), so a file of millions of rows mostly hits the caches.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from server_stub.services.pop import normalize_msisdn as pop_ani_digits

REDACTED = "<redacted>"
MSISDN_MIN_DIGITS = 5  # the pop refuses shorter caller ids
MSISDN_MAX_DIGITS = 20  # customer_numbers.msisdn is String(20)
CODE_RE = re.compile(r"[a-z][a-z0-9_]*")

_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_GROUPED_RE = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")  # 1,234.50 from spreadsheets
_MSISDN_TEXT_RE = re.compile(r"\+?[0-9(][0-9 \-.()\u00a0]*")
_CURRENCY_MARKS = ("¥", "￥", "CNY", "RMB")
_LARGEST_PLAIN_NUMBER = Decimal(10) ** 18  # beyond any column; stops absurd inputs before arithmetic


class CellError(ValueError):
    """One cell cannot be used. `en`/`zh` describe the problem with the value (never the column: the row
    problem carries that); `value` is the cell text as it may be shown, None when it must not be."""

    def __init__(self, en: str, zh: str, *, column: str | None = None, value: str | None = None) -> None:
        super().__init__(f"{column}: {en}" if column else en)
        self.en, self.zh, self.column, self.value = en, zh, column, value


def fold(text: str) -> str:
    """Comparison form of a cell: case and runs of whitespace don't matter."""
    return " ".join(text.split()).casefold()


def quote(raw: str, limit: int = 40) -> str:
    shown = raw if len(raw) <= limit else raw[:limit] + "…"
    return json.dumps(shown, ensure_ascii=False)


def shown_value(raw: str, sensitive: bool) -> str:
    """How a value is quoted inside a message: JSON-quoted and cut short, or <redacted>."""
    return REDACTED if sensitive else quote(raw)


# ------------------------------------------------------------------------------------------- numbers


def parse_decimal(raw: str, *, percent: bool = False, currency: bool = False) -> Decimal | None:
    """A decimal number written the ways spreadsheets write them (1,234.50, ¥12, 12元, 85%), or None."""
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
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regexes admit only what Decimal reads
        return None
    if abs(number) >= _LARGEST_PLAIN_NUMBER:
        return None
    return number / scale


def plain_cents(raw: str) -> int | None:
    """Fast path for the common money text "123" or "123.4" / "123.45": hundredths as an int, else None."""
    whole, dot, frac = raw.partition(".")
    if not (whole.isascii() and whole.isdigit()) or len(whole) > 15:
        return None
    if not dot:
        return int(whole) * 100
    if len(frac) > 2 or not (frac.isascii() and frac.isdigit()):
        return None
    return int(whole) * 100 + int(frac.ljust(2, "0"))


def to_fen(number: Decimal | int, unit: str) -> int:
    amount = Decimal(number) * (100 if unit == "yuan" else 1)
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --------------------------------------------------------------------------------------------- dates

_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_MONTH_RE = re.compile(r"(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))")
_TIME_RE = re.compile(r"(\d{1,2})[:时](\d{2})(?:[:分](\d{2})(?:\.(\d{1,6}))?)?秒?")


def parse_date(raw: str, fmt: str | None = None) -> dt.date | None:
    """2026-11-30, 2026/11/30, 20261130, 2026.11.30, 2026年11月30日 (or the mapping's strptime format)."""
    if fmt:
        try:
            return dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            return None
    if len(raw) == 10 and raw[4] == "-":
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            return None
    if len(raw) == 8 and raw.isascii() and raw.isdigit():
        try:
            return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        except ValueError:
            return None
    match = _DATE_RE.fullmatch(raw)
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def parse_datetime(raw: str, zone: dt.tzinfo, fmt: str | None = None) -> dt.datetime | None:
    """An aware UTC datetime from ISO 8601 (with or without zone), 2026/11/30 08:15[:00], 20261130081500
    or a bare date (midnight); a time without zone is local time in `zone` (the mapping's timezone)."""
    value: dt.datetime | None = None
    if fmt:
        try:
            value = dt.datetime.strptime(raw, fmt)
        except ValueError:
            return None
    elif len(raw) == 14 and raw.isascii() and raw.isdigit():
        try:
            value = dt.datetime(*(int(raw[a:b]) for a, b in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))))
        except ValueError:
            return None
    else:
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            value = _loose_datetime(raw)
            if value is None:
                return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(dt.UTC)


def _loose_datetime(raw: str) -> dt.datetime | None:
    day_text, _, time_text = raw.strip().partition(" ")
    if not time_text and "T" in raw:
        day_text, _, time_text = raw.partition("T")
    day = parse_date(day_text.strip())
    if day is None:
        return None
    if not time_text.strip():
        return dt.datetime(day.year, day.month, day.day)
    match = _TIME_RE.fullmatch(time_text.strip())
    if match is None:
        return None
    hour, minute, second, fraction = match.groups()
    try:
        return dt.datetime(day.year, day.month, day.day, int(hour), int(minute), int(second or 0),
                           int((fraction or "0").ljust(6, "0")))
    except ValueError:
        return None


def parse_month(raw: str) -> str | None:
    """YYYY-MM from 2026-11, 202611, 2026/11, 2026年11月 or a date in that month."""
    text = raw.strip()
    if len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit():
        year, month = int(text[:4]), int(text[5:])
    elif len(text) == 6 and text.isascii() and text.isdigit():
        year, month = int(text[:4]), int(text[4:])
    else:
        day = parse_date(text)
        if day is not None:
            return f"{day.year:04d}-{day.month:02d}"
        match = _MONTH_RE.fullmatch(text)
        if match is None:
            return None
        year, month = int(match.group(1)), int(match.group(2) or match.group(3))
    if not (1900 <= year <= 2999 and 1 <= month <= 12):
        return None
    return f"{year:04d}-{month:02d}"


def fixed_zone(text: str) -> dt.tzinfo | None:
    """A zone from "+08:00" / "-05:30" / "UTC" / "Z", or None (then the caller tries an IANA name)."""
    if text.upper() in ("UTC", "Z", "GMT"):
        return dt.UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if not match:
        return None
    sign = 1 if match.group(1) == "+" else -1
    hours, minutes = int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes > 59:
        return None
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


# ------------------------------------------------------------------------------------ phone numbers


def normalize_msisdn(text: str, strip_prefixes: Sequence[str] = ()) -> str | None:
    """The stored form of a phone number, or None when the text is not one.

    The mapping's strip_prefixes go first; then the pop's own ANI normalization (digits only, +86 / 0086
    dropped), so that a caller id finds the number it was imported as."""
    number = text.strip()
    for prefix in strip_prefixes:
        if number.startswith(prefix) and len(number) > len(prefix):
            number = number[len(prefix) :].strip()
            break
    if number.isascii() and number.isdigit() and not number.startswith(("86", "0086")):
        digits = number  # the common case, without the regexes
    else:
        if not _MSISDN_TEXT_RE.fullmatch(number):
            return None  # letters, Excel's 1.38E+10 and the like: refuse rather than guess
        digits = pop_ani_digits(number)
    if not MSISDN_MIN_DIGITS <= len(digits) <= MSISDN_MAX_DIGITS:
        return None
    return digits


def json_text(value: Any) -> str:
    """The one JSON text form feeds store (compact, UTF-8 kept): an unchanged value compares equal."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


__all__ = [
    "CODE_RE",
    "MSISDN_MAX_DIGITS",
    "MSISDN_MIN_DIGITS",
    "REDACTED",
    "CellError",
    "fixed_zone",
    "fold",
    "json_text",
    "normalize_msisdn",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_month",
    "plain_cents",
    "quote",
    "shown_value",
    "to_fen",
]
