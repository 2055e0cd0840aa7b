"""No two agents ever get the same customer: many agents pull from one outbound campaign at once, over TCP,
against the real server (two worker processes) on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import OutboundAttempt, OutboundLease
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.server import factories

AGENTS = 24
MEMBERS = 150


def test_concurrent_agents_never_share_a_customer(database_url, tmp_path):
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_outbound_campaign(session)
        for n in range(MEMBERS):
            factories.add_customer(session, f"C{n:04d}", None, campaign=False, monthly_fee_fen=5_000 + 37 * n)
            factories.add_member(session, f"C{n:04d}", priority=n % 3)
        tokens = [create_token(session, f"agent-{n:02d}") for n in range(AGENTS)]
    engine.dispose()

    leases: list[tuple[str, str, str]] = []  # (agent, customer, lease)
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(AGENTS)

    with live_server(database_url, tmp_path / "logs", workers=2) as server:
        def agent(n: int) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {tokens[n]}"
            try:
                start.wait(timeout=60)
                # Phase 1: everyone takes a customer at the same moment and holds it.
                held = session.post(f"{server.base_url}/v1/worklist/next", timeout=60).json()
                with lock:
                    leases.append((f"agent-{n:02d}", held["customer_id"], held["lease"]["lease_id"]))
                lease = held["lease"]["lease_id"]
                # Phase 2: call, record the result, take the next — until the list is worked through.
                while True:
                    done = session.post(f"{server.base_url}/v1/outbound/attempts", timeout=60, json={
                        "attempt_id": str(uuid.uuid4()), "lease_id": lease, "result": "no_answer",
                        "called_at": dt.datetime.now(dt.UTC).isoformat()})
                    if done.status_code != 200:
                        raise AssertionError(done.text)
                    doc = session.post(f"{server.base_url}/v1/worklist/next", timeout=60).json()
                    while doc["status"] != "leased":
                        assert doc["empty"]["code"] in ("worklist_done", "worklist_busy"), doc
                        if doc["empty"]["code"] == "worklist_done":
                            return
                        doc = session.post(f"{server.base_url}/v1/worklist/next", timeout=60).json()
                    lease = doc["lease"]["lease_id"]
                    with lock:
                        leases.append((f"agent-{n:02d}", doc["customer_id"], lease))
            except Exception as exc:
                with lock:
                    errors.append(f"agent {n}: {exc!r}")
            finally:
                session.close()

        threads = [threading.Thread(target=agent, args=(n,), name=f"agent-{n}") for n in range(AGENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(t.is_alive() for t in threads), "an agent thread hung"
    assert not errors, errors
    customers = Counter(customer for _, customer, _ in leases)
    assert max(customers.values()) == 1, [c for c, n in customers.items() if n > 1]  # never handed out twice
    assert len(customers) == MEMBERS  # and every member was handed out
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(OutboundLease)) == MEMBERS
            assert session.scalar(select(func.count(func.distinct(OutboundLease.customer_id)))) == MEMBERS
            assert session.scalar(select(func.count()).select_from(OutboundAttempt)) == MEMBERS
    finally:
        engine.dispose()
