"""fct_leads is incremental by changed rows: a run writes only the rows that
differ from the stored ones (and deletes those whose key is gone), and equals a full rebuild after every
kind of change - of a lead, of the customer's first won deal, of a lookup (a user's group, a loss reason's
name). On copies of the day-later warehouse of test_dbt_incremental."""

from __future__ import annotations

import re

import duckdb
import pytest

from frames import assert_frames_match

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("day_later")]

SEED, LEADS, NOW = 23, 200, 1_790_000_000  # test_dbt_incremental's account: the same shared warehouse
MODELS = {"marts.fct_leads": ["account_id", "lead_id"]}
LOAD = "2000000000.1"


@pytest.fixture(scope="module")
def built(built_day_later):
    """Shared with other modules (`built_day_later`): copy it to change it."""
    warehouse, _, _ = built_day_later(seed=SEED, leads=LEADS, now=NOW)
    return warehouse


def _rows(warehouse, table, key):
    """The table's rows by key (values as a tuple in column-name order, so column order does not matter)."""
    frame = warehouse.query(f"select * from {table}")
    columns = sorted(frame.columns)
    return {tuple(r[c] for c in key): tuple(r[c] for c in columns) for r in frame.to_dict("records")}


def _run_and_check(warehouse, tmp_path):
    """Build the models on `warehouse` (incrementally); assert that each equals a full rebuild and that
    it wrote exactly its new and changed rows (the count its post-hook logs). Their keys per table."""
    before = {table: _rows(warehouse, table, key) for table, key in MODELS.items()}
    log = warehouse.dbt("run", "--select", "+fct_leads").stdout
    rebuilt = warehouse.copy(tmp_path)
    rebuilt.dbt("run", "--full-refresh", "--select", "fct_leads")
    changed = {}
    for table, key in MODELS.items():
        new = warehouse.query(f"select * from {table}")
        assert_frames_match(new, rebuilt.query(f"select * from {table}"), key)
        old, new = before[table], _rows(warehouse, table, key)
        changed[table] = {k for k, row in new.items() if old.get(k) != row}
        written = re.search(rf"{re.escape(table)}: wrote (\d+) new or changed rows of {len(new)}\b", log)
        assert written, f"{table} logs what it wrote"
        assert int(written.group(1)) == len(changed[table]), f"{table} wrote exactly its new and changed rows"
    return changed


def _pick(warehouse) -> dict[str, int]:
    """Distinct old live leads: one to move (stage, owner, price), one to lose with a reason, one to delete
    and restore, and the first won deal of a customer with another won deal."""
    q = warehouse.query
    open_leads = q("select lead_id from marts.fct_leads where not is_deleted and not is_won and not is_lost "
                   "and created_at is not null order by lead_id")["lead_id"].tolist()
    first_won = q("select first_won_lead_id from intermediate.int_customer_first_won where won_deals > 1 "
                  "order by first_won_lead_id")["first_won_lead_id"].tolist()
    assert len(open_leads) >= 3 and first_won, "the account has the leads the test changes"
    return {"move": open_leads[0], "lose": open_leads[1], "delete": open_leads[2], "first_won": first_won[0]}


def test_each_kind_of_change_rewrites_its_rows_only_and_equals_a_full_rebuild(built, tmp_path):
    warehouse = built.copy(tmp_path / "incremental")
    picked = _pick(warehouse)
    q = warehouse.query
    lead = q(f"select account_id, pipeline_id, status_id, manager_id from marts.fct_leads "
             f"where lead_id = {picked['move']}").iloc[0]
    account = int(lead.account_id)
    status = int(q(f"select min(id) from raw_amocrm.pipeline_statuses where pipeline_id = {lead.pipeline_id} "
                   f"and id not in (142, 143, {lead.status_id})").iat[0, 0])
    other_user = int(q(f"select min(id) from raw_amocrm.users where id <> {lead.manager_id}").iat[0, 0])
    reason = int(q("select min(id) from raw_amocrm.loss_reasons").iat[0, 0])
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"insert into raw_amocrm._dlt_loads values ('{LOAD}', 'amocrm', 0, now(), '')")
        connection.execute(f"update raw_amocrm.leads set status_id = {status}, responsible_user_id = {other_user}, "
                           f"price = coalesce(price, 0) + 1000, updated_at = updated_at + 60, "
                           f"_dlt_load_id = '{LOAD}' where id = {picked['move']}")
        connection.execute(f"update raw_amocrm.leads set status_id = 143, loss_reason_id = {reason}, "
                           f"closed_at = updated_at + 60, updated_at = updated_at + 60, _dlt_load_id = '{LOAD}' "
                           f"where id = {picked['lose']}")
        # in place, as deletions.py applies the trash: no load of the lead
        for lead_id in (picked["delete"], picked["first_won"]):
            connection.execute(f"update raw_amocrm.leads set is_deleted = true, deleted_at = updated_at + 1 "
                               f"where id = {lead_id}")
    rewritten = _run_and_check(warehouse, tmp_path / "leads")
    assert {(account, picked[name]) for name in ("move", "lose", "delete", "first_won")} \
        <= rewritten["marts.fct_leads"]
    moved = q(f"select * from marts.fct_leads where lead_id = {picked['move']}").iloc[0]
    assert (moved.status_id, moved.manager_id) == (status, other_user)
    lost = q(f"select * from marts.fct_leads where lead_id = {picked['lose']}").iloc[0]
    assert lost.is_lost and lost.loss_reason_id == reason
    assert not q(f"select * from intermediate.int_customer_first_won "
                 f"where first_won_lead_id = {picked['first_won']}").shape[0], "another deal is the first won"

    # restored in place; a user moved to another group; a loss reason renamed
    group = int(q(f"select group_id from staging.stg_amocrm__users where user_id = {other_user}").iat[0, 0])
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"update raw_amocrm.leads set is_deleted = false, deleted_at = null "
                           f"where id = {picked['delete']}")
        connection.execute(f"update raw_amocrm.users set group_id = coalesce(group_id, 0) + 7 where id = {other_user}")
        connection.execute(f"update raw_amocrm.loss_reasons set name = name || ' (renamed)' where id = {reason}")
    rewritten = _run_and_check(warehouse, tmp_path / "lookups")
    assert (account, picked["delete"]) in rewritten["marts.fct_leads"]
    assert {(account, picked["move"]), (account, picked["lose"])} <= rewritten["marts.fct_leads"]
    assert q(f"select loss_reason from marts.fct_leads where lead_id = {picked['lose']}").iat[0, 0].endswith(
        " (renamed)")
    assert q(f"select group_id from marts.fct_leads where lead_id = {picked['move']}").iat[0, 0] == group + 7


def test_a_table_with_other_columns_is_rewritten_once(built, tmp_path):
    """A table built by another version (a column missing, one the model no longer has): every row rewritten,
    logged, and the table has the model's columns (the same rows as the day's build, as nothing else
    changed); the next run writes nothing."""
    warehouse = built.copy(tmp_path / "incremental")
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("alter table marts.fct_leads drop column satisfaction_score")
        connection.execute("alter table marts.fct_leads add column old_column integer")
    models = ("--select", "fct_leads")
    log = warehouse.dbt("run", *models).stdout
    for table, key in MODELS.items():
        assert f"{table.split('.')[1]}\": rewriting every row" in log
        rows = len(built.query(f"select * from {table}"))
        assert f"{table}: wrote {rows} new or changed rows of {rows}" in log
        assert_frames_match(warehouse.query(f"select * from {table}"), built.query(f"select * from {table}"), key)
        assert sorted(warehouse.query(f"select * from {table} limit 0").columns) == \
            sorted(built.query(f"select * from {table} limit 0").columns)
    log = warehouse.dbt("run", *models).stdout
    for table in MODELS:
        assert re.search(rf"{re.escape(table)}: wrote 0 new or changed rows", log), "once only"
