"""Pacing of every request of a run: amoCRM's 7 requests/s, and the penalty a 429 imposes on all threads.

amoCRM allows 7 requests/s per integration, answers 429 with `retry_after: 300`
when that is exceeded, and blocks the account (403) when the 429s go on. So one
`RateLimiter` paces every thread of a run just under the limit, and a 429 holds
all of them until the server's `retry_after` has passed, not just the one that
got it. A 429 also means the requests reached amoCRM less evenly than they left
(network or CPU delays ate the margin), so the margin doubles for the rest of the run.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from typing import Callable

log = logging.getLogger(__name__)

MARGIN = 0.03  # 7 requests per 1.03 s: 97% of the limit
MAX_MARGIN = 0.24  # after 429s the margin doubles up to this: 7 per 1.24 s (81%)
MARGIN_RECOVERY = 60.0  # seconds of sending without a 429 after which a widened margin halves back
GC_SEND_SLACK = 0.05  # seconds a thread may take from being counted to reaching its socket
_gc_started = 0.0
_gc_pause = (0.0, 0.0)  # time.monotonic() at the start and the end of the latest collection that stood out


def _note_gc(phase: str, info: dict) -> None:
    """Threads stand still while the collector runs (~0.1 s for a full collection here)."""
    global _gc_started, _gc_pause
    now = time.monotonic()
    if phase == "start":
        _gc_started = now
    elif now - _gc_started > GC_SEND_SLACK / 10:  # the frequent short ones hide in the margin
        _gc_pause = (_gc_started, now)


gc.callbacks.append(_note_gc)


class RateLimiter:
    """Lets a request go when fewer than `rate` went in the last `1 + margin` seconds, to all threads.

    It counts when requests really leave, not slots planned ahead: a thread that
    oversleeps its planned slot (a garbage collection stops every thread for
    ~0.1 s) would leave late, into the 1 s window of the requests planned after
    it, and the server would see `rate + 1` requests in a second (429). A request
    counted just before or during a collection may reach its socket only when
    the collection ends, so it counts from then. Requests are at least half an
    even spacing apart (no bursts), so the time a pause costs is caught up within
    the window. The margin absorbs network jitter; a 429 doubles it (up to `max_margin`).

    `penalize` holds every thread after a 429 until the server's wait has passed;
    `acquire` is the last step before a request leaves, and re-checks the penalty
    after every sleep, so no thread sends inside the window. `clock`/`sleep` are
    injectable so a test can let a 300 s penalty pass in no real time.
    """

    def __init__(self, rate: float | None, margin: float = MARGIN, *, max_margin: float = MAX_MARGIN,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.rate, self.base_margin, self.max_margin = rate, margin, max(margin, max_margin)
        self._widened_at = float("-inf")
        self._count = count = max(1, int(rate)) if rate else 0
        self._set_margin(margin)
        self._sent: deque[float] = deque(maxlen=count or None)
        self._clock, self._sleep = clock, sleep
        self._paused_until = 0.0
        self.penalty_started = float("-inf")  # when the latest penalty began (clock time)
        self.penalty_total = 0.0  # seconds of waiting the server imposed on this run, overlaps counted once
        self._gc_seen = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a slot; returns the time the request leaves (pass it to `penalize` on a 429)."""
        while True:
            with self._lock:
                now = self._clock()
                if self._clock is time.monotonic:  # a collection stops real threads, not a test's clock
                    self._after_gc()
                if self.margin > self.base_margin and now - max(self._widened_at, self._paused_until) >= MARGIN_RECOVERY:
                    self._set_margin(max(self.base_margin, self.margin / 2))  # the delays that cost a 429 passed
                    self._widened_at = now
                ready = self._paused_until
                if self.window and self._sent:
                    ready = max(ready, self._sent[-1] + self._gap)
                if self.window and len(self._sent) == self._sent.maxlen:
                    ready = max(ready, self._sent[0] + self.window)
                if now >= ready:
                    if self.window:
                        self._sent.append(now)
                    return now
            self._sleep(ready - now)

    def penalize(self, seconds: float, sent_at: float) -> float:
        """The server answered 429 to a request that left at `sent_at` and asked to wait `seconds`:
        hold every thread until then. A 429 to a request that left before the current penalty began
        was in flight when it began, and adds nothing. Returns `penalty_total`."""
        with self._lock:
            now = self._clock()
            if sent_at < self.penalty_started:
                return self.penalty_total
            until = now + seconds
            self.penalty_total += max(0.0, until - max(now, self._paused_until))
            self._paused_until = max(self._paused_until, until)
            self.penalty_started = now
            if self.window and self.margin < self.max_margin:
                before = self.window
                self._set_margin(min(self.max_margin, 2 * self.margin))
                self._widened_at = now
                log.warning("429 although this run sent at most %d requests per %.2f s: they reach amoCRM less "
                            "evenly than they leave (network or CPU delays); %d per %.2f s until a minute passes without one",
                            self._count, before, self._count, self.window)
            return self.penalty_total

    def _set_margin(self, margin: float) -> None:
        """`rate` requests per `window` = (1 + margin) s, at least half an even spacing apart."""
        self.margin = margin
        self.window = (1.0 + margin) * self._count / self.rate if self.rate else 0.0
        self._gap = self.window / self._count / 2 if self.rate else 0.0

    def _after_gc(self) -> None:
        """Requests counted just before or during the latest collection left when it ended."""
        started, ended = _gc_pause
        if ended > self._gc_seen:
            self._gc_seen = ended
            cutoff = started - GC_SEND_SLACK
            self._sent = deque((max(t, ended) if t > cutoff else t for t in self._sent), self._sent.maxlen)
