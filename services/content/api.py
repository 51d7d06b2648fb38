"""Content's HTTP edge: marketing drafts collateral and uploads its versions, sales
reviews it, marketing publishes it; reps find what suits a lead and share it; the
prospect opens the link.

Sign-in and roles do not exist yet (another issue adds them): every command takes the
actor as a field of the request, ``actor: {"id": ..., "role": ...}`` (for uploads, the
form fields ``actor_id`` and ``actor_role``), and the lifecycle checks that role.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any, Literal, get_args

import orjson
from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from services.content import handlers
from services.content.domain import files
from services.content.domain.collateral import Kind, Stage
from services.content.domain.lifecycle import STATUSES, Actor, Refused, Reviewer, Role
from services.content.handlers import ContentDeps
from services.content.repository import Row
from shared.auth import PEOPLE, Principal, acting_rep, allow, allow_lead, forbidden_field, public
from shared.auth import Role as UserRole  # the signed-in person's (lifecycle's Role is the actor's)
from shared.responses import error_body, link, responses
from shared.service import RuntimeDep, get_deps
from shared.validation import LongText, Text

router = APIRouter(prefix="/v1", tags=["collateral"])

DepsDep = Annotated[ContentDeps, Depends(get_deps)]
MARKETING = allow(UserRole.marketing)  # marketing's own commands on the library
Marketer = Annotated[Principal, MARKETING]  # the same, naming the caller (the audit trail's who)
# Reads behind the manager's, marketing's and the operator's boards (no personal data of a lead)
BOARDS = allow(UserRole.marketing, UserRole.manager, UserRole.sales_approver, UserRole.operator)

# A file answer is the file as uploaded, in its own content type.
FILE: dict[int | str, dict[str, Any]] = {200: {"description": "the file, byte for byte as uploaded",
              "content": {content_type: {"schema": {"type": "string", "format": "binary"}}
                          for content_type in files.ACCEPTED}}}
Tag = Annotated[Text, Field(min_length=1)]


class ActorIn(BaseModel):
    """Who acts, as the content lifecycle names them (a review's must be the caller)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Text = Field(min_length=1)
    role: Role

    def actor(self) -> Actor:
        return Actor(self.id, self.role)


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Text = Field(min_length=1)
    kind: Kind
    url: HttpUrl | None = Field(default=None, description="an outside asset (a video, say) besides the versions")
    summary: LongText = ""
    segments: list[Tag] = Field(default_factory=list, max_length=50)
    stages: list[Stage] = Field(default_factory=list)
    products: list[Tag] = Field(default_factory=list, max_length=50)
    personas: list[Tag] = Field(default_factory=list, max_length=50)
    owner: Text = Field(min_length=1, description="the marketer responsible (warned before retirement)")
    replaces: Text | None = Field(default=None, description="the item this new edition replaces: once this one is "
                                                            "published, the old one's links point here")
    actor: ActorIn


class ReviewerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: Text = Field(min_length=1)
    role: Role


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: ActorIn
    reviewers: list[ReviewerIn] = Field(min_length=1, max_length=50)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: ActorIn
    decision: Literal["approve", "request_changes"]
    comment: LongText = ""


class ActIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: ActorIn
    comment: LongText = ""


class RetireIn(ActIn):
    successor_id: Text | None = None


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    lead_id: Text = Field(min_length=1)
    rep_id: Text = Field(min_length=1)
    rep_name: Text | None = Field(default=None, description="the {{ rep }} merge field (default rep_id)")


class ShareOut(BaseModel):
    share_id: str
    item_id: str
    version: int
    lead_id: str
    rep_id: str
    personalised: bool
    link: str = Field(description="the lead's own link: GET it to open the item (a view, counted as engagement)")


class ClockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advance_s: float = Field(gt=0)


def _out(row: Row) -> dict[str, Any]:
    def at(name: str) -> str | None:
        value = row.get(name)
        return value.isoformat() if value is not None else None

    return {"item_id": row["item_id"], "title": row["title"], "kind": row["kind"], "url": row["url"],
            "summary": row["summary"], "segments": row["segments"], "stages": row["stages"],
            "products": row["products"], "personas": row["personas"], "status": row["status"], "owner": row["owner"],
            "current_version": row["current_version"], "published_version": row["published_version"],
            "reviewers": row["reviewers"], "published_at": at("published_at"), "retire_at": at("retire_at"),
            "replaces": row["replaces"], "successor_id": row["successor_id"], "effectiveness": row["effectiveness"],
            "created_at": at("created_at"), "updated_at": at("updated_at")}


def _version_out(v: Row) -> dict[str, Any]:
    return {"version": v["version"], "filename": v["filename"], "content_type": v["content_type"],
            "size_bytes": v["size_bytes"], "sha256": v["sha256"], "text_chars": v["text_chars"],
            "created_by": v["created_by"], "created_at": v["created_at"].isoformat(),
            "file": f"/v1/collateral/{v['item_id']}/versions/{v['version']}/file"}


def _known(field: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise HTTPException(422, detail={"field": field, "reason": f"one of {list(allowed)}"})


@contextmanager
def _answers() -> Iterator[None]:
    """The handlers' refusals as 4xx answers naming the field and the reason."""
    try:
        yield
    except Refused as exc:
        status = 409 if exc.conflict else 403 if exc.forbidden else 422
        # each approval still missing is named as a field of its own ("approvals.sales_manager")
        fields = [{"field": exc.field, "reason": exc.reason}] + [
            {"field": f"approvals.{m.split(':')[0]}", "reason": m.split(": ", 1)[1]} for m in exc.missing]
        raise HTTPException(status, detail={"fields": fields}) from None
    except handlers.Invalid as exc:
        raise HTTPException(exc.status, detail={"field": exc.field, "reason": exc.reason}) from None
    except handlers.NotFound as exc:
        raise HTTPException(404, detail={"field": exc.field, "reason": exc.reason}) from None


@router.post("/collateral",
             status_code=201, responses=responses(403, links={201: {
    "GetItem": link("GET", "/v1/collateral/{item_id}", "the item created", item_id="$response.body#/item_id")}}))
async def create_item(item: ItemIn, runtime: RuntimeDep, deps: DepsDep, who: Marketer) -> dict[str, Any]:
    new = handlers.NewItem(title=item.title, kind=item.kind, url=str(item.url) if item.url else None,
                           summary=item.summary, segments=item.segments, stages=list(item.stages),
                           products=item.products, personas=item.personas, owner=item.owner,
                           replaces=item.replaces)
    with _answers():
        async with runtime.unit_of_work() as uow:
            row = await handlers.add_item(deps, uow, new, item.actor.actor(), who=who)
    return _out(row)


@router.get("/collateral", dependencies=[allow(*PEOPLE)])
async def list_items(runtime: RuntimeDep, deps: DepsDep, status: Annotated[Text | None, Query()] = None,
                     segment: Annotated[Text | None, Query()] = None, stage: Annotated[Text | None, Query()] = None,
                     q: Annotated[Text | None, Query()] = None, kind: Annotated[Text | None, Query()] = None,
                     product: Annotated[Text | None, Query()] = None,
                     persona: Annotated[Text | None, Query()] = None) -> dict[str, Any]:
    """The library, filtered by status and tags; ``q`` searches title, summary and file text."""
    _known("status", status, STATUSES)
    _known("stage", stage, get_args(Stage))
    _known("kind", kind, get_args(Kind))
    if q is not None and not q.strip():
        raise HTTPException(422, detail={"field": "q", "reason": "empty search"})
    async with runtime.pool.acquire() as conn:
        rows = await deps.collateral.list_items(conn, status, segment, stage, q, kind, product, persona)
    return {"items": [_out(r) for r in rows]}


@router.get("/collateral/{item_id}", dependencies=[allow(*PEOPLE)], responses=responses(404))
async def get_item(item_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """An item with its versions (every one kept, for audit), its reviews and its usage counts."""
    async with runtime.pool.acquire() as conn:
        row = await deps.collateral.get(conn, item_id)
        if row is None:
            raise HTTPException(404, detail={"field": "item_id", "reason": f"no collateral {item_id}"})
        versions = await deps.collateral.versions(conn, item_id)
        reviews = await deps.collateral.reviews(conn, item_id)
        usage = await deps.collateral.usage_counts(conn, item_id)
    return {**_out(row), "versions": [_version_out(v) for v in versions],
            "reviews": [{"reviewer": r["reviewer"], "role": r["role"], "version": r["version"],
                         "decision": r["decision"], "comment": r["comment"], "at": r["at"].isoformat()}
                        for r in reviews],
            "usage": usage}


@router.get("/collateral/{item_id}/history", dependencies=[BOARDS], responses=responses(404))
async def item_history(item_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """Every transition: what, from which status to which, on which version, who and when."""
    async with runtime.pool.acquire() as conn:
        if await deps.collateral.get(conn, item_id) is None:
            raise HTTPException(404, detail={"field": "item_id", "reason": f"no collateral {item_id}"})
        rows = await deps.collateral.history(conn, item_id)
    return {"item_id": item_id, "history": [{**dict(r), "at": r["at"].isoformat()} for r in rows]}


@router.post("/collateral/{item_id}/versions",
             status_code=201, responses=responses(403, 404, 409, 413, 415))
async def upload_version(item_id: str, runtime: RuntimeDep, deps: DepsDep, who: Marketer,
                         file: Annotated[UploadFile, File(description="PDF, PPTX, DOCX, PNG/JPEG/GIF/WebP, or a "
                                                                      "text/HTML template")],
                         actor_id: Annotated[Text, Form(min_length=1)],
                         actor_role: Annotated[Role, Form()]) -> dict[str, Any]:
    """A new version of the item (multipart: ``file``, ``actor_id``, ``actor_role``)."""
    data = await file.read(deps.max_upload_bytes + 1)
    upload = handlers.Upload(file.filename or "", file.content_type or "", data)
    with _answers():
        async with runtime.unit_of_work() as uow:
            record = await handlers.add_version(deps, uow, item_id, Actor(actor_id, actor_role), upload, who=who)
    return _version_out(record)


def _file_response(f: handlers.File) -> Response:
    return Response(f.data, media_type=f.content_type,
                    headers={"Content-Disposition": f'inline; filename="{f.filename}"', "ETag": f'"{f.sha256}"',
                             "Cache-Control": "private, no-store"})


@router.get("/collateral/{item_id}/versions/{version}/file", dependencies=[BOARDS], response_class=Response,
            responses={**FILE, **responses(404)})
async def version_file(item_id: str, version: Annotated[int, Path(ge=1, le=2**31 - 1)], runtime: RuntimeDep,
                       deps: DepsDep) -> Response:
    """A version's file, byte for byte as uploaded (every version stays, for audit)."""
    with _answers():
        async with runtime.pool.acquire() as conn:
            f = await handlers.read_version(deps, conn, item_id, version)
    return _file_response(f)


@router.get("/collateral/{item_id}/file", dependencies=[allow(*PEOPLE)],
            response_class=Response, responses={**FILE, **responses(404)})
async def published_file(item_id: str, runtime: RuntimeDep, deps: DepsDep) -> Response:
    """The latest published version's file: what a rep gets."""
    with _answers():
        async with runtime.pool.acquire() as conn:
            f = await handlers.read_version(deps, conn, item_id, None)
    return _file_response(f)


@router.post("/collateral/{item_id}/submit", responses=responses(403, 404, 409))
async def submit(item_id: str, body: SubmitIn, runtime: RuntimeDep, deps: DepsDep, who: Marketer) -> dict[str, Any]:
    """Marketing sends the current version to the named sales reviewers."""
    with _answers():
        async with runtime.unit_of_work() as uow:
            row = await handlers.submit(deps, uow, item_id, body.actor.actor(),
                                        [Reviewer(r.id, r.role) for r in body.reviewers], who=who)
    return _out(row)


@router.post("/collateral/{item_id}/reviews", responses=responses(403, 404, 409))
async def review(item_id: str, body: ReviewIn, runtime: RuntimeDep, deps: DepsDep,
                 who: Annotated[Principal, allow(UserRole.sales_approver, UserRole.manager, UserRole.rep)]
                 ) -> dict[str, Any]:
    """A named reviewer approves the version under review or asks for changes (with a
    comment). The reviewer is the signed-in person: ``actor.id`` is their token's subject
    (or rep id); a review in someone else's name is a 403."""
    if body.actor.id not in {who.subject, who.rep_id}:
        raise forbidden_field("actor.id", f"a review is made by the signed-in reviewer ({who.subject}), "
                                          f"not in the name of {body.actor.id!r}")
    with _answers():
        async with runtime.unit_of_work() as uow:
            row = await handlers.review(deps, uow, item_id, body.actor.actor(), body.decision == "approve",
                                        body.comment, who=who)
    return _out(row)


@router.post("/collateral/{item_id}/publish", responses=responses(403, 404, 409))
async def publish(item_id: str, body: ActIn, runtime: RuntimeDep, deps: DepsDep, who: Marketer) -> dict[str, Any]:
    """Publish what sales approved (409 naming the missing approvals otherwise)."""
    with _answers():
        async with runtime.unit_of_work() as uow:
            row = await handlers.publish(deps, uow, item_id, body.actor.actor(), who=who)
    return _out(row)


@router.post("/collateral/{item_id}/withdraw", responses=responses(403, 404, 409))
async def withdraw(item_id: str, body: ActIn, runtime: RuntimeDep, deps: DepsDep, who: Marketer) -> dict[str, Any]:
    with _answers():
        async with runtime.unit_of_work() as uow:
            row = await handlers.withdraw(deps, uow, item_id, body.actor.actor(), body.comment, who=who)
    return _out(row)


@router.post("/collateral/{item_id}/retire", responses=responses(403, 404, 409))
async def retire(item_id: str, body: RetireIn, runtime: RuntimeDep, deps: DepsDep, who: Marketer) -> dict[str, Any]:
    """Retire a published item by hand, naming its successor (its links then point there)."""
    with _answers():
        async with runtime.unit_of_work() as uow:
            row = await handlers.retire(deps, uow, item_id, body.actor.actor(), body.successor_id, body.comment,
                                        who=who)
    return _out(row)


@router.get("/leads/{lead_id}/collateral",
            dependencies=[allow_lead(UserRole.manager, UserRole.marketing, UserRole.operator)],
            responses=responses(404))
async def for_lead(lead_id: str, runtime: RuntimeDep, deps: DepsDep,
                   stage: Annotated[Text | None, Query()] = None) -> dict[str, Any]:
    """Published, current collateral for the lead's segment (and stage), most effective
    first: what a rep opens on a phone."""
    _known("stage", stage, get_args(Stage))
    async with runtime.unit_of_work() as uow:
        found = await handlers.collateral_for(deps, uow, lead_id, stage)
    if found is None:
        raise HTTPException(404, detail={"field": "lead_id", "reason": "no graded lead with this id yet"})
    return {"lead_id": found.lead_id, "segment": found.segment, "items": [_out(r) for r in found.items]}


@router.post("/collateral/{item_id}/shares", status_code=201, response_model=ShareOut,
             responses={200: {"model": ShareOut, "description": "the link made before for this version, lead and rep"},
                        **responses(404, 409)})
async def share(item_id: str, body: ShareIn,
                who: Annotated[Principal, allow(UserRole.rep, UserRole.manager, UserRole.marketing)],
                runtime: RuntimeDep, deps: DepsDep) -> Response:
    """A rep's link to the latest published version for one lead (201 new, 200 the same
    link again). A rep's token shares only as that rep (another ``rep_id`` is a 403)."""
    rep_id = acting_rep(who, body.rep_id) or body.rep_id
    with _answers():
        async with runtime.unit_of_work() as uow:
            shared = await handlers.share(deps, uow, item_id, body.lead_id, rep_id, body.rep_name)
    s = shared.share
    return Response(orjson.dumps({"share_id": s["share_id"], "item_id": s["item_id"], "version": s["version"],
                                  "lead_id": s["lead_id"], "rep_id": s["rep_id"],
                                  "personalised": s["copy_key"] is not None, "link": f"/v1/links/{s['token']}"}),
                    status_code=201 if shared.created else 200, media_type="application/json")


@router.get("/links/{token}", dependencies=[public], response_class=Response, responses={**FILE, **responses(404, 410)})
async def open_link(token: str, runtime: RuntimeDep, deps: DepsDep) -> Response:
    """The prospect opens a shared link: the file (or their personalised copy), and a view
    recorded. A retired item's link answers 410 with its successor."""
    try:
        with _answers():
            async with runtime.unit_of_work() as uow:
                f = await handlers.open_link(deps, uow, token)
    except handlers.Gone as gone:
        # the error model, with the pointer to what replaced the item beside it
        successor = ({"item_id": gone.successor_id, "url": f"/v1/collateral/{gone.successor_id}/file"}
                     if gone.successor_id else None)
        pointer = f"; its successor is {successor['url']}" if successor else "; it has no successor"
        body = error_body(410, {"field": "token", "reason": f"this collateral was {gone.status}{pointer}"})
        return JSONResponse(status_code=410, content={**body, "item_id": gone.item_id, "successor": successor})
    return _file_response(f)


@router.post("/admin/clock", dependencies=[allow(UserRole.operator)], responses=responses(404))
async def advance_clock(body: ClockIn, deps: DepsDep) -> dict[str, Any]:
    """TESTS ONLY (``LEADBRIDGE_TEST_CLOCK=true``): move this replica's clock forward."""
    if deps.test_clock is None:
        raise HTTPException(404, detail={"field": "path", "reason": "the test clock is off"})
    now = deps.test_clock.advance(timedelta(seconds=body.advance_s))
    return {"now": now.isoformat(), "offset_s": deps.test_clock.offset.total_seconds()}
