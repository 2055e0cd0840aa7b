"""PostgreSQL reads a pop in one statement, SQLite statement by statement: both must build the same document."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from server_stub.api.app import default_rules_path
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import CustomerNumber, OfferStat
from server_stub.domain.rules import load_rules
from server_stub.seed import seed_database
from server_stub.services.catalog import load_catalog
from server_stub.services.pop import CustomerNotFound, build_pop
from tests.conftest import PG_URL, _pg_database

CUSTOMERS = 300
TODAY = dt.date(2026, 3, 16)
NOW = dt.datetime(2026, 3, 16, 9, 30, tzinfo=dt.UTC)


def _documents(url: str) -> tuple[dict, list[str]]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        seed_database(engine, CUSTOMERS, seed=7, today=TODAY)
        rules = load_rules(default_rules_path())
        with Session(engine) as session:
            catalog = load_catalog(session)
            # Learned acceptance for some offers in the segments the ranking reads.
            rng = random.Random(3)
            session.execute(insert(OfferStat), [
                {"offer_id": offer_id, "segment": tier, "responses": (n := rng.randint(1, 80)),
                 "accepted": rng.randint(0, n)}
                for offer_id in sorted(catalog.offers)[::2] for tier in ("standard", "silver", "gold", "diamond")
            ])
            session.commit()
            numbers = list(session.scalars(select(CustomerNumber.msisdn).order_by(CustomerNumber.msisdn)))
            documents = {}
            for msisdn in [*numbers, "17000000000"]:
                try:
                    document = build_pop(session, rules, catalog, ani=f"+86 {msisdn}", customer_id=None,
                                         agent_id="agent-1", now=NOW)
                except CustomerNotFound:
                    documents[msisdn] = None
                    continue
                document.pop("decision_id")
                documents[msisdn] = document
        return documents, numbers
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_builds_the_same_pops_as_sqlite(tmp_path):
    if not PG_URL:
        pytest.skip("CALLCUE_TEST_PG_URL is not set (the README's test command starts PostgreSQL and sets it)")
    on_sqlite, numbers = _documents(f"sqlite:///{tmp_path / 'server.sqlite3'}")
    database = _pg_database(PG_URL)
    try:
        on_postgresql, _ = _documents(next(database))
    finally:
        database.close()
    assert len(numbers) > CUSTOMERS  # some customers have two numbers
    assert on_sqlite["17000000000"] is None and on_postgresql["17000000000"] is None
    # The sample must reach the parts that differ between the two readers.
    docs = [d for d in on_sqlite.values() if d]
    assert any(d["sensitivity"]["complaint"]["recent_complaints"] for d in docs)
    assert any(len(d["customer"]["usage_history"]) == 3 for d in docs)
    assert any(o["suppressed_by"] for d in docs for o in d["offers"])
    assert any(o["responses"] for d in docs for o in d["offers"])
    assert any(d["contact"]["contacts_used"] for d in docs)
    for msisdn in numbers:
        assert on_postgresql[msisdn] == on_sqlite[msisdn], msisdn


def test_a_pop_commits_its_decision_and_waits_on_no_flush_only_on_postgresql(api):
    """A pop's decision is committed when the answer arrives (another connection sees it); on PostgreSQL the
    pop pool commits without waiting for the WAL flush, while outcomes keep the synchronous default."""
    from sqlalchemy import text

    from tests.server import factories

    factories.add_customer(api.session, "C1", "13800138000")
    doc = api.pop(customer_id="C1")
    context = api.client.app.state.context
    with context.engine.connect() as conn:
        assert conn.execute(text("SELECT customer_id FROM decisions WHERE decision_id = :d"),
                            {"d": doc["decision_id"]}).scalar_one() == "C1"
        if context.engine.dialect.name != "postgresql":
            assert context.pop_sessionmaker.kw["bind"] is context.engine
            return
        # The main engine keeps the server's own setting (durable in production; this test cluster may not be).
        assert conn.execute(text("SELECT source FROM pg_settings WHERE name = 'synchronous_commit'")
                            ).scalar_one() != "client"
    pop_engine = context.pop_sessionmaker.kw["bind"]
    assert pop_engine is not context.engine
    with pop_engine.connect() as conn:
        assert conn.execute(text("SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'")
                            ).one() == ("off", "client")
        assert conn.connection.driver_connection.autocommit
