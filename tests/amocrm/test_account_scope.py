"""Rows are keyed and matched per account: another account's rows with the same ids are left alone.

One data folder still holds one account, but amoCRM ids are unique only within an account, so the
merge keys and the post-load SQL (deletions, stubs) match `(account_id, id)`. Here the warehouse
also holds a copy of every lead under another account id, and that account's trash names one of
this account's live leads: neither a re-read, nor a deletion, nor a stub may cross accounts.
"""

from __future__ import annotations

import duckdb

from amocrm_checks import extract, table
from pipelines import paths

OTHER = 1  # an account id amoCRM never gave the simulated account


def test_another_accounts_rows_with_the_same_ids_are_left_alone(sim):
    extract(sim)
    account_id = sim.account.profile.account_id
    leads = table("leads")
    assert set(leads["account_id"]) == {account_id}
    live = int(leads.query("not is_deleted")["id"].min())
    with duckdb.connect(str(paths.warehouse_path())) as con:
        con.execute(f"insert into raw_amocrm.leads by name select * replace ({OTHER} as account_id, "
                    "false as is_deleted, null::bigint as deleted_at, 'other-' || _dlt_id as _dlt_id) from raw_amocrm.leads")
        con.execute("insert into raw_amocrm.deletions (account_id, entity_type, id, deleted_at, deleted_by, "
                    f"_dlt_load_id, _dlt_id) values ({OTHER}, 'lead', {live}, 2000000000, 0, '0', 'other-1'), "
                    f"({OTHER}, 'lead', 777777777, 2000000000, 0, '0', 'other-2')")
        others = con.execute(f"select * from raw_amocrm.leads where account_id = {OTHER} order by id").fetchall()
    sim.clock.advance(days=2)  # leads change: re-read and merged on (account_id, id)
    summary = extract(sim)
    assert summary.rows.get("leads"), "some leads were read again"
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        assert con.execute(f"select * from raw_amocrm.leads where account_id = {OTHER} order by id").fetchall() \
            == others, "the other account's leads are untouched"
        mine = con.execute(f"select id, is_deleted from raw_amocrm.leads where account_id = {account_id}").fetchall()
    assert dict(mine)[live] is False, "another account's trash does not delete this account's lead"
    assert 777777777 not in dict(mine), "nor makes a stub in this account"
    truth = sim.truth().leads
    assert sorted(dict(mine)) == sorted(truth["id"]), "one row per lead of this account"
    assert {i: d for i, d in mine} == dict(zip(truth["id"], truth["is_deleted"].astype(bool)))
