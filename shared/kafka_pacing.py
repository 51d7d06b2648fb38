"""Backoff for aiokafka's metadata refreshes, which both Kafka clients (the publisher
and the consumer) need while the broker is away.

aiokafka has ``retry_backoff_ms`` for failed requests, but no ``reconnect_backoff_ms``
and no pause after a failed metadata refresh. When the broker stops cleanly it first
reports every partition leaderless; the producer's sender then asks for fresh metadata
on every turn of its loop, each refresh fails at once (connection refused), and the
loop spins for as long as the broker is down: measured here with one producer, 700 to
2,200 "Unable connect to node" log lines a second and as many "Unable to update
metadata" (the issue saw 40,000 in 23 s per service; paced, 30 to 150 per service over
a 30 s outage, tests/e2e/test_broker_restart.py). :func:`pace_metadata_refreshes` makes a failed refresh wait before
it reports back (exponentially, to a cap), which paces every loop that waits on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def pace_metadata_refreshes(client: Any, first_s: float, max_s: float) -> None:
    """Make ``client`` (an ``aiokafka.AIOKafkaClient``) pause after each failed
    refresh of its own cluster metadata: ``first_s``, doubling up to ``max_s``, back to
    ``first_s`` after a success. One-off fetches into a separate metadata object (the
    health check's ``fetch_all_metadata``) are not paced: they must answer at once.

    Wraps the client's ``_metadata_update`` (aiokafka 0.14, pinned), the one coroutine
    every refresh goes through; ``shared/tests/test_kafka_pacing.py`` fails if it moves."""
    refresh: Callable[[Any, Any], Awaitable[bool]] = client._metadata_update
    failures = 0

    async def paced(cluster_metadata: Any, topics: Any) -> bool:
        nonlocal failures
        ok = await refresh(cluster_metadata, topics)
        if cluster_metadata is not client.cluster:
            return ok
        if ok:
            failures = 0
        else:
            await asyncio.sleep(min(first_s * 2 ** min(failures, 16), max_s))
            failures += 1
        return ok

    client._metadata_update = paced
