"""Durable timers fired by a clocked job (SLA clocks, nurture steps and mail, webinar
no-shows, collateral retirement): the one loop that works through what is due, and the one
report of what it left due.

A timer is a row with a due time; a chunk is one handler call that fires at most ``batch``
of them inside its unit of work, marking each fired in the same transaction as what the
firing emits. :func:`drain` gives every chunk its own unit of work, so a chunk commits (and
its timers are fired exactly once, however many replicas run the job) before the next chunk
is read, and a failure loses at most the chunk in hand (it is simply due again next run).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from shared import metrics
from shared.handling import UnitOfWork, UnitOfWorkFactory

FireChunk = Callable[[UnitOfWork], Awaitable[int]]
"""Fires at most one batch of due timers in the given unit of work; returns how many."""

# A timer still due after a run (its chunk failed and rolled back) is tried again this
# long after, not in a tight loop.
RETRY_OVERDUE_S = 1.0

BacklogCount = Callable[[Any, datetime], Awaitable[tuple[int, datetime | None]]]
"""``(conn, now) -> (how many are due and not fired, the oldest one's due time)``."""


async def drain(units: UnitOfWorkFactory, fire_chunk: FireChunk, batch: int) -> int:
    """Run ``fire_chunk``, each call in a unit of work of its own, until one fires fewer
    than ``batch`` (so nothing more was due when it looked). Returns how many fired."""
    fired = 0
    while True:
        async with units() as uow:
            n = await fire_chunk(uow)
        fired += n
        if n < batch:
            return fired


async def report_backlog(units: UnitOfWorkFactory, clock: Callable[[], datetime], service: str,
                         counts: Mapping[str, BacklogCount]) -> None:
    """What the run left due, per timer name (normally nothing): ``leadbridge_timers_due``
    and ``leadbridge_timers_oldest_overdue_seconds`` (see :mod:`shared.metrics`)."""
    async with units() as uow:
        now = clock()
        found = {timer: await count(uow.conn, now) for timer, count in counts.items()}
    for timer, (due, oldest) in found.items():
        metrics.report_timer_backlog(service, timer, due, oldest, now)


def seconds_until(due: datetime | None, now: datetime) -> float | None:
    """A clocked job's ``next_due_in`` (see :mod:`shared.wakeups`) from the earliest
    pending timer's due time: None when none is pending, and :data:`RETRY_OVERDUE_S` for
    one already overdue."""
    if due is None:
        return None
    wait = (due - now).total_seconds()
    return wait if wait > 0 else RETRY_OVERDUE_S
