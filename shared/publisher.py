"""The service's Kafka producer (the only module that sends records).

Idempotent, ``acks=all``, CloudEvents headers come with the rows (see
:mod:`shared.codec`); rows are packed into one record batch per partition.

The producer replaces itself when it can no longer be trusted. aiokafka's idempotent
producer numbers every batch per partition, and a batch that fails after it was given
its number (expired while its partition had no leader during a broker restart, or
refused by the broker) leaves a gap: every later batch for that partition is refused
with ``OutOfOrderSequenceNumber``, for ever (aio-libs/aiokafka#1017). So any failed or
unconfirmed send retires the producer: new sends are refused at once
(:class:`PublisherUnavailable`, the rows stay in the outbox), a fresh producer (a new
producer id, fresh sequences) is started as soon as the broker answers, and the
outbox relay re-sends whatever was not confirmed. A re-sent event that had in fact
arrived is dropped by the consumers' inboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner

from shared import metrics
from shared.db import OutboxRow
from shared.kafka_pacing import pace_metadata_refreshes

log = logging.getLogger(__name__)


# Bytes per record batch (one partition's share of a produce request); see Publisher._open_producer.
PRODUCER_MAX_BATCH_BYTES = 512 * 1024
# Produce requests (and a batch waiting for its partition's leader) time out after this.
PRODUCER_REQUEST_TIMEOUT_MS = 15_000


class PublisherUnavailable(KafkaError):  # type: ignore[misc]
    """The producer was retired and its successor has not started yet (the broker is
    away): nothing is sent, the rows stay in the outbox for the relay. Transient."""


@dataclass
class InFlight:
    """Rows handed to one producer: a future per row, and the producer's generation
    (a failure retires that producer only, not the one that replaced it meanwhile)."""

    futures: list[asyncio.Future[Any]]
    generation: int
    retired: asyncio.Future[Any] = field(repr=False)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # The outcome is read in confirmed() if anyone still waits; otherwise (timed out,
    # producer retired) asyncio would log "exception was never retrieved" per batch.
    if not future.cancelled():
        future.exception()


class Publisher:
    """The service's Kafka producer: idempotent, acks=all, CloudEvents headers, and
    replaced by a fresh one after a failed or unconfirmed send (see the module doc)."""

    def __init__(self, bootstrap: str, client_id: str, *, retry_backoff_ms: int = 500,
                 retry_backoff_max_ms: int = 2000, confirm_timeout_s: float = 30.0,
                 security: dict[str, Any] | None = None) -> None:
        self._bootstrap = bootstrap
        self._security = dict(security or {})  # SASL settings (ServiceSettings.kafka_security)
        self._client_id = client_id
        self._retry_backoff_ms = retry_backoff_ms
        self._retry_backoff_max_ms = retry_backoff_max_ms
        self._confirm_timeout_s = confirm_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._generation = 0
        self._retired: asyncio.Future[Any] | None = None
        self._unavailable_because = "not started"
        self._recovery: asyncio.Task[None] | None = None
        self._retiring: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        # murmur2 is pure Python in aiokafka; a lead's events keep coming with the same key.
        self._partition_of: dict[tuple[bytes | None, int], int] = {}

    async def _open_producer(self) -> AIOKafkaProducer:
        # A record batch holds up to max_batch_size bytes, and the producer takes the
        # next batch for a partition only once the one before it has gone out. At the
        # default 16 KB (about ten lead-scored events) publishing a consumed batch was
        # dozens of broker round trips in a row; 512 KB fits a whole batch's worth per
        # partition, well under the broker's 1 MB message limit.
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, client_id=self._client_id,
                                    acks="all", enable_idempotence=True, linger_ms=1,
                                    max_batch_size=PRODUCER_MAX_BATCH_BYTES,
                                    request_timeout_ms=PRODUCER_REQUEST_TIMEOUT_MS,
                                    retry_backoff_ms=self._retry_backoff_ms, **self._security)
        pace_metadata_refreshes(producer.client, self._retry_backoff_ms / 1000, self._retry_backoff_max_ms / 1000)
        try:
            # (start also fetches a producer id, which waits for a broker that is only half up)
            await asyncio.wait_for(producer.start(), PRODUCER_REQUEST_TIMEOUT_MS / 1000)
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def start(self) -> None:
        self._install(await self._open_producer())

    def _install(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._generation += 1
        self._retired = asyncio.get_running_loop().create_future()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Flush and close the producer, waiting at most ``grace_s`` for the broker to
        confirm what is in flight (with the broker away, a flush would wait for ever;
        whatever is left unconfirmed is still in the outbox)."""
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        self._unavailable_because = "stopped"
        for producer in (self._producer, self._retiring):
            if producer is None:
                continue
            try:
                await asyncio.wait_for(producer.stop(), grace_s)
            except TimeoutError:
                log.warning("producer not flushed at stop; unconfirmed rows stay in the outbox",
                            extra={"grace_s": grace_s})
        self._producer = self._retiring = None

    @property
    def available(self) -> bool:
        """False while a retired producer's successor is not started yet."""
        return self._producer is not None

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise PublisherUnavailable(self._unavailable_because)
        return self._producer

    def retire(self, generation: int, reason: str) -> None:
        """Stop sending through the producer of ``generation`` (if it is still the
        current one) and start replacing it."""
        if generation != self._generation or self._producer is None:
            return
        old, self._producer = self._producer, None
        self._retiring = old
        self._unavailable_because = f"producer retired after: {reason}"
        if self._retired is not None and not self._retired.done():
            self._retired.set_result(None)
        log.error("producer retired; replacing it, the outbox relay will re-send", extra={"reason": reason})
        self._recovery = asyncio.create_task(self._replace(old), name="producer-replace")

    async def _replace(self, old: AIOKafkaProducer) -> None:
        delay = self._retry_backoff_ms / 1000
        while True:
            try:
                new = await self._open_producer()
                break
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("new producer not started yet; retrying",
                            extra={"error": repr(exc), "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._install(new)
        metrics.PRODUCER_REPLACED.labels(self._client_id).inc()
        log.warning("producer replaced", extra={"generation": self._generation})
        # The broker answers again, so the old producer's batches end quickly now
        # (delivered, or refused for their sequence). Stopping it before would wait
        # on them for as long as the broker is away.
        try:
            await asyncio.wait_for(asyncio.shield(old.stop()), 30)
        except TimeoutError:
            log.warning("retired producer still flushing after 30 s; left to finish in the background")
        except KafkaError as exc:
            log.warning("retired producer stopped with an error", extra={"error": repr(exc)})
        if self._retiring is old:
            self._retiring = None

    async def enqueue(self, rows: Sequence[OutboxRow]) -> InFlight:
        """Hand rows to the producer, in order per partition; one future per row resolves
        when the broker confirms it (await them with :meth:`confirmed`).

        Rows are packed into one record batch per partition (the producer's per-message
        ``send`` costs far more in Python than appending to a batch). Partitions are
        chosen by the same murmur2 partitioner as every Kafka client, so a lead's events
        land where ``send`` would have put them.

        Raises :class:`PublisherUnavailable` while the producer is being replaced, and
        the producer's own ``KafkaError`` (e.g. a timeout waiting for metadata)."""
        producer, generation, retired = self.producer, self._generation, self._retired
        assert retired is not None
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
        handed: list[asyncio.Future[Any]] = []

        async def send(batch: Any, topic: str, part: int, members: list[int]) -> None:
            future = await producer.send_batch(batch, topic, partition=part)
            future.add_done_callback(_retrieve)
            handed.append(future)
            for j in members:
                futures[j] = future

        try:
            for (topic, part), members in groups.items():
                batch, in_batch = producer.create_batch(), list[int]()
                for i in members:
                    row = rows[i]
                    if batch.append(key=row.key, value=row.value, timestamp=None, headers=row.headers) is None:
                        await send(batch, topic, part, in_batch)  # full: send, start anew
                        batch, in_batch = producer.create_batch(), []
                        if batch.append(key=row.key, value=row.value, timestamp=None, headers=row.headers) is None:
                            raise ValueError(f"event {row.event_id} is larger than a record batch")
                    in_batch.append(i)
                await send(batch, topic, part, in_batch)
        except BaseException:
            # Batches already handed over still carry sequence numbers: if one of them
            # fails, the producer must go all the same, though no one waits for it.
            for future in handed:
                future.add_done_callback(lambda f: self._retire_if_failed(f, generation))
            raise
        return InFlight([f for f in futures if f is not None], generation, retired)

    def _retire_if_failed(self, future: asyncio.Future[Any], generation: int) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.retire(generation, repr(future.exception()))

    async def confirmed(self, rows: Sequence[OutboxRow], inflight: InFlight) -> list[str]:
        """The event ids of ``rows`` that the broker confirmed. Waits until every row is
        confirmed or failed, at most ``confirm_timeout_s``, and no longer than the
        producer they were handed to stays in service. A failure or a timeout retires
        that producer (see the module doc); the rows not confirmed stay in the outbox."""
        if inflight.futures:
            # (gathered with return_exceptions: if it is left unfinished here, it ends quietly)
            every: asyncio.Future[Any] = asyncio.gather(*set(inflight.futures), return_exceptions=True)
            await asyncio.wait([every, inflight.retired], timeout=self._confirm_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
        confirmed: list[str] = []
        failure: BaseException | None = None
        for row, future in zip(rows, inflight.futures, strict=True):
            if not future.done() or future.cancelled():
                continue
            if (exc := future.exception()) is not None:
                failure = failure or exc
            else:
                confirmed.append(row.event_id)
        if len(confirmed) < len(rows):
            reason = repr(failure) if failure is not None else f"not confirmed within {self._confirm_timeout_s:g} s"
            log.warning("publish not confirmed; the outbox relay will resend",
                        extra={"rows": len(rows) - len(confirmed), "error": reason})
            self.retire(inflight.generation, reason)
        return confirmed

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None,
                            headers: list[tuple[str, bytes]]) -> None:
        """Send one record and wait for the broker's confirmation (dead letters). A
        failure or a timeout retires the producer, as in :meth:`confirmed`."""
        producer, generation = self.producer, self._generation
        future = await producer.send(topic, value, key=key, headers=headers)
        future.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(future), self._confirm_timeout_s)
        except TimeoutError as exc:
            self.retire(generation, f"not confirmed within {self._confirm_timeout_s:g} s")
            raise KafkaTimeoutError() from exc
        except KafkaError as exc:
            self.retire(generation, repr(exc))
            raise

    async def check(self) -> None:
        await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout=3)
