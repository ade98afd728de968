"""PostgreSQL fixtures: a server URL (AMOCRM_KPI_TEST_POSTGRES_URL, exported by scripts/test-postgres,
which .ci/run runs), and per-test schemas, roles and databases, dropped afterwards, so parallel sessions
on one server never meet. Tests that use them are in xdist group "postgres".

Without the variable the tests skip with the command that starts the server; in CI (CI set) they fail.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from psycopg2 import sql

from pg_support import admin, drop_publication, unique

URL_VARIABLE = "AMOCRM_KPI_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{URL_VARIABLE} is not set in CI: .ci/run must start PostgreSQL with scripts/test-postgres")
        pytest.skip(f"needs PostgreSQL: run `eval \"$(scripts/test-postgres)\"` (starts the local server, exports "
                    f"{URL_VARIABLE}), then the tests again")
    return url


@pytest.fixture
def publish_target(postgres_url, monkeypatch):
    """Settings of a publish into a schema and reader role of this test's own; both dropped afterwards."""
    from pipelines.postgres.settings import PublishSettings

    schema, reader = unique("t_marts"), unique("t_reader")
    settings = PublishSettings(url=postgres_url, schema=schema, reader=reader, lock_wait_seconds=60)
    yield settings
    drop_publication(postgres_url, settings)


@pytest.fixture
def login_as(postgres_url):
    """`login_as(role)`: a connection URL of a new login role that is a member of `role` (how people are
    given the read-only role), dropped with `role` by the fixture that made it."""

    def make(role: str) -> str:
        user, password = f"{role}_login", uuid.uuid4().hex
        with admin(postgres_url) as cur:
            cur.execute(sql.SQL("create role {} login password %s in role {}").format(
                sql.Identifier(user), sql.Identifier(role)), [password])
        parts = urlsplit(postgres_url)
        netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 5432}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    return make


@pytest.fixture(scope="module")
def scratch_database(postgres_url):
    """A database of this module's own (for a Dagster instance), dropped afterwards: its URL."""
    name = unique("t_dagster")
    with admin(postgres_url) as cur:
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    parts = urlsplit(postgres_url)
    yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    with admin(postgres_url) as cur:
        cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
