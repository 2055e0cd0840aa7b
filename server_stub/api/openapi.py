"""The OpenAPI document of API v1, built without a database (the contract does not depend on data)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from server_stub import __version__
from server_stub.api.routes import router
from server_stub.api.worklist_routes import router as worklist_router
from server_stub.paths import resources_dir

COMMITTED_PATH = resources_dir() / "openapi" / "server-v1.json"


def openapi_document() -> dict[str, Any]:
    app = FastAPI()
    app.include_router(router)
    app.include_router(worklist_router)
    document = get_openapi(
        title="CallCue analytics server",
        version=__version__,
        description="API v1 of the CallCue reference analytics server (see docs and DESIGN.md §3).",
        routes=app.routes,
    )
    document["components"].setdefault("securitySchemes", {})
    return document
