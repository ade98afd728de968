"""The read-only copy of the marts that BI tools open (see `pipelines.publish`).

It depends on every mart, so it is materialized only after dbt built them and
their blocking checks passed; a failed run leaves the last good copy in place.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs.recovery import RunGuard
from pipelines.defs.transform import DUCKDB_POOL, amocrm_dbt_models
from pipelines.publish import publish_marts

MARTS_KEYS = [key for key in amocrm_dbt_models.keys if key.path[0] == "marts"]


@dg.asset(
    key="serving_copy",
    group_name="publish",
    deps=MARTS_KEYS,
    pool=DUCKDB_POOL,
    kinds={"duckdb"},
    description="data/serving/amocrm_kpi.duckdb: schema `marts`, replaced atomically after each good run.",
)
def serving_copy(run_guard: RunGuard) -> dg.MaterializeResult:
    published = publish_marts()
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published.path)),
            "tables": dg.MetadataValue.json(published.tables),
            "dagster/row_count": sum(published.tables.values()),
        }
    )


defs = dg.Definitions(assets=[serving_copy])
