"""The custom fields the KPIs read are chosen through dbt vars, by name, code or id; none is hard-coded."""

from __future__ import annotations

import json

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

PIVOTED = "select lead_id, utm_source, channel, satisfaction_score from staging.stg_amocrm__leads order by lead_id"


@pytest.fixture(scope="module")
def own_copy(kpi_warehouse, tmp_path_factory):
    """The shared warehouse copied, so re-running staging with other vars leaves it alone."""
    return kpi_warehouse.copy(tmp_path_factory.mktemp("dbt_vars"))


def _field(warehouse, name: str) -> dict:
    fields = warehouse.query(f"select id, code from raw_amocrm.custom_fields where name = '{name}' "
                             "and entity_type = 'leads'")
    assert len(fields) == 1, name
    return fields.iloc[0].to_dict()


def _pivot_with(warehouse, **dbt_vars) -> object:
    warehouse.dbt("run", "--select", "stg_amocrm__leads", "--vars", json.dumps(dbt_vars))
    return warehouse.query(PIVOTED)


def test_fields_by_id_or_code_give_what_the_names_give(kpi_warehouse, own_copy):
    by_name = kpi_warehouse.query(PIVOTED)  # the project's defaults name the fields
    assert by_name["utm_source"].notna().sum() > 0 and by_name["satisfaction_score"].notna().sum() > 0
    utm, satisfaction = _field(own_copy, "utm_source"), _field(own_copy, "Оценка клиента")

    by_id = _pivot_with(own_copy, amocrm_utm_field=int(utm["id"]), amocrm_satisfaction_field=str(satisfaction["id"]))
    assert by_id.equals(by_name)
    by_code = _pivot_with(own_copy, amocrm_utm_field=utm["code"].lower(),  # codes and names match in any case
                          amocrm_satisfaction_field="оценка КЛИЕНТА")
    assert by_code.equals(by_name)


def test_a_field_the_account_lacks_leaves_the_columns_empty(own_copy):
    pivoted = _pivot_with(own_copy, amocrm_utm_field="no such field", amocrm_satisfaction_field=999_999_999)
    assert pivoted["utm_source"].isna().all() and pivoted["satisfaction_score"].isna().all()
    fallback = own_copy.query("select id as lead_id, coalesce(cast(nullif(source_id, 0) as varchar), 'unknown') "
                              "as channel from raw_amocrm.leads order by id")
    assert pivoted["channel"].tolist() == fallback["channel"].tolist()  # the lead's source id, else 'unknown'


def test_a_contact_satisfaction_field_counts_for_the_contacts_manager(kpi_warehouse, tmp_path_factory):
    """The contract allows the satisfaction field on contacts: each scored, live contact is a response
    of its responsible user, dated by the contact's last change (account timezone)."""
    warehouse = kpi_warehouse.copy(tmp_path_factory.mktemp("contact_field"))
    contacts = warehouse.query(
        "select contact_id, responsible_user_id, "
        "cast(cast(timezone((select timezone from staging.stg_amocrm__account), updated_at) as date) as varchar) "
        "as day "
        "from staging.stg_amocrm__contacts where not is_deleted order by contact_id limit 3")
    live, gone = contacts.head(2), int(contacts.contact_id.iloc[2])
    with duckdb.connect(str(warehouse.path)) as con:
        for contact_id, value in [*zip(live.contact_id, ("10", " 3 ")), (gone, "9")]:
            con.execute(  # a contact field named like the configured one, on three contacts
                "insert into raw_amocrm.contacts__custom_field_values (account_id, contact_id, field_id, field_name, "
                "field_type, value, _dlt_root_id, _dlt_parent_id, _dlt_list_idx, _dlt_id) "
                "select id, ?, 4004001, 'Оценка клиента', 'numeric', ?, 'r', 'p', 0, ? from raw_amocrm.account",
                [int(contact_id), value, f"test-{contact_id}"])
        con.execute("update raw_amocrm.contacts set is_deleted = true where id = ?", [gone])
    warehouse.dbt("build", "--select", "int_satisfaction_responses+")

    responses = warehouse.query("select *, cast(response_date as varchar) as day from "
                                "intermediate.int_satisfaction_responses where response_source = 'contact_field' "
                                "order by entity_id")
    assert responses.entity_id.tolist() == live.contact_id.tolist()  # the third, deleted, is dropped
    assert responses.score.astype(float).tolist() == [10.0, 3.0]
    assert responses.manager_id.tolist() == live.responsible_user_id.tolist()
    assert responses.day.tolist() == live.day.tolist()

    def daily(source):
        return source.query("select cast(period_start as varchar) as day, manager_id, responses, promoters, detractors "
                            "from marts.fct_satisfaction where period_grain = 'day'")

    before, after = daily(kpi_warehouse), daily(warehouse)
    merged = after.merge(before, on=["day", "manager_id"], how="left", suffixes=("", "_before")).fillna(0)
    gained = merged[merged.responses != merged.responses_before]
    expected = {(day, manager) for day, manager in zip(live.day, live.responsible_user_id)}
    assert set(zip(gained.day, gained.manager_id)) == expected
    assert int((gained.responses - gained.responses_before).sum()) == 2
    assert int((gained.promoters - gained.promoters_before).sum()) == 1
    assert int((gained.detractors - gained.detractors_before).sum()) == 1
