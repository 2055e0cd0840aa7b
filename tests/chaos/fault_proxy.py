"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the real server (TCP level, one thread per connection).

`mode` decides what the next requests meet:
- "pass":      relayed to the server and back, byte for byte
- "down":      nothing listens (connection refused)
- "http500":   500 with a JSON error body, the server is not asked
- "hang":      the request is read and nothing answers for `hang_s` (12 s: longer than the client's 10 s
               timeout for a batch, so the client gives up first), then the connection closes
- "reset":     the server gets the request (and stores a batch), the client gets half the answer and a TCP RST
- "malformed": the server gets the request, the client gets 200 with JSON cut in the middle
- "schema":    the server gets the request, the client gets 200 with valid JSON of the wrong shape

`close()` ends every connection and thread it started.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

MODES = ("pass", "down", "http500", "hang", "reset", "malformed", "schema")


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


def _reply(status: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def _reset(conn: socket.socket) -> None:
    """Close with RST instead of FIN (SO_LINGER 0): the peer sees 'connection reset'."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class FaultProxy:
    def __init__(self, upstream_port: int, *, hang_s: float = 12.0) -> None:
        self.upstream_port = upstream_port
        self.hang_s = hang_s
        self._mode = "pass"
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.requests: list[tuple[str, bytes]] = []  # (mode met, request line)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listen()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._lock:
            previous, self._mode = self._mode, mode
        if mode == "down" and previous != "down":
            self._stop_listening()
        elif mode != "down" and previous == "down":
            self._listen()

    # ------------------------------------------------------------------ plumbing

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="chaos-proxy")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._spawn(self._accept, listener)

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._closing.is_set() and self._listener is listener:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(15)
            with self._lock:
                self._conns.add(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = _read_request(conn)
            if request is None:
                return
            mode = self._mode
            self.requests.append((mode, request.split(b"\r\n", 1)[0]))
            if mode == "http500":
                conn.sendall(_reply("500 Internal Server Error",
                                    b'{"error": {"code": "internal", "message": "injected failure"}}'))
            elif mode == "hang":
                self._closing.wait(self.hang_s)
            elif mode in ("down",):
                _reset(conn)
            else:
                answer = self._forward(request)
                if mode == "pass":
                    conn.sendall(answer)
                elif mode == "reset":
                    conn.sendall(answer[: max(1, len(answer) // 2)])
                    _reset(conn)
                    return
                elif mode == "malformed":
                    conn.sendall(_reply("200 OK", b'{"results": [{"outcome_id": "0f3a'))
                elif mode == "schema":
                    conn.sendall(_reply("200 OK", b'{"results": "all fine", "customer": 42, "offers": {}}'))
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _forward(self, request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=15) as upstream:
            upstream.sendall(request)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._closing.set()
        self._stop_listening()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
