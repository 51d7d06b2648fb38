"""The follow-up clock: when an assignment comes due, and when its owner is reminded.

A rep's clock runs in the rep's own working calendar (their hours, time zone and
holidays); a queued lead's clock runs in its team's calendar. ``business_days`` counts
whole working windows, so "2 business days" from Monday 11:00 is Wednesday 11:00 for a rep
who works every weekday, and a lead assigned on Saturday starts counting on Monday morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.config import RoutingConfig, SlaPolicy


@dataclass(frozen=True)
class Clock:
    due_at: datetime
    remind_at: datetime | None


def budget_seconds(policy: SlaPolicy, calendar: WorkingCalendar) -> float:
    """The policy's allowance in working seconds (wall seconds for a ``seconds`` policy)."""
    if policy.seconds is not None:
        return policy.seconds
    if policy.business_hours is not None:
        return policy.business_hours * 3600
    assert policy.business_days is not None
    return policy.business_days * calendar.window_seconds()


def start_clock(policy: SlaPolicy, calendar: WorkingCalendar, start: datetime) -> Clock:
    """Due time and reminder time for an assignment made at ``start``."""
    budget = budget_seconds(policy, calendar)
    if policy.seconds is not None:
        due = start + timedelta(seconds=budget)
        remind = start + timedelta(seconds=budget * (1 - policy.reminder_before))
    else:
        due = calendar.add_business_seconds(start, budget)
        remind = calendar.add_business_seconds(start, budget * (1 - policy.reminder_before))
    return Clock(due, remind if policy.reminder_before > 0 else None)


def time_left(policy: SlaPolicy | None, calendar: WorkingCalendar, now: datetime, due: datetime) -> float:
    """Seconds left on the clock as the owner experiences it (working time, or wall time)."""
    if policy is None or policy.seconds is not None:
        return (due - now).total_seconds()
    return calendar.business_seconds_between(now, due)


def seconds_left(config: RoutingConfig, rep_id: str | None, team: str | None, now: datetime,
                 due: datetime | None) -> float | None:
    """Whole seconds left on an assignment's clock as its owner experiences it (their
    working calendar under their team's policy), or None if it has no clock."""
    if due is None:
        return None
    policy = config.teams[team].sla if team is not None and team in config.teams else None
    return round(time_left(policy, config.calendar_of(rep_id, team), now, due))
