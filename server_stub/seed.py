"""Deterministic sample data for the reference analytics server (`callcue-server seed`).

The data looks like a Chinese mobile carrier's: Chinese names, unique 11-digit numbers on real prefixes,
plans and bills in fen, three months of usage, complaints, campaigns with waves, contact history and a
bilingual offer catalog (resources/catalog/catalog.toml). Everything dated is relative to `today`, so a
fresh seed always has a running wave of every campaign.

The generator is one more producer of the catalog feed: resources/catalog/catalog.toml is a catalog feed
file (format 1) and is written through server_stub.feeds.catalog, exactly as `import catalog` writes an
operator's; its [generator] section (plans, tariff, each campaign's audience) is read here only.

Determinism: customer i is generated from a `Random(f"{seed}:{block}")` stream where block = i // 1000,
so the same seed and count give identical rows whatever the write batch size or backend, and a larger
count only appends customers. Phone numbers come from a keyed bijection of the customer index, so they
are unique without a lookup set.

The generator is one more producer of the row feeds too: the per-customer tables are written through
the feed writer (server_stub.feeds.writer.TableWriter), kind by kind, exactly as `import customers`,
`import numbers`, `import usage`, `import complaints`, `import members` and `import contacts` write an
operator's files: the same staging, reference checks and merge. Columns the kinds' CSV mappings do not
offer (dnd, dnd_since, the attributes JSON, the generator's own ids and times) are written all the same,
as columns of the kind's table. How each row was produced is marked where the schema has a place for it:
members carry source 'seed', complaints and contacts an external_id 'seed-N'.

Speed: rows are handed to the writer as the values it stages (timestamps as the text each backend stores
or parses, JSON as the feeds' own text), one batch of customers at a time; the writer commits each table
of a batch (customers first, so the other kinds' reference checks find them).
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from random import Random
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy import table as sql_table

from server_stub.domain.vocabulary import AUTOPAY_METHODS
from server_stub.feeds.catalog import (
    GENERATOR_KEY,
    CatalogDocument,
    apply_catalog_document,
    read_catalog,
    write_transaction,
)
from server_stub.feeds.cells import json_text
from server_stub.feeds.report import FeedFailure
from server_stub.feeds.writer import TableWriter, import_connection
from server_stub.paths import resources_dir

# The server's vocabulary (channels, categories, tiers …) lives in server_stub.domain.vocabulary.
# Audiences (who a sample campaign's members are) are the generator's own.
AUDIENCES = ("upgrade_candidates", "travellers", "manual_payers")

# One carrier's real 11-digit mobile prefixes (13x/15x/18x/19x).
MOBILE_PREFIXES = (
    "134", "135", "136", "137", "138", "139", "150", "151", "152", "157",
    "158", "159", "182", "183", "184", "187", "188", "195", "197", "198",
)  # fmt: skip
CUSTOMER_ID_DIGITS = 8
MAX_CUSTOMERS = 10**CUSTOMER_ID_DIGITS - 1

# The tables this module fills, parents first; `replace=True` empties them children first. Agents, tokens,
# decisions, outcomes, offer statistics and feed runs are not sample data and are left alone.
CATALOG_TABLES = ("offers", "campaigns", "campaign_offers", "waves", "contact_caps", "customer_caps")
CUSTOMER_TABLES = (
    "customers",
    "customer_numbers",
    "usage_monthly",
    "complaints",
    "campaign_members",
    "contact_history",
)
SEEDED_TABLES = CATALOG_TABLES + CUSTOMER_TABLES
# Per-customer tables other feeds fill: not generated (yet), but emptied with the customers they belong to.
_ALSO_CLEARED = ("bills", "subscriptions", "customer_scores")

# Customers per Random stream. Part of the data definition: changing it changes every seeded data set.
RANDOM_BLOCK_SIZE = 1000
# Customers per write transaction; any value gives the same data.
WRITE_BATCH_SIZE = 20_000

# Each per-customer table: the feed kind that writes it and the columns of the generator's row tuples (in
# their order). The kinds' keys are columns here: complaints and contacts get an external_id
# (SEED_EXTERNAL_ID_PREFIX + their id), which also says the generator produced them.
_FEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "customers": ("customers", (
        "customer_id", "name", "gender", "birth_year", "city", "plan_id", "plan_name", "monthly_fee_fen",
        "total_charges_fen", "tenure_months", "contract", "payment_method", "value_tier", "credit_score",
        "points", "segments", "churn_risk", "late_payments_6m", "bill_inquiries_3m", "downgrades_12m",
        "preferred_channel", "dnd", "dnd_since", "attributes", "handset", "updated_at",
    )),
    "customer_numbers": ("numbers", ("msisdn", "customer_id", "is_primary")),
    "usage_monthly": ("usage", (
        "customer_id", "month", "data_mb", "voice_min", "sms", "mms", "ringback_active", "ringback_fee_fen",
        "roaming_data_mb", "roaming_voice_min", "bill_fen",
    )),
    "complaints": ("complaints", (
        "external_id", "complaint_id", "customer_id", "opened_at", "category", "status", "severity",
        "summary_zh", "summary_en",
    )),
    "campaign_members": ("members", ("campaign_id", "customer_id", "source", "added_at")),
    "contact_history": ("contacts", (
        "external_id", "contact_id", "customer_id", "campaign_id", "wave", "channel", "offer_id", "result",
        "contacted_at", "agent_id", "purpose",
    )),
}  # fmt: skip
SEED_EXTERNAL_ID_PREFIX = "seed-"
MEMBER_SOURCE = "seed"  # campaign_members.source of the generator's members (feeds: members, audience)


class SeedError(RuntimeError):
    """Seeding cannot go ahead; the message says why and what to do."""


class DatabaseNotEmptyError(SeedError):
    pass


class SeedArgumentError(SeedError, ValueError):
    pass


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the entry."""


@dataclass(frozen=True)
class SeedSummary:
    """Rows written per table (field names are the table names) and how long it took."""

    offers: int
    campaigns: int
    campaign_offers: int
    waves: int
    contact_caps: int
    customer_caps: int
    customers: int
    customer_numbers: int
    usage_monthly: int
    complaints: int
    campaign_members: int
    contact_history: int
    elapsed_seconds: float
    seed: int
    today: dt.date

    def table_counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in SEEDED_TABLES}


# --------------------------------------------------------------------------------------------------------
# Catalog (resources/catalog/catalog.toml)
# --------------------------------------------------------------------------------------------------------


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


@dataclass(frozen=True)
class Plan:
    id: str
    name_zh: str
    name_en: str
    monthly_fee_fen: int
    data_gb: int
    voice_min: int


@dataclass(frozen=True)
class Tariff:
    data_overage_fen_per_gb: int
    voice_overage_fen_per_min: int
    sms_fen: int
    mms_fen: int
    roaming_day_pass_fen: int
    roaming_day_pass_mb: int
    roaming_voice_fen_per_min: int
    ringback_fee_fen: int

    def bill_fen(
        self,
        plan: Plan,
        *,
        data_mb: int,
        voice_min: int,
        sms: int,
        mms: int,
        ringback_active: bool,
        roaming_data_mb: int,
        roaming_voice_min: int,
    ) -> int:
        """A month's bill: the plan fee plus pay-as-you-go for whatever the plan does not include."""
        overage_gb = _ceil_div(max(0, data_mb - plan.data_gb * 1024), 1024)  # started GBs are charged
        roaming_days = _ceil_div(roaming_data_mb, self.roaming_day_pass_mb)
        return (
            plan.monthly_fee_fen
            + overage_gb * self.data_overage_fen_per_gb
            + max(0, voice_min - plan.voice_min) * self.voice_overage_fen_per_min
            + sms * self.sms_fen
            + mms * self.mms_fen
            + (self.ringback_fee_fen if ringback_active else 0)
            + roaming_days * self.roaming_day_pass_fen
            + roaming_voice_min * self.roaming_voice_fen_per_min
        )


@dataclass(frozen=True)
class OfferSpec:
    id: str
    category: str
    title_zh: str
    title_en: str
    script_zh: str
    script_en: str
    monthly_fee_delta_fen: int
    base_score: float
    created_days_ago: int


@dataclass(frozen=True)
class WaveSpec:
    seq: int
    channel: str
    starts_day: int  # relative to the seeding day
    ends_day: int  # inclusive


@dataclass(frozen=True)
class CapSpec:
    channel: str
    max_contacts: int
    period_days: int


@dataclass(frozen=True)
class CampaignSpec:
    id: str
    name_zh: str
    name_en: str
    inbound_may_serve_any_wave: bool
    offers: tuple[str, ...]
    audience: str
    audience_share: float
    waves: tuple[WaveSpec, ...]
    caps: tuple[CapSpec, ...]

    def wave_on(self, day: int) -> WaveSpec | None:
        """The wave running `day` days from the seeding day, if any."""
        return next((w for w in self.waves if w.starts_day <= day <= w.ends_day), None)

    def cap_for(self, channel: str) -> CapSpec | None:
        return next((c for c in self.caps if c.channel == channel), None)


@dataclass(frozen=True)
class Catalog:
    """The sample catalog as the generator sees it (days relative to `document.today`), and the feed
    document that writes it."""

    plans: tuple[Plan, ...]
    tariff: Tariff
    offers: tuple[OfferSpec, ...]
    campaigns: tuple[CampaignSpec, ...]
    document: CatalogDocument

    def plan(self, plan_id: str) -> Plan:
        return next(p for p in self.plans if p.id == plan_id)


def default_catalog_path() -> Path:
    return resources_dir() / "catalog" / "catalog.toml"


def load_catalog(path: Path | None = None, *, today: dt.date | None = None) -> Catalog:
    """Read and validate the sample catalog: the catalog feed's own checks (every problem located), then
    the generator's ([generator] plans and tariff, each campaign's audience)."""
    path = path or default_catalog_path()
    today = today or dt.date.today()
    try:
        document = read_catalog(path, today=today)
    except FeedFailure as exc:
        raise CatalogError(exc.en) from exc
    generator = document.data.get(GENERATOR_KEY, {})
    where = "generator.plans"
    try:
        plans = tuple(Plan(**entry) for entry in generator["plans"])
        where = "generator.tariff"
        tariff = Tariff(**generator["tariff"])
        offers = tuple(
            OfferSpec(o.offer_id, o.category, o.title_zh, o.title_en, o.script_zh, o.script_en,
                      o.monthly_fee_delta_fen, o.base_score,
                      (today - o.launched_on).days if o.launched_on else 0)
            for o in document.offers if not o.retire
        )  # fmt: skip
        campaigns = []
        for entry in document.campaigns:
            if entry.retire:
                continue
            where = f"{entry.path}.generator (campaign {entry.campaign_id})"
            raw = document.data["campaigns"][int(entry.path.split("[")[1].rstrip("]"))][GENERATOR_KEY]
            campaigns.append(
                CampaignSpec(
                    entry.campaign_id, entry.name_zh, entry.name_en, entry.inbound_may_serve_any_wave,
                    entry.offer_ids, raw["audience"], raw["audience_share"],
                    tuple(WaveSpec(w.seq, w.channel, (w.starts_on - today).days, (w.ends_on - today).days)
                          for w in entry.waves),
                    tuple(CapSpec(c.channel, c.max_contacts, c.period_days) for c in entry.caps),
                )
            )
    except (KeyError, TypeError) as exc:
        raise CatalogError(f"{path}: {where} is missing or malformed ({exc!r})") from exc
    catalog = Catalog(plans, tariff, offers, tuple(campaigns), document)
    _check_catalog(catalog, path)
    return catalog


def _check_catalog(catalog: Catalog, path: Path) -> None:
    """What only the generator needs (the feed checked ids, categories, channels and waves)."""
    problems = []
    plan_ids = [p.id for p in catalog.plans]
    if len(set(plan_ids)) != len(plan_ids):
        problems.append("plan ids repeat")
    wanted_plans = {plan_id for table in _PLANS_BY_LIFE_STAGE.values() for plan_id in table}
    problems += [
        f"plan {p!r} is missing (the generator puts customers on it)"
        for p in sorted(wanted_plans - set(plan_ids))
    ]
    for campaign in catalog.campaigns:
        name = f"campaign {campaign.id}"
        if campaign.audience not in AUDIENCES:
            problems.append(f"{name}: audience {campaign.audience!r} is not one of {AUDIENCES}")
        if not 0 < campaign.audience_share <= 1:
            problems.append(f"{name}: audience_share must be within 0..1")
    if problems:
        raise CatalogError(f"{path}: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------------------
# Phone numbers: a keyed bijection of [0, 20 prefixes × 10^8), so numbers are unique by construction
# --------------------------------------------------------------------------------------------------------

_NUMBER_LOW = 10_000
_NUMBER_HIGH = len(MOBILE_PREFIXES) * 10**8 // _NUMBER_LOW


class _NumberPermutation:
    """Feistel-style rounds that add a keyed hash of one half to the other: each step is invertible, so
    the whole map is a bijection and distinct indexes can never share a number."""

    def __init__(self, seed: int) -> None:
        rng = Random(f"{seed}:numbers")
        self._keys = tuple(int(rng.random() * 2**31) for _ in range(6))

    def __call__(self, index: int) -> str:
        high, low = divmod(index, _NUMBER_LOW)
        for key in self._keys:
            low = (low + ((high * 2654435761 + key) >> 11)) % _NUMBER_LOW
            high = (high + ((low * 2246822519 + key) >> 9)) % _NUMBER_HIGH
        prefix, subscriber = divmod(high * _NUMBER_LOW + low, 10**8)
        return f"{MOBILE_PREFIXES[prefix]}{subscriber:08d}"


# --------------------------------------------------------------------------------------------------------
# Sample vocabularies
# --------------------------------------------------------------------------------------------------------

T = TypeVar("T")


def _lookup_table(weighted: Sequence[tuple[T, float]], size: int = 1000) -> tuple[T, ...]:
    """Expand weights into a table, so a weighted pick is one random() and an index (choices() is ~10×
    slower, and this only uses random(), whose sequence Python keeps stable across versions)."""
    total = sum(weight for _, weight in weighted)
    table: list[T] = []
    cumulative = 0.0
    for value, weight in weighted:
        cumulative += weight
        table.extend([value] * (round(cumulative / total * size) - len(table)))
    return tuple(table)


# Surname frequencies (percent of the population, rounded) for the most common Chinese surnames.
_SURNAMES = _lookup_table(
    [
        ("王", 7.1), ("李", 7.0), ("张", 6.6), ("刘", 5.4), ("陈", 4.5), ("杨", 3.1), ("黄", 2.2), ("赵", 2.0),
        ("吴", 2.0), ("周", 1.9), ("徐", 1.5), ("孙", 1.5), ("马", 1.4), ("朱", 1.3), ("胡", 1.3), ("郭", 1.2),
        ("何", 1.2), ("林", 1.1), ("高", 1.1), ("罗", 0.9), ("郑", 0.9), ("梁", 0.9), ("谢", 0.8), ("宋", 0.7),
        ("唐", 0.7), ("许", 0.7), ("韩", 0.7), ("冯", 0.7), ("邓", 0.7), ("曹", 0.6), ("彭", 0.6), ("曾", 0.6),
        ("肖", 0.6), ("田", 0.5), ("董", 0.5), ("袁", 0.5), ("潘", 0.5), ("于", 0.5), ("蒋", 0.5), ("蔡", 0.5),
        ("余", 0.5), ("杜", 0.5), ("叶", 0.5), ("程", 0.5), ("苏", 0.4), ("魏", 0.4), ("吕", 0.4), ("丁", 0.4),
        ("任", 0.4), ("沈", 0.4), ("姚", 0.4), ("卢", 0.4), ("姜", 0.3), ("崔", 0.3), ("钟", 0.3), ("谭", 0.3),
        ("陆", 0.3), ("汪", 0.3), ("范", 0.3), ("金", 0.3), ("石", 0.3), ("廖", 0.3), ("贾", 0.3), ("夏", 0.3),
        ("韦", 0.3), ("付", 0.3), ("方", 0.3), ("白", 0.3), ("邹", 0.3), ("孟", 0.3), ("熊", 0.3), ("秦", 0.3),
        ("邱", 0.3), ("江", 0.3), ("尹", 0.2), ("薛", 0.2), ("闫", 0.2), ("段", 0.2), ("雷", 0.2), ("侯", 0.2),
        ("龙", 0.2), ("史", 0.2), ("陶", 0.2), ("黎", 0.2), ("贺", 0.2), ("顾", 0.2), ("毛", 0.2), ("郝", 0.2),
        ("龚", 0.2), ("邵", 0.2), ("万", 0.2), ("钱", 0.2), ("严", 0.2), ("覃", 0.2), ("武", 0.2), ("戴", 0.2),
        ("莫", 0.2), ("孔", 0.2), ("向", 0.1), ("汤", 0.1), ("欧阳", 0.05), ("司马", 0.02), ("上官", 0.02),
        ("诸葛", 0.02),
    ],
    size=10_000,
)  # fmt: skip
_GIVEN_CHARS = {
    "male": "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林洋阳峰建文亮成志海东晨博轩睿昊然泽宏国新振德永忠兵庆坤",
    "female": "芳娜敏静丽艳娟霞秀玲燕萍红梅莉婷雪琳晶妍欣怡佳琪颖慧倩蕾璐洁丹悦萱涵雨诗梦思雅婉媛薇月",
}
# Whole given names typical of a generation (older people: 建国, 秀英; the young: 子轩, 欣怡).
_OLDER_GIVEN_NAMES = {
    "male": ("建国", "建华", "国强", "志强", "德明", "建军", "国庆", "卫东", "振华", "永福", "长青", "树林"),
    "female": ("秀英", "桂英", "玉兰", "淑珍", "秀兰", "凤英", "桂兰", "丽华", "美华", "秀珍", "春梅", "玉梅"),
}  # fmt: skip
_YOUNGER_GIVEN_NAMES = {
    "male": ("子轩", "浩然", "宇轩", "梓豪", "俊熙", "一鸣", "皓轩", "子墨", "宇航", "思远", "奕辰", "博文"),
    "female": ("梓涵", "欣怡", "一诺", "雨桐", "诗涵", "可馨", "语嫣", "子萱", "梦瑶", "思琪", "若曦", "紫萱"),
}  # fmt: skip
_CITIES = _lookup_table(
    [
        ("北京", 8), ("上海", 8), ("广州", 6), ("深圳", 6), ("成都", 5), ("重庆", 5), ("杭州", 4), ("武汉", 4),
        ("西安", 4), ("南京", 4), ("天津", 4), ("苏州", 3), ("郑州", 3), ("长沙", 3), ("东莞", 3), ("青岛", 2),
        ("沈阳", 2), ("宁波", 2), ("昆明", 2), ("合肥", 2), ("佛山", 2), ("福州", 2), ("济南", 2), ("哈尔滨", 2),
        ("大连", 1), ("厦门", 1), ("南宁", 1), ("贵阳", 1), ("石家庄", 1), ("太原", 1), ("南昌", 1), ("兰州", 1),
        ("乌鲁木齐", 1), ("呼和浩特", 1), ("海口", 1), ("温州", 1), ("无锡", 1), ("泉州", 1), ("长春", 1),
    ]
)  # fmt: skip
# (youngest, oldest) age bands with their share of subscribers.
_AGE_BANDS = _lookup_table(
    [((18, 24), 12), ((25, 34), 24), ((35, 44), 22), ((45, 54), 18), ((55, 64), 13), ((65, 85), 11)]
)
_PLANS_BY_LIFE_STAGE = {
    "student": _lookup_table([("CAMPUS_29", 70), ("4G_39", 15), ("5G_99", 15)]),
    "senior": _lookup_table([("VOICE_19", 45), ("4G_39", 30), ("4G_59", 15), ("5G_99", 10)]),
    "business": _lookup_table([("BIZ_299", 35), ("5G_239", 20), ("5G_169", 25), ("5G_129", 20)]),
    "family": _lookup_table([("FAMILY_199", 45), ("5G_129", 20), ("5G_169", 15), ("5G_99", 10), ("4G_59", 10)]),
    "adult": _lookup_table(
        [("4G_39", 14), ("4G_59", 20), ("5G_99", 20), ("5G_129", 22), ("5G_169", 12), ("5G_239", 5), ("FAMILY_199", 7)]
    ),
}  # fmt: skip
_PAYMENTS_BY_LIFE_STAGE = {
    "senior": _lookup_table(
        [("cash", 35), ("wechat", 25), ("autopay_bank", 25), ("bank_transfer", 10), ("autopay_alipay", 5)]
    ),
    "young": _lookup_table(
        [("wechat", 40), ("autopay_alipay", 33), ("autopay_bank", 10), ("cash", 9), ("bank_transfer", 8)]
    ),
    "adult": _lookup_table(
        [("wechat", 30), ("autopay_bank", 25), ("autopay_alipay", 22), ("bank_transfer", 13), ("cash", 10)]
    ),
}
_CHANNELS_BY_LIFE_STAGE = {
    "senior": _lookup_table([("outbound_call", 55), ("sms", 40), ("app_push", 5)]),
    "young": _lookup_table([("app_push", 45), ("sms", 35), ("outbound_call", 15), ("email", 5)]),
    "adult": _lookup_table([("sms", 40), ("app_push", 30), ("outbound_call", 25), ("email", 5)]),
}
_HANDSETS = ("华为 Mate 60", "华为 nova 12", "荣耀 Magic6", "小米 14", "Redmi K70", "OPPO Reno12", "vivo X100",
             "vivo Y36", "iPhone 15", "iPhone 13", "一加 12", "realme GT5")  # fmt: skip
_SENIOR_HANDSETS = ("华为 畅享 70", "vivo Y36", "OPPO A2", "守护宝 K9 老人机")
# Attributes are one of a few shapes: serialise each once instead of per customer.
_ATTRIBUTES_JSON = {
    (handset, broadband): json_text({"handset": handset, "broadband": broadband})
    for handset in _HANDSETS + _SENIOR_HANDSETS
    for broadband in (False, True)
}

# Price consciousness classes and each one's odds of the price signals (late payments, bill inquiries,
# downgrade, bill shock). Correlated signals give the realistic long tail: most customers none/low, a few
# medium/high.
_RELAXED, _CAREFUL, _STRETCHED = 0, 1, 2
_PRICE_SIGNAL_ODDS = {
    _RELAXED: (0.02, 0.02, 0.01, 0.025),
    _CAREFUL: (0.10, 0.13, 0.08, 0.06),
    _STRETCHED: (0.35, 0.45, 0.30, 0.15),
}

_COMPLAINT_CATEGORY_TABLE = _lookup_table(
    [("billing", 30), ("network", 30), ("service", 20), ("marketing", 10), ("other", 10)]
)
# (zh, en) summaries as a complaint desk would log them.
_COMPLAINT_SUMMARIES = {
    "billing": (
        ("对上月账单中的流量超额费用有异议，称未收到用量提醒", "Disputes data overage charges on last month's bill; says no usage alert came"),
        ("发现账单中有未订购的增值业务扣费，要求退费", "Found charges for a value-added service never ordered; wants a refund"),
        ("套餐变更后月费与营业员承诺不一致", "Monthly fee after the plan change differs from what the store promised"),
        ("境外漫游费用过高，对计费标准不清楚", "Roaming charges abroad too high; billing rules were unclear"),
    ),
    "network": (
        ("家中室内信号差，通话经常中断", "Poor indoor signal at home; calls keep dropping"),
        ("5G网络经常掉回4G，网速慢", "5G keeps falling back to 4G; data is slow"),
        ("小区晚高峰上网卡顿，视频无法播放", "Data stalls at the evening peak in the neighbourhood; videos won't play"),
    ),
    "service": (
        ("营业厅排队时间过长，工作人员态度不好", "Long queue at the store; staff were unfriendly"),
        ("多次拨打客服热线问题仍未解决", "Called the hotline several times; still not fixed"),
        ("宽带安装预约多次改期", "Broadband installation appointment rescheduled several times"),
    ),
    "marketing": (
        ("频繁接到营销电话，要求停止推销", "Frequent sales calls; asked us to stop"),
        ("收到大量营销短信，要求全部退订", "Too many marketing texts; asked to unsubscribe from all"),
        ("外呼推销时被误导办理了套餐", "Was misled into a plan change during a sales call"),
    ),
    "other": (
        ("咨询携号转网流程，反映办理不便", "Asked how to port the number out; found the process cumbersome"),
        ("实名登记信息更新流程繁琐", "Updating the ID registration was cumbersome"),
    ),
}  # fmt: skip
_BILL_SHOCK_SUMMARY = _COMPLAINT_SUMMARIES["billing"][0]
_ROAMING_BILL_SUMMARY = _COMPLAINT_SUMMARIES["billing"][3]

# Outbound calls often go unanswered (no_answer: not a contact, caps do not count it); one-way channels (SMS,
# push) record no result, and count as contacts.
_OUTBOUND_RESULTS = _lookup_table(
    [("no_answer", 25), ("declined", 30), ("considering", 18), ("callback", 10), ("accepted", 7), ("not_offered", 10)]
)  # fmt: skip
_INBOUND_RESULTS = _lookup_table(
    [("declined", 35), ("considering", 22), ("callback", 8), ("accepted", 10), ("not_offered", 25)]
)
_SAMPLE_AGENT_IDS = tuple(f"sample_agent_{n:02d}" for n in range(1, 41))
_PAST_WAVE_REACH = 0.5  # share of members a finished wave contacted
_CURRENT_WAVE_REACH = 0.18  # share of members the running wave has contacted so far
_SECOND_NUMBER_SHARE = 0.12
# Value tier by spend score (monthly fee in yuan, weighted up to 2× by tenure), highest first.
_TIER_FLOORS = (("diamond", 340), ("gold", 200), ("silver", 100), ("standard", 0))
_OLDEST_EVENT_DAYS = 730  # complaints and DND requests go back up to two years
_FIRST_BUSINESS_SECOND = 3600  # 09:00 Beijing time (01:00 UTC) …
_BUSINESS_SECONDS = 12 * 3600  # … to 21:00


def _audience_test(audience: str) -> Callable[[str, int, str, list[str]], bool]:
    """Who a campaign's sample members are drawn from: (plan_id, monthly fee, payment, segments) -> bool."""
    if audience == "upgrade_candidates":
        small_plans = {"CAMPUS_29", "4G_39", "4G_59", "5G_99"}
        return lambda plan_id, fee, _payment, segments: (
            plan_id in small_plans or ("heavy_data" in segments and fee < 16900)
        )
    if audience == "travellers":
        return lambda _plan, _fee, _payment, segments: "roamer" in segments or "business" in segments
    return lambda _plan, _fee, payment, _segments: payment not in AUTOPAY_METHODS


# --------------------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Rows:
    customers: list[tuple] = field(default_factory=list)
    customer_numbers: list[tuple] = field(default_factory=list)
    usage_monthly: list[tuple] = field(default_factory=list)
    complaints: list[tuple] = field(default_factory=list)  # without external_id and complaint_id
    campaign_members: list[tuple] = field(default_factory=list)
    contact_history: list[tuple] = field(default_factory=list)  # without external_id and contact_id


def _last_complete_months(today: dt.date, count: int = 3) -> tuple[str, ...]:
    """'YYYY-MM' of the `count` complete months before today's month, oldest first."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        months.append(f"{year:04d}-{month:02d}")
    return tuple(reversed(months))


class _Generator:
    """Builds the rows of one block of customers; holds everything that does not vary per customer."""

    def __init__(self, catalog: Catalog, seed: int, today: dt.date, timestamp_suffix: str) -> None:
        self.seed = seed
        self.today = today
        self.catalog = catalog
        self.tariff = catalog.tariff
        self.plans = {plan.id: plan for plan in catalog.plans}
        self.months = _last_complete_months(today)
        self.numbers = _NumberPermutation(seed)
        self.timestamp_suffix = timestamp_suffix
        # Day d in the past as text, for timestamps (d = 0 is today; seeded times are always d >= 1).
        oldest = max([_OLDEST_EVENT_DAYS, *(1 - w.starts_day for c in catalog.campaigns for w in c.waves)])
        self.days_ago = [(today - dt.timedelta(days=d)).isoformat() for d in range(oldest + 1)]
        self.segments_json: dict[tuple[str, ...], str] = {}
        # A campaign's members were put on its list the day before its first wave, at 09:00 Beijing time.
        self.campaigns = [
            (campaign, _audience_test(campaign.audience), campaign.wave_on(0),
             self.timestamp(max(1, 1 - min(w.starts_day for w in campaign.waves)), _FIRST_BUSINESS_SECOND))
            for campaign in catalog.campaigns
        ]

    def timestamp(self, days_ago: int, second_of_day: int) -> str:
        """Text of a UTC time `days_ago` days back, as SQLAlchemy's SQLite DateTime stores it (PostgreSQL
        gets the same text with a +00 zone for COPY)."""
        hours, rest = divmod(second_of_day, 3600)
        clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000000"
        return f"{self.days_ago[days_ago]} {clock}{self.timestamp_suffix}"

    def block(self, block: int, customers: int) -> _Rows:
        rows = _Rows()
        rng = Random(f"{self.seed}:{block}")
        start = block * RANDOM_BLOCK_SIZE
        for index in range(start, min(start + RANDOM_BLOCK_SIZE, customers)):
            self._customer(index, rng.random, rows)
        return rows

    def _customer(self, index: int, r: Callable[[], float], rows: _Rows) -> None:
        customer_id = f"C{index + 1:0{CUSTOMER_ID_DIGITS}d}"
        ts = self.timestamp

        # Who they are.
        youngest, oldest = _AGE_BANDS[int(r() * len(_AGE_BANDS))]
        age = youngest + int(r() * (oldest - youngest + 1))
        gender = "female" if r() < 0.5 else "male"
        name = _SURNAMES[int(r() * len(_SURNAMES))] + self._given_name(gender, age, r)
        city = _CITIES[int(r() * len(_CITIES))]
        student = age <= 24 and r() < 0.55
        senior = age >= 60
        business = 25 <= age <= 59 and r() < 0.10
        family = 30 <= age <= 55 and r() < 0.25
        young = age < 30

        # What they buy and how they pay.
        if student or senior or business or family:
            stage = "student" if student else "senior" if senior else "business" if business else "family"
        else:
            stage = "adult"
        plans = _PLANS_BY_LIFE_STAGE[stage]
        plan = self.plans[plans[int(r() * len(plans))]]
        fee = plan.monthly_fee_fen
        family = family or plan.id == "FAMILY_199"
        if student:
            tenure = 1 + int(r() * min(72, (age - 15) * 12))
        else:
            tenure = min(1 + int(-math.log(1.0 - r()) * 48), (age - 15) * 12, 300)
        contract_draw = r()
        mtm_share = 0.6 if fee < 6000 else 0.45 if fee < 19900 else 0.35
        if contract_draw < mtm_share:
            contract = "month_to_month"
        else:
            contract = "one_year" if contract_draw < mtm_share + (1 - mtm_share) * 0.55 else "two_year"
        payments = _PAYMENTS_BY_LIFE_STAGE["senior" if senior else "young" if young else "adult"]
        payment = payments[int(r() * len(payments))]
        autopay = payment in AUTOPAY_METHODS

        # Price consciousness drives the price-sensitivity facts.
        draw = r()
        stretched, careful = (
            (0.03, 0.12) if business else (0.12, 0.30) if (student or senior) else (0.07, 0.22)
        )
        price_class = _STRETCHED if draw < stretched else _CAREFUL if draw < stretched + careful else _RELAXED
        late_odds, inquiry_odds, downgrade_odds, shock_odds = _PRICE_SIGNAL_ODDS[price_class]
        late_signal = r() < (late_odds * 0.3 if autopay else late_odds)  # autopay rarely pays late
        inquiry_signal = r() < inquiry_odds
        downgrade_signal = tenure >= 6 and r() < downgrade_odds
        bill_shock = r() < shock_odds
        late_payments = 2 + int(r() * 4) if late_signal else (1 if r() < 0.08 else 0)
        bill_inquiries = 2 + int(r() * 4) if inquiry_signal else (1 if r() < 0.10 else 0)
        downgrades = (2 if r() < 0.2 else 1) if downgrade_signal else 0

        # Usage habits.
        heavy_data = r() < (0.25 if young else 0.03 if senior else 0.12)
        roamer = r() < (0.40 if business else 0.05 if young else 0.03)
        if heavy_data:
            data_level = 0.8 + 0.5 * r()
        elif senior:
            data_level = 0.05 + 0.3 * r()
        elif young:
            data_level = 0.3 + 0.5 * r()
        else:
            data_level = 0.15 + 0.6 * r()
        if business:
            voice_level = 0.6 + 0.6 * r()
        elif senior:
            voice_level = 0.2 + 0.5 * r()
        else:
            voice_level = 0.05 + 0.3 * r() if young else 0.15 + 0.6 * r()
        ringback = r() < (0.35 if senior else 0.12 if young else 0.25)
        months = self._usage(plan, data_level, voice_level, ringback, roamer, bill_shock, r)
        for month, usage in zip(self.months, months, strict=True):
            rows.usage_monthly.append((customer_id, month, *usage))

        # Complaints: ~11% of customers, more among the bill-shocked and the stretched.
        complaint_odds = 0.075 + (0.25 if bill_shock else 0) + (0.10 if price_class == _STRETCHED else 0)
        complaint_odds += 0.04 if price_class == _CAREFUL else 0
        recent_complaint = open_complaint = False
        marketing_complaint_day = 0
        if r() < complaint_odds:
            roamed_last_month = months[2][6] > 0
            for category, age_days, status in self._complaints(
                customer_id, bill_shock, roamed_last_month, r, rows
            ):
                recent_complaint = recent_complaint or age_days < 90
                open_complaint = open_complaint or status == "open"
                if category == "marketing" and age_days < 180:
                    marketing_complaint_day = max(marketing_complaint_day, age_days)

        # Do-not-disturb: half of those who complained about marketing, and a few others.
        dnd = r() < (0.5 if marketing_complaint_day else 0.012)
        dnd_days_ago = 0
        dnd_since = None
        if dnd:
            dnd_days_ago = marketing_complaint_day or 7 + int(r() * 500)
            dnd_since = ts(dnd_days_ago, _FIRST_BUSINESS_SECOND + int(r() * _BUSINESS_SECONDS))

        # Churn risk: known drivers plus a skewed individual term, so ~15% reach the retention threshold
        # (0.4) and a few percent the rules' "high" boost (0.6).
        churn = (
            0.02
            + (0.10 if contract == "month_to_month" else -0.03 if contract == "two_year" else 0.0)
            + (0.10 if tenure < 12 else 0.04 if tenure < 24 else 0.0)
            + 0.05 * late_signal
            + 0.04 * inquiry_signal
            + 0.15 * downgrade_signal
            + 0.06 * bill_shock
            + 0.10 * recent_complaint
            + 0.10 * open_complaint
            + 0.5 * r() ** 3
        )
        churn_risk = round(min(0.98, max(0.01, churn)), 3)

        # Value, credit and loyalty.
        spend_score = fee / 100 * (1 + min(tenure, 120) / 120) * (0.85 + 0.3 * r())
        tier = next(tier for tier, floor in _TIER_FLOORS if spend_score >= floor)
        credit = 690 + 85 * (r() + r() + r() - 1.5) * 2 + min(tenure, 120) * 0.4
        credit -= 80 if price_class == _STRETCHED else 25 if price_class == _CAREFUL else 0
        credit -= 40 if late_signal else 0
        credit_score = min(950, max(350, int(credit)))
        points = int(fee / 100 * tenure * (0.2 + 0.6 * r()))
        total_charges = int(fee * tenure * (0.95 + 0.2 * r()))

        segments = tuple(
            segment
            for segment, member in (
                ("young", young),
                ("family", family),
                ("business", business),
                ("senior", senior),
                ("student", student),
                ("heavy_data", heavy_data),
                ("roamer", roamer),
            )
            if member
        )
        segments_json = self.segments_json.get(segments)
        if segments_json is None:
            segments_json = self.segments_json[segments] = json_text(list(segments))
        channels = _CHANNELS_BY_LIFE_STAGE["senior" if senior else "young" if young else "adult"]
        preferred_channel = channels[int(r() * len(channels))]
        handsets = _SENIOR_HANDSETS if senior and r() < 0.6 else _HANDSETS
        handset = handsets[int(r() * len(handsets))]
        attributes = _ATTRIBUTES_JSON[handset, family or r() < 0.3]
        updated_at = ts(1 + int(r() * 30), int(r() * 86400))

        rows.customers.append(
            (
                customer_id, name, gender, self.today.year - age, city, plan.id, plan.name_zh, fee, total_charges,
                tenure, contract, payment, tier, credit_score, points, segments_json, churn_risk, late_payments,
                bill_inquiries, downgrades, preferred_channel, dnd, dnd_since, attributes, handset, updated_at,
            )
        )  # fmt: skip
        rows.customer_numbers.append((self.numbers(2 * index), customer_id, True))
        if r() < _SECOND_NUMBER_SHARE:
            rows.customer_numbers.append((self.numbers(2 * index + 1), customer_id, False))

        segment_list = list(segments)
        for campaign, in_audience, current_wave, added_at in self.campaigns:
            if in_audience(plan.id, fee, payment, segment_list) and r() < campaign.audience_share:
                rows.campaign_members.append((campaign.id, customer_id, MEMBER_SOURCE, added_at))
                self._contacts(customer_id, campaign, current_wave, dnd_days_ago, r, rows)
        if dnd:
            # The marketing call on which they asked not to be called again.
            rows.contact_history.append(
                (customer_id, None, None, "outbound_call", None, "do_not_disturb", dnd_since,
                 _SAMPLE_AGENT_IDS[int(r() * len(_SAMPLE_AGENT_IDS))], "marketing")
            )  # fmt: skip

    def _complaints(
        self, customer_id: str, bill_shock: bool, roamed_last_month: bool, r: Callable[[], float], rows: _Rows
    ) -> list[tuple[str, int, str]]:
        """One to three complaints over two years; returns (category, age in days, status) of each."""
        logged = []
        draw = r()
        for number in range(1 if draw < 0.70 else 2 if draw < 0.92 else 3):
            if number == 0 and bill_shock and r() < 0.7:
                category, age_days = "billing", 3 + int(r() * 38)  # soon after the shocking bill
                summary = _ROAMING_BILL_SUMMARY if roamed_last_month else _BILL_SHOCK_SUMMARY
            else:
                category = _COMPLAINT_CATEGORY_TABLE[int(r() * len(_COMPLAINT_CATEGORY_TABLE))]
                draw = r()
                if draw < 0.4:
                    age_days = 1 + int(r() * 89)
                elif draw < 0.6:
                    age_days = 90 + int(r() * 90)
                else:
                    age_days = 180 + int(r() * 540)
                summaries = _COMPLAINT_SUMMARIES[category]
                summary = summaries[int(r() * len(summaries))]
            open_odds = 0.5 if age_days <= 30 else 0.15 if age_days < 90 else 0.03 if age_days < 180 else 0.0
            status = "open" if r() < open_odds else "resolved"
            severity = "serious" if r() < (0.25 if status == "open" else 0.10) else "normal"
            opened_at = self.timestamp(age_days, _FIRST_BUSINESS_SECOND + int(r() * _BUSINESS_SECONDS))
            rows.complaints.append((customer_id, opened_at, category, status, severity, *summary))
            logged.append((category, age_days, status))
        return logged

    @staticmethod
    def _given_name(gender: str, age: int, r: Callable[[], float]) -> str:
        if age >= 55 and r() < 0.5:
            names = _OLDER_GIVEN_NAMES[gender]
            return names[int(r() * len(names))]
        if age <= 28 and r() < 0.4:
            names = _YOUNGER_GIVEN_NAMES[gender]
            return names[int(r() * len(names))]
        chars = _GIVEN_CHARS[gender]
        first = chars[int(r() * len(chars))]
        if r() < 0.25:  # single-character given names (王伟, 李娜) are common
            return first
        second = chars[int(r() * len(chars))]
        return first + (second if second != first else chars[(chars.index(first) + 1) % len(chars)])

    def _usage(
        self,
        plan: Plan,
        data_level: float,
        voice_level: float,
        ringback: bool,
        roamer: bool,
        bill_shock: bool,
        r: Callable[[], float],
    ) -> list[tuple]:
        """Three months of (data_mb, voice_min, sms, mms, ringback_active, ringback_fee_fen, roaming_data_mb,
        roaming_voice_min, bill_fen), oldest first. A bill-shocked customer's last bill is at least 1.3× the
        mean of the two before (the rules' bill_shock signal); everyone else's stays below that."""
        tariff = self.tariff
        quota_mb = plan.data_gb * 1024
        months = []
        for _ in range(3):
            roams = roamer and r() < 0.45
            months.append(
                [
                    int(quota_mb * data_level * (0.85 + 0.3 * r())),
                    int(plan.voice_min * voice_level * (0.8 + 0.4 * r())),
                    int(r() * r() * 60),  # mostly verification codes
                    int(r() * r() * r() * 8),
                    int(100 + r() * r() * 3000) if roams else 0,
                    int(r() * r() * 120) if roams else 0,
                ]
            )
        if roamer and not any(month[4] for month in months):
            month = months[int(r() * 3)]
            month[4], month[5] = int(100 + r() * 900), int(r() * 30)

        def bill(month: list[int]) -> int:
            data_mb, voice_min, sms, mms, roaming_mb, roaming_min = month
            return tariff.bill_fen(
                plan, data_mb=data_mb, voice_min=voice_min, sms=sms, mms=mms, ringback_active=ringback,
                roaming_data_mb=roaming_mb, roaming_voice_min=roaming_min,
            )  # fmt: skip

        previous_mean = (bill(months[0]) + bill(months[1])) / 2
        last = months[2]
        # Margins on both sides of the rules' 1.3 keep the intended signal whatever the rounding.
        shortfall = math.ceil(1.32 * previous_mean) - bill(last)
        if bill_shock and shortfall > 0:
            if roamer:  # the shock is a trip abroad: add day passes
                day_mb = tariff.roaming_day_pass_mb
                days = _ceil_div(last[4], day_mb) + _ceil_div(shortfall, tariff.roaming_day_pass_fen)
                last[4] = (days - 1) * day_mb + 1 + int(r() * (day_mb - 1))
            else:  # the shock is data beyond the plan
                overage_gb = _ceil_div(max(0, last[0] - quota_mb), 1024)
                overage_gb += _ceil_div(shortfall, tariff.data_overage_fen_per_gb)
                last[0] = quota_mb + (overage_gb - 1) * 1024 + 1 + int(r() * 1023)
        elif not bill_shock and bill(last) >= 1.28 * previous_mean:
            # Not meant to be shocked: trim last month's extras until the bill stays under the threshold.
            last[0], last[1], last[4], last[5] = min(last[0], quota_mb), min(last[1], plan.voice_min), 0, 0
            if bill(last) >= 1.28 * previous_mean:
                last[2] = last[3] = 0
        ringback_fee = tariff.ringback_fee_fen if ringback else 0
        return [
            (data_mb, voice_min, sms, mms, ringback, ringback_fee, roaming_mb, roaming_min,
             bill([data_mb, voice_min, sms, mms, roaming_mb, roaming_min]))
            for data_mb, voice_min, sms, mms, roaming_mb, roaming_min in months
        ]  # fmt: skip

    def _contacts(
        self,
        customer_id: str,
        campaign: CampaignSpec,
        current_wave: WaveSpec | None,
        dnd_days_ago: int,
        r: Callable[[], float],
        rows: _Rows,
    ) -> None:
        """Contacts of finished waves and of the running one, so caps and recent refusals show up.
        Nobody is contacted after asking not to be disturbed."""
        offers = campaign.offers
        history = rows.contact_history
        for wave in campaign.waves:
            if wave.ends_day < 0 and r() < _PAST_WAVE_REACH:
                # A finished wave: one contact on a day inside it.
                contacts = [(wave.channel, -wave.ends_day + int(r() * (wave.ends_day - wave.starts_day + 1)))]
            elif wave is current_wave and r() < _CURRENT_WAVE_REACH:
                # The running wave: one or two contacts (two reaches a cap of 2) inside the cap period.
                cap = campaign.cap_for(wave.channel)
                window = min(-wave.starts_day, (cap.period_days if cap else 30) - 1)
                if window < 1:
                    continue
                # Where inbound calls may serve the wave, some members were served when they called in.
                channel = (
                    "inbound_call" if campaign.inbound_may_serve_any_wave and r() < 0.4 else wave.channel
                )
                contacts = [(channel, 1 + int(r() * window)) for _ in range(2 if r() < 0.4 else 1)]
            else:
                continue
            for channel, days_ago in contacts:
                if dnd_days_ago and days_ago <= dnd_days_ago:
                    continue
                if channel == "inbound_call":
                    result = _INBOUND_RESULTS[int(r() * len(_INBOUND_RESULTS))]
                elif channel == "outbound_call":
                    result = _OUTBOUND_RESULTS[int(r() * len(_OUTBOUND_RESULTS))]
                else:
                    result = None  # one-way channels record no answer
                is_call = channel.endswith("_call")
                agent_id = _SAMPLE_AGENT_IDS[int(r() * len(_SAMPLE_AGENT_IDS))] if is_call else None
                offer_id = offers[int(r() * len(offers))]
                contacted_at = self.timestamp(days_ago, _FIRST_BUSINESS_SECOND + int(r() * _BUSINESS_SECONDS))
                history.append(
                    (customer_id, campaign.id, wave.seq, channel, offer_id, result, contacted_at, agent_id,
                     "marketing")
                )  # fmt: skip


# --------------------------------------------------------------------------------------------------------
# Writing: through the feed writer, kind by kind, as an operator's feed files are written
# --------------------------------------------------------------------------------------------------------


@contextmanager
def _seeding_connection(engine: Engine) -> Iterator[Any]:
    """The feed writer's import connection (its import settings included); SQLite also skips the fsyncs of
    its checkpoints: sample data is re-created by seeding again, so a batch lost on power failure costs
    nothing (synchronous=OFF, put back afterwards)."""
    with import_connection(engine) as connection:
        if engine.dialect.name != "sqlite":
            yield connection
            return
        saved = connection.execute("PRAGMA synchronous").fetchone()[0]
        connection.execute("PRAGMA synchronous=OFF")
        try:
            yield connection
        finally:
            connection.rollback()
            connection.execute(f"PRAGMA synchronous={int(saved)}")


def _write_batch(connection: Any, batch: _Rows, counts: dict[str, int]) -> None:
    """One batch of customers, table by table through the feed kinds (parents first: the writer checks
    every reference); each table's rows commit together."""
    # Ids continue from the rows already written, in generation order: deterministic on every backend.
    first_complaint, first_contact = counts["complaints"] + 1, counts["contact_history"] + 1
    batch.complaints = [(f"{SEED_EXTERNAL_ID_PREFIX}{n}", n, *row)
                        for n, row in enumerate(batch.complaints, first_complaint)]
    batch.contact_history = [(f"{SEED_EXTERNAL_ID_PREFIX}{n}", n, *row)
                             for n, row in enumerate(batch.contact_history, first_contact)]
    for table in CUSTOMER_TABLES:
        rows = getattr(batch, table)
        if not rows:
            continue
        kind, columns = _FEEDS[table]
        # One chunk per table and batch. PostgreSQL: the generator's keys are unique by construction, so
        # the per-row check for a key repeated within the rows is deferred to one look at the keys in
        # finish() (a repeated key still fails the write, never merges). SQLite always checks (cheaply).
        writer = TableWriter(connection, kind, columns, chunk_rows=len(rows), defer_duplicates=True)
        try:
            writer.write(rows)
            writer.finish()
        except FeedFailure as failure:
            raise SeedError(f"The {kind} feed refused the generated {table} rows: {failure.en}") from failure
        counts[table] += len(rows)
    if not isinstance(connection, sqlite3.Connection):
        _sync_id_sequences(connection)


def _sync_id_sequences(connection: Any) -> None:
    """PostgreSQL: the generator writes complaint and contact ids itself (deterministic); move the serial
    sequences past them so rows the server adds later (contact history from outcomes) get fresh ids."""
    with connection.cursor() as cursor:
        for table, column in (("complaints", "complaint_id"), ("contact_history", "contact_id")):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"COALESCE(max({column}), 0) + 1, false) FROM {table}"
            )
    connection.commit()


# --------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------


def seed_database(
    engine: Engine,
    customers: int,
    seed: int = 42,
    *,
    replace: bool = False,
    today: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SeedSummary:
    """Fill a migrated database with `customers` sample customers and the sample catalog.

    Refuses (DatabaseNotEmptyError) when the seeded tables already hold rows, unless `replace` is true:
    then they are emptied first (agents, tokens, decisions and outcomes are kept). Customers are written
    in batches of WRITE_BATCH_SIZE through the feed writer (one transaction per table and batch);
    `progress(done, total)` is called after each batch. SeedError if a feed kind refuses generated rows
    (the batches before it stay written; seed again with replace=True).
    """
    if not 0 <= customers <= MAX_CUSTOMERS:
        raise SeedArgumentError(f"customers must be between 0 and {MAX_CUSTOMERS:,}, not {customers:,}")
    if isinstance(today, dt.datetime):
        today = today.date()
    today = today or dt.date.today()
    catalog = load_catalog(today=today)
    started = time.perf_counter()
    counts = dict.fromkeys(SEEDED_TABLES, 0)
    backend = engine.dialect.name
    if not (backend == "sqlite" or (backend == "postgresql" and engine.dialect.driver == "psycopg")):
        raise SeedError(
            f"Cannot seed through {backend}+{engine.dialect.driver}: use sqlite or postgresql+psycopg."
        )

    # Clearing and the catalog share one transaction: a refused or failed start changes nothing. The
    # catalog goes through the catalog feed, exactly as an operator's does.
    with write_transaction(engine) as connection:
        _refuse_or_clear(connection, engine, replace)
        apply_catalog_document(connection, catalog.document)
    document = catalog.document
    live = [c for c in document.campaigns if not c.retire]
    counts.update(
        offers=sum(not o.retire for o in document.offers),
        campaigns=len(live),
        campaign_offers=sum(len(c.offer_ids) for c in live),
        waves=sum(len(c.waves) for c in live),
        contact_caps=sum(len(c.caps) for c in live),
        customer_caps=len(document.customer_caps or ()),
    )

    # Per-customer tables: through the feed writer, one batch of customers at a time (see _write_batch).
    # Two cores at once: a worker thread writes a batch while this thread generates the next one (the
    # drivers wait for the database without the GIL). Batches are written one after the other, in order.
    generator = _Generator(catalog, seed, today, "" if backend == "sqlite" else "+00")
    blocks_per_batch = max(1, WRITE_BATCH_SIZE // RANDOM_BLOCK_SIZE)
    block_count = _ceil_div(customers, RANDOM_BLOCK_SIZE)

    def written(pending: Future | None) -> None:
        if pending is not None:
            pending.result()
            if progress is not None:
                progress(counts["customers"], customers)

    with (
        _seeding_connection(engine) as connection,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-db") as worker,
    ):
        pending: Future | None = None
        for first_block in range(0, block_count, blocks_per_batch):
            batch = _Rows()
            for block in range(first_block, min(first_block + blocks_per_batch, block_count)):
                rows = generator.block(block, customers)
                for table_field in fields(_Rows):
                    getattr(batch, table_field.name).extend(getattr(rows, table_field.name))
            written(pending)
            pending = worker.submit(_write_batch, connection, batch, counts)
            del batch
        written(pending)
    return SeedSummary(**counts, elapsed_seconds=time.perf_counter() - started, seed=seed, today=today)


def _refuse_or_clear(connection: Connection, engine: Engine, replace: bool) -> None:
    cleared = SEEDED_TABLES + _ALSO_CLEARED
    occupied = {
        name: n for name in cleared if (n := connection.scalar(select(func.count()).select_from(sql_table(name))))
    }
    if not occupied:
        return
    if not replace:
        where = engine.url.render_as_string(hide_password=True)
        shown = [t for t in ("customers", "offers", "campaigns") if t in occupied] or list(occupied)[:1]
        held = ", ".join(f"{occupied[name]:,} {name}" for name in shown)
        raise DatabaseNotEmptyError(
            f"The database {where} already holds data ({held}); seeding would mix two data sets. "
            "Seed with --replace (replace=True) to delete them first (agents and tokens are kept), "
            "or use an empty database."
        )
    if engine.dialect.name == "postgresql":
        connection.execute(text(f"TRUNCATE {', '.join(cleared)} RESTART IDENTITY"))
    else:
        for name in (*_ALSO_CLEARED, *reversed(SEEDED_TABLES)):  # children first
            connection.execute(text(f"DELETE FROM {name}"))


__all__ = [
    "AUDIENCES",
    "CATALOG_TABLES",
    "CUSTOMER_TABLES",
    "MAX_CUSTOMERS",
    "MOBILE_PREFIXES",
    "SEEDED_TABLES",
    "SEED_EXTERNAL_ID_PREFIX",
    "CampaignSpec",
    "CapSpec",
    "Catalog",
    "CatalogError",
    "DatabaseNotEmptyError",
    "OfferSpec",
    "Plan",
    "SeedArgumentError",
    "SeedError",
    "SeedSummary",
    "Tariff",
    "WaveSpec",
    "default_catalog_path",
    "load_catalog",
    "seed_database",
]
