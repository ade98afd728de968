"""Fold a dbt model's per-column `not_null` tests into one `not_null_columns` test on the model.

Every dbt test is a node with its own fixed cost (compile, context, query, events: README "Tests and
benchmarks"); a model with several never-null columns pays it once with `not_null_columns`
(dbt_project/tests/generic/not_null_columns.sql). Only bare `not_null` entries move (a `not_null` with a
name or a config, e.g. `where:`, stays its own test), and only where the model would then check two or more
columns. Idempotent: a bare `not_null` added later is folded into the model's existing `not_null_columns`.
Edits the YAML as text (comments and layout stay) and checks the result: every model's never-null columns
are the same before and after.

    .venv/bin/python scripts/merge_not_null_tests.py            # rewrites dbt_project/models/**/*.yml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

MODELS = Path(__file__).resolve().parent.parent / "dbt_project" / "models"
MODEL = re.compile(r"^  - name: (\S+)\s*$")
COLUMN = re.compile(r"^      - name: (\S+)\s*$")
INLINE = re.compile(r"^(        data_tests: \[)([^\]]*)(\]\s*)$")
BLOCK_START = re.compile(r"^        data_tests:\s*$")
BARE_ITEM = re.compile(r"^          - not_null\s*$")
MERGED = re.compile(r"^(\s+arguments: \{columns: \[)([^\]]*)(\]\}\s*)$")


def never_null(document: dict) -> dict[str, set[str]]:
    """Per model: the columns a bare `not_null` or a `not_null_columns` test keeps never null."""
    found: dict[str, set[str]] = {}
    for model in document.get("models") or []:
        columns = found.setdefault(model["name"], set())
        for test in model.get("data_tests") or []:
            if isinstance(test, dict) and "not_null_columns" in test:
                columns.update(test["not_null_columns"]["arguments"]["columns"])
        for column in model.get("columns") or []:
            if "not_null" in (column.get("data_tests") or []):
                columns.add(column["name"])
    return found


def to_merge(document: dict) -> dict[str, list[str]]:
    """Models whose bare not_null columns (plus any already merged) number two or more."""
    merged = {}
    for model in document.get("models") or []:
        bare = [c["name"] for c in model.get("columns") or [] if "not_null" in (c.get("data_tests") or [])]
        existing = [col for test in model.get("data_tests") or [] if isinstance(test, dict)
                    and "not_null_columns" in test for col in test["not_null_columns"]["arguments"]["columns"]]
        if bare and len(bare) + len(existing) >= 2:
            merged[model["name"]] = existing + [c for c in bare if c not in existing]
    return merged


def rewrite(lines: list[str], merge: dict[str, list[str]]) -> list[str]:
    """The lines with the bare not_null entries of `merge`'s models removed and one test per model added."""
    out: list[str] = []
    model = None
    pending_block: int | None = None  # index in `out` of a column's `data_tests:` line
    for line in lines:
        if match := MODEL.match(line):
            model = match[1]
        active = model in merge
        if active and (match := INLINE.match(line)):
            items = [item.strip() for item in match[2].split(",") if item.strip() != "not_null"]
            if items:
                out.append(f"{match[1]}{', '.join(items)}{match[3]}")
            continue
        if active and BLOCK_START.match(line):
            pending_block = len(out)
        elif active and BARE_ITEM.match(line):
            continue
        elif pending_block is not None and not line.startswith("          "):
            if pending_block == len(out) - 1:  # the block lost its only item
                out.pop()
            pending_block = None
        if active and (match := MERGED.match(line)):  # the model's existing not_null_columns: extended
            line = f"{match[1]}{', '.join(merge[model])}{match[3]}"
        out.append(line)
    if pending_block is not None and pending_block == len(out) - 1:
        out.pop()
    return out


def add_tests(lines: list[str], merge: dict[str, list[str]]) -> list[str]:
    """Add a `not_null_columns` test to each model of `merge` (models that had none yet)."""
    out: list[str] = []
    model = None
    in_model_tests = False
    for line in lines:
        if match := MODEL.match(line):
            model = match[1]
            in_model_tests = False
        if model in merge:
            entry = [f"      - not_null_columns:\n",
                     f"          arguments: {{columns: [{', '.join(merge[model])}]}}\n"]
            if line.startswith("    data_tests:"):
                in_model_tests = True
            elif line.startswith("    columns:"):
                if in_model_tests:
                    out.extend(entry)
                else:
                    out.extend(["    data_tests:\n", *entry])
                merge = {k: v for k, v in merge.items() if k != model}
        out.append(line)
    return out


def main() -> None:
    changed = 0
    for path in sorted(MODELS.rglob("*.yml")):
        text = path.read_text(encoding="utf-8")
        before = yaml.safe_load(text) or {}
        merge = to_merge(before)
        if not merge:
            continue
        already = {name for name, m in ((m["name"], m) for m in before["models"])
                   if any(isinstance(t, dict) and "not_null_columns" in t for t in m.get("data_tests") or [])}
        lines = rewrite(text.splitlines(keepends=True), merge)
        lines = add_tests(lines, {k: v for k, v in merge.items() if k not in already})
        new_text = "".join(lines)
        after = yaml.safe_load(new_text)
        if never_null(after) != never_null(before) or set(to_merge(after)) & set(merge):
            sys.exit(f"{path}: the rewrite changed which columns are tested never null; file left as it was")
        path.write_text(new_text, encoding="utf-8")
        changed += 1
        print(f"{path.relative_to(MODELS.parent)}: {', '.join(f'{k} ({len(v)})' for k, v in merge.items())}")
    print(f"{changed} file(s) changed")


if __name__ == "__main__":
    main()
