"""Nurture's HTTP edge: marketing sees its pool, by status and track."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, HTTPException, Query

from services.nurture.domain.tracks import TRACKS, PoolStatus
from services.nurture.handlers import NurtureDeps
from services.nurture.repository import Row
from shared.service import RuntimeDep, get_deps

router = APIRouter(prefix="/v1/nurture", tags=["nurture"])

DepsDep = Annotated[NurtureDeps, Depends(get_deps)]


def _row(r: Row) -> dict[str, Any]:
    return {"lead_id": r["lead_id"], "status": r["status"], "track": r["track"], "reason": r["reason"],
            "grade": r["grade"], "score": r["score"], "segment": r["segment"], "campaign": r["campaign"],
            "entered_at": r["entered_at"].isoformat(), "updated_at": r["updated_at"].isoformat(),
            "times_entered": r["times_entered"], "last_rep_id": r["last_rep_id"], "history": r["history"]}


@router.get("/leads")
async def list_pool(runtime: RuntimeDep, deps: DepsDep, status: str | None = None, track: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    if status is not None and status not in get_args(PoolStatus):
        raise HTTPException(422, detail={"field": "status", "reason": f"one of {list(get_args(PoolStatus))}"})
    if track is not None and track not in TRACKS:
        raise HTTPException(422, detail={"field": "track", "reason": f"unknown track; one of {sorted(TRACKS)}"})
    async with runtime.pool.acquire() as conn:
        rows = await deps.pool.list_pool(conn, status, track, limit, offset)
        counts = await deps.pool.counts(conn)
    return {"leads": [_row(r) for r in rows],
            "counts": [{"status": c["status"], "track": c["track"], "leads": c["leads"]} for c in counts]}


@router.get("/leads/{lead_id}")
async def get_pooled(lead_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await deps.pool.get(conn, lead_id)
    if row is None:
        raise HTTPException(404, detail={"field": "lead_id", "reason": f"lead {lead_id} was never in nurture"})
    return _row(row)


@router.get("/tracks")
async def tracks() -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "cadence_days": t.cadence_days}
            for t in TRACKS.values()]
