"""The HTML KPI report as a Dagster asset, built from the serving copy after each publish.

The materialization carries the headline as Markdown and as numbers, so the
Dagster UI shows the latest KPIs (and plots them across runs) without opening
the file.
"""

from __future__ import annotations

import dagster as dg

from pipelines.report import build_report


@dg.asset(
    key="kpi_report",
    group_name="publish",
    deps=["serving_copy"],
    kinds={"html"},
    description="data/reports/kpi_report.html (plus a dated copy): the self-contained KPI report for people.",
)
def kpi_report() -> dg.MaterializeResult:
    report = build_report()
    headline = {
        f"kpi/{tile.key}": dg.MetadataValue.float(float(tile.value)) for tile in report.headline if tile.value is not None
    }
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.path)),
            "dated_path": dg.MetadataValue.path(str(report.dated_path)),
            "url": dg.MetadataValue.url(report.path.as_uri()),
            "summary": dg.MetadataValue.md(report.summary),
            "month": dg.MetadataValue.text(f"{report.month:%Y-%m}"),
            **headline,
        }
    )


defs = dg.Definitions(assets=[kpi_report])
