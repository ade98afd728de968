"""The client's rate limiter: never `rate + 1` requests in a second, even when a thread is held up;
after a 429, no thread sends until the server's wait has passed, and waits do not pile up."""

from __future__ import annotations

import threading
import time

import pytest
from manual_time import ManualTime

from pipelines.amocrm import pacing
from pipelines.amocrm.pacing import RateLimiter


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
    pacing._note_gc("start", {})
    time.sleep(0.2)
    pacing._note_gc("stop", {})
    gc_end = time.monotonic()
    sent = []
    for _ in range(7):
        limiter.acquire()
        sent.append(time.monotonic())
    assert sent[-1] >= gc_end + limiter.window  # the 8th request keeps a full window from the late one


def test_a_429_holds_every_thread_even_one_already_waiting_for_its_slot():
    clock = ManualTime()
    waiting, release = threading.Event(), threading.Event()

    def slow_sleep(seconds: float) -> None:  # the first sleep of the worker: it waits for its slot...
        if threading.current_thread().name == "worker" and not release.is_set():
            waiting.set()
            release.wait(5)
        clock.sleep(seconds)

    limiter = RateLimiter(7, clock=clock.monotonic, sleep=slow_sleep)
    for _ in range(7):
        limiter.acquire()  # the window is full: the next one must sleep
    sent: list[float] = []
    worker = threading.Thread(target=lambda: sent.append(limiter.acquire()), name="worker")
    worker.start()
    assert waiting.wait(5)
    started = clock.monotonic()
    limiter.penalize(300, sent_at=started)  # ...when another thread gets a 429 asking for 300 s
    release.set()
    worker.join(5)
    assert sent and sent[0] >= started + 300
    assert limiter.acquire() >= started + 300


def test_429s_to_requests_already_in_flight_add_no_wait():
    clock = ManualTime()
    limiter = RateLimiter(7, clock=clock.monotonic, sleep=clock.sleep)
    in_flight = [limiter.acquire() for _ in range(4)]  # four threads' requests left together
    clock.sleep(0.2)
    assert limiter.penalize(300, in_flight[0]) == pytest.approx(300)  # the first 429 back starts the penalty
    clock.sleep(0.1)
    for sent_at in in_flight[1:]:  # the other three come back 429 too: the same penalty, not three more
        assert limiter.penalize(300, sent_at) == pytest.approx(300)
    resumed = limiter.acquire()
    assert 300 <= resumed - in_flight[0] < 301
    assert limiter.penalize(300, resumed) == pytest.approx(600)  # a 429 to a request sent after it is a new penalty


def test_a_429_holds_threads_even_without_a_rate():
    clock = ManualTime()
    limiter = RateLimiter(None, clock=clock.monotonic, sleep=clock.sleep)
    start = limiter.acquire()
    limiter.penalize(300, start)
    assert limiter.acquire() >= start + 300


def test_a_429_widens_the_margin_up_to_its_cap(caplog):
    clock = ManualTime()
    limiter = RateLimiter(7, clock=clock.monotonic, sleep=clock.sleep)
    assert limiter.window == pytest.approx(1.03)
    in_flight = [limiter.acquire() for _ in range(3)]
    clock.sleep(0.2)  # the first 429 comes back
    limiter.penalize(1, in_flight[0])
    assert limiter.window == pytest.approx(1.06)  # the requests reached the server less evenly than they left
    assert "7 per 1.06 s until a minute passes without one" in caplog.text
    for sent_at in in_flight[1:]:  # 429s to requests in flight when it came: the same burst, no more widening
        limiter.penalize(1, sent_at)
    assert limiter.window == pytest.approx(1.06)
    sent = [limiter.acquire() for _ in range(8)]
    assert sent[-1] - sent[0] >= 1.06 - 1e-9  # the 8th keeps the wider window from the 1st
    for _ in range(5):
        limiter.penalize(1, limiter.acquire())
    assert limiter.window == pytest.approx(1.0 + pacing.MAX_MARGIN)  # 0.03, 0.06, ... capped


def test_without_a_rate_a_429_widens_nothing():
    clock = ManualTime()
    limiter = RateLimiter(None, clock=clock.monotonic, sleep=clock.sleep)
    limiter.penalize(1, limiter.acquire())
    assert limiter.window == 0.0


def test_a_widened_margin_halves_back_after_a_minute_without_429s():
    clock = ManualTime()
    limiter = RateLimiter(7, clock=clock.monotonic, sleep=clock.sleep)
    limiter.penalize(1, limiter.acquire())
    limiter.penalize(1, limiter.acquire())
    assert limiter.window == pytest.approx(1.12)
    clock.sleep(1)  # the penalty: no sending, so it does not count
    clock.sleep(pacing.MARGIN_RECOVERY - 0.5)
    limiter.acquire()
    assert limiter.window == pytest.approx(1.12)
    clock.sleep(0.5)
    limiter.acquire()
    assert limiter.window == pytest.approx(1.06)
    clock.sleep(pacing.MARGIN_RECOVERY)
    limiter.acquire()
    clock.sleep(pacing.MARGIN_RECOVERY)
    limiter.acquire()
    assert limiter.window == pytest.approx(1.03)  # never below the margin it started with
