"""Team-lead statistics from the local store (never from the server). Qt-free; the window and `callcue
stats` both use it.

Who sees what is decided here, not in the UI: a lead sees every agent (and may pick one); an agent sees only
their own figures, whatever filter is asked for. Dates are days of the workstation's time zone (`zone`); the
store keeps UTC. Definitions (the property tests in tests/stats check every one against a plain computation):

- acceptance rate = accepted / answered, where answered = accepted + declined + considering (outcomes about a
  specific offer); None when nothing was answered.
- time from pop to outcome: outcomes linked to their pop; whole seconds (rounded down) for median and p90
  (nearest rank), the exact mean; an outcome stamped before its pop (clock set back) is left out.
- callbacks due: agreed for a time in the range; kept: another outcome for that customer was recorded after
  the callback was agreed and by its time + CALLBACK_GRACE; missed: not kept and that moment has passed.
- sync backlog and "needs attention": the outbox now (not the date range), in the viewer's scope.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desktop.domain.outcomes import OutboxStatus
from desktop.domain.stats import (  # noqa: F401 - re-exported: the service's public types
    ANSWERED,
    CALLBACK_GRACE,
    MAX_RANGE_DAYS,
    RESULTS,
    ROLE_AGENT,
    ROLE_LEAD,
    Breakdown,
    Callbacks,
    DayFigures,
    InvalidStatsRequest,
    PopToOutcome,
    StatsFilters,
    StatsForbidden,
    StatsReport,
    SyncBacklog,
    Viewer,
    _breakdown,
    _sorted_breakdowns,
    nearest_rank,
    parse_date,
    report_rows,
    report_to_csv,
    report_to_json,
    report_to_json_text,
    wave_key,
)
from desktop.services.clock import Clock, utc_now
from desktop.storage import LocalStore
from desktop.storage.stats import RangeQuery, StatsRepository, parse_slot

CSV_ENCODING = "utf-8-sig"  # with a BOM, so Excel shows Chinese agent and campaign names right


def local_zone() -> ZoneInfo | dt.tzinfo:
    """The workstation's time zone: $TZ if it names one, else the system's (tzlocal), else its fixed offset."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        import tzlocal

        return tzlocal.get_localzone()
    except Exception:  # no zone database or an unusual system setting: the current offset still helps
        return dt.datetime.now().astimezone().tzinfo or dt.UTC


def zone_name(zone: dt.tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


class StatsService:
    """Builds a StatsReport for a viewer. Blocking (SQLite): run it on the "db" pool."""

    def __init__(self, store: LocalStore, zone: dt.tzinfo | None = None, clock: Clock = utc_now) -> None:
        self._repo = StatsRepository(store.engine, store.path)
        self.zone = zone if zone is not None else local_zone()
        self._clock = clock

    def today(self) -> dt.date:
        return self._clock().astimezone(self.zone).date()

    def local_start(self, day: dt.date) -> dt.datetime:
        """The first instant of a local day, in UTC."""
        return dt.datetime.combine(day, dt.time(), tzinfo=self.zone).astimezone(dt.UTC)

    def scope(self, filters: StatsFilters, viewer: Viewer) -> str | None:
        """The agent the figures are limited to; raises StatsForbidden when an agent asks for another."""
        if viewer.is_lead:
            return filters.agent_id
        if not viewer.agent_id:
            raise StatsForbidden("sign in first: statistics show the signed-in agent's own figures"
                                 "（请先登录：统计只显示已登录坐席自己的数据）")
        if filters.agent_id not in (None, viewer.agent_id):
            raise StatsForbidden(f"agents see only their own figures, not {filters.agent_id!r}"
                                 f"（坐席只能查看自己的数据，不能查看 {filters.agent_id!r}）")
        return viewer.agent_id

    def _slot_minutes(self, start: dt.datetime, end: dt.datetime) -> int:
        """60 when every offset of the zone in the range is a whole hour (sampled every 6 hours)."""
        t = start
        while t <= end:
            offset = t.astimezone(self.zone).utcoffset() or dt.timedelta()
            if offset % dt.timedelta(hours=1):
                return 15
            t += dt.timedelta(hours=6)
        return 60

    def report(self, filters: StatsFilters, viewer: Viewer) -> StatsReport:
        agent = self.scope(filters, viewer)
        now = self._clock()
        start, end = self.local_start(filters.date_from), self.local_start(filters.date_to + dt.timedelta(days=1))
        q = RangeQuery(start, end, agent, filters.campaign_id, filters.wave)
        slot_minutes = self._slot_minutes(start, end)
        with self._repo.snapshot() as repo:
            return self._report(repo, filters, viewer, agent, q, slot_minutes, now)

    def _report(self, repo, filters: StatsFilters, viewer: Viewer, agent: str | None, q: RangeQuery,
                slot_minutes: int, now: dt.datetime) -> StatsReport:
        local_of: dict[str, dt.datetime] = {}

        def local(slot: str) -> dt.datetime:
            value = local_of.get(slot)
            if value is None:
                value = local_of[slot] = parse_slot(slot).astimezone(self.zone)
            return value

        # Outcomes per local day and hour (one query), totals from the same rows.
        per_day: dict[dt.date, Counter] = defaultdict(Counter)
        per_hour: dict[str, Counter] = defaultdict(Counter)
        totals: Counter = Counter()
        for slot, result, n in repo.outcome_slots(q, slot_minutes):
            at = local(slot)
            per_day[at.date()][result] += n
            per_hour[f"{at.hour:02d}"][result] += n
            totals[result] += n

        def grouped(columns: list[str], key_of) -> dict[str, Counter]:
            groups: dict[str, Counter] = defaultdict(Counter)
            for *cols, result, n in repo.outcomes_by(q, columns):
                key = key_of(*cols)
                if key is not None:
                    groups[key][result] += n
            return groups

        by_offer = grouped(["offer_id"], lambda o: o)
        by_wave_rows = repo.outcomes_by(q, ["campaign_id", "wave"])
        by_campaign: dict[str, Counter] = defaultdict(Counter)
        by_wave: dict[str, Counter] = defaultdict(Counter)
        for campaign, wave, result, n in by_wave_rows:
            if campaign is None:
                continue
            by_campaign[campaign][result] += n
            by_wave[wave_key(campaign, wave)][result] += n
        by_agent = grouped(["agent_id"], lambda a: a)

        pops_per_day: Counter = Counter()
        presented_per_day: Counter = Counter()
        for slot, pops, presented in repo.pop_slots(q, slot_minutes):
            day = local(slot).date()
            pops_per_day[day] += pops
            presented_per_day[day] += presented

        histogram: dict[int, int] = {}
        total_us = 0
        for seconds, n, us in repo.pop_to_outcome(q):
            histogram[int(seconds)] = n
            total_us += int(us)
        timed = sum(histogram.values())
        pop_to_outcome = PopToOutcome(timed, total_us / timed / 1e6 if timed else None,
                                      nearest_rank(histogram, 0.5), nearest_rank(histogram, 0.9))

        suppressed = tuple(sorted(repo.suppressions(q), key=lambda r: (-r[1], r[0])))
        callbacks = Callbacks(*repo.callbacks(q, now, CALLBACK_GRACE))
        counts, oldest, items = repo.backlog(agent)
        backlog = SyncBacklog(counts[OutboxStatus.PENDING], counts[OutboxStatus.NEEDS_ATTENTION], oldest,
                              tuple(items))

        # Drop-down choices: the whole range, whatever agent / campaign is picked (within the viewer's scope).
        # Without filters they are the keys of the figures above (no extra query).
        if ((viewer.is_lead and agent is None) or not viewer.is_lead) and filters.campaign_id is None \
                and filters.wave is None:
            agents = sorted(k for k in by_agent)
            campaigns = sorted({(c, w) for c, w, _r, _n in by_wave_rows if c is not None},
                               key=lambda cw: (cw[0], cw[1] is not None, cw[1] or 0))
        else:
            agents, campaigns = repo.choices(RangeQuery(q.start, q.end, None if viewer.is_lead else agent))

        daily = tuple(
            DayFigures(day, pops_per_day[day], presented_per_day[day], _breakdown(day.isoformat(), per_day[day]))
            for day in filters.days()
        )
        return StatsReport(
            filters=filters, scope_agent=agent, zone=zone_name(self.zone), generated_at=now,
            pops=sum(pops_per_day.values()), offers_presented=sum(presented_per_day.values()),
            totals=_breakdown("all", totals),
            by_offer=_sorted_breakdowns(by_offer), by_campaign=_sorted_breakdowns(by_campaign),
            by_wave=_sorted_breakdowns(by_wave, by_key=True), by_agent=_sorted_breakdowns(by_agent),
            by_hour=_sorted_breakdowns(per_hour, by_key=True), daily=daily, pop_to_outcome=pop_to_outcome,
            suppressed=suppressed, callbacks=callbacks, backlog=backlog,
            agents=tuple(agents if viewer.is_lead else ([agent] if agent else [])), campaigns=tuple(campaigns),
        )


def write_csv(report: StatsReport, path: Path) -> Path:
    """Write the CSV export."""
    path = Path(path)
    path.write_text(report_to_csv(report), encoding=CSV_ENCODING)
    return path
