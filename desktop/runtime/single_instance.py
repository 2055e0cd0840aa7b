"""One CallCue per user: a second `callcue …` forwards its command line to the running instance.

The first instance (the primary) holds a lock file and listens on a per-user QLocalServer name; a later
process connects, sends its argv and waits for the primary's answer, so `callcue pop` can exit 0 when the
event was accepted and print the primary's error when it was refused.

Wire protocol (one request and one reply per connection): a 4-byte big-endian length, then that many bytes
of UTF-8 JSON, at most 64 KiB. Request {"v": 1, "argv": ["pop", "--ani", "…"]}; reply {"ok": true} or
{"ok": false, "error": "…"}.

Why a lock file as well as the server name: a crashed primary leaves its socket file behind (stale), and
on Windows two servers may listen on one pipe name. The lock (QLockFile, stale when its process is gone)
says who is primary; the primary then removes any stale socket and listens.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import re
import struct
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Final

import shiboken6
from PySide6.QtCore import QDir, QLockFile, QObject, QThread, QTimer, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

logger = logging.getLogger(__name__)

PROTOCOL_VERSION: Final = 1
MAX_MESSAGE_BYTES: Final = 64 * 1024
_HEADER = struct.Struct(">I")
_NOT_RUNNING_ERRORS: Final = (
    QLocalSocket.LocalSocketError.ServerNotFoundError,
    QLocalSocket.LocalSocketError.ConnectionRefusedError,  # e.g. a stale socket file of a crashed primary
)

CommandHandler = Callable[[list[str]], None]


class SingleInstanceError(RuntimeError):
    """The running instance could not be reached or could not be set up."""


class InstanceNotResponding(SingleInstanceError):
    """Another CallCue holds the instance but did not answer in time (busy or hung)."""


class ForwardRefused(SingleInstanceError):
    """The running instance received the command and refused it; the message says why."""


class CommandRejected(Exception):
    """Raised by a command handler to refuse a forwarded command; the message goes back to the sender."""


def user_scoped_name(app_name: str) -> str:
    """The instance name for the current user: two users on one Windows terminal server (named pipes are
    machine-wide) or one Linux host must not reach each other's instance."""
    safe_app = re.sub(r"[^A-Za-z0-9._-]", "_", app_name)[:40] or "app"
    if hasattr(os, "getuid"):
        tag = f"u{os.getuid()}"
    else:  # Windows: no uid; the domain-qualified user name, hashed to keep it short and pipe-safe
        try:
            user = getpass.getuser()
        except Exception:  # no USERNAME and no pwd entry: still separate from named users
            user = "unknown"
        tag = hashlib.sha256(f"{os.environ.get('USERDOMAIN', '')}\\{user}".encode()).hexdigest()[:16]
    return f"{safe_app}-{tag}"


def encode_frame(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return _HEADER.pack(len(payload)) + payload


class FrameError(ValueError):
    """A frame that is too large or not a JSON object."""


def decode_frame(buffer: bytes | bytearray) -> dict[str, Any] | None:
    """The message in `buffer`, or None while it is incomplete. Raises FrameError for a bad frame."""
    if len(buffer) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack_from(buffer)
    if length > MAX_MESSAGE_BYTES:
        raise FrameError(f"message too large (limit {MAX_MESSAGE_BYTES} bytes)")
    if len(buffer) < _HEADER.size + length:
        return None
    try:
        message = json.loads(bytes(buffer[_HEADER.size : _HEADER.size + length]).decode("utf-8"))
    except (ValueError, RecursionError):
        raise FrameError("message is not valid UTF-8 JSON") from None
    if not isinstance(message, dict):
        raise FrameError("message must be a JSON object")
    return message


class SingleInstance(QObject):
    """The primary side (listen, receive) and the forwarding side (try_forward) of one instance name.

    Primary: `listen()`; forwarded commands go to the handler (raise CommandRejected to refuse), then
    `command_received(argv)` is emitted for each accepted one. All on the GUI thread.
    Second process: `try_forward(argv)` blocks for at most `timeout_ms` (it runs before any GUI exists).
    """

    command_received = Signal(list)

    def __init__(
        self,
        name: str = "callcue",
        parent: QObject | None = None,
        *,
        handler: CommandHandler | None = None,
        client_timeout_ms: int = 5000,
    ) -> None:
        super().__init__(parent)
        self._server_name = user_scoped_name(name)
        self._lock_path = QDir(QDir.tempPath()).filePath(f"{self._server_name}.lock")
        self._handler = handler
        self._client_timeout_ms = client_timeout_ms
        self._server: QLocalServer | None = None
        self._lock: QLockFile | None = None
        self._buffers: dict[QLocalSocket, bytearray] = {}

    @property
    def server_name(self) -> str:
        return self._server_name

    @property
    def is_primary(self) -> bool:
        return self._server is not None

    def set_handler(self, handler: CommandHandler | None) -> None:
        """`handler(argv)` decides on each forwarded command: return to accept, raise CommandRejected
        (message sent back) to refuse. Without a handler every well-formed command is accepted."""
        self._handler = handler

    # --- second process ---------------------------------------------------------------------------------

    def try_forward(self, argv: list[str], timeout_ms: int = 1000) -> bool:
        """Send `argv` (the arguments after the program name) to the running instance.

        True: delivered and accepted. False: no instance is running (become the primary). Raises
        ForwardRefused when the instance refused the command, InstanceNotResponding when it did not
        answer within `timeout_ms`.
        """
        if self._server is not None:
            raise RuntimeError("this process is the primary instance; it cannot forward to itself")
        if not all(isinstance(arg, str) for arg in argv):
            raise TypeError("argv must be a list of str")
        frame = encode_frame({"v": PROTOCOL_VERSION, "argv": list(argv)})
        deadline = time.monotonic() + timeout_ms / 1000
        socket = QLocalSocket()
        try:
            socket.connectToServer(self._server_name)
            if not socket.waitForConnected(_remaining_ms(deadline)):
                if socket.error() in _NOT_RUNNING_ERRORS:
                    return False
                if socket.error() == QLocalSocket.LocalSocketError.SocketTimeoutError:
                    raise InstanceNotResponding("CallCue is running but does not accept connections")
                raise SingleInstanceError(f"cannot reach the running CallCue: {socket.errorString()}")
            socket.write(frame)
            while socket.bytesToWrite() > 0:
                if not socket.waitForBytesWritten(_remaining_ms(deadline)):
                    raise InstanceNotResponding("CallCue is running but does not read its commands")
            reply = self._read_reply(socket, deadline)
        finally:
            socket.abort()
        if reply.get("ok") is True:
            return True
        error = reply.get("error")
        raise ForwardRefused(error if isinstance(error, str) and error else "the running CallCue refused")

    def acquire_or_forward(self, argv: list[str], timeout_ms: int = 3000) -> bool:
        """Become the primary, or forward `argv` to the one that is running.

        True: this process is now the primary (it should handle `argv` itself). False: forwarded and
        accepted. Raises like try_forward; InstanceNotResponding also when another process holds the
        instance but never starts listening.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if self.try_forward(argv, max(1, _remaining_ms(deadline))):
                return False
            if self.listen():
                return True
            # Another process holds the lock but is not listening yet (it is starting): retry briefly.
            if time.monotonic() >= deadline:
                raise InstanceNotResponding("another CallCue is starting or stuck; try again")
            QThread.msleep(50)

    @staticmethod
    def _read_reply(socket: QLocalSocket, deadline: float) -> dict[str, Any]:
        buffer = bytearray()
        while True:
            buffer += socket.readAll().data()
            try:
                reply = decode_frame(buffer)
            except FrameError as exc:
                raise SingleInstanceError(f"the running CallCue sent a bad reply: {exc}") from None
            if reply is not None:
                return reply
            if socket.state() == QLocalSocket.LocalSocketState.UnconnectedState:
                raise InstanceNotResponding("the running CallCue closed the connection without answering")
            if not socket.waitForReadyRead(_remaining_ms(deadline)) and time.monotonic() >= deadline:
                raise InstanceNotResponding("the running CallCue did not answer in time")

    # --- primary ----------------------------------------------------------------------------------------

    def listen(self) -> bool:
        """Become the primary: True if this process now owns the instance (or already did), False if a
        live instance does. A crashed primary's lock and socket file are taken over."""
        if self._server is not None:
            return True
        lock = QLockFile(self._lock_path)
        lock.setStaleLockTime(0)  # stale only when the holder's process is gone, never by age
        if not lock.tryLock(0):
            if lock.error() == QLockFile.LockError.LockFailedError:
                return False
            raise SingleInstanceError(
                f"cannot create the instance lock {self._lock_path}: {lock.error().name}"
            )
        QLocalServer.removeServer(self._server_name)  # a stale socket file would make listen() fail
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)  # only this user may connect
        if not server.listen(self._server_name):
            error = server.errorString()
            server.deleteLater()
            lock.unlock()
            raise SingleInstanceError(f"cannot listen on {self._server_name}: {error}")
        server.newConnection.connect(self._accept_connections)
        self._server, self._lock = server, lock
        return True

    def close(self) -> None:
        """Stop being the primary: close the server and its connections, release the lock."""
        for socket in list(self._buffers):
            socket.abort()
            socket.deleteLater()
        self._buffers.clear()
        if self._server is not None:
            self._server.close()  # also removes the socket file
            self._server.deleteLater()
            self._server = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    @Slot()
    def _accept_connections(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.setParent(self)
            self._buffers[socket] = bytearray()
            socket.readyRead.connect(partial(self._on_ready_read, socket))
            socket.disconnected.connect(partial(self._forget, socket))
            # A client that connects and never finishes its request must not hold a connection forever.
            deadline = QTimer(socket)
            deadline.setSingleShot(True)
            deadline.timeout.connect(partial(self._on_client_timeout, socket))
            deadline.start(self._client_timeout_ms)
            if socket.bytesAvailable():
                self._on_ready_read(socket)

    def _on_ready_read(self, socket: QLocalSocket) -> None:
        buffer = self._buffers.get(socket)
        if buffer is None:  # already answered; anything more is ignored
            socket.readAll()
            return
        buffer += socket.readAll().data()
        try:
            message = decode_frame(buffer)
        except FrameError as exc:
            self._reply(socket, {"ok": False, "error": str(exc)})
            return
        if message is None:
            return
        argv = message.get("argv")
        if message.get("v") != PROTOCOL_VERSION:
            self._reply(
                socket, {"ok": False, "error": f"unsupported protocol version (expected {PROTOCOL_VERSION})"}
            )
        elif not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv):
            self._reply(socket, {"ok": False, "error": "argv must be a list of strings"})
        else:
            self._dispatch(socket, argv)

    def _dispatch(self, socket: QLocalSocket, argv: list[str]) -> None:
        try:
            if self._handler is not None:
                self._handler(argv)
        except CommandRejected as exc:
            self._reply(socket, {"ok": False, "error": str(exc) or "refused"})
            return
        except Exception:
            logger.exception("handling a forwarded command failed")
            self._reply(socket, {"ok": False, "error": "the running CallCue failed to handle the command"})
            return
        self._reply(socket, {"ok": True})
        self.command_received.emit(argv)

    def _reply(self, socket: QLocalSocket, message: dict[str, Any]) -> None:
        self._buffers.pop(socket, None)
        socket.write(encode_frame(message))
        # Hand the reply to the OS now: it must arrive even if the application quits right after this.
        socket.flush()
        socket.disconnectFromServer()  # graceful: anything still pending is written first

    def _on_client_timeout(self, socket: QLocalSocket) -> None:
        if socket in self._buffers:
            logger.warning("a forwarding client sent no complete command in %d ms", self._client_timeout_ms)
            self._buffers.pop(socket, None)
            socket.abort()

    def _forget(self, socket: QLocalSocket) -> None:
        self._buffers.pop(socket, None)
        if shiboken6.isValid(socket):  # not when it disconnects because it is being destroyed
            socket.deleteLater()


def _remaining_ms(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))
