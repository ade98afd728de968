"""How current each account's data is, said where people read it (issue 14).

- `dim_accounts.is_stale`: the newest successful extraction older than AMOCRM_KPI_FRESHNESS_HOURS (the
  sensor's setting, default 48) at build time; a bad setting stops dbt, naming it.
- `int_extraction`'s legacy rule (no `raw_amocrm.extractions` row names the account's newest load) is
  loud: a dbt warning naming the account and load, and the warn test `extraction_time_named_by_extractions`.

Real: a copy of the shared warehouse (simulator -> dlt -> dbt), changed as an old warehouse or a stopped
extraction would leave it, and `dbt build` on it.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

SELECT = ["--select", "int_extraction", "dim_accounts"]


@pytest.fixture
def own_copy(kpi_warehouse, tmp_path):
    return kpi_warehouse.copy(tmp_path / "freshness")


def _execute(warehouse, sql: str) -> None:
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute(sql)


def _accounts(warehouse):
    return warehouse.query("select account_id, extracted_at, last_extracted_at, is_stale, stale_after_hours, "
                           "freshness_checked_at from marts.dim_accounts")


def test_an_account_extracted_longer_ago_than_the_limit_is_stale(kpi_warehouse, own_copy, monkeypatch):
    monkeypatch.delenv("AMOCRM_KPI_FRESHNESS_HOURS", raising=False)
    fresh = _accounts(kpi_warehouse)  # built with the defaults just after its extraction
    assert len(fresh) == 1 and fresh.at[0, "is_stale"] is False and fresh.at[0, "stale_after_hours"] == 48
    assert fresh.at[0, "last_extracted_at"] == fresh.at[0, "extracted_at"]
    checked, extracted = fresh.at[0, "freshness_checked_at"], fresh.at[0, "extracted_at"]
    assert extracted <= checked < extracted + timedelta(hours=1)  # judged at the build, right after the load

    _execute(own_copy, "update raw_amocrm._dlt_loads set inserted_at = inserted_at - interval 50 hours")
    own_copy.dbt("build", *SELECT)  # the extractions stopped two days ago
    stale = _accounts(own_copy)
    assert stale.at[0, "is_stale"] is True
    assert stale.at[0, "last_extracted_at"] == fresh.at[0, "last_extracted_at"] - timedelta(hours=50)

    monkeypatch.setenv("AMOCRM_KPI_FRESHNESS_HOURS", "72.5")  # the sensor's setting, read by dbt too
    own_copy.dbt("build", *SELECT)
    assert _accounts(own_copy).at[0, "is_stale"] is False and _accounts(own_copy).at[0, "stale_after_hours"] == 72.5

    monkeypatch.setenv("AMOCRM_KPI_FRESHNESS_HOURS", "two days")
    failed = own_copy.dbt("build", *SELECT, check=False)
    assert failed.returncode != 0
    assert "AMOCRM_KPI_FRESHNESS_HOURS (dbt var amocrm_freshness_hours) must be a number of hours" in failed.stdout
    assert "'two days'" in failed.stdout


def test_an_extraction_time_the_legacy_rule_gives_is_warned_about_naming_account_and_load(kpi_warehouse, own_copy):
    assert "PASS extraction_time_named_by_extractions" in kpi_warehouse.build_result.stdout
    assert kpi_warehouse.query("select extracted_at_rule from intermediate.int_extraction")[
        "extracted_at_rule"].tolist() == ["extractions"]

    _execute(own_copy, "delete from raw_amocrm.extractions")  # as a warehouse loaded before the table existed
    legacy = own_copy.dbt("build", "--select", "int_extraction")
    assert "WARN 1 extraction_time_named_by_extractions" in legacy.stdout
    row = own_copy.query("select account_id, extracted_at_rule, extracted_load_id from intermediate.int_extraction")
    account_id, rule, load_id = row.iloc[0]
    assert rule == "reference_tables"
    newest = own_copy.query("select load_id from raw_amocrm._dlt_loads where status = 0 "
                            "order by inserted_at desc limit 1")  # one account: every load is its own
    assert load_id == newest.iat[0, 0]
    warning = " ".join(legacy.stdout.split())  # dbt wraps long log lines
    assert "raw_amocrm.extractions names no newest load of 1 account(s)" in warning
    assert f"account {account_id} by load {load_id}" in warning and "rule reference_tables" in warning
    assert "python -m pipelines.amocrm --account KEY" in warning
