"""The attendance report's pure decisions: which activities an attendee means, and how
a CSV report's rows are read (every malformed row named by its line)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.capture import handlers
from services.capture.domain.attendance import (
    MAX_ATTENDEES,
    AttendeeIn,
    BadAttendance,
    activities_for,
    parse_csv,
    plan,
)
from services.capture.tests.test_handlers import T0, capture
from shared.events import Behaviour, LeadEngaged
from shared.testing import FakeUnitOfWork

NOW = datetime(2026, 12, 10, 18, 0, tzinfo=UTC)
REGISTERED = NOW - timedelta(days=3)


def attendee(**given: object) -> AttendeeIn:
    return AttendeeIn.model_validate({"email": "Ann@Example.com", "attended": False, **given})


def test_a_registrant_who_attended_is_a_registration_then_an_attendance_with_minutes() -> None:
    planned = activities_for("webinar-q4", attendee(registered_at=REGISTERED, attended=True, minutes_watched=42),
                             NOW, 60, "csv")
    assert [(p.behaviour, p.occurred_at, p.detail) for p in planned] == [
        (Behaviour.WEBINAR_REGISTERED, REGISTERED, {"via": "csv"}),
        (Behaviour.WEBINAR_ATTENDED, NOW, {"via": "csv", "minutes_watched": "42"})]


def test_a_registrant_who_did_not_attend_is_only_a_registration() -> None:
    planned = activities_for("webinar-q4", attendee(registered_at=REGISTERED), NOW, 60, "csv")
    assert [p.behaviour for p in planned] == [Behaviour.WEBINAR_REGISTERED]
    assert activities_for("webinar-q4", attendee(), NOW, 60, "csv") == []


def test_keys_are_the_campaign_person_and_kind_whatever_the_delivery_or_email_case() -> None:
    one = activities_for("webinar-q4", attendee(registered_at=REGISTERED, attended=True), NOW, 60, "webhook:zoom")
    other = activities_for("webinar-q4", attendee(email="ann@example.COM", registered_at=REGISTERED + timedelta(1),
                                                  attended=True), NOW + timedelta(hours=1), 60, "csv")
    assert [p.idempotency_key for p in one] == [p.idempotency_key for p in other]
    assert len({p.idempotency_key for p in one}) == 2
    elsewhere = activities_for("webinar-q1", attendee(attended=True), NOW, 60, "csv")
    assert elsewhere[0].idempotency_key != one[1].idempotency_key


def test_a_registration_dated_in_the_future_is_refused_naming_the_attendee() -> None:
    with pytest.raises(BadAttendance) as bad:
        plan("webinar-q4", [("attendees.0", attendee(registered_at=REGISTERED)),
                            ("attendees.1", attendee(registered_at=NOW + timedelta(hours=1)))], NOW, 60, "csv")
    assert [(w, f) for w, f, _ in bad.value.problems] == [("attendees.1", "registered_at")]


GOOD_CSV = (b"email,registered_at,attended,minutes_watched,name\r\n"
            b"ann@example.com,2026-12-07T10:00:00Z,yes,42,Ann\r\n"
            b"bob@example.com,2026-12-08T10:00:00+01:00,false,,\r\n")


def test_a_good_csv_gives_each_row_with_its_line() -> None:
    rows = parse_csv(GOOD_CSV)
    assert [(n, str(a.email), a.attended, a.minutes_watched, a.name) for n, a in rows] == [
        (2, "ann@example.com", True, 42, "Ann"), (3, "bob@example.com", False, None, None)]
    assert rows[1][1].registered_at == datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def test_every_malformed_row_is_named_by_its_line_and_field() -> None:
    data = (b"email,registered_at,attended,minutes_watched\n"
            b"ann@example.com,2026-12-07T10:00:00Z,yes,42\n"
            b"not-an-email,2026-12-07T10:00:00Z,yes,1\n"
            b"cy@example.com,yesterday,maybe,-3\n")
    with pytest.raises(BadAttendance) as bad:
        parse_csv(data)
    assert [(w, f) for w, f, _ in bad.value.problems] == [
        ("line 3", "email"), ("line 4", "registered_at"), ("line 4", "attended"), ("line 4", "minutes_watched")]


def test_a_csv_without_a_required_column_or_rows_or_too_long_is_refused() -> None:
    with pytest.raises(BadAttendance) as bad:
        parse_csv(b"email,attended\nann@example.com,yes\n")
    assert [(w, f) for w, f, _ in bad.value.problems] == [("line 1", "registered_at"), ("line 1", "minutes_watched")]
    with pytest.raises(BadAttendance, match="no rows"):
        parse_csv(b"email,registered_at,attended,minutes_watched\n")
    long = b"email,registered_at,attended,minutes_watched\n" + b"a@example.com,,no,\n" * (MAX_ATTENDEES + 1)
    with pytest.raises(BadAttendance, match="more than 1,000 rows"):
        parse_csv(long)
    with pytest.raises(BadAttendance, match="not UTF-8"):
        parse_csv(b"email,registered_at,attended,minutes_watched\n\xff\xfe,,no,\n")


def test_a_row_longer_than_the_header_is_named() -> None:
    with pytest.raises(BadAttendance) as bad:
        parse_csv(b"email,registered_at,attended,minutes_watched\nann@example.com,,yes,3,extra\n")
    assert [(w, f) for w, f, _ in bad.value.problems] == [("line 2", "row")]


# ---------------------------------------------------------------- the handler, over the in-memory store

def report(*people: AttendeeIn) -> list[tuple[str, AttendeeIn]]:
    return [(f"attendees.{i}", p) for i, p in enumerate(people)]


async def test_a_report_becomes_each_attendees_activities_once_however_often_it_comes() -> None:
    deps, leads = capture()
    people = report(attendee(name="Ann", company="Acme", country="US", registered_at=T0 - timedelta(days=2),
                             attended=True, minutes_watched=50),
                    attendee(email="bo@beta.io", name="Bo", company="Beta", country="GB",
                             registered_at=T0 - timedelta(days=1)))
    uow = FakeUnitOfWork()
    done = await handlers.record_attendance(deps, uow, "webinar-q2", people, "csv")
    assert (done.attendees, done.activities, done.already_recorded, done.leads_created) == (2, 3, 0, 2)
    engaged = [e for e in uow.events() if isinstance(e, LeadEngaged)]
    assert [(e.behaviour, e.campaign, e.detail.get("minutes_watched")) for e in engaged] == [
        (Behaviour.WEBINAR_REGISTERED, "webinar-q2", None), (Behaviour.WEBINAR_ATTENDED, "webinar-q2", "50"),
        (Behaviour.WEBINAR_REGISTERED, "webinar-q2", None)]
    again = FakeUnitOfWork()
    repeat = await handlers.record_attendance(deps, again, "webinar-q2", people, "webhook:zoom")
    assert (repeat.activities, repeat.already_recorded, repeat.leads_created) == (0, 3, 0)
    assert again.events() == [] and len(leads.leads) == 2


async def test_a_report_naming_an_unknown_campaign_or_an_unknown_person_without_details_is_refused() -> None:
    deps, _ = capture()
    with pytest.raises(handlers.UnknownCampaign):
        await handlers.record_attendance(deps, FakeUnitOfWork(), "no-such", report(attendee(attended=True)), "csv")
    with pytest.raises(BadAttendance) as bad:
        await handlers.record_attendance(deps, FakeUnitOfWork(), "webinar-q2", report(
            attendee(name="Ann", company="Acme", country="US", attended=True),
            attendee(email="x@y.io", company="Y", attended=True)), "csv")
    assert [(w, f) for w, f, _ in bad.value.problems] == [("attendees.1", "name"), ("attendees.1", "country")]
