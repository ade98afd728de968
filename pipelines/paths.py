"""Where the project keeps its files.

Everything generated (warehouse, serving copy, reports, alerts, OAuth tokens)
lives under one data folder, `$AMOCRM_KPI_DATA_DIR` (default `data/` in the
project), so moving or wiping the state of a deployment is one setting.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def data_dir() -> Path:
    """The data folder, created on first use."""
    path = Path(os.environ.get("AMOCRM_KPI_DATA_DIR") or PROJECT_ROOT / "data").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_path() -> Path:
    """The DuckDB file dlt loads into and dbt builds in (read-write, one writer)."""
    return data_dir() / "warehouse.duckdb"


def serving_path() -> Path:
    """The read-only copy of the marts that BI tools open."""
    return data_dir() / "serving" / "amocrm_kpi.duckdb"


def reports_dir() -> Path:
    return data_dir() / "reports"


def alerts_dir() -> Path:
    return data_dir() / "alerts"


def tokens_path() -> Path:
    """Rotating OAuth2 token pair (refresh tokens are single-use: see pipelines/amocrm/auth.py)."""
    return data_dir() / "amocrm_tokens.json"
