"""`python -m pipelines.amocrm`: run the extraction with the dlt configuration.

    python -m pipelines.amocrm [--resources leads,events]   extract + load, progress per entity, summary
        [--account KEY | --all]                              one configured account, or each in turn (one
                                                             failing is named and the others still load)
    python -m pipelines.amocrm authorize --code CODE         trade an authorization code for the first
        [--account KEY]                                      OAuth2 token pair (or after losing it)
    python -m pipelines.amocrm reconcile-ids [--accept]      mark leads, contacts and companies amoCRM no
        [--account KEY]                                      longer has as deleted (id_reconciliation.py)
    python -m pipelines.amocrm forget --account KEY [--yes]  remove one account from the warehouse and the
                                                             data folder (forget.py); without --yes: only
                                                             say what would be removed
    python -m pipelines.amocrm accept --account KEY [--yes]  accept the rows of an account held back by a
                                                             failed blocking check (pipelines/defs/held_back.py);
                                                             without --yes: only say what would be accepted
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

from pipelines import paths
from pipelines.amocrm import accounts
from pipelines.amocrm.account_lock import AccountBusy
from pipelines.amocrm.accounts import AccountSettings, the_account
from pipelines.amocrm.auth import exchange_code
from pipelines.amocrm.client import AmoAuthError, AmoError, amo_cause
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


def _extract(resources: list[str] | None, key: str | None = None) -> int:
    """One account: `key`, else the one configured (several: refused, naming `--all`)."""
    try:  # settings first: a mistake stops here, before the warehouse is touched
        chosen = the_account() if key is None else accounts.account(key)
    except SettingsError as exc:
        print(f"amoCRM extraction not started: {exc}", file=sys.stderr)
        return 2
    return _extract_account(chosen, resources, named=key is not None)


def _extract_all(resources: list[str] | None) -> int:
    """Every configured account in turn, each through its own pipeline: one failing is reported by name
    and does not stop the others; the exit code is non-zero when any failed."""
    try:
        configured = accounts.configured_accounts()
    except SettingsError as exc:
        print(f"amoCRM extraction not started: {exc}", file=sys.stderr)
        return 2
    codes = {}
    for chosen in configured:
        print(f"--- account '{chosen.key}' ---", file=sys.stderr, flush=True)
        codes[chosen.key] = _extract_account(chosen, resources, named=True)
    failed = [key for key, code in codes.items() if code]
    loaded = [key for key, code in codes.items() if not code]
    print(f"accounts loaded: {', '.join(loaded) or 'none'}" + (f"; FAILED: {', '.join(failed)} (see above)" if failed else ""),
          file=sys.stderr)
    return max(codes.values(), default=0)


def _extract_account(chosen: AccountSettings, resources: list[str] | None, named: bool) -> int:
    target, who = chosen.base_url, f"account '{chosen.key}' " if named else ""
    print(f"extracting {who}{'the embedded amoCRM simulator (demo data)' if target is None else target} "
          f"into {paths.warehouse_path()}", file=sys.stderr, flush=True)
    stats = ExtractionStats()
    stop = threading.Event()
    reporter = threading.Thread(target=_report_progress, args=(stats, stop), daemon=True)
    reporter.start()
    try:
        summary = run_extraction(resources=resources, stats=stats, account_key=chosen.key if named else None)
    except AccountBusy as exc:
        print(f"amoCRM extraction of {who}not started: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # dlt wraps resource errors; show the amoCRM one if there is one
        cause = exc if isinstance(exc, AmoError) else amo_cause(exc)
        print(f"amoCRM extraction of {who}failed, nothing of this run was loaded for it: {cause or exc}", file=sys.stderr)
        if isinstance(cause, AmoAuthError) and chosen.key != accounts.DEFAULT_ACCOUNT:
            print(f"  re-authorise this account: python -m pipelines.amocrm authorize --code <code> "
                  f"--account {chosen.key}", file=sys.stderr)
        return 1
    finally:
        stop.set()
    print(summary.format())
    return 0


def _authorize(code: str, key: str | None = None) -> int:
    try:
        account = the_account() if key is None else accounts.account(key)
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
                              config["redirect_uri"], code, paths.tokens_path(account.key),
                              configured_refresh_token)
    except AmoError as exc:
        print(f"authorization failed: {exc}", file=sys.stderr)
        return 1
    if moved:
        print(f"warning: the old token store could not be read; it was moved aside to {moved}", file=sys.stderr)
    print(f"token pair of account '{account.key}' stored in {paths.tokens_path(account.key)}")
    return 0


def _reconcile(accept: bool, key: str | None = None) -> int:
    """Exit 0 when every entity was reconciled, 3 when one was refused (nothing of it marked), 1/2 on errors."""
    from pipelines.amocrm.id_reconciliation import run_reconciliation
    from pipelines.runguard import warehouse_lock

    try:
        target = configured_target() if key is None else accounts.account(key).base_url
    except SettingsError as exc:
        print(f"id reconciliation not started: {exc}", file=sys.stderr)
        return 2
    print(f"reconciling the ids of {'the embedded amoCRM simulator' if target is None else target} with "
          f"{paths.warehouse_path()}", file=sys.stderr, flush=True)
    try:
        with warehouse_lock({"command": "reconcile-ids"}, say=lambda m: print(m, file=sys.stderr, flush=True)):
            result = run_reconciliation(accept=accept, account_key=key)
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


def _forget(key: str, yes: bool) -> int:
    """Exit 0 when done (or only listed, without --yes), 2 for an unknown key, 1 when it could not run."""
    import duckdb

    from pipelines.amocrm import forget
    from pipelines.runguard import WarehouseBusy

    try:
        if yes:  # plans inside the locks: a run may be writing the warehouse now
            removing = forget.forget(key, say=lambda m: print(m, file=sys.stderr, flush=True))
        else:
            removing = forget.plan(key)
    except forget.UnknownAccount as exc:
        print(f"forget: {exc}", file=sys.stderr)
        return 2
    except (AccountBusy, WarehouseBusy, duckdb.Error) as exc:
        print(f"forget: nothing was removed: {exc}", file=sys.stderr)
        return 1
    print(removing.format(done=yes))
    return 0


def _accept(key: str, yes: bool) -> int:
    """Exit 0 when accepted (or only described, or nothing to accept), 2 without a Dagster instance or an
    extraction of the account in it."""
    import getpass

    import dagster as dg

    from pipelines.defs.held_back import accept, latest_held_back

    try:
        instance = dg.DagsterInstance.get()
    except Exception as exc:  # noqa: BLE001 - DAGSTER_HOME unset or wrong: say how to point at it
        print(f"accept: no Dagster instance ({exc}). Set DAGSTER_HOME to the folder the deployment's Dagster "
              "uses (e.g. DAGSTER_HOME=$(.venv/bin/python -m pipelines.postgres.instance)).", file=sys.stderr)
        return 2
    with instance:
        try:
            held = latest_held_back(instance, key)
        except LookupError as exc:
            print(f"accept: {exc} (DAGSTER_HOME is the deployment's Dagster folder?)", file=sys.stderr)
            return 2
        if held is None:
            print(f"account {key} is not held back: its latest extraction passed its blocking checks or was "
                  "accepted already; nothing to accept")
            return 0
        print(f"account {key}: its latest extraction, run {held.run_id}, failed blocking checks:")
        for failure in held.failures:
            print(f"  - {failure}")
        if not yes:
            print(f"to publish its rows as they are and compare its next extractions with them, run again with "
                  f"--yes: python -m pipelines.amocrm accept --account {key} --yes")
            return 0
        tagged = accept(instance, held, by=getpass.getuser())
        print(f"accepted ({tagged}, tag amocrm_kpi/accepted on run {held.run_id}): the next transform publishes "
              f"account {key} with these rows, and its next extractions' checks compare with them")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.amocrm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", help="comma-separated subset of resources (default: all)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--account", metavar="KEY", help="the configured account to extract ([sources.amocrm.accounts."
                       "KEY]; `default` = [sources.amocrm]); optional when one account is configured")
    which.add_argument("--all", action="store_true", help="extract every configured account, one after another")
    sub = parser.add_subparsers(dest="command")
    authorize = sub.add_parser("authorize", help="exchange an OAuth2 authorization code for a token pair")
    authorize.add_argument("--code", required=True)
    authorize.add_argument("--account", metavar="KEY", dest="authorize_account",
                           help="the account the code is for (optional when one account is configured)")
    reconcile = sub.add_parser("reconcile-ids", help="mark records amoCRM no longer has as deleted")
    reconcile.add_argument("--accept", action="store_true",
                           help="mark them even when more are missing than the safety limit (after checking)")
    reconcile.add_argument("--account", metavar="KEY", dest="reconcile_account",
                           help="the account to reconcile (optional when one account is configured)")
    forget = sub.add_parser("forget", help="remove one account's rows, loads, state and files (see forget.py)")
    forget.add_argument("--account", metavar="KEY", dest="forget_account",
                        help="the account key to remove (`default` = [sources.amocrm])")
    forget.add_argument("--yes", action="store_true", help="remove it; without: only list what would be removed")
    accepting = sub.add_parser("accept", help="publish an account held back by a failed blocking check as it is")
    accepting.add_argument("--account", metavar="KEY", dest="accept_account", help="the held-back account key")
    accepting.add_argument("--yes", action="store_true", help="accept; without: only say what would be accepted")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "authorize":
        return _authorize(args.code, args.authorize_account or args.account)
    if args.command == "forget":
        if not (args.forget_account or args.account):
            parser.error("forget needs --account KEY: the account to remove")
        return _forget(args.forget_account or args.account, args.yes)
    if args.command == "accept":
        if not (args.accept_account or args.account):
            parser.error("accept needs --account KEY: the held-back account")
        return _accept(args.accept_account or args.account, args.yes)
    if args.command == "reconcile-ids":
        return _reconcile(args.accept, args.reconcile_account or args.account)
    resources = args.resources.split(",") if args.resources else None
    return _extract_all(resources) if args.all else _extract(resources, args.account)


if __name__ == "__main__":
    sys.exit(main())
