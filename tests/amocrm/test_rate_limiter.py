"""The client's rate limiter: never `rate + 1` requests in a second, even when a thread is held up."""

from __future__ import annotations

import threading
import time

from pipelines.amocrm import client
from pipelines.amocrm.client import RateLimiter


def test_never_more_than_rate_in_any_second():
    limiter = RateLimiter(7)
    sent: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + 2.5

    def work() -> None:
        while time.monotonic() < end:
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    assert len(sent) >= 14  # it does let them through, ~7 a second
    assert all(later - first > 1.0 for first, later in zip(sent, sent[7:]))


def test_a_request_held_up_by_a_garbage_collection_counts_from_its_end():
    limiter = RateLimiter(7)
    limiter.acquire()  # counted now, but the collector stops this thread before it reaches its socket
    client._note_gc("start", {})
    time.sleep(0.2)
    client._note_gc("stop", {})
    gc_end = time.monotonic()
    sent = []
    for _ in range(7):
        limiter.acquire()
        sent.append(time.monotonic())
    assert sent[-1] >= gc_end + limiter.window  # the 8th request keeps a full window from the late one
