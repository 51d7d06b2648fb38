"""Clocked jobs that sleep until they have work: timers fire on time, and an idle service
does not poll its tables several times a second.

A timer job (SLA clocks, nurture steps and mail, webinar no-shows, list imports) declares
how long until it next has work (``Periodic.next_due_in``, asked after every run) and the
tables whose rows bring that moment closer (``Periodic.wake_on``). It then sleeps until
the sooner of that moment and its fallback poll (``Periodic.every_s``), and is woken
earlier when PostgreSQL notifies a change:

- every service schema has the trigger function ``{schema}.notify_due(expr)``
  (:data:`shared.db.PLUMBING_DDL`); a service's migration puts it on a timer table,
  AFTER INSERT and AFTER UPDATE, FOR EACH STATEMENT, with ``expr`` the SQL expression of
  a row's due time (NULL when it is not pending). At commit, PostgreSQL sends
  ``NOTIFY "{schema}.due", '<table> <epoch seconds>'`` with the earliest due time among
  the statement's rows, and only when that is within :data:`HORIZON_S`: no job sleeps
  longer than that, so a later one cannot wake anyone (an SLA due in hours costs the hot
  path no notification at all);
- :class:`Wakeups` LISTENs on one connection of its own and wakes a sleeping job only
  when the notified time is before the moment it planned to wake at.

Notifications reach every replica; which one fires a timer is still decided by the
database (``FOR UPDATE SKIP LOCKED`` and the timer marked fired in the same transaction,
see :mod:`shared.timers`), so a timer fires once however many are woken. A notification
lost (the listening connection dropped) costs at most the fallback poll; after a
reconnection every job runs once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.db import connect
from shared.handling import Periodic

log = logging.getLogger(__name__)

# Notifications further ahead than this are not sent; a job that waits on them must
# fall back to polling at least this often (checked by Wakeups.sleeper).
HORIZON_S = 60.0


def channel(schema: str) -> str:
    return f"{schema}.due"


class Sleeper:
    """Where one job sleeps between runs."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._until = math.inf  # epoch seconds the job will wake at while it sleeps
        self._sleeping = False
        self._offered = math.inf  # the earliest due time notified since it last woke

    def offer(self, due_epoch: float) -> None:
        """A row of a table the job waits on is due at ``due_epoch``."""
        self._offered = min(self._offered, due_epoch)
        if self._sleeping and due_epoch < self._until:
            self._event.set()

    def wake(self) -> None:
        """Wake it now (notifications may have been missed)."""
        self.offer(-math.inf)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until a notified due time, whichever comes first
        (including one notified while the job was running)."""
        until = min(time.time() + max(0.0, seconds), self._offered)
        self._until, self._sleeping = until, True
        self._event.clear()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), max(0.0, until - time.time()))
        finally:
            self._sleeping, self._until, self._offered = False, math.inf, math.inf


class Wakeups:
    """One LISTEN connection per service, waking the jobs that wait on a table."""

    def __init__(self, dsn: str, schema: str) -> None:
        self._dsn = dsn
        self._channel = channel(schema)
        self._by_table: dict[str, list[Sleeper]] = {}
        self._sleepers: list[Sleeper] = []
        self._task: asyncio.Task[None] | None = None

    def sleeper(self, job: Periodic) -> Sleeper:
        """The sleeper for ``job``, woken by changes to its ``wake_on`` tables."""
        if job.wake_on and job.every_s > HORIZON_S:
            raise ValueError(f"job {job.name} waits on notifications but polls only every {job.every_s:g} s: "
                             f"at most every {HORIZON_S:g} s, or a due time beyond the horizon is missed")
        sleeper = Sleeper()
        self._sleepers.append(sleeper)
        for table in job.wake_on:
            self._by_table.setdefault(table, []).append(sleeper)
        return sleeper

    async def start(self) -> None:
        if self._by_table:
            self._task = asyncio.create_task(self._listen_forever(), name="wakeups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        table, _, due = payload.partition(" ")
        try:
            due_epoch = float(due)
        except ValueError:
            log.warning("unreadable due-time notification", extra={"payload": payload})
            return
        for sleeper in self._by_table.get(table, ()):
            sleeper.offer(due_epoch)

    def _wake_all(self, sleepers: Sequence[Sleeper] | None = None) -> None:
        for sleeper in sleepers or self._sleepers:
            sleeper.wake()

    async def _listen_forever(self) -> None:
        delay = 0.5
        first = True
        while True:
            lost = asyncio.get_running_loop().create_future()
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self._dsn)
                conn.add_termination_listener(lambda _c, lost=lost: lost.done() or lost.set_result(None))
                await conn.add_listener(self._channel, self._notified)
                if not first:  # what changed while no one listened is found by running once
                    self._wake_all()
                first, delay = False, 0.5
                await lost
                log.warning("due-time listener lost its connection; reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("due-time listener cannot connect; jobs poll meanwhile",
                            extra={"error": repr(exc), "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
