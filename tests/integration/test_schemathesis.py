"""Property-based API fuzzing from the committed OpenAPI contract against the real server process:
no 5xx, responses conform to their schemas and documented status codes."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from sqlalchemy.orm import Session

from server_stub.api.openapi import COMMITTED_PATH
from server_stub.db.engine import make_engine, upgrade
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.conftest import PG_URL, _pg_database
from tests.server import factories


def _serve(url: str, log_dir):
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        for i in range(5):
            factories.add_customer(session, f"C{i}", f"1380013800{i}")
        token = create_token(session, "fuzzer", "lead")
    engine.dispose()
    with live_server(url, log_dir) as server:
        yield server.base_url, token


@pytest.fixture(scope="module")
def live_sqlite(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('st') / 'server.sqlite3'}"
    yield from _serve(url, tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def live_postgresql(tmp_path_factory):
    if not PG_URL:
        pytest.skip("CALLCUE_TEST_PG_URL is not set")
    for url in _pg_database(PG_URL):
        yield from _serve(url, tmp_path_factory.mktemp("logs"))


schema = schemathesis.openapi.from_path(COMMITTED_PATH)


CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]


def _call(case, live) -> None:
    base_url, token = live
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS,
                           timeout=10)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_sqlite_server_conforms_to_its_contract(case, live_sqlite):
    _call(case, live_sqlite)


@pytest.mark.postgres
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_postgresql_server_conforms_to_its_contract(case, live_postgresql):
    _call(case, live_postgresql)
