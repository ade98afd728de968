"""Fixtures for the extractor tests: a small simulated account served over real HTTP, a data folder per test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from amocrm_checks import NOW
from pipelines.simulator import SimulatedAccount, Simulator


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=11, leads=300, now=NOW, horizon_days=60)


@pytest.fixture
def sim(account: SimulatedAccount, data_dir: Path) -> Iterator[Simulator]:
    with Simulator(account, rate_limit=None) as simulator:
        yield simulator


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No amoCRM setting anywhere: no such env vars, a working directory without `.dlt/`."""
    for name in list(os.environ):
        if "AMO" in name.upper() and name != "AMOCRM_KPI_DATA_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path
