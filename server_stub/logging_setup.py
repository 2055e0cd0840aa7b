"""Structured (JSON lines) logging to the platform log directory. Callers never log names or numbers."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import queue
import threading
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


class _PrivateWatchedFileHandler(logging.handlers.WatchedFileHandler):
    """server.log written by one of several worker processes: appends, and reopens the file when the
    parent has rotated it (see LogRotator)."""

    _open = _PrivateRotatingFileHandler._open


MAX_LOG_BYTES, LOG_BACKUPS = 10_000_000, 5


class LogRotator:
    """Rotates server.log for worker processes that share it: they only append (and reopen a rotated file),
    so one process alone renames it, as RotatingFileHandler would: server.log -> .1 -> … -> .5."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_LOG_BYTES, backups: int = LOG_BACKUPS,
                 every_seconds: float = 10.0) -> None:
        self.path, self.max_bytes, self.backups, self.every_seconds = path, max_bytes, backups, every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-rotation", daemon=True)

    def start(self) -> LogRotator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def rotate_if_due(self) -> bool:
        try:
            if self.path.stat().st_size < self.max_bytes:
                return False
        except FileNotFoundError:
            return False
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                self.rotate_if_due()
            except OSError as exc:  # a full or read-only disk: the workers' own writes report it too
                logging.getLogger("callcue.server").warning("log rotation failed: %s", exc)


_listener: logging.handlers.QueueListener | None = None


def _stop_listener() -> None:
    """Write what is queued and stop the listener thread (once: at exit or when logging is reconfigured)."""
    global _listener
    listener, _listener = _listener, None
    if listener is not None:
        listener.stop()
        for handler in listener.handlers:
            handler.close()


atexit.register(_stop_listener)


def configure_logging(log_dir: Path | None, level: str = "INFO", *, access_log: bool = True,
                      shared: bool = False) -> Path | None:
    """Request threads only enqueue records; formatting and file I/O happen on the listener's thread.
    `shared`: one of several worker processes writing server.log; the parent rotates it (LogRotator)."""
    global _listener
    root = logging.getLogger("callcue")
    root.setLevel(level)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    _stop_listener()
    stream = logging.StreamHandler()
    stream.setFormatter(JsonFormatter())
    stream.setLevel(logging.WARNING)
    handlers: list[logging.Handler] = [stream]
    path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = log_dir / "server.log"
        handler = (_PrivateWatchedFileHandler(path, encoding="utf-8") if shared else
                   _PrivateRotatingFileHandler(path, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"))
        handler.setFormatter(JsonFormatter())
        handlers.append(handler)
    records: queue.SimpleQueue = queue.SimpleQueue()
    root.addHandler(logging.handlers.QueueHandler(records))
    _listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    _listener.start()
    logging.getLogger("callcue.server.access").disabled = not access_log
    return path


def flush_logs() -> None:
    """Write every record queued so far (the listener drains its queue when it stops)."""
    if _listener is not None:
        _listener.stop()
        _listener.start()
