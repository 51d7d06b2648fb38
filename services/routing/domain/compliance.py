"""SLA compliance: of the clocks that ended in a period, how many ended on time.

A follow-up clock ends once: at the first follow-up the owner records (on time or late,
as :func:`~services.routing.domain.followup.decide_follow_up` judged it), or when it ran
out (the assignment was escalated as missed). Clocks still running are not counted yet;
clocks stopped another way (a lead taken from a queue, converted in the CRM) neither met
nor missed the SLA. "Today" and "this week" are the team's: midnight and Monday midnight
in the team's time zone, so a New York manager's day is New York's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIODS: tuple[str, ...] = ("today", "week")


@dataclass(frozen=True)
class ClockEnded:
    """How one assignment's clock ended: at ``ended_at``, ``on_time`` or not."""

    assignment_id: str
    rep_id: str | None  # None: it ran out in the team's queue
    ended_at: datetime
    on_time: bool


@dataclass(frozen=True)
class Compliance:
    """Clocks ended on time (``met``) and not (``missed``) in one period."""

    met: int = 0
    missed: int = 0

    @property
    def ended(self) -> int:
        return self.met + self.missed

    @property
    def rate(self) -> float | None:
        """The share met, or None when no clock ended (nothing to judge, not 100%)."""
        return None if self.ended == 0 else self.met / self.ended

    def add(self, on_time: bool) -> Compliance:
        return Compliance(self.met + on_time, self.missed + (not on_time))


def period_starts(now: datetime, zone: ZoneInfo) -> dict[str, datetime]:
    """When today and this week (from Monday) began in ``zone``, as instants."""
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0), tzinfo=zone)
    return {"today": midnight, "week": monday}


@dataclass(frozen=True)
class TeamCompliance:
    """A team's compliance per period, overall and per rep (every rep named, even with
    nothing ended)."""

    starts: dict[str, datetime]
    team: dict[str, Compliance]
    reps: dict[str, dict[str, Compliance]]


def team_compliance(ended: Iterable[ClockEnded], starts: dict[str, datetime],
                    rep_ids: Iterable[str]) -> TeamCompliance:
    """Count each ended clock into every period it falls in (a clock ended today counts
    for the week too). A rep who left the team but ended a clock in it still appears."""
    team = {p: Compliance() for p in starts}
    reps: dict[str, dict[str, Compliance]] = {r: {p: Compliance() for p in starts} for r in rep_ids}
    for clock in ended:
        for period, start in starts.items():
            if clock.ended_at < start:
                continue
            team[period] = team[period].add(clock.on_time)
            if clock.rep_id is not None:
                mine = reps.setdefault(clock.rep_id, {p: Compliance() for p in starts})
                mine[period] = mine[period].add(clock.on_time)
    return TeamCompliance(starts, team, reps)
