"""Request-scoped dependencies: a database session and the signed-in agent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from server_stub.api.errors import ApiError
from server_stub.services.auth import InvalidToken, Principal, verify_token

_bearer = HTTPBearer(auto_error=False, description="Per-agent token from `callcue-server token create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.context.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise ApiError(401, "missing_token", "Sign in: send 'Authorization: Bearer <token>'.", _CHALLENGE)
    try:
        principal = verify_token(session, credentials.credentials)
    except InvalidToken as exc:
        raise ApiError(401, "invalid_token", f"Not signed in: {exc}.", _CHALLENGE) from None
    request.state.agent_id = principal.agent_id
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
