"""POST /v1/outcomes: batch ingest, idempotent by the client's outcome_id.

Each item is checked on its own (one bad item never fails the batch). Stored items update contact
history, offer acceptance and DND in the same transaction, so the next pop reflects them and a retried
batch changes nothing.

Who may answer what: an outcome answers a decision (a pop) made for the agent the outcome is recorded for
(the item's agent_id, else the signed-in agent; only a lead may record for someone else). A call handed to a
colleague pops again on the colleague's panel, so each agent answers their own decision; a lead recording
for an agent answers that agent's decision.

An outcome without a pop (an unknown caller, or a pop that failed): no decision_id, no offer, the caller's
number instead (and the customer_id when the panel knew the customer), for the results that make sense
without an offer only (vocabulary.RESULTS_WITHOUT_POP). Nothing ties it to a pop, so only the signed-in agent
records it for themselves (a lead neither), and the route counts these items against a per-token limit of
their own (services/limits.py "unpopped"). Its do-not-disturb is recorded by number (dnd_numbers): every
customer holding that number is treated as DND from then on. It is never a response to an offer, so it counts
in no acceptance figure.

An outcome_id is an idempotency key of the agent's: another agent's id already on the server is answered
exactly as a fresh id would be (the item is stored under an id derived from the agent and the client's id),
so a replay reveals nothing about someone else's outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server_stub.db.models import Agent, ContactHistory, Customer, Decision, DndNumber, OfferStat, Outcome
from server_stub.domain.vocabulary import (
    OUTCOME_CHANNELS,
    OUTCOME_RESULTS,
    RESPONSE_RESULTS,
    RESULTS_NEEDING_OFFER,
    RESULTS_WITHOUT_POP,
)
from server_stub.services.auth import AgentScope
from server_stub.services.catalog import Catalog
from server_stub.services.pop import normalize_msisdn
from server_stub.services.worklist import call_ids_of_leases, lease_call_id

RESULTS = OUTCOME_RESULTS
CHANNELS = OUTCOME_CHANNELS
MAX_CLOCK_SKEW = dt.timedelta(minutes=10)  # recorded_at may be this far ahead of the server's clock
MAX_AGE = dt.timedelta(days=30)  # recorded_at and callback_at no further back than this
MAX_CALLBACK_AHEAD = dt.timedelta(days=366)  # a callback at most a year ahead
# Where another agent's outcome_id is stored (see the module's docstring): uuid5(this, "agent\0client id").
_FOREIGN_ID_NAMESPACE = uuid.UUID("5b0c3f1e-8d4a-4c61-9f0e-7a2d6b9e3c14")

Result = Literal["accepted", "declined", "considering", "callback", "not_offered", "do_not_disturb"]
Channel = Literal["inbound_call", "outbound_call", "sms", "app_push", "email"]


class OutcomeIn(BaseModel):
    """One recorded outcome, as the desktop client's outbox sends it."""

    model_config = ConfigDict(extra="forbid")

    outcome_id: uuid.UUID = Field(description="Client-made UUID; the idempotency key.")
    decision_id: str | None = Field(
        default=None, min_length=1, max_length=36,
        description="decision_id of the pop it answers. Omitted only for an outcome without a pop (unknown "
                    "caller, failed pop): then caller_number is required and result is not_offered, callback or "
                    "do_not_disturb (by number), with no offer.")
    customer_id: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="Required with a decision_id; without one, the customer when the panel knew them.")
    caller_number: str | None = Field(
        default=None, max_length=32,
        description="The caller's number (stored as its national digits, 5 to 20). Required without a "
                    "decision_id; a do_not_disturb without one stops marketing to every customer holding it.")
    offer_id: str | None = Field(default=None, max_length=40)
    campaign_id: str | None = Field(default=None, max_length=40)
    wave: int | None = Field(default=None, ge=1, le=99)
    channel: Channel | None = Field(default=None, description="Default: the channel of the pop it answers "
                                    "(outbound_call for an outbound call's pop: a worklist lease's or one for a campaign "
                                    "outside the worklist), else inbound_call.")
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
        if self.caller_number is not None:
            digits = normalize_msisdn(self.caller_number)
            if not 5 <= len(digits) <= 20 or not re.fullmatch(r"[+0-9 ().-]+", self.caller_number):
                raise ValueError("caller_number must be a phone number (5 to 20 digits)")
            self.caller_number = digits
        if self.decision_id is None:
            if self.result not in RESULTS_WITHOUT_POP:
                raise ValueError(f"{self.result} answers a pop: it needs decision_id (only "
                                 f"{', '.join(RESULTS_WITHOUT_POP)} may be recorded without one)")
            if self.caller_number is None:
                raise ValueError("an outcome without decision_id needs caller_number")
            if self.offer_id is not None:
                raise ValueError("an outcome without decision_id names no offer_id (no offer was shown)")
        elif self.customer_id is None:
            raise ValueError("customer_id is required with decision_id")
        return self

    def fingerprint(self) -> str:
        """Content hash: the same id with the same content is a duplicate, with other content a conflict.
        Fields added since v1's first release count only when given, so an outcome stored before them
        keeps its hash (its replay stays a duplicate)."""
        payload = self.model_dump(mode="json", exclude={"agent_id"})
        if payload["caller_number"] is None:
            del payload["caller_number"]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def without_pop(raw: Any) -> bool:
    """An item of a batch that names no decision (counted against the "unpopped" limit before it is checked)."""
    return isinstance(raw, dict) and raw.get("decision_id") is None


ItemStatus = Literal["accepted", "duplicate", "rejected"]


@dataclass
class ItemResult:
    outcome_id: str | None
    index: int
    status: ItemStatus
    reason: str | None = None
    reason_zh: str | None = None


@dataclass(frozen=True)
class Refusal:
    en: str
    zh: str | None = None


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
    others: AgentScope | None = None,
    now: dt.datetime | None = None,
    write_lock: contextlib.AbstractContextManager | None = None,
) -> list[ItemResult]:
    """Store outcomes recorded by `agent_id`: for themselves, or for the agents `others` covers (a lead's teams;
    default nobody else)."""
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

    decision_ids = {item.decision_id for _, item in parsed if item.decision_id is not None}
    decisions = {
        d.decision_id: d
        for d in session.scalars(select(Decision).where(Decision.decision_id.in_(decision_ids)))
    } if decision_ids else {}
    # An outcome of an outbound call's pop (a worklist lease, or a campaign outside it) is on that call: its channel, campaign, wave and
    # call id unless the item names them (a different channel is refused in _check).
    call_ids = call_ids_of_leases(session.connection(), sorted({d.lease_id for d in decisions.values()
                                                                if d.lease_id is not None}))
    parsed = [(index, _on_its_call(item, decisions.get(item.decision_id), call_ids)) for index, item in parsed]
    named = {item.agent_id for _, item in parsed if item.agent_id and item.agent_id != agent_id}
    known = set(session.scalars(select(Agent.agent_id).where(Agent.agent_id.in_(sorted(named))))) if named else set()
    covered = (others or AgentScope()).covered(session, known)
    customer_ids = {item.customer_id for _, item in parsed if item.customer_id is not None}
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
        refusal = _check(item, decisions, catalog, tiers, agent_id, others, (known, covered), now)
        if refusal:
            results[index] = ItemResult(key, index, "rejected", refusal.en, refusal.zh)
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
            "segment": tiers.get(item.customer_id) if item.customer_id is not None else None,
            "caller_number": item.caller_number,
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
            _apply_side_effects(session, [(items_by_id[k], rows[k]) for k in rows if k in stored], tiers, now)
            others = {k: rows[k] for k in rows if k not in stored}
            foreign: dict[str, dict[str, Any]] = {}
            for key, verdict in _compare(session, others).items():
                if verdict == "foreign":
                    # Another agent's id: this agent's outcome goes under an id of its own, answered as a fresh
                    # id would be (accepted, then duplicate or reused), whatever the other outcome holds.
                    foreign[key] = {**rows[key], "outcome_id": foreign_outcome_id(rows[key]["agent_id"], key)}
                else:
                    results[index_of[key]] = _answer(key, index_of[key], verdict)
            if foreign:
                by_stored_id = {row["outcome_id"]: key for key, row in foreign.items()}
                substituted = set(session.scalars(statement, list(foreign.values())).all())
                _apply_side_effects(session, [(items_by_id[by_stored_id[s]], foreign[by_stored_id[s]])
                                              for s in substituted], tiers, now)
                stored |= {by_stored_id[s] for s in substituted}
                repeated = {row["outcome_id"]: row for row in foreign.values() if row["outcome_id"] not in substituted}
                for stored_id, verdict in _compare(session, repeated).items():
                    key = by_stored_id[stored_id]
                    # An id derived for this agent that some other agent holds is answered as a reused id.
                    results[index_of[key]] = _answer(key, index_of[key], "reused" if verdict == "foreign" else verdict)
            for key in stored:
                results[index_of[key]] = ItemResult(key, index_of[key], "accepted")
        session.commit()
    return [r for r in results if r is not None]


def _on_its_call(item: OutcomeIn, decision: Decision | None, call_ids: dict[str, str]) -> OutcomeIn:
    """The item with what its decision says filled in: the channel (default inbound_call) and, for an
    outbound call's pop (a worklist lease's, or one the agent made for a campaign outside the worklist), the
    campaign, wave and call id. The fingerprint is of the filled-in item, so a
    client that omits the channel of an inbound outcome has the same fingerprint as before."""
    if item.channel is not None and (decision is None or decision.channel is None):
        return item
    filled: dict[str, Any] = {}
    if item.channel is None:
        filled["channel"] = decision.channel if decision is not None and decision.channel else "inbound_call"
    if decision is not None and decision.campaign_id is not None and item.channel in (None, decision.channel):
        if item.campaign_id is None:
            filled["campaign_id"] = decision.campaign_id
            if item.wave is None:
                filled["wave"] = decision.wave
        if item.call_id is None:
            filled["call_id"] = (call_ids.get(decision.lease_id) or lease_call_id(decision.lease_id)
                                 if decision.lease_id is not None else pop_call_id(decision.decision_id))
    return item.model_copy(update=filled) if filled else item


def pop_call_id(decision_id: str) -> str:
    """The call of an outbound pop outside the worklist (no lease): its outcomes without a call id of their
    own share this one, so they are one contact on the outbound cap."""
    return f"outbound-pop:{decision_id}"


def foreign_outcome_id(agent_id: str, outcome_id: str) -> str:
    """Where `agent_id`'s outcome is stored when its client's id is another agent's."""
    return str(uuid.uuid5(_FOREIGN_ID_NAMESPACE, f"{agent_id}\0{outcome_id}"))


def _compare(session: Session, rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """For rows whose id is already stored: "duplicate" (same agent, same content), "reused" (same agent,
    other content) or "foreign" (another agent's outcome)."""
    if not rows:
        return {}
    existing = {
        outcome_id: (fingerprint, agent)
        for outcome_id, fingerprint, agent in session.execute(
            select(Outcome.outcome_id, Outcome.fingerprint, Outcome.agent_id).where(Outcome.outcome_id.in_(list(rows)))
        )
    }
    verdicts = {}
    for key, row in rows.items():
        fingerprint, owner = existing.get(key, (None, None))
        if owner is not None and owner != row["agent_id"]:
            verdicts[key] = "foreign"
        else:
            verdicts[key] = "duplicate" if fingerprint == row["fingerprint"] else "reused"
    return verdicts


def _answer(key: str, index: int, verdict: str) -> ItemResult:
    if verdict == "duplicate":
        return ItemResult(key, index, "duplicate")
    return ItemResult(key, index, "rejected", "outcome_id was already used for a different outcome",
                      "outcome_id 已用于另一条不同的结果，请为新结果生成新的 outcome_id")


def _when(value: dt.datetime) -> str:
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+08:00 is before year 1 in UTC: say it as given
        return value.isoformat(sep=" ", timespec="minutes")
    return value.isoformat(sep=" ", timespec="minutes").replace("+00:00", " UTC")


def _check_times(item: OutcomeIn, now: dt.datetime) -> Refusal | None:
    """recorded_at within [now - MAX_AGE, now + MAX_CLOCK_SKEW], callback_at within [now - MAX_AGE,
    now + MAX_CALLBACK_AHEAD]: a year 1, 1900 or 1970 is a broken clock or a broken client, never a call."""
    days = MAX_AGE.days
    if item.recorded_at > now + MAX_CLOCK_SKEW:
        return Refusal("recorded_at is in the future (check the workstation clock)",
                       "recorded_at（记录时间）晚于服务器当前时间：请检查工作站的时钟")
    if item.recorded_at < now - MAX_AGE:
        return Refusal(
            f"recorded_at {_when(item.recorded_at)} is more than {days} days before the server's time "
            f"({_when(now)}): check the workstation's date and clock",
            f"recorded_at（记录时间）{_when(item.recorded_at)} 比服务器时间（{_when(now)}）早 {days} 天以上："
            "请检查工作站的日期和时钟")
    if item.callback_at is not None:
        if item.callback_at < now - MAX_AGE:
            return Refusal(
                f"callback_at {_when(item.callback_at)} is more than {days} days before the server's time "
                f"({_when(now)}): choose a callback time that is still to come",
                f"callback_at（回拨时间）{_when(item.callback_at)} 比服务器时间（{_when(now)}）早 {days} 天以上："
                "请选择尚未到来的回拨时间")
        if item.callback_at > now + MAX_CALLBACK_AHEAD:
            return Refusal(
                f"callback_at {_when(item.callback_at)} is more than a year after the server's time "
                f"({_when(now)}): choose a callback within a year",
                f"callback_at（回拨时间）{_when(item.callback_at)} 比服务器时间（{_when(now)}）晚一年以上："
                "请选择一年以内的回拨时间")
    return None


def _check(
    item: OutcomeIn,
    decisions: dict[str, Decision],
    catalog: Catalog,
    tiers: dict[str, str],
    agent_id: str,
    others: AgentScope | None,
    named: tuple[set[str], set[str]],
    now: dt.datetime,
) -> Refusal | None:
    """Why an item is refused (None: it may be stored). `named`: of the other agents the batch names, those that
    exist and those `others` covers."""
    known, covered = named
    foreign = bool(item.agent_id) and item.agent_id != agent_id and item.agent_id not in covered
    if foreign and (others is None or not (others.every or others.teams)):
        return Refusal(f"agent_id {item.agent_id!r} is not the signed-in agent",
                       f"agent_id {item.agent_id!r} 不是当前登录的坐席")
    # A lead's item for an agent outside their teams; an agent who does not exist is refused by the checks of
    # the decision below (it was shown to someone else), and by the last line otherwise.
    if foreign and item.agent_id in known:
        return _outside_teams(item.agent_id, others)
    refusal = _check_item(item, decisions, catalog, tiers, agent_id, now)
    return refusal or (_outside_teams(item.agent_id, others) if foreign else None)


def _outside_teams(named: str, others: AgentScope) -> Refusal:
    en, zh = others.describe()
    return Refusal(f"agent_id {named!r} is not an agent of a team you lead ({en})",
                   f"agent_id {named!r} 不是您所领导班组（{zh}）的坐席")


def _check_item(
    item: OutcomeIn,
    decisions: dict[str, Decision],
    catalog: Catalog,
    tiers: dict[str, str],
    agent_id: str,
    now: dt.datetime,
) -> Refusal | None:
    refusal = _check_times(item, now)
    if refusal:
        return refusal
    if item.decision_id is None:
        return _check_without_pop(item, catalog, tiers, agent_id)
    decision = decisions.get(item.decision_id)
    if decision is None:
        return Refusal(f"decision_id {item.decision_id!r} was never issued by this server",
                       f"decision_id {item.decision_id!r} 不是本服务器生成的")
    # Before anything else of the decision is compared: someone else's decision says nothing about its customer.
    recorded_for = item.agent_id or agent_id
    if decision.agent_id is not None and decision.agent_id != recorded_for:
        return Refusal(
            f"decision_id {item.decision_id!r} was made for another agent's pop: record the outcome on the pop "
            f"{recorded_for!r} was shown (a transferred call pops again on the colleague's panel)",
            f"decision_id {item.decision_id!r} 属于另一位坐席的弹屏：请在 {recorded_for!r} 自己看到的弹屏上记录结果"
            "（转接的来电会在同事的面板上重新弹屏）")
    # The decision's customer is known to exist: comparing first says nothing about other customer ids.
    if decision.customer_id != item.customer_id:
        return Refusal("decision_id belongs to another customer", "decision_id 属于另一位客户")
    if decision.channel is not None and item.channel != decision.channel:
        return Refusal(
            f"decision {item.decision_id!r} is the pop of an {decision.channel} (outbound worklist): record its "
            f"outcomes with channel {decision.channel!r} (or leave channel out), not {item.channel!r}",
            f"决策 {item.decision_id!r} 是外呼名单（{decision.channel}）的弹屏：其结果的 channel 应为 "
            f"{decision.channel!r}（或不填），而不是 {item.channel!r}")
    if item.customer_id not in tiers:
        return Refusal(f"unknown customer_id {item.customer_id!r}", f"未知的 customer_id {item.customer_id!r}")
    if item.offer_id is not None:
        if item.offer_id not in catalog.offers:
            return Refusal(f"unknown offer_id {item.offer_id!r}", f"未知的 offer_id {item.offer_id!r}")
        if item.offer_id not in (decision.offer_ids or []):
            return Refusal(f"offer {item.offer_id!r} was not part of decision {item.decision_id!r}",
                           f"产品 {item.offer_id!r} 不在决策 {item.decision_id!r} 展示的推荐中")
    if item.campaign_id is not None and item.campaign_id not in catalog.campaigns:
        return Refusal(f"unknown campaign_id {item.campaign_id!r}", f"未知的 campaign_id {item.campaign_id!r}")
    return None


def _check_without_pop(item: OutcomeIn, catalog: Catalog, tiers: dict[str, str], agent_id: str) -> Refusal | None:
    """No pop shows the call was this agent's: only the signed-in agent records it, for themselves."""
    if item.agent_id and item.agent_id != agent_id:
        return Refusal(
            f"an outcome without decision_id is recorded by the agent who took the call: agent_id {item.agent_id!r} "
            "is not the signed-in agent",
            f"没有 decision_id 的结果只能由接听该来电的坐席本人记录：agent_id {item.agent_id!r} 不是当前登录的坐席")
    if item.customer_id is not None and item.customer_id not in tiers:
        return Refusal(f"unknown customer_id {item.customer_id!r}", f"未知的 customer_id {item.customer_id!r}")
    if item.campaign_id is not None and item.campaign_id not in catalog.campaigns:
        return Refusal(f"unknown campaign_id {item.campaign_id!r}", f"未知的 campaign_id {item.campaign_id!r}")
    return None


def _apply_side_effects(
    session: Session,
    stored: list[tuple[OutcomeIn, dict[str, Any]]],
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
            "agent_id": row["agent_id"],
            "outcome_id": row["outcome_id"],
            "purpose": "marketing",
            "call_id": item.call_id,
        }
        for item, row in stored if item.customer_id is not None  # an unknown caller has no history to keep
    ]
    if history:
        session.execute(_insert(session)(ContactHistory), history)

    responses: Counter[tuple[str, str]] = Counter()
    accepted: Counter[tuple[str, str]] = Counter()
    for item, _row in stored:
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

    dnd_customers = sorted({item.customer_id for item, _row in stored
                            if item.result == "do_not_disturb" and item.customer_id is not None})
    if dnd_customers:
        turned_on = set(session.scalars(
            update(Customer)
            .where(Customer.customer_id.in_(dnd_customers), Customer.dnd.is_(False))
            .values(dnd=True, dnd_since=now)
            .returning(Customer.customer_id)
        ).all())
        # The first such outcome of each customer is the one that turned DND on: only retracting it turns it off.
        setters = {}
        for item, row in stored:
            if item.result == "do_not_disturb" and item.customer_id in turned_on:
                setters.setdefault(item.customer_id, row["outcome_id"])
        if setters:
            session.execute(update(Outcome).where(Outcome.outcome_id.in_(list(setters.values()))).values(set_dnd=True))

    # Do-not-disturb by number (no pop): the first standing one of a number sets it; a later one leaves it.
    by_number: dict[str, dict[str, Any]] = {}
    for item, row in stored:
        if item.result == "do_not_disturb" and item.decision_id is None and item.caller_number:
            by_number.setdefault(item.caller_number, {"msisdn": item.caller_number, "since": now,
                                                      "outcome_id": row["outcome_id"], "agent_id": row["agent_id"]})
    if by_number:
        session.execute(_insert(session)(DndNumber).on_conflict_do_nothing(index_elements=["msisdn"]),
                        [by_number[n] for n in sorted(by_number)])


@dataclass(frozen=True)
class Retraction:
    outcome_id: str
    retracted_at: dt.datetime
    retracted_by: str


def retract(
    session: Session,
    outcome_id: str,
    *,
    agent_id: str,
    others: AgentScope | None = None,
    now: dt.datetime | None = None,
    write_lock: contextlib.AbstractContextManager | None = None,
) -> Retraction | None:
    """Take back a stored outcome: it stays for the audit but counts nowhere any more (contact history and
    so refusal cool-downs and caps, offer acceptance, the DND it turned on). Only the agent it was recorded for
    (or one `others` covers: a lead's teams' agents) may; a repeated retraction answers the first one's time. None: no such outcome of this agent's
    (another agent's outcome is answered as an unknown id, as in `ingest`)."""
    now = now or dt.datetime.now(dt.UTC)
    write_lock = write_lock or contextlib.nullcontext()
    row = session.get(Outcome, outcome_id)
    if row is None or (row.agent_id != agent_id and not (others or AgentScope()).covered(session, {row.agent_id})):
        # The agent's own outcome may be stored under a derived id (its client's id was another agent's).
        row = session.get(Outcome, foreign_outcome_id(agent_id, outcome_id))
        if row is None or row.agent_id != agent_id:
            return None
    stored_id = row.outcome_id
    session.rollback()
    with write_lock:
        claimed = session.execute(
            update(Outcome).where(Outcome.outcome_id == stored_id, Outcome.retracted_at.is_(None))
            .values(retracted_at=now, retracted_by=agent_id)
        ).rowcount
        if claimed:  # this request retracts it: undo its effects exactly once
            _undo_side_effects(session, session.get(Outcome, stored_id))
        session.commit()
    row = session.get(Outcome, stored_id)
    session.refresh(row)
    return Retraction(outcome_id, row.retracted_at, row.retracted_by)


def _undo_side_effects(session: Session, row: Outcome) -> None:
    session.execute(delete(ContactHistory).where(ContactHistory.outcome_id == row.outcome_id))
    if row.offer_id and row.result in RESPONSE_RESULTS:
        segment = row.segment or session.scalar(
            select(Customer.value_tier).where(Customer.customer_id == row.customer_id))
        session.execute(
            update(OfferStat)
            .where(OfferStat.offer_id == row.offer_id, OfferStat.segment == segment, OfferStat.responses > 0)
            .values(responses=OfferStat.responses - 1,
                    accepted=OfferStat.accepted - (1 if row.result == "accepted" else 0))
        )
    if row.result == "do_not_disturb" and row.decision_id is None and row.caller_number:
        _undo_number_dnd(session, row)
    if row.set_dnd:
        # Another standing DND outcome of the customer's keeps DND on (and now counts as its setter).
        successor = session.scalar(
            select(Outcome.outcome_id)
            .where(Outcome.customer_id == row.customer_id, Outcome.result == "do_not_disturb",
                   Outcome.retracted_at.is_(None), Outcome.outcome_id != row.outcome_id)
            .order_by(Outcome.recorded_at, Outcome.outcome_id).limit(1)
        )
        session.execute(update(Outcome).where(Outcome.outcome_id == row.outcome_id).values(set_dnd=False))
        if successor is not None:
            session.execute(update(Outcome).where(Outcome.outcome_id == successor).values(set_dnd=True))
        else:
            session.execute(update(Customer).where(Customer.customer_id == row.customer_id, Customer.dnd.is_(True))
                            .values(dnd=False, dnd_since=None))


def _undo_number_dnd(session: Session, row: Outcome) -> None:
    """A retracted do-not-disturb by number: if it set the number's row, another standing one of the number
    takes it over, else the number is no longer DND."""
    if session.scalar(select(DndNumber.outcome_id).where(DndNumber.msisdn == row.caller_number)) != row.outcome_id:
        return
    successor = session.scalar(
        select(Outcome.outcome_id)
        .where(Outcome.caller_number == row.caller_number, Outcome.decision_id.is_(None),
               Outcome.result == "do_not_disturb", Outcome.retracted_at.is_(None), Outcome.outcome_id != row.outcome_id)
        .order_by(Outcome.recorded_at, Outcome.outcome_id).limit(1)
    )
    if successor is None:
        session.execute(delete(DndNumber).where(DndNumber.msisdn == row.caller_number))
    else:
        session.execute(update(DndNumber).where(DndNumber.msisdn == row.caller_number).values(outcome_id=successor))
