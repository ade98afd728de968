"""The daily job and its schedule.

`amocrm_daily` materializes everything (ingest -> dbt -> publish -> report)
and runs every asset in one process, one step at a time: the warehouse is a
single DuckDB file that only one process may write. Across runs, the warehouse
lock held by the `run_guard` resource keeps writers apart (see
`pipelines.defs.recovery`: it also clears runs whose process died); the run
queue (`dagster.yaml`: one run at a time) and the `duckdb` pool show the waiting
in the UI.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.defs.recovery import hold_run_guard

SCHEDULE_TIMEZONE = os.environ.get("AMOCRM_KPI_SCHEDULE_TIMEZONE", "Europe/Moscow")
SCHEDULE_CRON = os.environ.get("AMOCRM_KPI_SCHEDULE_CRON", "0 5 * * *")

amocrm_daily = dg.define_asset_job(
    name="amocrm_daily",
    selection=dg.AssetSelection.all(),
    description="Extract amoCRM, build the marts, check them, publish the serving copy and the report.",
    executor_def=dg.in_process_executor,
    hooks={hold_run_guard},
)

amocrm_daily_schedule = dg.ScheduleDefinition(
    name="amocrm_daily_schedule",
    job=amocrm_daily,
    cron_schedule=SCHEDULE_CRON,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Early morning in the account's timezone (AMOCRM_KPI_SCHEDULE_CRON / _TIMEZONE to change).",
)

# Also for Dagster's implicit job (materializing assets from the asset graph): one process
# per run, so the run guard is set up once and its process is the run's.
defs = dg.Definitions(jobs=[amocrm_daily], schedules=[amocrm_daily_schedule], executor=dg.in_process_executor)
