"""The audit trail on the real PostgreSQL and broker: an entry commits with its change or
not at all, it is published on audit-recorded, and the table refuses to be rewritten."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared import audit, codec, topics
from shared.db import migrate
from shared.events import AuditRecorded
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from tests import harness

pytestmark = pytest.mark.integration

SCHEMA = "audittest"
OPS = audit.Actor("ops-1", "Olga Operator", ("operator",))


@pytest.fixture
async def runtime(private_namespace: harness.Namespace) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(ServiceSettings(service_name=SCHEMA, kafka_bootstrap=private_namespace.bootstrap,
                                            database_url=private_namespace.database_url,
                                            topic_prefix=private_namespace.topic_prefix))
    await migrate(rt.pool, rt.schema, None)
    await rt.pool.execute(f"CREATE TABLE {SCHEMA}.things (name text PRIMARY KEY)")
    yield rt
    await rt.close()


async def test_an_entry_commits_with_its_change_and_never_without_it(runtime: Runtime,
                                                                      private_namespace: harness.Namespace) -> None:
    async with runtime.unit_of_work() as uow:
        await uow.conn.execute(f"INSERT INTO {SCHEMA}.things VALUES ('kept')")
        audit.record(uow, OPS, "thing.created", "thing", "kept", after={"name": "kept"})
    with pytest.raises(RuntimeError):
        async with runtime.unit_of_work() as uow:
            await uow.conn.execute(f"INSERT INTO {SCHEMA}.things VALUES ('lost')")
            audit.record(uow, OPS, "thing.created", "thing", "lost")
            raise RuntimeError("the change fails after it was recorded")

    rows = await runtime.audit.query(runtime.pool)
    assert [(r["subject_id"], r["actor"], r["actor_name"]) for r in rows] == [("kept", "ops-1", "Olga Operator")]
    assert rows[0]["changes"] == [{"path": "", "before": None, "after": {"name": "kept"}}]

    await runtime.settle()
    published = [codec.decode_record(AuditRecorded, r.value, list(r.headers), r.timestamp) for r in
                 harness.read_topic(private_namespace.bootstrap, private_namespace.topic(topics.AUDIT_RECORDED))]
    assert [(e.subject_id, e.service, e.actor) for e in published] == [("kept", SCHEMA, "ops-1")]


async def test_the_table_refuses_update_delete_and_truncate(runtime: Runtime) -> None:
    async with runtime.unit_of_work() as uow:
        audit.record(uow, OPS, "thing.created", "thing", "t1")
    for statement in (f"UPDATE {SCHEMA}.audit_log SET actor = 'someone-else'",
                      f"DELETE FROM {SCHEMA}.audit_log", f"TRUNCATE {SCHEMA}.audit_log"):
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="append-only"):
            await runtime.pool.execute(statement)
    assert [r["actor"] for r in await runtime.audit.query(runtime.pool)] == ["ops-1"]
