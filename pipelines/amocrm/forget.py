"""`python -m pipelines.amocrm forget --account KEY`: take one account out of the warehouse for good.

An account removed from the settings (or added by mistake) keeps its rows in every raw table, in dbt's
incremental tables and in its dlt state, so it would stay in the marts. Forgetting it removes:

- every row of its `account_id`, in every table of the warehouse that has that column (raw, dlt's
  staging, intermediate, marts: the incremental ones are not rebuilt from raw);
- its dlt loads (`_dlt_loads`, dbt's ledger `intermediate.int_processed_loads`) and its pipeline's
  state (`_dlt_pipeline_state`), so adding it again later reads its whole history again;
- its local dlt pipeline folder (`<data>/.dlt/<pipeline>`) and its own files: `<data>/accounts/<key>/`
  (token store, account marker), or, for `default`, `amocrm_account.json` and `amocrm_tokens.json*`.

Without `--yes` it only says what it would remove. The account's extraction lock and the warehouse lock
are held while it works. The serving copy and the report drop the account at the next build and publish.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines import paths
from pipelines.amocrm import account_lock, accounts, origin, settings
from pipelines.amocrm.settings import DEFAULT_ACCOUNT

LEDGER = "intermediate.int_processed_loads"


class UnknownAccount(ValueError):
    """The key names no account of the settings, the warehouse or the data folder."""


@dataclass
class Plan:
    """What forgetting account `key` removes (or removed)."""

    key: str
    account_ids: list[int]
    rows: dict[str, int] = field(default_factory=dict)  # `schema.table` -> the account's rows there
    load_ids: list[str] = field(default_factory=list)
    state_rows: int = 0
    files: list[Path] = field(default_factory=list)
    still_configured: bool = False

    def format(self, done: bool) -> str:
        ids = ", ".join(str(i) for i in self.account_ids) or "none found"
        verb = "removed" if done else "would remove"
        lines = [f"account '{self.key}' (amoCRM account id {ids}, dlt pipeline {accounts.pipeline_name(self.key)}): {verb}"]
        lines += [f"  {table:<48}{count:>10,} rows" for table, count in sorted(self.rows.items()) if count]
        lines.append(f"  {'its dlt loads (_dlt_loads, dbt ledger)':<48}{len(self.load_ids):>10,}")
        lines.append(f"  {'its pipeline state rows (_dlt_pipeline_state)':<48}{self.state_rows:>10,}")
        lines += [f"  {path}" for path in self.files]
        if not any(self.rows.values()) and not self.load_ids and not self.state_rows and not self.files:
            lines.append("  nothing: the warehouse and the data folder hold nothing of it")
        if self.still_configured:
            lines.append(f"WARNING: account '{self.key}' is still configured ([{_section(self.key)}]): its next "
                         f"extraction loads its whole history again. Remove its settings to drop it for good.")
        if done:
            lines.append("The marts in the warehouse no longer have it; the serving copy and the report drop it at the "
                         "next run (make demo, the daily schedule). Rows naming it in marketing_spend.csv or "
                         "sales_targets.csv are refused from now on: remove them.")
        else:
            lines.append("Nothing was removed: run again with --yes to remove it.")
        return "\n".join(lines)


def known_accounts() -> dict[str, set[int]]:
    """{key: the amoCRM account ids it held} for every account the settings, the data folder's markers,
    the warehouse (`extractions`, `_dlt_pipeline_state`) or the local dlt folder know of."""
    known: dict[str, set[int]] = {key: set() for key in accounts.account_keys(settings.inspect())}
    for key, held in origin.held_origins().items():
        known.setdefault(key, set()).add(held.account_id)
    pipelines_dir = paths.data_dir() / ".dlt"
    if pipelines_dir.is_dir():
        for folder in pipelines_dir.iterdir():
            if folder.is_dir() and (folder.name == "amocrm" or folder.name.startswith("amocrm_")):
                known.setdefault(accounts.key_of_pipeline(folder.name), set())
    with _warehouse(read_only=True) as con:
        if con is not None:
            tables = _tables(con)
            if ("raw_amocrm", "extractions") in tables:
                for key, account_id in con.execute("select distinct account_key, account_id from raw_amocrm.extractions").fetchall():
                    known.setdefault(key, set()).add(int(account_id))
            if ("raw_amocrm", "_dlt_pipeline_state") in tables:
                for (name,) in con.execute("select distinct pipeline_name from raw_amocrm._dlt_pipeline_state").fetchall():
                    if name == "amocrm" or name.startswith("amocrm_"):
                        known.setdefault(accounts.key_of_pipeline(name), set())
            if DEFAULT_ACCOUNT in known and not known[DEFAULT_ACCOUNT] and ("raw_amocrm", "account") in tables:
                legacy = con.execute("select distinct account_id from raw_amocrm.account").fetchall()
                if len(legacy) == 1 and len(known) == 1:  # a warehouse from before markers, one account
                    known[DEFAULT_ACCOUNT].add(int(legacy[0][0]))
    return known


def plan(key: str) -> Plan:
    """What forgetting `key` removes; `UnknownAccount` (listing the known keys) for a key nobody knows."""
    known = known_accounts()
    if key not in known or not settings.ACCOUNT_KEY.fullmatch(key):  # never a path outside the data folder
        listed = ", ".join(f"{k} ({', '.join(map(str, sorted(ids))) or 'no account id yet'})"
                           for k, ids in sorted(known.items())) or "none"
        raise UnknownAccount(f"no account '{key}' is known here (data folder {paths.data_dir()}), so nothing was "
                             f"removed. Known accounts (key and amoCRM account id): {listed}.")
    ids = sorted(known[key])
    result = Plan(key, ids, still_configured=key in accounts.account_keys(settings.inspect()))
    with _warehouse(read_only=True) as con:
        if con is not None:
            result.rows, result.load_ids, result.state_rows = _rows(con, key, ids)
    result.files = [path for path in _files(key) if path.exists()]
    return result


def forget(key: str, say=print) -> Plan:
    """Remove account `key` (see the module docstring), holding its extraction lock and the warehouse lock."""
    from pipelines.runguard import warehouse_lock

    if not settings.ACCOUNT_KEY.fullmatch(key):  # before the key names any file
        plan(key)  # raises UnknownAccount, listing the known keys
    with account_lock.holding(key, {"command": f"forget --account {key}"}):
        with warehouse_lock({"command": f"forget --account {key}"}, say=say):
            removing = plan(key)
            with _warehouse(read_only=False) as con:
                if con is not None:
                    _delete(con, removing)
        for path in removing.files:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    return removing


def _rows(con: duckdb.DuckDBPyConnection, key: str, ids: list[int]) -> tuple[dict[str, int], list[str], int]:
    tables = _tables(con)
    rows: dict[str, int] = {}
    loads: set[str] = set()
    in_ids = ", ".join(str(int(i)) for i in ids)
    for schema, table in _account_tables(con):
        if not ids:
            break
        rows[f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}" where account_id in ({in_ids})').fetchone()[0]
        if schema == "raw_amocrm" and "_dlt_load_id" in _columns(con, schema, table):
            loads |= {r[0] for r in con.execute(f'select distinct _dlt_load_id from "{schema}"."{table}" '
                                                f'where account_id in ({in_ids})').fetchall()}
    state = 0
    if ("raw_amocrm", "_dlt_pipeline_state") in tables:
        state = con.execute("select count(*) from raw_amocrm._dlt_pipeline_state where pipeline_name = ?",
                            [accounts.pipeline_name(key)]).fetchone()[0]
    return rows, sorted(loads), state


def _delete(con: duckdb.DuckDBPyConnection, removing: Plan) -> None:
    """All in one transaction: a failure leaves the warehouse as it was."""
    tables = _tables(con)
    con.execute("begin transaction")
    try:
        for name in removing.rows:
            schema, table = name.split(".", 1)
            con.execute(f'delete from "{schema}"."{table}" where account_id in ({", ".join(map(str, removing.account_ids))})')
        if removing.load_ids:
            con.execute("create temp table forgotten_loads (load_id varchar)")
            con.executemany("insert into forgotten_loads values (?)", [[load_id] for load_id in removing.load_ids])
            if ("raw_amocrm", "_dlt_loads") in tables:
                con.execute("delete from raw_amocrm._dlt_loads where load_id in (select load_id from forgotten_loads)")
            if tuple(LEDGER.split(".")) in tables:
                con.execute(f"delete from {LEDGER} where load_id in (select load_id from forgotten_loads)")
            con.execute("drop table forgotten_loads")
        if ("raw_amocrm", "_dlt_pipeline_state") in tables:
            con.execute("delete from raw_amocrm._dlt_pipeline_state where pipeline_name = ?",
                        [accounts.pipeline_name(removing.key)])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _files(key: str) -> list[Path]:
    data = paths.data_dir()
    pipeline_dir = data / ".dlt" / accounts.pipeline_name(key)
    if key != DEFAULT_ACCOUNT:
        return [pipeline_dir, data / "accounts" / key]
    return [pipeline_dir, data / origin.MARKER, *sorted(data.glob("amocrm_tokens.json*"))]


def _section(key: str) -> str:
    return settings.SECTION if key == DEFAULT_ACCOUNT else f"{settings.ACCOUNTS_SECTION}.{key}"


def _tables(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    return {(s, t) for s, t in con.execute("select table_schema, table_name from information_schema.tables "
                                           "where table_type = 'BASE TABLE'").fetchall()}


def _account_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every base table of the warehouse with an `account_id` column, any schema."""
    return con.execute("select c.table_schema, c.table_name from information_schema.columns as c "
                       "inner join information_schema.tables as t using (table_schema, table_name) "
                       "where c.column_name = 'account_id' and t.table_type = 'BASE TABLE' "
                       "order by 1, 2").fetchall()


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {r[0] for r in con.execute("select column_name from information_schema.columns "
                                      "where table_schema = ? and table_name = ?", [schema, table]).fetchall()}


class _warehouse:
    """A connection to the warehouse, or None when there is none yet (nothing to remove from it)."""

    def __init__(self, read_only: bool):
        self.read_only = read_only
        self.con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> duckdb.DuckDBPyConnection | None:
        path = paths.warehouse_path()
        if path.exists():
            self.con = duckdb.connect(str(path), read_only=self.read_only)
        return self.con

    def __exit__(self, *exc) -> None:
        if self.con is not None:
            self.con.close()
