"""Fixtures of the parser fuzz tests: the reference server in-process (its ASGI app on a SQLite file, with
the test catalog and three customers), and real documents it served, as the seeds that get mutated."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from server_stub.db.engine import make_engine, upgrade
from tests.server import factories
from tests.server.conftest import Api, make_api

CUSTOMERS = {"C-CALM": "13800138000", "C-PRICE": "13900139000", "C-COMPLAINT": "13700137000"}


@dataclass
class Served:
    api: Api
    pops: list[dict[str, Any]]  # one GET /v1/pop document per customer
    batch_reply: dict[str, Any]  # a POST /v1/outcomes answer with accepted, duplicate and rejected items

    def outcome(self, pop: dict[str, Any], **extra: Any) -> dict[str, Any]:
        offer = pop["offers"][0]["offer_id"] if pop["offers"] else None
        return {"outcome_id": str(uuid.uuid4()), "decision_id": pop["decision_id"],
                "customer_id": pop["customer"]["customer_id"], "offer_id": offer, "result": "declined",
                "channel": "inbound_call", "note": "客户考虑中", "call_id": "call-1",
                "recorded_at": dt.datetime.now(dt.UTC).isoformat(), **extra}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'server.sqlite3'}")
    upgrade(engine)
    api = make_api(engine)
    factories.add_customer(api.session, "C-CALM", CUSTOMERS["C-CALM"], name="王芳", roaming_mb=800)
    factories.add_customer(api.session, "C-PRICE", CUSTOMERS["C-PRICE"], bill_inquiries_3m=3, downgrades_12m=1,
                           bills=(20000, 12900, 12900), churn_risk=0.7)
    factories.add_customer(api.session, "C-COMPLAINT", CUSTOMERS["C-COMPLAINT"], name="刘洋",
                           complaints=[("billing", "open", "serious", 5)])
    with api.client:
        pops = [api.pop(customer_id=customer) for customer in CUSTOMERS]
        first = Served(api, pops, {})
        good = first.outcome(pops[0])
        reply = api.post_outcomes([good, good, first.outcome(pops[1], offer_id="NO-SUCH-OFFER")])
        assert reply.status_code == 200, reply.text
        first.batch_reply = reply.json()
        assert {item["status"] for item in first.batch_reply["results"]} == {"accepted", "duplicate", "rejected"}
        yield first
    api.session.close()
    engine.dispose()
