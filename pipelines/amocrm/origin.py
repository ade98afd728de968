"""Which amoCRM account each configured account key holds, so one account's data and cursors never serve another.

An account key's incremental cursors (its own dlt pipeline) only make sense for
the amoCRM account it first read: pointed at another, the extractor would ask
for "changes since the last run" and skip the new account's whole history. So
the first extraction of a key writes its marker `amocrm_account.json` (account
id, subdomain, API host, simulated or not) in the key's folder
(`paths.account_dir`: the data folder itself for `default`, `<data>/accounts/<key>/`
otherwise) and every later one must connect to the same account, or it stops
before loading anything. Two keys may not hold one amoCRM account (its rows
would be loaded twice under one account_id). Folders from before the marker
existed are recognised by their `raw_amocrm.account` table.

`source_origin` (published as `marts.meta_source`) is rebuilt after each load
from the `extractions` table: one row per account, its latest extraction.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

import duckdb

from pipelines import paths
from pipelines.amocrm.settings import SettingsError

log = logging.getLogger(__name__)

MARKER = "amocrm_account.json"
TABLE = "source_origin"  # raw_amocrm.source_origin: each account's origin plus when it was last extracted
EXTRACTIONS = "extractions"  # raw_amocrm.extractions: one row per extraction run (source.py)


class AccountMismatch(SettingsError):
    """The data folder holds another account than the one configured (not retried: a decision is needed)."""


class DuplicateAccount(SettingsError):
    """Two account keys reach one amoCRM account (not retried: the configuration must change)."""


@dataclass(frozen=True)
class Origin:
    account_id: int
    subdomain: Optional[str]
    base_url_host: Optional[str]
    simulated: bool

    def label(self) -> str:
        kind = "the simulated demo account" if self.simulated else f"at {self.base_url_host or 'an unknown host'}"
        return f"amoCRM account {self.account_id} ({self.subdomain or 'no subdomain'}), {kind}"


def claim(account: dict[str, Any], base_url: str, simulated: bool, data_dir: Optional[Path] = None,
          key: str = paths.DEFAULT_ACCOUNT) -> Origin:
    """The account this run reads, checked against (or recorded as) the account key `key` holds."""
    data_dir = data_dir or paths.account_dir(key)
    current = Origin(int(account["id"]), account.get("subdomain"), urlparse(base_url).hostname, simulated)
    held = held_origin(data_dir)
    if held is None:
        _refuse_duplicate(current, key)
        write_marker(current, data_dir)
    elif key != paths.DEFAULT_ACCOUNT and (held.account_id, held.simulated) != (current.account_id, current.simulated):
        raise AccountMismatch(
            f"The account key '{key}' holds {held.label()}, but its settings now reach {current.label()}. "
            "Nothing was loaded (the old account's incremental cursors would skip the new account's history).\n"
            f"  to keep both: point [sources.amocrm.accounts.{key}] back at the old account and add the new one "
            "under a new key\n"
            f"  to start over with the new account under '{key}': delete {data_dir / MARKER} and "
            f"{paths.data_dir() / '.dlt' / ('amocrm_' + key)}, and delete the old account's rows "
            f"(account_id = {held.account_id}) from the raw_amocrm tables")
    elif (held.account_id, held.simulated) != (current.account_id, current.simulated):
        keep_both = ("run the demo without AMOCRM_KPI_DATA_DIR (its default folder is data/demo/)" if current.simulated
                     else "set AMOCRM_KPI_DATA_DIR to another folder for this account, e.g. AMOCRM_KPI_DATA_DIR="
                     f"{data_dir.parent / (current.subdomain or str(current.account_id))}")
        raise AccountMismatch(
            f"The data folder {data_dir} holds {held.label()}, but this run reads {current.label()}. "
            "One data folder holds one account, so nothing was loaded (the old account's incremental cursors "
            f"would skip the new account's history).\n  to keep both: {keep_both}\n"
            f"  to start over with the new account: delete {data_dir / 'warehouse.duckdb'}, {data_dir / '.dlt'}, "
            f"{data_dir / MARKER} and {data_dir / 'serving'} (CSV inputs may stay, if they fit the new account)")
    elif held.base_url_host is None or not (data_dir / MARKER).exists():
        write_marker(current, data_dir)  # a folder from before the marker (or that lost it): record it now
    return current


def _refuse_duplicate(current: Origin, key: str) -> None:
    """No two keys may hold one amoCRM account: its rows would be loaded twice, by two pipelines."""
    for other, held in held_origins().items():
        if other != key and held.account_id == current.account_id and held.simulated == current.simulated:
            raise DuplicateAccount(
                f"The account keys '{other}' and '{key}' both reach {current.label()}; nothing was loaded. "
                f"Remove one of them from the settings (each amoCRM account is configured once).")


def held_origins() -> dict[str, Origin]:
    """Every account key's marker in the data folder: {key: the account it holds}."""
    found = {}
    default = paths.data_dir() / MARKER
    if default.exists():
        found[paths.DEFAULT_ACCOUNT] = Origin(**json.loads(default.read_text(encoding="utf-8")))
    for marker in sorted((paths.data_dir() / "accounts").glob(f"*/{MARKER}")):
        found[marker.parent.name] = Origin(**json.loads(marker.read_text(encoding="utf-8")))
    return found


def held_origin(data_dir: Optional[Path] = None) -> Optional[Origin]:
    """The account a key's folder holds: the marker, else (the data folder of a warehouse from before
    markers and the `extractions` table) the warehouse's raw account table, else None."""
    data_dir = data_dir or paths.data_dir()
    marker = data_dir / MARKER
    if marker.exists():
        return Origin(**json.loads(marker.read_text(encoding="utf-8")))
    warehouse = data_dir / "warehouse.duckdb"
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                            "where table_schema = 'raw_amocrm'").fetchall()}
        if EXTRACTIONS in tables:  # the `default` key's latest run names its account (other keys: their own)
            row = con.execute(f"select account_id, subdomain, base_url_host, simulated from raw_amocrm.{EXTRACTIONS} "
                              "where account_key = 'default' order by _dlt_load_id desc limit 1").fetchone()
            return Origin(int(row[0]), row[1], row[2], bool(row[3])) if row else None
        row = con.execute("select id, subdomain from raw_amocrm.account limit 1").fetchone() if "account" in tables else None
    if row is None:
        return None
    return Origin(int(row[0]), row[1], None, simulated=(data_dir / "embedded_simulator.json").exists())


def write_marker(origin: Origin, data_dir: Path) -> None:
    tmp = data_dir / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(asdict(origin), indent=1), encoding="utf-8")
    tmp.replace(data_dir / MARKER)


def record(client: Any, dataset: str, data_dir: Optional[Path] = None) -> None:
    """`<dataset>.source_origin`: one row per account naming it and when it was last extracted (published
    as `marts.meta_source`, shown in the report header), from each account's latest `extractions` row
    (loaded in the same package as its data). Run after each load, with dlt's SQL client."""
    present = client.execute_sql("select count(*) from information_schema.tables where table_schema = %s "
                                 "and table_name = %s", dataset, EXTRACTIONS)[0][0]
    if present:
        client.execute_sql(
            f"create or replace table {dataset}.{TABLE} as select account_id, subdomain, base_url_host, simulated, "
            f"extracted_at from {dataset}.{EXTRACTIONS} "
            "qualify row_number() over (partition by account_id order by _dlt_load_id desc, extracted_at desc) = 1 "
            "order by account_id")
        return
    origin = held_origin(data_dir)
    if origin is None:  # nothing connected (no resource ran): nothing to name
        log.warning("no amoCRM account recorded in %s: %s.%s not written", data_dir or paths.data_dir(), dataset, TABLE)
        return
    client.execute_sql(
        f"create or replace table {dataset}.{TABLE} as select cast(%s as bigint) as account_id, "
        "cast(%s as varchar) as subdomain, cast(%s as varchar) as base_url_host, cast(%s as boolean) as simulated, "
        "to_timestamp(%s) as extracted_at",
        origin.account_id, origin.subdomain, origin.base_url_host, origin.simulated, time.time())
