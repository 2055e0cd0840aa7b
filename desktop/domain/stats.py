"""Statistics as plain data: filters, who is looking, the report and its CSV/JSON forms (no I/O, no Qt).

desktop/services/stats.py computes a StatsReport from the local store; the window and `callcue stats` show
or export it. Definitions of every figure are in that module's docstring.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from desktop.domain.errors import UserFacingError
from desktop.domain.outcomes import OutboxEntry, OutcomeResult

ROLE_AGENT, ROLE_LEAD = "agent", "lead"
ANSWERED = (OutcomeResult.ACCEPTED, OutcomeResult.DECLINED, OutcomeResult.CONSIDERING)
RESULTS = tuple(r.value for r in OutcomeResult)
CALLBACK_GRACE = dt.timedelta(minutes=30)
MAX_RANGE_DAYS = 3660


class InvalidStatsRequest(UserFacingError, ValueError):
    """A filter cannot be used as given (the message says which and why)."""

    code = "invalid_input"


class StatsForbidden(UserFacingError, PermissionError):
    """The viewer may not see these figures (agents see only their own)."""

    code = "invalid_input"


@dataclass(frozen=True)
class Viewer:
    """Who is looking. `confirmed`: the role came from the server (GET /v1/me), not a guess."""

    agent_id: str | None
    role: str = ROLE_AGENT
    confirmed: bool = False

    @property
    def is_lead(self) -> bool:
        return self.role == ROLE_LEAD


def parse_date(text: str, what: str = "date") -> dt.date:
    """'YYYY-MM-DD' → date; InvalidStatsRequest in plain words (both languages) otherwise."""
    try:
        return dt.date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InvalidStatsRequest(
            f"{what}: {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-23 "
            f"（{what}：{text!r} 不是有效日期，请写成 YYYY-MM-DD，例如 2026-11-23）"
        ) from None


@dataclass(frozen=True)
class StatsFilters:
    """Local dates, both included; None = any agent / campaign / wave."""

    date_from: dt.date
    date_to: dt.date
    agent_id: str | None = None
    campaign_id: str | None = None
    wave: int | None = None

    def __post_init__(self) -> None:
        if self.date_from > self.date_to:
            raise InvalidStatsRequest(
                f"the range starts ({self.date_from}) after it ends ({self.date_to}) "
                f"（开始日期 {self.date_from} 晚于结束日期 {self.date_to}）")
        if (self.date_to - self.date_from).days >= MAX_RANGE_DAYS:
            raise InvalidStatsRequest(f"the range is longer than {MAX_RANGE_DAYS} days（日期范围超过 {MAX_RANGE_DAYS} 天）")
        if self.wave is not None and not 1 <= self.wave <= 99:
            raise InvalidStatsRequest(f"wave must be between 1 and 99, not {self.wave}（波次应在 1 到 99 之间）")
        for name in ("agent_id", "campaign_id"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value or "").strip() or None)

    @classmethod
    def last_days(cls, today: dt.date, days: int, **kw: Any) -> StatsFilters:
        return cls(today - dt.timedelta(days=days - 1), today, **kw)

    def days(self) -> list[dt.date]:
        return [self.date_from + dt.timedelta(days=i) for i in range((self.date_to - self.date_from).days + 1)]


@dataclass(frozen=True)
class Breakdown:
    """Outcomes of one offer / campaign / wave / day / hour / agent."""

    key: str
    outcomes: int
    by_result: dict[str, int]

    @property
    def accepted(self) -> int:
        return self.by_result.get(OutcomeResult.ACCEPTED.value, 0)

    @property
    def answered(self) -> int:
        return sum(self.by_result.get(r.value, 0) for r in ANSWERED)

    @property
    def rate(self) -> float | None:
        return self.accepted / self.answered if self.answered else None


@dataclass(frozen=True)
class DayFigures:
    day: dt.date
    pops: int
    offers_presented: int
    outcomes: Breakdown


@dataclass(frozen=True)
class PopToOutcome:
    count: int
    mean_s: float | None
    median_s: int | None
    p90_s: int | None


@dataclass(frozen=True)
class Callbacks:
    due: int
    kept: int
    missed: int

    @property
    def open(self) -> int:
        return self.due - self.kept - self.missed


@dataclass(frozen=True)
class SyncBacklog:
    pending: int
    needs_attention: int
    oldest_pending: dt.datetime | None
    items: tuple[OutboxEntry, ...]


@dataclass(frozen=True)
class StatsReport:
    filters: StatsFilters
    scope_agent: str | None  # the agent the figures are limited to (always set for an agent)
    zone: str
    generated_at: dt.datetime
    pops: int
    offers_presented: int
    totals: Breakdown
    by_offer: tuple[Breakdown, ...]
    by_campaign: tuple[Breakdown, ...]
    by_wave: tuple[Breakdown, ...]  # key "campaign · wave n"
    by_agent: tuple[Breakdown, ...]
    by_hour: tuple[Breakdown, ...]  # key "00".."23", hours with outcomes
    daily: tuple[DayFigures, ...]  # every day of the range, zeros included
    pop_to_outcome: PopToOutcome
    suppressed: tuple[tuple[str, int], ...]  # (reason code, offers), most first
    callbacks: Callbacks
    backlog: SyncBacklog
    agents: tuple[str, ...] = field(default=())  # filter choices
    campaigns: tuple[tuple[str, int | None], ...] = field(default=())
    # kind ("offer" / "campaign") -> id -> (zh, en): the names pops gave them (ids stay the keys).
    names: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)

    def name(self, kind: str, key: str | None, language: str) -> str:
        """The display name of an offer or campaign in `language`, or its id when no pop named it."""
        if key is None:
            return ""
        found = self.names.get(kind, {}).get(key)
        if found is None:
            return key
        return (found[0] if language == "zh_CN" else found[1]) or key

    @property
    def empty(self) -> bool:
        """Nothing happened in the range (no pops, no outcomes, no callbacks due)."""
        return self.totals.outcomes == 0 and self.pops == 0 and self.callbacks.due == 0


def _breakdown(key: str, counts: dict[str, int]) -> Breakdown:
    by_result = {r: counts[r] for r in RESULTS if counts.get(r)}
    return Breakdown(key, sum(by_result.values()), by_result)


def _sorted_breakdowns(groups: dict[str, Counter], *, by_key: bool = False) -> tuple[Breakdown, ...]:
    rows = [_breakdown(k, c) for k, c in groups.items()]
    if by_key:
        return tuple(sorted(rows, key=lambda b: b.key))
    return tuple(sorted(rows, key=lambda b: (-b.outcomes, b.key)))


def nearest_rank(histogram: dict[int, int], q: float) -> int | None:
    """The q-quantile (0 < q <= 1, nearest-rank) of values given as {value: count}."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


def wave_key(campaign_id: str, wave: int | None) -> str:
    return f"{campaign_id} · {wave if wave is not None else '—'}"


# ------------------------------------------------------------------------------------------ export


def _rate(b: Breakdown) -> float | None:
    return None if b.rate is None else round(b.rate, 6)


def _breakdown_json(b: Breakdown) -> dict[str, Any]:
    return {"key": b.key, "outcomes": b.outcomes, "accepted": b.accepted, "answered": b.answered,
            "acceptance_rate": _rate(b), "by_result": dict(b.by_result)}


def _named(report: StatsReport, kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A breakdown row with the name a pop gave its offer or campaign ({"zh", "en"}; None when unknown)."""
    found = report.names.get(kind, {}).get(row["key"])
    return {**row, "name": {"zh": found[0], "en": found[1]} if found else None}


def report_to_json(report: StatsReport) -> dict[str, Any]:
    """Every figure as plain JSON types (dates ISO 8601, times UTC)."""
    f = report.filters
    b = report.backlog
    return {
        "filters": {"from": f.date_from.isoformat(), "to": f.date_to.isoformat(), "agent_id": report.scope_agent,
                    "campaign_id": f.campaign_id, "wave": f.wave, "time_zone": report.zone},
        "generated_at": report.generated_at.astimezone(dt.UTC).isoformat(),
        "pops": report.pops,
        "offers_presented": report.offers_presented,
        "outcomes": _breakdown_json(report.totals),
        "by_offer": [_named(report, "offer", _breakdown_json(x)) for x in report.by_offer],
        "by_campaign": [_named(report, "campaign", _breakdown_json(x)) for x in report.by_campaign],
        "by_wave": [_breakdown_json(x) for x in report.by_wave],
        "by_agent": [_breakdown_json(x) for x in report.by_agent],
        "by_hour": [_breakdown_json(x) for x in report.by_hour],
        "by_day": [{**_breakdown_json(d.outcomes), "pops": d.pops, "offers_presented": d.offers_presented}
                   for d in report.daily],
        "pop_to_outcome": {"outcomes": report.pop_to_outcome.count, "mean_s": report.pop_to_outcome.mean_s,
                           "median_s": report.pop_to_outcome.median_s, "p90_s": report.pop_to_outcome.p90_s},
        "suppressed_by_reason": {reason: n for reason, n in report.suppressed},
        "callbacks": {"due": report.callbacks.due, "kept": report.callbacks.kept,
                      "missed": report.callbacks.missed, "open": report.callbacks.open},
        "sync": {"pending": b.pending, "needs_attention": b.needs_attention,
                 "oldest_pending": b.oldest_pending.isoformat() if b.oldest_pending else None,
                 "needs_attention_items": [
                     {"outcome_id": e.outcome_id, "customer_id": e.customer_id, "offer_id": e.offer_id,
                      "result": e.result.value, "recorded_at": e.recorded_at.isoformat(),
                      "server_reason": e.server_reason} for e in b.items]},
    }


CSV_HEADER = ("section", "key", "metric", "value")


def report_rows(report: StatsReport) -> Iterable[tuple[str, str, str, Any]]:
    """Every figure as (section, key, metric, value): one tidy table for spreadsheets and scripts."""
    data = report_to_json(report)
    for name, value in data["filters"].items():
        yield "filters", "", name, value
    yield "summary", "", "pops", report.pops
    yield "summary", "", "offers_presented", report.offers_presented
    for section in ("outcomes", "by_offer", "by_campaign", "by_wave", "by_agent", "by_hour", "by_day"):
        rows = [data[section]] if section == "outcomes" else data[section]
        for row in rows:
            key = "" if section == "outcomes" else row["key"]
            if row.get("name"):
                yield section, key, "name_zh", row["name"]["zh"]
                yield section, key, "name_en", row["name"]["en"]
            for metric in ("outcomes", "accepted", "answered", "acceptance_rate"):
                yield section, key, metric, row[metric]
            for result in RESULTS:
                yield section, key, f"result_{result}", row["by_result"].get(result, 0)
            for metric in ("pops", "offers_presented"):
                if metric in row:
                    yield section, key, metric, row[metric]
    for metric, value in data["pop_to_outcome"].items():
        yield "pop_to_outcome", "", metric, value
    for reason, n in data["suppressed_by_reason"].items():
        yield "suppressed_by_reason", reason, "offers", n
    for metric, value in data["callbacks"].items():
        yield "callbacks", "", metric, value
    for metric in ("pending", "needs_attention", "oldest_pending"):
        yield "sync", "", metric, data["sync"][metric]
    for item in data["sync"]["needs_attention_items"]:
        yield "needs_attention", item["outcome_id"], "server_reason", item["server_reason"]


def report_to_csv(report: StatsReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for section, key, metric, value in report_rows(report):
        writer.writerow((section, key, metric, "" if value is None else value))
    return out.getvalue()


def report_to_json_text(report: StatsReport) -> str:
    return json.dumps(report_to_json(report), ensure_ascii=False, indent=2)
