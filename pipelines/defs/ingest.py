"""amoCRM -> `raw_amocrm`: one Dagster asset per dlt resource, plus the user's CSV inputs.

The assets run the same dlt source as `python -m pipelines.amocrm`. Source and
pipeline are built again at run time, because the data folder (and so the
warehouse path) is read from the environment of the run, not of the process
that loaded the definitions.
"""


import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData

from pipelines.amocrm import amocrm_source, make_pipeline
from pipelines.amocrm.client import AmoAuthError, AmoError
from pipelines.amocrm.run import finish_load
from pipelines.amocrm.settings import SettingsError
from pipelines.amocrm.source import ExtractionStats
from pipelines.defs.transform import DUCKDB_POOL
from pipelines.inputs import load_user_inputs

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
DLT_SPECS = build_dlt_asset_specs(
    dlt_source=amocrm_source(), dlt_pipeline=make_pipeline(), dagster_dlt_translator=translator
)
RAW_TABLE_BY_KEY = {spec.key: spec.key.path[-1].removeprefix("dlt_amocrm_") for spec in DLT_SPECS}


@dg.multi_asset(
    name="amocrm_extract",
    specs=DLT_SPECS,
    can_subset=True,
    pool=DUCKDB_POOL,
    # amoCRM hiccups (timeouts, 5xx bursts, a lock held by a reader) usually pass; the
    # client already retries single requests, this retries the whole extraction.
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
)
def amocrm_extract(context: dg.AssetExecutionContext, dlt: DagsterDltResource):
    """Incremental load of the selected amoCRM entities, then deletions applied."""
    pipeline = make_pipeline()
    stats = ExtractionStats()
    try:
        events = list(dlt.run(context=context, dlt_source=amocrm_source(stats=stats), dlt_pipeline=pipeline,
                              dagster_dlt_translator=translator))
    except Exception as exc:
        mistake = _config_mistake(exc)
        if mistake is None:
            raise
        # a configuration mistake (settings, another account, a rejected token) will not pass on retry
        raise dg.Failure(description=str(mistake), allow_retries=False) from exc
    finish_load(pipeline)
    counts = _table_row_counts(pipeline)
    for event in events:
        table = RAW_TABLE_BY_KEY.get(event.asset_key)
        metadata = {**(event.metadata or {}), "dagster/row_count": counts.get(table, 0)}
        if table in stats.new_fields:  # amoCRM sends fields the raw table does not keep: worth a look
            metadata["new_api_fields"] = sorted(stats.new_fields[table])
            context.log.warning(f"amoCRM sends {table} fields that are not loaded: {metadata['new_api_fields']}")
        yield event._replace(metadata=metadata)


def _config_mistake(exc: BaseException | None) -> AmoError | None:
    """The settings or credentials error behind `exc` (dlt wraps it), if any: retrying cannot help."""
    while exc is not None:
        if isinstance(exc, (SettingsError, AmoAuthError)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _table_row_counts(pipeline) -> dict[str, int]:
    """Rows per raw table after the load (the volume checks compare these between runs)."""
    with pipeline.sql_client() as client:
        names = [row[0] for row in client.execute_sql(
            "select table_name from information_schema.tables where table_schema = %s", pipeline.dataset_name)]
        return {name: client.execute_sql(f"select count(*) from {client.make_qualified_table_name(name)}")[0][0]
                for name in names}


@dg.asset(
    key="user_inputs",
    group_name=INGEST_GROUP,
    pool=DUCKDB_POOL,
    kinds={"csv", "duckdb"},
    description="data/marketing_spend.csv and data/sales_targets.csv -> raw_inputs (missing file = no rows).",
)
def user_inputs() -> dg.MaterializeResult:
    loaded = load_user_inputs()
    return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.json(loaded)})


defs = dg.Definitions(
    assets=[amocrm_extract, user_inputs],
    resources={"dlt": DagsterDltResource()},
)
