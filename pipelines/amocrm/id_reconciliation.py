"""Periodic id reconciliation: records amoCRM no longer has are marked deleted ("disappearance").

A record can leave amoCRM without any trace the extraction reads: purged from
the trash, removed by support, or gone some way the API does not log. The
contract's third deletion signal covers it: scan every id of leads, contacts
and companies (ids only: no `with`, 250 a page, the extraction's keyset scan,
client, rate limit and retries), compare with the ids live in `raw_amocrm`, and
mark the live ids amoCRM did not list as deleted. A mark is a row of
`raw_amocrm.disappearances` (entity, id, when), one more deletion signal for
deletions.py, so the marts drop the record at the next dbt build and a later
change in amoCRM (a newer `updated_at`) makes it live again.

Each candidate is first asked for by id (restored.fetch; unless there are
more than `CONFIRM_FACTOR` times the limit, which are refused anyway): a row
the scan skipped is not marked. Then the guards. A rights-limited token, a partial scan
or a server hiccup would otherwise flag many live records at once, so an
entity is refused (nothing of it marked, the reason recorded and returned for
an alert) when its scan failed, came back empty, read fewer ids than the
`_total_items` amoCRM announced, or finds more missing than
`max(max_missing, max_missing_share x live ids)`; `accept=True` marks them
anyway, after a person checked them. An id marked before that amoCRM lists
again loses its mark (it was hidden, not gone).

Every run writes one row per entity to `raw_amocrm.reconciliations`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pipelines.amocrm import deletions, endpoints, restored
from pipelines.amocrm.client import AmoClient, AmoError, Page
from pipelines.amocrm.paging import Endpoint, FiltersIgnored, ScanCounters, fallback_scan, keyset_scan

log = logging.getLogger(__name__)

RECONCILIATIONS = "reconciliations"
DISAPPEARANCES = deletions.DISAPPEARANCES
TABLES = {table: entity for entity, table in deletions.ENTITIES.items()}  # raw table -> entity type
MAX_MISSING = 20  # refuse above max(MAX_MISSING, MAX_MISSING_SHARE x live ids) of one entity
MAX_MISSING_SHARE = 0.02
CONFIRM_FACTOR = 10  # candidates are asked for by id up to this many times the limit (beyond: refused as is)


def limits_from_env() -> tuple[int, float]:
    """(max_missing, max_missing_share): `AMOCRM_KPI_RECONCILE_MAX_MISSING` / `_MAX_MISSING_SHARE`."""
    try:
        count = int(os.environ.get("AMOCRM_KPI_RECONCILE_MAX_MISSING", MAX_MISSING))
        share = float(os.environ.get("AMOCRM_KPI_RECONCILE_MAX_MISSING_SHARE", MAX_MISSING_SHARE))
    except ValueError as exc:
        raise ValueError(f"AMOCRM_KPI_RECONCILE_MAX_MISSING(_SHARE) must be a number: {exc}") from None
    if count < 0 or not 0 <= share <= 1:
        raise ValueError("AMOCRM_KPI_RECONCILE_MAX_MISSING must be >= 0 and _MAX_MISSING_SHARE within 0..1")
    return count, share


@dataclass
class EntityResult:
    """What the reconciliation found and did for one raw table."""

    table: str
    scanned: int = 0  # distinct ids amoCRM listed
    live_in_raw: int = 0
    missing: list[int] = field(default_factory=list)  # live in raw, not listed, not returned by id either
    marked: int = 0
    reappeared: list[int] = field(default_factory=list)  # marked before, listed again: mark removed
    refused: str | None = None  # why nothing was marked


@dataclass
class Reconciliation:
    run_at: int
    results: list[EntityResult]
    accepted: bool = False

    @property
    def refused(self) -> list[EntityResult]:
        return [r for r in self.results if r.refused]

    def refusal(self) -> str | None:
        """The plain-words alert text when some entity was refused, else None."""
        if not self.refused:
            return None
        lines = [f"{r.table}: {r.refused}" for r in self.refused]
        return ("The id reconciliation marked nothing as deleted for " + ", ".join(r.table for r in self.refused)
                + ".\n" + "\n".join(lines))

    def format(self) -> str:
        lines = [f"{'entity':<12}{'scanned':>9}{'live in raw':>13}{'missing':>9}{'marked':>8}{'reappeared':>12}  note"]
        for r in self.results:
            note = f"REFUSED: {r.refused}" if r.refused else ("marked deleted (accepted)" if self.accepted and r.marked
                                                              else "")
            lines.append(f"{r.table:<12}{r.scanned:>9,}{r.live_in_raw:>13,}{len(r.missing):>9,}{r.marked:>8,}"
                         f"{len(r.reappeared):>12,}  {note}".rstrip())
        return "\n".join(lines)


def scan_ids(client: AmoClient, table: str, workers: int = 2) -> tuple[set[int], int | None]:
    """(every id amoCRM lists for `table`, the `_total_items` it announced for the whole list or None).
    The extraction's keyset scan from 0 (a record changed while it runs moves forward and is read
    again, never skipped); the full offset scan when the account ignores filters. Raises on any page
    that cannot be read."""
    path = endpoints.entity(table).lists[0][0]
    endpoint = Endpoint(path, table, "updated_at", lambda items, page: [item["id"] for item in items])
    counting = _TotalSeen(client)
    ids: set[int] = set()
    try:
        for rows in keyset_scan(counting, endpoint, 0, None, workers, ScanCounters()):
            ids.update(rows)
    except FiltersIgnored:
        log.warning("%s ignores filters: reading all of it by offset for the id reconciliation", path)
        for rows in fallback_scan(client, endpoint, 0, workers, ScanCounters(), order_desc=True):
            ids.update(rows)
    return ids, counting.total


class _TotalSeen:
    """The client, noting `_total_items` of the scan's first request (from 0, no upper bound: the whole list)."""

    def __init__(self, client: AmoClient):
        self._client, self.total = client, None

    def get_page(self, path: str, collection: str, params: dict[str, Any]) -> Page:
        page = self._client.get_page(path, collection, params)
        if (page.total is not None and params.get("filter[updated_at][from]") == 0
                and "filter[updated_at][to]" not in params and params.get("page", 1) == 1):
            self.total = page.total
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def reconcile(sql_client: Any, dataset: str, client: AmoClient, *, account_id: int, accept: bool = False,
              max_missing: int | None = None, max_missing_share: float | None = None,
              filters: Callable[[AmoClient], bool] = lambda client: True) -> Reconciliation:
    """Scan, compare, guard, mark (see the module docstring), record the run, apply deletions; for the
    rows of account `account_id`, the account `client` reads."""
    account_id = int(account_id)  # formatted into SQL
    env_count, env_share = limits_from_env()
    max_missing = env_count if max_missing is None else max_missing
    share = env_share if max_missing_share is None else max_missing_share
    run_at = int(time.time())
    present = _tables(sql_client, dataset)
    _ensure_tables(sql_client, dataset)
    results = []
    for table in TABLES:
        result = EntityResult(table)
        results.append(result)
        if table not in present:
            result.refused = f"raw_amocrm.{table} does not exist yet: run the extraction first"
            continue
        try:
            _reconcile_entity(sql_client, dataset, client, account_id, result, max_missing, share, accept, filters,
                              run_at)
        except AmoError as exc:
            result.refused = (f"the scan of {table} failed, so it is partial ({exc}); nothing was marked. "
                              "Run it again later; if it keeps failing, look at the error named here")
    _record(sql_client, dataset, account_id, run_at, results, accept)
    deletions.apply(sql_client, dataset, account_id)
    outcome = Reconciliation(run_at, results, accept)
    if message := outcome.refusal():
        log.warning(message)
    return outcome


def _reconcile_entity(sql_client: Any, dataset: str, client: AmoClient, account_id: int, result: EntityResult,
                      max_missing: int, share: float, accept: bool, filters: Callable[[AmoClient], bool],
                      run_at: int) -> None:
    table, entity = result.table, TABLES[result.table]
    live = {int(r[0]) for r in sql_client.execute_sql(
        f"SELECT id FROM {dataset}.{table} WHERE account_id = {account_id} AND is_deleted IS DISTINCT FROM true")}
    result.live_in_raw = len(live)
    scanned, total = scan_ids(client, table)
    result.scanned = len(scanned)
    result.reappeared = _unmark(sql_client, dataset, account_id, entity, scanned)
    candidates = sorted(live - scanned)
    limit = max(max_missing, int(share * result.live_in_raw))
    if candidates and (accept or len(candidates) <= CONFIRM_FACTOR * limit):
        # a row the scan skipped is not gone: ask for each by id (not for thousands hidden from a
        # rights-limited token: those are refused anyway)
        items, _, _ = restored.fetch(client, table, candidates, filters(client))
        found = {item["id"] for item in items}
        candidates = [i for i in candidates if i not in found]
    result.missing = candidates
    result.refused = _guard(result, total, limit, accept)
    if not result.refused and candidates:
        result.marked = _mark(sql_client, dataset, account_id, entity, table, candidates, run_at, accept)


def _guard(r: EntityResult, total: int | None, limit: int, accept: bool) -> str | None:
    """Why the marks of `r` must not be written, or None."""
    if r.scanned == 0 and r.live_in_raw:
        return (f"amoCRM listed no {r.table} at all while the warehouse holds {r.live_in_raw:,} live: an empty "
                "answer is taken for a failed scan, not for everything deleted. Check the token's rights and the "
                "account, then run the reconciliation again")
    if total is not None and r.scanned < total:
        return (f"amoCRM announced {total:,} {r.table} but the scan read {r.scanned:,}: the scan is partial. "
                "Run the reconciliation again later")
    if len(r.missing) > limit and not accept:
        sample = ", ".join(map(str, r.missing[:10])) + (", ..." if len(r.missing) > 10 else "")
        return (f"{len(r.missing):,} of {r.live_in_raw:,} live {r.table} are not in amoCRM (ids {sample}), more "
                f"than the limit of {limit:,}. That many usually means a token whose user may not see every "
                "record (rights limited to their own or their group's), not deletions. Check a few of these ids "
                "in amoCRM: if they are really gone, run again with --accept (Dagster: run config accept: true); "
                "if not, give the integration's user full read rights")
    return None


def _tables(sql_client: Any, dataset: str) -> set[str]:
    return {row[0] for row in sql_client.execute_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", dataset)}


def _ensure_tables(sql_client: Any, dataset: str) -> None:
    sql_client.execute_sql(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    sql_client.execute_sql(f"CREATE TABLE IF NOT EXISTS {dataset}.{DISAPPEARANCES} (account_id BIGINT NOT NULL, "
                           "entity_type VARCHAR NOT NULL, id BIGINT NOT NULL, missing_at BIGINT NOT NULL, run_at BIGINT NOT NULL, "
                           "accepted BOOLEAN NOT NULL)")
    sql_client.execute_sql(f"CREATE TABLE IF NOT EXISTS {dataset}.{RECONCILIATIONS} (account_id BIGINT NOT NULL, "
                           "run_at TIMESTAMP WITH TIME ZONE NOT NULL, entity VARCHAR NOT NULL, scanned BIGINT NOT NULL, live_in_raw BIGINT NOT NULL, "
                           "missing BIGINT NOT NULL, marked BIGINT NOT NULL, reappeared BIGINT NOT NULL, "
                           "accepted BOOLEAN NOT NULL, refused_reason VARCHAR)")


def _mark(sql_client: Any, dataset: str, account_id: int, entity: str, table: str, ids: list[int], run_at: int,
          accepted: bool) -> int:
    """One disappearance row per id; its time is the run's, or the row's `updated_at` if the clocks disagree
    (a deletion signal must not be older than the record's last change)."""
    id_list = ", ".join(map(str, ids))
    sql_client.execute_sql(
        f"INSERT INTO {dataset}.{DISAPPEARANCES} (account_id, entity_type, id, missing_at, run_at, accepted) "
        f"SELECT {account_id}, '{entity}', id, greatest({run_at}, coalesce(max(updated_at), 0)), {run_at}, {str(accepted).lower()} "
        f"FROM {dataset}.{table} WHERE account_id = {account_id} AND id IN ({id_list}) GROUP BY id")
    return len(ids)


def _unmark(sql_client: Any, dataset: str, account_id: int, entity: str, scanned: set[int]) -> list[int]:
    rows = sql_client.execute_sql(f"SELECT DISTINCT id FROM {dataset}.{DISAPPEARANCES} "
                                  "WHERE account_id = %s AND entity_type = %s", account_id, entity)
    back = sorted(int(r[0]) for r in rows if int(r[0]) in scanned)
    if back:
        sql_client.execute_sql(f"DELETE FROM {dataset}.{DISAPPEARANCES} WHERE account_id = {account_id} "
                               f"AND entity_type = '{entity}' "
                               f"AND id IN ({', '.join(map(str, back))})")
        log.warning("%ss marked missing before are listed by amoCRM again, live again: %s", entity, back)
    return back


def _record(sql_client: Any, dataset: str, account_id: int, run_at: int, results: list[EntityResult],
            accept: bool) -> None:
    for r in results:
        sql_client.execute_sql(
            f"INSERT INTO {dataset}.{RECONCILIATIONS} (account_id, run_at, entity, scanned, live_in_raw, missing, "
            "marked, reappeared, accepted, refused_reason) "
            "VALUES (%s, to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s)",
            account_id, run_at, r.table, r.scanned, r.live_in_raw, len(r.missing), r.marked, len(r.reappeared), accept, r.refused)


def run_reconciliation(base_url: str | None = None, access_token: str | None = None, *, accept: bool = False,
                       pipeline: Any = None, account_key: str | None = None, **settings: Any) -> Reconciliation:
    """Reconcile the configured account `account_key` (None: the one configured; several are refused, by
    name) with its rows in the warehouse's `raw_amocrm`, connecting as the extraction does
    (`base_url`/`access_token` None = dlt config, none at all = the embedded simulator). The caller holds
    the warehouse lock (Dagster's run guard, the CLI)."""
    from pipelines.amocrm import account_lock, accounts, connect, embedded, migrate, origin
    from pipelines.amocrm.run import CONNECTION, make_pipeline
    from pipelines.amocrm.source import fetch_account

    chosen = accounts.the_account() if account_key is None else accounts.account(account_key)
    # the account's own lock: an extraction of it meanwhile would send amoCRM twice its request rate
    with account_lock.holding(chosen.key, {"command": f"reconcile-ids --account {chosen.key}"},
                              doing="id reconciliation"):
        values = {**chosen.values,
                  **{k: v for k, v in {"base_url": base_url, "access_token": access_token, **settings}.items()
                     if k in CONNECTION and v is not None}}
        client = connect.connect(**values, account_key=chosen.key)
        account = fetch_account(client)
        origin.claim(account, client.base_url, embedded.is_embedded(client.base_url), key=chosen.key)  # the account held
        honoured = account.get("is_api_filter_enabled") is not False
        pipeline = pipeline or make_pipeline(chosen.key)
        migrate.prepare(pipeline)  # a warehouse from before account_id: its rows stamped before they are matched
        with pipeline.sql_client() as sql_client:
            return reconcile(sql_client, pipeline.dataset_name, client, account_id=account["id"], accept=accept,
                             filters=lambda _: honoured)
