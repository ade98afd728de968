"""Which Dagster instance configuration `make demo` and `make ui` install into $DAGSTER_HOME.

`dagster.yaml` (SQLite under $DAGSTER_HOME) by default; `dagster.postgres.yaml` (dagster-postgres)
when AMOCRM_KPI_DAGSTER_POSTGRES_URL is set. The URL is checked and the server tried first, so a
mistake stops before any run with a message that names the variable and never shows the password.

`python -m pipelines.postgres.instance` installs the file and prints $DAGSTER_HOME (used by `make ui`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pipelines import paths
from pipelines.postgres.settings import DAGSTER_URL, SQLALCHEMY_SCHEMES, PostgresSettingsError, check_url
from pipelines.redaction import redact

SQLITE_YAML = paths.PROJECT_ROOT / "dagster.yaml"
POSTGRES_YAML = paths.PROJECT_ROOT / "dagster.postgres.yaml"


def instance_yaml() -> Path:
    """The instance configuration to use; PostgresSettingsError when the PostgreSQL one is set but unusable."""
    raw = os.environ.get(DAGSTER_URL, "")
    if not raw.strip():
        return SQLITE_YAML
    url = check_url(DAGSTER_URL, raw, SQLALCHEMY_SCHEMES)
    check_reachable(DAGSTER_URL, url)
    return POSTGRES_YAML


def check_reachable(name: str, url: str) -> None:
    """Connect once, so a wrong host, password or database is reported now, in plain words."""
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=10, application_name="amocrm-kpi check").close()
    except psycopg2.Error as exc:
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise PostgresSettingsError(f"cannot connect to the PostgreSQL server of {name}: {reason}. Check the "
                                    "host, port, user, password and database in it, and that the server runs") from None


def install_instance(home: Path | None = None) -> Path:
    """$DAGSTER_HOME (default `.dagster_home/`) holding the chosen configuration as dagster.yaml, refreshed when
    it changed (a copy made once would keep an old configuration after an upgrade or a switch)."""
    source = instance_yaml()
    home = home or Path(os.environ.setdefault("DAGSTER_HOME", str(paths.PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    installed = home / "dagster.yaml"
    if not installed.exists() or installed.read_bytes() != source.read_bytes():
        shutil.copy(source, installed)
    return home


def main(argv: list[str] | None = None) -> int:
    import argparse

    argparse.ArgumentParser(prog="python -m pipelines.postgres.instance", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    try:
        home = install_instance()
    except PostgresSettingsError as exc:
        print(f"Not started: {exc}", file=sys.stderr)
        return 2
    print(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
