"""Failed metadata refreshes wait before they report back (the reconnect storm during a
broker outage came from a loop that re-asked at once)."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

from aiokafka.client import AIOKafkaClient

from shared.kafka_pacing import pace_metadata_refreshes


class Cluster:
    pass


class FakeClient:
    """The one thing pacing touches: ``_metadata_update(cluster, topics) -> bool``."""

    def __init__(self, answers: list[bool]) -> None:
        self.cluster = Cluster()
        self.answers = answers
        self.calls = 0

    async def _metadata_update(self, cluster_metadata: Any, topics: Any) -> bool:
        self.calls += 1
        return self.answers.pop(0)


async def timed(client: Any, cluster: Any) -> tuple[bool, float]:
    started = time.monotonic()
    ok = await asyncio.wait_for(client._metadata_update(cluster, None), 10)
    return ok, time.monotonic() - started


def test_the_paced_method_is_still_where_aiokafka_keeps_it() -> None:
    assert list(inspect.signature(AIOKafkaClient._metadata_update).parameters) == [
        "self", "cluster_metadata", "topics"]


async def test_failed_refreshes_pause_longer_each_time_and_a_success_resets() -> None:
    client = FakeClient([False, False, True, False])
    pace_metadata_refreshes(client, first_s=0.5, max_s=30)
    ok, first = await timed(client, client.cluster)
    assert not ok and first >= 0.5
    ok, second = await timed(client, client.cluster)
    assert not ok and second >= 1.0
    ok, _ = await timed(client, client.cluster)
    assert ok
    ok, after_success = await timed(client, client.cluster)
    # back to the first pause (0.5 s), not doubled again (2 s)
    assert not ok and 0.5 <= after_success < 1.9
    assert client.calls == 4


async def test_pauses_stop_at_the_cap() -> None:
    client = FakeClient([False, False])
    pace_metadata_refreshes(client, first_s=60, max_s=0.05)
    for _ in range(2):  # (wait_for in timed() fails the test if a pause were 60 s)
        assert (await timed(client, client.cluster))[0] is False


async def test_a_one_off_fetch_into_other_metadata_answers_at_once() -> None:
    client = FakeClient([False])
    pace_metadata_refreshes(client, first_s=60, max_s=60)
    assert (await timed(client, Cluster()))[0] is False  # the health check's fetch_all_metadata
