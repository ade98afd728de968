"""Sensor `transform_after_extractions` on batches that are not the plain daily tick (issue 14).

Real: a temp Dagster instance holding extraction runs as the schedule, a UI backfill or `make demo` leave
them, the project's definitions, and the sensor evaluated as the daemon would (`build_sensor_context`).
A batch with a run missing is built after the grace period, naming the account in an alert, never a silent
stall; a backfill's runs are one batch; a batch a transform run already names is not built again.
"""

from __future__ import annotations

import json
import time

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.test_utils import create_run_for_test

from pipelines import paths

pytestmark = pytest.mark.xdist_group("dagster")
EXTRACT = "amocrm_extract_account"
DONE, FAILED = dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE


@pytest.fixture
def env(tmp_path, monkeypatch):
    from pipelines.definitions import defs

    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    with dg.instance_for_test() as instance:
        yield defs, instance


def _evaluate(defs, instance, cursor=None):
    sensor = defs.resolve_sensor_def("transform_after_extractions")
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor))


def _requests(result) -> dict[str, dict]:
    return {r.run_key: {k: v for k, v in r.tags.items() if k.startswith("amocrm_kpi/")}
            for r in result.run_requests or []}


def _tick_run(instance, batch, keys, key, status=DONE):
    from pipelines.defs.schedules import batch_tags

    return create_run_for_test(instance, job_name=EXTRACT, status=status,
                               tags={**batch_tags(batch, keys, key), "dagster/partition": key})


def _warnings() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(paths.alerts_dir().glob("*_warning_*.json"))]


def test_a_batch_missing_a_run_waits_then_builds_and_names_the_missing_account(env, monkeypatch):
    defs, instance = env
    batch = "2026-01-01T05:00:00+00:00"
    _tick_run(instance, batch, ["acc1", "acc2", "acc3"], "acc1")
    _tick_run(instance, batch, ["acc1", "acc2", "acc3"], "acc3", status=FAILED)  # acc2's run never came

    monkeypatch.setenv("AMOCRM_KPI_BATCH_GRACE_MINUTES", "60")
    waiting = _evaluate(defs, instance)
    assert _requests(waiting) == {}
    assert "acc2" in waiting.skip_message and "waiting until" in waiting.skip_message, waiting.skip_message
    assert _warnings() == []

    monkeypatch.setenv("AMOCRM_KPI_BATCH_GRACE_MINUTES", "0")  # the grace period is over
    built = _evaluate(defs, instance)
    assert _requests(built) == {f"transform/{batch}": {
        "amocrm_kpi/batch": batch, "amocrm_kpi/failed_accounts": "acc3", "amocrm_kpi/missing_accounts": "acc2"}}
    (alert,) = _warnings()
    assert "acc2" in alert["title"] and batch in alert["title"], alert
    assert "account acc2" in alert["failures"][0]["account"] and "no extraction run" in alert["failures"][0]["error"]

    again = _evaluate(defs, instance, cursor=built.cursor)  # the next tick: on-call is not told twice
    assert len(_warnings()) == 1 and list(_requests(again)) == [f"transform/{batch}"]


def test_a_complete_tick_is_built_at_once_without_a_missing_tag(env, monkeypatch):
    defs, instance = env
    monkeypatch.setenv("AMOCRM_KPI_BATCH_GRACE_MINUTES", "60")
    batch = "2026-01-02T05:00:00+00:00"
    for key in ("acc1", "acc2"):
        _tick_run(instance, batch, ["acc1", "acc2"], key)
    assert _requests(_evaluate(defs, instance)) == {f"transform/{batch}": {
        "amocrm_kpi/batch": batch, "amocrm_kpi/failed_accounts": "none"}}


def test_the_runs_of_one_backfill_are_one_batch(env, monkeypatch):
    defs, instance = env
    monkeypatch.setenv("AMOCRM_KPI_BATCH_GRACE_MINUTES", "60")
    backfill = PartitionBackfill(backfill_id="bfone", status=BulkActionStatus.REQUESTED, from_failure=False,
                                 tags={}, backfill_timestamp=time.time(), partition_names=["acc1", "acc2", "acc3"])
    instance.add_backfill(backfill)
    for key in ("acc1", "acc2"):
        create_run_for_test(instance, job_name=EXTRACT, status=DONE,
                            tags={"dagster/backfill": "bfone", "dagster/partition": key})
    assert _requests(_evaluate(defs, instance)) == {}  # still launching: acc3's run is to come

    create_run_for_test(instance, job_name=EXTRACT, status=FAILED,
                        tags={"dagster/backfill": "bfone", "dagster/partition": "acc3"})
    instance.update_backfill(backfill.with_status(BulkActionStatus.COMPLETED_FAILED))
    assert _requests(_evaluate(defs, instance)) == {"transform/backfill/bfone": {
        "amocrm_kpi/batch": "backfill/bfone", "amocrm_kpi/failed_accounts": "acc3"}}


def test_an_asset_backfill_from_the_asset_page_is_one_batch(env, monkeypatch):
    from pipelines.defs.ingest import amocrm_extract

    defs, instance = env
    monkeypatch.setenv("AMOCRM_KPI_BATCH_GRACE_MINUTES", "60")
    instance.add_dynamic_partitions("amocrm_account", ["acc1", "acc2"])
    keys = sorted(amocrm_extract.keys)
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id="bfassets", asset_graph=defs.resolve_asset_graph(), partition_names=["acc1", "acc2"],
        asset_selection=keys, backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance,
        all_partitions=False, title=None, description=None, run_config=None)
    instance.add_backfill(backfill.with_status(BulkActionStatus.COMPLETED_SUCCESS))
    create_run_for_test(instance, job_name="__ASSET_JOB", status=DONE, asset_selection=frozenset(keys),
                        tags={"dagster/backfill": "bfassets", "dagster/partition": "acc1"})
    monkeypatch.setenv("AMOCRM_KPI_BATCH_GRACE_MINUTES", "0")
    assert _requests(_evaluate(defs, instance)) == {"transform/backfill/bfassets": {
        "amocrm_kpi/batch": "backfill/bfassets", "amocrm_kpi/failed_accounts": "none",
        "amocrm_kpi/missing_accounts": "acc2"}}


def test_a_batch_already_transformed_is_not_built_again(env, monkeypatch):
    """`make demo` runs its own transform, tagged with its batch: the daemon must not build it twice."""
    defs, instance = env
    monkeypatch.setenv("AMOCRM_KPI_BATCH_GRACE_MINUTES", "0")
    batch = "demo/2026-01-03T10:00:00"
    for key in ("acc1", "acc2"):
        _tick_run(instance, batch, ["acc1", "acc2"], key)
    assert list(_requests(_evaluate(defs, instance))) == [f"transform/{batch}"]
    create_run_for_test(instance, job_name="amocrm_transform", status=DONE, tags={"amocrm_kpi/batch": batch})
    result = _evaluate(defs, instance)
    assert _requests(result) == {} and result.skip_message
