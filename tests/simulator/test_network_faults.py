"""Network-level faults the chaos campaign injects: connection resets and latency spikes."""

import time

import pytest
import requests
from sim_support import Client

from pipelines.simulator import Simulator


def test_reset_next_drops_the_connection_then_serves_again(account):
    with Simulator(account, rate_limit=None) as sim:
        client = Client(sim)
        sim.faults.reset_next(2, path="/api/v4/leads")
        assert client.get("/api/v4/account").status_code == 200  # other paths are not affected
        for _ in range(2):
            with pytest.raises(requests.ConnectionError):
                client.get("/api/v4/leads")
        assert client.get("/api/v4/leads").status_code == 200
        assert sim.stats.by_status[0] == 2


def test_spike_next_delays_only_the_armed_requests(account):
    with Simulator(account, rate_limit=None) as sim:
        client = Client(sim)
        sim.faults.spike_next(1, ms=400, path="/api/v4/leads")
        started = time.monotonic()
        assert client.get("/api/v4/leads").status_code == 200
        assert time.monotonic() - started >= 0.4
        started = time.monotonic()
        assert client.get("/api/v4/leads").status_code == 200
        assert time.monotonic() - started < 0.3
