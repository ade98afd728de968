"""Warning checks on the morning KPIs, and dbt source tests as checks on the dlt assets.

One simulated account with a busy recent history (leads every day) and one daily run serve the
module. The KPI warnings then run alone with thresholds set from the pandas reference: just past
the account's own share (warns, and on-call gets it) and exactly at it (passes). Last, a raw row
with a wrong `account_id` makes the blocking source check on its dlt asset fail the run.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import dagster as dg
import duckdb
import pytest

from kpi_reference import KpiReference
from sensor_support import alert_on_failed_run

pytestmark = pytest.mark.xdist_group("dagster")

OBSERVATION_WARNING = "Logging an `AssetObservation` instead of an `AssetCheckResult`"
SLA, NO_TASK = "sla_share_above_floor", "open_deals_without_task_below_ceiling"


@pytest.fixture(scope="module")
def env(tmp_path_factory, write_example_inputs):
    from pipelines.simulator import Simulator

    data_dir = tmp_path_factory.mktemp("kpi_warnings")
    account = _account_with_late_leads_yesterday(int(time.time()))
    with Simulator(account, rate_limit=None) as sim, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMOCRM_KPI_DATA_DIR", str(data_dir))
        mp.setenv("SOURCES__AMOCRM__BASE_URL", sim.base_url)
        mp.setenv("SOURCES__AMOCRM__ACCESS_TOKEN", sim.long_lived_token)
        mp.setenv("SOURCES__AMOCRM__REQUESTS_PER_SECOND", "1000")
        for name in ("AMOCRM_KPI_SLA_SHARE_FLOOR", "AMOCRM_KPI_NO_TASK_SHARE_CEILING"):
            mp.delenv(name, raising=False)
        write_example_inputs(data_dir, sim.truth(), sim.clock.now)
        yield {"data_dir": data_dir, "sim": sim, "instance": dg.DagsterInstance.ephemeral()}


def _account_with_late_leads_yesterday(now: int):
    """The account of the first seed from 29 that has yesterday's leads to judge, generated at `now`.

    The run extracts at the wall clock and the SLA check judges the account-local day before it, so the
    account is generated at the wall clock too; but its leads are drawn anew for every `now`, and at some
    times yesterday held no lead whose SLA had elapsed (0 of 0) or no late one, and the SLA tests had
    nothing to check. The seed is chosen from the simulator's truth instead, so any time of day works;
    the expected figures still come from the truth at the real extraction time, the warning from the run.
    """
    from pipelines.simulator import SimulatedAccount

    for seed in range(29, 59):
        account = SimulatedAccount.generate(seed=seed, leads=240, now=now, history_days=30,
                                            scenarios={"first_response"})  # managers answer at paces of their own
        reference = KpiReference(account.truth(now), extracted_at=now, spend=[], targets=[])
        # a run crossing local midnight judges today instead: then today needs late leads as well
        days = {reference.local_date(at) - dt.timedelta(days=1) for at in (now, now + 3600)}
        if all(0 < on_time < elapsed and elapsed >= 4 for on_time, elapsed in
               (_sla_counts(reference, day) for day in days)):
            return account
    raise AssertionError(f"no seed from 29 to 58 gives late leads on the day before {now}: widen the search")


def _sla_counts(reference, day):
    """(answered within the SLA, SLA elapsed) of the account's leads created on `day`."""
    rows = reference.response()
    rows = rows[(rows.period_grain == "day") & (rows.period_start == day)]
    return int(rows.responded_within_sla.sum()), int(rows.leads_sla_elapsed.sum())


@pytest.fixture(scope="module")
def defs():
    from pipelines.defs.kpi_checks import KPI_CHECKS
    from pipelines.definitions import defs

    warnings_only = dg.define_asset_job("kpi_warnings", selection=dg.AssetSelection.checks(*KPI_CHECKS))
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[warnings_only]))


@pytest.fixture(scope="module")
def daily_run(defs, env):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    try:
        result = defs.resolve_job_def("amocrm_daily").execute_in_process(instance=env["instance"],
                                                                         raise_on_error=False)
    finally:
        logging.getLogger().removeHandler(handler)
    result.python_logs = [r.getMessage() for r in records]
    return result


@pytest.fixture(scope="module")
def reference(env, daily_run):
    assert daily_run.success
    with duckdb.connect(str(env["data_dir"] / "warehouse.duckdb"), read_only=True) as con:
        extracted_at = con.execute("select max(inserted_at) from raw_amocrm._dlt_loads where status = 0").fetchone()[0]
    return KpiReference(env["sim"].truth(), extracted_at=extracted_at.timestamp(), spend=[], targets=[])


def _expected_sla(reference):
    """Yesterday's (account timezone) leads whose SLA elapsed, and those answered within it, by manager."""
    yesterday = reference.local_date(reference.extracted_at) - dt.timedelta(days=1)
    rows = reference.response()
    rows = rows[(rows.period_grain == "day") & (rows.period_start == yesterday)]
    by_manager = rows.groupby("manager_id")[["responded_within_sla", "leads_sla_elapsed"]].sum()
    return yesterday, int(rows.responded_within_sla.sum()), int(rows.leads_sla_elapsed.sum()), by_manager


def _warnings(defs, env, monkeypatch, floor, ceiling):
    monkeypatch.setenv("AMOCRM_KPI_SLA_SHARE_FLOOR", repr(floor))
    monkeypatch.setenv("AMOCRM_KPI_NO_TASK_SHARE_CEILING", repr(ceiling))
    result = defs.resolve_job_def("kpi_warnings").execute_in_process(instance=env["instance"], raise_on_error=False)
    assert result.success
    return result, {e.check_name: e for e in result.get_asset_check_evaluations()}


def _names(reference, manager_ids):
    users = reference.truth.users.set_index("id")["name"]
    return [users[int(m)] for m in manager_ids]


def test_dbt_source_tests_are_checks_on_the_dlt_assets_without_warnings(env, daily_run):
    assert daily_run.success
    logged = [entry.user_message for entry in env["instance"].all_logs(daily_run.run_id)] + daily_run.python_logs
    assert any("dbt_in_data_dir.sh build" in m for m in logged)  # dbt's own lines are in the log, so a warning would be
    assert not [m for m in logged if OBSERVATION_WARNING in m]
    source_checks = [e for e in daily_run.get_asset_check_evaluations() if e.check_name.startswith("source_is_the_")]
    on_assets = {e.asset_key.to_user_string() for e in source_checks}
    assert len(source_checks) >= 20 and all(e.passed for e in source_checks)
    assert {"dlt_amocrm_account", "dlt_amocrm_leads", "dlt_amocrm_events"} <= on_assets
    assert not any(key.startswith(("staging", "marts")) for key in on_assets)


def test_sla_share_below_the_floor_warns_and_names_the_managers(defs, env, reference, webhook, monkeypatch):
    yesterday, on_time, elapsed, by_manager = _expected_sla(reference)
    # the env's seed gives yesterday late leads and leads on time: a floor just above their share trips
    assert 0 < on_time < elapsed, "the simulated account needs late leads yesterday for this test"
    share = on_time / elapsed
    floor = round(share + 0.005, 3)
    result, checks = _warnings(defs, env, monkeypatch, floor=floor, ceiling=1.0)
    check = checks[SLA]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert (metadata["day"], metadata["leads"], metadata["answered_within_sla"]) == (str(yesterday), elapsed, on_time)
    late = by_manager[by_manager.responded_within_sla / by_manager.leads_sla_elapsed < floor].index
    assert late.size and set(metadata["managers_below_floor"]) == set(_names(reference, late))
    assert f"only {share:.0%} ({on_time} of {elapsed})" in check.description
    assert f"the floor is {floor:.0%} (AMOCRM_KPI_SLA_SHARE_FLOOR)" in check.description
    assert all(name in check.description for name in _names(reference, late))
    assert "What to do" in check.description
    assert checks[NO_TASK].passed  # a ceiling of 100% is never exceeded

    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    _check_alert(defs, env, result)
    (alert,) = [body for _, body in received]
    assert alert["severity"] == "warning"
    (failure,) = alert["failures"]
    assert failure["check"] == SLA and failure["asset"] == "marts/fct_response"
    assert f"({on_time} of {elapsed})" in failure["error"]


def test_open_deals_without_a_task_above_the_ceiling_warn(defs, env, reference, webhook, monkeypatch):
    hygiene = reference.crm_hygiene()
    without, open_deals = int(hygiene.open_without_next_task.sum()), int(hygiene.open_deals.sum())
    assert 0 < without < open_deals
    share = without / open_deals
    ceiling = round(share - 0.005, 3)
    result, checks = _warnings(defs, env, monkeypatch, floor=0.0, ceiling=ceiling)
    check = checks[NO_TASK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert checks[SLA].passed  # a floor of 0 is always met
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert (metadata["open_deals"], metadata["without_next_task"]) == (open_deals, without)
    per_manager = hygiene.groupby("manager_id")[["open_without_next_task", "open_deals"]].sum()
    above = per_manager[per_manager.open_without_next_task / per_manager.open_deals > ceiling].index
    assert set(metadata["managers_above_ceiling"]) == set(_names(reference, above))
    assert f"{share:.0%} ({without} of {open_deals}) of open deals have no next task" in check.description
    assert f"the ceiling is {ceiling:.0%} (AMOCRM_KPI_NO_TASK_SHARE_CEILING)" in check.description

    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    _check_alert(defs, env, result)
    (alert,) = [body for _, body in received]
    assert [f["check"] for f in alert["failures"]] == [NO_TASK]


def test_shares_exactly_at_the_thresholds_pass_and_send_nothing(defs, env, reference, webhook, monkeypatch):
    _, on_time, elapsed, _ = _expected_sla(reference)
    hygiene = reference.crm_hygiene()
    result, checks = _warnings(defs, env, monkeypatch, floor=on_time / elapsed,
                               ceiling=int(hygiene.open_without_next_task.sum()) / int(hygiene.open_deals.sum()))
    assert checks[SLA].passed and checks[NO_TASK].passed
    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    _check_alert(defs, env, result)
    assert received == []


@pytest.mark.parametrize("value", ["80", "-0.1", "eighty", "nan"])
def test_a_threshold_that_is_not_a_share_fails_fast(monkeypatch, value):
    from pipelines.defs.kpi_checks import SLA_SHARE_FLOOR, ThresholdError, share_setting

    monkeypatch.setenv("AMOCRM_KPI_SLA_SHARE_FLOOR", value)
    with pytest.raises(ThresholdError, match=rf"AMOCRM_KPI_SLA_SHARE_FLOOR must be a share between 0 and 1 .*"
                                             rf"got '{value}'"):
        share_setting(SLA_SHARE_FLOOR)
    monkeypatch.setenv("AMOCRM_KPI_SLA_SHARE_FLOOR", "0,75")
    assert share_setting(SLA_SHARE_FLOOR) == 0.75


def test_a_raw_row_of_another_account_fails_its_source_check(defs, env, daily_run, webhook, monkeypatch):
    """Last in the module: it leaves a foreign row in raw_amocrm.leads."""
    assert daily_run.success
    with duckdb.connect(str(env["data_dir"] / "warehouse.duckdb")) as con:
        con.execute("update raw_amocrm.leads set account_id = 1 where id = (select min(id) from raw_amocrm.leads)")
    result = defs.resolve_job_def("amocrm_daily").execute_in_process(instance=env["instance"], raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    (check,) = [e for e in failed if e.check_name.startswith("source_is_the_")]
    assert check.check_name == "source_is_the_account_id_raw_amocrm_leads_account_id"
    assert check.asset_key == dg.AssetKey("dlt_amocrm_leads") and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.description.startswith("raw_amocrm.leads holds rows of no loaded amoCRM account (1 with account_id 1; "
                                        "the accounts loaded: "), check.description
    assert "serving_copy" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}

    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    alert_on_failed_run(defs, env["instance"], result)
    (alert,) = [body for _, body in received]
    assert any(f.get("check") == check.check_name and f.get("asset") == "dlt_amocrm_leads" for f in alert["failures"])


def _check_alert(defs, env, result):
    """Evaluate `alert_on_failed_checks` on the successful run `result`, as the daemon would."""
    success = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_failed_checks", dagster_instance=env["instance"],
        dagster_run=env["instance"].get_run_by_id(result.run_id), dagster_event=success)
    defs.resolve_sensor_def("alert_on_failed_checks")(context)
