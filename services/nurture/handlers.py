"""Nurture's handlers: take in what sales is not working, follow its grade, and let
it go back to sales when it heats up. The rules are in ``domain.tracks``; each handler
loads, asks the domain, and saves."""

from __future__ import annotations

from dataclasses import dataclass

from services.nurture.domain.tracks import status_after_scored, track_for
from services.nurture.repository import PoolStore
from shared import topics
from shared.events import FollowUpMissed, LeadAssigned, LeadScored, NurtureReason
from shared.handling import Registry, Subscription, UnitOfWork, bind


@dataclass(frozen=True)
class NurtureDeps:
    """What nurture's handlers and routes share."""

    pool: PoolStore


def registry(deps: NurtureDeps) -> Registry:
    return Registry(subscriptions=[
        Subscription(topics.LEAD_ASSIGNED, handler=bind(on_lead_assigned, deps)),
        Subscription(topics.FOLLOW_UP_MISSED, handler=bind(on_follow_up_missed, deps)),
        Subscription(topics.LEAD_SCORED, handler=bind(on_lead_scored, deps)),
    ])


async def on_lead_assigned(deps: NurtureDeps, event: LeadAssigned, uow: UnitOfWork) -> None:
    """A lead handed to nurture joins the track its reason (routing's ``nurture_reason``,
    set exactly when the owner is nurture) and grade call for; a lead that sales owns
    again (re-graded up, or qualified) is let go."""
    if event.nurture_reason is not None:
        track = track_for(event.nurture_reason, event.grade)
        await deps.pool.enter(uow.conn, event.lead_id, track.name, event.nurture_reason, event.grade,
                              event.segment, event.campaign, event.occurred_at, None)
    else:
        await deps.pool.set_status(uow.conn, event.lead_id, "returned-to-sales", event.occurred_at,
                                   last_rep_id=event.rep_id)


async def on_follow_up_missed(deps: NurtureDeps, event: FollowUpMissed, uow: UnitOfWork) -> None:
    """The last missed follow-up (routing hands the lead to nurture) re-engages it;
    earlier misses are routing's to reassign."""
    if event.next_action != "nurture":
        return
    reason = NurtureReason.MISSED_FOLLOW_UP
    await deps.pool.enter(uow.conn, event.lead_id, track_for(reason, event.grade).name, reason, event.grade,
                          event.segment, event.campaign, event.occurred_at, event.rep_id)


async def on_lead_scored(deps: NurtureDeps, event: LeadScored, uow: UnitOfWork) -> None:
    """A pooled lead's grading is kept; one that now grades for sales is marked ready."""
    entry = await deps.pool.get(uow.conn, event.lead_id)
    if entry is None:
        return
    await deps.pool.update_grade(uow.conn, event.lead_id, event.grade, event.score, event.segment)
    status = status_after_scored(entry["status"], event.grade)
    if status is not None:
        await deps.pool.set_status(uow.conn, event.lead_id, status, event.occurred_at, grade=event.grade)
