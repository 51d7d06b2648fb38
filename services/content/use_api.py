"""Content's HTTP edge for collateral in use: reps report usage and rate items; marketing
reads effectiveness and the revise / prune / expand report, publishes each segment's
value proposition and reads the one-message check. (A rep is named by ``rep_id`` in the
request until sign-in exists.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from services.content import use_handlers
from services.content.domain.effectiveness import Comparison, Figures, ItemEffectiveness
from services.content.handlers import ContentDeps
from services.content.use_handlers import Refusal, SegmentReport
from shared.auth import PEOPLE, Principal, Role, acting_rep, allow
from shared.handling import UnitOfWork
from shared.responses import responses
from shared.service import RuntimeDep, get_deps

router = APIRouter(prefix="/v1", tags=["collateral in use"])

DepsDep = Annotated[ContentDeps, Depends(get_deps)]
# Reps, their managers and marketing report how collateral is used; a rep's token speaks only for that rep.
UserDep = Annotated[Principal, allow(Role.rep, Role.manager, Role.marketing)]
# Reads behind the manager's, marketing's and the operator's boards (no personal data of a lead)
BOARDS = allow(Role.marketing, Role.manager, Role.sales_approver, Role.operator)

T = TypeVar("T")
Id = Annotated[str, Field(min_length=1, max_length=200)]


class UsageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["shared", "viewed", "used_in_meeting"]
    rep_id: Id = Field(description="the rep reporting it (until sign-in exists)")
    lead_id: Id | None = Field(default=None, description="the lead it was shared with or shown to")
    usage_id: Id | None = Field(default=None, description="the client's id: a retried report counts once")


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rep_id: Id
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)


class ValuePropositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=5000)
    author: Id = Field(description="the marketer publishing it")


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rep_id: Id
    team: Id
    text: str = Field(min_length=1, max_length=5000, description='the rep\'s answer to "what is your value '
                                                                 'proposition?"')


async def _run(runtime: RuntimeDep, command: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    try:
        async with runtime.unit_of_work() as uow:
            return await command(uow)
    except Refusal as refused:
        raise HTTPException(refused.status, detail={"field": refused.field, "reason": refused.reason}) from None


@router.post("/collateral/{item_id}/usage", status_code=201, responses=responses(404, 409))
async def report_usage(item_id: str, usage: UsageIn, who: UserDep, runtime: RuntimeDep,
                       deps: DepsDep) -> dict[str, Any]:
    rep_id = acting_rep(who, usage.rep_id) or usage.rep_id
    return await _run(runtime, lambda uow: use_handlers.report_usage(
        deps, uow, item_id, usage.kind, rep_id, usage.lead_id, usage.usage_id))


@router.post("/collateral/{item_id}/ratings", status_code=201, responses=responses(404, 409))
async def rate(item_id: str, rating: RatingIn, who: UserDep, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    rep_id = acting_rep(who, rating.rep_id) or rating.rep_id
    return await _run(runtime, lambda uow: use_handlers.rate(deps, uow, item_id, rep_id, rating.rating,
                                                              rating.comment))


def _figures(f: Figures) -> dict[str, Any]:
    return asdict(f)


def _comparison(c: Comparison) -> dict[str, Any]:
    return {"shared": _figures(c.shared), "not_shared": _figures(c.not_shared),
            "cohorts": [{"segment": s, "stage": st} for s, st in c.cohorts], "win_rate_lift": c.win_rate_lift}


def _effectiveness(m: ItemEffectiveness) -> dict[str, Any]:
    return {"item_id": m.item_id, "overall": _comparison(m.overall),
            "by_segment": {s: _comparison(c) for s, c in m.by_segment.items()}}


@router.get("/reports/effectiveness",
            dependencies=[BOARDS])
async def effectiveness(runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """Every live or shared item: deals it was shared on against comparable deals it was not."""
    measured = await _run(runtime, lambda uow: use_handlers.effectiveness(deps, uow))
    return {"items": [_effectiveness(m) for m in measured]}


@router.get("/collateral/{item_id}/effectiveness", dependencies=[BOARDS], responses=responses(404))
async def item_effectiveness(item_id: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    async def one(uow: UnitOfWork) -> ItemEffectiveness:
        await use_handlers.known_item(deps, uow, item_id)
        (measured,) = await use_handlers.effectiveness(deps, uow, [item_id])
        return measured
    return _effectiveness(await _run(runtime, one))


@router.get("/reports/upkeep", dependencies=[BOARDS])
async def upkeep(runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """What marketing should revise (low ratings), prune (unused) and expand (winning, little content)."""
    report = await _run(runtime, lambda uow: use_handlers.upkeep_report(deps, uow))
    return {"thresholds": asdict(deps.upkeep_thresholds), **asdict(report)}


def _message(row: Any) -> dict[str, Any]:
    return {"segment": row["segment"], "version": row["version"], "text": row["text"], "author": row["author"],
            "published_at": row["published_at"].isoformat()}


@router.post("/value-propositions/{segment}", dependencies=[allow(Role.marketing)], status_code=201)
async def publish_value_proposition(segment: str, body: ValuePropositionIn, runtime: RuntimeDep,
                                    deps: DepsDep) -> dict[str, Any]:
    """Marketing publishes the segment's value proposition; each publication is a new version."""
    row = await _run(runtime, lambda uow: use_handlers.publish_value_proposition(deps, uow, segment, body.text,
                                                                                 body.author))
    return _message(row)


@router.get("/value-propositions/{segment}", dependencies=[allow(*PEOPLE)], responses=responses(404))
async def value_propositions(segment: str, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """The segment's value proposition, every version, newest first."""
    async with runtime.pool.acquire() as conn:
        rows = await deps.use.messages(conn, segment)
    if not rows:
        raise HTTPException(404, detail={"field": "segment", "reason": f"no value proposition for {segment!r}"})
    return {"segment": segment, "versions": [_message(r) for r in rows]}


@router.post("/value-propositions/{segment}/answers", status_code=201, responses=responses(409))
async def answer(segment: str, body: AnswerIn, who: UserDep, runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
    """A rep answers "what is your value proposition?" for the segment."""
    rep_id = acting_rep(who, body.rep_id) or body.rep_id
    row = await _run(runtime, lambda uow: use_handlers.answer_value_proposition(deps, uow, segment, rep_id,
                                                                                body.team, body.text))
    return {"answer_id": row["answer_id"], "segment": row["segment"], "rep_id": row["rep_id"], "team": row["team"],
            "message_version": row["message_version"], "at": row["at"].isoformat()}


def _segment_report(r: SegmentReport) -> dict[str, Any]:
    send = [{"item_id": i, "title": t, "kind": k} for i, t, k in r.send]
    return {
        "segment": r.segment, "message_version": r.message["version"], "key_terms": list(r.result.key_terms),
        "consistency": r.result.consistency,
        "teams": [{"team": t.team, "consistency": t.consistency, "answers": [asdict(a) for a in t.answers],
                   "outliers": [{"rep_id": o.rep_id, "consistency": o.consistency,
                                 "missing_terms": list(o.missing_terms), "send": send} for o in t.outliers]}
                  for t in r.teams]}


@router.get("/reports/one-message", dependencies=[allow(Role.marketing, Role.manager, Role.operator)],
            responses=responses(404))
async def one_message(runtime: RuntimeDep, deps: DepsDep,
                      segment: Annotated[str | None, Query(min_length=1)] = None,
                      team: Annotated[str | None, Query(min_length=1)] = None) -> dict[str, Any]:
    """Per segment and team: how consistent the reps' answers are with the published message
    and with each other, the outliers, the key terms they miss and what to send them."""
    reports = await _run(runtime, lambda uow: use_handlers.one_message(deps, uow, segment, team))
    return {"segments": [_segment_report(r) for r in reports]}
