from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server_stub.api.app import create_app
from server_stub.services.auth import create_token
from tests.server import factories


@dataclass
class Api:
    client: TestClient
    session: Session
    token: str
    lead_token: str

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def get(self, path: str, **params):
        return self.client.get(path, params=params, headers=self.headers())

    def pop(self, **params) -> dict:
        response = self.get("/v1/pop", **params)
        assert response.status_code == 200, response.text
        return response.json()

    def post_outcomes(self, items: list[dict], token: str | None = None):
        return self.client.post("/v1/outcomes", json={"outcomes": items}, headers=self.headers(token))


def make_api(engine, **catalog_options) -> Api:
    session = Session(engine, expire_on_commit=False)
    factories.add_catalog(session, **catalog_options)
    token = create_token(session, "agent-007")
    lead_token = create_token(session, "lead-01", "lead")
    client = TestClient(create_app(engine=engine, catalog_ttl_seconds=0, token_ttl_seconds=0))
    return Api(client, session, token, lead_token)


@pytest.fixture
def api(migrated_engine):
    api = make_api(migrated_engine)
    with api.client:
        yield api
    api.session.close()
