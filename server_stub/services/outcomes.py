"""POST /v1/outcomes: batch ingest, idempotent by the client's outcome_id.

Each item is checked on its own (one bad item never fails the batch). Stored items update contact
history, offer acceptance and DND in the same transaction, so the next pop reflects them and a retried
batch changes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server_stub.db.models import ContactHistory, Customer, Decision, OfferStat, Outcome
from server_stub.domain.vocabulary import (
    OUTCOME_CHANNELS,
    OUTCOME_RESULTS,
    RESPONSE_RESULTS,
    RESULTS_NEEDING_OFFER,
)
from server_stub.services.catalog import Catalog

RESULTS = OUTCOME_RESULTS
CHANNELS = OUTCOME_CHANNELS
MAX_CLOCK_SKEW = dt.timedelta(minutes=10)

Result = Literal["accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb"]
Channel = Literal["inbound_call", "outbound_call", "sms", "app_push", "email"]


class OutcomeIn(BaseModel):
    """One recorded outcome, as the desktop client's outbox sends it."""

    model_config = ConfigDict(extra="forbid")

    outcome_id: uuid.UUID = Field(description="Client-made UUID; the idempotency key.")
    decision_id: str = Field(min_length=1, max_length=36, description="decision_id of the pop it answers.")
    customer_id: str = Field(min_length=1, max_length=64)
    offer_id: str | None = Field(default=None, max_length=40)
    campaign_id: str | None = Field(default=None, max_length=40)
    wave: int | None = Field(default=None, ge=1, le=99)
    channel: Channel = "inbound_call"
    result: Result
    reason: str | None = Field(default=None, max_length=200, description="Why not offered (not_offered).")
    callback_at: dt.datetime | None = Field(default=None, description="When to call back (callback).")
    note: str | None = Field(default=None, max_length=2000)
    agent_id: str | None = Field(default=None, max_length=64)
    call_id: str | None = Field(default=None, max_length=100)
    recorded_at: dt.datetime

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # Databases (PostgreSQL) refuse NUL in text: say so instead of failing the batch.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeIn:
        if self.recorded_at.tzinfo is None:
            raise ValueError("recorded_at needs a time zone (e.g. 2026-11-23T10:00:00+08:00)")
        if self.callback_at is not None and self.callback_at.tzinfo is None:
            raise ValueError("callback_at needs a time zone")
        if self.result == "callback" and self.callback_at is None:
            raise ValueError("a callback needs callback_at")
        if self.result == "not_offered" and not self.reason:
            raise ValueError("not_offered needs a reason")
        if self.result in RESULTS_NEEDING_OFFER and not self.offer_id:
            raise ValueError(f"{self.result} needs offer_id")
        return self

    def fingerprint(self) -> str:
        """Content hash: the same id with the same content is a duplicate, with other content a conflict."""
        payload = self.model_dump(mode="json", exclude={"agent_id"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


ItemStatus = Literal["accepted", "duplicate", "rejected"]


@dataclass
class ItemResult:
    outcome_id: str | None
    index: int
    status: ItemStatus
    reason: str | None = None


def _describe(error: ValidationError) -> str:
    parts = []
    for e in error.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or "item"
        message = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)


def ingest(
    session: Session,
    catalog: Catalog,
    raw_items: list[Any],
    *,
    agent_id: str,
    is_lead: bool,
    now: dt.datetime | None = None,
    write_lock: contextlib.AbstractContextManager | None = None,
) -> list[ItemResult]:
    now = now or dt.datetime.now(dt.UTC)
    write_lock = write_lock or contextlib.nullcontext()
    results: list[ItemResult | None] = [None] * len(raw_items)
    parsed: list[tuple[int, OutcomeIn]] = []
    for index, raw in enumerate(raw_items):
        outcome_id = raw.get("outcome_id") if isinstance(raw, dict) else None
        outcome_id = outcome_id if isinstance(outcome_id, str) else None
        if not isinstance(raw, dict):
            results[index] = ItemResult(None, index, "rejected", "item must be a JSON object")
            continue
        try:
            parsed.append((index, OutcomeIn.model_validate(raw)))
        except ValidationError as exc:
            results[index] = ItemResult(outcome_id, index, "rejected", _describe(exc))

    decision_ids = {item.decision_id for _, item in parsed}
    decisions = {
        d.decision_id: d
        for d in session.scalars(select(Decision).where(Decision.decision_id.in_(decision_ids)))
    } if decision_ids else {}
    customer_ids = {item.customer_id for _, item in parsed}
    tiers = dict(
        session.execute(
            select(Customer.customer_id, Customer.value_tier).where(Customer.customer_id.in_(customer_ids))
        ).all()
    ) if customer_ids else {}

    rows: dict[str, dict[str, Any]] = {}
    index_of: dict[str, int] = {}
    items_by_id: dict[str, OutcomeIn] = {}
    for index, item in parsed:
        key = str(item.outcome_id)
        reason = _check(item, decisions, catalog, tiers, agent_id, is_lead, now)
        if reason:
            results[index] = ItemResult(key, index, "rejected", reason)
            continue
        fingerprint = item.fingerprint()
        if key in rows:  # the same outcome twice in one batch
            same = rows[key]["fingerprint"] == fingerprint
            results[index] = ItemResult(
                key, index, "duplicate" if same else "rejected",
                None if same else "outcome_id appears twice in this batch with different content",
            )
            continue
        rows[key] = {
            "outcome_id": key,
            "decision_id": item.decision_id,
            "customer_id": item.customer_id,
            "offer_id": item.offer_id,
            "campaign_id": item.campaign_id,
            "wave": item.wave,
            "channel": item.channel,
            "result": item.result,
            "reason": item.reason,
            "note": item.note,
            "callback_at": item.callback_at,
            "agent_id": item.agent_id or agent_id,
            "call_id": item.call_id,
            "recorded_at": item.recorded_at,
            "received_at": now,
            "fingerprint": fingerprint,
        }
        index_of[key] = index
        items_by_id[key] = item

    # Checks above only read; end that snapshot so a SQLite write starts fresh, then write in one go.
    session.rollback()
    with write_lock:
        stored: set[str] = set()
        if rows:
            statement = (
                _insert(session)(Outcome)
                .on_conflict_do_nothing(index_elements=["outcome_id"])
                .returning(Outcome.outcome_id)
            )
            # Type-converting bind values through the ORM table keeps UtcDateTime handling on both backends.
            stored = set(session.scalars(statement, list(rows.values())).all())
            _apply_side_effects(session, [items_by_id[k] for k in rows if k in stored], rows, tiers, now)
            others = [k for k in rows if k not in stored]
            if others:
                existing = dict(
                    session.execute(
                        select(Outcome.outcome_id, Outcome.fingerprint).where(Outcome.outcome_id.in_(others))
                    ).all()
                )
                for key in others:
                    same = existing.get(key) == rows[key]["fingerprint"]
                    results[index_of[key]] = ItemResult(
                        key, index_of[key], "duplicate" if same else "rejected",
                        None if same else "outcome_id was already used for a different outcome",
                    )
            for key in stored:
                results[index_of[key]] = ItemResult(key, index_of[key], "accepted")
        session.commit()
    return [r for r in results if r is not None]


def _check(
    item: OutcomeIn,
    decisions: dict[str, Decision],
    catalog: Catalog,
    tiers: dict[str, str],
    agent_id: str,
    is_lead: bool,
    now: dt.datetime,
) -> str | None:
    if item.agent_id and item.agent_id != agent_id and not is_lead:
        return f"agent_id {item.agent_id!r} is not the signed-in agent"
    if item.recorded_at > now + MAX_CLOCK_SKEW:
        return "recorded_at is in the future (check the workstation clock)"
    if item.customer_id not in tiers:
        return f"unknown customer_id {item.customer_id!r}"
    decision = decisions.get(item.decision_id)
    if decision is None:
        return f"decision_id {item.decision_id!r} was never issued by this server"
    if decision.customer_id != item.customer_id:
        return "decision_id belongs to another customer"
    if item.offer_id is not None:
        if item.offer_id not in catalog.offers:
            return f"unknown offer_id {item.offer_id!r}"
        if item.offer_id not in (decision.offer_ids or []):
            return f"offer {item.offer_id!r} was not part of decision {item.decision_id!r}"
    if item.campaign_id is not None and item.campaign_id not in catalog.campaigns:
        return f"unknown campaign_id {item.campaign_id!r}"
    return None


def _apply_side_effects(
    session: Session,
    stored: list[OutcomeIn],
    rows: dict[str, dict[str, Any]],
    tiers: dict[str, str],
    now: dt.datetime,
) -> None:
    if not stored:
        return
    # Every outcome is a contact of the customer's (the pop's recent contacts and repeat-call count see it);
    # the outcomes of one call share its call_id and count as one contact, and not_offered never counts
    # toward a cap (services/pop.py NON_CONTACT_RESULTS).
    history = [
        {
            "customer_id": item.customer_id,
            "campaign_id": item.campaign_id,
            "wave": item.wave,
            "channel": item.channel,
            "offer_id": item.offer_id,
            "result": item.result,
            "contacted_at": item.recorded_at,
            "agent_id": rows[str(item.outcome_id)]["agent_id"],
            "outcome_id": str(item.outcome_id),
            "purpose": "marketing",
            "call_id": item.call_id,
        }
        for item in stored
    ]
    session.execute(_insert(session)(ContactHistory), history)

    responses: Counter[tuple[str, str]] = Counter()
    accepted: Counter[tuple[str, str]] = Counter()
    for item in stored:
        if item.offer_id and item.result in RESPONSE_RESULTS:
            key = (item.offer_id, tiers[item.customer_id])
            responses[key] += 1
            accepted[key] += item.result == "accepted"
    if responses:
        insert = _insert(session)(OfferStat)
        upsert = insert.on_conflict_do_update(
            index_elements=["offer_id", "segment"],
            set_={
                "responses": OfferStat.responses + insert.excluded.responses,
                "accepted": OfferStat.accepted + insert.excluded.accepted,
            },
        )
        session.execute(
            upsert,
            [
                {"offer_id": o, "segment": s, "responses": n, "accepted": accepted[(o, s)]}
                for (o, s), n in sorted(responses.items())
            ],
        )

    dnd_customers = sorted({item.customer_id for item in stored if item.result == "do_not_disturb"})
    if dnd_customers:
        session.execute(
            update(Customer)
            .where(Customer.customer_id.in_(dnd_customers), Customer.dnd.is_(False))
            .values(dnd=True, dnd_since=now)
        )
