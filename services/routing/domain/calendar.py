"""Working calendars: when a rep works, in their own time zone, and business-time arithmetic.

A calendar is a set of working weekdays, one daily window (``09:00-17:30``; ``24:00`` may
close a window) in an IANA time zone, and optional holidays. Business time is counted only
inside windows; weekends and holidays are skipped. All arithmetic is done on UTC instants
so that daylight-saving changes neither stretch nor shrink a working day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A calendar with no working day would make every due time infinite; this bounds the search
# for the next window even for a calendar made of one day a week with many holidays.
_MAX_DAYS_SEARCHED = 800

_HOURS_RE = re.compile(r"^\s*(?P<days>[a-z,\-\s]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")


class CalendarError(ValueError):
    """Working hours or a time zone that do not parse; the message says what and why."""


def _parse_clock(text: str, *, allow_24: bool) -> time | None:
    """``HH:MM`` → time; ``24:00`` → None (end of day) when allowed."""
    hh, mm = text.split(":")
    hour, minute = int(hh), int(mm)
    if allow_24 and hour == 24 and minute == 0:
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise CalendarError(f"'{text}' is not a time of day (HH:MM, 00:00 to 24:00)")
    return time(hour, minute)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "-" in part:
            first, last = (x.strip() for x in part.split("-", 1))
            for name in (first, last):
                if name not in DAY_NAMES:
                    raise CalendarError(f"'{name}' is not a weekday (use {', '.join(DAY_NAMES)})")
            i, j = DAY_NAMES.index(first), DAY_NAMES.index(last)
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            days.update(span)
        else:
            if part not in DAY_NAMES:
                raise CalendarError(f"'{part}' is not a weekday (use {', '.join(DAY_NAMES)})")
            days.add(DAY_NAMES.index(part))
    if not days:
        raise CalendarError("no working day given")
    return frozenset(days)


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone, or a :class:`CalendarError` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"'{name}' is not an IANA time zone (e.g. Europe/London)") from exc


@dataclass(frozen=True)
class WorkingCalendar:
    """When someone works: weekdays (0 = Monday), a daily window and a time zone."""

    zone: ZoneInfo
    days: frozenset[int]
    start: time
    end: time | None  # None means midnight at the end of the day (24:00)
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, hours: str, timezone: str, holidays: Iterable[date] = ()) -> WorkingCalendar:
        """Parse ``"mon-fri 09:00-17:30"`` in ``timezone``; raises :class:`CalendarError`."""
        match = _HOURS_RE.match(hours.lower())
        if not match:
            raise CalendarError(f"'{hours}' does not parse: expected days and a window, e.g. 'mon-fri 09:00-17:30'")
        try:
            start = _parse_clock(match["start"], allow_24=False)
            end = _parse_clock(match["end"], allow_24=True)
        except ValueError as exc:
            raise CalendarError(f"'{hours}': {exc}") from None
        assert start is not None
        if end is not None and end <= start:
            raise CalendarError(f"'{hours}': the window ends ({match['end']}) before it starts ({match['start']})")
        return cls(parse_zone(timezone), _parse_days(match["days"]), start, end, frozenset(holidays))

    # ------------------------------------------------------------------ windows

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC bounds of the working window on local ``day``, or None if not a working day."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        opens = datetime.combine(day, self.start, self.zone).astimezone(UTC)
        if self.end is None:
            closes = datetime.combine(day + timedelta(days=1), time(0), self.zone).astimezone(UTC)
        else:
            closes = datetime.combine(day, self.end, self.zone).astimezone(UTC)
        return opens, closes

    def window_seconds(self) -> float:
        """Length of a normal working day (used for 'N business days')."""
        start = self.start.hour * 3600 + self.start.minute * 60
        end = 86400 if self.end is None else self.end.hour * 3600 + self.end.minute * 60
        return float(end - start)

    def is_working(self, instant: datetime) -> bool:
        """Whether ``instant`` falls inside a working window."""
        local_day = instant.astimezone(self.zone).date()
        for day in (local_day - timedelta(days=1), local_day):  # a 24:00 window ends on the next day
            window = self._window(day)
            if window and window[0] <= instant < window[1]:
                return True
        return False

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of working time have passed since ``start`` (UTC)."""
        cursor = start.astimezone(UTC)
        remaining = max(0.0, seconds)
        day = cursor.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(_MAX_DAYS_SEARCHED):
            window = self._window(day)
            day += timedelta(days=1)
            if window is None or window[1] <= cursor:
                continue
            cursor = max(cursor, window[0])
            available = (window[1] - cursor).total_seconds()
            if remaining <= available:
                # Zero remaining still moves a non-working start to the next opening.
                return cursor + timedelta(seconds=remaining)
            remaining -= available
            cursor = window[1]
        raise CalendarError("no working window found within two years")

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working time from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.business_seconds_between(end, start)
        total = 0.0
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date()
        while day <= last:
            window = self._window(day)
            day += timedelta(days=1)
            if window is None:
                continue
            lo, hi = max(window[0], start), min(window[1], end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total
