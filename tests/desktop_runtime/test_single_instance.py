"""SingleInstance: a second process forwards its command line to the primary and gets its answer."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import textwrap
from collections.abc import Callable, Iterator

import pytest
import shiboken6
from PySide6.QtCore import QDir

from desktop.calls.cli_source import pop_event_from_argv
from desktop.calls.events import InvalidCallEvent
from desktop.calls.router import CallRouter
from desktop.runtime.single_instance import (
    MAX_MESSAGE_BYTES,
    CommandRejected,
    FrameError,
    InstanceNotResponding,
    SingleInstance,
    decode_frame,
    encode_frame,
    user_scoped_name,
)

WAIT_MS = 15_000  # a child Python process importing PySide6 takes a moment

# A second `callcue` process: forwards argv, prints what happened as JSON, exit code 0 when delivered.
FORWARDER = textwrap.dedent(
    """
    import json, sys
    from PySide6.QtCore import QCoreApplication
    from desktop.runtime.single_instance import ForwardRefused, InstanceNotResponding, SingleInstance

    app = QCoreApplication([])
    name, argv = sys.argv[1], sys.argv[2:]
    try:
        delivered = SingleInstance(name).try_forward(argv, timeout_ms=10000)
    except ForwardRefused as exc:
        print(json.dumps({"refused": str(exc)}))
        sys.exit(3)
    except InstanceNotResponding as exc:
        print(json.dumps({"not_responding": str(exc)}))
        sys.exit(4)
    print(json.dumps({"delivered": delivered}))
    sys.exit(0 if delivered else 2)
    """
)

pytestmark = pytest.mark.skipif(
    not hasattr(os, "getuid"), reason="the stale-socket scenarios use Unix sockets"
)


@pytest.fixture
def make_instance(instance_name: str) -> Iterator[Callable[..., SingleInstance]]:
    created: list[SingleInstance] = []

    def make(**options: object) -> SingleInstance:
        instance = SingleInstance(instance_name, **options)  # type: ignore[arg-type]
        created.append(instance)
        return instance

    yield make
    for instance in created:
        instance.close()
        shiboken6.delete(instance)


def socket_path(instance: SingleInstance) -> str:
    # QLocalServer puts a relative name's socket file in the temp directory on Unix.
    return os.path.join(QDir.tempPath(), instance.server_name)


def run_child(
    qtbot, python: str, env: dict[str, str], script: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run a child Python while this (primary) process keeps its event loop turning."""
    child = subprocess.Popen(
        [python, "-c", script, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        qtbot.waitUntil(lambda: child.poll() is not None, timeout=WAIT_MS)
    finally:
        if child.poll() is None:
            child.kill()
        stdout, stderr = child.communicate()
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def test_the_name_is_per_user() -> None:
    assert user_scoped_name("callcue") == f"callcue-u{os.getuid()}"
    assert user_scoped_name("call cue/../x") == f"call_cue_.._x-u{os.getuid()}"


def test_frames_round_trip_and_are_bounded() -> None:
    frame = encode_frame({"v": 1, "argv": ["pop", "--ani", "+8613912345678"]})
    assert decode_frame(frame) == {"v": 1, "argv": ["pop", "--ani", "+8613912345678"]}
    assert decode_frame(frame[:-1]) is None
    assert decode_frame(frame[:2]) is None
    with pytest.raises(ValueError):
        encode_frame({"argv": ["x" * MAX_MESSAGE_BYTES]})
    with pytest.raises(FrameError, match="too large"):
        decode_frame(struct.pack(">I", MAX_MESSAGE_BYTES + 1))
    with pytest.raises(FrameError, match="JSON"):
        decode_frame(struct.pack(">I", 3) + b"\xff{}")
    with pytest.raises(FrameError, match="object"):
        decode_frame(struct.pack(">I", 2) + b"[]")


def test_without_a_running_instance_nothing_is_forwarded(qtbot, make_instance) -> None:
    assert make_instance().try_forward(["pop", "--ani", "1"], timeout_ms=500) is False


def test_a_second_process_forwards_its_command_and_gets_the_answer(
    qtbot, make_instance, python: str, child_env: dict[str, str], instance_name: str
) -> None:
    handled: list[list[str]] = []
    primary = make_instance(handler=handled.append)
    assert primary.listen() and primary.is_primary
    argv = ["pop", "--ani", "+8613912345678", "--call-id", "c-1"]
    with qtbot.waitSignal(primary.command_received, timeout=WAIT_MS) as received:
        child = run_child(qtbot, python, child_env, FORWARDER, instance_name, *argv)
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == {"delivered": True}
    assert received.args == [argv]
    assert handled == [argv]


def test_a_refusal_travels_back_to_the_second_process(
    qtbot, make_instance, python: str, child_env: dict[str, str], instance_name: str
) -> None:
    def refuse(argv: list[str]) -> None:
        raise CommandRejected(
            "call event field 'state': must be one of ringing, answered, transferred, ended"
        )

    received: list[list[str]] = []
    primary = make_instance(handler=refuse)
    primary.command_received.connect(received.append)
    assert primary.listen()
    child = run_child(qtbot, python, child_env, FORWARDER, instance_name, "pop", "--state", "rining")
    assert child.returncode == 3, child.stderr
    assert json.loads(child.stdout) == {
        "refused": "call event field 'state': must be one of ringing, answered, transferred, ended"
    }
    assert received == []  # refused commands are not announced


def test_a_handler_crash_is_reported_as_a_refusal(
    qtbot, make_instance, python: str, child_env: dict[str, str], instance_name: str, caplog
) -> None:
    def crash(argv: list[str]) -> None:
        raise KeyError("bug")

    primary = make_instance(handler=crash)
    assert primary.listen()
    child = run_child(qtbot, python, child_env, FORWARDER, instance_name, "show")
    assert child.returncode == 3
    assert "failed to handle" in json.loads(child.stdout)["refused"]
    assert "handling a forwarded command failed" in caplog.text


def test_a_stale_socket_file_is_taken_over(
    qtbot, make_instance, python: str, child_env: dict[str, str], instance_name: str
) -> None:
    primary = make_instance()
    # What a crashed primary leaves: a socket file nobody listens on.
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(socket_path(primary))
    dead.close()
    try:
        assert primary.try_forward(["show"], timeout_ms=500) is False
        assert primary.listen()
        child = run_child(qtbot, python, child_env, FORWARDER, instance_name, "show")
        assert child.returncode == 0, child.stderr
    finally:
        primary.close()
    assert not os.path.exists(socket_path(primary))


def test_a_crashed_primary_is_replaced(
    qtbot, make_instance, python: str, child_env: dict[str, str], instance_name: str
) -> None:
    crash = textwrap.dedent(
        """
        import os, sys
        from PySide6.QtCore import QCoreApplication
        from desktop.runtime.single_instance import SingleInstance
        app = QCoreApplication([])
        instance = SingleInstance(sys.argv[1])
        assert instance.listen()
        os._exit(0)  # dies holding the lock and the socket file
        """
    )
    child = run_child(qtbot, python, child_env, crash, instance_name)
    assert child.returncode == 0, child.stderr
    primary = make_instance()
    assert os.path.exists(socket_path(primary))
    assert primary.acquire_or_forward(["show"], timeout_ms=2000) is True
    assert primary.is_primary


def test_a_live_primary_in_another_process_keeps_the_instance(
    qtbot, make_instance, python: str, child_env: dict[str, str], instance_name: str
) -> None:
    serve_one = textwrap.dedent(
        """
        import json, sys
        from PySide6.QtCore import QCoreApplication, QTimer
        from desktop.runtime.single_instance import SingleInstance
        app = QCoreApplication([])
        instance = SingleInstance(sys.argv[1])
        assert instance.listen()
        instance.command_received.connect(lambda argv: (print(json.dumps(argv), flush=True), app.quit()))
        print("listening", flush=True)
        QTimer.singleShot(10000, app.quit)
        app.exec()
        instance.close()
        """
    )
    child = subprocess.Popen(
        [python, "-c", serve_one, instance_name], env=child_env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "listening"
        second = make_instance()
        assert second.listen() is False  # the other process is alive and holds the instance
        # This process is the second one now: its blocking forward is answered by the child's event loop.
        assert second.acquire_or_forward(["pop", "--ani", "1"], timeout_ms=5000) is False
        assert child.wait(timeout=WAIT_MS / 1000) == 0
        assert json.loads(child.stdout.readline()) == ["pop", "--ani", "1"]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_a_server_that_does_not_answer_is_reported(qtbot, make_instance) -> None:
    instance = make_instance()
    # A listener that accepts connections (kernel backlog) but never reads or answers: a hung primary.
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(socket_path(instance))
    hung.listen(4)
    try:
        with pytest.raises(InstanceNotResponding):
            instance.try_forward(["show"], timeout_ms=300)
    finally:
        hung.close()
        os.unlink(socket_path(instance))


class RawClient:
    """A misbehaving client in this process; non-blocking, so the primary's event loop keeps running."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.setblocking(False)
        self.received = b""
        self.closed = False

    def poll(self) -> bool:
        """True once the primary closed the connection (everything it sent is in `received`)."""
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return False
        if not chunk:
            self.closed = True
        self.received += chunk
        return self.closed

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (struct.pack(">I", MAX_MESSAGE_BYTES + 1), "too large"),
        (struct.pack(">I", 5) + b"nope!", "JSON"),
        (encode_frame({"argv": ["show"]}), "protocol version"),
        (encode_frame({"v": 1, "argv": "show"}), "list of strings"),
        (encode_frame({"v": 1, "argv": ["show", 3]}), "list of strings"),
    ],
)
def test_bad_requests_get_an_error_reply(qtbot, make_instance, payload: bytes, error: str) -> None:
    received: list[list[str]] = []
    primary = make_instance()
    primary.command_received.connect(received.append)
    assert primary.listen()
    client = RawClient(socket_path(primary))
    try:
        client.sock.sendall(payload)
        qtbot.waitUntil(client.poll, timeout=WAIT_MS)
    finally:
        client.close()
    reply = decode_frame(client.received)
    assert reply is not None and reply["ok"] is False and error in reply["error"]
    assert received == []


def test_a_silent_client_is_cut_off(qtbot, make_instance) -> None:
    primary = make_instance(client_timeout_ms=100)
    assert primary.listen()
    client = RawClient(socket_path(primary))
    try:
        client.sock.sendall(encode_frame({"v": 1, "argv": ["show"]})[:6])  # half a request, then nothing
        qtbot.waitUntil(client.poll, timeout=WAIT_MS)
    finally:
        client.close()
    assert client.received == b""


def test_close_releases_the_instance(qtbot, make_instance) -> None:
    first = make_instance()
    assert first.listen()
    first.close()
    assert not first.is_primary
    second = make_instance()
    assert second.listen()


def test_callcue_pop_reaches_the_router_of_the_running_instance(
    qtbot, make_instance, python: str, child_env: dict[str, str], instance_name: str
) -> None:
    """The wiring the app does: forwarded `pop` → CallEvent → CallRouter; a bad event is refused."""
    router = CallRouter()

    def handle(argv: list[str]) -> None:
        if argv[:1] != ["pop"]:
            raise CommandRejected("unknown command")
        try:
            router.handle(pop_event_from_argv(argv[1:]))
        except InvalidCallEvent as exc:
            raise CommandRejected(str(exc)) from None

    primary = make_instance(handler=handle)
    assert primary.listen()
    ok = run_child(
        qtbot,
        python,
        child_env,
        FORWARDER,
        instance_name,
        "pop",
        "--ani",
        "+8613912345678",
        "--call-id",
        "c1",
    )
    assert ok.returncode == 0, ok.stderr
    assert [(call.call_id, call.state, call.source) for call in router.calls()] == [("c1", "ringing", "cli")]
    bad = run_child(
        qtbot, python, child_env, FORWARDER, instance_name, "pop", "--ani", "+8613912345678", "--state", "on"
    )
    assert bad.returncode == 3
    refusal = json.loads(bad.stdout)["refused"]
    assert "'state'" in refusal and "+8613912345678" not in refusal
