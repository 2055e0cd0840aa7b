"""Who may call what: one table of every API route → the roles allowed and, per role, whose data it reaches.
Enforced in one place, the dependency that signs a request in (api/deps.py `get_access`): a route missing from
the table refuses everyone, and tests/server/test_policy.py tries every role on every route of the app.

Scopes (whose agent data a role reaches through a route):
- SELF: the signed-in agent's own (their pops, outcomes, leases and attempts), as agents have always worked;
- TEAMS: also the agents of the teams the lead leads (the team they are in and those of `team lead`);
- EVERY: every agent's (analysts read everything).

`writes`: the route changes something (a pop records its decision and the access audit; GET /v1/worklist/next
takes a lease). Analysts are read-only: the table may not give them a writing route (checked on import).
Administrators manage tokens, teams, agents and feeds through the CLI; over HTTP they reach what names things
(who they are, the catalog), no customer and no agent's work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from server_stub.services.auth import ROLE_NAMES, ROLES, AgentScope, Principal

AGENT, LEAD, ANALYST, ADMIN = ROLES
SELF, TEAMS, EVERY = "self", "teams", "every"
READ_ONLY_ROLES = frozenset({ANALYST})


@dataclass(frozen=True)
class Rule:
    roles: Mapping[str, str] = field(default_factory=dict)  # role → scope; roles not named are refused (403)
    writes: bool = False
    public: bool = False  # no token at all (the health check)
    refusal: str = "role_not_allowed"  # the error code of a refused role (lead_only: the code clients know)


def _rule(writes: bool, refusal: str = "role_not_allowed", **roles: str) -> Rule:
    return Rule(MappingProxyType(roles), writes, refusal=refusal)


_WORKER = {"agent": SELF, "lead": SELF}  # an agent's own work; a lead takes calls as themselves too
_EVERYONE = {role: SELF for role in ROLES}

POLICY: Mapping[tuple[str, str], Rule] = MappingProxyType({
    ("GET", "/v1/health"): Rule(public=True),
    ("GET", "/v1/me"): _rule(False, **_EVERYONE),
    ("GET", "/v1/pop"): _rule(True, **_WORKER),
    ("POST", "/v1/outcomes"): _rule(True, agent=SELF, lead=TEAMS),  # a lead records for their teams' agents
    ("POST", "/v1/outcomes/{outcome_id}/retraction"): _rule(True, agent=SELF, lead=TEAMS),
    ("GET", "/v1/customers"): _rule(False, agent=SELF, lead=SELF, analyst=EVERY),
    ("GET", "/v1/offers"): _rule(False, **_EVERYONE),
    ("GET", "/v1/campaigns"): _rule(False, **_EVERYONE),
    ("POST", "/v1/worklist/next"): _rule(True, **_WORKER),
    ("GET", "/v1/worklist/next"): _rule(True, **_WORKER),  # takes a lease: a write despite GET
    ("POST", "/v1/worklist/leases/{lease_id}/renew"): _rule(True, **_WORKER),
    ("POST", "/v1/worklist/leases/{lease_id}/release"): _rule(True, **_WORKER),
    ("POST", "/v1/outbound/attempts"): _rule(True, **_WORKER),
    ("GET", "/v1/outbound/campaigns"): _rule(False, **_WORKER),  # what the agent may call a customer for
    ("GET", "/v1/outbound/figures"): _rule(False, "lead_only", lead=TEAMS, analyst=EVERY),
})


def _check_table(table: Mapping[tuple[str, str], Rule]) -> None:
    for key, rule in table.items():
        for role, scope in rule.roles.items():
            if role not in ROLES or scope not in (SELF, TEAMS, EVERY):
                raise ValueError(f"policy {key}: {role} → {scope} is not a role and scope")
            if rule.writes and role in READ_ONLY_ROLES:
                raise ValueError(f"policy {key}: {role} is read-only but the route writes")


_check_table(POLICY)


@dataclass(frozen=True)
class Access:
    """A signed-in request the table allowed: who, and whose agent data the route may reach for them."""

    principal: Principal
    scope: str

    @property
    def agents(self) -> AgentScope:
        if self.scope == EVERY:
            return AgentScope(every=True)
        if self.scope == TEAMS:
            return AgentScope(teams=self.principal.teams)
        return AgentScope()


def refusal_messages(rule: Rule, role: str) -> tuple[str, str]:
    """Why a role is refused, in plain words (en, zh)."""
    allowed = [r for r in ROLES if r in rule.roles]
    en_names = [f"{ROLE_NAMES[r][0]}s" for r in allowed]
    zh_names = [ROLE_NAMES[r][1] for r in allowed]
    en_allowed = " and ".join([", ".join(en_names[:-1]), en_names[-1]] if len(en_names) > 1 else en_names)
    en_role, zh_role = ROLE_NAMES.get(role, (role, role))
    article = "an" if en_role[:1] in "aeiou" else "a"
    note_en = " (read-only)" if role in READ_ONLY_ROLES else ""
    note_zh = "（只读）" if role in READ_ONLY_ROLES else ""
    return (f"This is for {en_allowed or 'nobody yet'}: your token is {article} {en_role}'s{note_en}. "
            "Ask your administrator if you need it.",
            f"此功能仅供{'、'.join(zh_names) or '（暂无角色）'}使用：您的令牌属于{zh_role}{note_zh}。如需使用，请联系管理员。")
