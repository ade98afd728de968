"""amoCRM's request limits: 7 requests/s per integration (429), and a block (403) for repeated abuse."""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from typing import Callable

OK, TOO_MANY, BLOCKED = "ok", "too_many", "blocked"


class RateLimiter:
    """Counts request arrivals in a sliding `window`; more than `rate` of them → 429 (`check`).

    More than `block_after` 429s within `block_window` seconds blocks every request
    for `block_seconds` (real time), as amoCRM does to an abusive integration.

    A 429 that says `retry_after` opens a penalty window (`penalize`); requests
    that arrive inside it are recorded in `early` (their arrival times), so a test
    can tell whether a client honoured the wait. `monotonic` is injectable so a
    300 s penalty can pass in no real time.
    """

    def __init__(self, rate: int | None = 7, window: float = 1.0, block_after: int = 20,
                 block_window: float = 60.0, block_seconds: float = 300.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.rate, self.window = rate, window
        self.block_after, self.block_window, self.block_seconds = block_after, block_window, block_seconds
        self._monotonic = monotonic
        self.real_clock = monotonic is time.monotonic
        self._arrivals: list[float] = []  # arrival times, in order
        self._rejections: deque[float] = deque()
        self._blocked_until = 0.0
        self._penalty_until = 0.0
        self.early: list[float] = []
        self._lock = threading.Lock()

    def check(self, age: float | None = None) -> str:
        """Register one arrival, `age` seconds ago (None: now), and say whether it may be served.

        Requests are counted when they arrived (server.py passes the kernel's receive time), and
        a thread may get to register its request after a later one did: so an arrival is judged by
        every window of `window` seconds it falls in, whenever their arrivals were registered."""
        with self._lock:
            now = self._monotonic()
            at = now - max(0.0, age or 0.0)
            if at < self._penalty_until:
                self.early.append(at)
            if now < self._blocked_until:
                return BLOCKED
            if self.rate is None:
                return OK
            del self._arrivals[:bisect.bisect_right(self._arrivals, now - 2 * self.window)]  # a late one may still come
            bisect.insort(self._arrivals, at)
            if self._crowd(at) <= self.rate:
                return OK
            while self._rejections and self._rejections[0] <= now - self.block_window:
                self._rejections.popleft()
            self._rejections.append(now)
            if len(self._rejections) > self.block_after:
                self._blocked_until = now + self.block_seconds
            return TOO_MANY

    def _crowd(self, at: float) -> int:
        """The most arrivals in one window (s - window, s] that holds the arrival `at`."""
        arrivals = self._arrivals
        ends = [at, *(t for t in arrivals[bisect.bisect_right(arrivals, at):] if t < at + self.window)]
        return max(bisect.bisect_right(arrivals, s) - bisect.bisect_right(arrivals, s - self.window) for s in ends)

    def penalize(self, seconds: float) -> None:
        """A 429 asked the client to wait `seconds` from now."""
        with self._lock:
            self._penalty_until = max(self._penalty_until, self._monotonic() + seconds)

    def now(self) -> float:
        return self._monotonic()

    def block(self, seconds: float | None = None) -> None:
        """Block every request from now on, as amoCRM does after repeated 429s (default `block_seconds`)."""
        with self._lock:
            self._blocked_until = self._monotonic() + (self.block_seconds if seconds is None else seconds)

    def unblock(self) -> None:
        with self._lock:
            self._blocked_until = 0.0
            self._penalty_until = 0.0
            self._rejections.clear()
            self._arrivals.clear()
