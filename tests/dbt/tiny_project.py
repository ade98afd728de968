"""A tiny dbt project of a test's own, for tests that watch how dbt behaves on a handful of models (a materialization,
the launcher's order) rather than what the real project computes: dbt_project.yml, a DuckDB profile whose warehouse is
in AMOCRM_KPI_DATA_DIR, one thread (so the log's order is dbt's), and copies of some of the real project's macros."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from tests.conftest import DBT_PROJECT_DIR

PROJECT = """name: {name}
version: "1.0.0"
config-version: 2
profile: {name}
macro-paths: ["macros"]
flags:
  send_anonymous_usage_stats: false
{extra}"""
PROFILES = """{name}:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{{{ env_var('AMOCRM_KPI_DATA_DIR') }}}}/warehouse.duckdb"
      threads: 1
"""


def write_tiny_project(root: Path, name: str, *, macros: Iterable[str] = (), extra: str = "") -> None:
    """Project `name` in `root` (with empty models/ and macros/ folders), the real project's `macros` (file names in
    dbt_project/macros) copied in, and `extra` (YAML lines, e.g. a `models:` block) at the end of dbt_project.yml."""
    (root / "models").mkdir(parents=True)
    (root / "macros").mkdir()
    for macro in macros:
        shutil.copy(DBT_PROJECT_DIR / "macros" / macro, root / "macros")
    (root / "dbt_project.yml").write_text(PROJECT.format(name=name, extra=extra))
    (root / "profiles.yml").write_text(PROFILES.format(name=name))
