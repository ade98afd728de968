"""Records purged from amoCRM leave the marts after an id reconciliation and the next dbt build.

Scenario `purges`: three leads, a contact and a company vanish `PURGED_DAYS_AGO` days before now,
with no trash entry and no event. The account is extracted a month before and again now, and dbt
built: the warehouse holds them live and the marts count them (the reproduction). Then
the reconciliation marks them and dbt builds again; every mart must equal the independent reference
(tests/kpi_reference.py), which takes them as deleted from the simulator's truth.
"""

from __future__ import annotations

import time

import pytest

from kpi_reference import MARTS, assert_mart_matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reconciliation")]

DAY = 86_400


@pytest.fixture(scope="module")
def purged_warehouse(tmp_path_factory, build_kpi_warehouse):
    """(warehouse, purged ids per raw table, fct_leads and fct_sales_kpi before the reconciliation)."""
    from pipelines.amocrm.id_reconciliation import run_reconciliation
    from pipelines.simulator import SimulatedAccount, Simulator
    from pipelines.simulator.scenarios import PURGED_DAYS_AGO

    account = SimulatedAccount.generate(seed=21, leads=250, now=int(time.time()), scenarios={"purges"})
    with Simulator(account, rate_limit=None) as sim, pytest.MonkeyPatch.context() as mp:
        # the models only: the build after the reconciliation runs the tests (a full build each costs CPU)
        warehouse = build_kpi_warehouse(tmp_path_factory.mktemp("purges"), sim, first_load_at=account.now - 30 * DAY,
                                        dbt_command="run")
        truth, at = warehouse.truth, account.now - PURGED_DAYS_AGO * DAY
        purged = {name: sorted(int(i) for i in frame.loc[frame["deleted_at"] == at, "id"])
                  for name, frame in (("leads", truth.leads), ("contacts", truth.contacts),
                                      ("companies", truth.companies))}
        lead_ids = ",".join(map(str, purged["leads"]))
        before = {"fct_leads": warehouse.query(f"select lead_id, is_deleted from marts.fct_leads "
                                               f"where lead_id in ({lead_ids})"),
                  "fct_sales_kpi": warehouse.query("select * from marts.fct_sales_kpi")}
        mp.setenv("AMOCRM_KPI_DATA_DIR", str(warehouse.data_dir))
        result = run_reconciliation(sim.base_url, sim.long_lived_token, requests_per_second=1000)
        assert not result.refused, result.format()
        warehouse.dbt("build")
        yield warehouse, purged, before


def test_before_the_reconciliation_purged_leads_are_counted(purged_warehouse):
    warehouse, purged, before = purged_warehouse
    assert [len(ids) for ids in purged.values()] == [3, 1, 1]
    assert sorted(before["fct_leads"]["lead_id"]) == purged["leads"]
    assert not before["fct_leads"]["is_deleted"].any(), "today's main keeps them live"
    with pytest.raises(AssertionError):
        assert_mart_matches(before["fct_sales_kpi"], warehouse.reference(), "fct_sales_kpi")


def test_purged_records_are_flagged_deleted(purged_warehouse):
    warehouse, purged, _ = purged_warehouse
    leads = warehouse.query(f"select lead_id, is_deleted from marts.fct_leads "
                            f"where lead_id in ({','.join(map(str, purged['leads']))})")
    assert sorted(leads["lead_id"]) == purged["leads"] and leads["is_deleted"].all()
    for table in ("contacts", "companies"):
        rows = warehouse.query(f"select is_deleted from raw_amocrm.{table} where id in "
                               f"({','.join(map(str, purged[table]))})")
        assert len(rows) == len(purged[table]) and rows["is_deleted"].all(), table
    marks = warehouse.query("select entity_type, id from raw_amocrm.disappearances order by all")
    assert len(marks) == 5


@pytest.fixture(scope="module")
def reference(purged_warehouse):
    """One reference for every mart (its cached frames computed once, not once a table)."""
    return purged_warehouse[0].reference()


@pytest.mark.parametrize("table", sorted(MARTS))
def test_marts_match_the_reference_after_the_reconciliation(purged_warehouse, reference, table):
    warehouse, _, _ = purged_warehouse
    assert_mart_matches(warehouse.query(f"select * from marts.{table}"), reference, table)
