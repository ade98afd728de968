"""The daily job with its Dagster instance on PostgreSQL, publishing the marts to PostgreSQL.

One simulated account, one data folder and one instance (dagster.postgres.yaml, a database of this
module's own) serve the module: run 1 publishes; then a blocking dbt test is made to fail and run 2
(the failing model, its checks and the publish steps) must leave the published tables untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest

from pg_support import drop_publication, unique

pytestmark = pytest.mark.xdist_group("postgres")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_TABLES = {
    "dim_managers", "dim_pipeline_stages", "fct_leads", "fct_sales_kpi", "fct_manager_activity", "fct_funnel",
    "fct_lost_deals", "fct_cac", "fct_satisfaction", "fct_plan_vs_fact", "fct_forecast",
    "fct_response",
}
# DuckDB type of a mart column -> the PostgreSQL type it must arrive as
PG_TYPES = {"BIGINT": "bigint", "INTEGER": "integer", "BOOLEAN": "boolean", "DATE": "date",
            "DOUBLE": "double precision", "VARCHAR": "character varying", "DECIMAL(18,2)": "numeric(18,2)",
            "TIMESTAMP WITH TIME ZONE": "timestamp with time zone"}


@pytest.fixture(scope="module")
def env(tmp_path_factory, write_example_inputs, postgres_url, scratch_database):
    from pipelines.postgres.settings import PublishSettings
    from pipelines.simulator import SimulatedAccount, Simulator

    data_dir, home = tmp_path_factory.mktemp("pg_data"), tmp_path_factory.mktemp("pg_dagster_home")
    shutil.copy(PROJECT_ROOT / "dagster.postgres.yaml", home / "dagster.yaml")
    target = PublishSettings(url=postgres_url, schema=unique("t_marts"), reader=unique("t_reader"),
                             lock_wait_seconds=60)
    account = SimulatedAccount.generate(seed=29, leads=150, now=int(time.time()))
    with Simulator(account, rate_limit=None) as sim, pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AMOCRM_KPI_DATA_DIR": str(data_dir), "SOURCES__AMOCRM__BASE_URL": sim.base_url,
            "SOURCES__AMOCRM__ACCESS_TOKEN": sim.long_lived_token, "SOURCES__AMOCRM__REQUESTS_PER_SECOND": "1000",
            "DAGSTER_HOME": str(home),
            "AMOCRM_KPI_DAGSTER_POSTGRES_URL": scratch_database.replace("postgresql://", "postgresql+psycopg2://"),
            "AMOCRM_KPI_PUBLISH_POSTGRES_URL": postgres_url, "AMOCRM_KPI_PUBLISH_POSTGRES_SCHEMA": target.schema,
            "AMOCRM_KPI_PUBLISH_POSTGRES_READER": target.reader,
        }.items():
            mp.setenv(name, value)
        write_example_inputs(data_dir, sim.truth(), sim.clock.now)
        instance = dg.DagsterInstance.from_config(str(home))
        # Pooled connections, as the webserver holds them: Dagster opens a new PostgreSQL connection (a
        # server process and a password exchange) per stored event otherwise, about a thousand a run.
        # The daily job still stores every run, event and check there (read back through a fresh instance).
        instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=5)
        try:
            yield {"data_dir": data_dir, "home": home, "sim": sim, "instance": instance, "target": target,
                   "dagster_db": scratch_database}
        finally:
            instance.dispose()
            drop_publication(postgres_url, target)


@pytest.fixture(scope="module")
def defs():
    from pipelines.definitions import defs
    from pipelines.defs.postgres import postgres_marts

    if dg.AssetKey("postgres_marts") in defs.resolve_asset_graph().get_all_asset_keys():
        return defs
    return dg.Definitions.merge(defs, dg.Definitions(assets=[postgres_marts]))


def _run(defs, env):
    return defs.resolve_job_def("amocrm_daily").execute_in_process(instance=env["instance"], raise_on_error=False)


@pytest.fixture(scope="module")
def first_run(defs, env):
    return _run(defs, env)


def _pg(url, statement, params=None):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def test_runs_and_check_results_are_stored_in_postgresql(first_run, env):
    assert first_run.success
    assert type(env["instance"].run_storage).__name__ == "PostgresRunStorage"
    assert _pg(env["dagster_db"], "select status from runs where run_id = %s", [first_run.run_id]) == [("SUCCESS",)]
    (checks,) = _pg(env["dagster_db"], "select count(*) from event_logs where run_id = %s "
                    "and dagster_event_type = 'ASSET_CHECK_EVALUATION'", [first_run.run_id])[0]
    assert checks >= 20
    reopened = dg.DagsterInstance.from_config(str(env["home"]))  # as the webserver or daemon would open it
    try:
        stored = reopened.get_records_for_run(first_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        assert len(stored.records) == checks
        materialized = {r.asset_entry.asset_key.to_user_string() for r in reopened.get_asset_records()}
        assert {"dlt_amocrm_leads", "marts/fct_leads", "serving_copy", "postgres_marts"} <= materialized
    finally:
        reopened.dispose()


def test_schedule_state_is_stored_in_postgresql(env):
    command = [str(Path(sys.executable).with_name("dagster")), "schedule", "stop", "amocrm_daily_schedule",
               "-m", "pipelines.definitions"]
    result = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    states = {s.instigator_name: s.status.value for s in env["instance"].all_instigator_state()}
    assert states.get("amocrm_daily_schedule") == "STOPPED"
    assert _pg(env["dagster_db"], "select count(*) from instigators where status = 'STOPPED'")[0][0] >= 1


def _duckdb_tables(path: Path) -> dict[str, tuple[list[tuple[str, str]], Counter]]:
    """table -> ([(column, type)], rows as a multiset) of schema `marts`."""
    tables = {}
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = "
                                           "'marts' and table_type = 'BASE TABLE'").fetchall()]
        for name in names:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns where table_schema = 'marts' "
                "and table_name = ? order by ordinal_position", [name]).fetchall()
            tables[name] = (columns, Counter(con.execute(f'select * from marts."{name}"').fetchall()))
    return tables


def _postgres_tables(url: str, schema: str) -> dict[str, tuple[list[tuple[str, str]], Counter]]:
    tables = {}
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select tablename from pg_tables where schemaname = %s", [schema])
        for (name,) in cur.fetchall():
            cur.execute("select attname, format_type(atttypid, atttypmod) from pg_attribute "
                        "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
                        [f'"{schema}"."{name}"'])
            columns = cur.fetchall()
            cur.execute(f'select * from "{schema}"."{name}"')
            tables[name] = (columns, Counter(cur.fetchall()))
    conn.close()
    return tables


def test_every_published_table_equals_the_duckdb_marts_row_for_row(first_run, env):
    assert first_run.success
    warehouse = _duckdb_tables(env["data_dir"] / "warehouse.duckdb")
    served = _duckdb_tables(env["data_dir"] / "serving" / "amocrm_kpi.duckdb")
    published = _postgres_tables(env["target"].url, env["target"].schema)
    assert CONTRACT_TABLES <= set(warehouse)
    assert set(published) == set(warehouse) | {"meta_source"} == set(served)
    for name, (columns, rows) in published.items():
        duck_columns, duck_rows = warehouse.get(name) or served[name]
        assert [c for c, _ in columns] == [c for c, _ in duck_columns], name
        assert [t for _, t in columns] == [PG_TYPES[t] for _, t in duck_columns], name  # decimals, dates kept
        assert rows == duck_rows, name
    assert len(published["fct_leads"][1]) == len(env["sim"].truth().leads)


def test_keys_and_comments_come_from_the_dbt_docs(first_run, env):
    from pipelines.postgres.model_docs import table_docs

    assert first_run.success
    schema, url = env["target"].schema, env["target"].url
    docs = table_docs("marts")
    keys = {table: tuple(columns) for table, columns in _pg(url, """
        select c.conrelid::regclass::text, array_agg(a.attname order by k.ord)
        from pg_constraint c cross join unnest(c.conkey) with ordinality k(attnum, ord)
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
        where c.connamespace = %s::regnamespace and c.contype in ('p', 'u') group by 1""", [schema])}
    assert keys[f"{schema}.fct_sales_kpi"] == ("account_id", "period_grain", "period_start", "pipeline_id",
                                               "manager_id")
    assert keys[f"{schema}.fct_leads"] == ("account_id", "lead_id")
    for table in CONTRACT_TABLES:
        assert keys[f"{schema}.{table}"] == docs[table].key
    comments = dict(_pg(url, """
        select c.relname || coalesce('.' || a.attname, ''), d.description from pg_description d
        join pg_class c on c.oid = d.objoid left join pg_attribute a on a.attrelid = c.oid and a.attnum = d.objsubid
        and d.objsubid > 0 where c.relnamespace = %s::regnamespace""", [schema]))
    for table in CONTRACT_TABLES:
        assert comments[table] == docs[table].description
        for column, description in docs[table].columns.items():
            assert comments[f"{table}.{column}"] == description, f"{table}.{column}"
    assert "'week' (ISO week)" in comments["fct_sales_kpi.period_grain"]  # a doc block, rendered


@pytest.fixture(scope="module")
def broken_run(defs, env, first_run):
    """A run whose blocking dbt test fails: a won lead without a close date."""
    assert first_run.success
    schema = env["target"].schema
    before = (_postgres_tables(env["target"].url, schema),
              _pg(env["target"].url, "select relname, oid from pg_class where relnamespace = %s::regnamespace "
                  "and relkind = 'r' order by 1", [schema]))
    with duckdb.connect(str(env["data_dir"] / "warehouse.duckdb")) as con:
        broken = con.execute("update raw_amocrm.leads set closed_at = null where status_id = 142 "
                             "and not coalesce(is_deleted, false) returning id").fetchall()
    assert broken
    # only what the failing check guards and what follows it: the mechanism is the full job's, the dbt part shorter
    selection = [dg.AssetKey(["staging", "stg_amocrm__leads"]), dg.AssetKey(["marts", "fct_leads"]),
                 dg.AssetKey("serving_copy"), dg.AssetKey("postgres_marts")]
    result = defs.resolve_job_def("amocrm_daily").execute_in_process(
        instance=env["instance"], raise_on_error=False, asset_selection=selection)
    return result, before


def test_a_run_whose_blocking_check_fails_leaves_the_published_data_untouched(broken_run, env):
    result, (tables_before, oids_before) = broken_run
    assert not result.success
    assert any(not e.passed and e.severity == dg.AssetCheckSeverity.ERROR for e in result.get_asset_check_evaluations())
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "postgres_marts" not in materialized and "serving_copy" not in materialized
    schema = env["target"].schema
    assert _pg(env["target"].url, "select relname, oid from pg_class where relnamespace = %s::regnamespace "
               "and relkind = 'r' order by 1", [schema]) == oids_before  # the same tables, not reloaded
    assert _postgres_tables(env["target"].url, schema) == tables_before
    assert _pg(env["target"].url, f'select count(*) from "{schema}".fct_leads where is_won and closed_at is null') == [
        (0,)]
