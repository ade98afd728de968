"""`amocrm_reconcile_ids` with two configured accounts (issue 14): each reconciled against its own rows.

Real: two hub simulators over HTTP, both extracted into one temp warehouse, then the job in process.
acc1's token sees only part of its leads (a refusal): the run fails naming acc1, marks nothing of acc1,
and acc2 is still reconciled.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from pipelines import paths

pytestmark = pytest.mark.xdist_group("dagster")


@pytest.fixture
def hub(simulated_accounts):
    return simulated_accounts(seed=7)


def _reconciled(account_id: int) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute("select entity, refused_reason from raw_amocrm.reconciliations where account_id = ? "
                           "order by entity", [account_id]).fetchall()


def test_each_account_is_reconciled_and_a_refusal_names_its_account(hub):
    from pipelines.amocrm import run_extraction
    from pipelines.definitions import defs

    for key in hub:
        run_extraction(account_key=key)
    ids = {key: hub[key].truth().account["id"] for key in hub}
    hub["acc1"].faults.hide_records(30, "leads")
    result = defs.resolve_job_def("amocrm_reconcile_ids").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)

    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    text = failure.step_failure_data.user_failure_data.description
    assert text.startswith("account acc1: ") and "leads" in text and "acc2" not in text, text
    refused = dict(_reconciled(ids["acc1"]))
    assert refused["leads"] and not refused["contacts"]  # acc1: leads refused, nothing of them marked
    assert [entity for entity, why in _reconciled(ids["acc2"]) if why is None] == ["companies", "contacts", "leads"]
