"""Fixtures for the extractor tests: a small simulated account served over real HTTP, a data folder per test."""

from __future__ import annotations

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
