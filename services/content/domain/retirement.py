"""A year retires it: when an item retires and when its owner is warned.

The brief's rule, from one company: anything older than a year is thrown away. An item
retires ``lifetime`` (12 months by default; a setting) after its last published
revision, and its owner is warned 4 and then 2 weeks before. A warning that comes due
after a later one was sent (a late timer) is not sent: only the nearest is useful.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

LIFETIME = timedelta(days=365)
WARN_WEEKS: tuple[int, ...] = (4, 2)


def retire_at(published_at: datetime, lifetime: timedelta = LIFETIME) -> datetime:
    return published_at + lifetime


def warning_due(retire_at: datetime, warned_weeks: int | None, now: datetime,
                weeks: Sequence[int] = WARN_WEEKS) -> int | None:
    """The warning to send now (weeks before), or None: the nearest warning whose time has
    come that is nearer than the last one sent (``warned_weeks``). None once retirement is due."""
    if now >= retire_at:
        return None
    due = [w for w in weeks if now >= retire_at - timedelta(weeks=w)
           and (warned_weeks is None or w < warned_weeks)]
    return min(due) if due else None


def warn_from(retire_at: datetime, weeks: Sequence[int] = WARN_WEEKS) -> datetime:
    """From when the first warning is due (what the timer's query looks for)."""
    return retire_at - timedelta(weeks=max(weeks))
