"""Reading outcomes (and their retractions) and outbound call results out of a store file that SQLite
refuses to read: page by page, row by row.

A damaged store (truncated, pages overwritten, a zero-length file beside its -wal) may still hold outcomes
the agent was told were saved. SQLite stops at the first bad page of a b-tree; this reader does not walk
b-trees at all. It reads every page image of the file and of its write-ahead log (committed transactions
only: an outcome in a transaction that never committed was never confirmed to the agent), decodes every
row of every table-leaf page, and keeps the rows that are outbox, local-contact, retraction, callback-detail
or outbound-attempt rows: an outbox row (and an outbound attempt) is recognised by its content (a UUID whose
JSON payload names the same UUID), so a page that lost its place
in the tree, or a tree whose root is garbage, still gives its rows. When a row is found in several page
images (an older copy in the database file, newer ones in the log), the newest wins.

Before the pages are read, plain SQL is tried on a private copy of the files (so the damaged evidence is
never written to, not even by a checkpoint): every row it can read is authoritative. Everything here is
read-only on the given files. No Qt, no network.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import mmap
import shutil
import sqlite3
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from desktop.domain.outbound import CallResult
from desktop.domain.outcomes import OutboxStatus, OutcomeResult
from desktop.storage import models

log = logging.getLogger("callcue.storage")

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_MAGICS = (0x377F0682, 0x377F0683)
WAL_HEADER = 32
WAL_FRAME_HEADER = 24
# Column order of the tables as the migrations create them (a test compares this with a fresh store). Rows
# written by an older CallCue may have fewer trailing columns; a missing one reads as None.
OUTBOX_COLUMNS = tuple(models.OutboxItem.__table__.columns.keys())
CONTACT_COLUMNS = tuple(models.LocalContact.__table__.columns.keys())
RETRACTION_COLUMNS = tuple(models.Retraction.__table__.columns.keys())
CALLBACK_DETAIL_COLUMNS = tuple(models.CallbackDetail.__table__.columns.keys())
ATTEMPT_COLUMNS = tuple(models.OutboundAttempt.__table__.columns.keys())
_STATUSES = frozenset(s.value for s in OutboxStatus)
_RETRACTION_STATUSES = frozenset({OutboxStatus.PENDING.value, OutboxStatus.DELIVERED.value})
_RESULTS = frozenset(r.value for r in OutcomeResult)
_CALL_RESULTS = frozenset(r.value for r in CallResult)
_UUID_TEXT = 13 + 2 * 36  # serial type of a 36-byte text: how a row keyed by a UUID starts
_SQL_RANK = 1 << 40  # rows SQLite itself could read outrank any page image


@dataclasses.dataclass(frozen=True)
class SalvagedOutcome:
    """An outbox row: what POST /v1/outcomes takes (payload) and its delivery state."""

    outcome_id: str
    payload: dict[str, Any]
    status: str
    attempts: int = 0
    last_error: str | None = None
    server_reason: str | None = None
    server_reason_zh: str | None = None
    delivered_at: dt.datetime | None = None
    popped_at: dt.datetime | None = None

    @property
    def undelivered(self) -> bool:
        return self.status in (OutboxStatus.PENDING.value, OutboxStatus.NEEDS_ATTENTION.value)


@dataclasses.dataclass(frozen=True)
class SalvagedContact:
    """A local_contacts row (statistics and local guidance); it has no payload to deliver."""

    outcome_id: str
    decision_id: str
    customer_id: str
    result: str
    recorded_at: dt.datetime
    offer_id: str | None = None
    agent_id: str | None = None
    campaign_id: str | None = None
    wave: int | None = None
    call_id: str | None = None
    popped_at: dt.datetime | None = None
    callback_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class SalvagedRetraction:
    """A retractions row (migration 0008): the agent undid this outcome after it may have been sent; pending
    until the server has taken it back."""

    outcome_id: str
    requested_at: dt.datetime
    status: str
    attempts: int = 0
    last_error: str | None = None
    delivered_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class SalvagedCallbackDetail:
    """A callback_details row (migration 0009): who a callback is for, so the queue names them after the
    cached pop expired."""

    outcome_id: str
    display_name: str | None = None
    masked_number: str | None = None


@dataclasses.dataclass(frozen=True)
class SalvagedAttempt:
    """An outbound_attempts row (migration 0010): a call result of an outbound call (no answer, busy …) and
    its delivery state. `payload` is exactly what POST /v1/outbound/attempts took or will take: kept as it
    was, so a resend is the same request (the server answers `duplicate` for the same attempt_id and
    content) and the call is never counted twice."""

    attempt_id: str
    payload: dict[str, Any]
    lease_id: str
    customer_id: str
    campaign_id: str
    wave: int
    result: str
    called_at: dt.datetime
    recorded_at: dt.datetime
    status: str
    attempts: int = 0
    last_error: str | None = None
    delivered_at: dt.datetime | None = None
    answer: dict[str, Any] | None = None

    @property
    def undelivered(self) -> bool:
        return self.status in (OutboxStatus.PENDING.value, OutboxStatus.NEEDS_ATTENTION.value)


@dataclasses.dataclass
class Salvage:
    """What could be read from one store file (and its -wal)."""

    outcomes: dict[str, SalvagedOutcome] = dataclasses.field(default_factory=dict)
    contacts: dict[str, SalvagedContact] = dataclasses.field(default_factory=dict)
    retractions: dict[str, SalvagedRetraction] = dataclasses.field(default_factory=dict)
    callback_details: dict[str, SalvagedCallbackDetail] = dataclasses.field(default_factory=dict)
    attempts: dict[str, SalvagedAttempt] = dataclasses.field(default_factory=dict)  # by attempt_id
    # SQLite read the whole outbox (and the retractions and call results): nothing can be missing from them
    sql_complete: bool = False
    damaged_cells: int = 0  # table-leaf cells that could not be decoded (a lost overflow page, garbage)
    finished: bool = True  # False: the time budget ran out before every page was read (counts are a floor)

    @property
    def undelivered(self) -> list[SalvagedOutcome]:
        return [o for o in self.outcomes.values() if o.undelivered]

    @property
    def undelivered_attempts(self) -> list[SalvagedAttempt]:
        return [a for a in self.attempts.values() if a.undelivered]

    def unreadable(self, since: dt.datetime) -> list[str]:
        """Outcomes known from their local-contact row, recorded since `since` (so their outbox row cannot
        have been pruned as delivered), whose outbox row could not be read: possibly never delivered."""
        return sorted(oid for oid, contact in self.contacts.items()
                      if oid not in self.outcomes and contact.recorded_at >= since)


def companions(path: Path) -> list[Path]:
    """The store file and its -wal/-shm, whichever exist."""
    return [c for c in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if c.exists()]


# ---------------------------------------------------------------------- SQL first (on a private copy)


def _utc(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _int(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def outcome_from_row(row: dict[str, Any]) -> SalvagedOutcome | None:
    """An outbox row (column -> value) as a SalvagedOutcome; None when it is not a usable one."""
    outcome_id = row.get("outcome_id")
    raw = row.get("payload")
    if not _is_uuid(outcome_id):
        return None
    try:
        payload = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("outcome_id") != outcome_id:
        return None
    answers_a_pop = payload.get("decision_id") and payload.get("customer_id")
    if payload.get("result") not in _RESULTS or not (answers_a_pop or payload.get("caller_number")) \
            or _utc(payload.get("recorded_at")) is None:
        return None
    status = row.get("status")
    if status not in _STATUSES:
        status = OutboxStatus.PENDING.value  # unknown state: sending again is safe (the server dedupes)
    return SalvagedOutcome(
        outcome_id=outcome_id, payload=payload, status=status, attempts=_int(row.get("attempts"), 0) or 0,
        last_error=_text(row.get("last_error")), server_reason=_text(row.get("server_reason")),
        server_reason_zh=_text(row.get("server_reason_zh")),
        delivered_at=_utc(row.get("delivered_at")), popped_at=_utc(row.get("popped_at")),
    )


def contact_from_row(row: dict[str, Any]) -> SalvagedContact | None:
    outcome_id, recorded_at = row.get("outcome_id"), _utc(row.get("recorded_at"))
    if not _is_uuid(outcome_id) or recorded_at is None or row.get("result") not in _RESULTS:
        return None
    decision_id, customer_id = _text(row.get("decision_id")), _text(row.get("customer_id"))
    if decision_id is None or not customer_id:  # '' is an outcome without a pop
        return None
    return SalvagedContact(
        outcome_id=outcome_id, decision_id=decision_id, customer_id=customer_id, result=row["result"],
        recorded_at=recorded_at, offer_id=_text(row.get("offer_id")), agent_id=_text(row.get("agent_id")),
        campaign_id=_text(row.get("campaign_id")), wave=_int(row.get("wave")), call_id=_text(row.get("call_id")),
        popped_at=_utc(row.get("popped_at")), callback_at=_utc(row.get("callback_at")),
    )


def retraction_from_row(row: dict[str, Any]) -> SalvagedRetraction | None:
    outcome_id, requested_at, status = row.get("outcome_id"), _utc(row.get("requested_at")), row.get("status")
    if not _is_uuid(outcome_id) or requested_at is None or status not in _RETRACTION_STATUSES:
        return None
    if not isinstance(row.get("attempts"), int) or isinstance(row.get("attempts"), bool):
        return None  # the column is NOT NULL: a row without it is something else
    delivered_at = _utc(row.get("delivered_at"))
    if status == OutboxStatus.DELIVERED.value and delivered_at is None:
        status = OutboxStatus.PENDING.value  # unsure whether it got through: asking again is safe (idempotent)
    return SalvagedRetraction(outcome_id, requested_at, status, row["attempts"], _text(row.get("last_error")),
                              delivered_at)


def callback_detail_from_row(row: dict[str, Any]) -> SalvagedCallbackDetail | None:
    outcome_id, name, masked = row.get("outcome_id"), row.get("display_name"), row.get("masked_number")
    if not _is_uuid(outcome_id) or set(row) - set(CALLBACK_DETAIL_COLUMNS):
        return None
    if not (name is None or (isinstance(name, str) and len(name) <= 200)) \
            or not (masked is None or (isinstance(masked, str) and len(masked) <= 20 and "*" in masked)) \
            or (name is None and masked is None):
        return None  # never a full number: a masked one keeps its asterisks
    return SalvagedCallbackDetail(outcome_id, name, masked)


def attempt_from_row(row: dict[str, Any]) -> SalvagedAttempt | None:
    """An outbound_attempts row as a SalvagedAttempt; None when it is not a usable one (its payload must name
    the same attempt, lease and result as the row, with a call time that has a zone)."""
    attempt_id, raw = row.get("attempt_id"), row.get("payload")
    if not _is_uuid(attempt_id) or set(row) - set(ATTEMPT_COLUMNS):
        return None
    try:
        payload = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("attempt_id") != attempt_id:
        return None
    lease_id, result, customer_id, campaign_id = (_text(row.get(k)) for k in ("lease_id", "result", "customer_id",
                                                                                "campaign_id"))
    wave, recorded_at = _int(row.get("wave")), _utc(row.get("recorded_at"))
    try:
        called_at = dt.datetime.fromisoformat(str(payload.get("called_at")))
    except ValueError:
        return None
    if not lease_id or payload.get("lease_id") != lease_id or result not in _CALL_RESULTS \
            or payload.get("result") != result or called_at.tzinfo is None or not customer_id or not campaign_id \
            or wave is None or recorded_at is None:
        return None
    status = row.get("status")
    if status not in _STATUSES:
        status = OutboxStatus.PENDING.value  # unknown state: sending again is safe (the server dedupes)
    delivered_at = _utc(row.get("delivered_at"))
    if status == OutboxStatus.DELIVERED.value and delivered_at is None:
        status = OutboxStatus.PENDING.value  # unsure whether it got through: a resend is a duplicate at worst
    answer = row.get("answer")
    if isinstance(answer, str | bytes):
        try:
            answer = json.loads(answer)
        except ValueError:
            answer = None
    return SalvagedAttempt(
        attempt_id=attempt_id, payload=payload, lease_id=lease_id, customer_id=customer_id, campaign_id=campaign_id,
        wave=wave, result=result, called_at=called_at.astimezone(dt.UTC), recorded_at=recorded_at, status=status,
        attempts=_int(row.get("attempts"), 0) or 0, last_error=_text(row.get("last_error")),
        delivered_at=delivered_at, answer=answer if isinstance(answer, dict) else None,
    )


# The tables a salvage reads: the converter, where each row goes (a Salvage attribute) and its key.
TABLES = (("outbox", outcome_from_row, "outcomes", "outcome_id"),
          ("local_contacts", contact_from_row, "contacts", "outcome_id"),
          ("retractions", retraction_from_row, "retractions", "outcome_id"),
          ("callback_details", callback_detail_from_row, "callback_details", "outcome_id"),
          ("outbound_attempts", attempt_from_row, "attempts", "attempt_id"))


def _sql_rows(connection: sqlite3.Connection, table: str) -> Iterator[dict[str, Any]]:
    """Rows in rowid order; stops (raising sqlite3.DatabaseError) at the first page SQLite cannot read."""
    cursor = connection.execute(f"SELECT * FROM {table} ORDER BY rowid")
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))


def read_with_sql(path: Path, salvage: Salvage, *, deadline: float | None = None) -> None:
    """Every row of the tables read here (TABLES) plain SQLite can read, from a private copy of `path` (+ -wal)."""
    with tempfile.TemporaryDirectory(prefix="callcue-rescue-") as tmp:
        copy = Path(tmp) / "copy.sqlite3"
        for source in companions(path):
            if source.name.endswith("-shm"):
                continue  # rebuilt from the log; a stale one only misleads
            shutil.copyfile(source, copy.with_name(copy.name + source.name[len(path.name):]))
        if not copy.exists() or copy.stat().st_size == 0:
            return
        connection = sqlite3.connect(copy, isolation_level=None)
        try:
            if deadline is not None:
                connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            # A truncated file: read the pages it still has instead of refusing the whole file.
            connection.execute("PRAGMA writable_schema=ON")
            for table, convert, attribute, key in TABLES:
                target = getattr(salvage, attribute)
                complete = False
                try:
                    for row in _sql_rows(connection, table):
                        found = convert(row)
                        if found is not None:
                            target[getattr(found, key)] = found
                    complete = True
                except sqlite3.Error as exc:
                    # A store older than the table (retractions: migration 0008) has none of its rows to miss.
                    complete = str(exc).startswith("no such table")
                    log.info("SQL read of a damaged store stopped", extra={"table": table, "error": str(exc)[:80]})
                if table == "outbox":
                    salvage.sql_complete = complete
                elif table in ("retractions", "outbound_attempts") and not complete:
                    salvage.sql_complete = False  # the pages are read for what SQL could not
        finally:
            connection.close()


# ---------------------------------------------------------------------- the pages themselves


def _varint(data: bytes | mmap.mmap, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = data[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    return (value << 8) | data[pos + 8], pos + 9


_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


def _record(payload: bytes) -> list[Any] | None:
    """The values of a SQLite record; None when it is not a well-formed one."""
    try:
        header_size, pos = _varint(payload, 0)
        if header_size > len(payload) or header_size < 1:
            return None
        types = []
        while pos < header_size:
            serial, pos = _varint(payload, pos)
            types.append(serial)
        values: list[Any] = []
        offset = header_size
        for serial in types:
            if serial == 0:
                values.append(None)
                continue
            if serial in (8, 9):
                values.append(serial - 8)
                continue
            if serial in _INT_SIZES:
                size = _INT_SIZES[serial]
                values.append(int.from_bytes(payload[offset:offset + size], "big", signed=True))
            elif serial == 7:
                size = 8
                values.append(struct.unpack(">d", payload[offset:offset + 8])[0])
            elif serial >= 12:
                size = (serial - 12) // 2
                raw = payload[offset:offset + size]
                values.append(raw.decode("utf-8") if serial % 2 else bytes(raw))
            else:
                return None
            offset += size
            if offset > len(payload):
                return None
        return values
    except (IndexError, UnicodeDecodeError, struct.error):
        return None


class _Pages:
    """Every page image of a database file and its committed log frames, oldest first (rank 0: the file)."""

    def __init__(self, main: bytes | mmap.mmap, wal: bytes | mmap.mmap | None) -> None:
        self.images: dict[int, list[tuple[int, int, bytes | mmap.mmap, int]]] = {}  # pgno -> [(rank, ...)]
        self.order: list[tuple[int, int]] = []  # (rank, pgno), every image once
        self.page_size, self.usable = self._geometry(main, wal)
        if self.page_size == 0:
            return
        size = self.page_size
        for index in range(len(main) // size):
            self._add(0, index + 1, main, index * size)
        if wal is not None:
            for rank, (pgno, offset) in enumerate(self._committed_frames(wal), start=1):
                self._add(rank, pgno, wal, offset)

    @staticmethod
    def _geometry(main, wal) -> tuple[int, int]:
        page_size = reserved = 0
        if len(main) >= 100 and main[:16] == SQLITE_MAGIC:
            raw = int.from_bytes(main[16:18], "big")
            page_size = 65536 if raw == 1 else raw
            reserved = main[20]
        if (page_size < 512 or page_size & (page_size - 1)) and wal is not None and len(wal) >= WAL_HEADER:
            page_size = int.from_bytes(wal[8:12], "big")
        if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
            page_size = 4096 if len(main) or wal is not None else 0  # CallCue's stores use SQLite's default
        return page_size, page_size - reserved

    def _committed_frames(self, wal) -> list[tuple[int, int]]:
        """(page number, offset of the page data) of the frames of committed transactions, in log order.

        Frames carry the log's salts while they belong to its current generation; a transaction counts once
        its commit frame (non-zero database size) is there. Checksums are not required to match: a damaged
        frame in the middle must not cost the transactions after it (their rows are validated anyway)."""
        if len(wal) < WAL_HEADER or int.from_bytes(wal[0:4], "big") not in WAL_MAGICS:
            return []
        if int.from_bytes(wal[8:12], "big") != self.page_size:
            return []
        salts = bytes(wal[16:24])
        frames, pending = [], []
        step = WAL_FRAME_HEADER + self.page_size
        for offset in range(WAL_HEADER, len(wal) - step + 1, step):
            header = bytes(wal[offset:offset + WAL_FRAME_HEADER])
            if header[8:16] != salts:
                continue
            pgno = int.from_bytes(header[0:4], "big")
            if pgno == 0:
                continue
            pending.append((pgno, offset + WAL_FRAME_HEADER))
            if int.from_bytes(header[4:8], "big"):
                frames.extend(pending)
                pending = []
        return frames

    def _add(self, rank: int, pgno: int, data, offset: int) -> None:
        self.images.setdefault(pgno, []).append((rank, pgno, data, offset))
        self.order.append((rank, pgno))

    def page(self, pgno: int, rank: int) -> bytes | None:
        """The newest image of `pgno` no newer than `rank` (overflow pages written with their row)."""
        images = self.images.get(pgno)
        if not images:
            return None
        index = bisect.bisect_right([image[0] for image in images], rank) - 1
        if index < 0:
            return None
        _rank, _pgno, data, offset = images[index]
        return bytes(data[offset:offset + self.page_size])

    def image(self, rank: int, pgno: int) -> bytes:
        for image_rank, _pgno, data, offset in self.images[pgno]:
            if image_rank == rank:
                return bytes(data[offset:offset + self.page_size])
        raise KeyError((rank, pgno))


def _payload(pages: _Pages, page: bytes, cell: int, rank: int) -> tuple[bytes | None, bool]:
    """The full payload of the table-leaf cell at `cell` (following overflow pages); (None, damaged)."""
    usable = pages.usable
    size, pos = _varint(page, cell)
    _rowid, pos = _varint(page, pos)
    if size > 1 << 30:
        return None, True
    max_local = usable - 35
    if size <= max_local:
        return page[pos:pos + size] if pos + size <= usable else None, pos + size > usable
    min_local = ((usable - 12) * 32 // 255) - 23
    local = min_local + (size - min_local) % (usable - 4)
    if local > max_local:
        local = min_local
    if pos + local + 4 > usable:
        return None, True
    parts = [page[pos:pos + local]]
    remaining = size - local
    next_page = int.from_bytes(page[pos + local:pos + local + 4], "big")
    seen = set()
    while remaining > 0:
        if next_page == 0 or next_page in seen:
            return None, True
        seen.add(next_page)
        overflow = pages.page(next_page, rank)
        if overflow is None:
            return None, True  # the page is beyond a truncation, or was never written
        chunk = overflow[4:usable][:remaining]
        parts.append(chunk)
        remaining -= len(chunk)
        next_page = int.from_bytes(overflow[0:4], "big")
    return b"".join(parts), False


def _leaf_cells(page: bytes, pgno: int, usable: int) -> list[int]:
    """Cell offsets of a table-leaf page; [] for any other page (or a header that makes no sense)."""
    start = 100 if pgno == 1 else 0
    if len(page) < start + 8 or page[start] != 0x0D:
        return []
    count = int.from_bytes(page[start + 3:start + 5], "big")
    pointers = start + 8
    if pointers + 2 * count > usable:
        return []
    cells = []
    for i in range(count):
        offset = int.from_bytes(page[pointers + 2 * i:pointers + 2 * i + 2], "big")
        if pointers + 2 * count <= offset < usable:
            cells.append(offset)
    return cells


def _first_serial(payload_start: bytes) -> int | None:
    try:
        _header, pos = _varint(payload_start, 0)
        return _varint(payload_start, pos)[0]
    except IndexError:
        return None


def read_pages(path: Path, salvage: Salvage, *, deadline: float | None = None) -> None:
    """Every row of the tables read here (TABLES) in any page image of `path` and its -wal (see the module doc)."""
    wal_path = path.with_name(path.name + "-wal")
    with contextlib.ExitStack() as stack:
        main = _map(stack, path)
        wal = _map(stack, wal_path) if wal_path.exists() else None
        pages = _Pages(main, wal)
        found_outcomes: dict[str, tuple[int, SalvagedOutcome]] = {}
        found_contacts: dict[str, tuple[int, SalvagedContact]] = {}
        found_retractions: dict[str, tuple[int, SalvagedRetraction]] = {}
        found_details: dict[str, tuple[int, SalvagedCallbackDetail]] = {}
        found_attempts: dict[str, tuple[int, SalvagedAttempt]] = {}
        for n, (rank, pgno) in enumerate(pages.order):
            if deadline is not None and n % 256 == 0 and time.monotonic() > deadline:
                salvage.finished = False
                break
            page = pages.image(rank, pgno)
            for cell in _leaf_cells(page, pgno, pages.usable):
                try:
                    _size, pos = _varint(page, cell)
                    _rowid, pos = _varint(page, pos)
                    if _first_serial(page[pos:pos + 20]) != _UUID_TEXT:
                        continue  # not a row of the tables read here (each starts with a UUID)
                    payload, damaged = _payload(pages, page, cell, rank)
                except IndexError:
                    payload, damaged = None, True
                if payload is None:
                    salvage.damaged_cells += damaged
                    continue
                values = _record(payload)
                if values is None:
                    salvage.damaged_cells += 1
                    continue
                if len(values) <= len(OUTBOX_COLUMNS):
                    outcome = outcome_from_row(dict(zip(OUTBOX_COLUMNS, values, strict=False)))
                    if outcome is not None:
                        _keep(found_outcomes, outcome.outcome_id, rank, outcome)
                        continue
                if len(values) <= len(CONTACT_COLUMNS):
                    contact = contact_from_row(dict(zip(CONTACT_COLUMNS, values, strict=False)))
                    if contact is not None:
                        _keep(found_contacts, contact.outcome_id, rank, contact)
                        continue
                if len(values) == len(RETRACTION_COLUMNS):
                    retraction = retraction_from_row(dict(zip(RETRACTION_COLUMNS, values, strict=True)))
                    if retraction is not None:
                        _keep(found_retractions, retraction.outcome_id, rank, retraction)
                        continue
                if len(values) == len(CALLBACK_DETAIL_COLUMNS):
                    detail = callback_detail_from_row(dict(zip(CALLBACK_DETAIL_COLUMNS, values, strict=True)))
                    if detail is not None:
                        _keep(found_details, detail.outcome_id, rank, detail)
                        continue
                if len(values) <= len(ATTEMPT_COLUMNS):
                    attempt = attempt_from_row(dict(zip(ATTEMPT_COLUMNS, values, strict=False)))
                    if attempt is not None:
                        _keep(found_attempts, attempt.attempt_id, rank, attempt)
        for outcome_id, (_rank, outcome) in found_outcomes.items():
            salvage.outcomes.setdefault(outcome_id, outcome)  # what SQL read stays authoritative
        for outcome_id, (_rank, contact) in found_contacts.items():
            salvage.contacts.setdefault(outcome_id, contact)
        for outcome_id, (_rank, retraction) in found_retractions.items():
            salvage.retractions.setdefault(outcome_id, retraction)
        for outcome_id, (_rank, detail) in found_details.items():
            salvage.callback_details.setdefault(outcome_id, detail)
        for attempt_id, (_rank, attempt) in found_attempts.items():
            salvage.attempts.setdefault(attempt_id, attempt)
        del pages  # the page images reference the maps, which close with the stack


def _keep(found: dict, key: str, rank: int, value: Any) -> None:
    current = found.get(key)
    if current is None or rank >= current[0]:
        found[key] = (rank, value)


def _map(stack: contextlib.ExitStack, path: Path) -> bytes | mmap.mmap:
    handle = stack.enter_context(path.open("rb"))
    if path.stat().st_size == 0:
        return b""
    return stack.enter_context(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))


def salvage_store(path: Path, *, budget_s: float | None = None, sql: bool = True) -> Salvage:
    """Every outcome that can be read from `path` (a store file, maybe damaged, maybe zero-length beside its
    -wal). `budget_s`: stop reading pages after this long (`finished` False; counts are then a floor)."""
    path = Path(path)
    deadline = None if budget_s is None else time.monotonic() + budget_s
    salvage = Salvage()
    if sql:
        read_with_sql(path, salvage, deadline=deadline)
    if not salvage.sql_complete:
        read_pages(path, salvage, deadline=deadline)
    return salvage
