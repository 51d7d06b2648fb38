"""The handling core every handler sees: units of work, handler types, subscriptions
and clocked jobs. It imports no Kafka client and no database driver, so a service's
``handlers.py`` and its unit tests need neither (see :mod:`shared.testing` for the
fake unit of work).

The contract a handler gets (kept by :class:`shared.runtime.Runtime`):

- it runs inside ONE database transaction, shared with the inbox claim of the events
  it is given (duplicates were dropped before it is called) and with the outbox rows
  of every event it ``emit``s;
- emitted events are published only after that transaction commits;
- if it raises, the batch is re-run one event per transaction and the failing event
  goes to ``<topic>.dlq`` with its error; a transient database or broker failure is
  retried instead.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from shared import codec
from shared.events import Event
from shared.topics import TopicSpec

E = TypeVar("E", bound=Event)
D = TypeVar("D")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class RawRecord:
    """A consumed Kafka record, independent of the client library that read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int | None = None


class UnitOfWork:
    """One database transaction plus the events it will emit once committed.

    Handlers and HTTP commands receive one; they read and write through ``conn``
    (passed to the service's repositories) and call ``emit`` for each event."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.emitted: list[Event | codec.Encoded[Any]] = []

    def emit(self, event: Event | codec.Encoded[Any]) -> None:
        self.emitted.append(event)

    def events(self) -> list[Event]:
        """What was emitted, as validated models (pre-encoded ones decoded)."""
        return [e.decode() if isinstance(e, codec.Encoded) else e for e in self.emitted]


Handler = Callable[[E, UnitOfWork], Awaitable[None]]
BatchHandler = Callable[[Sequence[E], UnitOfWork], Awaitable[None]]


@dataclass
class Subscription(Generic[E]):
    """A topic a service consumes and what decides what each event does: ``handler``
    is called once per new event; a ``batch_handler`` instead gets all new events of
    a consumed batch at once (to load and save state in bulk). Both run inside the
    batch's transaction; if either raises, the batch is re-run one event per
    transaction and the failing event is dead-lettered."""

    spec: TopicSpec
    handler: Handler[Any] | None = None
    batch_handler: BatchHandler[Any] | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError("a subscription needs exactly one of handler or batch_handler")

    async def __call__(self, events: Sequence[Any], uow: UnitOfWork) -> None:
        if self.batch_handler is not None:
            await self.batch_handler(events, uow)
        else:
            assert self.handler is not None
            for event in events:
                await self.handler(event, uow)


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work: ``async with units() as uow: ...``. Its events are
    published after it commits. The runtime's is :meth:`shared.runtime.Runtime.unit_of_work`;
    :class:`shared.testing.FakeUnits` is the fake."""

    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


@dataclass
class Periodic:
    """Work a service does on a clock (SLA timers, nurture steps, retirement, gauges).
    ``run`` opens its own units of work (one per chunk of due timers, say); it runs
    every ``every_s`` seconds.

    A timer job sleeps instead until it has work (see :mod:`shared.wakeups`):
    ``next_due_in`` says, after each run, in how many seconds the next timer is due (None:
    none is pending), and ``wake_on`` names the tables whose trigger notifies a new due
    time; ``every_s`` is then only the fallback poll (at most a minute)."""

    name: str
    every_s: float
    run: Callable[[UnitOfWorkFactory], Awaitable[Any]]
    next_due_in: Callable[[UnitOfWorkFactory], Awaitable[float | None]] | None = None
    wake_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registry:
    """A service's handlers, as one explicit registry: the topics it consumes, each
    with its handler, and its clocked jobs. Every service's ``handlers.py`` builds one
    from its injected dependencies (``def registry(deps) -> Registry``); ``service.py``
    passes it to :class:`shared.service.ServiceDefinition`."""

    subscriptions: Sequence[Subscription[Any]] = ()
    periodic: Sequence[Periodic] = ()
    startup: Sequence[Callable[[UnitOfWorkFactory], Awaitable[Any]]] = field(default_factory=tuple)


def bind(function: Callable[Concatenate[D, P], R], deps: D) -> Callable[P, R]:
    """``function`` with its first argument, the service's dependencies object, given:
    how ``registry(deps)`` turns ``async def on_x(deps, event, uow)`` into the
    ``Handler`` (or ``BatchHandler``, or clocked job) a subscription expects."""

    @functools.wraps(function)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return function(deps, *args, **kwargs)

    return bound
