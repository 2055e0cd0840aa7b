"""The .deb on this machine: install, self-test, conffile and user data across an upgrade from N-1 to N
with unsynced outcomes (which the upgraded panel migrates and then delivers to a real server on loopback),
remove, purge. The package is purged at the end whatever happens (the machine is left clean).

N-1 and N are the same bundle packaged with two versions (N-1 = <version>~test1, which dpkg sorts before
<version>): what is under test is the package's upgrade behaviour (conffile, maintainer scripts, files)
and the panel's store migration, for which the N-1 store is made with the migration chain up to the
previous head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import MetaData, create_engine, inspect, select, text

from desktop import __version__
from tests.installer.conftest import (
    CACHE,
    PACKAGE,
    ROOT,
    build,
    dpkg_ready,
    installed_version,
    package_lock,
    purge,
    run,
)
from tests.installer.test_bundle import app_env

OPT = Path("/opt/callcue")
CONFFILE = Path("/etc/callcue/config.toml")
AUTOSTART = Path("/etc/xdg/autostart/callcue.desktop")
PREV_VERSION = f"{__version__}~test1"


@pytest.fixture(scope="module")
def debs(bundle):
    """(N-1, N) .deb files, fast compression; rebuilt only when the bundle or the packaging changed."""
    dpkg_ready()
    digest = hashlib.sha256((bundle / ".callcue-build-hash").read_bytes())
    for path in sorted([ROOT / "installer/build.py", ROOT / "installer/config.toml",
                        *(ROOT / "installer/linux").iterdir()]):
        digest.update(path.name.encode() + path.read_bytes())
    out = CACHE / "debs"
    paths = (out / f"callcue_{PREV_VERSION}_amd64.deb", out / f"callcue_{__version__}_amd64.deb")
    stamp = out / "stamp"
    with package_lock():
        if not (stamp.is_file() and stamp.read_text() == digest.hexdigest() and all(p.is_file() for p in paths)):
            for version in (PREV_VERSION, __version__):
                build("deb", "--fast", "--version", version, "--bundle", str(bundle), out=out, timeout=600)
            stamp.write_text(digest.hexdigest())
        try:
            yield paths
        finally:
            purge()


def dpkg_install(deb: Path, **env: str) -> None:
    run(["dpkg", "-i", str(deb)], timeout=300, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", **env})


def deb_field(deb: Path, field: str) -> str:
    return run(["dpkg-deb", "-f", str(deb), field]).stdout.strip()


def test_package_metadata_and_depends_cover_every_system_library(debs, bundle):
    deb = debs[1]
    assert deb_field(deb, "Package") == "callcue"
    assert deb_field(deb, "Version") == __version__
    assert deb_field(deb, "Architecture") == "amd64"
    assert run(["dpkg-deb", "-I", str(deb), "conffiles"]).stdout.split() == [str(CONFFILE)]
    assert deb_field(deb, "Recommends") == "fonts-noto-cjk"
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    for path in ("./opt/callcue/callcue", "./usr/bin/callcue -> /opt/callcue/callcue",
                 "./usr/share/applications/callcue.desktop", "./usr/share/icons/hicolor/scalable/apps/callcue.svg",
                 "./etc/callcue/config.toml", "./usr/share/callcue/callcue-autostart.desktop"):
        assert path in listing, path
    depends = {part.split()[0] for part in deb_field(deb, "Depends").split(", ")}
    # Every shared library an ELF file of the bundle needs is either in the bundle or provided by a package
    # the .deb depends on (found with dpkg -S on this machine).
    inside = {p.name for p in bundle.rglob("*")}
    needed: set[str] = set()
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink() and (".so" in path.name or path.name == "callcue"):
            out = run(["objdump", "-p", str(path)], check=False).stdout
            needed.update(line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED"))
    missing = []
    for soname in sorted(needed - inside):
        owner = run(["dpkg", "-S", f"*/{soname}"], check=False).stdout.split(":")[0].strip()
        if owner.split(":")[0] not in depends:
            missing.append(f"{soname} ({owner or 'no package'})")
    assert not missing, f"libraries not covered by Depends: {missing}"


def outcome_rows(path: Path) -> dict[str, str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT outcome_id, status FROM outbox")).all())
    finally:
        engine.dispose()


def revision(path: Path) -> str | None:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def make_previous_store(path: Path, scratch: Path, server, count: int) -> tuple[list[str], str, str | None]:
    """A store at the previous head of the migration chain holding `count` pending outcomes for a real pop.

    The rows are written by today's LocalStore into a scratch store at head, then copied (the columns the
    older schema has) into a store that Alembic migrated only up to the previous head. Returns the outcome
    ids, the head and the previous revision (None when the chain has a single migration: then the N-1
    store is at head and only the data is carried over).
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    from desktop.domain.outcomes import OutcomeRecord, OutcomeResult
    from desktop.storage import open_store
    from desktop.storage.engine import alembic_config, create_private_file, make_engine, writer

    pop = requests.get(f"{server.base_url}/v1/pop", params={"ani": server.ani},
                       headers={"Authorization": f"Bearer {server.token}"}, timeout=10).json()
    offer = next(o for o in pop["offers"] if not o["suppressed_by"])
    ids = [str(uuid.uuid4()) for _ in range(count)]
    now = dt.datetime.now(dt.UTC)
    with open_store(scratch) as store:
        for n, outcome_id in enumerate(ids):
            store.record_outcome(OutcomeRecord(
                outcome_id=outcome_id, decision_id=pop["decision_id"], customer_id=pop["customer"]["customer_id"],
                result=(OutcomeResult.ACCEPTED, OutcomeResult.DECLINED)[n % 2],
                recorded_at=now - dt.timedelta(minutes=count - n), offer_id=offer["offer_id"],
                campaign_id=pop["contact"]["campaign"]["campaign_id"], wave=pop["contact"]["wave"]["seq"],
                agent_id="agent-007", call_id=f"upgrade-call-{n}"))
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    assert previous is None or isinstance(previous, str), "the migration history must be linear"
    create_private_file(path)
    engine = make_engine(path)
    source = create_engine(f"sqlite:///{scratch}")
    try:
        with writer(engine).begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, previous or head)
        old = MetaData()
        old.reflect(engine)
        with source.connect() as src, writer(engine).begin() as dst:
            for table in old.sorted_tables:
                if table.name == "alembic_version" or not inspect(src).has_table(table.name):
                    continue
                rows = [dict(row._mapping) for row in src.execute(text(f"SELECT * FROM {table.name}"))]
                columns = [column.name for column in table.c if rows and column.name in rows[0]]
                if rows:  # raw values (times are stored as text): copied as they are
                    dst.execute(text(f"INSERT INTO {table.name} ({', '.join(columns)}) "
                                     f"VALUES ({', '.join(':' + c for c in columns)})"),
                                [{c: row[c] for c in columns} for row in rows])
    finally:
        source.dispose()
        engine.dispose()
    assert set(outcome_rows(path)) == set(ids)
    return ids, head, previous


@dataclass
class Server:
    base_url: str
    token: str
    ani: str
    database_url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from server_stub.live import live_server
    from tests.gui.conftest import PRICE_SENSITIVE, _populate

    directory = tmp_path_factory.mktemp("server")
    url = f"sqlite:///{directory / 'server.sqlite3'}"
    token = _populate(url)
    with live_server(url, directory / "logs", token_cache_seconds=0) as running:
        yield Server(running.base_url, token, PRICE_SENSITIVE[1], url)


def server_outcome_ids(database_url: str) -> set[str]:
    from server_stub.db.models import Outcome

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(Outcome.outcome_id)).scalars())
    finally:
        engine.dispose()


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen):
    """Poll a condition on the installed panel's work with a deadline; between tries wait on the panel
    process itself, so its exit is noticed at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        try:
            process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"the panel exited ({process.returncode}) before {what}")


def test_install_upgrade_with_unsynced_outcomes_and_remove(debs, server, tmp_path):
    previous_deb, current_deb = debs
    home = tmp_path / "agent"
    home.mkdir()
    env = app_env(home)
    purge()
    try:
        # --- N-1, with autostart for every user.
        dpkg_install(previous_deb, CALLCUE_AUTOSTART="1")
        assert installed_version() == PREV_VERSION
        assert Path("/usr/bin/callcue").resolve() == OPT / "callcue"
        assert AUTOSTART.is_symlink() and AUTOSTART.resolve() == Path("/usr/share/callcue/callcue-autostart.desktop")
        assert Path("/usr/share/applications/callcue.desktop").is_file()
        result = run(["/usr/bin/callcue", "--self-test"], env=env, timeout=60)
        assert result.stdout.splitlines()[-1] == "self-test passed (7 checks)", result.stdout

        # --- IT edits the conffile: the machine layer points every agent at the analytics server.
        original = CONFFILE.read_text(encoding="utf-8")
        edited = original.replace('# url = "https://analytics.example.com"', f'url = "{server.base_url}"')
        assert edited != original
        CONFFILE.write_text(edited, encoding="utf-8")

        # --- The agent's store, written by N-1's schema, with outcomes not yet delivered.
        store = home / ".local/share/CallCue/callcue.sqlite3"
        ids, head, previous = make_previous_store(store, tmp_path / "scratch.sqlite3", server, count=5)
        assert revision(store) == (previous or head)
        assert set(outcome_rows(store).values()) == {"pending"}
        assert not set(ids) & server_outcome_ids(server.database_url)

        # --- Upgrade to N: the admin's edit and the agent's data stay.
        dpkg_install(current_deb)
        assert installed_version() == __version__
        assert CONFFILE.read_text(encoding="utf-8") == edited
        assert not list(CONFFILE.parent.glob("config.toml.dpkg-*")), "dpkg should not have needed to ask"
        assert AUTOSTART.is_symlink(), "the upgrade dropped the autostart link"
        assert set(outcome_rows(store)) == set(ids)

        # --- The upgraded panel opens the store, migrates it and delivers the outcomes (server from the
        # machine file, the agent's token as automation passes it).
        panel_env = {**env, "QT_QPA_PLATFORM": "offscreen", "CALLCUE_TOKEN": server.token,
                     "CALLCUE_AGENT_ID": "agent-007", "CALLCUE_BRIDGE_PORT": "0"}
        process = subprocess.Popen(["/usr/bin/callcue", "--headless"], env=panel_env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: set(ids) <= server_outcome_ids(server.database_url), 90,
                     "the upgraded panel to deliver the outcomes", process)
            wait_for(lambda: set(outcome_rows(store).values()) == {"delivered"}, 30,
                     "the local store to mark them delivered", process)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                output, _ = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate(timeout=10)
        assert process.returncode == 0, output
        assert revision(store) == head
        assert set(outcome_rows(store)) == set(ids), "an outcome was lost in the upgrade"

        # --- Remove: program files go, the conffile stays until purge, the agent's data stays.
        run(["dpkg", "-r", PACKAGE], timeout=300)
        assert not OPT.exists() and not Path("/usr/bin/callcue").exists()
        assert not AUTOSTART.exists(), "the autostart link outlived the package"
        assert CONFFILE.read_text(encoding="utf-8") == edited
        run(["dpkg", "--purge", PACKAGE], timeout=300)
        assert not CONFFILE.exists()
        assert store.is_file() and set(outcome_rows(store)) == set(ids)
    finally:
        purge()
    assert installed_version() is None


def test_autostart_is_optional(debs, tmp_path):
    purge()
    try:
        dpkg_install(debs[1])
        assert not AUTOSTART.exists(), "autostart must be off unless IT asks for it"
        result = run(["/usr/bin/callcue", "--version"], env=app_env(tmp_path))
        assert result.stdout.strip() == f"callcue {__version__}"
        dpkg_install(debs[1], CALLCUE_AUTOSTART="1")  # turned on later, by reinstalling
        assert AUTOSTART.is_symlink()
        dpkg_install(debs[1], CALLCUE_AUTOSTART="0")  # and off again
        assert not AUTOSTART.exists() and not AUTOSTART.is_symlink()
    finally:
        purge()
    assert installed_version() is None


def test_a_machine_file_preset_before_the_install_is_kept_with_force_confold(debs, tmp_path):
    purge()
    preset = 'schema_version = 1\n[server]\nurl = "https://preset.example.com"\n'
    CONFFILE.parent.mkdir(parents=True, exist_ok=True)
    CONFFILE.write_text(preset, encoding="utf-8")
    try:
        run(["dpkg", "-i", "--force-confold", str(debs[1])], timeout=300,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        assert CONFFILE.read_text(encoding="utf-8") == preset
        assert CONFFILE.with_name("config.toml.dpkg-dist").is_file()
        result = run(["/usr/bin/callcue", "--self-test"], env=app_env(tmp_path), timeout=60)
        assert "server https://preset.example.com" in result.stdout, result.stdout
    finally:
        purge()
        if CONFFILE.parent.exists():  # dpkg leaves the file it did not install (.dpkg-dist goes on purge)
            for leftover in CONFFILE.parent.iterdir():
                leftover.unlink()
            CONFFILE.parent.rmdir()
    assert installed_version() is None
