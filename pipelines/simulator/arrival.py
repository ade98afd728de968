"""When a request reached the simulator: the kernel's receive time of its first bytes (Linux SO_TIMESTAMPNS).

amoCRM counts its 7 requests/s where requests arrive, on servers of its own. The
simulator shares the machine with the extractors it serves: its Python thread may
get the CPU (and the GIL) tens of ms after a request arrived, and a limiter counting
then sees requests bunched that arrived evenly (429s the real server would not send).
So the handler reads its socket through `StampedReader`, which keeps the kernel's
time of the first read since `take()`; elsewhere (no SO_TIMESTAMPNS) it is None and
the limiter counts at handling time, as before.
"""

from __future__ import annotations

import io
import socket
import struct
import sys
import time

_SO_TIMESTAMPNS = 35  # Linux, asm-generic (x86, arm): socket.SO_TIMESTAMPNS is not exposed by Python
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


class StampedReader(io.RawIOBase):
    """A socket's raw reader that remembers when the kernel received the first bytes read since `take()`."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._first: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n, ancillary, _, _ = self._sock.recvmsg_into([buffer], _ANCILLARY)
        if self._first is None:
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
                    seconds, nanos = _TIMESPEC.unpack_from(data)
                    self._first = seconds + nanos / 1e9
        return n

    def take(self) -> float | None:
        """Unix time the first bytes read since the last `take()` arrived (None: unknown)."""
        first, self._first = self._first, None
        return first


def age(stamp: float | None) -> float | None:
    """Seconds since `stamp` (a `take()`), None if unknown."""
    return None if stamp is None else max(0.0, time.time() - stamp)


def stamped_reader(sock: socket.socket) -> StampedReader | None:
    """A `StampedReader` over `sock` with kernel receive times switched on; None where there are none."""
    if sys.platform != "linux" or not _ANCILLARY:
        return None
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return None
    return StampedReader(sock)
