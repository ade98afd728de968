"""The incremental models do not trust the clock: a dlt load whose id sorts before an older one (the
clock stepped back: a VM restore, an NTP jump) still reaches the marts, even built a few models at a
time, and a build that fails midway leaves the loads it did not finish to the next build. Uses its own
small warehouse."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest

from kpi_reference import MARTS, assert_mart_matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("day_later")]

SEED = 23
LEADS = 200
NOW = 1_790_000_000  # a fixed simulated moment; the day after it brings changes to every source
INCREMENTAL = ["int_activities", "int_lead_events", "int_lead_status_history"]


def _load_ids(warehouse) -> list[str]:
    return sorted(warehouse.query("select load_id from raw_amocrm._dlt_loads where status = 0")["load_id"])


def _processed(warehouse) -> dict[str, set[str]]:
    ledger = warehouse.query("select model_name, load_id from intermediate.int_processed_loads")
    return {model: set(ledger.loc[ledger.model_name == model, "load_id"]) for model in INCREMENTAL}


def _statuses(data_dir) -> dict[str, str]:
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results
            if not r["unique_id"].startswith("operation.")}  # not the on-run-start upgrade hook


@pytest.fixture(scope="module")
def day_later(shared_day_later):
    """A warehouse built once, then the account a day later extracted but not yet built by dbt:
    (warehouse, load ids of the first extraction, load ids of the second). Shared: copy it to change it."""
    return shared_day_later(seed=SEED, leads=LEADS, now=NOW)


@pytest.fixture(scope="module")
def reference(day_later):
    return day_later[0].reference()


@pytest.fixture(scope="module")
def clock_stepped_back(day_later, tmp_path_factory):
    """The day-later warehouse as if the machine clock had stepped back a day before the second
    extraction: its load ids (raw rows and `_dlt_loads`) sort before the first extraction's. Then built
    a few models at a time, as a Dagster user materialising single assets would: int_lead_events alone
    (stg_amocrm__leads, a table, is not rebuilt), then int_lead_status_history alone, then everything
    (one warehouse for both cases: a build of this account costs a minute of CI): (warehouse, the
    backdated load ids)."""
    warehouse, first, second = day_later
    stepped = warehouse.copy(tmp_path_factory.mktemp("clock_stepped_back"))
    backdated = {load: str(Decimal(load) - 86_400) for load in second}
    assert max(backdated.values()) < min(first)
    with duckdb.connect(str(stepped.path)) as con:
        tables = con.execute("select table_name from information_schema.columns "
                             "where table_schema = 'raw_amocrm' and column_name = '_dlt_load_id'").fetchall()
        for old, new in backdated.items():
            for (table,) in tables:
                con.execute(f'update raw_amocrm."{table}" set _dlt_load_id = ? where _dlt_load_id = ?', [new, old])
            con.execute("update raw_amocrm._dlt_loads set load_id = ? where load_id = ?", [new, old])
    stepped.dbt("build", "--select", "int_lead_events")
    stepped.dbt("build", "--select", "int_lead_status_history")
    stepped.dbt("build")
    return stepped, set(backdated.values())


def test_a_load_older_by_the_clock_is_still_processed(clock_stepped_back):
    warehouse, backdated = clock_stepped_back
    for model in INCREMENTAL:
        loads = set(warehouse.query(f"select distinct load_id from intermediate.{model}")["load_id"])
        assert loads & backdated, f"{model} has no row of the backdated load"
    assert all(backdated <= loads for loads in _processed(warehouse).values())


@pytest.mark.parametrize("table", MARTS)
def test_marts_after_a_backdated_load_built_piecemeal_match_the_reference(clock_stepped_back, reference, table):
    warehouse, _ = clock_stepped_back
    assert_mart_matches(warehouse.query(f"select * from marts.{table} order by all"), reference, table)


def _recreate_ledger(warehouse, check: str = "true") -> None:
    """Re-create the ledger with its rows, under a CHECK constraint that can make a write to it fail."""
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute("create table intermediate.ledger_copy as from intermediate.int_processed_loads")
        con.execute("drop table intermediate.int_processed_loads")
        con.execute("create table intermediate.int_processed_loads (model_name varchar, load_id varchar, "
                    f"processed_at timestamp with time zone, check ({check}))")
        con.execute("insert into intermediate.int_processed_loads from intermediate.ledger_copy")
        con.execute("drop table intermediate.ledger_copy")


@pytest.fixture(scope="module")
def failed_midway(day_later, tmp_path_factory):
    """The day-later warehouse where `dbt build` fails inside int_activities, after it has written
    the new rows, when its post-hook records the new loads (a CHECK constraint on the ledger refuses
    them), while the lead models take the new loads; then the constraint is lifted and dbt builds
    again: (warehouse, statuses and ledger after the failed build, load ids in int_activities then)."""
    warehouse, _, second = day_later
    broken = warehouse.copy(tmp_path_factory.mktemp("failed_midway"))
    refused = ", ".join(f"'{load}'" for load in second)
    _recreate_ledger(broken, check=f"model_name <> 'int_activities' or load_id not in ({refused})")
    # the failing build of the models compared below (and what they read), not of every mart: CPU
    result = broken.dbt("build", "--select", "+int_activities", "+int_lead_events", "+int_lead_status_history",
                        check=False)
    assert result.returncode != 0
    statuses, ledger = _statuses(broken.data_dir), _processed(broken)
    activity_loads = set(broken.query("select distinct load_id from intermediate.int_activities")["load_id"])
    _recreate_ledger(broken)
    broken.dbt("build")
    return broken, statuses, ledger, activity_loads


def test_a_failed_model_keeps_neither_its_rows_nor_its_record(day_later, failed_midway):
    _, first, second = day_later
    _, statuses, ledger, activity_loads = failed_midway
    assert statuses["int_activities"] == "error"
    assert statuses["int_lead_status_history"] == "success"
    assert ledger["int_activities"] == set(first), "the failed model recorded no new load"
    assert activity_loads <= set(first), "its rows of the new loads were rolled back with the record"
    assert ledger["int_lead_events"] == ledger["int_lead_status_history"] == set(first) | set(second)


@pytest.mark.parametrize("table", MARTS)
def test_marts_after_a_failed_build_and_a_rebuild_match_the_reference(failed_midway, reference, table):
    warehouse = failed_midway[0]
    assert_mart_matches(warehouse.query(f"select * from marts.{table} order by all"), reference, table)


def test_a_lost_ledger_is_reported_then_rebuilt_by_reading_every_load(clock_stepped_back, tmp_path):
    warehouse = clock_stepped_back[0].copy(tmp_path)
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute("drop table intermediate.int_processed_loads")
    result = warehouse.dbt("run", "--select", "int_activities", check=False)
    assert result.returncode != 0
    assert "int_processed_loads, the record of the dlt loads" in result.stdout
    assert "Run `dbt build` without --select" in result.stdout
    before = warehouse.query("select * from intermediate.int_activities order by all")
    warehouse.dbt("run", "--select", "int_processed_loads", "int_activities")
    assert _processed(warehouse)["int_activities"] == set(_load_ids(warehouse))
    assert warehouse.query("select * from intermediate.int_activities order by all").equals(before)
