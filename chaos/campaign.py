"""The campaign: consecutive daily runs under seeded faults and kills, one clean run, then the verdict.

Each run moves the simulator's clock one day forward (new leads, edits,
deletions), arms that run's faults and maybe a SIGKILL, and starts the job as
a subprocess. The last run is clean. Everything random comes from one seed,
so a failing campaign can be replayed (`CHAOS_SEED`).
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from chaos import faults as fault_table
from chaos.alerts import AlertInbox
from chaos.ground_truth import PROJECT_ROOT, Verdict, suite_conftest, verify
from chaos.runs import KILL_WINDOW, PHASES, DailyRun, KillPlan, RunOutcome

DAY = 86_400


@dataclass
class Settings:
    runs: int = 12  # including the final clean run
    seed: int = 1
    leads: int = 200
    work_dir: Path = Path("/tmp/amocrm-kpi-chaos")
    kinds: tuple[str, ...] = tuple(k.name for k in fault_table.KINDS)  # the fault kinds to inject
    kill_every: int = 2  # every n-th faulted run is also SIGKILLed (1 = every faulted run)
    run_timeout: float = 900.0
    blocked_grace: float = 20.0  # how long a run may wait on a pool slot before it counts as stuck
    alert_wait: float = 5.0  # after the last run, for alerts still on their way
    log: Callable[[str], None] = print


@dataclass
class RunRecord:
    index: int
    kinds: list[str]
    armed: list[str]
    kill: KillPlan | None
    outcome: RunOutcome
    status: str = "?"  # Dagster's final status of the run


@dataclass
class Result:
    settings: Settings
    records: list[RunRecord]
    injected: Counter = field(default_factory=Counter)
    skipped: dict[str, str] = field(default_factory=dict)  # kind -> why
    served: Counter = field(default_factory=Counter)  # fault statuses the simulator answered (0 = reset)
    left_unfinished: list[str] = field(default_factory=list)  # run ids still STARTED/STARTING/QUEUED
    alerts: Counter = field(default_factory=Counter)  # run id -> error alerts
    verdict: Verdict | None = None
    seconds: float = 0.0


def plan(settings: Settings, rng: random.Random) -> list[tuple[list[str], KillPlan | None]]:
    """Fault kinds and kill of each faulted run: every kind at least once, kill phases in turn."""
    faulted = max(settings.runs - 1, 0)
    unknown = set(settings.kinds) - set(fault_table.BY_NAME)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(fault_table.BY_NAME)}")
    kinds = list(settings.kinds)
    rng.shuffle(kinds)
    per_run: list[list[str]] = [[] for _ in range(faulted)]
    for i, name in enumerate(kinds if faulted else []):
        per_run[i % faulted].append(name)
    for run in per_run:
        spare = [k for k in kinds if k not in run]
        if len(run) < 2 and spare:
            run += rng.sample(spare, min(2 - len(run), len(spare)))
    phases = list(PHASES)
    rng.shuffle(phases)
    plans = []
    for i, run in enumerate(per_run):
        kill = None
        if settings.kill_every and i % settings.kill_every == 0:
            phase = phases[(i // settings.kill_every) % len(phases)]
            kill = KillPlan(phase, round(rng.uniform(0, KILL_WINDOW[phase]), 2))
        plans.append((sorted(run), kill))
    return plans


def run_campaign(settings: Settings) -> Result:
    from pipelines.simulator import SimulatedAccount

    started = time.monotonic()
    rng = random.Random(settings.seed)
    work = _fresh_work_dir(settings.work_dir)
    home, data = work / "dagster_home", work / "data"
    home.mkdir()
    data.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    # The account's clock starts `runs` days ago, so the last run's simulated day is about today
    # (the marts measure ages against the real time of the load).
    now = int(time.time()) - settings.runs * DAY
    account = SimulatedAccount.generate(seed=settings.seed, leads=settings.leads, now=now,
                                        horizon_days=settings.runs + 2)
    result = Result(settings, [])
    inbox = AlertInbox()
    try:
        _campaign(settings, rng, account, home, data, inbox, result)
    finally:
        inbox.close()
    result.seconds = time.monotonic() - started
    return result


def _campaign(settings, rng, account, home: Path, data: Path, inbox: AlertInbox, result: Result) -> None:
    from pipelines.simulator import Simulator

    conftest = suite_conftest()
    work = settings.work_dir
    with Simulator(account, rate_limit=None) as sim:
        spend, targets = conftest.example_inputs(sim.truth(), sim.clock.now + settings.runs * DAY)
        conftest.write_inputs(data, spend, targets)
        env = _run_env(home, data, sim, inbox)
        baseline = fault_table.switches(sim.faults)
        plans = plan(settings, rng) + [([], None)]
        for index, (kinds, kill) in enumerate(plans, start=1):
            sim.clock.advance(days=1)
            if index == len(plans):
                sim.faults.reset()  # the faults stop: one clean run
            armed = _arm(sim.faults, kinds, rng, result)
            what = ", ".join(armed) or "no faults"
            settings.log(f"run {index}/{len(plans)}: {what}" + (f"; SIGKILL in {kill.phase} +{kill.delay}s" if kill else ""))
            outcome = DailyRun(env, data, work / f"run_{index:02d}.log", kill=kill, timeout=settings.run_timeout,
                               blocked_grace=settings.blocked_grace).run()
            for name, value in baseline.items():
                setattr(sim.faults, name, value)
            result.records.append(RunRecord(index, kinds, armed, kill, outcome))
            settings.log(f"  -> {_describe(outcome)}")
        result.served = Counter({s: n for s, n in sim.stats.by_status.items() if s == 0 or s >= 429})
        truth = sim.truth()
        time.sleep(settings.alert_wait)
        _read_instance(home, result)
        result.alerts = inbox.errors_by_run()
        result.verdict = verify(data, truth, spend, targets)


MARKER = ".chaos-campaign"


def _fresh_work_dir(work: Path) -> Path:
    """Empty the campaign folder of a previous campaign; never a folder the campaign did not make."""
    if work.exists() and any(work.iterdir()):
        if not (work / MARKER).exists():
            raise SystemExit(f"{work} is not empty and was not made by a chaos campaign: choose another CHAOS_DIR")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).touch()
    return work


def _run_env(home: Path, data: Path, sim, inbox: AlertInbox) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(home), "AMOCRM_KPI_DATA_DIR": str(data),
            "SOURCES__AMOCRM__BASE_URL": sim.base_url, "SOURCES__AMOCRM__ACCESS_TOKEN": sim.long_lived_token,
            "SOURCES__AMOCRM__REQUESTS_PER_SECOND": "1000", "AMOCRM_KPI_ALERT_WEBHOOK_URL": inbox.url,
            "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}


def _arm(faults, kinds: list[str], rng: random.Random, result: Result) -> list[str]:
    armed = []
    for name in kinds:
        kind = fault_table.BY_NAME[name]
        if not kind.available(faults):
            result.skipped[name] = f"the simulator has no faults.{kind.requires}"
            armed.append(f"{name} SKIPPED")
            continue
        armed.append(f"{name}: {kind.arm(faults, rng)}")
        result.injected[name] += 1
    return armed


def _describe(outcome: RunOutcome) -> str:
    if outcome.killed_in:
        how = f"SIGKILLed in {outcome.killed_in}"
    elif outcome.blocked:
        how = "STUCK waiting for a pool slot a dead run holds (killed by the harness)"
    elif outcome.timed_out:
        how = "TIMED OUT (killed by the harness)"
    else:
        how = "succeeded" if outcome.returncode == 0 else f"failed (steps: {', '.join(outcome.failed_steps) or '?'})"
    missed = "; planned kill missed (the run ended first)" if outcome.kill_missed else ""
    return f"{how}{missed}; run {outcome.run_id or '-'} in {outcome.seconds:.0f}s"


def _read_instance(home: Path, result: Result) -> None:
    """Final Dagster status of every run, and the runs nobody finished."""
    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)  # dagster.yaml reads it
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            statuses = {run.run_id: run.status for run in instance.get_runs()}
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    unfinished = {dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.QUEUED,
                  dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.CANCELING}
    result.left_unfinished = sorted(run_id for run_id, status in statuses.items() if status in unfinished)
    for record in result.records:
        status = statuses.get(record.outcome.run_id or "")
        record.status = status.value if status else "no run"
        if record.status == "SUCCESS" and record.outcome.killed_in:
            # SIGKILL landed after Dagster had recorded the run's success (the process was exiting):
            # every step finished, so nothing is lost and nobody is to be alerted; the kill missed.
            record.outcome.killed_in, record.outcome.kill_missed = None, True


def failed_runs(result: Result) -> list[str]:
    """Runs on-call must hear about: failed, killed or stuck (whatever Dagster says of them now)."""
    return [r.outcome.run_id for r in result.records
            if r.outcome.run_id and r.status != "SUCCESS" and (r.outcome.returncode != 0 or r.status == "FAILURE")]
