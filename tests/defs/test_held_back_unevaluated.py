"""An extraction whose blocking raw checks never ran proves nothing: it is not accepted.

A run that loaded its rows and then died (the process killed, a check's own code crashed) leaves the
extraction materialized with its blocking checks planned but never evaluated. Counted as accepted, its
rows would be published and become the baseline the next run's `rows_never_shrink` compares with, so a
shrink it loaded would pass unseen. Real: Dagster runs in-process on an ephemeral instance; the check
that stands for the dead process raises before it can evaluate.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs.held_back import BLOCKING_RAW_CHECKS, failed_blocking_checks, is_accepted


@dg.asset(key=dg.AssetKey(["raw_amocrm", "leads"]))
def leads() -> None:
    """Stands for the loaded raw table."""


def _run(instance: dg.DagsterInstance, evaluate: bool) -> str:
    @dg.asset_check(asset=leads, name="rows_never_shrink", blocking=True)
    def rows_never_shrink() -> dg.AssetCheckResult:
        if not evaluate:
            raise RuntimeError("the process died here")
        return dg.AssetCheckResult(passed=True)

    job = dg.define_asset_job("extract", selection=dg.AssetSelection.assets(leads))
    defs = dg.Definitions(assets=[leads], asset_checks=[rows_never_shrink], jobs=[job])
    return defs.resolve_job_def("extract").execute_in_process(instance=instance, raise_on_error=False).run_id


def test_a_run_that_died_before_its_blocking_check_is_not_accepted():
    with dg.instance_for_test() as instance:
        died = _run(instance, evaluate=False)
        failures, _ = failed_blocking_checks(instance, died)
        assert failures == ["rows_never_shrink on raw_amocrm/leads: was never evaluated (the run ended FAILURE "
                            "before it ran, so its rows proved nothing)"]
        assert not is_accepted(instance, died)

        passed = _run(instance, evaluate=True)
        assert failed_blocking_checks(instance, passed) == ([], None)
        assert is_accepted(instance, passed)


def test_the_blocking_check_names_are_the_blocking_raw_checks():
    from pipelines.defs.checks import CHECKS

    blocking = {spec.name for definition in CHECKS for spec in definition.check_specs if spec.blocking}
    assert blocking == BLOCKING_RAW_CHECKS
