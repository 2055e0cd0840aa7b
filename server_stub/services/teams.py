"""Teams (班组) and their leads, and the token list an administrator reads (`callcue-server team …`,
`token list`).

A team has a code (`team_id`: what agents, the catalog feed's wave assignments and exports name; it never
changes) and a display name (`team rename`). An agent is in at most one team (`agent team`). A lead leads the
team they are in and every team they are made lead of (`team lead TEAM AGENT`): one lead may cover several
teams, and a team may have several leads. Only agents with the role `lead` lead anything; a lead who loses the
role loses their `team lead` entries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server_stub.db.models import Agent, ApiToken, Team, TeamLead
from server_stub.services.auth import RoleError, bump_generation, check_team_name


@dataclass
class TeamView:
    team_id: str | None  # None: the agents in no team
    display_name: str | None
    created_at: dt.datetime | None
    leads: list[str] = field(default_factory=list)  # agent ids of the leads who lead it (in it, or named)
    agents: list[str] = field(default_factory=list)  # agent ids of its members (every role)

    def as_dict(self) -> dict:
        return {"team_id": self.team_id, "display_name": self.display_name,
                "created_at": self.created_at.isoformat(timespec="seconds") if self.created_at else None,
                "leads": self.leads, "agents": self.agents}


def _team(session: Session, team_id: str) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise RoleError(f"there is no team {team_id!r} (callcue-server team list shows the teams) / 没有班组 "
                        f"{team_id!r}（callcue-server team list 列出所有班组）")
    return team


def _check_display_name(name: str | None) -> None:
    if name is not None and not (0 < len(name.strip()) <= 100):
        raise RoleError("a team's display name is 1 to 100 characters / 班组显示名须为 1 到 100 个字符")


def create_team(session: Session, team_id: str, display_name: str | None = None) -> Team:
    check_team_name(team_id)
    _check_display_name(display_name)
    if session.get(Team, team_id) is not None:
        raise RoleError(f"team {team_id!r} exists already / 班组 {team_id!r} 已存在")
    team = Team(team_id=team_id, display_name=display_name, created_at=dt.datetime.now(dt.UTC))
    session.add(team)
    session.commit()
    return team


def rename_team(session: Session, team_id: str, display_name: str) -> tuple[str | None, str]:
    """Change the display name (the code stays: agents and wave assignments keep naming it)."""
    _check_display_name(display_name)
    team = _team(session, team_id)
    old, team.display_name = team.display_name, display_name
    session.commit()
    return old, display_name


def delete_team(session: Session, team_id: str) -> None:
    """Delete an empty team (no agent in it); its `team lead` entries go with it."""
    _team(session, team_id)
    members = session.scalar(select(func.count()).select_from(Agent).where(Agent.team == team_id))
    if members:
        raise RoleError(f"team {team_id!r} still has {members} agent(s): move them first (callcue-server agent team "
                        f"AGENT OTHER-TEAM, or --none) / 班组 {team_id!r} 还有 {members} 名坐席：请先调出（callcue-server "
                        "agent team 坐席 其他班组，或 --none）")
    session.execute(delete(TeamLead).where(TeamLead.team_id == team_id))
    session.execute(delete(Team).where(Team.team_id == team_id))
    bump_generation(session)
    session.commit()


def set_lead(session: Session, team_id: str, agent_id: str, *, leads: bool = True) -> bool:
    """Make a lead lead a team (besides the one they are in), or stop (`leads=False`). Returns whether anything
    changed. Only an agent with the role `lead` can lead (RoleError otherwise, naming the command)."""
    _team(session, team_id)
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise RoleError(f"there is no agent {agent_id!r} / 没有坐席 {agent_id!r}")
    existing = session.get(TeamLead, (team_id, agent_id))
    if leads:
        if agent.role != "lead":
            raise RoleError(
                f"{agent_id} is not a lead ({agent.role}); make them one first: callcue-server agent role {agent_id} "
                f"lead / {agent_id} 不是班组长（当前为 {agent.role}）；请先运行：callcue-server agent role {agent_id} lead")
        if existing is not None or agent.team == team_id:
            return False
        session.add(TeamLead(team_id=team_id, agent_id=agent_id, created_at=dt.datetime.now(dt.UTC)))
    else:
        if existing is None:
            if agent.team == team_id and agent.role == "lead":
                raise RoleError(
                    f"{agent_id} leads {team_id} because they are in it; to stop, move them: callcue-server agent "
                    f"team {agent_id} OTHER-TEAM (or --none) / {agent_id} 是 {team_id} 的成员因而领导该班组；要停止，"
                    f"请将其调出：callcue-server agent team {agent_id} 其他班组（或 --none）")
            return False
        session.delete(existing)
    bump_generation(session)
    session.commit()
    return True


def list_teams(session: Session) -> list[TeamView]:
    """Every team with its leads and agents, then (if anyone is in it) the group of agents in no team."""
    views: dict[str | None, TeamView] = {
        t.team_id: TeamView(t.team_id, t.display_name, t.created_at)
        for t in session.scalars(select(Team).order_by(Team.team_id))
    }
    for agent in session.scalars(select(Agent).order_by(Agent.agent_id)):
        view = views.get(agent.team)
        if view is None:
            view = views[agent.team] = TeamView(agent.team, None, None)  # None: no team
        view.agents.append(agent.agent_id)
        if agent.role == "lead":
            view.leads.append(agent.agent_id)
    for team_id, agent_id in session.execute(
        select(TeamLead.team_id, TeamLead.agent_id).join(Agent, Agent.agent_id == TeamLead.agent_id)
        .where(Agent.role == "lead").order_by(TeamLead.team_id, TeamLead.agent_id)
    ):
        if agent_id not in views[team_id].leads:
            views[team_id].leads.append(agent_id)
    ordered = [v for k, v in views.items() if k is not None]
    if None in views:
        ordered.append(views[None])
    for view in ordered:
        view.leads.sort()
    return ordered


@dataclass(frozen=True)
class TokenView:
    """What `token list` shows of a token: never its secret (nor its hash)."""

    token_id: str
    agent_id: str
    display_name: str | None
    role: str
    team: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def as_dict(self) -> dict:
        def when(value: dt.datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") if value else None

        return {"token_id": self.token_id, "agent_id": self.agent_id, "display_name": self.display_name,
                "role": self.role, "team": self.team, "created_at": when(self.created_at),
                "last_used_at": when(self.last_used_at), "revoked_at": when(self.revoked_at)}


def list_tokens(session: Session, *, agent_id: str | None = None, team: str | None = None,
                include_revoked: bool = False) -> list[TokenView]:
    statement = (
        select(ApiToken.token_id, ApiToken.agent_id, Agent.display_name, Agent.role, Agent.team, ApiToken.created_at,
               ApiToken.last_used_at, ApiToken.revoked_at)
        .join(Agent, Agent.agent_id == ApiToken.agent_id)
        .order_by(ApiToken.agent_id, ApiToken.created_at, ApiToken.token_id)
    )
    if agent_id is not None:
        statement = statement.where(ApiToken.agent_id == agent_id)
    if team is not None:
        statement = statement.where(Agent.team == team)
    if not include_revoked:
        statement = statement.where(ApiToken.revoked_at.is_(None))
    return [TokenView(*row) for row in session.execute(statement)]
