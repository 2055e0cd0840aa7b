"""Engine creation and migration state for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseUrlError(ValueError):
    """The database URL cannot be used; the message says why and what a good one looks like."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; FULL only adds power-loss safety
    # for the server, at a large cost in ingest throughput.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")
    # Reads through a shared mapping of the file instead of each pooled connection's private page cache
    # (one per worker thread, each cold): a pop's server CPU 4.5 -> 3.7 ms at 1M customers. Writes still use write().
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.close()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(
            f"Not a database URL: {url!r}. Use sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB."
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"Unsupported database {backend!r}: use sqlite or postgresql+psycopg.")
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, pool_size=pool_size, max_overflow=20, pool_timeout=30)
        event.listen(engine, "connect", _sqlite_pragmas)
        if database and database != ":memory:":
            event.listen(engine, "first_connect", lambda *_: _restrict_file_mode(Path(database)))
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return create_engine(parsed, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise DatabaseUrlError(f"No driver for {parsed.drivername}: use postgresql+psycopg://…") from exc


def make_pop_engine(engine: Engine, *, pool_size: int = 10) -> Engine | None:
    """PostgreSQL: the pool GET /v1/pop runs on, or None (SQLite: the main engine serves pops).

    Autocommit, so a pop is two round trips (its one read and its decision insert), and synchronous_commit
    off, so a pop never waits on a disk flush: the benchmark VM's fsync takes 0.2 ms typically but 90-300 ms
    at its worst, and every pop committing in that moment waited for it. A PostgreSQL crash can lose the
    decisions of the last fraction of a second (never an outcome: those commit synchronously on the main
    engine); an outcome answering a lost decision is rejected with a reason the agent sees.
    """
    if engine.dialect.name != "postgresql":
        return None
    return create_engine(
        engine.url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, isolation_level="AUTOCOMMIT",
        connect_args={"options": "-c synchronous_commit=off"},
    )


def _restrict_file_mode(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class NotMigratedError(RuntimeError):
    pass


def require_migrated(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "has no CallCue tables" if current is None else f"is at revision {current}"
        raise NotMigratedError(
            f"The database {where} {state}; this server needs revision {head}. "
            f"Run: callcue-server db upgrade --database-url '{where}'"
        )
