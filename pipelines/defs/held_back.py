"""Which accounts the serving copy holds back, and how a person releases one.

An extraction run of an account is *accepted* when none of its blocking raw checks failed
(`rows_never_shrink`, `matches_amocrm`, ...) and every one the run planned was evaluated (a run that died
after loading, before its checks ran, proved nothing), or when a person accepted its rows (run tag
`amocrm_kpi/accepted`, set by `python -m pipelines.amocrm accept --account KEY --yes`). The serving
copy holds an account back while its latest extraction is not accepted, and the raw checks compare with
the account's last *accepted* extraction (`rows_never_shrink` with its row counts), not with the run
before: a shrink keeps failing, run after run, until the rows come back or a person accepts the new
size. Nothing is published that nobody decided on.

Where the state comes from: the Dagster instance. Every extraction of an account partition materializes
`dlt_amocrm_extractions`, so the run of that partition's latest materialization is the extraction whose
rows the warehouse holds now. Chosen over a warehouse table: the checks only read the warehouse, the
state is the one the UI shows for the partition (the tag is on the run), and a good extraction clears it
with no cleanup step. An extraction without a partition (`amocrm_daily`, one account) that is newer
supersedes: that job publishes only after its own blocking checks passed (it stops before dbt when one
fails, and its next run compares with the last accepted extraction too).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from pipelines import paths
from pipelines.defs.accounts import ACCOUNTS, describe_account

EXTRACTION_KEY = dg.AssetKey("dlt_amocrm_extractions")  # materialized by every extraction, whatever the subset
ACCEPTED_TAG = "amocrm_kpi/accepted"  # on an extraction run: a person accepted its rows (when, by whom)
# The blocking raw checks (pipelines/defs/checks.py; a test keeps the two in step). A planned event does not
# say whether its check blocks, so a planned check of these names that the run never evaluated counts as failed.
BLOCKING_RAW_CHECKS = frozenset({"rows_never_shrink", "matches_amocrm", "reference_counts_match_amocrm"})


@dataclass(frozen=True)
class HeldBack:
    key: str  # the account partition
    account_id: int
    run_id: str  # its latest extraction run, whose blocking checks failed
    failures: tuple[str, ...]  # "check on asset: description"

    def reason(self) -> str:
        return "; ".join(self.failures)


def accept_command(key: str) -> str:
    return f"python -m pipelines.amocrm accept --account {key} --yes"


def held_back_accounts(instance: dg.DagsterInstance) -> list[HeldBack]:
    """The account partitions whose latest extraction is not accepted, by key. A latest extraction without a
    partition is skipped: that job publishes only after its own blocking checks passed."""
    newest = _newest_extraction(instance)
    held = []
    for key in sorted(instance.get_dynamic_partitions(ACCOUNTS.name)):
        latest = _latest_extraction(instance, key, newest)
        if latest is None or latest.partition_key is None:
            continue
        if (account := _held(instance, key, latest)) is not None:
            held.append(account)
    return held


def latest_held_back(instance: dg.DagsterInstance, key: str) -> HeldBack | None:
    """The account's latest extraction (of its partition, or a newer one without a partition) when it is
    not accepted, else None; LookupError when the instance has no extraction of it."""
    latest = _latest_extraction(instance, key, _newest_extraction(instance))
    if latest is None:
        raise LookupError(f"this Dagster instance has no extraction of account {key}; known accounts: "
                          f"{', '.join(sorted(instance.get_dynamic_partitions(ACCOUNTS.name))) or 'none'}")
    return _held(instance, key, latest)


def _newest_extraction(instance: dg.DagsterInstance) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(EXTRACTION_KEY, limit=1).records
    return records[0] if records else None


def _latest_extraction(instance: dg.DagsterInstance, key: str,
                       newest: dg.EventLogRecord | None) -> dg.EventLogRecord | None:
    """The extraction whose rows the warehouse holds for account partition `key`: the partition's latest, or
    `newest` (the newest extraction of any partition) when it has no partition and is newer; None if neither."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=EXTRACTION_KEY, asset_partitions=[key]), limit=1).records
    unpartitioned = [newest] if newest is not None and newest.partition_key is None else []
    return max([*records, *unpartitioned], key=lambda record: record.timestamp, default=None)


def accept(instance: dg.DagsterInstance, held: HeldBack, by: str) -> str:
    """Accept the rows of the held-back run: the next transform publishes them, and the next extraction's
    checks compare with them. Returns the tag's value."""
    value = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by {by}"
    instance.add_run_tags(held.run_id, {ACCEPTED_TAG: value})
    return value


def is_accepted(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Rows of this extraction run may be published and compared with: no blocking check of it failed,
    or a person accepted them."""
    run = instance.get_run_by_id(run_id)
    return (run is not None and ACCEPTED_TAG in run.tags) or not failed_blocking_checks(instance, run_id)[0]


def _held(instance: dg.DagsterInstance, key: str, record: dg.EventLogRecord) -> HeldBack | None:
    run = instance.get_run_by_id(record.run_id)
    if run is not None and ACCEPTED_TAG in run.tags:
        return None
    failures, account_id = failed_blocking_checks(instance, record.run_id)
    if not failures:
        return None
    metadata = record.asset_materialization.metadata
    account_id = account_id or getattr(metadata.get("account_id"), "value", None) or _held_account_id(key)
    return HeldBack(key, int(account_id), record.run_id, tuple(failures))


def failed_blocking_checks(instance: dg.DagsterInstance, run_id: str) -> tuple[list[str], int | None]:
    """The failed blocking check evaluations of a run, described, and the account id they name; a
    blocking check the run planned but never evaluated counts as failed (the run died or stopped first)."""
    failures, account_id, planned, evaluated = [], None, [], set()
    kinds = {dg.DagsterEventType.ASSET_CHECK_EVALUATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED}
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            data = event.event_specific_data
            if data.check_name in BLOCKING_RAW_CHECKS:
                planned.append((data.asset_key, data.check_name))
            continue
        evaluation = event.asset_check_evaluation_data
        evaluated.add((evaluation.asset_key, evaluation.check_name))
        if evaluation.passed or not evaluation.blocking:
            continue
        named = evaluation.metadata.get("account_id")
        account_id = account_id or (named.value if named is not None else None)
        failures.append(f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()}: "
                        f"{evaluation.description or 'failed'}")
    unevaluated = [(key, name) for key, name in planned if (key, name) not in evaluated]
    if unevaluated:
        run = instance.get_run_by_id(run_id)
        status = run.status.value if run is not None else "unknown"
        when = ("has not been evaluated yet (the run is still going)" if run is not None and not run.is_finished
                else f"was never evaluated (the run ended {status} before it ran, so its rows proved nothing)")
        failures.extend(f"{name} on {key.to_user_string()}: {when}" for key, name in unevaluated)
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
            f"It stays held back, extraction after extraction (its checks compare with its last accepted "
            f"extraction), until one of them passes. What to do: find the cause in that run and repair it (rows "
            f"lost from the warehouse come back only with a full load of the account), then extract partition "
            f"{held.key} again; or, if its rows are right as they are, accept them: `{accept_command(held.key)}` "
            "(with this Dagster's DAGSTER_HOME), and the next transform publishes them.")
