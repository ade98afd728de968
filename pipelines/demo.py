"""`make demo` (`python -m pipelines.demo`): run the daily job once and show where the results are.

With no amoCRM setting at all, the job runs against the embedded simulator (its
data in `data/demo/`), so a newcomer sees the whole pipeline work with one
command; with an account configured, on that account (`data/`). The terminal
shows one line per step, a count of what was built and checked, and on a failure
the root cause; the full log goes to `<data>/logs/demo-<time>.log`. The run is
recorded in the project's Dagster instance (`.dagster_home/`), so `make ui`
shows it afterwards. With several accounts configured, each is extracted in its
own run, then the marts are built once (`pipelines.demo_batch`), as the daily
schedule does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

from pipelines import paths


def dagster_home() -> Path:
    """`$DAGSTER_HOME` (default `.dagster_home/`) with the project's instance configuration: `dagster.yaml`, or
    `dagster.postgres.yaml` when AMOCRM_KPI_DAGSTER_POSTGRES_URL is set (pipelines/postgres/instance.py)."""
    from pipelines.postgres.instance import install_instance

    return install_instance()


def kpi_summary(serving_db: Path, account_id: int | None = None) -> str:
    """Headline numbers of the last two months, read from the published copy like a BI tool would
    (of one account when `account_id` is given: money is never added across accounts)."""
    where = "and account_id = ?" if account_id is not None else ""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        rows = con.execute(
            f"""
            select period_start, sum(deals_won), sum(revenue_won), sum(deals_lost), sum(leads_created)
            from marts.fct_sales_kpi
            where period_grain = 'month' {where}
            group by period_start
            order by period_start desc
            limit 2
            """, [] if account_id is None else [account_id]
        ).fetchall()
    lines = [f"{'month':<10} {'leads':>7} {'won':>6} {'lost':>6} {'win rate':>9} {'revenue':>16}"]
    for month, won, revenue, lost, created in rows:
        rate = f"{won / (won + lost):.0%}" if won + lost else "n/a"
        lines.append(f"{month:%Y-%m}    {created:>7} {won:>6} {lost:>6} {rate:>9} {revenue:>16,}")
    return "\n".join(lines)


def results_lines(home: Path, publish) -> str:
    """Where the results are: warehouse, serving copy, PostgreSQL (when configured), report, run history."""
    from pipelines.postgres import settings as pg

    report = paths.reports_dir() / "kpi_report.html"
    return (f"  warehouse (dlt + dbt, read-write): {paths.warehouse_path()}\n"
            f"  serving copy for BI (read-only):   {paths.serving_path()}\n"
            + (f"  PostgreSQL for BI (read-only):     schema {publish.schema} at {pg.PUBLISH_URL}, role {publish.reader}\n"
               if publish else "")
            + f"  HTML report:                       {report}\n"
            f"  Dagster run history:               {home}  (open it with: make ui)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true",
                        help="print every Dagster event and dbt line, not just one line per step")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from pipelines.amocrm.accounts import configured_accounts
    from pipelines.amocrm.settings import SettingsError
    from pipelines.postgres import settings as pg
    from pipelines.postgres.instance import check_reachable

    try:  # a settings mistake stops here, before any run or file
        chosen = configured_accounts()
        target = chosen[0].base_url
        home = dagster_home()
        publish = pg.publish_settings() if pg.publish_configured() else None
        if publish:
            check_reachable(pg.PUBLISH_URL, publish.url)
    except (SettingsError, pg.PostgresSettingsError) as exc:
        print(f"Not started: {exc}", file=sys.stderr)
        return 2
    import dagster as dg

    from pipelines import job_console
    from pipelines.definitions import defs

    log_path = paths.logs_dir() / f"demo-{time.strftime('%Y%m%d-%H%M%S')}.log"
    if len(chosen) > 1:  # every account extracted in its own run, then one transform: as the schedule does
        from pipelines.demo_batch import run_several

        return run_several(chosen, log_path, args.verbose, results_lines(home, publish))
    account = ("the embedded amoCRM simulator (demo: simulated account)" if target is None
               else f"the amoCRM account at {target}")
    if target is None:
        from pipelines.amocrm import embedded

        note = embedded.outdated_note()
        if note:
            print(f"Note: {note}", file=sys.stderr, flush=True)
    print(f"Running amocrm_daily on {account}\n  data folder: {paths.data_dir()}\n  full log:    {log_path}",
          flush=True)
    result = job_console.run_job(defs.resolve_job_def("amocrm_daily"), dg.DagsterInstance.get(), log_path, args.verbose)
    print(job_console.summary(result, log_path))
    if not result.success:
        print(job_console.failure(result, log_path), file=sys.stderr)
        return 1

    from pipelines.amocrm.accounts import the_account
    from pipelines.amocrm.origin import held_origin
    from pipelines.report.build import morning_lines

    held = held_origin(paths.account_dir(the_account().key))  # one account: the job ran, so the_account() did
    print("\nKPI summary (all pipelines and managers):")
    print(kpi_summary(paths.serving_path()))
    print("\nMorning checks (whole account):")
    print("\n".join(f"  {line}" for line in morning_lines(paths.serving_path())).replace("\u00a0", " "))
    print(f"\nResults (from {held.label() if held else 'an unrecorded account'}; table marts.meta_source says so too):\n"
          + results_lines(home, publish))
    return 0


if __name__ == "__main__":
    sys.exit(main())
