"""`amocrm_reconcile_ids`: the weekly id reconciliation (pipelines/amocrm/id_reconciliation.py).

Leads, contacts and companies gone from amoCRM without a trace are marked
deleted in `raw_amocrm`; the marts drop them at the next build (the daily job).
It writes the warehouse, so it holds the same run guard (warehouse lock, dead-run
reaping) as `amocrm_daily`. A refusal (partial scan, too many missing) fails the
run with the reason in plain words, so the failure sensor alerts on-call; after
checking, launch it from the UI with run config `accept: true`.
"""

import os

import dagster as dg

from pipelines.amocrm.client import amo_cause
from pipelines.amocrm.id_reconciliation import run_reconciliation
from pipelines.defs.recovery import RUN_GUARD_KEY, hold_run_guard
from pipelines.defs.schedules import SCHEDULE_TIMEZONE
from pipelines.defs.transform import DUCKDB_POOL

RECONCILE_CRON = os.environ.get("AMOCRM_KPI_RECONCILE_CRON", "0 3 * * 0")  # Sundays 03:00


class ReconcileConfig(dg.Config):
    accept: bool = False  # mark the missing records even above the limit (after a person checked them)


@dg.op(required_resource_keys={RUN_GUARD_KEY}, pool=DUCKDB_POOL,
       description="Scan every lead, contact and company id in amoCRM; mark those gone as deleted in raw_amocrm.")
def reconcile_ids(context: dg.OpExecutionContext, config: ReconcileConfig) -> None:
    try:
        result = run_reconciliation(accept=config.accept)
    except Exception as exc:
        cause = amo_cause(exc)
        if cause is None:
            raise
        raise dg.Failure(description=f"id reconciliation failed, nothing was marked: {cause}",
                         allow_retries=False) from exc
    context.log.info("id reconciliation:\n" + result.format())
    metadata = {f"{r.table}_{key}": value for r in result.results
                for key, value in (("scanned", r.scanned), ("live_in_raw", r.live_in_raw),
                                   ("missing", len(r.missing)), ("marked", r.marked),
                                   ("reappeared", len(r.reappeared)))}
    context.add_output_metadata(metadata)
    if refusal := result.refusal():
        raise dg.Failure(description=refusal, metadata={**metadata, "accept": config.accept}, allow_retries=False)


@dg.job(name="amocrm_reconcile_ids", hooks={hold_run_guard}, executor_def=dg.in_process_executor,
        description="Weekly: mark leads, contacts and companies amoCRM no longer has as deleted (run config "
                    "`ops: {reconcile_ids: {config: {accept: true}}}` marks them above the safety limit).")
def amocrm_reconcile_ids():
    reconcile_ids()


amocrm_reconcile_ids_schedule = dg.ScheduleDefinition(
    name="amocrm_reconcile_ids_schedule",
    job=amocrm_reconcile_ids,
    cron_schedule=RECONCILE_CRON,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sundays 03:00 in the schedule's timezone (AMOCRM_KPI_RECONCILE_CRON to change).",
)

defs = dg.Definitions(jobs=[amocrm_reconcile_ids], schedules=[amocrm_reconcile_ids_schedule])
