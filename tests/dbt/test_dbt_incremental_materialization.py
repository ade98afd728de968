"""The project's `incremental` materialization (dbt_project/macros/incremental_materialization.sql) on a tiny dbt project
that uses every strategy the project does (append, delete+insert, merge, the custom replace_rows): a first build by one
`create or replace table`, an incremental run by a temporary table and one statement of the strategy, hooks committed
with the rows (or rolled back with them), on_schema_change `fail` and `append_new_columns` as dbt's, an enforced contract
checked, a full refresh equal to the incremental result, `full_refresh=false` kept by --full-refresh, and a failing model
that leaves the old table as it was."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DBT, _run_dbt_command
from tests.dbt.tiny_project import write_tiny_project

pytestmark = pytest.mark.slow

MACROS = ["table_materialization.sql", "incremental_materialization.sql", "incremental_schema_check.sql",
          "changed_rows_incremental.sql", "pipeline_daily.sql", "row_key.sql", "duplicate_keys.sql"]
SCHEMA = """version: 2
models:
  - name: contracted
    config:
      contract:
        enforced: true
    columns:
      - name: id
        data_type: integer
        constraints: [{type: not_null}]
      - name: value
        data_type: varchar
"""
# The rows of the newest batch (every row on a full build), as the project's by-load models read their new loads.
NEW_ROWS = "select id, grp, value from main.raw_rows {% if is_incremental() %}where batch = (select max(batch) from main.raw_rows){% endif %}"
MODELS = {
    # append, with a pre-hook and a post-hook writing a record that must commit (or roll back) with the rows
    "appended": "{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail', "
                "pre_hook=\"insert into main.hook_log select '{{ this.name }} pre'\", "
                "post_hook=\"insert into main.hook_log select '{{ this.name }} post'\") }}\n"
                "select id, value from main.raw_rows "
                "{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}",
    "replaced": "{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['id'], "
                "on_schema_change='fail') }}\n" + NEW_ROWS,
    "merged": "{{ config(materialized='incremental', incremental_strategy='merge', unique_key=['id'], "
              "on_schema_change='append_new_columns', post_hook=\"{{ log_changed_rows() }}\") }}\n" + NEW_ROWS,
    # nulls in the key: replace_rows matches them (delete+insert would keep both rows)
    "custom": "{{ config(materialized='incremental', incremental_strategy='replace_rows', unique_key=['grp'], "
              "on_schema_change='fail') }}\n"
              "select grp, count(*) as row_count, max(value) as value from main.raw_rows "
              "{% if is_incremental() %}where coalesce(grp, '') in (select coalesce(grp, '') from main.raw_rows "
              "where batch = (select max(batch) from main.raw_rows)){% endif %} group by grp",
    "contracted": "{{ config(materialized='incremental', incremental_strategy='merge', unique_key=['id'], "
                  "on_schema_change='fail') }}\nselect id, value from (" + NEW_ROWS + ") as new_rows",
    "kept": "{{ config(materialized='incremental', full_refresh=false, on_schema_change='fail') }}\n"
            "select count(*) as rows, max(batch) as batch from main.raw_rows",
}


def _project(root: Path) -> None:
    write_tiny_project(root, "incmat", macros=MACROS)
    (root / "models" / "schema.yml").write_text(SCHEMA)
    for name, sql in MODELS.items():
        (root / "models" / f"{name}.sql").write_text(sql)


def _dbt(root: Path, *args: str):
    (root / "logs" / "dbt.log").unlink(missing_ok=True)
    command = [str(DBT), *args, "--log-format-file", "json", "--project-dir", str(root), "--profiles-dir", str(root),
               "--target-path", str(root / "target"), "--log-path", str(root / "logs")]
    return _run_dbt_command(command, {**os.environ, "AMOCRM_KPI_DATA_DIR": str(root)}, root)


def _sql(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        return connection.execute(sql).fetchall()


def _tables(root: Path) -> dict[str, list[tuple]]:
    return {name: sorted(_sql(root, f"select * from main.{name}"), key=repr) for name in MODELS}


def _statements(root: Path) -> dict[str, list[str]]:
    """The SQL statements dbt sent for each model in the last run (its JSON dbt.log), but dbt-duckdb's look-ups made
    once a run (in the first model's name)."""
    sent: dict[str, list[str]] = {}
    for line in (root / "logs" / "dbt.log").read_text().splitlines():
        event = json.loads(line)
        node = event["data"].get("node_info", {}).get("node_name")
        if event["info"]["name"] == "SQLQuery" and node:
            sql = re.sub(r"^/\*.*?\*/", "", event["data"]["sql"].strip(), flags=re.DOTALL)  # dbt's query comment
            if not any(once in sql for once in ("duckdb_databases()", "duckdb_constraints()", "SELECT version()")):
                sent.setdefault(node, []).append(" ".join(sql.split()))
    return sent


def test_incremental_materialization_keeps_dbt_semantics_with_fewer_statements(tmp_path):
    root = tmp_path / "proj"
    _project(root)
    _sql(root, "create table main.raw_rows (id integer, grp varchar, value varchar, batch integer)")
    _sql(root, "insert into main.raw_rows values (1, 'a', 'one', 1), (2, null, 'two', 1)")
    _sql(root, "create table main.hook_log (entry varchar)")
    _sql(root, "create view main.kept as select 0 as rows")  # a view before: becomes the table

    first = _dbt(root, "run")
    assert first.returncode == 0, first.stdout
    assert _tables(root)["merged"] == [(1, "a", "one"), (2, None, "two")]
    assert _sql(root, "select table_type from information_schema.tables where table_name = 'kept'") == [("BASE TABLE",)]
    assert _sql(root, "select * from main.kept") == [(2, 1)]
    assert "NOT NULL" in _sql(root, "select sql from duckdb_tables() where table_name = 'contracted'")[0][0]
    statements = _statements(root)
    for name in MODELS:
        assert any(sql.startswith("create or replace table") for sql in statements[name]), name
        assert not [sql for sql in statements[name] if "__dbt_tmp" in sql or "__dbt_backup" in sql or "rename" in sql]
    assert _sql(root, "select * from main.hook_log") == [("appended pre",), ("appended post",)]

    # The next batch: id 2 changed, id 3 new (a second row of the null group).
    _sql(root, "update main.raw_rows set value = 'TWO', batch = 2 where id = 2")
    _sql(root, "insert into main.raw_rows values (3, null, 'three', 2)")
    incremental = _dbt(root, "run")
    assert incremental.returncode == 0, incremental.stdout
    after = _tables(root)
    assert after["appended"] == [(1, "one"), (2, "two"), (3, "three")]  # append: only ids above the stored ones
    assert after["replaced"] == [(1, "a", "one"), (2, None, "TWO"), (3, None, "three")]
    assert after["merged"] == after["replaced"]
    assert after["custom"] == [("a", 1, "one"), (None, 2, "three")]  # the null group replaced, not duplicated
    assert after["contracted"] == [(1, "one"), (2, "TWO"), (3, "three")]
    assert after["kept"] == [(2, 1), (3, 2)]
    assert "main.merged: wrote 2 new or changed rows of 3" in incremental.stdout  # found dbt-duckdb's temp table
    statements = _statements(root)
    # Per model: BEGIN, the temporary table (and its columns'), the strategy, COMMIT; the hooks in between.
    assert [sql.split()[0].lower() for sql in statements["replaced"]] == ["begin", "create", "delete", "commit"]
    assert [sql.split()[0].lower() for sql in statements["appended"]] == [
        "begin", "insert", "create", "insert", "insert", "commit"]
    assert "describe" in statements["replaced"][1] and "__dbt_tmp" in statements["replaced"][1]

    # A full refresh gives what the incremental runs gave (`appended` now reads id 2's new value; `kept`,
    # full_refresh=false, keeps its history and appends).
    refreshed = _dbt(root, "run", "--full-refresh")
    assert refreshed.returncode == 0, refreshed.stdout
    rebuilt = _tables(root)
    assert {name: rows for name, rows in rebuilt.items() if name not in ("appended", "kept")} == {
        name: rows for name, rows in after.items() if name not in ("appended", "kept")}
    assert rebuilt["appended"] == [(1, "one"), (2, "TWO"), (3, "three")]
    assert rebuilt["kept"] == [(2, 1), (3, 2), (3, 2)]

    # A failing incremental run leaves the table and the hooks' records as they were (one transaction).
    log_before = _sql(root, "select * from main.hook_log")
    (root / "models" / "appended.sql").write_text(MODELS["appended"].replace("select id, value", "select id, error('boom') as value"))
    _sql(root, "insert into main.raw_rows values (4, 'a', 'four', 3)")
    failed = _dbt(root, "run", "--select", "appended")
    assert failed.returncode != 0 and "boom" in failed.stdout
    assert _tables(root)["appended"] == rebuilt["appended"]
    assert _sql(root, "select * from main.hook_log") == log_before
    failed = _dbt(root, "run", "--select", "appended", "--full-refresh")  # the create or replace path
    assert failed.returncode != 0 and "boom" in failed.stdout
    assert _tables(root)["appended"] == rebuilt["appended"]
    (root / "models" / "appended.sql").write_text(MODELS["appended"])

    # A new column: `fail` stops with dbt's message and keeps the table, `append_new_columns` adds it;
    # the contract's types are still checked on an incremental run.
    for name in ("replaced", "merged"):
        (root / "models" / f"{name}.sql").write_text(MODELS[name].replace("value from", "value, id * 10 as tens from"))
    (root / "models" / "contracted.sql").write_text(MODELS["contracted"].replace("select id,", "select id::varchar as id,", 1))
    changed = _dbt(root, "run", "--select", "replaced", "merged", "contracted")
    assert changed.returncode != 0
    assert "The source and target schemas on this incremental model are out of sync" in changed.stdout
    assert "This model has an enforced contract that failed" in changed.stdout
    assert _tables(root)["replaced"] == after["replaced"]
    assert _tables(root)["contracted"] == after["contracted"]
    assert _sql(root, "select id, value, tens from main.merged order by id") == [
        (1, "one", None), (2, "TWO", None), (3, "three", None), (4, "four", 40)]


def test_a_python_incremental_model_is_refused(tmp_path):
    root = tmp_path / "proj"
    _project(root)
    for name in MODELS:
        (root / "models" / f"{name}.sql").unlink()
    (root / "models" / "schema.yml").unlink()
    (root / "models" / "pythonic.py").write_text(
        "def model(dbt, session):\n    dbt.config(materialized='incremental')\n    return session.sql('select 1 as n')\n")
    refused = _dbt(root, "run")
    assert refused.returncode != 0
    assert "only supports languages ['sql']" in refused.stdout


KEYED = {
    # delete+insert on the row key: only the new rows can repeat a key (macros/row_key.sql)
    "keyed": "{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['id'], "
             "row_key=['id']) }}\n" + NEW_ROWS,
    # append: a new row may repeat a stored one's key
    "keyed_append": "{{ config(materialized='incremental', incremental_strategy='append', row_key=['id', 'grp']) }}\n"
                    + NEW_ROWS,
}


def test_a_row_key_is_enforced_where_the_rows_are_written(tmp_path):
    """A build that would leave a model's row_key null or on two rows fails, names the keys, and writes nothing
    (the model's transaction is rolled back): a repeat within the new rows, a new row repeating a stored one, a
    null in the key, and a first build or full refresh with repeats; rows that keep the key build as usual."""
    root = tmp_path / "proj"
    write_tiny_project(root, "rowkey", macros=MACROS)
    for name, sql in KEYED.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    _sql(root, "create table main.raw_rows (id integer, grp varchar, value varchar, batch integer)")
    _sql(root, "insert into main.raw_rows values (1, 'a', 'one', 1), (2, 'b', 'two', 1)")

    def rows(name: str) -> list[tuple]:
        return _sql(root, f"select * from main.{name} order by all")

    assert _dbt(root, "run").returncode == 0
    built = {name: rows(name) for name in KEYED}

    _sql(root, "insert into main.raw_rows values (2, 'b', 'TWO', 2), (3, 'c', 'three', 2)")  # id 2 again
    second = _dbt(root, "run")
    assert second.returncode != 0
    assert rows("keyed") == [(1, "a", "one"), (2, "b", "TWO"), (3, "c", "three")]  # delete+insert replaced id 2
    assert rows("keyed_append") == built["keyed_append"], "nothing written"
    assert ("main.keyed_append: this build's rows break the model's row_key (id, grp): 1 broken key(s), "
            "e.g. (2, b) repeated 2 times. Nothing was written") in second.stdout, second.stdout[-3000:]

    _sql(root, "insert into main.raw_rows values (5, 'e', 'five', 3), (5, 'e', 'FIVE', 3), (null, 'n', 'none', 3)")
    third = _dbt(root, "run", "--select", "keyed")
    assert third.returncode != 0
    assert rows("keyed") == [(1, "a", "one"), (2, "b", "TWO"), (3, "c", "three")], "nothing written"
    assert "2 broken key(s), e.g. null in 1 rows; (5) repeated 2 times." in third.stdout, third.stdout[-3000:]

    refresh = _dbt(root, "run", "--select", "keyed", "--full-refresh")  # every row checked: 2 and 5 repeat
    assert refresh.returncode != 0
    assert "3 broken key(s), e.g. null in 1 rows; (2) repeated 2 times; (5) repeated 2 times." in refresh.stdout
    assert rows("keyed") == [(1, "a", "one"), (2, "b", "TWO"), (3, "c", "three")], "the old table kept"

    _sql(root, "delete from main.raw_rows where batch = 3 or (id = 2 and batch = 1)")
    assert _dbt(root, "run", "--full-refresh").returncode == 0
    assert rows("keyed") == [(1, "a", "one"), (2, "b", "TWO"), (3, "c", "three")]
    assert rows("keyed_append") == rows("keyed")
