"""Statistics fixtures: a local store with known outcomes, and the real server with an agent and a lead token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from desktop.domain.outcomes import OutcomeDraft, OutcomeResult
from server_stub.db.engine import make_engine, upgrade
from server_stub.live import live_server
from server_stub.services.auth import create_token

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def record(store, *, at: dt.datetime, agent: str, result: str = "declined", offer: str | None = "OFF-A",
           customer: str = "C1", campaign: str | None = "CMP-1", wave: int | None = 1,
           callback_at: dt.datetime | None = None, pop_before_s: float | None = 30.0, n: list[int] = [0]):  # noqa: B006
    """One outcome through the real store (unique decision ids, so no double-press folding)."""
    n[0] += 1
    result = OutcomeResult(result)
    draft = OutcomeDraft(decision_id=f"dec-{n[0]}", customer_id=customer, result=result,
                         offer_id=offer if result.needs_offer else None, campaign_id=campaign,
                         wave=wave if campaign else None, callback_at=callback_at, agent_id=agent,
                         reason="busy" if result is OutcomeResult.NOT_OFFERED else None)
    popped_at = None if pop_before_s is None else at - dt.timedelta(seconds=pop_before_s)
    return store.record_outcome(draft.finalize(recorded_at=at, popped_at=popped_at))


def seed_team(store) -> None:
    """A small team day: agent-007 and agent-008 on 2026-11-20 (Shanghai), one pop each."""
    for i, (agent, result) in enumerate([("agent-007", "accepted"), ("agent-007", "declined"),
                                          ("agent-007", "considering"), ("agent-008", "accepted"),
                                          ("agent-008", "accepted"), ("agent-008", "do_not_disturb")]):
        record(store, at=T0 + dt.timedelta(minutes=10 * i), agent=agent, result=result)
    for agent in ("agent-007", "agent-008"):
        store.pops.log(popped_at=T0, state="live", call_id=None, customer_id="C1", decision_id=None,
                       agent_id=agent, offers_presented=["OFF-A", "OFF-B"],
                       suppressed=[{"offer_id": "OFF-C", "codes": ["price_sensitive"]}],
                       campaign_id="CMP-1", wave=1)


@dataclass
class TokenServer:
    base_url: str
    agent_token: str
    lead_token: str


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    """The real server with two tokens: agent-007 (agent) and lead-01 (lead)."""
    directory: Path = tmp_path_factory.mktemp("stats-server")
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        agent_token = create_token(session, "agent-007")
        lead_token = create_token(session, "lead-01", "lead")
        session.commit()
    engine.dispose()
    with live_server(url, directory / "logs", token_cache_seconds=0) as running:
        yield TokenServer(running.base_url, agent_token, lead_token)
