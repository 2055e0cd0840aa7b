"""`callcue --self-test` from the source checkout (the frozen bundle's runs are in test_bundle.py)."""

from __future__ import annotations

import sys

from tests.installer.conftest import ROOT, run
from tests.installer.test_bundle import app_env


def self_test(home, **env):
    command = [sys.executable, "-m", "desktop.cli", "--self-test"]
    return run(command, env={**app_env(home, **env), "PYTHONPATH": str(ROOT)}, timeout=60, check=False)


def test_self_test_from_source_passes(tmp_path):
    result = self_test(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(source in" in result.stdout.splitlines()[0]
    assert result.stdout.splitlines()[-1] == "self-test passed (7 checks)"


def test_self_test_names_a_bad_environment_variable(tmp_path):
    result = self_test(tmp_path, CALLCUE_BRIDGE_PORT="seventy")
    assert result.returncode == 1
    assert ("FAILED settings: the settings are invalid: environment variable CALLCUE_BRIDGE_PORT: bridge.port: "
            "must be a whole number, got 'seventy'") in result.stdout
    assert "ok     settings" not in result.stdout
