"""Python checks for what dbt tests cannot see: freshness, volume, reconciliation, schema drift.

| check | on | blocking | fails when |
|---|---|---|---|
| `rows_never_shrink` | merged raw tables | yes | a table has fewer rows than after the last accepted load (deletions are flags, so rows were lost) |
| `load_volume_normal` | every raw table | no | this load is far off the recent norm (10x the median, or nothing where there usually is plenty) |
| `data_fresh` | entities with a cursor | no | the newest `updated_at`/`created_at` is older than `AMOCRM_KPI_FRESHNESS_HOURS` (48) |
| `matches_amocrm` | leads | yes | a lead amoCRM shows as changed in the last days (at least since the last accepted check) is missing or older in the warehouse |
| `reference_counts_match_amocrm` | users, pipelines, statuses, loss reasons | yes | the warehouse and amoCRM disagree on how many there are |
| column schema change | every raw table | no | dlt's table schema changed since the previous load |

Warnings on the KPIs themselves (SLA share, open deals without a task) are in `kpi_checks.py`.

Blocking checks that fail stop the run before dbt and the serving copy, so BI
keeps the last good data and on-call gets the failure alert.

In a run of one account partition (`amocrm_extract_account`) every raw check looks at that account's rows
only (`account_id` of the partition's amoCRM account), compares with that partition's own earlier
materializations (the extraction writes the account's row count, not the table's), and its description
starts with the account. Its rows are in the warehouse already when a blocking check fails there: the
transform run then publishes the other accounts and keeps this account's previous serving rows
(`pipelines.defs.held_back`). A run without a partition (`amocrm_daily`, one account) checks whole tables.

Held back until repaired: `rows_never_shrink` compares with the account's last *accepted* extraction (none
of its blocking checks failed, or a person accepted it: `python -m pipelines.amocrm accept`), so a shrink
fails every run until the rows are back or accepted. `matches_amocrm` looks back at least to the window of
the last accepted extraction's check, so a missing lead keeps failing after it is RECONCILE_DAYS old.
`reference_counts_match_amocrm` compares with amoCRM itself at each run: it fails while the counts differ.
"""


import os
import statistics
import time
import warnings
from dataclasses import dataclass

import dagster as dg
import duckdb

from pipelines import paths
from pipelines.amocrm.accounts import the_account
from pipelines.amocrm.endpoints import CURSORS, MERGED_RESOURCES
from pipelines.amocrm.origin import held_origin
from pipelines.defs.accounts import reconcile_scope, run_account
from pipelines.defs.held_back import accept_command, is_accepted
from pipelines.defs.ingest import DLT_SPECS, RAW_DATASET, RAW_TABLE_BY_KEY
from pipelines.defs.kpi_checks import KPI_CHECKS
from pipelines.defs.transform import DUCKDB_POOL

RECONCILE_DAYS = 3


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(f"dlt_amocrm_{table}")


def _query(sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@dataclass(frozen=True)
class Scope:
    """What a raw check of a run looks at: one account partition's rows, or (no partition) whole tables."""

    partition: str | None = None
    account_id: int | None = None

    @property
    def where(self) -> str:
        return "" if self.account_id is None else " and account_id = ?"

    @property
    def params(self) -> list:
        return [] if self.account_id is None else [self.account_id]

    def named(self, text: str) -> str:
        """`text`, prefixed with the account when the run extracted one partition."""
        return text if self.partition is None else f"account {self.partition} (amoCRM account {self.account_id}): {text}"

    def metadata(self) -> dict:
        return {} if self.partition is None else {"account": self.partition, "account_id": self.account_id}


def run_scope(run: dg.DagsterRun) -> Scope:
    """The account a check of `run` judges: its partition's amoCRM account (held in the data folder since
    its first extraction), else the whole warehouse (`amocrm_daily`)."""
    key = run_account(run)
    if key is None:
        return Scope()
    held = held_origin(paths.account_dir(key))
    if held is None:
        raise RuntimeError(f"account {key} has no amoCRM account recorded in its data folder, so its raw rows "
                           f"cannot be told from other accounts' rows: run its extraction (partition {key}) first.")
    return Scope(key, held.account_id)


def _recent_values(instance: dg.DagsterInstance, key: dg.AssetKey, metadata_key: str, scope: Scope,
                   limit: int = 15) -> list[int]:
    """`metadata_key` of the latest materializations, newest first: the partition's own, and of those only
    the ones counted for its account (older ones counted the whole table, mixing accounts)."""
    records = instance.fetch_materializations(
        key if scope.partition is None else dg.AssetRecordsFilter(asset_key=key, asset_partitions=[scope.partition]),
        limit=limit).records
    values = []
    for record in records:
        metadata = record.asset_materialization.metadata
        if scope.partition is not None and getattr(metadata.get("account_id"), "value", None) != scope.account_id:
            continue
        value = metadata.get(metadata_key)
        if value is not None and isinstance(value.value, int):
            values.append(value.value)
    return values


def _row_counts_against_accepted(instance: dg.DagsterInstance, key: dg.AssetKey, scope: Scope,
                                 run_id: str) -> tuple[int | None, int | None, str | None]:
    """(this run's row count, the count of the last accepted extraction before it, that run's id): not the
    run before, whose rows may be the very ones held back (`pipelines.defs.held_back`)."""
    current, cursor, checked = None, None, {}
    records_filter = dg.AssetRecordsFilter(
        asset_key=key, asset_partitions=None if scope.partition is None else [scope.partition])
    while True:
        page = instance.fetch_materializations(records_filter, limit=20, cursor=cursor)
        for record in page.records:
            metadata = record.asset_materialization.metadata
            if scope.partition is not None and getattr(metadata.get("account_id"), "value", None) != scope.account_id:
                continue  # counted before counts were per account: not comparable
            value = getattr(metadata.get("dagster/row_count"), "value", None)
            if not isinstance(value, int):
                continue
            if record.run_id == run_id:
                current = value if current is None else current
                continue
            if record.run_id not in checked:
                checked[record.run_id] = is_accepted(instance, record.run_id)
            if checked[record.run_id]:
                return current, value, record.run_id
        if not page.has_more:
            return current, None, None
        cursor = page.cursor


def _rows_never_shrink(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=_key(table), name="rows_never_shrink", blocking=True, pool=DUCKDB_POOL,
                    description="Merged tables only grow: a deleted record is flagged, never removed. Compared "
                                "with the last accepted extraction (of the run's account, in a partition's run).")
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        scope = run_scope(context.run)
        current, previous, accepted_run = _row_counts_against_accepted(
            context.instance, _key(table), scope, context.run.run_id)
        passed = current is None or previous is None or current >= previous
        release = "" if passed else ("extract it again once they are back" if scope.partition else
                                     "run amocrm_daily again once they are back")
        return dg.AssetCheckResult(
            passed=passed,
            metadata={"rows": current, "rows_before": previous, "accepted_run": accepted_run, **scope.metadata()},
            description=None if passed else scope.named(
                f"{RAW_DATASET}.{table} shrank from {previous} to {current} rows since its last accepted "
                f"extraction (run {accepted_run}): rows were removed from the warehouse (amoCRM deletions are "
                "flags, never removed rows). Its rows are held back until a run has them all again: find what "
                f"removed them, load the account in full to bring them back and {release}; or accept the new "
                f"size: `{_accept(scope)}`."),
        )

    return check


def _load_volume_normal(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=_key(table), name="load_volume_normal", blocking=False,
                    description="Rows loaded this run compared with the median of recent runs (of the same account).")
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        scope = run_scope(context.run)
        loaded = _recent_values(context.instance, _key(table), "rows_loaded", scope)
        if len(loaded) < 4:
            return dg.AssetCheckResult(passed=True, metadata={"runs_seen": len(loaded), **scope.metadata()},
                                       description=scope.named("not enough history yet"))
        current, norm = loaded[0], statistics.median(loaded[1:])
        too_many = current > 10 * norm + 1000
        too_few = current == 0 and norm >= 100
        problem = "far more rows than usual" if too_many else "no rows where there usually are many" if too_few else None
        return dg.AssetCheckResult(
            passed=problem is None, severity=dg.AssetCheckSeverity.WARN,
            metadata={"rows_loaded": current, "recent_median": norm, **scope.metadata()},
            description=problem and scope.named(f"{table}: {problem} ({current} vs median {norm})"),
        )

    return check


def _data_fresh(table: str, cursor: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=_key(table), name="data_fresh", blocking=False, pool=DUCKDB_POOL,
                    description=f"The newest `{cursor}` in {RAW_DATASET}.{table} (of the run's account) is recent.")
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        scope = run_scope(context.run)
        limit_hours = float(os.environ.get("AMOCRM_KPI_FRESHNESS_HOURS", "48"))
        newest = _query(f"select max({cursor}) from {RAW_DATASET}.{table} where true{scope.where}", scope.params)[0][0]
        age_hours = None if newest is None else (time.time() - newest) / 3600
        passed = age_hours is not None and age_hours <= limit_hours
        return dg.AssetCheckResult(
            passed=passed, severity=dg.AssetCheckSeverity.WARN,
            metadata={"newest": newest, "age_hours": round(age_hours, 1) if age_hours is not None else None,
                      **scope.metadata()},
            description=None if passed else scope.named(
                f"{table}: newest {cursor} is " + (f"{age_hours:.0f} h old" if age_hours is not None else "missing")
                + f" (limit {limit_hours:g} h)"),
        )

    return check


@dg.asset_check(asset=_key("leads"), name="matches_amocrm", blocking=True, pool=DUCKDB_POOL,
                description=f"Every lead amoCRM reports as changed in the last {RECONCILE_DAYS} days "
                            "(up to the warehouse cursor) is in the warehouse with that version or newer.")
def leads_match_amocrm(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    from pipelines.amocrm.reconcile import changed_leads

    client, where, params = reconcile_scope(context.run)  # a partitioned run: its account only
    scope = run_scope(context.run)
    hi = _query(f"select max(updated_at) from {RAW_DATASET}.leads where true{where}", params)[0][0]
    if hi is None:
        return dg.AssetCheckResult(passed=True, metadata=scope.metadata(), description=scope.named("no leads loaded yet"))
    since = _reconciled_since(context.instance, scope, context.run.run_id)
    lo = min(hi - RECONCILE_DAYS * 86_400, since if since is not None else hi)
    warehouse = dict(_query(f"select id, updated_at from {RAW_DATASET}.leads where updated_at >= ?{where}",
                            [lo, *params]))
    in_amocrm = changed_leads(lo, hi, client)
    missing = sorted(i for i, updated in in_amocrm.items() if warehouse.get(i, -1) < updated)
    changed_since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(lo))
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={"checked": len(in_amocrm), "missing_or_stale": len(missing), "examples": missing[:20],
                  "window_from": lo, "window_to": hi, **scope.metadata()},
        description=None if not missing else scope.named(
            f"{len(missing)} leads changed in amoCRM since {changed_since} are missing or stale in the warehouse "
            f"(e.g. {missing[:5]}). The check looks back to its last accepted extraction until they are there: "
            f"load the account in full to bring them back, or accept its rows as they are: `{_accept(scope)}`."),
    )


def _accept(scope: Scope) -> str:
    """The command that accepts the run's account as it is (`amocrm_daily`: the one configured account)."""
    if scope.partition is not None:
        return accept_command(scope.partition)
    try:
        return accept_command(the_account().key)
    except Exception:  # noqa: BLE001 - the settings are the run's business; the text still says what to run
        return accept_command("KEY")


def _reconciled_since(instance: dg.DagsterInstance, scope: Scope, run_id: str) -> int | None:
    """Where the check starts at the latest: the window start of the last accepted extraction's check, so a lead
    missing in a held-back run stays in view until it arrives, not only for RECONCILE_DAYS; after a run a person
    accepted with leads missing, the end of that run's window (those leads were accepted)."""
    _, _, accepted = _row_counts_against_accepted(instance, _key("leads"), scope, run_id)
    for entry in instance.all_logs(accepted, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION) if accepted else ():
        evaluation = entry.dagster_event.asset_check_evaluation_data
        if evaluation.check_name == "matches_amocrm":
            return getattr(evaluation.metadata.get("window_from" if evaluation.passed else "window_to"), "value", None)
    return None


@dg.asset_check(asset=_key("users"), name="reference_counts_match_amocrm", blocking=True, pool=DUCKDB_POOL,
                additional_deps=[_key("pipelines"), _key("pipeline_statuses"), _key("loss_reasons")],
                description="Users, pipelines, statuses and loss reasons: same count in amoCRM and the warehouse.")
def reference_counts_match_amocrm(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    from pipelines.amocrm.reconcile import reference_counts

    client, where, params = reconcile_scope(context.run)  # a partitioned run: its account only
    scope = run_scope(context.run)
    source = reference_counts(client)
    warehouse = {table: _query(f"select count(*) from {RAW_DATASET}.{table} where true{where}", params)[0][0]
                 for table in source}
    differ = {t: {"amocrm": source[t], "warehouse": warehouse[t]} for t in source if source[t] != warehouse[t]}
    return dg.AssetCheckResult(
        passed=not differ,
        metadata={"amocrm": source, "warehouse": warehouse, **scope.metadata()},
        description=None if not differ else scope.named(f"counts differ: {differ}"),
    )


RAW_TABLES = sorted(RAW_TABLE_BY_KEY.values())
with warnings.catch_warnings():  # beta in Dagster, used on purpose: its own column-schema drift check
    warnings.simplefilter("ignore", dg.BetaWarning)
    SCHEMA_CHECKS = dg.build_column_schema_change_checks(assets=[spec.key for spec in DLT_SPECS])
CHECKS = [
    *(_rows_never_shrink(t) for t in RAW_TABLES if t in MERGED_RESOURCES),
    *(_load_volume_normal(t) for t in RAW_TABLES),
    *(_data_fresh(t, c) for t, c in CURSORS.items() if t in RAW_TABLES),
    leads_match_amocrm,
    reference_counts_match_amocrm,
    *SCHEMA_CHECKS,
    *KPI_CHECKS,
]

defs = dg.Definitions(asset_checks=CHECKS)
