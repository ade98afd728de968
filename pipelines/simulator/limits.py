"""amoCRM's request limits: 7 requests/s per integration (429), and a block (403) for repeated abuse."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

OK, TOO_MANY, BLOCKED = "ok", "too_many", "blocked"


class RateLimiter:
    """Counts request arrivals in a sliding `window`; more than `rate` of them → 429.

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
        self._arrivals: deque[float] = deque()
        self._rejections: deque[float] = deque()
        self._blocked_until = 0.0
        self._penalty_until = 0.0
        self.early: list[float] = []
        self._lock = threading.Lock()

    def check(self) -> str:
        """Register one arrival and say whether it may be served."""
        with self._lock:
            now = self._monotonic()
            if now < self._penalty_until:
                self.early.append(now)
            if now < self._blocked_until:
                return BLOCKED
            if self.rate is None:
                return OK
            while self._arrivals and self._arrivals[0] <= now - self.window:
                self._arrivals.popleft()
            self._arrivals.append(now)
            if len(self._arrivals) <= self.rate:
                return OK
            while self._rejections and self._rejections[0] <= now - self.block_window:
                self._rejections.popleft()
            self._rejections.append(now)
            if len(self._rejections) > self.block_after:
                self._blocked_until = now + self.block_seconds
            return TOO_MANY

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
