"""The shared runtime against the real PostgreSQL and Kafka: inbox deduplication,
dead letters for undecodable and failing records, the outbox relay, migrations."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from shared import codec, pii, topics
from shared.db import OutboxRow, migrate
from shared.events import Event, LeadCaptured, LeadProfile, LeadScored
from shared.handling import RawRecord, Subscription, UnitOfWork
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from tests import harness

pytestmark = pytest.mark.integration


@pytest.fixture
async def runtime(private_namespace: harness.Namespace, tmp_path: Path) -> AsyncIterator[Runtime]:
    (tmp_path / "001_things.sql").write_text(
        "CREATE TABLE {schema}.things (lead_id text PRIMARY KEY, times integer NOT NULL);")
    settings = ServiceSettings(service_name="plumbing", kafka_bootstrap=private_namespace.bootstrap,
                               database_url=private_namespace.database_url,
                               topic_prefix=private_namespace.topic_prefix, outbox_relay_after_s=0)
    TOPIC[:] = [private_namespace.topic(topics.LEAD_CAPTURED)]
    rt = await Runtime.open(settings)
    assert await migrate(rt.pool, rt.schema, tmp_path) == ["001_things.sql"]
    assert await migrate(rt.pool, rt.schema, tmp_path) == []  # applied once only
    yield rt
    await rt.close()


def captured(lead_id: str) -> LeadCaptured:
    return LeadCaptured(lead_id=lead_id, capture_id=f"c-{lead_id}", consent=True, source="web_form",
                        profile=LeadProfile(email=f"{lead_id}@x.example", name=lead_id, company="X"))


TOPIC: list[str] = []  # the namespace's lead-captured topic, set by the runtime fixture


async def on_topic(rt: Runtime, ns: harness.Namespace, spec: topics.TopicSpec,
                   timeout_s: float = 5.0) -> list[tuple[object, Event]]:
    """Each record on a topic with its event, personal fields opened as a consumer opens them."""
    records = list(harness.read_topic(ns.bootstrap, ns.topic(spec), timeout_s=timeout_s))
    keys = await rt.keys.for_opening(rt.pool, {s for r in records for s in pii.subjects_in(r.value)})
    return [(r, codec.decode_record(spec.value_model, r.value, list(r.headers), r.timestamp, keys)) for r in records]


def record(event: LeadCaptured | None, offset: int, raw: bytes | None = None) -> RawRecord:
    value = raw if event is None else codec.encode(event)
    ce_id = b"x" if event is None else event.event_id.encode()  # the codec refuses two ids for one event
    return RawRecord(TOPIC[0], 0, offset, b"k", value, [("ce_id", ce_id), ("origin", b"plumbing-test")], None)


async def count_things(rt: Runtime) -> dict[str, int]:
    rows = await rt.pool.fetch("SELECT lead_id, times FROM plumbing.things")
    return {r["lead_id"]: r["times"] for r in rows}


def counting_handler(fail_on: str | None = None) -> Subscription[LeadCaptured]:
    async def handle(events: Sequence[LeadCaptured], uow: UnitOfWork) -> None:
        for e in events:
            if e.lead_id == fail_on:
                raise RuntimeError(f"cannot handle {e.lead_id}")
            await uow.conn.execute(
                "INSERT INTO plumbing.things VALUES ($1, 1) "
                "ON CONFLICT (lead_id) DO UPDATE SET times = things.times + 1", e.lead_id)
    return Subscription(topics.LEAD_CAPTURED, batch_handler=handle)


async def test_redelivered_events_take_effect_once(runtime: Runtime) -> None:
    sub = counting_handler()
    events = [captured(f"L{i}") for i in range(5)]
    batch = [record(e, i) for i, e in enumerate(events)]
    await runtime.consume_batch(sub, batch)
    await runtime.consume_batch(sub, batch)  # the whole batch again, as after a crash before commit
    await runtime.consume_batch(sub, [batch[2], batch[2]])  # and a duplicate inside one batch
    assert await count_things(runtime) == {f"L{i}": 1 for i in range(5)}


async def test_a_record_whose_id_is_only_in_ce_id_takes_effect_once(runtime: Runtime) -> None:
    """An outside producer's record: no event_id in the body, the id in ce_id. Read
    twice (a redelivery), it is one event."""
    body = json.loads(codec.encode(captured("L-outside")))
    del body["event_id"]
    value = json.dumps(body).encode()
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"scan-1"), ("ce_source", b"/scanner"),
               ("ce_type", LeadCaptured.TYPE.encode())]
    copy = RawRecord(TOPIC[0], 0, 20, b"L-outside", value, headers, None)
    again = RawRecord(TOPIC[0], 0, 21, b"L-outside", value, headers, None)
    sub = counting_handler()
    await runtime.consume_batch(sub, [copy])
    await runtime.consume_batch(sub, [again])
    assert await count_things(runtime) == {"L-outside": 1}


def dead_letters(ns: harness.Namespace) -> list[tuple[bytes | None, dict[str, str]]]:
    return [(m.value, codec.header_map(m.headers))
            for m in harness.read_topic(ns.bootstrap, ns.topic(topics.LEAD_CAPTURED) + ".dlq", timeout_s=3)]


async def test_undecodable_and_failing_records_are_dead_lettered_and_the_rest_commits(
        runtime: Runtime, private_namespace: harness.Namespace) -> None:
    sub = counting_handler(fail_on="L-bad")
    batch = [record(captured("L1"), 10), record(None, 11, b"{not json"), record(captured("L-bad"), 12),
             record(captured("L2"), 13)]
    runtime_topic = batch[0].topic
    await runtime.consume_batch(sub, batch)
    assert await count_things(runtime) == {"L1": 1, "L2": 1}
    letters = harness.eventually(lambda: (d := dead_letters(private_namespace)) and len(d) >= 2 and d,
                                 what="two dead letters")
    by_offset = {h["dlq_original_offset"]: (v, h) for v, h in letters}
    raw, headers = by_offset["11"]
    assert raw == b"{not json"
    assert headers["dlq_reason"] == "decode"
    assert headers["dlq_original_topic"] == runtime_topic
    assert "Invalid JSON" in headers["dlq_error"]
    _, headers = by_offset["12"]
    assert headers["dlq_reason"] == "handler"
    assert "cannot handle L-bad" in headers["dlq_error"]
    assert headers["origin"] == "plumbing-test"  # the original headers travel with the letter


async def test_emitted_events_are_published_after_commit(runtime: Runtime,
                                                         private_namespace: harness.Namespace) -> None:
    async def handle(events: Sequence[LeadCaptured], uow: UnitOfWork) -> None:
        for e in events:
            uow.emit(LeadScored(lead_id=e.lead_id, cause_event_id=e.event_id, profile=e.profile, source=e.source,
                                score=1, fit_score=1, engagement_score=0, grade="D", segment="s",
                                rubric_version="t"))

    await runtime.consume_batch(Subscription(topics.LEAD_CAPTURED, batch_handler=handle),
                                [record(captured("L9"), 1)])
    await runtime.settle()  # (the read below is synchronous: let the producer finish first)
    scored = harness.eventually(
        lambda: [m for m in harness.read_topic(private_namespace.bootstrap,
                                               private_namespace.topic(topics.LEAD_SCORED), timeout_s=2)],
        what="the emitted LeadScored")
    assert [e.lead_id for _, e in await on_topic(runtime, private_namespace, topics.LEAD_SCORED, 2)] == ["L9"]
    assert len(scored) == 1 and b"L9@x.example" not in scored[0].value  # the person's email travels sealed
    await runtime.settle()
    assert await runtime.flush_published() == 1
    assert await runtime.pool.fetchval("SELECT count(*) FROM plumbing.outbox") == 0  # confirmed rows are gone


async def test_a_commands_events_are_handed_over_in_the_background_and_published(
        runtime: Runtime, private_namespace: harness.Namespace) -> None:
    async with runtime.unit_of_work() as uow:
        uow.emit(captured("L-command"))
    # The command is done; its event is durable in the outbox and goes out in the background.
    assert await runtime.pool.fetchval("SELECT count(*) FROM plumbing.outbox") == 1
    await runtime.settle()
    published = [e.lead_id for _, e in await on_topic(runtime, private_namespace, topics.LEAD_CAPTURED)]
    assert published == ["L-command"]
    assert await runtime.flush_published() == 1
    assert await runtime.pool.fetchval("SELECT count(*) FROM plumbing.outbox") == 0


async def test_relay_publishes_rows_whose_send_was_never_confirmed(runtime: Runtime,
                                                                    private_namespace: harness.Namespace) -> None:
    event = captured("L-relay")
    async with runtime.pool.acquire() as conn:  # as if the process died right after commit
        row = (await runtime.to_rows(conn, [event]))[0]
        await runtime.outbox.add(conn, [OutboxRow(row.event_id, row.topic, row.key, row.value, row.headers)])
    assert await runtime.relay_outbox() == 1
    assert await runtime.relay_outbox() == 0
    assert event in [e for _, e in await on_topic(runtime, private_namespace, topics.LEAD_CAPTURED)]


async def test_health_names_an_outbox_that_does_not_drain(runtime: Runtime) -> None:
    assert (await runtime.check())["outbox"] == "ok"
    async with runtime.pool.acquire() as conn:  # committed an hour ago, never published
        row = (await runtime.to_rows(conn, [captured("L-stuck")]))[0]
        await runtime.outbox.add(conn, [row])
        await conn.execute("UPDATE plumbing.outbox SET created_at = now() - interval '1 hour'")
    state = (await runtime.check())["outbox"]
    assert state.startswith("stuck: 1 unpublished, the oldest waiting 3600 s"), state
    assert await runtime.relay_outbox() == 1
    assert (await runtime.check())["outbox"] == "ok"


async def test_published_events_land_on_the_partition_any_kafka_client_would_choose(
        runtime: Runtime, private_namespace: harness.Namespace) -> None:
    from kafka.partitioner import murmur2  # kafka-python's, the Java client's hash

    events = [captured(f"lead-{i}") for i in range(40)]
    async with runtime.pool.acquire() as conn:
        rows = await runtime.to_rows(conn, events)
    await runtime.publish(rows, wait=True)
    all_partitions = list(range(topics.LEAD_CAPTURED.partitions))
    published = {e.lead_id: m for m, e in await on_topic(runtime, private_namespace, topics.LEAD_CAPTURED)}
    assert set(published) == {e.lead_id for e in events}
    for lead_id, m in published.items():
        assert m.key == lead_id.encode()
        assert m.partition == (murmur2(m.key) & 0x7FFFFFFF) % len(all_partitions)
        assert dict(m.headers)["ce_type"] == b"io.leadbridge.lead.captured.v1"
    assert len({m.partition for m in published.values()}) == len(all_partitions)


def oversized(lead_id: str, limit: int) -> LeadCaptured:
    return captured(lead_id).model_copy(update={"attributes": {"blob": "x" * limit}})


async def test_an_event_too_large_to_publish_is_refused_before_commit(runtime: Runtime) -> None:
    limit = runtime.settings.max_event_bytes
    with pytest.raises(codec.EventTooLarge, match="lead-captured"):
        async with runtime.unit_of_work() as uow:
            await uow.conn.execute("INSERT INTO plumbing.things VALUES ('L-big', 1)")
            uow.emit(oversized("L-big", limit))
    # Refused whole: neither the effect nor the event was kept, so nothing waits in the
    # outbox for a broker that would refuse it for ever.
    assert await count_things(runtime) == {}
    assert await runtime.pool.fetchval("SELECT count(*) FROM plumbing.outbox") == 0
    async with runtime.unit_of_work() as uow:  # just under the limit is fine
        uow.emit(captured("L-fits").model_copy(update={"attributes": {"blob": "x" * (limit // 2)}}))
    await runtime.settle()
    assert await runtime.flush_published() == 1  # published: the broker took it
    assert await runtime.pool.fetchval("SELECT count(*) FROM plumbing.outbox") == 0


async def test_a_handler_emitting_an_event_too_large_dead_letters_its_input(
        runtime: Runtime, private_namespace: harness.Namespace) -> None:
    async def handle(events: Sequence[LeadCaptured], uow: UnitOfWork) -> None:
        for e in events:
            uow.emit(oversized(e.lead_id + "-copy", runtime.settings.max_event_bytes))

    await runtime.consume_batch(Subscription(topics.LEAD_CAPTURED, batch_handler=handle),
                                [record(captured("L-echo"), 20)])
    letters = harness.eventually(lambda: dead_letters(private_namespace), what="the input's dead letter")
    assert [h["dlq_original_offset"] for _, h in letters] == ["20"]
    assert "EventTooLarge" in letters[0][1]["dlq_error"]
    assert await runtime.pool.fetchval("SELECT count(*) FROM plumbing.outbox") == 0


async def test_a_command_rolled_back_by_a_deadlock_runs_again_and_takes_effect_once(runtime: Runtime) -> None:
    attempts: list[int] = []

    async def command(uow: UnitOfWork) -> str:
        attempts.append(len(attempts) + 1)
        await uow.conn.execute("INSERT INTO plumbing.things VALUES ('cmd', 1) "
                               "ON CONFLICT (lead_id) DO UPDATE SET times = things.times + 1")
        uow.emit(captured(f"cmd-{len(attempts)}"))
        if len(attempts) == 1:  # PostgreSQL's own deadlock error, raised inside the transaction
            await uow.conn.execute("DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$")
        return "done"

    assert await runtime.run(command) == "done"
    assert attempts == [1, 2]
    assert await count_things(runtime) == {"cmd": 1}  # the first attempt's insert was rolled back
    await runtime.settle()
    ids = [r["event_id"] for r in await runtime.pool.fetch("SELECT event_id FROM plumbing.outbox")]
    assert captured("cmd-1").event_id not in ids  # nor did its event reach the outbox


async def test_a_command_that_keeps_deadlocking_gives_up_with_the_error(runtime: Runtime) -> None:
    import asyncpg

    async def command(uow: UnitOfWork) -> None:
        await uow.conn.execute("DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$")

    with pytest.raises(asyncpg.exceptions.DeadlockDetectedError):
        await runtime.run(command, attempts=2)
