"""docs/deployment.md covers what IT needs: every setting with its default, the silent installs."""

from __future__ import annotations

import re

from desktop.services.config import ENVIRONMENT, SCHEMA
from tests.installer.conftest import ROOT

DOC = ROOT / "docs" / "deployment.md"


def test_every_setting_is_in_the_key_table():
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+\.[a-z_]+)` \| ([^|]+) \|", DOC.read_text(
        encoding="utf-8"), re.MULTILINE)}
    missing = sorted(set(SCHEMA) - set(rows))
    assert not missing, f"docs/deployment.md lacks these settings: {missing}"
    assert not sorted(set(rows) - set(SCHEMA)), "documented keys that do not exist"
    for key, spec in SCHEMA.items():
        default = spec.default
        if default is None or default == ():
            continue
        shown = {True: "true", False: "false"}.get(default, str(default)) if not isinstance(default, tuple) else "[]"
        assert f"`{shown}`" in rows[key], f"{key}: default {shown!r} not in {rows[key]!r}"


def test_environment_variables_and_commands_are_documented():
    text = DOC.read_text(encoding="utf-8")
    for variable in ENVIRONMENT:
        assert variable in text, variable
    for command in ("installer/build.py deb", "apt-get install -y ./callcue_", "dpkg -i", "apt-get purge",
                    "uninstall.exe\" /S", "callcue --self-test", "/etc/callcue/config.toml",
                    "%ProgramData%\\CallCue\\config.toml"):
        assert command in text, command
