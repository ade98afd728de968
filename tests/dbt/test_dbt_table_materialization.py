"""The project's `table` materialization (dbt_project/macros/table_materialization.sql) on a tiny dbt project that
uses it: one `create or replace table` a model, yet dbt's contract check still fails the build with dbt's message,
a failed build keeps the old table, a view of the same name becomes the table, and Python models still build;
data tests (macros/test_materialization.sql) run without a transaction and still fail on bad rows, and incremental
models' on_schema_change (macros/incremental_schema_check.sql) still fails or adds columns as dbt's does."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DBT, _run_dbt_command
from tests.dbt.tiny_project import write_tiny_project

pytestmark = pytest.mark.slow

MACROS = ["table_materialization.sql", "test_materialization.sql", "incremental_schema_check.sql",
          "incremental_materialization.sql", "row_key.sql"]
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
        data_tests: [not_null]
  - name: stages
    config:
      materialized: table
  - name: stage_counts
    config:
      materialized: table
    columns:
      - name: stage
        data_tests:
          - accepted_values: {arguments: {values: [new]}}
"""
DEALS = "select {deal_id} as deal_id, stage from (values (1, 'new'), (2, 'won')) as t(n, stage)"
PYTHON = """def model(dbt, session):
    return dbt.ref("deals").aggregate("stage, count(*) as deals")
"""
INCREMENTAL = """{{{{ config(materialized='incremental', on_schema_change='{mode}') }}}}
select n, 'x' as label{extra} from range({rows}) as t(n)
{{% if is_incremental() %}}where n >= (select count(*) from {{{{ this }}}}){{% endif %}}
"""


def _project(root: Path) -> None:
    write_tiny_project(root, "tablemat", macros=MACROS)
    (root / "models" / "schema.yml").write_text(SCHEMA)
    (root / "models" / "deals.sql").write_text(DEALS.format(deal_id="n"))
    (root / "models" / "stages.sql").write_text("select distinct stage from {{ ref('deals') }}")
    (root / "models" / "stage_counts.py").write_text(PYTHON)
    for name, mode in (("strict", "fail"), ("growing", "append_new_columns")):
        (root / "models" / f"{name}.sql").write_text(INCREMENTAL.format(mode=mode, extra="", rows=2))


def _dbt(root: Path, *args: str):
    command = [str(DBT), *args, "--project-dir", str(root), "--profiles-dir", str(root),
               "--target-path", str(root / "target"), "--log-path", str(root / "logs")]
    return _run_dbt_command(command, {**os.environ, "AMOCRM_KPI_DATA_DIR": str(root)}, root)


def _rows(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_tables_tests_and_incremental_schema_checks_keep_dbt_behaviour(tmp_path):
    root = tmp_path / "proj"
    _project(root)
    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        connection.execute("create view main.stages as select 'old' as stage")  # a view before: becomes a table

    # Every model builds; of the tests, accepted_values on stage_counts fails ('won'), the others pass.
    built = _dbt(root, "build")
    assert built.returncode != 0
    assert "FAIL 1 accepted_values_stage_counts_stage" in built.stdout and "PASS not_null_deals_stage" in built.stdout
    assert _rows(root, "select * from main.deals order by deal_id") == [(1, "new"), (2, "won")]
    assert _rows(root, "select table_type from information_schema.tables where table_name = 'stages'") == [
        ("BASE TABLE",)]
    assert sorted(_rows(root, "select * from main.stage_counts")) == [("new", 1), ("won", 1)]
    assert _rows(root, "select count(*) from main_dbt_test__audit.unique_deals_deal_id") == [(0,)]  # stored
    assert _rows(root, "select table_name from information_schema.tables where table_name like '%__dbt_%'") == []
    log = (root / "logs" / "dbt.log").read_text()
    assert "create or replace table" in log and "__dbt_backup" not in log
    test_lines = [line for line in log.splitlines() if "not_null_deals_stage" in line]
    assert test_lines and not [line for line in test_lines if "BEGIN" in line or "ROLLBACK" in line]

    assert _dbt(root, "run", "--full-refresh", "--exclude", "stage_counts").returncode == 0
    assert _rows(root, "select count(*) from main.deals") == [(2,)]

    # The SQL now yields a varchar deal_id, the YAML says integer: dbt's contract check fails the build and the
    # old table stays. The incremental models gain a column: `fail` fails, `append_new_columns` adds it.
    (root / "models" / "deals.sql").write_text(DEALS.format(deal_id="n::varchar"))
    for name, mode in (("strict", "fail"), ("growing", "append_new_columns")):
        (root / "models" / f"{name}.sql").write_text(INCREMENTAL.format(mode=mode, extra=", n * 2 as twice", rows=3))
    changed = _dbt(root, "run", "--select", "deals", "strict", "growing")
    assert changed.returncode != 0
    assert "This model has an enforced contract that failed" in changed.stdout
    assert "deal_id" in changed.stdout and "VARCHAR" in changed.stdout.upper()
    assert _rows(root, "select * from main.deals order by deal_id") == [(1, "new"), (2, "won")]
    assert "The source and target schemas on this incremental model are out of sync" in changed.stdout
    assert _rows(root, "select count(*) from main.strict") == [(2,)]
    assert _rows(root, "select n, twice from main.growing order by n") == [(0, None), (1, None), (2, 4)]
    assert "schema changed: True" in (root / "logs" / "dbt.log").read_text()  # the project's check ran
