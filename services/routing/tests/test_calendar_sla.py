"""Working calendars and the follow-up clock: weekends, time zones, DST, holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.routing.domain.calendar import CalendarError, WorkingCalendar
from services.routing.domain.config import SlaPolicy
from services.routing.domain.sla import start_clock, time_left

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def test_business_hours_within_one_day() -> None:
    cal = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/London")
    due = cal.add_business_seconds(at(LONDON, 2025, 3, 12, 10, 0), 4 * 3600)
    assert due == at(LONDON, 2025, 3, 12, 14, 0)


def test_business_hours_skip_the_weekend() -> None:
    cal = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/London")
    # Friday 15:00 + 4 business hours: 2 on Friday, 2 on Monday morning.
    due = cal.add_business_seconds(at(LONDON, 2025, 3, 14, 15, 0), 4 * 3600)
    assert due == at(LONDON, 2025, 3, 17, 11, 0)


def test_assigned_on_saturday_starts_counting_on_monday() -> None:
    cal = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/London")
    clock = start_clock(SlaPolicy(business_hours=4), cal, at(LONDON, 2025, 3, 15, 12, 0))
    assert clock.due_at == at(LONDON, 2025, 3, 17, 13, 0)


def test_two_business_days_from_monday_is_wednesday_same_time() -> None:
    cal = WorkingCalendar.parse("mon-fri 08:30-17:30", "America/New_York")
    clock = start_clock(SlaPolicy(business_days=2), cal, at(NEW_YORK, 2025, 3, 10, 11, 0))
    assert clock.due_at == at(NEW_YORK, 2025, 3, 12, 11, 0)


def test_two_business_days_from_thursday_lands_after_the_weekend() -> None:
    cal = WorkingCalendar.parse("mon-fri 08:30-17:30", "America/New_York")
    clock = start_clock(SlaPolicy(business_days=2), cal, at(NEW_YORK, 2025, 3, 13, 11, 0))
    assert clock.due_at == at(NEW_YORK, 2025, 3, 17, 11, 0)


def test_same_instant_different_due_times_in_each_reps_time_zone() -> None:
    london = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/London")
    new_york = WorkingCalendar.parse("mon-fri 09:00-17:00", "America/New_York")
    assigned = datetime(2025, 3, 12, 16, 0, tzinfo=UTC)  # 16:00 London, 12:00 New York
    policy = SlaPolicy(business_hours=4)
    # London has 1 hour left today, 3 more tomorrow; New York finishes today at 16:00 local.
    assert start_clock(policy, london, assigned).due_at == at(LONDON, 2025, 3, 13, 12, 0)
    assert start_clock(policy, new_york, assigned).due_at == at(NEW_YORK, 2025, 3, 12, 16, 0)


def test_daylight_saving_change_does_not_stretch_a_working_day() -> None:
    cal = WorkingCalendar.parse("mon-sun 09:00-17:00", "Europe/London")
    # Clocks go forward on Sunday 30 March 2025; Saturday 16:00 + 2 h = Sunday 10:00 local.
    due = cal.add_business_seconds(at(LONDON, 2025, 3, 29, 16, 0), 2 * 3600)
    assert due == at(LONDON, 2025, 3, 30, 10, 0)
    assert due.astimezone(UTC).hour == 9  # BST: 10:00 local is 09:00 UTC


def test_holidays_are_skipped() -> None:
    cal = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/London", [date(2025, 3, 17)])
    due = cal.add_business_seconds(at(LONDON, 2025, 3, 14, 15, 0), 4 * 3600)
    assert due == at(LONDON, 2025, 3, 18, 11, 0)


def test_window_to_midnight_and_wrapping_days() -> None:
    cal = WorkingCalendar.parse("sat-sun 00:00-24:00", "UTC")
    assert cal.is_working(datetime(2025, 3, 15, 23, 59, tzinfo=UTC))
    assert not cal.is_working(datetime(2025, 3, 17, 0, 0, tzinfo=UTC))
    assert cal.add_business_seconds(datetime(2025, 3, 14, 12, 0, tzinfo=UTC), 36 * 3600) == \
        datetime(2025, 3, 16, 12, 0, tzinfo=UTC)


def test_is_working_in_the_reps_zone() -> None:
    cal = WorkingCalendar.parse("mon-fri 09:00-17:00", "America/New_York")
    assert not cal.is_working(datetime(2025, 3, 12, 12, 0, tzinfo=UTC))  # 08:00 in New York
    assert cal.is_working(datetime(2025, 3, 12, 14, 0, tzinfo=UTC))
    assert not cal.is_working(datetime(2025, 3, 15, 15, 0, tzinfo=UTC))  # Saturday


def test_reminder_before_due_and_time_left_in_business_time() -> None:
    cal = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/London")
    policy = SlaPolicy(business_hours=4, reminder_before=0.25)
    start = at(LONDON, 2025, 3, 14, 15, 0)
    clock = start_clock(policy, cal, start)
    assert clock.remind_at == at(LONDON, 2025, 3, 17, 10, 0)  # 3 of the 4 hours spent
    # On Saturday the business clock is frozen: still 2 hours left, though 40 wall hours remain.
    assert time_left(policy, cal, at(LONDON, 2025, 3, 15, 12, 0), clock.due_at) == 2 * 3600


def test_seconds_policy_runs_on_the_wall_clock() -> None:
    cal = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/London")
    start = at(LONDON, 2025, 3, 15, 12, 0)  # a Saturday: irrelevant to a seconds policy
    clock = start_clock(SlaPolicy(seconds=30, reminder_before=0.5), cal, start)
    assert clock.due_at == start + timedelta(seconds=30)
    assert clock.remind_at == start + timedelta(seconds=15)
    assert start_clock(SlaPolicy(seconds=30, reminder_before=0), cal, start).remind_at is None


@pytest.mark.parametrize(("hours", "zone", "message"), [
    ("9-5", "UTC", "does not parse"),
    ("mon-fri 09:00-25:00", "UTC", "not a time of day"),
    ("mon-fri 17:00-09:00", "UTC", "ends (09:00) before it starts (17:00)"),
    ("mon-fry 09:00-17:00", "UTC", "'fry' is not a weekday"),
    ("mon-fri 09:00-17:00", "Mars/Olympus", "not an IANA time zone"),
])
def test_working_hours_that_do_not_parse(hours: str, zone: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message.replace("(", r"\(").replace(")", r"\)")):
        WorkingCalendar.parse(hours, zone)
