"""After the Dagster extraction every declared raw column has its declared type, even in a child table
that never had a row (companies' tags here): the post-load step creates those, and a column dlt knows
without a type must not become VARCHAR (dbt's `account_id` test compares it with a bigint)."""

from __future__ import annotations

import dagster as dg
import duckdb
from dagster_dlt import DagsterDltResource

from pipelines.amocrm.endpoints import COLUMNS, NESTED
from pipelines.simulator import SimulatedAccount, Simulator

TYPES = {"bigint": "BIGINT", "text": "VARCHAR", "bool": "BOOLEAN"}


def test_declared_raw_columns_have_their_types_after_a_dagster_extraction(monkeypatch, tmp_path):
    from pipelines.defs.ingest import amocrm_extract
    from pipelines.defs.recovery import RUN_GUARD_KEY, run_guard

    account = SimulatedAccount.generate(seed=5, leads=50, now=1_790_000_000, horizon_days=30)
    with Simulator(account, rate_limit=None) as sim:
        monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("SOURCES__AMOCRM__BASE_URL", sim.base_url)
        monkeypatch.setenv("SOURCES__AMOCRM__ACCESS_TOKEN", sim.long_lived_token)
        monkeypatch.setenv("SOURCES__AMOCRM__REQUESTS_PER_SECOND", "1000")
        result = dg.materialize([amocrm_extract], resources={"dlt": DagsterDltResource(), RUN_GUARD_KEY: run_guard},
                                instance=dg.DagsterInstance.ephemeral())
    assert result.success
    declared = {(table, column): TYPES[hint["data_type"]] for table, columns in COLUMNS.items()
                for column, hint in columns.items()}
    declared.update({(f"{parent}__{child}", column): TYPES[hint["data_type"]]
                     for parent, children in NESTED.items() for child, hints in children.items()
                     for column, hint in hints["columns"].items()})
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        built = {(t, c): kind for t, c, kind in con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'raw_amocrm'").fetchall()}
        empty = con.execute("select count(*) from raw_amocrm.companies__tags").fetchone()[0]
    assert empty == 0, "the case this test is about: a child table without rows"
    wrong = {key: (built.get(key), kind) for key, kind in declared.items() if built.get(key) != kind}
    assert not wrong, f"(table, column): (built, declared) {wrong}"
