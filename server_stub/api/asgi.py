"""Entry point for multi-worker uvicorn: each worker process builds its app from the environment."""

from __future__ import annotations

import os

from server_stub.api.app import create_app


def app_from_environment():
    from server_stub.cli import DATABASE_URL_ENV

    return create_app(os.environ[DATABASE_URL_ENV])
