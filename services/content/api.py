"""Content's HTTP edge: marketing adds collateral; reps find what suits a lead.
(The review → publish → retire lifecycle is its own issue; items start as drafts.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, get_args

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from services.content.domain.collateral import Kind, Stage, Status, suits
from services.content.repository import ContentRepository, to_item
from shared.service import RuntimeDep

router = APIRouter(prefix="/v1", tags=["collateral"])


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=300)
    kind: Kind
    url: HttpUrl
    summary: str = Field(default="", max_length=2000)
    segments: list[str] = Field(default_factory=list, max_length=50)
    stages: list[Stage] = Field(default_factory=list)
    owner: str = Field(min_length=1, max_length=200, description="the marketer responsible")


def _out(row: Any) -> dict[str, Any]:
    return {"item_id": row["item_id"], "title": row["title"], "kind": row["kind"], "url": row["url"],
            "summary": row["summary"], "segments": row["segments"], "stages": row["stages"],
            "status": row["status"], "owner": row["owner"], "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat()}


@router.post("/collateral", status_code=201)
async def create_item(item: ItemIn, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        row = await ContentRepository(uow.conn, runtime.schema).create(
            str(uuid.uuid4()), item.title, item.kind, str(item.url), item.summary, item.segments,
            list(item.stages), item.owner)
    return _out(row)


@router.get("/collateral")
async def list_items(runtime: RuntimeDep, status: str | None = None, segment: str | None = None,
                     stage: str | None = None) -> dict[str, Any]:
    if status is not None and status not in get_args(Status):
        raise HTTPException(422, detail={"field": "status", "reason": f"one of {list(get_args(Status))}"})
    async with runtime.pool.acquire() as conn:
        rows = await ContentRepository(conn, runtime.schema).list_items(status, segment, stage)
    return {"items": [_out(r) for r in rows]}


@router.get("/collateral/{item_id}")
async def get_item(item_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await ContentRepository(conn, runtime.schema).get(item_id)
    if row is None:
        raise HTTPException(404, detail={"field": "item_id", "reason": f"no collateral {item_id}"})
    return _out(row)


@router.get("/leads/{lead_id}/collateral")
async def for_lead(lead_id: str, runtime: RuntimeDep, stage: str | None = None) -> dict[str, Any]:
    """Published, current collateral for the lead's segment: what a rep opens on a phone."""
    async with runtime.pool.acquire() as conn:
        repo = ContentRepository(conn, runtime.schema)
        segment = await repo.segment_of(lead_id)
        if segment is None:
            raise HTTPException(404, detail={"field": "lead_id", "reason": "no graded lead with this id yet"})
        rows = await repo.list_items("published", segment, stage)
    now = datetime.now(UTC)
    return {"lead_id": lead_id, "segment": segment,
            "items": [_out(r) for r in rows if suits(to_item(r), segment, stage, now)]}
