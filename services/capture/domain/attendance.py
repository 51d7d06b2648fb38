"""A webinar platform's attendance report, as a signed webhook or a CSV upload: who
registered, who attended and for how long. Pure: each attendee becomes the activities
capture records for anyone (a registration, an attendance), so nurture's funnel and
scoring follow them exactly as they follow ``POST /v1/activities``.

Each activity's idempotency key is the campaign, the person and the kind: the same
report delivered again (a retry, a fresh export, the CSV after the webhook) changes
nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError

from services.capture.domain.leads import InTheFuture, when_it_happened
from shared.events import Behaviour, normalise_email
from shared.validation import Count, CountryCode, Instant, Text

MAX_ATTENDEES = 1_000
"""One report, one transaction (as an invitation list): a longer one is a list import."""

CSV_COLUMNS = ("email", "registered_at", "attended", "minutes_watched")
"""The columns a CSV report must have (``name``, ``company`` and ``country`` may follow,
for people who are no lead yet)."""

OPTIONAL_COLUMNS = ("name", "company", "country")


class AttendeeIn(BaseModel):
    """One person of the report: a known lead by email, or a new one (then with name,
    company and country)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    name: Text | None = Field(default=None, min_length=1)
    company: Text | None = Field(default=None, min_length=1)
    country: CountryCode | None = None
    registered_at: Instant | None = None
    attended: bool
    minutes_watched: Count | None = None


@dataclass(frozen=True)
class PlannedActivity:
    """An activity to record through capture's activity path."""

    behaviour: Behaviour
    occurred_at: datetime
    idempotency_key: str
    detail: dict[str, str]


class BadAttendance(ValueError):
    """The report cannot be taken as it is: each problem is (where, field, reason);
    ``where`` is ``attendees.3`` for a webhook, ``line 4`` for a CSV, ``file`` (with no
    field) for the file as a whole."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(f"{w} {f}: {r}" for w, f, r in problems))
        self.problems = problems


def attendance_key(campaign: str, email: str, behaviour: Behaviour) -> str:
    return f"attendance:{campaign}:{behaviour.value}:{normalise_email(email)}"


def activities_for(campaign: str, attendee: AttendeeIn, now: datetime, max_skew_s: float,
                   via: str) -> list[PlannedActivity]:
    """What one attendee's line means: a registration (if they registered: at that
    moment) and an attendance (if they attended: now, with the minutes watched). Raises
    :class:`InTheFuture` for a registration dated ahead of the clock."""
    planned: list[PlannedActivity] = []
    if attendee.registered_at is not None:
        planned.append(PlannedActivity(
            Behaviour.WEBINAR_REGISTERED, when_it_happened(attendee.registered_at, now, max_skew_s),
            attendance_key(campaign, attendee.email, Behaviour.WEBINAR_REGISTERED), {"via": via}))
    if attendee.attended:
        detail = {"via": via}
        if attendee.minutes_watched is not None:
            detail["minutes_watched"] = str(attendee.minutes_watched)
        planned.append(PlannedActivity(Behaviour.WEBINAR_ATTENDED, now,
                                       attendance_key(campaign, attendee.email, Behaviour.WEBINAR_ATTENDED), detail))
    return planned


def _problems(where: str, error: ValidationError) -> list[tuple[str, str, str]]:
    return [(where, ".".join(str(p) for p in e["loc"]) or "row", e["msg"]) for e in error.errors()]


def parse_csv(data: bytes) -> list[tuple[int, AttendeeIn]]:
    """The rows of a CSV report (header row first) with their line numbers, each
    validated as a webhook's attendee is. All or nothing: any malformed row, a missing
    column or too many rows is :class:`BadAttendance` naming every problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as bad:
        raise BadAttendance([("file", "", f"is not UTF-8 (byte {bad.start})")]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise BadAttendance([("line 1", c, "missing column: a report has " + ", ".join(CSV_COLUMNS))
                             for c in missing])
    reader.fieldnames = header
    known = set(CSV_COLUMNS) | set(OPTIONAL_COLUMNS)
    rows: list[tuple[int, AttendeeIn]] = []
    problems: list[tuple[str, str, str]] = []
    for record in reader:
        line = reader.line_num
        if len(rows) + len(problems) >= MAX_ATTENDEES:
            raise BadAttendance([("file", "", f"more than {MAX_ATTENDEES:,} rows: import a longer list "
                                                  "with POST /v1/imports")])
        if None in record:
            problems.append((f"line {line}", "row", f"has more fields than the header's {len(header)}"))
            continue
        values = {k: v for k, v in record.items() if k in known and v is not None and v.strip() != ""}
        try:
            rows.append((line, AttendeeIn.model_validate(values)))
        except ValidationError as bad:
            problems.extend(_problems(f"line {line}", bad))
    if problems:
        raise BadAttendance(problems)
    if not rows:
        raise BadAttendance([("file", "", "has no rows after the header")])
    return rows


def plan(campaign: str, attendees: list[tuple[str, AttendeeIn]], now: datetime, max_skew_s: float,
         via: str) -> list[tuple[str, AttendeeIn, list[PlannedActivity]]]:
    """Every attendee's activities, or :class:`BadAttendance` naming each attendee
    (by ``where``) whose registration is dated in the future."""
    out: list[tuple[str, AttendeeIn, list[PlannedActivity]]] = []
    problems: list[tuple[str, str, str]] = []
    for where, attendee in attendees:
        try:
            out.append((where, attendee, activities_for(campaign, attendee, now, max_skew_s, via)))
        except InTheFuture as why:
            problems.append((where, "registered_at", f"is in the future: {why}"))
    if problems:
        raise BadAttendance(problems)
    return out
