"""Capture's handlers: accept a submission and an activity (commands from HTTP), and
keep the lead projection (timeline + current view) from every lead event. The rules
are in ``domain.leads``; each handler loads, asks the domain, saves and emits."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.capture.domain.leads import (
    ActivityPerson,
    AttachToLead,
    MissingDetails,
    adopt_capture,
    implicit_idempotency_key,
    lead_for_activity,
    merge_profile,
    new_lead_id,
    normalise_email,
    timeline_entry,
    view_changes,
)
from services.capture.repository import LeadStore
from shared import topics
from shared.events import (
    Behaviour,
    Event,
    FollowUpMissed,
    FollowUpRecorded,
    LeadAssigned,
    LeadCaptured,
    LeadEngaged,
    LeadProfile,
    LeadSource,
    NurtureMessageEngaged,
    utcnow,
)
from shared.handling import Registry, Subscription, UnitOfWork, bind


@dataclass(frozen=True)
class CaptureDeps:
    """What capture's handlers and routes share."""

    leads: LeadStore
    clock: Callable[[], datetime] = utcnow
    # A capture claiming to have happened further in the future than this is refused.
    max_clock_skew_s: float = 300.0


# Every lead event, whoever emits it, reads on the lead's timeline and view.
PROJECTED = (topics.LEAD_CAPTURED, topics.LEAD_ENGAGED, topics.LEAD_SCORED, topics.LEAD_ASSIGNED,
             topics.FOLLOW_UP_RECORDED, topics.FOLLOW_UP_MISSED)


def registry(deps: CaptureDeps) -> Registry:
    project = bind(on_lead_events, deps)
    return Registry(subscriptions=[
        *(Subscription(spec, batch_handler=project) for spec in PROJECTED),
        Subscription(topics.NURTURE_MESSAGE_ENGAGED, handler=bind(on_message_engaged, deps))])


class UnknownLead(LookupError):
    """No lead with this id."""


class MissingLeadDetails(ValueError):
    """An activity named an unknown email without what a new lead needs."""

    def __init__(self, fields: Sequence[str]) -> None:
        super().__init__(f"required when the email is not a known lead: {', '.join(fields)}")
        self.fields = tuple(fields)


@dataclass(frozen=True)
class Submission:
    profile: LeadProfile
    source: LeadSource
    campaign: str | None
    consent: bool
    occurred_at: datetime
    idempotency_key: str | None
    attributes: dict[str, str]
    occurred_at_given: bool


@dataclass(frozen=True)
class Accepted:
    lead_id: str
    capture_id: str
    duplicate: bool
    is_repeat: bool


async def capture_lead(deps: CaptureDeps, uow: UnitOfWork, sub: Submission) -> Accepted:
    """Accept a submission: the same person keeps one lead id; the same submission
    (idempotency key, or the same person/source/campaign/moment) is accepted once.
    Emits ``lead-captured`` for each accepted one."""
    repo = deps.leads
    email_norm = normalise_email(str(sub.profile.email))
    key = sub.idempotency_key or (implicit_idempotency_key(email_norm, sub.source, sub.campaign, sub.occurred_at)
                                  if sub.occurred_at_given else None)
    # Lock the person first: concurrent submissions for one person queue here, so the
    # idempotency check below sees whatever the first one committed.
    row = await repo.lock_by_email(uow.conn, email_norm)
    if row is None:
        lead_id = new_lead_id(email_norm)
        if not await repo.insert_lead(uow.conn, lead_id, email_norm, sub.profile, sub.consent, sub.source,
                                      sub.campaign, sub.occurred_at):
            row = await repo.lock_by_email(uow.conn, email_norm)
    if key is not None:
        earlier = await repo.capture_by_key(uow.conn, key)
        if earlier is not None:
            return Accepted(earlier["lead_id"], earlier["capture_id"], duplicate=True, is_repeat=True)
    is_repeat = row is not None
    profile = sub.profile
    if row is not None:
        lead_id = row["lead_id"]
        profile = merge_profile(LeadProfile.model_validate(row["profile"]), sub.profile)
        await repo.record_repeat(uow.conn, lead_id, profile, sub.consent, sub.source, sub.campaign, sub.occurred_at)
    capture_id = str(uuid.uuid4())
    await repo.insert_capture(uow.conn, capture_id, key, lead_id, sub.source, sub.campaign, sub.occurred_at)
    uow.emit(LeadCaptured(lead_id=lead_id, capture_id=capture_id, profile=profile, source=sub.source,
                          campaign=sub.campaign, consent=sub.consent, is_repeat=is_repeat,
                          attributes=sub.attributes, occurred_at=sub.occurred_at))
    return Accepted(lead_id, capture_id, duplicate=False, is_repeat=is_repeat)


@dataclass(frozen=True)
class Activity:
    behaviour: Behaviour
    campaign: str | None
    occurred_at: datetime
    idempotency_key: str | None
    detail: dict[str, str]


@dataclass(frozen=True)
class ActivityAccepted:
    lead_id: str
    activity_id: str
    duplicate: bool
    lead_created: bool = False


async def record_activity(deps: CaptureDeps, uow: UnitOfWork, lead_id: str, activity: Activity) -> ActivityAccepted:
    """Accept an activity of a known lead (once per idempotency key); emits
    ``lead-engaged``. Raises :class:`UnknownLead` if there is no such lead."""
    if not await deps.leads.exists(uow.conn, lead_id):
        raise UnknownLead(lead_id)
    return await _engage(deps, uow, lead_id, activity)


@dataclass(frozen=True)
class Newcomer:
    """Who an activity posted by email names, and how to capture them if they are not a lead yet."""

    person: ActivityPerson
    source: LeadSource
    consent: bool
    occurred_at_given: bool


async def record_activity_by_email(deps: CaptureDeps, uow: UnitOfWork, who: Newcomer,
                                   activity: Activity) -> ActivityAccepted:
    """Accept an activity for a person named by email: theirs if they are a lead, else
    they are captured first (``domain.leads.lead_for_activity`` decides). Raises
    :class:`MissingLeadDetails` when an unknown person cannot become a lead."""
    known = await deps.leads.find_by_email(uow.conn, normalise_email(who.person.email))
    decision = lead_for_activity(known["lead_id"] if known is not None else None, who.person,
                                 activity.idempotency_key)
    if isinstance(decision, MissingDetails):
        raise MissingLeadDetails(decision.fields)
    if isinstance(decision, AttachToLead):
        return await _engage(deps, uow, decision.lead_id, activity)
    captured = await capture_lead(deps, uow, Submission(
        profile=decision.profile, source=who.source, campaign=activity.campaign, consent=who.consent,
        occurred_at=activity.occurred_at, idempotency_key=decision.capture_key, attributes={},
        occurred_at_given=who.occurred_at_given))
    accepted = await _engage(deps, uow, captured.lead_id, activity)
    return ActivityAccepted(accepted.lead_id, accepted.activity_id, accepted.duplicate, lead_created=True)


async def _engage(deps: CaptureDeps, uow: UnitOfWork, lead_id: str, activity: Activity) -> ActivityAccepted:
    key = activity.idempotency_key
    if key is not None:
        earlier = await deps.leads.activity_by_key(uow.conn, key)
        if earlier is not None:
            return ActivityAccepted(earlier["lead_id"], earlier["activity_id"], duplicate=True)
    activity_id = str(uuid.uuid4())
    await deps.leads.insert_activity(uow.conn, activity_id, key, lead_id, activity.behaviour, activity.occurred_at)
    uow.emit(LeadEngaged(lead_id=lead_id, activity_id=activity_id, behaviour=activity.behaviour,
                         campaign=activity.campaign, detail=activity.detail, occurred_at=activity.occurred_at))
    return ActivityAccepted(lead_id, activity_id, duplicate=False)


async def on_message_engaged(deps: CaptureDeps, event: NurtureMessageEngaged, uow: UnitOfWork) -> None:
    """A lead opened a nurture email, or clicked a link in it (and so visited the page):
    the lead's activity, like any other, so that ``lead-engaged`` has one producer and
    scoring re-scores the lead. Once per event (its id is the idempotency key)."""
    behaviour = Behaviour.EMAIL_OPEN if event.behaviour == "email_open" else Behaviour.PAGE_VISIT
    detail = {"via": "nurture-email", "message_id": event.message_id, **({"url": event.url} if event.url else {})}
    if await deps.leads.exists(uow.conn, event.lead_id):
        await _engage(deps, uow, event.lead_id, Activity(behaviour, event.campaign, event.occurred_at,
                                                         f"nurture-engaged:{event.event_id}", detail))


async def on_lead_events(deps: CaptureDeps, events: Sequence[Event], uow: UnitOfWork) -> None:
    """Keep the projection: every lead event goes on its lead's timeline, and changes
    the lead's current view as ``domain.leads.view_changes`` says. A capture another
    producer sent straight to Kafka becomes capture's own lead (:func:`adopt`)."""
    repo = deps.leads
    await repo.add_timeline(uow.conn, [(e.event_id, e.lead_id, timeline_entry(e), e.occurred_at)  # type: ignore[attr-defined]
                                       for e in events])
    for event in events:
        changes = view_changes(event)
        lead_id: str = event.lead_id  # type: ignore[attr-defined]
        match event:
            case LeadAssigned():
                await repo.update_view(uow.conn, lead_id, changes, assigned_at=event.occurred_at)
            case FollowUpRecorded() | FollowUpMissed():
                await repo.update_view(uow.conn, lead_id, changes, assignment_id=event.assignment_id)
            case LeadCaptured():
                await adopt(deps, uow, event)
            case LeadEngaged():
                pass  # an activity shows on the timeline only
            case _:
                await repo.update_view(uow.conn, lead_id, changes)


async def adopt(deps: CaptureDeps, uow: UnitOfWork, event: LeadCaptured) -> None:
    """Record a capture another producer sent straight to Kafka as capture's own
    (``domain.leads.adopt_capture`` decides how). One accepted over HTTP is recorded
    already, and so is one adopted before. Raises ``LeadConflict`` for a known person
    under another lead id (the record is dead-lettered with that reason)."""
    repo = deps.leads
    if await repo.capture_exists(uow.conn, event.capture_id):
        return
    email_norm = normalise_email(event.profile.email)
    row = await repo.lock_by_email(uow.conn, email_norm)
    if row is None:
        plan = adopt_capture(None, None, event)
        if not await repo.insert_lead(uow.conn, plan.lead_id, email_norm, plan.profile, event.consent, event.source,
                                      event.campaign, event.occurred_at):
            row = await repo.lock_by_email(uow.conn, email_norm)  # captured over HTTP meanwhile
    if row is not None:
        plan = adopt_capture(row["lead_id"], LeadProfile.model_validate(row["profile"]), event)
        await repo.record_repeat(uow.conn, plan.lead_id, plan.profile, event.consent, event.source, event.campaign,
                                 event.occurred_at)
    await repo.insert_capture(uow.conn, event.capture_id, None, plan.lead_id, event.source, event.campaign,
                              event.occurred_at)
