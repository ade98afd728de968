"""The Dagster code location: everything under pipelines/defs/, merged.

Lineage: amoCRM entity (ingest) -> staging -> intermediate -> marts -> serving
copy, report and, when configured, the PostgreSQL marts (publish). Load it with
`dagster dev -m pipelines.definitions` (`make ui`).
"""

import dagster as dg

from pipelines.defs import (accounts, alerts, checks, freshness, ingest, postgres, publish, reconcile, recovery, report,
                            schedules, transform)

defs = dg.Definitions.merge(
    accounts.defs,
    ingest.defs,
    transform.defs,
    checks.defs,
    freshness.defs,
    publish.defs,
    postgres.defs,
    report.defs,
    alerts.defs,
    recovery.defs,
    schedules.defs,
    reconcile.defs,
)
