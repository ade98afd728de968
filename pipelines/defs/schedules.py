"""The jobs and the daily schedule: each amoCRM account extracted in its own run, then one transform.

- `amocrm_extract_account`: the dlt assets (op `amocrm_extract`) and their raw checks, of one account, a partition of
  `ACCOUNTS`. No dbt: it would hold the warehouse lock while the next account's load waits.
- `amocrm_transform`: everything else (user inputs, dbt, serving copy, report, PostgreSQL), and dbt's source tests
  (`is_the_account_id` on every raw table: checks of the dlt assets) in its `dbt build`, before the models.
- `amocrm_daily`: everything in one run, for one account (`make demo` with one account, tests), as before.

The daily tick requests one `amocrm_extract_account` run per configured account, all tagged with the tick's
batch; the `transform_after_extractions` sensor requests `amocrm_transform` once every run of the batch
has ended, failed ones included: an account whose extraction failed keeps its last loaded raw data, the
others' fresh data is still built and published, and the failure was alerted naming the account. What a
batch is (a tick, a backfill, one run by hand) and when a run missing from it stops being waited for:
`pipelines.defs.batches`. `make demo` with several accounts runs the same batch itself (`pipelines.demo_batch`).
Every run is one process, one step at a time: the warehouse is a single DuckDB file that only one process
may write (the `run_guard` lock keeps runs apart, see `pipelines.defs.recovery`; the run queue in
`dagster.yaml` and the `duckdb` pool show the waiting in the UI).
"""

from __future__ import annotations

import json
import os

import dagster as dg

from pipelines.alerting import Alert, send_alert
from pipelines.defs import batches
from pipelines.defs.accounts import describe_account, sync_partitions
from pipelines.defs.batches import (ACCOUNT_TAG, BATCH_ACCOUNTS_TAG, BATCH_SIZE_TAG, BATCH_TAG, GRACE_ENV,  # noqa: F401
                                    Batch)
from pipelines.defs.ingest import amocrm_extract
from pipelines.defs.recovery import hold_run_guard
from pipelines.defs.transform import SOURCE_TEST_CHECKS

SCHEDULE_TIMEZONE = os.environ.get("AMOCRM_KPI_SCHEDULE_TIMEZONE", "Europe/Moscow")
SCHEDULE_CRON = os.environ.get("AMOCRM_KPI_SCHEDULE_CRON", "0 5 * * *")
FAILED_TAG = "amocrm_kpi/failed_accounts"  # on a transform: accounts whose raw data is not this batch's
MISSING_TAG = "amocrm_kpi/missing_accounts"  # on a transform: accounts of the batch that had no run at all

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
    selection=dg.AssetSelection.assets(amocrm_extract) - dg.AssetSelection.checks(*SOURCE_TEST_CHECKS),
    description="Extract one amoCRM account (the run's partition) into raw_amocrm.",
    executor_def=dg.in_process_executor,
    hooks={hold_run_guard},
    tags={"amocrm_kpi/kind": "extract"},
)

amocrm_transform = dg.define_asset_job(
    name="amocrm_transform",
    selection=(dg.AssetSelection.all() - dg.AssetSelection.assets(amocrm_extract))
    | dg.AssetSelection.checks(*SOURCE_TEST_CHECKS),
    description="Build the marts from the raw data every account has, check them, publish, report.",
    executor_def=dg.in_process_executor,
    hooks={hold_run_guard},
    tags={"amocrm_kpi/kind": "transform"},
)


def batch_tags(batch: str, keys: list[str], key: str) -> dict[str, str]:
    """The tags of one account's extraction run in a batch of `keys` (the schedule's, `make demo`'s)."""
    return {BATCH_TAG: batch, BATCH_SIZE_TAG: str(len(keys)), BATCH_ACCOUNTS_TAG: ",".join(keys), ACCOUNT_TAG: key}


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
                          tags=batch_tags(batch, keys, key))
            for key in keys]


def ready_batches(instance: dg.DagsterInstance, asset_graph=None, at: float | None = None,
                  grace: float | None = None) -> tuple[list[Batch], list[Batch]]:
    """(batches to transform now, batches still waiting), oldest first; batches a transform run already
    names (the sensor's before, `make demo`'s) are neither."""
    at, grace = batches.now() if at is None else at, batches.grace_seconds() if grace is None else grace
    extract_keys = set(amocrm_extract.keys)
    runs = batches.extraction_runs(instance, amocrm_extract_job.name, extract_keys)
    found = batches.group_batches(instance, runs, extract_keys, asset_graph)
    done = batches.transformed_batches(instance, amocrm_transform.name)
    pending = [batch for key, batch in sorted(found.items()) if key not in done]
    ready = [batch for batch in pending if batch.ready(at, grace)]
    waiting = [batch for batch in pending if not batch.ready(at, grace) and batch.runs and batch.ended
               and batch.short and not batch.open and not batch.builds_marts]
    return ready, waiting


def _alert_missing(batch: Batch) -> None:
    """On-call hears which accounts the transform went ahead without (their marts keep older data)."""
    base = os.environ.get("DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000").rstrip("/")
    send_alert(Alert(
        title=f"amocrm-kpi: transform of batch {batch.key} ran without {', '.join(batch.missing)}",
        severity="warning", job=amocrm_transform.name, run_id="", run_url=f"{base}/runs",
        failures=[{"account": describe_account(key) if key in (batch.expected or []) else key,
                   "error": f"no extraction run in batch {batch.key} ({len(batch.runs)} of {batch.size} runs "
                            f"ended, none for this account within {batches.grace_seconds() / 60:g} min): its marts "
                            "keep its last loaded data. Look for a dropped or deleted run in the UI (Runs, the "
                            "schedule's tick), then materialize the account's partition to bring it up to date."}
                  for key in batch.missing]))


@dg.sensor(
    name="transform_after_extractions",
    job=amocrm_transform,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Once every account's extraction run of a batch (a schedule tick, a backfill) has ended (failed "
                "ones too), builds and publishes the marts once: a failed account keeps its last loaded data. "
                f"An account with no run at all is waited for {GRACE_ENV} (60) minutes, then named in an alert.",
)
def transform_after_extractions(context: dg.SensorEvaluationContext):
    graph = context.repository_def.asset_graph if context.repository_def else None
    ready, waiting = ready_batches(context.instance, graph)
    told = set(json.loads(context.cursor)) if context.cursor else set()
    requests = []
    for batch in ready:
        tags = {BATCH_TAG: batch.key, FAILED_TAG: ",".join(batch.failed) or "none"}
        if batch.short:
            tags[MISSING_TAG] = ",".join(batch.missing)
            context.log.warning(f"transforming batch {batch.key} without {', '.join(batch.missing)}: no extraction "
                                f"run of theirs ended within {batches.grace_seconds() / 60:g} min of the others")
            if batch.key not in told:
                _alert_missing(batch)
                told.add(batch.key)
        requests.append(dg.RunRequest(run_key=f"transform/{batch.key}", tags=tags))  # once per batch
    for batch in waiting:
        context.log.info(batches.describe_wait(batch, batches.grace_seconds()))
    context.update_cursor(json.dumps(sorted(told)[-100:]))
    if requests:
        return requests
    return dg.SkipReason("; ".join(batches.describe_wait(b, batches.grace_seconds()) for b in waiting)
                         or "no batch of extraction runs has ended yet")


# Also for Dagster's implicit job (materializing assets from the asset graph): one process
# per run, so the run guard is set up once and its process is the run's.
defs = dg.Definitions(jobs=[amocrm_daily, amocrm_extract_job, amocrm_transform],
                      schedules=[amocrm_daily_schedule], sensors=[transform_after_extractions],
                      executor=dg.in_process_executor)
