"""What the softphone/PBX connectors (baresip ctrl_tcp, Asterisk AMI) share: their error type, status
reports, reconnect backoff, caller-number extraction, and the socket loop on one dedicated thread.

Threading model: each connector owns exactly one thread (named `callcue-<connector>`), which connects,
reads, parses, keeps the connection alive and reconnects with backoff. `on_event` and `on_status` are
called *on that thread*; a GUI must marshal them (desktop.runtime.connectors_host does, with a queued Qt
signal). `start()`, `stop()` and the connectors' command methods may be called from any thread.

Qt-free and without third-party dependencies: `socket`, `selectors` and `threading` only.

Privacy: error texts and log lines never contain a phone number (only call ids and field names).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Final, Literal
from urllib.parse import unquote

from desktop.calls.events import MAX_NUMBER_DIGITS, CallEvent, canonical_number

logger = logging.getLogger("callcue.connectors")

ConnectorState = Literal["connecting", "connected", "disconnected", "failed", "stopped"]
EventCallback = Callable[[CallEvent], object]
StatusCallback = Callable[["ConnectorStatus"], object]

_MAX_URI_LENGTH: Final = 1024
_RECV_BYTES: Final = 64 * 1024


class ConnectorMessageError(ValueError):
    """A message from a softphone or PBX that cannot be understood. `problem` says what is wrong, naming
    fields but never repeating their values (they may hold phone numbers), so it is safe to log."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """Where a connector stands. `state`:

    - connecting: opening the TCP connection (and logging in, for AMI);
    - connected: receiving call events;
    - disconnected: the connection failed or dropped; `retry_in_s` says when it tries again;
    - failed: the other side refused us (e.g. AMI login refused): it still retries, slowly, but a person
      has to fix something (`detail` says what);
    - stopped: `stop()` was called.
    """

    connector: str
    address: str
    state: ConnectorState
    detail: str = ""
    retry_in_s: float | None = None

    @property
    def text(self) -> str:
        """One line for the log or a status tooltip, e.g.
        "baresip 127.0.0.1:4444: disconnected: connection refused; retrying in 2.0 s"."""
        line = f"{self.connector} {self.address}: {self.state}"
        if self.detail:
            line += f": {self.detail}"
        if self.retry_in_s is not None:
            line += f"; retrying in {self.retry_in_s:.1f} s"
        return line


class Backoff:
    """Exponential backoff with jitter: initial, initial×factor, … capped at `maximum_s`, each delay
    spread by ±`jitter` (a fraction) so many panels do not reconnect to a restarted PBX in lockstep."""

    def __init__(self, initial_s: float = 0.5, maximum_s: float = 30.0, *, factor: float = 2.0,
                 jitter: float = 0.25, rng: random.Random | None = None) -> None:
        if not 0 < initial_s <= maximum_s:
            raise ValueError("need 0 < initial_s <= maximum_s")
        if factor < 1 or not 0 <= jitter < 1:
            raise ValueError("need factor >= 1 and 0 <= jitter < 1")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._base = initial_s

    def next_delay(self) -> float:
        """The delay before the next attempt (and grow the following one)."""
        base = self._base
        self._base = min(self.maximum_s, base * self.factor)
        return base * (1 - self.jitter + 2 * self.jitter * self._rng.random())

    def reset(self) -> None:
        """After a connection that worked: the next failure retries quickly again."""
        self._base = self.initial_s


# --- caller numbers ---------------------------------------------------------------------------------


def phone_number(text: str | None) -> str | None:
    """`text` as a phone number ('+' and ASCII digits), or None when it is not one: withheld
    ("anonymous", "<unknown>", ""), a SIP user name such as "alice", too long, or written with numeric
    characters that are not digits (superscripts …). Digits of any script (full-width, Arabic-Indic …) are
    folded to ASCII and visual separators (spaces, dots, dashes, parentheses) dropped; no other rewriting
    (the pop service normalises prefixes). The same rule as a call event's `ani`
    (desktop.calls.events.canonical_number)."""
    if not text or len(text) > 4 * MAX_NUMBER_DIGITS:
        return None
    try:
        return canonical_number(text)
    except ValueError:
        return None


def number_from_uri(uri: str | None) -> str | None:
    """The phone number in the user part of a SIP/SIPS/TEL URI, or None.

    'sip:13800138000@10.0.0.1:5060;transport=udp' → '13800138000'; '"Li" <sip:+86%20138…@pbx>' → '+86138…';
    'tel:+86-138-0013-8000;phone-context=…' → '+8613800138000'; 'sip:alice@pbx', 'sip:anonymous@…',
    'sip:pbx.example' → None.
    """
    if not uri or len(uri) > _MAX_URI_LENGTH:
        return None
    text = uri.strip()
    if "<" in text:  # name-addr form: "Display Name" <sip:user@host>
        inner = text[text.find("<") + 1 :]
        text = inner[: inner.find(">")] if ">" in inner else inner
    scheme, colon, rest = text.partition(":")
    scheme = scheme.strip().lower()
    if not colon or scheme not in ("sip", "sips", "tel"):
        return None
    if scheme == "tel":
        user = rest
    else:
        if "@" not in rest:
            return None  # sip:host has no user part
        user = rest.split("@", 1)[0].split(":", 1)[0]  # drop a password
    user = user.split(";", 1)[0]  # user parameters (e.g. ;phone-context=…)
    return phone_number(unquote(user, errors="replace"))


def is_dialable_customer_number(number: str | None, min_digits: int = 5) -> bool:
    """Whether an outgoing call's number is worth a pop: internal extensions (fewer than `min_digits`
    digits, the same bound the pop service uses) are colleagues, not customers."""
    return number is not None and sum(ch.isdigit() for ch in number) >= min_digits


# --- the socket loop --------------------------------------------------------------------------------


class SessionEnded(Exception):
    """Raised by a protocol handler to end the current connection; `failed`: the other side refused us
    (bad credentials, not the expected server), as opposed to a transient drop."""

    def __init__(self, reason: str, *, failed: bool = False) -> None:
        self.reason = reason
        self.failed = failed
        super().__init__(reason)


class TcpConnector:
    """A TCP client on one dedicated thread: connect, hand received bytes to the protocol, reconnect with
    backoff. Subclasses implement the `_on_*` hooks (all called on the connector thread)."""

    connector_name: ClassVar[str] = "connector"

    def __init__(self, host: str, port: int, on_event: EventCallback, on_status: StatusCallback | None = None,
                 *, backoff: Backoff | None = None, connect_timeout_s: float = 5.0, io_timeout_s: float = 5.0,
                 stable_after_s: float = 10.0) -> None:
        if not host or not 0 < port < 65536:
            raise ValueError("need a host and a port between 1 and 65535")
        self.host = host
        self.port = port
        self._on_event_callback = on_event
        self._on_status_callback = on_status
        self._backoff = backoff or Backoff()
        self._connect_timeout_s = connect_timeout_s
        self._io_timeout_s = io_timeout_s
        self._stable_after_s = stable_after_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._waker: tuple[socket.socket, socket.socket] | None = None
        self._posted: deque[Callable[[], object]] = deque()
        self._sock: socket.socket | None = None
        self._ready_at: float | None = None
        self._last_state: ConnectorState | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # --- lifecycle (any thread) ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the connector thread (once)."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"the {self.connector_name} connector was already started")
            self._waker = socket.socketpair()
            for end in self._waker:
                end.setblocking(False)
            self._thread = threading.Thread(target=self._run, name=f"callcue-{self.connector_name}", daemon=True)
            self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to finish, without waiting (see stop())."""
        self._stopping.set()
        self._wake()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Ask the thread to finish (it says goodbye to the server if it can) and wait for it. Returns
        whether it has ended. Safe to call twice, or before start()."""
        self.request_stop()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout_s)
        if thread.is_alive():
            logger.warning("%s connector did not stop within %.1f s", self.connector_name, timeout_s)
            return False
        return True

    def _post(self, fn: Callable[[], object]) -> None:
        """Run `fn()` on the connector thread, soon (while connected; dropped when the connection ends)."""
        self._posted.append(fn)
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._waker is not None:
                with contextlib.suppress(OSError):  # full (already woken) or closed
                    self._waker[1].send(b"\0")

    # --- hooks for the protocol (connector thread) --------------------------------------------------

    def _on_connected(self) -> None:
        """A new connection: reset the per-connection state; may `_send` (e.g. a login)."""

    def _on_data(self, data: bytes) -> None:
        """Bytes arrived. Raise SessionEnded or ConnectorMessageError to drop the connection."""
        raise NotImplementedError

    def _on_tick(self, now: float) -> float | None:
        """Timers (keepalive, timeouts): called after every wake-up; return the seconds until the next call
        is wanted (None: no timer). Raise SessionEnded to drop the connection."""
        return None

    def _on_disconnected(self, reason: str) -> None:
        """The connection ended (reason is safe to log)."""

    def _on_stopping(self) -> None:
        """Called on the connector thread before it closes a live connection because of stop()."""

    # --- services for the protocol (connector thread) -----------------------------------------------

    def _send(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise SessionEnded("not connected")
        sock.sendall(data)  # bounded by io_timeout_s (the socket has a timeout)

    def _mark_ready(self, detail: str) -> None:
        """The connection works (connected, logged in): report it; a later drop after `stable_after_s`
        starts the backoff from the beginning again."""
        self._ready_at = time.monotonic()
        self._status("connected", detail)

    def _emit(self, event: CallEvent) -> None:
        try:
            self._on_event_callback(event)
        except Exception:
            logger.exception("%s connector: the event receiver failed on call %s", self.connector_name,
                             event.call_id)

    def _status(self, state: ConnectorState, detail: str = "", retry_in_s: float | None = None) -> None:
        status = ConnectorStatus(self.connector_name, self.address, state, detail, retry_in_s)
        level = logging.INFO if state != self._last_state or state in ("failed", "stopped") else logging.DEBUG
        logger.log(level, "%s", status.text)
        self._last_state = state
        if self._on_status_callback is not None:
            try:
                self._on_status_callback(status)
            except Exception:
                logger.exception("%s connector: the status receiver failed", self.connector_name)

    # --- the thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                reason, failed = self._connect_and_serve()
                if self._stopping.is_set():
                    break
                delay = self._backoff.next_delay()
                self._status("failed" if failed else "disconnected", reason, retry_in_s=delay)
                self._stopping.wait(delay)
        except Exception:  # a bug must not pass silently, nor leave a half-dead thread
            logger.exception("%s connector thread failed", self.connector_name)
        finally:
            with self._lock:
                waker, self._waker = self._waker, None
            if waker is not None:
                for end in waker:
                    end.close()
            self._posted.clear()
            self._status("stopped")

    def _connect_and_serve(self) -> tuple[str, bool]:
        self._status("connecting", f"connecting to {self.address}")
        sock, problem = self._connect()
        if sock is None:
            return problem, False
        self._sock = sock
        self._ready_at = None
        reason, failed = "stopped", False
        try:
            self._serve(sock)
        except SessionEnded as exc:
            reason, failed = exc.reason, exc.failed
        except ConnectorMessageError as exc:
            reason = f"unreadable data from {self.connector_name}: {exc.problem}"
            logger.warning("%s connector: %s; reconnecting", self.connector_name, exc.problem)
        except TimeoutError:
            reason = "the connection stalled (send timed out)"
        except OSError as exc:
            reason = f"connection lost ({describe_os_error(exc)})"
        except Exception:  # a bug in a handler: log it, drop this connection, keep the connector alive
            logger.exception("%s connector: unexpected error; reconnecting", self.connector_name)
            reason = "internal error (details in the log)"
        finally:
            self._sock = None
            with contextlib.suppress(OSError):
                sock.close()
            if self._ready_at is not None and time.monotonic() - self._ready_at >= self._stable_after_s:
                self._backoff.reset()
            self._posted.clear()
            self._on_disconnected(reason)
        return reason, failed

    def _connect(self) -> tuple[socket.socket | None, str]:
        try:
            addresses = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return None, f"cannot resolve host {self.host!r}"
        problem = "no address"
        for family, kind, proto, _name, address in addresses:
            if self._stopping.is_set():
                return None, "stopped"
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                code = sock.connect_ex(address)
                if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, 10035):  # 10035: WSAEWOULDBLOCK
                    raise OSError(code, describe_errno(code))
                if code != 0 and not self._wait_writable(sock):
                    raise TimeoutError("connect timed out")
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, describe_errno(code))
            except TimeoutError:
                sock.close()
                problem = "stopped" if self._stopping.is_set() else (
                    f"no answer within {self._connect_timeout_s:g} s")
                continue
            except OSError as exc:
                sock.close()
                problem = describe_os_error(exc)
                continue
            sock.settimeout(self._io_timeout_s)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, ""
        return None, problem

    def _wait_writable(self, sock: socket.socket) -> bool:
        waker = self._waker
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_WRITE, "sock")
            if waker is not None:
                selector.register(waker[0], selectors.EVENT_READ, "waker")
            deadline = time.monotonic() + self._connect_timeout_s
            while not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                for key, _mask in selector.select(remaining):
                    if key.data == "sock":
                        return True
                    self._drain_waker()
        return False

    def _drain_waker(self) -> None:
        waker = self._waker
        if waker is None:
            return
        with contextlib.suppress(OSError):
            while waker[0].recv(4096):
                pass

    def _serve(self, sock: socket.socket) -> None:
        waker = self._waker
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ, "sock")
            if waker is not None:
                selector.register(waker[0], selectors.EVENT_READ, "waker")
            self._on_connected()
            while True:
                if self._stopping.is_set():
                    with contextlib.suppress(OSError, SessionEnded):
                        self._on_stopping()
                    return
                while self._posted:
                    self._posted.popleft()()
                wait = self._on_tick(time.monotonic())
                for key, _mask in selector.select(None if wait is None else max(0.0, wait)):
                    if key.data == "waker":
                        self._drain_waker()
                        continue
                    data = sock.recv(_RECV_BYTES)
                    if not data:
                        raise SessionEnded(f"the {self.connector_name} closed the connection")
                    self._on_data(data)


def describe_errno(code: int) -> str:
    names = {
        errno.ECONNREFUSED: "connection refused (is it running, and listening on this address?)",
        errno.ECONNRESET: "connection reset",
        errno.ETIMEDOUT: "timed out",
        errno.EHOSTUNREACH: "host unreachable",
        errno.ENETUNREACH: "network unreachable",
        errno.EPIPE: "connection closed while sending",
    }
    return names.get(code) or (errno.errorcode.get(code, f"error {code}")).lower()


def describe_os_error(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if exc.errno is not None:
        return describe_errno(exc.errno)
    return exc.strerror or type(exc).__name__
