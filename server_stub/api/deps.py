"""Request-scoped helpers: the signed-in agent (a dependency) and a database session.

Hot paths pay one thread hop, not three: the principal comes from a short-lived in-process cache (an async
dependency, no thread), and each plain-`def` endpoint opens its own session in its worker thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from server_stub.api.errors import ApiError
from server_stub.services.auth import InvalidToken, Principal, verify_token

_bearer = HTTPBearer(auto_error=False, description="Per-agent token from `callcue-server token create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def open_session(request: Request) -> Session:
    return request.app.state.context.sessionmaker()


def _verify(request: Request, token: str) -> Principal:
    with open_session(request) as session:
        return verify_token(session, token)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise ApiError(401, "missing_token", "Sign in: send 'Authorization: Bearer <token>'.", _CHALLENGE)
    cache = request.app.state.context.tokens
    principal = cache.get(credentials.credentials)
    if principal is None:
        try:
            principal = await run_in_threadpool(_verify, request, credentials.credentials)
        except InvalidToken as exc:
            raise ApiError(401, "invalid_token", f"Not signed in: {exc}.", _CHALLENGE) from None
        cache.put(credentials.credentials, principal)
    request.state.agent_id = principal.agent_id
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
