"""API etiquette over HTTP: a 429's `retry_after` is honoured in full by every thread, in simulated time,
and a run that amoCRM keeps throttling stops with a plain message instead of earning a 403 block."""

from __future__ import annotations

import threading
import time

import pytest
from amocrm_checks import extract
from manual_time import ScaledTime

from pipelines.amocrm.auth import LongLivedToken
from pipelines.amocrm.client import AmoClient, AmoRateLimitError, amo_cause
from pipelines.amocrm.pacing import RateLimiter
from pipelines.simulator import Simulator

THREADS = 4


def record_sends(limiter: RateLimiter) -> list[float]:
    """The time of every request the limiter lets go from now on."""
    sends: list[float] = []
    acquire = limiter.acquire

    def recording() -> float:
        sent = acquire()
        sends.append(sent)
        return sent

    limiter.acquire = recording
    return sends


@pytest.mark.parametrize("header", [False, True], ids=["body", "header"])
def test_retry_after_300_holds_every_thread_for_300_seconds(account, header):
    clock = ScaledTime(100)  # threads really wait for each other; 300 s pass in 3 s
    # the server does not count 7/s: at this speed real network delays would squeeze arrivals together
    with Simulator(account, rate_limit=None, monotonic=clock.monotonic) as sim:
        limiter = RateLimiter(7, clock=clock.monotonic, sleep=clock.sleep)
        client = AmoClient(sim.base_url, LongLivedToken(sim.long_lived_token), limiter=limiter, sleep=clock.sleep)
        client.get_json("/api/v4/account")
        sends = record_sends(limiter)
        sim.faults.storm_429(1, retry_after=300, header=header)
        started, real_start = clock.monotonic(), time.monotonic()
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for page in range(1, 4):
                    client.get_json("/api/v4/leads", {"limit": 5, "page": worker * 3 + page})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        assert sim.stats.by_status[429] == 1 and sim.stats.by_status[200] == 1 + THREADS * 3
        begun = limiter.penalty_started  # when the client heard of the 429
        assert [sent for sent in sends if begun <= sent < begun + 300] == []  # no thread sent in the window
        # the server saw in the window only requests that were on their way before the client heard of it
        assert len(sim.limiter.early) <= len([sent for sent in sends if started <= sent < begun]) - 1
        assert 300 <= clock.monotonic() - started < 400  # one wait for all threads, not one each
        assert limiter.penalty_total == pytest.approx(300, abs=5)
        assert time.monotonic() - real_start < 6


def test_server_asking_for_more_than_the_budget_stops_the_run_with_a_plain_message(sim):
    sim.faults.storm_429(1, retry_after=3_600)  # amoCRM: come back in an hour
    started = time.monotonic()
    with pytest.raises(Exception) as failed:
        extract(sim)
    error = amo_cause(failed.value)
    assert isinstance(error, AmoRateLimitError) and not error.retryable
    assert time.monotonic() - started < 5
    message = str(error)
    assert "429 Too Many Requests" in message and "60 min in total" in message and "not blocked (403)" in message
    assert "127.0.0.1" in message and sim.long_lived_token not in message
    assert sim.stats.by_status[429] == 1  # it stopped at once: nothing more was sent
