"""Which accounts the serving copy holds back: their latest extraction loaded rows a blocking raw check failed.

Where the state comes from: the Dagster instance, read by the transform run's `serving_copy` step. Every
extraction of an account partition materializes `dlt_amocrm_extractions`, so the run of that partition's
latest materialization is the extraction whose rows the warehouse holds now; a blocking check of that run
that failed (`rows_never_shrink`, `matches_amocrm`, ...; its rows were loaded before the check ran) holds
the account back until a later extraction of it passes. Chosen over a warehouse table written by the check:
the checks only read the warehouse, the state is the one the UI shows for the partition, and a good
extraction clears it with no cleanup step. An extraction without a partition (`amocrm_daily`, one account)
that is newer supersedes: that job publishes only after its own blocking checks passed.

Held back is "until the account's next extraction passes its checks", not "until the data is repaired":
`rows_never_shrink` of the next run compares with the shrunk count and passes. The failed run's error
alert (and this step's warning) is what asks for the repair.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from pipelines import paths
from pipelines.defs.accounts import ACCOUNTS, describe_account

EXTRACTION_KEY = dg.AssetKey("dlt_amocrm_extractions")  # materialized by every extraction, whatever the subset


@dataclass(frozen=True)
class HeldBack:
    key: str  # the account partition
    account_id: int
    run_id: str  # its latest extraction run, whose blocking checks failed
    failures: tuple[str, ...]  # "check on asset: description"

    def reason(self) -> str:
        return "; ".join(self.failures)


def held_back_accounts(instance: dg.DagsterInstance) -> list[HeldBack]:
    """The account partitions whose latest extraction failed a blocking raw check, by key."""
    latest_any = instance.fetch_materializations(EXTRACTION_KEY, limit=1).records
    unpartitioned_at = (latest_any[0].timestamp if latest_any and latest_any[0].partition_key is None else None)
    held = []
    for key in sorted(instance.get_dynamic_partitions(ACCOUNTS.name)):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=EXTRACTION_KEY, asset_partitions=[key]), limit=1).records
        if not records or (unpartitioned_at is not None and unpartitioned_at > records[0].timestamp):
            continue
        failures, account_id = _failed_blocking_checks(instance, records[0].run_id)
        if failures:
            metadata = records[0].asset_materialization.metadata
            account_id = account_id or getattr(metadata.get("account_id"), "value", None) or _held_account_id(key)
            held.append(HeldBack(key, int(account_id), records[0].run_id, tuple(failures)))
    return held


def _failed_blocking_checks(instance: dg.DagsterInstance, run_id: str) -> tuple[list[str], int | None]:
    """The failed blocking check evaluations of a run, described, and the account id they name."""
    failures, account_id = [], None
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.asset_check_evaluation_data
        if evaluation.passed or not evaluation.blocking:
            continue
        named = evaluation.metadata.get("account_id")
        account_id = account_id or (named.value if named is not None else None)
        failures.append(f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()}: "
                        f"{evaluation.description or 'failed'}")
    return failures, account_id


def _held_account_id(key: str) -> int:
    from pipelines.amocrm.origin import held_origin

    held = held_origin(paths.account_dir(key))
    if held is None:
        raise RuntimeError(f"account {key} failed a blocking raw check, yet no amoCRM account is recorded in its "
                           f"data folder, so its rows cannot be held back: re-run its extraction (partition {key}).")
    return held.account_id


def describe(held: HeldBack, kept: dict[str, int]) -> str:
    """What on-call reads: which account, why, what BI shows instead, what to do."""
    shown = (f"the serving copy keeps its previously published rows ({sum(kept.values())} rows in {len(kept)} tables)"
             if any(kept.values()) else
             "it had no rows in the previous serving copy, so nothing of it is published")
    return (f"{describe_account(held.key)} held back: its latest extraction (run {held.run_id}) loaded rows that "
            f"failed a blocking check ({held.reason()}); {shown}, while the other accounts are published fresh. "
            f"What to do: find and fix the cause in that run, then extract partition {held.key} again; the next "
            "extraction whose checks pass publishes it again.")
