"""What every benchmark compares against: a bare aiokafka hop that consumes a topic and
produces each record unchanged to another, with the services' producer settings
(acks=all, idempotent, linger 1 ms, the same batch size) and no work. Written once for all the benches."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.publisher import PRODUCER_MAX_BATCH_BYTES


async def bare_hop(bootstrap: str, source: str, target: str, *, group: str,
                   ready: asyncio.Event | None = None) -> None:
    """Relay ``source`` → ``target`` until cancelled; ``ready`` is set once partitions are assigned."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_poll_records=500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1,
                                max_batch_size=PRODUCER_MAX_BATCH_BYTES)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            if ready is not None and consumer.assignment():
                ready.set()
            futures = [await producer.send(target, r.value, key=r.key, headers=list(r.headers))
                       for records in batches.values() for r in records]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
