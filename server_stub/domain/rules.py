"""The decision rules file (resources/rules/rules.toml) as typed objects, and its pure evaluation.

Nothing here touches the database or HTTP: the service layer gathers a customer's facts and contact
history, this module turns them into sensitivity levels, eligibility, suppression and a ranking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server_stub.domain.vocabulary import OFFER_CATEGORIES

LEVEL_NAMES = ("none", "low", "medium", "high")
# Texts a rules file may override (older files lack them): [contact] customer_cap_text / not_in_wave_text,
# [texts] already_held / not_eligible / operator_model / operator_model_reason.
DEFAULT_TEXTS: dict[str, tuple[str, str]] = {
    "customer_cap_text": (
        "避免重复打扰：客户近 {period_days} 天已被营销接触 {used}/{max} 次（{channel_name}，跨活动），{next_on} 后可再营销",
        "Contact limit across campaigns reached: {used}/{max} marketing contacts in {period_days} days "
        "({channel_name}); eligible again {next_on}"),
    "not_in_wave_text": ("客户在第 {member_wave} 波名单中，当前为第 {seq}/{of} 波",
                         "Targeted in wave {member_wave}; wave {seq} of {of} is running"),
    # The pop of an outbound call (worklist) says this instead of wave_text.
    "outbound_wave_text": ("当前波次 {seq}/{of} 指定 {channel_name}，外呼不可执行",
                           "Wave {seq} of {of} runs on {channel_name}; an outbound call may not serve it"),
    "already_held": ("客户已办理此业务", "The customer already has this"),
    "not_eligible": ("不满足办理条件：{fact} {op} {value}", "Not eligible: needs {fact} {op} {value}"),
    "operator_model": ("运营商模型（{model}）评定为{level_name}", "Rated {level_name} by the operator's model ({model})"),
    "operator_model_reason": ("运营商模型（{model}）：{reason}", "Operator's model ({model}): {reason}"),
}
# Channel names a rules file need not list (its [contact.channel_names] win): every channel contacts are fed
# from, and "*" (a customer cap over all channels).
DEFAULT_CHANNEL_NAMES = {
    "*": ("所有渠道", "all channels"),
    "inbound_call": ("呼入电话", "inbound call"),
    "outbound_call": ("外呼", "outbound call"),
    "sms": ("短信", "SMS"),
    "app_push": ("App推送", "app push"),
    "email": ("邮件", "email"),
    "ivr": ("IVR语音自助", "IVR"),
    "self_service": ("自助服务", "self-service"),
    "store": ("营业厅", "store"),
}
# Display names a rules file need not list (its [display_names] win per value).
DEFAULT_DISPLAY_NAMES = {
    fact: {"none": ("无", "none"), "low": ("低", "low"), "medium": ("中", "medium"), "high": ("高", "high")}
    for fact in ("price_level_name", "complaint_level_name")
}


class RulesError(ValueError):
    """The rules file is invalid; the message names the key."""


class _MissingAsDash(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def render(template: str, facts: Mapping[str, Any], language: str = "zh") -> str:
    """Fill `{fact}` placeholders. A fact with display names (FactSheet) shows the name in `language`
    (a zh text must not say "gold" or "high"); a Text value shows its own `language` side."""
    names = getattr(facts, "display_names", {})
    values = _MissingAsDash()
    for key, value in facts.items():
        named = names.get(key, {}).get(str(value)) if key in names else None
        if named is not None:
            value = named
        if isinstance(value, Text):
            value = getattr(value, language)
        values[key] = "—" if value is None else value
    return template.format_map(values)


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    @classmethod
    def of(cls, pair: tuple[str, str] | Text) -> Text:
        return pair if isinstance(pair, Text) else cls(*pair)

    def render(self, facts: Mapping[str, Any]) -> dict[str, str]:
        return {"zh": render(self.zh, facts, "zh"), "en": render(self.en, facts, "en")}


class FactSheet(dict):
    """A customer's facts (raw values, which conditions compare) plus the display names texts quote."""

    def __init__(self, facts: Mapping[str, Any], display_names: Mapping[str, Mapping[str, Text]]) -> None:
        super().__init__(facts)
        self.display_names = display_names


_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a,
}


@dataclass(frozen=True)
class Condition:
    fact: str
    op: str
    value: Any

    def holds(self, facts: Mapping[str, Any]) -> bool:
        actual = facts.get(self.fact)
        if actual is None:
            return False  # unknown facts never satisfy a rule: be strict rather than pitch blindly
        try:
            return bool(_OPS[self.op](actual, self.value))
        except TypeError:
            return False


def all_hold(conditions: Sequence[Condition], facts: Mapping[str, Any]) -> bool:
    return all(c.holds(facts) for c in conditions)


@dataclass(frozen=True)
class OfferCondition:
    """One eligibility condition of a catalog offer ({fact, op, value, zh?, en?}): its own texts say what
    fails; without them a generic text names the fact. `problem` is set when the stored condition is
    malformed (then it never holds: be strict rather than pitch blindly)."""

    condition: Condition | None
    text: Text | None = None
    problem: str | None = None

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return self.condition is not None and self.condition.holds(facts)


def parse_offer_condition(value: Any, path: str = "eligibility") -> OfferCondition:
    """A catalog condition; raises RulesError naming `path` when it is malformed."""
    if not isinstance(value, Mapping):
        raise RulesError(f"rules: {path} must be {{fact, op, value}} with optional zh and en texts")
    texts = {k: value[k] for k in ("zh", "en") if k in value}
    if any(not isinstance(t, str) for t in texts.values()):
        raise RulesError(f"rules: {path}.zh and .en must be texts")
    condition = _condition({k: v for k, v in value.items() if k not in ("zh", "en")}, path)
    text = Text(texts.get("zh") or texts.get("en", ""), texts.get("en") or texts.get("zh", "")) if texts else None
    return OfferCondition(condition, text)


def offer_condition_or_problem(value: Any, path: str = "eligibility") -> OfferCondition:
    """Like parse_offer_condition, but a malformed condition becomes one that never holds (a pop never fails
    on a stored catalog row)."""
    try:
        return parse_offer_condition(value, path)
    except RulesError as exc:
        return OfferCondition(None, None, str(exc))


@dataclass(frozen=True)
class Signal:
    id: str
    when: Condition
    points: int
    reason: Text


@dataclass(frozen=True)
class SensitivitySpec:
    thresholds: dict[str, int]
    guidance: dict[str, Text]
    signals: tuple[Signal, ...]


@dataclass(frozen=True)
class EligibilityRule:
    category: str | None
    offer_id: str | None
    when: tuple[Condition, ...]
    reason: Text

    def applies_to(self, offer_id: str, category: str) -> bool:
        return self.offer_id == offer_id if self.offer_id else self.category == category


@dataclass(frozen=True)
class SuppressionRule:
    code: str
    kind: str
    when: tuple[Condition, ...]
    categories: tuple[str, ...]
    text: Text


@dataclass(frozen=True)
class ContactPolicy:
    interaction_channel: str
    dnd_keeps: tuple[str, ...]
    dnd_text: Text
    refusal_cooldown_days: int
    refusal_text: Text
    cap_text: Text
    wave_text: Text
    no_wave_text: Text
    channel_names: dict[str, Text]
    customer_cap_text: Text = field(default_factory=lambda: Text.of(DEFAULT_TEXTS["customer_cap_text"]))
    not_in_wave_text: Text = field(default_factory=lambda: Text.of(DEFAULT_TEXTS["not_in_wave_text"]))
    outbound_wave_text: Text = field(default_factory=lambda: Text.of(DEFAULT_TEXTS["outbound_wave_text"]))

    def for_channel(self, channel: str) -> ContactPolicy:
        """The policy of a pop serving `channel` (an outbound call of the worklist instead of the rules file's
        interaction channel): its caps and wave checks are that channel's."""
        if channel == self.interaction_channel:
            return self
        wave_text = self.outbound_wave_text if channel == "outbound_call" else self.wave_text
        return dataclasses.replace(self, interaction_channel=channel, wave_text=wave_text)

    def channel_name(self, channel: str) -> dict[str, str]:
        text = self.channel_names.get(channel)
        return {"zh": text.zh, "en": text.en} if text else {"zh": channel, "en": channel}


@dataclass(frozen=True)
class Boost:
    category: str
    when: tuple[Condition, ...]
    add: float
    reason: Text
    offer_ids: tuple[str, ...] = ()  # empty: every offer of the category

    def applies_to(self, offer_id: str, category: str) -> bool:
        return category == self.category and (not self.offer_ids or offer_id in self.offer_ids)


@dataclass(frozen=True)
class RankingSpec:
    segment_fact: str
    prior_strength: float
    base_weight: float
    acceptance_text: Text
    prior_text: Text
    boosts: tuple[Boost, ...]


@dataclass(frozen=True)
class Rules:
    version: str
    price: SensitivitySpec
    complaint: SensitivitySpec
    eligibility: tuple[EligibilityRule, ...]
    suppression: tuple[SuppressionRule, ...]
    contact: ContactPolicy
    ranking: RankingSpec
    # fact -> raw value -> what texts show for it: {value_tier} reads 金卡 in zh and "gold" in en.
    display_names: Mapping[str, Mapping[str, Text]] = field(default_factory=dict)
    # [texts]: already_held, not_eligible, operator_model, operator_model_reason (DEFAULT_TEXTS when absent).
    texts: Mapping[str, Text] = field(default_factory=dict)

    def text(self, key: str) -> Text:
        return self.texts.get(key) or Text.of(DEFAULT_TEXTS[key])

    def fact_sheet(self, facts: Mapping[str, Any]) -> FactSheet:
        return FactSheet(facts, self.display_names)

    def display_name(self, fact: str, value: Any) -> Text | Any:
        return self.display_names.get(fact, {}).get(str(value), value)


# ---------------------------------------------------------------- loading


def _get(table: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    where = f"{path}.{key}" if path else key
    if not isinstance(table, Mapping) or key not in table:
        raise RulesError(f"rules: missing key {where}")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RulesError(f"rules: {where} has the wrong type ({type(value).__name__})")
    return value


def _get_optional_table(table: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise RulesError(f"rules: {key} must be a table")
    return value


def _text(table: Mapping[str, Any], key: str, path: str) -> Text:
    value = _get(table, key, path, dict)
    zh, en = value.get("zh"), value.get("en")
    if not isinstance(zh, str) or not isinstance(en, str):
        raise RulesError(f"rules: {path}.{key} needs both zh and en texts")
    return Text(zh, en)


def _optional_text(table: Mapping[str, Any], key: str, path: str) -> Text:
    return _text(table, key, path) if key in table else Text.of(DEFAULT_TEXTS[key])


def _condition(value: Any, path: str) -> Condition:
    if not isinstance(value, dict) or set(value) != {"fact", "op", "value"}:
        raise RulesError(f"rules: {path} must be {{fact, op, value}}")
    if value["op"] not in _OPS:
        raise RulesError(f"rules: {path}.op {value['op']!r} is not one of {', '.join(_OPS)}")
    if not isinstance(value["fact"], str):
        raise RulesError(f"rules: {path}.fact must be a name")
    return Condition(value["fact"], value["op"], value["value"])


def _conditions(table: Mapping[str, Any], path: str) -> tuple[Condition, ...]:
    raw = _get(table, "when", path, (list, dict))
    items = [raw] if isinstance(raw, dict) else raw
    return tuple(_condition(item, f"{path}.when[{i}]") for i, item in enumerate(items))


def _sensitivity(table: Mapping[str, Any], path: str) -> SensitivitySpec:
    thresholds = _get(table, "thresholds", path, dict)
    for level in LEVEL_NAMES[1:]:
        if not isinstance(thresholds.get(level), int):
            raise RulesError(f"rules: {path}.thresholds.{level} must be a whole number of points")
    guidance_table = _get(table, "guidance", path, dict)
    guidance = {level: _text(guidance_table, level, f"{path}.guidance") for level in LEVEL_NAMES}
    signals = []
    for i, raw in enumerate(_get(table, "signals", path, list)):
        where = f"{path}.signals[{i}]"
        signals.append(
            Signal(
                id=_get(raw, "id", where, str),
                when=_condition(_get(raw, "when", where, dict), f"{where}.when"),
                points=_get(raw, "points", where, int),
                reason=_text(raw, "reason", where),
            )
        )
    return SensitivitySpec(dict(thresholds), guidance, tuple(signals))


def _category(value: Any, path: str) -> str:
    if value not in OFFER_CATEGORIES:
        raise RulesError(f"rules: {path} {value!r} is not an offer category ({', '.join(OFFER_CATEGORIES)})")
    return value


def parse_rules(data: Mapping[str, Any]) -> Rules:
    sensitivity = _get(data, "sensitivity", "", dict)
    eligibility = []
    for i, raw in enumerate(data.get("eligibility", [])):
        where = f"eligibility[{i}]"
        category = raw.get("category")
        offer_id = raw.get("offer_id")
        if (category is None) == (offer_id is None):
            raise RulesError(f"rules: {where} needs exactly one of category or offer_id")
        eligibility.append(
            EligibilityRule(
                category=_category(category, f"{where}.category") if category else None,
                offer_id=offer_id,
                when=_conditions(raw, where),
                reason=_text(raw, "reason", where),
            )
        )
    suppression = []
    for i, raw in enumerate(data.get("suppression", [])):
        where = f"suppression[{i}]"
        suppression.append(
            SuppressionRule(
                code=_get(raw, "code", where, str),
                kind=_get(raw, "kind", where, str),
                when=_conditions(raw, where),
                categories=tuple(
                    _category(c, f"{where}.categories") for c in _get(raw, "categories", where, list)
                ),
                text=_text(raw, "text", where),
            )
        )
    contact_table = _get(data, "contact", "", dict)
    names_table = _get(contact_table, "channel_names", "contact", dict)
    contact = ContactPolicy(
        interaction_channel=_get(contact_table, "interaction_channel", "contact", str),
        dnd_keeps=tuple(_category(c, "contact.dnd_keeps") for c in _get(contact_table, "dnd_keeps", "contact", list)),
        dnd_text=_text(contact_table, "dnd_text", "contact"),
        refusal_cooldown_days=_get(contact_table, "refusal_cooldown_days", "contact", int),
        refusal_text=_text(contact_table, "refusal_text", "contact"),
        cap_text=_text(contact_table, "cap_text", "contact"),
        wave_text=_text(contact_table, "wave_text", "contact"),
        no_wave_text=_text(contact_table, "no_wave_text", "contact"),
        channel_names={**{k: Text.of(v) for k, v in DEFAULT_CHANNEL_NAMES.items()},
                       **{k: _text(names_table, k, "contact.channel_names") for k in names_table}},
        customer_cap_text=_optional_text(contact_table, "customer_cap_text", "contact"),
        not_in_wave_text=_optional_text(contact_table, "not_in_wave_text", "contact"),
        outbound_wave_text=_optional_text(contact_table, "outbound_wave_text", "contact"),
    )
    ranking_table = _get(data, "ranking", "", dict)
    boosts = []
    for i, raw in enumerate(ranking_table.get("boosts", [])):
        where = f"ranking.boosts[{i}]"
        offer_ids = raw.get("offers", [])
        if not isinstance(offer_ids, list) or not all(isinstance(o, str) for o in offer_ids):
            raise RulesError(f"rules: {where}.offers must be a list of offer ids")
        boosts.append(
            Boost(
                category=_category(_get(raw, "category", where, str), f"{where}.category"),
                when=_conditions(raw, where),
                add=float(_get(raw, "add", where, (int, float))),
                reason=_text(raw, "reason", where),
                offer_ids=tuple(offer_ids),
            )
        )
    ranking = RankingSpec(
        segment_fact=_get(ranking_table, "segment_fact", "ranking", str),
        prior_strength=float(_get(ranking_table, "prior_strength", "ranking", (int, float))),
        base_weight=float(_get(ranking_table, "base_weight", "ranking", (int, float))),
        acceptance_text=_text(ranking_table, "acceptance_text", "ranking"),
        prior_text=_text(ranking_table, "prior_text", "ranking"),
        boosts=tuple(boosts),
    )
    if ranking.prior_strength <= 0:
        raise RulesError("rules: ranking.prior_strength must be positive")
    display_names = {fact: {value: Text.of(pair) for value, pair in names.items()}
                     for fact, names in DEFAULT_DISPLAY_NAMES.items()}
    for fact, table in _get_optional_table(data, "display_names").items():
        if not isinstance(table, dict):
            raise RulesError(f"rules: display_names.{fact} must be a table of value = {{ zh, en }}")
        display_names.setdefault(fact, {}).update(
            {str(value): _text(table, value, f"display_names.{fact}") for value in table})
    texts_table = _get_optional_table(data, "texts")
    texts = {key: _optional_text(texts_table, key, "texts")
             for key in ("already_held", "not_eligible", "operator_model", "operator_model_reason")}
    return Rules(
        version=_get(data, "version", "", str),
        price=_sensitivity(_get(sensitivity, "price", "sensitivity", dict), "sensitivity.price"),
        complaint=_sensitivity(_get(sensitivity, "complaint", "sensitivity", dict), "sensitivity.complaint"),
        eligibility=tuple(eligibility),
        suppression=tuple(suppression),
        contact=contact,
        ranking=ranking,
        display_names=display_names,
        texts=texts,
    )


def load_rules(path: Path) -> Rules:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rules file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror}") from exc
    return parse_rules(data)


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class SensitivityResult:
    level: int
    points: int
    reasons: list[dict[str, str]]
    guidance: dict[str, str]
    source: str = "rules"  # or "operator_model": the operator's own score set the level
    model: str | None = None

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]


def assess_sensitivity(spec: SensitivitySpec, facts: Mapping[str, Any]) -> SensitivityResult:
    points, reasons = 0, []
    for signal in spec.signals:
        if signal.when.holds(facts):
            points += signal.points
            reasons.append({"code": signal.id, **signal.reason.render(facts)})
    level = 0
    for index, name in enumerate(LEVEL_NAMES[1:], start=1):
        if points >= spec.thresholds[name]:
            level = index
    return SensitivityResult(level, points, reasons, spec.guidance[LEVEL_NAMES[level]].render(facts))


def operator_sensitivity(rules: Rules, spec: SensitivitySpec, derived: SensitivityResult, kind: str,
                         level: str | None, model: str | None, reason: str | None,
                         facts: Mapping[str, Any]) -> SensitivityResult:
    """The operator's own score for `kind` ("price" or "complaint") takes precedence over the rules' derivation:
    its level, its reason first (code operator_model), the guidance of that level; the rules' reasons follow.
    Without a (valid) operator level the derivation stands."""
    if level not in LEVEL_NAMES:
        return derived
    index = LEVEL_NAMES.index(level)
    model_name = model or "—"
    if reason:
        text = rules.text("operator_model_reason").render({"model": model_name, "reason": reason})
    else:
        level_name = rules.display_name(f"{kind}_level_name", level)
        text = {
            language: render(getattr(rules.text("operator_model"), language),
                             {"model": model_name,
                              "level_name": getattr(level_name, language) if isinstance(level_name, Text)
                              else level_name}, language)
            for language in ("zh", "en")
        }
    return SensitivityResult(index, derived.points, [{"code": "operator_model", **text}, *derived.reasons],
                             spec.guidance[level].render(facts), "operator_model", model)


@dataclass(frozen=True)
class WaveInfo:
    seq: int
    channel: str
    starts_on: dt.date
    ends_on: dt.date


@dataclass(frozen=True)
class CampaignContext:
    """One campaign the customer is in, with this customer's contacts in it."""

    campaign_id: str
    name: Text
    waves: tuple[WaveInfo, ...]
    caps: Mapping[str, tuple[int, int]]  # channel -> (max contacts, period days)
    inbound_may_serve_any_wave: bool
    contact_times: Mapping[str, Sequence[dt.datetime]] = field(default_factory=dict)  # channel -> times
    # The customer's membership: the wave they are targeted in (None: every wave), priority, analyst's reason.
    member_wave: int | None = None
    member_priority: int = 0
    member_reason: str | None = None

    def outside_member_wave(self, today: dt.date) -> bool:
        """Targeted in another wave than the one running today."""
        wave = self.current_wave(today)
        return self.member_wave is not None and wave is not None and wave.seq != self.member_wave

    def current_wave(self, today: dt.date) -> WaveInfo | None:
        for wave in sorted(self.waves, key=lambda w: w.seq):
            if wave.starts_on <= today <= wave.ends_on:
                return wave
        return None


@dataclass(frozen=True)
class OfferCandidate:
    offer_id: str
    category: str
    title: Text
    script: Text
    base_score: float
    monthly_fee_delta_fen: int
    campaign: CampaignContext | None
    product_id: str | None = None  # holding it (a subscription, an accepted offer) means: never pitched
    conditions: tuple[OfferCondition, ...] = ()  # the catalog's own eligibility conditions


@dataclass(frozen=True)
class CapState:
    channel: str
    used: int
    max: int
    period_days: int
    next_eligible_at: dt.datetime | None

    @property
    def reached(self) -> bool:
        return self.used >= self.max


def window_cap(channel: str, times: Sequence[dt.datetime], max_contacts: int, period_days: int,
               now: dt.datetime) -> CapState:
    """How many of `times` fall in the last `period_days`, and when the cap frees if it is reached."""
    window_start = now - dt.timedelta(days=period_days)
    in_window = sorted(t for t in times if t > window_start)
    next_at = None
    if len(in_window) >= max_contacts:
        # The cap frees when enough of the oldest contacts in the window age out of it.
        next_at = in_window[len(in_window) - max_contacts] + dt.timedelta(days=period_days)
    return CapState(channel, len(in_window), max_contacts, period_days, next_at)


def cap_state(campaign: CampaignContext, channel: str, now: dt.datetime) -> CapState | None:
    if channel not in campaign.caps:
        return None
    max_contacts, period_days = campaign.caps[channel]
    return window_cap(channel, campaign.contact_times.get(channel, ()), max_contacts, period_days, now)


def binding_cap(caps: Sequence[CapState]) -> CapState | None:
    """The cap that decides: a reached one freeing last, else the one with the fewest contacts left."""
    reached = [c for c in caps if c.reached]
    if reached:
        return max(reached, key=lambda c: (c.next_eligible_at, c.channel))
    return min(caps, key=lambda c: (c.max - c.used, c.channel), default=None)


@dataclass
class RankedOffer:
    candidate: OfferCandidate
    score: float
    reasons: list[dict[str, str]]
    suppressed_by: list[dict[str, str]]
    acceptance: float
    responses: int


def _date_text(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()


def _safe_render(template: str, facts: Mapping[str, Any], language: str) -> str:
    """A catalog text (fed, not checked like the rules file): a broken placeholder shows the text as it is."""
    try:
        return render(template, facts, language)
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


def _condition_text(rules: Rules, condition: OfferCondition, facts: Mapping[str, Any]) -> dict[str, str]:
    if condition.text is not None:
        return {"zh": _safe_render(condition.text.zh, facts, "zh"), "en": _safe_render(condition.text.en, facts, "en")}
    c = condition.condition
    values = ({"fact": c.fact, "op": c.op, "value": c.value} if c is not None
              else {"fact": "?", "op": "?", "value": condition.problem or "?"})
    generic = rules.text("not_eligible")
    return {"zh": render(generic.zh, values, "zh"), "en": render(generic.en, values, "en")}


def _customer_cap_reason(policy: ContactPolicy, cap: CapState) -> dict[str, str]:
    names = policy.channel_name(cap.channel)
    facts = {"used": cap.used, "max": cap.max, "period_days": cap.period_days,
             "next_on": _date_text(cap.next_eligible_at)}
    return {
        "code": "customer_cap",
        "kind": "contact",
        "zh": render(policy.customer_cap_text.zh, {**facts, "channel_name": names["zh"]}),
        "en": render(policy.customer_cap_text.en, {**facts, "channel_name": names["en"]}),
    }


def _contact_suppressions(
    rules: Rules, campaign: CampaignContext, now: dt.datetime
) -> list[dict[str, str]]:
    policy = rules.contact
    reasons = []
    wave = campaign.current_wave(now.date())
    if wave is None:
        reasons.append({"code": "no_wave", "kind": "contact", **policy.no_wave_text.render({})})
    elif campaign.outside_member_wave(now.date()):
        reasons.append({"code": "not_in_wave", "kind": "contact", **policy.not_in_wave_text.render(
            {"member_wave": campaign.member_wave, "seq": wave.seq, "of": len(campaign.waves)})})
    # inbound_may_serve_any_wave lets an inbound call pitch whatever wave runs; other channels serve their own.
    any_wave = campaign.inbound_may_serve_any_wave and policy.interaction_channel == "inbound_call"
    if wave is not None and wave.channel != policy.interaction_channel and not any_wave:
        facts = {
            "seq": wave.seq,
            "of": len(campaign.waves),
        }
        names = policy.channel_name(wave.channel)
        reasons.append(
            {
                "code": "wave_channel",
                "kind": "contact",
                "zh": render(policy.wave_text.zh, {**facts, "channel_name": names["zh"]}),
                "en": render(policy.wave_text.en, {**facts, "channel_name": names["en"]}),
            }
        )
    cap = cap_state(campaign, policy.interaction_channel, now)
    if cap is not None and cap.reached:
        names = policy.channel_name(cap.channel)
        facts = {"used": cap.used, "max": cap.max, "period_days": cap.period_days,
                 "next_on": _date_text(cap.next_eligible_at)}
        reasons.append(
            {
                "code": "contact_cap",
                "kind": "contact",
                "zh": render(policy.cap_text.zh, {**facts, "channel_name": names["zh"]}),
                "en": render(policy.cap_text.en, {**facts, "channel_name": names["en"]}),
            }
        )
    return reasons


def rank_offers(
    rules: Rules,
    facts: Mapping[str, Any],
    candidates: Sequence[OfferCandidate],
    stats: Mapping[str, tuple[int, int]],
    refusals: Mapping[str, dt.datetime],
    now: dt.datetime,
    *,
    customer_cap: CapState | None = None,
) -> list[RankedOffer]:
    """Every candidate, scored, with why it ranks where it does and why it is suppressed (if it is).

    `stats` maps offer id -> (responses, accepted) for the customer's segment; `refusals` maps offer id
    -> when the customer last declined it; `customer_cap` is the binding contact cap across campaigns.
    Held products come from facts["holds"] (product ids; an offer's product_id, or its offer id).
    """
    ranking, policy = rules.ranking, rules.contact
    held = frozenset(facts.get("holds") or ())
    cap_reason = _customer_cap_reason(policy, customer_cap) if customer_cap and customer_cap.reached else None
    ranked = []
    for candidate in candidates:
        responses, accepted = stats.get(candidate.offer_id, (0, 0))
        acceptance = (accepted + ranking.prior_strength * candidate.base_score) / (
            responses + ranking.prior_strength
        )
        score = ranking.base_weight * acceptance
        reasons = []
        for boost in ranking.boosts:
            if boost.applies_to(candidate.offer_id, candidate.category) and all_hold(boost.when, facts):
                score += boost.add
                reasons.append({"code": f"boost_{boost.category}", **boost.reason.render(facts)})
        segment = rules.display_name(ranking.segment_fact, facts.get(ranking.segment_fact) or "—")
        if responses:
            reasons.append(
                {
                    "code": "observed_acceptance",
                    **ranking.acceptance_text.render(
                        {"segment": segment, "acceptance_pct": round(100 * accepted / responses),
                         "responses": responses}
                    ),
                }
            )
        else:
            reasons.append(
                {"code": "catalog_prior",
                 **ranking.prior_text.render({"segment": segment, "base_pct": round(100 * candidate.base_score)})}
            )

        suppressed: list[dict[str, str]] = []
        if (candidate.product_id or candidate.offer_id) in held:
            suppressed.append({"code": "already_held", "kind": "holdings",
                               **rules.text("already_held").render(facts)})
        for rule in rules.eligibility:
            if rule.applies_to(candidate.offer_id, candidate.category) and not all_hold(rule.when, facts):
                suppressed.append({"code": "not_eligible", "kind": "eligibility", **rule.reason.render(facts)})
        for condition in candidate.conditions:
            if not condition.holds(facts):
                suppressed.append({"code": "not_eligible", "kind": "eligibility",
                                   **_condition_text(rules, condition, facts)})
        for rule in rules.suppression:
            if candidate.category in rule.categories and all_hold(rule.when, facts):
                suppressed.append({"code": rule.code, "kind": rule.kind, **rule.text.render(facts)})
        if facts.get("dnd") and candidate.category not in policy.dnd_keeps:
            suppressed.append({"code": "dnd", "kind": "contact", **policy.dnd_text.render(facts)})
        if cap_reason is not None and candidate.category not in policy.dnd_keeps:
            suppressed.append(cap_reason)
        declined_at = refusals.get(candidate.offer_id)
        if declined_at is not None:
            until = declined_at + dt.timedelta(days=policy.refusal_cooldown_days)
            if until > now:
                suppressed.append(
                    {
                        "code": "recent_refusal",
                        "kind": "contact",
                        **policy.refusal_text.render(
                            {"declined_on": _date_text(declined_at), "next_on": _date_text(until)}
                        ),
                    }
                )
        if candidate.campaign is not None:
            suppressed.extend(_contact_suppressions(rules, candidate.campaign, now))
        ranked.append(RankedOffer(candidate, round(score, 4), reasons, suppressed, acceptance, responses))
    # Offers the agent may pitch first, best first; suppressed ones after, still in score order.
    ranked.sort(key=lambda r: (bool(r.suppressed_by), -r.score, r.candidate.offer_id))
    return ranked
