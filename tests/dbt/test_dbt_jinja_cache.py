"""The launcher's disk cache of Jinja's compiled templates (pipelines/dbt_launcher.py, `JinjaCodeCache`): a hit is
the code Jinja would compile for that environment, a bad entry is compiled again, nothing is stored where dbt's macro
debugging or a syntax error is involved, entries unread for 30 days go; through the launcher, a second build reuses
the first's entries (and its JSON schemas: tests/dbt/test_dbt_json_schemas.py) and compiles the same SQL, and a
folder it cannot write to costs one line on stderr, not the build.

In this process, then three dbt builds of a tiny project (about 13 CPU s).
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import time
from pathlib import Path

import jinja2
import pytest
from dbt_common.clients.jinja import get_environment

from pipelines.dbt_daily_build import DBT_COMMAND
from pipelines.dbt_launcher import JINJA_CACHE_DAYS, JinjaCodeCache, _project_target_dir
from tests.dbt.tiny_project import write_tiny_project

SOURCE = ("{% set n = 3 %}select {{ [n, 1] | max | as_number }} as n"
          "{% for i in range(2) %}, '{{ 'x' | upper }}{{ i }}' as c{{ i }}{% endfor %}")


def _with_a_filter() -> jinja2.Environment:
    env = get_environment()
    env.filters["shout"] = str.upper  # unused by SOURCE, yet another environment
    return env


ENVIRONMENTS = {"text": get_environment, "native": lambda: get_environment(native=True), "filter": _with_a_filter}


@pytest.fixture
def jinja_cache(tmp_path, monkeypatch):
    """The cache installed in this process for one test; Jinja's own compile as `jinja_cache.uncached`."""
    monkeypatch.setattr(jinja2.Environment, "compile", jinja2.Environment.compile)  # restored after the test
    monkeypatch.delenv("DBT_MACRO_DEBUGGING", raising=False)
    cache = JinjaCodeCache(str(tmp_path / "jinja_compiled"))
    cache.uncached = jinja2.Environment.compile
    cache.install()
    return cache


def _entries(directory: str | Path) -> dict[str, int]:
    """Each entry's name and mtime (ns)."""
    folder = Path(directory)
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.is_dir() else {}


def _render(env: jinja2.Environment, code) -> str:  # noqa: ANN001
    return env.template_class.from_code(env, code, env.make_globals(None)).render({})


def test_a_cached_template_is_the_code_jinja_compiles_for_that_environment_only(jinja_cache):
    assert jinja2.__version__.startswith("3.1."), "check _jinja_key against the new Jinja's lexer, parser, compiler"
    for make in ENVIRONMENTS.values():
        make().compile(SOURCE)
    stored = _entries(jinja_cache.directory)
    assert len(stored) == len(ENVIRONMENTS)  # text vs native, an added filter: one entry each

    for kind, make in ENVIRONMENTS.items():
        code, env = make().compile(SOURCE), make()  # a hit, in a new environment as dbt makes for each render
        assert code == jinja_cache.uncached(env, SOURCE), kind
        assert _render(env, code) == _render(env, jinja_cache.uncached(env, SOURCE)), kind
    assert _render(get_environment(), code) == "select 3 as n, 'X0' as c0, 'X1' as c1"
    assert _entries(jinja_cache.directory) == stored  # nothing written again


def test_an_entry_that_cannot_be_read_is_compiled_again_and_replaced(jinja_cache):
    get_environment().compile(SOURCE)
    [entry] = Path(jinja_cache.directory).iterdir()
    for bad in (b"", b"not marshal", marshal.dumps("not code")):
        entry.write_bytes(bad)
        assert get_environment().compile(SOURCE) == jinja_cache.uncached(get_environment(), SOURCE)
        assert marshal.loads(entry.read_bytes()) == jinja_cache.uncached(get_environment(), SOURCE)


def test_macro_debugging_a_syntax_error_and_python_source_are_left_to_jinja(jinja_cache, monkeypatch):
    env = get_environment()
    with pytest.raises(jinja2.TemplateSyntaxError):
        env.compile("select {{ unclosed")
    assert env.compile(SOURCE, raw=True) == jinja_cache.uncached(env, SOURCE, raw=True)
    monkeypatch.setenv("DBT_MACRO_DEBUGGING", "1")  # dbt then puts each template's Python in linecache as it compiles
    assert env.compile(SOURCE) == jinja_cache.uncached(env, SOURCE)
    assert _entries(jinja_cache.directory) == {}


def test_entries_unread_for_30_days_are_removed_and_a_hit_keeps_one(jinja_cache):
    get_environment().compile(SOURCE)
    get_environment().compile("select 1")
    month_ago = time.time() - (JINJA_CACHE_DAYS + 1) * 24 * 3600
    for entry in Path(jinja_cache.directory).iterdir():
        os.utime(entry, (month_ago, month_ago))
    get_environment().compile(SOURCE)  # read: its mtime is refreshed
    jinja_cache.prune()
    [kept] = Path(jinja_cache.directory).iterdir()
    assert marshal.loads(kept.read_bytes()) == jinja_cache.uncached(get_environment(), SOURCE)


def test_what_is_kept_is_in_the_projects_target_folder_whatever_target_path_the_run_has(tmp_path, monkeypatch):
    """dagster-dbt gives each run a target path of its own (DBT_TARGET_PATH): the Jinja cache and the JSON schemas
    kept there would never be read again."""
    monkeypatch.setenv("DBT_TARGET_PATH", "target/amocrm_transform-1234567-89abcde")
    monkeypatch.delenv("DBT_PROJECT_DIR", raising=False)
    (tmp_path / "dbt_project.yml").write_text("")
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path / "models")
    assert _project_target_dir(["build"]) == str(tmp_path / "target")  # found as dbt finds it
    assert _project_target_dir(["build", "--project-dir", "/p", "--target-path", "/t"]) == "/p/target"
    assert _project_target_dir(["build", "--project-dir=/p"]) == "/p/target"
    monkeypatch.setenv("DBT_PROJECT_DIR", "/q")  # as dagster-dbt starts dbt
    assert _project_target_dir(["build"]) == "/q/target"


def _build(root: Path) -> subprocess.CompletedProcess:
    """`dbt build` of the tiny project in `root` through the launcher, as the daily build starts dbt."""
    env = {k: v for k, v in os.environ.items() if k not in ("DBT_PROJECT_DIR", "DBT_TARGET_PATH")}
    result = subprocess.run([*DBT_COMMAND, "build", "--project-dir", str(root), "--profiles-dir", str(root)],
                            cwd=root, env={**env, "AMOCRM_KPI_DATA_DIR": str(root)}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _compiled(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in (root / "target" / "compiled").rglob("*.sql")}


@pytest.mark.slow
def test_a_second_build_reuses_the_compiled_templates_and_an_unwritable_cache_costs_one_line(tmp_path):
    root = tmp_path / "proj"
    write_tiny_project(root, "jcache")
    (root / "models" / "deals.sql").write_text(
        "select n as deal_id, '{{ 'won' | upper }}' as stage from range({{ var('rows', 3) }}) as t(n)\n")
    (root / "models" / "stages.sql").write_text(
        "{% for s in ['new', 'won'] %}select '{{ s }}' as stage{% if not loop.last %} union all {% endif %}"
        "{% endfor %}\n")
    (root / "models" / "schema.yml").write_text(
        "version: 2\nmodels:\n  - name: deals\n    columns:\n      - name: deal_id\n        data_tests: [unique]\n")
    cache = root / "target" / "jinja_compiled"

    assert not _build(root).stderr
    stored, compiled = _entries(cache), _compiled(root)
    assert len(stored) > 20 and len(compiled) == 3  # dbt's macros and the nodes' SQL
    schemas = root / "target" / "dbt_json_schemas.json"  # and the JSON schemas dbt validated its YAML against
    assert "dbt.contracts.project.Project" in json.loads(schemas.read_text())["schemas"]
    schemas_written = schemas.stat().st_mtime_ns
    (root / "warehouse.duckdb").unlink()  # the same build again, so the same templates (not "replace" paths)
    shutil.rmtree(root / "target" / "compiled")
    assert not _build(root).stderr
    assert _entries(cache) == stored  # each template read, none compiled and written again
    assert schemas.stat().st_mtime_ns == schemas_written  # each schema read, none built again
    assert _compiled(root) == compiled

    shutil.rmtree(cache)
    cache.write_text("")  # a file where the folder belongs: nothing can be stored
    shutil.rmtree(root / "target" / "compiled")
    [line] = _build(root).stderr.splitlines()
    assert line.startswith(f"dbt_launcher: cannot keep compiled Jinja templates in {cache} (")
    assert _compiled(root) == compiled
