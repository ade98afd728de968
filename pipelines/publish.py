"""Publish the marts as a separate read-only DuckDB file for BI tools.

DuckDB allows one writing process *or* many readers per file, never both, so
dashboards must not open the warehouse the pipeline writes to. Instead each
successful run copies schema `marts` into a new file beside the serving copy
and renames it over the old one. The rename is atomic: a reader sees either
the previous complete copy or the new complete copy, a reader holding the old
file open keeps reading it undisturbed (it holds the old inode), and a failed
run never touches the last good copy.

Accounts held back (their latest extraction loaded rows a blocking raw check
failed, see `pipelines.defs.held_back`) keep their rows of the previous copy in
every published table, while the other accounts get the fresh ones; with no
previous copy (or no rows of the account in it) nothing of that account is
published. The PostgreSQL publication copies this file, so the same holds there.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
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
    held_back: dict[int, dict[str, int]] = field(default_factory=dict)  # account_id -> table -> previous rows kept

    def without_previous_rows(self) -> list[int]:
        """Held-back accounts of which nothing is published: the previous copy had no rows of theirs."""
        return sorted(account for account, kept in self.held_back.items() if not any(kept.values()))


def publish_marts(warehouse: Path | None = None, target: Path | None = None,
                  held_back: Collection[int] = ()) -> PublishedCopy:
    """Copy every table of `marts` from the warehouse into `target`, atomically; the accounts (`account_id`)
    in `held_back` keep their rows of the copy `target` replaces."""
    warehouse = warehouse or paths.warehouse_path()
    target = target or paths.serving_path()
    previous = target if target.exists() else None
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
            kept = _keep_previous_rows(serving, previous, sorted(set(held_back))) if held_back else {}
            tables = {name: serving.execute(f'select count(*) from {PUBLISHED_SCHEMA}."{name}"').fetchone()[0]
                      for name in tables}
            serving.execute("checkpoint")
        _fsync(staging)
        os.replace(staging, target)
        _fsync(target.parent)
    finally:
        staging.unlink(missing_ok=True)
        staging.with_name(staging.name + ".wal").unlink(missing_ok=True)
    return PublishedCopy(path=target, tables=tables, held_back=kept)


def _keep_previous_rows(serving: duckdb.DuckDBPyConnection, previous: Path | None,
                        accounts: list[int]) -> dict[int, dict[str, int]]:
    """Replace the `accounts`' fresh rows in every published table by their rows of the `previous` copy:
    {account_id: {table: rows kept}}. A column the previous copy lacks is null in the kept rows."""
    kept: dict[int, dict[str, int]] = {account: {} for account in accounts}
    if previous is not None:
        serving.execute(f"attach '{previous}' as previous (read_only)")
    old = _columns(serving, "previous") if previous is not None else {}
    listed = ", ".join("?" for _ in accounts)
    for name, columns in _columns(serving, None).items():
        if "account_id" not in columns:  # every mart is keyed by account (dbt tests it); refuse to guess
            raise RuntimeError(f"{PUBLISHED_SCHEMA}.{name} has no account_id column, so the rows of held-back "
                               f"accounts {accounts} cannot be kept out of it; the previous copy stays published")
        serving.execute(f'delete from {PUBLISHED_SCHEMA}."{name}" where account_id in ({listed})', accounts)
        if "account_id" not in old.get(name, []):
            continue
        select = ", ".join(f'"{c}"' if c in old[name] else "null" for c in columns)
        serving.execute(f'insert into {PUBLISHED_SCHEMA}."{name}" select {select} from previous.{PUBLISHED_SCHEMA}."{name}" '
                        f"where account_id in ({listed})", accounts)
        for account, rows in serving.execute(f'select account_id, count(*) from {PUBLISHED_SCHEMA}."{name}" '
                                             f"where account_id in ({listed}) group by all", accounts).fetchall():
            kept[account][name] = rows
    if previous is not None:
        serving.execute("detach previous")
    return kept


def _columns(serving: duckdb.DuckDBPyConnection, catalog: str | None) -> dict[str, list[str]]:
    """{table: its columns in order} of the published schema in `catalog` (None: the copy being written)."""
    catalog = catalog or serving.execute("select current_database()").fetchone()[0]
    rows = serving.execute(
        "select table_name, column_name from information_schema.columns where table_catalog = ? and table_schema = ? "
        "order by table_name, ordinal_position", [catalog, PUBLISHED_SCHEMA]).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


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
