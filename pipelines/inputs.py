"""User inputs: the two tables a user keeps next to amoCRM, as CSV files in the data folder.

- `marketing_spend.csv`: month, channel, amount (spend per month and acquisition channel);
- `sales_targets.csv`: month, manager, target_revenue, target_deals (targets per manager and month;
  manager = amoCRM user id or exact user name).

Both may have an `account` column (the amoCRM account's subdomain or id) saying which account a row is
for; with one account in the warehouse it may be left out, with several it is required (spend is in
that account's currency, managers are that account's users).

`load_user_inputs()` validates both and writes them into the warehouse as
`raw_inputs.marketing_spend` / `raw_inputs.sales_targets`, which dbt reads as sources. Files as
Excel saves them are read: `,` or `;` between values, decimal commas and spaced thousands
(`input_values`), a byte-order mark. A missing file means "no spend" / "no targets"; an empty one
(0 bytes, or a header only) too, with a warning. A malformed file raises `InputFileError` naming the
file, the line, the column, the value and the expected form, and nothing is written: both files are
validated before one transaction replaces both tables, so the inputs loaded before stay as they were.
`data/README.md` describes the files for their users. `python -m pipelines.inputs` checks and loads
them by hand.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb

from pipelines import paths
from pipelines.input_values import parse_amount, parse_count, parse_month

SCHEMA = "raw_inputs"
SEPARATORS = (",", ";")


class InputFileError(ValueError):
    """A user input file that cannot be loaded: which file, which line (1 = the header), what is wrong."""

    def __init__(self, path: Path, line: int | None, problem: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class LoadedInputs:
    """What `load_user_inputs` wrote: rows per table, and warnings a person should see."""

    rows: dict[str, int]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Column:
    name: str
    sql_type: str
    parse: Callable[[str], Any]  # raises ValueError with a message for the user
    required: bool = True  # an empty cell is an error (else it loads as null)
    optional: bool = False  # the header may leave the column out (it loads as null)


@dataclass(frozen=True)
class _InputTable:
    file_name: str
    table: str
    columns: tuple[_Column, ...]
    key: tuple[str, ...]  # columns that must not repeat (compared as dbt matches them)
    some_of: tuple[str, ...] = ()  # at least one of these must be filled in each row
    key_form: Callable[[str, Any], Any] = lambda name, value: value


# Which amoCRM account a row is for: its subdomain or id (required once the warehouse holds several).
ACCOUNT = _Column("account", "varchar", str, required=False, optional=True)

SPEND = _InputTable(
    "marketing_spend.csv",
    "marketing_spend",
    (
        ACCOUNT,
        _Column("month", "date", parse_month),
        _Column("channel", "varchar", str),
        _Column("amount", "decimal(18, 2)", parse_amount),
    ),
    key=("account", "month", "channel"),
    key_form=lambda name, value: value.lower() if name in ("channel", "account") and value else value,  # channels match case-insensitively
)
TARGETS = _InputTable(
    "sales_targets.csv",
    "sales_targets",
    (
        ACCOUNT,
        _Column("month", "date", parse_month),
        _Column("manager", "varchar", str),
        _Column("target_revenue", "decimal(18, 2)", parse_amount, required=False),
        _Column("target_deals", "integer", parse_count, required=False),
    ),
    key=("account", "month", "manager"),
    key_form=lambda name, value: value.lower() if name == "account" and value else value,
    some_of=("target_revenue", "target_deals"),
)


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputFileError(
            path, line,
            f"is not UTF-8 text (byte 0x{data[error.start]:02X}); Excel's plain 'CSV' is Windows-1251: "
            "save it as 'CSV UTF-8' instead",
        ) from None


def _lines(spec: _InputTable, path: Path, text: str) -> tuple[str, list[tuple[int, list[str]]]]:
    """The separator the header uses, and (line number, cells) of every line."""
    expected = [c.name for c in spec.columns if not c.optional]
    header_text = text.splitlines()[0]
    separator = max(SEPARATORS, key=lambda s: len(set(expected) & _names(header_text, s)))
    missing = [name for name in expected if name not in _names(header_text, separator)]
    if missing:
        raise InputFileError(
            path, 1,
            f"the header {header_text.strip()!r} lacks the column(s) {', '.join(missing)}; expected the "
            f"columns {', '.join(expected)} separated by ',' or ';' (e.g. {';'.join(expected)})",
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        return separator, [(reader.line_num, cells) for cells in reader]
    except csv.Error as error:
        raise InputFileError(path, reader.line_num, f"is not a valid CSV file ({error})") from None


def _names(header: str, separator: str) -> set[str]:
    cells = next(csv.reader([header], delimiter=separator), [])
    return {cell.strip().lower() for cell in cells}


def _read(spec: _InputTable, path: Path, warnings: list[str], accounts: list[tuple[int, str]]) -> list[tuple[Any, ...]]:
    """The validated rows of one file, each ending with its line number; `accounts` as `_accounts` gives them."""
    text = _text(path)
    if not text.strip():
        warnings.append(f"{path} is empty: loaded as no rows")
        return []
    separator, lines = _lines(spec, path, text)
    header = [cell.strip().lower() for cell in lines[0][1]]
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        raise InputFileError(path, 1, f"column(s) {', '.join(duplicated)} appear more than once")
    positions = [header.index(c.name) if c.name in header else None for c in spec.columns]

    rows: list[tuple[Any, ...]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for line_number, cells in lines[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        if any(cell.strip() for cell in cells[len(header):]):
            raise InputFileError(path, line_number, _too_many_values(len(cells), len(header), separator))
        texts = [cells[p].strip() if p is not None and p < len(cells) else "" for p in positions]
        values = _values(spec, path, line_number, texts)
        key = tuple(spec.key_form(name, values[name]) for name in spec.key)
        if key in seen:
            named = [(name, value) for name, value in zip(spec.key, key) if name != "account" or value is not None]
            described = ", ".join(f"{name} {value}" for name, value in named)
            raise InputFileError(path, line_number, f"{described} is already on line {seen[key]}: "
                                                    f"keep one row per {' and '.join(name for name, _ in named)}")
        seen[key] = line_number
        _check_account(path, line_number, values["account"], accounts)
        rows.append((*(values[c.name] for c in spec.columns), line_number))
    if not rows:
        warnings.append(f"{path} has a header and no rows: loaded as no rows")
    return rows


def _values(spec: _InputTable, path: Path, line_number: int, texts: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column, text in zip(spec.columns, texts):
        if not text:
            if column.required:
                raise InputFileError(path, line_number, f"column {column.name} is empty")
            values[column.name] = None
            continue
        try:
            values[column.name] = column.parse(text)
        except ValueError as error:
            raise InputFileError(path, line_number, f"column {column.name}: {error}") from None
    if spec.some_of and all(values[name] is None for name in spec.some_of):
        raise InputFileError(path, line_number, f"set at least one of {', '.join(spec.some_of)}")
    return values


def _accounts(warehouse: Path) -> list[tuple[int, str]]:
    """(id, subdomain) of every amoCRM account loaded into the warehouse; none before the first extraction."""
    if not warehouse.exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        exists = connection.execute("select count(*) from information_schema.tables "
                                    "where table_schema = 'raw_amocrm' and table_name = 'account'").fetchone()[0]
        if not exists:
            return []
        return [(int(i), str(s)) for i, s in connection.execute(
            "select distinct id, subdomain from raw_amocrm.account order by id").fetchall()]


def _check_account(path: Path, line: int, account: str | None, accounts: list[tuple[int, str]]) -> None:
    """A row's `account` must name a loaded account; it may be empty only while there is at most one."""
    known = ", ".join(f"{subdomain} (id {id_})" for id_, subdomain in accounts)
    if account is None:
        if len(accounts) > 1:
            raise InputFileError(path, line, f"column account is empty, but the warehouse holds {len(accounts)} "
                                             f"amoCRM accounts: {known}. Add an account column and name each "
                                             "row's account by its subdomain or id")
        return
    if accounts and not any(account == str(id_) or account.lower() == subdomain.lower()
                            for id_, subdomain in accounts):
        raise InputFileError(path, line, f"column account: {account!r} is not an account in the warehouse; "
                                         f"use the subdomain or id of one of {known}")


def _too_many_values(count: int, columns: int, separator: str) -> str:
    problem = f"{count} values for {columns} columns"
    if separator == ",":
        problem += ("; with ',' between values a decimal comma must be quoted (\"1 000,50\"), "
                    "or use ';' between values, as Russian Excel does")
    return problem


def load_user_inputs(data_dir: Path | None = None, warehouse: Path | None = None) -> LoadedInputs:
    """Validate `<data_dir>/marketing_spend.csv` and `<data_dir>/sales_targets.csv` and replace
    `raw_inputs.*` in the warehouse with them, in one transaction. `data_dir` defaults to the data
    folder (`$AMOCRM_KPI_DATA_DIR`), `warehouse` to `paths.warehouse_path()`.

    Raises `InputFileError` (and writes nothing) when a file is malformed; a missing file loads as an
    empty table, an empty file too, with a warning.
    """
    folder = Path(data_dir) if data_dir is not None else paths.data_dir()
    accounts = _accounts(Path(warehouse or paths.warehouse_path()))
    warnings: list[str] = []
    loaded = {}
    for spec in (SPEND, TARGETS):
        path = folder / spec.file_name
        loaded[spec] = _read(spec, path, warnings, accounts) if path.exists() else []

    with duckdb.connect(str(warehouse or paths.warehouse_path())) as connection:
        connection.execute("begin")
        try:
            connection.execute(f"create schema if not exists {SCHEMA}")
            for spec, rows in loaded.items():
                connection.execute(f"create or replace table {SCHEMA}.{spec.table} ({_columns_sql(spec)})")
                if rows:
                    placeholders = ", ".join("?" for _ in range(len(spec.columns) + 1))
                    connection.executemany(f"insert into {SCHEMA}.{spec.table} values ({placeholders})", rows)
            connection.execute("commit")
        except BaseException:
            connection.execute("rollback")
            raise
    return LoadedInputs(rows={spec.table: len(rows) for spec, rows in loaded.items()}, warnings=warnings)


def create_missing_tables(warehouse: Path | None = None) -> None:
    """Empty `raw_inputs.*` tables where none exist yet, and nothing else: after an input error, the
    models built on amoCRM alone still build (on the very first run there are no inputs before)."""
    with duckdb.connect(str(warehouse or paths.warehouse_path())) as connection:
        connection.execute(f"create schema if not exists {SCHEMA}")
        for spec in (SPEND, TARGETS):
            connection.execute(f"create table if not exists {SCHEMA}.{spec.table} ({_columns_sql(spec)})")


def _columns_sql(spec: _InputTable) -> str:
    return ", ".join(f"{c.name} {c.sql_type}" for c in spec.columns) + ", source_line integer"


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m pipelines.inputs",
        description="Check <data>/marketing_spend.csv and <data>/sales_targets.csv and load them into the "
                    "warehouse (raw_inputs.*); a malformed file is reported with its line and nothing is written. "
                    "The data folder is $AMOCRM_KPI_DATA_DIR (data/, or data/demo/ for the simulated demo account).",
    ).parse_args(argv)
    try:
        loaded = load_user_inputs()
    except InputFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for table, count in loaded.rows.items():
        print(f"{SCHEMA}.{table}: {count} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
