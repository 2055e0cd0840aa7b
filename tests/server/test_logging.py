"""server.log: shared by worker processes, rotated by their parent, never losing a line."""

from __future__ import annotations

import json
import logging

import pytest

from server_stub.logging_setup import LogRotator, configure_logging, flush_logs


@pytest.fixture
def restore_logging():
    yield
    configure_logging(None)  # back to stderr only; stops the listener thread writing to tmp_path


def test_a_worker_keeps_logging_into_the_file_its_parent_rotated(tmp_path, restore_logging):
    path = configure_logging(tmp_path, "INFO", shared=True)
    log = logging.getLogger("callcue.server.test")
    rotator = LogRotator(path, max_bytes=2_000, backups=2)
    assert not rotator.rotate_if_due()  # no file yet or a small one: nothing to do
    written = 0
    for round_ in range(4):
        for _ in range(30):
            log.info("line", extra={"event": "test", "n": written})
            written += 1
        flush_logs()
        assert rotator.rotate_if_due(), round_
    lines = [json.loads(line) for name in ("server.log", "server.log.1", "server.log.2")
             if (tmp_path / name).exists() for line in (tmp_path / name).read_text("utf-8").splitlines()]
    # Two backups kept: the newest 60 lines, each once; the oldest rotation was dropped as configured.
    assert sorted(line["n"] for line in lines) == list(range(written - 60, written))
    assert not (tmp_path / "server.log.3").exists()
    assert (tmp_path / "server.log.1").stat().st_mode & 0o777 == 0o600


def test_the_rotation_thread_stops(tmp_path):
    rotator = LogRotator(tmp_path / "server.log", every_seconds=0.01).start()
    rotator.stop()
    assert not rotator._thread.is_alive()
