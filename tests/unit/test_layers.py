"""The layer contracts of DESIGN.md §2 hold (import-linter, contracts in pyproject.toml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    """The console script installed next to this interpreter (the venv's), else one on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed: scripts/bootstrap.sh installs the test extra"
    return found


def test_import_linter_contracts_hold() -> None:
    result = subprocess.run(
        [_tool("lint-imports"), "--no-cache"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"import-linter contracts broken:\n{result.stdout}\n{result.stderr}"


def test_the_idle_panel_does_not_load_keyring_when_it_is_not_asked_for_a_token():
    """keyring (and its entry-point scan, ~3 MiB of the idle panel) loads at its first use only."""
    import os
    import subprocess
    import sys

    code = "import sys, desktop.app, desktop.cli; print('keyring' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.stdout.strip() == "False"
