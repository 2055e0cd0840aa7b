"""Per-agent bearer tokens, roles and what a role may reach. Only a SHA-256 of the secret is stored;
comparison is constant-time.

A token reads `cc_<token id>_<secret>`: the id finds the row without scanning, the secret is 256 random
bits (a fast hash is enough for secrets of that strength; slow hashes are for human passwords).

Roles belong to the agent (every token of theirs has it): `agent` (their own work), `lead` (their own work,
and the data of the agents of the teams they lead), `analyst` (reads everything, writes nothing), `admin`
(tokens, feeds and agents through the CLI). What each role may call is one table: server_stub/api/policy.py.

Every change of who may do what (a token revoked, a role, team or team lead changed) raises the generation in
`auth_state` in the same transaction; servers read it per request and drop their cached tokens when it moved.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, or_, select, update
from sqlalchemy.orm import Session

from server_stub.db.models import Agent, AgentRoleChange, ApiToken, AuthState, Team, TeamLead

ROLES = ("agent", "lead", "analyst", "admin")
ROLE_NAMES = {"agent": ("agent", "坐席"), "lead": ("team lead", "班组长"), "analyst": ("analyst", "分析员"),
              "admin": ("administrator", "管理员")}
# How precisely `token list` knows a token's last use: a server writes it when it verifies a token whose
# last use is older than this (at most one write per token and period, never one per request).
LAST_USE_RESOLUTION = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    agent_id: str
    role: str
    token_id: str | None = None  # the public half of the token: what rate limits and the access audit key on
    team: str | None = None  # the agent's team (`callcue-server agent team`): outbound waves may be assigned to it
    # A lead's teams: the team they are in (None: the agents in no team) and every team they were made lead of
    # (`callcue-server team lead`). Empty for every other role.
    teams: frozenset[str | None] = frozenset()

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"


@dataclass(frozen=True)
class AgentScope:
    """Whose data a request may touch besides the signed-in agent's own: nobody else's (the default), every
    agent's (`every`), or the agents in `teams` (None stands for the agents in no team). Built by the API's
    role table (server_stub/api/policy.py), applied by the services where they read or change agent data."""

    every: bool = False
    teams: frozenset[str | None] = frozenset()

    def covered(self, session: Session | Connection, agent_ids: set[str]) -> set[str]:
        """Which of `agent_ids` (existing agents) the scope covers."""
        if not agent_ids or not (self.every or self.teams):
            return set()
        rows = session.execute(select(Agent.agent_id, Agent.team).where(Agent.agent_id.in_(sorted(agent_ids))))
        return {agent_id for agent_id, team in rows if self.every or team in self.teams}

    def agent_condition(self, column):
        """A SQL condition on an agent id column: the rows of agents the scope covers (None: every row)."""
        if self.every:
            return None
        named = sorted(t for t in self.teams if t is not None)
        in_teams = or_(Agent.team.in_(named), *([Agent.team.is_(None)] if None in self.teams else []))
        return column.in_(select(Agent.agent_id).where(in_teams))

    def describe(self) -> tuple[str, str]:
        """The teams in plain words (en, zh)."""
        names = sorted(t or "(no team)" for t in self.teams)
        names_zh = sorted(t or "（无班组）" for t in self.teams)
        return ", ".join(names) or "none", "、".join(names_zh) or "无"


class InvalidToken(Exception):
    """The bearer token is malformed, unknown or revoked; the messages (en, and `zh`) are safe to show."""

    def __init__(self, message: str, zh: str) -> None:
        super().__init__(message)
        self.zh = zh


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class RoleError(ValueError):
    """A role request that cannot be done as asked; the message says what to run instead."""


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise RoleError(f"role must be one of {', '.join(ROLES)} / 角色须为 {'、'.join(ROLES)} 之一")


def bump_generation(session: Session) -> None:
    """Every server drops its cached tokens on its next request (in the caller's transaction)."""
    session.execute(update(AuthState).where(AuthState.id == 1).values(generation=AuthState.generation + 1))


def read_generation(connection: Session | Connection) -> int:
    return connection.execute(select(AuthState.generation).where(AuthState.id == 1)).scalar_one()


def team_exists(session: Session, team: str) -> bool:
    return session.get(Team, team) is not None


def _no_team(team: str) -> RoleError:
    return RoleError(f"there is no team {team!r}; create it first with: callcue-server team create {team} / "
                     f"没有班组 {team!r}；请先运行：callcue-server team create {team}")


def create_token(session: Session, agent_id: str, role: str | None = None, display_name: str | None = None,
                 *, created_by: str | None = None, team: str | None = None, commit: bool = True) -> str:
    """Issue a token for `agent_id`. Roles and teams belong to the agent, never to a token: a new agent gets
    `role` (default agent, logged as the agent's first role) and `team` (an existing team; default none); for an
    existing agent `role` and `team` may only confirm what they have (RoleError otherwise: changes are
    `callcue-server agent role` / `agent team`). No other token changes. `commit=False`: the caller commits
    (the bulk import makes all its tokens in one transaction)."""
    if role is not None:
        _check_role(role)
    if not agent_id or len(agent_id) > 64:
        raise RoleError("an agent id is 1 to 64 characters / 坐席编号须为 1 到 64 个字符")
    if display_name is not None and len(display_name) > 100:
        raise RoleError("a display name is at most 100 characters / 显示名最多 100 个字符")
    now = dt.datetime.now(dt.UTC)
    agent = session.get(Agent, agent_id)
    if agent is None:
        if team is not None and not team_exists(session, team):
            raise _no_team(team)
        session.add(Agent(agent_id=agent_id, role=role or "agent", display_name=display_name, created_at=now,
                          team=team))
        session.add(AgentRoleChange(agent_id=agent_id, old_role=None, new_role=role or "agent", changed_at=now,
                                    changed_by=created_by, reason="agent created with its first token"))
    elif team is not None and team != agent.team:
        raise RoleError(
            f"{agent_id} is in team {agent.team or '(none)'}, and a token always has its agent's team; to move "
            f"{agent_id} to {team}, run: callcue-server agent team {agent_id} {team} / {agent_id} 属于班组 "
            f"{agent.team or '（无）'}，令牌总是沿用坐席的班组；要调到 {team}，请运行：callcue-server agent team "
            f"{agent_id} {team}")
    elif role is not None and role != agent.role:
        raise RoleError(
            f"{agent_id} is {_article(agent.role)} {agent.role}, and a token always has its agent's role; "
            f"to make {agent_id} {_article(role)} {role} (for every token they hold), run: "
            f"callcue-server agent role {agent_id} {role} / {agent_id} 的角色是 {agent.role}，令牌总是沿用坐席的角色；"
            f"要改为 {role}（其所有令牌随之生效），请运行：callcue-server agent role {agent_id} {role}")
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    session.add(ApiToken(token_id=token_id, agent_id=agent_id, secret_sha256=_digest(secret), created_at=now))
    if commit:
        session.commit()
    else:
        session.flush()
    return f"cc_{token_id}_{secret}"


def _article(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"


def agent_role(session: Session, agent_id: str) -> str | None:
    agent = session.get(Agent, agent_id)
    return None if agent is None else agent.role


def set_role(session: Session, agent_id: str, role: str, *, changed_by: str | None = None,
             reason: str | None = None) -> tuple[str, str]:
    """Change an agent's role (every token of theirs follows on every server's next request) and log the change
    in agent_role_changes. A lead who stops being one leads no team any more (their `team lead` entries go).
    Returns (old role, new role); the same role again changes and logs nothing. RoleError for an unknown agent
    or role."""
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
        if old == "lead":
            session.execute(delete(TeamLead).where(TeamLead.agent_id == agent_id))
        bump_generation(session)
        session.commit()
    return old, role


TEAM_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,39}$")


def check_team_name(team: str) -> None:
    if not TEAM_PATTERN.match(team):
        raise RoleError("a team name is 1-40 of A-Z a-z 0-9 _ . : @ - (starting with a letter or digit) / "
                        "班组名须为 1-40 个字母、数字或 _ . : @ -（以字母或数字开头）")


def set_team(session: Session, agent_id: str, team: str | None, *,
             create_missing: bool = True) -> tuple[str | None, str | None]:
    """Put an agent in a team (None: in none). Outbound waves assigned to the team are then open to them, and
    the team's leads lead them, from every server's next request. An unknown team is created with
    `create_missing` (the CLI refuses it instead, so a typo makes no team). Returns (old team, new team);
    RoleError for an unknown agent or team, or a malformed team name."""
    if team is not None:
        check_team_name(team)
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise RoleError(f"there is no agent {agent_id!r}; create one with: callcue-server token create --agent "
                        f"{agent_id} / 没有坐席 {agent_id!r}；请用 callcue-server token create --agent {agent_id} 创建")
    if team is not None and not team_exists(session, team):
        if not create_missing:
            raise _no_team(team)
        session.add(Team(team_id=team, display_name=None, created_at=dt.datetime.now(dt.UTC)))
    old = agent.team
    if old != team:
        agent.team = team
        bump_generation(session)
    session.commit()
    return old, team


def revoke_tokens(session: Session, agent_id: str) -> int:
    """Revoke every token of an agent: refused by every server from its next request."""
    return _revoke(session, ApiToken.agent_id == agent_id)


def revoke_token(session: Session, token_id: str) -> int:
    """Revoke one token by its id (the public half `token list` shows): 1, or 0 if it is unknown or revoked."""
    return _revoke(session, ApiToken.token_id == token_id)


def _revoke(session: Session, which) -> int:
    count = session.execute(
        update(ApiToken).where(which, ApiToken.revoked_at.is_(None)).values(revoked_at=dt.datetime.now(dt.UTC))
    ).rowcount
    if count:
        bump_generation(session)
    session.commit()
    return count


def lead_teams(session: Session | Connection, agent_id: str, own_team: str | None) -> frozenset[str | None]:
    """The teams a lead leads: the one they are in (None: the agents in no team) and those named in team_leads."""
    led = session.execute(select(TeamLead.team_id).where(TeamLead.agent_id == agent_id)).scalars()
    return frozenset({own_team, *led})


def verify_token(session: Session, token: str, *, now: dt.datetime | None = None,
                 write_lock: contextlib.AbstractContextManager | None = None) -> Principal:
    """The principal of a token, or InvalidToken. Notes the token's last use (at most once per
    LAST_USE_RESOLUTION) and commits that."""
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != "cc" or len(token_id) != 16 or not secret:
        raise InvalidToken("the token is not a CallCue token (it should start with cc_)",
                           "这不是 CallCue 令牌（应以 cc_ 开头）")
    row = session.execute(
        select(ApiToken.secret_sha256, ApiToken.revoked_at, ApiToken.last_used_at, Agent.agent_id, Agent.role,
               Agent.team)
        .join(Agent, Agent.agent_id == ApiToken.agent_id)
        .where(ApiToken.token_id == token_id)
    ).first()
    # Compare even when the id is unknown so timing does not reveal which ids exist.
    expected = row.secret_sha256 if row else "0" * 64
    if not hmac.compare_digest(expected, _digest(secret)) or row is None:
        raise InvalidToken("the token is wrong or was never issued; ask your team lead for a new one",
                           "令牌有误或从未签发；请向班组长申请新令牌")
    if row.revoked_at is not None:
        raise InvalidToken("the token was revoked; ask your team lead for a new one",
                           "令牌已被吊销；请向班组长申请新令牌")
    teams = lead_teams(session, row.agent_id, row.team) if row.role == "lead" else frozenset()
    now = now or dt.datetime.now(dt.UTC)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_RESOLUTION:
        session.rollback()
        with write_lock or contextlib.nullcontext():
            session.execute(update(ApiToken).where(ApiToken.token_id == token_id).values(last_used_at=now))
            session.commit()
    return Principal(row.agent_id, row.role, token_id, row.team, teams)


class TokenCache:
    """Verified tokens for a few seconds, so a request pays no token query (nor a lead's teams query); only the
    hash of a token is kept as the key. Each entry remembers the auth generation it was verified at: an entry of
    another generation is not used (`get(token, generation)`), so a revocation, role or team change takes effect
    on the next request of every server that reads the generation per request (api/deps.py)."""

    def __init__(self, ttl_seconds: float = 10.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Principal, float, int | None]] = {}

    def get(self, token: str, generation: int | None = None) -> Principal | None:
        key = _digest(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] < time.monotonic() or entry[2] != generation:
                del self._entries[key]
                return None
            return entry[0]

    def peek(self, token: str) -> Principal | None:
        """The cached principal of any generation (still within its time): what to check against the current
        generation."""
        with self._lock:
            entry = self._entries.get(_digest(token))
            return entry[0] if entry is not None and entry[1] >= time.monotonic() else None

    def put(self, token: str, principal: Principal, generation: int | None = None) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # rare: a burst of distinct tokens; re-verifying is cheap enough
            self._entries[_digest(token)] = (principal, time.monotonic() + self._ttl, generation)
