"""One Dagster partition per configured amoCRM account, so each account is extracted (and fails) on its own.

The partitions are dynamic, kept in the Dagster instance: the configured keys are read when a run is
planned (the daily schedule, the `sync_account_partitions` sensor), not when the code location is
loaded, so adding an account to `.dlt/secrets.toml` needs no restart of the UI. The embedded default
(nothing configured) is the one partition `default`. An account removed from the settings keeps its
partition (and its history in the UI); extracting it fails with a message naming the configured keys.
"""

from __future__ import annotations

import dagster as dg

from pipelines import paths
from pipelines.amocrm import settings
from pipelines.amocrm.accounts import account_keys

ACCOUNTS = dg.DynamicPartitionsDefinition(name="amocrm_account")
PARTITION_TAG = "dagster/partition"


def configured_keys() -> list[str]:
    """The configured account keys (`default` first); settings are validated by the run itself."""
    return account_keys(settings.inspect())


def sync_partitions(instance: dg.DagsterInstance) -> list[str]:
    """Add a partition for every configured account not known yet; return the configured keys."""
    keys = configured_keys()
    known = set(instance.get_dynamic_partitions(ACCOUNTS.name))
    if missing := [key for key in keys if key not in known]:
        instance.add_dynamic_partitions(ACCOUNTS.name, missing)
    return keys


def run_account(run: dg.DagsterRun) -> str | None:
    """The account a run extracted (its partition), None for a run over no single account."""
    return run.tags.get(PARTITION_TAG)


def describe_account(key: str) -> str:
    """`account beta (amoCRM account 31000002 (beta), at beta.kommo.com)` for alerts; the origin part is
    left out when no run of that account ever reached amoCRM (the key alone still names it)."""
    try:
        from pipelines.amocrm.origin import held_origin

        held = held_origin(paths.account_dir(key))
    except Exception as exc:  # noqa: BLE001 - the alert must go out even when the marker is unreadable
        return f"account {key} (its amoCRM origin could not be read: {type(exc).__name__})"
    return f"account {key}" + (f" ({held.label()})" if held else " (never connected yet)")


@dg.sensor(
    name="sync_account_partitions",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition of amocrm_extract for each amoCRM account configured in the settings.",
)
def sync_account_partitions(context: dg.SensorEvaluationContext):
    keys = configured_keys()
    known = set(context.instance.get_dynamic_partitions(ACCOUNTS.name))
    missing = [key for key in keys if key not in known]
    if not missing:
        return dg.SkipReason(f"every configured account has its partition ({', '.join(keys)})")
    return dg.SensorResult(dynamic_partitions_requests=[ACCOUNTS.build_add_request(missing)])


defs = dg.Definitions(sensors=[sync_account_partitions])


def reconcile_scope(run: dg.DagsterRun):
    """What a reconciliation check of `run` compares: (amoCRM client, extra SQL filter, its parameters).
    A run of one partition compares that account's rows with that account's amoCRM; a run without one
    (`amocrm_daily`, one account) the whole warehouse with the configured account, as before."""
    key = run_account(run)
    if key is None:
        return None, "", []
    from pipelines.amocrm.accounts import account
    from pipelines.amocrm.connect import connect
    from pipelines.amocrm.origin import held_origin

    held = held_origin(paths.account_dir(key))
    if held is None:
        raise RuntimeError(f"account {key} has no amoCRM account recorded in the data folder, so its raw rows "
                           f"cannot be compared with amoCRM: run its extraction first (partition {key}).")
    chosen = account(key)
    return connect(**chosen.values, account_key=key), " and account_id = ?", [held.account_id]
