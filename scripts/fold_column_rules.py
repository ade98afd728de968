"""Fold a dbt model's column tests into one `column_rules` test on the model (one dbt node, one Dagster check).

Every dbt test is a node with its own fixed cost (≈35-75 ms of dbt's GIL-bound Python per build whatever it
checks: README "Check"). The rules that fold, when a model has two or more such tests: bare `not_null`,
`unique`, `unique_per_account`, `accepted_values` (only `values`), `accepted_range` (only bounds), a
`not_null` whose only config is a `where:` (rule `not_null_where`), the model's `not_null_columns` and
`unique_combination_of_columns` tests, its `expression_is_true` tests (rule `expressions`, by their
name: the failure names it) and its `relationships_per_account` tests (rule `relationships`, a `where:`
config kept in the rule). A named test keeps its name in the failure: a named `not_null` or
`accepted_range` becomes an expression of that name, a named `unique_combination_of_columns` a
`named_keys` entry. Blocking tests fold into `column_rules_<model>`; tests whose config is
`severity: warn` (and at most a `where:`) fold, apart, into `column_warnings_<model>` (same generic test, severity warn: a warning
must not block, and one test cannot both block and not). Any other test (another config, a `meta`)
stays its own. The generic test is dbt_project/tests/generic/column_rules.sql. Idempotent: a
foldable test added later is folded into the model's existing test. Edits the YAML as text (comments and
layout stay) and checks the result: every model's rules, with their severity, are the same before and after.

    .venv/bin/python scripts/fold_column_rules.py            # rewrites dbt_project/models/**/*.yml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

MODELS = Path(__file__).resolve().parent.parent / "dbt_project" / "models"
MODEL = re.compile(r"^  - name: (\S+)\s*$")
COLUMN = re.compile(r"^      - name: (\S+)\s*$")
BLOCK = re.compile(r"^(?P<indent> *)data_tests:\s*$")
INLINE = re.compile(r"^(?P<head> *data_tests: )(?P<list>\[.*\])\s*$")
RULES = ("not_null", "accepted_values", "accepted_range", "unique", "unique_per_account", "unique_combination",
         "not_null_where", "expressions", "named_keys", "relationships")
SEVERITIES = ("error", "warn")  # error: column_rules_<model> (blocks); warn: column_warnings_<model>
TEST_NAME = {"error": "column_rules_{}", "warn": "column_warnings_{}"}


def _arguments(test: dict, kind: str, allowed: set[str]) -> dict | None:
    """The arguments of a test given as {kind: {arguments: {...}}} with nothing else, when only `allowed`."""
    body = test.get(kind)
    if len(test) != 1 or not isinstance(body, dict) or set(body) != {"arguments"}:
        return None
    arguments = body["arguments"]
    return arguments if isinstance(arguments, dict) and set(arguments) <= allowed else None


def foldable(model: str, column: str | None, test, severity: str = "error") -> list[tuple] | None:
    """The rules (rule, payload) a test of that severity stands for when it folds, else None."""
    if severity == "warn":
        test = _without_warn(test)
        if test is None:
            return None
    elif isinstance(test, dict) and "column_rules" in test and test["column_rules"].get("config"):
        return None  # a column_warnings test
    return _rules(column, test)


def _without_warn(test):
    """The test without `severity: warn` in its config (and without the config when that was all of it),
    when it is a warn test, else None."""
    if not isinstance(test, dict) or len(test) != 1:
        return None
    kind, body = next(iter(test.items()))
    if not isinstance(body, dict) or not isinstance(body.get("config"), dict) or body["config"].get(
            "severity") != "warn":
        return None
    config = {key: value for key, value in body["config"].items() if key != "severity"}
    rest = {key: value for key, value in body.items() if key != "config"} | ({"config": config} if config else {})
    return {kind: rest} if rest else kind


def _rules(column: str | None, test) -> list[tuple] | None:
    """The rules (rule, payload) a blocking test stands for when it folds, else None."""
    if column is not None:
        if test in ("not_null", "unique", "unique_per_account"):
            found = [(test, column)]
        elif isinstance(test, dict) and set(test) == {"not_null"} and isinstance(
                body := test["not_null"], dict) and set(body) == {"name"}:
            found = [("expressions", (body["name"], f"{column} is not null"))]
        elif isinstance(test, dict) and set(test) == {"accepted_range"} and isinstance(
                body := test["accepted_range"], dict) and set(body) == {"name", "arguments"} and set(
                body["arguments"]) <= {"min_value", "max_value"}:
            bounds = [f"{column} {op} {body['arguments'][key]}" for key, op in (("min_value", ">="),
                                                                                ("max_value", "<="))
                      if body["arguments"].get(key) is not None]
            found = [("expressions", (body["name"], f"{column} is null or ({' and '.join(bounds) or 'true'})"))]
        elif isinstance(test, dict) and (where := _where(test)):
            found = [("not_null_where", (where, column))]
        elif isinstance(test, dict) and (args := _arguments(test, "accepted_values", {"values"})):
            found = [("accepted_values", (column, tuple(args["values"])))]
        elif isinstance(test, dict) and (args := _arguments(test, "accepted_range", {"min_value", "max_value"})):
            found = [("accepted_range", (column, tuple(sorted(args.items()))))]
        elif isinstance(test, dict) and set(test) == {"relationships_per_account"} and isinstance(
                body := test["relationships_per_account"], dict) and set(body) <= {"arguments", "config"} and set(
                body["arguments"]) == {"to", "field"} and set(body.get("config", {})) <= {"where"}:
            found = [("relationships", (column, body["arguments"]["to"], body["arguments"]["field"],
                                        body.get("config", {}).get("where")))]
        else:
            return None
    elif isinstance(test, dict) and (args := _arguments(test, "not_null_columns", {"columns"})):
        found = [("not_null", name) for name in args["columns"]]
    elif isinstance(test, dict) and (args := _arguments(test, "unique_combination_of_columns",
                                                        {"combination_of_columns"})):
        found = [("unique_combination", tuple(args["combination_of_columns"]))]
    elif isinstance(test, dict) and set(test) == {"unique_combination_of_columns"} and isinstance(
            body := test["unique_combination_of_columns"], dict) and set(body) == {"name", "arguments"} and set(
            body["arguments"]) == {"combination_of_columns"}:
        found = [("named_keys", (body["name"], tuple(body["arguments"]["combination_of_columns"])))]
    elif isinstance(test, dict) and "column_rules" in test:
        args = test["column_rules"].get("arguments", {})
        found = [("not_null", name) for name in args.get("not_null", [])]
        found += [("accepted_values", (name, tuple(v))) for name, v in args.get("accepted_values", {}).items()]
        found += [("accepted_range", (name, tuple(sorted(b.items()))))
                  for name, b in args.get("accepted_range", {}).items()]
        found += [(rule, name) for rule in ("unique", "unique_per_account") for name in args.get(rule, [])]
        found += [("unique_combination", tuple(key)) for key in args.get("unique_combination", [])]
        found += [("not_null_where", (where, name)) for where, names in args.get("not_null_where", {}).items()
                  for name in names]
        found += [("expressions", (name, " ".join(str(e).split()))) for name, e in args.get("expressions", {}).items()]
        found += [("named_keys", (name, tuple(key))) for name, key in args.get("named_keys", {}).items()]
        found += [("relationships", (name, ref["to"], ref["field"], ref.get("where")))
                  for name, ref in args.get("relationships", {}).items()]
    elif isinstance(test, dict) and set(test) == {"expression_is_true"} and isinstance(
            body := test["expression_is_true"], dict) and set(body) == {"name", "arguments"} and set(
            body["arguments"]) == {"expression"}:
        found = [("expressions", (body["name"], " ".join(str(body["arguments"]["expression"]).split())))]
    else:
        return None
    return found


def _where(test: dict) -> str | None:
    """The condition of a not_null test given as {not_null: {config: {where: ...}}} with nothing else."""
    body = test.get("not_null")
    if len(test) != 1 or not isinstance(body, dict) or set(body) != {"config"}:
        return None
    config = body["config"]
    return config["where"] if isinstance(config, dict) and set(config) == {"where"} else None


def _tests(model: dict):
    """(column or None, test) for every test of a model."""
    for test in model.get("data_tests") or []:
        yield None, test
    for column in model.get("columns") or []:
        for test in column.get("data_tests") or []:
            yield column["name"], test


def to_fold(document: dict) -> dict[str, dict[str, list[tuple]]]:
    """Per model, per severity with two or more foldable tests (or a folded test and another): its rules,
    in order."""
    folds = {}
    for model in document.get("models") or []:
        for severity in SEVERITIES:
            found = [rules for column, test in _tests(model)
                     if (rules := foldable(model["name"], column, test, severity))]
            if len(found) >= 2:
                folds.setdefault(model["name"], {})[severity] = list(
                    dict.fromkeys(rule for rules in found for rule in rules))
    return folds


def every_rule(document: dict) -> dict[str, set]:
    """Per model, every test it runs: folded rules one by one with their severity, any other test as written."""
    found = {}
    for model in document.get("models") or []:
        rules = found.setdefault(model["name"], set())
        for column, test in _tests(model):
            folded = [(severity, rule) for severity in SEVERITIES
                      for rule in foldable(model["name"], column, test, severity) or []]
            rules.update(folded or [repr((column, test))])
    return found


def _flow(items, indent: int, quote: bool = False, width: int = 110) -> str:
    """A YAML flow list (strings quoted when `quote`: values, not column names), wrapped when too long."""
    text = ["'" + i.replace("'", "''") + "'" if quote and isinstance(i, str) else str(i) for i in items]
    lines, line = [], "["
    for n, item in enumerate(text):
        piece = item + (", " if n < len(text) - 1 else "]")
        if (0 if lines else indent) + len(line) + len(piece) > width and line != "[":
            lines.append(line.rstrip())
            line = " " * (indent + 1)
        line += piece
    return "\n".join(lines + [line])


def render(model: str, rules: list[tuple], severity: str = "error") -> list[str]:
    """The `column_rules` test entry of a model-level `data_tests:` block (`column_warnings_<model>` for warn)."""
    by_rule = {rule: [payload for r, payload in rules if r == rule] for rule in RULES}
    out = ["      - column_rules:", f"          name: {TEST_NAME[severity].format(model)}"]
    out += ["          config: {severity: warn}"] if severity == "warn" else []
    out += ["          arguments:"]
    for rule in ("not_null", "unique", "unique_per_account"):
        if by_rule[rule]:
            out.append(f"            {rule}: " + _flow(by_rule[rule], len(f"            {rule}: ")))
    if by_rule["accepted_values"]:
        out.append("            accepted_values:")
        out += [f"              {name}: " + _flow(values, len(f"              {name}: "), quote=True)
                for name, values in by_rule["accepted_values"]]
    if by_rule["accepted_range"]:
        out.append("            accepted_range:")
        out += [f"              {name}: {{{', '.join(f'{k}: {v}' for k, v in sorted(bounds, reverse=True))}}}"
                for name, bounds in by_rule["accepted_range"]]
    if by_rule["unique_combination"]:
        out.append("            unique_combination:")
        out += [f"              - {_flow(key, 16)}" for key in by_rule["unique_combination"]]
    if by_rule["not_null_where"]:
        out.append("            not_null_where:")
        wheres = dict.fromkeys(where for where, _ in by_rule["not_null_where"])
        out += [f"              {_quoted(where)}: " + _flow([c for w, c in by_rule["not_null_where"] if w == where],
                                                         len(f"              {_quoted(where)}: "))
                for where in wheres]
    if by_rule["expressions"]:
        out.append("            expressions:")
        out += [f"              {name}: {_quoted(expression)}" for name, expression in by_rule["expressions"]]
    if by_rule["relationships"]:
        out.append("            relationships:")
        out += [f"              {column}: {{to: {_quoted(to)}, field: {field}"
                + (f", where: {_quoted(where)}}}" if where else "}")
                for column, to, field, where in by_rule["relationships"]]
    if by_rule["named_keys"]:
        out.append("            named_keys:")
        out += [f"              {name}: {_flow(key, len(f'              {name}: '))}"
                for name, key in by_rule["named_keys"]]
    return [line + "\n" for line in "\n".join(out).split("\n")]


def _quoted(text: str) -> str:
    """A YAML double-quoted string of `text` (a condition or an expression: SQL, one line)."""
    return '"' + " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


def rewrite(lines: list[str], folds: dict[str, dict[str, list[tuple]]]) -> list[str]:
    """The lines without the folded tests, with one folded entry per model and severity folded."""
    out: list[str] = []
    model = column = None
    block: dict | None = None  # an open data_tests block: its line, its items' indent, its items (lines each)

    def flush() -> None:
        nonlocal block
        items = block["items"]
        trailing = []  # blank lines after the block's last item stay after the block
        while items and items[-1] and len(items[-1]) > 1 and not items[-1][-1].strip():
            trailing.insert(0, items[-1].pop())
        kept = [item for item in items if not _folded(folds, block["model"], block["column"],
                                                      _parse(item, block["indent"]))]
        if block["column"] is None and block["model"] in folds:
            kept[:0] = [render(block["model"], rules, severity) for severity, rules in folds[block["model"]].items()]
            kept.sort(key=lambda item: _order(_parse(item, block["indent"])))  # column_rules, column_warnings, others
        if kept:
            out.append(block["line"])
            out.extend(line for item in kept for line in item)
        out.extend(trailing)
        block = None

    for line in lines:
        if block is not None:
            indent = len(line) - len(line.lstrip(" "))
            if line.strip() and indent < block["indent"]:
                flush()
            elif line.strip() and indent == block["indent"] and line.lstrip().startswith("- "):
                block["items"].append([line])
                continue
            elif block["items"]:
                block["items"][-1].append(line)
                continue
        if match := MODEL.match(line):
            model, column = match[1], None
        elif match := COLUMN.match(line):
            column = match[1]
        elif line.startswith("    columns:"):
            column = None
            if model in folds and not _has_model_block(lines, model):
                out.append("    data_tests:\n")
                for severity, rules in folds[model].items():
                    out.extend(render(model, rules, severity))
        active = model in folds
        if active and (match := BLOCK.match(line)) and len(match["indent"]) in (4, 8):
            block = {"line": line, "indent": len(match["indent"]) + 2, "items": [], "model": model,
                     "column": column if len(match["indent"]) == 8 else None}
            continue
        if active and column is not None and (match := INLINE.match(line)):
            kept = [t for t in yaml.safe_load(match["list"]) if not _folded(folds, model, column, t)]
            if kept:
                out.append(f"{match['head']}[{', '.join(kept)}]\n")
            continue
        out.append(line)
    if block is not None:
        flush()
    return out


def _order(test) -> int:
    """Where a model-level test goes: its column_rules first, then its column_warnings, then the rest."""
    name = test["column_rules"].get("name", "") if isinstance(test, dict) and "column_rules" in test else ""
    return 0 if name.startswith("column_rules_") else 1 if name.startswith("column_warnings_") else 2


def _folded(folds: dict, model: str, column: str | None, test) -> bool:
    """Whether `test` is one of the tests folded (of a severity the model folds)."""
    return any(foldable(model, column, test, severity) for severity in folds.get(model, {}))


def _parse(item: list[str], indent: int):
    """The test of one `- ...` item of a data_tests block (its lines, indented by `indent`)."""
    return yaml.safe_load("".join(line[indent:] if line[:indent].isspace() else line.lstrip(" ")
                                  for line in item))[0]


def _has_model_block(lines: list[str], model: str) -> bool:
    """Whether `model` has a model-level data_tests block (it must come before its columns)."""
    current = None
    for line in lines:
        if match := MODEL.match(line):
            current = match[1]
        elif current == model and line.startswith("    columns:"):
            return False
        elif current == model and line.startswith("    data_tests:"):
            return True
    return False


def main() -> None:
    changed = 0
    for path in sorted(MODELS.rglob("*.yml")):
        text = path.read_text(encoding="utf-8")
        before = yaml.safe_load(text) or {}
        folds = to_fold(before)
        if not folds:
            continue
        new_text = "".join(rewrite(text.splitlines(keepends=True), folds))
        after = yaml.safe_load(new_text)
        if every_rule(after) != every_rule(before) or to_fold(after):
            sys.exit(f"{path}: the rewrite changed a model's tests; file left as it was")
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            changed += 1
            print(f"{path.relative_to(MODELS.parent)}: " + ", ".join(
                f"{model} {severity} ({len(rules)})" for model, by in folds.items() for severity, rules in by.items()))
    print(f"{changed} file(s) changed")


if __name__ == "__main__":
    main()
