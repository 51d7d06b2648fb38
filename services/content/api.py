"""Content's HTTP edge: marketing adds collateral; reps find what suits a lead.
(The review → publish → retire lifecycle is its own issue; items start as drafts.)"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from services.content import handlers
from services.content.domain.collateral import Kind, Stage, Status
from services.content.handlers import ContentDeps
from services.content.repository import Row
from shared.responses import link, responses
from shared.service import RuntimeDep, get_deps
from shared.validation import LongText, Text

router = APIRouter(prefix="/v1", tags=["collateral"])

DepsDep = Annotated[ContentDeps, Depends(get_deps)]


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Text = Field(min_length=1)
    kind: Kind
    url: HttpUrl
    summary: LongText = ""
    segments: list[Text] = Field(default_factory=list, max_length=50)
    stages: list[Stage] = Field(default_factory=list)
    owner: Text = Field(min_length=1, description="the marketer responsible")


def _out(row: Row) -> dict[str, Any]:
    return {"item_id": row["item_id"], "title": row["title"], "kind": row["kind"], "url": row["url"],
            "summary": row["summary"], "segments": row["segments"], "stages": row["stages"],
            "status": row["status"], "owner": row["owner"], "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat()}


def _known_stage(stage: str | None) -> None:
    if stage is not None and stage not in get_args(Stage):
        raise HTTPException(422, detail={"field": "stage", "reason": f"one of {list(get_args(Stage))}"})


@router.post("/collateral", status_code=201, responses=responses(links={201: {
    "GetItem": link("GET", "/v1/collateral/{item_id}", "the item created", item_id="$response.body#/item_id")}}))
async def create_item(item: ItemIn, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    new = handlers.NewItem(title=item.title, kind=item.kind, url=str(item.url), summary=item.summary,
                           segments=item.segments, stages=list(item.stages), owner=item.owner)
    async with runtime.unit_of_work() as uow:
        row = await handlers.add_item(deps, uow, new)
    return _out(row)


@router.get("/collateral")
async def list_items(runtime: RuntimeDep, deps: DepsDep, status: Annotated[Text | None, Query()] = None,
                     segment: Annotated[Text | None, Query()] = None,
                     stage: Annotated[Text | None, Query()] = None) -> dict[str, Any]:
    if status is not None and status not in get_args(Status):
        raise HTTPException(422, detail={"field": "status", "reason": f"one of {list(get_args(Status))}"})
    _known_stage(stage)
    async with runtime.pool.acquire() as conn:
        rows = await deps.collateral.list_items(conn, status, segment, stage)
    return {"items": [_out(r) for r in rows]}


@router.get("/collateral/{item_id}", responses=responses(404))
async def get_item(item_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await deps.collateral.get(conn, item_id)
    if row is None:
        raise HTTPException(404, detail={"field": "item_id", "reason": f"no collateral {item_id}"})
    return _out(row)


@router.get("/leads/{lead_id}/collateral", responses=responses(404))
async def for_lead(lead_id: str, runtime: RuntimeDep, deps: DepsDep,
                   stage: Annotated[Text | None, Query()] = None) -> dict[str, Any]:
    """Published, current collateral for the lead's segment: what a rep opens on a phone."""
    _known_stage(stage)
    async with runtime.unit_of_work() as uow:
        found = await handlers.collateral_for(deps, uow, lead_id, stage)
    if found is None:
        raise HTTPException(404, detail={"field": "lead_id", "reason": "no graded lead with this id yet"})
    return {"lead_id": found.lead_id, "segment": found.segment, "items": [_out(r) for r in found.items]}
