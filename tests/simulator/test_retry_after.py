"""The simulator's 429 with `retry_after` (in the body or a `Retry-After` header), the penalty window it
opens (requests inside it are recorded), and an immediate 403 block."""

from __future__ import annotations

from sim_support import Client

from pipelines.simulator import Simulator


class Ticks:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_storm_with_retry_after_opens_a_window_and_records_early_requests(account):
    ticks = Ticks()
    with Simulator(account, rate_limit=None, monotonic=ticks) as sim:
        client = Client(sim)
        sim.faults.storm_429(1, retry_after=300)
        sim.faults.storm_429(1, retry_after=300, header=True)
        in_body, in_header = client.get("/api/v4/account"), client.get("/api/v4/account")
        assert in_body.status_code == in_header.status_code == 429
        assert in_body.json()["retry_after"] == 300 and in_header.headers["Retry-After"] == "300"
        ticks.now = 299.0
        assert client.get("/api/v4/account").status_code == 200  # answered, but noted as too early
        ticks.now = 300.0
        assert client.get("/api/v4/account").status_code == 200
        assert sim.limiter.early == [0.0, 299.0]  # the second 429 came inside the first one's window too


def test_block_answers_every_request_with_the_nginx_403_until_unblocked(client, sim):
    sim.block()
    blocked = client.get("/api/v4/leads")
    assert blocked.status_code == 403 and "nginx" in blocked.text
    sim.unblock()
    assert client.get("/api/v4/leads").status_code == 200
