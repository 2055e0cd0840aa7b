"""Audiences by condition (the seeds' 彩铃主动营销 flow): the analyst sets conditions in the rules' fact
language, looks at the statistics of the matching customers, and only then loads them into a campaign.

    callcue-server audience preview --campaign C [--wave N] --where 'FACT OP VALUE' [--where …] [--json]
    callcue-server audience apply   --campaign C [--wave N] --where … [--priority P] [--reason TEXT]

A condition is `FACT OP VALUE`: FACT is a fact of the pop (vocabulary.FACTS, built by pop.customer_facts),
OP one of == != > >= < <= in not_in contains, VALUE a TOML value ("month_to_month", 12, ["gold", "diamond"],
true); a bare word is taken as text (contract == month_to_month). Conditions are translated to SQL over
customers (+ customer_scores, complaints, contact_history, subscriptions where a fact needs them) with the
pop's exact semantics: a missing value (NULL) never satisfies a condition, money facts are compared in fen,
churn_risk_pct rounds half to even like Python's round(). Facts the pop derives from usage or from the
sensitivity assessment cannot be evaluated over a million customers in SQL and are refused with the list of
facts that can. `FACT_SQL` below is the one table of facts audiences can use; tests check every name in it
against customer_facts() and its SQL against the pop's own evaluation.

Retired customers (retired_at set) are never in an audience. `apply` inserts the matching customers that are
not yet members of the campaign (source 'audience', the wave, priority, reason, added_at) in one
transaction; customers that already are members are counted and LEFT AS THEY ARE (their wave, priority,
reason and source are kept), so applying the same audience again changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import os
import re
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.sqlite import insert as insert_sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from server_stub.db.models import (
    CampaignMember,
    Complaint,
    ContactHistory,
    Customer,
    CustomerNumber,
    CustomerScore,
    DndNumber,
    Subscription,
)
from server_stub.domain.rules import LEVEL_NAMES, Rules, SensitivitySpec
from server_stub.domain.vocabulary import CONDITION_OPS, FACTS, VALUE_TIERS
from server_stub.services.catalog import CampaignRow, Catalog, load_catalog
from server_stub.services.pop import CALL_CHANNELS, COMPLAINT_LOOKBACK_DAYS, REPEAT_CALL_DAYS

CUSTOMERS = Customer.__table__
SCORES = CustomerScore.__table__.alias("s")
COMPLAINTS = Complaint.__table__
HISTORY = ContactHistory.__table__
SUBSCRIPTIONS = Subscription.__table__
MEMBERS = CampaignMember.__table__

SOURCE = "audience"  # campaign_members.source of the rows `apply` writes
REASON_MAX = 200  # campaign_members.reason is String(200)
# Churn bands of the preview: [0, 0.2), [0.2, 0.5), [0.5, 1].
CHURN_BANDS = (0.2, 0.5)
CITIES_SHOWN = 10  # in the text output; the JSON lists every city


class AudienceError(Exception):
    """The audience cannot be previewed or applied; en and zh_CN say why (and where, for a condition)."""

    def __init__(self, en: str, zh: str | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh or en

    def text(self, lang: str = "en") -> str:
        return self.zh if lang.lower().startswith("zh") else self.en


# ======================================================================================== the fact table


@dataclasses.dataclass
class _Sql:
    """What a fact's SQL may refer to, for one statement."""

    dialect: str
    now: dt.datetime
    catalog: Catalog
    needs: set[str] = dataclasses.field(default_factory=set)  # side tables to join: complaints, calls

    @property
    def today(self) -> dt.date:
        return self.now.date()

    def complaints(self, name: str) -> ColumnElement:
        self.needs.add("complaints")
        return func.coalesce(literal_column(f"x.{name}", Integer), 0)

    def calls(self) -> ColumnElement:
        self.needs.add("calls")
        return func.coalesce(literal_column("k.calls_7d", Integer), 0)


def _complaint_aggregate(now: dt.datetime):
    """Per customer, the complaint facts of customer_facts(): the pop reads complaints opened in the last
    COMPLAINT_LOOKBACK_DAYS and counts the last 90 days among them."""
    t = COMPLAINTS.c
    day90 = now - dt.timedelta(days=90)
    return (
        select(
            t.customer_id,
            func.count().filter(t.opened_at >= day90).label("complaints_90d"),
            func.count().filter(and_(t.opened_at >= day90, t.category == "billing")).label("billing_complaints_90d"),
            func.count().filter(t.status == "open").label("open_complaints"),
            func.count().filter(t.severity == "serious").label("serious_complaints_180d"),
            func.count().filter(t.category == "marketing").label("marketing_complaints_180d"),
        )
        .where(t.opened_at >= now - dt.timedelta(days=COMPLAINT_LOOKBACK_DAYS))
        .group_by(t.customer_id)
        .subquery("x")
    )


def _calls_aggregate(now: dt.datetime):
    """calls_7d: inbound calls (IVR included) in the last days; the outcomes of one call (one call_id) are one."""
    h = HISTORY.c
    return (
        select(h.customer_id,
               (func.count().filter(h.call_id.is_(None)) + func.count(h.call_id.distinct())).label("calls_7d"))
        .where(h.channel.in_(CALL_CHANNELS), h.contacted_at > now - dt.timedelta(days=REPEAT_CALL_DAYS))
        .group_by(h.customer_id)
        .subquery("k")
    )


class _Fact:
    """How one fact of customer_facts() reads in SQL. `kind` says which values and operators fit."""

    kind = ""
    ops: tuple[str, ...] = ()
    en = zh = ""
    aggregate: str | None = None  # "complaints" / "calls": read from a per-customer aggregate of that table

    def __init__(self, en: str, zh: str) -> None:
        self.en, self.zh = en, zh


class _Ranged(_Fact):
    """An integer-valued fact: every comparison becomes "the fact lies in these whole-number ranges"."""

    kind = "number"
    ops = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in")
    scale = 1  # money: the fact is in yuan, the column in fen

    def present(self, q: _Sql) -> ColumnElement:
        """True when the fact has a value (the pop's None never satisfies a condition)."""
        raise NotImplementedError

    def within(self, q: _Sql, low: int | None, high: int | None) -> ColumnElement:
        """low <= fact <= high (None: unbounded); NULL (or false) when the fact has no value."""
        raise NotImplementedError


class _Column(_Ranged):
    """An integer column (money: a fen column, the fact in yuan)."""

    def __init__(self, column: Callable[[_Sql], ColumnElement], en: str, zh: str, *, scale: int = 1,
                 aggregate: str | None = None) -> None:
        super().__init__(en, zh)
        self.column, self.scale, self.aggregate = column, scale, aggregate

    def present(self, q: _Sql) -> ColumnElement:
        return self.column(q).is_not(None)

    def within(self, q: _Sql, low: int | None, high: int | None) -> ColumnElement:
        col = self.column(q)
        if low is not None and low == high:
            return col == literal(low, Integer)
        parts = []
        if low is not None:
            parts.append(col >= literal(low, Integer))
        if high is not None:
            parts.append(col <= literal(high, Integer))
        return and_(*parts) if parts else col.is_not(None)


class _RoundedPercent(_Ranged):
    """round(100 * x) of a 0..1 score, as Python rounds (half to even): churn_risk_pct."""

    def __init__(self, column: Callable[[_Sql], ColumnElement], en: str, zh: str) -> None:
        super().__init__(en, zh)
        self.column = column

    def present(self, q: _Sql) -> ColumnElement:
        return self.column(q).is_not(None)

    def within(self, q: _Sql, low: int | None, high: int | None) -> ColumnElement:
        # 100 * x is the same IEEE double in Python and SQL; k + 0.5 is exact, and round() sends it to the
        # even neighbour: round(y) >= low  <=>  y > low - 0.5, or y == low - 0.5 and low is even.
        y = literal(100.0, Float) * self.column(q)
        parts = []
        if low is not None:
            edge = literal(low - 0.5, Float)
            parts.append(or_(y > edge, y == edge) if low % 2 == 0 else y > edge)
        if high is not None:
            edge = literal(high + 0.5, Float)
            parts.append(or_(y < edge, y == edge) if high % 2 == 0 else y < edge)
        return and_(*parts) if parts else y.is_not(None)


def _month_start(year: int, month: int) -> dt.date:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return dt.date(year, month, 1)


class _MonthsLeft(_Ranged):
    """contract_months_left: whole months from today to contract_end (pop.contract_months_left). It never
    decreases as the end date moves later, so "months left >= n" is "contract_end >= the first day with n
    months left": the same day of the month n months on, or the 1st of the month after when that month is
    too short for today's day."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en, zh)

    @staticmethod
    def first_day(today: dt.date, months: int) -> dt.date:
        start = _month_start(today.year, today.month + months)
        following = _month_start(start.year, start.month + 1)
        last_day = (following - dt.timedelta(days=1)).day
        return start.replace(day=today.day) if today.day <= last_day else following

    def present(self, q: _Sql) -> ColumnElement:
        return CUSTOMERS.c.contract_end.is_not(None)

    def within(self, q: _Sql, low: int | None, high: int | None) -> ColumnElement:
        end = CUSTOMERS.c.contract_end
        parts = []
        if low is not None:
            parts.append(end >= literal(self._clamped(q.today, low), Date))
        if high is not None:
            parts.append(end < literal(self._clamped(q.today, high + 1), Date))
        return and_(*parts) if parts else end.is_not(None)

    def _clamped(self, today: dt.date, months: int) -> dt.date:
        # Beyond the calendar (months of ±100,000 years) nothing is that far: the earliest or latest date.
        try:
            return self.first_day(today, months)
        except (ValueError, OverflowError):
            return dt.date.max if months > 0 else dt.date.min


class _Float(_Fact):
    """A float compared as it is (churn_risk)."""

    kind = "number"
    ops = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in")

    def __init__(self, column: Callable[[_Sql], ColumnElement], en: str, zh: str) -> None:
        super().__init__(en, zh)
        self.column = column


class _Text(_Fact):
    kind = "text"
    ops = ("==", "!=", "in", "not_in", "contains")

    def __init__(self, column: Callable[[_Sql], ColumnElement], en: str, zh: str) -> None:
        super().__init__(en, zh)
        self.column = column


class _Bool(_Fact):
    kind = "bool"
    ops = ("==", "!=", "in", "not_in")

    def __init__(self, is_true: Callable[[_Sql], ColumnElement], is_false: Callable[[_Sql], ColumnElement],
                 en: str, zh: str) -> None:
        super().__init__(en, zh)
        self.is_true, self.is_false = is_true, is_false


class _List(_Fact):
    kind = "list"
    ops = ("contains",)

    def __init__(self, contains: Callable[[_Sql, str], ColumnElement], en: str, zh: str) -> None:
        super().__init__(en, zh)
        self.contains = contains


def _col(name: str) -> Callable[[_Sql], ColumnElement]:
    return lambda q: CUSTOMERS.c[name]


def _churn_value() -> ColumnElement:
    # The operator's score when fed (customer_scores.churn_risk), else the customer row's (CustomerRecord.churn_risk).
    return func.coalesce(SCORES.c.churn_risk, CUSTOMERS.c.churn_risk)


def _churn_risk(q: _Sql) -> ColumnElement:
    q.needs.add("scores")
    return _churn_value()


def _autopay(q: _Sql) -> ColumnElement:
    # pop.is_autopay: payment_method.startswith("autopay"); NULL without a payment method.
    return func.substr(CUSTOMERS.c.payment_method, 1, 7)


def _segments_contain(q: _Sql, value: str) -> ColumnElement:
    # `value in list(segments)`: an element equal to the text (JSON arrays of strings).
    segments = CUSTOMERS.c.segments
    if q.dialect == "postgresql":
        return cast(segments, JSONB).op("@>")(func.jsonb_build_array(literal(value, String)))
    each = func.json_each(segments).table_valued("value").alias("seg")
    return exists(select(1).select_from(each).where(each.c.value == literal(value, String)))


def _holds(q: _Sql, value: str) -> ColumnElement:
    """pop.held_products: subscriptions held today, and every offer ever accepted (as its product).

    SQLite: the holders are listed once per statement (IN: an ephemeral index) and each customer is a probe
    of that list (2.0 -> 0.x CPU-s on a million customers, against two index searches per customer).
    PostgreSQL: correlated EXISTS, an index search per customer; an IN list there would be a subplan that
    is hashed only while it fits in work_mem."""
    sub, h = SUBSCRIPTIONS.c, HISTORY.c
    subscribed = (sub.product_id == literal(value, String),
                  or_(sub.until.is_(None), sub.until >= literal(q.today, Date)))
    offers = sorted(o.offer_id for o in q.catalog.offers.values() if o.product_key == value)
    if value not in q.catalog.offers:
        offers.append(value)  # an accepted offer no longer in the catalog counts as its own product
    accepted = (h.result == "accepted", h.offer_id.in_([literal(o, String) for o in offers]))
    customer = CUSTOMERS.c.customer_id
    if q.dialect == "sqlite":
        return or_(customer.in_(select(sub.customer_id).where(*subscribed)),
                   customer.in_(select(h.customer_id).where(*accepted)))
    return or_(exists(select(1).where(sub.customer_id == customer, *subscribed)),
               exists(select(1).where(h.customer_id == customer, *accepted)))


def _text_contains(q: _Sql, column: ColumnElement, value: str) -> ColumnElement:
    # Python's `value in text`: a case-sensitive substring, on both backends.
    position = func.strpos(column, value) if q.dialect == "postgresql" else func.instr(column, value)
    return position > 0


def _complaint_count(name: str, en: str, zh: str) -> _Column:
    return _Column(lambda q: q.complaints(name), en, zh, aggregate="complaints")


# The one table of facts an audience can use: fact name -> how it reads in SQL. Every name is a key of
# pop.customer_facts() (tests/server/test_audience.py checks it, and checks each translation against the
# pop's own evaluation on both backends).
FACT_SQL: dict[str, _Fact] = {
    "tenure_months": _Column(_col("tenure_months"), "months with the carrier", "在网月数"),
    "monthly_fee": _Column(_col("monthly_fee_fen"), "plan fee, yuan", "月费（元）", scale=100),
    "value_tier": _Text(_col("value_tier"), "value tier", "价值等级"),
    "credit_score": _Column(_col("credit_score"), "credit score", "信用分"),
    "star_level": _Column(_col("star_level"), "star level 0..7", "星级"),
    "points": _Column(_col("points"), "loyalty points", "积分"),
    "segments": _List(_segments_contain, "segments (contains)", "客群标签（contains）"),
    "brand": _Text(_col("brand"), "brand", "品牌"),
    "service_status": _Text(_col("service_status"), "service status", "服务状态"),
    "balance": _Column(_col("balance_fen"), "balance, yuan", "余额（元）", scale=100),
    "arrears": _Column(_col("arrears_fen"), "arrears, yuan", "欠费（元）", scale=100),
    "contract": _Text(_col("contract"), "contract", "合约类型"),
    "contract_months_left": _MonthsLeft("whole months until the contract ends", "合约剩余月数"),
    "relation_kind": _Text(_col("relation_kind"), "relation kind", "成员关系"),
    "group_name": _Text(_col("group_name"), "household / group name", "家庭/集团名称"),
    "city": _Text(_col("city"), "city", "城市"),
    "gender": _Text(_col("gender"), "gender", "性别"),
    "payment_method": _Text(_col("payment_method"), "payment method", "缴费方式"),
    "payment_autopay": _Bool(lambda q: _autopay(q) == "autopay", lambda q: _autopay(q) != "autopay",
                             "pays automatically", "自动缴费"),
    "plan_id": _Text(_col("plan_id"), "plan id", "套餐编码"),
    "holds": _List(_holds, "held product ids (contains)", "已办理产品（contains）"),
    "churn_risk": _Float(_churn_risk, "churn risk 0..1 (operator's score first)", "流失风险 0..1"),
    "churn_risk_pct": _RoundedPercent(_churn_risk, "churn risk, %", "流失风险（%）"),
    "late_payments_6m": _Column(_col("late_payments_6m"), "late payments in 6 months", "近6个月逾期次数"),
    "bill_inquiries_3m": _Column(_col("bill_inquiries_3m"), "bill inquiries in 3 months", "近3个月账单查询次数"),
    "downgrades_12m": _Column(_col("downgrades_12m"), "plan downgrades in 12 months", "近12个月降档次数"),
    "complaints_90d": _complaint_count("complaints_90d", "complaints in 90 days", "近90天投诉数"),
    "billing_complaints_90d": _complaint_count("billing_complaints_90d", "billing complaints in 90 days",
                                               "近90天计费投诉数"),
    "open_complaints": _complaint_count("open_complaints", "open complaints", "未结投诉数"),
    "serious_complaints_180d": _complaint_count("serious_complaints_180d", "serious complaints in 180 days",
                                                "近180天严重投诉数"),
    "marketing_complaints_180d": _complaint_count("marketing_complaints_180d", "marketing complaints in 180 days",
                                                  "近180天营销投诉数"),
    "dnd": _Bool(lambda q: _do_not_disturb(), lambda q: ~_do_not_disturb(), "do not disturb", "免打扰"),
    "calls_7d": _Column(lambda q: q.calls(), "inbound calls (IVR included) in 7 days", "近7天呼入次数（含IVR）",
                        aggregate="calls"),
}

# Facts of the pop that an audience cannot use, and why (en, zh).
_USAGE = ("computed at pop time from the last months' usage", "由最近几个月的用量在弹屏时计算")
_DERIVED = ("the sensitivity assessment's result (the preview shows its breakdown)",
            "敏感度评估的结果（预览中有其分布）")
NOT_IN_SQL: dict[str, tuple[str, str]] = {
    **{name: _USAGE for name in ("bill_change_ratio", "bill_change_pct", "data_mb", "data_gb", "voice_min",
                                 "roaming_mb", "roaming_min", "roaming_activity", "ringback_active")},
    "dnd_since": ("a date shown in texts; use dnd == true", "仅用于文案的日期；请用 dnd == true"),
    **{name: _DERIVED for name in ("price_level", "complaint_level", "price_level_name", "complaint_level_name")},
}


def audience_facts_text(lang: str = "en") -> str:
    """The facts an audience can use, one per line, for messages and --help."""
    zh = lang.lower().startswith("zh")
    width = max(map(len, FACT_SQL))
    return "\n".join(f"  {name.ljust(width)}  {fact.zh if zh else fact.en} [{fact.kind}: {' '.join(fact.ops)}]"
                     for name, fact in FACT_SQL.items())


# ======================================================================================== conditions


@dataclasses.dataclass(frozen=True)
class AudienceCondition:
    fact: str
    op: str
    value: Any
    text: str  # as the analyst wrote it

    def as_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, "op": self.op, "value": self.value, "text": self.text}


_FACT_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")
_SYMBOL_OPS = ("==", "!=", ">=", "<=", ">", "<")
_WORD_OPS = ("not_in", "in", "contains")
_BARE_RE = re.compile(r"[^\s\"'\[\]{},=#]+")


class _Where:
    """Error messages that point into one --where text (1-based character columns)."""

    def __init__(self, index: int, text: str) -> None:
        self.index, self.text = index, text

    def fail(self, column: int, en: str, zh: str, more_en: str = "", more_zh: str = "") -> AudienceError:
        """`more_*`: a longer explanation printed after the located line (the list of usable facts)."""
        pointer = " " * (column - 1) + "^"
        return AudienceError(
            f"--where #{self.index} {self.text!r}, column {column}: {en}\n    {self.text}\n    {pointer}"
            + (f"\n{more_en}" if more_en else ""),
            f"--where 第 {self.index} 个条件 {self.text!r}，第 {column} 列：{zh}\n    {self.text}\n    {pointer}"
            + (f"\n{more_zh}" if more_zh else ""),
        )


def _did_you_mean(word: str, choices: Iterable[str]) -> tuple[str, str]:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return (f" Did you mean {close[0]!r}?", f"是否想写 {close[0]!r}？") if close else ("", "")


def _toml_value(text: str) -> tuple[Any, bool]:
    """(value, written bare): a TOML value, or a bare word taken as text. Raises ValueError with TOML's words."""
    if "\n" in text or "\r" in text:
        raise ValueError("a value is one line")
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError as exc:
        if _BARE_RE.fullmatch(text):
            return text, True
        if text.startswith("[") and text.endswith("]") and "[" not in text[1:-1] and "]" not in text[1:-1]:
            items = [item.strip() for item in text[1:-1].split(",")]
            if items and not items[-1]:
                items.pop()  # a trailing comma, as TOML allows
            return [_toml_value(item)[0] if item else _raise_empty() for item in items], True
        raise ValueError(str(exc).replace("(at line 1, column", "(at column")) from None
    if set(parsed) != {"v"}:
        raise ValueError("one value only")
    return parsed["v"], not text.startswith(("'", '"', "["))


def _raise_empty() -> Any:
    raise ValueError("an empty item in the list")


def _type_name(value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return "true/false", "布尔值"
    if isinstance(value, int | float):
        return "a number", "数字"
    if isinstance(value, str):
        return "text", "文本"
    if isinstance(value, list):
        return "a list", "列表"
    return type(value).__name__, type(value).__name__


def parse_condition(text: str, index: int = 1) -> AudienceCondition:
    """`FACT OP VALUE` -> a checked condition; AudienceError locates what is wrong (en and zh_CN)."""
    where = _Where(index, text)
    match = _FACT_RE.match(text)
    if not match:
        column = len(text) - len(text.lstrip()) + 1
        raise where.fail(column, "a condition is FACT OP VALUE and starts with a fact name, e.g. "
                         "tenure_months < 12", "条件格式为「事实 运算符 值」，以事实名开头，例如 tenure_months < 12")
    fact, fact_column = match.group(1), match.start(1) + 1
    position = match.end()
    while position < len(text) and text[position].isspace():
        position += 1
    op_column = position + 1
    op = next((o for o in _SYMBOL_OPS if text.startswith(o, position)), None)
    if op is None:
        word = re.match(r"[A-Za-z_]+", text[position:])
        if word and word.group(0) in _WORD_OPS:
            op = word.group(0)
    if op is None:
        found = text[position:].split(None, 1)[0] if text[position:].strip() else ""
        hint = (" (write '==' to compare)", "（比较请写 ==）") if found.startswith("=") else ("", "")
        raise where.fail(op_column, f"expected an operator after {fact!r}: one of {' '.join(CONDITION_OPS)}"
                         + (f", not {found!r}" if found else "") + hint[0],
                         f"{fact!r} 之后应为运算符：{' '.join(CONDITION_OPS)} 之一"
                         + (f"，而不是 {found!r}" if found else "") + hint[1])
    position += len(op)
    while position < len(text) and text[position].isspace():
        position += 1
    raw = text[position:].rstrip()
    value_column = position + 1
    _check_fact(where, fact, fact_column)
    if not raw:
        raise where.fail(value_column, f"missing the value after {op!r}", f"{op!r} 之后缺少值")
    try:
        value, bare = _toml_value(raw)
    except ValueError as exc:
        raise where.fail(value_column, f"{raw!r} is not a value: {exc}. Write text in quotes (\"gold\"), "
                         "numbers as they are (12, 99.5), lists in brackets ([\"gold\", \"diamond\"])",
                         f"{raw!r} 不是合法的值：{exc}。文本请加引号（\"gold\"），数字直接写（12、99.5），"
                         "列表用方括号（[\"gold\", \"diamond\"]）") from None
    value = _checked_value(where, FACT_SQL[fact], fact, op, value, bare, raw, op_column, value_column)
    return AudienceCondition(fact, op, value, text.strip())


def _check_fact(where: _Where, fact: str, column: int) -> None:
    if fact in FACT_SQL:
        return
    usable_en = "Facts an audience can use:\n" + audience_facts_text("en")
    usable_zh = "受众可用的事实：\n" + audience_facts_text("zh")
    if fact in NOT_IN_SQL or fact in FACTS:
        why_en, why_zh = NOT_IN_SQL.get(fact, ("not available to audiences", "受众条件不可用"))
        raise where.fail(column, f"{fact!r} cannot be evaluated for an audience in SQL ({why_en})",
                         f"{fact!r} 无法在 SQL 中为受众求值（{why_zh}）", usable_en, usable_zh)
    mean_en, mean_zh = _did_you_mean(fact, list(FACT_SQL) + list(NOT_IN_SQL))
    raise where.fail(column, f"unknown fact {fact!r}.{mean_en}", f"未知的事实 {fact!r}。{mean_zh}", usable_en, usable_zh)


def _checked_value(where: _Where, spec: _Fact, fact: str, op: str, value: Any, bare: bool, raw: str,
                   op_column: int, value_column: int) -> Any:
    if op not in spec.ops:
        raise where.fail(op_column, f"{op!r} does not apply to {fact!r} ({spec.kind}); use one of "
                         f"{' '.join(spec.ops)}",
                         f"{op!r} 不适用于 {fact!r}（{spec.kind}）；可用：{' '.join(spec.ops)}")
    listed = op in ("in", "not_in")
    if listed and not isinstance(value, list):
        raise where.fail(value_column, f"{op!r} takes a list, e.g. {fact} {op} [\"a\", \"b\"]; got {raw!r}",
                         f"{op!r} 需要列表，例如 {fact} {op} [\"a\", \"b\"]；实际为 {raw!r}")
    if not listed and isinstance(value, list):
        raise where.fail(value_column, f"{op!r} takes one value, not a list (a list goes with in / not_in)",
                         f"{op!r} 只接受单个值，不接受列表（列表请用 in / not_in）")
    items = value if listed else [value]
    checked = [_checked_item(where, spec, fact, item, bare, raw, value_column) for item in items]
    return checked if listed else checked[0]


def _checked_item(where: _Where, spec: _Fact, fact: str, item: Any, bare: bool, raw: str, column: int) -> Any:
    if spec.kind in ("text", "list"):
        if isinstance(item, str):
            return item
        if bare and not isinstance(item, list | dict):
            return _bare_text(item, raw)
    elif spec.kind == "number":
        if isinstance(item, int | float) and not isinstance(item, bool):
            if isinstance(item, float) and not math.isfinite(item):
                raise where.fail(column, f"{fact!r} compares with finite numbers, not {item!r}",
                                 f"{fact!r} 只能与有限数字比较，不能是 {item!r}")
            return item
    elif spec.kind == "bool" and isinstance(item, bool):
        return item
    wanted_en, wanted_zh = {"text": ("text", "文本"), "list": ("text (one item)", "文本（单个元素）"),
                            "number": ("a number", "数字"), "bool": ("true or false", "true 或 false")}[spec.kind]
    got_en, got_zh = _type_name(item)
    raise where.fail(column, f"{fact!r} is compared with {wanted_en}; {item!r} is {got_en}",
                     f"{fact!r} 应与 {wanted_zh} 比较；{item!r} 是 {got_zh}")


def _bare_text(item: Any, raw: str) -> str:
    # A text fact written without quotes: `plan_id == 4G_39` failed TOML and is text already; `group_name ==
    # 2024` (or true, or 2024-01-01) parsed as something else, but the analyst meant the text they typed.
    if not raw.startswith("["):
        return raw
    return ("true" if item else "false") if isinstance(item, bool) else str(item)


# ---------------------------------------------------------------------------------------- SQL of conditions


def _whole_ranges(op: str, value: Any, scale: int) -> list[tuple[int | None, int | None]]:
    """The whole-number ranges (None: unbounded) where `fact op value` holds for an integer-valued fact, in
    units of 1/scale of the value (fen for yuan); `!=` and `not_in` give the ranges of == / in, which the
    caller complements. Exact: 19.99 yuan is 1999 fen, not 1998.9999999999998."""
    def exact(v: Any) -> Decimal:
        return Decimal(repr(v)) * scale if isinstance(v, float) else Decimal(v) * scale

    def ceil(v: Decimal) -> int:
        return int(v.to_integral_value(rounding="ROUND_CEILING"))

    def floor(v: Decimal) -> int:
        return int(v.to_integral_value(rounding="ROUND_FLOOR"))

    if op in ("in", "not_in", "==", "!="):
        values = value if op in ("in", "not_in") else [value]
        wholes = sorted({int(v) for v in map(exact, values) if v == v.to_integral_value()})
        return [(w, w) for w in wholes]
    v = exact(value)
    return {">=": [(ceil(v), None)], ">": [(floor(v) + 1, None)],
            "<=": [(None, floor(v))], "<": [(None, ceil(v) - 1)]}[op]


def condition_sql(condition: AudienceCondition, q: _Sql) -> ColumnElement:
    """The SQL of one checked condition: true exactly where Condition.holds() is true for the pop's facts."""
    spec, op, value = FACT_SQL[condition.fact], condition.op, condition.value
    negated = op in ("!=", "not_in")
    if isinstance(spec, _Ranged):
        ranges = _whole_ranges(op, value, spec.scale)
        hit = or_(*(spec.within(q, low, high) for low, high in ranges)) if ranges else false()
        return and_(spec.present(q), ~hit) if negated else hit
    if isinstance(spec, _Float):
        col = spec.column(q)
        if op in ("in", "not_in"):
            items = [literal(float(v), Float) for v in value]
            if not items:
                return col.is_not(None) if negated else false()
            return col.not_in(items) if negated else col.in_(items)
        return {"==": col == literal(float(value), Float), "!=": col != literal(float(value), Float),
                ">": col > literal(float(value), Float), ">=": col >= literal(float(value), Float),
                "<": col < literal(float(value), Float), "<=": col <= literal(float(value), Float)}[op]
    if isinstance(spec, _Text):
        col = spec.column(q)
        if op == "contains":
            return _text_contains(q, col, value)
        items = [literal(v, String) for v in (value if op in ("in", "not_in") else [value])]
        if not items:
            return col.is_not(None) if negated else false()
        if len(items) == 1:
            return col != items[0] if negated else col == items[0]
        return col.not_in(items) if negated else col.in_(items)
    if isinstance(spec, _Bool):
        wanted = value if op in ("in", "not_in") else [value]
        if negated:  # != v: the other value (NULL, an unknown value, never satisfies either)
            wanted = [not v for v in wanted]
            if len(set(wanted)) > 1:
                return false()  # not_in [true, false]
            if not wanted:
                return or_(spec.is_true(q), spec.is_false(q))
        parts = [spec.is_true(q) if v else spec.is_false(q) for v in sorted(set(wanted))]
        return or_(*parts) if parts else false()
    if isinstance(spec, _List):
        return spec.contains(q, value)
    raise AssertionError(f"no SQL for {condition.fact}")  # pragma: no cover - FACT_SQL is closed


# ======================================================================================== campaign


@dataclasses.dataclass(frozen=True)
class Target:
    campaign: CampaignRow
    wave: int | None

    @property
    def campaign_id(self) -> str:
        return self.campaign.campaign_id


def resolve_target(catalog: Catalog, campaign_id: str, wave: int | None) -> Target:
    campaign = catalog.campaigns.get(campaign_id)
    if campaign is None:
        known = sorted(catalog.campaigns)
        mean_en, mean_zh = _did_you_mean(campaign_id, known)
        listed = ", ".join(known) or "none"
        raise AudienceError(f"unknown campaign {campaign_id!r}.{mean_en} Campaigns: {listed} "
                            "(import them with `callcue-server import catalog FILE`)",
                            f"未知的活动 {campaign_id!r}。{mean_zh}现有活动：{listed}"
                            "（用 `callcue-server import catalog FILE` 导入）")
    if wave is not None:
        seqs = [w.seq for w in campaign.waves]
        if wave not in seqs:
            listed = ", ".join(map(str, seqs)) or "none"
            raise AudienceError(f"campaign {campaign_id!r} has no wave {wave} (its waves: {listed})",
                                f"活动 {campaign_id!r} 没有第 {wave} 波（现有波次：{listed}）")
    return Target(campaign, wave)


# ======================================================================================== the statement


@dataclasses.dataclass(frozen=True)
class AudienceQuery:
    """The conditions of an audience as SQL over customers (not retired), with the joins they need."""

    conditions: tuple[AudienceCondition, ...]
    where: ColumnElement
    sql: _Sql

    def source(self, *, scores: bool = False):
        """customers, joined to what the conditions read (and to the operator's scores with `scores`)."""
        needs = self.sql.needs
        joined = CUSTOMERS
        if scores or "scores" in needs:
            joined = joined.outerjoin(SCORES, SCORES.c.customer_id == CUSTOMERS.c.customer_id)
        if "complaints" in needs:
            x = _complaint_aggregate(self.sql.now)
            joined = joined.outerjoin(x, x.c.customer_id == CUSTOMERS.c.customer_id)
        if "calls" in needs:
            k = _calls_aggregate(self.sql.now)
            joined = joined.outerjoin(k, k.c.customer_id == CUSTOMERS.c.customer_id)
        return joined


def build_query(conditions: Sequence[AudienceCondition], dialect: str, now: dt.datetime,
                catalog: Catalog) -> AudienceQuery:
    q = _Sql(dialect, now, catalog)
    parts = [CUSTOMERS.c.retired_at.is_(None), *(condition_sql(c, q) for c in conditions)]
    return AudienceQuery(tuple(conditions), and_(*parts), q)


# ---------------------------------------------------------------------------------------- sensitivity


@dataclasses.dataclass(frozen=True)
class _SensitivitySql:
    """The rules' points of one sensitivity in SQL (signals that can be evaluated there) and what is left:
    the points of the signals only a pop can evaluate, so a level is known exactly or as a range."""

    points: ColumnElement
    points_range: tuple[int, int]  # the least and the most `points` can be
    unknown: tuple[tuple[str, str, int], ...]  # (signal id, fact, points) not evaluated here

    def level_range(self, spec: SensitivitySpec, points: int) -> tuple[int, int]:
        low = points + sum(p for _, _, p in self.unknown if p < 0)
        high = points + sum(p for _, _, p in self.unknown if p > 0)
        return _level(spec, low), _level(spec, high)


def _level(spec: SensitivitySpec, points: int) -> int:
    level = 0  # as rules.assess_sensitivity: the highest threshold reached
    for index, name in enumerate(LEVEL_NAMES[1:], start=1):
        if points >= spec.thresholds[name]:
            level = index
    return level


def _sensitivity_sql(spec: SensitivitySpec, q: _Sql, *, no_complaints: bool = False) -> _SensitivitySql:
    """The rules' points in SQL. `no_complaints`: for customers without a complaint in the lookback, whose
    complaint facts are all 0: those signals are decided here, by the pop's own Condition, once."""
    terms, unknown, constant = [], [], 0
    for signal in spec.signals:
        when = signal.when
        condition = None
        if when.fact in FACT_SQL and when.op in CONDITION_OPS:
            try:
                condition = _checked_rule_condition(when.fact, when.op, when.value)
            except AudienceError:
                condition = None  # e.g. an ordering on text: Python's semantics, not an audience's
        if condition is None:
            unknown.append((signal.id, when.fact, signal.points))
        elif no_complaints and FACT_SQL[when.fact].aggregate == "complaints":
            constant += signal.points if when.holds({when.fact: 0}) else 0
        else:
            terms.append((case((condition_sql(condition, q), signal.points), else_=0), signal.points))
    points: ColumnElement = literal(constant, Integer)
    for term, _ in terms:
        points = points + term
    bounds = (constant + sum(min(p, 0) for _, p in terms), constant + sum(max(p, 0) for _, p in terms))
    return _SensitivitySql(points, bounds, tuple(unknown))


def _uses_complaints(spec: SensitivitySpec) -> bool:
    return any(FACT_SQL.get(s.when.fact) is not None and FACT_SQL[s.when.fact].aggregate == "complaints"
               for s in spec.signals)


def _checked_rule_condition(fact: str, op: str, value: Any) -> AudienceCondition:
    where = _Where(0, f"{fact} {op} {value!r}")
    checked = _checked_value(where, FACT_SQL[fact], fact, op, value, False, repr(value), 1, 1)
    return AudienceCondition(fact, op, checked, where.text)


# ======================================================================================== preview


@dataclasses.dataclass
class Breakdown:
    """One statistic of the matching customers: (key, count) pairs that sum to the audience's count."""

    name: str
    items: list[dict[str, Any]]

    def total(self) -> int:
        return sum(item["count"] for item in self.items)


@dataclasses.dataclass
class AudiencePreview:
    campaign_id: str
    campaign_name: dict[str, str]
    campaign_active: bool
    wave: int | None
    waves: int
    conditions: list[AudienceCondition]
    count: int
    already_members: int
    breakdowns: dict[str, Breakdown]
    notes: list[dict[str, str]]
    elapsed_s: float

    @property
    def new_members(self) -> int:
        return self.count - self.already_members

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": {"campaign_id": self.campaign_id, "name": self.campaign_name,
                         "active": self.campaign_active, "wave": self.wave, "waves": self.waves},
            "conditions": [c.as_dict() for c in self.conditions],
            "count": self.count,
            "already_members": self.already_members,
            "new_members": self.new_members,
            "breakdowns": {name: b.items for name, b in self.breakdowns.items()},
            "notes": self.notes,
            "elapsed_s": self.elapsed_s,
        }


def _do_not_disturb() -> ColumnElement:
    """As the pop has it: the customer's own DND, or a number of theirs under do-not-disturb (an unknown
    caller asked for it). The numbers under DND are few: one small set, looked up per customer."""
    numbers = CustomerNumber.__table__
    held = select(numbers.c.customer_id).where(numbers.c.msisdn.in_(select(DndNumber.__table__.c.msisdn)))
    return or_(CUSTOMERS.c.dnd == true(), CUSTOMERS.c.customer_id.in_(held))


_TIER_ORDER = VALUE_TIERS
_BAND_KEYS = ("lt_20", "20_to_50", "ge_50")


def _band_texts() -> dict[str, dict[str, str]]:
    low, high = (round(100 * b) for b in CHURN_BANDS)
    return {"lt_20": {"en": f"< {low} %", "zh": f"< {low}%"},
            "20_to_50": {"en": f"{low}–{high} %", "zh": f"{low}–{high}%"},
            "ge_50": {"en": f"≥ {high} %", "zh": f"≥ {high}%"}}


@dataclasses.dataclass(frozen=True)
class _Field:
    """One small dimension of the preview, a whole number 0 <= value < size, packed with the others into
    one integer per group (a narrow GROUP BY key is what makes the preview fast on SQLite)."""

    name: str
    size: int
    expr: ColumnElement


def _pack(fields: Sequence[_Field]) -> ColumnElement:
    code: ColumnElement = fields[0].expr
    for f in fields[1:]:
        code = code * literal(f.size, BigInteger) + f.expr
    return code


def _unpack(fields: Sequence[_Field], code: int) -> dict[str, int]:
    values = {}
    for f in reversed(fields):
        code, values[f.name] = divmod(code, f.size)
    return values


def _level_field(name: str, operator_level: ColumnElement, spec_sql: _SensitivitySql,
                 points_range: tuple[int, int]) -> _Field:
    """The operator's level (0..3) where its model scored the customer, else 4 + the rules' points, offset by
    the least sum in `points_range` (which covers every way the points are computed in one preview)."""
    low, high = points_range
    rules = literal(len(LEVEL_NAMES) - low, Integer) + spec_sql.points
    packed = case((operator_level.is_(None), rules),
                  *((operator_level == literal(level, String), index) for index, level in enumerate(LEVEL_NAMES)),
                  else_=rules)
    return _Field(name, len(LEVEL_NAMES) + high - low + 1, packed)


def _span(*specs: _SensitivitySql) -> tuple[int, int]:
    return min(s.points_range[0] for s in specs), max(s.points_range[1] for s in specs)


def _churn_band(churn: ColumnElement) -> ColumnElement:
    return case((churn < CHURN_BANDS[0], 0), (churn < CHURN_BANDS[1], 1), else_=2)


def preview(engine: Engine, rules: Rules, campaign_id: str, wave: int | None, conditions: Sequence[AudienceCondition],
            *, now: dt.datetime | None = None, workers: int | None = None) -> AudiencePreview:
    """Count the customers the conditions select and break them down; writes nothing.

    Every breakdown is a marginal: the matching customers are grouped by value tier, brand, city and one
    integer packing the small statistics (sensitivity, churn band, DND …), and Python sums the marginals.
    - PostgreSQL: one statement; complaints and memberships are hash-joined as per-customer aggregates.
    - SQLite (no hash join, no hash aggregation: a GROUP BY sorts every row, a join probes an index per row):
      several statements that each do little per customer, on `workers` connections at once (default one
      per core, up to 2): the customers in rowid ranges, counted into a temporary table keyed by the group;
      customers are taken to have no recent complaint there, and the few who have one are moved to their
      real levels by a statement driven by the complaints (unless a condition needs complaints: then they
      are joined); members of this campaign and of the other running ones, driven by the member lists.
    """
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        catalog = load_catalog(session)
    target = resolve_target(catalog, campaign_id, wave)
    query = build_query(conditions, engine.dialect.name, now, catalog)
    others = sorted(c for c, row in catalog.campaigns.items() if row.active and c != target.campaign_id)
    sqlite = engine.dialect.name == "sqlite"
    uses_complaints = _uses_complaints(rules.price) or _uses_complaints(rules.complaint)
    # SQLite: customers without a recent complaint (nearly all) have complaint facts 0.
    correct = sqlite and uses_complaints and "complaints" not in query.sql.needs
    price = _sensitivity_sql(rules.price, query.sql, no_complaints=correct)
    complaint = _sensitivity_sql(rules.complaint, query.sql, no_complaints=correct)
    real = _Sql(query.sql.dialect, now, catalog)  # the correction statement's: it joins the complaints
    real_price = _sensitivity_sql(rules.price, real) if correct else price
    real_complaint = _sensitivity_sql(rules.complaint, real) if correct else complaint
    price_span, complaint_span = _span(price, real_price), _span(complaint, real_complaint)
    fields = [
        _Field("brand_null", 2, case((CUSTOMERS.c.brand.is_(None), 1), else_=0)),
        _Field("city_null", 2, case((CUSTOMERS.c.city.is_(None), 1), else_=0)),
        _level_field("price", SCORES.c.price_level, price, price_span),
        _level_field("complaint", SCORES.c.complaint_level, complaint, complaint_span),
        _Field("churn_band", 3, _churn_band(_churn_value())),  # the main statement joins the scores
        _Field("churn_scored", 2, case((SCORES.c.churn_risk.is_(None), 0), else_=1)),
        _Field("dnd", 2, case((_do_not_disturb(), 1), else_=0)),
    ]
    source = query.source(scores=True)
    if not sqlite:
        # 2 = a member of this campaign, 1 = of another running one: joins the planner hashes (and spills to
        # disk if it must), never a subplan, which PostgreSQL hashes only while it fits in work_mem and
        # otherwise searches once per customer.
        mine = MEMBERS.alias("tm")
        source = source.outerjoin(mine, and_(mine.c.campaign_id == literal(target.campaign_id, String),
                                             mine.c.customer_id == CUSTOMERS.c.customer_id))
        membership = case((mine.c.customer_id.is_not(None), 2), else_=0)
        if others:
            other = (select(MEMBERS.c.customer_id)
                     .where(MEMBERS.c.campaign_id.in_([literal(c, String) for c in others]))
                     .group_by(MEMBERS.c.customer_id).subquery("om"))
            source = source.outerjoin(other, other.c.customer_id == CUSTOMERS.c.customer_id)
            membership = membership + case((other.c.customer_id.is_not(None), 1), else_=0)
        fields.append(_Field("membership", 4, membership))
    keys = [CUSTOMERS.c.value_tier.label("tier"), func.coalesce(CUSTOMERS.c.brand, "").label("brand"),
            func.coalesce(CUSTOMERS.c.city, "").label("city"), _pack(fields).label("code")]
    tasks: list[Callable[[], Any]] = []
    if sqlite:
        tasks += [lambda bounds=bounds: _sqlite_groups(engine, keys, source, query.where, bounds)
                  for bounds in _rowid_ranges(engine, workers)]
        if correct:
            codes = [fields[2].expr, _level_field("price", SCORES.c.price_level, real_price, price_span).expr,
                     fields[3].expr,
                     _level_field("complaint", SCORES.c.complaint_level, real_complaint, complaint_span).expr]
            tasks.append(lambda: _rows(engine, _complaint_correction(query, codes, now)))
        # The conditions' own joins only: a lookup per member is most of these statements' work.
        tasks.append(lambda: _rows(engine, _members_matching(query.source(), query.where, [target.campaign_id])))
        tasks.append(lambda: _rows(engine, _members_matching(query.source(), query.where, others)))
    else:
        group = (select(*keys, func.count()).select_from(source).where(query.where)
                 .group_by(*(literal_column(str(i)) for i in range(1, len(keys) + 1))))
        tasks.append(lambda: _rows(engine, group, settings=_PG_SETTINGS))
    parts = min(len(tasks), workers or min(2, os.cpu_count() or 1))
    if parts > 1:
        with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="audience") as pool:
            results = list(pool.map(lambda task: task(), tasks))
    else:
        results = [task() for task in tasks]
    members = in_other = 0
    corrections: list[tuple] = []
    if sqlite:
        in_other = results.pop()[0][0]
        members = results.pop()[0][0]
        if correct:
            corrections = results.pop()
    groups: Counter = Counter()
    for rows in results:
        for tier, brand, city, code, n in rows:
            groups[tier, brand, city, code] += n
    counters: dict[str, Counter] = {name: Counter() for name in (
        "value_tier", "brand", "city", "price", "complaint", "churn_band", "churn_source", "dnd")}
    for (tier, brand, city, code), n in groups.items():
        v = _unpack(fields, code)
        counters["value_tier"][tier] += n
        counters["brand"][None if v["brand_null"] else brand] += n
        counters["city"][None if v["city_null"] else city] += n
        counters["price"][v["price"]] += n
        counters["complaint"][v["complaint"]] += n
        counters["churn_band"][v["churn_band"]] += n
        counters["churn_source"][v["churn_scored"]] += n
        counters["dnd"][v["dnd"]] += n
        if "membership" in v:
            members += n if v["membership"] & 2 else 0
            in_other += n if v["membership"] & 1 else 0
    for price_zero, price_real, complaint_zero, complaint_real, n in corrections:
        counters["price"][price_zero] -= n
        counters["price"][price_real] += n
        counters["complaint"][complaint_zero] -= n
        counters["complaint"][complaint_real] += n
    return _summarise(rules, target, list(conditions), counters, (price, price_span), (complaint, complaint_span),
                      members, in_other, round(time.perf_counter() - started, 3))


# A preview reads a million rows once. JIT compilation costs more than it saves (measured: 1.4 -> 0.8 s for
# 100,000 matching customers). The planner cannot estimate the groups of the packed code (it assumes one per
# row) and sorts a million rows to aggregate them (~1 s): the few thousand groups are hashed instead, in memory.
_PG_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'", "SET LOCAL enable_sort = off")


def _in_members(campaign_ids: Sequence[str]) -> ColumnElement:
    """SQLite only: its IN (subquery) is driven by the list or an ephemeral index of any size. (PostgreSQL
    hashes such a subplan only while it fits in work_mem, else searches the list once per customer.)"""
    if not campaign_ids:
        return false()
    m = MEMBERS.c
    return CUSTOMERS.c.customer_id.in_(
        select(m.customer_id).where(m.campaign_id.in_([literal(c, String) for c in campaign_ids])))


def _rows(engine: Engine, statement, settings: Sequence[str] = ()) -> list[tuple]:
    with engine.connect() as conn:
        for setting in settings:
            conn.exec_driver_sql(setting)
        rows = [tuple(row) for row in conn.execute(statement)]
        conn.rollback()
        return rows


def _members_matching(source, where: ColumnElement, campaign_ids: Sequence[str]):
    """How many matching customers are members of any of these campaigns (SQLite drives it by the member
    lists: a lookup per member instead of a probe per customer)."""
    if not campaign_ids:
        return select(literal(0, Integer))
    return select(func.count()).select_from(source).where(where, _in_members(campaign_ids))


def _complaint_correction(query: AudienceQuery, codes: Sequence[ColumnElement], now: dt.datetime):
    """For the matching customers with a complaint in the lookback: their sensitivity codes as the first
    statement counted them (complaint facts 0) and as they are (`codes`: price as counted, price, complaint
    as counted, complaint), to move them from one to the other. Driven by the complaints: few customers."""
    x = _complaint_aggregate(now)
    joined = (x.join(CUSTOMERS, CUSTOMERS.c.customer_id == x.c.customer_id)
              .outerjoin(SCORES, SCORES.c.customer_id == CUSTOMERS.c.customer_id))
    if "calls" in query.sql.needs:
        k = _calls_aggregate(now)
        joined = joined.outerjoin(k, k.c.customer_id == CUSTOMERS.c.customer_id)
    return (select(*codes, func.count()).select_from(joined).where(query.where)
            .group_by(*(literal_column(str(i)) for i in range(1, len(codes) + 1))))


def _rowid_ranges(engine: Engine, workers: int | None) -> list[tuple[int, int]]:
    rowid = literal_column("customers.rowid", Integer)
    with engine.connect() as conn:
        low, high = conn.execute(select(func.min(rowid), func.max(rowid)).select_from(CUSTOMERS)).one()
    if low is None:
        return []
    parts = workers or min(2, os.cpu_count() or 1)
    if high - low < _PARALLEL_MIN_ROWS:
        parts = 1
    step = (high - low) // parts + 1
    return [(low + i * step, min(high, low + (i + 1) * step - 1)) for i in range(parts)]


_AGGREGATE = Table(
    "callcue_audience_groups", MetaData(),
    Column("tier", String), Column("brand", String), Column("city", String), Column("code", BigInteger),
    Column("n", BigInteger), PrimaryKeyConstraint("tier", "brand", "city", "code"), prefixes=["TEMPORARY"],
)
_PARALLEL_MIN_ROWS = 50_000  # below this, one scan is quicker than starting a second


def _sqlite_groups(engine: Engine, keys: Sequence[ColumnElement], source, where: ColumnElement,
                   bounds: tuple[int, int]) -> list[tuple]:
    """SQLite has no hash aggregation: GROUP BY sorts every matching row. Counting into a small temporary
    table keyed by the group (an upsert per row) costs about half; each rowid range of the customers is
    counted on its own connection (the sqlite3 module lets go of the GIL while SQLite works)."""
    rowid = literal_column("customers.rowid", Integer)
    count = (insert_sqlite(_AGGREGATE)
             .from_select(["tier", "brand", "city", "code", "n"], select(*keys, literal(1, BigInteger))
                          .select_from(source).where(where, rowid.between(bounds[0], bounds[1]))))
    count = count.on_conflict_do_update(index_elements=["tier", "brand", "city", "code"],
                                        set_={"n": _AGGREGATE.c.n + 1})
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.callcue_audience_groups")
        _AGGREGATE.create(conn)
        try:
            conn.execute(count)
            return [tuple(row) for row in conn.execute(select(_AGGREGATE))]
        finally:
            conn.rollback()
            conn.exec_driver_sql("DROP TABLE IF EXISTS temp.callcue_audience_groups")


def _summarise(rules: Rules, target: Target, conditions: list[AudienceCondition], counters: dict[str, Counter],
               price: tuple[_SensitivitySql, tuple[int, int]], complaint: tuple[_SensitivitySql, tuple[int, int]],
               members: int, in_other: int, elapsed: float) -> AudiencePreview:
    total = sum(counters["value_tier"].values())
    names = rules.display_names.get("value_tier", {})

    def levels(spec: SensitivitySpec, sql: tuple[_SensitivitySql, tuple[int, int]], counter: Counter) -> list:
        keys: Counter = Counter()
        for packed, n in counter.items():
            if n:
                keys[_level_key(spec, sql[0], sql[1][0], packed)] += n
        return _levels(keys)

    breakdowns = {
        "value_tier": Breakdown("value_tier", [
            {"value": key, "name": _display(names, key), "count": n}
            for key, n in sorted(counters["value_tier"].items(), key=lambda kv: _tier_order(kv[0]))]),
        "brand": Breakdown("brand", _by_count(counters["brand"])),
        "city": Breakdown("city", _by_count(counters["city"])),
        "price_sensitivity": Breakdown("price_sensitivity", levels(rules.price, price, counters["price"])),
        "complaint_sensitivity": Breakdown("complaint_sensitivity",
                                           levels(rules.complaint, complaint, counters["complaint"])),
        "churn_band": Breakdown("churn_band", [
            {"band": key, "name": _band_texts()[key], "count": counters["churn_band"][i]}
            for i, key in enumerate(_BAND_KEYS)]),
        "churn_source": Breakdown("churn_source", [
            {"source": "operator_model", "count": counters["churn_source"][1]},
            {"source": "customer_feed", "count": counters["churn_source"][0]}]),
        "in_other_campaign": _yes_no("in_other_campaign", in_other, total),
        "dnd": _yes_no("dnd", counters["dnd"][1], total),
        "member_of_campaign": _yes_no("member_of_campaign", members, total),
    }
    notes = []
    for kind, (spec_sql, _) in (("price", price), ("complaint", complaint)):
        if spec_sql.unknown:
            signals = ", ".join(f"{signal} ({fact}, {points:+d})" for signal, fact, points in spec_sql.unknown)
            notes.append({
                "code": f"{kind}_signals_not_evaluated",
                "en": f"{kind} sensitivity by the rules: {signals} can only be evaluated at pop time, so a level "
                      "is shown as the range with and without them (customers the operator's model scored show "
                      "its level)",
                "zh": f"{'话费' if kind == 'price' else '投诉'}敏感度（规则推导）：{signals} 只能在弹屏时求值，"
                      "因此等级显示为计入与不计入这些信号的范围（运营商模型已评分的客户显示模型等级）",
            })
    if not target.campaign.active:
        notes.append({"code": "campaign_inactive",
                      "en": f"campaign {target.campaign_id} is switched off or retired: apply refuses it",
                      "zh": f"活动 {target.campaign_id} 已停用或退役：apply 不会写入"})
    return AudiencePreview(
        campaign_id=target.campaign_id,
        campaign_name={"zh": target.campaign.name.zh, "en": target.campaign.name.en},
        campaign_active=target.campaign.active,
        wave=target.wave, waves=len(target.campaign.waves), conditions=conditions, count=total,
        already_members=members, breakdowns=breakdowns, notes=notes, elapsed_s=elapsed)


def _yes_no(name: str, yes: int, total: int) -> Breakdown:
    return Breakdown(name, [{"value": True, "count": yes}, {"value": False, "count": total - yes}])


def _tier_order(tier: str | None) -> tuple[int, str]:
    return (_TIER_ORDER.index(tier) if tier in _TIER_ORDER else len(_TIER_ORDER), tier or "")


def _display(names: Mapping[str, Any], value: Any) -> dict[str, str] | None:
    text = names.get(str(value)) if value is not None else None
    return {"zh": text.zh, "en": text.en} if text is not None else None


def _by_count(counter: Counter) -> list[dict[str, Any]]:
    return [{"value": key, "count": n}
            for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))]


def _level_key(spec: SensitivitySpec, spec_sql: _SensitivitySql, least: int, packed: int) -> tuple[str, str, str]:
    """(source, least level, greatest level) of a packed sensitivity (see _level_field)."""
    if packed < len(LEVEL_NAMES):
        level = LEVEL_NAMES[packed]
        return ("operator_model", level, level)
    low, high = spec_sql.level_range(spec, packed - len(LEVEL_NAMES) + least)
    return ("rules", LEVEL_NAMES[low], LEVEL_NAMES[high])


def _levels(counter: Counter) -> list[dict[str, Any]]:
    def order(key: tuple[str, str, str]) -> tuple:
        source, low, high = key
        return (source != "operator_model", LEVEL_NAMES.index(low), LEVEL_NAMES.index(high))

    return [{"source": source, "level": low if low == high else None, "min_level": low, "max_level": high,
             "count": n} for (source, low, high), n in sorted(counter.items(), key=lambda kv: order(kv[0]))]


# ======================================================================================== apply


@dataclasses.dataclass
class AudienceApplied:
    campaign_id: str
    wave: int | None
    priority: int
    reason: str | None
    conditions: list[AudienceCondition]
    matched: int
    added: int
    already_members: int  # left as they are
    already_members_differing: int  # of those, how many have another wave, priority or reason
    added_at: dt.datetime
    elapsed_s: float

    @property
    def changed(self) -> bool:
        return self.added > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id, "wave": self.wave, "priority": self.priority, "reason": self.reason,
            "source": SOURCE, "conditions": [c.as_dict() for c in self.conditions], "matched": self.matched,
            "added": self.added, "already_members": self.already_members,
            "already_members_differing": self.already_members_differing,
            "existing_members": "left_unchanged", "changed": self.changed, "added_at": self.added_at.isoformat(),
            "elapsed_s": self.elapsed_s,
        }


def apply(engine: Engine, campaign_id: str, wave: int | None, conditions: Sequence[AudienceCondition], *,
          priority: int = 0, reason: str | None = None, now: dt.datetime | None = None) -> AudienceApplied:
    """Make every matching customer a member of the campaign, in one transaction. Customers that already are
    members are counted and left as they are; the same audience applied again adds nothing."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    if reason is not None and len(reason) > REASON_MAX:
        raise AudienceError(f"--reason is {len(reason)} characters; at most {REASON_MAX} are kept for the agent",
                            f"--reason 共 {len(reason)} 个字符；最多 {REASON_MAX} 个")
    if not -(2**31) <= priority < 2**31:
        raise AudienceError(f"--priority {priority} is out of range (a 32-bit whole number)",
                            f"--priority {priority} 超出范围（32 位整数）")
    with Session(engine) as session:
        catalog = load_catalog(session)
    target = resolve_target(catalog, campaign_id, wave)
    if not target.campaign.active:
        raise AudienceError(f"campaign {campaign_id!r} is switched off or retired: no members are added to it",
                            f"活动 {campaign_id!r} 已停用或退役：不会向其添加成员")
    query = build_query(conditions, engine.dialect.name, now, catalog)
    m = MEMBERS.c
    in_campaign = m.campaign_id == literal(campaign_id, String)
    # The customer's membership of this campaign, if any: one row at most (the key is campaign, customer).
    mine = MEMBERS.alias("tm")
    counted = query.source().outerjoin(mine, and_(mine.c.campaign_id == literal(campaign_id, String),
                                                  mine.c.customer_id == CUSTOMERS.c.customer_id))
    is_member = mine.c.customer_id.is_not(None)
    differs = and_(is_member, or_(mine.c.wave.is_distinct_from(literal(wave, Integer)),
                                  mine.c.priority.is_distinct_from(literal(priority, Integer)),
                                  mine.c.reason.is_distinct_from(literal(reason, String))))
    counts = (select(func.count(), func.count().filter(is_member), func.count().filter(differs))
              .select_from(counted).where(query.where))
    rows = (select(literal(campaign_id, String), CUSTOMERS.c.customer_id, literal(wave, Integer),
                   literal(priority, Integer), literal(reason, String), literal(SOURCE, String),
                   literal(now, MEMBERS.c.added_at.type))
            .select_from(query.source())
            .where(query.where, ~exists(select(1).where(in_campaign, m.customer_id == CUSTOMERS.c.customer_id))))
    add = insert(MEMBERS).from_select(
        ["campaign_id", "customer_id", "wave", "priority", "reason", "source", "added_at"], rows)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # counts and insert see one state: no writer in between
        else:
            conn.exec_driver_sql(_PG_SETTINGS[0])  # no JIT (see _PG_SETTINGS)
            # The members feed's lock (server_stub/feeds/writer.py): a feed and an apply adding the same
            # customers run one after the other instead of one failing on the other's insert.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('callcue.feed.campaign_members'))")
        try:
            matched, members, differing = conn.execute(counts).one()
            added = (conn.execute(add, execution_options={"preserve_rowcount": True}).rowcount
                     if matched > members else 0)
            if added != matched - members:  # pragma: no cover - one snapshot: impossible
                raise AudienceError(f"added {added} members where {matched - members} were expected; nothing "
                                    "was written", f"新增 {added} 个成员，预期 {matched - members}；未写入任何数据")
            conn.commit()
        except DBAPIError as exc:
            # A concurrent members feed or apply inserted one of these customers first (PostgreSQL: the
            # snapshot is stale), or SQLite stayed locked past its busy timeout.
            conn.rollback()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
            raise AudienceError(
                f"nothing was written: the database refused the change ({reason}); another import or apply "
                "may be running at the same time: run it again",
                f"未写入任何数据：数据库拒绝了此次修改（{reason}）；可能有其他导入或 apply 同时在运行，请重新执行",
            ) from None
        except BaseException:
            conn.rollback()
            raise
    return AudienceApplied(campaign_id, wave, priority, reason, list(conditions), matched, added, members,
                           differing, now, round(time.perf_counter() - started, 3))


# ======================================================================================== text output


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "—"


def render_preview(result: AudiencePreview, lang: str = "en") -> str:
    zh = lang.lower().startswith("zh")
    t = result.count
    name = result.campaign_name["zh" if zh else "en"]

    def items(pairs: Iterable[tuple[str, int]]) -> str:
        return " · ".join(f"{label} {n:,} ({_pct(n, t)})" for label, n in pairs) or "—"

    def yes_no(key: str) -> int:
        return next(i["count"] for i in result.breakdowns[key].items if i["value"] is True)

    none_en, none_zh = "(none)", "（空）"
    wave = (f"第 {result.wave}/{result.waves} 波" if zh else f"wave {result.wave} of {result.waves}") \
        if result.wave is not None else ("所有波次" if zh else "every wave")
    conditions = "; ".join(c.text for c in result.conditions) or ("（无条件：全部客户）" if zh else "(none: every customer)")
    tiers = items(((i["name"] or {}).get("zh" if zh else "en") or str(i["value"]), i["count"])
                  for i in result.breakdowns["value_tier"].items)
    brands = items((i["value"] if i["value"] is not None else (none_zh if zh else none_en), i["count"])
                   for i in result.breakdowns["brand"].items)
    cities_all = result.breakdowns["city"].items
    shown, rest = cities_all[:CITIES_SHOWN], cities_all[CITIES_SHOWN:]
    city_pairs = [(i["value"] if i["value"] is not None else (none_zh if zh else none_en), i["count"]) for i in shown]
    if rest:
        label = f"其他 {len(rest)} 个城市" if zh else f"{len(rest)} other cities"
        city_pairs.append((label, sum(i["count"] for i in rest)))
    level_zh = {"none": "无", "low": "低", "medium": "中", "high": "高"}

    def level_label(item: dict[str, Any]) -> str:
        def one(level: str) -> str:
            return level_zh[level] if zh else level
        text = one(item["min_level"]) if item["level"] else f"{one(item['min_level'])}–{one(item['max_level'])}"
        source = ("模型" if zh else "model") if item["source"] == "operator_model" else ("规则" if zh else "rules")
        return f"{text} [{source}]"

    bands = _band_texts()
    churn = items((bands[i["band"]]["zh" if zh else "en"], i["count"]) for i in result.breakdowns["churn_band"].items)
    scored = next(i["count"] for i in result.breakdowns["churn_source"].items if i["source"] == "operator_model")
    if zh:
        lines = [
            f"活动 {result.campaign_id}（{name}），{wave}",
            f"条件：{conditions}",
            f"匹配客户：{t:,}（不含已退役客户）",
            f"  已是本活动成员：{result.already_members:,}；apply 将新增 {result.new_members:,}",
            f"价值等级：{tiers}",
            f"品牌：{brands}",
            f"城市：{items(city_pairs)}",
            f"话费敏感：{items((level_label(i), i['count']) for i in result.breakdowns['price_sensitivity'].items)}",
            f"投诉敏感：{items((level_label(i), i['count']) for i in result.breakdowns['complaint_sensitivity'].items)}",
            f"流失风险：{churn}（运营商模型评分 {scored:,}）",
            f"已在其他进行中的活动：{yes_no('in_other_campaign'):,}（{_pct(yes_no('in_other_campaign'), t)}）",
            f"免打扰：{yes_no('dnd'):,}（{_pct(yes_no('dnd'), t)}）",
        ]
    else:
        lines = [
            f"Campaign {result.campaign_id} ({name}), {wave}",
            f"Conditions: {conditions}",
            f"Matching customers: {t:,} (retired customers never count)",
            f"  already members of this campaign: {result.already_members:,}; apply would add "
            f"{result.new_members:,}",
            f"Value tier: {tiers}",
            f"Brand: {brands}",
            f"City: {items(city_pairs)}",
            f"Price sensitivity: {items((level_label(i), i['count']) for i in result.breakdowns['price_sensitivity'].items)}",
            f"Complaint sensitivity: "
            f"{items((level_label(i), i['count']) for i in result.breakdowns['complaint_sensitivity'].items)}",
            f"Churn risk: {churn} (scored by the operator's model: {scored:,})",
            f"Already in another running campaign: {yes_no('in_other_campaign'):,} "
            f"({_pct(yes_no('in_other_campaign'), t)})",
            f"Do not disturb: {yes_no('dnd'):,} ({_pct(yes_no('dnd'), t)})",
        ]
    lines += [f"note: {n['zh' if zh else 'en']}" if not zh else f"注：{n['zh']}" for n in result.notes]
    lines.append(f"（用时 {result.elapsed_s:.2f} 秒）" if zh else f"(computed in {result.elapsed_s:.2f} s)")
    return "\n".join(lines)


def render_applied(result: AudienceApplied, lang: str = "en") -> str:
    zh = lang.lower().startswith("zh")
    wave = (f"第 {result.wave} 波" if zh else f"wave {result.wave}") if result.wave is not None else (
        "所有波次" if zh else "every wave")
    if zh:
        if not result.changed:
            head = (f"无任何变化：匹配的 {result.matched:,} 个客户均已是活动 {result.campaign_id} 的成员"
                    if result.matched else f"无任何变化：没有匹配的客户（活动 {result.campaign_id}）")
        else:
            head = (f"活动 {result.campaign_id}（{wave}）：匹配 {result.matched:,} 个客户，新增成员 {result.added:,}"
                    f"（来源 audience，优先级 {result.priority}"
                    + (f"，原因「{result.reason}」" if result.reason else "") + "）")
        tail = (f"；已是成员 {result.already_members:,} 个，保持不变（保留其原有波次、优先级和原因"
                + (f"，其中 {result.already_members_differing:,} 个与本次设置不同" if result.already_members_differing
                   else "") + "）") if result.already_members else ""
        return f"{head}{tail}（用时 {result.elapsed_s:.2f} 秒）"
    if not result.changed:
        head = (f"nothing changed: all {result.matched:,} matching customers already are members of "
                f"{result.campaign_id}" if result.matched
                else f"nothing changed: no customer matches (campaign {result.campaign_id})")
    else:
        head = (f"campaign {result.campaign_id} ({wave}): {result.matched:,} customers match; added "
                f"{result.added:,} members (source audience, priority {result.priority}"
                + (f", reason {result.reason!r}" if result.reason else "") + ")")
    tail = (f"; {result.already_members:,} already were members and were left as they are (their wave, priority "
            "and reason kept" + (f"; {result.already_members_differing:,} of them differ from this audience's"
                                 if result.already_members_differing else "") + ")") if result.already_members else ""
    return f"{head}{tail} ({result.elapsed_s:.2f} s)"


__all__ = [
    "FACT_SQL",
    "NOT_IN_SQL",
    "AudienceApplied",
    "AudienceCondition",
    "AudienceError",
    "AudiencePreview",
    "apply",
    "audience_facts_text",
    "build_query",
    "parse_condition",
    "preview",
    "render_applied",
    "render_preview",
]

