"""Live assignments: each open rep page holds a queue here, and a ``lead-assigned`` for
that rep is put on that rep's queues only (the pages then fetch their list again with
the rep's own token). In-process: with several app replicas, each consumes its share
of partitions, so a page is told by the replica that consumed the event only if that is
the one it is connected to; see README (the app runs as one replica, or behind sticky
routing per rep)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class LiveMessage:
    """What a page is told: an event name (``assigned``) and its data (the lead id)."""

    event: str
    data: str


class LiveFeed:
    """Per-rep fan-out to the pages they have open. A slow page drops messages rather
    than holding memory: each message only says "fetch your list again"."""

    def __init__(self, queue_size: int = 32) -> None:
        self._queues: dict[str, set[asyncio.Queue[LiveMessage]]] = defaultdict(set)
        self._size = queue_size

    @asynccontextmanager
    async def listen(self, rep_id: str) -> AsyncIterator[asyncio.Queue[LiveMessage]]:
        queue: asyncio.Queue[LiveMessage] = asyncio.Queue(self._size)
        self._queues[rep_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[rep_id].discard(queue)
            if not self._queues[rep_id]:
                del self._queues[rep_id]

    def publish(self, rep_id: str, message: LiveMessage) -> int:
        """Tell every page ``rep_id`` has open; how many were told."""
        told = 0
        for queue in self._queues.get(rep_id, ()):
            try:
                queue.put_nowait(message)
                told += 1
            except asyncio.QueueFull:
                pass
        return told

    def listeners(self, rep_id: str) -> int:
        return len(self._queues.get(rep_id, ()))
