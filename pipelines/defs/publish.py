"""The read-only copy of the marts that BI tools open (see `pipelines.publish`).

It depends on every mart, so it is materialized only after dbt built them and
their blocking checks passed; a failed run leaves the last good copy in place.
An account whose latest extraction failed a blocking raw check and was not accepted by a person
(`pipelines.defs.held_back`) keeps its previous rows in the copy; the check `every_account_published`
(WARN) then fails naming it and saying how to release it, so `alert_on_failed_checks` tells on-call,
and the run goes on for the other accounts.
"""


import dagster as dg

from pipelines.defs.held_back import describe, held_back_accounts
from pipelines.defs.recovery import RunGuard
from pipelines.defs.transform import DUCKDB_POOL, amocrm_dbt_models
from pipelines.publish import publish_marts

MARTS_KEYS = [key for key in amocrm_dbt_models.keys if key.path[0] == "marts"]
EVERY_ACCOUNT = "every_account_published"


@dg.asset(
    key="serving_copy",
    group_name="publish",
    deps=MARTS_KEYS,
    pool=DUCKDB_POOL,
    kinds={"duckdb"},
    description="data/serving/amocrm_kpi.duckdb: schema `marts`, replaced atomically after each good run.",
    check_specs=[dg.AssetCheckSpec(
        EVERY_ACCOUNT, asset="serving_copy", blocking=False,
        description="Every account's rows are fresh: none is held back at its previous rows because its latest "
                    "extraction failed a blocking raw check (until repaired, or accepted: "
                    "`python -m pipelines.amocrm accept`).")],
)
def serving_copy(context: dg.AssetExecutionContext, run_guard: RunGuard) -> dg.MaterializeResult:
    held = held_back_accounts(context.instance)
    published = publish_marts(held_back=[h.account_id for h in held])
    told = {h.key: describe(h, published.held_back.get(h.account_id, {})) for h in held}
    for text in told.values():
        context.log.warning(text)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published.path)),
            "tables": dg.MetadataValue.json(published.tables),
            "dagster/row_count": sum(published.tables.values()),
            "held_back_accounts": dg.MetadataValue.json(
                {h.key: {"account_id": h.account_id, "run_id": h.run_id, "failed_checks": list(h.failures),
                         "previous_rows_kept": published.held_back.get(h.account_id, {})} for h in held}),
        },
        check_results=[dg.AssetCheckResult(
            check_name=EVERY_ACCOUNT, passed=not held, severity=dg.AssetCheckSeverity.WARN,
            metadata={"held_back": sorted(told)},
            description=" ".join(told.values()) or None)],
    )


defs = dg.Definitions(assets=[serving_copy])
