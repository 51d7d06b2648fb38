"""PostgreSQL plumbing: the pool, per-service schema migrations, the inbox and the outbox.

Each service owns one schema (named after the service) and never reads another's.
Migrations are plain ``NNN_name.sql`` files in the service's ``migrations/`` folder,
applied once each, in order, under an advisory lock so that two replicas starting
together do not race.

Two tables in every schema carry the delivery guarantees:

- ``inbox``: the id of every event the service has handled, written in the same
  transaction as the effect, so a redelivered event is recognised and skipped. Ids
  are pruned once older than the longest a record stays readable on its topic
  (``ServiceSettings.inbox_retention_s``): by then nothing can deliver it again.
  (A per-partition processed position would not do instead: the duplicates that
  happen most, an outbox row re-sent after a lost confirmation, a producer's retry,
  a dead letter replayed, arrive at new offsets, and only their ids match.)
- ``outbox``: every event the service emits, written in that same transaction and
  published after commit; a relay re-publishes any row whose send was not confirmed.
  Confirmed rows are deleted (Kafka is the log; an UPDATE would rewrite each row,
  payload and all, and cost the database more than the insert did).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import orjson

log = logging.getLogger(__name__)

PLUMBING_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.inbox (
    event_id   text PRIMARY KEY,
    topic      text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.outbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          bytea NOT NULL,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- Inbound webhooks' replay cache (shared.webhooks): every delivery's id, per sender.
CREATE TABLE IF NOT EXISTS {schema}.webhook_receipts (
    source      text NOT NULL,
    webhook_id  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, webhook_id)
);
CREATE INDEX IF NOT EXISTS webhook_receipts_by_age ON {schema}.webhook_receipts (received_at);
-- The audit trail (shared.audit): one row per AuditRecorded, written in the transaction of
-- the change it records. Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE to
-- every role, the service's own included.
CREATE TABLE IF NOT EXISTS {schema}.audit_log (
    seq          bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    action       text NOT NULL,
    subject_type text NOT NULL,
    subject_id   text NOT NULL,
    actor        text NOT NULL,
    actor_name   text NOT NULL,
    actor_roles  text[] NOT NULL,
    changes      jsonb NOT NULL,
    details      jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_by_subject ON {schema}.audit_log (subject_type, subject_id, seq);
CREATE INDEX IF NOT EXISTS audit_log_by_actor ON {schema}.audit_log (actor, seq);
CREATE OR REPLACE FUNCTION {schema}.audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $audit$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on %.audit_log refused', TG_OP, TG_TABLE_SCHEMA
        USING ERRCODE = 'insufficient_privilege';
END $audit$;
CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON {schema}.audit_log
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_refuse_change();
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {schema}.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_refuse_change();
-- Capture sources' API keys (a keyed hash, never the key), form keys and webhook
-- secrets (shared.sources): issued, rotated and revoked by operators.
CREATE TABLE IF NOT EXISTS {schema}.source_credentials (
    credential_id   text PRIMARY KEY,
    kind            text NOT NULL,
    source          text NOT NULL,
    campaign        text,
    allowed_origins text[] NOT NULL DEFAULT '{{}}',
    rate_limit      text,
    label           text NOT NULL DEFAULT '',
    digest          bytea UNIQUE,
    secret          text,
    created_at      timestamptz NOT NULL,
    created_by      text,
    valid_until     timestamptz,
    revoked_at      timestamptz,
    replaces        text
);
-- A timer table's trigger function (shared.wakeups): at commit, notify "{schema}.due" with
-- the table and the earliest due time of the statement's rows (TG_ARGV[0], an SQL
-- expression over a row that is NULL when it is not pending), when that is under a
-- minute away (shared.wakeups.HORIZON_S): no job sleeps longer.
CREATE OR REPLACE FUNCTION {schema}.notify_due() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    due double precision;
BEGIN
    EXECUTE format('SELECT extract(epoch FROM min(%s)) FROM new_rows', TG_ARGV[0]) INTO due;
    IF due IS NOT NULL AND due < extract(epoch FROM clock_timestamp()) + 60 THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '.due', TG_TABLE_NAME || ' ' || due::text);
    END IF;
    RETURN NULL;
END $fn$;
-- Schemas made before confirmed rows were deleted have a published_at column (with a
-- partial index on it) that nothing reads or writes any more: dropped once, here,
-- so the check costs no lock on later starts.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = '{schema}' AND table_name = 'outbox' AND column_name = 'published_at') THEN
        ALTER TABLE {schema}.outbox DROP COLUMN published_at;
    END IF;
END $$;
"""


# Errors worth waiting out (database restarting, network blip, lock conflicts) rather
# than dead-lettering the event: the event is fine, the world is not.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.AdminShutdownError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(typ, encoder=lambda v: orjson.dumps(v).decode(),
                                  decoder=orjson.loads, schema="pg_catalog")


def _loopback_without_tls(dsn: str) -> dict[str, Any]:
    """asyncpg negotiates TLS by default ("prefer"); on loopback that only burns CPU on
    every query. An explicit ``sslmode`` in the URL always wins."""
    parts = urlsplit(dsn)
    if "sslmode" in parse_qs(parts.query) or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return {}
    return {"ssl": False}


# asyncpg prepares every statement, and after five runs PostgreSQL may switch a
# statement to a cached generic plan. On a fresh install every table starts empty, so
# that plan is a sequential scan, kept while the table grows: scoring's evidence
# lookup read 2.7 million rows for 26,000 in one bench run and slowed with every
# batch. Custom plans see the table as it is now; planning a batch query costs far
# less than running it.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection returned to the pool needs beyond asyncpg's own clean-up (which
    rolls back an open transaction and drops listeners): nothing. asyncpg's default reset
    is a statement per release (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL;``), a round trip after every unit of work, and pooled connections here keep
    no session state: no statement changes a setting (the pool's are fixed at connect),
    LISTEN has a connection of its own (shared.wakeups), and the migration's session lock
    is released where it is taken."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection,
                                     reset=_keep_session, command_timeout=30, server_settings=SERVER_SETTINGS,
                                     **_loopback_without_tls(dsn))
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection outside the pool (the due-time listener's, shared.wakeups)."""
    return await asyncpg.connect(dsn, **_loopback_without_tls(dsn))


async def _ensure_inbox_age_index(conn: asyncpg.Connection, schema: str) -> None:
    """The index the inbox is pruned by. Built without blocking writes (on an existing,
    large inbox that takes a while), hence outside the DDL's implicit transaction; a
    build that was interrupted leaves an invalid index behind, which is built again."""
    valid = await conn.fetchval("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)",
                                f"{schema}.inbox_handled_at")
    if valid:
        return
    if valid is not None:
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema}.inbox_handled_at")
    # the pool's 30 s command timeout would abort the build on a large inbox at every start
    await conn.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS inbox_handled_at ON {schema}.inbox (handled_at)",
                       timeout=3600)


async def migrate(pool: asyncpg.Pool, schema: str, migrations_dir: Path | None) -> list[str]:
    """Create the schema, the plumbing tables and apply the service's migrations.

    Returns the names of the migrations applied now. In the SQL files ``{schema}``
    stands for the service's schema name."""
    lock_id = int.from_bytes(hashlib.sha1(schema.encode()).digest()[:7], "big")
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        # Try, never wait inside a statement: a replica blocked in pg_advisory_lock is an
        # open transaction, which the holder's CREATE INDEX CONCURRENTLY waits for (a deadlock
        # when replicas start together on a fresh database).
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id):
            await asyncio.sleep(0.2)
        try:
            # In the secure profile the schema is made for the service's role, which may not
            # create schemas (CREATE SCHEMA IF NOT EXISTS checks that right even when it exists).
            if await conn.fetchval("SELECT to_regnamespace($1) IS NULL", schema):
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            await conn.execute(PLUMBING_DDL.format(schema=schema))
            await _ensure_inbox_age_index(conn, schema)
            done = {r["name"] for r in await conn.fetch(f"SELECT name FROM {schema}.schema_migrations")}
            files = sorted(migrations_dir.glob("*.sql")) if migrations_dir else []  # noqa: ASYNC240 - a few small files at start
            for path in files:
                if path.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text().replace("{schema}", schema))
                    await conn.execute(f"INSERT INTO {schema}.schema_migrations(name) VALUES ($1)", path.name)
                applied_now.append(path.name)
                log.info("migration applied", extra={"schema": schema, "migration": path.name})
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
    return applied_now


class Inbox:
    """Which events this service has already handled."""

    def __init__(self, schema: str) -> None:
        self._schema = schema

    async def claim(self, conn: asyncpg.Connection, topic: str, event_ids: Sequence[str]) -> set[str]:
        """Record ``event_ids`` as handled (in the caller's transaction) and return those
        that were not already: one statement does both the check and the record."""
        rows = await conn.fetch(
            f"INSERT INTO {self._schema}.inbox(event_id, topic) SELECT unnest($1::text[]), $2 "
            "ON CONFLICT DO NOTHING RETURNING event_id", list(dict.fromkeys(event_ids)), topic)
        return {r["event_id"] for r in rows}

    async def prune(self, pool: Any, older_than_s: float, *, chunk: int = 10_000) -> int:
        """Forget the ids handled more than ``older_than_s`` ago, ``chunk`` rows per
        statement (each its own short transaction, so neither locks nor WAL pile up and
        consumers' claims go on between chunks); returns how many were forgotten. Rows
        another replica is deleting at the same moment are skipped, not waited for."""
        total = 0
        while True:
            status = await pool.execute(
                f"DELETE FROM {self._schema}.inbox WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {self._schema}.inbox WHERE handled_at < now() - make_interval(secs => $1) "
                "LIMIT $2 FOR UPDATE SKIP LOCKED))", older_than_s, chunk)
            deleted = int(status.split()[-1])
            total += deleted
            if deleted < chunk:
                return total
            await asyncio.sleep(0)  # let the service's own work in between chunks


class AuditLog:
    """The service's audit trail (see :mod:`shared.audit`): appended to in the caller's
    transaction, read by ``GET /v1/audit``; the table itself refuses any change."""

    COLUMNS = ("seq, event_id, occurred_at, recorded_at, action, subject_type, subject_id, actor, actor_name, "
               "actor_roles, changes, details")

    def __init__(self, schema: str) -> None:
        self._schema = schema

    async def add(self, conn: asyncpg.Connection, entries: Sequence[Any]) -> None:
        """Append ``entries`` (:class:`shared.events.AuditRecorded`) in the caller's
        transaction; an entry already there (a re-run with the same event id) is kept."""
        if not entries:
            return
        await conn.executemany(
            f"INSERT INTO {self._schema}.audit_log(event_id, occurred_at, action, subject_type, subject_id, actor, "
            "actor_name, actor_roles, changes, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (event_id) DO NOTHING",
            [(e.event_id, e.occurred_at, e.action, e.subject_type, e.subject_id, e.actor, e.actor_name,
              list(e.actor_roles), [c.model_dump(mode="json") for c in e.changes], e.details) for e in entries])

    async def query(self, conn: Any, *, subject_types: Sequence[str] | None = None, subject_id: str | None = None,
                    action: str | None = None, actor: str | None = None, since: Any = None, until: Any = None,
                    after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Entries in the order they were recorded, after ``after_seq``, narrowed by
        each filter given (``subject_types``: any of them)."""
        rows = await conn.fetch(
            f"SELECT {self.COLUMNS} FROM {self._schema}.audit_log WHERE seq > $1 "
            "AND ($2::text[] IS NULL OR subject_type = ANY($2)) AND ($3::text IS NULL OR subject_id = $3) "
            "AND ($4::text IS NULL OR action = $4) AND ($5::text IS NULL OR actor = $5) "
            "AND ($6::timestamptz IS NULL OR occurred_at >= $6) AND ($7::timestamptz IS NULL OR occurred_at < $7) "
            "ORDER BY seq LIMIT $8",
            after_seq, list(subject_types) if subject_types is not None else None, subject_id, action, actor,
            since, until, limit)
        return [dict(r) for r in rows]


class OutboxRow:
    __slots__ = ("event_id", "headers", "key", "topic", "value")

    def __init__(self, event_id: str, topic: str, key: bytes, value: bytes,
                 headers: list[tuple[str, bytes]]) -> None:
        self.event_id = event_id
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers


class Outbox:
    """Events to publish, stored with the state change that caused them."""

    def __init__(self, schema: str) -> None:
        self._schema = schema

    async def add(self, conn: asyncpg.Connection, rows: Sequence[OutboxRow]) -> None:
        if not rows:
            return
        # One statement for the whole batch (executemany costs a round of work per row).
        await conn.execute(
            f"INSERT INTO {self._schema}.outbox(event_id, topic, key, value, headers) "
            "SELECT e, t, k, v, h::jsonb FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[]) "
            "AS u(e, t, k, v, h) ON CONFLICT (event_id) DO NOTHING",
            [r.event_id for r in rows], [r.topic for r in rows], [r.key for r in rows], [r.value for r in rows],
            # as JSON text: a list of lists would be taken for a multi-dimensional array
            [orjson.dumps([[k, v.decode()] for k, v in r.headers]).decode() for r in rows])

    async def mark_published(self, pool_or_conn: Any, event_ids: Sequence[str]) -> None:
        """The broker confirmed these: nothing is left to do for them."""
        if event_ids:
            await pool_or_conn.execute(f"DELETE FROM {self._schema}.outbox WHERE event_id = ANY($1::text[])",
                                       list(event_ids))

    async def backlog(self, conn: Any) -> tuple[int, float]:
        """How many rows wait for the broker's confirmation, and the oldest one's age in
        seconds (0 when none). Confirmed rows are deleted, so the table stays small."""
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
            f"FROM {self._schema}.outbox")
        return int(row["n"]), float(row["age"])

    async def unpublished(self, conn: Any, older_than_s: float, limit: int = 1000) -> list[OutboxRow]:
        rows = await conn.fetch(
            f"SELECT event_id, topic, key, value, headers FROM {self._schema}.outbox "
            "WHERE created_at < now() - make_interval(secs => $1) "
            "ORDER BY id LIMIT $2", older_than_s, limit)
        return [OutboxRow(r["event_id"], r["topic"], bytes(r["key"]), bytes(r["value"]),
                          [(k, v.encode()) for k, v in r["headers"]]) for r in rows]
