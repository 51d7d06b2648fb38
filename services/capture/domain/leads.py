"""Capture's pure rules: who a submission is, what a repeat changes, and how each
lead event reads on the lead's timeline and current view."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from shared.events import (
    Event,
    FollowUpMissed,
    FollowUpRecorded,
    LeadAssigned,
    LeadCaptured,
    LeadEngaged,
    LeadProfile,
    LeadScored,
    lead_id_for_email,
)
from shared.events import normalise_email as normalise_email  # one rule for every producer (shared.events)


def new_lead_id(email_norm: str) -> str:
    """A person new to capture gets the lead id every producer would compute for them
    (:func:`shared.events.lead_id_for_email`): a scanner that sent the same person
    straight to Kafka, before or after, names the same lead."""
    return lead_id_for_email(email_norm)


class InTheFuture(ValueError):
    """A submission said it happened later than the clock skew allows."""


def when_it_happened(stated: datetime | None, now: datetime, max_skew_s: float) -> datetime:
    """What a submission's moment is: now if it states none; what it states, in UTC,
    unless that is further ahead of our clock than ``max_skew_s`` (a device with a wrong
    clock must not date a lead ahead of everything that really happened): then
    :class:`InTheFuture`."""
    if stated is None:
        return now
    if stated - now > timedelta(seconds=max_skew_s):
        raise InTheFuture(f"{stated.isoformat()} is more than {max_skew_s:g} s ahead of {now.isoformat()}")
    return stated.astimezone(UTC)


def implicit_idempotency_key(email_norm: str, source: str, campaign: str | None, occurred_at: datetime) -> str:
    """Scanners and forms often send the same capture twice without a key. The same
    person, source, campaign and moment is the same capture."""
    raw = f"{email_norm}|{source}|{campaign or ''}|{occurred_at.isoformat()}"
    return "implicit:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def merge_profile(known: LeadProfile | None, submitted: LeadProfile) -> LeadProfile:
    """A later capture fills gaps and updates what it states; it never blanks out
    what an earlier source told us (a badge scan has no company size, the web form had)."""
    if known is None:
        return submitted
    merged: dict[str, Any] = known.model_dump()
    for key, value in submitted.model_dump().items():
        if value not in (None, ""):
            merged[key] = value
    return LeadProfile.model_validate(merged)


class LeadConflict(ValueError):
    """A capture names a known person under another lead id."""


@dataclass(frozen=True)
class Adoption:
    """What capture records for a capture it did not accept itself: a ``new`` lead
    under the event's lead id, or a ``repeat`` of a known lead, with its profile."""

    kind: Literal["new", "repeat"]
    lead_id: str
    profile: LeadProfile


def adopt_capture(known_lead_id: str | None, known_profile: LeadProfile | None, event: LeadCaptured) -> Adoption:
    """Capture owns every lead however it arrived: a capture produced straight to Kafka
    (a scanner, an import job) becomes capture's own. A person capture does not know
    becomes a lead under the event's lead id; a known person keeps their lead and the
    capture counts as a repeat, merged as an HTTP repeat is. A known person named by
    another lead id is refused (:class:`LeadConflict`, so the record is dead-lettered
    with that reason): one person must not hold two leads."""
    if known_lead_id is None:
        return Adoption("new", event.lead_id, event.profile)
    if known_lead_id != event.lead_id:
        raise LeadConflict(f"lead_id {event.lead_id!r} names a person capture knows as lead {known_lead_id!r}; "
                           "send the person's lead id (shared.events.lead_id_for_email) or none")
    return Adoption("repeat", known_lead_id, merge_profile(known_profile, event.profile))


@dataclass(frozen=True)
class TimelineEntry:
    type: str
    summary: dict[str, Any]


def timeline_entry(event: Event) -> TimelineEntry:
    """How an event reads on the lead's timeline (a rep reads this on a phone)."""
    match event:
        case LeadCaptured():
            return TimelineEntry("captured" if not event.is_repeat else "captured-again",
                                 {"source": event.source, "campaign": event.campaign})
        case LeadEngaged():
            return TimelineEntry("engaged", {"behaviour": event.behaviour, "campaign": event.campaign})
        case LeadScored():
            return TimelineEntry("scored", {"score": round(event.score, 1), "grade": event.grade,
                                            "previous_grade": event.previous_grade, "segment": event.segment,
                                            "rubric_version": event.rubric_version, "hot": event.hot})
        case LeadAssigned():
            return TimelineEntry("assigned", {"owner_kind": event.owner_kind, "rep_id": event.rep_id,
                                              "team": event.team, "due_at": _iso(event.due_at),
                                              "rule": event.rule, "reason": event.reason,
                                              "nurture_reason": event.nurture_reason, "attempt": event.attempt})
        case FollowUpRecorded():
            return TimelineEntry("followed-up", {"rep_id": event.rep_id, "outcome": event.outcome,
                                                 "on_time": event.on_time})
        case FollowUpMissed():
            return TimelineEntry("follow-up-missed", {"rep_id": event.rep_id, "due_at": _iso(event.due_at),
                                                      "escalation": event.escalation,
                                                      "next_action": event.next_action})
    return TimelineEntry(type(event).__name__, {})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


STATUS_BY_OWNER = {"rep": "assigned", "queue": "queued", "nurture": "nurturing"}


def view_changes(event: Event) -> dict[str, Any]:
    """The columns of the lead's current view that an event changes."""
    match event:
        case LeadScored():
            return {"score": event.score, "grade": event.grade, "segment": event.segment,
                    "rubric_version": event.rubric_version,
                    "top_reasons": [r.model_dump() for r in
                                    sorted(event.reasons, key=lambda r: -abs(r.points))[:3]]}
        case LeadAssigned():
            return {"owner_kind": event.owner_kind, "rep_id": event.rep_id, "team": event.team,
                    "assignment_id": event.assignment_id, "due_at": event.due_at,
                    "status": STATUS_BY_OWNER[event.owner_kind]}
        case FollowUpRecorded():
            return {"status": "followed-up", "due_at": None}
        case FollowUpMissed():
            return {"status": "follow-up-missed"}
    return {}


@dataclass(frozen=True)
class ActivityPerson:
    """Who an activity posted by email names, and what the poster knows of them."""

    email: str
    name: str | None = None
    company: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class AttachToLead:
    """The person is a lead: the activity is theirs."""

    lead_id: str


@dataclass(frozen=True)
class CreateLead:
    """The person is no lead yet: capture one first (keyed, when the activity is, so
    that a retried activity creates it once), then the activity is theirs."""

    profile: LeadProfile
    capture_key: str | None


@dataclass(frozen=True)
class MissingDetails:
    """The person is no lead yet and too little is known to make one."""

    fields: tuple[str, ...]


NEW_LEAD_NEEDS = ("name", "company", "country")


def lead_for_activity(known_lead_id: str | None, person: ActivityPerson,
                      activity_key: str | None) -> AttachToLead | CreateLead | MissingDetails:
    """Whose an activity posted by email is. A webinar platform or an intent feed names
    people, not leads: a known email gets the activity; an unknown one becomes a lead
    when its name, company and country are given (an attendee nobody captured is still
    a lead), and is refused, naming what is missing, when they are not."""
    if known_lead_id is not None:
        return AttachToLead(known_lead_id)
    missing = tuple(f for f in NEW_LEAD_NEEDS if getattr(person, f) is None)
    if missing:
        return MissingDetails(missing)
    return CreateLead(LeadProfile(email=person.email, name=person.name or "", company=person.company or "",
                                  country=(person.country or "").upper()),
                      f"{activity_key}:capture" if activity_key else None)
