"""The one timer loop: every chunk in its own unit of work, until a chunk is short; then
what is left due reported per timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY

from shared import timers
from shared.handling import UnitOfWork
from shared.testing import FakeUnits


async def test_drain_gives_each_chunk_its_own_unit_until_one_is_short() -> None:
    due = list(range(7))
    seen: list[UnitOfWork] = []

    async def fire(uow: UnitOfWork) -> int:
        seen.append(uow)
        chunk = due[:3]
        del due[:3]
        return len(chunk)

    units = FakeUnits()
    assert await timers.drain(units, fire, 3) == 7
    assert due == []
    assert len(seen) == 3 and len({id(u) for u in seen}) == 3
    assert len(units.opened) == 3  # each chunk's unit committed before the next was opened


async def test_drain_stops_after_one_empty_chunk_when_nothing_is_due() -> None:
    calls = 0

    async def fire(uow: UnitOfWork) -> int:
        nonlocal calls
        calls += 1
        return 0

    assert await timers.drain(FakeUnits(), fire, 5) == 0
    assert calls == 1


async def test_report_backlog_sets_each_timers_count_and_oldest_overdue() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    async def three(conn: Any, at: datetime) -> tuple[int, datetime | None]:
        assert at == now
        return 3, now - timedelta(seconds=40)

    async def none(conn: Any, at: datetime) -> tuple[int, datetime | None]:
        return 0, None

    await timers.report_backlog(FakeUnits(), lambda: now, "svc-timers", {"a": three, "b": none})
    assert REGISTRY.get_sample_value("leadbridge_timers_due", {"service": "svc-timers", "timer": "a"}) == 3
    assert REGISTRY.get_sample_value("leadbridge_timers_oldest_overdue_seconds",
                                     {"service": "svc-timers", "timer": "a"}) == 40
    assert REGISTRY.get_sample_value("leadbridge_timers_due", {"service": "svc-timers", "timer": "b"}) == 0
