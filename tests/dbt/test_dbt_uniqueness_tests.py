"""The project's uniqueness tests (unique_per_account, unique_combination_of_columns: a hash first, then
the key, macros/duplicate_keys.sql) fail on exactly the repeated keys and on nothing else, on a copy of
the shared warehouse with hand-made duplicates; not_null_columns (one test for a model's never-null
columns) fails on each column with nulls, counting its null rows."""

from __future__ import annotations

import json

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

PER_ACCOUNT = "unique_per_account_int_lead_events_event_id"
HISTORY = "unique_combination_of_columns_int_lead_status_history_account_id__lead_id__stay_number"
REACHED = "unique_combination_of_columns_int_lead_stages_reached_account_id__lead_id__pipeline_id"
NOT_NULL = "not_null_columns_int_lead_events_account_id__event_id__created_at"


def _results(data_dir) -> dict[str, tuple[str, int]]:
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results
            if r["unique_id"].startswith("test.")}


def _copy_row(connection, table: str, where: str, **changes) -> None:
    """Insert a copy of the first row of `table` matching `where`, with `changes` (column: SQL value)."""
    columns = [row[0] for row in connection.execute(f"describe {table}").fetchall()]
    values = ", ".join(changes.get(column, column) for column in columns)
    connection.execute(f"insert into {table} select {values} from {table} where {where} order by all limit 1")


def test_uniqueness_tests_pass_on_keys_that_are_only_alike(kpi_warehouse, tmp_path):
    """The same id in two accounts, rows without the id, and keys repeating only with a null that differs
    are not duplicates."""
    copy = kpi_warehouse.copy(tmp_path)
    with duckdb.connect(str(copy.path)) as connection:
        events, history = "intermediate.int_lead_events", "intermediate.int_lead_status_history"
        _copy_row(connection, events, "true", account_id="account_id + 1")
        _copy_row(connection, events, "true", event_id="null")
        _copy_row(connection, events, "true", event_id="null")
        _copy_row(connection, history, "true", stay_number="null")
        _copy_row(connection, "intermediate.int_lead_stages_reached", "true", pipeline_id="null")
    copy.dbt("test", "--select", PER_ACCOUNT, HISTORY, REACHED)
    assert _results(tmp_path) == {PER_ACCOUNT: ("pass", 0), HISTORY: ("pass", 0), REACHED: ("pass", 0)}


def test_uniqueness_tests_fail_on_each_repeated_key(kpi_warehouse, tmp_path):
    """One row per repeated key: a key written twice, a key written three times, a key repeating with a
    null in it (nulls compare equal in a combination of columns). The same build checks not_null_columns:
    one row per column with nulls (one null account_id, two null event_ids; created_at has none), its
    failure count their sum (rows without the key are no duplicates for unique_per_account)."""
    copy = kpi_warehouse.copy(tmp_path)
    with duckdb.connect(str(copy.path)) as connection:
        events, history = "intermediate.int_lead_events", "intermediate.int_lead_status_history"
        reached = "intermediate.int_lead_stages_reached"
        _copy_row(connection, events, "true")
        _copy_row(connection, events, "event_id = (select max(event_id) from intermediate.int_lead_events)")
        _copy_row(connection, events, "event_id = (select max(event_id) from intermediate.int_lead_events)")
        _copy_row(connection, history, "stay_number = 2")
        _copy_row(connection, reached, "true", pipeline_id="null")
        _copy_row(connection, reached, "true", pipeline_id="null")
        _copy_row(connection, events, "true", account_id="null")
        _copy_row(connection, events, "true", event_id="null")
        _copy_row(connection, events, "true", event_id="null")
        repeated = connection.execute(f"select count(*) from {events} where event_id = "
                                      f"(select max(event_id) from {events})").fetchone()[0]
        assert repeated == 3
    result = copy.dbt("test", "--select", PER_ACCOUNT, HISTORY, REACHED, NOT_NULL, check=False)
    assert result.returncode != 0
    assert _results(tmp_path) == {PER_ACCOUNT: ("fail", 2), HISTORY: ("fail", 1), REACHED: ("fail", 1),
                                  NOT_NULL: ("fail", 3)}
    compiled = next((tmp_path / "dbt_target" / "compiled").glob(f"**/{PER_ACCOUNT}.sql")).read_text()
    rows = copy.query(f"select * from ({compiled}) order by occurrences")
    assert rows["occurrences"].tolist() == [2, 3], "each repeated key once, with how often it occurs"
    # dbt names the compiled file of a test name this long by a hash: one not_null_columns test on the model
    compiled = next((tmp_path / "dbt_target" / "compiled").glob("**/not_null_columns_int_lead_even*.sql")).read_text()
    rows = copy.query(f"select * from ({compiled}) order by null_column")
    assert rows.values.tolist() == [["account_id", 1], ["event_id", 2]], "each column with nulls, its null rows"
