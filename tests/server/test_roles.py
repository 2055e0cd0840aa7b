"""Roles belong to the agent, never to a token (issue 14, point 10): creating a token changes no other token,
a role change is its own logged command; migration 0003 on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from server_stub.cli import main
from server_stub.db.engine import alembic_config, make_engine, upgrade
from server_stub.db.models import AgentRoleChange, ApiToken, Base
from server_stub.services.auth import RoleError, create_token, set_role


def role_of(api, token: str) -> str:
    response = api.client.get("/v1/me", headers=api.headers(token))
    assert response.status_code == 200, response.text
    return response.json()["role"]


def tokens_of(api, agent_id: str) -> int:
    api.session.expire_all()
    return api.session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.agent_id == agent_id))


def changes(api, agent_id: str) -> list[tuple]:
    api.session.expire_all()
    return [(c.old_role, c.new_role, c.changed_by, c.reason) for c in api.session.scalars(
        select(AgentRoleChange).where(AgentRoleChange.agent_id == agent_id).order_by(AgentRoleChange.change_id))]


def cli(api, capsys, *args: str) -> tuple[int, str, str]:
    url = api.session.get_bind().url.render_as_string(hide_password=False)
    code = main([*args, "--database-url", url])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_new_token_takes_the_agents_role_and_changes_no_other_token(api):
    # A lead's new token without --role: still a lead, and so is the older token (it was demoted before).
    second = create_token(api.session, "lead-01")
    assert role_of(api, api.lead_token) == "lead" and role_of(api, second) == "lead"
    # --role that only confirms the agent's role is fine.
    create_token(api.session, "agent-007", "agent")
    assert role_of(api, api.token) == "agent"
    # A different --role is refused, pointing at the role command: no token made, none promoted.
    before = tokens_of(api, "agent-007")
    with pytest.raises(RoleError, match="callcue-server agent role agent-007 lead"):
        create_token(api.session, "agent-007", "lead")
    api.session.rollback()
    assert tokens_of(api, "agent-007") == before
    assert role_of(api, api.token) == "agent"
    # A new agent gets the role asked for (default agent), logged as its first role.
    assert role_of(api, create_token(api.session, "lead-02", "lead", created_by="ops")) == "lead"
    assert role_of(api, create_token(api.session, "agent-010")) == "agent"
    assert changes(api, "lead-02") == [(None, "lead", "ops", "agent created with its first token")]


def test_a_role_change_is_an_explicit_logged_command_for_every_token(api, capsys):
    older = api.token
    newer = create_token(api.session, "agent-007")
    code, out, err = cli(api, capsys, "token", "create", "--agent", "agent-007", "--role", "lead")
    assert code == 2 and "callcue-server agent role agent-007 lead" in err and out == ""
    assert "令牌总是沿用坐席的角色" in err
    code, out, err = cli(api, capsys, "agent", "role", "agent-007", "lead", "--reason", "team lead from Monday")
    assert code == 0 and "agent-007: agent -> lead" in out
    assert role_of(api, older) == role_of(api, newer) == "lead"  # the agent's role: every token follows
    code, out, _ = cli(api, capsys, "agent", "role", "agent-007", "lead")
    assert code == 0 and "already lead" in out
    code, _, err = cli(api, capsys, "agent", "role", "nobody", "lead")
    assert code == 2 and "no agent 'nobody'" in err and "token create --agent nobody --role lead" in err
    # A token made now without --role is a lead's; the log shows the one change (with who and why).
    code, out, err = cli(api, capsys, "token", "create", "--agent", "agent-007")
    assert code == 0 and role_of(api, out.strip()) == "lead" and "(lead)" in err
    logged = changes(api, "agent-007")
    assert [entry[:2] for entry in logged] == [(None, "agent"), ("agent", "lead")]
    assert logged[1][2] and logged[1][3] == "team lead from Monday"
    code, out, _ = cli(api, capsys, "audit", "roles", "--agent", "agent-007", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["old_role"], r["new_role"], r["reason"]) for r in rows] == [
        (None, "agent", "agent created with its first token"), ("agent", "lead", "team lead from Monday")]
    code, out, _ = cli(api, capsys, "agent", "role", "agent-007", "agent")
    assert code == 0 and role_of(api, older) == "agent"
    code, out, _ = cli(api, capsys, "agent", "list")
    assert "agent-007\tagent\tteam -\t3 active token(s)" in out.splitlines()  # 2 here, 1 by the CLI
    with pytest.raises(RoleError, match="200 characters"):
        set_role(api.session, "agent-007", "lead", reason="x" * 201)


def test_migration_0003_logs_the_roles_agents_had_and_matches_the_models(database_url):
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO agents (agent_id, role, created_at) VALUES "
                              "('a-1', 'agent', CURRENT_TIMESTAMP), ('l-1', 'lead', CURRENT_TIMESTAMP)"))
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT agent_id, old_role, new_role, changed_by, changed_at "
                                     "FROM agent_role_changes ORDER BY agent_id")).all()
            assert [tuple(r[:4]) for r in rows] == [("a-1", None, "agent", "migration 0003"),
                                                    ("l-1", None, "lead", "migration 0003")]
            assert all(r[4] is not None for r in rows)
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        tables = set(inspect(engine).get_table_names())
        assert "customer_access" not in tables and "agent_role_changes" not in tables and "agents" in tables
        upgrade(engine)
        assert {"customer_access", "agent_role_changes"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
