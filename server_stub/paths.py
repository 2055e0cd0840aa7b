"""Where the server finds its shipped resources and keeps its data and logs."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs

APP_NAME = "callcue-server"


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
