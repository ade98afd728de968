"""The Dagster project: definitions, lineage, the daily job end to end, blocking checks, alerts, BI safety.

One simulated account and one data folder serve the whole module, in order:
run 1 publishes; run 2 runs a day later while a BI reader holds the serving copy open, amoCRM sends
a new field and the spend file has a bad line; then a blocking dbt test is made to fail and run 3
must not publish.
"""

import json
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from sensor_support import alert_on_failed_run

pytestmark = pytest.mark.xdist_group("dagster")

CONTRACT_TABLES = {
    "dim_managers", "dim_pipeline_stages", "fct_leads", "fct_sales_kpi", "fct_manager_activity", "fct_funnel",
    "fct_lost_deals", "fct_cac", "fct_satisfaction", "fct_plan_vs_fact", "fct_forecast", "fct_pipeline_daily",
    "fct_crm_hygiene", "fct_sales_by_dimension",
    "fct_response",
}


@pytest.fixture(scope="module")
def defs():
    from pipelines.definitions import defs

    return defs


@pytest.fixture(scope="module")
def env(tmp_path_factory, write_example_inputs):
    """A simulator and a data folder, configured the way a user configures a real account."""
    from pipelines.simulator import SimulatedAccount, Simulator

    data_dir = tmp_path_factory.mktemp("dagster_data")
    account = SimulatedAccount.generate(seed=23, leads=150, now=int(time.time()))
    with Simulator(account, rate_limit=None) as sim, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMOCRM_KPI_DATA_DIR", str(data_dir))
        mp.setenv("SOURCES__AMOCRM__BASE_URL", sim.base_url)
        mp.setenv("SOURCES__AMOCRM__ACCESS_TOKEN", sim.long_lived_token)
        mp.setenv("SOURCES__AMOCRM__REQUESTS_PER_SECOND", "1000")
        write_example_inputs(data_dir, sim.truth(), sim.clock.now)
        yield {"data_dir": data_dir, "sim": sim, "instance": dg.DagsterInstance.ephemeral()}


def _run(defs, env):
    return defs.resolve_job_def("amocrm_daily").execute_in_process(instance=env["instance"], raise_on_error=False)


@pytest.fixture(scope="module")
def first_run(defs, env):
    return _run(defs, env)


def test_definitions_form_one_connected_graph(defs):
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    placeholders = [k.to_user_string() for k in keys if not graph.get(k).is_materializable]
    assert placeholders == []  # every dbt source resolved to a dlt asset: no grey external assets
    groups = {graph.get(k).group_name for k in keys}
    assert {"ingest", "staging", "intermediate", "marts", "publish"} <= groups
    leads_children = {c.to_user_string() for c in graph.get(dg.AssetKey("dlt_amocrm_leads")).child_keys}
    assert "staging/stg_amocrm__leads" in leads_children
    upstream_of_report = graph.upstream_key_iterator(dg.AssetKey("kpi_report"))
    assert dg.AssetKey("serving_copy") in set(upstream_of_report)
    for table in CONTRACT_TABLES:
        assert dg.AssetKey(["marts", table]) in graph.get(dg.AssetKey("serving_copy")).parent_keys
    # dbt tests became checks; error severity blocks, warn does not
    checks = {key: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert any(spec.blocking for spec in checks.values()) and any(not spec.blocking for spec in checks.values())
    singular = {path.stem for path in (Path(__file__).parents[2] / "dbt_project" / "tests").glob("*.sql")}
    assert singular <= {key.name for key in checks}  # rules over several models are checks too, not observations
    assert defs.resolve_schedule_def("amocrm_daily_schedule").default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_sensor_def("alert_on_run_failure").default_status == dg.DefaultSensorStatus.RUNNING


def test_daily_job_builds_marts_serving_copy_and_report(first_run, env):
    assert first_run.success
    data_dir = env["data_dir"]
    with duckdb.connect(str(data_dir / "serving" / "amocrm_kpi.duckdb"), read_only=True) as serving:
        tables = {r[0] for r in serving.execute("select table_name from information_schema.tables "
                                                 "where table_schema = 'marts'").fetchall()}
        served_leads = serving.execute("select count(*) from marts.fct_leads").fetchone()[0]
    assert CONTRACT_TABLES <= tables
    truth_leads = len(env["sim"].truth().leads)
    assert served_leads == truth_leads  # deleted leads included, flagged
    assert (data_dir / "reports" / "kpi_report.html").stat().st_size > 10_000

    materializations = {
        e.asset_key.to_user_string(): e.materialization.metadata for e in first_run.get_asset_materialization_events()
    }
    assert materializations["dlt_amocrm_leads"]["dagster/row_count"].value == truth_leads
    assert materializations["marts/fct_leads"]["dagster/row_count"].value == truth_leads
    evaluations = first_run.get_asset_check_evaluations()
    blocking_failures = [e for e in evaluations if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    assert blocking_failures == []
    names = {e.check_name for e in evaluations}
    assert {"matches_amocrm", "reference_counts_match_amocrm", "rows_never_shrink", "data_fresh"} <= names


@pytest.fixture(scope="module")
def second_run(defs, env, first_run):
    """Run 2, a day later, with three things at once that must each leave it publishing: a BI reader
    holding the serving copy open, a new field amoCRM starts sending, a bad line in the spend file.
    One run for the three (each costs a whole daily run): (result, fct_sales_kpi rows the reader saw
    before and after the run, fct_cac spend before it, the good spend file's text)."""
    assert first_run.success
    serving = env["data_dir"] / "serving" / "amocrm_kpi.duckdb"
    spend_file = env["data_dir"] / "marketing_spend.csv"
    good = spend_file.read_text(encoding="utf-8")
    reader = duckdb.connect(str(serving), read_only=True)
    try:
        seen_before = reader.execute("select count(*) from marts.fct_sales_kpi").fetchone()[0]
        spend_before = reader.execute("select sum(marketing_spend) from marts.fct_cac").fetchone()[0]
        env["sim"].clock.advance(days=1)
        env["sim"].faults.add_fields("/api/v4/leads", ai_score=7)  # amoCRM also starts sending a new field
        spend_file.write_text(good + "2026-01,vk,1.000\n", encoding="utf-8")
        result = _run(defs, env)
        seen_after = reader.execute("select count(*) from marts.fct_sales_kpi").fetchone()[0]
    finally:
        reader.close()
        env["sim"].faults.reset()
        spend_file.write_text(good, encoding="utf-8")
    return result, (seen_before, seen_after), spend_before, good


def test_a_bi_reader_does_not_block_the_next_run(env, second_run):
    second, (seen_before, seen_after), _, _ = second_run
    assert second.success
    assert seen_after == seen_before  # the reader keeps the copy it opened
    leads = next(e.materialization.metadata for e in second.get_asset_materialization_events()
                 if e.asset_key == dg.AssetKey("dlt_amocrm_leads"))
    assert leads["new_api_fields"].value == ["ai_score"]  # shown on the asset in the UI, and logged as a warning
    serving = env["data_dir"] / "serving" / "amocrm_kpi.duckdb"
    with duckdb.connect(str(serving), read_only=True) as fresh:
        assert fresh.execute("select count(*) from marts.fct_leads").fetchone()[0] == len(env["sim"].truth().leads)


def test_a_bad_input_file_fails_loudly_but_does_not_hold_back_the_amocrm_kpis(defs, env, second_run, webhook,
                                                                            monkeypatch):
    """A bad CSV line fails the `user_inputs` check (ERROR) and on-call hears of it; the marts still build
    from fresh amoCRM data and the inputs loaded before, and the serving copy is published."""
    result, _, spend_before, good = second_run
    serving = env["data_dir"] / "serving" / "amocrm_kpi.duckdb"
    assert result.success
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "input_files_valid"]
    line = len(good.splitlines()) + 1
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert f"marketing_spend.csv, line {line}: column amount: '1.000' is ambiguous" in check.description
    assert "serving_copy" in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_leads").fetchone()[0] == len(env["sim"].truth().leads)
        assert con.execute("select sum(marketing_spend) from marts.fct_cac").fetchone()[0] == spend_before

    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    success = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_failed_checks", dagster_instance=env["instance"],
        dagster_run=env["instance"].get_run_by_id(result.run_id), dagster_event=success)
    defs.resolve_sensor_def("alert_on_failed_checks")(context)
    (alert,) = [body for _, body in received]
    assert any(f["check"] == "input_files_valid" and "'1.000' is ambiguous" in f["error"] for f in alert["failures"])


@pytest.fixture(scope="module")
def broken_run(defs, env, first_run):
    """A run whose blocking dbt test fails: a won lead without a close date."""
    assert first_run.success
    serving = env["data_dir"] / "serving" / "amocrm_kpi.duckdb"
    published_before = serving.read_bytes()
    with duckdb.connect(str(env["data_dir"] / "warehouse.duckdb")) as con:
        broken = con.execute("update raw_amocrm.leads set closed_at = null where status_id = 142 "
                             "and not coalesce(is_deleted, false) returning id").fetchall()
    assert broken
    return _run(defs, env), published_before


def test_failing_blocking_check_stops_publishing(broken_run, env):
    result, published_before = broken_run
    assert not result.success
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert any(e.severity == dg.AssetCheckSeverity.ERROR for e in failed_checks)
    published = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "serving_copy" not in published and "kpi_report" not in published
    serving = env["data_dir"] / "serving" / "amocrm_kpi.duckdb"
    assert serving.read_bytes() == published_before  # the last good copy, untouched
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_leads where is_won and closed_at is null").fetchone()[0] == 0


def test_failure_sensor_alerts_on_call_without_secrets(defs, env, broken_run, webhook, monkeypatch):
    result, _ = broken_run
    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://dagster.example:3000")
    alert_on_failed_run(defs, env["instance"], result)

    assert [path for path, _ in received] == ["/alert"]
    alert = received[0][1]
    assert alert["severity"] == "error" and alert["job"] == "amocrm_daily" and alert["run_id"] == result.run_id
    assert alert["run_url"] == f"http://dagster.example:3000/runs/{result.run_id}"
    assert any(f.get("step") == "amocrm_dbt_models" for f in alert["failures"])
    assert any("closed_at" in (f.get("check") or "") for f in alert["failures"])
    assert env["sim"].long_lived_token not in json.dumps(alert)
    assert list((env["data_dir"] / "alerts").glob("*_error_*.json"))
