"""Teams, tokens for a roster, the token list and revocation at once (issue 17, teams and roles), through the CLI
and the real app on SQLite and PostgreSQL; migration 0007."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from server_stub.api.app import create_app
from server_stub.cli import ROLE_CHOICES, main
from server_stub.db.engine import alembic_config, make_engine, upgrade
from server_stub.db.models import Agent, ApiToken, Base, Team
from server_stub.services.auth import LAST_USE_RESOLUTION, ROLES, create_token
from tests.server.test_roles import cli


def me(client, token: str):
    return client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def count(api, model) -> int:
    api.session.expire_all()
    return api.session.scalar(select(func.count()).select_from(model))


# ------------------------------------------------------------------ teams


def test_the_cli_offers_every_role():
    assert ROLE_CHOICES == ROLES


def test_teams_are_created_renamed_listed_led_and_deleted(api, capsys):
    code, out, _ = cli(api, capsys, "team", "create", "T1", "--name", "挽留一组")
    assert code == 0 and "team T1 created" in out
    code, _, err = cli(api, capsys, "team", "create", "T1")
    assert code == 2 and "exists already" in err and "已存在" in err
    code, _, err = cli(api, capsys, "team", "create", "bad team")
    assert code == 2 and "1-40 of A-Z" in err and "班组名" in err
    assert cli(api, capsys, "team", "create", "T2")[0] == 0
    # An agent moves only into a team that exists (a typo makes no team).
    code, _, err = cli(api, capsys, "agent", "team", "agent-007", "T3")
    assert code == 2 and "callcue-server team create T3" in err and "请先运行" in err
    assert cli(api, capsys, "agent", "team", "agent-007", "T1")[0] == 0
    assert cli(api, capsys, "agent", "team", "lead-01", "T1")[0] == 0
    # A lead leads their own team and the teams they are made lead of; only a lead can be one.
    code, _, err = cli(api, capsys, "team", "lead", "T2", "agent-007")
    assert code == 2 and "callcue-server agent role agent-007 lead" in err and "不是班组长" in err
    code, out, _ = cli(api, capsys, "team", "lead", "T2", "lead-01")
    assert code == 0 and "lead-01 leads T2" in out
    assert "already" in cli(api, capsys, "team", "lead", "T2", "lead-01")[1]
    assert "already" in cli(api, capsys, "team", "lead", "T1", "lead-01")[1]  # in T1: leads it
    assert me(api.client, api.lead_token).json()["teams"] == ["T1", "T2"]
    code, out, _ = cli(api, capsys, "team", "rename", "T1", "携号转网挽留一组")
    assert code == 0 and "挽留一组 -> 携号转网挽留一组" in out and "the code T1 stays" in out
    code, out, _ = cli(api, capsys, "team", "list", "--json")
    teams = {row["team_id"]: row for row in map(json.loads, out.splitlines())}
    assert teams["T1"]["display_name"] == "携号转网挽留一组"
    assert (teams["T1"]["leads"], teams["T1"]["agents"]) == (["lead-01"], ["agent-007", "lead-01"])
    assert (teams["T2"]["leads"], teams["T2"]["agents"]) == (["lead-01"], [])
    assert set(teams) == {"T1", "T2"}  # nobody in no team
    code, out, _ = cli(api, capsys, "team", "list")
    assert "T1 (携号转网挽留一组)\tleads: lead-01\tagents (2): agent-007, lead-01" in out.splitlines()
    # A team with agents stays; an empty one goes, with its lead entries.
    code, _, err = cli(api, capsys, "team", "delete", "T1")
    assert code == 2 and "still has 2 agent(s)" in err and "请先调出" in err
    assert cli(api, capsys, "team", "delete", "T2")[0] == 0
    assert me(api.client, api.lead_token).json()["teams"] == ["T1"]
    # A lead who stops being one leads nothing (their lead entries go); the log keeps the role change.
    assert cli(api, capsys, "team", "create", "T4")[0] == 0
    assert cli(api, capsys, "team", "lead", "T4", "lead-01")[0] == 0
    code, _, err = cli(api, capsys, "team", "lead", "T1", "lead-01", "--remove")
    assert code == 2 and "agent team lead-01" in err  # leads T1 by being in it
    assert cli(api, capsys, "agent", "role", "lead-01", "agent")[0] == 0
    assert me(api.client, api.lead_token).json() == {"agent_id": "lead-01", "role": "agent", "team": "T1", "teams": []}
    assert cli(api, capsys, "agent", "role", "lead-01", "lead")[0] == 0
    assert me(api.client, api.lead_token).json()["teams"] == ["T1"]


# ------------------------------------------------------------------ tokens: create, list, revoke


def test_token_create_with_a_team_and_the_token_list_never_shows_a_secret(api, capsys):
    assert cli(api, capsys, "team", "create", "T1")[0] == 0
    code, out, _ = cli(api, capsys, "token", "create", "--agent", "agent-100", "--team", "T1", "--role", "analyst")
    token = out.strip()
    assert code == 0 and me(api.client, token).json() == {"agent_id": "agent-100", "role": "analyst", "team": "T1",
                                                         "teams": []}
    code, _, err = cli(api, capsys, "token", "create", "--agent", "agent-100", "--team", "T9")
    assert code == 2 and "callcue-server agent team agent-100 T9" in err
    code, _, err = cli(api, capsys, "token", "create", "--agent", "agent-101", "--team", "T9")
    assert code == 2 and "team create T9" in err
    code, out, err = cli(api, capsys, "token", "list")
    lines = out.splitlines()
    assert lines[0].split("\t")[:6] == ["token_id", "agent", "role", "team", "created", "last used"]
    mine = next(line.split("\t") for line in lines if "\tagent-100\t" in line)
    assert mine[0] == token.split("_")[1] and mine[1:4] == ["agent-100", "analyst", "T1"]
    assert mine[5] != "never"  # used by GET /v1/me above
    unused = next(line.split("\t") for line in lines if "\tlead-01\t" in line)
    assert unused[5] == "never" and "within 5 minutes" in err
    api.session.expire_all()
    hashes = list(api.session.scalars(select(ApiToken.secret_sha256)))
    for text_ in (out, cli(api, capsys, "token", "list", "--json", "--all")[1]):
        for secret in (token.split("_", 2)[2], api.token.split("_", 2)[2], api.lead_token.split("_", 2)[2], *hashes):
            assert secret not in text_
    code, out, _ = cli(api, capsys, "token", "list", "--team", "T1", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["agent_id"], r["role"], r["team"]) for r in rows] == [("agent-100", "analyst", "T1")]
    assert set(rows[0]) == {"token_id", "agent_id", "display_name", "role", "team", "created_at", "last_used_at",
                            "revoked_at"}
    # One token revoked by its id; --all lists it with the time.
    assert cli(api, capsys, "token", "revoke", "--token-id", rows[0]["token_id"])[0] == 0
    assert me(api.client, token).status_code == 401
    code, _, err = cli(api, capsys, "token", "revoke", "--token-id", rows[0]["token_id"])
    assert code == 2 and "no active token" in err
    assert cli(api, capsys, "token", "list", "--agent", "agent-100")[1].count("\n") == 1  # the header only
    revoked = json.loads(cli(api, capsys, "token", "list", "--agent", "agent-100", "--json", "--all")[1])
    assert revoked["revoked_at"] is not None


def test_last_use_is_written_once_per_period_not_per_request(api):
    app = create_app(engine=api.session.get_bind(), catalog_ttl_seconds=0, token_ttl_seconds=0)
    token_id = api.token.split("_")[1]

    def last_use():
        api.session.expire_all()
        return api.session.get(ApiToken, token_id).last_used_at

    with TestClient(app) as client:
        assert me(client, api.token).status_code == 200
        first = last_use()
        assert first is not None and dt.datetime.now(dt.UTC) - first < dt.timedelta(minutes=1)
        assert me(client, api.token).status_code == 200
        assert last_use() == first  # within the period: no write
        older = first - LAST_USE_RESOLUTION - dt.timedelta(seconds=1)
        api.session.execute(update(ApiToken).where(ApiToken.token_id == token_id).values(last_used_at=older))
        api.session.commit()
        assert me(client, api.token).status_code == 200
        assert last_use() > first


def test_a_revoked_token_is_refused_at_once_by_every_server_process(api, capsys):
    """Two apps on one database stand for two worker processes; each has the token cached for a minute."""
    engine = api.session.get_bind()
    apps = [create_app(engine=engine, catalog_ttl_seconds=0, token_ttl_seconds=60) for _ in range(2)]
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        for client in (one, two):  # each process has both tokens cached now
            assert me(client, api.token).status_code == 200
            assert client.get("/v1/outbound/figures", headers=api.headers(api.lead_token)).status_code == 200
        code, out, _ = cli(api, capsys, "token", "revoke", "--agent", "agent-007")
        assert code == 0 and "revoked 1 token(s) of agent-007" in out
        for client in (one, two):
            response = me(client, api.token)
            assert response.status_code == 401, response.text
            error = response.json()["error"]
            assert error["code"] == "invalid_token" and "revoked" in error["message"]
            assert "已被吊销" in error["message_zh"]
        # A role change reaches the cached token of every process at once too.
        for client in (one, two):
            assert client.get("/v1/outbound/figures", headers=api.headers(api.lead_token)).status_code == 200
        assert cli(api, capsys, "agent", "role", "lead-01", "agent")[0] == 0
        for client in (one, two):
            refused = client.get("/v1/outbound/figures", headers=api.headers(api.lead_token))
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "lead_only"


def test_a_revocation_check_period_bounds_the_delay_instead(api, capsys):
    """--revocation-check-seconds trades the per-request read for a documented delay."""
    app = create_app(engine=api.session.get_bind(), catalog_ttl_seconds=0, token_ttl_seconds=60,
                     revocation_check_seconds=3600)
    with TestClient(app) as client:
        assert me(client, api.token).status_code == 200
        assert cli(api, capsys, "token", "revoke", "--agent", "agent-007")[0] == 0
        assert me(client, api.token).status_code == 200  # still within the period in this process
    fresh = create_app(engine=api.session.get_bind(), catalog_ttl_seconds=0, token_ttl_seconds=60,
                       revocation_check_seconds=3600)
    with TestClient(fresh) as client:
        assert me(client, api.token).status_code == 401


# ------------------------------------------------------------------ a roster from CSV


ROSTER = (
    "agent_id,display_name,role,team\n"
    "a-001,王芳,agent,T1\n"
    "a-002,李娜,,T1\n"
    "l-001,张伟,lead,T1\n"
    "an-001,赵敏,analyst,\n"
)


def test_a_roster_makes_every_token_at_once(api, capsys, tmp_path):
    assert cli(api, capsys, "team", "create", "T1")[0] == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeff" + ROSTER.replace("\n", "\r\n"), encoding="utf-8")  # as Excel saves it
    out_file = tmp_path / "tokens.csv"
    code, out, err = cli(api, capsys, "token", "create", "--from-csv", str(roster), "--output", str(out_file))
    assert code == 0 and out == "" and "4 token(s)" in err and "4 new agent(s)" in err
    assert stat.S_IMODE(os.stat(out_file).st_mode) == 0o600
    rows = out_file.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "agent_id,display_name,role,team,token"
    issued = {line.split(",")[0]: line.split(",") for line in rows[1:]}
    assert {k: v[1:4] for k, v in issued.items()} == {
        "a-001": ["王芳", "agent", "T1"], "a-002": ["李娜", "agent", "T1"], "l-001": ["张伟", "lead", "T1"],
        "an-001": ["赵敏", "analyst", ""]}
    assert me(api.client, issued["l-001"][4]).json() == {"agent_id": "l-001", "role": "lead", "team": "T1",
                                                         "teams": ["T1"]}
    # The same roster again: existing agents, same roles and teams: a second token each, to stdout.
    code, out, err = cli(api, capsys, "token", "create", "--from-csv", str(roster))
    assert code == 0 and len(out.splitlines()) == 5 and "0 new agent(s)" in err
    code, _, err = cli(api, capsys, "token", "create", "--from-csv", str(roster), "--output", str(out_file))
    assert code == 2 and "exists" in err
    code, _, err = cli(api, capsys, "token", "create", "--from-csv", str(roster), "--agent", "x")
    assert code == 2 and "--from-csv" in err


def test_a_roster_with_bad_rows_names_each_and_creates_nothing(api, capsys, tmp_path):
    assert cli(api, capsys, "team", "create", "T1")[0] == 0
    agents, tokens = count(api, Agent), count(api, ApiToken)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "agent_id,display_name,role,team\n"
        "a-001,王芳,agent,T1\n"
        ",无编号,agent,T1\n"
        "a-003,李娜,boss,T1\n"
        "a-001,王芳,agent,T1\n"
        "a-005,张伟,agent,bad team\n"
        "a-006,only three,agent\n", encoding="utf-8")
    code, out, err = cli(api, capsys, "token", "create", "--from-csv", str(roster), "--lang", "en")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[:5] == [
        f"{roster}: line 3, column agent_id: empty: every row needs an agent id",
        f"{roster}: line 4, column role: 'boss' is not a role: use agent, lead, analyst, admin",
        f"{roster}: line 5, column agent_id: a-001 appears again (first on line 2): one row per agent",
        f"{roster}: line 6, column team: 'bad team' is not a team code (1-40 of A-Z a-z 0-9 _ . : @ -)",
        f"{roster}: line 7: 3 fields where the header has 4",
    ]
    assert "5 problem(s): no token was created" in lines[-1]
    code, _, err = cli(api, capsys, "token", "create", "--from-csv", str(roster), "--lang", "zh_CN")
    assert f"{roster}：第 4 行，role 列：'boss' 不是有效角色" in err and "未签发任何令牌" in err
    assert (count(api, Agent), count(api, ApiToken)) == (agents, tokens)
    # Problems only the database knows (an unknown team, an existing agent's other role or team), found on the
    # last rows: the good rows before them are not created either.
    roster.write_text("agent_id,role,team\na-001,agent,T1\na-002,agent,T1\nagent-007,lead,\nlead-01,,T2\n",
                      encoding="utf-8")
    code, _, err = cli(api, capsys, "token", "create", "--from-csv", str(roster), "--lang", "en")
    assert code == 2
    assert f"{roster}: line 4, column role: agent-007 exists and is agent" in err
    assert "callcue-server agent role agent-007 lead" in err
    assert f"{roster}: line 5, column team: there is no team 'T2'" in err
    assert (count(api, Agent), count(api, ApiToken)) == (agents, tokens)
    for content, message in (("", "line 1: the file is empty"), ("agent_id,grade\na,1\n", "line 1, column grade: "
                             "unknown column"), ("name\nx\n", "line 1, column agent_id: the agent_id column is missing"),
                             ("agent_id\n", "the file has no rows")):
        roster.write_text(content, encoding="utf-8")
        code, _, err = cli(api, capsys, "token", "create", "--from-csv", str(roster), "--lang", "en")
        assert code == 2 and message in err, err
    roster.write_bytes("agent_id,display_name\na-1,王芳\n".encode("gbk"))
    code, _, err = cli(api, capsys, "token", "create", "--from-csv", str(roster), "--lang", "zh")
    assert code == 2 and "第 2 行" in err and "UTF-8" in err
    assert (count(api, Agent), count(api, ApiToken)) == (agents, tokens)


def test_a_roster_failing_while_written_leaves_nothing(api, capsys, tmp_path, monkeypatch):
    """All or nothing even when a row fails after the checks (here: the database refuses the third insert)."""
    from server_stub.services import roster as roster_module

    agents, tokens = count(api, Agent), count(api, ApiToken)
    calls = []

    def failing(session, agent_id, *args, **kwargs):
        calls.append(agent_id)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return create_token(session, agent_id, *args, **kwargs)

    monkeypatch.setattr(roster_module, "create_token", failing)
    path = tmp_path / "roster.csv"
    path.write_text("agent_id\na-1\na-2\na-3\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        main(["token", "create", "--from-csv", str(path), "--database-url",
              api.session.get_bind().url.render_as_string(hide_password=False)])
    assert calls == ["a-1", "a-2", "a-3"]
    assert (count(api, Agent), count(api, ApiToken)) == (agents, tokens)


# ------------------------------------------------------------------ migration 0007


def test_migration_0007_makes_teams_of_the_teams_agents_are_in_and_matches_the_models(database_url):
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0006")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO agents (agent_id, role, created_at, team) VALUES "
                              "('a-1', 'agent', CURRENT_TIMESTAMP, 'retention-a'), "
                              "('a-2', 'agent', CURRENT_TIMESTAMP, 'retention-a'), "
                              "('l-1', 'lead', CURRENT_TIMESTAMP, 'retention-b'), "
                              "('a-3', 'agent', CURRENT_TIMESTAMP, NULL)"))
        upgrade(engine)
        with engine.connect() as conn:
            assert list(conn.execute(select(Team.team_id).order_by(Team.team_id)).scalars()) == [
                "retention-a", "retention-b"]
            assert conn.execute(text("SELECT generation FROM auth_state")).scalar_one() == 0
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM agents WHERE team IS NOT NULL")).scalar_one() == 3
        upgrade(engine)
    finally:
        engine.dispose()
