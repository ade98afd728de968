"""The Dagster code location: everything under pipelines/defs/, merged.

Lineage: amoCRM entity (ingest) -> staging -> intermediate -> marts -> serving
copy and report (publish). Load it with `dagster dev -m pipelines.definitions`
(`make ui`).
"""

import dagster as dg

from pipelines.defs import alerts, checks, ingest, publish, reconcile, recovery, report, schedules, transform

defs = dg.Definitions.merge(
    ingest.defs,
    transform.defs,
    checks.defs,
    publish.defs,
    report.defs,
    alerts.defs,
    recovery.defs,
    schedules.defs,
    reconcile.defs,
)
