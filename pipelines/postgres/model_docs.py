"""What the dbt project says about each published table: descriptions and the grain (key columns).

Read from dbt's manifest (descriptions there have their doc blocks rendered), so PostgreSQL carries the
same words as the dbt docs and the contract. The grain is the model's `unique_combination_of_columns`
test, or a column with a `unique` test (`unique_per_account`: that column within account_id); a table dbt does not describe (marts.meta_source) gets none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import paths


@dataclass(frozen=True)
class TableDoc:
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # column -> description
    key: tuple[str, ...] = ()  # the grain: unique together
    not_null: frozenset[str] = frozenset()  # columns dbt guarantees non-null (constraint or test)


SOURCE_META_DOC = TableDoc(
    description=("Which amoCRM account these marts come from, when it was extracted, and the response SLA in "
                 "minutes the KPIs use (one row)."),
)


def manifest_path() -> Path:
    return paths.DBT_PROJECT_DIR / "target" / "manifest.json"


def table_docs(schema: str = "marts", manifest: Path | None = None) -> dict[str, TableDoc]:
    """Docs of every dbt model built in `schema`, by table name."""
    manifest = manifest or manifest_path()
    if not manifest.exists():
        raise RuntimeError(f"dbt manifest {manifest} is missing: the dbt step writes it; run the job (or "
                           "`dbt parse`) first")
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    models = {uid: node for uid, node in nodes.items()
              if node["resource_type"] == "model" and node["schema"] == schema}
    keys: dict[str, tuple[str, ...]] = {}
    tested_not_null: dict[str, set[str]] = {}
    column_keys: dict[str, tuple | None] = {}
    for node in nodes.values():
        meta, owner = node.get("test_metadata") or {}, node.get("attached_node")
        if node["resource_type"] != "test" or owner not in models:
            continue
        kwargs = meta.get("kwargs", {})
        if meta.get("name") == "unique_combination_of_columns":
            keys[owner] = tuple(kwargs["combination_of_columns"])
        elif meta.get("name") == "unique" and owner not in keys:
            keys[owner] = (kwargs["column_name"],)
        elif meta.get("name") == "unique_per_account" and owner not in keys:  # ids repeat across accounts
            keys[owner] = ("account_id", kwargs["column_name"])
        elif meta.get("name") == "not_null":
            tested_not_null.setdefault(owner, set()).add(kwargs["column_name"])
        elif meta.get("name") == "not_null_columns":  # several columns in one test (tests/generic/)
            tested_not_null.setdefault(owner, set()).update(kwargs["columns"])
        elif meta.get("name") == "column_rules" and (node.get("config") or {}).get("severity", "").lower() == "warn":
            continue  # a model's warnings in one (column_warnings_<model>): no rule the data is sure to keep
        elif meta.get("name") == "column_rules":  # a model's column tests in one (tests/generic/)
            tested_not_null.setdefault(owner, set()).update(kwargs.get("not_null", []))
            column_keys[owner] = _rules_key(kwargs)
    for owner, key in column_keys.items():
        if key and (owner not in keys or key[0] == "combination"):
            keys[owner] = key[1]
    docs = {}
    for uid, node in models.items():
        columns = node.get("columns", {})
        constrained = {name for name, col in columns.items()
                       if any(c["type"] == "not_null" for c in col.get("constraints", []))}
        docs[node.get("alias") or node["name"]] = TableDoc(
            description=(node.get("description") or "").strip(),
            columns={name: (col.get("description") or "").strip() for name, col in columns.items()},
            key=keys.get(uid, ()),
            not_null=frozenset(constrained | tested_not_null.get(uid, set())),
        )
    return docs


def _rules_key(kwargs: dict) -> tuple[str, tuple[str, ...]] | None:
    """The key a column_rules test keeps unique, as its own tests did: a combination first, then an id per
    account, then a single column."""
    if kwargs.get("unique_combination"):
        return "combination", tuple(kwargs["unique_combination"][0])
    if kwargs.get("named_keys"):  # a combination under a name users know
        return "combination", tuple(next(iter(kwargs["named_keys"].values())))
    if kwargs.get("unique_per_account"):
        return "per_account", ("account_id", kwargs["unique_per_account"][0])
    if kwargs.get("unique"):
        return "unique", (kwargs["unique"][0],)
    return None
