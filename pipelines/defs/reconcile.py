"""`amocrm_reconcile_ids`: the weekly id reconciliation (pipelines/amocrm/id_reconciliation.py).

Leads, contacts and companies gone from amoCRM without a trace are marked
deleted in `raw_amocrm`; the marts drop them at the next build (the daily job).
With several accounts configured, each is reconciled in turn against its own
rows (run config `accounts: [KEY, ...]` picks some); one account's refusal or
error leaves the others alone and fails the run at the end, naming the account.
It writes the warehouse, so it holds the same run guard (warehouse lock, dead-run
reaping) as `amocrm_daily`. A refusal (partial scan, too many missing) fails the
run with the reason in plain words, so the failure sensor alerts on-call; after
checking, launch it from the UI with run config `accept: true`.
"""

import os

import dagster as dg

from pipelines.amocrm.accounts import configured_accounts
from pipelines.amocrm.client import amo_cause
from pipelines.amocrm.id_reconciliation import run_reconciliation
from pipelines.amocrm.settings import SettingsError
from pipelines.defs.recovery import RUN_GUARD_KEY, hold_run_guard
from pipelines.defs.schedules import SCHEDULE_TIMEZONE
from pipelines.defs.transform import DUCKDB_POOL

RECONCILE_CRON = os.environ.get("AMOCRM_KPI_RECONCILE_CRON", "0 3 * * 0")  # Sundays 03:00


class ReconcileConfig(dg.Config):
    accept: bool = False  # mark the missing records even above the limit (after a person checked them)
    accounts: list[str] = []  # the account keys to reconcile; empty: every configured account


@dg.op(required_resource_keys={RUN_GUARD_KEY}, pool=DUCKDB_POOL,
       description="Scan every lead, contact and company id in amoCRM, account by account; mark those gone "
                   "as deleted in raw_amocrm.")
def reconcile_ids(context: dg.OpExecutionContext, config: ReconcileConfig) -> None:
    """Every account in turn: one account's refusal or error marks nothing of that account, the others are
    still reconciled, and the run fails at the end naming each account that did not go through."""
    try:
        keys = config.accounts or [a.key for a in configured_accounts()]
    except SettingsError as exc:
        raise dg.Failure(description=f"id reconciliation not started: {exc}", allow_retries=False) from exc
    several = len(keys) > 1
    metadata, problems = {}, []
    for key in keys:
        named = f"account {key}: " if several else ""
        try:
            result = _reconcile_one(key, config.accept)
        except dg.Failure as failure:
            problems.append(named + (failure.description or "failed"))
            continue
        context.log.info(f"id reconciliation{f' of account {key}' if several else ''}:\n" + result.format())
        prefix = f"{key}_" if several else ""
        metadata.update({f"{prefix}{r.table}_{name}": value for r in result.results
                         for name, value in (("scanned", r.scanned), ("live_in_raw", r.live_in_raw),
                                             ("missing", len(r.missing)), ("marked", r.marked),
                                             ("reappeared", len(r.reappeared)))})
        if refusal := result.refusal():
            problems.append(named + refusal)
    context.add_output_metadata(metadata)
    if problems:
        raise dg.Failure(description="\n\n".join(problems), allow_retries=False,
                         metadata={**metadata, "accept": config.accept})


def _reconcile_one(key: str, accept: bool):
    try:
        return run_reconciliation(accept=accept, account_key=key)
    except SettingsError as exc:
        raise dg.Failure(description=f"id reconciliation not started: {exc}", allow_retries=False) from exc
    except Exception as exc:
        cause = amo_cause(exc)
        if cause is None:
            raise
        raise dg.Failure(description=f"id reconciliation failed, nothing was marked: {cause}",
                         allow_retries=False) from exc


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
