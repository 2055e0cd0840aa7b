"""Security proofs (issue 7), each its own test.

- No token or secret in the config files, the logs (desktop and server, at DEBUG), the local store (the
  SQLite file's bytes, WAL and SHM included) or crash output (a config error on stderr; faulthandler's dump
  when the running panel segfaults).
- No phone number or customer name in any log, after a real pop + outcome flow at DEBUG.
- What CallCue writes under the user's home is private: files 0600, the directories it creates 0700.
- The real panel's local bridge refuses a missing token, a wrong token, a foreign origin, a DNS-rebinding
  Host header and an oversized body; each test then sends the same request done right, which pops, so the
  refusal is the check's doing. (The bridge alone, with every refusal and its reason, is tested in
  tests/bridge/test_server.py::test_every_refusal_says_why; the WebSocket handshake in
  test_the_websocket_handshake_is_refused_with_a_reason and test_the_websocket_refuses_a_rebound_host.)
- Server tokens are stored as SHA-256 only (read from the database, SQLite and PostgreSQL), looked up by
  their public id and compared with hmac.compare_digest, also for unknown ids (behaviour, not timing).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.orm import Session

from desktop.domain.states import PopState
from desktop.services.config import ConfigError, load_config
from desktop.services.logfiles import PrivateRotatingFileHandler, private_directory
from server_stub.db.engine import make_engine, upgrade
from server_stub.db.models import ApiToken
from server_stub.live import free_port
from server_stub.services import auth
from tests.chaos._security_fixtures import (
    ALLOWED_ORIGIN,
    FlowResult,
    HostThread,
    call_body,
    file_mode,
    raw_request,
    run_flow,
    wait_for_state,
)
from tests.conftest import REPO_ROOT
from tests.desktop_runtime.conftest import no_leftover_threads  # noqa: F401 - autouse: no thread left behind
from tests.gui.conftest import CALM, make_app, memory_keyring, server  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flow(request, qapp, tmp_path_factory) -> FlowResult:
    return run_flow(request, qapp, tmp_path_factory.mktemp("security"))


def scan(files: list[Path], needles: dict[str, str]) -> list[str]:
    """`label in file` for every needle found in a file's bytes (as UTF-8)."""
    found = []
    for path in files:
        data = path.read_bytes()
        found += [f"{label} in {path}" for label, needle in needles.items() if needle.encode() in data]
    return found


def files_under(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------------------
# The flow really happened (else every "nothing found" below would prove nothing)
# --------------------------------------------------------------------------------------------------------


def test_the_flow_popped_recorded_synced_and_logged_at_debug(flow):
    assert flow.answers["bridge pop"] == "popped"
    assert flow.answers["wrong token"][0] == 401 and flow.answers["bad field"][0] == 400
    assert flow.answers["forged server token"] == 401
    assert flow.answers["bad number"] == 422
    assert [r["status"] for r in flow.answers["noted outcomes"]["results"]] == ["rejected", "rejected"]
    assert flow.outcomes_on_server == 2
    assert flow.server_token in flow.keyring_values  # the token's one home on the desktop
    assert flow.answers["forged sign-in keyring"] == []  # a refused token is not kept
    desktop_log = "".join(p.read_text(encoding="utf-8") for p in flow.desktop_log_files())
    assert " DEBUG " in desktop_log and "signed in" in desktop_log
    server_log = "".join(p.read_text(encoding="utf-8") for p in flow.server_log_files())
    assert '"DEBUG"' in server_log or '"INFO"' in server_log


# --------------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------------


def test_no_token_or_secret_in_config_files(flow):
    config_files = files_under(flow.paths.user_file.parent)
    names = {p.name for p in config_files}
    assert {"config.toml", "window.ini"} <= names, names  # what the flow wrote: the scan has real input
    assert "http://127.0.0.1" in flow.paths.user_file.read_text(encoding="utf-8")
    assert scan(config_files, flow.secrets) == []


def test_no_token_or_secret_in_desktop_or_server_logs(flow):
    logs = flow.desktop_log_files() + flow.server_log_files()
    assert {p.name for p in logs} >= {"callcue.log", "server.log", "server.out"}
    assert scan(logs, flow.secrets) == []


def test_no_token_or_secret_in_the_local_store(flow):
    store_files = [p for p in files_under(flow.paths.data_dir) if p.name.startswith("callcue.sqlite3")]
    assert store_files and store_files[0].name == "callcue.sqlite3"
    data = b"".join(p.read_bytes() for p in store_files)
    assert b"C-PRICE" in data  # the cached pop and the outbox are really in these bytes
    assert scan(store_files, flow.secrets) == []
    # Nor anywhere else in the data directory, but for the bridge token in its own file.
    others = [p for p in files_under(flow.paths.data_dir) if p.name != "bridge-token"]
    assert scan(others, flow.secrets) == []
    bridge_file = flow.paths.data_dir / "bridge-token"
    assert scan([bridge_file], {k: v for k, v in flow.secrets.items() if k != "bridge token"}) == []


def test_server_database_holds_no_token_secret(flow):
    data = flow.server_db.read_bytes() + b"".join(
        p.read_bytes() for p in flow.server_db.parent.glob("server.sqlite3-*"))
    secret = flow.secrets["server token secret"]
    assert secret.encode() not in data
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in data


# --------------------------------------------------------------------------------------------------------
# Personal data in logs
# --------------------------------------------------------------------------------------------------------


def _digits_only(text: str) -> str:
    return re.sub(r"[\s\-().+]", "", text)


def test_phone_numbers_and_names_never_reach_the_logs(flow):
    logs = flow.desktop_log_files() + flow.server_log_files()
    found = []
    for path in logs:
        content = path.read_text(encoding="utf-8", errors="replace")
        squeezed = _digits_only(content)  # "+86 139 0013 9000" and "139-0013-9000" too
        found += [f"{phone} in {path}" for phone in flow.phones if phone in content or phone in squeezed]
        found += [f"{name} in {path}" for name in flow.names if name in content]
    assert found == []


# --------------------------------------------------------------------------------------------------------
# File modes
# --------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_local_files_are_0600_and_created_directories_0700(flow):
    created_dirs = [flow.paths.user_file.parent, flow.paths.data_dir, flow.paths.log_dir]
    files = files_under(*created_dirs)
    names = {p.name for p in files}
    assert {"config.toml", "window.ini", "callcue.sqlite3", "bridge-token", "callcue.log"} <= names, names
    wide = [f"{p} {file_mode(p):o}" for p in files if file_mode(p) != 0o600]
    wide += [f"{d} {file_mode(d):o}" for root in created_dirs
             for d in [root, *(p for p in root.rglob("*") if p.is_dir())] if file_mode(d) != 0o700]
    assert wide == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_the_store_wal_and_shm_are_0600_while_the_panel_runs(qapp, qtbot, tmp_path, server, memory_keyring):  # noqa: F811
    app = make_app(qapp, tmp_path, server.base_url, server.token)
    app.start(show=True)
    try:
        app.router.handle_data({"call_id": "modes", "state": "answered", "ani": CALM[1]}, source="test")
        wait_for_state(qtbot, app, "modes", PopState.LIVE)
        with qtbot.waitSignal(app.controller.outcome_recorded, timeout=10000):
            app.window.outcome_bar.buttons["considering"].click()
        store = tmp_path / "data" / "callcue.sqlite3"
        live_files = {p.name: file_mode(p) for p in store.parent.glob("callcue.sqlite3*")}
        assert {"callcue.sqlite3", "callcue.sqlite3-wal", "callcue.sqlite3-shm"} <= set(live_files), live_files
        assert set(live_files.values()) == {0o600}, live_files
    finally:
        app.close()


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_rotated_and_inherited_log_files_are_0600(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o755)
    (log_dir / "callcue.log").write_text("from an older version\n")
    os.chmod(log_dir / "callcue.log", 0o644)
    handler = PrivateRotatingFileHandler(log_dir / "callcue.log", maxBytes=200, backupCount=2, encoding="utf-8")
    logger = logging.getLogger("callcue.test.rotation")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(20):
            logger.warning("line %d of a log that rotates", n)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in log_dir.iterdir())
    assert files == ["callcue.log", "callcue.log.1", "callcue.log.2"]
    assert {file_mode(log_dir / name) for name in files} == {0o600}
    private_directory(log_dir)
    assert file_mode(log_dir) == 0o700


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_server_log_file_is_private(flow):
    assert file_mode(flow.server_log_dir / "server.log") == 0o600


# --------------------------------------------------------------------------------------------------------
# Crash output
# --------------------------------------------------------------------------------------------------------

CRASH_SERVER_TOKEN = "cc_0123456789abcdef_Crash-Test-Secret-4f9a2c7e1b3d5f60"
CRASH_BRIDGE_TOKEN = "crash-bridge-token-7c1e9a3b5d2f4e6a"


def _private_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCUE_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_STATE_HOME=str(home / ".local/state"), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_RUNTIME_DIR=str(runtime), TMPDIR=str(tmp_path), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(REPO_ROOT))
    return env


def test_a_config_error_never_shows_a_secret(tmp_path):
    """A numeric token (a TOML integer, not a string) is invalid: the message names the key, not the value,
    in the error itself and wherever the panel reports it (stderr, or, when it sets the damaged file aside
    and starts anyway, its log)."""
    env = _private_env(tmp_path)
    config_file = Path(env["XDG_CONFIG_HOME"]) / "CallCue" / "config.toml"
    config_file.parent.mkdir(parents=True)
    config_file.write_text("schema_version = 1\n[bridge]\ntoken = 98765432109876543210\n")
    with pytest.raises(ConfigError) as caught:
        load_config(machine_file=None, user_file=config_file, environ={}, cli={})
    assert "bridge.token" in str(caught.value) and "98765432109876543210" not in str(caught.value)

    process = subprocess.Popen([sys.executable, "-m", "desktop.cli", "--headless"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:  # it started without the damaged file: stop it, read what it said
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    logs = "".join(p.read_text(encoding="utf-8", errors="replace")
                   for p in files_under(Path(env["XDG_STATE_HOME"])) if p.name.startswith("callcue.log"))
    assert "bridge.token" in stderr + logs, (stderr, logs)
    assert "98765432109876543210" not in stdout + stderr + logs


def test_a_crashing_panel_dumps_no_secret(tmp_path):
    """The real panel, signed in through CALLCUE_TOKEN with an IT-preset bridge token, takes a call, then
    dies of SIGSEGV: faulthandler's dump (every thread's stack) and all else on stderr hold no secret."""
    env = _private_env(tmp_path)
    bridge_port = free_port()
    env.update(PYTHONFAULTHANDLER="1", CALLCUE_SERVER_URL=f"http://127.0.0.1:{free_port()}",  # nobody there
               CALLCUE_AGENT_ID="agent-007", CALLCUE_TOKEN=CRASH_SERVER_TOKEN,
               CALLCUE_BRIDGE_TOKEN=CRASH_BRIDGE_TOKEN, CALLCUE_BRIDGE_PORT=str(bridge_port),
               CALLCUE_LOG_LEVEL="DEBUG")
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "desktop.cli", "--headless"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        answer = None
        for _attempt in range(600):  # up to 60 s for the panel and its bridge to come up
            try:
                answer = raw_request(bridge_port, "POST", "/v1/calls", call_body("crash-1", CALM[1]),
                                     token=CRASH_BRIDGE_TOKEN)
                break
            except OSError:
                try:
                    process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    continue
                pytest.fail(f"the panel exited early: {stderr_path.read_text(errors='replace')}")
        assert answer is not None and answer[0] == 200, answer  # the call reached a running panel
        process.send_signal(signal.SIGSEGV)
        assert process.wait(timeout=30) == -signal.SIGSEGV
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    output = stderr_path.read_text(encoding="utf-8", errors="replace")
    assert "Fatal Python error: Segmentation fault" in output  # faulthandler did dump
    for secret in (CRASH_SERVER_TOKEN, CRASH_SERVER_TOKEN.split("_", 2)[2], CRASH_BRIDGE_TOKEN):
        assert secret not in output
    logs = files_under(Path(env["XDG_STATE_HOME"]), Path(env["XDG_DATA_HOME"]) / "CallCue")
    assert any(p.name == "callcue.log" for p in logs), logs
    assert scan(logs, {"server token": CRASH_SERVER_TOKEN, "bridge token": CRASH_BRIDGE_TOKEN}) == []
    assert CALM[1] not in "".join(p.read_text(encoding="utf-8", errors="replace") for p in logs
                                  if p.name.startswith("callcue.log"))


# --------------------------------------------------------------------------------------------------------
# The real panel's bridge refuses what it must
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def panel_bridge(qapp, qtbot, tmp_path, server, memory_keyring):  # noqa: F811
    app = make_app(qapp, tmp_path, server.base_url, server.token,
                   **{"bridge.port": str(free_port()), "bridge.allowed_origins": ALLOWED_ORIGIN})
    app.start(show=True)
    host = HostThread(qtbot)
    try:
        qtbot.waitUntil(lambda: app.bridge is not None and app.bridge.running, timeout=15000)
        token = (tmp_path / "data" / "bridge-token").read_text(encoding="utf-8").strip()
        yield app, host, app.bridge.port, token
    finally:
        host.close()
        app.close()


def _refused_then_accepted(panel_bridge, qtbot, refused: dict, accepted: dict, status: int, error: str) -> None:
    app, host, port, _token = panel_bridge
    got_status, reply = host.run(raw_request, port, "POST", "/v1/calls", **refused)
    assert (got_status, reply.get("error")) == (status, error), reply
    assert app.router.calls() == [] and app.window.view("refused") is None  # nothing reached the panel
    got_status, reply = host.run(raw_request, port, "POST", "/v1/calls", **accepted)
    assert (got_status, reply.get("result")) == (200, "popped"), reply
    wait_for_state(qtbot, app, "refused", PopState.LIVE)


def test_bridge_refuses_a_request_without_token(panel_bridge, qtbot):
    token = panel_bridge[3]
    body = call_body("refused", CALM[1])
    _refused_then_accepted(panel_bridge, qtbot, {"body": body}, {"body": body, "token": token}, 401, "unauthorized")


def test_bridge_refuses_a_wrong_token(panel_bridge, qtbot):
    token = panel_bridge[3]
    body = call_body("refused", CALM[1])
    _refused_then_accepted(panel_bridge, qtbot, {"body": body, "token": token[:-1] + ("A" if token[-1] != "A" else "B")},
                           {"body": body, "token": token}, 401, "unauthorized")


def test_bridge_refuses_a_foreign_origin(panel_bridge, qtbot):
    token = panel_bridge[3]
    body = call_body("refused", CALM[1])
    _refused_then_accepted(panel_bridge, qtbot,
                           {"body": body, "token": token, "headers": {"Origin": "https://evil.example"}},
                           {"body": body, "token": token, "headers": {"Origin": ALLOWED_ORIGIN}},
                           403, "origin_not_allowed")


def test_bridge_refuses_a_dns_rebinding_host(panel_bridge, qtbot):
    token, port = panel_bridge[3], panel_bridge[2]
    body = call_body("refused", CALM[1])
    _refused_then_accepted(panel_bridge, qtbot, {"body": body, "token": token, "host": f"attacker.example:{port}"},
                           {"body": body, "token": token, "host": f"localhost:{port}"}, 421, "host_not_allowed")


def test_bridge_refuses_an_oversized_body(panel_bridge, qtbot):
    token = panel_bridge[3]
    body = call_body("refused", CALM[1])
    padded = body[:-1] + b', "pad": "' + b"x" * 20_000 + b'"}'
    _refused_then_accepted(panel_bridge, qtbot, {"body": padded, "token": token}, {"body": body, "token": token},
                           413, "body_too_large")


# --------------------------------------------------------------------------------------------------------
# Server tokens: hashed at rest, compared in constant time
# --------------------------------------------------------------------------------------------------------


def test_server_tokens_are_stored_as_sha256_only(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    result = subprocess.run([sys.executable, "-m", "server_stub.cli", "token", "create", "--agent", "sec-agent",
                             "--database-url", database_url], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr
    token = re.search(r"cc_[0-9a-f]{16}_[A-Za-z0-9_-]+", result.stdout).group(0)
    token_id, secret = token.split("_", 2)[1:]
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM api_tokens"))]
    finally:
        engine.dispose()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0].values())
    assert secret not in stored and token not in stored
    assert rows[0]["token_id"] == token_id
    assert rows[0]["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()


def test_server_tokens_are_looked_up_by_id_and_compared_with_compare_digest(migrated_engine, monkeypatch):
    with Session(migrated_engine) as session:
        token = auth.create_token(session, "ct-agent")
    token_id, secret = token.split("_", 2)[1:]
    comparisons: list[tuple[str, str]] = []
    real_compare = hmac.compare_digest

    def spy(a, b):
        comparisons.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    statements: list[str] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        statements.append(f"{statement} {parameters!r}")

    event.listen(migrated_engine, "before_cursor_execute", capture)
    try:
        cases = {
            "right": token,
            "wrong secret": f"cc_{token_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
            "unknown id": f"cc_{'f' * 16}_{secret}",
        }
        outcomes = {}
        for name, candidate in cases.items():
            comparisons.clear()
            statements.clear()
            with Session(migrated_engine) as session:
                try:
                    outcomes[name] = auth.verify_token(session, candidate).agent_id
                except auth.InvalidToken as exc:
                    outcomes[name] = f"refused: {exc}"
            candidate_secret = candidate.split("_", 2)[2]
            # Exactly one constant-time comparison of SHA-256 digests, also when the id does not exist.
            assert len(comparisons) == 1, (name, comparisons)
            assert comparisons[0][1] == hashlib.sha256(candidate_secret.encode()).hexdigest()
            # The database is asked by the public id only; the secret never goes into SQL.
            assert statements and all(candidate_secret not in s for s in statements), name
            assert any(candidate.split("_")[1] in s for s in statements), name
    finally:
        event.remove(migrated_engine, "before_cursor_execute", capture)
    assert outcomes["right"] == "ct-agent"
    assert outcomes["wrong secret"].startswith("refused") and outcomes["unknown id"].startswith("refused")
    with Session(migrated_engine) as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()


def test_token_cache_keys_are_digests_not_tokens():
    cache = auth.TokenCache(ttl_seconds=60)
    token = "cc_0123456789abcdef_" + "s" * 43
    cache.put(token, auth.Principal("a", "agent"))
    assert cache.get(token) == auth.Principal("a", "agent")
    assert all(token not in key and "s" * 43 not in key for key in cache._entries)

