"""Issue 14, Dagster: one partition per amoCRM account; one account failing never stops the others.

Real: two hub simulators over HTTP, the partitioned `amocrm_extract` job run in-process per partition
into a temp warehouse, the schedule and the sensors evaluated as the daemon would. Account acc1's
tokens are revoked: its run fails with an alert naming it, acc2's raw data is still brought up to date
and the transform is still requested, telling which account kept its old data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import dagster as dg
import duckdb
import pytest
from sensor_support import alert_on_failed_run

from pipelines import paths

pytestmark = pytest.mark.xdist_group("dagster")


@pytest.fixture
def hub(simulated_accounts):
    return simulated_accounts(seed=5)


def _query(sql: str, account_id: int) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute(sql, [account_id]).fetchall()


def _leads(account_id: int) -> set[int]:
    return {row[0] for row in _query("select id from raw_amocrm.leads where account_id = ?", account_id)}


def _last_load(account_id: int) -> str:
    """The load id of the account's row in `extractions`: a new one after each of its successful loads."""
    return _query("select max(_dlt_load_id) from raw_amocrm.extractions where account_id = ?", account_id)[0][0]


def _truth_leads(sim) -> set[int]:
    return set(sim.truth().leads["id"])


def _extract(defs, instance, request: dg.RunRequest):
    return defs.resolve_job_def("amocrm_extract_account").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False)


def _tick(defs, instance, at: dt.datetime) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at,
                                       repository_def=defs.get_repository_def())
    return list(defs.resolve_schedule_def("amocrm_daily_schedule").evaluate_tick(context).run_requests)


def _transform_requests(defs, instance) -> dict[str, dict]:
    sensor = defs.resolve_sensor_def("transform_after_extractions")
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    return {request.run_key: {k: v for k, v in request.tags.items() if k.startswith("amocrm_kpi/")}
            for request in result.run_requests or []}


def test_each_account_runs_alone_and_a_failing_one_stops_no_other(hub):
    from pipelines.definitions import defs

    with dg.instance_for_test() as instance:  # with an instance ref, as the daemon's: the schedule needs it
        _scenario(defs, instance, hub)


def _scenario(defs, instance, hub) -> None:
    ids = {key: hub[key].truth().account["id"] for key in hub}
    first = dt.datetime(2026, 1, 1, 5, tzinfo=dt.timezone.utc)

    requests = _tick(defs, instance, first)  # the schedule: one extraction run per configured account
    assert [r.partition_key for r in requests] == ["acc1", "acc2"]
    assert instance.get_dynamic_partitions("amocrm_account") == ["acc1", "acc2"]
    assert _transform_requests(defs, instance) == {}  # nothing ran yet: no transform
    for request in requests:
        assert _extract(defs, instance, request).success, request.partition_key
    for key in hub:  # each partition loaded its own account
        assert _leads(ids[key]) == _truth_leads(hub[key]), key
    batch_one = first.isoformat()
    assert _transform_requests(defs, instance) == {
        f"transform/{batch_one}": {"amocrm_kpi/batch": batch_one, "amocrm_kpi/failed_accounts": "none"}}

    # a day later acc1's integration is switched off; both accounts changed meanwhile
    hub.advance(days=1)
    hub["acc1"].revoke_tokens()
    acc1_before, loads_before = _leads(ids["acc1"]), {key: _last_load(ids[key]) for key in hub}
    second = first + dt.timedelta(days=1)
    results = {r.partition_key: _extract(defs, instance, r) for r in _tick(defs, instance, second)}

    assert not results["acc1"].success
    assert results["acc2"].success  # acc1's failure did not stop acc2
    assert _leads(ids["acc2"]) == _truth_leads(hub["acc2"]) and _last_load(ids["acc2"]) > loads_before["acc2"]
    assert _leads(ids["acc1"]) == acc1_before and _last_load(ids["acc1"]) == loads_before["acc1"]  # kept as it was
    assert results["acc1"].dagster_run.tags["dagster/partition"] == "acc1"

    alert_on_failed_run(defs, instance, results["acc1"])  # the daemon's failure sensor, evaluated here
    alerts = [json.loads(p.read_text()) for p in sorted(paths.alerts_dir().glob("*_error_*.json"))]
    assert len(alerts) == 1, alerts
    assert "account acc1" in alerts[0]["title"] and f"amoCRM account {ids['acc1']}" in alerts[0]["title"], alerts[0]
    assert "acc2" not in json.dumps(alerts[0])

    # the transform of the second batch is requested all the same, naming the account left behind
    batch_two = second.isoformat()
    assert _transform_requests(defs, instance)[f"transform/{batch_two}"] == {
        "amocrm_kpi/batch": batch_two, "amocrm_kpi/failed_accounts": "acc1"}

    # the freshness sensor names the account whose data is behind, once
    from pipelines.defs.freshness import last_extractions

    last, now = last_extractions(instance), time.time()
    limit_hours = ((now - last["acc1"]) + (now - last["acc2"])) / 2 / 3600  # acc1 is older, acc2 newer
    sensor = defs.resolve_sensor_def("account_freshness")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMOCRM_KPI_FRESHNESS_HOURS", str(limit_hours))
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=tick.cursor))
    assert json.loads(tick.cursor) == ["acc1"] and again.cursor == tick.cursor
    warnings = [json.loads(p.read_text()) for p in sorted(paths.alerts_dir().glob("*_warning_*.json"))]
    assert len(warnings) == 1, warnings  # told once, not at every tick
    assert warnings[0]["title"] == "amocrm-kpi: no fresh amoCRM data for acc1"
    assert f"account acc1 (amoCRM account {ids['acc1']}" in warnings[0]["failures"][0]["account"]


def test_one_account_scheduled_route_extracts_then_publishes(tmp_path, monkeypatch, write_example_inputs):
    """The embedded-default shape (one account, `default`): the schedule's extraction run, then the
    transform the sensor requests, publish the serving copy as `amocrm_daily` does."""
    from pipelines.definitions import defs
    from pipelines.simulator import SimulatedAccount, Simulator

    for name in list(os.environ):
        if "AMO" in name.upper():
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    account = SimulatedAccount.generate(seed=29, leads=80, now=int(time.time()))
    with Simulator(account, rate_limit=None) as sim, dg.instance_for_test() as instance:
        monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(data_dir))
        monkeypatch.setenv("SOURCES__AMOCRM__BASE_URL", sim.base_url)
        monkeypatch.setenv("SOURCES__AMOCRM__ACCESS_TOKEN", sim.long_lived_token)
        monkeypatch.setenv("SOURCES__AMOCRM__REQUESTS_PER_SECOND", "1000")
        write_example_inputs(data_dir, sim.truth(), sim.clock.now)
        (request,) = _tick(defs, instance, dt.datetime(2026, 1, 1, 5, tzinfo=dt.timezone.utc))
        assert request.partition_key == "default"
        extraction = _extract(defs, instance, request)
        assert extraction.success
        assert "amocrm_dbt_models" not in _steps(extraction)  # no dbt process in an extraction run
        assert not _source_tests(extraction) and extraction.get_asset_check_evaluations()  # its raw checks ran
        (transform,) = _transform_requests(defs, instance).values()
        assert transform["amocrm_kpi/failed_accounts"] == "none"
        result = defs.resolve_job_def("amocrm_transform").execute_in_process(
            instance=instance, tags=transform, raise_on_error=False)
        assert result.success
        with duckdb.connect(str(data_dir / "serving" / "amocrm_kpi.duckdb"), read_only=True) as con:
            assert con.execute("select count(*) from marts.fct_leads").fetchone()[0] == len(sim.truth().leads)
    checked = _source_tests(result)  # dbt's source tests ran in the transform's dbt build, and passed
    assert len(checked) >= 20 and all(e.passed for e in checked)
    assert {e.asset_key.to_user_string() for e in checked} >= {"dlt_amocrm_account", "dlt_amocrm_leads"}
    (log,) = (paths.DBT_PROJECT_DIR / "target").glob(f"amocrm_dbt_models-{result.run_id[:7]}-*/dbt.log")
    assert "Unable to do partial parsing" not in log.read_text(encoding="utf-8")  # the prepared parse served


def _steps(result) -> set[str]:
    return {event.step_key for event in result.all_events if event.step_key}


def _source_tests(result) -> list:
    return [e for e in result.get_asset_check_evaluations() if e.check_name.startswith("source_is_the_account_id_")]
