"""The KPI report: one self-contained HTML page built from the published marts.

`build_report()` reads the serving copy, and writes `<data>/reports/kpi_report.html`
(the latest) plus a dated copy; `python -m pipelines.report` does the same from
the command line. Modules: `data` (queries), `format` (ru/en numbers and dates),
`labels` (wording), `charts` (inline SVG), `render` (views, HTML, Markdown),
`browser` (headless Chromium, for checks and screenshots).
"""

from pipelines.report.build import Report, build_report

__all__ = ["Report", "build_report"]
