"""Business days for nurture's waits: Monday to Friday, the time of day kept.

A demo or a test cannot wait days, so a calendar may be compressed: with ``day_seconds``
set, a business day lasts that many seconds and there are no weekends (settings:
``LEADBRIDGE_NURTURE_BUSINESS_DAY_S``). Production leaves it unset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BusinessCalendar:
    day_seconds: float | None = None

    def add_business_days(self, at: datetime, days: int) -> datetime:
        """``days`` business days after ``at`` (0: ``at`` itself, moved off a weekend)."""
        if self.day_seconds is not None:
            return at + timedelta(seconds=self.day_seconds * days)
        result = at
        while result.weekday() >= 5:
            result += timedelta(days=1)
        remaining = days
        while remaining > 0:
            result += timedelta(days=1)
            if result.weekday() < 5:
                remaining -= 1
        return result
