"""shared.db on the real PostgreSQL: a schema from before the outbox dropped its
``published_at`` column is brought up to date, and the inbox forgets handled ids once
they are older than its retention while still dropping duplicates within it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db import Outbox, OutboxRow, create_pool, migrate
from tests import harness

pytestmark = pytest.mark.integration

SCHEMA = "dbtest"

# The plumbing tables as a schema made before confirmed outbox rows were deleted had them.
OLD_OUTBOX = f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.outbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          bytea NOT NULL,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON {SCHEMA}.outbox (id) WHERE published_at IS NULL;
"""


@pytest.fixture
async def pool(infra: harness.Infra) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own (no topics needed), dropped afterwards."""
    name = f"lbtest_db{uuid.uuid4().hex[:8]}"
    url = await harness.create_database(infra.admin_database_url, name)
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()
        await harness.drop_database(infra.admin_database_url, name)


async def columns(pool: asyncpg.Pool, table: str) -> set[str]:
    rows = await pool.fetch("SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = $1 AND table_name = $2", SCHEMA, table)
    return {r["column_name"] for r in rows}


async def test_an_old_outbox_loses_its_published_at_column_and_keeps_its_rows(pool: asyncpg.Pool) -> None:
    await pool.execute(OLD_OUTBOX)
    await pool.execute(f"INSERT INTO {SCHEMA}.outbox(event_id, topic, key, value, headers, created_at) "
                       "VALUES ('e1', 't', 'k', 'v', '[]', now() - interval '1 hour')")
    assert "published_at" in await columns(pool, "outbox")

    await migrate(pool, SCHEMA, None)
    await migrate(pool, SCHEMA, None)  # and again, as on every start: nothing left to do

    assert "published_at" not in await columns(pool, "outbox")
    outbox = Outbox(SCHEMA)
    async with pool.acquire() as conn:
        await outbox.add(conn, [OutboxRow("e2", "t", b"k", b"v", [])])
        assert [r.event_id for r in await outbox.unpublished(conn, older_than_s=60)] == ["e1"]
