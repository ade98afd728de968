"""A lead's amoCRM source: its id, and its name from `_embedded.source` (`with=source`)."""

from __future__ import annotations

import dataclasses

import pytest

from pipelines.amocrm import endpoints, records
from pipelines.amocrm.source import COLUMNS

LEAD = {"id": 1, "name": "Deal", "updated_at": 1_700_000_000, "account_id": 5, "_links": {},
        "_embedded": {"tags": [], "companies": []}}


def test_the_embedded_source_gives_the_name():
    lead = {**LEAD, "source_id": 5001, "_embedded": {**LEAD["_embedded"], "source": {"id": 5001, "name": "Сайт"}}}
    row = records.lead(lead)
    assert (row["source_id"], row["source_name"]) == (5001, "Сайт")


def test_a_lead_without_source_has_no_name():
    assert (records.lead({**LEAD, "source_id": None}) | {})["source_name"] is None
    assert records.lead(LEAD)["source_name"] is None  # no source_id, no _embedded.source at all


def test_the_id_comes_from_the_embedded_source_when_source_id_was_not_sent():
    lead = {**LEAD, "_embedded": {**LEAD["_embedded"], "source": {"id": 5002, "name": "Телефония"}}}
    assert (records.lead(lead)["source_id"], records.lead(lead)["source_name"]) == (5002, "Телефония")


@pytest.mark.parametrize("source", [{"id": 5001, "name": 7}, {"name": "x"}, ["x"]])
def test_a_malformed_embedded_source_is_an_error(source):
    with pytest.raises(ValueError):
        records.lead({**LEAD, "_embedded": {**LEAD["_embedded"], "source": source}})


def test_source_name_is_a_declared_text_column_and_not_news():
    assert COLUMNS["leads"]["source_name"]["data_type"] == "text"
    assert "source_name" not in records.DOCUMENTED_FIELDS["leads"]  # it is in _embedded, not a top-level field


def test_a_warehouse_from_before_source_names_gets_the_column_on_the_next_run(sim, monkeypatch):
    """Upgrading: raw leads made without source_name get the column even when no lead changed (dbt
    selects it), and names come with the leads that change later."""
    from amocrm_checks import extract, table

    leads = endpoints.entity("leads")
    old_leads = dataclasses.replace(  # the extractor as it was: no source_name column, no name kept
        leads, columns={k: v for k, v in leads.columns.items() if k != "source_name"},
        shape=lambda item, entity: {k: v for k, v in leads.shape(item, entity).items() if k != "source_name"})
    with monkeypatch.context() as old:
        old.setattr(endpoints, "ENDPOINTS", tuple(old_leads if s is leads else s for s in endpoints.ENDPOINTS))
        old.setitem(COLUMNS, "leads", old_leads.columns)  # what run.py creates missing tables from
        extract(sim)
    assert "source_name" not in table("leads").columns

    summary = extract(sim, resources=["contacts"])  # a run that loads no lead rows
    assert summary.rows.get("leads", 0) == 0
    assert "source_name" in table("leads").columns and table("leads")["source_name"].isna().all()

    sim.clock.advance(days=2)
    extract(sim)
    leads, truth = table("leads").set_index("id"), sim.truth().leads.set_index("id")
    named = leads[leads["source_name"].notna()]
    assert len(named) > 0
    assert (named["source_name"] == truth.loc[named.index, "source_name"]).all()
