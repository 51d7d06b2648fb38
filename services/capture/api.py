"""Capture's HTTP edge: web forms, badge scanners, list imports, webinar and ad
platforms and intent feeds post here. Routes validate and translate; handlers decide."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError

from services.capture import handlers, metrics
from services.capture.domain.attendance import MAX_ATTENDEES, AttendeeIn, BadAttendance, parse_csv
from services.capture.domain.imports import PIECE_BYTES, BadImport, file_format
from services.capture.domain.lead_input import PostedLead
from services.capture.domain.leads import ActivityPerson, InTheFuture, when_it_happened
from services.capture.domain.scope import KeyScope, OutOfScope, campaign_within
from services.capture.handlers import CaptureDeps
from services.capture.repository import Row
from shared import money, privacy_api, sources, webhooks
from shared.auth import PEOPLE, Principal, Role, allow, allow_lead, form_intake, public, source_intake
from shared.events import Behaviour, DealOutcomeKind, LeadSource, lead_id_for_email, normalise_email, utcnow
from shared.responses import link, responses
from shared.service import RuntimeDep, get_deps
from shared.validation import Count, CountryCode, Instant, Text, TextMap
from shared.webhooks import WebhookDep

router = APIRouter(prefix="/v1", tags=["leads"])


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    behaviour: Behaviour
    occurred_at: Instant | None = None
    campaign: Text | None = None
    idempotency_key: Text | None = Field(default=None, min_length=1)
    detail: TextMap = Field(default_factory=dict)


class ActivityByEmailIn(ActivityIn):
    """An activity for a person who may not be a lead yet: matched by email, or a new
    lead is created from the fields given."""

    email: EmailStr
    name: Text | None = Field(default=None, min_length=1)
    company: Text | None = Field(default=None, min_length=1)
    country: CountryCode | None = None
    source: LeadSource | None = Field(default=None, description="default: the key's source, else web_form")
    consent: bool = False


def _when(value: datetime | None, field: str, deps: CaptureDeps) -> datetime:
    try:
        return when_it_happened(value, deps.clock(), deps.max_clock_skew_s)
    except InTheFuture:
        raise HTTPException(422, detail={"error": "invalid request",
                                         "fields": [{"field": field, "reason": "is in the future"}]}) from None


IdempotencyHeader = Annotated[Text | None, Header(alias="Idempotency-Key", min_length=1)]
DepsDep = Annotated[CaptureDeps, Depends(get_deps)]
SourceKey = Annotated[Principal, source_intake]
"""A source's API key (X-Api-Key): the intake routes' caller."""
SourceOrFormKey = Annotated[Principal, form_intake]
"""A source's API key, or a web form's form key from one of its allowed origins."""
INTAKE = responses(401, 403, 429)


def _scope(who: Principal) -> KeyScope:
    return KeyScope(who.source or "", who.campaign_id)


def _within(who: Principal, source: str | None, campaign: str | None, **fields: str) -> str | None:
    """The campaign to record (the key's when the post names none); 403 naming the
    field when the post is outside the key's source or campaign."""
    try:
        return campaign_within(_scope(who), source, campaign, **fields)
    except OutOfScope as out:
        raise sources.out_of_scope(out.field, out.reason, "capture") from None


def _source_of(who: Principal, given: LeadSource | None, default: LeadSource) -> LeadSource:
    """A post's source: as given, else its key's (a key for every source: ``default``)."""
    if given is not None:
        return given
    return LeadSource(who.source) if who.source in _LEAD_SOURCES else default


_LEAD_SOURCES = frozenset(s.value for s in LeadSource)


def _unknown_campaign(unknown: handlers.UnknownCampaign) -> HTTPException:
    return HTTPException(422, detail={"error": "invalid request",
                                      "fields": [{"field": "campaign", "reason": str(unknown)}]})


def _no_lead(lead_id: str) -> HTTPException:
    return HTTPException(404, detail={"field": "lead_id", "reason": f"no lead {lead_id}"})


LEAD = "/v1/leads/{lead_id}"
TO_LEAD = {"GetLead": link("GET", LEAD, "the lead this accepted", lead_id="$response.body#/lead_id")}


@router.post("/leads", status_code=202, responses={**INTAKE, **responses(links={202: {
    **TO_LEAD,
    "AddActivity": link("POST", LEAD + "/activities", "an activity of this lead", lead_id="$response.body#/lead_id"),
    "FindLead": link("GET", "/v1/leads", "the lead by the email it was captured with",
                     email="$request.body#/email")}})})
async def capture(lead: PostedLead, who: SourceOrFormKey, request: Request, runtime: RuntimeDep, deps: DepsDep,
                  idempotency_key: IdempotencyHeader = None) -> JSONResponse:
    """A lead from a web form, a scanner or a platform, with the key of its source
    (``X-Api-Key``): an API key, or a web form's public form key from one of its pages.
    A lead outside the key's source or campaign is a 403; a lead with the honeypot
    filled is answered as any other and dropped."""
    campaign = _within(who, lead.source.value, lead.campaign)
    if lead.caught_by_honeypot:
        metrics.HONEYPOT_DROPPED.labels(lead.source.value).inc()
        lead_id = lead_id_for_email(normalise_email(str(lead.email)))
        return JSONResponse(status_code=202, headers=sources.cors_headers(request), content={
            "lead_id": lead_id, "capture_id": str(uuid.uuid4()), "duplicate": False, "repeat": False,
            "links": {"lead": f"/v1/leads/{lead_id}"}})
    if campaign != lead.campaign:
        lead = lead.model_copy(update={"campaign": campaign})
    sub = handlers.submission(lead, _when(lead.occurred_at, "occurred_at", deps), idempotency_key)
    try:
        # with whatever other POSTs arrive meanwhile, in one transaction (group commit):
        # answered once it has committed
        accepted = await deps.captures.submit(runtime.unit_of_work, sub)
    except handlers.UnknownCampaign as unknown:
        raise _unknown_campaign(unknown) from None
    return JSONResponse(status_code=202, headers=sources.cors_headers(request), content={
        "lead_id": accepted.lead_id, "capture_id": accepted.capture_id,
        "duplicate": accepted.duplicate, "repeat": accepted.is_repeat,
        "links": {"lead": f"/v1/leads/{accepted.lead_id}"}})


@router.options("/leads", status_code=204, dependencies=[public], responses=responses(403))
async def capture_preflight(request: Request) -> Response:
    """A browser's CORS preflight before a web form posts a lead: answered for the
    origins some form key allows, refused (403, no CORS headers) for any other."""
    return sources.preflight(request, await sources.ring_of(request))


def _activity(activity: ActivityIn, deps: CaptureDeps, idempotency_key: str | None,
              campaign: str | None) -> handlers.Activity:
    return handlers.Activity(behaviour=activity.behaviour, campaign=campaign,
                             occurred_at=_when(activity.occurred_at, "occurred_at", deps),
                             idempotency_key=activity.idempotency_key or idempotency_key, detail=activity.detail)


@router.post("/leads/{lead_id}/activities", status_code=202,
             responses={**INTAKE, **responses(404, links={202: TO_LEAD})})
async def add_activity(lead_id: str, activity: ActivityIn, who: SourceKey, runtime: RuntimeDep, deps: DepsDep,
                       idempotency_key: IdempotencyHeader = None) -> dict[str, Any]:
    command = _activity(activity, deps, idempotency_key, _within(who, None, activity.campaign))
    try:
        async with runtime.unit_of_work() as uow:
            accepted = await handlers.record_activity(deps, uow, lead_id, command)
    except handlers.UnknownLead:
        raise _no_lead(lead_id) from None
    except handlers.UnknownCampaign as unknown:
        raise _unknown_campaign(unknown) from None
    return {"lead_id": accepted.lead_id, "activity_id": accepted.activity_id, "duplicate": accepted.duplicate}


@router.post("/activities", status_code=202, responses={**INTAKE, **responses(links={202: TO_LEAD})})
async def add_activity_by_email(activity: ActivityByEmailIn, who: SourceKey, runtime: RuntimeDep, deps: DepsDep,
                                idempotency_key: IdempotencyHeader = None) -> dict[str, Any]:
    source = _source_of(who, activity.source, LeadSource.WEB_FORM)
    command = _activity(activity, deps, idempotency_key, _within(who, source.value, activity.campaign))
    person = handlers.Newcomer(
        person=ActivityPerson(email=str(activity.email), name=activity.name, company=activity.company,
                              country=activity.country),
        source=source, consent=activity.consent, occurred_at_given=activity.occurred_at is not None)
    try:
        async with runtime.unit_of_work() as uow:
            accepted = await handlers.record_activity_by_email(deps, uow, person, command)
    except handlers.UnknownCampaign as unknown:
        raise _unknown_campaign(unknown) from None
    except handlers.MissingLeadDetails as missing:
        raise HTTPException(422, detail={"error": "invalid request", "fields": [
            {"field": f, "reason": "required when the email is not a known lead"} for f in missing.fields]}) from None
    return {"lead_id": accepted.lead_id, "activity_id": accepted.activity_id, "duplicate": accepted.duplicate,
            "lead_created": accepted.lead_created}


def _lead_view(row: Row, timeline: Sequence[Row]) -> dict[str, Any]:
    return {
        "lead_id": row["lead_id"],
        "profile": row["profile"],
        "consent": row["consent"],
        "status": row["status"],
        "score": row["score"],
        "grade": row["grade"],
        "segment": row["segment"],
        "rubric_version": row["rubric_version"],
        "top_reasons": row["top_reasons"],
        "owner": None if row["owner_kind"] is None else {
            "kind": row["owner_kind"], "rep_id": row["rep_id"], "team": row["team"],
            "assignment_id": row["assignment_id"],
            "due_at": row["due_at"].isoformat() if row["due_at"] else None},
        "sources": row["sources"],
        "campaigns": row["campaigns"],
        "capture_count": row["capture_count"],
        "first_captured_at": row["first_captured_at"].isoformat(),
        "last_captured_at": row["last_captured_at"].isoformat(),
        "timeline": [{"event_id": t["event_id"], "type": t["type"], "at": t["occurred_at"].isoformat(),
                      **t["summary"]} for t in timeline],
    }


@router.get("/leads/{lead_id}", dependencies=[allow_lead(Role.marketing, Role.manager, Role.operator)],
            responses=responses(404))
async def get_lead(lead_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await deps.leads.get(conn, lead_id)
        if row is None:
            raise _no_lead(lead_id)
        return _lead_view(row, await deps.leads.timeline(conn, lead_id))


@router.get("/leads", dependencies=[allow(Role.marketing, Role.manager, Role.operator)], responses=responses(404))
async def find_lead(runtime: RuntimeDep, deps: DepsDep,
                    email: Annotated[str, Query(min_length=3, max_length=320)]) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await deps.leads.find_by_email(conn, normalise_email(email))
        if row is None:
            raise HTTPException(404, detail={"field": "email", "reason": "no lead with this email"})
        return _lead_view(row, await deps.leads.timeline(conn, row["lead_id"]))


@router.get("/campaigns", dependencies=[allow(*PEOPLE)], tags=["campaigns"])
async def known_campaigns(runtime: RuntimeDep, deps: DepsDep) -> list[dict[str, Any]]:
    """The campaigns a lead or activity may name (marketing defines them in nurture)."""
    async with runtime.pool.acquire() as conn:
        return [{"campaign_id": c["campaign_id"], "name": c["name"], "type": c["type"], "version": c["version"]}
                for c in await deps.leads.list_campaigns(conn)]


class PersonIn(BaseModel):
    """Someone on an invitation list: a known lead by email, or a new one (then with
    name, company and country)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    name: Text | None = Field(default=None, min_length=1)
    company: Text | None = Field(default=None, min_length=1)
    country: CountryCode | None = None
    consent: bool = False


class InvitationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # One request, one transaction: a list this size is answered in a second or two. A
    # longer one (a purchased list, a platform's export) is a list import (POST /v1/imports).
    people: list[PersonIn] = Field(min_length=1, max_length=1_000)
    status: Literal["invited", "registered"] = "invited"
    source: LeadSource | None = Field(default=None, description="default: the key's source, else list_import")


@router.post("/campaigns/{campaign_id}/invitations", status_code=202, tags=["campaigns"], responses=INTAKE)
async def invitations(campaign_id: str, body: InvitationsIn, who: SourceKey, runtime: RuntimeDep,
                      deps: DepsDep) -> dict[str, Any]:
    """Marketing's invitation list (or a platform's registrations) for a campaign: the
    people become (or are) leads and the campaign's members at ``status``. A person who is
    no lead yet and lacks name, company or country is a 422 naming their place
    (``people.3.name``), and nothing of the list is accepted."""
    source = _source_of(who, body.source, LeadSource.LIST_IMPORT)
    _within(who, source.value, campaign_id, campaign_field="campaign_id")
    people = [handlers.Newcomer(ActivityPerson(email=str(p.email), name=p.name, company=p.company,
                                               country=p.country), source, p.consent, False)
              for p in body.people]
    try:
        async with runtime.unit_of_work() as uow:
            accepted = await handlers.invite(deps, uow, campaign_id, people, body.status, deps.clock())
    except handlers.UnknownCampaign as unknown:
        raise HTTPException(422, detail={"error": "invalid request", "fields": [
            {"field": "campaign_id", "reason": str(unknown)}]}) from None
    except handlers.InvalidInvitations as bad:
        raise HTTPException(422, detail={"error": "invalid request", "fields": [
            {"field": f"people.{i}.{f}", "reason": "required when the email is not a known lead"}
            for i, fields in bad.missing for f in fields]}) from None
    return {"campaign_id": campaign_id, "status": body.status, "people": len(accepted),
            "leads_created": sum(a.lead_created for a in accepted),
            "already_invited": sum(a.duplicate for a in accepted), "lead_ids": [a.lead_id for a in accepted]}


# --------------------------------------------------------------------------- webinar attendance


class AttendanceIn(BaseModel):
    """A webinar platform's attendance report for one campaign."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    campaign_id: Text = Field(min_length=1)
    # one report, one transaction, as an invitation list; a longer one is a list import
    attendees: list[AttendeeIn] = Field(min_length=1, max_length=MAX_ATTENDEES)


def _attendance_refused(problems: list[tuple[str, str, str]]) -> HTTPException:
    return HTTPException(422, detail={"error": "invalid request", "fields": [
        {"field": f"{where}.{field}" if field else where, "reason": reason} for where, field, reason in problems]})


def _attendance_view(campaign_id: str, done: handlers.AttendanceRecorded) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "attendees": done.attendees, "activities": done.activities,
            "already_recorded": done.already_recorded, "leads_created": done.leads_created,
            "links": {"members": f"nurture: /v1/campaigns/{campaign_id}/members"}}


@router.post("/webhooks/{source}/attendance", status_code=202, tags=["campaigns"], responses=responses(401))
async def attendance_webhook(source: Annotated[str, Path(min_length=1, max_length=64)], hook: WebhookDep,
                             report: AttendanceIn, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """A webinar platform's attendance report, as a Standard Webhooks delivery signed
    with this source's secret: each attendee's registration (if ``registered_at``) and
    attendance (if ``attended``, with the minutes watched) become the campaign's
    activities, as ``POST /v1/activities`` records them. The same report again (a new
    delivery of it) changes nothing; a replayed delivery is a 401."""
    try:
        async with webhooks.receive_once(runtime, hook) as uow:
            done = await handlers.record_attendance(
                deps, uow, report.campaign_id, [(f"attendees.{i}", a) for i, a in enumerate(report.attendees)],
                f"webhook:{source}")
    except handlers.UnknownCampaign as unknown:
        raise HTTPException(422, detail={"error": "invalid request", "fields": [
            {"field": "campaign_id", "reason": str(unknown)}]}) from None
    except BadAttendance as bad:
        raise _attendance_refused(bad.problems) from None
    return _attendance_view(report.campaign_id, done)


@router.post("/campaigns/{campaign_id}/attendance", dependencies=[allow(Role.marketing, Role.operator)],
             status_code=202, tags=["campaigns"])
async def attendance_upload(campaign_id: Annotated[str, Path(min_length=1, max_length=200)],
                            file: Annotated[UploadFile, File()], runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """A webinar platform's attendance export (CSV with a header row: ``email``,
    ``registered_at``, ``attended``, ``minutes_watched``; ``name``, ``company`` and
    ``country`` for people who are no lead yet), at most 1,000 rows: the same effect per
    row as the webhook's attendee. All or nothing: a malformed row is a 422 naming its
    line and field (``line 3.minutes_watched``)."""
    try:
        rows = parse_csv(await file.read())
        async with runtime.unit_of_work() as uow:
            done = await handlers.record_attendance(deps, uow, campaign_id,
                                                    [(f"line {n}", a) for n, a in rows], "csv")
    except handlers.UnknownCampaign as unknown:
        raise HTTPException(422, detail={"error": "invalid request", "fields": [
            {"field": "campaign_id", "reason": str(unknown)}]}) from None
    except BadAttendance as bad:
        raise _attendance_refused(bad.problems) from None
    return _attendance_view(campaign_id, done)


# --------------------------------------------------------------------------- outcomes from the CRM


class OutcomeIn(BaseModel):
    """What a CRM's webhook says happened to an opportunity. It names its lead by
    ``lead_id`` (Leadbridge's, if the CRM kept it), ``email`` or ``account_domain``;
    ``amount`` is a decimal in ``currency`` (ISO 4217); a won deal has amount, currency
    and close date."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: DealOutcomeKind
    opportunity_id: str = Field(min_length=1, max_length=200)
    lead_id: str | None = Field(default=None, min_length=1, max_length=100)
    email: EmailStr | None = None
    account_domain: str | None = Field(default=None, min_length=3, max_length=253, pattern=r"^[^@\s/]+\.[^@\s/]+$")
    stage: str | None = Field(default=None, max_length=200)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=18, allow_inf_nan=False)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    close_date: date | None = None
    occurred_at: Instant | None = None


def _outcome_refused(field: str, reason: str) -> HTTPException:
    return HTTPException(422, detail={"error": "invalid request", "fields": [{"field": field, "reason": reason}]})


@router.post("/webhooks/{source}/outcomes", status_code=202, tags=["outcomes"], responses=responses(401))
async def crm_outcome(source: Annotated[str, Path(min_length=1, max_length=64)], hook: WebhookDep,
                      outcome: OutcomeIn, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """A CRM's outcome, as a Standard Webhooks delivery signed with this source's secret."""
    facts: dict[str, Any] = outcome.model_dump(exclude={"amount", "occurred_at"}, exclude_none=True)
    if outcome.amount is not None:
        if outcome.currency is None:
            raise _outcome_refused("currency", "required with an amount")
        try:
            facts["amount_minor"] = money.to_minor(outcome.amount, outcome.currency)
        except money.NotWholeMinorUnits as why:
            raise _outcome_refused("amount", str(why)) from None
    facts["occurred_at"] = _when(outcome.occurred_at, "occurred_at", deps)
    try:
        async with webhooks.receive_once(runtime, hook) as uow:
            reported = await handlers.report_outcome(deps, uow, source, hook.webhook_id, facts)
    except ValidationError as bad:
        fields = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]} for e in bad.errors()]
        raise HTTPException(422, detail={"error": "invalid request", "fields": fields}) from None
    return {"outcome_id": reported.event_id, "opportunity_id": reported.opportunity_id,
            "links": {"unmatched": "/v1/outcomes?matched=false"}}


def _outcome_view(o: Row) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime | date) else v) for k, v in dict(o).items()}


@router.get("/outcomes", dependencies=[allow(Role.marketing, Role.manager, Role.operator)], tags=["outcomes"])
async def list_outcomes(runtime: RuntimeDep, deps: DepsDep, matched: bool | None = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                        offset: Annotated[Count, Query()] = 0) -> dict[str, Any]:
    """Outcomes the CRM reported: ``matched=false`` lists those that match no lead yet."""
    async with runtime.pool.acquire() as conn:
        rows = await deps.leads.list_outcomes(conn, matched, limit, offset)
        unmatched = await deps.leads.count_unmatched(conn)
    return {"unmatched": unmatched, "outcomes": [_outcome_view(o) for o in rows]}


# --------------------------------------------------------------------------- list imports

imports_router = APIRouter(prefix="/v1", tags=["imports"])


class MappingIn(BaseModel):
    """Which column of a source's files fills each lead field (``{"email": "E-mail", ...}``);
    source and campaign are the import's, not a column's."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[Text, Text] = Field(min_length=1, max_length=50)


def _refused(problems: list[tuple[str, str]]) -> HTTPException:
    return HTTPException(422, detail={"error": "invalid request",
                                      "fields": [{"field": f, "reason": r} for f, r in problems]})


IMPORT = "/v1/imports/{import_id}"


@imports_router.put("/import-mappings/{source}", dependencies=[allow(Role.marketing, Role.operator)])
async def put_mapping(source: LeadSource, body: MappingIn, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """Save the column mapping of a source's imports (replacing the one saved)."""
    try:
        async with runtime.unit_of_work() as uow:
            await handlers.save_mapping(deps, uow, source.value, body.columns)
    except BadImport as bad:
        raise _refused(bad.problems) from None
    return {"source": source.value, "columns": body.columns}


@imports_router.get("/import-mappings/{source}", dependencies=[allow(Role.marketing, Role.operator)],
                    responses=responses(404))
async def get_mapping(source: LeadSource, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        columns = await deps.imports.mapping(conn, source.value)
    if columns is None:
        raise HTTPException(404, detail={"field": "source", "reason": f"no mapping saved for {source.value}"})
    return {"source": source.value, "columns": columns}


def _progress(row: Row) -> dict[str, Any]:
    return {"import_id": row["import_id"], "status": row["status"], "source": row["source"],
            "campaign": row["campaign"], "format": row["format"], "sha256": row["sha256"],
            "phase": "done" if row["status"] == "done" else
                     "validating" if row["position"] < row["total_rows"] else "capturing",
            "rows": row["total_rows"], "rows_read": row["position"], "accepted": row["accepted"],
            "rejected": row["rejected"], "new_leads": row["new_leads"], "known_people": row["known_people"],
            "duplicates_in_file": row["duplicates"], "created_at": row["created_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
            "links": {"self": f"/v1/imports/{row['import_id']}",
                      "rejections": f"/v1/imports/{row['import_id']}/rejections"}}


_TO_IMPORT = {"GetImport": link("GET", IMPORT, "the import's progress", import_id="$response.body#/import_id")}


@imports_router.post("/imports", dependencies=[allow(Role.marketing, Role.operator)], status_code=202, responses={
    **responses(links={202: _TO_IMPORT}),
    200: {"description": "this file was imported for this source and campaign already: that import",
          "links": _TO_IMPORT}})
async def upload_import(runtime: RuntimeDep, deps: DepsDep, file: Annotated[UploadFile, File()],
                        source: Annotated[LeadSource, Form()], campaign: Annotated[Text, Form(min_length=1)],
                        mapping: Annotated[str | None, Form(max_length=10_000)] = None) -> JSONResponse:
    """Upload a list (CSV with a header row, or JSONL; up to ``LEADBRIDGE_IMPORT_MAX_BYTES``,
    not the app-wide body limit) to import into ``campaign`` from ``source``: 202 with
    the import's id once the file's records are kept; its rows are
    imported in the background (``GET /v1/imports/{id}``). ``mapping`` (JSON: lead field
    -> column) defaults to the source's saved one. The same file for the same source
    and campaign is the same import: 200 with its id, nothing added."""
    fmt = file_format(file.filename, file.content_type)
    if fmt is None:
        raise _refused([("file", "is neither CSV (.csv) nor JSONL (.jsonl)")])
    columns: dict[str, str] | None = None
    if mapping is not None:
        try:
            columns = MappingIn.model_validate({"columns": orjson.loads(mapping)}).columns
        except orjson.JSONDecodeError:
            raise _refused([("mapping", "is not JSON")]) from None
        except ValidationError as bad:
            raise _refused([(".".join(str(p) for p in e["loc"][1:]) or "mapping", e["msg"])
                            for e in bad.errors()]) from None
    # The file was spooled to a temporary file as it arrived (above a megabyte, on disk);
    # it is hashed and then read piece by piece, never whole.
    digest = hashlib.sha256()
    while piece := await file.read(PIECE_BYTES):
        digest.update(piece)
    await file.seek(0)
    upload = handlers.Upload(file.file, digest.hexdigest(), fmt, source.value, campaign, columns)
    try:
        async with runtime.unit_of_work() as uow:
            started = await handlers.start_import(deps, uow, upload)
    except handlers.UnknownCampaign as unknown:
        raise _unknown_campaign(unknown) from None
    except BadImport as bad:
        raise _refused(bad.problems) from None
    return JSONResponse(status_code=200 if started.existing else 202, content={
        "import_id": started.import_id, "existing": started.existing,
        "links": {"self": f"/v1/imports/{started.import_id}"}})


def _no_import(import_id: str) -> HTTPException:
    return HTTPException(404, detail={"field": "import_id", "reason": f"no import {import_id}"})


@imports_router.get("/imports/{import_id}", dependencies=[allow(Role.marketing, Role.operator)],
                    responses=responses(404))
async def get_import(import_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        try:
            return _progress(await handlers.import_progress(deps, conn, import_id))
        except handlers.UnknownImport:
            raise _no_import(import_id) from None


@imports_router.get("/imports/{import_id}/rejections", dependencies=[allow(Role.marketing, Role.operator)], responses={
    **responses(404), 200: {"description": "the report (JSON), or its rejections as CSV (format=csv)",
                            "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}})
async def import_rejections(import_id: str, runtime: RuntimeDep, deps: DepsDep,
                            format: Literal["json", "csv"] = "json") -> Response:
    """The import's report: its counts and every rejected row's line, field and reason
    (``format=csv`` downloads the rejections as CSV)."""
    async with runtime.pool.acquire() as conn:
        try:
            progress = _progress(await handlers.import_progress(deps, conn, import_id))
        except handlers.UnknownImport:
            raise _no_import(import_id) from None
        rejected = [{"line": r["line"], "field": r["field"], "reason": r["reason"]}
                    for r in await deps.imports.rejections(conn, import_id)]
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["line", "field", "reason"])
        writer.writeheader()
        writer.writerows(rejected)
        return Response(out.getvalue(), media_type="text/csv", headers={
            "content-disposition": f'attachment; filename="import-{import_id}-rejections.csv"'})
    return JSONResponse({**progress, "rejections": rejected})


# --------------------------------------------------------------------------- privacy (GDPR)

privacy_router = APIRouter(prefix="/v1", tags=["privacy"])
Operator = Annotated[Principal, allow(Role.operator)]
EmailPath = Annotated[EmailStr, Path(description="the person's email address")]
ERASURE = "/v1/erasures/{erasure_id}"


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr


class ErasureConfirmationOut(BaseModel):
    service: str
    erased_at: datetime
    rows: int


class ErasureOut(BaseModel):
    """An erasure and its receipt: complete once every service has confirmed its part."""

    erasure_id: str
    lead_id: str
    reason: str
    status: Literal["pending", "complete"]
    requested_at: datetime
    key_destroyed_at: datetime
    completed_at: datetime | None
    confirmations: list[ErasureConfirmationOut]
    waiting_for: list[str]


@privacy_router.post("/erasures", status_code=202, response_model=ErasureOut, responses=responses(links={202: {
        "GetErasure": link("GET", ERASURE, "the erasure's receipt", erasure_id="$response.body#/erasure_id")}}))
async def erase_subject(body: ErasureIn, runtime: RuntimeDep, deps: DepsDep, who: Operator) -> ErasureOut:
    """Forget a person (a GDPR erasure request): their key is destroyed at once (nothing of
    theirs in Kafka opens from now on), every service removes them from its tables and
    confirms; ``GET /v1/erasures/{erasure_id}`` is the receipt."""
    async with runtime.unit_of_work() as uow:
        started = await handlers.request_erasure(deps, uow, str(body.email), who)
    return await _receipt(runtime, deps, started.erasure_id)


@privacy_router.get("/erasures/{erasure_id}", response_model=ErasureOut, responses=responses(404))
async def get_erasure(erasure_id: Annotated[Text, Path()], runtime: RuntimeDep, deps: DepsDep,
                      _: Operator) -> ErasureOut:
    """An erasure's receipt: every service's confirmation and when, and whom it waits for."""
    return await _receipt(runtime, deps, erasure_id)


async def _receipt(runtime: Any, deps: CaptureDeps, erasure_id: str) -> ErasureOut:
    try:
        async with runtime.pool.acquire() as conn:
            receipt = await handlers.erasure_receipt(deps, conn, erasure_id)
    except handlers.UnknownErasure:
        raise HTTPException(404, detail={"field": "erasure_id", "reason": f"no erasure {erasure_id}"}) from None
    e = receipt.erasure
    return ErasureOut(erasure_id=e["erasure_id"], lead_id=e["lead_id"], reason=e["reason"],
                      status="complete" if e["completed_at"] is not None else "pending",
                      requested_at=e["requested_at"], key_destroyed_at=e["key_destroyed_at"],
                      completed_at=e["completed_at"], waiting_for=list(receipt.waiting_for),
                      confirmations=[ErasureConfirmationOut(service=c["service"], erased_at=c["erased_at"],
                                                            rows=c["rows"]) for c in receipt.confirmations])


@privacy_router.post("/subjects/{email}/consent-withdrawal", status_code=202)
async def withdraw_consent(email: EmailPath, runtime: RuntimeDep, deps: DepsDep, who: Operator) -> dict[str, str]:
    """The person withdrew consent: every message and task for them stops at once, in
    every service (``consent-withdrawn``)."""
    async with runtime.unit_of_work() as uow:
        lead_id = await handlers.withdraw_consent(deps, uow, str(email), who)
    return {"lead_id": lead_id, "status": "withdrawn"}


@privacy_router.get("/subjects/{email}/export", responses=responses(502))
async def export_subject(email: EmailPath, request: Request, runtime: RuntimeDep, deps: DepsDep,
                         who: Operator) -> dict[str, Any]:
    """Everything Leadbridge holds about a person (a GDPR subject access request), as one
    document: capture's part and every other service's (each asked with the caller's
    credentials). A 502 names a service that did not give its part."""
    async with runtime.unit_of_work() as uow:
        lead_id = await handlers.person_of(deps, uow, str(email))
        parts = {"capture": await handlers.export_part(deps, uow, lead_id, who)}
    try:
        others = await privacy_api.gather(deps.peer_urls, lead_id, request.headers.get("authorization"))
    except privacy_api.PartMissing as missing:
        raise HTTPException(502, detail={"field": missing.service, "reason": missing.reason}) from None
    services = {name: part.tables for name, part in {**parts, **others}.items()}
    return {"email": normalise_email(str(email)), "lead_id": lead_id, "exported_at": utcnow().isoformat(),
            "services": services}
