"""The published copy and the report say which amoCRM account the numbers come from."""

from __future__ import annotations

import re
import shutil

import duckdb
import pytest
from report_marts import TODAY

from pipelines.publish import publish_marts
from pipelines.report import build_report


@pytest.mark.parametrize(("simulated", "header"), [(True, "demo: simulated account"), (False, "acme.kommo.com")])
def test_serving_copy_and_report_header_name_the_source(marts_db, tmp_path, simulated, header):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(marts_db, warehouse)
    with duckdb.connect(str(warehouse)) as con:  # as origin.record() leaves it after a load
        con.execute("create schema raw_amocrm")
        con.execute("create table raw_amocrm.source_origin as select 31000001::bigint as account_id, "
                    "'acme' as subdomain, 'acme.kommo.com' as base_url_host, ?::boolean as simulated, now() as extracted_at", [simulated])
    serving = tmp_path / "serving.duckdb"
    published = publish_marts(warehouse, serving)
    assert published.tables["meta_source"] == 1
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("select account_id, subdomain, simulated from marts.meta_source").fetchall() == [
            (31000001, "acme", simulated)]
    page = build_report(serving, tmp_path / "out", language="en", today=TODAY).path.read_text(encoding="utf-8")
    assert re.search(r'class="account">([^<]*)<', page).group(1).endswith(header)
