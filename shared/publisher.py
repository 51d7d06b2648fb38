"""The service's Kafka producer (the only module that sends records).

Idempotent, ``acks=all``, CloudEvents headers come with the rows (see
:mod:`shared.codec`); rows are packed into one record batch per partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from shared.db import OutboxRow

log = logging.getLogger(__name__)


# Bytes per record batch (one partition's share of a produce request); see Publisher.start.
PRODUCER_MAX_BATCH_BYTES = 512 * 1024


class Publisher:
    """The service's Kafka producer: idempotent, acks=all, CloudEvents headers."""

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        # murmur2 is pure Python in aiokafka; a lead's events keep coming with the same key.
        self._partition_of: dict[tuple[bytes | None, int], int] = {}

    async def start(self) -> None:
        # A record batch holds up to max_batch_size bytes, and the producer takes the
        # next batch for a partition only once the one before it has gone out. At the
        # default 16 KB (about ten lead-scored events) publishing a consumed batch was
        # dozens of broker round trips in a row; 512 KB fits a whole batch's worth per
        # partition, well under the broker's 1 MB message limit.
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, client_id=self._client_id,
                                          acks="all", enable_idempotence=True, linger_ms=1,
                                          max_batch_size=PRODUCER_MAX_BATCH_BYTES, request_timeout_ms=15000)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("publisher not started")
        return self._producer

    async def enqueue(self, rows: Sequence[OutboxRow]) -> list[asyncio.Future[Any]]:
        """Hand rows to the producer, in order per partition; one future per row resolves
        when the broker confirms it.

        Rows are packed into one record batch per partition (the producer's per-message
        ``send`` costs far more in Python than appending to a batch). Partitions are
        chosen by the same murmur2 partitioner as every Kafka client, so a lead's events
        land where ``send`` would have put them."""
        producer = self.producer
        partitions: dict[str, list[int]] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for i, row in enumerate(rows):
            if row.topic not in partitions:
                partitions[row.topic] = sorted(await producer.partitions_for(row.topic))
            available = partitions[row.topic]
            part = self._partition_of.get((row.key, len(available)))
            if part is None:
                part = self._partitioner(row.key, available, available)
                if row.key is not None:  # (no key: a random partition each time)
                    if len(self._partition_of) >= 100_000:
                        self._partition_of.clear()
                    self._partition_of[(row.key, len(available))] = part
            groups.setdefault((row.topic, part), []).append(i)
        futures: list[asyncio.Future[Any] | None] = [None] * len(rows)
        for (topic, part), members in groups.items():
            batch, in_batch = producer.create_batch(), list[int]()
            for i in members:
                row = rows[i]
                if batch.append(key=row.key, value=row.value, timestamp=None, headers=row.headers) is None:
                    future = await producer.send_batch(batch, topic, partition=part)  # full: send, start anew
                    for j in in_batch:
                        futures[j] = future
                    batch, in_batch = producer.create_batch(), []
                    if batch.append(key=row.key, value=row.value, timestamp=None, headers=row.headers) is None:
                        raise ValueError(f"event {row.event_id} is larger than a record batch")
                in_batch.append(i)
            future = await producer.send_batch(batch, topic, partition=part)
            for j in in_batch:
                futures[j] = future
        return [f for f in futures if f is not None]

    @staticmethod
    async def confirmed(rows: Sequence[OutboxRow], futures: Sequence[asyncio.Future[Any]]) -> list[str]:
        results = await asyncio.gather(*futures, return_exceptions=True)
        confirmed: list[str] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("publish not confirmed; the outbox relay will resend",
                            extra={"topic": row.topic, "event_id": row.event_id, "error": repr(result)})
            else:
                confirmed.append(row.event_id)
        return confirmed

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None,
                            headers: list[tuple[str, bytes]]) -> None:
        await self.producer.send_and_wait(topic, value, key=key, headers=headers)

    async def check(self) -> None:
        await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout=3)
