"""A run killed with SIGKILL mid-dbt (OOM kill, reboot, eviction) must not block the next one.

Both runs go through the real CLI (`dagster job execute`) with their own DAGSTER_HOME and data folder on
a small simulated account; no daemon runs, so the next run itself must find the dead one, mark it
failed, alert once, free its pool slot and wait for any writer it left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash")]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
SECOND_RUN_TIMEOUT = 300


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_for_dbt(process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the first run ended before dbt started:\n{log.read_text()[-4000:]}")
        if any("dbt" in _cmdline(p) and " build" in _cmdline(p) for p in _descendants(process.pid)):
            return
        time.sleep(0.2)
    raise AssertionError(f"dbt did not start within {timeout} s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def cli_env(tmp_path, webhook, write_example_inputs):
    """Environment of a deployment: its own Dagster instance, data folder, amoCRM (simulated) and webhook."""
    from pipelines.simulator import SimulatedAccount, Simulator

    home, data_dir = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    data_dir.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    url, received = webhook
    account = SimulatedAccount.generate(seed=31, leads=120, now=int(time.time()))
    with Simulator(account, rate_limit=None) as sim:
        write_example_inputs(data_dir, sim.truth(), sim.clock.now)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "AMOCRM_KPI_DATA_DIR": str(data_dir),
            "SOURCES__AMOCRM__BASE_URL": sim.base_url,
            "SOURCES__AMOCRM__ACCESS_TOKEN": sim.long_lived_token,
            "SOURCES__AMOCRM__REQUESTS_PER_SECOND": "1000",
            "AMOCRM_KPI_ALERT_WEBHOOK_URL": f"{url}/alert",
            "PYTHONPATH": str(PROJECT_ROOT),
            "PATH": f"{DAGSTER.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        yield {"env": env, "home": home, "data_dir": data_dir, "sim": sim, "received": received, "tmp": tmp_path}


def _job_command() -> list[str]:
    return [str(DAGSTER), "job", "execute", "-m", "pipelines.definitions", "-j", "amocrm_daily"]


def test_a_run_killed_mid_dbt_does_not_block_the_next(cli_env, monkeypatch):
    env, tmp = cli_env["env"], cli_env["tmp"]
    first_log = tmp / "first_run.log"
    with first_log.open("w") as out:
        first = subprocess.Popen(_job_command(), cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        _wait_for_dbt(first, first_log)
        os.kill(first.pid, signal.SIGKILL)  # only the run's own process, as the OOM killer does
        first.wait(timeout=30)

        started = time.monotonic()
        second = subprocess.run(_job_command(), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                                timeout=SECOND_RUN_TIMEOUT)
        output = second.stdout + second.stderr
        (tmp / "second_run.log").write_text(output)
        assert second.returncode == 0, output[-6000:]
        assert f"had died (pid {first.pid} on host" in output  # said in the new run's log, before it waits
        assert time.monotonic() - started < SECOND_RUN_TIMEOUT
    finally:
        try:  # whatever the killed run left running (its dbt), by the process group it was started in
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    monkeypatch.setenv("DAGSTER_HOME", str(cli_env["home"]))
    instance = dg.DagsterInstance.get()
    try:
        runs = sorted(instance.get_runs(), key=lambda run: instance.get_run_record_by_id(run.run_id).create_timestamp)
        assert [run.status for run in runs] == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]
        dead, good = runs
        failure = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert failure and "process" in failure[-1].message and str(first.pid) in failure[-1].message
        assert instance.event_log_storage.get_concurrency_run_ids() == set()  # no slot left claimed
    finally:
        instance.dispose()

    alerts = [body for path, body in cli_env["received"] if path == "/alert"]
    assert [(a["run_id"], a["severity"]) for a in alerts] == [(dead.run_id, "error")]  # exactly one, for the dead run
    assert "amocrm_dbt_models" in str(alerts[0]["failures"])  # where it died
    assert cli_env["sim"].long_lived_token not in str(alerts[0])

    serving = cli_env["data_dir"] / "serving" / "amocrm_kpi.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        served_leads = con.execute("select count(*) from marts.fct_leads").fetchone()[0]
    assert served_leads == len(cli_env["sim"].truth().leads)
    assert not [p.name for p in serving.parent.iterdir() if p.name.endswith((".tmp", ".wal"))]
