"""`make demo` with several amoCRM accounts: one extraction run per account, then one transform run.

The same runs as the daily schedule: `amocrm_extract_account` for each account's partition (each in its
own process, up to `PARALLEL` at once, tagged as one batch), then `amocrm_transform`, all recorded in
the project's Dagster instance. An account whose extraction fails does not stop the others: the marts
are built from every account's data (the failed one keeps its last loaded data), and the caller names
the failed account, its cause and its log. Not for the CLI: `python -m pipelines.demo_batch` is the
child process of one account's extraction.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

PARALLEL = 4  # extraction processes at once: each account has its own rate limit, loads take turns


@dataclass
class Extraction:
    """What one account's extraction process reported (or why it reported nothing)."""

    key: str
    log_path: Path
    success: bool = False
    summary: str = ""
    causes: list[tuple[str, str]] | None = None  # (step, root cause) when it failed

    def cause(self) -> str:
        return "; ".join(f"step {step}: {why}" for step, why in self.causes or []) or "see its log"


def run_extractions(keys: list[str], batch: str, log_stem: Path, verbose: bool) -> list[Extraction]:
    """Every account's extraction run, each in a child process, at most `PARALLEL` at once."""
    def one(key: str) -> Extraction:
        log_path = log_stem.with_name(f"{log_stem.name}-{key}.log")
        result_path = log_stem.with_name(f"{log_stem.name}-{key}.result.json")
        command = [sys.executable, "-m", "pipelines.demo_batch", "--account", key, "--batch", batch,
                   "--accounts", ",".join(keys), "--log", str(log_path), "--result", str(result_path)]
        done = subprocess.run(command + (["--verbose"] if verbose else []), check=False)
        try:
            reported = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return Extraction(key, log_path, causes=[("process", f"the extraction process of account {key} ended "
                                                                 f"with exit code {done.returncode} without a result")])
        finally:
            result_path.unlink(missing_ok=True)
        return Extraction(key, log_path, reported["success"], reported["summary"],
                          [tuple(c) for c in reported["causes"]] if reported["causes"] else None)

    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(keys))) as pool:
        return list(pool.map(one, keys))


def extract_one(key: str, batch: str, keys: list[str], log_path: Path, result_path: Path, verbose: bool) -> int:
    """The child: run `amocrm_extract_account` for partition `key` in this process, write what happened."""
    import dagster as dg

    from pipelines import job_console
    from pipelines.definitions import defs
    from pipelines.defs.schedules import batch_tags

    job = defs.resolve_job_def("amocrm_extract_account")
    result = job_console.run_job(job, dg.DagsterInstance.get(), log_path, verbose, partition_key=key,
                                 tags=batch_tags(batch, keys, key), label=key)
    report: dict[str, Any] = {"success": result.success, "run_id": result.run_id,
                              "summary": job_console.summary(result, log_path),
                              "causes": None if result.success else job_console.causes(result)}
    result_path.write_text(json.dumps(report), encoding="utf-8")
    return 0 if result.success else 1


def transform(batch: str, failed: list[str], log_path: Path, verbose: bool):
    """One `amocrm_transform` run in this process, tagged with the batch (so the sensor does not build it again)."""
    import dagster as dg

    from pipelines import job_console
    from pipelines.definitions import defs
    from pipelines.defs.schedules import BATCH_TAG, FAILED_TAG

    tags = {BATCH_TAG: batch, FAILED_TAG: ",".join(failed) or "none"}
    return job_console.run_job(defs.resolve_job_def("amocrm_transform"), dg.DagsterInstance.get(), log_path,
                               verbose, tags=tags)


def new_batch() -> str:
    return f"demo/{time.strftime('%Y-%m-%dT%H:%M:%S')}"


def kpi_blocks(serving_db: Path, kpi_summary) -> list[str]:
    """One KPI summary block per account of the serving copy, headed by its name and currency."""
    import duckdb

    from pipelines.report.accounts import list_accounts

    with duckdb.connect(str(serving_db), read_only=True) as con:
        accounts = list_accounts(con)
    lines = []
    for info in accounts:
        lines.append(f"{info.label} (account {info.account_id}, {info.currency or 'currency unknown'}):")
        lines += [f"  {line}" for line in kpi_summary(serving_db, info.account_id).splitlines()]
    return lines


def run_several(chosen: list, log_path: Path, verbose: bool, results: str) -> int:
    """`make demo` over several accounts: extract each, build once, print per-account results; exit 1 when
    an account (or the build) failed, after telling which, why and where its log is."""
    import dagster as dg

    from pipelines import job_console, paths
    from pipelines.amocrm.origin import held_origin
    from pipelines.defs.accounts import sync_partitions
    from pipelines.demo import kpi_summary
    from pipelines.report.build import morning_lines

    keys = [account.key for account in chosen]
    stem = log_path.with_suffix("")
    print(f"Running amocrm_extract_account for each of {len(keys)} amoCRM accounts, then amocrm_transform:\n"
          + "".join(f"  {account.key}: the amoCRM account at {account.base_url}\n" for account in chosen)
          + f"  data folder: {paths.data_dir()}\n  full logs:   {stem}-<account>.log, {log_path}", flush=True)
    sync_partitions(dg.DagsterInstance.get())  # each account's partition, as the schedule makes them
    batch = new_batch()
    extractions = run_extractions(keys, batch, stem, verbose)
    for extraction in extractions:
        summary = extraction.summary.replace("\n", "\n    ") or "no run summary"
        print(f"  {extraction.key}: {summary}" + ("" if extraction.success else "\n    extraction FAILED"))
    failed = [extraction for extraction in extractions if not extraction.success]
    if len(failed) == len(extractions):
        print("\nNo account was extracted, so the marts were not rebuilt.", file=sys.stderr)
        _tell_failed(failed)
        return 1
    result = transform(batch, [extraction.key for extraction in failed], log_path, verbose)
    print(job_console.summary(result, log_path))
    if not result.success:
        print(job_console.failure(result, log_path), file=sys.stderr)
        _tell_failed(failed)
        return 1
    serving = paths.serving_path()
    print("\nKPI summary (all pipelines and managers), per account:")
    print("\n".join(kpi_blocks(serving, kpi_summary)))
    print("\nMorning checks (whole account), per account:")
    print("\n".join(f"  {line}" for line in morning_lines(serving)).replace("\u00a0", " "))
    held = [(key, held_origin(paths.account_dir(key))) for key in keys]
    print(f"\nResults (from {len(keys)} amoCRM accounts: "
          + "; ".join(f"{key}: {origin.label() if origin else 'not recorded yet'}" for key, origin in held)
          + "; table marts.dim_accounts lists them):\n" + results)
    _tell_failed(failed)
    return 1 if failed else 0


def _tell_failed(failed: list[Extraction]) -> None:
    """The failed accounts last, each with its cause and log: the others' results above are complete."""
    for extraction in failed:
        print(f"\nAccount {extraction.key} FAILED, its marts keep the data of its last successful extraction. "
              f"Full log: {extraction.log_path}\nFailed account {extraction.key}: {extraction.cause()}",
              file=sys.stderr)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines.demo_batch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--account", required=True, help="the account key (partition) to extract")
    parser.add_argument("--batch", required=True, help="the batch tag its run carries")
    parser.add_argument("--accounts", required=True, help="every account of the batch, comma-separated")
    parser.add_argument("--log", required=True, type=Path, help="the full log of this run")
    parser.add_argument("--result", required=True, type=Path, help="where to write what happened (JSON)")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    try:
        return extract_one(args.account, args.batch, args.accounts.split(","), args.log, args.result, args.verbose)
    except Exception as exc:  # before or around the run: the parent names it, the traceback goes to the log
        import traceback

        args.log.parent.mkdir(parents=True, exist_ok=True)
        with open(args.log, "a", encoding="utf-8") as log:
            traceback.print_exc(file=log)
        args.result.write_text(json.dumps({"success": False, "summary": "", "causes": [
            ("process", f"{type(exc).__name__}: {exc}")]}), encoding="utf-8")
        return 1


if __name__ == "__main__":
    sys.exit(main())
