"""Opening the local SQLite store: file permissions, pragmas, migrations, and plain-language failures."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from desktop.domain.errors import UserFacingError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("callcue.storage")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 5000
# A few KiB left on a volume is "full" for practical purposes: SQLite needs room for WAL frames.
NEARLY_FULL_BYTES = 256 * 1024


class StoreError(UserFacingError):
    """The local store cannot be used; the message is plain language and names the file."""

    code = "store_failed"

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class StoreCorrupt(StoreError):
    code = "store_corrupt"


class StoreReadOnly(StoreError):
    code = "read_only"


class StoreFull(StoreError):
    code = "disk_full"


def _sqlite_code(exc: BaseException) -> int | None:
    for candidate in (getattr(exc, "orig", None), exc, exc.__cause__):
        code = getattr(candidate, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF  # primary result code (extended codes carry detail in the high bits)
    return None


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK)


def _nearly_full(directory: Path) -> bool:
    try:
        return shutil.disk_usage(directory).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def classify(exc: BaseException, path: Path) -> StoreError:
    """Turn a database or file-system failure into the StoreError the agent can act on."""
    if isinstance(exc, StoreError):
        return exc
    directory = path.parent
    oserror = exc if isinstance(exc, OSError) else None
    if oserror is not None:
        if oserror.errno in (errno.ENOSPC, errno.EDQUOT):
            return StoreFull(f"The disk holding {directory} is full: nothing new can be saved.", path)
        if oserror.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return StoreReadOnly(f"CallCue may not write to {directory} ({oserror.strerror}).", path)
        return StoreError(f"Cannot use {path}: {oserror.strerror or oserror}.", path)
    code = _sqlite_code(exc)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreCorrupt(f"{path} is damaged or is not a CallCue data file.", path)
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _nearly_full(directory)):
        return StoreFull(f"The disk holding {directory} is full: nothing new can be saved.", path)
    if code == sqlite3.SQLITE_READONLY or (
        code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_AUTH) and not _writable(directory)
    ):
        return StoreReadOnly(f"CallCue may not write to {directory} (it is read-only).", path)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(f"{path} is locked by another program (is CallCue running twice?).", path)
    orig = getattr(exc, "orig", exc)
    return StoreError(f"Cannot use {path}: {type(orig).__name__}: {orig}.", path)


def _on_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed outcome survives power loss, not only a crash (the agent was told "saved").
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted customer data (sign-out, expiry) is overwritten, not left in free pages of the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _on_begin(connection) -> None:
    # IMMEDIATE takes the write lock at BEGIN: two writers wait for each other (busy_timeout) instead of
    # failing with SQLITE_BUSY when a deferred reader tries to upgrade to a writer.
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", pool_size=4, max_overflow=4, pool_timeout=10)
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (and pool) whose transactions begin IMMEDIATE."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def create_private_file(path: Path) -> None:
    """Create the database file (and its directory) readable by this user only, before SQLite does."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    restrict_modes(path)


def restrict_modes(path: Path) -> None:
    """0600 for the database and its -wal/-shm companions (they hold the same customer data)."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):  # read-only volume or Windows: reported by the first write
            if candidate.exists() and (candidate.stat().st_mode & 0o777) != 0o600:
                os.chmod(candidate, 0o600)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


_REVISION_LINE = re.compile(r'^(down_revision|revision)\b[^=]*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


def head_revision() -> str | None:
    """The newest migration, read from the migration files without importing Alembic: a panel whose store
    is up to date never loads Alembic (it costs ~16 MiB and ~100 ms of start-up). A linear history is
    assumed, as the test that compares this with Alembic's own answer checks."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            (revisions if name == "revision" else parents).add(value or None)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine, path: Path) -> None:
    """Bring the schema to head; a file from a newer CallCue is refused rather than damaged."""
    current, head = current_revision(engine), head_revision()
    if current == head and head is not None:
        return
    from alembic import command
    from alembic.util.exc import CommandError

    config = alembic_config()
    try:
        with writer(engine).begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(
            f"{path} was written by a newer CallCue (schema {current}); this version knows up to {head}. "
            "Update CallCue on this computer.",
            path,
        ) from exc
    log.info("local store migrated", extra={"from_revision": current, "to_revision": head})


def open_engine(path: Path) -> Engine:
    """Create/open the file, apply pragmas and migrations. Raises StoreError subclasses."""
    path = Path(path)
    engine = None
    created = not path.exists()
    try:
        create_private_file(path)
        engine = make_engine(path)
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            if mode != "wal":
                log.warning("WAL not available for the local store", extra={"journal_mode": mode})
        migrate(engine, path)
        restrict_modes(path)
        return engine
    except (SQLAlchemyError, OSError, sqlite3.Error) as exc:
        if engine is not None:
            engine.dispose()
        _drop_if_never_written(path, created)
        raise classify(exc, path) from exc
    except StoreError:
        if engine is not None:
            engine.dispose()
        _drop_if_never_written(path, created)
        raise


def _drop_if_never_written(path: Path, created: bool) -> None:
    """A file this attempt created and SQLite never wrote to (a full disk still has room for a name) is
    removed: an empty store file at the next start then always means a store that lost its content."""
    if created:
        with contextlib.suppress(OSError):
            if path.stat().st_size == 0:
                path.unlink()
