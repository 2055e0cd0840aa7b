"""API v1 of outbound campaign work: the worklist's next customer (a lease), renewing and releasing it, the
call results, and the figures (外呼接通率, acceptance). Service: services/worklist.py."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Query, Request, Response

from server_stub.api.deps import AccessDep, PrincipalDep
from server_stub.api.errors import ApiError
from server_stub.api.routes import _AUTH_ERRORS, _RATE_LIMITED, check_rate, reject_nul
from server_stub.api.schemas import (
    AttemptRequest,
    AttemptResult,
    ErrorResponse,
    LeaseStateView,
    OutboundCampaignList,
    OutboundFigures,
    ReleaseRequest,
    RenewRequest,
    WorklistNext,
    WorklistRequest,
)
from server_stub.services.auth import Principal
from server_stub.services.pop import CustomerNotFound, OutboundCall, build_pop
from server_stub.services.worklist import (
    AttemptIn,
    Claim,
    Empty,
    LeaseState,
    WorklistError,
    campaigns_for_calls,
    next_for_agent,
    outbound_figures,
    record_attempt,
    release,
    renew,
)

router = APIRouter(prefix="/v1")
_LEASE_ERRORS = {404: {"model": ErrorResponse, "description": "No such lease of this agent's (lease_not_found)."},
                 409: {"model": ErrorResponse, "description": "The lease has ended (lease_ended: a result was "
                                                              "recorded, it was released, or it expired)."}}
_NO_STORE = {"Cache-Control": "no-store"}
_MALFORMED = {400: {"model": ErrorResponse, "description": "The body is not valid JSON (malformed_json)."}}


def _raise(error: WorklistError) -> None:
    raise ApiError(error.status, error.code, error.en, message_zh=error.zh) from None


def _empty(empty: Empty) -> dict[str, Any]:
    return {"status": "empty", "lease": None, "customer_id": None, "campaign": None, "wave": None, "attempt": None,
            "why": None, "pop": None,
            "empty": {"code": empty.code, "message": empty.en, "message_zh": empty.zh, "next_at": empty.next_at}}


def _leased(request: Request, claim: Claim, pop: dict[str, Any]) -> dict[str, Any]:
    names = request.app.state.context.rules.contact.channel_name
    settings, wave = claim.outbound, claim.wave
    return {
        "status": "leased",
        "lease": {"lease_id": claim.lease_id, "taken_at": claim.taken_at, "expires_at": claim.expires_at,
                  "call_id": claim.call_id, "resumed": claim.resumed},
        "customer_id": claim.customer_id,
        "campaign": {"campaign_id": claim.campaign.campaign_id,
                     "name": {"zh": claim.campaign.name.zh, "en": claim.campaign.name.en}},
        "wave": {"seq": wave.seq, "of": len(claim.campaign.waves), "channel": wave.channel,
                 "channel_name": names(wave.channel), "starts_on": wave.starts_on, "ends_on": wave.ends_on,
                 "calling_hours": settings.hours.texts(), "time_zone": settings.hours.time_zone,
                 **settings.retry.as_dict()},
        "attempt": claim.attempt,
        "why": {"priority": claim.priority, "member_reason": claim.member_reason,
                "expected_value": claim.expected_value, "acceptance": claim.acceptance,
                "score": round(claim.expected_value * claim.acceptance, 4)},
        "pop": pop,
        "empty": None,
    }


def _next(request: Request, principal: Principal, options: WorklistRequest) -> Response:
    reject_nul(campaign_id=options.campaign_id)
    check_rate(request, principal, "worklist")
    context = request.app.state.context
    with context.sessionmaker() as session:
        catalog = context.catalog.get(session)
    try:
        found = next_for_agent(context.engine, catalog, context.rules, agent_id=principal.agent_id,
                               team=principal.team, campaign_id=options.campaign_id,
                               lease_seconds=options.lease_seconds, write_lock=context.write_lock)
    except WorklistError as error:
        _raise(error)
    if isinstance(found, Empty):
        body = _empty(found)
    else:
        try:
            with context.pop_sessionmaker() as session:
                pop = build_pop(session, context.rules, catalog, ani=None, customer_id=found.customer_id,
                                agent_id=principal.agent_id, token_id=principal.token_id,
                                write_lock=context.write_lock,
                                outbound=OutboundCall(found.campaign.campaign_id, found.wave.seq, found.lease_id))
        except CustomerNotFound:
            release(context.engine, found.lease_id, agent_id=principal.agent_id, reason="customer no longer exists",
                    hold_minutes=0, write_lock=context.write_lock)
            raise ApiError(409, "customer_gone", "The customer left the database while being handed out; ask for "
                           "the next one.", message_zh="该客户在分配时已从数据库中移除，请领取下一位。") from None
        body = _leased(request, found, pop)
    # Built to the WorklistNext contract (tests validate it); serialized directly like the pop.
    return Response(orjson.dumps(body), media_type="application/json", headers=_NO_STORE)


_NEXT_DOC = (
    "The calling agent's next customer of the running outbound waves open to them (assigned to nobody, to the "
    "agent, or to the agent's team), within calling hours, in priority order (member priority, then expected "
    "value × acceptance), skipping do-not-disturb, capped, closed and retrying members and customers another "
    "agent holds. The customer is held for this agent by a lease (no other agent gets them) until a call result "
    "is recorded, the agent releases it, or it expires. An agent holds one customer at a time: asking again "
    "answers the same lease, renewed (so a retried request never takes a second customer). The answer carries "
    "the full pop for the preview (channel outbound_call) and why this customer; `status` empty says why there "
    "is nobody to call (and when to ask again, where known).")


@router.post("/worklist/next", response_model=WorklistNext, tags=["outbound"], description=_NEXT_DOC,
             responses={**_AUTH_ERRORS, **_RATE_LIMITED, **_MALFORMED,
                        404: {"model": ErrorResponse, "description": "Unknown campaign_id."},
                        409: {"model": ErrorResponse, "description": "The customer vanished while handed out."}})
def worklist_next(request: Request, principal: PrincipalDep,
                  options: Annotated[WorklistRequest | None, Body()] = None):
    return _next(request, principal, options or WorklistRequest())


@router.get("/worklist/next", response_model=WorklistNext, tags=["outbound"],
            responses={**_AUTH_ERRORS, **_RATE_LIMITED,
                       404: {"model": ErrorResponse, "description": "Unknown campaign_id."},
                       409: {"model": ErrorResponse, "description": "The customer vanished while handed out."}})
def worklist_next_get(
    request: Request, principal: PrincipalDep,
    campaign_id: Annotated[str | None, Query(max_length=40)] = None,
    lease_seconds: Annotated[int, Query(ge=30, le=3600)] = 300,
):
    """The same as POST /v1/worklist/next (the issue's original name), kept for clients that cannot POST.
    It takes a lease, so it is not a safe method in the HTTP sense; it is idempotent for an agent (a repeated
    request answers the lease already held) and answers `Cache-Control: no-store`. Prefer POST."""
    return _next(request, principal, WorklistRequest(campaign_id=campaign_id, lease_seconds=lease_seconds))


def _lease_view(state: LeaseState) -> dict[str, Any]:
    return {"lease_id": state.lease_id, "customer_id": state.customer_id, "campaign_id": state.campaign_id,
            "wave": state.wave, "attempt": state.attempt, "expires_at": state.expires_at, "ended_at": state.ended_at,
            "end_reason": state.end_reason, "next_attempt_at": state.next_attempt_at}


@router.post("/worklist/leases/{lease_id}/renew", response_model=LeaseStateView, tags=["outbound"],
             responses={**_AUTH_ERRORS, **_LEASE_ERRORS, **_MALFORMED})
def renew_lease(request: Request, principal: PrincipalDep, lease_id: uuid.UUID,
                options: Annotated[RenewRequest | None, Body()] = None):
    """Keep holding the customer while previewing or on the call (the panel renews well before expires_at)."""
    context = request.app.state.context
    try:
        state = renew(context.engine, str(lease_id), agent_id=principal.agent_id,
                      lease_seconds=(options or RenewRequest()).lease_seconds, write_lock=context.write_lock)
    except WorklistError as error:
        _raise(error)
    return _lease_view(state)


@router.post("/worklist/leases/{lease_id}/release", response_model=LeaseStateView, tags=["outbound"],
             responses={**_AUTH_ERRORS, **_LEASE_ERRORS, **_MALFORMED})
def release_lease(request: Request, principal: PrincipalDep, lease_id: uuid.UUID, body: ReleaseRequest):
    """Skip the customer without calling, with a reason: no attempt is counted and the customer comes back to
    the worklist after hold_minutes. Repeating it answers the same."""
    reject_nul(reason=body.reason)
    context = request.app.state.context
    try:
        state = release(context.engine, str(lease_id), agent_id=principal.agent_id, reason=body.reason,
                        hold_minutes=body.hold_minutes, write_lock=context.write_lock)
    except WorklistError as error:
        _raise(error)
    return _lease_view(state)


@router.post("/outbound/attempts", response_model=AttemptResult, tags=["outbound"],
             responses={**_AUTH_ERRORS, **_MALFORMED, 404: _LEASE_ERRORS[404],
                        409: {"model": ErrorResponse, "description": "attempt_id_reused, lease_has_result, or "
                                                                     "lease_ended (the lease was released)."}})
def post_attempt(request: Request, principal: PrincipalDep, body: AttemptRequest):
    """How the call of a lease ended (connected, no_answer, busy, voicemail, wrong_number, invalid_number,
    refused_call), separate from the offer outcomes. Idempotent by attempt_id (a repeat answers `duplicate`).
    The lease ends; the member is due again by the wave's retry rule or closed (connected, max_attempts, a
    result never retried); the call counts as a contact (no answer, busy, wrong and invalid numbers never toward
    a cap). A connected call's offer outcomes answer the lease pop's decision_id: they are recorded with
    channel outbound_call and the lease's campaign, wave and call id (outcome_defaults)."""
    reject_nul(call_id=body.call_id, note=body.note)
    context = request.app.state.context
    with context.sessionmaker() as session:
        catalog = context.catalog.get(session)
    item = AttemptIn(str(body.attempt_id), str(body.lease_id), body.result, body.called_at, body.call_id, body.note)
    try:
        done = record_attempt(context.engine, catalog, item, agent_id=principal.agent_id,
                              write_lock=context.write_lock)
    except WorklistError as error:
        _raise(error)
    return {"status": done.status, "attempt_id": done.attempt_id, "lease_id": done.lease_id,
            "customer_id": done.customer_id, "campaign_id": done.campaign_id, "wave": done.wave,
            "attempt": done.attempt, "result": done.result, "call_id": done.call_id,
            "member": "closed" if done.closed_reason else "due_again", "next_attempt_at": done.next_attempt_at,
            "closed_reason": done.closed_reason,
            "outcome_defaults": {"channel": "outbound_call", "campaign_id": done.campaign_id, "wave": done.wave,
                                 "call_id": done.call_id}}


@router.get("/outbound/figures", response_model=OutboundFigures, tags=["outbound"],
            responses={**_AUTH_ERRORS,
                       403: {"model": ErrorResponse, "description": "Team leads and analysts only (lead_only)."}})
def figures(
    request: Request, access: AccessDep,
    campaign_id: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[dt.datetime | None, Query(description="Attempts called at or after (with a time zone).")] = None,
    until: Annotated[dt.datetime | None, Query(description="Attempts called before (with a time zone).")] = None,
):
    """外呼接通率 (connected ÷ attempts) and acceptance (connected calls with an accepted offer ÷ connected calls)
    per campaign, wave and attempt number: a team lead's over the calls of the agents of the teams they lead,
    an analyst's over every call."""
    reject_nul(campaign_id=campaign_id)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(422, "invalid_request", f"{name} needs a time zone (e.g. 2026-12-08T00:00:00+08:00).",
                           message_zh=f"{name} 需要带时区（如 2026-12-08T00:00:00+08:00）。")
    context = request.app.state.context
    with context.engine.connect() as conn:
        result = outbound_figures(conn, campaign_id=campaign_id, since=since, until=until, agents=access.agents)
    return {"since": result.since, "until": result.until, "rows": [row.as_dict() for row in result.rows]}


@router.get("/outbound/campaigns", response_model=OutboundCampaignList, tags=["outbound"],
            responses={**_AUTH_ERRORS, **_RATE_LIMITED})
def outbound_campaigns(
    request: Request, principal: PrincipalDep,
    customer_id: Annotated[str | None, Query(max_length=64, description=(
        "Only the campaigns whose list holds this customer (the ones an outbound pop for them may name)."))] = None,
):
    """The campaigns the agent may make an outbound call for outside the worklist (a customer opened from search
    or a host's show_customer): those whose current wave runs on outbound_call and is open to the agent, by
    campaign id, with the running wave. Pop such a call with GET /v1/pop?customer_id=…&channel=outbound_call
    &campaign_id=…. With customer_id (counted as a search: it tells about a customer), only the campaigns the
    customer is a member of."""
    reject_nul(customer_id=customer_id)
    if customer_id is not None:
        check_rate(request, principal, "search")
    context = request.app.state.context
    names = context.rules.contact.channel_name
    now = dt.datetime.now(dt.UTC)
    with context.sessionmaker() as session:
        catalog = context.catalog.get(session)
        waves = campaigns_for_calls(session.connection(), catalog, now, agent_id=principal.agent_id,
                                    team=principal.team, customer_id=customer_id)
    items = []
    for w in waves:
        wave, settings = w.wave, w.outbound
        items.append({
            "campaign_id": w.campaign.campaign_id,
            "name": {"zh": w.campaign.name.zh, "en": w.campaign.name.en},
            "wave": {"seq": wave.seq, "of": len(w.campaign.waves), "channel": wave.channel,
                     "channel_name": names(wave.channel), "starts_on": wave.starts_on, "ends_on": wave.ends_on},
            "calling_hours": settings.hours.texts(), "time_zone": settings.hours.time_zone,
            "open_now": settings.hours.open_at(now),
        })
    return Response(orjson.dumps({"items": items}), media_type="application/json", headers=_NO_STORE)
