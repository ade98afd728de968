"""The KPI report: one self-contained HTML page built from the published marts.

`build_report()` reads the serving copy, and writes `<data>/reports/kpi_report.html`
(the latest) plus a dated copy; `python -m pipelines.report` does the same from
the command line. Modules: `data` (headline, trend, loss and CAC queries), `funnels` and
`managers` (their sections' queries), `morning` (the morning-check sections, one module
each: query and view), `rows` (rows read by column name), `format` (ru/en numbers and
dates), `labels` (wording), `charts` (inline SVG), `tables` and `render` (views, HTML,
Markdown), `browser` (headless Chromium, for checks and screenshots).
"""

from pipelines.report.build import Report, build_report

__all__ = ["Report", "build_report"]
