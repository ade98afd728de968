"""The custom fields the KPIs read are chosen through dbt vars, by name, code or id; none is hard-coded."""

from __future__ import annotations

import json

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
