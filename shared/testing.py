"""Fakes the shared package ships for the services' unit tests (as httpx ships
``MockTransport``): handlers run against them with no broker and no database.

A handler's unit test builds its service's dependencies with in-memory repositories
(each service's ``tests/fakes.py``), hands it a :class:`FakeUnitOfWork`, and asserts
on what was emitted and what the fake repositories hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from shared.events import Event
from shared.handling import Registry, UnitOfWork
from shared.topics import TopicSpec

E = TypeVar("E", bound=Event)


class FakeUnitOfWork(UnitOfWork):
    """A unit of work with no transaction: ``conn`` is whatever the test passes (the
    in-memory repositories ignore it), ``emit`` records, and :meth:`commit` counts.

    It keeps the real contract's one observable promise: events emitted inside a unit
    of work are visible to the test only through :meth:`events` / :meth:`of`, in the
    order they were emitted."""

    def __init__(self, conn: Any = None) -> None:
        super().__init__(conn)
        self.committed = 0

    def commit(self) -> None:
        self.committed += 1

    def of(self, model: type[E]) -> list[E]:
        """The emitted events of one type, decoded when they were pre-encoded."""
        return [e for e in self.events() if isinstance(e, model)]

    def clear(self) -> None:
        self.emitted.clear()


class FakeUnits:
    """A :class:`shared.handling.UnitOfWorkFactory` for clocked jobs and startup hooks:
    each ``async with units() as uow`` yields a fresh :class:`FakeUnitOfWork`, kept in
    ``opened`` (a unit whose body raises is not committed, as with the real one)."""

    def __init__(self, conn: Any = None) -> None:
        self.conn = conn
        self.opened: list[FakeUnitOfWork] = []

    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self._open()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[UnitOfWork]:
        uow = FakeUnitOfWork(self.conn)
        yield uow
        uow.commit()
        self.opened.append(uow)

    def events(self) -> list[Event]:
        """Every event emitted by a committed unit, in order."""
        return [e for uow in self.opened for e in uow.events()]


class FakeKeyTable:
    """:class:`shared.pii.KeyTable` in memory: ``destroyed`` and ``readmitted`` persons, in order."""

    def __init__(self) -> None:
        self.destroyed: list[str] = []
        self.readmitted: list[str] = []

    async def destroy(self, conn: Any, subject: str) -> None:
        self.destroyed.append(subject)

    async def readmit(self, conn: Any, subject: str) -> None:
        if subject in self.destroyed:
            self.readmitted.append(subject)

    async def readmit_many(self, conn: Any, subjects: Sequence[str]) -> None:
        for subject in subjects:
            await self.readmit(conn, subject)


__all__ = ["FakeKeyTable", "FakeUnitOfWork", "FakeUnits"]


async def deliver(registry: Registry, spec: TopicSpec, events: Sequence[Event]) -> FakeUnitOfWork:
    """Hand ``events`` to the registry's subscription to ``spec`` as one consumed batch,
    in a fresh :class:`FakeUnitOfWork` (returned, to assert on what was emitted)."""
    (subscription,) = [s for s in registry.subscriptions if s.spec is spec]
    uow = FakeUnitOfWork()
    await subscription(list(events), uow)
    return uow


async def start(registry: Registry) -> FakeUnits:
    """Run the registry's startup jobs, as the service does before it consumes."""
    units = FakeUnits()
    for job in registry.startup:
        await job(units)
    return units


async def run_job(registry: Registry, name: str) -> FakeUnits:
    """Run the registry's clocked job ``name`` once."""
    (job,) = [p for p in registry.periodic if p.name == name]
    units = FakeUnits()
    await job.run(units)
    return units
