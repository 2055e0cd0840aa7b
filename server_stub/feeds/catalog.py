"""The catalog feed: offers, campaigns, waves and contact caps from one TOML file (`format = 1`).

    callcue-server import catalog FILE [--full]

The format (docs/feeds.md has the walk-through; resources/feeds/catalog.example.toml is a complete file):

    format = 1                              # required: the version of this format

    [[offers]]
    id = "RBT_VIDEO"                        # 1-40 of A-Z a-z 0-9 _ . : -
    category = "ringback"                   # vocabulary.OFFER_CATEGORIES
    title_zh = "视频彩铃 5元/月"              # required, up to 200 characters
    title_en = "Video ringback tone"
    script_zh = "…"                         # what the agent says (optional)
    script_en = "…"
    monthly_fee_delta = 5.0                 # yuan (or monthly_fee_delta_fen = 500); default 0
    base_score = 0.18                       # prior acceptance 0..1 before agents report outcomes; default 0.3
    product = "RBT"                         # held product id that means "already has it"; default: the id
    eligibility = [                         # all must hold, in the rules' fact language (optional)
        { fact = "tenure_months", op = ">=", value = 6, zh = "在网满6个月", en = "6 months' tenure" },
    ]
    launched_on = 2026-05-01                # optional; or launched_day = -120 (relative, demo catalogs)
    # retired = true                        # delta: retire this offer (only `id` is needed then)

    [[campaigns]]
    id = "CMP_RBT"
    name_zh = "彩铃主动营销"
    name_en = "Ringback outreach"
    inbound_may_serve_any_wave = false      # may an inbound call pitch it whatever the wave's channel
    offers = ["RBT_VIDEO"]                  # offers in this file, or (delta) already in the catalog
    waves = [                               # seq 1..n, in order, not overlapping; dates inclusive
        { seq = 1, channel = "sms", starts_on = 2026-12-01, ends_on = 2026-12-14 },
        { seq = 2, channel = "inbound_call", starts_on = 2026-12-15, ends_on = 2027-01-31 },
    ]                                       # demo catalogs: starts_day / ends_day, days from the import day
    caps = [                                # per customer × this campaign × channel
        { channel = "inbound_call", max_contacts = 2, period_days = 30 },
    ]
    calling_hours = ["09:00-12:00", "14:00-20:30"]  # outbound: when members may be called (default
                                            # ["09:00-21:00"]); windows within one day, "24:00" = midnight
    time_zone = "Asia/Shanghai"             # IANA name the hours are in (default Asia/Shanghai)
    # retired = true                        # delta: retire this campaign

    # An outbound wave may say more (all optional). Inline in `waves = [...]`, or — easier to read — the
    # campaign's waves written as tables instead of the inline list, one [[campaigns.waves]] each:
    [[campaigns.waves]]
    seq = 3
    channel = "outbound_call"
    starts_on = 2027-02-01
    ends_on = 2027-02-28
    calling_hours = ["10:00-20:00"]         # narrows the campaign's hours for this wave
    max_attempts = 3                        # calls without a connection before the member is closed (1-20)
    retry = { no_answer = "2h", busy = "30m", voicemail = "4h", refused_call = "never" }
                                            # delay before the next call per result ("30m", "2h", "1d",
                                            # minutes, or "never" = close the member); unnamed results keep
                                            # these defaults; wrong_number / invalid_number always close
    agents = ["agent-01"]                   # who works its worklist: these agents and the agents of
    teams = ["retention-a"]                 # these teams (`callcue-server agent team`); none named = all

    [[customer_caps]]                       # per customer across ALL campaigns (避免重复打扰)
    channel = "*"                           # a channel, or "*" = every channel together
    max_contacts = 4
    period_days = 30

    [generator]                             # ignored by the feed: read only by `callcue-server seed`
    # (an entry may also carry `generator = { … }`, equally ignored)

Semantics: the whole file is validated first (every problem located by entry path, e.g. `offers[3].category`,
and line, in en and zh_CN) and its references checked against the file and the catalog in the database;
then it is applied in one transaction or not at all. Offers and campaigns are upserted by id; a campaign's
waves, caps and offer list are replaced by the file's. A delta leaves what the file does not name alone;
`--full` retires offers and campaigns the file no longer holds (active = false, retired_at = now; a retired
campaign keeps its waves and caps but no longer holds offers, so an offer no campaign of the file lists is
always on) and drops customer caps it does not list. A delta's `retired = true` on a campaign keeps its
offer list: those offers stay bound to it and are not pitched until a file lists them elsewhere. Nothing is ever deleted from the catalog: decisions and outcomes keep
pointing at retired entries, and an entry that comes back is re-activated. `customer_caps`, when present
(`customer_caps = []` clears them), replaces the per-customer caps. Re-applying a file changes nothing and
says so. Every run (applied, unchanged or refused) is recorded in feed_runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import re
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from server_stub.db.models import Campaign, CampaignOffer, ContactCap, CustomerCap, FeedRun, Offer, Wave
from server_stub.domain.outbound import (
    MAX_ATTEMPTS_LIMIT,
    RETRYABLE_RESULTS,
    OutboundRuleError,
    parse_retry_minutes,
    parse_time_zone,
    parse_window,
)
from server_stub.domain.vocabulary import ANY_CHANNEL, CHANNELS, CONDITION_OPS, FACTS, OFFER_CATEGORIES
from server_stub.feeds.report import FeedFailure, FeedReport, RowProblem

KIND = "catalog"
FORMAT = 1
GENERATOR_KEY = "generator"  # generator-only data: the feed ignores it

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")
_TOP_KEYS = ("format", "offers", "campaigns", "customer_caps", GENERATOR_KEY)
_OFFER_KEYS = (
    "id", "category", "title_zh", "title_en", "script_zh", "script_en", "monthly_fee_delta",
    "monthly_fee_delta_fen", "base_score", "product", "eligibility", "launched_on", "launched_day", "retired",
    GENERATOR_KEY,
)  # fmt: skip
_CAMPAIGN_KEYS = (
    "id", "name_zh", "name_en", "inbound_may_serve_any_wave", "offers", "waves", "caps", "calling_hours",
    "time_zone", "retired", GENERATOR_KEY,
)  # fmt: skip
_WAVE_KEYS = ("seq", "channel", "starts_on", "ends_on", "starts_day", "ends_day", "calling_hours", "max_attempts",
              "retry", "agents", "teams")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$")  # an agent id or a team name
_CAP_KEYS = ("channel", "max_contacts", "period_days")
_CONDITION_KEYS = ("fact", "op", "value", "zh", "en")
_NUMBER_OPS = (">", ">=", "<", "<=")
_LIST_OPS = ("in", "not_in")
DEFAULT_BASE_SCORE = 0.3
MAX_FEE_FEN = 100_000_000  # ±1,000,000 yuan a month: beyond is a typo
MAX_DAYS = 3650


class CatalogFeedError(FeedFailure):
    """The catalog file was refused (nothing written); `problems` locates every bad entry."""

    def __init__(self, file: str, problems: Sequence[RowProblem]) -> None:
        shown = list(problems[:50])
        more = len(problems) - len(shown)
        en = f"catalog {file} refused, nothing was changed ({len(problems)} problem(s)):\n" + "\n".join(
            "  " + p.text("en") for p in shown
        ) + (f"\n  … and {more} more" if more else "")
        zh = f"产品目录 {file} 被拒绝，未做任何修改（{len(problems)} 个问题）：\n" + "\n".join(
            "  " + p.text("zh") for p in shown
        ) + (f"\n  … 另有 {more} 个" if more else "")
        super().__init__(en, zh)
        self.file = file
        self.problems = list(problems)


# ---------------------------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class OfferEntry:
    path: str  # offers[3]
    offer_id: str
    retire: bool = False
    category: str = ""
    title_zh: str = ""
    title_en: str = ""
    script_zh: str = ""
    script_en: str = ""
    monthly_fee_delta_fen: int = 0
    base_score: float = DEFAULT_BASE_SCORE
    product_id: str | None = None
    eligibility: tuple[Mapping[str, Any], ...] = ()
    launched_on: dt.date | None = None


@dataclass(frozen=True)
class WaveEntry:
    seq: int
    channel: str
    starts_on: dt.date
    ends_on: dt.date
    # Outbound (None: the campaign's hours / the defaults of domain/outbound.py; nobody assigned = every agent).
    calling_hours: tuple[str, ...] | None = None
    max_attempts: int | None = None
    retry: tuple[tuple[str, int | None], ...] | None = None  # (result, minutes or None = never), by result
    assigned_agents: tuple[str, ...] | None = None
    assigned_teams: tuple[str, ...] | None = None

    def row(self) -> dict[str, Any]:
        return {"seq": self.seq, "channel": self.channel, "starts_on": self.starts_on, "ends_on": self.ends_on,
                "calling_hours": None if self.calling_hours is None else list(self.calling_hours),
                "max_attempts": self.max_attempts, "retry": None if self.retry is None else dict(self.retry),
                "assigned_agents": None if self.assigned_agents is None else list(self.assigned_agents),
                "assigned_teams": None if self.assigned_teams is None else list(self.assigned_teams)}


@dataclass(frozen=True)
class CapEntry:
    channel: str
    max_contacts: int
    period_days: int


@dataclass(frozen=True)
class CampaignEntry:
    path: str  # campaigns[1]
    campaign_id: str
    retire: bool = False
    name_zh: str = ""
    name_en: str = ""
    inbound_may_serve_any_wave: bool = False
    offer_ids: tuple[str, ...] = ()
    waves: tuple[WaveEntry, ...] = ()
    caps: tuple[CapEntry, ...] = ()
    calling_hours: tuple[str, ...] | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class CatalogDocument:
    """A validated catalog file, its relative days resolved against `today`."""

    file: str
    sha256: str
    today: dt.date
    offers: tuple[OfferEntry, ...]
    campaigns: tuple[CampaignEntry, ...]
    customer_caps: tuple[CapEntry, ...] | None  # None: the file does not mention them
    data: Mapping[str, Any]  # the parsed TOML (generator-only sections included)
    text: str

    @property
    def entries(self) -> int:
        return len(self.offers) + len(self.campaigns) + len(self.customer_caps or ())


# ---------------------------------------------------------------------------------------------- locating


class _Locator:
    """Best-effort line numbers for entry paths (tomllib reports none): the n-th `[[offers]]` header, the
    key inside it, the n-th inline table of an inline array."""

    _HEADER = re.compile(r"^\s*\[")
    _TABLE_LISTS = ("waves", "caps", "eligibility")  # keys holding inline tables, one per line usually

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def _headers(self, name: str, start: int = 0, end: int | None = None) -> list[int]:
        pattern = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]")
        end = len(self.lines) if end is None else end
        return [i for i in range(start, end) if pattern.match(self.lines[i])]

    def _key(self, key: str, start: int, end: int) -> int | None:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        return next((i for i in range(start, end) if pattern.match(self.lines[i])), None)

    def _section_end(self, start: int) -> int:
        return next((i for i in range(start + 1, len(self.lines)) if self._HEADER.match(self.lines[i])),
                    len(self.lines))

    def line(self, parts: Sequence[str | int]) -> int:
        """1-based line of the entry path, or of the closest enclosing thing found (1 when nothing is)."""
        if not parts:
            return 1
        head = parts[0]
        assert isinstance(head, str)
        top_key = self._key(head, 0, self._section_end(-1))  # a top-level key sits before any header
        if len(parts) == 1 or not isinstance(parts[1], int):
            return (top_key if top_key is not None else 0) + 1
        headers = self._headers(head)
        index = parts[1]
        if index >= len(headers):
            return (top_key if top_key is not None else 0) + 1
        start = headers[index]
        following = headers[index + 1] if index + 1 < len(headers) else len(self.lines)
        found = start
        if len(parts) >= 3 and isinstance(parts[2], str):
            key_line = self._key(parts[2], start + 1, self._section_end(start))
            if key_line is not None:
                found = key_line
                if len(parts) >= 4 and isinstance(parts[3], int) and parts[2] in self._TABLE_LISTS:
                    found = self._nth_inline_table(key_line, following, parts[3])
            elif len(parts) >= 4 and isinstance(parts[3], int):
                nested = self._headers(f"{head}.{parts[2]}", start + 1, following)
                if parts[3] < len(nested):
                    found = nested[parts[3]]
                    if len(parts) >= 5 and isinstance(parts[4], str):
                        sub = self._key(parts[4], found + 1, self._section_end(found))
                        found = sub if sub is not None else found
        return found + 1

    def _nth_inline_table(self, key_line: int, end: int, index: int) -> int:
        seen = -1
        for i in range(key_line, end):
            seen += self.lines[i].count("{")
            if seen >= index:
                return i
        return key_line


def _path_text(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _show(value: Any) -> str:
    if isinstance(value, str):
        shown = repr(value)
    elif isinstance(value, (dt.date, bool, int, float)) or value is None:
        shown = json.dumps(value) if not isinstance(value, dt.date) else value.isoformat()
    else:
        shown = json.dumps(value, ensure_ascii=False, default=str)
    return shown if len(shown) <= 80 else shown[:77] + "…"


class _Problems:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.locator = _Locator(text)
        self.items: list[RowProblem] = []

    def add(self, parts: Sequence[str | int], value: Any, en: str, zh: str) -> None:
        self.items.append(
            RowProblem(self.file, self.locator.line(parts), _path_text(parts),
                       None if value is _MISSING else _show(value), en, zh)
        )


_MISSING = object()


# ---------------------------------------------------------------------------------------------- validation


class _Entry:
    """Typed reads of one TOML table, each bad or missing key reported at its path."""

    def __init__(self, table: Mapping[str, Any], parts: tuple[str | int, ...], problems: _Problems,
                 label: str, label_zh: str | None = None) -> None:
        self.table, self.parts, self.problems = table, parts, problems
        self.label, self.label_zh = label, label_zh or label

    def problem(self, key: str | tuple[str | int, ...], value: Any, en: str, zh: str) -> None:
        keys = (key,) if isinstance(key, str) else key
        self.problems.add((*self.parts, *keys), value, f"{self.label}: {en}", f"{self.label_zh}：{zh}")

    def unknown_keys(self, allowed: Sequence[str]) -> None:
        for key in self.table:
            if key not in allowed:
                self.problem(key, _MISSING, f"unknown key {key!r} (known: {', '.join(allowed)})",
                             f"未知的键 {key!r}（可用：{', '.join(allowed)}）")

    def text(self, key: str, *, required: bool = True, max_len: int = 200, default: str = "") -> str:
        value = self.table.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.problem(key, _MISSING, f"{key} is missing", f"缺少 {key}")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            self.problem(key, value, f"{key} must be a non-empty text", f"{key} 必须是非空文本")
            return default
        if len(value) > max_len:
            self.problem(key, value, f"{key} is longer than {max_len} characters",
                         f"{key} 超过 {max_len} 个字符")
            return default
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            self.problem(key, value, f"{key} must be true or false", f"{key} 必须是 true 或 false")
            return default
        return value

    def integer(self, key: str, low: int, high: int, *, parts: tuple[str | int, ...] | None = None,
                table: Mapping[str, Any] | None = None) -> int | None:
        source = self.table if table is None else table
        where = parts or (key,)
        value = source.get(key, _MISSING)
        if value is _MISSING:
            self.problem(where, _MISSING, f"{key} is missing", f"缺少 {key}")
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.problem(where, value, f"{key} must be a whole number from {low} to {high}",
                         f"{key} 必须是 {low} 到 {high} 之间的整数")
            return None
        return value


def _identifier(entry: _Entry, key: str = "id") -> str | None:
    value = entry.table.get(key, _MISSING)
    if value is _MISSING:
        entry.problem(key, _MISSING, f"{key} is missing", f"缺少 {key}")
        return None
    if not isinstance(value, str) or not _ID.match(value):
        entry.problem(key, value, f"{key} must be 1-40 characters of A-Z a-z 0-9 _ . : - (starting with a "
                      "letter or digit)", f"{key} 须为 1-40 个字母、数字或 _ . : -（以字母或数字开头）")
        return None
    return value


def _money_fen(entry: _Entry) -> int:
    yuan = entry.table.get("monthly_fee_delta", _MISSING)
    fen = entry.table.get("monthly_fee_delta_fen", _MISSING)
    if yuan is not _MISSING and fen is not _MISSING:
        entry.problem("monthly_fee_delta_fen", fen, "give monthly_fee_delta (yuan) or monthly_fee_delta_fen, "
                      "not both", "monthly_fee_delta（元）与 monthly_fee_delta_fen（分）只能给一个")
        return 0
    if fen is not _MISSING:
        value = entry.integer("monthly_fee_delta_fen", -MAX_FEE_FEN, MAX_FEE_FEN)
        return value or 0
    if yuan is _MISSING:
        return 0
    try:
        if isinstance(yuan, bool) or not isinstance(yuan, (int, float)):
            raise InvalidOperation
        amount = Decimal(str(yuan)) * 100
        if amount != amount.to_integral_value() or abs(amount) > MAX_FEE_FEN:
            raise InvalidOperation
    except InvalidOperation:
        entry.problem("monthly_fee_delta", yuan, "monthly_fee_delta must be yuan with at most 2 decimals "
                      f"(within ±{MAX_FEE_FEN // 100:,})",
                      f"monthly_fee_delta 须为元，最多两位小数（不超过 ±{MAX_FEE_FEN // 100:,}）")
        return 0
    return int(amount)


def _date(entry: _Entry, parts: tuple[str | int, ...], table: Mapping[str, Any], absolute: str, relative: str,
          today: dt.date) -> dt.date | None:
    """`absolute` (a TOML date, or its ISO text) or `relative` (whole days from `today`)."""
    has_absolute, has_relative = absolute in table, relative in table
    if has_absolute == has_relative:
        entry.problem((*parts, absolute), _MISSING,
                      f"give {absolute} (a date such as 2026-12-01) or {relative} (days from the import day), "
                      "exactly one", f"{absolute}（日期，如 2026-12-01）与 {relative}（距导入日的天数）须且只能给一个")
        return None
    if has_relative:
        days = entry.integer(relative, -MAX_DAYS, MAX_DAYS, parts=(*parts, relative), table=table)
        return None if days is None else today + dt.timedelta(days=days)
    value = table[absolute]
    if isinstance(value, str):
        with suppress(ValueError):
            value = dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        entry.problem((*parts, absolute), table[absolute], f"{absolute} must be a date such as 2026-12-01 "
                      "(no time of day)", f"{absolute} 必须是日期，如 2026-12-01（不带时间）")
        return None
    return value


def _conditions(entry: _Entry, raw: Any) -> tuple[Mapping[str, Any], ...]:
    if raw is _MISSING:
        return ()
    if not isinstance(raw, list):
        entry.problem("eligibility", raw, "eligibility must be a list of { fact, op, value } conditions",
                      "eligibility 必须是条件列表 [{ fact, op, value }]")
        return ()
    conditions = []
    for i, condition in enumerate(raw):
        where = ("eligibility", i)
        if not isinstance(condition, dict):
            entry.problem(where, condition, "a condition must be { fact, op, value }", "条件必须是 { fact, op, value }")
            continue
        bad_keys = [k for k in condition if k not in _CONDITION_KEYS]
        for key in bad_keys:
            entry.problem((*where, key), _MISSING, f"unknown key {key!r} in a condition (known: "
                          f"{', '.join(_CONDITION_KEYS)})", f"条件中未知的键 {key!r}（可用：{', '.join(_CONDITION_KEYS)}）")
        fact, op, value = condition.get("fact", _MISSING), condition.get("op", _MISSING), condition.get("value", _MISSING)
        ok = not bad_keys
        if fact not in FACTS:
            ok = False
            entry.problem((*where, "fact"), fact, f"fact {fact!r} is not a fact the server knows (known: "
                          f"{', '.join(FACTS)})" if fact is not _MISSING else "fact is missing",
                          f"服务器不认识事实 {fact!r}（可用：{', '.join(FACTS)}）" if fact is not _MISSING else "缺少 fact")
        if op not in CONDITION_OPS:
            ok = False
            entry.problem((*where, "op"), op, f"op must be one of {' '.join(CONDITION_OPS)}",
                          f"op 必须是 {' '.join(CONDITION_OPS)} 之一")
        elif value is _MISSING:
            ok = False
            entry.problem((*where, "value"), _MISSING, "value is missing", "缺少 value")
        elif op in _LIST_OPS and not isinstance(value, list):
            ok = False
            entry.problem((*where, "value"), value, f"op {op} needs a list value, e.g. [\"a\", \"b\"]",
                          f"op {op} 的 value 必须是列表，如 [\"a\", \"b\"]")
        elif op in _NUMBER_OPS and (isinstance(value, bool) or not isinstance(value, (int, float))):
            ok = False
            entry.problem((*where, "value"), value, f"op {op} needs a number", f"op {op} 的 value 必须是数字")
        elif isinstance(value, (dt.date, dt.time, dict)):
            ok = False
            entry.problem((*where, "value"), value, "value must be a number, text, true/false or a list",
                          "value 必须是数字、文本、true/false 或列表")
        for language in ("zh", "en"):
            if language in condition and not isinstance(condition[language], str):
                ok = False
                entry.problem((*where, language), condition[language], f"{language} must be a text",
                              f"{language} 必须是文本")
        if ok:
            conditions.append({k: condition[k] for k in _CONDITION_KEYS if k in condition})
    return tuple(conditions)


def _offer(table: Any, index: int, problems: _Problems, today: dt.date) -> OfferEntry | None:
    parts = ("offers", index)
    if not isinstance(table, dict):
        problems.add(parts, table, "an offer must be a table ([[offers]])", "offer 必须是表（[[offers]]）")
        return None
    name = table.get("id", f"#{index + 1}")
    entry = _Entry(table, parts, problems, f"offer {name}", f"产品 {name}")
    before = len(problems.items)
    entry.unknown_keys(_OFFER_KEYS)
    offer_id = _identifier(entry)
    retire = entry.boolean("retired")
    if retire:
        return OfferEntry(entry_path(parts), offer_id, retire=True) if offer_id else None
    category = entry.table.get("category", _MISSING)
    if category not in OFFER_CATEGORIES:
        entry.problem("category", category,
                      f"category {category!r} is not one of {', '.join(OFFER_CATEGORIES)}" if category is not _MISSING
                      else "category is missing",
                      f"类别 {category!r} 不是 {', '.join(OFFER_CATEGORIES)} 之一" if category is not _MISSING
                      else "缺少 category")
    base_score = entry.table.get("base_score", DEFAULT_BASE_SCORE)
    if isinstance(base_score, bool) or not isinstance(base_score, (int, float)) or not 0 <= base_score <= 1:
        entry.problem("base_score", base_score, "base_score must be a number from 0 to 1",
                      "base_score 必须是 0 到 1 之间的数")
        base_score = DEFAULT_BASE_SCORE
    product = entry.table.get("product", _MISSING)
    if product is not _MISSING:
        product = _identifier(entry, "product")
    launched = None
    if "launched_on" in table or "launched_day" in table:
        launched = _date(entry, (), table, "launched_on", "launched_day", today)
    offer = OfferEntry(
        path=entry_path(parts),
        offer_id=offer_id or "",
        category=category if isinstance(category, str) else "",
        title_zh=entry.text("title_zh"),
        title_en=entry.text("title_en"),
        script_zh=entry.text("script_zh", required=False, max_len=4000),
        script_en=entry.text("script_en", required=False, max_len=4000),
        monthly_fee_delta_fen=_money_fen(entry),
        base_score=float(base_score),
        product_id=product if isinstance(product, str) else None,
        eligibility=_conditions(entry, table.get("eligibility", _MISSING)),
        launched_on=launched,
    )
    return offer if len(problems.items) == before else None


def entry_path(parts: Sequence[str | int]) -> str:
    return _path_text(parts)


def _caps(entry: _Entry, raw: Any, key: tuple[str | int, ...], channels: Sequence[str]) -> tuple[CapEntry, ...]:
    if raw is _MISSING:
        return ()
    if not isinstance(raw, list):
        entry.problem(key, raw, "caps must be a list of { channel, max_contacts, period_days }",
                      "caps 必须是列表 [{ channel, max_contacts, period_days }]")
        return ()
    caps, seen = [], set()
    for i, cap in enumerate(raw):
        caps_entry = _cap(entry, cap, (*key, i), channels)
        if caps_entry is None:
            continue
        if caps_entry.channel in seen:
            entry.problem((*key, i, "channel"), caps_entry.channel, f"a second cap for channel {caps_entry.channel}",
                          f"渠道 {caps_entry.channel} 的上限重复")
            continue
        seen.add(caps_entry.channel)
        caps.append(caps_entry)
    return tuple(caps)


def _cap(entry: _Entry, cap: Any, parts: tuple[str | int, ...], channels: Sequence[str]) -> CapEntry | None:
    if not isinstance(cap, dict):
        entry.problem(parts, cap, "a cap must be { channel, max_contacts, period_days }",
                      "上限必须是 { channel, max_contacts, period_days }")
        return None
    ok = True
    for key in cap:
        if key not in _CAP_KEYS:
            ok = False
            entry.problem((*parts, key), _MISSING, f"unknown key {key!r} in a cap (known: {', '.join(_CAP_KEYS)})",
                          f"上限中未知的键 {key!r}（可用：{', '.join(_CAP_KEYS)}）")
    channel = cap.get("channel", _MISSING)
    if channel not in channels:
        ok = False
        entry.problem((*parts, "channel"), channel, f"channel {channel!r} is not one of {', '.join(channels)}",
                      f"渠道 {channel!r} 不是 {', '.join(channels)} 之一")
    max_contacts = entry.integer("max_contacts", 0, 1000, parts=(*parts, "max_contacts"), table=cap)
    period_days = entry.integer("period_days", 1, MAX_DAYS, parts=(*parts, "period_days"), table=cap)
    if not ok or max_contacts is None or period_days is None:
        return None
    return CapEntry(channel, max_contacts, period_days)


def _waves(entry: _Entry, raw: Any, today: dt.date) -> tuple[WaveEntry, ...]:
    if not isinstance(raw, list) or not raw:
        entry.problem("waves", raw if raw is not _MISSING else _MISSING,
                      "waves must list at least one { seq, channel, starts_on, ends_on }",
                      "waves 至少要有一个波次 { seq, channel, starts_on, ends_on }")
        return ()
    waves = []
    for i, wave in enumerate(raw):
        parts: tuple[str | int, ...] = ("waves", i)
        if not isinstance(wave, dict):
            entry.problem(parts, wave, "a wave must be { seq, channel, starts_on, ends_on }",
                          "波次必须是 { seq, channel, starts_on, ends_on }")
            continue
        ok = True
        for key in wave:
            if key not in _WAVE_KEYS:
                ok = False
                entry.problem((*parts, key), _MISSING, f"unknown key {key!r} in a wave (known: {', '.join(_WAVE_KEYS)})",
                              f"波次中未知的键 {key!r}（可用：{', '.join(_WAVE_KEYS)}）")
        seq = entry.integer("seq", 1, 99, parts=(*parts, "seq"), table=wave)
        channel = wave.get("channel", _MISSING)
        if channel not in CHANNELS:
            ok = False
            entry.problem((*parts, "channel"), channel, f"channel {channel!r} is not one of {', '.join(CHANNELS)}",
                          f"渠道 {channel!r} 不是 {', '.join(CHANNELS)} 之一")
        starts = _date(entry, parts, wave, "starts_on", "starts_day", today)
        ends = _date(entry, parts, wave, "ends_on", "ends_day", today)
        if starts and ends and ends < starts:
            ok = False
            entry.problem((*parts, "ends_on" if "ends_on" in wave else "ends_day"), ends,
                          f"wave {seq} ends ({ends}) before it starts ({starts})",
                          f"波次 {seq} 的结束日（{ends}）早于开始日（{starts}）")
        outbound = _wave_outbound(entry, parts, wave)
        if outbound is None:
            ok = False
        if ok and seq is not None and starts and ends and outbound is not None:
            waves.append((i, WaveEntry(seq, channel, starts, ends, **outbound)))
    if len(waves) != len(raw):
        return ()
    ordered = sorted(waves, key=lambda item: item[1].seq)
    seqs = [wave.seq for _, wave in ordered]
    if seqs != list(range(1, len(seqs) + 1)):
        entry.problem("waves", seqs, "waves must be numbered 1, 2, … n without gaps or repeats",
                      "波次编号必须是 1、2、… n，不重复、不跳号")
        return ()
    for (_, previous), (i, wave) in itertools.pairwise(ordered):
        if wave.starts_on <= previous.ends_on:
            entry.problem(("waves", i, "starts_on" if "starts_on" in raw[i] else "starts_day"), wave.starts_on,
                          f"wave {wave.seq} starts ({wave.starts_on}) before wave {previous.seq} ends "
                          f"({previous.ends_on}): waves run one after the other",
                          f"波次 {wave.seq} 的开始日（{wave.starts_on}）早于波次 {previous.seq} 的结束日"
                          f"（{previous.ends_on}）：波次须依次进行")
            return ()
    return tuple(wave for _, wave in ordered)


def _hours(entry: _Entry, parts: tuple[str | int, ...], value: Any) -> tuple[str, ...] | None:
    """calling_hours: a list of "HH:MM-HH:MM" windows (problems reported at their path); None when bad."""
    if not isinstance(value, list) or not value:
        entry.problem(parts, value, "calling_hours must list windows like [\"09:00-12:00\", \"14:00-21:00\"]",
                      "calling_hours 必须是时段列表，如 [\"09:00-12:00\", \"14:00-21:00\"]")
        return None
    ok = True
    for i, window in enumerate(value):
        try:
            parse_window(window)
        except OutboundRuleError as exc:
            ok = False
            entry.problem((*parts, i), window, exc.en, exc.zh)
    return tuple(value) if ok else None


def _names_list(entry: _Entry, parts: tuple[str | int, ...], value: Any, what_en: str, what_zh: str
                ) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and _NAME.match(v) for v in value):
        entry.problem(parts, value, f"{parts[-1]} must list {what_en} (1-64 of A-Z a-z 0-9 _ . : @ -)",
                      f"{parts[-1]} 必须是{what_zh}列表（1-64 个字母、数字或 _ . : @ -）")
        return None
    return tuple(dict.fromkeys(value))


def _wave_outbound(entry: _Entry, parts: tuple[str | int, ...], wave: Mapping[str, Any]) -> dict[str, Any] | None:
    """A wave's outbound keys (calling_hours, max_attempts, retry, agents, teams) as WaveEntry fields; None
    when one is bad (reported)."""
    fields: dict[str, Any] = {}
    ok = True
    if "calling_hours" in wave:
        fields["calling_hours"] = _hours(entry, (*parts, "calling_hours"), wave["calling_hours"])
        ok = ok and fields["calling_hours"] is not None
    if "max_attempts" in wave:
        fields["max_attempts"] = entry.integer("max_attempts", 1, MAX_ATTEMPTS_LIMIT, parts=(*parts, "max_attempts"),
                                               table=wave)
        ok = ok and fields["max_attempts"] is not None
    if "retry" in wave:
        retry = wave["retry"]
        if not isinstance(retry, dict):
            entry.problem((*parts, "retry"), retry, "retry must be a table like { no_answer = \"2h\", busy = "
                          "\"30m\" }", "retry 必须是表，如 { no_answer = \"2h\", busy = \"30m\" }")
            ok = False
        else:
            rules = []
            for result, delay in retry.items():
                if result not in RETRYABLE_RESULTS:
                    ok = False
                    entry.problem((*parts, "retry", result), delay,
                                  f"retry names {result!r}: a retry rule is for {', '.join(RETRYABLE_RESULTS)} "
                                  "(wrong_number and invalid_number always close the member)",
                                  f"retry 中的 {result!r} 无效：重拨规则只适用于 {', '.join(RETRYABLE_RESULTS)}"
                                  "（wrong_number、invalid_number 总是结束该客户）")
                    continue
                try:
                    rules.append((result, parse_retry_minutes(delay)))
                except OutboundRuleError as exc:
                    ok = False
                    entry.problem((*parts, "retry", result), delay, exc.en, exc.zh)
            fields["retry"] = tuple(sorted(rules))
    for key, what_en, what_zh, name in (("agents", "agent ids", "坐席编号", "assigned_agents"),
                                        ("teams", "team names", "班组名", "assigned_teams")):
        if key in wave:
            fields[name] = _names_list(entry, (*parts, key), wave[key], what_en, what_zh)
            ok = ok and fields[name] is not None
    return fields if ok else None


def _campaign(table: Any, index: int, problems: _Problems, today: dt.date) -> CampaignEntry | None:
    parts = ("campaigns", index)
    if not isinstance(table, dict):
        problems.add(parts, table, "a campaign must be a table ([[campaigns]])", "活动必须是表（[[campaigns]]）")
        return None
    name = table.get("id", f"#{index + 1}")
    entry = _Entry(table, parts, problems, f"campaign {name}", f"活动 {name}")
    before = len(problems.items)
    entry.unknown_keys(_CAMPAIGN_KEYS)
    campaign_id = _identifier(entry)
    if entry.boolean("retired"):
        return CampaignEntry(entry_path(parts), campaign_id, retire=True) if campaign_id else None
    offers = table.get("offers", _MISSING)
    offer_ids: tuple[str, ...] = ()
    if not isinstance(offers, list) or not offers or not all(isinstance(o, str) for o in offers):
        entry.problem("offers", offers, "offers must list the campaign's offer ids (at least one)",
                      "offers 必须列出活动的产品编号（至少一个）")
    else:
        repeated = sorted({o for o in offers if offers.count(o) > 1})
        if repeated:
            entry.problem("offers", repeated, f"offers repeat: {', '.join(repeated)}",
                          f"产品重复：{', '.join(repeated)}")
        offer_ids = tuple(dict.fromkeys(offers))
    campaign = CampaignEntry(
        path=entry_path(parts),
        campaign_id=campaign_id or "",
        name_zh=entry.text("name_zh"),
        name_en=entry.text("name_en"),
        inbound_may_serve_any_wave=entry.boolean("inbound_may_serve_any_wave"),
        offer_ids=offer_ids,
        waves=_waves(entry, table.get("waves", _MISSING), today),
        caps=_caps(entry, table.get("caps", _MISSING), ("caps",), CHANNELS),
        calling_hours=_hours(entry, ("calling_hours",), table["calling_hours"]) if "calling_hours" in table else None,
        time_zone=_time_zone(entry, table["time_zone"]) if "time_zone" in table else None,
    )
    return campaign if len(problems.items) == before else None


def _time_zone(entry: _Entry, value: Any) -> str | None:
    try:
        return parse_time_zone(value)
    except OutboundRuleError as exc:
        entry.problem("time_zone", value, exc.en, exc.zh)
        return None


def _repeats(entries: Sequence[Any], key: str, collection: str, problems: _Problems, label_en: str,
             label_zh: str) -> None:
    first: dict[str, int] = {}
    for entry in entries:
        value, where = getattr(entry, key), _index(entry.path)
        if value in first:
            problems.add((collection, where, "id"), value,
                         f"{label_en} {value!r} appears twice (also {collection}[{first[value]}])",
                         f"{label_zh} {value!r} 重复出现（另见 {collection}[{first[value]}]）")
        else:
            first[value] = where


def parse_catalog(text: str, *, file: str = "catalog.toml", today: dt.date | None = None) -> CatalogDocument:
    """Validate a catalog file's text; raises CatalogFeedError listing every problem (nothing is partial)."""
    today = today or dt.date.today()
    problems = _Problems(file, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        problems.items.append(RowProblem(file, int(line.group(1)) if line else 1, None, None,
                                         f"not valid TOML: {exc}", f"不是有效的 TOML：{exc}"))
        raise CatalogFeedError(file, problems.items) from None
    version = data.get("format", _MISSING)
    if version != FORMAT:
        en = (f"format = {FORMAT} is missing at the top of the file" if version is _MISSING
              else f"format {version!r} is not one this server reads (it reads format = {FORMAT})")
        zh = (f"文件开头缺少 format = {FORMAT}" if version is _MISSING
              else f"本服务器不支持 format {version!r}（支持 format = {FORMAT}）")
        problems.add(("format",), version, en, zh)
        raise CatalogFeedError(file, problems.items)
    for key in data:
        if key not in _TOP_KEYS:
            problems.add((key,), _MISSING, f"unknown top-level key {key!r} (known: {', '.join(_TOP_KEYS)})",
                         f"未知的顶层键 {key!r}（可用：{', '.join(_TOP_KEYS)}）")
    lists = {}
    for key in ("offers", "campaigns", "customer_caps"):
        value = data.get(key, [])
        if not isinstance(value, list):
            problems.add((key,), value, f"{key} must be an array of tables ([[{key}]])", f"{key} 必须是表数组（[[{key}]]）")
            value = []
        lists[key] = value
    offers = [o for i, raw in enumerate(lists["offers"]) if (o := _offer(raw, i, problems, today))]
    campaigns = [c for i, raw in enumerate(lists["campaigns"]) if (c := _campaign(raw, i, problems, today))]
    _repeats(offers, "offer_id", "offers", problems, "offer id", "产品编号")
    _repeats(campaigns, "campaign_id", "campaigns", problems, "campaign id", "活动编号")
    customer_caps = None
    if "customer_caps" in data:
        holder = _Entry(data, (), problems, "customer_caps", "客户接触上限")
        customer_caps = _caps(holder, lists["customer_caps"], ("customer_caps",), (ANY_CHANNEL, *CHANNELS))
    file_offers = {o.offer_id: o for o in offers}
    for campaign in campaigns:
        for position, offer_id in enumerate(campaign.offer_ids):
            offer = file_offers.get(offer_id)
            if offer is not None and offer.retire:
                problems.add(("campaigns", _index(campaign.path), "offers", position), offer_id,
                             f"campaign {campaign.campaign_id}: offer {offer_id} is retired in this same file",
                             f"活动 {campaign.campaign_id}：产品 {offer_id} 在本文件中被退役")
    if problems.items:
        raise CatalogFeedError(file, problems.items)
    return CatalogDocument(
        file=file, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), today=today, offers=tuple(offers),
        campaigns=tuple(campaigns), customer_caps=customer_caps, data=data, text=text,
    )


def read_catalog(path: Path, *, today: dt.date | None = None) -> CatalogDocument:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FeedFailure(f"cannot read the catalog {path}: {exc.strerror or exc}",
                          f"无法读取产品目录 {path}：{exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogFeedError(str(path), [RowProblem(
            str(path), line, None, None, "the file is not UTF-8 text (save it as UTF-8)",
            "文件不是 UTF-8 编码（请另存为 UTF-8）")]) from None
    return parse_catalog(text, file=str(path), today=today)


# ---------------------------------------------------------------------------------------------- applying


@dataclass
class _State:
    offers: dict[str, dict[str, Any]]
    campaigns: dict[str, dict[str, Any]]
    waves: dict[str, tuple[WaveEntry, ...]]
    caps: dict[str, tuple[CapEntry, ...]]
    links: dict[str, tuple[str, ...]]
    customer_caps: dict[str, CapEntry]


_OFFER_COLUMNS = ("category", "title_zh", "title_en", "script_zh", "script_en", "monthly_fee_delta_fen",
                  "base_score", "product_id", "eligibility", "active", "retired_at", "created_at")


def _read_state(conn: Connection) -> _State:
    offers = {
        row.offer_id: dict(row._mapping)
        for row in conn.execute(select(Offer.offer_id, *(getattr(Offer, c) for c in _OFFER_COLUMNS)))
    }
    campaigns = {
        row.campaign_id: dict(row._mapping)
        for row in conn.execute(select(Campaign.campaign_id, Campaign.name_zh, Campaign.name_en,
                                       Campaign.inbound_may_serve_any_wave, Campaign.active, Campaign.retired_at,
                                       Campaign.calling_hours, Campaign.time_zone))
    }
    waves: dict[str, list[WaveEntry]] = {}
    for row in conn.execute(select(Wave).order_by(Wave.campaign_id, Wave.seq)):
        waves.setdefault(row.campaign_id, []).append(WaveEntry(
            row.seq, row.channel, row.starts_on, row.ends_on, _tuple(row.calling_hours), row.max_attempts,
            None if row.retry is None else tuple(sorted(_json(row.retry).items())),
            _tuple(row.assigned_agents), _tuple(row.assigned_teams)))
    caps: dict[str, list[CapEntry]] = {}
    for row in conn.execute(select(ContactCap).order_by(ContactCap.campaign_id, ContactCap.channel)):
        caps.setdefault(row.campaign_id, []).append(CapEntry(row.channel, row.max_contacts, row.period_days))
    links: dict[str, list[str]] = {}
    for row in conn.execute(select(CampaignOffer).order_by(CampaignOffer.campaign_id, CampaignOffer.offer_id)):
        links.setdefault(row.campaign_id, []).append(row.offer_id)
    customer_caps = {
        row.channel: CapEntry(row.channel, row.max_contacts, row.period_days)
        for row in conn.execute(select(CustomerCap))
    }
    return _State(offers, campaigns, {k: tuple(v) for k, v in waves.items()},
                  {k: tuple(v) for k, v in caps.items()}, {k: tuple(v) for k, v in links.items()}, customer_caps)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _tuple(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(_json(value))


def _check_references(document: CatalogDocument, state: _State, full: bool) -> None:
    """What the file names must exist: in the file, or (a delta) active in the catalog already."""
    problems = _Problems(document.file, document.text)
    file_offers = {o.offer_id: o for o in document.offers}
    if full and not any(not o.retire for o in document.offers):
        problems.add(("offers",), _MISSING,
                     "a --full catalog without offers would retire every offer; if that is really meant, "
                     "retire them with `retired = true` in a delta",
                     "不含任何产品的 --full 目录会退役全部产品；如确需如此，请在增量文件中用 retired = true 逐个退役")
    for offer in document.offers:
        if offer.retire and offer.offer_id not in state.offers:
            problems.add(("offers", _index(offer.path), "retired"), offer.offer_id,
                         f"offer {offer.offer_id}: retired = true names an offer the catalog does not have",
                         f"产品 {offer.offer_id}：retired = true 指向目录中不存在的产品")
    for campaign in document.campaigns:
        if campaign.retire:
            if campaign.campaign_id not in state.campaigns:
                problems.add(("campaigns", _index(campaign.path), "retired"), campaign.campaign_id,
                             f"campaign {campaign.campaign_id}: retired = true names a campaign the catalog "
                             "does not have", f"活动 {campaign.campaign_id}：retired = true 指向目录中不存在的活动")
            continue
        for position, offer_id in enumerate(campaign.offer_ids):
            if offer_id in file_offers:
                continue
            known = state.offers.get(offer_id)
            parts = ("campaigns", _index(campaign.path), "offers", position)
            if known is None or full:
                problems.add(parts, offer_id,
                             f"campaign {campaign.campaign_id}: unknown offer {offer_id} (not in this file"
                             + ("" if full else " nor in the catalog") + ")",
                             f"活动 {campaign.campaign_id}：未知产品 {offer_id}（不在本文件中"
                             + ("" if full else "，也不在目录中") + "）")
            elif not known["active"]:
                problems.add(parts, offer_id,
                             f"campaign {campaign.campaign_id}: offer {offer_id} is retired; list it in this "
                             "file to bring it back", f"活动 {campaign.campaign_id}：产品 {offer_id} 已退役；"
                             "如要恢复，请在本文件中列出该产品")
    if problems.items:
        raise CatalogFeedError(document.file, problems.items)


def _index(path: str) -> int:
    return int(path.split("[")[1].rstrip("]"))


def _launched_at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _offer_values(offer: OfferEntry) -> dict[str, Any]:
    return {
        "category": offer.category, "title_zh": offer.title_zh, "title_en": offer.title_en,
        "script_zh": offer.script_zh, "script_en": offer.script_en,
        "monthly_fee_delta_fen": offer.monthly_fee_delta_fen, "base_score": offer.base_score,
        "product_id": offer.product_id, "eligibility": [dict(c) for c in offer.eligibility],
        "active": True, "retired_at": None,
    }


def _same(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    for key, value in wanted.items():
        have = stored.get(key)
        if key == "eligibility":
            have = json.loads(have) if isinstance(have, str) else (have or [])
        elif key == "calling_hours":
            have = _json(have)
        if isinstance(value, float) and isinstance(have, (int, float)):
            if abs(have - value) > 1e-12:
                return False
        elif have != value:
            return False
    return True


def apply_catalog_document(conn: Connection, document: CatalogDocument, *, full: bool = False,
                           now: dt.datetime | None = None) -> FeedReport:
    """Apply a validated document on `conn` inside the caller's transaction (the caller commits)."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    report = FeedReport(KIND, document.file, "full" if full else "delta", rows_read=document.entries)
    if conn.dialect.name == "postgresql":  # two catalog imports at once: the second waits, then sees the first
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('callcue.feeds.catalog'))")
    state = _read_state(conn)
    _check_references(document, state, full)

    def retire(model: Any, key_column: Any, key: str) -> None:
        conn.execute(update(model).where(key_column == key).values(active=False, retired_at=now))
        report.retired += 1

    for offer in document.offers:
        stored = state.offers.get(offer.offer_id)
        if offer.retire:
            if stored is not None and stored["active"]:
                retire(Offer, Offer.offer_id, offer.offer_id)
            else:
                report.unchanged += 1
            continue
        wanted = _offer_values(offer)
        if offer.launched_on is not None:
            wanted["created_at"] = _launched_at(offer.launched_on)
        if stored is None:
            conn.execute(insert(Offer).values(offer_id=offer.offer_id, created_at=wanted.pop("created_at", now),
                                              **wanted))
            report.inserted += 1
        elif _same(stored, wanted):
            report.unchanged += 1
        else:
            conn.execute(update(Offer).where(Offer.offer_id == offer.offer_id).values(**wanted))
            report.updated += 1
    in_file = {o.offer_id for o in document.offers}
    if full:
        for offer_id, stored in state.offers.items():
            if offer_id not in in_file and stored["active"]:
                retire(Offer, Offer.offer_id, offer_id)

    for campaign in document.campaigns:
        stored = state.campaigns.get(campaign.campaign_id)
        cid = campaign.campaign_id
        if campaign.retire:
            if stored is not None and stored["active"]:
                retire(Campaign, Campaign.campaign_id, cid)
            else:
                report.unchanged += 1
            continue
        wanted = {"name_zh": campaign.name_zh, "name_en": campaign.name_en,
                  "inbound_may_serve_any_wave": campaign.inbound_may_serve_any_wave, "active": True,
                  "retired_at": None,
                  "calling_hours": None if campaign.calling_hours is None else list(campaign.calling_hours),
                  "time_zone": campaign.time_zone}
        parts_same = (
            state.waves.get(cid, ()) == campaign.waves
            and state.caps.get(cid, ()) == tuple(sorted(campaign.caps, key=lambda c: c.channel))
            and state.links.get(cid, ()) == tuple(sorted(campaign.offer_ids))
        )
        if stored is None:
            conn.execute(insert(Campaign).values(campaign_id=cid, **wanted))
            report.inserted += 1
        elif _same(stored, wanted) and parts_same:
            report.unchanged += 1
            continue
        else:
            conn.execute(update(Campaign).where(Campaign.campaign_id == cid).values(**wanted))
            report.updated += 1
        for model in (Wave, ContactCap, CampaignOffer):
            conn.execute(delete(model).where(model.campaign_id == cid))
        if campaign.waves:
            conn.execute(insert(Wave), [{"campaign_id": cid, **w.row()} for w in campaign.waves])
        if campaign.caps:
            conn.execute(insert(ContactCap), [{"campaign_id": cid, **dataclasses.asdict(c)} for c in campaign.caps])
        conn.execute(insert(CampaignOffer), [{"campaign_id": cid, "offer_id": o} for o in campaign.offer_ids])
    in_file = {c.campaign_id for c in document.campaigns}
    if full:
        # The file is the whole catalog: a campaign it lacks is retired and no longer holds its offers (an
        # offer no campaign of the file lists is always on). Its waves and caps stay as the record of what
        # ran. A delta's `retired = true` keeps the links: its offers stay bound to it, so not pitched.
        for campaign_id, stored in state.campaigns.items():
            if campaign_id in in_file:
                continue
            if stored["active"]:
                retire(Campaign, Campaign.campaign_id, campaign_id)
            elif state.links.get(campaign_id):
                report.retired += 1
            if state.links.get(campaign_id):
                conn.execute(delete(CampaignOffer).where(CampaignOffer.campaign_id == campaign_id))

    if document.customer_caps is not None or full:
        wanted_caps = {c.channel: c for c in document.customer_caps or ()}
        for channel, cap in wanted_caps.items():
            stored_cap = state.customer_caps.get(channel)
            if stored_cap == cap:
                report.unchanged += 1
                continue
            if stored_cap is None:
                conn.execute(insert(CustomerCap).values(**dataclasses.asdict(cap)))
                report.inserted += 1
            else:
                conn.execute(update(CustomerCap).where(CustomerCap.channel == channel).values(
                    max_contacts=cap.max_contacts, period_days=cap.period_days))
                report.updated += 1
        gone = [channel for channel in state.customer_caps if channel not in wanted_caps]
        if gone:
            conn.execute(delete(CustomerCap).where(CustomerCap.channel.in_(gone)))
            if document.customer_caps is None:
                report.retired += len(gone)  # --full without customer caps: none any more
            else:
                report.deleted += len(gone)

    report.elapsed_s = time.perf_counter() - started
    _record_run(conn, document.file, document.sha256, report.mode, "applied" if report.changed else "unchanged",
                now, report, report.summary("en"))
    return report


def _record_run(conn: Connection, file: str, sha256: str, mode: str, status: str, started_at: dt.datetime,
                report: FeedReport | None, message: str) -> None:
    counts = {} if report is None else {
        "rows_read": report.rows_read, "inserted": report.inserted, "updated": report.updated,
        "unchanged": report.unchanged, "deleted": report.deleted + report.retired, "rejected": report.rejected,
    }
    conn.execute(insert(FeedRun).values(
        kind=KIND, file_name=Path(file).name[:255], file_sha256=sha256, mode=mode, status=status,
        started_at=started_at, finished_at=dt.datetime.now(dt.UTC), message=message, **counts,
    ))


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction. SQLite takes the write lock up front (BEGIN IMMEDIATE): reading first and
    writing later could otherwise fail at the first write when a pop commits in between."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def apply_catalog(engine: Engine, path: Path | str, *, full: bool = False, today: dt.date | None = None,
                  now: dt.datetime | None = None) -> FeedReport:
    """Validate the catalog file at `path`, then apply it in one transaction (see the module docstring).

    Raises CatalogFeedError (every problem located, nothing written) or FeedFailure (unreadable file);
    both are recorded in feed_runs as failed. `today` resolves relative days (default: today); `now`
    stamps retirements and new offers (default: the current time)."""
    path = Path(path)
    started = now or dt.datetime.now(dt.UTC)
    mode = "full" if full else "delta"
    sha256 = ""
    try:
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        document = read_catalog(path, today=today)
        with write_transaction(engine) as conn:
            return apply_catalog_document(conn, document, full=full, now=now)
    except FeedFailure as exc:
        with write_transaction(engine) as conn:
            _record_run(conn, str(path), sha256, mode, "failed", started, None, exc.en)
        raise


__all__ = [
    "FORMAT",
    "GENERATOR_KEY",
    "KIND",
    "CampaignEntry",
    "CapEntry",
    "CatalogDocument",
    "CatalogFeedError",
    "OfferEntry",
    "WaveEntry",
    "apply_catalog",
    "apply_catalog_document",
    "parse_catalog",
    "read_catalog",
    "write_transaction",
]
