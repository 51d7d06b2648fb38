"""The publisher against the real broker: a failed send does not wedge a partition.

aiokafka's idempotent producer gives each batch a sequence number per partition. A
batch the broker refuses (here: larger than the topic allows) leaves a gap, and every
later batch for that partition is refused with ``OutOfOrderSequenceNumber``, for ever
(what a broker restart did to capture, aio-libs/aiokafka#1017). The publisher must
replace its producer and carry on by itself."""

from __future__ import annotations

import asyncio
import time

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from shared.db import OutboxRow
from shared.publisher import Publisher, PublisherUnavailable
from tests import harness

pytestmark = pytest.mark.integration


def tiny_records_topic(ns: harness.Namespace) -> str:
    """A one-partition topic in the run's namespace that refuses records over 2 KB."""
    name = ns.topic_prefix + "tiny-records"
    admin = KafkaAdminClient(bootstrap_servers=ns.bootstrap)
    try:
        admin.create_topics([NewTopic(name, 1, 1, topic_configs={"max.message.bytes": "2048"})])
    finally:
        admin.close()
    return name


async def publish_until_confirmed(publisher: Publisher, row: OutboxRow, timeout_s: float = 30) -> int:
    """What the outbox relay does: send, and send again until the broker confirms.
    Returns the attempts it took; only "the producer is being replaced" may interrupt."""
    deadline = time.monotonic() + timeout_s
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            if await publisher.confirmed([row], await publisher.enqueue([row])) == [row.event_id]:
                return attempts
        except PublisherUnavailable:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{row.event_id} not confirmed after {attempts} attempts in {timeout_s} s")


async def test_a_refused_batch_does_not_wedge_its_partition(private_namespace: harness.Namespace) -> None:
    topic = tiny_records_topic(private_namespace)
    publisher = Publisher(private_namespace.bootstrap, "publisher-test", confirm_timeout_s=10)
    await publisher.start()
    try:
        first = OutboxRow("first", topic, b"k", b"before", [])
        assert await publish_until_confirmed(publisher, first) == 1

        too_big = OutboxRow("too-big", topic, b"k", b"x" * 4000, [])
        assert await publisher.confirmed([too_big], await publisher.enqueue([too_big])) == []

        # Sends after it, to the same partition, many at once while the producer is
        # being replaced: each gets through, none fails with anything but "unavailable".
        after = [OutboxRow(f"after-{i}", topic, b"k", f"after-{i}".encode(), []) for i in range(20)]
        await asyncio.gather(*(publish_until_confirmed(publisher, row) for row in after))
    finally:
        await publisher.stop()

    values = [m.value for m in harness.read_topic(private_namespace.bootstrap, topic, timeout_s=3)]
    assert values[0] == b"before"
    assert b"x" * 4000 not in values
    assert {f"after-{i}".encode() for i in range(20)} <= set(values)
