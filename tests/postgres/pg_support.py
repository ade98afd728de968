"""Helpers of the PostgreSQL tests (plain functions; the fixtures are in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from psycopg2 import sql


@contextmanager
def admin(url: str) -> Iterator:
    """A cursor in autocommit mode (CREATE DATABASE cannot run in a transaction), closed afterwards."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def drop_publication(url: str, settings) -> None:
    with admin(url) as cur:
        for schema in (settings.schema, settings.staging_schema):
            cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        cur.execute("select rolname from pg_roles where rolname like %s", [settings.reader + "%"])
        for (role,) in cur.fetchall():
            cur.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
