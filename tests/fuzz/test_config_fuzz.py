"""Fuzzing the desktop configuration (desktop/services/config.py): TOML files, environment variables and
command-line overrides, generated from the schema's own keys (so most documents get past the first check)
plus unknown sections and keys, wrong types, odd strings, broken TOML and arbitrary bytes.

Properties: load_config gives a Config or a ConfigError; the error names its source (the file, the
variable, or "command line") and the key when there is one; a secret (bridge.token,
connectors.ami_secret) is never repeated in the message.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.services.config import (
    ENVIRONMENT,
    SCHEMA,
    SECRET_KEYS,
    SECTIONS,
    Config,
    ConfigError,
    load_config,
    load_config_or_defaults,
)
from tests.fuzz._fuzz import ODD_TEXT, fuzz_settings

MARK = "Zq9Secret"  # every generated secret carries it, so "the secret is in the message" is unambiguous
SCALARS = st.one_of(st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
                    st.floats(allow_nan=True, allow_infinity=True), ODD_TEXT,
                    st.sampled_from(["http://127.0.0.1:8765", "https://a.example/", "ftp://x", "zh_CN", "dark",
                                     "right", "Ctrl+1", "Ctrl+2", "127.0.0.1:4444", "pbx:5038", "PJSIP/1001",
                                     "http://127.0.0.1:8080", "*", "null", "/etc/hostname", "~/nope"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=5), SCALARS, max_size=2))
SECRETS = st.one_of(st.text(max_size=30).map(lambda t: MARK + t), st.integers(min_value=10**9).map(
    lambda n: int(f"{n}{7919}")), st.lists(st.just(MARK + "-in-a-list"), max_size=2))


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # a TOML basic string (lone surrogates make invalid TOML: also a case)


@st.composite
def documents(draw) -> tuple[str, list[str]]:
    """A TOML settings file and the secrets in it."""
    lines, secrets = [], []
    version = draw(st.one_of(st.just(1), st.just(None), SCALARS))
    if version is not None:
        lines.append(f"schema_version = {toml_value(version)}")
    sections = draw(st.lists(st.one_of(st.sampled_from(SECTIONS), st.text(max_size=6)), max_size=4, unique=True))
    for section in sections:
        lines.append(f"[{json.dumps(section)}]")
        known = [k.split(".", 1)[1] for k in SCHEMA if k.startswith(section + ".")]
        names = draw(st.lists(st.one_of(st.sampled_from(known), st.text(max_size=6)) if known else st.text(max_size=6),
                              max_size=4, unique=True))
        for name in names:
            key = f"{section}.{name}"
            value = draw(SECRETS if key in SECRET_KEYS else VALUES)
            if key in SECRET_KEYS:
                secrets.append(str(value) if not isinstance(value, list) else MARK)
            lines.append(f"{json.dumps(name)} = {toml_value(value)}")
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:  # now and then broken TOML: cut somewhere
        text = text[: draw(st.integers(0, len(text)))]
    return text, secrets


def _check_error(error: ConfigError, source: str, secrets: list[str]) -> None:
    message = str(error)
    assert message.startswith(source) and error.problem.strip(), message[:300]
    if error.key is not None:
        assert error.key in message
    for secret in secrets:
        assert str(secret) not in message, message[:300]
    assert MARK not in message, message[:300]


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="callcue-config-fuzz-") as directory:
        yield Path(directory)


@fuzz_settings()
@given(document=documents())
def test_any_settings_file_loads_or_names_file_and_key(workdir, document):
    text, secrets = document
    path = workdir / "config.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    path.chmod(0o600)  # a secret in a file others can read is refused on purpose; that is tested elsewhere
    try:
        config = load_config(machine_file=None, user_file=path, environ={}, cli={})
    except ConfigError as error:
        _check_error(error, str(path), secrets)
        return
    assert isinstance(config, Config)


@fuzz_settings(0.5)
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_settings_file_load_or_fail_clearly(workdir, data):
    path = workdir / "bytes.toml"
    path.write_bytes(data)
    try:
        load_config(machine_file=path, user_file=None, environ={}, cli={})
    except ConfigError as error:
        _check_error(error, str(path), [])


TEXT_VALUES = st.one_of(ODD_TEXT, st.sampled_from(["0", "1", "65535", "65536", "true", "off", "2.5", "abc",
                                                    "http://127.0.0.1:1", "x" * 300, "a,b", " ", "zh_CN"]))


@fuzz_settings()
@given(environ=st.dictionaries(st.sampled_from(sorted(ENVIRONMENT)), TEXT_VALUES, max_size=4),
       secret=st.text(min_size=1, max_size=20).map(lambda t: MARK + t))
def test_any_environment_loads_or_names_the_variable(environ, secret):
    for variable, key in ENVIRONMENT.items():
        if key in SECRET_KEYS and variable in environ:
            environ[variable] = secret
    try:
        load_config(machine_file=None, user_file=None, environ=environ, cli={})
    except ConfigError as error:
        assert error.source.startswith("environment variable CALLCUE_") or error.source == "default", str(error)
        assert error.source == "default" or error.source.removeprefix("environment variable ") in environ
        _check_error(error, error.source, [secret])


@fuzz_settings()
@given(cli=st.dictionaries(st.one_of(st.sampled_from(sorted(SCHEMA)), st.text(max_size=8)),
                           st.one_of(st.none(), TEXT_VALUES), max_size=4),
       secret=st.text(min_size=1, max_size=20).map(lambda t: MARK + t))
def test_any_command_line_override_loads_or_names_the_key(cli, secret):
    for key in SECRET_KEYS & set(cli):
        cli[key] = secret
    try:
        load_config(machine_file=None, user_file=None, environ={}, cli=cli)
    except ConfigError as error:
        assert error.source == "command line", str(error)
        _check_error(error, "command line", [secret])


@st.composite
def nested(draw) -> str:
    """A TOML value nested 1-3,000 levels deep: arrays, inline tables, or both in turn."""
    depth = draw(st.integers(1, 3000))
    kinds = draw(st.sampled_from(["array", "table", "mixed"]))
    opening, closing = [], []
    for level in range(depth):
        table = kinds == "table" or (kinds == "mixed" and level % 2 == 1)
        opening.append("{k = " if table else "[")
        closing.append("}" if table else "]")
    leaf = draw(st.sampled_from(["", "1", '"x"']))
    if leaf == "" and opening and opening[-1] == "{k = ":
        leaf = "1"
    return "".join(opening) + leaf + "".join(reversed(closing))


@fuzz_settings(0.3)
@given(value=nested(), key=st.sampled_from(sorted(SCHEMA)))
def test_nesting_at_any_depth_loads_fails_clearly_or_is_set_aside(value, key):
    section, name = key.split(".", 1)
    with tempfile.TemporaryDirectory(prefix="callcue-config-nest-") as directory:
        path = Path(directory) / "config.toml"
        path.write_text(f"[{section}]\n{name} = {value}\n", encoding="utf-8")
        path.chmod(0o600)
        try:
            load_config(machine_file=None, user_file=path, environ={}, cli={})
        except ConfigError as error:
            _check_error(error, str(path), [])
        try:
            _, problems = load_config_or_defaults(machine_file=None, user_file=path, environ={}, cli={})
        except ConfigError as error:  # readable, one wrong value: a setting to fix, named
            assert error.key == key and path.exists(), str(error)
            return
        if problems:  # damaged: moved aside, and the panel starts without it
            assert not path.exists() and len(list(Path(directory).glob("config.toml.damaged-*"))) == 1
