"""Nurture's handlers: take in what sales is not working, follow its grade, and
let it go back to sales when it heats up."""

from __future__ import annotations

from services.nurture.domain.tracks import is_ready_for_sales, track_for
from services.nurture.repository import PoolRepository
from shared.events import FollowUpMissed, LeadAssigned, LeadScored
from shared.handling import Handler, UnitOfWork


def handlers_for(schema: str) -> tuple[Handler[LeadAssigned], Handler[FollowUpMissed], Handler[LeadScored]]:
    async def on_assigned(event: LeadAssigned, uow: UnitOfWork) -> None:
        repo = PoolRepository(uow.conn, schema)
        if event.owner_kind == "nurture":
            reason = "missed-follow-up" if event.attempt > 0 else (
                "disqualified" if "disqualif" in event.reason.lower() else "low-grade")
            track = track_for(reason, event.grade)  # type: ignore[arg-type]
            await repo.enter(event.lead_id, track.name, reason, event.grade, event.segment, event.campaign,
                             event.occurred_at, None)
        else:
            # Sales has it again (re-graded up, or qualified): marketing lets go.
            await repo.set_status(event.lead_id, "returned-to-sales", event.occurred_at,
                                  last_rep_id=event.rep_id)

    async def on_missed(event: FollowUpMissed, uow: UnitOfWork) -> None:
        if event.next_action != "nurture":
            return  # routing reassigns to the next rep; nurture waits for the last miss
        track = track_for("missed-follow-up", event.grade)
        await PoolRepository(uow.conn, schema).enter(event.lead_id, track.name, "missed-follow-up", event.grade,
                                                     event.segment, event.campaign, event.occurred_at,
                                                     event.rep_id)

    async def on_scored(event: LeadScored, uow: UnitOfWork) -> None:
        repo = PoolRepository(uow.conn, schema)
        row = await repo.get(event.lead_id)
        if row is None:
            return
        await repo.update_grade(event.lead_id, event.grade, event.score, event.segment)
        if row["status"] == "nurturing" and is_ready_for_sales(event.grade):
            await repo.set_status(event.lead_id, "ready-for-sales", event.occurred_at, grade=event.grade)

    return on_assigned, on_missed, on_scored
