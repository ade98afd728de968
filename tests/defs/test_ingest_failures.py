"""The Dagster extraction step fails once, with a plain message, for what a retry cannot fix
(configuration mistakes, a 403 block, amoCRM throttling past the budget): its retry policy is bypassed."""

from __future__ import annotations

import time

import dagster as dg
import pytest
from dagster_dlt import DagsterDltResource

from pipelines.amocrm.config_check import EXPECTED_FORM
from pipelines.simulator import SimulatedAccount, Simulator


@pytest.fixture(scope="module")
def sim():
    account = SimulatedAccount.generate(seed=5, leads=50, now=1_790_000_000, horizon_days=30)
    with Simulator(account, rate_limit=None) as simulator:
        yield simulator


def extract_once(monkeypatch, tmp_path, base_url: str, token: str) -> dg.ExecuteInProcessResult:
    from pipelines.defs.ingest import amocrm_extract
    from pipelines.defs.recovery import RUN_GUARD_KEY, run_guard

    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SOURCES__AMOCRM__BASE_URL", base_url)
    monkeypatch.setenv("SOURCES__AMOCRM__ACCESS_TOKEN", token)
    monkeypatch.setenv("SOURCES__AMOCRM__REQUESTS_PER_SECOND", "1000")
    return dg.materialize([amocrm_extract], resources={"dlt": DagsterDltResource(), RUN_GUARD_KEY: run_guard},
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


@pytest.mark.parametrize("case", ["schemeless-url", "rejected-token", "blocked-403", "throttled-past-budget"])
def test_a_failure_no_retry_can_fix_fails_the_step_once_with_a_plain_message(sim, monkeypatch, tmp_path, case):
    base_url, token = sim.base_url, sim.long_lived_token
    if case == "schemeless-url":
        base_url = base_url.removeprefix("http://")
    elif case == "rejected-token":
        token = "a-token-amocrm-does-not-know"
    elif case == "blocked-403":
        sim.block()
    else:
        sim.faults.storm_429(1, retry_after=3_600)
    sim.stats.reset()
    started = time.monotonic()
    try:
        result = extract_once(monkeypatch, tmp_path, base_url, token)
    finally:
        sim.unblock()
        sim.faults.reset()
    assert not result.success
    kinds = [event.event_type for event in result.all_events]
    assert kinds.count(dg.DagsterEventType.STEP_FAILURE) == 1
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in kinds
    message = result.failure_data_for_node("amocrm_extract").error.message  # what the on-call alert carries
    assert "amoCRM extraction failed, not retried" in message and token not in message
    expected = {"schemeless-url": ["has no scheme", EXPECTED_FORM],
                "rejected-token": ["401", "127.0.0.1", EXPECTED_FORM],
                "blocked-403": ["403 Forbidden", "blocks accounts", "support"],
                "throttled-past-budget": ["429 Too Many Requests", "not blocked (403)"]}[case]
    assert all(text in message for text in expected), message
    assert sim.stats.total == (0 if case == "schemeless-url" else 1)
    assert time.monotonic() - started < 30
