"""Accounts extracted at the same time, one process each, into one warehouse (issue 14, plan §2.4).

Real: hub simulators over HTTP, the CLI as parallel subprocesses, dlt into one temp DuckDB. Each
process reads the API and normalizes without the warehouse lock, and loads under it; every account
ends up equal to its own truth. The phase test shows where the API reading happens: between the two
lock holds, not inside them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from amocrm_checks import FAST, NOW, assert_matches_truth

from pipelines.amocrm.run import run_extraction
from pipelines.amocrm.source import ExtractionStats
from pipelines.simulator.hub import Simulators
from pipelines.simulator.profiles import derived_specs

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub(clean_env):
    with Simulators.generate(derived_specs(2, seed=11, leads=150), now=NOW, horizon_days=60, rate_limit=None,
                             latency_ms=30) as running:
        yield running


def test_two_accounts_extracted_in_parallel_processes_load_into_one_warehouse(hub, clean_env, monkeypatch):
    env = {k: v for k, v in os.environ.items() if "AMO" not in k.upper()}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(clean_env / "data"), **hub.env()}
    for key in ("acc1", "acc2"):
        env[f"SOURCES__AMOCRM__ACCOUNTS__{key.upper()}__REQUESTS_PER_SECOND"] = "1000"
    processes = {key: subprocess.Popen([sys.executable, "-m", "pipelines.amocrm", "--account", key], cwd=clean_env,
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for key in ("acc1", "acc2")}
    outputs = {key: process.communicate(timeout=600) for key, process in processes.items()}
    for key, process in processes.items():
        assert process.returncode == 0, f"{key}: {outputs[key][1][-3000:]}"
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(clean_env / "data"))
    for key in ("acc1", "acc2"):
        assert_matches_truth(hub[key].truth(), account_id=hub[key].truth().account["id"])


def test_the_api_is_read_between_the_two_write_phases(hub, monkeypatch):
    for name, value in hub.env().items():
        monkeypatch.setenv(name, value)
    stats, seen = ExtractionStats(), []

    @contextmanager
    def write_lock():
        seen.append(("enter", stats.requests.requests))
        yield
        seen.append(("exit", stats.requests.requests))

    summary = run_extraction(account_key="acc1", stats=stats, write_lock=write_lock, **FAST)
    assert [event for event, _ in seen] == ["enter", "exit", "enter", "exit"]
    (_, a_in), (_, a_out), (_, c_in), (_, c_out) = seen
    assert a_in == a_out == 0  # phase A: the warehouse only
    assert c_in == summary.requests > 0 and c_out == c_in  # every request in phase B, none in the lock
    assert_matches_truth(hub["acc1"].truth(), account_id=hub["acc1"].truth().account["id"])
