"""The Dagster asset `user_inputs`: empty files warn, a bad file fails its check loudly but keeps the
inputs loaded before, so the rest of the run (the amoCRM KPIs) goes on."""

from __future__ import annotations

import logging

import dagster as dg
import duckdb
import pytest

# Loading the definitions may re-parse the dbt project into its target folder: one worker at a time.
pytestmark = pytest.mark.xdist_group("dagster")

GOOD_SPEND = "month;channel;amount\n2026-01;yandex;1 000,50\n"
TARGETS = "month,manager,target_revenue,target_deals\n2026-01,7700002,1000,2\n"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    return tmp_path


def _materialize(data_dir):
    from pipelines.defs.ingest import user_inputs
    from pipelines.defs.recovery import RUN_GUARD_KEY, run_guard

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([user_inputs], resources={RUN_GUARD_KEY: run_guard}, instance=instance,
                            raise_on_error=False)
    metadata = result.asset_materializations_for_node("user_inputs")[0].metadata
    (check,) = result.get_asset_check_evaluations()
    result.logged = {(entry.level, entry.user_message) for entry in instance.all_logs(result.run_id)
                     if not entry.is_dagster_event}
    return result, {k: v.value for k, v in metadata.items()}, check


def _spend(data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute("select month, channel, amount from raw_inputs.marketing_spend").fetchall()


def test_header_only_file_loads_as_no_rows_with_a_visible_warning(data_dir):
    (data_dir / "marketing_spend.csv").write_text(GOOD_SPEND, encoding="utf-8")
    (data_dir / "sales_targets.csv").write_text("month,manager,target_revenue,target_deals\n", encoding="utf-8")
    result, metadata, check = _materialize(data_dir)
    assert result.success and check.passed
    assert metadata["rows"] == {"marketing_spend": 1, "sales_targets": 0}
    warning = f"{data_dir / 'sales_targets.csv'} has a header and no rows: loaded as no rows"
    assert metadata["warnings"] == [warning]
    assert (logging.WARNING, warning) in result.logged


def test_a_bad_file_fails_the_check_and_keeps_the_inputs_loaded_before(data_dir):
    (data_dir / "marketing_spend.csv").write_text(GOOD_SPEND, encoding="utf-8")
    (data_dir / "sales_targets.csv").write_text(TARGETS, encoding="utf-8")
    assert _materialize(data_dir)[0].success
    before = _spend(data_dir)

    (data_dir / "marketing_spend.csv").write_text(GOOD_SPEND + "2026-01;Yandex;5\n", encoding="utf-8")
    result, metadata, check = _materialize(data_dir)
    assert result.success  # the run goes on: dbt builds the amoCRM KPIs from the inputs loaded before
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    expected = f"{data_dir / 'marketing_spend.csv'}, line 3: month 2026-01-01, channel yandex is already on line 2"
    assert check.description.startswith(expected)
    assert metadata["error"].startswith(expected)
    assert any(level == logging.ERROR and expected in message for level, message in result.logged)
    assert _spend(data_dir) == before


def test_a_bad_file_on_the_first_run_leaves_empty_inputs_for_dbt(data_dir):
    (data_dir / "marketing_spend.csv").write_bytes("month;channel;amount\n2026-01;Яндекс;1\n".encode("cp1251"))
    result, metadata, check = _materialize(data_dir)
    assert result.success and not check.passed
    assert "is not UTF-8 text" in metadata["error"]
    assert _spend(data_dir) == []
