"""Capture's handlers: accept a submission (a command from HTTP), accept an
activity, and keep the lead projection from every lead event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.capture.domain.leads import (
    implicit_idempotency_key,
    merge_profile,
    normalise_email,
    timeline_entry,
    view_changes,
)
from services.capture.repository import LeadRepository
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
)
from shared.handling import BatchHandler, UnitOfWork


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


async def capture_lead(uow: UnitOfWork, sub: Submission, schema: str = "capture") -> Accepted:
    """Accept a submission: the same person keeps one lead id; the same submission
    (idempotency key, or the same person/source/campaign/moment) is accepted once."""
    repo = LeadRepository(uow.conn, schema)
    email_norm = normalise_email(str(sub.profile.email))
    key = sub.idempotency_key or (implicit_idempotency_key(email_norm, sub.source, sub.campaign, sub.occurred_at)
                                  if sub.occurred_at_given else None)
    # Lock the person first: concurrent submissions for one person queue here, so the
    # idempotency check below sees whatever the first one committed.
    row = await repo.lock_by_email(email_norm)
    if row is None:
        lead_id = str(uuid.uuid4())
        if not await repo.insert_lead(lead_id, email_norm, sub.profile, sub.consent, sub.source, sub.campaign,
                                      sub.occurred_at):
            row = await repo.lock_by_email(email_norm)
    if key is not None:
        earlier = await repo.capture_by_key(key)
        if earlier is not None:
            return Accepted(earlier["lead_id"], earlier["capture_id"], duplicate=True, is_repeat=True)
    is_repeat = row is not None
    profile = sub.profile
    if row is not None:
        lead_id = row["lead_id"]
        profile = merge_profile(LeadProfile.model_validate(row["profile"]), sub.profile)
        await repo.record_repeat(lead_id, profile, sub.consent, sub.source, sub.campaign, sub.occurred_at)
    capture_id = str(uuid.uuid4())
    await repo.insert_capture(capture_id, key, lead_id, sub.source, sub.campaign, sub.occurred_at)
    uow.emit(LeadCaptured(lead_id=lead_id, capture_id=capture_id, profile=profile, source=sub.source,
                          campaign=sub.campaign, consent=sub.consent, is_repeat=is_repeat,
                          attributes=sub.attributes, occurred_at=sub.occurred_at))
    return Accepted(lead_id, capture_id, duplicate=False, is_repeat=is_repeat)


@dataclass(frozen=True)
class ActivityAccepted:
    lead_id: str
    activity_id: str
    duplicate: bool


async def record_activity(uow: UnitOfWork, lead_id: str, behaviour: Behaviour, campaign: str | None,
                          occurred_at: datetime, idempotency_key: str | None, detail: dict[str, str],
                          schema: str = "capture") -> ActivityAccepted:
    repo = LeadRepository(uow.conn, schema)
    if idempotency_key is not None:
        earlier = await repo.activity_by_key(idempotency_key)
        if earlier is not None:
            return ActivityAccepted(earlier["lead_id"], earlier["activity_id"], duplicate=True)
    activity_id = str(uuid.uuid4())
    await repo.insert_activity(activity_id, idempotency_key, lead_id, behaviour, occurred_at)
    uow.emit(LeadEngaged(lead_id=lead_id, activity_id=activity_id, behaviour=behaviour, campaign=campaign,
                         detail=detail, occurred_at=occurred_at))
    return ActivityAccepted(lead_id, activity_id, duplicate=False)


def project_into(schema: str) -> BatchHandler[Event]:
    """The batch handler that keeps capture's projection (timeline + current view)."""

    async def project(events: Sequence[Event], uow: UnitOfWork) -> None:
        repo = LeadRepository(uow.conn, schema)
        await repo.add_timeline([(e.event_id, e.lead_id, timeline_entry(e), e.occurred_at)  # type: ignore[attr-defined]
                                 for e in events])
        for event in events:
            changes = view_changes(event)
            lead_id: str = event.lead_id  # type: ignore[attr-defined]
            match event:
                case LeadAssigned():
                    await repo.update_view(lead_id, changes, assigned_at=event.occurred_at)
                case FollowUpRecorded() | FollowUpMissed():
                    await repo.update_view(lead_id, changes, assignment_id=event.assignment_id)
                case LeadCaptured() | LeadEngaged():
                    pass  # the row was written when the submission was accepted
                case _:
                    await repo.update_view(lead_id, changes)

    return project
