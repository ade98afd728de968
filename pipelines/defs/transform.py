"""dbt models as Dagster assets; every dbt test becomes an asset check.

Tests with severity `error` are blocking (a failure fails the run and nothing
downstream, the serving copy included, is published); `warn` tests only report.
dbt sources carry `meta.dagster.asset_key` pointing at the dlt assets, so the
lineage runs amoCRM entity -> staging -> marts without placeholder assets.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.utils import dagster_name_fn

from pipelines import paths

DUCKDB_POOL = "duckdb"

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
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_duplicate_source_asset_keys=True)
)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=DUCKDB_POOL,
)
def amocrm_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build`: models and their tests, in dependency order.

    Row counts are read after dbt exits: while dbt runs it holds DuckDB's
    single-writer lock, so a concurrent count from this process would fail.
    """
    os.environ["AMOCRM_KPI_DATA_DIR"] = str(paths.data_dir())  # the profile reads the warehouse path from it
    invocation = dbt.cli(["build"], context=context, raise_on_error=False)
    events = list(invocation.stream())
    counts = _row_counts(context)
    for event in events:
        if isinstance(event, dg.Output) and event.output_name in counts:
            event = dg.Output(
                value=event.value,
                output_name=event.output_name,
                metadata={**event.metadata, "dagster/row_count": counts[event.output_name]},
                data_version=event.data_version,
                tags=event.tags,
            )
        yield event
    if not invocation.is_successful():
        raise invocation.get_error()


def _row_counts(context: dg.AssetExecutionContext) -> dict[str, int]:
    """Row count per output name of the selected dbt models that exist as tables."""
    nodes = json.loads(Path(dbt_project.manifest_path).read_text())["nodes"]
    relation_by_output = {}
    for node in nodes.values():
        if node["resource_type"] in ("model", "snapshot", "seed"):
            relation_by_output[dagster_name_fn(node)] = (node["schema"], node.get("alias") or node["name"])
    counts = {}
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        existing = {tuple(r) for r in con.execute("select table_schema, table_name from information_schema.tables")}
        for output_name in context.selected_output_names:
            relation = relation_by_output.get(output_name)
            if relation in existing:
                counts[output_name] = con.execute(f'select count(*) from "{relation[0]}"."{relation[1]}"').fetchone()[0]
    return counts


def dbt_resource() -> DbtCliResource:
    # The dbt next to this interpreter, so a venv that is not activated still works.
    return DbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(paths.DBT_PROJECT_DIR),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )


defs = dg.Definitions(assets=[amocrm_dbt_models], resources={"dbt": dbt_resource()})
