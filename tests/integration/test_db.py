"""shared.db on the real PostgreSQL: a schema from before the outbox dropped its
``published_at`` column is brought up to date, and the inbox forgets handled ids once
they are older than its retention while still dropping duplicates within it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY

from shared import codec, topics
from shared.db import Outbox, OutboxRow, create_pool, migrate
from shared.events import LeadCaptured, LeadProfile
from shared.handling import RawRecord, Subscription, UnitOfWork
from shared.runtime import Runtime
from shared.service import ServiceDefinition, create_app
from shared.settings import ServiceSettings
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


async def test_replicas_starting_together_on_a_fresh_database_migrate_once_without_deadlock(
        infra: harness.Infra, tmp_path: Path) -> None:
    # Two replicas of one service start at once: one migrates (building the inbox index
    # CONCURRENTLY, which waits for every open transaction) while the other waits for the
    # migration lock. Waiting inside a statement was such a transaction: a deadlock.
    (tmp_path / "001_x.sql").write_text("CREATE TABLE {schema}.things (id int PRIMARY KEY);")
    name = f"lbtest_db{uuid.uuid4().hex[:8]}"
    url = await harness.create_database(infra.admin_database_url, name)
    pools = [await create_pool(url, min_size=1, max_size=2) for _ in range(2)]
    try:
        applied = await asyncio.gather(*(migrate(p, SCHEMA, tmp_path) for p in pools))
    finally:
        for p in pools:
            await p.close()
        await harness.drop_database(infra.admin_database_url, name)
    assert sorted(applied) == [[], ["001_x.sql"]]


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


async def test_an_old_inbox_gets_the_index_it_is_pruned_by(pool: asyncpg.Pool) -> None:
    await pool.execute(f"CREATE SCHEMA {SCHEMA}; CREATE TABLE {SCHEMA}.inbox (event_id text PRIMARY KEY, "
                       "topic text NOT NULL, handled_at timestamptz NOT NULL DEFAULT now())")
    await pool.execute(f"INSERT INTO {SCHEMA}.inbox(event_id, topic) "
                       "SELECT 'e' || i, 't' FROM generate_series(1, 1000) i")

    await migrate(pool, SCHEMA, None)

    valid = await pool.fetchval("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)",
                                f"{SCHEMA}.inbox_handled_at")
    assert valid is True
    assert await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.inbox") == 1000


# ---------------------------------------------------------------------------- inbox retention


def settings_for(ns: harness.Namespace, **kw: float) -> ServiceSettings:
    return ServiceSettings(service_name=SCHEMA, kafka_bootstrap=ns.bootstrap, database_url=ns.database_url,
                           topic_prefix=ns.topic_prefix, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def runtime(private_namespace: harness.Namespace) -> AsyncIterator[Runtime]:
    # an hour's retention, pruned two rows at a time: the chunks must add up
    rt = await Runtime.open(settings_for(private_namespace, inbox_retention_s=3600, inbox_prune_chunk=2))
    await migrate(rt.pool, rt.schema, None)
    yield rt
    await rt.close()


def captured(lead_id: str) -> LeadCaptured:
    return LeadCaptured(lead_id=lead_id, capture_id=f"c-{lead_id}", consent=True, source="web_form",
                        profile=LeadProfile(email=f"{lead_id}@x.example", name=lead_id, company="X"))


def records(events: Sequence[LeadCaptured]) -> list[RawRecord]:
    return [RawRecord(topics.LEAD_CAPTURED.name, 0, i, e.lead_id.encode(), codec.encode(e), [], None)
            for i, e in enumerate(events)]


async def handled_ids(pool: asyncpg.Pool) -> set[str]:
    return {r["event_id"] for r in await pool.fetch(f"SELECT event_id FROM {SCHEMA}.inbox")}


def pruned_total() -> float:
    return REGISTRY.get_sample_value("leadbridge_inbox_pruned_total", {"service": SCHEMA}) or 0.0


async def age(pool: asyncpg.Pool, events: Sequence[LeadCaptured], minutes: float) -> None:
    """As if these had been handled ``minutes`` ago."""
    await pool.execute(f"UPDATE {SCHEMA}.inbox SET handled_at = now() - make_interval(mins => $2) "
                       "WHERE event_id = ANY($1)", [e.event_id for e in events], minutes)


async def test_the_inbox_forgets_ids_past_its_retention_and_still_drops_duplicates_within_it(
        runtime: Runtime) -> None:
    handled: list[str] = []

    async def handle(events: Sequence[LeadCaptured], uow: UnitOfWork) -> None:
        handled.extend(e.lead_id for e in events)

    sub = Subscription(topics.LEAD_CAPTURED, batch_handler=handle)
    old, recent, fresh = ([captured(f"{kind}{i}") for i in range(n)]
                          for kind, n in (("old", 5), ("recent", 2), ("fresh", 2)))
    await runtime.consume_batch(sub, records([*old, *recent, *fresh]))
    await age(runtime.pool, old, 120)  # past the hour's retention
    await age(runtime.pool, recent, 50)  # within it

    pruned_before = pruned_total()
    assert await runtime.prune_inbox() == 5
    assert pruned_total() - pruned_before == 5

    assert await handled_ids(runtime.pool) == {e.event_id for e in [*recent, *fresh]}
    handled.clear()
    await runtime.consume_batch(sub, records([*recent, *fresh, old[0]]))
    assert handled == ["old0"]  # duplicates within the retention dropped; a forgotten id is new again
    assert await runtime.prune_inbox() == 0


async def test_every_service_prunes_its_inbox_on_a_clock(private_namespace: harness.Namespace) -> None:
    settings = settings_for(private_namespace, inbox_retention_s=3600, inbox_prune_every_s=0.2)
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        await migrate(pool, SCHEMA, None)
        old, fresh = [captured("old")], [captured("fresh")]
        await pool.execute(f"INSERT INTO {SCHEMA}.inbox(event_id, topic) SELECT unnest($1::text[]), 't'",
                           [e.event_id for e in [*old, *fresh]])
        await age(pool, old, 180)
        app = create_app(ServiceDefinition(settings=settings, title="no handlers: plumbing only"))
        async with app.router.lifespan_context(app):
            deadline = time.monotonic() + 20
            while await handled_ids(pool) != {fresh[0].event_id}:
                assert time.monotonic() < deadline, f"inbox still holds {await handled_ids(pool)}"
                await asyncio.sleep(0.2)
    finally:
        await pool.close()


async def test_a_connection_back_in_the_pool_has_no_transaction_left_open(pool: asyncpg.Pool) -> None:
    """The pool skips asyncpg's reset statement (shared.db._keep_session): a connection
    released in the middle of a transaction must still come back rolled back, its write gone."""
    await pool.execute("CREATE TABLE IF NOT EXISTS public.left_open (x int)")
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO public.left_open VALUES (1)")
        assert conn.is_in_transaction()
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        # whichever connection this is, no session of this database is still in that transaction
        stuck = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND state LIKE 'idle in transaction%'")
        assert stuck == 0
        assert await conn.fetchval("SELECT count(*) FROM public.left_open") == 0
