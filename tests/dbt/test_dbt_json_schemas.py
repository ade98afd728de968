"""The launcher's file of dbt's JSON schemas (pipelines/dbt_launcher.py, `_keep_json_schemas`): a schema is built
by dbt's own code once and then read from the file, a file for other package versions or that cannot be read is
ignored, validation stays dbt's (a config mistake fails the same way), and a file that cannot be written costs one
line on stderr, not the schema. In this process (about 1 CPU s)."""

from __future__ import annotations

import json

import pytest
from dbt.contracts.project import PackageConfig, Project
from dbt_common.dataclass_schema import ValidationError, dbtClassMixin

from pipelines.dbt_launcher import SCHEMA_PACKAGES, _keep_json_schemas

BUILT_BY_DBT = dbtClassMixin.json_schema.__func__.__wrapped__(Project)
NAME = "dbt.contracts.project.Project"


@pytest.fixture
def keep(monkeypatch):
    """Install `_keep_json_schemas` for one test; dbt's own json_schema is put back after it."""
    monkeypatch.setattr(dbtClassMixin, "json_schema", dbtClassMixin.__dict__["json_schema"])
    return _keep_json_schemas


def _versions() -> dict[str, str]:
    from importlib import metadata

    return {name: metadata.version(name) for name in SCHEMA_PACKAGES}


def test_a_schema_is_built_once_by_dbt_then_read_from_the_file(keep, tmp_path):
    path = tmp_path / "target" / "dbt_json_schemas.json"
    keep(str(path))
    assert Project.json_schema() == BUILT_BY_DBT
    stored = json.loads(path.read_text())
    assert stored == {"versions": _versions(), "schemas": {NAME: BUILT_BY_DBT}}

    stored["schemas"][NAME] = {"marker": "read from the file"}  # what a later process finds there is what it uses
    path.write_text(json.dumps(stored))
    keep(str(path))
    assert Project.json_schema() == {"marker": "read from the file"}


OTHER_VERSIONS = '{"versions": {"dbt-core": "0.0.1"}, "schemas": {"dbt.contracts.project.Project": {"stale": true}}}'


@pytest.mark.parametrize("content", ["", "not json", "[]", OTHER_VERSIONS])
def test_a_file_for_other_versions_or_unreadable_is_ignored_and_replaced(keep, tmp_path, content):
    path = tmp_path / "dbt_json_schemas.json"
    path.write_text(content)
    keep(str(path))
    assert Project.json_schema() == BUILT_BY_DBT
    assert json.loads(path.read_text())["versions"] == _versions()


def test_validation_is_dbts_own_with_the_schema_read_from_the_file(keep, tmp_path):
    path = tmp_path / "dbt_json_schemas.json"
    keep(str(path))
    Project.json_schema()
    keep(str(path))  # a new process: the schema now comes from the file
    project = {"name": "p", "version": "1.0.0", "profile": "p", "config-version": 2}
    Project.validate(project)
    with pytest.raises(ValidationError, match="is not of type 'string'"):
        Project.validate({**project, "name": 12})


def test_a_file_that_cannot_be_written_costs_one_line_not_the_schema(keep, tmp_path, capsys):
    (tmp_path / "target").write_text("")  # a file where the folder belongs
    path = tmp_path / "target" / "dbt_json_schemas.json"
    keep(str(path))
    assert Project.json_schema() == BUILT_BY_DBT
    assert PackageConfig.json_schema()["title"] == "PackageConfig"  # the next one, without another line
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"dbt_launcher: cannot keep dbt's JSON schemas in {path} (")  # (the OS's reason)
    assert line.endswith("); dbt builds them as usual")
