"""PostgreSQL settings, read from the environment and checked before anything connects.

A connection URL carries a password, so no message here ever quotes it: errors name the variable and
say what is wrong with it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

PUBLISH_URL = "AMOCRM_KPI_PUBLISH_POSTGRES_URL"
PUBLISH_SCHEMA = "AMOCRM_KPI_PUBLISH_POSTGRES_SCHEMA"
PUBLISH_READER = "AMOCRM_KPI_PUBLISH_POSTGRES_READER"
PUBLISH_LOCK_WAIT = "AMOCRM_KPI_PUBLISH_POSTGRES_LOCK_WAIT_SECONDS"
DAGSTER_URL = "AMOCRM_KPI_DAGSTER_POSTGRES_URL"

DEFAULT_SCHEMA = "marts"
DEFAULT_READER = "amocrm_kpi_reader"
DEFAULT_LOCK_WAIT = 600.0
LIBPQ_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
# Dagster's storage goes through SQLAlchemy 2.1, which reads plain postgresql:// as psycopg 3 (not installed)
SQLALCHEMY_SCHEMES = ("postgresql+psycopg2",)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


class PostgresSettingsError(ValueError):
    """A PostgreSQL setting is present but unusable; the message is safe to show (no secret in it)."""


@dataclass(frozen=True)
class PublishSettings:
    url: str  # libpq form (postgresql://...), for psycopg2 and dlt
    schema: str  # the schema readers query
    reader: str  # the read-only role granted on it
    lock_wait_seconds: float  # how long the swap may wait for readers' long transactions

    @property
    def staging_schema(self) -> str:
        """Where dlt loads; readers have no grant on it."""
        return f"{self.schema}_loading"


def publish_configured() -> bool:
    return bool(os.environ.get(PUBLISH_URL, "").strip())


def publish_settings() -> PublishSettings:
    """The publish target, or PostgresSettingsError naming what to fix."""
    url = check_url(PUBLISH_URL, os.environ.get(PUBLISH_URL, ""))
    schema = _identifier(PUBLISH_SCHEMA, os.environ.get(PUBLISH_SCHEMA) or DEFAULT_SCHEMA)
    reader = _identifier(PUBLISH_READER, os.environ.get(PUBLISH_READER) or DEFAULT_READER)
    raw_wait = os.environ.get(PUBLISH_LOCK_WAIT) or str(DEFAULT_LOCK_WAIT)
    try:
        wait = float(raw_wait)
    except ValueError:
        raise PostgresSettingsError(f"{PUBLISH_LOCK_WAIT} must be a number of seconds, got {raw_wait!r}") from None
    if wait <= 0:
        raise PostgresSettingsError(f"{PUBLISH_LOCK_WAIT} must be positive, got {raw_wait!r}")
    return PublishSettings(url=url, schema=schema, reader=reader, lock_wait_seconds=wait)


def check_url(name: str, value: str, schemes: tuple[str, ...] = LIBPQ_SCHEMES) -> str:
    """`value` as a libpq URL (`postgresql://user:password@host:port/database`), or an error about `name`."""
    value = value.strip()
    if not value:
        raise PostgresSettingsError(f"{name} is not set")
    shape = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise PostgresSettingsError(f"{name} is not a URL of the form {shape} (value not shown)") from None
    shape = shape.replace("postgresql://", schemes[0] + "://")
    if parts.scheme not in schemes:
        raise PostgresSettingsError(
            f"{name} must start with {' or '.join(s + '://' for s in schemes)}, not {parts.scheme or 'nothing'!r}: "
            f"use the form {shape}")
    if not parts.hostname:
        raise PostgresSettingsError(f"{name} names no host: use the form {shape}")
    if not unquote(parts.path.lstrip("/")):
        raise PostgresSettingsError(f"{name} names no database: use the form {shape}")
    if not parts.username:
        raise PostgresSettingsError(f"{name} names no user: use the form {shape}")
    return "postgresql://" + value.split("://", 1)[1]


def _identifier(name: str, value: str) -> str:
    value = value.strip()
    if not _IDENTIFIER.match(value):
        raise PostgresSettingsError(
            f"{name} must be a lower-case PostgreSQL name (letters, digits, _; at most 41 characters), got {value!r}")
    return value
