"""Which amoCRM account a data folder holds, so one account's data and cursors never serve another.

A data folder holds one account. Its incremental cursors only make sense for
that account: pointed at another, the extractor would ask for "changes since
the demo's last run" and skip the new account's whole history. So the first
extraction writes `<data>/amocrm_account.json` (account id, subdomain, API host,
simulated or not) and every later one must connect to the same account, or it
stops before loading anything. Folders from before the marker existed are
recognised by their `raw_amocrm.account` table.
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
TABLE = "source_origin"  # raw_amocrm.source_origin: the origin plus when it was last extracted


class AccountMismatch(SettingsError):
    """The data folder holds another account than the one configured (not retried: a decision is needed)."""


@dataclass(frozen=True)
class Origin:
    account_id: int
    subdomain: Optional[str]
    base_url_host: Optional[str]
    simulated: bool

    def label(self) -> str:
        kind = "the simulated demo account" if self.simulated else f"at {self.base_url_host or 'an unknown host'}"
        return f"amoCRM account {self.account_id} ({self.subdomain or 'no subdomain'}), {kind}"


def claim(account: dict[str, Any], base_url: str, simulated: bool, data_dir: Optional[Path] = None) -> Origin:
    """The account this run reads, checked against (or recorded as) the account the data folder holds."""
    data_dir = data_dir or paths.data_dir()
    current = Origin(int(account["id"]), account.get("subdomain"), urlparse(base_url).hostname, simulated)
    held = held_origin(data_dir)
    if held is None:
        write_marker(current, data_dir)
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
    elif held.base_url_host is None:
        write_marker(current, data_dir)  # a folder from before the marker: record it now
    return current


def held_origin(data_dir: Optional[Path] = None) -> Optional[Origin]:
    """The account the folder holds: the marker, else the warehouse's raw account table, else None."""
    data_dir = data_dir or paths.data_dir()
    marker = data_dir / MARKER
    if marker.exists():
        return Origin(**json.loads(marker.read_text(encoding="utf-8")))
    warehouse = data_dir / "warehouse.duckdb"
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        has_table = con.execute("select count(*) from information_schema.tables "
                                "where table_schema = 'raw_amocrm' and table_name = 'account'").fetchone()[0]
        row = con.execute("select id, subdomain from raw_amocrm.account limit 1").fetchone() if has_table else None
    if row is None:
        return None
    return Origin(int(row[0]), row[1], None, simulated=(data_dir / "embedded_simulator.json").exists())


def write_marker(origin: Origin, data_dir: Path) -> None:
    tmp = data_dir / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(asdict(origin), indent=1), encoding="utf-8")
    tmp.replace(data_dir / MARKER)


def record(client: Any, dataset: str, data_dir: Optional[Path] = None) -> None:
    """`<dataset>.source_origin`: one row naming the account and when it was extracted (published as
    `marts.meta_source`, shown in the report header). Run after each load, with dlt's SQL client."""
    origin = held_origin(data_dir)
    if origin is None:  # nothing connected (no resource ran): nothing to name
        log.warning("no amoCRM account recorded in %s: %s.%s not written", data_dir or paths.data_dir(), dataset, TABLE)
        return
    client.execute_sql(
        f"create or replace table {dataset}.{TABLE} as select cast(%s as bigint) as account_id, "
        "cast(%s as varchar) as subdomain, cast(%s as varchar) as base_url_host, cast(%s as boolean) as simulated, "
        "to_timestamp(%s) as extracted_at",
        origin.account_id, origin.subdomain, origin.base_url_host, origin.simulated, time.time())
