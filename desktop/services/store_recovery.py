"""Opening the local store so that no outcome the agent was told "saved" is left behind.

At start (`open_local_store`):
- a store file found empty (0 bytes) or damaged (SQLite refuses it, or `PRAGMA quick_check` fails within a
  time budget) is set aside — renamed `….damaged-YYYYmmdd-HHMMSS`, never deleted — and a fresh one
  started; the agent is told how many undelivered outcomes and outbound call results the old file holds and
  how to rescue them (`callcue store rescue FILE`, which is `rescue_into` below);
- a data folder that cannot be used (read-only, full, locked) falls back to a store in a well-known place
  (a "fallback" folder of the user's state directory, else the temp directory; one file per store path),
  and the agent is told where outcomes are kept meanwhile;
- with the data folder usable again, every fallback store of this path found in those places is drained:
  its outcomes and outbound call results are adopted by the live store (one transaction; idempotent: outcome
  and attempt ids are the server's idempotency keys, so nothing is sent twice) and only then is the fallback
  file removed.
  A fallback store still open in another CallCue process is left alone (it holds SQLite's lock).

Start-up cost: the integrity check has a budget (`START_CHECK_BUDGET_S`); a store too big to check in it is
checked in the background (`OpenedStore.check_later`), and damage found while the panel runs is remembered
next to the file, so the next start checks it in full. No Qt here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import sqlite3
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import platformdirs

from desktop.domain.errors import UserError
from desktop.services.clock import Clock, utc_now
from desktop.services.logfiles import private_directory
from desktop.services.sync import OUTBOX_RETENTION
from desktop.storage import LocalStore, StoreCorrupt, StoreError, open_store, quarantine_corrupt_store
from desktop.storage.salvage import TABLES, Salvage, companions, salvage_store
from desktop.storage.store import Adopted, check_store_file, suspect_marker

log = logging.getLogger("callcue.storage")

APP_NAME = "CallCue"
# quick_check reads every page: ~20 ms for a 20 MB store and ~80 ms for 73 MB in the page cache, 1.1-1.7 s for
# 73 MB from a cold disk (the panel's cold start to ready is ~0.9 s). A check that does not finish within this
# budget is interrupted and finished in the background instead of delaying the panel.
START_CHECK_BUDGET_S = 0.1
# Counting what a set-aside store holds reads its pages in Python (~50 MB/s); the count is a floor past this.
COUNT_BUDGET_S = 1.0


# ---------------------------------------------------------------------- what the agent is told


@dataclasses.dataclass(frozen=True)
class SetAside:
    """A damaged or emptied store was moved aside at start and a fresh one started."""

    moved_to: Path
    undelivered: int  # outcomes in it not yet sent (pending or needing attention)
    unreadable: int  # recent outcomes known to be in it whose delivery data cannot be read
    complete: bool  # every page was read: `undelivered` is not just a floor
    empty: bool  # the file was 0 bytes long
    call_results: int = 0  # outbound call results (no answer, busy …) in it not yet sent


@dataclasses.dataclass(frozen=True)
class UsingFallback:
    """The data folder cannot be used: outcomes are kept in `fallback` until it can."""

    code: str  # read_only, disk_full, store_corrupt or store_failed: why
    wanted: Path
    fallback: Path
    temporary: bool  # under the temp directory, which some systems empty at a restart


@dataclasses.dataclass(frozen=True)
class MovedBack:
    """Outcomes saved in fallback stores while the data folder was unavailable, now in the live store."""

    undelivered: int  # of them, still to be sent
    added: int
    sources: tuple[Path, ...]
    call_results: int = 0  # outbound call results moved back and still to be sent


StoreEvent = SetAside | UsingFallback | MovedBack


@dataclasses.dataclass
class OpenedStore:
    store: LocalStore
    problem: UserError | None  # the first problem, as a code (kept for hosts and the chaos driver)
    events: list[StoreEvent]
    check_later: bool  # the start-up check ran out of time: finish it in the background (check_in_background)


# ---------------------------------------------------------------------- fallback places


def fallback_dirs() -> list[Path]:
    """Where fallback stores live, most durable first: the user's state directory (kept across restarts),
    then the temp directory (always writable, but some systems empty it at a restart)."""
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    dirs = []
    with contextlib.suppress(Exception):  # no home directory: the temp directory still works
        dirs.append(platformdirs.user_state_path(APP_NAME, appauthor=False) / "fallback")
    dirs.append(Path(tempfile.gettempdir()) / f"callcue-{uid}")
    return dirs


def fallback_name(path: Path) -> str:
    """One fallback file per store path, so two panels never share one (the name older versions used)."""
    digest = hashlib.sha256(str(Path(path).absolute()).encode()).hexdigest()[:12]
    return f"callcue-{digest}.sqlite3"


def _ours(path: Path) -> bool:
    """Owned by this user and not writable by anyone else, and not a symbolic link (POSIX; elsewhere the
    per-user folders are private already)."""
    if not hasattr(os, "getuid"):
        return True
    try:
        info = path.lstat()
    except OSError:
        return False
    return not stat.S_ISLNK(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def _is_temporary(directory: Path) -> bool:
    try:
        return Path(tempfile.gettempdir()).resolve() in (directory.resolve(), *directory.resolve().parents)
    except OSError:
        return False


# ---------------------------------------------------------------------- opening


def open_local_store(
    path: Path,
    *,
    dirs: Sequence[Path] | None = None,
    clock: Clock = utc_now,
    check_budget_s: float | None = START_CHECK_BUDGET_S,
) -> OpenedStore:
    """The panel's store at `path`, checked, set aside and replaced if damaged, with fallback stores of
    earlier sessions drained into it; or a fallback store when `path` cannot be used. Raises StoreError
    only when no place at all can hold a store."""
    path = Path(path)
    dirs = fallback_dirs() if dirs is None else list(dirs)
    events: list[StoreEvent] = []
    try:
        store, check_later = _open_checked(path, events, clock, check_budget_s)
    except StoreError as exc:
        return _open_fallback(path, exc, dirs, events, clock, check_budget_s)
    moved = drain_fallbacks(store, path, dirs, clock)
    if moved is not None:
        events.append(moved)
    return OpenedStore(store, _first_problem(events), events, check_later)


def _first_problem(events: Iterable[StoreEvent]) -> UserError | None:
    for event in events:
        if isinstance(event, SetAside):
            return UserError("store_corrupt", str(event.moved_to))
        if isinstance(event, UsingFallback):
            return UserError(event.code, str(event.wanted))
    return None


def _open_checked(path: Path, events: list[StoreEvent], clock: Clock,
                  check_budget_s: float | None) -> tuple[LocalStore, bool]:
    """Open `path`; an emptied or damaged file is set aside (SetAside in `events`) and a fresh one opened.
    Returns the store and whether its check must be finished later. Raises StoreError when the file cannot
    be used for another reason (or cannot be moved aside)."""
    if _emptied(path):
        events.append(_set_aside(path, clock, empty=True))
    suspect = suspect_marker(path).exists()
    # Checked before it is opened for writing (read-only: nothing is checkpointed into a damaged file). Damage
    # found while the last session ran: the whole file is checked, whatever it costs.
    verdict = check_store_file(path, None if suspect else check_budget_s) if path.is_file() else True
    if verdict is False:
        events.append(_set_aside(path, clock, empty=False))
        verdict = True  # a new file follows
    try:
        store = open_store(path)
    except StoreCorrupt:
        events.append(_set_aside(path, clock, empty=False))
        store = open_store(path)
    if suspect and verdict is not None:
        with contextlib.suppress(OSError):
            suspect_marker(path).unlink()
    return store, verdict is None


def _emptied(path: Path) -> bool:
    """A store file of 0 bytes: it lost its content (a file CallCue creates but fails to write is removed
    again, see engine._drop_if_never_written). Opening it would also reset its -wal, the last copy of the
    newest outcomes: it must be moved aside first."""
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:
        return False


def _set_aside(path: Path, clock: Clock, *, empty: bool) -> SetAside:
    try:
        moved = quarantine_corrupt_store(path, clock())
    except OSError as exc:
        raise StoreCorrupt(f"{path} is damaged and cannot be moved aside ({exc.strerror or exc}).", path) from exc
    salvage = salvage_store(moved, budget_s=COUNT_BUDGET_S, sql=False)
    event = SetAside(moved, len(salvage.undelivered), len(salvage.unreadable(clock() - OUTBOX_RETENTION)),
                     salvage.finished, empty, len(salvage.undelivered_attempts))
    log.error("local store set aside", extra={"moved_to": str(moved), "undelivered": event.undelivered,
                                               "unreadable": event.unreadable, "empty": empty,
                                               "call_results": event.call_results})
    return event


def _open_fallback(path: Path, reason: StoreError, dirs: Sequence[Path], events: list[StoreEvent], clock: Clock,
                   check_budget_s: float | None) -> OpenedStore:
    name = fallback_name(path)
    for directory in dirs:
        candidate = directory / name
        try:
            private_directory(directory)
            if not _ours(directory) or (candidate.exists() and not _ours(candidate)):
                log.warning("fallback folder not private to this user: not used")
                continue
            store, check_later = _open_checked(candidate, events, clock, check_budget_s)
        except (StoreError, OSError) as exc:
            log.warning("fallback store unavailable", extra={"error": getattr(exc, "code", type(exc).__name__)})
            continue
        events.append(UsingFallback(reason.code, path, candidate, _is_temporary(directory)))
        log.error("local store unavailable; using a fallback", extra={"error": reason.code})
        return OpenedStore(store, _first_problem(events), events, check_later)
    raise reason


def check_in_background(store: LocalStore) -> bool:
    """The full integrity check that did not fit the start-up budget (run it on a worker). False: damaged
    (remembered next to the file: the next start sets it aside)."""
    try:
        return store.check_integrity() is not False
    except StoreError as exc:
        return not isinstance(exc, StoreCorrupt)


# ---------------------------------------------------------------------- draining fallback stores


def drain_fallbacks(store: LocalStore, live_path: Path, dirs: Sequence[Path], clock: Clock = utc_now) -> MovedBack | None:
    """Adopt the outcomes of every fallback store of `live_path` into `store`; None when there was none."""
    name = fallback_name(live_path)
    added = undelivered = call_results = call_results_added = 0
    sources: list[Path] = []
    for directory in dirs:
        candidate = directory / name
        try:
            if not candidate.exists() or candidate.resolve() == Path(store.path).resolve():
                continue
        except OSError:
            continue
        if not (_ours(directory) and _ours(candidate)):
            # In a shared temp folder anyone may leave a file by that name: outcomes in it would be sent with
            # this agent's token. Only this user's own, private files are taken in.
            log.warning("a fallback store not private to this user was ignored")
            continue
        adopted = drain_one(candidate, store, clock)
        if adopted is None:
            continue
        sources.append(candidate)
        added += adopted.added
        undelivered += adopted.undelivered
        call_results += adopted.call_results_undelivered
        call_results_added += adopted.call_results
    if not added and not call_results_added:
        return None
    log.warning("outcomes saved in fallback stores moved back", extra={"added": added, "undelivered": undelivered,
                                                                      "call_results": call_results})
    return MovedBack(undelivered, added, tuple(sources), call_results)


def drain_one(candidate: Path, store: LocalStore, clock: Clock = utc_now) -> Adopted | None:
    """Adopt one fallback store's outcomes, then remove it (set it aside instead if it is damaged). None when
    it is in use by another CallCue process, or when the live store could not take its outcomes: it is left
    as it is, for the next start."""
    wal = candidate.with_name(candidate.name + "-wal")
    if candidate.stat().st_size == 0 and (not wal.exists() or wal.stat().st_size == 0):
        _remove(candidate)  # created, never written: holds nothing
        return Adopted()
    connection = sqlite3.connect(candidate, timeout=0.2, isolation_level=None)
    intact = True
    try:
        try:
            if candidate.stat().st_size == 0:
                raise sqlite3.DatabaseError("an empty file beside its log")  # opening it would reset the log
            # Exclusive, until closed: fails while another process has the store open (WAL readers hold a
            # shared lock), and keeps anyone from writing to it while it is being drained.
            connection.execute("PRAGMA locking_mode=EXCLUSIVE")
            connection.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                log.info("a fallback store is in use by another CallCue; left for later")
                return None
            intact = False
        except sqlite3.DatabaseError:
            intact = False
        salvage = Salvage()
        if intact:
            try:
                _read_all(connection, salvage)
            except sqlite3.DatabaseError:
                intact = False
        if not intact:
            salvage = salvage_store(candidate)
        try:
            adopted = store.outcomes.adopt(salvage.outcomes.values(), salvage.contacts.values(),
                                           salvage.retractions.values(), salvage.callback_details.values(),
                                           salvage.attempts.values())
        except StoreError as exc:
            log.error("fallback store not drained", extra={"error_code": exc.code})
            return None
    finally:
        connection.close()
    if intact:
        _remove(candidate)
    else:
        with contextlib.suppress(OSError):
            quarantine_corrupt_store(candidate, clock())
    return adopted


def _read_all(connection: sqlite3.Connection, salvage: Salvage) -> None:
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, convert, attribute, key in TABLES:
        target = getattr(salvage, attribute)
        if table not in tables:
            continue
        cursor = connection.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        for values in cursor:
            found = convert(dict(zip(names, values, strict=True)))
            if found is not None:
                target[getattr(found, key)] = found
    salvage.sql_complete = True


def _remove(path: Path) -> None:
    for companion in companions(path):
        with contextlib.suppress(OSError):
            companion.unlink()


# ---------------------------------------------------------------------- rescue (callcue store rescue)


@dataclasses.dataclass(frozen=True)
class RescueReport:
    rescued: int  # outcomes new to the live store
    to_send: int  # of them, still to be sent (or to be looked at)
    present: int  # already in the live store: left as they are
    unreadable: int  # recent outcomes known to be in the file whose delivery data could not be read
    contacts: int  # statistics-only rows taken in
    retractions: int = 0  # undos of outcomes taken in (sent to the server once, after their outcome)
    callback_details: int = 0  # names of the callbacks taken in (the queue shows who to call back)
    call_results: int = 0  # outbound call results new to the live store
    call_results_to_send: int = 0  # of them, still to be sent (or to be looked at)
    call_results_present: int = 0  # already in the live store: left as they are


def rescue_into(file: Path, store: LocalStore, *, clock: Clock = utc_now) -> RescueReport:
    """Every readable outcome and outbound call result of `file` (a damaged or set-aside store; never written
    to) into `store`. Idempotent: running it again rescues nothing new."""
    file = Path(file)
    if not file.exists() and not file.with_name(file.name + "-wal").exists():
        raise FileNotFoundError(file)
    salvage = salvage_store(file)
    adopted = store.outcomes.adopt(salvage.outcomes.values(), salvage.contacts.values(), salvage.retractions.values(),
                                   salvage.callback_details.values(), salvage.attempts.values())
    unreadable = len(salvage.unreadable(clock() - OUTBOX_RETENTION)) + adopted.invalid
    log.warning("store rescue", extra={"rescued": adopted.added, "present": adopted.present,
                                       "unreadable": unreadable, "retractions": adopted.retractions,
                                       "call_results": adopted.call_results})
    return RescueReport(adopted.added, adopted.undelivered, adopted.present, unreadable, adopted.contacts,
                        adopted.retractions, adopted.callback_details, adopted.call_results,
                        adopted.call_results_undelivered, adopted.call_results_present)
