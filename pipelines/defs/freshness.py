"""Which amoCRM account has not been extracted for too long, told to on-call by name.

Freshness policies are per asset, not per partition, so with several accounts they cannot tell which
account is behind: this sensor reads each account partition's last successful extraction from the
Dagster event log (not the warehouse, so it needs no lock) and alerts once when an account becomes stale,
again only after it was fresh in between.
"""

from __future__ import annotations

import json
import os
import time

import dagster as dg

from pipelines.alerting import Alert, send_alert
from pipelines.defs.accounts import ACCOUNTS, configured_keys, describe_account

EXTRACTION_KEY = dg.AssetKey("dlt_amocrm_extractions")  # materialized by every extraction, whatever the subset


def stale_after_hours() -> float:
    return float(os.environ.get("AMOCRM_KPI_FRESHNESS_HOURS", "48"))


def last_extractions(instance: dg.DagsterInstance) -> dict[str, float | None]:
    """{configured account key: when its last successful extraction ended (epoch s), None if never}."""
    known = set(instance.get_dynamic_partitions(ACCOUNTS.name))
    found: dict[str, float | None] = {}
    for key in configured_keys():
        records = [] if key not in known else instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=EXTRACTION_KEY, asset_partitions=[key]), limit=1).records
        found[key] = records[0].timestamp if records else None
    return found


def stale_accounts(instance: dg.DagsterInstance, now: float | None = None) -> dict[str, float]:
    """{account key: hours since its last successful extraction} for accounts older than the limit.
    An account never extracted is not counted: its first run is due at the next tick (and fails loudly)."""
    now, limit = time.time() if now is None else now, stale_after_hours()
    ages = {key: (now - at) / 3600 for key, at in last_extractions(instance).items() if at is not None}
    return {key: age for key, age in ages.items() if age > limit}


@dg.sensor(
    name="account_freshness",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts when an amoCRM account's last successful extraction is older than "
                "AMOCRM_KPI_FRESHNESS_HOURS (48), naming the account.",
)
def account_freshness(context: dg.SensorEvaluationContext):
    stale = stale_accounts(context.instance)
    told = set(json.loads(context.cursor)) if context.cursor else set()
    context.update_cursor(json.dumps(sorted(stale)))
    if new := sorted(set(stale) - told):
        base = os.environ.get("DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000").rstrip("/")
        send_alert(Alert(
            title=f"amocrm-kpi: no fresh amoCRM data for {', '.join(new)}", severity="warning",
            job="amocrm_extract_account", run_id="", run_url=f"{base}/assets/{EXTRACTION_KEY.to_user_string()}",
            failures=[{"account": describe_account(key),
                       "error": f"last successful extraction {stale[key]:.1f} h ago (limit {stale_after_hours():g} h): "
                                f"see its failed runs, fix the cause and materialize its partition"}
                      for key in new]))
    return dg.SkipReason(f"stale accounts: {', '.join(sorted(stale)) or 'none'}")


defs = dg.Definitions(sensors=[account_freshness])
