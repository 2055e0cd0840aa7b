"""Local faults: full disk, read-only data directory, corrupt store, corrupt settings file.

The agent is told in plain words; the panel still starts (a damaged store or settings file is moved aside
and kept); an outcome that could not be made durable is never shown as saved; every outcome that was shown
as saved reaches the server exactly once. Disk faults run the real desktop client in a private mount
namespace on a small tmpfs (tests/chaos/driver.py), so no mount outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest
import requests

from desktop.domain.errors import UserError
from desktop.domain.states import PopState
from desktop.services.config import ConfigPaths, load_config_or_defaults
from desktop.services.store_recovery import MovedBack
from desktop.ui.pop_view import describe_error
from desktop.ui.store_notices import describe_store_event
from server_stub.live import free_port
from tests.chaos.fault_proxy import FaultProxy
from tests.chaos.harness import (
    REPO_ROOT,
    assert_confirmed_exactly_once,
    child_env,
    in_tmpfs,
    namespaces_available,
    running_driver,
    server_outcomes,
)
from tests.chaos.test_server_faults import SYNCED, pop, record
from tests.gui.conftest import make_app, wait_for_state

pytestmark = pytest.mark.slow

needs_namespaces = pytest.mark.skipif(not namespaces_available(),
                                      reason="unshare --user --mount is not allowed here (no private tmpfs)")


def _texts(language: str):
    from desktop.panel_session import resources_dir
    from desktop.ui.i18n import Texts

    return Texts(language, resources_dir() / "translations")


# ---------------------------------------------------------------------- disk faults (real client process)


@needs_namespaces
@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_full_disk_refuses_to_confirm_tells_the_agent_and_loses_nothing(tmp_path, chaos_server, language, qapp):
    database = chaos_server.database
    volume = tmp_path / "volume"
    volume.mkdir()
    store = volume / "data" / "callcue.sqlite3"
    with running_driver(chaos_server.base_url, database.token, tmp_path / "home", database.customers[:5],
                        mode="idle", lang=language, prefix=in_tmpfs(volume, "size=1m"),
                        extra=["--store", str(store)], env={"TMPDIR": str(tmp_path)}) as driver:
        driver.wait_for("ready", timeout=60)
        driver.send("record")
        driver.wait_for("confirmed", timeout=20)
        driver.send(f"sh dd if=/dev/zero of={volume}/ballast bs=4k 2>/dev/null; true")  # the disk fills up
        driver.wait_for("done", timeout=20)
        failed = None
        for i in range(30):
            driver.send(f"note 备注 note {i}")
            driver.send("record")
            event = driver.wait_for_any(("confirmed", "failed"), timeout=20)
            if event["event"] == "failed":
                failed = event
                break
            assert event["note"] == "", event  # saved: the note it carried is cleared
        assert failed is not None, "the store never reported the full disk"
        told = describe_error(UserError("disk_full"), _texts(language)).split(" (")[0]
        assert told in failed["notice"], failed
        assert "✓" not in failed["notice"] and failed["note"] == f"备注 note {i}", failed  # kept to try again
        driver.send(f"free {volume}/ballast")  # IT frees space
        driver.wait_for("done", timeout=20)
        driver.send("record")
        driver.wait_for("confirmed", timeout=20)
        driver.send("drain")
        driver.wait_for("drained", timeout=60)
        assert driver.wait_exit(30) == 0, driver.stderr_tail()
        confirmed = driver.confirmed()
    assert len(confirmed) >= 2
    assert_confirmed_exactly_once(database.url, confirmed)


@needs_namespaces
def test_read_only_data_directory_at_start_still_starts_and_saves_elsewhere(tmp_path, chaos_server, qapp):
    database = chaos_server.database
    volume = tmp_path / "volume"
    volume.mkdir()
    with running_driver(chaos_server.base_url, database.token, tmp_path / "home", database.customers[:5],
                        mode="idle", prefix=in_tmpfs(volume, "size=1m,ro"),
                        extra=["--store", str(volume / "data" / "callcue.sqlite3")],
                        env={"TMPDIR": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}) as driver:
        ready = driver.wait_for("ready", timeout=60)
        assert ready["store_problem"] == "read_only"
        assert f"cannot use its data folder {volume / 'data'} (it is read-only)" in ready["notice"], ready
        assert f"Outcomes are saved in {tmp_path / 'state' / 'CallCue' / 'fallback'}" in ready["notice"], ready
        driver.send("record")
        driver.wait_for("confirmed", timeout=20)
        driver.send("drain")
        driver.wait_for("drained", timeout=60)
        assert driver.wait_exit(30) == 0, driver.stderr_tail()
        confirmed = driver.confirmed()
    assert_confirmed_exactly_once(database.url, confirmed)


@needs_namespaces
@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_outcomes_confirmed_while_the_data_folder_was_read_only_are_delivered_once_it_is_back(
        tmp_path, chaos_server, qapp, language):
    """Issue 14, point 1: outcomes confirmed in the fallback store (read-only data folder, server down) used to
    stay there forever. The next start with the folder back moves them into the live outbox, says so, and
    they reach the real server exactly once; the fallback store is gone afterwards."""
    database = chaos_server.database
    volume = tmp_path / "volume"
    volume.mkdir()
    store = volume / "data" / "callcue.sqlite3"
    customers = database.customers[30:33]
    env = {"TMPDIR": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    fallback_dir = tmp_path / "state" / "CallCue" / "fallback"
    with FaultProxy(chaos_server.port) as proxy, running_driver(
            proxy.base_url, database.token, tmp_path / "home", customers, mode="idle", lang=language,
            prefix=in_tmpfs(volume, "size=1m,ro"), extra=["--store", str(store)], env=env) as driver:
        assert driver.wait_for("ready", timeout=60)["store_problem"] == "read_only"
        primed = set()
        for customer in customers:  # the server is up: pops are cached (in the fallback store)
            driver.send(f"record {customer}")
            primed.add(driver.wait_for("confirmed", timeout=20)["outcome_id"])
        driver.wait_for("sync", timeout=30, pending=0)
        proxy.mode = "down"  # … then the server goes away: outcomes stay in the fallback store's outbox
        offline = set()
        for customer in customers * 2:
            driver.send(f"record {customer}")
            offline.add(driver.wait_for("confirmed", timeout=20)["outcome_id"])
        offline -= primed  # a repeat of the same answer to the same pop is the same outcome
        driver.send("stop")
        assert driver.wait_exit(30) == 0, driver.stderr_tail()
    assert offline and not offline & set(server_outcomes(database.url))
    undelivered = (primed | offline) - set(server_outcomes(database.url))
    assert [p.name for p in fallback_dir.glob("callcue-*.sqlite3")], "the fallback store should hold them"

    # The data folder is writable again (no read-only mount) and the server is back.
    with running_driver(chaos_server.base_url, database.token, tmp_path / "home", customers, mode="idle",
                        lang=language, extra=["--store", str(store)], env=env) as driver:
        ready = driver.wait_for("ready", timeout=60)
        assert ready["store_problem"] is None
        told = describe_store_event(MovedBack(len(undelivered), len(primed | offline), ()), _texts(language))
        assert told in ready["notice"], ready
        driver.send("drain")
        driver.wait_for("drained", timeout=60)
        assert driver.wait_exit(30) == 0, driver.stderr_tail()
    assert_confirmed_exactly_once(database.url, primed | offline)
    assert not list(fallback_dir.glob("callcue-*")), "drained fallback stores are removed"
    with running_driver(chaos_server.base_url, database.token, tmp_path / "home", customers, mode="drain",
                        lang=language, extra=["--store", str(store)], env=env) as driver:
        assert "moved back" not in driver.wait_for("ready", timeout=60)["notice"]  # nothing left to move
        driver.wait_for("drained", timeout=60)
        assert driver.wait_exit(30) == 0, driver.stderr_tail()
    assert_confirmed_exactly_once(database.url, primed | offline)


# ---------------------------------------------------------------------- damaged files (in-process app)


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_corrupt_store_is_moved_aside_kept_and_the_panel_works(qapp, qtbot, tmp_path, chaos_server,
                                                               memory_keyring, language):
    database = chaos_server.database
    store = tmp_path / "data" / "callcue.sqlite3"
    store.parent.mkdir(parents=True)
    garbage = b"SQLite format 3\x00" + os.urandom(8192)
    store.write_bytes(garbage)
    app = make_app(qapp, tmp_path, chaos_server.base_url, database.token, language=language)
    try:
        app.start(show=True)
        assert app.store_problem is not None and app.store_problem.code == "store_corrupt"
        kept = list(store.parent.glob("callcue.sqlite3.damaged-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == garbage  # kept for rescue, untouched
        told = describe_store_event(app.panel.store_events[0], app.panel.texts)
        assert told in app.window.notice.text() and str(kept[0]) in told
        pop(app, "after-corruption", database.customers[20])
        wait_for_state(qtbot, app, "after-corruption", PopState.LIVE)
        outcome = record(qtbot, app)
        qtbot.waitUntil(lambda: SYNCED[language] in app.window.sync_badge.text()
                        and outcome in server_outcomes(database.url), timeout=15_000)
    finally:
        app.close()
    assert_confirmed_exactly_once(database.url, {outcome})


def test_corrupt_settings_file_is_moved_aside_and_the_agent_told(qapp, qtbot, tmp_path, chaos_server,
                                                                memory_keyring):
    database = chaos_server.database
    user_file = tmp_path / "config.toml"
    user_file.write_bytes(b"[ui]\nlanguage = \"zh_CN\n\x00\xff garbage")
    environ = {"CALLCUE_SERVER_URL": chaos_server.base_url, "CALLCUE_AGENT_ID": "agent-007",
               "CALLCUE_TOKEN": database.token}
    config, problems = load_config_or_defaults(machine_file=None, user_file=user_file, environ=environ,
                                               cli={"ui.language": "zh_CN", "bridge.port": "0"})
    assert len(problems) == 1 and str(user_file) in str(problems[0])
    kept = list(tmp_path.glob("config.toml.damaged-*"))
    assert len(kept) == 1 and b"garbage" in kept[0].read_bytes() and not user_file.exists()
    assert str(kept[0]) in str(problems[0])

    from desktop.app import CallCueApp
    from desktop.remote.credentials import CredentialStore

    paths = ConfigPaths(machine_file=tmp_path / "machine.toml", user_file=user_file,
                        data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    app = CallCueApp(qapp, config, paths, environ=environ, headless=True, credentials=CredentialStore(),
                     config_problems=problems)
    try:
        app.start(show=True)
        told = describe_error(UserError("config_invalid"), app.panel.texts).split(" (")[0]
        assert told in app.window.notice.text(), app.window.notice.text()
        assert "moved aside" in app.window.notice.text()  # and where to: the detail names the kept file
        pop(app, "after-bad-config", database.customers[21])
        wait_for_state(qtbot, app, "after-bad-config", PopState.LIVE)
    finally:
        app.close()


def test_callcue_starts_despite_a_corrupt_settings_file(tmp_path):
    """The real `callcue run --headless`: it used to exit with status 2 on a damaged settings file."""
    home = tmp_path / "home"
    (home / ".config" / "CallCue").mkdir(parents=True)
    user_file = home / ".config" / "CallCue" / "config.toml"
    user_file.write_text("this is [not toml", encoding="utf-8")
    port, token = free_port(), "chaos-bridge-token-0123456789"
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = child_env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
                    XDG_STATE_HOME=str(home / ".local/state"), XDG_CACHE_HOME=str(home / ".cache"),
                    XDG_RUNTIME_DIR=str(runtime), CALLCUE_BRIDGE_PORT=str(port), CALLCUE_BRIDGE_TOKEN=token)
    process = subprocess.Popen([sys.executable, "-m", "desktop.cli", "run", "--headless"], env=env, cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Up when its local bridge answers (it starts after the window); polling a child process.
        state = None
        for _ in range(300):
            if process.poll() is not None:
                break
            try:
                state = requests.get(f"http://127.0.0.1:{port}/v1/state", timeout=1,
                                     headers={"Authorization": f"Bearer {token}"})
                break
            except requests.ConnectionError:
                process_wait(process, 0.1)
        assert process.poll() is None, f"callcue exited with {process.returncode}: {process.stderr.read()}"
        assert state is not None and state.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        process.stderr.close()
    kept = list(user_file.parent.glob("config.toml.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text() == "this is [not toml"
    assert str(kept[0]) in stderr


def process_wait(process: subprocess.Popen, seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)
