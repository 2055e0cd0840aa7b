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

import dataclasses
import datetime as dt
import logging
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desktop.domain.errors import UserFacingError
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
from desktop.storage.stats import (
    RESULT_ORDER,
    RangeQuery,
    StatsRepository,
    StatsSnapshot,
    day_blocks,
    parse_slot,
    parse_store_time,
    utc_day_number,
    utc_day_start,
)

log = logging.getLogger(__name__)
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
        self._store = store
        self.zone = zone if zone is not None else local_zone()
        self._clock = clock
        self._cache = _DayCache()
        self._lock = threading.Lock()  # one report at a time per service (the cache is not shared otherwise)
        self._widths: dict[tuple[dt.datetime, dt.datetime], int | None] = {}
        self._agg_cache = _AggregateCache()

    def _names(self) -> dict[str, dict[str, tuple[str, str]]]:
        """Offer and campaign names (statistics still count when they cannot be read: ids then)."""
        try:
            return self._store.pops.names()
        except UserFacingError as exc:
            log.warning("display names not read", extra={"error_code": exc.code})
            return {}

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
        """Every figure for the filters, within the viewer's scope. One read transaction (a consistent view).

        The whole team with no filter (a lead's usual view) is read from the counters that the triggers of
        migration 0005 keep (_aggregated): a year in tens of milliseconds, nothing cached. Otherwise the
        report is built from one part per local day; parts of days that are over are kept (see _DayCache)
        and reused until rows are added to them, so a refresh reads only today's rows, the rows added since,
        callbacks still open and the outbox.
        """
        agent = self.scope(filters, viewer)
        now = self._clock()
        start, end = self.local_start(filters.date_from), self.local_start(filters.date_to + dt.timedelta(days=1))
        unfiltered = agent is None and filters.campaign_id is None and filters.wave is None
        with self._lock, self._repo.snapshot() as repo:
            width = None
            if unfiltered:
                if (start, end) not in self._widths:
                    if len(self._widths) > 1000:
                        self._widths.clear()
                    self._widths[(start, end)] = self._aggregate_width(start, end)
                width = self._widths[(start, end)]
            if width is not None:  # the whole team, no filter: the pre-aggregated counters (migration 0005)
                self._agg_cache.follow(repo)
                figures = self._aggregated(repo, filters, start, end, width, now)
            else:
                self._cache.follow(repo, self, now)
                parts = [self._part(repo, day, agent, filters.campaign_id, filters.wave, now)
                         for day in filters.days()]
                if filters.campaign_id is None and filters.wave is None and (agent is None or not viewer.is_lead):
                    choice_parts = parts
                else:  # the drop-downs offer everything in the range (within the viewer's scope)
                    scope = None if viewer.is_lead else agent
                    choice_parts = [self._part(repo, day, scope, None, None, now) for day in filters.days()]
                figures = _Figures.from_parts(filters, parts, choice_parts)
            counts, oldest, items = repo.backlog(agent)
        backlog = SyncBacklog(counts[OutboxStatus.PENDING], counts[OutboxStatus.NEEDS_ATTENTION], oldest,
                              tuple(items))
        return self._build(filters, viewer, agent, now, figures, backlog)

    def _aggregate_width(self, start: dt.datetime, end: dt.datetime) -> int | None:
        """The counters' slot width for this zone and range: 60 when every offset is a whole hour, 15 when
        every offset is a multiple of 15 minutes (every zone in use today), None (use the grouped queries)
        otherwise. Offsets sampled every 6 hours, as _slot_minutes does."""
        if start.year < 1971:
            return None
        width = 60
        t = start
        while True:
            offset = t.astimezone(self.zone).utcoffset() or dt.timedelta()
            if offset % dt.timedelta(minutes=15):
                return None
            if offset % dt.timedelta(hours=1):
                width = 15
            if t >= end:
                return width
            t = min(t + dt.timedelta(hours=6), end)

    def _aggregated(self, repo: StatsSnapshot, filters: StatsFilters, start: dt.datetime, end: dt.datetime,
                    width: int, now: dt.datetime) -> _Figures:
        """Every figure of the whole team over [start, end) from the counters: daily and hourly figures from
        UTC slots (each inside one local day and hour), the breakdowns from blocks of whole UTC days plus the
        grouped queries for the parts of a UTC day at either end."""
        f = _Figures()
        zone = self.zone
        days = {day: i for i, day in enumerate(filters.days())}
        results = [Counter() for _ in days]
        day_pops = [0] * len(days)
        day_presented = [0] * len(days)
        local: dict[str, tuple[int, str]] = {}

        def where(slot: str) -> tuple[int, str]:
            hit = local.get(slot)
            if hit is None:
                t = parse_slot(slot).astimezone(zone)
                hit = local[slot] = (days[t.date()], f"{t.hour:02d}")
            return hit

        first = utc_day_number(start - dt.timedelta(microseconds=1)) + 1  # the first whole UTC day
        last = utc_day_number(end)  # the UTC day [end) begins; whole days are [first, last)
        # Whole UTC days before the last are read once and kept until rows are added to them (_AggregateCache);
        # the rest of the range (today, mostly) is read every time.
        cut = utc_day_start(last) if first < last else start
        slots = [] if cut == start else self._agg_cache.get(
            ("slots", start, cut, width), utc_day_number(start), last, lambda: repo.slots(start, cut, width))
        for slot, pops, presented, *counts in [*slots, *repo.slots(cut, end, width)]:
            i, hour = where(slot)
            day_pops[i] += pops
            day_presented[i] += presented
            day = results[i]
            for result, n in zip(RESULT_ORDER, counts, strict=True):
                if n:
                    day[result] += n
                    f.per_hour[(hour, result)] += n
        f.pops, f.presented = sum(day_pops), sum(day_presented)
        f.daily = [DayFigures(day, day_pops[i], day_presented[i], _breakdown(day.isoformat(), results[i]))
                   for day, i in days.items()]
        edges = [(start, end)]
        if first < last:
            edges = [(start, utc_day_start(first)), (utc_day_start(last), end)]
            blocks = self._agg_cache.get(("blocks", first, last), first, last,
                                         lambda: repo.blocks(day_blocks(first, last)))
            for kind, k1, k2, result, n, us in blocks:
                if kind == "o":
                    f.by_offer[(k1, result)] += n
                elif kind == "c":
                    f.by_cw[(k1, None if k2 == -1 else k2, result)] += n
                elif kind == "a":
                    f.by_agent[(k1, result)] += n
                elif kind == "h":
                    f.histogram[k2] += n
                    f.total_us += us
                else:
                    f.suppressed[k1] += n
        for a, b in edges:
            if a >= b:
                continue
            q = RangeQuery(a, b)
            for who, campaign, wave, offer, result, n in repo.outcome_breakdowns(q):
                if offer is not None:
                    f.by_offer[(offer, result)] += n
                if campaign is not None:
                    f.by_cw[(campaign, wave, result)] += n
                if who is not None:
                    f.by_agent[(who, result)] += n
            for seconds, n, us in repo.pop_to_outcome(q):
                f.histogram[int(seconds)] += n
                f.total_us += int(us)
            f.suppressed.update(dict(repo.suppressions(q)))
        f.callbacks = repo.callbacks_kept(RangeQuery(start, end), now, CALLBACK_GRACE)
        f.agents = {who for who, _r in f.by_agent}
        f.campaigns = {(c, w) for c, w, _r in f.by_cw}
        return f

    def _part(self, repo: StatsSnapshot, day: dt.date, agent: str | None, campaign: str | None,
              wave: int | None, now: dt.datetime) -> _DayPart:
        key = (day, agent, campaign, wave)
        start, end = self.local_start(day), self.local_start(day + dt.timedelta(days=1))
        part = self._cache.get(key)
        if part is None:
            part = self._day_part(repo, RangeQuery(start, end, agent, campaign, wave))
            if end <= now:  # over: nothing more can be recorded in it (the cache watches for late rows)
                self._cache.put(key, part)
        callbacks = self._cache.get_callbacks(key)
        if callbacks is None:
            callbacks = repo.callbacks(RangeQuery(start, end, agent, campaign, wave), now, CALLBACK_GRACE)
            if end + CALLBACK_GRACE < now:  # every callback of the day is kept or missed for good
                self._cache.put_callbacks(key, callbacks)
        return dataclasses.replace(part, callbacks=callbacks)

    def _day_part(self, repo: StatsSnapshot, q: RangeQuery) -> _DayPart:
        slot_minutes = self._slot_minutes(q.start, q.end)
        per_hour: Counter = Counter()
        for slot, result, n in repo.outcome_slots(q, slot_minutes):
            per_hour[(f"{parse_slot(slot).astimezone(self.zone).hour:02d}", result)] += n
        by_offer: Counter = Counter()
        by_cw: Counter = Counter()
        by_agent: Counter = Counter()
        for who, campaign, wave, offer, result, n in repo.outcome_breakdowns(q):
            if offer is not None:
                by_offer[(offer, result)] += n
            if campaign is not None:
                by_cw[(campaign, wave, result)] += n
            if who is not None:
                by_agent[(who, result)] += n
        pops, presented = repo.pop_totals(q)
        histogram: Counter = Counter()
        total_us = 0
        for seconds, n, us in repo.pop_to_outcome(q):
            histogram[int(seconds)] += n
            total_us += int(us)
        results: Counter = Counter()
        for (_hour, result), n in per_hour.items():
            results[result] += n
        return _DayPart(per_hour, by_offer, by_cw, by_agent, histogram, total_us, pops, presented,
                        Counter(dict(repo.suppressions(q))), results)

    def _build(self, filters: StatsFilters, viewer: Viewer, agent: str | None, now: dt.datetime,
               f: _Figures, backlog: SyncBacklog) -> StatsReport:
        flat_hour, flat_offer, flat_cw, flat_agent = f.per_hour, f.by_offer, f.by_cw, f.by_agent
        histogram, total_us = f.histogram, f.total_us
        per_hour: dict[str, Counter] = defaultdict(Counter)
        totals: Counter = Counter()
        for (hour, result), n in flat_hour.items():
            per_hour[hour][result] += n
            totals[result] += n
        by_offer: dict[str, Counter] = defaultdict(Counter)
        for (offer, result), n in flat_offer.items():
            by_offer[offer][result] += n
        by_campaign: dict[str, Counter] = defaultdict(Counter)
        by_wave: dict[str, Counter] = defaultdict(Counter)
        for (campaign, wave, result), n in flat_cw.items():
            by_campaign[campaign][result] += n
            by_wave[wave_key(campaign, wave)][result] += n
        by_agent: dict[str, Counter] = defaultdict(Counter)
        for (who, result), n in flat_agent.items():
            by_agent[who][result] += n
        timed = sum(histogram.values())
        agents = sorted(f.agents) if viewer.is_lead else ([agent] if agent else [])
        campaigns = sorted(f.campaigns, key=lambda cw: (cw[0], cw[1] is not None, cw[1] or 0))
        return StatsReport(
            filters=filters, scope_agent=agent, zone=zone_name(self.zone), generated_at=now,
            pops=f.pops, offers_presented=f.presented, totals=_breakdown("all", totals),
            by_offer=_sorted_breakdowns(by_offer), by_campaign=_sorted_breakdowns(by_campaign),
            by_wave=_sorted_breakdowns(by_wave, by_key=True), by_agent=_sorted_breakdowns(by_agent),
            by_hour=_sorted_breakdowns(per_hour, by_key=True), daily=tuple(f.daily),
            pop_to_outcome=PopToOutcome(timed, total_us / timed / 1e6 if timed else None,
                                        nearest_rank(histogram, 0.5), nearest_rank(histogram, 0.9)),
            suppressed=tuple(sorted(f.suppressed.items(), key=lambda r: (-r[1], r[0]))),
            callbacks=Callbacks(*f.callbacks), backlog=backlog,
            agents=tuple(agents), campaigns=tuple(campaigns), names=self._names(),
        )


@dataclass
class _Figures:
    """The figures of a range before they are shaped into a report (flat counters)."""

    per_hour: Counter = dataclasses.field(default_factory=Counter)  # (local hour "HH", result) -> outcomes
    by_offer: Counter = dataclasses.field(default_factory=Counter)  # (offer, result)
    by_cw: Counter = dataclasses.field(default_factory=Counter)  # (campaign, wave, result)
    by_agent: Counter = dataclasses.field(default_factory=Counter)  # (agent, result)
    histogram: Counter = dataclasses.field(default_factory=Counter)  # whole seconds pop -> outcome
    suppressed: Counter = dataclasses.field(default_factory=Counter)  # reason -> offers
    total_us: int = 0
    pops: int = 0
    presented: int = 0
    callbacks: tuple[int, int, int] = (0, 0, 0)
    daily: list[DayFigures] = dataclasses.field(default_factory=list)
    agents: set[str] = dataclasses.field(default_factory=set)  # filter choices (for a lead)
    campaigns: set[tuple[str, int | None]] = dataclasses.field(default_factory=set)

    @classmethod
    def from_parts(cls, filters: StatsFilters, parts: list[_DayPart], choice_parts: list[_DayPart]) -> _Figures:
        # Flat counters added part by part (Counter.update): a year of days merges in a few milliseconds.
        f = cls()
        due = kept = missed = 0
        for day, part in zip(filters.days(), parts, strict=True):
            f.per_hour.update(part.per_hour)
            f.by_offer.update(part.by_offer)
            f.by_cw.update(part.by_cw)
            f.by_agent.update(part.by_agent)
            f.histogram.update(part.histogram)
            f.suppressed.update(part.suppressed)
            f.total_us += part.total_us
            f.pops += part.pops
            f.presented += part.presented
            d, k, m = part.callbacks
            due, kept, missed = due + d, kept + k, missed + m
            f.daily.append(DayFigures(day, part.pops, part.presented, _breakdown(day.isoformat(), part.results)))
        f.callbacks = (due, kept, missed)
        f.agents = {who for p in choice_parts for who, _r in p.by_agent}
        f.campaigns = {(c, w) for p in choice_parts for c, w, _r in p.by_cw}
        return f


@dataclass(frozen=True)
class _DayPart:
    """One local day's grouped counts (the filters of its cache key applied)."""

    per_hour: Counter  # (local hour "HH", result) -> outcomes
    by_offer: Counter  # (offer, result)
    by_cw: Counter  # (campaign, wave, result)
    by_agent: Counter  # (agent, result)
    histogram: Counter  # whole seconds pop -> outcome -> outcomes
    total_us: int
    pops: int
    presented: int
    suppressed: Counter  # reason -> offers
    results: Counter  # result -> outcomes of the day
    callbacks: tuple[int, int, int] = (0, 0, 0)  # due, kept, missed (never cached with the part)



class _AggregateCache:
    """Rows read from the counters for whole UTC days [first, last), kept until rows are added on one of those
    days (rows are only ever added; the two high-water marks tell which, as for _DayCache)."""

    MAX_ENTRIES = 200

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[int, int, list]] = {}
        self._mark: tuple[int, int] | None = None

    def get(self, key: tuple, first: int, last: int, read: Callable[[], list]) -> list:
        hit = self._entries.get(key)
        if hit is None:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            hit = self._entries[key] = (first, last, read())
        return hit[2]

    def follow(self, repo: StatsSnapshot) -> None:
        mark = repo.high_water()
        if self._mark is None or mark[0] < self._mark[0] or mark[1] < self._mark[1]:
            self._entries.clear()
        elif mark != self._mark:
            outcomes, pops = repo.added_since(*self._mark)
            touched = {utc_day_number(parse_store_time(t)) for t, _cb in outcomes}
            touched |= {utc_day_number(parse_store_time(t)) for t in pops}
            self._entries = {k: v for k, v in self._entries.items()
                             if not any(v[0] <= d < v[1] for d in touched)}
        self._mark = mark


class _DayCache:
    """Parts of local days that are over, and callback counts that are final, per (day, filters).

    Rows are only ever added to local_contacts and pop_log (nothing in CallCue deletes or rewrites them), so
    the cache follows the two high-water marks: rows added since the last report drop the parts of the days
    they fall on (a clock set back can add rows to a past day), and an added outcome drops the callback
    counts of the days whose callbacks it could keep. A mark that went down (file replaced) drops it all.
    """

    MAX_PARTS = 20_000

    def __init__(self) -> None:
        self._parts: dict[tuple, _DayPart] = {}
        self._callbacks: dict[tuple, tuple[int, int, int]] = {}
        self._mark: tuple[int, int] | None = None

    def get(self, key: tuple) -> _DayPart | None:
        return self._parts.get(key)

    def put(self, key: tuple, part: _DayPart) -> None:
        if len(self._parts) >= self.MAX_PARTS:
            self._parts.clear()
        self._parts[key] = part

    def get_callbacks(self, key: tuple) -> tuple[int, int, int] | None:
        return self._callbacks.get(key)

    def put_callbacks(self, key: tuple, value: tuple[int, int, int]) -> None:
        if len(self._callbacks) >= self.MAX_PARTS:
            self._callbacks.clear()
        self._callbacks[key] = value

    def follow(self, repo: StatsSnapshot, service: StatsService, now: dt.datetime) -> None:
        mark = repo.high_water()
        if self._mark is None or mark[0] < self._mark[0] or mark[1] < self._mark[1]:
            self._parts.clear()
            self._callbacks.clear()
        elif mark != self._mark:
            outcomes, pops = repo.added_since(*self._mark)
            zone = service.zone
            touched = {parse_store_time(t).astimezone(zone).date() for t, _cb in outcomes}
            touched |= {parse_store_time(t).astimezone(zone).date() for t in pops}
            # An outcome at t keeps callbacks agreed for t - grace or later; a new callback counts on its day.
            earliest = min((parse_store_time(t) - CALLBACK_GRACE for t, _cb in outcomes), default=None)
            callback_days = {parse_store_time(cb).astimezone(zone).date() for _t, cb in outcomes if cb}
            self._parts = {k: v for k, v in self._parts.items() if k[0] not in touched}
            first_day = earliest.astimezone(zone).date() if earliest is not None else None
            self._callbacks = {k: v for k, v in self._callbacks.items()
                               if k[0] not in callback_days and (first_day is None or k[0] < first_day)}
        self._mark = mark


def write_csv(report: StatsReport, path: Path) -> Path:
    """Write the CSV export."""
    path = Path(path)
    path.write_text(report_to_csv(report), encoding=CSV_ENCODING)
    return path
