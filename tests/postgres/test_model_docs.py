"""The columns published as NOT NULL and the key: a not_null constraint, a not_null test, a not_null_columns
test or a column_rules test (several columns in one test, dbt_project/tests/generic/) of a model in the schema."""

from __future__ import annotations

import json

from pipelines.postgres.model_docs import table_docs


def test_not_null_tests_of_one_or_several_columns_make_columns_not_null(tmp_path):
    def test(kind, **kwargs):
        return {"resource_type": "test", "attached_node": "model.p.fct_x",
                "test_metadata": {"name": kind, "kwargs": kwargs}}

    columns = {name: {"description": name, "constraints": [{"type": "not_null"}] if name == "a" else []}
               for name in ("a", "b", "c", "d", "e")}
    nodes = {"model.p.fct_x": {"resource_type": "model", "schema": "marts", "name": "fct_x", "alias": "fct_x",
                               "description": "X.", "columns": columns},
             "test.p.one": test("not_null", column_name="b"),
             "test.p.several": test("not_null_columns", columns=["c", "d"])}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}))
    assert table_docs("marts", manifest)["fct_x"].not_null == {"a", "b", "c", "d"}


def test_column_rules_give_their_not_null_columns_and_key(tmp_path):
    """A column_rules test (a model's column tests in one, dbt_project/tests/generic/column_rules.sql) makes its
    not_null columns NOT NULL and its key the table's key, as the tests it folds did: a combination of columns
    before an id per account."""
    def rules(model, **kwargs):
        return {"resource_type": "test", "attached_node": f"model.p.{model}",
                "test_metadata": {"name": "column_rules", "kwargs": kwargs}}

    def model(name):
        return {"resource_type": "model", "schema": "marts", "name": name, "alias": name, "description": "X.",
                "columns": {c: {"description": c} for c in ("account_id", "a", "b")}}

    nodes = {"model.p.fct_x": model("fct_x"), "model.p.fct_y": model("fct_y"), "model.p.fct_z": model("fct_z"),
             "test.p.x": rules("fct_x", not_null=["account_id", "a"], unique_per_account=["a"],
                               unique_combination=[["account_id", "a", "b"]], accepted_values={"b": ["u"]}),
             "test.p.y": rules("fct_y", unique_per_account=["a"]),
             "test.p.z": rules("fct_z", accepted_range={"b": {"min_value": 0}})}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}))
    docs = table_docs("marts", manifest)
    assert (docs["fct_x"].not_null, docs["fct_x"].key) == ({"account_id", "a"}, ("account_id", "a", "b"))
    assert (docs["fct_y"].not_null, docs["fct_y"].key) == (set(), ("account_id", "a"))
    assert (docs["fct_z"].not_null, docs["fct_z"].key) == (set(), ())


def test_a_models_warnings_test_neither_makes_columns_not_null_nor_hides_its_key(tmp_path):
    """column_warnings_<model> (the column_rules test with severity warn) may fail without stopping the build:
    its rules say nothing the data is sure to keep, and it does not replace the key of the model's
    column_rules; a named key (named_keys) is a key like a combination."""
    def rules(model, severity="ERROR", **kwargs):
        return {"resource_type": "test", "attached_node": f"model.p.{model}", "config": {"severity": severity},
                "test_metadata": {"name": "column_rules", "kwargs": kwargs}}

    def model(name):
        return {"resource_type": "model", "schema": "marts", "name": name, "alias": name, "description": "X.",
                "columns": {c: {"description": c} for c in ("account_id", "a", "b")}}

    nodes = {"model.p.fct_x": model("fct_x"), "model.p.fct_y": model("fct_y"),
             "test.p.x": rules("fct_x", not_null=["a"], unique_per_account=["a"]),
             "test.p.x_warnings": rules("fct_x", "warn", not_null=["b"], relationships={"b": {"field": "b"}}),
             "test.p.y": rules("fct_y", named_keys={"y_one_row_per_a_and_b": ["account_id", "a", "b"]})}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}))
    docs = table_docs("marts", manifest)
    assert (docs["fct_x"].not_null, docs["fct_x"].key) == ({"a"}, ("account_id", "a"))
    assert docs["fct_y"].key == ("account_id", "a", "b")
