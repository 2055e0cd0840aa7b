"""Entry point for multi-worker uvicorn: each worker process builds its app from the environment."""

from __future__ import annotations

import os

from server_stub.api.app import create_app, settle_memory


def app_from_environment():
    from server_stub.cli import DATABASE_URL_ENV, TOKEN_CACHE_ENV

    app = create_app(os.environ[DATABASE_URL_ENV], token_ttl_seconds=float(os.environ.get(TOKEN_CACHE_ENV, "10")))
    settle_memory()
    return app
