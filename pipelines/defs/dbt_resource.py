"""dagster-dbt's `DbtCliResource` without the two things it does before each dbt run that this project never uses.

1. `dbt --version` in a subprocess, to learn which dbt it starts (dbt Core or the Fusion engine): a whole dbt start
   (about 3.4 CPU s) that also asks PyPI for the latest release, so an offline run waits for that request to fail.
   The `dbt` we start is the one installed in this interpreter (`dbt_in_data_dir.sh` execs the venv's), so its
   version is the installed dbt-core's.
2. A dbt adapter in Dagster's own process (about 1.2 CPU s: it parses dbt's macros), used only by
   `fetch_row_counts()` / `fetch_column_metadata()`. The transform counts rows itself after dbt exits
   (transform._row_counts), and a second DuckDB connection while dbt runs would contend for the file lock.

Both hooks are private to dagster-dbt: `HOOKS` names them, and tests/defs/test_dbt_resource.py fails when an
upgrade renames them (the savings would silently stop) or when a run still starts `dbt --version`.
"""

from __future__ import annotations

from functools import cached_property
from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from packaging import version

HOOKS = ("_cli_version", "_initialize_dbt_core_adapter")


class KpiDbtCliResource(DbtCliResource):
    """`DbtCliResource` that knows its dbt's version and starts no adapter in Dagster's process."""

    @cached_property
    def _cli_version(self) -> version.Version:
        """The installed dbt-core's version: the dbt every run starts (no `dbt --version` process)."""
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001, ANN202 (dagster-dbt's signature)
        """No adapter: nothing here fetches row counts or column metadata through dbt (see the module)."""
        return None
