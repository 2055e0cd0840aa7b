"""The real `callcue-server` process on loopback: start-up checks, auth, a pop and an outcome over TCP."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy.orm import Session

from server_stub.db.engine import make_engine, upgrade
from server_stub.live import live_server
from server_stub.services.auth import create_token
from tests.server import factories


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server_stub.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_server_refuses_an_unmigrated_database_and_names_the_fix(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = run_cli("serve", "--database-url", url, "--port", "1")
    assert result.returncode == 2
    assert "callcue-server db upgrade" in result.stderr and "has no CallCue tables" in result.stderr
    upgraded = run_cli("db", "upgrade", "--database-url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert run_cli("db", "current", "--database-url", url).returncode == 0


def test_wrong_database_urls_get_plain_errors(tmp_path):
    result = run_cli("db", "upgrade", "--database-url", "mysql://x@localhost/db")
    assert result.returncode == 2 and "Unsupported database 'mysql'" in result.stderr
    result = run_cli("db", "upgrade", "--database-url", "not a url")
    assert result.returncode == 2 and "Not a database URL" in result.stderr
    result = run_cli("db", "upgrade", "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.returncode == 2 and "Cannot open the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_create_prints_once_and_works_over_tcp(database_url, tmp_path):
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_customer(session, "C1", "13800138000", name="陈静")
    engine.dispose()
    created = run_cli("token", "create", "--agent", "a-1", "--database-url", database_url)
    assert created.returncode == 0 and "shown only once" in created.stderr
    token = created.stdout.strip()
    assert token.startswith("cc_")
    log_dir = tmp_path / "logs"
    with live_server(database_url, log_dir) as server:
        auth = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{server.base_url}/v1/pop?ani=13800138000", timeout=5).status_code == 401
        doc = requests.get(f"{server.base_url}/v1/pop?ani=13800138000", headers=auth, timeout=5).json()
        assert doc["customer"]["display_name"] == "陈静"
        item = {"outcome_id": str(uuid.uuid4()), "decision_id": doc["decision_id"], "customer_id": "C1",
                "offer_id": "CARE-CHECKUP", "result": "accepted", "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
        result = requests.post(f"{server.base_url}/v1/outcomes", json={"outcomes": [item]}, headers=auth, timeout=5)
        assert result.json()["accepted"] == 1
        search = requests.get(f"{server.base_url}/v1/customers?q=陈", headers=auth, timeout=5).json()
        assert search["items"][0]["customer_id"] == "C1"
    log_text = (log_dir / "server.log").read_text(encoding="utf-8")
    assert '"route": "/v1/pop"' in log_text
    # Logs never carry phone numbers, names or tokens.
    for secret in ("13800138000", "138****8000", "陈静", "陈", token):
        assert secret not in log_text


def test_several_workers_serve_one_database(database_url, tmp_path):
    """Two worker processes (one per core of a 2-core machine) on one database: on SQLite they share the
    file through WAL and wait for each other's short write transactions (busy_timeout)."""
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        factories.add_catalog(session)
        factories.add_customer(session, "C1", "13800138000")
        token = create_token(session, "a-1")
    engine.dispose()
    with live_server(database_url, tmp_path / "logs", workers=2) as server:
        auth = {"Authorization": f"Bearer {token}"}
        pids = set()
        decisions = []
        for _ in range(20):
            response = requests.get(f"{server.base_url}/v1/pop?customer_id=C1", headers=auth, timeout=5)
            assert response.status_code == 200
            decisions.append(response.json()["decision_id"])
        assert server.process.poll() is None
        pids.add(server.process.pid)
        # Every outcome sent twice, at once, over 8 connections (so both workers write at the same time):
        # each is stored exactly once, and no request fails.
        items = [{"outcome_id": str(uuid.uuid4()), "decision_id": decision, "customer_id": "C1",
                  "offer_id": "CARE-CHECKUP", "result": "declined",
                  "recorded_at": dt.datetime.now(dt.UTC).isoformat()} for decision in decisions]
        batches = [items[i:i + 5] for i in range(0, len(items), 5)] * 2

        def send(batch):
            with requests.Session() as http:
                return http.post(f"{server.base_url}/v1/outcomes", json={"outcomes": batch}, headers=auth,
                                 timeout=30).json()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, batches))
        assert sum(a["accepted"] for a in answers) == len(items)
        assert sum(a["duplicate"] for a in answers) == len(items)
        assert sum(a["rejected"] for a in answers) == 0
    # Both workers log to the one server.log (a spawned worker does not inherit the parent's logging).
    log_lines = [json.loads(line) for line in (tmp_path / "logs" / "server.log").read_text("utf-8").splitlines()]
    requests_logged = [line for line in log_lines if line.get("event") == "request"]
    assert sum(line["route"] == "/v1/pop" for line in requests_logged) == 20
    assert sum(line["route"] == "/v1/outcomes" for line in requests_logged) == len(batches)
