"""scripts/fold_column_rules.py: a model's foldable blocking column tests become one `column_rules` test with
the same rules (a named one keeping its name), its warn tests one `column_warnings` test; a lone test, or one
with another config, stays its own; a second run changes nothing; the project's YAML is already folded (a
foldable test added since would make this fail: run the script)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fold_column_rules.py"
spec = importlib.util.spec_from_file_location("fold_column_rules", SCRIPT)
fold = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fold)

YAML = """\
version: 2

models:
  - name: fct_x
    description: X.
    data_tests:
      - unique_combination_of_columns:
          arguments: {combination_of_columns: [account_id, period_grain, period_start]}
      - unique_combination_of_columns:
          name: x_one_row_per_manager_and_period
          arguments: {combination_of_columns: [account_id, manager_id, period_start]}
      - not_null_columns:
          arguments: {columns: [account_id, period_start]}
      - expression_is_true:
          name: x_rate_is_a_share
          arguments: {expression: "rate between 0 and 1"}
      - expression_is_true:
          name: x_rate_is_small
          arguments: {expression: "rate < 0.5"}
          config: {severity: warn}
    columns:
      - name: account_id
        description: The account.
      - name: period_grain
        description: day, week or month.
        data_tests:
          - accepted_values:
              arguments: {values: ['day', 'week', 'month']}
          - accepted_values:
              arguments: {values: ['day']}
              config: {severity: warn}
      - name: rate
        description: A share.
        data_tests:
          - accepted_range:
              arguments: {min_value: 0, max_value: 1}
          - accepted_range:
              name: x_rate_below_two
              arguments: {max_value: 2}
      - name: manager_id
        description: Manager.
        data_tests:
          - not_null
          - unique_per_account
          - relationships_per_account:
              arguments: {to: ref('dim_managers'), field: manager_id}
              config: {severity: warn, where: "not is_deleted"}
          - not_null:
              name: x_manager_is_known
      - name: status_id
        description: Status.
        data_tests:
          - not_null: {config: {where: "not is_deleted"}}
          - not_null: {config: {where: "not is_deleted", severity: warn}}
          - not_null: {config: {where: "not is_deleted", severity: warn, meta: {why: kept}}}

  - name: fct_y
    description: Y.
    columns:
      - name: lead_id
        description: Lead.
        data_tests: [not_null]
      - name: manager_id
        description: Manager.
        data_tests:
          - relationships_per_account:
              arguments: {to: ref('dim_managers'), field: manager_id}
              config: {severity: warn}
"""


def _fold(text: str) -> str:
    return "".join(fold.rewrite(text.splitlines(keepends=True), fold.to_fold(yaml.safe_load(text))))


def test_a_models_column_tests_fold_into_one_with_the_same_rules():
    folded = _fold(YAML)
    model = yaml.safe_load(folded)["models"][0]
    assert fold.every_rule(yaml.safe_load(folded)) == fold.every_rule(yaml.safe_load(YAML))
    assert model["data_tests"] == [{"column_rules": {"name": "column_rules_fct_x", "arguments": {
        "not_null": ["account_id", "period_start", "manager_id"], "unique_per_account": ["manager_id"],
        "accepted_values": {"period_grain": ["day", "week", "month"]},
        "accepted_range": {"rate": {"min_value": 0, "max_value": 1}},
        "unique_combination": [["account_id", "period_grain", "period_start"]],
        "not_null_where": {"not is_deleted": ["status_id"]},
        "expressions": {"x_rate_is_a_share": "rate between 0 and 1",
                        "x_rate_below_two": "rate is null or (rate <= 2)",
                        "x_manager_is_known": "manager_id is not null"},
        "named_keys": {"x_one_row_per_manager_and_period": ["account_id", "manager_id", "period_start"]}}}},
        {"column_rules": {"name": "column_warnings_fct_x", "config": {"severity": "warn"}, "arguments": {
            "accepted_values": {"period_grain": ["day"]},
            "not_null_where": {"not is_deleted": ["status_id"]},
            "expressions": {"x_rate_is_small": "rate < 0.5"},
            "relationships": {"manager_id": {"to": "ref('dim_managers')", "field": "manager_id",
                                             "where": "not is_deleted"}}}}}]
    columns = {c["name"]: c.get("data_tests") for c in model["columns"]}
    assert columns == {"account_id": None, "period_grain": None, "rate": None, "manager_id": None, "status_id": [
        {"not_null": {"config": {"where": "not is_deleted", "severity": "warn", "meta": {"why": "kept"}}}}]}, \
        "a test with another config stays"
    assert folded.endswith("        data_tests: [not_null]\n      - name: manager_id\n        description: Manager.\n"
                           "        data_tests:\n          - relationships_per_account:\n"
                           "              arguments: {to: ref('dim_managers'), field: manager_id}\n"
                           "              config: {severity: warn}\n"), "one test of each severity: as it was"
    assert _fold(folded) == folded


def test_the_projects_yaml_is_folded():
    for path in fold.MODELS.rglob("*.yml"):
        assert not fold.to_fold(yaml.safe_load(path.read_text(encoding="utf-8")) or {}), path
