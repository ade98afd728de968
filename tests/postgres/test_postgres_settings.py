"""PostgreSQL settings: checked before anything connects, never quoting a password, and off when unset."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.postgres import instance, settings
from pipelines.postgres.settings import PostgresSettingsError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Passw0rd"


@pytest.mark.parametrize(("value", "problem"), [
    (f"mysql://kpi:{SECRET}@db:3306/kpi", "must start with postgresql://"),
    (f"postgresql://kpi:{SECRET}@/kpi", "names no host"),
    (f"postgresql://kpi:{SECRET}@db:5432/", "names no database"),
    (f"postgresql://kpi:{SECRET}@db:54x2/kpi", "is not a URL"),
    ("postgresql://db:5432/kpi", "names no user"),
])
def test_a_bad_publish_url_is_named_and_its_password_never_shown(monkeypatch, value, problem):
    monkeypatch.setenv(settings.PUBLISH_URL, value)
    with pytest.raises(PostgresSettingsError) as caught:
        settings.publish_settings()
    assert problem in str(caught.value) and settings.PUBLISH_URL in str(caught.value)
    assert SECRET not in str(caught.value)


def test_publish_settings_defaults_and_checked_names(monkeypatch):
    monkeypatch.setenv(settings.PUBLISH_URL, f"postgres://kpi:{SECRET}@db/kpi")
    for name in (settings.PUBLISH_SCHEMA, settings.PUBLISH_READER, settings.PUBLISH_LOCK_WAIT):
        monkeypatch.delenv(name, raising=False)
    got = settings.publish_settings()
    assert (got.url, got.schema, got.reader, got.staging_schema) == (
        f"postgresql://kpi:{SECRET}@db/kpi", "marts", "amocrm_kpi_reader", "marts_loading")
    monkeypatch.setenv(settings.PUBLISH_SCHEMA, "Marts; drop table x")
    with pytest.raises(PostgresSettingsError, match="AMOCRM_KPI_PUBLISH_POSTGRES_SCHEMA must be a lower-case"):
        settings.publish_settings()


def test_the_dagster_instance_url_must_name_the_installed_driver(monkeypatch):
    monkeypatch.setenv(settings.DAGSTER_URL, f"postgresql://kpi:{SECRET}@db/kpi")
    with pytest.raises(PostgresSettingsError) as caught:
        instance.instance_yaml()
    assert "must start with postgresql+psycopg2://" in str(caught.value) and SECRET not in str(caught.value)


def test_an_unreachable_instance_database_stops_before_any_run(monkeypatch):
    monkeypatch.setenv(settings.DAGSTER_URL, f"postgresql+psycopg2://kpi:{SECRET}@127.0.0.1:1/kpi")
    with pytest.raises(PostgresSettingsError) as caught:
        instance.instance_yaml()
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the PostgreSQL server of {settings.DAGSTER_URL}")
    assert SECRET not in message


def test_sqlite_instance_unless_configured_and_the_two_files_differ_only_in_storage(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.DAGSTER_URL, raising=False)
    assert instance.install_instance(tmp_path) == tmp_path
    assert (tmp_path / "dagster.yaml").read_bytes() == (PROJECT_ROOT / "dagster.yaml").read_bytes()
    sqlite = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    postgres = yaml.safe_load((PROJECT_ROOT / "dagster.postgres.yaml").read_text())
    assert postgres.pop("storage") == {"postgres": {"postgres_url": {"env": settings.DAGSTER_URL}}}
    sqlite.pop("storage")
    assert postgres == sqlite
    assert postgres["run_monitoring"]["enabled"] is True


def test_nothing_changes_when_publishing_is_not_configured(monkeypatch):
    from pipelines.defs import postgres

    try:
        monkeypatch.delenv(settings.PUBLISH_URL, raising=False)
        assert importlib.reload(postgres).defs.assets in (None, [])
        monkeypatch.setenv(settings.PUBLISH_URL, "postgresql://kpi@db/kpi")
        assert [a.key.to_user_string() for a in importlib.reload(postgres).defs.assets] == ["postgres_marts"]
    finally:
        monkeypatch.undo()
        importlib.reload(postgres)


def test_the_url_is_a_known_secret_for_redaction(monkeypatch):
    from pipelines.redaction import redact

    monkeypatch.setenv(settings.PUBLISH_URL, f"postgresql://kpi:{SECRET}@db.internal:5432/kpi")
    assert SECRET not in redact(f"could not connect: password {SECRET} rejected")


@pytest.mark.parametrize("variable", [settings.PUBLISH_URL, settings.DAGSTER_URL])
def test_make_demo_with_a_wrong_postgres_url_stops_before_any_run(tmp_path, variable):
    env = {k: v for k, v in os.environ.items() if "AMO" not in k.upper()}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(tmp_path / "data"),
            "DAGSTER_HOME": str(tmp_path / "home"), variable: f"mysql://kpi:{SECRET}@db/kpi"}
    result = subprocess.run([sys.executable, "-m", "pipelines.demo"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.strip().startswith(f"Not started: {variable} must start with postgresql")
    assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()
