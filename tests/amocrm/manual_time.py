"""Clocks to inject into the client, its limiter and the simulator's limiter, so a 300 s penalty
passes in little or no real time."""

from __future__ import annotations

import threading
import time


class ManualTime:
    """`monotonic()` and `sleep()` to inject into the client, its limiter and the simulator's limiter.

    Concurrent sleepers each move the clock on by their own wait: time runs ahead of what real
    threads would see, never behind, so "nothing happened before t" stays a valid check."""

    def __init__(self, start: float = 1_000.0):
        self._now = start
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


class ScaledTime:
    """Real time, sped up `factor` times: threads really wait for each other, a 300 s penalty takes
    300 / factor real seconds."""

    def __init__(self, factor: float = 100.0, start: float = 1_000.0):
        self.factor, self._start, self._real_start = factor, start, time.monotonic()

    def monotonic(self) -> float:
        return self._start + (time.monotonic() - self._real_start) * self.factor

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.factor)
