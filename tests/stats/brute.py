"""The oracle: every statistics figure computed the plain way, one Python loop over the raw records.

It shares no code with desktop/services/stats.py or desktop/storage/stats.py beyond the definitions written
in the service's docstring, so a wrong SQL slot, time-zone mapping or index choice shows up as a difference.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

RESULTS = ("accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb")
ANSWERED = ("accepted", "declined", "considering")


@dataclass
class Out:
    outcome_id: str
    customer_id: str
    result: str
    recorded_at: dt.datetime
    agent_id: str | None
    campaign_id: str | None
    wave: int | None
    offer_id: str | None
    popped_at: dt.datetime | None
    callback_at: dt.datetime | None
    status: str = "pending"


@dataclass
class Pop:
    popped_at: dt.datetime
    agent_id: str | None
    campaign_id: str | None
    wave: int | None
    presented: list[str]
    suppressed: list[dict] = field(default_factory=list)


def _counts(outs) -> dict[str, int]:
    c = Counter(o.result for o in outs)
    return {r: c[r] for r in RESULTS if c[r]}


def _rate(counts: dict[str, int]) -> float | None:
    answered = sum(counts.get(r, 0) for r in ANSWERED)
    return counts.get("accepted", 0) / answered if answered else None


def _quantile(values: list[int], q: float) -> int | None:
    if not values:
        return None
    values = sorted(values)
    return values[max(1, math.ceil(q * len(values))) - 1]


def expected(outs: list[Out], pops: list[Pop], *, zone, date_from: dt.date, date_to: dt.date,
             agent: str | None, campaign: str | None, wave: int | None, now: dt.datetime,
             grace: dt.timedelta, scope: str | None = None) -> dict:
    """`scope`: the agent an agent viewer is limited to (the filters' choices stay within it)."""
    def in_range(t: dt.datetime) -> bool:
        return date_from <= t.astimezone(zone).date() <= date_to

    def matches(x) -> bool:
        return ((agent is None or x.agent_id == agent) and (campaign is None or x.campaign_id == campaign)
                and (wave is None or x.wave == wave))

    sel = [o for o in outs if in_range(o.recorded_at) and matches(o)]
    psel = [p for p in pops if in_range(p.popped_at) and matches(p)]

    def group(key_of) -> dict[str, dict[str, int]]:
        groups = defaultdict(list)
        for o in sel:
            key = key_of(o)
            if key is not None:
                groups[key].append(o)
        return {k: _counts(v) for k, v in groups.items()}

    days = {}
    d = date_from
    while d <= date_to:
        day_outs = [o for o in sel if o.recorded_at.astimezone(zone).date() == d]
        day_pops = [p for p in psel if p.popped_at.astimezone(zone).date() == d]
        days[d] = (len(day_pops), sum(len(p.presented) for p in day_pops), _counts(day_outs))
        d += dt.timedelta(days=1)

    durations_us = []
    for o in sel:
        if o.popped_at is not None:
            us = (o.recorded_at - o.popped_at) // dt.timedelta(microseconds=1)
            if us >= 0:
                durations_us.append(us)
    seconds = [us // 1_000_000 for us in durations_us]

    suppressed = Counter()
    for p in psel:
        for s in p.suppressed:
            for code in s["codes"]:
                suppressed[code] += 1

    due = kept = missed = 0
    for cb in outs:
        if cb.result != "callback" or cb.callback_at is None or not matches(cb):
            continue
        # The store keeps callback times to the second. In UTC: aware arithmetic in the callback's own zone
        # is wall-clock arithmetic (01:10 EST, the second 01:10 of a fall-back night, + 30 min = 01:40 EDT).
        at = cb.callback_at.astimezone(dt.UTC).replace(microsecond=0)
        if not in_range(at):
            continue
        due += 1
        was_kept = any(o.customer_id == cb.customer_id and cb.recorded_at < o.recorded_at <= at + grace
                       for o in outs)
        if was_kept:
            kept += 1
        elif at + grace < now:
            missed += 1

    scoped = [o for o in outs if in_range(o.recorded_at) and (scope is None or o.agent_id == scope)]
    choices = ([scope] if scope else sorted({o.agent_id for o in scoped if o.agent_id is not None}),
               sorted({(o.campaign_id, o.wave) for o in scoped if o.campaign_id is not None},
                      key=lambda cw: (cw[0], cw[1] is not None, cw[1] or 0)))
    backlog_outs = [o for o in outs if agent is None or o.agent_id == agent]
    return {
        "pops": len(psel),
        "offers_presented": sum(len(p.presented) for p in psel),
        "totals": _counts(sel),
        "rate": _rate(_counts(sel)),
        "by_offer": group(lambda o: o.offer_id),
        "by_campaign": group(lambda o: o.campaign_id),
        "by_wave": group(lambda o: None if o.campaign_id is None else
                         f"{o.campaign_id} · {o.wave if o.wave is not None else '—'}"),
        "by_agent": group(lambda o: o.agent_id),
        "by_hour": group(lambda o: f"{o.recorded_at.astimezone(zone).hour:02d}"),
        "days": days,
        "pop_to_outcome": (len(durations_us), sum(durations_us) / len(durations_us) / 1e6 if durations_us else None,
                           _quantile(seconds, 0.5), _quantile(seconds, 0.9)),
        "suppressed": dict(suppressed),
        "callbacks": (due, kept, missed),
        "choices": choices,
        "pending": sum(1 for o in backlog_outs if o.status == "pending"),
        "needs_attention": sorted(o.outcome_id for o in backlog_outs if o.status == "needs_attention"),
    }
