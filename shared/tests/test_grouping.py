"""Group commit (shared.grouping) on fake units of work: concurrent commands go
together, each caller gets its own answer after its group's unit committed, commands
sharing a key never share a group, and a failed group's commands each run alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.grouping import GroupCommit
from shared.handling import UnitOfWork
from shared.testing import FakeUnits


class Refused(ValueError):
    pass


def committer(groups: list[list[str]], alone: list[str], *, fail_group_with: str | None = None,
              in_flight: int = 1) -> GroupCommit[str, str]:
    async def run_many(uow: UnitOfWork, commands: Sequence[str]) -> list[str | BaseException]:
        await asyncio.sleep(0.01)  # a transaction's round trips: others arrive meanwhile
        groups.append(list(commands))
        if fail_group_with is not None and fail_group_with in commands and len(commands) > 1:
            raise RuntimeError("the group's transaction failed")
        return [Refused(c) if c.startswith("bad") else c.upper() for c in commands]

    async def run_one(uow: UnitOfWork, command: str) -> str:
        alone.append(command)
        if command == fail_group_with:
            raise Refused(command)
        return command.upper()

    return GroupCommit(run_many, run_one, lambda c: (c.rstrip("0123456789"),), max_items=10, in_flight=in_flight)


async def test_concurrent_commands_go_in_groups_after_the_first_and_each_gets_its_answer() -> None:
    groups: list[list[str]] = []
    alone: list[str] = []
    units = FakeUnits()
    group = committer(groups, alone)
    names = [f"p{i}x" for i in range(25)]
    answers = await asyncio.gather(*(group.submit(units, n) for n in names))
    assert answers == [n.upper() for n in names]
    assert groups[0] == ["p0x"], "nothing was in flight: the first went at once, alone"
    assert [len(g) for g in groups[1:]] == [10, 10, 4]
    assert len(units.opened) == len(groups) == 4 and alone == []


async def test_commands_sharing_a_key_never_share_a_group() -> None:
    groups: list[list[str]] = []
    units = FakeUnits()
    group = committer(groups, [])
    # "ann1", "ann2", "ann3" share the key "ann"
    answers = await asyncio.gather(*(group.submit(units, n) for n in ("bo", "ann1", "ann2", "cy", "ann3")))
    assert answers == ["BO", "ANN1", "ANN2", "CY", "ANN3"]
    for g in groups:
        assert len([c for c in g if c.startswith("ann")]) <= 1, g


async def test_a_command_refused_on_its_own_fails_only_its_caller() -> None:
    units = FakeUnits()
    group = committer([], [])
    results = await asyncio.gather(*(group.submit(units, n) for n in ("a", "bad", "c", "d")),
                                   return_exceptions=True)
    assert results[0] == "A" and isinstance(results[1], Refused) and results[2:] == ["C", "D"]


async def test_a_failed_group_runs_each_of_its_commands_alone() -> None:
    groups: list[list[str]] = []
    alone: list[str] = []
    units = FakeUnits()
    group = committer(groups, alone, fail_group_with="boom")
    results = await asyncio.gather(*(group.submit(units, n) for n in ("first", "a", "boom", "c")),
                                   return_exceptions=True)
    assert results[0] == "FIRST" and results[1] == "A" and results[3] == "C"
    assert isinstance(results[2], Refused)
    assert sorted(alone) == ["a", "boom", "c"], "the failed group's commands, each in a unit of its own"
    assert ["a", "boom", "c"] in groups


@pytest.mark.parametrize("in_flight", [1, 3])
async def test_no_more_groups_than_allowed_run_at_once(in_flight: int) -> None:
    running = most = 0

    async def run_many(uow: UnitOfWork, commands: Sequence[str]) -> list[str | BaseException]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.005)
        running -= 1
        return list(commands)

    async def run_one(uow: UnitOfWork, command: str) -> str:
        return command

    group: GroupCommit[str, str] = GroupCommit(run_many, run_one, lambda c: (c,), max_items=2, in_flight=in_flight)
    await asyncio.gather(*(group.submit(FakeUnits(), f"c{i}") for i in range(30)))
    assert most == in_flight
