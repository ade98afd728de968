"""Sensors that tell on-call when a run fails, or when a check failed without failing the run.

Both run by default whenever the Dagster daemon runs (`make ui` / `dagster dev`
starts it). Delivery and redaction live in `pipelines.alerting`.
"""


import os

import dagster as dg

from pipelines.alerting import Alert, send_alert
from pipelines.defs.accounts import describe_account, run_account

# Set on a run whose alert went out already (a dead run's reaper sends it itself: no daemon may run).
ALERT_SENT_TAG = "amocrm_kpi/alert_sent"


def send_run_alert(run: dg.DagsterRun, severity: str, title: str, failures: list[dict]) -> None:
    """The alert for a run, with a link to it in the Dagster UI; a run of one account names it (key and
    amoCRM origin), since with several accounts on-call must know whose extraction broke."""
    if (key := run_account(run)) is not None:
        title = f"{title}, {describe_account(key)}"
    base = os.environ.get("DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000").rstrip("/")
    send_alert(Alert(title=title, severity=severity, job=run.job_name, run_id=run.run_id,
                     run_url=f"{base}/runs/{run.run_id}", failures=failures))


def _failed_steps(context: dg.RunFailureSensorContext) -> list[dict]:
    failures = []
    for event in context.get_step_failure_events():
        failures.append({"step": event.step_key, "error": _step_error(event.step_failure_data)[:2000]})
    return failures


def _step_error(data) -> str:
    """What went wrong, most specific first: a deliberate `Failure`'s description, else the
    innermost cause (wrappers like "Exceeded max_retries" or dlt's stage message bury it)."""
    if data is None or data.error is None:
        return "step failed"
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description.strip()
    error, root = data.error, data.error
    while root.cause is not None:
        root = root.cause
    outer = error.message.strip()
    return outer if root is error else f"{root.message.strip()}\n(reported as: {outer[:300]})"


def _run_error(failure_event: dg.DagsterEvent) -> str:
    """Why a run failed outside any step (e.g. it gave up waiting for the warehouse): the error and its causes."""
    message = (failure_event.message or "run failed").strip()
    data = failure_event.event_specific_data
    error = getattr(data, "error", None)
    while error is not None:
        message += "\n" + error.message.strip()
        error = error.cause
    return message


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """Check evaluations of a run that did not pass."""
    failures = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.asset_check_evaluation_data
        if evaluation.passed:
            continue
        description = evaluation.description or ""
        failures.append(
            {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "error": (description or f"check failed ({evaluation.severity.value})")[:2000],
            }
        )
    return failures


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    description="Sends on-call the failed run, its failed steps and checks, the error and a link to the run.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def alert_on_run_failure(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    if run.tags.get(ALERT_SENT_TAG):
        return  # on-call has this one already
    failures = _failed_steps(context) + _failed_checks(context.instance, run.run_id)
    if not failures:
        failures = [{"step": "run", "error": _run_error(context.failure_event)[:2000]}]
    send_run_alert(run, "error", f"amocrm-kpi run failed: {run.job_name}", failures)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="alert_on_failed_checks",
    description="A WARN-severity check that fails does not fail the run; this still reports it.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def alert_on_failed_checks(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    failures = _failed_checks(context.instance, run.run_id)
    if failures:
        send_run_alert(run, "warning", f"amocrm-kpi data-quality warnings in {run.job_name}", failures)


defs = dg.Definitions(sensors=[alert_on_run_failure, alert_on_failed_checks])
