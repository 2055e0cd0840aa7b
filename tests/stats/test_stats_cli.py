"""`callcue stats`: reads the local data file without Qt or the running panel; the role comes from the real
server's GET /v1/me (agent and lead tokens)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from desktop.cli import main
from desktop.storage import open_store
from tests.stats.conftest import seed_team


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "callcue.sqlite3"
    with open_store(path) as store:
        seed_team(store)
    return path


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A private home (no real settings file), Shanghai time, no keyring (the token comes from the env)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for name in ("CALLCUE_TOKEN", "CALLCUE_SERVER_URL", "CALLCUE_AGENT_ID", "CALLCUE_STORE_PATH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["stats", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows(text: str) -> dict[tuple[str, str, str], str]:
    return {(s, k, m): v for s, k, m, v in list(csv.reader(io.StringIO(text)))[1:]}


def test_an_agent_gets_their_own_figures_as_csv(env, capsys, store_file, token_server):
    env.setenv("CALLCUE_SERVER_URL", token_server.base_url)
    env.setenv("CALLCUE_AGENT_ID", "agent-007")
    env.setenv("CALLCUE_TOKEN", token_server.agent_token)
    code, out, err = run(capsys, "--from", "2026-11-20", "--to", "2026-11-20", "--store", str(store_file))
    assert code == 0, err
    table = rows(out)
    assert table[("filters", "", "agent_id")] == "agent-007"
    assert table[("outcomes", "", "outcomes")] == "3"
    assert ("by_agent", "agent-008", "outcomes") not in table


def test_an_agent_may_not_ask_for_another_agent(env, capsys, store_file, token_server):
    env.setenv("CALLCUE_SERVER_URL", token_server.base_url)
    env.setenv("CALLCUE_AGENT_ID", "agent-007")
    env.setenv("CALLCUE_TOKEN", token_server.agent_token)
    code, out, err = run(capsys, "--from", "2026-11-20", "--to", "2026-11-20", "--agent", "agent-008",
                         "--store", str(store_file))
    assert code == 2 and out == ""
    assert "agents see only their own figures" in err and "坐席只能查看自己的数据" in err


def test_a_lead_picks_any_agent_and_writes_json(env, capsys, store_file, token_server, tmp_path):
    env.setenv("CALLCUE_SERVER_URL", token_server.base_url)
    env.setenv("CALLCUE_AGENT_ID", "lead-01")
    env.setenv("CALLCUE_TOKEN", token_server.lead_token)
    target = tmp_path / "out.json"
    code, out, err = run(capsys, "--from", "2026-11-19", "--to", "2026-11-20", "--agent", "agent-008",
                         "--format", "json", "--store", str(store_file), "--output", str(target))
    assert code == 0, err
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["filters"]["agent_id"] == "agent-008"
    assert data["outcomes"]["by_result"] == {"accepted": 2, "do_not_disturb": 1}
    assert [d["key"] for d in data["by_day"]] == ["2026-11-19", "2026-11-20"]
    code, out, err = run(capsys, "--from", "2026-11-20", "--to", "2026-11-20", "--format", "json",
                         "--store", str(store_file))
    assert code == 0 and [a["key"] for a in json.loads(out)["by_agent"]] == ["agent-007", "agent-008"]


def test_offline_an_agent_still_gets_their_own_figures(env, capsys, store_file):
    env.setenv("CALLCUE_AGENT_ID", "agent-008")
    code, out, err = run(capsys, "--from", "2026-11-20", "--to", "2026-11-20", "--store", str(store_file))
    assert code == 0, err
    assert rows(out)[("outcomes", "", "outcomes")] == "3"
    code, out, err = run(capsys, "--from", "2026-11-20", "--to", "2026-11-20", "--agent", "agent-007",
                         "--store", str(store_file))
    assert code == 2 and "did not confirm a team-lead role" in err


@pytest.mark.parametrize(("start", "end", "words"), [
    ("2026-13-01", "2026-11-20", "'2026-13-01' is not a date"),
    ("2026-11-20", "20/11/2026", "'20/11/2026' is not a date"),
    ("2026-11-21", "2026-11-20", "starts (2026-11-21) after it ends (2026-11-20)"),
])
def test_bad_dates_are_explained(env, capsys, store_file, start, end, words):
    env.setenv("CALLCUE_AGENT_ID", "agent-007")
    code, out, err = run(capsys, "--from", start, "--to", end, "--store", str(store_file))
    assert code == 2 and out == ""
    assert words in err


def test_a_missing_data_file_is_reported_and_not_created(env, capsys, tmp_path):
    env.setenv("CALLCUE_AGENT_ID", "agent-007")
    missing = tmp_path / "nowhere" / "callcue.sqlite3"
    code, _out, err = run(capsys, "--from", "2026-11-20", "--to", "2026-11-20", "--store", str(missing))
    assert code == 1 and "there is no CallCue data file" in err
    assert not missing.exists()


def test_it_needs_no_qt(env, store_file, tmp_path):
    env.setenv("CALLCUE_AGENT_ID", "agent-007")
    script = ("import sys; from desktop.cli import main; "
              f"code = main(['stats', '--from', '2026-11-20', '--to', '2026-11-20', '--store', {str(store_file)!r}]); "
              "assert 'PySide6' not in sys.modules, 'Qt was imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("section,key,metric,value")
