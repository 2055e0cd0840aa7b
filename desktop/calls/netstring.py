"""Netstrings (`LEN:payload,`), the framing of baresip's ctrl_tcp module: an incremental, bounded decoder.

    12:hello world!,   →  b"hello world!"

The decoder takes bytes as they arrive from a socket and returns whole payloads. It is strict, because a
netstring stream has no resynchronisation marker: after one bad byte nothing that follows can be trusted
to start a frame. So:

- the length is 1 to `len(str(max_frame))` ASCII digits, without leading zeros (except "0"), and at most
  `max_frame`; a frame that would be larger is refused before its payload is buffered (memory stays
  bounded by `max_frame` plus a few header bytes, however the bytes are split or what they contain);
- the payload must be followed by a comma;
- any violation raises NetstringError (a ConnectorMessageError), naming what was wrong, never echoing the
  payload (it may hold a phone number).

Resync policy: after an error the decoder is *failed* and every later `feed` raises again, until `reset()`.
The connector's answer is to drop the connection and reconnect: a fresh TCP stream is the only reliable
frame boundary. Frames completed before the bad byte in the same `feed` are kept in `salvaged`, so the
caller may still use them before it reconnects.
"""

from __future__ import annotations

from typing import Final

from desktop.calls.connector_base import ConnectorMessageError

DEFAULT_MAX_FRAME: Final = 64 * 1024


class NetstringError(ConnectorMessageError):
    """The byte stream is not a valid netstring stream (bad length, missing comma, frame too large)."""


def encode_netstring(payload: bytes) -> bytes:
    """`payload` framed as a netstring."""
    return b"%d:%b," % (len(payload), payload)


class NetstringDecoder:
    """Incremental decoder. `feed(data)` returns the payloads completed by `data` (possibly none)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be at least 1")
        self.max_frame = max_frame
        self._max_digits = len(str(max_frame))
        self._buffer = bytearray()
        self._error: NetstringError | None = None
        self.salvaged: list[bytes] = []  # good frames decoded in the feed that failed

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame (at most max_frame + header)."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget everything (use with a new connection)."""
        self._buffer.clear()
        self._error = None
        self.salvaged = []

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by `data`. Raises NetstringError at the first invalid byte; the frames
        completed before it are then in `salvaged`, and the decoder stays failed until `reset()`."""
        if self._error is not None:
            raise NetstringError(f"{self._error.problem} (earlier; reconnect to resynchronise)")
        self._buffer += data
        frames: list[bytes] = []
        position = 0
        try:
            while True:
                found = self._frame_at(position)
                if found is None:
                    break
                frame, position = found
                frames.append(frame)
        except NetstringError as exc:
            self._error = exc
            self._buffer.clear()
            self.salvaged = frames
            raise
        del self._buffer[:position]  # once per feed: many small frames in one chunk stay linear
        return frames

    def _frame_at(self, position: int) -> tuple[bytes, int] | None:
        """The frame starting at `position` and the position after it, or None if it is incomplete."""
        buffer = self._buffer
        if position >= len(buffer):
            return None
        # The header: digits up to ':'. Look no further than the longest allowed length plus the colon.
        head = bytes(buffer[position : position + self._max_digits + 1])
        colon = head.find(b":")
        digits = head if colon < 0 else head[:colon]
        if digits and not digits.isdigit():
            raise NetstringError(self._bad_length(digits))
        if colon < 0:
            if len(head) > self._max_digits:
                raise NetstringError(f"length has more than {self._max_digits} digits (frames are limited "
                                     f"to {self.max_frame} bytes)")
            return None  # header not complete yet
        if not digits:
            raise NetstringError("frame has no length before ':'")
        if len(digits) > 1 and digits.startswith(b"0"):
            raise NetstringError("frame length has a leading zero")
        length = int(digits)
        if length > self.max_frame:
            raise NetstringError(f"frame of {length} bytes exceeds the limit of {self.max_frame} bytes")
        start = position + colon + 1
        end = start + length
        if len(buffer) < end + 1:
            return None  # payload or comma still to come
        if buffer[end] != ord(","):
            raise NetstringError(f"frame of {length} bytes is not followed by ','")
        return bytes(buffer[start:end]), end + 1

    @staticmethod
    def _bad_length(digits: bytes) -> str:
        # Says what kind of byte broke the header, never the bytes themselves.
        bad = next(b for b in digits if not 0x30 <= b <= 0x39)
        kind = "a control byte" if bad < 0x20 or bad == 0x7F else (
            "a non-ASCII byte" if bad > 0x7F else f"{chr(bad)!r}")
        return f"frame length must be ASCII digits, found {kind}"
