"""Scoring's HTTP edge: the score ledger of a lead, the grade distribution and the
rubric workflow.

Routes validate and translate; the rubric rules live in ``domain.lifecycle`` and the
commands in ``handlers``. Every 4xx is the one error model ``{"error", "fields":
[{"field", "reason"}]}`` (shared.responses); a bad rubric names each place in the document.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from services.scoring import handlers
from services.scoring.domain.lifecycle import LifecycleError, NotApproved, RubricVersion
from services.scoring.domain.rubric import Problem, RubricDocument, RubricError, parse_rubric, parse_rubric_data
from services.scoring.handlers import ScoringDeps
from services.scoring.repository import StoredRubric, VersionExists
from shared.auth import Principal, Role, allow, allow_lead, forbidden
from shared.events import GRADES
from shared.responses import link, responses
from shared.service import RuntimeDep, get_deps
from shared.validation import Text


class ApprovalIn(BaseModel):
    """One side's sign-off; the signer is the caller (the token's subject), and the side
    must be one their roles speak for: marketing for ``marketing``, sales_approver for ``sales``."""

    model_config = ConfigDict(extra="forbid")

    side: Literal["marketing", "sales"]


SIDE_ROLES: dict[str, Role] = {"marketing": Role.marketing, "sales": Role.sales_approver}


def _invalid_rubric(problems: list[Problem]) -> JSONResponse:
    return JSONResponse(status_code=422, content={
        "error": "invalid rubric", "fields": [{"field": p.field, "reason": p.reason} for p in problems]})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def rubric_view(meta: RubricVersion, stored: StoredRubric | None = None, document: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "version": meta.version, "status": meta.status, "created_by": meta.created_by,
        "created_at": _iso(meta.created_at), "activated_at": _iso(meta.activated_at),
        "activated_by": meta.activated_by, "retired_at": _iso(meta.retired_at),
        "approvals": [{"approver": a.approver, "side": a.side, "approved_at": _iso(a.approved_at)}
                      for a in meta.approvals],
        "missing_approvals": meta.missing_sides if meta.status in ("draft", "approved") else [],
    }
    if stored is not None:
        view["description"] = stored.description
        if document:
            view["document"] = stored.document
    return view


DepsDep = Annotated[ScoringDeps, Depends(get_deps)]
# Reads behind the manager's, marketing's and the operator's boards (no personal data of a lead)
BOARDS = allow(Role.marketing, Role.manager, Role.sales_approver, Role.operator)


router = APIRouter(prefix="/v1", tags=["scoring"])


@router.get("/leads/{lead_id}/score", dependencies=[allow_lead(Role.marketing, Role.manager, Role.operator)],
            responses=responses(404))
async def lead_score(lead_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """The lead's latest grade with its ledger: every contribution (rule, points,
    evidence event, rubric version, decay) — they sum to the score."""
    try:
        async with runtime.unit_of_work() as uow:
            row = await handlers.score_view(deps, uow, lead_id)
    except handlers.UnknownLead as exc:
        reason = "engagement recorded, but the lead has not been captured yet" if exc.pending else "unknown lead"
        raise HTTPException(404, detail={"field": "lead_id", "reason": reason}) from None
    ledger = orjson.loads(row["ledger"])
    for line in ledger:
        if line["occurred_at"] is not None:
            line["occurred_at"] = datetime.fromtimestamp(line["occurred_at"], UTC).isoformat()
    return {
        "lead_id": row["lead_id"], "score": row["score"], "fit_score": row["fit_score"],
        "engagement_score": row["engagement_score"], "grade": row["grade"], "hot": row["hot"],
        "disqualified": row["disqualified"], "segment": row["segment"], "rubric_version": row["rubric_version"],
        "as_of": _iso(row["as_of"]), "scored_at": _iso(row["scored_at"]), "cause_event_id": row["cause_event_id"],
        "campaign": row["campaign"], "source": row["source"], "overrides": orjson.loads(row["overrides"]),
        "ledger": ledger, "ledger_total": math.fsum(c["points"] for c in ledger),
    }


@router.get("/grades", dependencies=[BOARDS])
async def grade_distribution(
        runtime: RuntimeDep, deps: DepsDep,
        by: Annotated[Literal["campaign", "source", "segment", "rubric_version"] | None,
                      Query(description="break the counts down by this")] = None,
        campaign: Annotated[Text | None, Query()] = None,
        source: Annotated[Text | None, Query()] = None,
        segment: Annotated[Text | None, Query()] = None) -> dict[str, Any]:
    """How many leads hold each grade now, overall and (with ``by``) per campaign,
    source, segment or rubric version; filters narrow it to one campaign (say, a
    trade show), source or segment."""
    async with runtime.unit_of_work() as uow:
        groups = await handlers.grade_counts(deps, uow, by, campaign=campaign, source=source, segment=segment)
    overall = {g: sum(counts[g] for counts in groups.values()) for g in GRADES}
    return {
        "by": by, "filters": {"campaign": campaign, "source": source, "segment": segment},
        "total": sum(overall.values()), "grades": overall,
        "groups": [] if by is None else [{"key": key, "total": sum(g.values()), "grades": g}
                                        for key, g in groups.items()],
    }


VERSION = "/v1/rubrics/{version}"
BY_VERSION = "$response.body#/version"


@router.post("/rubrics", status_code=201, responses=responses(409, links={201: {
    "GetRubric": link("GET", VERSION, "the draft created", version=BY_VERSION),
    "ApproveRubric": link("POST", VERSION + "/approvals", "a sign-off of the draft", version=BY_VERSION),
    "ActivateRubric": link("POST", VERSION + "/activation", "make the draft live", version=BY_VERSION)}}),
    openapi_extra={"requestBody": {"content": {
    "application/yaml": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object"}}}, "required": True}})
async def create_rubric(request: Request, runtime: RuntimeDep, deps: DepsDep,
                        who: Annotated[Principal, allow(Role.marketing)]) -> Any:
    """Create a draft rubric version from a YAML document (any non-JSON content type)
    or the same document as a JSON object, as the caller. 422 names each bad place; 409
    if the version exists."""
    body = await request.body()
    try:
        document: RubricDocument
        if request.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
            try:
                raw = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return _invalid_rubric([Problem(field="document", reason=f"not valid JSON: {exc}")])
            document, text = parse_rubric_data(raw), body.decode()
        else:
            text = body.decode(errors="replace")
            document = parse_rubric(text)
    except RubricError as exc:
        return _invalid_rubric(exc.problems)
    try:
        async with runtime.unit_of_work() as uow:
            stored = await handlers.create_draft(deps, uow, document, text, who)
    except VersionExists:
        raise HTTPException(409, detail={"field": "version", "reason": f"rubric version {document.version} "
                                          "already exists; give the draft a new version"}) from None
    return rubric_view(stored.meta, stored)


@router.get("/rubrics", dependencies=[BOARDS])
async def rubric_history(runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """Every version with its status, approvers and times, and every activation."""
    async with runtime.unit_of_work() as uow:
        history, activations = await handlers.rubric_history(deps, uow)
    return {"versions": [rubric_view(s.meta, s) for s in history],
            "activations": [{"version": a["version"], "previous_version": a["previous_version"],
                             "activated_by": a["activated_by"], "activated_at": _iso(a["activated_at"])}
                            for a in activations]}


async def _rubric_document(runtime: RuntimeDep, deps: ScoringDeps, version: str | None,
                           missing: str) -> dict[str, Any]:
    try:
        async with runtime.unit_of_work() as uow:
            stored = await handlers.rubric(deps, uow, version)
    except handlers.UnknownRubric:
        raise HTTPException(404, detail={"field": "version", "reason": missing}) from None
    return rubric_view(stored.meta, stored, document=True)


@router.get("/rubrics/active", dependencies=[BOARDS], responses=responses(404))
async def active_rubric(runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """The version grading live traffic, with its document."""
    return await _rubric_document(runtime, deps, None, "no rubric is active")


@router.get("/rubrics/{version}", dependencies=[BOARDS], responses=responses(404))
async def get_rubric(version: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """One version, with its document."""
    return await _rubric_document(runtime, deps, version, "unknown rubric version")


@router.post("/rubrics/{version}/approvals", status_code=201, responses=responses(404, 409, links={201: {
    "ActivateRubric": link("POST", VERSION + "/activation", "make it live once both sides signed",
                           version=BY_VERSION)}}))
async def approve_rubric(version: str, body: ApprovalIn, runtime: RuntimeDep, deps: DepsDep,
                         who: Annotated[Principal, allow(Role.marketing, Role.sales_approver)]) -> dict[str, Any]:
    """The caller signs off for marketing (role marketing) or for sales (role
    sales_approver); one person cannot sign for both sides (409)."""
    if not who.has(SIDE_ROLES[body.side]):
        raise forbidden(f"signing for {body.side} needs the role {SIDE_ROLES[body.side]}")
    try:
        async with runtime.unit_of_work() as uow:
            meta = await handlers.approve(deps, uow, version, who, body.side)
    except handlers.UnknownRubric:
        raise HTTPException(404, detail={"field": "version", "reason": "unknown rubric version"}) from None
    except LifecycleError as exc:
        raise HTTPException(409, detail={"field": "approver", "reason": str(exc)}) from None
    return rubric_view(meta)


@router.post("/rubrics/{version}/activation", responses=responses(404, 409))
async def activate_rubric(version: str, runtime: RuntimeDep, deps: DepsDep,
                          who: Annotated[Principal, allow(Role.marketing, Role.sales_approver, Role.operator)]) -> Any:
    """Make an approved version grade live traffic, as the caller (409 unless both sides
    approved)."""
    try:
        async with runtime.unit_of_work() as uow:
            meta = await handlers.activate(deps, uow, version, who)
    except handlers.UnknownRubric:
        raise HTTPException(404, detail={"field": "version", "reason": "unknown rubric version"}) from None
    except NotApproved as exc:
        missing = [{"field": f"approvals.{side}", "reason": f"{side} has not approved"} for side in exc.missing]
        raise HTTPException(409, detail={"error": str(exc), "fields": missing}) from None
    except LifecycleError as exc:
        raise HTTPException(409, detail={"field": "version", "reason": str(exc)}) from None
    except RubricError as exc:  # stored before a rule changed; never let it grade
        return _invalid_rubric(exc.problems)
    return rubric_view(meta)
