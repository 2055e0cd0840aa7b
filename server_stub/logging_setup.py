"""Structured (JSON lines) logging to the platform log directory. Callers never log names or numbers."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import queue
from pathlib import Path

_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """server.log and its rotations are readable by the service account only (0600)."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.name != "nt" and os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


_listener: logging.handlers.QueueListener | None = None


def configure_logging(log_dir: Path | None, level: str = "INFO", *, access_log: bool = True) -> Path | None:
    """Request threads only enqueue records; formatting and file I/O happen on the listener's thread."""
    global _listener
    root = logging.getLogger("callcue")
    root.setLevel(level)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    if _listener is not None:
        _listener.stop()
    stream = logging.StreamHandler()
    stream.setFormatter(JsonFormatter())
    stream.setLevel(logging.WARNING)
    handlers: list[logging.Handler] = [stream]
    path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = log_dir / "server.log"
        handler = _PrivateRotatingFileHandler(path, maxBytes=10_000_000, backupCount=5, encoding="utf-8")
        handler.setFormatter(JsonFormatter())
        handlers.append(handler)
    records: queue.SimpleQueue = queue.SimpleQueue()
    root.addHandler(logging.handlers.QueueHandler(records))
    _listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    _listener.start()
    atexit.register(_listener.stop)
    logging.getLogger("callcue.server.access").disabled = not access_log
    return path
