"""Private files: the desktop log (directory 0700, files 0600, rotated files too) and helpers that keep
what CallCue writes under the user's home readable by the user only.

Logs hold no tokens, phone numbers or names (tests/chaos/test_security.py checks a real pop + outcome
flow at DEBUG); they are private all the same, as everything CallCue writes under the user's home.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

LOG_FILE_NAME = "callcue.log"
LEVEL_ENV = "CALLCUE_LOG_LEVEL"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def private_directory(path: Path) -> None:
    """Create `path` (and missing parents) as 0700; a directory we find with wider modes is narrowed."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for created in missing:  # mkdir applies `mode` to the leaf only (and the umask to all)
        if os.name != "nt":
            os.chmod(created, 0o700)
    if os.name != "nt" and path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Narrow an existing file we wrote to 0600 (files written by libraries that use the umask)."""
    if os.name != "nt" and path.exists() and path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler whose files (the current one and every new one after a rollover) are 0600."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.name != "nt" and os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)  # a file left by an older version with the umask's mode
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def level_from_environment(environ: dict[str, str] | os._Environ | None = None) -> int:
    """CALLCUE_LOG_LEVEL (DEBUG, INFO, WARNING, ERROR); INFO when unset or not one of those."""
    value = (environ if environ is not None else os.environ).get(LEVEL_ENV, "").strip().upper()
    return getattr(logging, value) if value in LEVELS else logging.INFO


def configure_file_logging(log_dir: Path, level: int = logging.INFO) -> logging.Handler:
    """Send the `callcue` loggers to LOG_DIR/callcue.log (5 MB x 4); returns the handler (to remove it)."""
    private_directory(log_dir)
    handler = PrivateRotatingFileHandler(log_dir / LOG_FILE_NAME, maxBytes=5_000_000, backupCount=3,
                                         encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("callcue")
    root.setLevel(level)
    root.addHandler(handler)
    return handler
