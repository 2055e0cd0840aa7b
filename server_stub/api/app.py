"""The FastAPI application factory. No globals: everything hangs off app.state.context."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from server_stub import __version__
from server_stub.api.deps import GenerationClock
from server_stub.api.errors import install_error_handlers
from server_stub.api.middleware import AccessLogMiddleware, BodyLimitMiddleware
from server_stub.api.openapi import openapi_document
from server_stub.api.routes import router
from server_stub.api.worklist_routes import router as worklist_router
from server_stub.db.engine import make_engine, make_pop_engine, require_migrated
from server_stub.domain.rules import Rules, load_rules
from server_stub.paths import RULES_ENV, configured_rules_path, default_rules_path, resources_dir  # noqa: F401 - re-exported
from server_stub.services.auth import TokenCache
from server_stub.services.catalog import CatalogCache
from server_stub.services.limits import RateLimiter, RateLimits

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# An operator's rules file (`serve --rules FILE` sets it for worker processes too).
@dataclass
class ServerContext:
    engine: Engine
    rules: Rules
    sessionmaker: sessionmaker
    pop_sessionmaker: sessionmaker  # GET /v1/pop's own pool on PostgreSQL (see make_pop_engine)
    catalog: CatalogCache = field(default_factory=CatalogCache)
    tokens: TokenCache = field(default_factory=TokenCache)
    # SQLite has one writer: queueing writes in-process avoids its busy handler's sleeps (tens of ms).
    write_lock: contextlib.AbstractContextManager = field(default_factory=contextlib.nullcontext)
    rules_path: Path | None = None  # where `rules` came from
    # Per-token limits on the routes that read customers (in this process; services/limits.py).
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(RateLimits()))
    # Where tokens are verified and the auth generation read (the pop pool on PostgreSQL: autocommit, so a
    # read costs one round trip) and how often (api/deps.py).
    auth_sessionmaker: sessionmaker | None = None
    generation: GenerationClock = field(default_factory=GenerationClock)

    def __post_init__(self) -> None:
        if self.auth_sessionmaker is None:
            self.auth_sessionmaker = self.pop_sessionmaker


def create_app(
    database_url: str | None = None,
    *,
    engine: Engine | None = None,
    rules_path: Path | str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    catalog_ttl_seconds: float = 5.0,
    token_ttl_seconds: float = 10.0,
    revocation_check_seconds: float = 0.0,
    rate_limits: RateLimits | None = None,
    long_running: bool = False,
) -> FastAPI:
    """Build the app. Raises NotMigratedError / DatabaseUrlError / RulesError with a plain message.

    `rate_limits`: per-token limits of pop and search (default: RateLimits(), the production defaults).
    `long_running`: a served process (not a test client) settles its memory, see `_lifespan`.
    `rules_path`: default $CALLCUE_SERVER_RULES, else the shipped rules file.
    `revocation_check_seconds`: 0 (default) reads the auth generation on every request, so a revoked token is
    refused at once; more reads it at most that often per process (a revocation then takes up to that long)."""
    if engine is None:
        if database_url is None:
            raise ValueError("give database_url or engine")
        engine = make_engine(database_url)
    require_migrated(engine)
    rules_file = configured_rules_path(rules_path)
    rules = load_rules(rules_file)
    pop_engine = make_pop_engine(engine)
    app = FastAPI(
        title="CallCue analytics server",
        version=__version__,
        description=(
            "Reference analytics server (经营分析) for the CallCue agent panel: one document per screen pop, "
            "idempotent outcome ingest, customer search and the offer/campaign catalog. "
            "Every endpoint but /v1/health needs a per-agent bearer token."
        ),
        openapi_url="/openapi.json",
        lifespan=functools.partial(_lifespan, pop_engine=pop_engine, long_running=long_running),
    )
    app.state.context = ServerContext(
        engine=engine,
        rules=rules,
        rules_path=rules_file,
        sessionmaker=sessionmaker(engine, expire_on_commit=False),
        pop_sessionmaker=sessionmaker(pop_engine or engine, expire_on_commit=False),
        catalog=CatalogCache(catalog_ttl_seconds),
        tokens=TokenCache(token_ttl_seconds),
        write_lock=threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext(),
        limiter=RateLimiter(rate_limits or RateLimits()),
        generation=GenerationClock(revocation_check_seconds),
    )
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(worklist_router)
    # Serve exactly the committed contract's generator, so the drift test covers the live document.
    app.openapi = lambda: openapi_document()
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(AccessLogMiddleware)
    return app


# When the warm-up's objects (first requests: connections, prepared statements, compiled SQL) are settled.
WARM_UP_SECONDS = (5.0, 30.0)


def settle_memory() -> None:
    """Move the long-lived objects out of the collector's way. Full collections of a few hundred thousand
    start-up objects otherwise pause every request for tens of milliseconds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


@contextlib.asynccontextmanager
async def _lifespan(_app: FastAPI, *, pop_engine: Engine | None, long_running: bool) -> AsyncIterator[None]:
    """A long-running server settles its memory when it starts serving (uvicorn's own modules are loaded
    by then) and again after the warm-up: objects made by the first requests would otherwise be scanned by
    every full collection (measured: 25-80 ms pauses under load). The pop pool closes on shutdown."""
    timers = []
    if long_running:
        settle_memory()
        loop = asyncio.get_running_loop()
        timers = [loop.call_later(delay, settle_memory) for delay in WARM_UP_SECONDS]
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
        if pop_engine is not None:
            pop_engine.dispose()
