"""Which extraction runs form one batch, and when a batch is ready for its one transform.

A batch is what one `amocrm_transform` builds: the runs of one daily tick (tag `amocrm_kpi/batch`, with
its size and accounts), the runs of one backfill launched in the UI (tag `dagster/backfill`: one batch,
its size the backfill's partitions), or a single run started by hand. A batch is ready once all its runs
ended (failed ones too). When fewer runs exist than the batch expects (a run request dropped, a run
deleted, a backfill canceled), the batch waits `AMOCRM_KPI_BATCH_GRACE_MINUTES` (60) after its last run
ended, then is built with the accounts present and the missing ones named: never a silent stall.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import dagster as dg
from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES

BATCH_TAG = "amocrm_kpi/batch"  # the tick whose extraction runs one transform waits for
BATCH_SIZE_TAG = "amocrm_kpi/batch_size"
BATCH_ACCOUNTS_TAG = "amocrm_kpi/batch_accounts"  # the tick's accounts, comma-separated: a missing one is named
ACCOUNT_TAG = "amocrm_kpi/account"
BACKFILL_TAG = "dagster/backfill"
PARTITION_TAG = "dagster/partition"
ASSET_JOB = "__ASSET_JOB"  # Dagster's implicit job: a partition materialized from the asset page
GRACE_ENV = "AMOCRM_KPI_BATCH_GRACE_MINUTES"
_ENDED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def grace_seconds() -> float:
    raw = os.environ.get(GRACE_ENV, "60")
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{GRACE_ENV} must be a number of minutes, not {raw!r}") from None
    return max(minutes, 0.0) * 60


def run_account_key(run: dg.DagsterRun) -> str:
    return run.tags.get(ACCOUNT_TAG) or run.tags.get(PARTITION_TAG) or "?"


@dataclass
class Batch:
    key: str
    size: int  # how many runs it expects
    expected: list[str] | None  # the accounts it expects, when known
    open: bool = False  # more runs may come (a backfill still launching)
    builds_marts: bool = False  # a backfill whose selection takes in the marts builds them itself
    runs: list[dg.DagsterRun] = field(default_factory=list)
    last_ended: float = 0.0  # epoch s

    @property
    def ended(self) -> bool:
        return all(run.status in _ENDED for run in self.runs)

    @property
    def accounts(self) -> list[str]:
        return sorted({run_account_key(run) for run in self.runs})

    @property
    def failed(self) -> list[str]:
        return sorted(run_account_key(run) for run in self.runs if run.status != dg.DagsterRunStatus.SUCCESS)

    @property
    def short(self) -> bool:
        return len(self.accounts) < self.size if self.expected is None else bool(self.missing)

    @property
    def missing(self) -> list[str]:
        """The accounts without a run (when the batch names them); else the count, as `N of M runs`."""
        if self.expected is not None:
            return sorted(set(self.expected) - set(self.accounts))
        gap = self.size - len(self.accounts)
        return [f"{gap} of {self.size} accounts (not named: a batch started by an older version)"] if gap > 0 else []

    def ready(self, now: float, grace: float) -> bool:
        if not self.runs or not self.ended or self.open or self.builds_marts:
            return False
        return not self.short or now - self.last_ended >= grace


def extraction_runs(instance: dg.DagsterInstance, extract_job: str, extract_keys: set[dg.AssetKey],
                    limit: int = 200) -> list[tuple[dg.DagsterRun, float]]:
    """Recent runs that extracted one account, with when they ended (or were last updated): runs of the
    extraction job, and partitions of the ingest assets materialized from the asset page (implicit job)."""
    found = []
    for job in (extract_job, ASSET_JOB):
        for record in instance.get_run_records(filters=dg.RunsFilter(job_name=job), limit=limit):
            run = record.dagster_run
            if job == ASSET_JOB and not (run.asset_selection and set(run.asset_selection) <= extract_keys):
                continue
            found.append((run, record.end_time or _epoch(record.update_timestamp)))
    return found


def _epoch(stamp: datetime) -> float:
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


def group_batches(instance: dg.DagsterInstance, runs: list[tuple[dg.DagsterRun, float]],
                  extract_keys: set[dg.AssetKey], asset_graph=None) -> dict[str, Batch]:
    """{batch key: Batch}: a tick's runs by their batch tag, a backfill's by its id, any other run alone."""
    members: dict[str, list[tuple[dg.DagsterRun, float]]] = defaultdict(list)
    for run, ended_at in runs:
        tagged = run.tags.get(BATCH_TAG)
        backfill = run.tags.get(BACKFILL_TAG)
        members[tagged or (f"backfill/{backfill}" if backfill else run.run_id)].append((run, ended_at))
    batches = {}
    for key, group in members.items():
        first = group[0][0]
        if first.tags.get(BATCH_TAG):
            named = first.tags.get(BATCH_ACCOUNTS_TAG)
            expected = named.split(",") if named else None
            batch = Batch(key, int(first.tags.get(BATCH_SIZE_TAG, "1")), expected)
        elif key.startswith("backfill/"):
            batch = _backfill_batch(instance, key, first.tags[BACKFILL_TAG], extract_keys, asset_graph)
        else:
            batch = Batch(key, 1, None)
        batch.runs = [run for run, _ in group]
        batch.last_ended = max(ended_at for _, ended_at in group)
        batches[key] = batch
    return batches


def _backfill_batch(instance: dg.DagsterInstance, key: str, backfill_id: str, extract_keys: set[dg.AssetKey],
                    asset_graph) -> Batch:
    """A backfill expects one run per partition it targets; while it still launches runs it stays open."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:  # deleted from the instance: judge by its runs alone
        return Batch(key, 0, [])
    names = None
    if backfill.is_asset_backfill:
        if asset_graph is not None:
            try:
                names = backfill.get_asset_backfill_data(asset_graph).get_partition_names()
            except Exception:  # noqa: BLE001 - definitions changed since: the runs present decide
                names = None
    else:
        names = backfill.partition_names
    expected = list(names) if names is not None else None
    return Batch(key, len(expected) if expected is not None else 0, expected,
                 open=backfill.status not in BULK_ACTION_TERMINAL_STATUSES,
                 builds_marts=bool(backfill.asset_selection) and not set(backfill.asset_selection) <= extract_keys)


def transformed_batches(instance: dg.DagsterInstance, transform_job: str, limit: int = 200) -> set[str]:
    """Batches a transform run names already (the sensor's, or `make demo`'s own): never built twice."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=transform_job), limit=limit)
    return {run.tags[BATCH_TAG] for run in runs if run.tags.get(BATCH_TAG)}


def describe_wait(batch: Batch, grace: float) -> str:
    until = datetime.fromtimestamp(batch.last_ended + grace, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"batch {batch.key} has no run for {', '.join(batch.missing)}: waiting until {until}"


def now() -> float:
    return time.time()
