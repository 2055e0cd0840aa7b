"""Statistics queries over the local store (read-only, no Qt): grouped counts for desktop/services/stats.py.

Every query reads one UTC time range through a covering index (migration 0003), so its cost is the number
of rows in the range, never the size of the file. Results are plain tuples of grouped counts; the service
turns them into figures in the workstation's time zone. The whole team's figures (no filter) come from the
counters of migration 0005 instead: UTC slots, blocks of whole UTC days and the callbacks' kept flags. Times are bound in the store's own text form
('YYYY-MM-DD HH:MM:SS.ffffff', UTC), which sorts like the times themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from desktop.domain.outcomes import OutboxEntry, OutboxStatus, OutcomeResult
from desktop.storage.engine import classify

RESULT_ORDER = tuple(r.value for r in OutcomeResult)  # columns of stats_slots (migration 0005)

# Grouped in SQL by UTC slot: the service maps slots to local days and hours. 60 when every offset of the
# zone in the range is a whole hour (most zones), else 15 (India +5:30, Nepal +5:45, ...).
SLOT_MINUTES = (60, 15)
# Block sizes of stats_blocks (migration 0005), in whole UTC days, largest first.
BLOCK_LEVELS = (64, 8, 1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def utc_day_number(value: dt.datetime) -> int:
    """Days since 1970-01-01 of the UTC day a time falls in (as the triggers of 0005 compute it)."""
    return (value.astimezone(dt.UTC) - _EPOCH).days


def utc_day_start(number: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(days=number)


def day_blocks(first: int, end: int) -> list[tuple[int, int]]:
    """Whole UTC days [first, end) as few aligned (level, first day) blocks of stats_blocks."""
    out = []
    d = first
    while d < end:
        level = next(n for n in BLOCK_LEVELS if d % n == 0 and d + n <= end)
        out.append((level, d))
        d += level
    return out


def store_time(value: dt.datetime) -> str:
    """An aware datetime as the store writes it (UTC text with microseconds)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: statistics take aware times only")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def parse_store_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class RangeQuery:
    """One UTC range [start, end) and the optional filters (None: any)."""

    start: dt.datetime
    end: dt.datetime
    agent_id: str | None = None
    campaign_id: str | None = None
    wave: int | None = None

    def params(self) -> dict[str, Any]:
        return {"start": store_time(self.start), "end": store_time(self.end), "agent_id": self.agent_id,
                "campaign_id": self.campaign_id, "wave": self.wave}

    def where(self, time_column: str, table: str = "") -> str:
        t = f"{table}." if table else ""
        clauses = [f"{t}{time_column} >= :start", f"{t}{time_column} < :end"]
        if self.agent_id is not None:
            clauses.append(f"{t}agent_id = :agent_id")
        if self.campaign_id is not None:
            clauses.append(f"{t}campaign_id = :campaign_id")
        if self.wave is not None:
            clauses.append(f"{t}wave = :wave")
        return " AND ".join(clauses)


def _lc(q: RangeQuery) -> str:
    return _table("local_contacts", "ix_local_contacts_stats", q)


def _pops(q: RangeQuery) -> str:
    return _table("pop_log", "ix_pop_log_stats", q)


def _supp(q: RangeQuery) -> str:
    return _table("pop_suppressions", "ix_pop_suppressions_stats", q)


def _slot(column: str, minutes: int) -> str:
    """SQL for the UTC slot a stored time falls in: 'YYYY-MM-DD HH' (60) or 'YYYY-MM-DD HH:MM' (15)."""
    if minutes == 60:
        return f"substr({column}, 1, 13)"
    if minutes == 15:
        return f"substr({column}, 1, 14) || printf('%02d', (CAST(substr({column}, 15, 2) AS INTEGER) / 15) * 15)"
    raise ValueError(f"slot minutes must be one of {SLOT_MINUTES}")


def slot_key(value: dt.datetime, width: int) -> str:
    """The slot key (as the counters of migration 0005 write it) of a UTC time on a slot edge."""
    text = store_time(value)
    return text[:13] if width == 60 else text[:16]


def parse_slot(value: str) -> dt.datetime:
    """A slot key from the queries above → its aware UTC start."""
    return dt.datetime(int(value[:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]),
                       int(value[14:16]) if len(value) > 13 else 0, tzinfo=dt.UTC)


class StatsRepository:
    """Read-only statistics queries on the local store's engine (share the store's; no writes).

    `with repo.snapshot() as s:` runs several queries in one read transaction (one consistent view of the
    file, however many outcomes are recorded meanwhile); the methods below are the snapshot's.
    """

    def __init__(self, engine: Engine, path: Path) -> None:
        self._engine = engine
        self._path = Path(path)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[StatsSnapshot]:
        try:
            with self._engine.connect() as conn, conn.begin():
                yield StatsSnapshot(conn, self._path)
        except (SQLAlchemyError, OSError, sqlite3.Error) as exc:
            raise classify(exc, self._path) from exc


def _table(name: str, index: str, q: RangeQuery) -> str:
    """The covering index for a whole range; with an agent filter SQLite's own choice (the agent index)."""
    return name if q.agent_id is not None else f"{name} INDEXED BY {index}"


class StatsSnapshot:
    def __init__(self, conn: Any, path: Path) -> None:
        # The DB-API connection inside SQLAlchemy's transaction: plain tuples, no per-row result processing.
        self._raw = conn.connection.driver_connection
        self._path = path

    def _rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return self._raw.execute(sql, params).fetchall()

    # --- outcomes -----------------------------------------------------------------------------------------

    def outcome_slots(self, q: RangeQuery, slot_minutes: int) -> list[tuple[str, str, int]]:
        """(UTC slot, result, outcomes) for the daily and hourly figures."""
        slot = _slot("recorded_at", slot_minutes)
        return [tuple(r) for r in self._rows(
            f"SELECT {slot} AS slot, result, count(*) FROM {_lc(q)} WHERE {q.where('recorded_at')} "
            "GROUP BY slot, result", q.params())]

    def outcome_breakdowns(self, q: RangeQuery) -> list[tuple[Any, ...]]:
        """(agent, campaign, wave, offer, result, outcomes): the offer, campaign/wave and agent breakdowns from
        one sort of the range (a third of the time of three GROUP BYs)."""
        return self._rows(
            f"SELECT agent_id, campaign_id, wave, offer_id, result, count(*) FROM {_lc(q)} "
            f"WHERE {q.where('recorded_at')} GROUP BY agent_id, campaign_id, wave, offer_id, result", q.params())

    def pop_to_outcome(self, q: RangeQuery) -> list[tuple[int, int, int]]:
        """(whole seconds from pop to outcome, outcomes, sum of their microseconds); outcomes linked to a
        pop only, and none recorded before their pop (a clock set back)."""
        return [tuple(r) for r in self._rows(
            f"SELECT pop_us / 1000000 AS s, count(*), sum(pop_us) FROM {_lc(q)}"
            f" WHERE {q.where('recorded_at')} AND pop_us >= 0 GROUP BY s", q.params())]

    def callbacks(self, q: RangeQuery, now: dt.datetime, grace: dt.timedelta) -> tuple[int, int, int]:
        """Callbacks agreed for a time in the range: (due, kept, missed).

        Kept: another outcome for that customer was recorded after the callback was agreed and no later than
        its time + `grace`. Missed: not kept and that moment has passed. The rest are still open.
        """
        params = q.params() | {"now": store_time(now), "grace_s": int(grace.total_seconds())}
        kept_sql = (
            "EXISTS (SELECT 1 FROM local_contacts AS later INDEXED BY ix_local_contacts_customer"
            " WHERE later.customer_id = cb.customer_id AND later.recorded_at > cb.recorded_at"
            " AND later.recorded_at <= strftime('%Y-%m-%d %H:%M:%S', cb.callback_at, '+' || :grace_s || ' seconds')"
            " || '.000000')"
        )
        where = q.where("callback_at", "cb")
        rows = self._rows(
            f"SELECT count(*), coalesce(sum(kept), 0), coalesce(sum(NOT kept AND due_by < :now), 0) FROM ("
            f"  SELECT {kept_sql} AS kept,"
            "   strftime('%Y-%m-%d %H:%M:%S', callback_at, '+' || :grace_s || ' seconds') || '.000000' AS due_by"
            "   FROM local_contacts AS cb INDEXED BY ix_local_contacts_callback_kept"
            f"  WHERE cb.result = 'callback' AND {where})",
            params,
        )
        due, kept, missed = rows[0]
        return int(due), int(kept), int(missed)

    def callbacks_kept(self, q: RangeQuery, now: dt.datetime, grace: dt.timedelta) -> tuple[int, int, int]:
        """callbacks() for the whole team from the flag local_contacts.cb_kept (migration 0005, whose grace
        this must be): one index range, no look-up per callback. Missed: not kept and callback_at + grace
        < now, i.e. callback_at < now - grace (callback times are whole seconds)."""
        due, kept, missed = self._rows(
            "SELECT count(*), coalesce(sum(cb_kept), 0), coalesce(sum(cb_kept = 0 AND callback_at < :due_before), 0)"
            " FROM local_contacts INDEXED BY ix_local_contacts_callback_kept"
            " WHERE result = 'callback' AND callback_at >= :start AND callback_at < :end",
            {"start": store_time(q.start), "end": store_time(q.end), "due_before": store_time(now - grace)})[0]
        return int(due), int(kept), int(missed)

    # --- pops ---------------------------------------------------------------------------------------------

    def pop_totals(self, q: RangeQuery) -> tuple[int, int]:
        """(pops, offers presented) in the range (no grouping: no sort)."""
        pops, presented = self._rows(
            f"SELECT count(*), coalesce(sum(n_presented), 0) FROM {_pops(q)} WHERE {q.where('popped_at')}",
            q.params())[0]
        return int(pops), int(presented)

    def suppressions(self, q: RangeQuery) -> list[tuple[str, int]]:
        """(reason code, offers suppressed for it) over the pops in the range."""
        return [tuple(r) for r in self._rows(
            f"SELECT reason, count(*) FROM {_supp(q)} WHERE {q.where('popped_at')} GROUP BY reason", q.params())]

    # --- pre-aggregated counters (migration 0005) ---------------------------------------------------------

    def slots(self, start: dt.datetime, end: dt.datetime, width: int) -> list[tuple[Any, ...]]:
        """(UTC slot, pops, offers presented, outcomes of each result in RESULT_ORDER…) of every slot of `width`
        minutes in [start, end) (both on slot edges) with something in it; no filters (the counters have
        none). One primary-key range: no grouping, no sort."""
        return self._rows(f"SELECT slot, pops, presented, {', '.join(RESULT_ORDER)} FROM stats_slots"
                          " WHERE width = :w AND slot >= :s AND slot < :e",
                          {"w": width, "s": slot_key(start, width), "e": slot_key(end, width)})

    def blocks(self, blocks: list[tuple[int, int]]) -> list[tuple[str, str, int, str, int, int]]:
        """(kind, k1, k2, result, n, us) summed over the given (level, first day) blocks of whole UTC days."""
        if not blocks:
            return []
        values = ", ".join(f"({int(level)}, {int(block)})" for level, block in blocks)
        return self._rows(
            f"SELECT s.kind, s.k1, s.k2, s.result, sum(s.n), sum(s.us) FROM (VALUES {values}) AS b"
            " JOIN stats_blocks AS s ON s.level = b.column1 AND s.block = b.column2"
            " GROUP BY s.kind, s.k1, s.k2, s.result", {})

    # --- change tracking (the service's cache of closed days) ---------------------------------------------

    def high_water(self) -> tuple[int, int]:
        """(largest local_contacts rowid, largest pop_log id): O(1); rows are only ever added."""
        lc, pops = self._rows("SELECT (SELECT max(rowid) FROM local_contacts), (SELECT max(id) FROM pop_log)", {})[0]
        return int(lc or 0), int(pops or 0)

    def added_since(self, lc_rowid: int, pop_id: int) -> tuple[list[tuple[str, str | None]], list[str]]:
        """Times of rows added after a high-water mark: ([(recorded_at, callback_at)], [popped_at])."""
        outcomes = [tuple(r) for r in self._rows(
            "SELECT recorded_at, callback_at FROM local_contacts WHERE rowid > :after", {"after": lc_rowid})]
        pops = [r[0] for r in self._rows("SELECT popped_at FROM pop_log WHERE id > :after", {"after": pop_id})]
        return outcomes, pops

    # --- sync backlog (now, not a range) ------------------------------------------------------------------

    def backlog(self, agent_id: str | None, limit: int = 200) -> tuple[dict[OutboxStatus, int], dt.datetime | None,
                                                                        list[OutboxEntry]]:
        """Outbox counts by status, the oldest pending outcome's time and the needs-attention items."""
        agent = " AND agent_id = :agent_id" if agent_id is not None else ""
        params = {"agent_id": agent_id, "limit": limit, "pending": OutboxStatus.PENDING.value,
                  "attention": OutboxStatus.NEEDS_ATTENTION.value}
        counts = dict.fromkeys(OutboxStatus, 0)
        for status, n in self._rows(
            f"SELECT status, count(*) FROM outbox WHERE status IN (:pending, :attention){agent} GROUP BY status",
            params,
        ):
            counts[OutboxStatus(status)] = n
        oldest = self._rows(f"SELECT min(recorded_at) FROM outbox WHERE status = :pending{agent}", params)[0][0]
        items = [
            OutboxEntry(
                outcome_id=outcome_id, customer_id=customer_id, offer_id=offer_id, result=OutcomeResult(result),
                recorded_at=parse_store_time(recorded_at), status=OutboxStatus(status), attempts=attempts,
                server_reason=server_reason, server_reason_zh=server_reason_zh, last_error=last_error,
            )
            for (outcome_id, customer_id, offer_id, result, recorded_at, status, attempts, server_reason,
                 server_reason_zh, last_error)
            in self._rows(
                "SELECT outcome_id, customer_id, offer_id, result, recorded_at, status, attempts, server_reason,"
                f" server_reason_zh, last_error FROM outbox WHERE status = :attention{agent} ORDER BY recorded_at LIMIT :limit",
                params,
            )
        ]
        return counts, (parse_store_time(oldest) if oldest else None), items
