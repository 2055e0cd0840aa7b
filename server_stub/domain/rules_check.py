"""`callcue-server rules check`: what a parsed rules file would get wrong, alone and against a live catalog.

Parsing (load_rules) already refuses a malformed file. This looks further: facts no condition can ever
see, offer ids the catalog lacks, categories no offer has, channels without a name. Errors make the file
unfit to serve (exit 2); warnings are printed and the file may be served. Pure: the caller reads the
catalog (`LiveCatalog`) from the database.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from server_stub.domain.rules import Condition, Rules, Text
from server_stub.domain.vocabulary import ANY_CHANNEL, CHANNELS, DERIVED_FACTS, FACTS

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning
    where: str  # the rules file's key path, e.g. ranking.boosts[2].offers
    en: str
    zh: str

    def text(self, lang: str = "en") -> str:
        if lang.lower().startswith("zh"):
            return f"{'错误' if self.severity == ERROR else '警告'}：{self.where}：{self.zh}"
        return f"{self.severity}: {self.where}: {self.en}"


@dataclass(frozen=True)
class LiveCatalog:
    """What the database's catalog holds, as far as the rules care."""

    offers: Mapping[str, tuple[str, bool]]  # offer id -> (category, active)
    # channel -> where it is used (e.g. "campaign CMP_X wave 2"), over active campaigns and customer caps
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _conditions(rules: Rules) -> Iterator[tuple[str, Condition, bool]]:
    """(where, condition, is a sensitivity signal) of every condition in the file."""
    for kind, spec in (("price", rules.price), ("complaint", rules.complaint)):
        for i, signal in enumerate(spec.signals):
            yield f"sensitivity.{kind}.signals[{i}].when", signal.when, True
    for i, rule in enumerate(rules.eligibility):
        for j, condition in enumerate(rule.when):
            yield f"eligibility[{i}].when[{j}]", condition, False
    for i, rule in enumerate(rules.suppression):
        for j, condition in enumerate(rule.when):
            yield f"suppression[{i}].when[{j}]", condition, False
    for i, boost in enumerate(rules.ranking.boosts):
        for j, condition in enumerate(boost.when):
            yield f"ranking.boosts[{i}].when[{j}]", condition, False


def _fact_texts(rules: Rules) -> Iterator[tuple[str, Text]]:
    """Texts rendered with the customer's facts (their {placeholders} must be facts)."""
    for kind, spec in (("price", rules.price), ("complaint", rules.complaint)):
        for i, signal in enumerate(spec.signals):
            yield f"sensitivity.{kind}.signals[{i}].reason", signal.reason
    for i, rule in enumerate(rules.eligibility):
        yield f"eligibility[{i}].reason", rule.reason
    for i, rule in enumerate(rules.suppression):
        yield f"suppression[{i}].text", rule.text
    for i, boost in enumerate(rules.ranking.boosts):
        yield f"ranking.boosts[{i}].reason", boost.reason


def _placeholders(template: str) -> set[str]:
    try:
        return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return set()


def check_rules(rules: Rules, catalog: LiveCatalog | None = None) -> list[Finding]:
    """Everything worth telling about `rules` (and, given a catalog, about the two together)."""
    findings: list[Finding] = []
    known = set(FACTS)
    shown_facts = ", ".join(FACTS)

    def add(severity: str, where: str, en: str, zh: str) -> None:
        findings.append(Finding(severity, where, en, zh))

    for where, condition, is_signal in _conditions(rules):
        if condition.fact not in known:
            add(ERROR, f"{where}.fact", f"{condition.fact!r} is not a fact the server knows, so this condition "
                f"never holds (known facts: {shown_facts})",
                f"服务器不认识事实 {condition.fact!r}，该条件永远不成立（可用事实：{shown_facts}）")
        elif is_signal and condition.fact in DERIVED_FACTS:
            add(ERROR, f"{where}.fact", f"{condition.fact} is derived from the sensitivity signals themselves: a "
                "signal cannot use it", f"{condition.fact} 由敏感度信号本身得出，信号中不能使用")
    for where, text in _fact_texts(rules):
        for name in sorted(_placeholders(text.zh) | _placeholders(text.en)):
            if name not in known:
                add(WARNING, where, f"{{{name}}} is not a fact: the agent would read “—” there",
                    f"{{{name}}} 不是事实：坐席将看到“—”")
    if rules.contact.interaction_channel not in CHANNELS:
        add(ERROR, "contact.interaction_channel", f"{rules.contact.interaction_channel!r} is not a channel "
            f"({', '.join(CHANNELS)})", f"{rules.contact.interaction_channel!r} 不是渠道（{', '.join(CHANNELS)}）")
    for channel in rules.contact.channel_names:
        if channel not in CHANNELS and channel != ANY_CHANNEL:
            add(WARNING, f"contact.channel_names.{channel}", f"{channel!r} is not a channel ({', '.join(CHANNELS)})",
                f"{channel!r} 不是渠道（{', '.join(CHANNELS)}）")
    for fact in rules.display_names:
        if fact not in known:
            add(WARNING, f"display_names.{fact}", f"{fact!r} is not a fact: these names are never shown",
                f"{fact!r} 不是事实：这些名称不会显示")
    if catalog is not None:
        findings += _against_catalog(rules, catalog)
    return findings


def _against_catalog(rules: Rules, catalog: LiveCatalog) -> list[Finding]:
    findings: list[Finding] = []

    def offer(where: str, offer_id: str) -> None:
        if offer_id not in catalog.offers:
            findings.append(Finding(ERROR, where, f"offer {offer_id} is not in the catalog (a typo, or an offer "
                                    "never imported)", f"产品 {offer_id} 不在产品目录中（拼写错误，或从未导入）"))
        elif not catalog.offers[offer_id][1]:
            findings.append(Finding(WARNING, where, f"offer {offer_id} is retired: this rule no longer applies "
                                    "to anything", f"产品 {offer_id} 已退役：此规则不再作用于任何产品"))

    for i, rule in enumerate(rules.eligibility):
        if rule.offer_id:
            offer(f"eligibility[{i}].offer_id", rule.offer_id)
    for i, boost in enumerate(rules.ranking.boosts):
        for offer_id in boost.offer_ids:
            offer(f"ranking.boosts[{i}].offers", offer_id)
            category = catalog.offers.get(offer_id, (boost.category, True))[0]
            if category != boost.category:
                findings.append(Finding(
                    ERROR, f"ranking.boosts[{i}].offers", f"offer {offer_id} is a {category} offer, but this "
                    f"boost is for {boost.category}: it never lifts it",
                    f"产品 {offer_id} 属于 {category} 类，此加权针对 {boost.category} 类：不会生效"))

    live_categories = {category for category, active in catalog.offers.values() if active}
    used: dict[str, str] = {}
    for i, rule in enumerate(rules.eligibility):
        if rule.category:
            used.setdefault(rule.category, f"eligibility[{i}].category")
    for i, rule in enumerate(rules.suppression):
        for category in rule.categories:
            used.setdefault(category, f"suppression[{i}].categories")
    for i, boost in enumerate(rules.ranking.boosts):
        used.setdefault(boost.category, f"ranking.boosts[{i}].category")
    for category in rules.contact.dnd_keeps:
        used.setdefault(category, "contact.dnd_keeps")
    for category, where in used.items():
        if category not in live_categories:
            findings.append(Finding(WARNING, where, f"no active offer in the catalog has category {category}",
                                    f"产品目录中没有类别为 {category} 的在用产品"))

    names = rules.contact.channel_names
    for channel, uses in sorted(catalog.channels.items()):
        if channel not in names:
            findings.append(Finding(WARNING, f"contact.channel_names.{channel}",
                                    f"channel {channel} ({', '.join(uses[:3])}) has no name: the agent would read "
                                    f"“{channel}”", f"渠道 {channel}（{', '.join(uses[:3])}）没有名称：坐席将看到"
                                    f"“{channel}”"))
    return findings


__all__ = ["ERROR", "WARNING", "Finding", "LiveCatalog", "check_rules"]
