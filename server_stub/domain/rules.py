"""The decision rules file (resources/rules/rules.toml) as typed objects, and its pure evaluation.

Nothing here touches the database or HTTP: the service layer gathers a customer's facts and contact
history, this module turns them into sensitivity levels, eligibility, suppression and a ranking.
"""

from __future__ import annotations

import datetime as dt
import operator
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server_stub.domain.vocabulary import OFFER_CATEGORIES

LEVEL_NAMES = ("none", "low", "medium", "high")


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
        channel_names={k: _text(names_table, k, "contact.channel_names") for k in names_table},
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
    display_names = {}
    for fact, table in _get_optional_table(data, "display_names").items():
        if not isinstance(table, dict):
            raise RulesError(f"rules: display_names.{fact} must be a table of value = {{ zh, en }}")
        display_names[fact] = {str(value): _text(table, value, f"display_names.{fact}") for value in table}
    return Rules(
        version=_get(data, "version", "", str),
        price=_sensitivity(_get(sensitivity, "price", "sensitivity", dict), "sensitivity.price"),
        complaint=_sensitivity(_get(sensitivity, "complaint", "sensitivity", dict), "sensitivity.complaint"),
        eligibility=tuple(eligibility),
        suppression=tuple(suppression),
        contact=contact,
        ranking=ranking,
        display_names=display_names,
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


def cap_state(campaign: CampaignContext, channel: str, now: dt.datetime) -> CapState | None:
    if channel not in campaign.caps:
        return None
    max_contacts, period_days = campaign.caps[channel]
    window_start = now - dt.timedelta(days=period_days)
    in_window = sorted(t for t in campaign.contact_times.get(channel, ()) if t > window_start)
    next_at = None
    if len(in_window) >= max_contacts:
        # The cap frees when enough of the oldest contacts in the window age out of it.
        next_at = in_window[len(in_window) - max_contacts] + dt.timedelta(days=period_days)
    return CapState(channel, len(in_window), max_contacts, period_days, next_at)


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


def _contact_suppressions(
    rules: Rules, campaign: CampaignContext, now: dt.datetime
) -> list[dict[str, str]]:
    policy = rules.contact
    reasons = []
    wave = campaign.current_wave(now.date())
    if wave is None:
        reasons.append({"code": "no_wave", "kind": "contact", **policy.no_wave_text.render({})})
    elif wave.channel != policy.interaction_channel and not campaign.inbound_may_serve_any_wave:
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
) -> list[RankedOffer]:
    """Every candidate, scored, with why it ranks where it does and why it is suppressed (if it is).

    `stats` maps offer id -> (responses, accepted) for the customer's segment; `refusals` maps offer id
    -> when the customer last declined it.
    """
    ranking, policy = rules.ranking, rules.contact
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
                 **ranking.prior_text.render({"base_pct": round(100 * candidate.base_score)})}
            )

        suppressed: list[dict[str, str]] = []
        for rule in rules.eligibility:
            if rule.applies_to(candidate.offer_id, candidate.category) and not all_hold(rule.when, facts):
                suppressed.append({"code": "not_eligible", "kind": "eligibility", **rule.reason.render(facts)})
        for rule in rules.suppression:
            if candidate.category in rule.categories and all_hold(rule.when, facts):
                suppressed.append({"code": rule.code, "kind": rule.kind, **rule.text.render(facts)})
        if facts.get("dnd") and candidate.category not in policy.dnd_keeps:
            suppressed.append({"code": "dnd", "kind": "contact", **policy.dnd_text.render(facts)})
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
