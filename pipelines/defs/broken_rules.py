"""What a failed `column_rules_<model>` check (or a warned `column_warnings_<model>` one) broke, for its
description: the check folds a model's column rules (its warnings) into one dbt test
(dbt_project/tests/generic/column_rules.sql), so its name no longer says which rule and column failed, and
dbt reports only the count. After dbt exits (it holds the warehouse lock while it runs), the test's compiled
select is run again, read-only: one row per broken rule, column and value."""

from __future__ import annotations

from pathlib import Path

import duckdb

SHOWN = 10  # broken rules listed; the rest are counted
WARNINGS = "column_warnings_"  # a model's warn rules in one check: the build went on
PREFIXES = ("column_rules_", WARNINGS)  # the checks whose description this writes


def is_folded_check(check_name: str | None) -> bool:
    """Whether the check is a folded column_rules test (blocking or warning) whose rows name what broke."""
    return (check_name or "").startswith(PREFIXES)


def broken_rules(target_path: Path, warehouse: Path, check_name: str) -> str:
    """The rules a failed column_rules check broke, in plain words, with what to do."""
    compiled = next(Path(target_path, "compiled").glob(f"**/{check_name}.sql"), None)
    try:
        if compiled is None:
            raise FileNotFoundError(f"no compiled {check_name}.sql under {target_path}/compiled")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            rows = con.execute(f"select rule, column_name, value, failing_rows from ({compiled.read_text()}) "
                               "order by rule, column_name, value nulls first").fetchall()
    except (OSError, duckdb.Error) as error:
        return (f"{check_name} failed, and which of its rules could not be read back ({error}). What to do: "
                f"run `dbt test --select {check_name}` and the compiled select it prints to list them.")
    broken = [f"{rule} on {column}" + ("" if value is None else f" = {value}")
              + f" ({rows_} row{'' if rows_ == 1 else 's'})" for rule, column, value, rows_ in rows[:SHOWN]]
    more = f"; and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    found = f"{'; '.join(broken) or 'nothing any more (fixed since?)'}{more}"
    if check_name.startswith(WARNINGS):
        return (f"{check_name} warns: {found}. A "
                "warning: the build went on and published. What to do: look at the rows (the rule's column "
                "and value; the rule's meaning is in the model's YAML) and repair their source if they are wrong.")
    return (f"{check_name} broke: {found}. Nothing "
            "built from this model was published. What to do: find the rows (the rule's column and value), "
            "repair their source or the model, then run amocrm_transform again.")
