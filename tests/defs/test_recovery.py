"""Dead runs are told apart from live ones, failed once, and stop holding anything; the warehouse lock
dies with its holder and names it to whoever waits.

Fast: real processes killed with SIGKILL, a real SQLite Dagster instance, no pipeline run
(`test_crash_recovery.py` does the whole job through the CLI).
"""

from __future__ import annotations

import json

import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from pipelines.runguard import ProcessIdentity, WarehouseBusy, warehouse_lock

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _dead_process() -> ProcessIdentity:
    """The identity a process had, taken while it ran; then it is killed like an OOM kill does."""
    process = subprocess.Popen(["sleep", "60"])
    identity = ProcessIdentity.of_pid(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return identity


def _holder(script: str, data_dir: Path) -> subprocess.Popen:
    """A Python process that runs `script` in `data_dir`, prints `ready` and then waits to be killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", f"{script}\nprint('ready', flush=True)\nimport time; time.sleep(120)"],
        env={"AMOCRM_KPI_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def test_process_identity_survives_pid_reuse():
    me = ProcessIdentity.current()
    assert me.is_alive() is True
    assert _dead_process().is_alive() is False
    reused = ProcessIdentity(me.host, me.pid, me.started + "0", me.started_at)  # same pid, another process
    assert reused.is_alive() is False
    elsewhere = ProcessIdentity("another-host", me.pid, me.started, me.started_at)
    assert elsewhere.is_alive() is None  # cannot be decided here: left alone
    assert ProcessIdentity.from_json(me.to_json()) == me


@pytest.fixture
def instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path / "data"))
    with dg.DagsterInstance.get() as instance:
        yield instance


def _started_run(instance: dg.DagsterInstance, process: ProcessIdentity, step: str,
                 run_id: str | None = None) -> dg.DagsterRun:
    from pipelines.defs.recovery import PROCESS_TAG

    run = instance.add_run(dg.DagsterRun(job_name="amocrm_daily", run_id=run_id or str(uuid.uuid4()),
                                         status=dg.DagsterRunStatus.STARTED, tags={PROCESS_TAG: process.to_json()}))
    instance.event_log_storage.claim_concurrency_slot("duckdb", run.run_id, step)
    return run


def test_reaper_sensor_fails_a_dead_run_once_frees_its_slot_and_alerts_once(instance, webhook, monkeypatch):
    from pipelines.definitions import defs

    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    instance.event_log_storage.set_concurrency_slots("duckdb", 1)
    dead = _started_run(instance, _dead_process(), "amocrm_dbt_models")
    alive = _started_run(instance, ProcessIdentity.current(), "serving_copy")  # this process: alive, left alone
    sensor = defs.resolve_sensor_def("reap_dead_runs")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING  # runs whenever the daemon runs
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds > 0  # dagster.yaml

    for _ in range(2):  # the second tick finds nothing more to do
        sensor(dg.build_sensor_context(instance=instance))

    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    assert instance.event_log_storage.get_concurrency_run_ids() == {alive.run_id}  # the dead run's slot is free
    failure = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
    assert "process" in failure.message and "gone" in failure.message

    # The daemon's failure sensor sees the failure too, but the reaper has told on-call already.
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=instance,
        dagster_run=instance.get_run_by_id(dead.run_id), dagster_event=failure.dagster_event,
    ).for_run_failure()
    defs.resolve_sensor_def("alert_on_run_failure")(context)
    assert [(body["run_id"], body["severity"]) for _, body in received] == [(dead.run_id, "error")]


def test_a_run_of_an_evicted_container_is_found_dead_by_its_marker(instance, tmp_path, webhook, monkeypatch):
    """Another container has another host name and its own pids; the marker in the shared data folder tells."""
    from pipelines.definitions import defs

    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    run_id = str(uuid.uuid4())
    container = _holder(f"from pipelines.runguard import run_marker\nmarker = run_marker({run_id!r})\nmarker.__enter__()",
                        tmp_path / "data")
    run = _started_run(instance, ProcessIdentity("old-container", 7, "", 0.0), "amocrm_extract", run_id=run_id)
    sensor = defs.resolve_sensor_def("reap_dead_runs")
    try:
        sensor(dg.build_sensor_context(instance=instance))
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # alive elsewhere
        assert (tmp_path / "data" / ".runs" / f"{run_id}.lock").exists()
        container.send_signal(signal.SIGKILL)
        container.wait()
        sensor(dg.build_sensor_context(instance=instance))
    finally:
        container.kill()
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_run_ids() == set()
    assert [body["run_id"] for _, body in received] == [run.run_id]
    assert not list((tmp_path / "data" / ".runs").iterdir())  # its marker is gone too


def test_markers_left_by_runs_that_ended_otherwise_are_removed(instance, tmp_path):
    from pipelines.definitions import defs
    from pipelines.runguard import run_marker

    here = run_marker("alive-here")  # held in this process
    here.__enter__()
    elsewhere = _holder("from pipelines.runguard import run_marker\nmarker = run_marker('alive-elsewhere')\n"
                        "marker.__enter__()", tmp_path / "data")
    try:
        (tmp_path / "data" / ".runs" / "failed-by-run-monitoring.lock").touch()  # held by nobody
        defs.resolve_sensor_def("reap_dead_runs")(dg.build_sensor_context(instance=instance))
        assert sorted(p.stem for p in (tmp_path / "data" / ".runs").iterdir()) == ["alive-elsewhere", "alive-here"]
    finally:
        elsewhere.kill()
        here.__exit__(None, None, None)


def _lock_waits_then_gives_up_then_gets_it_once_holder_dies(holder: subprocess.Popen, gave_up: str, waiting: str):
    """The lock is busy while `holder` lives: one `waiting` line, then `gave_up`; free once it is SIGKILLed."""
    try:
        said: list[str] = []
        with pytest.raises(WarehouseBusy, match=gave_up):
            with warehouse_lock({"run_id": "run-B"}, say=said.append, timeout=1.5):
                pass
        assert len(said) == 1 and waiting in said[0]  # one clear line, not one per poll
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with warehouse_lock({"run_id": "run-B"}, say=said.append, timeout=5) as lock_path:
            assert json.loads(lock_path.read_text())["run_id"] == "run-B"
    finally:
        holder.kill()


def test_a_second_run_waits_for_the_lock_names_the_holder_and_gets_it_when_the_holder_dies(tmp_path, monkeypatch):
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    holder = _holder("from pipelines.runguard import ProcessIdentity, warehouse_lock\n"
                     "from dataclasses import asdict\n"
                     "lock = warehouse_lock({'run_id': 'run-A', 'process': asdict(ProcessIdentity.current())})\n"
                     "lock.__enter__()", tmp_path)
    _lock_waits_then_gives_up_then_gets_it_once_holder_dies(
        holder, rf"Gave up after 1.5 s .*run run-A \(pid {holder.pid} on host", "Waiting for the warehouse: run run-A")


def test_the_lock_also_waits_for_a_process_that_still_has_the_warehouse_open(tmp_path, monkeypatch):
    """A dbt left running by a killed run keeps writing: the next run must not start writing beside it."""
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    writer = _holder(f"import duckdb\ncon = duckdb.connect({str(tmp_path / 'warehouse.duckdb')!r})\n"
                     "con.execute('create table t as select 1 as x')", tmp_path)
    _lock_waits_then_gives_up_then_gets_it_once_holder_dies(
        writer, rf"process {writer.pid} \(.*python.*\) still has the warehouse", f"Waiting for process {writer.pid}")


@pytest.mark.parametrize("job", ["amocrm_daily", "serving_copy from the asset graph"])
def test_a_run_that_gives_up_on_the_lock_fails_and_tells_on_call_who_holds_it(job, instance, tmp_path, webhook,
                                                                             monkeypatch):
    from pipelines.definitions import defs

    url, received = webhook
    monkeypatch.setenv("AMOCRM_KPI_ALERT_WEBHOOK_URL", f"{url}/alert")
    monkeypatch.setenv("AMOCRM_KPI_LOCK_TIMEOUT_SECONDS", "1")
    data_dir = tmp_path / "data"
    holder = _holder("from pipelines.runguard import warehouse_lock\n"
                     "lock = warehouse_lock({'run_id': 'run-A'})\nlock.__enter__()", data_dir)
    try:
        if job == "amocrm_daily":
            result = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False)
        else:  # what "Materialize" on one asset in the UI runs: Dagster's implicit job, not amocrm_daily
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey("serving_copy")])
    finally:
        holder.kill()
    assert not result.success
    assert result.get_step_success_events() == []  # nothing ran beside the holder
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id), dagster_event=failure,
    ).for_run_failure()
    defs.resolve_sensor_def("alert_on_run_failure")(context)
    [(_, alert)] = received
    assert "Gave up after 1 s waiting for the warehouse: run run-A" in json.dumps(alert)
