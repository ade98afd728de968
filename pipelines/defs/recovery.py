"""Runs whose process died (SIGKILL, OOM kill, reboot, eviction) are found, failed, reported once and cleared.

A killed run stays STARTED in Dagster's database, keeps its `duckdb` pool slot
and (under the daemon) the run queue's only place: the next run would wait
forever and nobody would hear of it. So:

- every run holds a marker that dies with its process
  (`<data>/.runs/<run id>.lock`), records its process (`amocrm_kpi/process`
  tag: host, pid, start time) and holds the warehouse lock (`pipelines.runguard`)
  through the `run_guard` resource, which Dagster sets up once per run before
  any step asks for a pool slot (the `hold_run_guard` hook makes the whole job
  need it; the assets that write take it as a parameter too, so a
  materialization started from the asset graph, Dagster's implicit job, is
  guarded as well). An extraction run (`WarehouseGuard`) holds the lock only
  from its write phases on, so runs of different accounts read amoCRM at once;
- right there, before it waits for anything, a run reaps dead runs: each is
  marked FAILURE with a plain message, its pool slots are freed and on-call is
  alerted once (directly: the CLI and `make demo` have no daemon);
- under the daemon the `reap_dead_runs` sensor does the same every minute, which
  also frees the run queue for the next scheduled run.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass, field

import dagster as dg

from pipelines import paths
from pipelines.defs.alerts import ALERT_SENT_TAG, send_run_alert
from pipelines.runguard import (ProcessIdentity, forget_run, holds_warehouse, remove_dead_markers, run_is_alive,
                                run_marker, warehouse_lock, warehouse_writes)

PROCESS_TAG = "amocrm_kpi/process"
KIND_TAG = "amocrm_kpi/kind"  # set by the jobs (defs/schedules.py); dagster.yaml's run queue limits read it
EXTRACT_KIND = "extract"
RUN_GUARD_KEY = "run_guard"


@dataclass
class WarehouseGuard:
    """The run's hold on the warehouse, as the assets see it.

    A whole-run guard holds the lock from set-up to the run's end. An extraction run's guard (tag
    `amocrm_kpi/kind=extract`, or a run of extraction assets only) starts without it, so extraction
    runs of different accounts read amoCRM at the same time: the step takes the lock for each write
    phase (`phase`: state sync, load) and `keep`s it from its row counts to the run's end, so the raw
    checks that follow in the run read under it too; `let_go` on failure (a retry waits without it)."""

    holder: dict
    whole_run: bool
    _kept: ExitStack = field(default_factory=ExitStack)

    def phase(self, say: Callable[[str], None]) -> AbstractContextManager[None]:
        return warehouse_writes(self.holder, say=say)

    def keep(self, say: Callable[[str], None]) -> None:
        if not holds_warehouse():  # a whole-run guard, or kept already
            self._kept.enter_context(warehouse_lock(self.holder, say=say))

    def let_go(self) -> None:
        self._kept.close()


# The parameter an asset that writes the warehouse takes (`run_guard: RunGuard`), often unused in its
# body: asking for it is what makes the run hold the warehouse lock, in whatever job the asset runs.
RunGuard = dg.ResourceParam[WarehouseGuard]
_REAPABLE = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def reap_dead_runs(instance: dg.DagsterInstance, found_by: str, say: Callable[[str], None]) -> list[str]:
    """Fail every in-progress run whose recorded process is gone; return their run ids.

    Reapers (a starting run, the sensor) take turns on a lock file, so a dead
    run is failed and alerted exactly once.
    """
    with open(paths.data_dir() / ".reaper.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reaped = []
        for record in instance.get_run_records(filters=dg.RunsFilter(statuses=_REAPABLE)):
            run = record.dagster_run
            identity = ProcessIdentity.from_json(run.tags.get(PROCESS_TAG))
            alive = run_is_alive(run.run_id)
            if alive is None and identity is not None:  # no marker: it ended just now, or runs elsewhere
                alive = identity.is_alive()
            if alive is False:
                _fail_dead_run(instance, run, identity, found_by)
                say(f"Run {run.run_id} had died ({_describe(identity)}): marked failed, its pool slots freed, "
                    "on-call alerted.")
                reaped.append(run.run_id)
            elif alive is None and identity is not None:
                say(f"Run {run.run_id} runs on host {identity.host} without a marker in this data folder; its "
                    "process cannot be checked from here (run monitoring's max runtime still applies).")
            # no marker and no process tag: not started by this code; Dagster's run monitoring times it out
        remove_dead_markers()  # of runs that ended some other way (run monitoring, a manual "mark failed")
        return reaped


def _describe(identity: ProcessIdentity | None) -> str:
    return identity.describe() if identity else "process unknown"


def _fail_dead_run(instance: dg.DagsterInstance, run: dg.DagsterRun, identity: ProcessIdentity | None,
                   found_by: str) -> None:
    step = _step_in_progress(instance, run.run_id)
    where = f"during step {step}" if step else "before its steps finished"
    message = (
        f"The run's process ({_describe(identity)}) is gone: it was killed {where} (out of memory, a reboot, "
        f"a container eviction or kill -9). Found by {found_by}. The serving copy and the report are only "
        "ever replaced whole, so BI keeps the last complete ones; the next run loads and rebuilds as usual. "
        "If this repeats, look at the machine's memory (dmesg, container limits) and at the step named here."
    )
    # Tag first: the failure sensor skips runs tagged so, and this reaper alerts itself (no daemon may run).
    instance.add_run_tags(run.run_id, {ALERT_SENT_TAG: "reaper"})
    instance.report_run_failed(run, message)
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    forget_run(run.run_id)
    send_run_alert(run, "error", f"amocrm-kpi run failed: {run.job_name} (process killed)",
                   [{"step": step or "run", "error": message}])


def _step_in_progress(instance: dg.DagsterInstance, run_id: str) -> str | None:
    started, ended = [], set()
    for entry in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
                                                    dg.DagsterEventType.STEP_FAILURE}):
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started.append(entry.step_key)
        else:
            ended.add(entry.step_key)
    running = [key for key in started if key not in ended]
    return running[-1] if running else None


def extraction_only(run: dg.DagsterRun) -> bool:
    """A run that extracts and then checks the raw tables: the extraction job's, or a materialization of
    extraction assets alone from the asset graph. Every other run holds the warehouse whole, and so does
    one that re-executes only checks (no extraction step to take the lock for them)."""
    from pipelines.defs.ingest import EXTRACT_KEYS, EXTRACT_STEP  # ingest imports this module

    if run.step_keys_to_execute is not None and EXTRACT_STEP not in run.step_keys_to_execute:
        return False
    if run.tags.get(KIND_TAG) == EXTRACT_KIND:
        return True
    return bool(run.asset_selection) and run.asset_selection <= EXTRACT_KEYS


@dg.resource(description="Records the run's process, reaps dead runs, holds the warehouse lock for the run "
                         "(an extraction run: for its write phases).")
def run_guard(context: dg.InitResourceContext):
    instance, run = context.instance, context.run
    identity = ProcessIdentity.current()
    found_by = f"run {run.run_id}"
    holder = {"run_id": run.run_id, "process": asdict(identity)}
    with run_marker(run.run_id):
        instance.add_run_tags(run.run_id, {PROCESS_TAG: identity.to_json()})
        reap_dead_runs(instance, found_by, context.log.warning)
        if extraction_only(run):
            context.log.info("An extraction run: it reads amoCRM without the warehouse lock (runs of other "
                             "accounts may do the same) and takes the lock to sync its state and to load.")
            guard = WarehouseGuard(holder, whole_run=False)
            with guard._kept:  # what `keep` took is let go when the run ends
                yield guard
            return
        with warehouse_lock(holder, say=context.log.info):
            reap_dead_runs(instance, found_by, context.log.warning)  # one that died while this run waited
            yield WarehouseGuard(holder, whole_run=True)


@dg.failure_hook(required_resource_keys={RUN_GUARD_KEY})
def hold_run_guard(_context: dg.HookContext) -> None:
    """Does nothing itself: attached to the job, it makes Dagster set up `run_guard` for every run."""


@dg.sensor(
    name="reap_dead_runs",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs whose process died (and frees their pool slots and queue place); alerts on-call once.",
)
def reap_dead_runs_sensor(context: dg.SensorEvaluationContext):
    reaped = reap_dead_runs(context.instance, "the reap_dead_runs sensor", context.log.warning)
    return dg.SkipReason(f"failed {len(reaped)} dead run(s): {', '.join(reaped)}" if reaped else "no dead runs")


defs = dg.Definitions(resources={RUN_GUARD_KEY: run_guard}, sensors=[reap_dead_runs_sensor])
