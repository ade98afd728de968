"""dbt models as Dagster assets; every dbt test becomes an asset check.

Tests with severity `error` are blocking (a failure fails the run and nothing
downstream, the serving copy included, is published); `warn` tests only report.
dbt sources carry `meta.dagster.asset_key` pointing at the dlt assets, so the
lineage runs amoCRM entity -> staging -> marts without placeholder assets, and a
test on a source is a check on the dlt asset that writes the table.
"""


import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from pipelines import paths
from pipelines.defs.recovery import RunGuard

DUCKDB_POOL = "duckdb"
# dagster-dbt finds `dbt` on PATH; put this interpreter's (the venv's) first, so that an
# unactivated venv (`make demo`, CI, `.venv/bin/dagster dev`) still finds its own dbt.
_VENV_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _VENV_BIN:
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)


def _manifest_is_stale(project: DbtProject) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [p for d in ("models", "macros", "tests") for p in (project.project_dir / d).rglob("*") if p.is_file()]
    sources.append(project.project_dir / "dbt_project.yml")
    return any(p.stat().st_mtime > built for p in sources)


if _manifest_is_stale(dbt_project):
    # `dagster dev` would do this itself (prepare_if_dev); the demo, tests and a
    # plain `dagster-webserver` need the manifest too, and parsing takes seconds.
    os.environ.setdefault("AMOCRM_KPI_DATA_DIR", str(paths.data_dir()))
    dbt_project.preparer.prepare(dbt_project)


class KpiDbtTranslator(DagsterDbtTranslator):
    """Groups models by layer (the folder under models/)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        for layer in ("staging", "intermediate", "marts"):
            if layer in fqn:
                return layer
        return None


translator = KpiDbtTranslator(
    # Child tables (leads__tags, ...) are sources of their own that map to their parent's dlt asset.
    # Tests on sources are checks on the dlt assets that write them (not observations, see below).
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_duplicate_source_asset_keys=True, enable_source_tests_as_checks=True
    )
)

_TESTED_SOURCE = re.compile(r"source\(\s*'([^']+)'\s*,\s*'([^']+)'\s*\)")


def _attach_source_tests(manifest: dict) -> dict:
    """Name the source each source test checks, so dagster-dbt can make it a check on that dlt asset.

    dbt sets `attached_node` only for tests on models; on a source it stays empty. dagster-dbt then
    finds the tested table only when the test reads a single table, and `is_the_account_id` also
    reads `raw_amocrm.account`. Without an asset to attach to, dagster-dbt logs each result as an
    observation with a warning ("not included in Dagster's asset check selection"), once per table
    and run. The tested source is the one in the test's `model` argument.
    """
    sources = {(s["source_name"], s["name"]): uid for uid, s in manifest["sources"].items()}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or node.get("attached_node") or not node.get("test_metadata"):
            continue
        tested = _TESTED_SOURCE.search(str(node["test_metadata"].get("kwargs", {}).get("model", "")))
        if tested and tested.groups() in sources:
            node["attached_node"] = sources[tested.groups()]
    return manifest


MANIFEST = _attach_source_tests(json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8")))


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=DUCKDB_POOL,
)
def amocrm_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, run_guard: RunGuard):
    """`dbt build`: models and their tests, in dependency order.

    Row counts are read after dbt exits: while dbt runs it holds DuckDB's
    single-writer lock, so a concurrent count from this process would fail.
    """
    os.environ["AMOCRM_KPI_DATA_DIR"] = str(paths.data_dir())  # the profile reads the warehouse path from it
    invocation = dbt.cli(["build"], context=context, raise_on_error=False)
    events = list(invocation.stream())
    counts = _row_counts(context.op_execution_context.selected_asset_keys)
    for event in events:
        if isinstance(event, dg.Output):
            key = context.asset_key_for_output(event.output_name)
            if key in counts:
                event = dg.Output(
                    value=event.value,
                    output_name=event.output_name,
                    metadata={**event.metadata, "dagster/row_count": counts[key]},
                    data_version=event.data_version,
                    tags=event.tags,
                )
        yield event
    if not invocation.is_successful():
        raise invocation.get_error()


def _row_counts(keys) -> dict[dg.AssetKey, int]:
    """Row count per model; a model's key is [schema, name] (schemas are used verbatim, see macros/)."""
    counts = {}
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        existing = set(con.execute("select table_schema, table_name from information_schema.tables").fetchall())
        for key in keys:
            if len(key.path) == 2 and tuple(key.path) in existing:
                counts[key] = con.execute(f'select count(*) from "{key.path[0]}"."{key.path[1]}"').fetchone()[0]
    return counts


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(paths.DBT_PROJECT_DIR))


defs = dg.Definitions(assets=[amocrm_dbt_models], resources={"dbt": dbt_resource()})
