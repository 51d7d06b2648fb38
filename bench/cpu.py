"""CPU time of running processes, read from Linux's /proc: the one measure behind
``make bench-idle`` (a service's CPU while nothing happens) and ``make bench-sizing``
(a service's CPU per lead).

A process's CPU time is ``utime + stime`` in ``/proc/<pid>/stat`` (every thread of it,
in clock ticks, usually 10 ms each), so a figure over a window of W seconds is exact to
a tick: over 60 s, 0.5 % of a core is 30 ticks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    fields = stat[stat.rindex(b")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) * TICK_S


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds per named process at one moment."""

    at: float  # time.monotonic()
    seconds: dict[str, float]


def sample(pids: Mapping[str, int]) -> CpuSample:
    return CpuSample(time.monotonic(), {name: cpu_seconds(pid) for name, pid in pids.items()})


@dataclass(frozen=True)
class CpuUse:
    """What each process used between two samples."""

    wall_s: float
    seconds: dict[str, float]

    def share_of_a_core(self, name: str) -> float:
        """CPU seconds per wall second: 0.005 is half a percent of one core."""
        return self.seconds[name] / self.wall_s


def between(before: CpuSample, after: CpuSample) -> CpuUse:
    return CpuUse(after.at - before.at, {name: after.seconds[name] - before.seconds[name]
                                         for name in before.seconds if name in after.seconds})


def loadavg() -> str:
    """The machine's load average (1, 5, 15 min) and CPU count, for the figures' context."""
    return f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
