"""Compare the warehouse, the marts and the serving copy with the simulator's ground truth.

Reuses the test suite's independent references instead of restating them:
`tests/kpi_reference.py` (the KPIs computed in pandas from the truth),
`tests/amocrm/amocrm_checks.py` (raw tables value by value) and the user-input
rows of `tests/conftest.py` (loaded under another module name: `conftest` is
ambiguous on sys.path).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TESTS = PROJECT_ROOT / "tests"
for _folder in (TESTS, TESTS / "amocrm"):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

import amocrm_checks  # noqa: E402  (tests/amocrm, on sys.path above)
import kpi_reference  # noqa: E402

ENTITIES = ("leads", "contacts", "companies", "events", "notes", "tasks")


def suite_conftest() -> Any:
    """tests/conftest.py as a module of its own name (for `example_inputs` / `write_inputs`)."""
    name = "chaos_suite_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class EntityRows:
    entity: str
    expected: int
    loaded: int
    missing: int
    duplicated: int
    unexpected: int  # ids amoCRM never had


@dataclass
class MartComparison:
    table: str
    compared: int  # values compared (rows x measure columns of the reference)
    mismatched: int
    detail: str = ""


@dataclass
class Verdict:
    rows: list[EntityRows]
    raw_values_error: str  # "" when every raw value equals the truth
    marts: list[MartComparison]
    serving_tables: int
    serving_rows_differing: int
    serving_error: str


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)


def entity_rows(warehouse: Path, truth: Any) -> list[EntityRows]:
    """Ids per entity: live and deleted rows the API has shown, against the raw tables."""
    out = []
    with _connect(warehouse) as con:
        for entity in ENTITIES:
            want = {str(i) for i in getattr(truth, entity)["id"]}
            try:
                counts = con.execute(f"select cast(id as varchar), count(*) from raw_amocrm.{entity} group by 1").fetchall()
            except duckdb.CatalogException:
                counts = []
            got = dict(counts)
            out.append(EntityRows(entity, len(want), sum(got.values()), len(want - got.keys()),
                                  sum(n - 1 for n in got.values()), len(got.keys() - want)))
    return out


def raw_values_error(data_dir: Path, truth: Any) -> str:
    """The first difference between the raw tables and the truth, value by value ("" if none)."""
    previous = os.environ.get("AMOCRM_KPI_DATA_DIR")
    os.environ["AMOCRM_KPI_DATA_DIR"] = str(data_dir)
    try:
        amocrm_checks.assert_matches_truth(truth, stale_links=True)
        return ""
    except duckdb.Error as exc:
        return str(exc).strip().splitlines()[0][:300]
    except AssertionError as exc:  # the failed assert's own line says what differs
        message = str(exc).strip()
        where = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith("amocrm_checks.py")][-1]
        return (f"{where.line}" + (f" ({message.splitlines()[0]})" if message else ""))[:300]
    finally:
        if previous is None:
            os.environ.pop("AMOCRM_KPI_DATA_DIR", None)
        else:
            os.environ["AMOCRM_KPI_DATA_DIR"] = previous


def extracted_at(warehouse: Path) -> float | None:
    """The marts' "now": the newest successful dlt load."""
    with _connect(warehouse) as con:
        try:
            value = con.execute("select epoch(max(inserted_at)) from raw_amocrm._dlt_loads where status = 0").fetchone()[0]
        except duckdb.CatalogException:
            return None
    return None if value is None else float(value)


def compare_marts(warehouse: Path, truth: Any, spend: list[dict], targets: list[dict]) -> list[MartComparison]:
    """Every published KPI table of the reference against the mart, counting the differing values."""
    loaded_at = extracted_at(warehouse)
    reference = kpi_reference.KpiReference(truth, extracted_at=loaded_at or 0.0, spend=spend, targets=targets)
    out = []
    with _connect(warehouse) as con:
        for table, (method, key, _approx) in kpi_reference.MARTS.items():
            expected = getattr(reference, method)()
            compared = len(expected) * max(len(expected.columns) - len(key), 1)
            try:
                cursor = con.execute(f"select * from marts.{table}")
                columns = [d[0] for d in cursor.description]
                actual = pd.DataFrame(cursor.fetchall(), columns=columns, dtype=object)
                kpi_reference.assert_mart_matches(actual, reference, table)
                out.append(MartComparison(table, compared, 0))
            except duckdb.Error as exc:
                out.append(MartComparison(table, compared, compared, str(exc).splitlines()[0][:200]))
            except AssertionError as exc:
                text = str(exc)
                counted = re.match(r"(\d+) difference", text)
                mismatched = int(counted.group(1)) if counted else compared
                detail = text.splitlines()[1] if counted and len(text.splitlines()) > 1 else text.splitlines()[0]
                out.append(MartComparison(table, compared, mismatched, detail[:200]))
    return out


def compare_serving(warehouse: Path, serving: Path) -> tuple[int, int, str]:
    """(tables, rows differing, error): the serving copy holds exactly the marts, table by table."""
    if not serving.exists():
        return 0, 0, f"no serving copy at {serving}"
    with duckdb.connect() as con:
        con.execute(f"attach '{warehouse}' as w (read_only)")
        con.execute(f"attach '{serving}' as s (read_only)")
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'w' and table_schema = 'marts' "
            "and table_type = 'BASE TABLE' order by 1").fetchall()]
        differing = 0
        for table in tables:
            try:
                differing += con.execute(
                    f"select count(*) from ((select * from w.marts.{table} except all select * from s.marts.{table}) "
                    f"union all (select * from s.marts.{table} except all select * from w.marts.{table}))").fetchone()[0]
            except duckdb.Error as exc:
                return len(tables), differing, f"{table}: {str(exc).splitlines()[0][:200]}"
    return len(tables), differing, ""


def verify(data_dir: Path, truth: Any, spend: list[dict], targets: list[dict]) -> Verdict:
    warehouse = data_dir / "warehouse.duckdb"
    if not warehouse.exists():
        empty = [EntityRows(e, len(getattr(truth, e)), 0, len(getattr(truth, e)), 0, 0) for e in ENTITIES]
        return Verdict(empty, "no warehouse", [], 0, 0, "no warehouse")
    tables, differing, serving_error = compare_serving(warehouse, data_dir / "serving" / "amocrm_kpi.duckdb")
    return Verdict(entity_rows(warehouse, truth), raw_values_error(data_dir, truth),
                   compare_marts(warehouse, truth, spend, targets), tables, differing, serving_error)
