"""Where the project keeps its files.

Everything generated (warehouse, serving copy, reports, alerts, OAuth tokens, logs)
lives under one data folder, `$AMOCRM_KPI_DATA_DIR`, so moving or wiping the
state of a deployment is one setting. Its default is `data/` for a configured
amoCRM account and `data/demo/` for the embedded simulator, so demo data and an
account's data never share a warehouse unless the user points both at one folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def data_dir() -> Path:
    """The data folder, created on first use."""
    path = data_dir_setting()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir_setting() -> Path:
    """The data folder's path, not created: `$AMOCRM_KPI_DATA_DIR`, else `data/demo/` when no amoCRM
    setting exists, else `data/`."""
    if os.environ.get("AMOCRM_KPI_DATA_DIR"):
        return Path(os.environ["AMOCRM_KPI_DATA_DIR"]).resolve()
    from pipelines.amocrm.settings import simulated_by_default  # late: pipelines.amocrm imports this module

    return (PROJECT_ROOT / "data" / "demo" if simulated_by_default() else PROJECT_ROOT / "data").resolve()


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


DEFAULT_ACCOUNT = "default"  # the account of `[sources.amocrm]` itself (pipelines/amocrm/settings.py)


def account_dir(key: str = DEFAULT_ACCOUNT) -> Path:
    """One account's own files (token store, account marker): the data folder itself for the account
    `default` (today's paths), `<data>/accounts/<key>/` for a named one; created on first use."""
    if key == DEFAULT_ACCOUNT:
        return data_dir()
    path = data_dir() / "accounts" / key
    path.mkdir(parents=True, exist_ok=True)
    return path


def tokens_path(key: str = DEFAULT_ACCOUNT) -> Path:
    """Rotating OAuth2 token pair of account `key` (refresh tokens are single-use: see pipelines/amocrm/auth.py)."""
    return account_dir(key) / "amocrm_tokens.json"


def logs_dir() -> Path:
    """Full logs of `make demo` runs (the terminal gets a summary and the root cause)."""
    return data_dir() / "logs"
