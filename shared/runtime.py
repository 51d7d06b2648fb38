"""The runtime every service shares: database pool, publisher, inbox/outbox, units of
work, batched idempotent consumption with dead-lettering, and the outbox relay.

Delivery contract (at-least-once on the wire, exactly-once in effect):

1. A consumed batch is handled in ONE database transaction: the inbox claims the
   event ids (dropping those already handled), the handler's effects and the events
   it emits (the outbox) are written, then it commits.
2. After commit, emitted events are handed to the producer in order; the broker's
   confirmation is awaited in the background and confirmed rows are marked
   published. The relay re-publishes any row left unconfirmed (a crash or a broker
   outage between commit and confirmation). An HTTP command does not even wait for
   the hand-over: its answer depends on the database alone (see ``unit_of_work``).
3. Only then does the consumer let the batch's offsets be committed: everything the
   batch caused is durable in the database by then.
4. Records are decoded by :func:`shared.codec.decode_record` (CloudEvents binary or
   structured mode, from any producer; its id is the event's, so a record sent twice
   is handled once). A record that cannot be decoded, or whose handler raises, goes to ``<topic>.dlq``
   with the error and its origin in headers; the rest of the batch still commits.
   A transient failure (database or broker down) is retried, never dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiokafka.errors import KafkaError

from shared import codec, metrics, pii
from shared.db import TRANSIENT_DB_ERRORS, AuditLog, Inbox, Outbox, OutboxRow, create_pool
from shared.events import AuditRecorded, Event
from shared.handling import RawRecord, Subscription, UnitOfWork
from shared.publisher import InFlight, Publisher
from shared.settings import ServiceSettings
from shared.topics import SUBJECT_ERASURE_REQUESTED, TopicSpec, spec_for, spec_for_model

log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, KafkaError)
# Errors after which PostgreSQL rolled the transaction back and running it again may succeed.
CONFLICT_DB_ERRORS = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
T = TypeVar("T")

# Rows of HTTP commands and clocked jobs waiting to be handed to the producer. Beyond
# this (the producer is stalled) further rows are left to the outbox relay.
HANDOFF_MAX_ROWS = 10_000
# Confirmed rows are marked published this long after the first of them is confirmed.
MARK_PUBLISHED_AFTER_S = 0.2


def handler_name(subscription: Subscription[Any]) -> str:
    """The handler's function name, for metrics (through ``functools.partial`` and methods)."""
    fn: Any = subscription.handler or subscription.batch_handler
    while hasattr(fn, "func"):
        fn = fn.func
    return str(getattr(fn, "__name__", type(fn).__name__))


@dataclass
class Runtime:
    """Everything a running service holds. Created in the lifespan, never at import."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    publisher: Publisher

    def __post_init__(self) -> None:
        self.schema = self.settings.schema
        self.inbox = Inbox(self.schema)
        self.outbox = Outbox(self.schema)
        self.audit = AuditLog(self.schema)
        self.source = codec.event_source(self.settings.service_name)
        self._name = self.settings.service_name
        self._published: list[str] = []
        self._confirming: set[asyncio.Task[None]] = set()
        self._handoff: deque[Sequence[OutboxRow]] = deque()
        self._handoff_rows = 0
        self._handoff_ready = asyncio.Event()
        self._handoff_task: asyncio.Task[None] | None = None
        # Persons' data keys (shared.pii): personal fields are sealed in to_rows, opened in consume_batch.
        self.keys = pii.KeyRing(ttl_s=self.settings.pii_key_cache_s)
        # Set when confirmed rows wait to be marked, and when a row's publication is
        # known to have failed: the two upkeep loops sleep until then (see run_upkeep).
        self._marks_waiting = asyncio.Event()
        self._relay_wanted = asyncio.Event()
        self._relay_wanted.set()  # once at start: a crashed predecessor may have left rows

    @classmethod
    async def open(cls, settings: ServiceSettings) -> Runtime:
        pool = await create_pool(settings.database_url, min_size=settings.db_pool_min,
                                 max_size=settings.db_pool_max)
        publisher = Publisher(settings.kafka_bootstrap, settings.service_name,
                              retry_backoff_ms=settings.kafka_retry_backoff_ms,
                              retry_backoff_max_ms=settings.kafka_retry_backoff_max_ms,
                              confirm_timeout_s=settings.publish_confirm_timeout_s,
                              security=settings.kafka_security())
        try:
            async with pool.acquire() as conn:
                await pii.ensure_schema(conn)
            await publisher.start()
        except BaseException:
            await pool.close()
            raise
        return cls(settings=settings, pool=pool, publisher=publisher)

    async def close(self) -> None:
        await self._drain_handoff(timeout_s=10)
        await self.settle()
        await self.flush_published()
        await self.publisher.stop()
        await self.pool.close()

    # ------------------------------------------------------------------ emitting

    async def record_audit(self, conn: asyncpg.Connection, uow: UnitOfWork) -> None:
        """Append the unit's audit entries (:func:`shared.audit.record`) to the audit
        trail in its own transaction, stamped with this service's name (the published
        copies carry it too): the entry commits with the change, or neither does."""
        found = False
        for i, event in enumerate(uow.emitted):
            if type(event) is AuditRecorded:
                found = True
                if not event.service:
                    uow.emitted[i] = event.model_copy(update={"service": self._name})
        if found:
            await self.audit.add(conn, [e for e in uow.emitted if type(e) is AuditRecorded])

    async def to_rows(self, conn: Any, events: Sequence[Event | codec.Encoded[Any]],
                      minted: list[pii.SubjectKey] | None = None) -> list[OutboxRow]:
        """Outbox rows for emitted events, their personal fields sealed with their
        persons' keys (:mod:`shared.pii`; a key minted here is written in ``conn``'s
        transaction and added to ``minted``, for the caller to cache once that commits). Raises
        :class:`codec.EventTooLarge` for one the broker would refuse, while the caller's
        transaction can still roll back."""
        rows = []
        prefix, limit = self.settings.topic_prefix, self.settings.max_event_bytes
        personal = [(e, codec.personal_fields(e)) for e in events
                    if (e.model if isinstance(e, codec.Encoded) else type(e)).PERSONAL]
        keys: dict[str, pii.SubjectKey] = {}
        subjects: dict[int, str | None] = {}
        if personal:
            for event, fields in personal:
                model = event.model if isinstance(event, codec.Encoded) else type(event)
                subjects[id(event)] = model.pii_subject(fields)
            wanted = {s for s in subjects.values() if s is not None}
            if wanted:
                keys, new = await self.keys.for_sealing(conn, wanted)
                if minted is not None:
                    minted.extend(new)
        sealed = {id(event): fields for event, fields in personal}
        for event in events:
            if isinstance(event, codec.Encoded):
                spec = spec_for_model(event.model)
                value = event.value
                if id(event) in sealed:
                    value = codec.encode_sealed(event.model, sealed[id(event)], keys.get(subjects[id(event)] or ""))
                row = OutboxRow(event.event_id, prefix + spec.name, event.key, value,
                                codec.cloudevent_headers(event, self.source))
            else:
                spec = spec_for(event)
                value = (codec.encode_sealed(type(event), sealed[id(event)], keys.get(subjects[id(event)] or ""))
                         if id(event) in sealed else codec.encode(event))
                row = OutboxRow(event.event_id, prefix + spec.name, spec.key_of(event), value,
                                codec.cloudevent_headers(event, self.source))
            if (size := codec.record_size(row.key, row.value, row.headers)) > limit:
                raise codec.EventTooLarge(spec.name, size, limit)
            rows.append(row)
        return rows


    async def publish(self, rows: Sequence[OutboxRow], *, wait: bool = False) -> None:
        """Publish committed outbox rows and mark the confirmed ones. Never raises for
        a broker problem: unconfirmed rows stay in the outbox for the relay.

        The rows are handed to the producer in order before this returns; the broker's
        confirmation is awaited in the background unless ``wait``: the rows are already
        safe in the outbox, so the consumer need not hold its next batch for the ack."""
        if not rows:
            return
        try:
            inflight = await self.publisher.enqueue(rows)
        except TRANSIENT as exc:
            log.warning("publish failed; the outbox relay will resend", extra={"error": repr(exc)})
            self._relay_wanted.set()
            return
        task = asyncio.create_task(self._confirm(rows, inflight))
        self._confirming.add(task)
        task.add_done_callback(self._confirming.discard)
        if wait:
            await task

    async def settle(self) -> None:
        """Wait for every publish queued or handed to the producer to be confirmed (or to fail)."""
        while self._confirming or (self._handoff_rows and self._handoff_task is not None
                                   and not self._handoff_task.done()):
            if self._confirming:
                await asyncio.gather(*list(self._confirming), return_exceptions=True)
            else:
                await asyncio.sleep(0.01)

    def hand_off(self, rows: Sequence[OutboxRow]) -> None:
        """Queue committed rows for the producer and return at once: they are handed
        over in commit order by one background task. While the producer is being
        replaced, or too much waits already, the rows are simply left to the outbox
        relay: they are durable, and a caller never waits on the broker."""
        if not rows:
            return
        if not self.publisher.available or self._handoff_rows + len(rows) > HANDOFF_MAX_ROWS:
            self._relay_wanted.set()
            return
        self._handoff.append(rows)
        self._handoff_rows += len(rows)
        self._handoff_ready.set()
        if self._handoff_task is None or self._handoff_task.done():
            self._handoff_task = asyncio.create_task(self._hand_over(), name=f"{self._name}-handoff")

    async def _hand_over(self) -> None:
        while True:
            await self._handoff_ready.wait()
            self._handoff_ready.clear()
            while self._handoff:
                rows = self._handoff.popleft()
                try:
                    await self.publish(rows)
                except Exception:  # the rows are in the outbox; the relay sends them
                    log.exception("handing rows to the producer failed", extra={"rows": len(rows)})
                finally:
                    self._handoff_rows -= len(rows)

    async def _drain_handoff(self, timeout_s: float) -> None:
        """Let the queued hand-overs finish (at most ``timeout_s``), then stop the task."""
        deadline = time.monotonic() + timeout_s
        while self._handoff_rows and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._handoff_task is not None:
            self._handoff_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._handoff_task
            self._handoff_task = None

    async def _confirm(self, rows: Sequence[OutboxRow], inflight: InFlight) -> None:
        confirmed = await self.publisher.confirmed(rows, inflight)
        done = set(confirmed)
        per_topic = Counter(row.topic for row in rows if row.event_id in done)
        for topic, n in per_topic.items():
            metrics.EVENTS_PUBLISHED.labels(self._name, topic).inc(n)
        # Marking is off the hot path: a clock flushes the marks in one statement. If the
        # process dies first, the relay re-sends those rows and consumers drop the copies.
        self._published.extend(confirmed)
        if confirmed:
            self._marks_waiting.set()
        if len(confirmed) < len(rows):
            self._relay_wanted.set()

    async def flush_published(self) -> int:
        """Mark the rows confirmed since the last flush as published."""
        ids, self._published = self._published, []
        if not ids:
            return 0
        try:
            await self.outbox.mark_published(self.pool, ids)
        except TRANSIENT as exc:  # the relay will send them again; consumers dedupe
            log.warning("could not mark outbox rows published", extra={"error": repr(exc)})
        return len(ids)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """A transaction for an HTTP command (or a clocked job); its emitted events are
        published after commit.

        The caller goes on as soon as the commit is done: the events are durable in the
        outbox by then, and they are handed to the producer in the background
        (:meth:`hand_off`). A broker outage therefore never holds an HTTP answer."""
        minted: list[pii.SubjectKey] = []
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                uow = UnitOfWork(conn)
                yield uow
                await self.record_audit(conn, uow)
                rows = await self.to_rows(conn, uow.emitted, minted)
                await self.outbox.add(conn, rows)
        self.keys.remember(minted)
        self.hand_off(rows)

    async def run(self, command: Callable[[UnitOfWork], Awaitable[T]], *, attempts: int = 4) -> T:
        """Run an HTTP command in a unit of work, again from the start when PostgreSQL
        rolled it back for a deadlock or a serialization failure (a bulk command locking
        many rows while a consumer moves the same ones). The rolled-back attempt left
        nothing behind, so re-running it is safe; the last failure is raised."""
        delay = 0.05
        for attempt in range(1, attempts + 1):
            try:
                async with self.unit_of_work() as uow:
                    return await command(uow)
            except CONFLICT_DB_ERRORS as exc:
                if attempt == attempts:
                    raise
                metrics.TRANSIENT_RETRIES.labels(self._name, "command").inc()
                log.warning("command rolled back by a lock conflict; running it again",
                            extra={"error": repr(exc), "attempt": attempt})
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def relay_outbox(self) -> int:
        """Re-send outbox rows whose publication was never confirmed."""
        rows = await self.outbox.unpublished(self.pool, self.settings.outbox_relay_after_s)
        if rows:
            metrics.OUTBOX_RELAYED.labels(self._name).inc(len(rows))
            log.warning("relaying unconfirmed outbox rows", extra={"count": len(rows)})
            await self.publish(rows, wait=True)
            await self.flush_published()
        return len(rows)

    async def run_upkeep(self) -> None:
        """The outbox's background work, for as long as the service runs: mark confirmed
        rows published (a fifth of a second after the first confirmation, so one statement
        marks many), and re-send rows whose publication failed (``outbox_relay_after_s``
        after the failure, then every second while some are left). Both sleep while there
        is nothing to do: an idle service is woken by neither. Rows a crashed process
        left behind are found at start and by the relay's fallback poll
        (``outbox_relay_idle_s``), whichever replica runs it."""
        await asyncio.gather(self._mark_published_forever(), self._relay_forever())

    async def _mark_published_forever(self) -> None:
        while True:
            await self._marks_waiting.wait()
            self._marks_waiting.clear()
            await asyncio.sleep(MARK_PUBLISHED_AFTER_S)
            try:
                await self.flush_published()
            except Exception:  # the relay sends those rows again; consumers drop the copies
                log.exception("marking outbox rows published failed")

    async def _relay_forever(self) -> None:
        linger_s = self.settings.outbox_relay_after_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relay_wanted.wait(), self.settings.outbox_relay_idle_s)
            self._relay_wanted.clear()
            await asyncio.sleep(linger_s)
            try:
                relayed = await self.relay_outbox()
            except Exception:
                log.exception("outbox relay failed; will run again")
                relayed = 1
            # Rows were left (or the database did not answer): look again in a second.
            linger_s = 1.0 if relayed else self.settings.outbox_relay_after_s
            if relayed:
                self._relay_wanted.set()

    async def refresh_outbox_gauges(self) -> None:
        """``leadbridge_outbox_backlog_rows`` and ``leadbridge_outbox_oldest_age_seconds``."""
        rows, age = await self.outbox.backlog(self.pool)
        metrics.OUTBOX_BACKLOG.labels(self._name).set(rows)
        metrics.OUTBOX_OLDEST_AGE.labels(self._name).set(age)

    async def prune_inbox(self) -> int:
        """Forget handled event ids older than the inbox's retention (a clocked job of
        every service, see :func:`shared.service.create_app`)."""
        pruned = await self.inbox.prune(self.pool, self.settings.inbox_retention_s,
                                        chunk=self.settings.inbox_prune_chunk)
        if pruned:
            metrics.INBOX_PRUNED.labels(self._name).inc(pruned)
            log.info("inbox pruned", extra={"pruned": pruned, "retention_s": self.settings.inbox_retention_s})
        return pruned

    # ------------------------------------------------------------------ consuming

    async def consume_batch(self, subscription: Subscription[Any], records: Sequence[RawRecord]) -> None:
        """Handle a batch of records from one topic. Returns only when every record is
        either handled (effects committed, emitted events published or in the outbox)
        or dead-lettered, so the caller may then commit the offsets."""
        started = time.perf_counter()
        spec, handler = subscription.spec, subscription
        arrived = time.time()
        delay = metrics.CONSUME_DELAY_SECONDS.labels(self._name, spec.name)
        for record in records:
            if record.timestamp_ms:
                delay.observe(max(0.0, arrived - record.timestamp_ms / 1000))
        if spec is SUBJECT_ERASURE_REQUESTED:  # the person's key is destroyed: drop it from the cache
            self.keys.forget(r.key.decode() for r in records if r.key)
        keys: dict[str, pii.SubjectKey] = {}
        if spec.value_model.PERSONAL:
            subjects = {s for r in records for s in pii.subjects_in(r.value)}
            if subjects:
                keys = await self._with_retry("keys", lambda: self.keys.for_opening(self.pool, subjects))
        decoded: list[tuple[RawRecord, Event]] = []
        for record in records:
            try:
                decoded.append((record, codec.decode_record(spec.value_model, record.value, record.headers,
                                                            record.timestamp_ms, keys)))
            except codec.DecodeError as exc:
                await self.dead_letter(record, exc, reason="decode")
        if decoded:
            rows = await self._with_retry("batch", lambda: self._handle_together(spec, handler, decoded))
            if rows is None:  # some handler failed: isolate it, one event per transaction
                rows = []
                for item in decoded:
                    rows += await self._handle_alone(spec, handler, item)
            await self.publish(rows)
        now = time.time()
        metrics.BATCH_SECONDS.labels(self._name, spec.name).observe(time.perf_counter() - started)
        age = metrics.EVENT_AGE_SECONDS.labels(self._name, spec.name)
        for record in records:
            if record.timestamp_ms:
                age.observe(max(0.0, now - record.timestamp_ms / 1000))

    async def _handle_together(self, spec: TopicSpec, handler: Subscription[Any],
                               items: Sequence[tuple[RawRecord, Event]]) -> list[OutboxRow] | None:
        try:
            return await self._handle_in_transaction(spec, handler, items)
        except TRANSIENT:
            raise
        except Exception:
            metrics.HANDLER_ERRORS.labels(self._name, spec.name, handler_name(handler)).inc()
            return None

    async def _handle_alone(self, spec: TopicSpec, handler: Subscription[Any],
                            item: tuple[RawRecord, Event]) -> list[OutboxRow]:
        async def attempt() -> list[OutboxRow]:
            try:
                return await self._handle_in_transaction(spec, handler, [item])
            except TRANSIENT:
                raise
            except Exception as exc:
                metrics.HANDLER_ERRORS.labels(self._name, spec.name, handler_name(handler)).inc()
                await self.dead_letter(item[0], exc, reason="handler")
                return []
        return await self._with_retry("event", attempt)

    async def _handle_in_transaction(self, spec: TopicSpec, handler: Subscription[Any],
                                     items: Sequence[tuple[RawRecord, Event]]) -> list[OutboxRow]:
        minted: list[pii.SubjectKey] = []
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await self.inbox.claim(conn, spec.name, [e.event_id for _, e in items])
            fresh: list[Event] = []
            for _, event in items:
                if event.event_id in claimed:
                    claimed.discard(event.event_id)  # a second copy in the same batch is a duplicate too
                    fresh.append(event)
                else:
                    metrics.EVENTS_DUPLICATE.labels(self._name, spec.name).inc()
            uow = UnitOfWork(conn)
            if fresh:
                await handler(fresh, uow)
            handled = fresh
            await self.record_audit(conn, uow)
            rows = await self.to_rows(conn, uow.emitted, minted)
            await self.outbox.add(conn, rows)
        self.keys.remember(minted)
        metrics.EVENTS_CONSUMED.labels(self._name, spec.name).inc(len(handled))
        return rows

    async def _with_retry(self, where: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        delay = 0.1
        while True:
            try:
                return await attempt()
            except TRANSIENT as exc:
                metrics.TRANSIENT_RETRIES.labels(self._name, where).inc()
                log.warning("transient failure; retrying", extra={"where": where, "error": repr(exc),
                                                                  "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def dead_letter(self, record: RawRecord, exc: BaseException, *, reason: codec.DeadLetterReason) -> None:
        """Send a record, unchanged, to its topic's dead-letter twin with the error and
        its origin in headers. Retries until the broker confirms: the record's offset
        must not be committed before its dead letter is safe."""
        error = f"{type(exc).__name__}: {exc}"[:4000]
        log.error("dead-lettering record", extra={"topic": record.topic, "partition": record.partition,
                                                   "offset": record.offset, "reason": reason, "error": error,
                                                   "trace": traceback.format_exception(exc)[-3:]})
        headers = codec.dead_letter_headers(record.headers, topic=record.topic, partition=record.partition,
                                            offset=record.offset, reason=reason, error=error, service=self._name)
        await self._with_retry("dead-letter", lambda: self.publisher.send_and_wait(
            record.topic + ".dlq", record.value, record.key, headers))
        topic = record.topic.removeprefix(self.settings.topic_prefix)  # labelled like every other metric
        metrics.EVENTS_DEAD_LETTERED.labels(self._name, topic, reason).inc()

    # ------------------------------------------------------------------ health

    async def check(self) -> dict[str, str]:
        """Each check's state, "ok" when healthy: the database answers, the broker
        answers, and the outbox drains (no row has waited ``outbox_stuck_after_s`` to be
        published: events are getting out, whatever the other checks say)."""
        checks: dict[str, str] = {}
        try:
            async with self.pool.acquire(timeout=3) as conn:
                await conn.fetchval("SELECT 1")
                checks["database"] = "ok"
                waiting, oldest_s = await self.outbox.backlog(conn)
            limit = self.settings.outbox_stuck_after_s
            checks["outbox"] = "ok" if oldest_s <= limit else (
                f"stuck: {waiting} unpublished, the oldest waiting {oldest_s:.0f} s (limit {limit:g} s)")
        except Exception as exc:
            checks.setdefault("database", f"down: {exc!r}")
            checks.setdefault("outbox", "unknown: the database does not answer")
        try:
            await self.publisher.check()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"down: {exc!r}"
        return checks
