"""Outbound campaign work (外呼): calling hours, retry rules and the call results of one attempt.

Pure rules, no database: the catalog feed validates what an operator writes with these parsers, the worklist
service asks them whether a wave may be called now and what an attempt's result means for the member.

- Calling hours: windows "HH:MM-HH:MM" in the campaign's time zone (IANA name, default Asia/Shanghai), a wave
  may narrow its campaign's; default 09:00-21:00. "24:00" ends a window at midnight; a window never spans
  midnight (write two: "20:00-24:00", "00:00-02:00").
- Retry rules per wave: after a result that reached nobody, the member comes back after a delay; a result
  with "never" (and wrong / invalid numbers, always) closes the member with that result as the reason; after
  `max_attempts` attempts without a connection the member is closed ("max_attempts").
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from server_stub.domain.vocabulary import OUTBOUND_CALL_RESULTS

DEFAULT_TIME_ZONE = "Asia/Shanghai"
DEFAULT_CALLING_HOURS = ("09:00-21:00",)
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 20
# Minutes until the next attempt after each result that may be retried; None = never (the member is closed).
RETRYABLE_RESULTS = ("no_answer", "busy", "voicemail", "refused_call")
DEFAULT_RETRY_MINUTES: Mapping[str, int | None] = {"no_answer": 120, "busy": 30, "voicemail": 240,
                                                   "refused_call": None}
NEVER_RETRIED = ("wrong_number", "invalid_number")  # a number that cannot reach the customer: closed at once
MAX_RETRY_MINUTES = 30 * 24 * 60
# Close reasons of a member (besides a result that is never retried).
CLOSED_CONNECTED = "connected"
CLOSED_MAX_ATTEMPTS = "max_attempts"

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_DURATION = re.compile(r"^(\d+)\s*(m|min|h|d)$")

assert set(RETRYABLE_RESULTS) | set(NEVER_RETRIED) | {"connected"} == set(OUTBOUND_CALL_RESULTS)


class OutboundRuleError(ValueError):
    """A calling-hours window, time zone or retry rule that cannot be used; en and zh say why."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en, self.zh = en, zh


def parse_window(text: object) -> tuple[int, int]:
    """'09:00-21:00' -> (540, 1260) minutes of the day; OutboundRuleError when malformed."""
    match = _WINDOW.match(text) if isinstance(text, str) else None
    if match is None:
        raise OutboundRuleError(f"{text!r} is not a window like \"09:00-21:00\"",
                                f"{text!r} 不是形如 \"09:00-21:00\" 的时段")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or end <= start:
        raise OutboundRuleError(f"{text!r}: a window starts at 00:00-23:59 and ends later the same day (at most "
                                "24:00); split a window over midnight in two",
                                f"{text!r}：时段须在同一天内，开始于 00:00-23:59，结束晚于开始（最晚 24:00）；"
                                "跨午夜请拆成两个时段")
    return start, end


def parse_time_zone(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise OutboundRuleError("time_zone must be an IANA name such as \"Asia/Shanghai\"",
                                "time_zone 必须是 IANA 时区名，如 \"Asia/Shanghai\"")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise OutboundRuleError(f"time_zone {name!r} is not a known IANA time zone (e.g. \"Asia/Shanghai\")",
                                f"time_zone {name!r} 不是已知的 IANA 时区（如 \"Asia/Shanghai\"）") from None
    return name


def parse_retry_minutes(value: object) -> int | None:
    """'2h' / '30m' / '1d' / a number of minutes -> minutes; 'never' -> None."""
    if value == "never":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    else:
        match = _DURATION.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise OutboundRuleError(f"{value!r} is not a delay like \"2h\", \"30m\", \"1d\", minutes, or \"never\"",
                                    f"{value!r} 不是形如 \"2h\"、\"30m\"、\"1d\"、分钟数或 \"never\" 的间隔")
        amount, unit = int(match.group(1)), match.group(2)
        minutes = amount * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit]
    if not 0 <= minutes <= MAX_RETRY_MINUTES:
        raise OutboundRuleError(f"a retry delay is 0 to {MAX_RETRY_MINUTES // 1440} days, not {value!r}",
                                f"重拨间隔须在 0 到 {MAX_RETRY_MINUTES // 1440} 天之间，而不是 {value!r}")
    return minutes


@dataclass(frozen=True)
class CallingHours:
    windows: tuple[tuple[int, int], ...]  # minutes of the local day, sorted
    time_zone: str = DEFAULT_TIME_ZONE

    @classmethod
    def of(cls, windows: Sequence[str] | None, time_zone: str | None) -> CallingHours:
        parsed = tuple(sorted(parse_window(w) for w in (windows or DEFAULT_CALLING_HOURS)))
        return cls(parsed, time_zone or DEFAULT_TIME_ZONE)

    def _local(self, now: dt.datetime) -> dt.datetime:
        return now.astimezone(zoneinfo.ZoneInfo(self.time_zone))

    def open_at(self, now: dt.datetime) -> bool:
        local = self._local(now)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.windows)

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """The next time a window opens after `now` (within 8 days), UTC; None without windows."""
        local = self._local(now)
        zone = zoneinfo.ZoneInfo(self.time_zone)
        for days in range(0, 8):
            day = local.date() + dt.timedelta(days=days)
            for start, _end in self.windows:
                opening = dt.datetime.combine(day, dt.time(start // 60, start % 60), zone)
                if opening > now:
                    return opening.astimezone(dt.UTC)
        return None

    def texts(self) -> list[str]:
        return [f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in self.windows]


@dataclass(frozen=True)
class RetryRule:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    minutes: Mapping[str, int | None] = field(default_factory=lambda: dict(DEFAULT_RETRY_MINUTES))

    @classmethod
    def of(cls, max_attempts: int | None, overrides: Mapping[str, int | None] | None) -> RetryRule:
        return cls(max_attempts or DEFAULT_MAX_ATTEMPTS, {**DEFAULT_RETRY_MINUTES, **(overrides or {})})

    def as_dict(self) -> dict[str, object]:
        return {"max_attempts": self.max_attempts,
                "retry_after_minutes": {r: self.minutes.get(r) for r in RETRYABLE_RESULTS}}


@dataclass(frozen=True)
class AttemptVerdict:
    """What one attempt's result means for the member: back at `next_attempt_at`, or closed with a reason."""

    next_attempt_at: dt.datetime | None
    closed_reason: str | None


def after_attempt(result: str, attempt: int, rule: RetryRule, now: dt.datetime) -> AttemptVerdict:
    """`attempt` is this attempt's number (1 for the first call of the member in the wave)."""
    if result not in OUTBOUND_CALL_RESULTS:
        raise ValueError(f"unknown call result {result!r}")
    if result == "connected":
        return AttemptVerdict(None, CLOSED_CONNECTED)
    if result in NEVER_RETRIED:
        return AttemptVerdict(None, result)
    minutes = rule.minutes.get(result)
    if minutes is None:
        return AttemptVerdict(None, result)
    if attempt >= rule.max_attempts:
        return AttemptVerdict(None, CLOSED_MAX_ATTEMPTS)
    return AttemptVerdict(now + dt.timedelta(minutes=minutes), None)


__all__ = [
    "CLOSED_CONNECTED",
    "CLOSED_MAX_ATTEMPTS",
    "DEFAULT_CALLING_HOURS",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_RETRY_MINUTES",
    "DEFAULT_TIME_ZONE",
    "MAX_ATTEMPTS_LIMIT",
    "NEVER_RETRIED",
    "RETRYABLE_RESULTS",
    "AttemptVerdict",
    "CallingHours",
    "OutboundRuleError",
    "RetryRule",
    "after_attempt",
    "parse_retry_minutes",
    "parse_time_zone",
    "parse_window",
]
