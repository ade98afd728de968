"""Issue 14, Dagster: extraction runs of different accounts read amoCRM at the same time; their loads wait
for the warehouse lock instead of failing.

Real: two hub accounts served over HTTP by this process, two `amocrm_extract_account` runs of the real
CLI (`dagster job execute`, one process per partition, as the run launcher starts them) on one
instance and one data folder. Each account's first request waits until the other account's first
request has come too (a rendezvous): only runs that extract at the same time get past it at once.
At that moment this test takes the warehouse lock, as a transform run holds it for the whole run:
both runs must go on reading amoCRM under it, then wait for it to load, and load once it is free.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.simulator.hub import Simulators
from pipelines.simulator.profiles import derived_specs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash")]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
NOW = 1_767_000_000
RENDEZVOUS_SECONDS = 120  # both runs' processes start (import Dagster, dbt's manifest) within this
RUN_TIMEOUT = 400
TRANSFORM = "a transform run (held by the test)"


class Rendezvous:
    """Every request waits until every account has sent one (at most RENDEZVOUS_SECONDS); then the
    warehouse is taken (as by a transform run) before any is answered. Logs each request's time."""

    def __init__(self, hub: Simulators, stack: ExitStack):
        self.hub, self.stack = hub, stack
        self.arrived: set[str] = set()
        self.all_here = threading.Event()
        self.met = False
        self.deadline: float | None = None  # set by the first request of any account
        self.held_since = 0.0
        self.requests: list[tuple[float, str]] = []  # (time, account key), in the order answered
        self.guard = threading.Lock()
        for key in hub:
            sim = hub[key]
            sim.handle = self._wrap(key, sim.handle)

    def _wrap(self, key: str, handle):
        def wrapped(method, target, headers, body):
            with self.guard:
                if self.deadline is None:
                    self.deadline = time.monotonic() + RENDEZVOUS_SECONDS
                self.arrived.add(key)
                if (len(self.arrived) == len(self.hub) and not self.all_here.is_set()
                        and time.monotonic() < self.deadline):
                    self._take_warehouse()
                    self.met = True
                    self.all_here.set()
            # past the deadline the runs were not parallel (met stays False): answered at once from then on
            self.all_here.wait(max(0.0, self.deadline - time.monotonic()))
            response = handle(method, target, headers, body)
            with self.guard:
                self.requests.append((time.time(), key))
            return response

        return wrapped

    def _take_warehouse(self) -> None:
        from pipelines.runguard import warehouse_lock

        self.stack.enter_context(warehouse_lock({"command": TRANSFORM}, timeout=5))
        self.held_since = time.time()


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    """An instance (the project's dagster.yaml) and a data folder shared by two accounts' runs."""
    for name in list(os.environ):  # only the hub's accounts: no `default` from the environment
        if "AMO" in name.upper():
            monkeypatch.delenv(name)
    home, data_dir = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    data_dir.mkdir()
    (home / "dagster.yaml").write_bytes((PROJECT_ROOT / "dagster.yaml").read_bytes())
    monkeypatch.chdir(tmp_path)  # no .dlt/ settings of the project
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    specs = derived_specs(2, seed=11, leads=60)
    with Simulators.generate(specs, now=NOW, horizon_days=30, rate_limit=None, latency_ms=40) as hub:
        env = {**os.environ, **hub.env(), "SOURCES__AMOCRM__REQUESTS_PER_SECOND": "1000",
               "PYTHONPATH": str(PROJECT_ROOT), "PATH": f"{DAGSTER.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        yield hub, env, tmp_path


def _launch(key: str, env: dict, log: Path) -> subprocess.Popen:
    command = [str(DAGSTER), "job", "execute", "-m", "pipelines.definitions", "-j", "amocrm_extract_account",
               "--tags", json.dumps({"dagster/partition": key, "amocrm_kpi/account": key})]
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(condition, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s:\n" + "\n".join(p.read_text()[-3000:] for p in logs))
        time.sleep(0.3)


def test_two_accounts_extract_at_once_and_their_loads_wait_for_the_warehouse(deployment):
    from pipelines import paths
    from pipelines.definitions import defs  # noqa: F401 - dbt's manifest is made here once, not by both runs

    hub, env, tmp = deployment
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("amocrm_account", list(hub))
    logs = {key: tmp / f"run_{key}.log" for key in hub}
    with ExitStack() as stack:
        meeting = Rendezvous(hub, stack)
        runs = {key: _launch(key, env, logs[key]) for key in hub}
        try:
            _wait_for(lambda: meeting.met or (meeting.deadline or float("inf")) < time.monotonic(),
                      RENDEZVOUS_SECONDS + 60, "both runs' first requests", list(logs.values()))
            assert meeting.met, "the runs did not read amoCRM at the same time: " + str(meeting.arrived)
            waiting = f"Waiting for the warehouse: {TRANSFORM}"
            _wait_for(lambda: all(waiting in log.read_text() for log in logs.values()), RUN_TIMEOUT,
                      "both runs waiting for the warehouse to load", list(logs.values()))
            time.sleep(1)
            assert all(run.poll() is None for run in runs.values()), "a run ended instead of waiting for the lock"
            released = time.time()
            stack.close()  # the "transform" ends: the loads go on
            for key, run in runs.items():
                assert run.wait(timeout=RUN_TIMEOUT) == 0, logs[key].read_text()[-6000:]
        finally:
            for run in runs.values():
                if run.poll() is None:
                    os.killpg(run.pid, 9)

    # both accounts were read while the other was read, and while the warehouse was held by another run
    during_hold = {key for at, key in meeting.requests if meeting.held_since <= at < released}
    assert during_hold == set(hub), during_hold
    spans = {key: (min(t for t, k in meeting.requests if k == key), max(t for t, k in meeting.requests
                                                                       if k == key and t < released))
             for key in hub}
    assert spans["acc1"][0] < spans["acc2"][1] and spans["acc2"][0] < spans["acc1"][1], spans  # they overlap

    # each loaded its own account, whole, after the lock was let go
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        for key in hub:
            truth = hub[key].truth()
            account_id = truth.account["id"]
            leads = {row[0] for row in con.execute("select id from raw_amocrm.leads where account_id = ?",
                                                    [account_id]).fetchall()}
            assert leads == set(truth.leads["id"]), key
        loaded_at = [row[0] for row in con.execute("select epoch(inserted_at) from raw_amocrm._dlt_loads").fetchall()]
    assert loaded_at and min(loaded_at) >= released, (loaded_at, released)

    with dg.DagsterInstance.get() as instance:
        done = instance.get_runs()
        assert sorted(run.tags["dagster/partition"] for run in done) == ["acc1", "acc2"]
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in done), [run.status for run in done]


def test_an_extraction_run_killed_while_reading_amocrm_is_failed_alerted_and_leaves_no_lock(deployment):
    """Killed in the middle of reading amoCRM (no warehouse lock held then, its account's lock held):
    the reaper fails it once with the step named, alerts naming the account, and every lock is free."""
    from pipelines import paths
    from pipelines.defs.recovery import reap_dead_runs
    from pipelines.amocrm import account_lock
    from pipelines.runguard import warehouse_lock

    hub, env, tmp = deployment
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("amocrm_account", ["acc1"])
    reading, never = threading.Event(), threading.Event()
    handle = hub["acc1"].handle

    def held(method, target, headers, body):
        reading.set()
        never.wait(RUN_TIMEOUT)  # answered only after the run is gone
        return handle(method, target, headers, body)

    hub["acc1"].handle = held
    log = tmp / "run_acc1.log"
    run = _launch("acc1", env, log)
    try:
        _wait_for(reading.is_set, RENDEZVOUS_SECONDS + 60, "the run's first request", [log])
        os.kill(run.pid, 9)  # only the run's own process, as the OOM killer does
        run.wait(timeout=30)
    finally:
        never.set()
        if run.poll() is None:
            os.killpg(run.pid, 9)

    with dg.DagsterInstance.get() as instance:
        said: list[str] = []
        reaped = reap_dead_runs(instance, "the test", said.append)
        assert len(reaped) == 1 and f"pid {run.pid}" in said[0], said
        assert reap_dead_runs(instance, "the test", said.append) == []  # once
        dead = instance.get_run_by_id(reaped[0])
        assert dead.status == dg.DagsterRunStatus.FAILURE
        failure = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1].message
        assert "during step amocrm_extract" in failure, failure
    alerts = [json.loads(p.read_text()) for p in sorted(paths.alerts_dir().glob("*_error_*.json"))]
    assert len(alerts) == 1 and "account acc1" in alerts[0]["title"], alerts
    with warehouse_lock({"command": "the next run"}, timeout=0), \
            account_lock.holding("acc1", {"command": "the next run"}):
        pass  # neither is left taken: the kernel let go of both with the process


def test_the_run_queue_starts_other_accounts_but_never_one_account_twice(tmp_path, monkeypatch):
    """The project's dagster.yaml, through the counter the daemon's run queue uses to pick queued runs."""
    from dagster._utils.tags import TagConcurrencyLimitsCounter

    from pipelines.definitions import defs

    (tmp_path / "dagster.yaml").write_bytes((PROJECT_ROOT / "dagster.yaml").read_bytes())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config

    def run(job: str, partition: str | None = None) -> dg.DagsterRun:
        tags = {**defs.resolve_job_def(job).tags, **({"dagster/partition": partition} if partition else {})}
        return dg.DagsterRun(job_name=job, tags=tags)

    started = [run("amocrm_extract_account", "acc1"), run("amocrm_transform")]
    counter = TagConcurrencyLimitsCounter(queue.tag_concurrency_limits, started)
    assert not counter.is_blocked(run("amocrm_extract_account", "acc2"))  # another account: at once
    assert counter.is_blocked(run("amocrm_extract_account", "acc1"))  # the same account: after the first
    assert counter.is_blocked(run("amocrm_transform"))  # one transform at a time
    assert not counter.is_blocked(run("amocrm_daily"))
    for key in ("acc2", "acc3", "acc4"):
        counter.update_counters_with_launched_item(run("amocrm_extract_account", key))
    assert counter.is_blocked(run("amocrm_extract_account", "acc5"))  # at most 4 extractions at once
    assert queue.max_concurrent_runs >= len(started) + 3
