"""Shared fixtures: small deterministic accounts and running simulators without rate limits."""

import pytest
from sim_support import NOW, Client

from pipelines.simulator import SimulatedAccount, Simulator


@pytest.fixture(scope="session")
def account():
    """A 300-lead account, shared read-only by tests that do not mutate it."""
    return SimulatedAccount.generate(seed=7, leads=300, now=NOW)


@pytest.fixture
def sim(account):
    with Simulator(account, rate_limit=None) as running:
        yield running


@pytest.fixture
def fresh_sim():
    """A simulator over its own account, for tests that move the clock or edit the account."""
    with Simulator(SimulatedAccount.generate(seed=11, leads=300, now=NOW), rate_limit=None) as running:
        yield running


@pytest.fixture
def client(sim):
    return Client(sim)


@pytest.fixture
def fresh_client(fresh_sim):
    return Client(fresh_sim)
