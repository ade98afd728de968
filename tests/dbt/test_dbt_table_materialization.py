"""The project's `table` materialization (dbt_project/macros/table_materialization.sql) on a tiny dbt project that
uses it: one `create or replace table` a model, yet dbt's contract check still fails the build with dbt's message,
a failed build keeps the old table, a view of the same name becomes the table, and Python models still build;
data tests (macros/test_materialization.sql) run without a transaction and still fail on bad rows."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DBT, DBT_PROJECT_DIR, _run_dbt_command

pytestmark = pytest.mark.slow

MACROS = ["table_materialization.sql", "test_materialization.sql", "incremental_schema_check.sql"]
PROJECT = """name: tablemat
version: "1.0.0"
config-version: 2
profile: tablemat
macro-paths: ["macros"]
flags:
  send_anonymous_usage_stats: false
"""
PROFILES = """tablemat:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('AMOCRM_KPI_DATA_DIR') }}/warehouse.duckdb"
      threads: 1
"""
SCHEMA = """version: 2
models:
  - name: deals
    config:
      materialized: table
      contract:
        enforced: true
    columns:
      - name: deal_id
        data_type: integer
        constraints: [{type: not_null}]
        data_tests:
          - unique: {config: {store_failures: true}}
      - name: stage
        data_type: varchar
        data_tests:
          - not_null
          - accepted_values: {arguments: {values: [new]}}
  - name: stages
    config:
      materialized: table
  - name: stage_counts
    config:
      materialized: table
"""
DEALS = "select {deal_id} as deal_id, stage from (values (1, 'new'), (2, 'won')) as t(n, stage)"
PYTHON = """def model(dbt, session):
    return dbt.ref("deals").aggregate("stage, count(*) as deals")
"""


def _project(root: Path, deals_id: str) -> None:
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "macros").mkdir(exist_ok=True)
    for macros in MACROS:
        shutil.copy(DBT_PROJECT_DIR / "macros" / macros, root / "macros")
    (root / "dbt_project.yml").write_text(PROJECT)
    (root / "profiles.yml").write_text(PROFILES)
    (root / "models" / "schema.yml").write_text(SCHEMA)
    (root / "models" / "deals.sql").write_text(DEALS.format(deal_id=deals_id))
    (root / "models" / "stages.sql").write_text("select distinct stage from {{ ref('deals') }}")
    (root / "models" / "stage_counts.py").write_text(PYTHON)


def _dbt(root: Path, *args: str):
    command = [str(DBT), *args, "--project-dir", str(root), "--profiles-dir", str(root),
               "--target-path", str(root / "target"), "--log-path", str(root / "logs")]
    return _run_dbt_command(command, {**os.environ, "AMOCRM_KPI_DATA_DIR": str(root)}, root)


def _rows(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_tables_are_replaced_in_place_and_contracts_still_checked(tmp_path):
    root = tmp_path / "proj"
    _project(root, "n")
    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        connection.execute("create view main.stages as select 'old' as stage")  # a view before: becomes a table

    built = _dbt(root, "run")
    assert built.returncode == 0, built.stdout[-4000:]
    assert _rows(root, "select * from main.deals order by deal_id") == [(1, "new"), (2, "won")]
    assert _rows(root, "select table_type from information_schema.tables where table_name = 'stages'") == [
        ("BASE TABLE",)]
    assert sorted(_rows(root, "select * from main.stage_counts")) == [("new", 1), ("won", 1)]
    assert _rows(root, "select * from main.deals where deal_id is null") == []
    leftovers = _rows(root, "select table_name from information_schema.tables where table_name like '%__dbt_%'")
    assert leftovers == []
    log = (root / "logs" / "dbt.log").read_text()
    assert "create or replace table" in log and "__dbt_backup" not in log and "__dbt_tmp" not in log

    # Tests (macros/test_materialization.sql): a failing one fails, a passing one passes, store_failures stores.
    tested = _dbt(root, "test")
    assert tested.returncode != 0
    assert "FAIL 1 accepted_values_deals_stage" in tested.stdout and "PASS not_null_deals_stage" in tested.stdout
    assert _rows(root, "select count(*) from main_dbt_test__audit.unique_deals_deal_id") == [(0,)]
    lines = [line for line in (root / "logs" / "dbt.log").read_text().splitlines() if "not_null_deals_stage" in line]
    assert lines and not [line for line in lines if "BEGIN" in line or "ROLLBACK" in line]

    again = _dbt(root, "run", "--full-refresh")
    assert again.returncode == 0, again.stdout[-4000:]
    assert _rows(root, "select count(*) from main.deals") == [(2,)]

    # The SQL now yields a varchar deal_id, the YAML says integer: dbt's contract check fails the build.
    (root / "models" / "deals.sql").write_text(DEALS.format(deal_id="n::varchar"))
    broken = _dbt(root, "run", "--select", "deals")
    assert broken.returncode != 0
    assert "This model has an enforced contract that failed" in broken.stdout
    assert "deal_id" in broken.stdout and "VARCHAR" in broken.stdout.upper()
    assert _rows(root, "select * from main.deals order by deal_id") == [(1, "new"), (2, "won")]  # old table kept


INCREMENTAL = """{{{{ config(materialized='incremental', on_schema_change='{mode}') }}}}
select n, 'x' as label{extra} from range({rows}) as t(n)
{{% if is_incremental() %}}where n >= (select count(*) from {{{{ this }}}}){{% endif %}}
"""


def test_incremental_schema_changes_still_fail_or_add_columns(tmp_path):
    """The incremental on_schema_change check (macros/incremental_schema_check.sql) still fails the build with
    dbt's message on a new column under `fail`, and adds it under `append_new_columns`."""
    root = tmp_path / "proj"
    _project(root, "n")
    for name in ("stages.sql", "stage_counts.py"):
        (root / "models" / name).unlink()
    (root / "models" / "schema.yml").write_text("version: 2\n")
    for mode in ("fail", "append_new_columns"):
        (root / "models" / "deals.sql").write_text(INCREMENTAL.format(mode=mode, extra="", rows=2))
        assert _dbt(root, "run", "--full-refresh").returncode == 0
        (root / "models" / "deals.sql").write_text(INCREMENTAL.format(mode=mode, extra=", n * 2 as twice", rows=3))
        changed = _dbt(root, "run")
        if mode == "fail":
            assert changed.returncode != 0
            assert "The source and target schemas on this incremental model are out of sync" in changed.stdout
            assert _rows(root, "select count(*) from main.deals") == [(2,)]
        else:
            assert changed.returncode == 0, changed.stdout[-4000:]
            assert _rows(root, "select n, twice from main.deals order by n") == [(0, None), (1, None), (2, 4)]
    log = (root / "logs" / "dbt.log").read_text()
    assert "schema changed: True" in log  # the project's check ran, not dbt's default
