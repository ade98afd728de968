"""Several amoCRM accounts in one warehouse: every mart equals each account's own reference.

Three simulated accounts (Europe/Moscow RUB, Asia/Vladivostok USD, Europe/Berlin EUR; other seeds, the
same id ranges) are each extracted with the single-account path and their raw tables unioned
(accounts_warehouse.py), then the user inputs (with their `account` column) loaded and `dbt build` run:
first with two accounts, then again with the third added.
Overlapping ids must not collide, each account's calendar must be its own timezone's, and each money
table must carry its account's currency.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts_warehouse import KEPT
from kpi_reference import MARTS, assert_frames_match, assert_mart_matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt_accounts")]  # accounts_warehouse, not the shared one

LEADS = 150  # per account, as tests/conftest.py's accounts_warehouse builds them


@pytest.fixture(scope="module")
def accounts(accounts_warehouse):
    """(warehouse, MultiReference, truths by account_id) of three accounts built together (session-wide)."""
    assert accounts_warehouse.leads == LEADS
    return accounts_warehouse.warehouse, accounts_warehouse.reference, accounts_warehouse.truths


def test_the_accounts_differ_and_their_ids_overlap(accounts):
    warehouse, _, truths = accounts
    zones = {truth.account["timezone"] for truth in truths.values()}
    currencies = {truth.account["currency"] for truth in truths.values()}
    assert len(zones) == len(currencies) == 3
    shared = set.intersection(*(set(truth.leads["id"]) for truth in truths.values()))
    assert len(shared) > LEADS / 2, "the accounts' lead ids overlap"
    leads = warehouse.query("select account_id, count(*) as n from marts.fct_leads group by all")
    assert dict(zip(leads["account_id"], leads["n"])) == {a: len(t.leads) for a, t in truths.items()}


@pytest.mark.parametrize("table", MARTS)
def test_mart_matches_each_accounts_reference(accounts, table):
    warehouse, reference, _ = accounts
    assert_mart_matches(warehouse.query(f"select * from marts.{table}"), reference, table)


def test_fct_leads_match_each_account(accounts):
    warehouse, reference, _ = accounts
    columns = ["account_id", "currency", "lead_id", "pipeline_id", "status_id", "manager_id", "price",
               "created_date", "closed_date", "is_won", "is_lost", "channel", "loss_reason_id",
               "lost_at_status_id", "sales_cycle_days", "customer_id", "is_first_won_of_customer"]
    expected = reference.leads
    actual = warehouse.query("select * from marts.fct_leads")
    assert_frames_match(actual[["account_id", "lead_id", "is_deleted"]], expected[["account_id", "lead_id", "is_deleted"]],
                        ["account_id", "lead_id"])
    live = ~expected["is_deleted"].astype(bool)
    assert_frames_match(actual[~actual["is_deleted"].astype(bool)], expected.loc[live, columns],
                        ["account_id", "lead_id"], approx=("sales_cycle_days",))


def test_dim_accounts_has_one_row_per_account(accounts):
    warehouse, reference, truths = accounts
    actual = warehouse.query("select * from marts.dim_accounts order by account_id")
    assert list(actual["account_id"]) == sorted(truths)
    for row in actual.itertuples():
        account = truths[row.account_id].account
        assert (row.name, row.subdomain, row.timezone, row.currency, row.currency_symbol) == (
            account["name"], account["subdomain"], account["timezone"], account["currency"],
            account["currency_symbol"])
        assert abs(row.extracted_at.timestamp() - reference[row.account_id].extracted_at) < 1e-3


def test_dimensions_are_per_account(accounts):
    warehouse, _, truths = accounts
    managers = warehouse.query("select account_id, manager_id from marts.dim_managers")
    stages = warehouse.query("select account_id, status_id from marts.dim_pipeline_stages")
    for account_id, truth in truths.items():
        assert sorted(managers.loc[managers["account_id"] == account_id, "manager_id"]) == sorted(truth.users["id"])
        assert (stages["account_id"] == account_id).sum() == len(truth.statuses)


def test_inputs_without_an_account_column_are_refused_with_several_accounts(accounts, tmp_path: Path):
    from pipelines.inputs import InputFileError, load_user_inputs

    warehouse, _, truths = accounts
    (tmp_path / "marketing_spend.csv").write_text("month,channel,amount\n2026-01,yandex,100\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="holds 3 amoCRM accounts.*subdomain or id"):
        load_user_inputs(tmp_path, warehouse=warehouse.copy(tmp_path / "copy").path)
    (tmp_path / "marketing_spend.csv").write_text("account,month,channel,amount\nnowhere,2026-01,yandex,100\n",
                                                  encoding="utf-8")
    with pytest.raises(InputFileError, match="'nowhere' is not an account in the warehouse"):
        load_user_inputs(tmp_path, warehouse=warehouse.copy(tmp_path / "copy2").path)


def test_an_account_added_later_leaves_the_others_rows_and_ledger_alone(accounts):
    warehouse, _, truths = accounts
    first_two = sorted(truths)[:2]
    for name, before in warehouse.before_third.items():
        after = warehouse.query(f"select * from {name}")
        if "account_id" in before.columns:
            assert set(before["account_id"]) == set(first_two), name
            after = after[after["account_id"].isin(first_two)]
            key = [c for c in ("account_id", "event_id", "activity_id", "lead_id", "stay_number") if c in before]
        else:  # the ledger: the incremental models' entries for the first two accounts' loads stay
            before = before[before["model_name"].isin([n.split(".")[1] for n in KEPT[:-1]] + ["fct_pipeline_daily"])]
            after = after[after["model_name"].isin(set(before["model_name"])) & after["load_id"].isin(set(before["load_id"]))]
            key = ["model_name", "load_id"]
        sort = lambda frame: frame.sort_values(key).reset_index(drop=True)  # noqa: E731
        assert len(before) and sort(after).equals(sort(before)), name
    loads = warehouse.query("select model_name, count(*) as n from intermediate.int_processed_loads "
                            "where model_name = 'int_lead_events' group by all")
    assert loads["n"].iat[0] == 3, "the third account's load was read"


def test_pipeline_daily_incremental_touches_only_the_changed_account(accounts, tmp_path: Path):
    """A new load changes an old open lead of one account (manager and price: its share of every past
    day moves) whose id another account also has: the other accounts' fct_pipeline_daily rows stay as
    they were, and the whole table equals a full rebuild."""
    import duckdb

    warehouse, _, truths = accounts
    warehouse = warehouse.copy(tmp_path / "incremental")
    changed, other = sorted(truths)[:2]
    lead = warehouse.query(
        f"select stays.lead_id from intermediate.int_pipeline_daily_stays as stays "
        f"inner join marts.fct_leads as leads using (account_id, lead_id) "
        f"where stays.account_id = {changed} and not leads.is_won and not leads.is_lost and not leads.is_deleted "
        f"and stays.lead_id in (select lead_id from marts.fct_leads where account_id = {other}) "
        f"order by stays.entered_date, stays.lead_id limit 1").iat[0, 0]
    manager = warehouse.query(f"select min(manager_id) from marts.fct_leads where account_id = {changed} and "
                              f"manager_id <> (select manager_id from marts.fct_leads "
                              f"where account_id = {changed} and lead_id = {lead})").iat[0, 0]
    before = warehouse.query(f"select * from marts.fct_pipeline_daily where account_id <> {changed} order by all")
    before_changed = warehouse.query(f"select * from marts.fct_pipeline_daily where account_id = {changed} order by all")
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("insert into raw_amocrm._dlt_loads values ('2000000000.1', 'amocrm', 0, now(), '')")
        connection.execute(f"update raw_amocrm.leads set responsible_user_id = {manager}, price = price + 1000, "
                           f"_dlt_load_id = '2000000000.1' where account_id = {changed} and id = {lead}")
    warehouse.dbt("run")
    after = warehouse.query(f"select * from marts.fct_pipeline_daily where account_id <> {changed} order by all")
    assert after.equals(before), "another account's rows were touched"
    assert not warehouse.query(f"select * from marts.fct_pipeline_daily where account_id = {changed} "
                               f"order by all").equals(before_changed), "the change reached the changed account"
    rebuilt = warehouse.copy(tmp_path / "full")
    rebuilt.dbt("run", "--full-refresh", "--select", "int_pipeline_daily_stays+")
    for table in ["marts.fct_pipeline_daily", "intermediate.int_pipeline_daily_stays"]:
        incremental, full = (w.query(f"select * from {table} order by all") for w in (warehouse, rebuilt))
        assert len(incremental) == len(full), table
        assert_frames_match(incremental.reset_index(), full.reset_index(), ["index"])
