"""Where the server finds its shipped resources and keeps its data and logs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "callcue-server"
# An operator's rules file; here, not in the API module, so the CLI finds it without loading FastAPI.
RULES_ENV = "CALLCUE_SERVER_RULES"


def resources_dir() -> Path:
    """The top-level resources/ folder (beside the packages in a checkout, inside a frozen bundle)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'callcue-server.sqlite3'}"


def default_rules_path() -> Path:
    """The rules file shipped with the server: only the default. Upgrades replace it; an operator's own
    file lives elsewhere and is named by --rules / CALLCUE_SERVER_RULES."""
    return resources_dir() / "rules" / "rules.toml"


def configured_rules_path(explicit: Path | str | None = None) -> Path:
    """The rules file to use: `explicit`, else $CALLCUE_SERVER_RULES, else the shipped default."""
    if explicit:
        return Path(explicit)
    from_environment = os.environ.get(RULES_ENV, "").strip()
    return Path(from_environment) if from_environment else default_rules_path()
