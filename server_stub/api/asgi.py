"""Entry point for multi-worker uvicorn: each worker process builds its app from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from server_stub.api.app import create_app


def app_from_environment():
    from server_stub.cli import (
        DATABASE_URL_ENV,
        LOG_DIR_ENV,
        LOG_LEVEL_ENV,
        REVOCATION_CHECK_ENV,
        TOKEN_CACHE_ENV,
    )
    from server_stub.logging_setup import configure_logging
    from server_stub.services.limits import RateLimits

    # A spawned worker inherits the environment, not the parent's logging: it appends to the same
    # server.log, which the parent rotates.
    log_dir = os.environ.get(LOG_DIR_ENV)
    configure_logging(Path(log_dir) if log_dir else None, os.environ.get(LOG_LEVEL_ENV, "INFO"), shared=True)

    return create_app(os.environ[DATABASE_URL_ENV], long_running=True,
                      token_ttl_seconds=float(os.environ.get(TOKEN_CACHE_ENV, "10")),
                      revocation_check_seconds=float(os.environ.get(REVOCATION_CHECK_ENV, "0")),
                      rate_limits=RateLimits.from_environment())
