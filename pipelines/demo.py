"""`make demo`: run the daily job once and show where the results are.

With no amoCRM credentials configured the job runs against the embedded
simulator, so a newcomer sees the whole pipeline work with one command. The
run is recorded in the project's Dagster instance (`.dagster_home/`), so
`make ui` shows it afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import duckdb

from pipelines import paths


def _dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(paths.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def kpi_summary(serving_db: Path) -> str:
    """Headline numbers of the last two months, read from the published copy like a BI tool would."""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        rows = con.execute(
            """
            select period_start, sum(deals_won), sum(revenue_won), sum(deals_lost), sum(leads_created)
            from marts.fct_sales_kpi
            where period_grain = 'month'
            group by period_start
            order by period_start desc
            limit 2
            """
        ).fetchall()
    lines = [f"{'month':<10} {'leads':>7} {'won':>6} {'lost':>6} {'win rate':>9} {'revenue':>16}"]
    for month, won, revenue, lost, created in rows:
        rate = f"{won / (won + lost):.0%}" if won + lost else "n/a"
        lines.append(f"{month:%Y-%m}    {created:>7} {won:>6} {lost:>6} {rate:>9} {revenue:>16,}")
    return "\n".join(lines)


def main() -> int:
    home = _dagster_home()
    import dagster as dg

    from pipelines.definitions import defs

    configured = bool(os.environ.get("SOURCES__AMOCRM__BASE_URL")) or (paths.PROJECT_ROOT / ".dlt" / "secrets.toml").exists()
    print("Running amocrm_daily on", "the configured amoCRM account" if configured else "the embedded amoCRM simulator", flush=True)
    result = defs.resolve_job_def("amocrm_daily").execute_in_process(
        instance=dg.DagsterInstance.get(),
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
    )
    if not result.success:
        failed = [event.step_key for event in result.all_events if event.is_step_failure]
        print(f"\nThe run failed (steps: {', '.join(failed) or 'see log'}). Details: make ui -> Runs.", file=sys.stderr)
        return 1

    warnings = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for evaluation in warnings:
        print(f"check warning: {evaluation.asset_key.to_user_string()} {evaluation.check_name}: {evaluation.description}")
    report = paths.reports_dir() / "kpi_report.html"
    print("\nKPI summary (all pipelines and managers):")
    print(kpi_summary(paths.serving_path()))
    print(
        "\nResults:\n"
        f"  warehouse (dlt + dbt, read-write): {paths.warehouse_path()}\n"
        f"  serving copy for BI (read-only):   {paths.serving_path()}\n"
        f"  HTML report:                       {report}\n"
        f"  Dagster run history:               {home}  (open it with: make ui)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
