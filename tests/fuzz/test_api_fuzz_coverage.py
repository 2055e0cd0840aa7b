"""The API fuzzing (tests/integration/test_schemathesis.py: schemathesis against the real server process,
on SQLite and on PostgreSQL) reaches every operation the server has and asserts what the issue asks.

schemathesis generates its cases from the committed contract (resources/openapi/server-v1.json); this
checks that the contract lists every route the application really serves (a route left out of the
OpenAPI document would never be fuzzed), that both backends are fuzzed, and that the checks include
"no 5xx" and "the response conforms to its schema".
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from schemathesis import checks

from server_stub.api.app import create_app
from server_stub.db.engine import make_engine, upgrade
from tests.integration import test_schemathesis as api_fuzz


def api_routes(routes, prefix: str = ""):
    """(method, path) of every API route, also inside included routers (FastAPI >= 0.16x wraps them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield from ((method, prefix + route.path) for method in route.methods if method not in ("HEAD", "OPTIONS"))
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and hasattr(inner, "routes"):
            context = getattr(route, "include_context", None)
            yield from api_routes(inner.routes, prefix + (getattr(context, "prefix", "") or getattr(route, "path", "")))


def test_schemathesis_fuzzes_every_route_the_server_serves(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    app = create_app(engine=engine)
    engine.dispose()
    served = set(api_routes(app.routes))
    fuzzed = {(operation.ok().method.upper(), operation.ok().path) for operation in api_fuzz.schema.get_all_operations()}
    assert served, "no routes found"
    assert fuzzed == served, f"not fuzzed: {served - fuzzed}; in the contract only: {fuzzed - served}"


def test_schemathesis_checks_no_5xx_and_schema_conformance_on_both_backends():
    assert checks.not_a_server_error in api_fuzz.CHECKS
    assert checks.response_schema_conformance in api_fuzz.CHECKS
    assert checks.status_code_conformance in api_fuzz.CHECKS
    fuzz_tests = [name for name in vars(api_fuzz) if name.startswith("test_") and "conforms" in name]
    assert {"test_sqlite_server_conforms_to_its_contract", "test_postgresql_server_conforms_to_its_contract"} <= set(
        fuzz_tests)
