"""Publish the marts as a separate read-only DuckDB file for BI tools.

DuckDB allows one writing process *or* many readers per file, never both, so
dashboards must not open the warehouse the pipeline writes to. Instead each
successful run copies schema `marts` into a new file beside the serving copy
and renames it over the old one. The rename is atomic: a reader sees either
the previous complete copy or the new complete copy, a reader holding the old
file open keeps reading it undisturbed (it holds the old inode), and a failed
run never touches the last good copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from pipelines import paths
from pipelines.runguard import remove_stale_temp_files, temp_name

PUBLISHED_SCHEMA = "marts"
SOURCE_META = "meta_source"  # not a dbt model: written here from the extraction's record
SLA_VAR = "amocrm_response_sla_minutes"  # published in meta_source as response_sla_minutes


@dataclass(frozen=True)
class PublishedCopy:
    path: Path
    tables: dict[str, int]  # table -> row count


def publish_marts(warehouse: Path | None = None, target: Path | None = None) -> PublishedCopy:
    """Copy every table of `marts` from the warehouse into `target`, atomically."""
    warehouse = warehouse or paths.warehouse_path()
    target = target or paths.serving_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(target)  # a publish killed midway leaves its temp copy; its pid tells it is dead
    staging = temp_name(target)
    staging.unlink(missing_ok=True)

    tables: dict[str, int] = {}
    try:
        with duckdb.connect(str(staging)) as serving:
            serving.execute(f"attach '{warehouse}' as warehouse (read_only)")
            names = [
                row[0]
                for row in serving.execute(
                    "select table_name from information_schema.tables "
                    "where table_catalog = 'warehouse' and table_schema = ? and table_type = 'BASE TABLE' "
                    "order by table_name",
                    [PUBLISHED_SCHEMA],
                ).fetchall()
            ]
            if not names:
                raise RuntimeError(f"the warehouse has no tables in schema {PUBLISHED_SCHEMA!r}; run dbt first")
            serving.execute(f"create schema {PUBLISHED_SCHEMA}")
            for name in names:
                serving.execute(
                    f'create table {PUBLISHED_SCHEMA}."{name}" as select * from warehouse.{PUBLISHED_SCHEMA}."{name}"'
                )
                tables[name] = serving.execute(f'select count(*) from {PUBLISHED_SCHEMA}."{name}"').fetchone()[0]
            tables.update(_publish_source_meta(serving))
            serving.execute("detach warehouse")
            serving.execute("checkpoint")
        _fsync(staging)
        os.replace(staging, target)
        _fsync(target.parent)
    finally:
        staging.unlink(missing_ok=True)
        staging.with_name(staging.name + ".wal").unlink(missing_ok=True)
    return PublishedCopy(path=target, tables=tables)


def _publish_source_meta(serving: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """`marts.meta_source`: which amoCRM account the copy comes from (id, subdomain, API host, simulated
    or not, when extracted), from `raw_amocrm.source_origin` (pipelines/amocrm/origin.py), and
    `response_sla_minutes`, the SLA the response KPIs were built with, so a reader sees the number."""
    present = serving.execute("select count(*) from information_schema.tables where table_catalog = 'warehouse' "
                              "and table_schema = 'raw_amocrm' and table_name = 'source_origin'").fetchone()[0]
    if not present:
        return {}
    serving.execute(f"create table {PUBLISHED_SCHEMA}.{SOURCE_META} as "
                    "select *, cast(? as integer) as response_sla_minutes from warehouse.raw_amocrm.source_origin",
                    [response_sla_minutes()])
    return {SOURCE_META: serving.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{SOURCE_META}").fetchone()[0]}


def response_sla_minutes(project_file: Path | None = None) -> int:
    """The dbt var `amocrm_response_sla_minutes` of the dbt project, as the pipeline's dbt build uses it."""
    project_file = project_file or paths.DBT_PROJECT_DIR / "dbt_project.yml"
    value = (yaml.safe_load(project_file.read_text(encoding="utf-8")).get("vars") or {}).get(SLA_VAR)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RuntimeError(f"dbt var {SLA_VAR} in {project_file} is {value!r}: set it to a whole number of "
                           "minutes (e.g. 15) under `vars:`")
    return value


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
