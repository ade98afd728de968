"""`python -m pipelines.amocrm`: run the extraction with the dlt configuration.

    python -m pipelines.amocrm [--resources leads,events]   extract + load, progress per entity, summary
    python -m pipelines.amocrm authorize --code CODE         trade an authorization code for the first
                                                             OAuth2 token pair (or after losing it)
    python -m pipelines.amocrm reconcile-ids [--accept]      mark leads, contacts and companies amoCRM no
                                                             longer has as deleted (id_reconciliation.py)
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

from pipelines import paths
from pipelines.amocrm.accounts import the_account
from pipelines.amocrm.auth import exchange_code
from pipelines.amocrm.client import AmoError, amo_cause
from pipelines.amocrm.connect import configured_target
from pipelines.amocrm.run import run_extraction
from pipelines.amocrm.settings import SettingsError
from pipelines.amocrm.source import ExtractionStats

PROGRESS_SECONDS = 5.0


def _report_progress(stats: ExtractionStats, stop: threading.Event) -> None:
    started = time.monotonic()
    last: dict[str, int] = {}
    while not stop.wait(PROGRESS_SECONDS):
        current = {name: c.rows for name, c in list(stats.resources.items())}
        if current == last:
            continue
        last = current
        parts = ", ".join(f"{name} {rows:,}" for name, rows in current.items() if rows)
        print(f"[{time.monotonic() - started:6.0f}s] {stats.requests.requests:,} requests | {parts}", file=sys.stderr, flush=True)


def _extract(resources: list[str] | None) -> int:
    try:  # settings first: a mistake stops here, before the warehouse is touched
        target = configured_target()
    except SettingsError as exc:
        print(f"amoCRM extraction not started: {exc}", file=sys.stderr)
        return 2
    print(f"extracting {'the embedded amoCRM simulator (demo data)' if target is None else target} "
          f"into {paths.warehouse_path()}", file=sys.stderr, flush=True)
    stats = ExtractionStats()
    stop = threading.Event()
    reporter = threading.Thread(target=_report_progress, args=(stats, stop), daemon=True)
    reporter.start()
    try:
        summary = run_extraction(resources=resources, stats=stats)
    except AmoError as exc:
        print(f"amoCRM extraction failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # dlt wraps resource errors; show the amoCRM one if there is one
        cause = amo_cause(exc)
        print(f"amoCRM extraction failed: {cause or exc}", file=sys.stderr)
        return 1
    finally:
        stop.set()
    print(summary.format())
    return 0


def _authorize(code: str) -> int:
    try:
        account = the_account()
    except SettingsError as exc:
        print(f"authorization not started: {exc}", file=sys.stderr)
        return 2
    config = account.values
    missing = [k for k in ("base_url", "client_id", "client_secret", "redirect_uri") if not config.get(k)]
    if missing:
        print(f"set {account.section}.{', '.join(missing)} first (see .dlt/secrets.toml.example)", file=sys.stderr)
        return 2
    configured_refresh_token = config.get("refresh_token")  # superseded: never spent again
    try:
        moved = exchange_code(config["base_url"], config["client_id"], config["client_secret"],
                              config["redirect_uri"], code, paths.tokens_path(), configured_refresh_token)
    except AmoError as exc:
        print(f"authorization failed: {exc}", file=sys.stderr)
        return 1
    if moved:
        print(f"warning: the old token store could not be read; it was moved aside to {moved}", file=sys.stderr)
    print(f"token pair stored in {paths.tokens_path()}")
    return 0


def _reconcile(accept: bool) -> int:
    """Exit 0 when every entity was reconciled, 3 when one was refused (nothing of it marked), 1/2 on errors."""
    from pipelines.amocrm.id_reconciliation import run_reconciliation
    from pipelines.runguard import warehouse_lock

    try:
        target = configured_target()
    except SettingsError as exc:
        print(f"id reconciliation not started: {exc}", file=sys.stderr)
        return 2
    print(f"reconciling the ids of {'the embedded amoCRM simulator' if target is None else target} with "
          f"{paths.warehouse_path()}", file=sys.stderr, flush=True)
    try:
        with warehouse_lock({"command": "reconcile-ids"}, say=lambda m: print(m, file=sys.stderr, flush=True)):
            result = run_reconciliation(accept=accept)
    except (AmoError, ValueError) as exc:
        print(f"id reconciliation failed, nothing was marked: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        cause = amo_cause(exc)
        if cause is None:
            raise
        print(f"id reconciliation failed, nothing was marked: {cause}", file=sys.stderr)
        return 1
    print(result.format())
    if refusal := result.refusal():
        print(f"\n{refusal}", file=sys.stderr)
        return 3
    if any(r.marked for r in result.results):
        print("the marts drop the records marked deleted at the next dbt build (the daily run)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.amocrm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", help="comma-separated subset of resources (default: all)")
    sub = parser.add_subparsers(dest="command")
    authorize = sub.add_parser("authorize", help="exchange an OAuth2 authorization code for a token pair")
    authorize.add_argument("--code", required=True)
    reconcile = sub.add_parser("reconcile-ids", help="mark records amoCRM no longer has as deleted")
    reconcile.add_argument("--accept", action="store_true",
                           help="mark them even when more are missing than the safety limit (after checking)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "authorize":
        return _authorize(args.code)
    if args.command == "reconcile-ids":
        return _reconcile(args.accept)
    return _extract(args.resources.split(",") if args.resources else None)


if __name__ == "__main__":
    sys.exit(main())
