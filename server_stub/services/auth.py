"""Per-agent bearer tokens. Only a SHA-256 of the secret is stored; comparison is constant-time.

A token reads `cc_<token id>_<secret>`: the id finds the row without scanning, the secret is 256 random
bits (a fast hash is enough for secrets of that strength; slow hashes are for human passwords).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server_stub.db.models import Agent, AgentRoleChange, ApiToken

ROLES = ("agent", "lead")


@dataclass(frozen=True)
class Principal:
    agent_id: str
    role: str
    token_id: str | None = None  # the public half of the token: what rate limits and the access audit key on
    team: str | None = None  # the agent's team (`callcue-server agent team`): outbound waves may be assigned to it

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"


class InvalidToken(Exception):
    """The bearer token is malformed, unknown or revoked; the message is safe to show."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class RoleError(ValueError):
    """A role request that cannot be done as asked; the message says what to run instead."""


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise RoleError(f"role must be one of {', '.join(ROLES)}")


def create_token(session: Session, agent_id: str, role: str | None = None, display_name: str | None = None,
                 *, created_by: str | None = None) -> str:
    """Issue a token for `agent_id`. Roles belong to the agent, never to a token: a new agent gets `role`
    (default agent, logged as the agent's first role); for an existing agent `role` may only confirm the role
    they have (RoleError otherwise: a role change is `callcue-server agent role`). No other token changes."""
    if role is not None:
        _check_role(role)
    if not agent_id or len(agent_id) > 64:
        raise ValueError("agent id must be 1 to 64 characters")
    now = dt.datetime.now(dt.UTC)
    agent = session.get(Agent, agent_id)
    if agent is None:
        session.add(Agent(agent_id=agent_id, role=role or "agent", display_name=display_name, created_at=now))
        session.add(AgentRoleChange(agent_id=agent_id, old_role=None, new_role=role or "agent", changed_at=now,
                                    changed_by=created_by, reason="agent created with its first token"))
    elif role is not None and role != agent.role:
        raise RoleError(
            f"{agent_id} is {_article(agent.role)} {agent.role}, and a token always has its agent's role; "
            f"to make {agent_id} {_article(role)} {role} (for every token they hold), run: "
            f"callcue-server agent role {agent_id} {role} / {agent_id} 的角色是 {agent.role}，令牌总是沿用坐席的角色；"
            f"要改为 {role}（其所有令牌随之生效），请运行：callcue-server agent role {agent_id} {role}")
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    session.add(ApiToken(token_id=token_id, agent_id=agent_id, secret_sha256=_digest(secret), created_at=now))
    session.commit()
    return f"cc_{token_id}_{secret}"


def _article(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"


def agent_role(session: Session, agent_id: str) -> str | None:
    agent = session.get(Agent, agent_id)
    return None if agent is None else agent.role


def set_role(session: Session, agent_id: str, role: str, *, changed_by: str | None = None,
             reason: str | None = None) -> tuple[str, str]:
    """Change an agent's role (every token of theirs follows, within the servers' token cache time) and log
    the change in agent_role_changes. Returns (old role, new role); the same role again changes and logs
    nothing. RoleError for an unknown agent or role."""
    _check_role(role)
    if reason is not None and len(reason) > 200:
        raise RoleError("the reason must be at most 200 characters")
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise RoleError(f"there is no agent {agent_id!r}; create one with: "
                        f"callcue-server token create --agent {agent_id} --role {role} / 没有坐席 {agent_id!r}；"
                        f"请用以下命令创建：callcue-server token create --agent {agent_id} --role {role}")
    old = agent.role
    if old != role:
        agent.role = role
        session.add(AgentRoleChange(agent_id=agent_id, old_role=old, new_role=role,
                                    changed_at=dt.datetime.now(dt.UTC), changed_by=changed_by, reason=reason))
        session.commit()
    return old, role


TEAM_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,39}$")


def set_team(session: Session, agent_id: str, team: str | None) -> tuple[str | None, str | None]:
    """Put an agent in a team (None: in none). Outbound waves assigned to the team are then open to them
    (within the servers' token cache time). Returns (old team, new team); RoleError for an unknown agent or a
    malformed team name."""
    if team is not None and not TEAM_PATTERN.match(team):
        raise RoleError("a team name is 1-40 of A-Z a-z 0-9 _ . : @ - (starting with a letter or digit) / "
                        "班组名须为 1-40 个字母、数字或 _ . : @ -（以字母或数字开头）")
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise RoleError(f"there is no agent {agent_id!r}; create one with: callcue-server token create --agent "
                        f"{agent_id} / 没有坐席 {agent_id!r}；请用 callcue-server token create --agent {agent_id} 创建")
    old = agent.team
    if old != team:
        agent.team = team
        session.commit()
    return old, team


def revoke_tokens(session: Session, agent_id: str) -> int:
    now = dt.datetime.now(dt.UTC)
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.agent_id == agent_id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in tokens:
        token.revoked_at = now
    session.commit()
    return len(tokens)


def verify_token(session: Session, token: str) -> Principal:
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != "cc" or len(token_id) != 16 or not secret:
        raise InvalidToken("the token is not a CallCue token (it should start with cc_)")
    row = session.execute(
        select(ApiToken.secret_sha256, ApiToken.revoked_at, Agent.agent_id, Agent.role, Agent.team)
        .join(Agent, Agent.agent_id == ApiToken.agent_id)
        .where(ApiToken.token_id == token_id)
    ).first()
    # Compare even when the id is unknown so timing does not reveal which ids exist.
    expected = row.secret_sha256 if row else "0" * 64
    if not hmac.compare_digest(expected, _digest(secret)) or row is None:
        raise InvalidToken("the token is wrong or was never issued; ask your team lead for a new one")
    if row.revoked_at is not None:
        raise InvalidToken("the token was revoked; ask your team lead for a new one")
    return Principal(row.agent_id, row.role, token_id, row.team)


class TokenCache:
    """Verified tokens for a few seconds, so a pop does not pay a token query. Revoking a token therefore
    takes effect within `ttl_seconds` on every server; only the hash of a token is kept as the key."""

    def __init__(self, ttl_seconds: float = 10.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        key = _digest(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] < time.monotonic():
                del self._entries[key]
                return None
            return entry[0]

    def put(self, token: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # rare: a burst of distinct tokens; re-verifying is cheap enough
            self._entries[_digest(token)] = (principal, time.monotonic() + self._ttl)
