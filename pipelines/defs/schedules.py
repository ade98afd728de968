"""The jobs and the daily schedule: each amoCRM account extracted in its own run, then one transform.

- `amocrm_extract_account`: the dlt assets (op `amocrm_extract`) and their raw checks, of one account, a partition of `ACCOUNTS`.
- `amocrm_transform`: everything else (user inputs, dbt, serving copy, report, PostgreSQL).
- `amocrm_daily`: everything in one run, for one account (`make demo`, the CLI, tests), as before.

The daily tick requests one `amocrm_extract_account` run per configured account, all tagged with the tick's
batch; the `transform_after_extractions` sensor requests `amocrm_transform` once every run of the batch
has ended, failed ones included: an account whose extraction failed keeps its last loaded raw data, the
others' fresh data is still built and published, and the failure was alerted naming the account.
Every run is one process, one step at a time: the warehouse is a single DuckDB file that only one process
may write (the `run_guard` lock keeps runs apart, see `pipelines.defs.recovery`; the run queue in
`dagster.yaml` and the `duckdb` pool show the waiting in the UI).
"""

from __future__ import annotations

import os
from collections import defaultdict

import dagster as dg

from pipelines.defs.accounts import sync_partitions
from pipelines.defs.ingest import amocrm_extract
from pipelines.defs.recovery import hold_run_guard

SCHEDULE_TIMEZONE = os.environ.get("AMOCRM_KPI_SCHEDULE_TIMEZONE", "Europe/Moscow")
SCHEDULE_CRON = os.environ.get("AMOCRM_KPI_SCHEDULE_CRON", "0 5 * * *")
BATCH_TAG = "amocrm_kpi/batch"  # the tick whose extraction runs one transform waits for
BATCH_SIZE_TAG = "amocrm_kpi/batch_size"
ACCOUNT_TAG = "amocrm_kpi/account"
FAILED_TAG = "amocrm_kpi/failed_accounts"  # on a transform: accounts whose raw data is not this batch's
_ENDED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}

amocrm_daily = dg.define_asset_job(
    name="amocrm_daily",
    selection=dg.AssetSelection.all(),
    description="One account end to end: extract amoCRM, build the marts, check them, publish, report.",
    executor_def=dg.in_process_executor,
    hooks={hold_run_guard},
    tags={"amocrm_kpi/kind": "daily"},  # dagster.yaml's run queue: one such run at a time
)

amocrm_extract_job = dg.define_asset_job(
    name="amocrm_extract_account",  # not "amocrm_extract": that is the multi-asset's op, and names must differ
    selection=dg.AssetSelection.assets(amocrm_extract),
    description="Extract one amoCRM account (the run's partition) into raw_amocrm.",
    executor_def=dg.in_process_executor,
    hooks={hold_run_guard},
    tags={"amocrm_kpi/kind": "extract"},
)

amocrm_transform = dg.define_asset_job(
    name="amocrm_transform",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(amocrm_extract),
    description="Build the marts from the raw data every account has, check them, publish, report.",
    executor_def=dg.in_process_executor,
    hooks={hold_run_guard},
    tags={"amocrm_kpi/kind": "transform"},
)


@dg.schedule(
    name="amocrm_daily_schedule",
    job=amocrm_extract_job,
    cron_schedule=SCHEDULE_CRON,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Early morning (AMOCRM_KPI_SCHEDULE_CRON / _TIMEZONE to change): one extraction run per "
                "account, then amocrm_transform (sensor transform_after_extractions).",
)
def amocrm_daily_schedule(context: dg.ScheduleEvaluationContext):
    keys = sync_partitions(context.instance)
    batch = context.scheduled_execution_time.isoformat()
    return [dg.RunRequest(run_key=f"{batch}/{key}", partition_key=key,
                          tags={BATCH_TAG: batch, BATCH_SIZE_TAG: str(len(keys)), ACCOUNT_TAG: key})
            for key in keys]


def ended_batches(instance: dg.DagsterInstance, limit: int = 200) -> dict[str, list[dg.DagsterRun]]:
    """Recent batches of extraction runs whose runs have all ended: {batch: runs}. A run started by hand
    (no batch tag) is a batch of its own, so a manual re-extraction of one account is built too."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=amocrm_extract_job.name), limit=limit)
    batches: dict[str, list[dg.DagsterRun]] = defaultdict(list)
    for run in runs:
        batches[run.tags.get(BATCH_TAG) or run.run_id].append(run)
    return {batch: members for batch, members in batches.items()
            if all(run.status in _ENDED for run in members)
            and len(members) >= int(members[0].tags.get(BATCH_SIZE_TAG, "1"))}


@dg.sensor(
    name="transform_after_extractions",
    job=amocrm_transform,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Once every account's extraction run of a batch has ended (failed ones too), builds and "
                "publishes the marts once: a failed account keeps its last loaded data.",
)
def transform_after_extractions(context: dg.SensorEvaluationContext):
    requests = []
    for batch, runs in sorted(ended_batches(context.instance).items()):
        failed = sorted(run.tags.get(ACCOUNT_TAG) or run.tags.get("dagster/partition", "?")
                        for run in runs if run.status != dg.DagsterRunStatus.SUCCESS)
        requests.append(dg.RunRequest(run_key=f"transform/{batch}",  # once per batch (Dagster keeps run keys)
                                      tags={BATCH_TAG: batch, FAILED_TAG: ",".join(failed) or "none"}))
    return requests or dg.SkipReason("no batch of extraction runs has ended yet")


# Also for Dagster's implicit job (materializing assets from the asset graph): one process
# per run, so the run guard is set up once and its process is the run's.
defs = dg.Definitions(jobs=[amocrm_daily, amocrm_extract_job, amocrm_transform],
                      schedules=[amocrm_daily_schedule], sensors=[transform_after_extractions],
                      executor=dg.in_process_executor)
