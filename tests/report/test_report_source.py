"""The published copy and the report say which amoCRM account the numbers come from."""

from __future__ import annotations

import re
import shutil

import duckdb
import pytest
from report_marts import TODAY
from report_page import ReportPage

from pipelines.publish import publish_marts, response_sla_minutes
from pipelines.report import build_report


def _serving(marts_db, tmp_path, simulated=True):
    """A warehouse with the marts and the extraction's record, and the path of its serving copy."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(marts_db, warehouse)
    with duckdb.connect(str(warehouse)) as con:  # as origin.record() leaves it after a load
        con.execute("create schema raw_amocrm")
        con.execute("create table raw_amocrm.source_origin as select 31000001::bigint as account_id, "
                    "'acme' as subdomain, 'acme.kommo.com' as base_url_host, ?::boolean as simulated, now() as extracted_at", [simulated])
    return tmp_path / "serving.duckdb"


@pytest.mark.parametrize(("simulated", "header"), [(True, "demo: simulated account"), (False, "acme.kommo.com")])
def test_serving_copy_and_report_header_name_the_source(marts_db, tmp_path, simulated, header):
    serving = _serving(marts_db, tmp_path, simulated)
    published = publish_marts(tmp_path / "warehouse.duckdb", serving)
    assert published.tables["meta_source"] == 1
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("select account_id, subdomain, simulated from marts.meta_source").fetchall() == [
            (31000001, "acme", simulated)]
    page = build_report(serving, tmp_path / "out", language="en", today=TODAY).path.read_text(encoding="utf-8")
    assert re.search(r'class="account">([^<]*)<', page).group(1).endswith(header)


def test_the_response_section_names_the_sla_in_minutes(marts_db, tmp_path):
    serving = _serving(marts_db, tmp_path)
    publish_marts(tmp_path / "warehouse.duckdb", serving)
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("select response_sla_minutes from marts.meta_source").fetchall() == [(15,)]
    for language, heading, note in (("en", "Within 15\u00a0min", "whose SLA (15\u00a0min) has elapsed"),
                                    ("ru", "Ответ за 15\u00a0мин", "(срок — 15\u00a0мин)")):
        html = build_report(serving, tmp_path / language, language=language, today=TODAY).path.read_text(encoding="utf-8")
        assert heading in ReportPage(html).tables[(None, "response")].content
        assert note in html and "amocrm_response_sla_minutes" not in html


def test_a_copy_published_before_the_sla_was_names_the_dbt_var(marts_db, tmp_path):
    html = build_report(marts_db, tmp_path / "out", language="en", today=TODAY).path.read_text(encoding="utf-8")
    assert "Within SLA" in ReportPage(html).tables[(None, "response")].content
    assert "whose SLA (dbt var amocrm_response_sla_minutes) has elapsed" in html


@pytest.mark.parametrize("value", ["'15'", "0", "[15]"])
def test_an_sla_that_is_not_whole_minutes_stops_the_publish_with_what_to_set(tmp_path, value):
    project = tmp_path / "dbt_project.yml"
    project.write_text(f"name: x\nvars:\n  amocrm_response_sla_minutes: {value}\n")
    with pytest.raises(RuntimeError, match="set it to a whole number of minutes"):
        response_sla_minutes(project)
