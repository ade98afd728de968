"""Run the failure sensor on a finished run, as the Dagster daemon would (test modules and scripts)."""

import dagster as dg


def alert_on_failed_run(defs: dg.Definitions, instance: dg.DagsterInstance, result) -> None:
    """Evaluate `alert_on_run_failure` for the failed in-process run `result`."""
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=run, dagster_event=failure
    ).for_run_failure()
    defs.resolve_sensor_def("alert_on_run_failure")(context)
