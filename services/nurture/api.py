"""Nurture's HTTP edge: marketing's pool and tracks (versioned, as data), the leads'
enrolments and messages, reps' tasks, and the recipient's side of an email (tracked
links, the open pixel, unsubscribe with a confirm page and RFC 8058 one-click POST)."""

from __future__ import annotations

import base64
import html
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from services.nurture import handlers
from services.nurture.domain.tracks import PoolStatus
from services.nurture.handlers import NurtureDeps
from services.nurture.repository import Row
from shared.service import RuntimeDep, get_deps

router = APIRouter(prefix="/v1/nurture", tags=["nurture"])

DepsDep = Annotated[NurtureDeps, Depends(get_deps)]

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _plain(r: Row) -> dict[str, Any]:
    return {k: _iso(v) for k, v in dict(r).items()}


def _row(r: Row) -> dict[str, Any]:
    return {"lead_id": r["lead_id"], "status": r["status"], "track": r["track"], "reason": r["reason"],
            "grade": r["grade"], "score": r["score"], "segment": r["segment"], "campaign": r["campaign"],
            "entered_at": r["entered_at"].isoformat(), "updated_at": r["updated_at"].isoformat(),
            "times_entered": r["times_entered"], "last_rep_id": r["last_rep_id"], "history": r["history"]}


def _not_found(field: str, exc: Exception) -> HTTPException:
    return HTTPException(404, detail={"field": field, "reason": str(exc).strip("'\"")})


@router.get("/leads")
async def list_pool(runtime: RuntimeDep, deps: DepsDep, status: str | None = None, track: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    if status is not None and status not in get_args(PoolStatus):
        raise HTTPException(422, detail={"field": "status", "reason": f"one of {list(get_args(PoolStatus))}"})
    async with runtime.pool.acquire() as conn:
        if track is not None:
            names = sorted(t.name for t, _ in await handlers.live_tracks(deps, conn))
            if track not in names:
                raise HTTPException(422, detail={"field": "track", "reason": f"unknown track; one of {names}"})
        rows = await deps.pool.list_pool(conn, status, track, limit, offset)
        counts = await deps.pool.counts(conn)
    return {"leads": [_row(r) for r in rows],
            "counts": [{"status": c["status"], "track": c["track"], "leads": c["leads"]} for c in counts]}


@router.get("/leads/{lead_id}")
async def get_pooled(lead_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await deps.pool.get(conn, lead_id)
        enrollments = await deps.programs.enrollments_of(conn, lead_id)
    if row is None:
        raise HTTPException(404, detail={"field": "lead_id", "reason": f"lead {lead_id} was never in nurture"})
    return {**_row(row), "enrollments": [_plain(e) for e in enrollments]}


# --------------------------------------------------------------------------- tracks


def _track_view(track: Any, version: int) -> dict[str, Any]:
    return {"name": track.name, "version": version, "description": track.description, **track.model_dump(mode="json")}


@router.get("/tracks")
async def list_tracks(runtime: RuntimeDep, deps: DepsDep) -> list[dict[str, Any]]:
    """The newest version of every track."""
    async with runtime.pool.acquire() as conn:
        tracks = await handlers.live_tracks(deps, conn)
    return [_track_view(t, v) for t, v in sorted(tracks, key=lambda tv: (tv[0].priority, tv[0].name))]


@router.get("/tracks/{name}")
async def get_track(name: str, runtime: RuntimeDep, deps: DepsDep,
                    version: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        rows = await deps.programs.track_versions(conn, name)
    if not rows:
        raise HTTPException(404, detail={"field": "name", "reason": f"no track '{name}'"})
    chosen = rows[-1] if version is None else next((r for r in rows if r["version"] == version), None)
    if chosen is None:
        raise HTTPException(404, detail={"field": "version", "reason": f"track '{name}' has no version {version}"})
    track = deps.tracks.parse(name, chosen["version"], chosen["document"])
    return {**_track_view(track, chosen["version"]), "versions": [r["version"] for r in rows],
            "created_at": chosen["created_at"].isoformat(), "created_by": chosen["created_by"]}


@router.put("/tracks/{name}", status_code=201)
async def put_track(name: str, runtime: RuntimeDep, deps: DepsDep,
                    document: Annotated[dict[str, Any], Body()], changed_by: str = "") -> dict[str, Any]:
    """A new version of track ``name`` (created if new). Leads already on it finish the
    version they started; new entrants get this one."""
    try:
        async with runtime.unit_of_work() as uow:
            track, version = await handlers.define_track(deps, uow, name, document, changed_by)
    except handlers.Invalid as bad:
        raise HTTPException(422, detail={"field": bad.field, "reason": bad.reason}) from None
    return _track_view(track, version)


# --------------------------------------------------------------------------- messages and tasks


@router.get("/messages")
async def list_messages(runtime: RuntimeDep, deps: DepsDep, lead_id: str | None = None, campaign: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as conn:
        rows = await deps.programs.messages_of(conn, lead_id, campaign, limit)
    return [_plain(r) for r in rows]


TaskKind = Literal["track", "pre-event"]
TaskStatus = Literal["open", "done"]


@router.get("/tasks")
async def list_tasks(runtime: RuntimeDep, deps: DepsDep, rep_id: str | None = None, team: str | None = None,
                     campaign: str | None = None, kind: TaskKind | None = None, status: TaskStatus | None = None,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    """Reps' tasks, soonest due first: a rep's own (``rep_id``), a team queue's, a campaign's."""
    async with runtime.pool.acquire() as conn:
        rows = await deps.programs.tasks(conn, rep_id, team, campaign, kind, status, limit)
    return [_plain(r) for r in rows]


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interests: str | None = Field(default=None, max_length=4000,
                                  description="what the prospect wants to hear about, for the presenter")
    status: TaskStatus | None = None


@router.patch("/tasks/{task_id}")
async def patch_task(task_id: str, update: TaskUpdate, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    try:
        async with runtime.unit_of_work() as uow:
            row = await handlers.update_task(deps, uow, task_id, update.interests, update.status)
    except handlers.NotFound as missing:
        raise _not_found("task_id", missing) from None
    return _plain(row)


# --------------------------------------------------------------------------- the recipient's side


@router.get("/r/{message_id}/{link}", include_in_schema=False)
async def follow_link(message_id: str, link: int, runtime: RuntimeDep, deps: DepsDep) -> Response:
    try:
        async with runtime.unit_of_work() as uow:
            url = await handlers.engaged(deps, uow, message_id, "email_click", link)
    except handlers.NotFound as missing:
        raise _not_found("link", missing) from None
    assert url is not None
    return RedirectResponse(url, status_code=302)


@router.get("/o/{message_id}.gif", include_in_schema=False)
async def open_pixel(message_id: str, runtime: RuntimeDep, deps: DepsDep) -> Response:
    try:
        async with runtime.unit_of_work() as uow:
            await handlers.engaged(deps, uow, message_id, "email_open")
    except handlers.NotFound:
        pass  # a pixel answers whatever happens: mail clients show no errors
    return Response(_PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


_PAGE = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
         "content=\"width=device-width\"><title>{title}</title></head><body><main><h1>{title}</h1>{body}</main>"
         "</body></html>")


@router.get("/unsubscribe/{message_id}", response_class=HTMLResponse)
async def unsubscribe_page(message_id: str, runtime: RuntimeDep, deps: DepsDep) -> HTMLResponse:
    """The confirm page (a GET must not unsubscribe: link scanners follow links)."""
    async with runtime.pool.acquire() as conn:
        row = await deps.programs.message(conn, message_id)
    if row is None or row["to_email"] is None:
        raise _not_found("message_id", LookupError(f"no sent message '{message_id}'"))
    body = (f"<p>Stop all marketing email to <strong>{html.escape(row['to_email'])}</strong>?</p>"
            f"<form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>")
    return HTMLResponse(_PAGE.format(title="Unsubscribe", body=body))


@router.post("/unsubscribe/{message_id}", response_class=HTMLResponse)
async def unsubscribe(message_id: str, runtime: RuntimeDep, deps: DepsDep) -> HTMLResponse:
    """Unsubscribe: the confirm page's form, or a mail client's RFC 8058 one-click POST."""
    try:
        async with runtime.unit_of_work() as uow:
            email = await handlers.unsubscribe(deps, uow, message_id)
    except handlers.NotFound as missing:
        raise _not_found("message_id", missing) from None
    return HTMLResponse(_PAGE.format(title="Unsubscribed",
                                     body=f"<p>{html.escape(email)} will get no more marketing email from us.</p>"))
