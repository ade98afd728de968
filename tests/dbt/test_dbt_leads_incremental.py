"""stg_amocrm__leads is incremental by lead: a run recomputes exactly the leads whose inputs changed,
including the changes that come without a load of the lead (the extractor's in-place deletion flags, a
linked contact or company deleted or restored, the account's timezone, the custom field vars), and
equals a full rebuild. On copies of the day-later warehouse of test_dbt_incremental."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from frames import assert_frames_match

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("day_later")]

SEED, LEADS, NOW = 23, 200, 1_790_000_000  # test_dbt_incremental's account: the same shared warehouse
STG = "staging.stg_amocrm__leads"
KEPT = " #kept"  # appended to every stored lead_name: a row without it was recomputed


@pytest.fixture(scope="module")
def built(built_day_later):
    """The day-later warehouse built incrementally (the day's loads read by the incremental model).
    Shared with other modules (`built_day_later`): copy it to change it."""
    warehouse, _, _ = built_day_later(seed=SEED, leads=LEADS, now=NOW)
    return warehouse


def _stg(warehouse):
    return warehouse.query(f"select * from {STG} order by account_id, lead_id")


def _assert_equals_full_rebuild(warehouse, tmp_path, *dbt_args: str) -> None:
    rebuilt = warehouse.copy(tmp_path / "full")
    rebuilt.dbt("run", "--full-refresh", "--select", "stg_amocrm__leads", *dbt_args)
    incremental, full = _stg(warehouse), _stg(rebuilt)
    assert len(incremental) == len(full)
    assert_frames_match(incremental.reset_index(), full.reset_index(), ["index"])


def _recomputed(warehouse, *dbt_args: str) -> set[int]:
    """Run the model on a copy whose stored names are marked; the leads it rewrote (marks gone)."""
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"update {STG} set lead_name = coalesce(lead_name, '') || '{KEPT}'")
    warehouse.dbt("run", "--select", "stg_amocrm__leads", *dbt_args)
    rows = warehouse.query(f"select lead_id, lead_name from {STG}")
    return {int(r.lead_id) for r in rows.itertuples() if not str(r.lead_name).endswith(KEPT)}


def test_the_day_build_equals_a_full_rebuild(built, tmp_path):
    compiled = (built.data_dir / "dbt_target" / "compiled" / "amocrm_kpi" / "models" / "staging" / "amocrm"
                / "stg_amocrm__leads.sql").read_text()
    assert "semi join changed_leads" in compiled, "the day's build was incremental"
    _assert_equals_full_rebuild(built, tmp_path)


def _pick(warehouse) -> dict[str, int]:
    """Old live leads for each kind of change, all different: one changing stage and owner in a new load,
    one whose custom field value changes, one deleted in place, one whose only linked contact (main) is
    deleted, one whose company is deleted."""
    q = warehouse.query
    leads = q(f"select lead_id, status_id, pipeline_id, responsible_user_id, company_id, main_contact_id "
              f"from {STG} where not is_deleted and created_at is not null order by lead_id")
    single_contact = set(q("select lead_id from raw_amocrm.leads__contacts group by lead_id "
                           "having count(*) = 1")["lead_id"])
    contact_count = q("select contact_id, count(*) as n from raw_amocrm.leads__contacts group by contact_id")
    lonely_contacts = set(contact_count[contact_count.n == 1].contact_id)
    with_field = set(q("select lead_id from raw_amocrm.leads__custom_field_values "
                       "where lower(field_name) = 'utm_source'")["lead_id"])
    picked: dict[str, int] = {}

    def take(name, rows):
        rows = rows[~rows.lead_id.isin(picked.values())]
        assert len(rows), name
        picked[name] = int(rows.lead_id.iloc[0])

    take("company", leads[leads.company_id.notna() & leads.main_contact_id.notna()])
    take("contact", leads[leads.lead_id.isin(single_contact) & leads.main_contact_id.isin(lonely_contacts)
                          & leads.company_id.isna()])
    take("stage", leads[~leads.status_id.isin([142, 143])])
    take("field", leads[leads.lead_id.isin(with_field)])
    take("deleted", leads)
    return picked


def test_changes_of_every_kind_recompute_their_leads_only_and_equal_a_full_rebuild(built, tmp_path):
    warehouse = built.copy(tmp_path / "incremental")
    picked = _pick(warehouse)
    q = warehouse.query
    company = int(q(f"select company_id from {STG} where lead_id = {picked['company']}").iat[0, 0])
    contact = int(q(f"select main_contact_id from {STG} where lead_id = {picked['contact']}").iat[0, 0])
    lead = q(f"select pipeline_id, status_id, responsible_user_id from {STG} where lead_id = {picked['stage']}").iloc[0]
    status = int(q(f"select min(id) from raw_amocrm.pipeline_statuses where pipeline_id = {lead.pipeline_id} "
                   f"and id not in (142, 143, {lead.status_id})").iat[0, 0])
    other_user = int(q(f"select min(id) from raw_amocrm.users where id <> {lead.responsible_user_id}").iat[0, 0])
    with duckdb.connect(str(warehouse.path)) as connection:
        # a new load, as a merge leaves it: the lead rows (and their nested rows) rewritten
        connection.execute("insert into raw_amocrm._dlt_loads values ('2000000000.1', 'amocrm', 0, now(), '')")
        connection.execute(f"update raw_amocrm.leads set status_id = {status}, responsible_user_id = {other_user}, "
                           f"_dlt_load_id = '2000000000.1' where id = {picked['stage']}")
        connection.execute(f"update raw_amocrm.leads__custom_field_values set value = 'changed_utm' "
                           f"where lead_id = {picked['field']} and lower(field_name) = 'utm_source'")
        connection.execute(f"update raw_amocrm.leads set _dlt_load_id = '2000000000.1' where id = {picked['field']}")
        # in place, as deletions.py applies the trash, events and reconciliations: no load of the lead
        connection.execute(f"update raw_amocrm.leads set is_deleted = true, deleted_at = updated_at + 1 "
                           f"where id = {picked['deleted']}")
        connection.execute(f"update raw_amocrm.contacts set is_deleted = true, deleted_at = updated_at + 1 "
                           f"where id = {contact}")
        connection.execute(f"update raw_amocrm.companies set is_deleted = true, deleted_at = updated_at + 1 "
                           f"where id = {company}")
    company_leads = set(q(f"select id from raw_amocrm.leads where company_id = {company}")["id"])
    assert _recomputed(warehouse.copy(tmp_path / "marked")) == {picked["stage"], picked["field"], picked["deleted"],
                                                                picked["contact"], *company_leads}
    warehouse.dbt("run", "--select", "stg_amocrm__leads")
    changed = q(f"select * from {STG} where lead_id in ({', '.join(map(str, picked.values()))})").set_index("lead_id")
    assert changed.loc[picked["stage"], "status_id"] == status
    assert changed.loc[picked["stage"], "responsible_user_id"] == other_user
    assert changed.loc[picked["field"], "utm_source"] == "changed_utm"
    assert changed.loc[picked["deleted"], "is_deleted"]
    assert pd.isna(changed.loc[picked["contact"], "main_contact_id"])
    assert changed.loc[picked["contact"], "deleted_contact_ids"] == str(contact)
    assert pd.isna(changed.loc[picked["company"], "company_id"])
    _assert_equals_full_rebuild(warehouse, tmp_path / "first")

    # restored in place (trash left, restore event), and the account moved to another timezone
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"update raw_amocrm.leads set is_deleted = false, deleted_at = null "
                           f"where id = {picked['deleted']}")
        connection.execute(f"update raw_amocrm.contacts set is_deleted = false, deleted_at = null where id = {contact}")
    assert _recomputed(warehouse.copy(tmp_path / "marked_restored")) == {picked["deleted"], picked["contact"]}
    with duckdb.connect(str(warehouse.path)) as connection:
        timezone = connection.execute("select timezone from raw_amocrm.account").fetchone()[0]
        connection.execute("update raw_amocrm.account set timezone = ?",
                           ["Asia/Vladivostok" if timezone != "Asia/Vladivostok" else "Europe/Moscow"])
    all_leads = set(q("select id from raw_amocrm.leads")["id"])
    assert _recomputed(warehouse.copy(tmp_path / "marked_timezone")) == all_leads
    warehouse.dbt("run", "--select", "stg_amocrm__leads")
    assert not q(f"select * from {STG} where lead_id = {picked['contact']}")["deleted_contact_ids"].notna().any()
    _assert_equals_full_rebuild(warehouse, tmp_path / "second")


def test_changed_custom_field_vars_recompute_every_lead(built, tmp_path):
    warehouse = built.copy(tmp_path / "incremental")
    dbt_vars = ("--vars", json.dumps({"amocrm_utm_field": "no such field"}))
    all_leads = set(warehouse.query("select id from raw_amocrm.leads")["id"])
    assert _recomputed(warehouse.copy(tmp_path / "marked"), *dbt_vars) == all_leads
    assert _recomputed(warehouse.copy(tmp_path / "unchanged")) == set(), "nothing changed: nothing recomputed"
    warehouse.dbt("run", "--select", "stg_amocrm__leads", *dbt_vars)
    assert warehouse.query(f"select count(utm_source) from {STG}").iat[0, 0] == 0
    _assert_equals_full_rebuild(warehouse, tmp_path, *dbt_vars)


def test_a_table_built_before_the_change_columns_is_recomputed_once(built, tmp_path):
    """A warehouse built by the previous version (stg_amocrm__leads a table without the change columns)."""
    warehouse = built.copy(tmp_path / "incremental")
    with duckdb.connect(str(warehouse.path)) as connection:
        for column in ("raw_row_hash", "deleted_contact_ids", "derived_with"):
            connection.execute(f"alter table {STG} drop column {column}")
    warehouse.dbt("run", "--select", "stg_amocrm__leads")
    _assert_equals_full_rebuild(warehouse, tmp_path)
    assert _recomputed(warehouse.copy(tmp_path / "marked")) == set(), "once only"
