"""A deadline for a whole HTTP exchange, not for each socket read.

requests' and urllib3's read timeout applies to every single `recv`: a server (or a proxy, or an attacker
between the two) that sends one byte every 1.5 s never trips a 2 s read timeout, and a pop waited 120 s.
Here every read of a response — status line, headers and body — first checks the request's deadline and
gives the socket only the time that is left (never more than the read timeout), so the exchange ends by
the deadline however the bytes trickle in. It ends as a read timeout (`DeadlineExceeded` is a
`socket.timeout`), which urllib3 and requests report as such; urllib3 then discards the connection.

How: `DeadlineAdapter` (a requests HTTPAdapter) makes its connection pools use connection classes whose
`response_class` wraps the socket reader. The deadline itself is per thread: `AnalyticsClient` sets it
around one exchange with `deadline(...)`; a response started without one reads as plain requests would.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator
from http.client import HTTPResponse as _HttpClientResponse
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class DeadlineExceeded(socket.timeout):
    """The whole exchange took longer than its deadline (raised from a socket read)."""


@contextlib.contextmanager
def deadline(at: float, read_timeout: float) -> Iterator[None]:
    """Responses read on this thread inside the block must be complete by `at` (time.monotonic());
    each socket read waits at most `read_timeout` seconds, and never past `at`."""
    previous = getattr(_current, "limit", None)
    _current.limit = (at, read_timeout)
    try:
        yield
    finally:
        _current.limit = previous


class _DeadlineReader(io.RawIOBase):
    """The response's socket reader, checking the deadline before every read from the socket."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, at: float, read_timeout: float) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._at = at
        self._read_timeout = read_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        remaining = self._at - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the answer did not arrive in time")
        self._sock.settimeout(min(self._read_timeout, remaining))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
            # A kept-alive connection sends its next request with the socket's timeout: not what was left
            # of this deadline.
            with contextlib.suppress(OSError):
                self._sock.settimeout(self._read_timeout)
        super().close()


class _DeadlineResponse(_HttpClientResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        limit = getattr(_current, "limit", None)
        if limit is not None:
            # http.client reads through a buffer over the socket (sock.makefile("rb")); the buffer's own
            # loops (readline, read(n)) would wait for bytes one recv at a time, so the check sits below it.
            raw = self.fp.detach()
            self.fp = io.BufferedReader(_DeadlineReader(raw, sock, *limit))


class _DeadlineHTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOLS = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct or through a proxy) honour `deadline(...)`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes: left as they are
            manager.pool_classes_by_scheme = _POOLS
        return manager
