"""The consumer hands a fetch's topics to the runtime in the order the service
subscribed to them (capture's projection must meet a lead before the events about it
fetched alongside). No broker: the fetch is built by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from shared import topics
from shared.consumer import BatchConsumer
from shared.handling import RawRecord, Subscription
from shared.settings import ServiceSettings


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = b"{}"
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int = 0


async def nothing(events: Sequence[Any], uow: Any) -> None:
    return None


async def test_a_fetch_is_handed_over_topic_by_topic_in_subscription_order() -> None:
    settings = ServiceSettings(service_name="order-test", topic_prefix="p-")
    subscribed = (topics.LEAD_CAPTURED, topics.LEAD_SCORED, topics.LEAD_ASSIGNED)
    handed: list[str] = []

    async def sink(subscription: Subscription[Any], records: Sequence[RawRecord]) -> None:
        handed.append(subscription.spec.name)

    consumer = BatchConsumer(settings, [Subscription(s, batch_handler=nothing) for s in subscribed], sink)
    fetched = {TopicPartition("p-" + spec.name, 0): [Message("p-" + spec.name, 0, 7)]
               for spec in reversed(subscribed)}  # as a fetch may list them: later topics first
    await consumer._handle(fetched)
    assert handed == ["lead-captured", "lead-scored", "lead-assigned"]
    assert consumer.pending == {tp: 8 for tp in fetched}
