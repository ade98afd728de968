"""A company or contact deleted after a lead last changed is still linked in raw (the API's view of
the lead back then); the customer of the lead must not be that deleted one."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]


@pytest.fixture(scope="module")
def after_deletions(kpi_warehouse, tmp_path_factory):
    """A copy of the shared warehouse where one linked company and one main contact were deleted in
    amoCRM without their leads changing: (warehouse, the company's leads, the contact's leads)."""
    warehouse = kpi_warehouse.copy(tmp_path_factory.mktemp("deleted_links"))
    leads = warehouse.query("select lead_id, company_id, main_contact_id from staging.stg_amocrm__leads "
                            "where not is_deleted")
    with_company = leads[leads.company_id.notna() & leads.main_contact_id.notna()]
    company = int(with_company.company_id.iloc[0])
    without_company = leads[leads.company_id.isna() & leads.main_contact_id.notna()]
    contact = int(without_company.main_contact_id.iloc[0])
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute("update raw_amocrm.companies set is_deleted = true, deleted_at = updated_at + 1 where id = ?",
                    [company])
        con.execute("update raw_amocrm.contacts set is_deleted = true, deleted_at = updated_at + 1 where id = ?",
                    [contact])
    warehouse.dbt("build", "--select", "stg_amocrm__leads+")
    company_leads = with_company[with_company.company_id == company]
    contact_leads = without_company[without_company.main_contact_id == contact]
    return warehouse, company_leads, contact_leads


def test_a_deleted_company_is_not_the_customer_its_main_contact_is(after_deletions):
    warehouse, company_leads, _ = after_deletions
    facts = warehouse.query("select lead_id, customer_type, customer_id from marts.fct_leads").set_index("lead_id")
    for lead in company_leads.itertuples():
        assert facts.loc[lead.lead_id, "customer_type"] == "contact"
        assert facts.loc[lead.lead_id, "customer_id"] == lead.main_contact_id


def test_a_deleted_contact_is_not_the_customer(after_deletions):
    warehouse, _, contact_leads = after_deletions
    facts = warehouse.query("select lead_id, customer_id from marts.fct_leads").set_index("lead_id")
    live_links = warehouse.query(
        "select links.lead_id, links.contact_id from raw_amocrm.leads__contacts as links "
        "join staging.stg_amocrm__contacts as contacts using (contact_id) where not contacts.is_deleted")
    for lead_id in contact_leads.lead_id:
        others = live_links[live_links.lead_id == lead_id].contact_id
        expected = int(others.min()) if len(others) else None  # none flagged main is left: the lowest id
        customer = facts.loc[lead_id, "customer_id"]
        assert (None if pd.isna(customer) else int(customer)) == expected
