"""Nurture's HTTP edge: marketing's pool and tracks (versioned, as data), the leads'
enrolments and messages, reps' tasks, and the recipient's side of an email (tracked
links, the open pixel, unsubscribe with a confirm page and RFC 8058 one-click POST)."""

from __future__ import annotations

import base64
import html
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl

from services.nurture import handlers
from services.nurture.domain.attribution import MODELS, Model
from services.nurture.domain.campaigns import CampaignDraft, EventDetails, InvalidCampaign
from services.nurture.domain.funnel import BackwardMove, StepNotInCampaign
from services.nurture.domain.report import funnel_svg, report_csv
from services.nurture.domain.tracks import PoolStatus
from services.nurture.handlers import NurtureDeps
from services.nurture.repository import Row
from shared.auth import PEOPLE, Caller, Principal, Role, acting_rep, allow, public
from shared.events import CampaignType, MemberStatus
from shared.money import from_minor
from shared.responses import link, responses
from shared.service import RuntimeDep, get_deps
from shared.validation import Count, Instant, Text

router = APIRouter(prefix="/v1/nurture", tags=["nurture"])

DepsDep = Annotated[NurtureDeps, Depends(get_deps)]
# Reads behind the manager's, marketing's and the operator's boards (no personal data of a lead)
BOARDS = allow(Role.marketing, Role.manager, Role.sales_approver, Role.operator)

Marketing = Annotated[Principal, allow(Role.marketing)]  # campaigns and tracks are marketing's

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


@router.get("/leads", dependencies=[allow(Role.marketing, Role.manager, Role.operator)],
            responses=responses(links={200: {
    "GetPooled": link("GET", "/v1/nurture/leads/{lead_id}", "the first lead listed",
                      lead_id="$response.body#/leads/0/lead_id")}}))
async def list_pool(runtime: RuntimeDep, deps: DepsDep, status: Annotated[Text | None, Query()] = None,
                    track: Annotated[Text | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    offset: Annotated[Count, Query()] = 0) -> dict[str, Any]:
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


@router.get("/leads/{lead_id}", dependencies=[allow(Role.marketing, Role.manager, Role.operator)],
            responses=responses(404))
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


@router.get("/tracks", dependencies=[allow(Role.marketing, Role.manager, Role.operator)])
async def list_tracks(runtime: RuntimeDep, deps: DepsDep) -> list[dict[str, Any]]:
    """The newest version of every track."""
    async with runtime.pool.acquire() as conn:
        tracks = await handlers.live_tracks(deps, conn)
    return [_track_view(t, v) for t, v in sorted(tracks, key=lambda tv: (tv[0].priority, tv[0].name))]


@router.get("/tracks/{name}", dependencies=[allow(Role.marketing, Role.manager, Role.operator)],
            responses=responses(404))
async def get_track(name: str, runtime: RuntimeDep, deps: DepsDep,
                    version: Annotated[Count | None, Query(ge=1)] = None) -> dict[str, Any]:
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


@router.put("/tracks/{name}", status_code=201, responses=responses(links={201: {
    "GetTrack": link("GET", "/v1/nurture/tracks/{name}", "the version just made", name="$request.path.name",
                     version="$response.body#/version")}}))
async def put_track(name: Text, runtime: RuntimeDep, deps: DepsDep,
                    document: Annotated[dict[str, Any], Body()], who: Marketing) -> dict[str, Any]:
    """A new version of track ``name`` (created if new), by the caller. Leads already on
    it finish the version they started; new entrants get this one."""
    try:
        async with runtime.unit_of_work() as uow:
            track, version = await handlers.define_track(deps, uow, name, document, who.name or who.subject,
                                                         who=who)
    except handlers.Invalid as bad:
        raise HTTPException(422, detail={"field": bad.field, "reason": bad.reason}) from None
    return _track_view(track, version)


# --------------------------------------------------------------------------- messages and tasks


EnrollmentStatus = Literal["active", "completed", "exited"]


@router.get("/enrollments", dependencies=[allow(Role.marketing, Role.manager, Role.operator)])
async def list_enrollments(runtime: RuntimeDep, deps: DepsDep, track: str | None = None,
                           campaign: str | None = None, status: EnrollmentStatus | None = None,
                           limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
    """Leads on tracks: a track's, a campaign's (its no-shows on the no-show track, say)."""
    async with runtime.pool.acquire() as conn:
        rows = await deps.programs.list_enrollments(conn, track, campaign, status, limit)
    return [_plain(r) for r in rows]


@router.get("/messages", dependencies=[allow(Role.marketing, Role.operator)])
async def list_messages(runtime: RuntimeDep, deps: DepsDep, lead_id: Annotated[Text | None, Query()] = None,
                        campaign: Annotated[Text | None, Query()] = None,
                        limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as conn:
        rows = await deps.programs.messages_of(conn, lead_id, campaign, limit)
    return [_plain(r) for r in rows]


TaskKind = Literal["track", "pre-event"]
TaskStatus = Literal["open", "done"]


@router.get("/tasks", dependencies=[allow(Role.rep, Role.manager, Role.marketing, Role.operator)])
async def list_tasks(runtime: RuntimeDep, deps: DepsDep, viewer: Caller, rep_id: Annotated[Text | None, Query()] = None,
                     team: Annotated[Text | None, Query()] = None, campaign: Annotated[Text | None, Query()] = None,
                     kind: TaskKind | None = None, status: TaskStatus | None = None,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    """Reps' tasks, soonest due first: a rep's own (``rep_id``), a team queue's, a campaign's.
    A rep's token lists their own (another rep's ``rep_id`` is a 403), a manager's their
    teams'."""
    if not viewer.sees_every_lead and Role.manager not in viewer.roles:
        rep_id = acting_rep(viewer, rep_id)
    async with runtime.pool.acquire() as conn:
        rows = await deps.programs.tasks(conn, rep_id, team, campaign, kind, status, limit)
    return [_plain(r) for r in rows if viewer.may_see(rep_id=r["rep_id"], team=r["team"])]


@router.get("/campaigns/{campaign_id}/registrants", dependencies=[allow(Role.marketing, Role.manager, Role.operator)],
            responses=responses(404))
async def registrants(campaign_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """For the presenter: every registrant of a webinar with what their pre-event call
    learnt they want to hear about, and whether the call was made."""
    async with runtime.pool.acquire() as conn:
        webinar = await deps.programs.webinar(conn, campaign_id)
        rows = await deps.programs.tasks(conn, None, None, campaign_id, "pre-event", None, 100_000)
    if webinar is None:
        raise HTTPException(404, detail={"field": "campaign_id", "reason": f"no webinar '{campaign_id}'"})
    return {"campaign_id": campaign_id, "name": webinar["name"],
            "event_starts_at": webinar["event_starts_at"].isoformat(),
            "registrants": [{"lead_id": r["lead_id"], "name": r["name"], "company": r["company"], "email": r["email"],
                             "interests": r["interests"], "called": r["status"] == "done", "rep_id": r["rep_id"],
                             "team": r["team"], "call_due_at": r["due_at"].isoformat()} for r in rows]}


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interests: str | None = Field(default=None, max_length=4000,
                                  description="what the prospect wants to hear about, for the presenter")
    status: TaskStatus | None = None


@router.patch("/tasks/{task_id}", dependencies=[allow(Role.rep, Role.manager, Role.marketing)],
              responses=responses(404))
async def patch_task(task_id: str, update: TaskUpdate, runtime: RuntimeDep, deps: DepsDep,
                     viewer: Caller) -> dict[str, Any]:
    """Record the prospect's interests on a task, or mark it done (a rep: their own
    tasks; another's is a 404)."""
    try:
        async with runtime.unit_of_work() as uow:
            row = await handlers.update_task(deps, uow, task_id, update.interests, update.status, viewer)
    except handlers.NotFound as missing:
        raise _not_found("task_id", missing) from None
    return _plain(row)


# --------------------------------------------------------------------------- the recipient's side


@router.get("/r/{message_id}/{link}", dependencies=[public], include_in_schema=False)
async def follow_link(message_id: str, link: Count, runtime: RuntimeDep, deps: DepsDep) -> Response:
    try:
        async with runtime.unit_of_work() as uow:
            url = await handlers.engaged(deps, uow, message_id, "email_click", link)
    except handlers.NotFound as missing:
        raise _not_found("link", missing) from None
    assert url is not None
    return RedirectResponse(url, status_code=302)


@router.get("/o/{message_id}.gif", dependencies=[public], include_in_schema=False)
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


@router.get("/unsubscribe/{message_id}", dependencies=[public], response_class=HTMLResponse, responses=responses(404))
async def unsubscribe_page(message_id: str, runtime: RuntimeDep, deps: DepsDep) -> HTMLResponse:
    """The confirm page (a GET must not unsubscribe: link scanners follow links)."""
    async with runtime.pool.acquire() as conn:
        row = await deps.programs.message(conn, message_id)
    if row is None or row["to_email"] is None:
        raise _not_found("message_id", LookupError(f"no sent message '{message_id}'"))
    body = (f"<p>Stop all marketing email to <strong>{html.escape(row['to_email'])}</strong>?</p>"
            f"<form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>")
    return HTMLResponse(_PAGE.format(title="Unsubscribe", body=body))


@router.post("/unsubscribe/{message_id}", dependencies=[public], response_class=HTMLResponse, responses=responses(404))
async def unsubscribe(message_id: str, runtime: RuntimeDep, deps: DepsDep) -> HTMLResponse:
    """Unsubscribe: the confirm page's form, or a mail client's RFC 8058 one-click POST."""
    try:
        async with runtime.unit_of_work() as uow:
            email = await handlers.unsubscribe(deps, uow, message_id)
    except handlers.NotFound as missing:
        raise _not_found("message_id", missing) from None
    return HTMLResponse(_PAGE.format(title="Unsubscribed",
                                     body=f"<p>{html.escape(email)} will get no more marketing email from us.</p>"))


# --------------------------------------------------------------------------- campaigns

campaigns = APIRouter(prefix="/v1", tags=["campaigns"])

Slug = Annotated[str, Field(min_length=1, max_length=80)]


class EventIn(BaseModel):
    """When and where an event (webinar, trade show, event) is held: its start and end
    as wall-clock times in ``time_zone`` (or with an offset), and its registration page."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    starts_at: datetime
    ends_at: datetime
    time_zone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    registration_url: HttpUrl | None = None


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    type: CampaignType
    owner: str = Field(min_length=1, max_length=200)
    starts_at: Instant
    ends_at: Instant | None = None
    cost: Decimal = Field(default=Decimal(0), ge=0, max_digits=14, allow_inf_nan=False)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217")
    goal: str = Field(default="", max_length=1000)
    event: EventIn | None = None


class NewCampaignIn(CampaignIn):
    campaign_id: Slug = Field(description="the slug leads carry in their campaign field, e.g. webinar-q4")


class MembersIn(BaseModel):
    """Marketing's own list: leads by id, or by the email they were captured with."""

    model_config = ConfigDict(extra="forbid")

    lead_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list,
                                                                                 max_length=10_000)
    emails: list[EmailStr] = Field(default_factory=list, max_length=10_000)
    status: MemberStatus = MemberStatus.INVITED


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: MemberStatus
    occurred_at: Instant | None = None


def _campaign_view(c: Row) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {"campaign_id": c["campaign_id"], "version": c["version"], "name": c["name"], "type": c["type"],
            "owner": c["owner"], "starts_at": iso(c["starts_at"]), "ends_at": iso(c["ends_at"]),
            "cost": str(from_minor(c["cost_minor"], c["currency"])), "currency": c["currency"], "goal": c["goal"],
            "event": None if c["event_starts_at"] is None else {
                "starts_at": iso(c["event_starts_at"]), "ends_at": iso(c["event_ends_at"]),
                "time_zone": c["time_zone"], "registration_url": c["registration_url"]},
            "links": {"report": f"/v1/campaigns/{c['campaign_id']}/report",
                      "members": f"/v1/campaigns/{c['campaign_id']}/members"}}


def _refused(field: str, reason: str, status: int = 422) -> HTTPException:
    return HTTPException(status, detail={"field": field, "reason": reason})


def _no_campaign(campaign_id: str) -> HTTPException:
    return _refused("campaign_id", f"no campaign {campaign_id!r}", 404)


def _draft(campaign_id: str, body: CampaignIn) -> CampaignDraft:
    event = None if body.event is None else EventDetails(
        body.event.starts_at, body.event.ends_at, body.event.time_zone,
        None if body.event.registration_url is None else str(body.event.registration_url))
    return CampaignDraft(campaign_id, body.name, body.type, body.owner, body.starts_at, body.ends_at, body.cost,
                         body.currency, body.goal, event)


async def _define(runtime: RuntimeDep, deps: NurtureDeps, draft: CampaignDraft, new: bool,
                  who: Principal) -> dict[str, Any]:
    try:
        async with runtime.unit_of_work() as uow:
            await handlers.define_campaign(deps, uow, draft, new=new, who=who)
            row = await deps.campaigns.get_campaign(uow.conn, draft.campaign_id)
    except InvalidCampaign as bad:
        raise _refused(bad.field, bad.reason) from None
    except handlers.CampaignExists:
        raise _refused("campaign_id", f"campaign {draft.campaign_id!r} exists; PUT changes it", 409) from None
    except handlers.UnknownCampaign:
        raise _no_campaign(draft.campaign_id) from None
    assert row is not None
    return _campaign_view(row)


CAMPAIGN = "/v1/campaigns/{campaign_id}"
BY_CAMPAIGN = "$response.body#/campaign_id"


@campaigns.post("/campaigns", status_code=201, responses=responses(409, links={201: {
    "GetCampaign": link("GET", CAMPAIGN, "the campaign defined", campaign_id=BY_CAMPAIGN),
    "AddMembers": link("POST", CAMPAIGN + "/members", "invite its first members", campaign_id=BY_CAMPAIGN),
    "ListMembers": link("GET", CAMPAIGN + "/members", "its members", campaign_id=BY_CAMPAIGN),
    "Report": link("GET", CAMPAIGN + "/report", "its report", campaign_id=BY_CAMPAIGN)}}))
async def create_campaign(body: NewCampaignIn, runtime: RuntimeDep, deps: DepsDep, who: Marketing) -> dict[str, Any]:
    return await _define(runtime, deps, _draft(body.campaign_id, body), new=True, who=who)


@campaigns.put("/campaigns/{campaign_id}", responses=responses(404))
async def change_campaign(campaign_id: str, body: CampaignIn, runtime: RuntimeDep, deps: DepsDep,
                          who: Marketing) -> dict[str, Any]:
    return await _define(runtime, deps, _draft(campaign_id, body), new=False, who=who)


@campaigns.get("/campaigns", dependencies=[allow(*PEOPLE)])
async def list_campaigns(runtime: RuntimeDep, deps: DepsDep) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as conn:
        return [_campaign_view(c) for c in await deps.campaigns.list_campaigns(conn)]


@campaigns.get("/campaigns/{campaign_id}", dependencies=[allow(*PEOPLE)], responses=responses(404))
async def get_campaign(campaign_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await deps.campaigns.get_campaign(conn, campaign_id)
    if row is None:
        raise _no_campaign(campaign_id)
    return _campaign_view(row)


@campaigns.post("/campaigns/{campaign_id}/members", dependencies=[allow(Role.marketing)],
                status_code=202, responses=responses(404))
async def add_members(campaign_id: str, body: MembersIn, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    if not body.lead_ids and not body.emails:
        raise _refused("lead_ids", "name at least one member, by lead_ids or emails")
    try:
        members = await runtime.run(lambda uow: handlers.add_members(
            deps, uow, campaign_id, body.lead_ids, [str(e) for e in body.emails], body.status))
    except handlers.UnknownCampaign:
        raise _no_campaign(campaign_id) from None
    except StepNotInCampaign as bad:
        raise _refused("status", str(bad)) from None
    except handlers.UnknownMembers as unknown:
        raise HTTPException(422, detail={"error": "unknown members: capture them first (capture's POST /v1/leads)",
                                         "fields": [{"field": f"lead_ids.{i}", "reason": "no such lead"}
                                                    for i in unknown.lead_ids]
                                         + [{"field": f"emails.{e}", "reason": "no lead has this email"}
                                            for e in unknown.emails]}) from None
    return {"campaign_id": campaign_id, "status": body.status.value, "members": len(members), "lead_ids": members}


def _member_view(m: Row) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(m).items()}


@campaigns.get("/campaigns/{campaign_id}/members", dependencies=[allow(Role.marketing, Role.manager, Role.operator)],
               responses=responses(404))
async def list_members(campaign_id: str, runtime: RuntimeDep, deps: DepsDep, status: MemberStatus | None = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       offset: Annotated[Count, Query()] = 0) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        if await deps.campaigns.get_campaign(conn, campaign_id) is None:
            raise _no_campaign(campaign_id)
        rows = await deps.campaigns.list_members(conn, campaign_id, None if status is None else status.value,
                                                 limit, offset)
    return {"campaign_id": campaign_id, "members": [_member_view(m) for m in rows]}


@campaigns.put("/campaigns/{campaign_id}/members/{lead_id}/status", dependencies=[allow(Role.marketing, Role.manager)],
               responses=responses(404, 409))
async def set_status(campaign_id: str, lead_id: str, body: StatusIn, runtime: RuntimeDep,
                     deps: DepsDep) -> dict[str, Any]:
    try:
        async with runtime.unit_of_work() as uow:
            await handlers.set_member_status(deps, uow, campaign_id, lead_id, body.status, body.occurred_at)
            row = await deps.campaigns.member(uow.conn, campaign_id, lead_id)
    except handlers.UnknownCampaign:
        raise _no_campaign(campaign_id) from None
    except handlers.NotAMember:
        raise _refused("lead_id", f"lead {lead_id} is not a member of {campaign_id}", 404) from None
    except StepNotInCampaign as bad:
        raise _refused("status", str(bad)) from None
    except BackwardMove as back:
        raise _refused("status", f"{back}: a member's steps only move forward", 409) from None
    assert row is not None
    return _member_view(row)


ModelQuery = Annotated[Model, Query(description=f"attribution model for ROI, one of {list(MODELS)}")]


@campaigns.get("/campaigns/{campaign_id}/report", dependencies=[BOARDS], response_model=None, responses={
    **responses(404), 200: {"content": {"application/json": {"schema": {"type": "object"}},
                                        "text/csv": {"schema": {"type": "string"}}}}})
async def report(campaign_id: str, runtime: RuntimeDep, deps: DepsDep, model: ModelQuery = "linear",
                 format: Literal["json", "csv"] = "json") -> dict[str, Any] | Response:
    async with runtime.pool.acquire() as conn:
        try:
            body = await handlers.campaign_report(deps, conn, campaign_id, model)
        except handlers.UnknownCampaign:
            raise _no_campaign(campaign_id) from None
    if format == "csv":
        return Response(report_csv(body), media_type="text/csv",
                        headers={"content-disposition": f'attachment; filename="{campaign_id}-report.csv"'})
    return body


@campaigns.get("/campaigns/{campaign_id}/report/funnel.svg", dependencies=[BOARDS], response_class=Response, responses={
    **responses(404), 200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}})
async def funnel_chart(campaign_id: str, runtime: RuntimeDep, deps: DepsDep) -> Response:
    async with runtime.pool.acquire() as conn:
        try:
            body = await handlers.campaign_report(deps, conn, campaign_id, "linear")
        except handlers.UnknownCampaign:
            raise _no_campaign(campaign_id) from None
    return Response(funnel_svg(body), media_type="image/svg+xml")


@campaigns.get("/reports/period", dependencies=[BOARDS])
async def period(runtime: RuntimeDep, deps: DepsDep, since: Annotated[Instant, Query()],
                 until: Annotated[Instant, Query()],
                 model: ModelQuery = "linear") -> dict[str, Any]:
    if until <= since:
        raise _refused("until", "is not after since")
    async with runtime.pool.acquire() as conn:
        figures = await handlers.period_figures(deps, conn, since, until, model)
    return {"since": since.isoformat(), "until": until.isoformat(), "model": model,
            "revenue": figures["by_type_and_channel"], "by_type": figures["by_type"]}


@campaigns.post("/attribution/recompute", dependencies=[allow(Role.marketing, Role.operator)])
async def recompute(runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        deals = await handlers.recompute_attribution(deps, uow)
    return {"deals": deals, "models": list(MODELS), "half_life_days": deps.half_life_days}
