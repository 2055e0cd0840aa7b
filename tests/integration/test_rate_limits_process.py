"""Per-token rate limits in the real `callcue-server serve --workers 2` (issue 14, point 11): every worker
process reads the limits, each keeps its own buckets (documented: a token may get up to workers x burst at
once), the alert goes to the shared server.log without personal data, and the access audit sees every read
whichever worker served it."""

from __future__ import annotations

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import CustomerAccess
from server_stub.live import live_server
from server_stub.services.auth import create_token
from server_stub.services.limits import Limit, RateLimits
from tests.server import factories

BURST = 3
WORKERS = 2


def test_limits_hold_in_every_worker_process(database_url, tmp_path):
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_customer(session, "C1", "13800138000", name="陈静")
        token = create_token(session, "a-1")
    limits = RateLimits(pop=Limit(1, BURST), search=Limit(1, BURST))  # a refill of one a minute: none in the test
    with live_server(database_url, tmp_path / "logs", workers=WORKERS, rate_limits=limits) as server:
        statuses, retry_after = [], set()
        for _ in range(WORKERS * BURST + 2):
            # A new connection each time: the requests spread over the workers as the kernel hands them out.
            response = requests.get(f"{server.base_url}/v1/pop", params={"customer_id": "C1"},
                                    headers={"Authorization": f"Bearer {token}", "Connection": "close"}, timeout=10)
            statuses.append(response.status_code)
            if response.status_code == 429:
                retry_after.add(int(response.headers["Retry-After"]))
                assert response.json()["error"]["code"] == "rate_limited"
        served = statuses.count(200)
        assert set(statuses) == {200, 429}, statuses
        assert BURST <= served <= WORKERS * BURST, statuses
        assert all(1 <= seconds <= 60 for seconds in retry_after)
    output = (tmp_path / "logs" / "server.out").read_text(encoding="utf-8")
    assert "per-token limits (each server process): pop 1/min, bursts of 3; search 1/min, bursts of 3" in output
    log = (tmp_path / "logs" / "server.log").read_text(encoding="utf-8")
    assert '"event": "rate_limited"' in log and '"agent_id": "a-1"' in log
    for private in ("C1", "13800138000", "陈静", token.split("_", 2)[2]):
        assert private not in log
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CustomerAccess)) == served
    engine.dispose()
