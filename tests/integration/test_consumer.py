"""The batch consumer against the real broker: group membership, offsets committed
only after handling, hand-over of partitions on a rebalance, and a clean stop.

The sink here records what it was given instead of touching a database: these tests
are about which records reach the runtime, in what order, and which offsets the
group has committed (the inbox tests in ``test_plumbing`` cover deduplication)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared import topics
from shared.consumer import BatchConsumer, group_id
from shared.events import LeadCaptured
from shared.handling import RawRecord, Subscription, UnitOfWork
from shared.settings import ServiceSettings
from tests import harness

pytestmark = pytest.mark.integration


async def _never(events: Sequence[LeadCaptured], uow: UnitOfWork) -> None:  # the sink stands in for the runtime
    raise AssertionError("not called")


SUBSCRIPTION: Subscription[LeadCaptured] = Subscription(topics.LEAD_CAPTURED, batch_handler=_never)


class Recorder:
    """A sink that remembers every batch (member name, records), slowly if asked."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[tuple[str, list[RawRecord]]] = []
        self.delay_s = delay_s

    def sink(self, member: str) -> Any:
        async def handle(subscription: Subscription[Any], records: Sequence[RawRecord]) -> None:
            assert subscription is SUBSCRIPTION
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            self.batches.append((member, list(records)))
        return handle

    def seen(self) -> list[tuple[int, int]]:
        return [(r.partition, r.offset) for _, records in self.batches for r in records]


def settings_for(ns: harness.Namespace) -> ServiceSettings:
    return ServiceSettings(service_name="consumer-test", kafka_bootstrap=ns.bootstrap,
                           topic_prefix=ns.topic_prefix, consumer_batch_max=100,
                           consumer_commit_interval_s=0.2)


async def produce(ns: harness.Namespace, n: int, start: int = 0) -> set[tuple[int, int]]:
    """``n`` records keyed over many leads; returns their (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=ns.bootstrap, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(ns.topic(topics.LEAD_CAPTURED), b"{}", key=f"lead-{i}".encode())
                   for i in range(start, start + n)]
        results = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {(m.partition, m.offset) for m in results}


async def committed(ns: harness.Namespace, settings: ServiceSettings) -> dict[int, int]:
    topic = ns.topic(topics.LEAD_CAPTURED)
    probe = AIOKafkaConsumer(bootstrap_servers=ns.bootstrap, group_id=group_id(settings), enable_auto_commit=False)
    await probe.start()
    try:
        out = {}
        for p in range(topics.LEAD_CAPTURED.partitions):
            out[p] = await probe.committed(TopicPartition(topic, p)) or 0
        return out
    finally:
        await probe.stop()


async def wait_for(check: Any, timeout_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_every_record_reaches_the_sink_in_partition_order_and_is_committed_after(
        private_namespace: harness.Namespace) -> None:
    settings = settings_for(private_namespace)
    recorder = Recorder()
    produced = await produce(private_namespace, 600)
    consumer = BatchConsumer(settings, [SUBSCRIPTION], recorder.sink("a"))
    await consumer.start()
    try:
        await wait_for(lambda: len(recorder.seen()) >= len(produced))
    finally:
        await consumer.stop()
    assert set(recorder.seen()) == produced and len(recorder.seen()) == len(produced)  # each once
    assert all(len(records) <= settings.consumer_batch_max for _, records in recorder.batches)
    for p in range(topics.LEAD_CAPTURED.partitions):
        offsets = [o for part, o in recorder.seen() if part == p]
        assert offsets == sorted(offsets)
    # Stopping committed everything handled: the next member starts at the end.
    ends = {p: max((o for part, o in produced if part == p), default=-1) + 1
            for p in range(topics.LEAD_CAPTURED.partitions)}
    assert await committed(private_namespace, settings) == ends


async def test_a_second_member_takes_over_partitions_without_losing_records(
        private_namespace: harness.Namespace) -> None:
    settings = settings_for(private_namespace)
    recorder = Recorder(delay_s=0.05)  # slow handling: the rebalance lands mid-stream
    produced = await produce(private_namespace, 400)
    first = BatchConsumer(settings, [SUBSCRIPTION], recorder.sink("a"))
    second = BatchConsumer(settings, [SUBSCRIPTION], recorder.sink("b"))
    await first.start()
    try:
        await wait_for(lambda: len(recorder.batches) >= 2)
        await second.start()
        # Keep records coming until the group has rebalanced and the second member has
        # handled some (joining takes a few seconds), then let both drain.
        n = 400
        while not any(member == "b" for member, _ in recorder.batches):
            assert n < 20_000, "the second member never got partitions"
            produced |= await produce(private_namespace, 100, start=n)
            n += 100
            await asyncio.sleep(0.2)
        produced |= await produce(private_namespace, 200, start=n)
        await wait_for(lambda: set(recorder.seen()) >= produced, timeout_s=90)
    finally:
        await second.stop()
        await first.stop()
    members = {member for member, _ in recorder.batches}
    assert members == {"a", "b"}, "the second member never got partitions"
    # At least once: every record handled. A record may be handled twice only if its
    # partition moved before its offset was committed; the inbox drops such copies.
    seen = recorder.seen()
    assert set(seen) == produced
    assert len(seen) - len(set(seen)) <= 2 * settings.consumer_batch_max
    # Within one member, each partition's records arrive in order.
    for member in members:
        for p in range(topics.LEAD_CAPTURED.partitions):
            offsets = [r.offset for m, records in recorder.batches if m == member for r in records
                       if r.partition == p]
            assert offsets == sorted(offsets)


async def test_a_batch_stuck_at_stop_is_abandoned_uncommitted(private_namespace: harness.Namespace) -> None:
    settings = settings_for(private_namespace)
    await produce(private_namespace, 50)
    started = asyncio.Event()

    async def stuck(subscription: Subscription[Any], records: Sequence[RawRecord]) -> None:
        started.set()
        await asyncio.sleep(3600)  # e.g. retrying through a database outage

    consumer = BatchConsumer(settings, [SUBSCRIPTION], stuck)
    await consumer.start()
    await asyncio.wait_for(started.wait(), 60)
    await asyncio.wait_for(consumer.stop(grace_s=0.5), 30)  # returns: the stop is not held hostage
    # Nothing was handled, so nothing is committed: whoever consumes next gets it all.
    assert await committed(private_namespace, settings) == dict.fromkeys(range(topics.LEAD_CAPTURED.partitions), 0)
