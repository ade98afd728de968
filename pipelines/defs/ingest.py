"""amoCRM -> `raw_amocrm`: one Dagster asset per dlt resource, plus the user's CSV inputs.

The assets run the same phased extraction as `python -m pipelines.amocrm` (run.py::run_extraction):
the API and dlt's normalize hold no lock, so extraction runs of different accounts read amoCRM at
the same time, each within its own rate limit; the state sync and the load take turns on the
warehouse lock (`run_guard`). dagster-dlt's `DagsterDltResource.run` is one `pipeline.run()` and
cannot be split, so the asset metadata is made here with its `extract_resource_metadata`. Source
and pipeline are built again at run time, because the data folder (and so the warehouse path) is
read from the environment of the run, not of the process that loaded the definitions.
"""

from types import SimpleNamespace

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData

from pipelines import paths
from pipelines.amocrm import amocrm_source, make_pipeline
from pipelines.amocrm import accounts
from pipelines.amocrm.account_lock import AccountBusy
from pipelines.amocrm.client import amo_cause
from pipelines.amocrm.origin import held_origin
from pipelines.amocrm.run import Summary, run_extraction
from pipelines.amocrm.source import ExtractionStats
from pipelines.defs.accounts import ACCOUNTS
from pipelines.defs.recovery import RunGuard
from pipelines.defs.transform import DUCKDB_POOL
from pipelines.inputs import InputFileError, create_missing_tables, load_user_inputs

INGEST_GROUP = "ingest"
RAW_DATASET = "raw_amocrm"


class AmoDltTranslator(DagsterDltTranslator):
    """Keys `dlt_amocrm_<resource>`, group `ingest`, and no placeholder upstream assets."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            deps=[],
            group_name=INGEST_GROUP,
            description=f"amoCRM `{data.resource.name}` -> {RAW_DATASET}.{data.resource.name}"
            + (f": {spec.description}" if spec.description else ""),
        )


translator = AmoDltTranslator()
_SOURCE = amocrm_source()  # its resources, for the specs and dagster-dlt's metadata helper
DLT_SPECS = build_dlt_asset_specs(dlt_source=_SOURCE, dlt_pipeline=make_pipeline(), dagster_dlt_translator=translator)
RAW_TABLE_BY_KEY = {spec.key: spec.key.path[-1].removeprefix("dlt_amocrm_") for spec in DLT_SPECS}
EXTRACT_KEYS = frozenset(RAW_TABLE_BY_KEY)
EXTRACT_STEP = "amocrm_extract"  # the multi-asset's op, the one step of a run that extracts


@dg.multi_asset(
    name=EXTRACT_STEP,
    specs=DLT_SPECS,
    partitions_def=ACCOUNTS,  # one run per account: one account failing leaves the others' runs alone
    can_subset=True,
    # No pool: runs of different accounts extract at the same time. The warehouse writes take turns on
    # its lock (run_guard), and the raw checks after this step are in pool `duckdb`.
    # amoCRM hiccups (timeouts, 5xx bursts, a lock held by a reader) usually pass; the
    # client already retries single requests, this retries the whole extraction. Errors that
    # a retry cannot fix (config, auth, a 403 block, 429s past the budget) bypass it: see below.
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
)
def amocrm_extract(context: dg.AssetExecutionContext, dlt: DagsterDltResource, run_guard: RunGuard):
    """Incremental load of the selected amoCRM entities of one account, then deletions applied.

    A partitioned run extracts its partition's account; a run without one (`amocrm_daily`, `make demo`)
    the one configured account (several: refused, by name)."""
    stats = ExtractionStats()
    try:
        key = context.partition_key if context.has_partition_key else None
        chosen = accounts.the_account() if key is None else accounts.account(key)
        pipeline = make_pipeline(chosen.key)
        # run_extraction holds the account's own lock (pipelines.amocrm.account_lock): a second extraction of
        # one account fails at once, naming this run. The run queue keeps partition runs of one account apart.
        summary = run_extraction(account_key=chosen.key, pipeline=pipeline, stats=stats, holder=run_guard.holder,
                                 resources=[RAW_TABLE_BY_KEY[k] for k in context.selected_asset_keys]
                                 if context.is_subset else None,
                                 write_lock=lambda: run_guard.phase(context.log.info),
                                 drop_local=True)  # as dagster-dlt does: the state comes from the warehouse
        run_guard.keep(context.log.info)  # to the run's end: the row counts and the raw checks read under it
        account_id = None if key is None else _account_id(key)
        counts = _table_row_counts(pipeline, account_id)  # a partition's rows only: its checks compare these
    except Exception as exc:
        run_guard.let_go()  # a retry extracts without the lock, as the first attempt did
        if isinstance(exc, AccountBusy):  # another run extracts it now: run this one after it
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        final = amo_cause(exc)
        if final is not None and not final.retryable:  # a config mistake, rejected credentials, a block
            raise dg.Failure(description=f"amoCRM extraction failed, not retried: {final}", allow_retries=False,
                             metadata={"error": type(final).__name__}) from exc
        raise
    restored = summary.restored_records  # restored records known only from the trash, read by id
    if warning := restored.warning():
        context.log.warning(warning)
    for asset_key in context.selected_asset_keys:
        table = RAW_TABLE_BY_KEY[asset_key]
        metadata = {**_dlt_metadata(context, dlt, table, pipeline, summary), "dagster/row_count": counts.get(table, 0)}
        if account_id is not None:
            metadata["account_id"] = account_id
        if restored.fetched.get(table):
            metadata["restored_read_by_id"] = restored.fetched[table]
        if restored.missing.get(table):  # restored, yet amoCRM did not return them: stubs without data
            metadata["restored_missing_ids"] = restored.missing[table]
        if restored.merged_live.get(table):  # a merge event named them, yet amoCRM has them: kept live
            metadata["merged_yet_live_ids"] = restored.merged_live[table]
        if table in stats.new_fields:  # amoCRM sends fields the raw table does not keep: worth a look
            metadata["new_api_fields"] = sorted(stats.new_fields[table])
            context.log.warning(f"amoCRM sends {table} fields that are not loaded: {metadata['new_api_fields']}")
        yield dg.MaterializeResult(asset_key=asset_key, metadata=metadata)


def _account_id(key: str) -> int:
    """The amoCRM account id the partition `key` reached (recorded by the extraction that just ran)."""
    held = held_origin(paths.account_dir(key))
    if held is None:
        raise RuntimeError(f"account {key} was extracted, yet no amoCRM account is recorded in "
                           f"{paths.account_dir(key)}, so its raw checks cannot tell its rows: run it again; "
                           f"if it persists, the data folder is not writable or was changed during the run.")
    return held.account_id


def _dlt_metadata(context: dg.AssetExecutionContext, dlt: DagsterDltResource, table: str, pipeline,
                  summary: Summary) -> dict:
    """dagster-dlt's own metadata of one resource (load info, jobs, rows loaded, column schema). It reads
    the normalize counts from the pipeline's last trace, and dlt keeps one trace per phase: given here."""
    phased = SimpleNamespace(default_schema=pipeline.default_schema,
                             last_trace=SimpleNamespace(last_normalize_info=SimpleNamespace(row_counts=summary.rows)))
    return dict(dlt.extract_resource_metadata(context, _SOURCE.resources[table], summary.load_info, phased))


def _table_row_counts(pipeline, account_id: int | None = None) -> dict[str, int]:
    """Rows per raw table after the load (the volume checks compare these between runs): with `account_id`,
    that account's rows only, so one account's counts never mix with another's."""
    with pipeline.sql_client() as client:
        names = [row[0] for row in client.execute_sql(
            "select table_name from information_schema.tables where table_schema = %s", pipeline.dataset_name)]
        keyed = {row[0] for row in client.execute_sql(
            "select table_name from information_schema.columns where table_schema = %s and column_name = 'account_id'",
            pipeline.dataset_name)}
        counts = {}
        for name in names:
            own = account_id is not None and name in keyed
            sql = f"select count(*) from {client.make_qualified_table_name(name)}" + (" where account_id = %s" if own else "")
            counts[name] = client.execute_sql(sql, *([account_id] if own else []))[0][0]
        return counts


INPUTS_CHECK = "input_files_valid"


@dg.asset(
    key="user_inputs",
    group_name=INGEST_GROUP,
    pool=DUCKDB_POOL,
    kinds={"csv", "duckdb"},
    description="data/marketing_spend.csv and data/sales_targets.csv -> raw_inputs (missing or empty file = no rows).",
    check_specs=[dg.AssetCheckSpec(
        INPUTS_CHECK, asset="user_inputs", blocking=False,
        description="Both CSV files are valid; when not, the inputs loaded before stay and the run goes on.",
    )],
)
def user_inputs(context: dg.AssetExecutionContext, run_guard: RunGuard) -> dg.MaterializeResult:
    """Load the user's CSV files. A bad file must not hold back the KPIs built from amoCRM alone (all
    but CAC and plan attainment): the error fails this asset's check (ERROR severity, reported by the
    alert sensors and in the UI), the warehouse keeps the inputs loaded before, and the run goes on."""
    try:
        loaded = load_user_inputs()
    except InputFileError as error:
        context.log.error(f"user input not loaded, the previous inputs stay in use: {error}")
        create_missing_tables()
        return dg.MaterializeResult(
            metadata={"error": str(error), "inputs": "unchanged: the previously loaded files stay in use"},
            check_results=[dg.AssetCheckResult(
                check_name=INPUTS_CHECK, passed=False, severity=dg.AssetCheckSeverity.ERROR,
                description=f"{error}. Fix the file; until then CAC and plan attainment use the inputs loaded before.",
            )],
        )
    for warning in loaded.warnings:
        context.log.warning(warning)
    return dg.MaterializeResult(
        metadata={"rows": dg.MetadataValue.json(loaded.rows), "warnings": dg.MetadataValue.json(loaded.warnings)},
        check_results=[dg.AssetCheckResult(check_name=INPUTS_CHECK, passed=True)],
    )


defs = dg.Definitions(
    assets=[amocrm_extract, user_inputs],
    resources={"dlt": DagsterDltResource()},
)
