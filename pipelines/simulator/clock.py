"""The simulated clock: the API, token lifetimes and the HTTP `Date` header all read it."""

from __future__ import annotations

import threading


class Clock:
    """Stands still until a test moves it; bounded by the account's timeline."""

    def __init__(self, now: int, earliest: int, latest: int):
        self._now, self.earliest, self.latest = int(now), int(earliest), int(latest)
        self._lock = threading.Lock()

    @property
    def now(self) -> int:
        return self._now

    def set(self, ts: int) -> int:
        ts = int(ts)
        if not self.earliest <= ts <= self.latest:
            raise ValueError(f"the simulated clock must stay within the account's timeline "
                             f"[{self.earliest}, {self.latest}] (got {ts}); generate with a larger horizon_days")
        with self._lock:
            self._now = ts
        return ts

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> int:
        with self._lock:
            target = self._now + round(days * 86_400 + hours * 3_600 + minutes * 60 + seconds)
        return self.set(target)
