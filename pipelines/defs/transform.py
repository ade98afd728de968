"""dbt models as Dagster assets; every dbt test becomes an asset check.

Tests with severity `error` are blocking (a failure fails the run and nothing
downstream, the serving copy included, is published); `warn` tests only report.
dbt sources carry `meta.dagster.asset_key` pointing at the dlt assets, so the
lineage runs amoCRM entity -> staging -> marts without placeholder assets, and a
test on a source is a check on the dlt asset that writes the table. Those checks (`is_the_account_id`)
run in the dbt build of the transform, not in the extraction runs (`SOURCE_TEST_CHECKS`, schedules.py).

dbt runs in the data folder with the profile's data folder given as "." (`DBT_IN_DATA_DIR`), so the
profile is the same for every data folder and each run reuses the parse prepared below (partial parsing)
instead of parsing the whole project again: dbt hashes the profile's warehouse path into its parse state.
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
from pipelines.dbt_daily_build import BUILD_ARGS  # the daily build's dbt command (the benchmark's too)
from pipelines.defs.broken_rules import broken_rules, is_folded_check
from pipelines.defs.dbt_resource import KpiDbtCliResource
from pipelines.defs.recovery import RunGuard

DUCKDB_POOL = "duckdb"
# dagster-dbt finds `dbt` on PATH; put this interpreter's (the venv's) first, so that an
# unactivated venv (`make demo`, CI, `.venv/bin/dagster dev`) still finds its own dbt.
_VENV_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _VENV_BIN:
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=paths.DBT_PROJECT_DIR, profiles_dir=paths.DBT_PROJECT_DIR)
DBT_IN_DATA_DIR = Path(__file__).with_name("dbt_in_data_dir.sh")  # the `dbt` every Dagster run starts
PROFILE_DATA_DIR = "."  # the data folder as dbt's profile reads it, in runs and in the prepared parse


def _manifest_is_stale(project: DbtProject) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [p for d in ("models", "macros", "tests") for p in (project.project_dir / d).rglob("*") if p.is_file()]
    sources += [project.project_dir / "dbt_project.yml", project.project_dir / "profiles.yml", DBT_IN_DATA_DIR]
    return any(p.stat().st_mtime > built for p in sources)


def _prepare(project: DbtProject) -> None:
    """Parse the project (manifest.json, partial_parse.msgpack) with the profile the runs use, so that
    dagster-dbt's copy of the parse into each run's target folder passes dbt's state check."""
    previous = os.environ.get("AMOCRM_KPI_DATA_DIR")
    os.environ["AMOCRM_KPI_DATA_DIR"] = PROFILE_DATA_DIR  # `dbt parse` opens no warehouse
    try:
        project.preparer.prepare(project)
    finally:
        if previous is None:
            del os.environ["AMOCRM_KPI_DATA_DIR"]
        else:
            os.environ["AMOCRM_KPI_DATA_DIR"] = previous


if _manifest_is_stale(dbt_project):
    # `dagster dev` would do this itself (prepare_if_dev); the demo, tests and a
    # plain `dagster-webserver` need the manifest too, and parsing takes seconds.
    _prepare(dbt_project)


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
    # Unit tests check the models' logic on fixed rows, not the data: the test suite runs them
    # (tests/dbt/test_dbt_unit_tests.py), the daily build does not (BUILD_ARGS).
    invocation = dbt.cli(list(BUILD_ARGS), context=context, raise_on_error=False)
    events = list(invocation.stream())
    counts = _row_counts(context.op_execution_context.selected_asset_keys)
    for event in events:
        failed = isinstance(event, dg.AssetCheckResult) and not event.passed
        if failed and (source_test := _SOURCE_TEST.match(event.check_name or "")):
            event = event._replace(description=_foreign_rows(source_test["table"]))
        elif failed and is_folded_check(event.check_name):  # a model's rules (warnings): say which ones broke
            event = event._replace(description=broken_rules(invocation.target_path, paths.warehouse_path(),
                                                            event.check_name))
        elif isinstance(event, dg.Output):
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


_SOURCE_TEST = re.compile(r"^source_is_the_account_id_raw_amocrm_(?P<table>\w+)_account_id$")

# dbt's source tests as Dagster checks: each on the dlt asset that writes the tested raw table. They run in
# the transform's `dbt build` (and `amocrm_daily`'s), never in an extraction run: they read every account's
# rows, and starting dbt there would hold the warehouse lock while the next account's load waits.
SOURCE_TEST_CHECKS = frozenset(key for key in amocrm_dbt_models.check_keys
                               if key.asset_key not in amocrm_dbt_models.keys)


def _foreign_rows(table: str) -> str:
    """What a failed `is_the_account_id` means, naming the account ids the rows carry: on-call finds their
    load from them (no loaded account owns them, so no one account can be held back for them)."""
    try:
        with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
            known = [row[0] for row in con.execute("select id from raw_amocrm.account order by id").fetchall()]
            found = con.execute(f'select account_id, count(*) from raw_amocrm."{table}" where account_id is null '
                                "or account_id not in (select id from raw_amocrm.account) group by 1 "
                                "order by 1 nulls first").fetchall()
    except duckdb.Error as error:
        found, known = [], [f"unknown: {error}"]
    named = ", ".join(f"{rows} with account_id {'null' if account_id is None else account_id}"
                      for account_id, rows in found) or "none any more"
    return (f"raw_amocrm.{table} holds rows of no loaded amoCRM account ({named}; the accounts loaded: "
            f"{', '.join(map(str, known)) or 'none'}). dbt built no model that reads this table, so nothing was "
            "published and every account keeps its last published data. What to do: find the run that loaded "
            "them (their `_dlt_load_id`), repair or delete those rows, then run amocrm_transform again.")


def dbt_resource() -> DbtCliResource:
    """dbt through `dbt_in_data_dir.sh` (see the module docstring: one parse for every data folder), without
    dagster-dbt's `dbt --version` process and adapter before each run (pipelines/defs/dbt_resource.py)."""
    return KpiDbtCliResource(project_dir=dbt_project, profiles_dir=str(paths.DBT_PROJECT_DIR),
                             dbt_executable=str(DBT_IN_DATA_DIR))


defs = dg.Definitions(assets=[amocrm_dbt_models], resources={"dbt": dbt_resource()})
