"""Group commit: concurrent commands of one kind carried out together, in one unit of
work, each caller answered when that transaction has committed.

A single-lead POST costs a transaction of its own: a BEGIN, half a dozen statements
and a COMMIT (a WAL flush), each a round trip. With 64 clients posting, most of that
is the same work 64 times. :class:`GroupCommit` lets requests that arrive while
earlier groups are still committing wait and go together: at most ``in_flight``
groups run at once, each takes up to ``max_items`` of those waiting, so when nothing
else is in flight a request goes at once, alone (no window added to its latency), and
under load groups grow by themselves.

What a caller gets is unchanged: its result only after its group's transaction has
committed (a 202 still means durable), its own exception if its command fails. Two
commands that share a key (the same person, the same idempotency key) never go in one
group. If a group's transaction fails, each of its commands runs again alone in a
unit of work of its own, so one bad command cannot fail the others and each gets the
answer it would have had alone.

Pure asyncio on :class:`shared.handling.UnitOfWorkFactory`: no driver, no broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shared.handling import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

C = TypeVar("C")
R = TypeVar("R")

RunMany = Callable[[UnitOfWork, Sequence[C]], Awaitable[Sequence[R | BaseException]]]
RunOne = Callable[[UnitOfWork, C], Awaitable[R]]


@dataclass
class _Waiting(Generic[C, R]):
    command: C
    keys: tuple[Hashable, ...]
    answer: asyncio.Future[R]


@dataclass
class GroupCommit(Generic[C, R]):
    """Runs commands of one kind in groups (see the module doc).

    ``run_many(uow, commands)`` carries out a group in one unit of work and returns one
    result per command, in order (an exception instance for a command refused on its
    own, which does not fail the group); ``run_one(uow, command)`` carries out one alone
    (after a group failed); ``keys_of(command)`` are what two commands of one group must
    not share."""

    run_many: RunMany[C, R]
    run_one: RunOne[C, R]
    keys_of: Callable[[C], tuple[Hashable, ...]]
    max_items: int = 100
    in_flight: int = 2
    _waiting: list[_Waiting[C, R]] = field(default_factory=list)
    _running: int = 0
    groups: int = 0  # how many groups ran (with ``grouped``: their mean size)
    grouped: int = 0

    async def submit(self, units: UnitOfWorkFactory, command: C) -> R:
        """Carry out ``command`` (in a group, or alone) and return its result once its
        transaction has committed; raises its own exception."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(command, self.keys_of(command), answer))
        self._start(units)
        return await answer

    def _start(self, units: UnitOfWorkFactory) -> None:
        while self._waiting and self._running < self.in_flight:
            group = self._take()
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._run(units, group))
            task.add_done_callback(lambda _: self._finished(units))

    def _finished(self, units: UnitOfWorkFactory) -> None:
        self._running -= 1
        self._start(units)

    def _take(self) -> list[_Waiting[C, R]]:
        """The oldest waiting commands, up to ``max_items``, no two sharing a key (a
        command that shares one waits for a later group, keeping its place)."""
        group: list[_Waiting[C, R]] = []
        taken: set[Hashable] = set()
        rest: list[_Waiting[C, R]] = []
        for item in self._waiting:
            if len(group) < self.max_items and taken.isdisjoint(item.keys):
                group.append(item)
                taken.update(item.keys)
            else:
                rest.append(item)
        self._waiting = rest
        return group

    async def _run(self, units: UnitOfWorkFactory, group: list[_Waiting[C, R]]) -> None:
        live = [w for w in group if not w.answer.cancelled()]
        if not live:
            return
        self.groups += 1
        self.grouped += len(live)
        try:
            async with units() as uow:
                results = await self.run_many(uow, [w.command for w in live])
        except Exception as exc:
            # (a group of one too: alone, the command may answer what the group could not,
            # e.g. a concurrent request's idempotency key committed meanwhile)
            log.info("group failed; running its commands one by one",
                     extra={"commands": len(live), "error": repr(exc)})
            await asyncio.gather(*(self._alone(units, w) for w in live))
            return
        for w, result in zip(live, results, strict=True):
            _answer(w.answer, result)

    async def _alone(self, units: UnitOfWorkFactory, waiting: _Waiting[C, R]) -> None:
        try:
            async with units() as uow:
                result: R | BaseException = await self.run_one(uow, waiting.command)
        except Exception as exc:
            result = exc
        _answer(waiting.answer, result)


def _answer(future: asyncio.Future[R], result: R | BaseException) -> None:
    if future.done():  # the caller went away (a cancelled request)
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
