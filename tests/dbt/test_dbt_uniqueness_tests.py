"""The project's uniqueness tests (unique_per_account, and the keys of column_rules: a hash first, then
the key, macros/duplicate_keys.sql) fail on exactly the repeated keys and on nothing else, on a copy of
the shared warehouse with hand-made duplicates, also when every key is made to share one hash; column_rules
(one test for a model's column rules) fails on each broken rule of each kind it covers, naming the rule,
the column, the value and its rows."""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from pipelines.defs.broken_rules import broken_rules

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

PER_ACCOUNT = "unique_per_account_dim_managers_manager_id"  # the generic test (stg_amocrm__leads': in its column_rules)
STAGES = "column_rules_int_pipeline_stages"
REACHED = "column_rules_int_lead_stages_reached"
LEADS = "column_rules_stg_amocrm__leads"


def _results(data_dir) -> dict[str, tuple[str, int]]:
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results
            if r["unique_id"].startswith("test.")}


def _copy_row(connection, table: str, where: str, **changes) -> None:
    """Insert a copy of the first row of `table` matching `where`, with `changes` (column: SQL value)."""
    columns = [row[0] for row in connection.execute(f"describe {table}").fetchall()]
    values = ", ".join(changes.get(column, column) for column in columns)
    connection.execute(f"insert into {table} select {values} from {table} where {where} order by all limit 1")


def _compiled(data_dir, test: str, colliding: bool = False) -> str:
    """The compiled select of `test`; `colliding`: with every key hashing to 0, as if all keys collided, so
    only the confirmation by the key itself (macros/duplicate_keys.sql) separates different keys."""
    compiled = next((data_dir / "dbt_target" / "compiled").glob(f"**/{test}.sql")).read_text()
    if not colliding:
        return compiled
    assert "hash(" in compiled, f"{test} no longer hashes its key: update this test"
    return compiled.replace("hash(", "0 * hash(")


def test_uniqueness_tests_pass_on_keys_that_are_only_alike(kpi_warehouse, tmp_path):
    """The same id in two accounts, rows without the id, and keys repeating only with a null that differs
    are not duplicates, even when every key shares one hash (the confirmation by the key decides)."""
    copy = kpi_warehouse.copy(tmp_path)
    with duckdb.connect(str(copy.path)) as connection:
        leads, stages = "staging.stg_amocrm__leads", "intermediate.int_pipeline_stages"
        _copy_row(connection, leads, "true", account_id="account_id + 1")
        _copy_row(connection, leads, "true", lead_id="null")
        _copy_row(connection, leads, "true", lead_id="null")
        _copy_row(connection, stages, "true", status_id="null")
        _copy_row(connection, "intermediate.int_lead_stages_reached", "true", pipeline_id="null")
        _copy_row(connection, "marts.dim_managers", "true", account_id="account_id + 1")
    copy.dbt("test", "--select", PER_ACCOUNT, STAGES, REACHED, LEADS, check=False)
    assert _results(tmp_path) == {PER_ACCOUNT: ("pass", 0), STAGES: ("pass", 0), REACHED: ("pass", 0),
                                  LEADS: ("fail", 2)}  # the null lead ids: not_null, not repeats
    for test in (PER_ACCOUNT, STAGES, REACHED):
        rows = copy.query(_compiled(tmp_path, test, colliding=True))
        assert rows.empty, f"{test}: keys sharing a hash are no repeat"
    assert _failures(copy, tmp_path, LEADS, colliding=True) == [["not_null", "lead_id", None, 2]], \
        "the same lead id in two accounts, or no lead id, is no repeat of unique_per_account"


def test_uniqueness_tests_fail_on_each_repeated_key(kpi_warehouse, tmp_path):
    """One row per repeated key: a key written twice, a key written three times, a key repeating with a
    null in it (nulls compare equal in a combination of columns); a column_rules key's failure count is the
    rows carrying a repeated key. The same build checks stg_amocrm__leads' column_rules: one row per column
    with nulls (one null account_id, two null lead_ids; channel has none), per column null on a live lead
    (not_null_where) and per repeated lead id (twice, three times; rows without the id are no duplicates),
    its failure count their sum; and the generic unique_per_account test on a manager written twice."""
    copy = kpi_warehouse.copy(tmp_path)
    with duckdb.connect(str(copy.path)) as connection:
        leads, stages = "staging.stg_amocrm__leads", "intermediate.int_pipeline_stages"
        reached = "intermediate.int_lead_stages_reached"
        _copy_row(connection, leads, "true")
        _copy_row(connection, leads, f"lead_id = (select max(lead_id) from {leads})")
        _copy_row(connection, leads, f"lead_id = (select max(lead_id) from {leads})")
        _copy_row(connection, stages, "true")
        _copy_row(connection, reached, "true", pipeline_id="null")
        _copy_row(connection, reached, "true", pipeline_id="null")
        _copy_row(connection, leads, "true", account_id="null")
        _copy_row(connection, leads, "true", lead_id="null")
        _copy_row(connection, leads, "true", lead_id="null")
        _copy_row(connection, leads, "not is_deleted", lead_id="-1", pipeline_id="null")
        _copy_row(connection, "marts.dim_managers", "true")
        repeated = connection.execute(f"select count(*) from {leads} where lead_id = "
                                      f"(select max(lead_id) from {leads})").fetchone()[0]
        assert repeated == 3
        first, last = connection.execute(
            f"select account_id, lead_id from {leads} where account_id is not null and lead_id is not null "
            "group by all having count(*) > 1 order by count(*)").fetchall()
    result = copy.dbt("test", "--select", PER_ACCOUNT, STAGES, REACHED, LEADS, check=False)
    assert result.returncode != 0
    assert _results(tmp_path) == {PER_ACCOUNT: ("fail", 1), STAGES: ("fail", 2), REACHED: ("fail", 2),
                                  LEADS: ("fail", 1 + 2 + 1 + 2 + 3)}
    rows = copy.query(f"select * from ({_compiled(tmp_path, PER_ACCOUNT)}) order by occurrences")
    assert rows["occurrences"].tolist() == [2], "the repeated key once, with how often it occurs"
    colliding = _compiled(tmp_path, PER_ACCOUNT, colliding=True)
    colliding = copy.query(f"select * from ({colliding}) order by occurrences")
    assert colliding.values.tolist() == rows.values.tolist(), "all keys sharing one hash: the same repeats"
    for test in (STAGES, REACHED, LEADS):  # a multi-column key; with a null in it (nulls compare equal)
        assert _failures(copy, tmp_path, test, colliding=True) == _failures(copy, tmp_path, test), test
    failures = _failures(copy, tmp_path, LEADS)
    assert failures[:3] == [["not_null", "account_id", None, 1], ["not_null", "lead_id", None, 2],
                            ["not_null where not is_deleted", "pipeline_id", None, 1]]
    assert sorted(failures[3:], key=lambda row: row[3]) == [
        ["unique_per_account", "account_id, lead_id", f"{first[0]}, {first[1]}", 2],
        ["unique_per_account", "account_id, lead_id", f"{last[0]}, {last[1]}", 3]], "each rule, column, value, rows"


def _failures(copy, data_dir, test: str, colliding: bool = False) -> list[list]:
    """The failure rows of a column_rules test (its compiled select): rule, column_name, value, failing_rows."""
    rows = copy.query(f"select * from ({_compiled(data_dir, test, colliding)}) order by all")
    return [[None if value != value else value for value in row] for row in rows.values.tolist()]


def test_column_rules_fail_on_a_bad_row_of_each_kind(kpi_warehouse, tmp_path):
    """Each kind of rule column_rules folds fails on its own bad row, named by rule, column and value:
    not_null, unique (a single column), unique_per_account, unique_combination, accepted_values,
    accepted_range (below the minimum, above the maximum), not_null_where (a null only on a row the
    condition holds for: a deleted lead may lack its pipeline) and expressions (named by their name); a
    model whose rules hold passes."""
    copy = kpi_warehouse.copy(tmp_path)
    with duckdb.connect(str(copy.path)) as connection:
        _copy_row(connection, "intermediate.int_extraction", "true")  # the account's row twice
        lost = "intermediate.int_lead_lost_at_stage"
        _copy_row(connection, lost, "true")  # a lead twice
        _copy_row(connection, lost, "true", lead_id="null")  # no lead: not null, but no repeated key
        satisfaction = "marts.fct_satisfaction"
        _copy_row(connection, satisfaction, "true")  # a period twice
        _copy_row(connection, satisfaction, "period_grain = 'day'", period_grain="'quarter'", csat="-1", nps="101")
        account, lead = connection.execute(f"select account_id, lead_id from {lost} group by all "
                                           "having count(*) > 1").fetchone()
        key = connection.execute(f"select account_id, period_grain, period_start, manager_id from {satisfaction} "
                                 "group by all having count(*) > 1").fetchone()
        leads = "staging.stg_amocrm__leads"
        _copy_row(connection, leads, "not is_deleted", lead_id="-1", pipeline_id="null")  # a live lead: fails
        _copy_row(connection, leads, "true", lead_id="-2", is_deleted="true", status_id="null")  # deleted: holds
        connection.execute("update marts.fct_response set responded_within_sla = leads_created + 1 "
                           "where rowid = (select min(rowid) from marts.fct_response)")
        facts = "marts.fct_leads"  # references no dimension has (relationships, in column_warnings_fct_leads)
        live, deleted = connection.execute(f"select min(lead_id) filter (not is_deleted), "
                                           f"min(lead_id) filter (is_deleted) from {facts}").fetchone()
        connection.execute(f"update {facts} set manager_id = -7, pipeline_id = -8 where lead_id = {live}")
        connection.execute(f"update {facts} set pipeline_id = -9 where lead_id = {deleted}")  # where not is_deleted
        leads_account = connection.execute(f"select account_id from {facts} where lead_id = {live}").fetchone()[0]
    tests = ["column_rules_int_extraction", "column_rules_int_lead_lost_at_stage", "column_rules_fct_satisfaction",
             "column_rules_int_lead_first_response", "column_rules_stg_amocrm__leads", "column_rules_fct_response",
             "column_warnings_fct_leads"]
    copy.dbt("test", "--select", *tests, check=False, file_log_level="debug")  # the log is read below
    assert _results(tmp_path) == {tests[0]: ("fail", 2), tests[1]: ("fail", 3), tests[2]: ("fail", 5),
                                  tests[3]: ("pass", 0), tests[4]: ("fail", 1), tests[5]: ("fail", 1),
                                  tests[6]: ("warn", 2)}
    assert _failures(copy, tmp_path, tests[6]) == [
        ["relationships to dim_managers.manager_id", "account_id, manager_id", f"{leads_account}, -7", 1],
        ["relationships to dim_pipeline_stages.pipeline_id where not is_deleted", "account_id, pipeline_id",
         f"{leads_account}, -8", 1]]
    described = broken_rules(tmp_path / "dbt_target", copy.path, tests[6])
    assert described.startswith("column_warnings_fct_leads warns: relationships to dim_managers.manager_id on "
                                f"account_id, manager_id = {leads_account}, -7 (1 row); "), described
    assert "the build went on" in described, described
    log = (tmp_path / "dbt_logs" / "dbt.log").read_text()  # macros/test_materialization.sql: no transaction
    assert "On test." in log and not re.search(r"On test\.\S+: (BEGIN|ROLLBACK)", log), "a test ran in a transaction"
    assert _failures(copy, tmp_path, tests[4]) == [["not_null where not is_deleted", "pipeline_id", None, 1]]
    assert _failures(copy, tmp_path, tests[5]) == [["expression", "response_within_sla_never_exceeds_created",
                                                    None, 1]]
    described = broken_rules(tmp_path / "dbt_target", copy.path, tests[4])  # the Dagster check's description
    assert described.startswith("column_rules_stg_amocrm__leads broke: not_null where not is_deleted on "
                                "pipeline_id (1 row). "), described
    assert _failures(copy, tmp_path, tests[0]) == [["unique", "account_id", str(account), 2]]
    assert _failures(copy, tmp_path, tests[1]) == [["not_null", "lead_id", None, 1],
                                                   ["unique_per_account", "account_id, lead_id",
                                                    f"{account}, {lead}", 2]]
    assert _failures(copy, tmp_path, tests[2]) == [
        ["accepted_range", "csat", "-1.0", 1], ["accepted_range", "nps", "101.0", 1],
        ["accepted_values", "period_grain", "quarter", 1],
        ["unique_combination", "account_id, period_grain, period_start, manager_id",
         ", ".join("null" if v is None else str(v) for v in key), 2]]
