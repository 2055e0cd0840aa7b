"""The OpenAPI document of API v1, built without a database (the contract does not depend on data)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from server_stub import __version__
from server_stub.api.policy import POLICY
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
    # The role table (api/policy.py) as each operation's x-callcue-roles: role → whose agent data it reaches.
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            rule = POLICY.get((method.upper(), path))
            if rule is not None and not rule.public:
                operation["x-callcue-roles"] = dict(rule.roles)
                operation["x-callcue-writes"] = rule.writes
    return document
