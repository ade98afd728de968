"""User inputs: the two tables a user keeps next to amoCRM, as CSV files in the data folder.

- `marketing_spend.csv`: month, channel, amount (spend per month and acquisition channel);
- `sales_targets.csv`: month, manager, target_revenue, target_deals (targets per manager and month;
  manager = amoCRM user id or exact user name).

`load_user_inputs()` validates both and writes them into the warehouse as
`raw_inputs.marketing_spend` / `raw_inputs.sales_targets`, which dbt reads as sources. A missing file
means "no spend" / "no targets" and gives an empty table. A malformed file raises `InputFileError`
naming the file, the line and the problem, and nothing is written. `data/README.md` describes the
files for their users. Run `python -m pipelines.inputs` to check and load them by hand.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import duckdb

from pipelines import paths

SCHEMA = "raw_inputs"
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_AMOUNT = re.compile(r"^\d{1,16}(?:\.\d{1,2})?$")
_COUNT = re.compile(r"^\d{1,9}$")


class InputFileError(ValueError):
    """A user input file that cannot be loaded: which file, which line (1 = the header), what is wrong."""

    def __init__(self, path: Path, line: int | None, problem: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class _Column:
    name: str
    sql_type: str
    parse: Callable[[str], Any]  # raises ValueError with a message for the user
    required: bool = True  # an empty cell is an error (else it loads as null)


@dataclass(frozen=True)
class _InputTable:
    file_name: str
    table: str
    columns: tuple[_Column, ...]
    key: tuple[str, ...] = ()  # columns that must not repeat (compared as loaded)
    some_of: tuple[str, ...] = ()  # at least one of these must be filled in each row


def _month(text: str) -> date:
    match = _MONTH.match(text)
    if not match:
        raise ValueError(f"month {text!r} is not YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        date(year, month, day)
    except ValueError:
        raise ValueError(f"month {text!r} is not a real date") from None
    return date(year, month, 1)


def _amount(text: str) -> Decimal:
    if not _AMOUNT.match(text):
        raise ValueError(
            f"{text!r} is not an amount >= 0 with at most 16 digits before and 2 after the decimal point "
            "(write it without spaces, with '.' as the decimal point)"
        )
    return Decimal(text)


def _count(text: str) -> int:
    if not _COUNT.match(text):
        raise ValueError(f"{text!r} is not a whole number >= 0 (of at most 9 digits)")
    return int(text)


SPEND = _InputTable(
    "marketing_spend.csv",
    "marketing_spend",
    (
        _Column("month", "date", _month),
        _Column("channel", "varchar", str),
        _Column("amount", "decimal(18, 2)", _amount),
    ),
)
TARGETS = _InputTable(
    "sales_targets.csv",
    "sales_targets",
    (
        _Column("month", "date", _month),
        _Column("manager", "varchar", str),
        _Column("target_revenue", "decimal(18, 2)", _amount, required=False),
        _Column("target_deals", "integer", _count, required=False),
    ),
    key=("month", "manager"),
    some_of=("target_revenue", "target_deals"),
)


def _read(spec: _InputTable, path: Path) -> list[tuple[Any, ...]]:
    """The validated rows of one file, each ending with its line number."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            lines = [(reader.line_num, cells) for cells in reader]
    except UnicodeDecodeError:
        raise InputFileError(path, None, "is not UTF-8 text") from None
    except csv.Error as error:
        raise InputFileError(path, None, f"is not a valid CSV file ({error})") from None
    if not lines or not any(cell.strip() for cell in lines[0][1]):
        raise InputFileError(path, 1, f"the header is missing; expected columns {', '.join(c.name for c in spec.columns)}")
    header = [cell.strip().lower() for cell in lines[0][1]]
    missing = [c.name for c in spec.columns if c.name not in header]
    if missing:
        raise InputFileError(path, 1, f"missing column(s) {', '.join(missing)}; the header is {', '.join(header)}")
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        raise InputFileError(path, 1, f"column(s) {', '.join(duplicated)} appear more than once")
    positions = [header.index(c.name) for c in spec.columns]

    rows: list[tuple[Any, ...]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for line_number, cells in lines[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            raise InputFileError(path, line_number, f"{len(cells)} values for {len(header)} columns")
        values: dict[str, Any] = {}
        for column, position in zip(spec.columns, positions):
            text = cells[position].strip() if position < len(cells) else ""
            if not text:
                if column.required:
                    raise InputFileError(path, line_number, f"{column.name} is empty")
                values[column.name] = None
                continue
            try:
                values[column.name] = column.parse(text)
            except ValueError as error:
                raise InputFileError(path, line_number, f"{column.name}: {error}") from None
        if spec.some_of and all(values[name] is None for name in spec.some_of):
            raise InputFileError(path, line_number, f"set at least one of {', '.join(spec.some_of)}")
        if spec.key:
            key = tuple(values[name] for name in spec.key)
            if key in seen:
                described = ", ".join(f"{name} {value}" for name, value in zip(spec.key, key))
                raise InputFileError(path, line_number, f"{described} is already on line {seen[key]}")
            seen[key] = line_number
        rows.append((*(values[c.name] for c in spec.columns), line_number))
    return rows


def load_user_inputs(data_dir: Path | None = None, warehouse: Path | None = None) -> dict[str, int]:
    """Validate `<data_dir>/marketing_spend.csv` and `<data_dir>/sales_targets.csv` and replace
    `raw_inputs.*` in the warehouse with them. `data_dir` defaults to the data folder
    (`$AMOCRM_KPI_DATA_DIR`), `warehouse` to `paths.warehouse_path()`.

    Returns the rows loaded per table. Raises `InputFileError` (and writes nothing) when a file is
    malformed; a missing file loads as an empty table.
    """
    folder = Path(data_dir) if data_dir is not None else paths.data_dir()
    loaded = {}
    for spec in (SPEND, TARGETS):
        path = folder / spec.file_name
        loaded[spec] = _read(spec, path) if path.exists() else []

    with duckdb.connect(str(warehouse or paths.warehouse_path())) as connection:
        connection.execute("begin")
        connection.execute(f"create schema if not exists {SCHEMA}")
        for spec, rows in loaded.items():
            columns = ", ".join(f"{c.name} {c.sql_type}" for c in spec.columns)
            connection.execute(f"create or replace table {SCHEMA}.{spec.table} ({columns}, source_line integer)")
            if rows:
                placeholders = ", ".join("?" for _ in range(len(spec.columns) + 1))
                connection.executemany(f"insert into {SCHEMA}.{spec.table} values ({placeholders})", rows)
        connection.execute("commit")
    return {spec.table: len(rows) for spec, rows in loaded.items()}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m pipelines.inputs",
        description="Check <data>/marketing_spend.csv and <data>/sales_targets.csv and load them into the "
                    "warehouse (raw_inputs.*); a malformed file is reported with its line and nothing is written. "
                    "The data folder is $AMOCRM_KPI_DATA_DIR (data/, or data/demo/ for the simulated demo account).",
    ).parse_args(argv)
    try:
        counts = load_user_inputs()
    except InputFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for table, count in counts.items():
        print(f"{SCHEMA}.{table}: {count} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
