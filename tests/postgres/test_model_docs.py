"""The columns published as NOT NULL: a not_null constraint, a not_null test or a not_null_columns test
(several columns in one test, dbt_project/tests/generic/not_null_columns.sql) of a model in the schema."""

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
