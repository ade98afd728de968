"""The Dagster job `amocrm_reconcile_ids` (pipelines/defs/reconcile.py), run in process.

One account (scenario `purges`) extracted a month before `now` by the daily job's extraction and again at
`now`; then the weekly job: a refusal fails the run and alerts on-call, accept marks, a plain run marks
the purged records, and the run holds the warehouse lock like the daily job.
"""

import json
import time

import dagster as dg
import duckdb
import pytest

from sensor_support import alert_on_failed_run

pytestmark = pytest.mark.xdist_group("dagster")

DAY = 86_400


@pytest.fixture(scope="module")
def defs():
    from pipelines.definitions import defs

    return defs


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from pipelines.amocrm import run_extraction
    from pipelines.simulator import SimulatedAccount, Simulator

    data_dir = tmp_path_factory.mktemp("reconcile_data")
    now = int(time.time())
    account = SimulatedAccount.generate(seed=11, leads=200, now=now, horizon_days=60, scenarios={"purges"})
    with Simulator(account, rate_limit=None) as sim, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMOCRM_KPI_DATA_DIR", str(data_dir))
        mp.setenv("SOURCES__AMOCRM__BASE_URL", sim.base_url)
        mp.setenv("SOURCES__AMOCRM__ACCESS_TOKEN", sim.long_lived_token)
        mp.setenv("SOURCES__AMOCRM__REQUESTS_PER_SECOND", "1000")
        sim.clock.set(now - 30 * DAY)
        run_extraction()
        sim.clock.set(now)
        run_extraction()
        yield {"data_dir": data_dir, "sim": sim, "instance": dg.DagsterInstance.ephemeral(), "mp": mp}


def _run(defs, env, accept=None):
    config = {"ops": {"reconcile_ids": {"config": {"accept": accept}}}} if accept is not None else None
    return defs.resolve_job_def("amocrm_reconcile_ids").execute_in_process(
        instance=env["instance"], run_config=config, raise_on_error=False)


def _deleted_leads(env) -> set[int]:
    with duckdb.connect(str(env["data_dir"] / "warehouse.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute("select id from raw_amocrm.leads where is_deleted").fetchall()}


def test_the_job_is_scheduled_weekly_in_the_schedule_timezone(defs):
    schedule = defs.resolve_schedule_def("amocrm_reconcile_ids_schedule")
    daily = defs.resolve_schedule_def("amocrm_daily_schedule")
    assert schedule.cron_schedule == "0 3 * * 0"
    assert schedule.execution_timezone == daily.execution_timezone
    assert schedule.job_name == "amocrm_reconcile_ids"


def test_a_refusal_fails_the_run_alerts_and_marks_nothing(defs, env, webhook):
    url, received = webhook
    env["mp"].setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", url)
    before = _deleted_leads(env)
    env["sim"].faults.hide_records(30, "leads")
    try:
        result = _run(defs, env)
    finally:
        env["sim"].faults.reset()
    assert not result.success
    assert _deleted_leads(env) == before
    alert_on_failed_run(defs, env["instance"], result)
    (_, body), = received
    assert body["job"] == "amocrm_reconcile_ids"
    text = json.dumps(body, ensure_ascii=False)
    assert "leads" in text and "--accept" in text and "marked nothing" in text


def test_the_run_marks_the_purged_records_and_holds_the_warehouse_lock(defs, env):
    before = _deleted_leads(env)
    result = _run(defs, env)
    assert result.success
    marked = _deleted_leads(env) - before
    assert len(marked) == 3
    run = env["instance"].get_run_by_id(result.run_id)
    assert "amocrm_kpi/process" in run.tags  # the run guard was set up for this run


def test_accept_from_run_config_marks_above_the_limit(defs, env):
    before = _deleted_leads(env)
    env["sim"].faults.hide_records(30, "leads")
    try:
        result = _run(defs, env, accept=True)
    finally:
        env["sim"].faults.reset()
    assert result.success
    # the simulator's clock runs: leads amoCRM deleted since the last extraction are gone from its lists too
    truth = env["sim"].truth()
    deleted_in_amocrm = set(truth.leads.loc[truth.leads["is_deleted"].astype(bool), "id"])
    assert len(_deleted_leads(env) - before - deleted_in_amocrm) == 30
