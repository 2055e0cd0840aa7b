"""API v1 routes. Plain `def` handlers: their blocking database work runs in the thread pool, one hop each."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import or_, select, text

from server_stub import __version__
from server_stub.api.deps import AccessDep, PrincipalDep, open_session
from server_stub.api.errors import ApiError, error_response
from server_stub.api.schemas import (
    AmbiguousCallerResponse,
    CampaignList,
    CustomerSearchResult,
    ErrorResponse,
    Health,
    Me,
    OfferList,
    OutcomeBatch,
    OutcomeBatchResult,
    OutcomeRetraction,
    PopDocument,
)
from server_stub.db.models import Customer, CustomerNumber
from server_stub.services.audit import record_access
from server_stub.services.auth import Principal
from server_stub.services.limits import limit_messages, retry_after_seconds
from server_stub.services.outcomes import ingest, retract, without_pop
from server_stub.services.pop import (
    OUTBOUND_CHANNEL,
    AmbiguousCaller,
    CustomerNotFound,
    NotInCampaign,
    OutboundCall,
    build_pop,
    normalize_msisdn,
)
from server_stub.services.worklist import WorklistError, outbound_wave_for_call

router = APIRouter(prefix="/v1")
_AUTH_ERRORS = {401: {"model": ErrorResponse, "description": "Missing or wrong token."},
                403: {"model": ErrorResponse, "description": "The token's role may not call this (role_not_allowed; "
                                                             "x-callcue-roles lists the roles that may)."},
                422: {"model": ErrorResponse, "description": "Invalid parameters."}}
_RATE_LIMITED = {429: {"model": ErrorResponse,
                       "description": "This token made too many requests of this kind: wait Retry-After seconds "
                                      "(code rate_limited, message in English and message_zh in Chinese)."}}


def check_rate(request: Request, principal: Principal, route: str, cost: int = 1) -> None:
    """Take `cost` requests of `route` from the token's bucket, or answer 429 (services/limits.py)."""
    limiter = request.app.state.context.limiter
    wait = limiter.take(route, principal.token_id or principal.agent_id, principal.agent_id, cost)
    if wait is None:
        return
    seconds = retry_after_seconds(wait)
    en, zh = limit_messages(route, limiter.limits.get(route), seconds)
    raise ApiError(429, "rate_limited", en, {"Retry-After": str(seconds)}, message_zh=zh)


def reject_nul(**params: str | None) -> None:
    for name, value in params.items():
        if value and "\x00" in value:
            raise ApiError(422, "invalid_request", f"Invalid request: {name} contains a NUL character.")


@router.get("/health", response_model=Health, tags=["health"], responses={503: {"model": Health}})
def health(request: Request):
    context = request.app.state.context
    try:
        with open_session(request) as session:
            session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "unreachable"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "api_version": "1",
        "server_version": __version__,
        "rules_version": context.rules.version,
        "database": database,
    }
    return body


@router.get("/me", response_model=Me, tags=["auth"], responses=_AUTH_ERRORS)
def me(principal: PrincipalDep):
    """Who the token belongs to: clients check the agent id typed at sign-in against it; its role and teams."""
    return {"agent_id": principal.agent_id, "role": principal.role, "team": principal.team,
            "teams": sorted(principal.teams, key=lambda team: (team is None, team or ""))}


@router.get(
    "/pop",
    response_model=PopDocument,
    tags=["pop"],
    responses={**_AUTH_ERRORS, **_RATE_LIMITED,
               404: {"model": ErrorResponse, "description": "Unknown caller (customer_not_found), or with "
                                                            "channel=outbound_call an unknown campaign_id "
                                                            "(campaign_not_found)."},
               400: {"model": ErrorResponse, "description": "Neither ani nor customer_id given."},
               409: {"model": AmbiguousCallerResponse,
                     "description": "The number belongs to several customers: ask which one is calling, then pop "
                                    "by customer_id. No decision is recorded. With channel=outbound_call: "
                                    "no_outbound_wave (the campaign has no outbound wave running today open to "
                                    "the agent) or not_in_campaign (the customer is not on its list), with "
                                    "message and message_zh; no decision is recorded."},
               },
)
def pop(
    request: Request,
    principal: PrincipalDep,
    ani: Annotated[str | None, Query(max_length=32, description="Caller number as the switch gives it.")] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[Literal["inbound_call", "outbound_call"] | None, Query(
        description="The call this pop is for: inbound_call (default) or outbound_call, an outbound call the agent "
                    "makes outside the worklist (then campaign_id names the campaign it is for).")] = None,
    campaign_id: Annotated[str | None, Query(max_length=40, description=(
        "With channel=outbound_call: the campaign the call is for (GET /v1/outbound/campaigns lists those open to "
        "the agent). The pop is built for the outbound_call channel of its running wave, and outcomes answering "
        "its decision default to channel outbound_call, this campaign and wave."))] = None,
):
    """Everything a screen pop shows for one caller, with a decision_id that outcomes answer."""
    reject_nul(ani=ani, customer_id=customer_id, campaign_id=campaign_id)
    if not ani and not customer_id:
        raise ApiError(400, "missing_caller", "Give ani (the caller's number) or customer_id.")
    if ani and not customer_id and len(normalize_msisdn(ani)) < 5:
        raise ApiError(400, "invalid_ani", "ani must contain a phone number (at least 5 digits).")
    if (channel == OUTBOUND_CHANNEL) != bool(campaign_id):
        raise ApiError(422, "invalid_request",
                       "An outbound call's pop needs both channel=outbound_call and campaign_id (an inbound pop "
                       "neither).", message_zh="外呼弹屏需要同时给出 channel=outbound_call 和 campaign_id（呼入弹屏都不要）。")
    check_rate(request, principal, "pop")  # unknown numbers count too: probing numbers is reading customers
    context = request.app.state.context
    try:
        with context.pop_sessionmaker() as session:
            catalog = context.catalog.get(session)
            outbound = None
            if campaign_id:
                running = outbound_wave_for_call(catalog, dt.datetime.now(dt.UTC), agent_id=principal.agent_id,
                                                 team=principal.team, campaign_id=campaign_id)
                outbound = OutboundCall(campaign_id, running.wave.seq)
            document = build_pop(
                session, context.rules, catalog,
                ani=ani, customer_id=customer_id, agent_id=principal.agent_id, token_id=principal.token_id,
                write_lock=context.write_lock, outbound=outbound,
            )
    except WorklistError as error:
        raise ApiError(error.status, error.code, error.en, message_zh=error.zh) from None
    except NotInCampaign:
        raise ApiError(409, "not_in_campaign", f"This customer is not on the list of campaign {campaign_id!r}: "
                       "open them as an inbound call or a lookup, or for another campaign.",
                       message_zh=f"该客户不在活动 {campaign_id!r} 的名单中：请按呼入或查询打开，或选择其他活动。") from None
    except CustomerNotFound:
        raise ApiError(
            404, "customer_not_found",
            "No customer has this number or id: treat as a new caller, or search by name.",
        ) from None
    except AmbiguousCaller as shared:
        with open_session(request) as session:
            record_access(session, agent_id=principal.agent_id, token_id=principal.token_id, route="pop_ambiguous",
                          customer_ids=[c["customer_id"] for c in shared.candidates], write_lock=context.write_lock)
        return error_response(
            409, "ambiguous_caller",
            f"This number belongs to {len(shared.candidates)} customers: ask the caller which one they are, "
            "then pop by customer_id.",
            shared.candidates,
        )
    # The document is built to the PopDocument contract (tests and schemathesis check it); serializing it
    # directly skips a second validation pass on the hottest endpoint.
    return Response(orjson.dumps(document), media_type="application/json")


@router.post(
    "/outcomes",
    response_model=OutcomeBatchResult,
    tags=["outcomes"],
    responses={**_AUTH_ERRORS, 400: {"model": ErrorResponse, "description": "Malformed JSON."},
               413: {"model": ErrorResponse, "description": "Body too large."},
               429: {"model": ErrorResponse,
                     "description": "Too many outcomes without a pop with this token: nothing of the batch was "
                                    "stored; send it again after Retry-After seconds (code rate_limited)."}},
)
def post_outcomes(request: Request, access: AccessDep, batch: OutcomeBatch):
    """Store outcomes idempotently: each item is accepted, a duplicate, or rejected with a reason (and
    reason_zh). An item answers a pop shown to the agent it is recorded for (its agent_id, else the signed-in
    agent; only leads record for others, the agents of the teams they lead); recorded_at lies within 30 days before and 10 minutes after the
    server's clock, callback_at within 30 days before and a year after. outcome_id is the agent's own key:
    another agent's id is answered as a fresh id would be.

    Without a pop (an unknown caller, a pop that failed), an item has no decision_id and no offer but the
    caller_number (and the customer_id when known): not_offered (with its reason), callback (with
    callback_at) or do_not_disturb, which then stops marketing to every customer holding that number. Only the
    signed-in agent records these, for themselves; they count against a per-token limit of their own (the
    whole batch answers 429 beyond it) and in no acceptance figure."""
    principal = access.principal
    unpopped = sum(1 for raw in batch.outcomes if without_pop(raw))
    if unpopped:
        check_rate(request, principal, "unpopped", unpopped)
    context = request.app.state.context
    with open_session(request) as session:
        results = ingest(
            session, context.catalog.get(session), batch.outcomes,
            agent_id=principal.agent_id, others=access.agents, write_lock=context.write_lock,
        )
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for r in results:
        counts[r.status] += 1
    return {
        "results": [
            {"index": r.index, "outcome_id": r.outcome_id, "status": r.status, "reason": r.reason,
             "reason_zh": r.reason_zh}
            for r in results
        ],
        **counts,
    }


@router.post(
    "/outcomes/{outcome_id}/retraction",
    response_model=OutcomeRetraction,
    tags=["outcomes"],
    responses={**_AUTH_ERRORS, 404: {"model": ErrorResponse, "description": "No such outcome of this agent's."}},
)
def retract_outcome(request: Request, access: AccessDep, outcome_id: uuid.UUID):
    """Take back an outcome recorded by mistake (the panel's undo once it was sent): it stays stored for the
    audit but counts nowhere any more — contact history (caps, cool-downs), offer acceptance, and the
    do-not-disturb it turned on. Only the agent it was recorded for, or a lead of their team, may retract it; a
    repeated retraction answers the same as the first (idempotent)."""
    principal = access.principal
    context = request.app.state.context
    with open_session(request) as session:
        done = retract(session, str(outcome_id), agent_id=principal.agent_id, others=access.agents,
                       write_lock=context.write_lock)
    if done is None:
        raise ApiError(404, "outcome_not_found", f"No outcome {outcome_id} of yours is stored on the server.",
                       message_zh=f"服务器上没有您的结果 {outcome_id}。")
    return {"outcome_id": done.outcome_id, "retracted_at": done.retracted_at, "retracted_by": done.retracted_by}


@router.get("/customers", response_model=CustomerSearchResult, tags=["customers"],
            responses={**_AUTH_ERRORS, **_RATE_LIMITED})
def search_customers(
    request: Request,
    principal: PrincipalDep,
    q: Annotated[str, Query(min_length=1, max_length=64, description="Number, name or customer id.")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
):
    """Find a caller when the number is withheld or wrong: exact number or id first, then name prefix."""
    reject_nul(q=q)
    check_rate(request, principal, "search")
    with open_session(request) as session:
        found = _search(session, q.strip(), limit)
        record_access(session, agent_id=principal.agent_id, token_id=principal.token_id, route="search",
                      customer_ids=[item["customer_id"] for item in found["items"]],
                      write_lock=request.app.state.context.write_lock)
    return found


def _search(session, term: str, limit: int) -> dict:
    found: dict[str, Customer] = {}
    digits = normalize_msisdn(term)
    if len(digits) >= 7 and digits.isdigit() and len(digits) == len(term.replace(" ", "").lstrip("+")):
        # Every owner of a (shared) number, each listed once.
        for customer in session.scalars(
            select(Customer).join(CustomerNumber)
            .where(CustomerNumber.msisdn.startswith(digits, autoescape=True))
            .order_by(CustomerNumber.msisdn, CustomerNumber.customer_id).limit(limit)
        ):
            found.setdefault(customer.customer_id, customer)
    by_id = session.get(Customer, term)
    if by_id is not None:
        found.setdefault(by_id.customer_id, by_id)
    if len(found) < limit and term:
        for customer in session.scalars(
            select(Customer)
            .where(or_(Customer.name.startswith(term, autoescape=True),
                       Customer.customer_id.startswith(term, autoescape=True)))
            .order_by(Customer.customer_id)
            .limit(limit)
        ):
            found.setdefault(customer.customer_id, customer)
    customers = list(found.values())[:limit]
    numbers: dict[str, list[str]] = {}
    if customers:
        for msisdn, customer_id in session.execute(
            select(CustomerNumber.msisdn, CustomerNumber.customer_id)
            .where(CustomerNumber.customer_id.in_([c.customer_id for c in customers]))
            .order_by(CustomerNumber.is_primary.desc(), CustomerNumber.msisdn)
        ):
            numbers.setdefault(customer_id, []).append(msisdn)
    return {
        "items": [
            {"customer_id": c.customer_id, "display_name": c.name or c.customer_id,
             "msisdns": numbers.get(c.customer_id, []), "value_tier": c.value_tier, "city": c.city,
             "brand": c.brand, "plan_name": c.plan_name, "relation_kind": c.relation_kind,
             "group_name": c.group_name, "retired": c.retired_at is not None}
            for c in customers
        ]
    }


@router.get("/offers", response_model=OfferList, tags=["catalog"], responses=_AUTH_ERRORS)
def list_offers(request: Request, _principal: PrincipalDep):
    with open_session(request) as session:
        catalog = request.app.state.context.catalog.get(session)
    return {
        "items": [
            {
                "offer_id": o.offer_id, "category": o.category,
                "title": {"zh": o.title.zh, "en": o.title.en}, "script": {"zh": o.script.zh, "en": o.script.en},
                "monthly_fee_delta": round(o.monthly_fee_delta_fen / 100, 2), "base_score": o.base_score,
                "active": o.active, "campaign_ids": list(catalog.campaigns_by_offer.get(o.offer_id, ())),
                "product_id": o.product_id, "retired": o.retired,
            }
            for o in catalog.offers.values()
        ]
    }


@router.get("/campaigns", response_model=CampaignList, tags=["catalog"], responses=_AUTH_ERRORS)
def list_campaigns(request: Request, _principal: PrincipalDep):
    context = request.app.state.context
    with open_session(request) as session:
        catalog = context.catalog.get(session)
    names = context.rules.contact.channel_name
    today = dt.datetime.now(dt.UTC).date()
    items = []
    for c in catalog.campaigns.values():
        current = next((w.seq for w in c.waves if w.starts_on <= today <= w.ends_on), None)
        items.append(
            {
                "campaign_id": c.campaign_id, "name": {"zh": c.name.zh, "en": c.name.en}, "active": c.active,
                "inbound_may_serve_any_wave": c.inbound_may_serve_any_wave,
                "waves": [
                    {"seq": w.seq, "of": len(c.waves), "channel": w.channel, "channel_name": names(w.channel),
                     "starts_on": w.starts_on, "ends_on": w.ends_on}
                    for w in c.waves
                ],
                "caps": [
                    {"channel": ch, "channel_name": names(ch), "used": 0, "max": m, "period_days": d,
                     "next_eligible_at": None}
                    for ch, (m, d) in sorted(c.caps.items())
                ],
                "offer_ids": list(c.offer_ids),
                "current_wave": current,
            }
        )
    return {"items": items}
