"""shared.wakeups on the real PostgreSQL: a timer table's trigger notifies the due time at
commit (the earliest pending one, if within the horizon), and a sleeping job wakes for a
timer due before it planned to wake, not for one due after."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.db import create_pool, migrate
from shared.handling import Periodic
from shared.wakeups import Sleeper, Wakeups
from tests import harness

pytestmark = pytest.mark.integration

SCHEMA = "waketest"
TIMER_TABLE = """
CREATE TABLE {schema}.alarms (id text PRIMARY KEY, due_at timestamptz, fired boolean NOT NULL DEFAULT false);
CREATE TRIGGER alarms_due AFTER INSERT ON {schema}.alarms REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN NOT fired THEN due_at END');
"""


@pytest.fixture
async def database(infra: harness.Infra, tmp_path: Path) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    name = f"lbtest_wake{uuid.uuid4().hex[:8]}"
    url = await harness.create_database(infra.admin_database_url, name)
    (tmp_path / "001_alarms.sql").write_text(TIMER_TABLE)
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        await migrate(pool, SCHEMA, tmp_path)
        yield url, pool
    finally:
        await pool.close()
        await harness.drop_database(infra.admin_database_url, name)


async def noop(_units: object) -> None:
    return None


async def slept(sleeper: Sleeper, seconds: float) -> float:
    started = time.monotonic()
    await sleeper.sleep(seconds)
    return time.monotonic() - started


async def test_a_sleeping_job_wakes_for_a_sooner_timer_only(database: tuple[str, asyncpg.Pool]) -> None:
    url, pool = database
    wakeups = Wakeups(url, SCHEMA)
    sleeper = wakeups.sleeper(Periodic("alarms", 60.0, noop, wake_on=("alarms",)))
    unrelated = wakeups.sleeper(Periodic("other", 60.0, noop, wake_on=("other_table",)))
    await wakeups.start()
    try:
        await asyncio.sleep(1.0)  # (the listener connects)
        # Due in 30 s, beyond a 3 s nap: no reason to wake early.
        nap = asyncio.create_task(slept(sleeper, 3.0))
        await asyncio.sleep(0.5)
        await pool.execute(f"INSERT INTO {SCHEMA}.alarms VALUES ('later', now() + interval '30 seconds')")
        assert await nap >= 2.9
        # Due now, during a 60 s sleep: it wakes at once; the job on another table sleeps on.
        long_sleep = asyncio.create_task(slept(sleeper, 60.0))
        other = asyncio.create_task(slept(unrelated, 8.0))
        await asyncio.sleep(0.5)
        await pool.execute(f"INSERT INTO {SCHEMA}.alarms VALUES ('now', now())")
        assert await asyncio.wait_for(long_sleep, 30) < 30
        assert await other >= 7.9
    finally:
        await wakeups.stop()


async def test_the_trigger_notifies_the_earliest_pending_due_time_within_the_horizon(
        database: tuple[str, asyncpg.Pool]) -> None:
    url, pool = database
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(url)
    try:
        await conn.add_listener(f"{SCHEMA}.due", lambda _c, _p, _ch, payload: heard.put_nowait(payload))
        await pool.execute(f"INSERT INTO {SCHEMA}.alarms VALUES ('far', now() + interval '1 hour', false), "
                           "('fired', now(), true)")  # beyond the horizon, and not pending: silence
        await pool.execute(f"INSERT INTO {SCHEMA}.alarms VALUES ('a', now() + interval '20 seconds', false), "
                           "('b', now() + interval '10 seconds', false)")
        table, due = (await asyncio.wait_for(heard.get(), 10)).split()
        assert table == "alarms" and 5 < float(due) - time.time() < 11  # b's, the earlier one
        assert heard.empty()
    finally:
        await conn.close()


async def test_a_job_waiting_on_notifications_must_poll_within_the_horizon() -> None:
    with pytest.raises(ValueError, match="at most every 60 s"):
        Wakeups("postgresql://unused", SCHEMA).sleeper(Periodic("slow", 600.0, noop, wake_on=("alarms",)))
