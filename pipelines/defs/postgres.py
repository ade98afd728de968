"""The marts published to PostgreSQL (`pipelines.postgres.publish`), for BI tools on other machines.

Present only when AMOCRM_KPI_PUBLISH_POSTGRES_URL is set: without it the project is exactly as before.
It follows the serving copy, so it runs only after dbt built every mart and the blocking checks passed;
a run stopped before it leaves the published version as it was.
"""

import dagster as dg

from pipelines.postgres.publish import publish_to_postgres
from pipelines.postgres.settings import publish_configured, publish_settings


@dg.asset(
    key="postgres_marts",
    group_name="publish",
    deps=["serving_copy"],
    kinds={"postgres"},
    description="The marts in PostgreSQL (schema AMOCRM_KPI_PUBLISH_POSTGRES_SCHEMA, default `marts`), readable "
                "by the read-only role; swapped in atomically after each good run.",
)
def postgres_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    settings = publish_settings()
    published = publish_to_postgres(settings)
    context.log.info(f"published {len(published.tables)} tables to PostgreSQL schema {published.schema} "
                     f"(load {published.load_seconds} s, swap {published.swap_seconds} s)")
    return dg.MaterializeResult(
        metadata={
            "schema": published.schema,
            "reader_role": settings.reader,
            "tables": dg.MetadataValue.json(published.tables),
            "dagster/row_count": sum(published.tables.values()),
            "load_seconds": published.load_seconds,
            "swap_seconds": published.swap_seconds,
        }
    )


defs = dg.Definitions(assets=[postgres_marts] if publish_configured() else [])
