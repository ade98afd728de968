"""Fixtures of the report tests: a small marts database shaped like the published contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_accounts import build_accounts
from report_marts import TODAY, build_marts

from pipelines.report import Report, build_report


@pytest.fixture(scope="session")
def marts_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only for tests: a copy of the serving database with exactly the contract's tables."""
    return build_marts(tmp_path_factory.mktemp("marts") / "amocrm_kpi.duckdb")


@pytest.fixture(scope="session")
def ru_report(marts_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    return build_report(marts_db, tmp_path_factory.mktemp("reports"), today=TODAY)


@pytest.fixture(scope="session")
def two_accounts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, dict[int, Report]]:
    """The report of a two-account serving copy, and each account's report built from its marts alone."""
    folder = tmp_path_factory.mktemp("accounts")
    both, alone = build_accounts(folder)
    report = build_report(both, folder / "reports", today=TODAY)
    singles = {a: build_report(path, folder / f"alone_{a}", today=TODAY) for a, path in alone.items()}
    return report, singles
