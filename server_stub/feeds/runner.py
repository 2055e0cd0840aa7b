"""apply_feed(): one feed file, start to end — what `callcue-server import KIND FILE` runs.

1. the mapping (the kind's shipped KIND.toml unless another is named) and the file's first bytes and header
   are checked: a FeedFailure and nothing written if they are wrong;
2. the file is streamed once: each row is converted (a bad row becomes a located RowProblem) and staged;
3. in the database: in-file duplicate keys and unknown references (customer, campaign, wave, offer) become
   RowProblems too; then, if the bad rows are within --max-rejects (default 0), the rest is merged —
   deletes, upserts (unchanged rows are counted, not written), --full retirements — and a feed_runs row is
   written, all in ONE transaction. Over the limit, or on any fatal error (a quote never closed, a byte that
   does not decode, a database error), nothing is written and a feed_runs row says why.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import SQLAlchemyError

from server_stub.db.models import FeedRun
from server_stub.feeds.cells import CellError
from server_stub.feeds.convert import RowConverter, RowRejected
from server_stub.feeds.kinds import ROW_KINDS
from server_stub.feeds.mapping import Mapping, default_mapping, load_mapping
from server_stub.feeds.reader import FeedFile
from server_stub.feeds.report import FeedFailure, FeedReport, RowProblem
from server_stub.feeds.values import sqlite_datetime
from server_stub.feeds.writer import (
    StageProblem,
    TableWriter,
    describe,
    import_connection,
    is_unique_violation,
)

log = logging.getLogger(__name__)

ANALYZE_AFTER_ROWS = 50_000  # PostgreSQL: a feed changing this many rows refreshes the planner's statistics
PROBLEM_LIMIT = 1000  # bad rows kept in a report (all are counted)
PROGRESS_EVERY = 16384  # rows between progress calls
CHUNK_ROWS = 50_000  # PostgreSQL: rows merged at a time (while the next ones are read)
SQLITE_STAGE_ROWS = 20_000  # SQLite: rows staged at a time (while the next ones are read)
# progress(phase, rows_read, bytes_read, total_bytes); phases: read (and, on PostgreSQL, merge chunk by
# chunk), write (the checks and merge that are left, then the commit), done
Progress = Callable[[str, int, int, int], None]


def apply_feed(engine: Engine, kind: str, path: str | Path, mapping: Mapping | str | Path | None = None,
               full: bool = False, max_rejects: int = 0, progress: Progress | None = None) -> FeedReport:
    """Apply one feed file; returns what it did (FeedReport) or raises FeedFailure (nothing written)."""
    if kind == "catalog":
        from server_stub.feeds.catalog import apply_catalog  # the TOML feed: another module, loaded on demand

        return apply_catalog(engine, path, full=full)
    if kind not in ROW_KINDS:
        raise FeedFailure(f"{kind!r} is not a feed kind; known: {', '.join((*ROW_KINDS, 'catalog'))}",
                          f"{kind!r} 不是数据类型；可用：{', '.join((*ROW_KINDS, 'catalog'))}")
    if max_rejects < 0:
        raise ValueError("max_rejects must be 0 or more")
    mapping = _mapping(kind, mapping)
    return _Run(engine, mapping, Path(path), full, max_rejects, progress).run()


def _mapping(kind: str, mapping: Mapping | str | Path | None) -> Mapping:
    resolved = default_mapping(kind) if mapping is None else (
        mapping if isinstance(mapping, Mapping) else load_mapping(mapping))
    if resolved.kind != kind:
        raise FeedFailure(
            f"mapping {resolved.label} is for {resolved.kind} feeds, not {kind} (set kind = \"{kind}\" in it, or "
            f"name a {kind} mapping)",
            f"映射 {resolved.label} 用于 {resolved.kind} 数据，不是 {kind}（在其中设置 kind = \"{kind}\"，或指定 {kind} 映射）")
    return resolved


class _Run:
    def __init__(self, engine: Engine, mapping: Mapping, path: Path, full: bool, max_rejects: int,
                 progress: Progress | None) -> None:
        self.engine, self.mapping, self.path = engine, mapping, path
        self.kind = mapping.feed_kind
        self.full, self.max_rejects, self.progress = full, max_rejects, progress
        self.report = FeedReport(kind=self.kind.name, file=path.name, mode="full" if full else "delta")
        self.started = time.perf_counter()
        self.started_at = dt.datetime.now(dt.UTC)
        self.problems: list[RowProblem] = []  # found while reading
        self.db_problems: list[RowProblem] = []  # found by the database checks
        self.sensitive: set[str] = set()
        self.digest = ""

    def run(self) -> FeedReport:
        try:
            try:
                report = self._attempt(safe=False)
            except _Redo:
                # Two lines share a key (an error the fast path only sees at the end): the first attempt
                # was rolled back; read the file again, checking every line before anything is merged.
                self.report = FeedReport(kind=self.kind.name, file=self.path.name, mode=self.report.mode)
                self.problems, self.db_problems = [], []
                report = self._attempt(safe=True)
        except FeedFailure as failure:
            self._finish_report()
            self._record_failure(failure)
            raise
        self._refresh_statistics(report)
        return report

    def _refresh_statistics(self, report: FeedReport) -> None:
        """PostgreSQL: after a large change, give the planner the new table's statistics now — pops served
        right after a first load otherwise run on a plan for an empty table until autovacuum comes by."""
        changed = report.inserted + report.updated + report.deleted + report.retired
        if self.engine.dialect.name != "postgresql" or changed < ANALYZE_AFTER_ROWS:
            return
        tables = [self.kind.table.name] + (["customer_numbers"] if self.kind.name == "customers" else [])
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in tables:
                    conn.exec_driver_sql(f"ANALYZE {table}")
        except SQLAlchemyError as exc:  # the feed is applied; fresh statistics are a bonus
            log.warning("ANALYZE after the %s feed failed: %s", self.kind.name, type(exc).__name__)

    def _attempt(self, *, safe: bool) -> FeedReport:
        with FeedFile(self.path, self.mapping) as feed:
            try:
                return self._apply(feed, safe=safe)
            except FeedFailure:
                self.digest = _best_effort_digest(feed)
                raise

    # ------------------------------------------------------------------------------------------ apply

    def _apply(self, feed: FeedFile, *, safe: bool) -> FeedReport:
        records = feed.records()
        header = next(records, None)
        if header is None:
            raise FeedFailure(f"{feed.name} has no header line", f"{feed.name} 没有表头行")
        if header.problem:
            raise FeedFailure(f"{feed.name}: the header on line {header.line} has {header.problem}",
                              f"{feed.name}：第 {header.line} 行的表头有误（{header.problem}）")
        with import_connection(self.engine) as connection:
            storage = "sqlite" if self.engine.dialect.name == "sqlite" else "postgresql"
            converter = RowConverter(self.mapping, header.cells, file_label=feed.name, storage=storage,
                                     full=self.full)
            self.converter = converter
            self.sensitive = {spec.target.column for spec in self.mapping.fields if spec.sensitive}
            one_chunk = storage == "sqlite" or safe
            writer = TableWriter(connection, self.kind, converter.columns, full=self.full, now=self.started_at,
                                 numbers=converter.writes_numbers, defer_duplicates=not one_chunk,
                                 chunk_rows=CHUNK_ROWS)
            try:
                rows = self._rows(feed, records, converter)
                if one_chunk:
                    # SQLite stages outside its write lock (pops go on writing meanwhile), merges under it.
                    self._pipeline(feed, rows, writer, merge=False)
                    self._tell("write", feed)  # checks and merge, under the write lock
                    self._merge_chunk(feed, writer)
                else:
                    self._pipeline(feed, rows, writer)
                    if writer.duplicates_found():
                        raise _Redo
                report = self.report
                if report.rejected > self.max_rejects:
                    raise self._too_many()
                accepted = report.rows_read - report.rejected
                if self.full and accepted == 0:
                    raise FeedFailure(
                        f"{feed.name} holds no usable row: as a --full snapshot it would retire or remove every "
                        f"{self.kind.name} row; nothing was written",
                        f"{feed.name} 没有可用的行：作为 --full 全量快照，它会使所有 {self.kind.name} 数据退役或被删除；"
                        "未写入任何内容")
                self._tell("write", feed)
                if self.full:
                    writer.apply_full()
                counts = writer.counts
                report.inserted, report.updated = counts.inserted, counts.updated
                report.unchanged = counts.unchanged + counts.delete_noops
                report.deleted, report.retired = counts.deleted, counts.retired
                self.digest = feed.sha256()
                self._finish_report()
                self._record(writer, "applied" if report.changed else "unchanged", None)
                connection.commit()
            except _DATABASE_ERRORS as exc:
                if not one_chunk and is_unique_violation(exc):
                    raise _Redo from None  # two lines of one chunk share a new key
                raise _database_failure(exc) from None
        self._tell("done", feed)
        log.info("%s feed %s (%s, mapping %s): %s", self.kind.name, feed.name, self.report.mode, self.mapping.label,
                 self.report.summary())
        return self.report

    def _merge_chunk(self, feed: FeedFile, writer: TableWriter) -> None:
        """Check the staged chunk; apply it unless the bad rows are past --max-rejects (then nothing will be
        written anyway: the run fails once it has read the file to the end, to report every bad row)."""
        checked = writer.check_chunk(PROBLEM_LIMIT)
        self.report.rejected += checked.rejected
        room = PROBLEM_LIMIT - len(self.db_problems)
        self.db_problems.extend(self._stage_problem(feed.name, problem) for problem in checked.problems[:room])
        if self.report.rejected <= self.max_rejects:
            writer.apply_chunk()
        writer.end_chunk()

    def _pipeline(self, feed: FeedFile, rows: Iterator[tuple], writer: TableWriter, *, merge: bool = True) -> None:
        """Two cores at once: while this thread reads and converts the next chunk, a worker thread works the
        database on the last one (the drivers wait for the database without the GIL; sqlite3 runs each
        statement without it). PostgreSQL: COPY a chunk here, merge it on the worker. SQLite (merge=False):
        the worker stages each chunk; the merge comes after, under the write lock. One connection, one
        transaction: the worker and this thread take turns on it."""
        size = writer.chunk_rows if merge else SQLITE_STAGE_ROWS
        direct = merge and writer.loads_directly()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-db") as worker:
            pending: Future | None = None
            for chunk in _batches(rows, size):
                if pending is not None:
                    pending.result()
                if direct:
                    # A first load: the worker COPYs the chunk straight into the table.
                    pending = worker.submit(self._load_chunk, writer, chunk)
                elif merge:
                    writer.stage(chunk)
                    pending = worker.submit(self._merge_chunk, feed, writer)
                else:
                    pending = worker.submit(writer.stage, chunk)
                del chunk
            if pending is not None:
                pending.result()

    @staticmethod
    def _load_chunk(writer: TableWriter, chunk: list[tuple]) -> None:
        if not writer.load_directly(chunk):
            # Delete rows or the rejected keys of a --full file in a first load: the direct path keeps no
            # list of the keys it loaded, so the file is applied again the checked way (as a repeated key is).
            raise _Redo

    def _rows(self, feed: FeedFile, records, converter: RowConverter) -> Iterator[tuple]:
        """The staged tuples of the file's rows, converted as they are read; bad rows are noted instead."""
        report = self.report
        convert, rejected_row = converter.convert, converter.rejected
        name = feed.name
        progress_at = PROGRESS_EVERY
        self._tell("read", feed)
        read = 0
        for line, cells, broken in records:
            read += 1
            if read >= progress_at:
                report.rows_read = read
                progress_at += PROGRESS_EVERY
                self._tell("read", feed)
            if broken is None:
                try:
                    staged = convert(line, cells)
                except RowRejected as rejection:
                    self._reject(name, line, rejection.problems)
                    staged = rejected_row(line, cells)
                    if staged is None:
                        continue
            else:
                self._reject(name, line, [CellError(broken, f"CSV 引号有误（{broken}）")])
                continue
            # Past --max-rejects nothing will be applied, but the rest is still staged and checked: every
            # bad row of the file is reported, those the database finds (duplicates, references) too.
            yield staged
        report.rows_read = read

    def _reject(self, file_name: str, line: int, problems: list[CellError]) -> None:
        self.report.rejected += 1
        if len(self.problems) >= PROBLEM_LIMIT:
            return
        for problem in problems:
            self.problems.append(RowProblem(file_name, line, problem.column, problem.value, problem.en, problem.zh))

    def _stage_problem(self, file_name: str, problem: StageProblem) -> RowProblem:
        values = {name: ("<redacted>" if name in self.sensitive else value) for name, value in problem.values.items()}
        en, zh = describe(self.kind, problem._replace(values=values))
        column = problem.column
        shown = None if column in self.sensitive else problem.values.get(column)
        return RowProblem(file_name, problem.line, self.converter.header_of(column),
                          None if shown is None else str(shown), en, zh)

    def _too_many(self) -> FeedFailure:
        report = self.report
        limit = self.max_rejects
        failure = FeedFailure(
            f"{report.file}: {report.rejected:,} bad row(s), more than --max-rejects {limit} allows: nothing was written",
            f"{report.file}：{report.rejected:,} 行有误，超过 --max-rejects {limit} 的允许范围：未写入任何内容",
        )
        return failure

    def _tell(self, phase: str, feed: FeedFile) -> None:
        if self.progress is not None:
            done = feed.size if phase != "read" else min(feed.bytes_read, feed.size)
            self.progress(phase, self.report.rows_read, done, feed.size)

    # ------------------------------------------------------------------------------------- bookkeeping

    def _finish_report(self) -> None:
        self.problems.extend(self.db_problems)
        self.db_problems = []
        self.problems.sort(key=lambda problem: problem.line)
        del self.problems[PROBLEM_LIMIT:]
        self.report.problems = self.problems
        self.report.elapsed_s = round(time.perf_counter() - self.started, 3)

    def _run_values(self, status: str, message: str | None) -> dict[str, Any]:
        report = self.report
        return {
            "kind": report.kind, "file_name": report.file[:255], "file_sha256": self.digest, "mode": report.mode,
            "status": status, "started_at": self.started_at, "finished_at": dt.datetime.now(dt.UTC),
            "rows_read": report.rows_read, "inserted": report.inserted, "updated": report.updated,
            "unchanged": report.unchanged, "deleted": report.deleted + report.retired, "rejected": report.rejected,
            "message": message if message is not None else report.summary(),
        }

    def _record(self, writer: TableWriter, status: str, message: str | None) -> None:
        """The feed_runs row of an applied file, in the feed's own transaction."""
        values = self._run_values(status, message)
        if writer.db.sqlite:
            values["started_at"] = sqlite_datetime(values["started_at"])
            values["finished_at"] = sqlite_datetime(values["finished_at"])
        marks = ", ".join([writer.db.placeholder] * len(values))
        writer.db.execute(f"INSERT INTO feed_runs ({', '.join(values)}) VALUES ({marks})", list(values.values()))

    def _record_failure(self, failure: FeedFailure) -> None:
        """The feed_runs row of a refused file (its own transaction, after the feed's was rolled back)."""
        self.report.inserted = self.report.updated = self.report.unchanged = 0
        self.report.deleted = self.report.retired = 0
        failure.report = self.report
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(FeedRun), self._run_values("failed", failure.en[:2000]))
        except SQLAlchemyError as exc:  # the failure itself is what the operator needs to see
            log.warning("could not record the failed %s feed %s: %s", self.kind.name, self.path.name,
                        type(exc).__name__)


class _Redo(Exception):
    """The chunked fast path met repeated keys (or, in a first load, rows it does not take: deletes, rejected
    keys): roll back and apply the file again, checked line by line."""


def _batches(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _best_effort_digest(feed: FeedFile) -> str:
    try:
        return feed.sha256()
    except (OSError, ValueError):
        return ""


def _database_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    import psycopg

    return (sqlite3.Error, psycopg.Error, SQLAlchemyError)


_DATABASE_ERRORS = _database_errors()


def _database_failure(exc: BaseException) -> FeedFailure:
    # The driver's own message may quote row values (names, numbers): report its first line only.
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    name = type(exc).__name__
    return FeedFailure(f"the database refused the feed ({name}: {first_line}); nothing was written",
                       f"数据库拒绝了本次导入（{name}：{first_line}）；未写入任何内容")


__all__ = ["PROBLEM_LIMIT", "Progress", "apply_feed"]
