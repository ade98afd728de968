"""Incremental dbt runs after a day of changes equal a full refresh and the reference; the blocking
rules really block. Uses its own small warehouse (the shared one must not change)."""

from __future__ import annotations

import json
import re
from datetime import date

import duckdb
import pytest

from kpi_reference import MARTS, assert_frames_match, assert_mart_matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("day_later")]

SEED = 23
LEADS = 200
# A fixed moment (not the real time), so that the day after it is known to bring new leads, status
# changes, notes and tasks; "now" in the marts is the load time either way.
NOW = 1_790_000_000
PUBLISHED = ["dim_managers", "dim_pipeline_stages", "fct_leads", *MARTS]
INCREMENTAL = ["int_activities", "int_activity_attribution", "int_lead_events", "int_lead_status_history",
               "int_pipeline_daily_stays", "int_lead_stage_stays", "int_lead_lost_at_stage",
               "int_lead_stages_reached", "int_lead_touches", "int_lead_first_response"]
CHANGED_LEADS_FROM_PRE_HOOK = {"int_pipeline_daily_stays", "int_lead_stage_stays", "int_lead_lost_at_stage",
                               "int_lead_stages_reached", "int_lead_first_response"}
# bookkeeping, not data: which build recomputed the row (a full refresh stamps every row alike)
BOOKKEEPING = {"intermediate.int_activity_attribution": " exclude (attributed_load_id)"}


def _snapshot(warehouse) -> dict:
    tables = [f"marts.{t}" for t in PUBLISHED] + [f"intermediate.{t}" for t in INCREMENTAL]
    return {t: warehouse.query(f"select *{BOOKKEEPING.get(t, '')} from {t} order by all") for t in tables}


@pytest.fixture(scope="module")
def day_later(built_day_later):
    """A warehouse built, then the account a day later extracted and built incrementally:
    (warehouse, ids of the first loads, of the day's new loads, marts and incremental tables).
    Shared with other modules (`built_day_later`): copy it to change it."""
    warehouse, first_loads, new_loads = built_day_later(seed=SEED, leads=LEADS, now=NOW)
    return warehouse, first_loads, new_loads, _snapshot(warehouse)


def test_incremental_models_only_read_new_loads(day_later):
    """Each incremental model read exactly the loads it had not read (a list of constants in its SQL,
    so DuckDB skips the other loads' row groups), and recorded every completed load."""
    warehouse, first_loads, new_loads, _ = day_later
    compiled = warehouse.data_dir / "dbt_target" / "compiled" / "amocrm_kpi" / "models" / "intermediate"
    expected = "load_id in (" + ", ".join(f"'{load}'" for load in new_loads) + ")"
    log = (warehouse.data_dir / "dbt_logs" / "dbt.log").read_text()
    for model in INCREMENTAL:
        sql = (compiled / f"{model}.sql").read_text()
        if model in CHANGED_LEADS_FROM_PRE_HOOK:
            # the changed leads are found once, by the model's first pre-hook, into a temporary table
            assert f"temp.main.changed_leads__{model}" in sql, model
            hook = log.rindex(f"create or replace temporary table changed_leads__{model} as")
            assert expected in log[hook:hook + 4000], model
        else:
            assert expected in sql, model
    ledger = warehouse.query("select model_name, load_id from intermediate.int_processed_loads order by all")
    recording = sorted([*INCREMENTAL, "fct_pipeline_daily", "stg_amocrm__leads"])
    assert ledger.values.tolist() == [[model, load] for model in recording for load in first_loads + new_loads]
    loads = warehouse.query("select load_id, count(*) as n from intermediate.int_activities group by all")
    assert set(loads["load_id"]) & set(new_loads), "the day's new and changed notes, events and tasks"
    assert loads.loc[loads["load_id"].isin(first_loads), "n"].sum() > 0, "unchanged rows were kept, not re-read"


@pytest.fixture(scope="module")
def reference_a_day_later(day_later):
    return day_later[0].reference()


@pytest.mark.parametrize("table", MARTS)
def test_marts_after_a_day_match_the_reference(day_later, reference_a_day_later, table):
    assert_mart_matches(day_later[3][f"marts.{table}"], reference_a_day_later, table)


def test_full_refresh_equals_incremental(day_later, tmp_path):
    warehouse, _, _, incremental = day_later
    rebuilt = warehouse.copy(tmp_path)
    with duckdb.connect(str(rebuilt.path)) as connection:  # a load long gone from raw_amocrm
        connection.execute("insert into intermediate.int_processed_loads "
                           "select distinct model_name, '1000000000.0', now() from intermediate.int_processed_loads")
    # `run`, not `build`: what a full refresh can change (the incremental tables and what reads them) is
    # compared below with the incremental build, whose tests passed
    rebuilt.dbt("run", "--full-refresh")
    full = _snapshot(rebuilt)
    ledger = "select model_name, load_id from intermediate.int_processed_loads order by all"
    assert rebuilt.query(ledger).equals(warehouse.query(ledger)), "a full refresh records the loads it read, only"
    for table, frame in incremental.items():
        floats = tuple(c for c in frame.columns if frame[c].map(lambda v: isinstance(v, float)).any())
        assert len(frame) == len(full[table]), table
        assert_frames_match(frame.reset_index(), full[table].reset_index(), ["index"], approx=floats)


BY_LEAD = ["int_lead_stage_stays", "int_lead_lost_at_stage", "int_lead_stages_reached"]


def test_by_lead_models_recompute_every_lead_when_their_rows_cannot_be_trusted(day_later, tmp_path):
    """The models incremental by lead over the status history recompute every lead, and say so, when the
    history was rebuilt in full since they read it, and int_lead_stage_stays when the account timezone
    its dates are in changed: equal to a full rebuild each time."""
    warehouse = day_later[0].copy(tmp_path / "incremental")
    warehouse.dbt("run", "--full-refresh", "--select", "int_lead_status_history")
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("update raw_amocrm.account set timezone = 'Asia/Vladivostok'")
    result = warehouse.dbt("run", "--select", "stg_amocrm__account", *BY_LEAD)
    said = [line for line in result.stdout.splitlines() if "recomputing every lead" in line]
    for model in BY_LEAD:
        assert any(model in line for line in said), (model, result.stdout[-3000:])
    rebuilt = warehouse.copy(tmp_path / "full")
    rebuilt.dbt("run", "--full-refresh", "--select", *BY_LEAD)
    for table in BY_LEAD:
        incremental, full = (w.query(f"select * from intermediate.{table} order by all") for w in (warehouse, rebuilt))
        assert len(incremental) == len(full) > 0, table
        assert_frames_match(incremental.reset_index(), full.reset_index(), ["index"])
    assert set(warehouse.query("select distinct timezone from intermediate.int_lead_stage_stays")["timezone"]) \
        == {"Asia/Vladivostok"}
    result = warehouse.dbt("run", "--select", *BY_LEAD)
    assert "recomputing every lead" not in result.stdout, "once, not on every run"


def _failed_tests(data_dir) -> dict[str, str]:
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results
            if not r["unique_id"].startswith("operation.")}  # not the on-run-start upgrade hook


def test_blocking_rules_fail_on_broken_marts(day_later, tmp_path):
    """Each singular rule catches the breakage it exists for (on a copy with hand-broken marts)."""
    broken = day_later[0].copy(tmp_path)
    with duckdb.connect(str(broken.path)) as connection:
        won = "(select min(lead_id) from marts.fct_leads where is_won and not is_deleted)"
        connection.execute(f"update marts.fct_leads set is_deleted = true where lead_id = {won}")
        connection.execute("update marts.fct_leads set closed_at = null "
                           "where lead_id = (select max(lead_id) from marts.fct_leads where is_won)")
        connection.execute("update marts.fct_sales_kpi set revenue_won = revenue_won + 1 "
                           "where rowid = (select min(rowid) from marts.fct_sales_kpi where period_grain = 'month' and deals_won > 0)")
        connection.execute("update marts.fct_funnel set reached = reached + 1000 where stage_order = 2")
    rules = ["assert_won_leads_have_closed_at", "assert_revenue_matches_between_leads_and_sales_kpi",
             "assert_funnel_reached_never_increases", "assert_no_kpi_for_deleted_leads"]
    result = broken.dbt("test", "--select", *rules, check=False)
    assert result.returncode != 0
    assert _failed_tests(tmp_path) == {rule: "fail" for rule in rules}


def test_unknown_manager_in_targets_blocks_plan_vs_fact(day_later, tmp_path):
    from pipelines.inputs import load_user_inputs

    warehouse = day_later[0].copy(tmp_path)
    (tmp_path / "sales_targets.csv").write_text("month,manager,target_revenue,target_deals\n"
                                                "2026-01,Нет Такого Менеджера,100000,2\n", encoding="utf-8")
    load_user_inputs(tmp_path, warehouse=warehouse.path)
    result = warehouse.dbt("build", "--select", "int_sales_targets+", check=False)
    assert result.returncode != 0
    statuses = _failed_tests(tmp_path)
    assert statuses["column_rules_int_sales_targets"] == "fail"  # its rules in one test (tests/generic/)
    from pipelines.defs.broken_rules import broken_rules

    described = broken_rules(tmp_path / "dbt_target", warehouse.path, "column_rules_int_sales_targets")
    assert described.startswith("column_rules_int_sales_targets broke: expression on "
                                "sales_targets_manager_is_a_known_user (1 row). "), described
    assert statuses["fct_plan_vs_fact"] == "skipped"


def test_pipeline_daily_recomputes_only_touched_days(day_later, tmp_path):
    """fct_pipeline_daily's incremental run recomputed in full only the days from the last one built
    before, not from the creation of the oldest changed lead (whose share of the past days it swapped);
    a build with no new load redoes only the last day (built part-way through), not the history."""
    warehouse = day_later[0]
    compiled = warehouse.data_dir / "dbt_target" / "compiled" / "amocrm_kpi" / "models" / "marts"
    from_date = re.search(r"greatest\(date '([\d-]+)', calendar.first_day\) as from_date",
                          (compiled / "fct_pipeline_daily.sql").read_text())
    loads = "(" + ", ".join(f"'{load}'" for load in day_later[2]) + ")"
    changed = warehouse.query(
        "select min(created_date) from marts.fct_leads where lead_id in (select lead_id from staging.stg_amocrm__leads "
        f"where load_id in {loads} union select lead_id from intermediate.int_lead_status_history where load_id in {loads})")
    last_day = warehouse.query("select max(snapshot_date) from marts.fct_pipeline_daily").iat[0, 0]
    assert from_date, "the days to recompute were resolved to a constant"
    assert changed.iat[0, 0] < date.fromisoformat(from_date.group(1)) <= last_day
    pending = warehouse.query("select count(*) from intermediate.int_pipeline_daily_stays where is_new or is_superseded")
    assert pending.iat[0, 0] == 0, "fct_pipeline_daily read and cleared the changed stays"
    copy = warehouse.copy(tmp_path)
    spoil = "update marts.fct_pipeline_daily set open_deals = open_deals + 1000 where snapshot_date = {}"
    with duckdb.connect(str(copy.path)) as connection:
        connection.execute(spoil.format("(select min(snapshot_date) from marts.fct_pipeline_daily)"))
        connection.execute(spoil.format("(select max(snapshot_date) from marts.fct_pipeline_daily)"))
        connection.execute("insert into marts.fct_pipeline_daily by name select account_id, snapshot_date, pipeline_id, "
                           "status_id, 424242 as manager_id, 1 as open_deals, 0 as open_value, 0 as stuck_deals "
                           "from marts.fct_pipeline_daily order by snapshot_date desc limit 1")
    copy.dbt("run", "--select", "fct_pipeline_daily")
    assert copy.query("select count(*) from marts.fct_pipeline_daily where manager_id = 424242").iat[0, 0] == 0, \
        "a recomputed day loses the rows it no longer has"
    days = copy.query("select snapshot_date, max(open_deals) >= 1000 as spoiled from marts.fct_pipeline_daily "
                      "group by all order by snapshot_date")
    assert days["spoiled"].tolist() == [True] + [False] * (len(days) - 1)


def _new_load(connection, load_id: str, changes: dict[int, str]) -> None:
    """A dlt load of lead rows changed in place (`changes`: SET clauses by lead id), as a merge leaves it.

    Loaded a second after the latest load, not at the wall clock's now(): the extraction day is the load's
    day in the account's timezone, and a test running past the account's midnight would add a day."""
    connection.execute("insert into raw_amocrm._dlt_loads select ?, 'amocrm', 0, max(inserted_at) + interval 1 second, "
                       "'' from raw_amocrm._dlt_loads", [load_id])
    for lead_id, change in changes.items():
        connection.execute(f"update raw_amocrm.leads set {change}, _dlt_load_id = '{load_id}' where id = {lead_id}")


def test_pipeline_daily_swapped_shares_equal_a_full_rebuild(day_later, tmp_path):
    """The lead-by-lead swap equals a full rebuild in the hard cases: an old long-open lead's manager and
    price change (its share of every past day moves), a lead with completed stays is deleted (the stuck
    lines of the 180 days after them move), the mart skips a build in between (the superseded version it
    counted must be the one subtracted), the same lead changes again and the deleted lead is restored
    (its old completed stays come back: the stuck lines move the other way)."""
    warehouse = day_later[0].copy(tmp_path / "incremental")
    stays = warehouse.query(
        "select lead_id, count(*) filter (where left_at is not null) as completed, min(entered_date) as since "
        "from intermediate.int_pipeline_daily_stays where not is_deleted group by lead_id")
    open_ids = set(warehouse.query("select lead_id from marts.fct_leads where not is_won and not is_lost")["lead_id"])
    old_open = stays[stays["lead_id"].isin(open_ids)].sort_values(["since", "lead_id"]).iat[0, 0]
    completed = stays[(stays["completed"] > 0) & (stays["lead_id"] != old_open)].sort_values("since").iat[0, 0]
    other_user = warehouse.query(f"select min(manager_id) from marts.fct_leads where manager_id <> "
                                 f"(select manager_id from marts.fct_leads where lead_id = {old_open})").iat[0, 0]
    with duckdb.connect(str(warehouse.path)) as connection:
        _new_load(connection, "2000000000.1", {old_open: f"responsible_user_id = {other_user}, price = price + 1000",
                                               completed: "is_deleted = true"})
    warehouse.dbt("run", "--select", "+int_pipeline_daily_stays")  # fct_pipeline_daily left out of this build
    pending = warehouse.query("select count(*) from intermediate.int_pipeline_daily_stays where is_superseded")
    assert pending.iat[0, 0] > 0, "the counted version waits for fct_pipeline_daily"
    with duckdb.connect(str(warehouse.path)) as connection:
        _new_load(connection, "2000000000.2", {old_open: "price = price + 500"})
    warehouse.dbt("run")
    compiled = (warehouse.data_dir / "dbt_target" / "compiled" / "amocrm_kpi" / "models" / "marts"
                / "fct_pipeline_daily.sql").read_text()
    from_date = date.fromisoformat(re.search(r"greatest\(date '([\d-]+)', calendar.first_day\) as from_date", compiled).group(1))
    assert from_date == warehouse.query("select max(snapshot_date) from marts.fct_pipeline_daily").iat[0, 0], \
        "only the last day was recomputed in full"
    with duckdb.connect(str(warehouse.path)) as connection:
        _new_load(connection, "2000000000.3", {completed: "is_deleted = false"})
    warehouse.dbt("run")
    assert not warehouse.query(f"select is_deleted from marts.fct_leads where lead_id = {completed}").iat[0, 0]
    rebuilt = warehouse.copy(tmp_path / "full")
    rebuilt.dbt("run", "--full-refresh", "--select", "int_pipeline_daily_stays+", "int_lead_stage_stays+",
                "int_lead_lost_at_stage", "int_lead_stages_reached")
    for table in ["marts.fct_pipeline_daily", "intermediate.int_pipeline_daily_stays", "intermediate.int_lead_stage_stays",
                  "intermediate.int_lead_lost_at_stage", "intermediate.int_stage_stuck_thresholds",
                  "intermediate.int_lead_stages_reached"]:
        incremental, full = (w.query(f"select * from {table} order by all") for w in (warehouse, rebuilt))
        assert len(incremental) == len(full), table
        assert_frames_match(incremental.reset_index(), full.reset_index(), ["index"])
