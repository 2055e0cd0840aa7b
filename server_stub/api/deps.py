"""Request-scoped helpers: the signed-in, allowed request (one dependency: `get_access`) and a database session.

`get_access` is the one place a request is signed in and checked against the role table (api/policy.py): every
route that takes the principal (PrincipalDep) or the access (AccessDep) goes through it, and a route missing from
the table refuses everyone.

Signing in costs one worker-thread hop besides the route's own: it reads the auth generation (one primary-key
row: has any token been revoked, any role, team or team lead changed?) and, in the same hop, verifies the token
when the in-process cache has no entry of that generation. A revoked token is therefore refused by every server
process on its next request. `revocation_check_seconds` > 0 (serve --revocation-check-seconds) reads the
generation at most that often per process instead (a cached token then costs no hop at all), which bounds how
late a revocation takes effect.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from server_stub.api.errors import ApiError
from server_stub.api.policy import POLICY, Access, refusal_messages
from server_stub.services.auth import InvalidToken, Principal, read_generation, verify_token

log = logging.getLogger("callcue.server.auth")
_bearer = HTTPBearer(auto_error=False, description="Per-agent token from `callcue-server token create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def open_session(request: Request) -> Session:
    return request.app.state.context.sessionmaker()


class GenerationClock:
    """The auth generation last read by this process and when (for --revocation-check-seconds > 0)."""

    def __init__(self, max_age_seconds: float = 0.0) -> None:
        self.max_age = max_age_seconds
        self._lock = threading.Lock()
        self._value: int | None = None
        self._read_at = float("-inf")

    def fresh(self) -> int | None:
        if self.max_age <= 0:
            return None
        with self._lock:
            return self._value if time.monotonic() - self._read_at < self.max_age else None

    def note(self, value: int) -> None:
        with self._lock:
            self._value, self._read_at = value, time.monotonic()


def _check(request: Request, token: str, cached: Principal | None,
           generation: int | None) -> tuple[Principal | InvalidToken, int]:
    """In a worker thread: the current generation, and the principal (the cached one if it is of that
    generation, else verified now). An InvalidToken is returned, not raised, so the caller maps it."""
    context = request.app.state.context
    with context.auth_sessionmaker() as session:
        if generation is None:
            generation = read_generation(session)
            context.generation.note(generation)
        if cached is not None and context.tokens.get(token, generation) is cached:
            return cached, generation
        try:
            return verify_token(session, token, write_lock=context.write_lock), generation
        except InvalidToken as exc:
            return exc, generation


async def get_access(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Access:
    route = request.scope.get("route")
    rule = POLICY.get((request.method, getattr(route, "path", "")))
    if rule is None:
        log.error("route without a role rule refused", extra={"event": "no_policy", "path": request.url.path})
        raise ApiError(403, "no_role_rule", "This endpoint has no role rule yet, so it refuses everyone.",
                       message_zh="此接口尚未配置角色规则，因此拒绝所有请求。")
    if credentials is None:
        raise ApiError(401, "missing_token", "Sign in: send 'Authorization: Bearer <token>'.", _CHALLENGE,
                       message_zh="请登录：发送 'Authorization: Bearer <令牌>'。")
    context = request.app.state.context
    token = credentials.credentials
    generation = context.generation.fresh()
    cached = context.tokens.get(token, generation) if generation is not None else context.tokens.peek(token)
    if cached is None or generation is None:
        found, generation = await run_in_threadpool(_check, request, token, cached, generation)
        if isinstance(found, InvalidToken):
            raise ApiError(401, "invalid_token", f"Not signed in: {found}.", _CHALLENGE,
                           message_zh=f"未登录：{found.zh}。")
        if found is not cached:
            context.tokens.put(token, found, generation)
        principal = found
    else:
        principal = cached
    request.state.agent_id = principal.agent_id
    scope = rule.roles.get(principal.role)
    if scope is None:
        en, zh = refusal_messages(rule, principal.role)
        raise ApiError(403, rule.refusal, en, message_zh=zh)
    return Access(principal, scope)


async def get_principal(access: Annotated[Access, Depends(get_access)]) -> Principal:
    return access.principal


AccessDep = Annotated[Access, Depends(get_access)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
