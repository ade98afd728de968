"""Swap the staged tables in for the published ones, in one transaction, without ever failing a reader.

The swap first takes ACCESS EXCLUSIVE locks on every published table with NOWAIT: while any reader's
transaction has touched one of them, the swap does not start (it rolls back and retries shortly), so a
reader's open transaction sees one version from its first query to its last; the swap never queues
behind a reader, so new readers are never stuck behind it. Once the locks are held, dropping the old
tables and moving the staged ones in (`alter table ... set schema`) is catalog work of milliseconds;
a query arriving then waits for the commit and reads the new tables. If readers keep the tables busy
longer than the configured wait, the swap gives up loudly and the previous version stays published.

Known limit: a REPEATABLE READ / SERIALIZABLE transaction whose snapshot was taken before the load but
that touched no published table before the swap sees the new tables empty; BI tools use READ COMMITTED.
"""

from __future__ import annotations

import logging
import time

from psycopg2 import errors, sql

from pipelines.postgres.settings import PUBLISH_LOCK_WAIT, PUBLISH_READER, PublishSettings

log = logging.getLogger(__name__)
RETRY_PAUSE_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


def ensure_reader(conn, reader: str) -> None:
    """The read-only role exists (created NOLOGIN when missing: people log in as their own roles that are
    members of it)."""
    with conn.cursor() as cur:
        cur.execute("select 1 from pg_roles where rolname = %s", [reader])
        if cur.fetchone():
            return
        try:
            cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(reader)))
        except errors.InsufficientPrivilege:
            conn.rollback()
            raise RuntimeError(
                f"the read-only role {reader!r} does not exist and the publishing user may not create roles: "
                f"ask the database administrator to run `create role {reader} nologin;`, or set {PUBLISH_READER} "
                "to an existing role") from None
    conn.commit()


def swap_in(conn, settings: PublishSettings, tables: list[str]) -> None:
    """Replace every table of `settings.schema` with the staged `tables`; drop the staging schema."""
    deadline = time.monotonic() + settings.lock_wait_seconds
    attempt = 0
    while True:
        try:
            _swap_once(conn, settings, tables)
            break
        except errors.LockNotAvailable:
            conn.rollback()
            blockers = _blockers(conn, settings.schema)
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"readers kept tables of PostgreSQL schema {settings.schema!r} busy for "
                    f"{settings.lock_wait_seconds:g} s ({blockers}); the previous version stays published. "
                    f"End those transactions or raise {PUBLISH_LOCK_WAIT}; the next run publishes again") from None
            pause = RETRY_PAUSE_SECONDS[min(attempt, len(RETRY_PAUSE_SECONDS) - 1)]
            log.info("waiting %.1f s for readers to finish their transactions on %s (%s)", pause, settings.schema,
                     blockers)
            time.sleep(pause)
            attempt += 1
    with conn.cursor() as cur:
        cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(settings.staging_schema)))
    conn.commit()


def _swap_once(conn, settings: PublishSettings, tables: list[str]) -> None:
    schema, reader = sql.Identifier(settings.schema), sql.Identifier(settings.reader)
    with conn.cursor() as cur:
        cur.execute("set local lock_timeout = '5s'")  # catalog locks (the schema, other DDL): never hang
        cur.execute(sql.SQL("create schema if not exists {}").format(schema))
        cur.execute("select tablename from pg_tables where schemaname = %s order by tablename", [settings.schema])
        published = [row[0] for row in cur.fetchall()]
        if published:
            names = sql.SQL(", ").join(sql.Identifier(settings.schema, t) for t in published)
            cur.execute(sql.SQL("lock table {} in access exclusive mode nowait").format(names))
            cur.execute(sql.SQL("drop table {}").format(names))
        for table in tables:
            cur.execute(sql.SQL("alter table {} set schema {}").format(sql.Identifier(settings.staging_schema, table),
                                                                    schema))
        cur.execute(sql.SQL("revoke all on schema {} from public").format(schema))
        cur.execute(sql.SQL("grant usage on schema {} to {}").format(schema, reader))
        cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(schema, reader))
    conn.commit()


def _blockers(conn, schema: str) -> str:
    """Who holds the published tables: pid, application and user (never query text: it may hold data)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select distinct a.pid, coalesce(nullif(a.application_name, ''), 'unnamed'), a.usename,
                   coalesce(round(extract(epoch from now() - a.xact_start))::int, 0)
            from pg_locks l
            join pg_class c on c.oid = l.relation
            join pg_namespace n on n.oid = c.relnamespace
            join pg_stat_activity a on a.pid = l.pid
            where n.nspname = %s and l.pid <> pg_backend_pid() and l.granted
            order by 1
            """, [schema])
        rows = cur.fetchall()
    conn.rollback()
    if not rows:
        return "no reader holds them now"
    return "held by " + ", ".join(f"pid {pid} ({app}, user {user}, transaction open {age} s)"
                                  for pid, app, user, age in rows)
