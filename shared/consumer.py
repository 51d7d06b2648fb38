"""The consumer every service runs: one consumer-group member for all of its
subscriptions, reading whole batches and handing them to the runtime.

Records are read with aiokafka's ``getmany`` (up to ``consumer_batch_max`` at once),
grouped by topic in partition order, and each topic's records go to
:meth:`Runtime.consume_batch` as one batch. Offsets advance only after a batch has
been handled (effects committed, emitted events published or safe in the outbox),
and are committed to Kafka every ``consumer_commit_interval_s``, when partitions
are revoked, and at stop. A crash therefore re-delivers at most the last
uncommitted records, which the inbox drops.

Why not faust's agents, which the services first ran on: every record crossed
faust's consumer thread, its conductor and a stream before our batch handler saw
it, about 45 µs of CPU per record, a fifth of what scoring spends per event. The
services never used faust's tables, windows or repartitioning; batching, offsets
after handling and idempotence are ours (see ``runtime.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from shared import metrics
from shared.handling import RawRecord, Subscription
from shared.kafka_pacing import pace_metadata_refreshes
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

BatchSink = Callable[[Subscription[Any], Sequence[RawRecord]], Awaitable[None]]

# How often the lag gauges are refreshed: the end offsets come free with every fetch
# response (aiokafka's highwater), so a refresh costs no request to the broker.
LAG_REFRESH_S = 1.0
# An idle member sleeps: the broker holds each fetch up to FETCH_MAX_WAIT_MS and answers
# as soon as a record arrives (so this costs no latency), and the loop waits up to
# IDLE_WAIT_MS for records when no offsets are waiting to be committed. At 100 ms, 200 ms
# and 200 ms (before) an idle service woke 20 times a second for nothing.
FETCH_MAX_WAIT_MS = 5_000
IDLE_WAIT_MS = 5_000
# aiokafka's fetcher task also wakes on this clock (default 200 ms) though every event it
# reacts to (a response, records consumed, a rebalance) wakes it anyway.
FETCHER_WAKE_MS = 2_000


def group_id(settings: ServiceSettings) -> str:
    """The service's consumer group (one per service and topic prefix)."""
    return f"{settings.topic_prefix}leadbridge-{settings.service_name}"


def _exit_if_failed(task: asyncio.Task[None]) -> None:
    """A consumer loop that dies would leave the service up, healthy and deaf: exit, and
    let the supervisor restart it (nothing uncommitted is lost: it is redelivered)."""
    if not task.cancelled() and task.exception() is not None:
        log.critical("consumer loop failed; exiting", exc_info=task.exception())
        logging.shutdown()
        os._exit(70)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: BatchConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Let the batch in hand finish, then commit what was handled: the next owner of
        # these partitions starts exactly after it.
        async with self.owner.handling:
            await self.owner.commit()
            for tp in revoked:
                self.owner.pending.pop(tp, None)
            self.owner.forget_lag(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)})


class BatchConsumer:
    """Reads a service's subscribed topics in batches until stopped."""

    def __init__(self, settings: ServiceSettings, subscriptions: Sequence[Subscription[Any]],
                 sink: BatchSink) -> None:
        self.settings = settings
        self.by_topic = {settings.topic_prefix + s.spec.name: s for s in subscriptions}
        self._order = {topic: i for i, topic in enumerate(self.by_topic)}
        self.sink = sink
        self.handling = asyncio.Lock()
        self.pending: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self.positions: dict[TopicPartition, int] = {}  # next offset to handle, per partition
        self._lag_refreshed = 0.0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_commit = time.monotonic()

    async def start(self) -> None:
        s = self.settings
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap, group_id=group_id(s), client_id=s.service_name,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=s.consumer_batch_max,
            session_timeout_ms=10_000, heartbeat_interval_ms=1_000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS, consumer_timeout_ms=FETCHER_WAKE_MS,
            retry_backoff_ms=s.kafka_retry_backoff_ms, **s.kafka_security())
        # (the consumer's client is private in aiokafka; the pacing is the same as the publisher's)
        pace_metadata_refreshes(self._consumer._client, s.kafka_retry_backoff_ms / 1000,
                                s.kafka_retry_backoff_max_ms / 1000)
        await self._consumer.start()
        self._consumer.subscribe(list(self.by_topic), listener=_Listener(self))
        self._task = asyncio.create_task(self._run(), name=f"{s.service_name}-consumer")
        self._task.add_done_callback(_exit_if_failed)

    async def stop(self, grace_s: float = 30.0) -> None:
        """Stop after the batch in hand (waiting up to ``grace_s``: a batch retrying
        through a database outage is abandoned instead, uncommitted, and redelivered
        to whoever consumes next), then commit and leave the group."""
        if self._task is not None:
            try:
                await asyncio.wait_for(self.handling.acquire(), grace_s)
            except TimeoutError:
                log.warning("batch still in hand at stop; leaving it uncommitted", extra={"grace_s": grace_s})
                self._task.cancel()
            else:
                self._task.cancel()
                self.handling.release()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(KafkaError):
                await self.commit()
            await self._consumer.stop()
            self._consumer = None

    async def commit(self) -> None:
        """Commit the offsets of every batch handled so far."""
        if not self.pending or self._consumer is None:
            return
        offsets, self.pending = self.pending, {}
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # Partitions moved to another member meanwhile: it resumes from the last
            # committed offsets and its inbox drops what we handled after them.
            log.warning("offset commit refused after a rebalance", extra={"error": repr(exc)})
        except KafkaError:
            # Transient: keep these offsets for the next attempt (unless a later batch
            # has moved a partition further meanwhile).
            for tp, offset in offsets.items():
                self.pending.setdefault(tp, offset)
            raise
        self._last_commit = time.monotonic()

    async def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        interval = self.settings.consumer_commit_interval_s
        while True:
            # Wait for records, but no longer than the next commit is due.
            wait_s = IDLE_WAIT_MS / 1000
            if self.pending:
                wait_s = max(0.1, min(wait_s, self._last_commit + interval - time.monotonic()))
            fetched = await consumer.getmany(timeout_ms=int(wait_s * 1000),
                                             max_records=self.settings.consumer_batch_max)
            if fetched:
                async with self.handling:
                    await self._handle(fetched)
            if time.monotonic() - self._lag_refreshed >= LAG_REFRESH_S:
                await self.refresh_lag()
            if self.pending and time.monotonic() - self._last_commit >= interval:
                try:
                    await self.commit()
                except KafkaError as exc:  # transient: the offsets stay pending, next round retries
                    log.warning("offset commit failed; will retry", extra={"error": repr(exc)})

    async def _handle(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        by_topic: dict[str, list[RawRecord]] = {}
        for tp, messages in fetched.items():
            records = by_topic.setdefault(tp.topic, [])
            for m in messages:
                records.append(RawRecord(m.topic, m.partition, m.offset, m.key, m.value, list(m.headers),
                                         m.timestamp))
        # Topics in the order the service subscribed to them: a projection that declares
        # lead-captured first meets a lead before the events about it fetched alongside.
        for topic, records in sorted(by_topic.items(), key=lambda item: self._order[item[0]]):
            try:
                await self.sink(self.by_topic[topic], records)
            except asyncio.CancelledError:  # stopping: the batch stays uncommitted
                raise
            except BaseException:
                # The runtime handles or dead-letters every record and retries transient
                # failures itself; anything escaping is a bug in the plumbing. Exit without
                # committing: the supervisor restarts us and the batch is redelivered.
                log.critical("unhandled failure in consumer plumbing; exiting so offsets stay uncommitted",
                             exc_info=True, extra={"topic": topic})
                logging.shutdown()
                os._exit(70)
        for tp, messages in fetched.items():
            self.pending[tp] = self.positions[tp] = messages[-1].offset + 1

    # ------------------------------------------------------------------ lag

    def _lag_labels(self, tp: TopicPartition) -> tuple[str, str, str]:
        sub = self.by_topic.get(tp.topic)
        return self.settings.service_name, sub.spec.name if sub else tp.topic, str(tp.partition)

    async def refresh_lag(self) -> None:
        """Set ``leadbridge_consumer_lag_records`` for every assigned partition: its end
        offset as of the last fetch minus the next offset this member will handle."""
        self._lag_refreshed = time.monotonic()
        consumer = self._consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:  # no fetch response for it yet
                continue
            position = self.positions.get(tp)
            if position is None:  # nothing handled since assignment: where the fetcher starts
                try:
                    position = await asyncio.wait_for(consumer.position(tp), 1.0)
                except (TimeoutError, IllegalStateError, KafkaError):
                    continue
            metrics.CONSUMER_LAG.labels(*self._lag_labels(tp)).set(max(0, end - position))

    def forget_lag(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions another member now owns: their lag is that member's to report."""
        for tp in partitions:
            self.positions.pop(tp, None)
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(*self._lag_labels(tp))
