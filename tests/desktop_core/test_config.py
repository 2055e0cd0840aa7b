"""Configuration: precedence, schema errors that name file and key, defaults, saving user settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.domain.outcomes import OutcomeResult
from desktop.services.config import (
    ConfigError,
    config_as_dict,
    default_paths,
    load_config,
    load_config_or_defaults,
    read_config_file,
    save_user_settings,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path, machine: str | None = None, user: str | None = None, environ=None, cli=None):
    machine_file = write(tmp_path / "etc" / "config.toml", machine) if machine is not None else tmp_path / "none1"
    user_file = write(tmp_path / "home" / "config.toml", user) if user is not None else tmp_path / "none2"
    return load_config(machine_file=machine_file, user_file=user_file, environ=environ or {}, cli=cli or {})


def test_defaults_without_any_file(tmp_path):
    config = load(tmp_path)
    assert config.server.url is None and config.server.timeout_s == 2.0 and config.server.verify is True
    assert config.ui.language == "system" and config.ui.dock == "right" and config.ui.always_on_top
    assert config.sync.interval_s == 15 and config.cache.ttl_h == 24
    assert config.shortcuts.for_result(OutcomeResult.ACCEPTED) == "Ctrl+1"
    assert config.shortcuts.do_not_disturb == "Ctrl+6"
    assert set(config.sources.values()) == {"default"}


def test_precedence_machine_user_environment_command_line(tmp_path):
    machine = 'schema_version = 1\n[server]\nurl = "https://machine.example"\ntimeout_s = 3\n[ui]\ntheme = "dark"\n'
    user = '[server]\nurl = "https://user.example/"\n[ui]\nlanguage = "en"\n'
    config = load(tmp_path, machine, user,
                  environ={"CALLCUE_SERVER_URL": "https://env.example", "CALLCUE_AGENT_ID": "a-env"},
                  cli={"agent.id": "a-cli", "ui.dock": "left", "sync.interval_s": None})
    assert config.server.url == "https://env.example"
    assert config.server.timeout_s == 3.0 and config.ui.theme == "dark"  # machine value kept where not overridden
    assert config.ui.language == "en"
    assert config.agent.id == "a-cli" and config.ui.dock == "left" and config.sync.interval_s == 15
    assert config.sources["server.url"] == "env CALLCUE_SERVER_URL"
    assert config.sources["server.timeout_s"].endswith("etc/config.toml")
    assert config.sources["agent.id"] == "command line"
    without_env = load(tmp_path, machine, user)
    assert without_env.server.url == "https://user.example"  # trailing slash dropped


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[ui]\ncolour = 'red'\n", "ui.colour", "unknown setting (known in [ui]: language, theme, dock"),
        ("[gui]\ntheme = 'dark'\n", "gui", "unknown section"),
        ("[ui]\nalways_on_top = 'yes'\n", "ui.always_on_top", "must be true or false"),
        ("[sync]\ninterval_s = 1\n", "sync.interval_s", "must be at least 5"),
        ("[sync]\ninterval_s = 15.5\n", "sync.interval_s", "must be a whole number"),
        ("[ui]\nlanguage = 'fr'\n", "ui.language", "must be one of system, zh_CN, en"),
        ("[server]\nurl = 'ftp://x'\n", "server.url", "must be an http:// or https:// URL"),
        ("[server]\nca_bundle = 'missing-ca.pem'\n", "server.ca_bundle", "does not exist"),
        ("[bridge]\nallowed_origins = 'http://x'\n", "bridge.allowed_origins", "must be a list of strings"),
        ("ui = 3\n", "ui", "must be a table"),
        ("schema_version = 2\n", "schema_version", "for a newer CallCue"),
        ("[shortcuts]\ndeclined = 'ctrl+1'\n", "shortcuts.declined", "already the shortcut for shortcuts.accepted"),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path, text, key, problem):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, machine=text)
    error = caught.value
    assert error.key == key and error.source.endswith("etc/config.toml")
    assert problem in str(error) and str(tmp_path) in str(error)
    assert error.user_error.code == "config_invalid"


def test_invalid_toml_gives_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"home/config.toml: is not valid TOML: .*line 3"):
        load(tmp_path, user='[server]\nurl = "https://ok"\nthis is not toml\n')


def test_unreadable_and_non_utf8_files(tmp_path):
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        read_config_file(tmp_path / "dir.toml")
    (tmp_path / "latin1.toml").write_bytes("[ui]\ntheme = 'd\xe9'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_config_file(tmp_path / "latin1.toml")


# ~1 KB of nesting exhausted tomllib's stack: a RecursionError, and the panel did not start.
DAMAGED = {
    "nested arrays": "[server]\nurl = " + "[" * 500 + "]" * 500 + "\n",
    "nested inline tables": "[server]\nurl = " + "{a = " * 400 + "1" + "}" * 400 + "\n",
    "nested in a list": "[bridge]\nallowed_origins = [" + "{a = [" * 200 + "]}" * 200 + "]\n",
    "shallow enough to parse, still absurd": "[ui]\nlanguage = " + "[" * 40 + "]" * 40 + "\n",
    "deep table headers": "[" + ".".join(f"t{n}" for n in range(60)) + "]\nx = 1\n",
    "an integer of 5,000 digits": "[ui]\nwrapup_reminder_s = " + "9" * 5000 + "\n",
}


@pytest.mark.parametrize("text", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_file_nested_too_deeply_is_damaged_and_set_aside(tmp_path, text):
    user_file = write(tmp_path / "home" / "config.toml", text)
    with pytest.raises(ConfigError) as caught:
        read_config_file(user_file)
    assert caught.value.key is None and str(user_file) in str(caught.value)
    # The panel's start sets it aside and runs with the defaults (docs/configuration.md).
    config, problems = load_config_or_defaults(machine_file=None, user_file=user_file, environ={}, cli={})
    assert config.ui.language == "system" and len(problems) == 1
    kept = list(user_file.parent.glob("config.toml.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == text and not user_file.exists()
    assert str(kept[0]) in str(problems[0])


def test_whether_a_file_is_damaged_does_not_depend_on_the_callers_stack(tmp_path):
    """The panel reads a file twice at start (damage check, then load) from different stack depths: a file
    the first read accepted must not blow up the second."""
    for depth in range(1, 600, 7):
        user_file = write(tmp_path / f"d{depth}" / "config.toml", "[server]\nurl = " + "[" * depth + "]" * depth)

        def read_from(levels: int, path: Path = user_file):
            return read_config_file(path) if levels == 0 else read_from(levels - 1, path)

        outcomes = set()
        for levels in (0, 150, 300):
            try:
                read_from(levels)
                outcomes.add("read")
            except ConfigError:
                outcomes.add("damaged")
        assert len(outcomes) == 1, (depth, outcomes)


def test_deep_nesting_from_the_environment_or_command_line_is_only_text(tmp_path):
    nested = "[" * 5000 + "]" * 5000
    with pytest.raises(ConfigError, match=r"CALLCUE_SERVER_URL: server\.url"):
        load(tmp_path, environ={"CALLCUE_SERVER_URL": nested})
    with pytest.raises(ConfigError, match=r"command line: bridge\.allowed_origins"):
        load(tmp_path, cli={"bridge.allowed_origins": nested})


def test_environment_values_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"environment variable CALLCUE_SERVER_URL: server\.url: must be an http"):
        load(tmp_path, environ={"CALLCUE_SERVER_URL": "analytics.local"})
    assert load(tmp_path, environ={"CALLCUE_AGENT_ID": "  "}).agent.id is None  # blank means unset


def test_command_line_values_are_converted_and_checked(tmp_path):
    config = load(tmp_path, cli={"ui.always_on_top": "false", "sync.interval_s": "30", "server.timeout_s": "1.5",
                                 "bridge.allowed_origins": "http://a, http://b"})
    assert config.ui.always_on_top is False and config.sync.interval_s == 30 and config.server.timeout_s == 1.5
    assert config.bridge.allowed_origins == ("http://a", "http://b")
    with pytest.raises(ConfigError, match=r"command line: server\.token: unknown setting"):
        load(tmp_path, cli={"server.token": "x"})
    with pytest.raises(ConfigError, match=r"command line: sync\.interval_s: must be a whole number"):
        load(tmp_path, cli={"sync.interval_s": "often"})


def test_relative_paths_are_relative_to_their_file(tmp_path):
    ca = write(tmp_path / "etc" / "company-ca.pem", "-----BEGIN CERTIFICATE-----\n")
    config = load(tmp_path, machine="[server]\nca_bundle = 'company-ca.pem'\n[store]\npath = '/var/tmp/cc.sqlite3'\n")
    assert config.server.ca_bundle == ca and config.server.verify == str(ca)
    assert config.store.path == Path("/var/tmp/cc.sqlite3")
    assert config_as_dict(config)["server.ca_bundle"] == str(ca)


def test_default_paths_per_platform():
    linux = default_paths("linux", {})
    assert linux.machine_file == Path("/etc/callcue/config.toml")
    assert linux.user_file.name == "config.toml" and linux.store_file.name == "callcue.sqlite3"
    windows = default_paths("win32", {"ProgramData": r"D:\ProgramData"})
    assert str(windows.machine_file).replace("\\", "/").endswith("D:/ProgramData/CallCue/config.toml")


def test_save_user_settings_round_trips_and_keeps_other_keys(tmp_path):
    user_file = write(tmp_path / "home" / "config.toml", "[ui]\ntheme = 'dark'\n")
    save_user_settings(user_file, {"server.url": "https://analytics.example/", "agent.id": "agent-007"})
    save_user_settings(user_file, {"ui.language": "zh_CN"})
    text = user_file.read_text(encoding="utf-8")
    assert "schema_version = 1" in text and "token" not in text
    config = load_config(machine_file=None, user_file=user_file, environ={}, cli={})
    assert config.server.url == "https://analytics.example" and config.agent.id == "agent-007"
    assert config.ui.theme == "dark" and config.ui.language == "zh_CN"
    save_user_settings(user_file, {"agent.id": None})
    assert load_config(machine_file=None, user_file=user_file, environ={}, cli={}).agent.id is None
    with pytest.raises(ConfigError, match="unknown setting"):
        save_user_settings(user_file, {"server.token": "secret"})
    with pytest.raises(ConfigError, match="must be one of"):
        save_user_settings(user_file, {"ui.dock": "top"})
    assert [p.name for p in user_file.parent.iterdir()] == ["config.toml"]  # no temp files left


def test_save_quotes_strings_safely(tmp_path):
    user_file = tmp_path / "config.toml"
    save_user_settings(user_file, {"agent.id": 'we"ird\\id 坐席', "bridge.allowed_origins": ["http://a"]})
    config = load_config(machine_file=None, user_file=user_file, environ={}, cli={})
    assert config.agent.id == 'we"ird\\id 坐席' and config.bridge.allowed_origins == ("http://a",)


# --- connectors (docs/connectors.md) -------------------------------------------------------------------


def test_connectors_are_off_by_default_and_set_by_file_or_command_line(tmp_path):
    config = load(tmp_path)
    assert config.connectors.baresip is None and config.connectors.ami is None
    machine = "[connectors]\nami = 'pbx.example.com:5038'\nami_username = 'callcue'\nami_device = 'PJSIP/1001'\n"
    config = load(tmp_path, machine, environ={"CALLCUE_AMI_SECRET": "from-env"},
                  cli={"connectors.baresip": "127.0.0.1:4444"})
    assert config.connectors.baresip == "127.0.0.1:4444" and config.sources["connectors.baresip"] == "command line"
    assert config.connectors.ami == "pbx.example.com:5038" and config.connectors.ami_device == "PJSIP/1001"
    assert config.connectors.ami_secret == "from-env" and config.sources["connectors.ami_secret"] == "env CALLCUE_AMI_SECRET"
    assert config_as_dict(config)["connectors.ami_secret"] == "<set>"  # diagnostics never show the secret
    assert "from-env" not in repr(config)


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("connectors.baresip", "192.168.1.20:4444", "must be on this computer"),
        ("connectors.baresip", "localhost", "the port is missing"),
        ("connectors.baresip", "127.0.0.1:99999", "from 1 to 65535"),
        ("connectors.ami", "0.0.0.0:5038", "wildcard address"),
        ("connectors.ami", "pbx example:5038", "not a host name"),
        ("connectors.ami_device", "1001", "TECH/NAME"),
        ("connectors.ami_username", "a\nb", "one line"),
    ],
)
def test_connector_settings_are_checked(tmp_path, key, value, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        load(tmp_path, cli={key: value})
    assert caught.value.key == key


def test_ami_needs_its_credentials(tmp_path):
    with pytest.raises(ConfigError, match=r"needs connectors\.ami_username and connectors\.ami_secret"):
        load(tmp_path, cli={"connectors.ami": "pbx.example.com"})
    config = load(tmp_path, cli={"connectors.ami": "pbx.example.com", "connectors.ami_username": "u",
                                 "connectors.ami_secret": "s"})
    assert config.connectors.ami == "pbx.example.com"


def test_an_ami_secret_in_a_file_everyone_can_read_is_refused(tmp_path):
    text = "[connectors]\nami = '10.0.0.5:5038'\nami_username = 'callcue'\nami_secret = 's3cret'\n"
    machine_file = write(tmp_path / "etc" / "config.toml", text)
    machine_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 640") as caught:
        load_config(machine_file=machine_file, user_file=None, environ={}, cli={})
    assert caught.value.key == "connectors.ami_secret" and "s3cret" not in str(caught.value)
    machine_file.chmod(0o640)
    config = load_config(machine_file=machine_file, user_file=None, environ={}, cli={})
    assert config.connectors.ami_secret == "s3cret"
