"""Routing's HTTP edge, for sales managers (organisation, rules, queues) and for reps on
their phones (their open leads, one call per follow-up, away/available). Routes validate
and translate; handlers decide. Answers are small JSON documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from services.routing import handlers
from services.routing.domain.compliance import Compliance
from services.routing.domain.config import ConfigInvalid
from services.routing.domain.followup import FollowUpRefused, NoteRequired, NotTheOwner
from services.routing.domain.lifecycle import ActiveAssignment
from services.routing.domain.sla import seconds_left
from services.routing.handlers import RoutingDeps
from services.routing.repository import Row
from shared.auth import Caller, Principal, Role, allow, forbidden
from shared.events import FollowUpOutcome
from shared.responses import link, responses
from shared.service import RuntimeDep, get_deps
from shared.validation import Count, Instant, LongText, Text


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rep_id: Text | None = Field(default=None, min_length=1,
                                description="the rep who followed up (default: the token's rep_id)")
    outcome: FollowUpOutcome
    note: LongText = Field(default="", description="required when disqualifying: the reason")


class TakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rep_id: str = Field(min_length=1, max_length=100, description="the rep who gets the lead")
    assignment_id: str | None = Field(default=None, min_length=1, max_length=100,
                                      description="this queued lead (its assignment); default: the most urgent")


class AwayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: Instant = Field(alias="from")
    end: Instant = Field(alias="to")
    reason: Text = ""


class CapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capacity: int = Field(ge=0, le=100_000, description="most open leads held at once")


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    away: list[AwayIn] = Field(default_factory=list, max_length=50, description="empty: available now")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _config_error(exc: ConfigInvalid) -> HTTPException:
    return HTTPException(422, detail={"error": "invalid configuration; the live one is unchanged",
                                      "fields": [e.as_dict() for e in exc.errors]})


def _next(row: ActiveAssignment | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"assignment_id": row.assignment_id, "owner_kind": row.owner_kind, "rep_id": row.rep_id,
            "team": row.team, "due_at": _iso(row.due_at), "rule": row.rule, "reason": row.reason}


DepsDep = Annotated[RoutingDeps, Depends(get_deps)]

router = APIRouter(prefix="/v1", tags=["routing"])


async def _change(runtime: RuntimeDep, deps: RoutingDeps, kind: Literal["org", "rules"], document: dict[str, Any],
                  expected_version: int | None, who: Principal) -> dict[str, Any]:
    try:
        async with runtime.unit_of_work() as uow:
            await handlers.change_config(deps, uow, kind, document, f"{kind} replaced over HTTP",
                                         who.name or who.subject, expected_version, who=who)
            version, _ = await handlers.live_document(deps, uow, kind)
    except ConfigInvalid as exc:
        raise _config_error(exc) from None
    except handlers.Conflict as exc:
        raise HTTPException(409, detail={"field": "expected_version", "reason": str(exc)}) from None
    return {"kind": kind, "version": version}


def _managed_teams(who: Principal) -> frozenset[str] | None:
    """The teams ``who`` may see and change the board of: every team for an operator,
    the token's ``teams`` for a manager."""
    return None if who.has(Role.operator) else who.teams


def _may_manage(who: Principal, team: str) -> None:
    teams = _managed_teams(who)
    if teams is not None and team not in teams:
        raise forbidden(f"team '{team}' is not one you manage ({', '.join(sorted(teams)) or 'none'})")


TeamBoard = Annotated[Principal, allow(Role.manager, Role.operator)]


def _not_found(field_name: str, exc: handlers.NotFound) -> HTTPException:
    return HTTPException(404, detail={"field": field_name, "reason": str(exc)})


# Who sees which leads (shared.principal.Principal.may_see): a rep their own, a manager their
# teams', an operator every one. A rep id in the path that is not the caller's (or not in
# their teams) is a 403; an assignment or a lead they may not see is a 404, like one that
# does not exist.
def _not_yours(exc: handlers.NotYours) -> HTTPException:
    return HTTPException(403, detail={"error": "forbidden", "field": exc.field, "reason": str(exc)})


# ------------------------------------------------------------------ organisation and rules


def _live_document_routes(kind: Literal["org", "rules"], noun: str, read_doc: str, replace_doc: str) -> None:
    """``GET /v1/<kind>`` (the live document and its version) and ``PUT /v1/<kind>`` (its
    replacement, refused whole with 422 or, on a stale ``expected_version``, 409)."""
    put_link = link("PUT", f"/v1/{kind}", f"the same {noun}, unchanged", request_body=f"$response.body#/{kind}",
                    expected_version="$response.body#/version")

    @router.get(f"/{kind}", name=f"get_{kind}", description=read_doc,
                dependencies=[allow(Role.manager, Role.marketing, Role.operator)],
                responses=responses(links={200: {f"Put{kind.title()}": put_link}}))
    async def read(runtime: RuntimeDep, deps: DepsDep) -> dict[str, Any]:
        async with runtime.unit_of_work() as uow:
            version, document = await handlers.live_document(deps, uow, kind)
        return {"version": version, kind: document}

    @router.put(f"/{kind}", name=f"put_{kind}", description=replace_doc, responses=responses(409))
    async def replace(runtime: RuntimeDep, deps: DepsDep, document: dict[str, Any],
                      who: Annotated[Principal, allow(Role.operator)],
                      expected_version: Count | None = Query(default=None)) -> dict[str, Any]:
        return await _change(runtime, deps, kind, document, expected_version, who)


_live_document_routes("org", "organisation", "The live sales organisation and its version.",
                      "Replace the organisation; 422 lists every problem and leaves the live one as it was.")
_live_document_routes("rules", "rules", "The live routing rules, in evaluation order, and their version.",
                      "Replace the rules; validated against the live organisation.")


# ------------------------------------------------------------------ reps


@router.get("/reps", dependencies=[allow(Role.manager, Role.operator)], responses=responses(links={200: {
    "RepAssignments": link("GET", "/v1/reps/{rep_id}/assignments", "the first rep's open leads",
                           rep_id="$response.body#/reps/0/rep_id"),
    "RepAvailability": link("PUT", "/v1/reps/{rep_id}/availability", "set the first rep's away periods",
                            rep_id="$response.body#/reps/0/rep_id")}}))
async def list_reps(runtime: RuntimeDep, deps: DepsDep, viewer: Caller) -> dict[str, Any]:
    """Every rep with team, open leads against capacity and whether away now."""
    async with runtime.unit_of_work() as uow:
        reps = await handlers.rep_statuses(deps, uow, viewer)
    return {"reps": [{"rep_id": r.rep_id, "name": r.name, "team": r.team, "open": r.open, "capacity": r.capacity,
                      "weight": r.weight, "away": r.away, "working": r.working} for r in reps]}


@router.put("/reps/{rep_id}/availability", responses=responses(403, 404))
async def put_availability(rep_id: str, body: AvailabilityIn, runtime: RuntimeDep, deps: DepsDep,
                           who: TeamBoard) -> dict[str, Any]:
    """Set a rep's away periods (``{"away": []}`` = available; a manager: a rep of a team
    they manage). Takes effect at once."""
    away = [{"from": a.start.isoformat(), "to": a.end.isoformat(), "reason": a.reason} for a in body.away]
    try:
        async with runtime.unit_of_work() as uow:
            await handlers.set_availability(deps, uow, rep_id, away, who.name or who.subject,
                                            teams=_managed_teams(who), who=who)
    except handlers.NotFound as exc:
        raise _not_found("rep_id", exc) from None
    except handlers.NotInTeam as exc:
        raise forbidden(str(exc)) from None
    except ConfigInvalid as exc:
        raise _config_error(exc) from None
    return {"rep_id": rep_id, "away": away}


@router.put("/reps/{rep_id}/capacity", responses=responses(403, 404))
async def put_capacity(rep_id: str, body: CapacityIn, runtime: RuntimeDep, deps: DepsDep,
                       who: TeamBoard) -> dict[str, Any]:
    """Change how many open leads a rep holds at most (a manager: a rep of a team they
    manage). Takes effect at once; 422 if the organisation would not validate (a rule's
    only team left with no capacity, say)."""
    try:
        async with runtime.unit_of_work() as uow:
            await handlers.set_capacity(deps, uow, rep_id, body.capacity, who.name or who.subject,
                                        teams=_managed_teams(who), who=who)
    except handlers.NotFound as exc:
        raise _not_found("rep_id", exc) from None
    except handlers.NotInTeam as exc:
        raise forbidden(str(exc)) from None
    except ConfigInvalid as exc:
        raise _config_error(exc) from None
    return {"rep_id": rep_id, "capacity": body.capacity}


@router.get("/reps/{rep_id}/assignments", dependencies=[allow(Role.rep, Role.manager, Role.operator)],
            responses=responses(404, links={200: {
    "GetAssignment": link("GET", "/v1/assignments/{assignment_id}", "the most urgent one",
                          assignment_id="$response.body#/assignments/0/assignment_id")}}))
async def rep_assignments(rep_id: str, runtime: RuntimeDep, deps: DepsDep, viewer: Caller) -> dict[str, Any]:
    """A rep's open leads, most urgent first, with the time left on each clock (a rep's
    token: their own only, another rep's id is a 403; a manager's: their teams' reps)."""
    try:
        async with runtime.unit_of_work() as uow:
            config, rows = await handlers.rep_open_assignments(deps, uow, rep_id, viewer)
    except handlers.NotYours as exc:
        raise _not_yours(exc) from None
    except handlers.NotFound as exc:
        raise _not_found("rep_id", exc) from None
    now = deps.clock()
    items = []
    for r in rows:
        profile, facts = r["profile"], r["facts"]
        left = seconds_left(config, rep_id, r["team"], now, r["due_at"]) if r["status"] == "open" else None
        items.append({"assignment_id": r["assignment_id"], "lead_id": r["lead_id"], "status": r["status"],
                      "name": profile.get("name"), "company": profile.get("company"),
                      "phone": profile.get("phone"), "email": profile.get("email"),
                      "grade": facts.get("grade"), "segment": facts.get("segment"),
                      "due_at": _iso(r["due_at"]), "seconds_left": left,
                      "overdue": left is not None and left <= 0, "rule": r["rule"]})
    return {"rep_id": rep_id, "open": len(items), "assignments": items}


# ------------------------------------------------------------------ follow-ups


IdempotencyHeader = Annotated[Text | None, Header(alias="Idempotency-Key", min_length=1,
                                                  description="the client's own id for this follow-up: "
                                                              "a retry with it is recorded once")]


@router.post("/assignments/{assignment_id}/follow-ups", dependencies=[allow(Role.rep, Role.manager)],
             status_code=201, responses=responses(403, 404, 409))
async def post_follow_up(assignment_id: str, body: FollowUpIn, runtime: RuntimeDep, deps: DepsDep, viewer: Caller,
                         idempotency_key: IdempotencyHeader = None) -> dict[str, Any]:
    """Record a follow-up (one call from a phone). ``qualified`` from inside sales hands
    the lead to a field rep; ``disqualified`` (note = reason) sends it to nurture. Sent
    again with the same ``Idempotency-Key``, it is not recorded twice: the answer is the
    first one's, with ``repeat: true``. The rep is the token's unless ``rep_id`` says
    otherwise (a manager recording for their rep); an assignment the caller may not see
    is a 404."""
    rep_id = body.rep_id or viewer.rep_id
    if rep_id is None:
        raise HTTPException(422, detail={"field": "rep_id", "reason": "required: this token names no rep"})
    try:
        async with runtime.unit_of_work() as uow:
            result = await handlers.record_follow_up(deps, uow, assignment_id, rep_id, body.outcome, body.note,
                                                     idempotency_key, viewer=viewer)
    except handlers.NotFound as exc:
        raise _not_found("assignment_id", exc) from None
    except handlers.KeyReused as exc:
        raise HTTPException(409, detail={"field": exc.field, "reason": str(exc)}) from None
    except FollowUpRefused as exc:
        status = 403 if isinstance(exc, NotTheOwner) else 422 if isinstance(exc, NoteRequired) else 409
        raise HTTPException(status, detail={"field": exc.field, "reason": exc.reason}) from None
    return {"follow_up_id": result.follow_up_id, "on_time": result.on_time, "status": result.status,
            "next": _next(result.next_assignment), "repeat": result.repeat}


@router.get("/assignments/{assignment_id}", dependencies=[allow(Role.rep, Role.manager, Role.operator)],
            responses=responses(404, links={200: {
    "FollowUp": link("POST", "/v1/assignments/{assignment_id}/follow-ups", "record a follow-up",
                     assignment_id="$response.body#/assignment_id"),
    "LeadRouting": link("GET", "/v1/leads/{lead_id}/routing", "the lead's routing history",
                        lead_id="$response.body#/lead_id")}}))
async def get_assignment(assignment_id: str, runtime: RuntimeDep, deps: DepsDep, viewer: Caller) -> dict[str, Any]:
    """One assignment (404 for one the caller may not see)."""
    try:
        async with runtime.unit_of_work() as uow:
            row = await handlers.assignment(deps, uow, assignment_id, viewer)
    except handlers.NotFound as exc:
        raise _not_found("assignment_id", exc) from None
    return _assignment_json(row)


# ------------------------------------------------------------------ leads and queues


@router.get("/leads/{lead_id}/routing", dependencies=[allow(Role.rep, Role.manager, Role.operator)],
            responses=responses(404))
async def lead_routing(lead_id: str, runtime: RuntimeDep, deps: DepsDep, viewer: Caller) -> dict[str, Any]:
    """Every routing decision for a lead (rule, candidates, skips, winner), its
    assignments and follow-ups, and its current owner."""
    try:
        async with runtime.unit_of_work() as uow:
            history = await handlers.lead_routing(deps, uow, lead_id, viewer)
    except handlers.NotFound as exc:
        raise _not_found("lead_id", exc) from None
    return {
        "lead_id": lead_id,
        "owner": _assignment_json(history.owner) if history.owner else None,
        "assignments": [_assignment_json(a) for a in history.assignments],
        "decisions": [{"assignment_id": d["assignment_id"], "decided_at": _iso(d["decided_at"]),
                       "trigger": d["trigger"], **d["detail"]} for d in history.decisions],
        "follow_ups": [{"follow_up_id": f["follow_up_id"], "assignment_id": f["assignment_id"],
                        "rep_id": f["rep_id"], "outcome": f["outcome"], "note": f["note"],
                        "on_time": f["on_time"], "recorded_at": _iso(f["recorded_at"])} for f in history.follow_ups],
    }


@router.get("/queues", dependencies=[allow(Role.manager, Role.operator)])
async def queues(runtime: RuntimeDep, deps: DepsDep, viewer: Caller,
                 per_team: int = Query(default=20, ge=1, le=500)) -> dict[str, Any]:
    """Leads waiting in each team's queue because no rep could take them."""
    async with runtime.unit_of_work() as uow:
        teams, rows = await handlers.queues(deps, uow, per_team, viewer)
    out: dict[str, dict[str, Any]] = {t: {"team": t, "queued": 0, "leads": []} for t in teams}
    for r in rows:
        q = out.setdefault(r["team"], {"team": r["team"], "queued": 0, "leads": []})
        q["queued"] = r["queued"]
        q["leads"].append({"assignment_id": r["assignment_id"], "lead_id": r["lead_id"],
                           "queued_at": _iso(r["assigned_at"]), "due_at": _iso(r["due_at"]),
                           "attempt": r["attempt"], "reason": r["reason"]})
    return {"queues": list(out.values())}


@router.post("/queues/{team}/take", dependencies=[allow(Role.rep, Role.manager)],
             status_code=201, responses=responses(403, 404, 409, links={201: {
    "Assignment": link("GET", "/v1/assignments/{assignment_id}", "the assignment the rep took",
                       assignment_id="$response.body#/assignment/assignment_id"),
    "LeadRouting": link("GET", "/v1/leads/{lead_id}/routing", "the lead's routing history",
                        lead_id="$response.body#/lead_id")}}))
async def take_from_queue(team: str, body: TakeIn, runtime: RuntimeDep, deps: DepsDep,
                          viewer: Caller) -> dict[str, Any]:
    """A rep (or their manager, for them) takes the most urgent lead waiting in their
    team's queue: it is theirs, with its clock started now, and the decision is recorded
    (naming the signed-in caller when it is not the rep). 404 for an unknown team or rep,
    403 for a rep of another team, 409 for an empty queue."""
    taken_by = "" if viewer.rep_id == body.rep_id else viewer.name or viewer.subject
    try:
        async with runtime.unit_of_work() as uow:
            row = await handlers.take_from_queue(deps, uow, team, body.rep_id, taken_by, body.assignment_id,
                                                 viewer=viewer)
    except handlers.NotYours as exc:
        raise _not_yours(exc) from None
    except handlers.NotFound as exc:
        raise _not_found(exc.field, exc) from None
    except handlers.NotInTeam as exc:
        raise HTTPException(403, detail={"field": exc.field, "reason": str(exc)}) from None
    except handlers.EmptyQueue as exc:
        raise HTTPException(409, detail={"field": "team", "reason": str(exc)}) from None
    return {"lead_id": row.lead_id, "assignment": _next(row)}


# ------------------------------------------------------------------ a team's board


@router.get("/teams/{team}/assignments", responses=responses(403, 404))
async def team_assignments(team: str, runtime: RuntimeDep, deps: DepsDep, who: TeamBoard,
                           limit: int = Query(default=200, ge=1, le=2000)) -> dict[str, Any]:
    """A team's open leads on the clock (its reps' and its queue's), earliest due first,
    with the time left as each owner counts it; overdue ones are marked."""
    _may_manage(who, team)
    try:
        async with runtime.unit_of_work() as uow:
            config, rows = await handlers.team_open(deps, uow, team, limit)
    except handlers.NotFound as exc:
        raise _not_found(exc.field, exc) from None
    now = deps.clock()
    items = []
    for r in rows:
        left = seconds_left(config, r["rep_id"], r["team"], now, r["due_at"])
        items.append({"assignment_id": r["assignment_id"], "lead_id": r["lead_id"], "owner_kind": r["owner_kind"],
                      "rep_id": r["rep_id"], "name": r["profile"].get("name"), "company": r["profile"].get("company"),
                      "grade": r["facts"].get("grade"), "assigned_at": _iso(r["assigned_at"]),
                      "due_at": _iso(r["due_at"]), "seconds_left": left, "overdue": left is not None and left <= 0,
                      "attempt": r["attempt"], "rule": r["rule"]})
    return {"team": team, "open": len(items), "overdue": sum(i["overdue"] for i in items), "assignments": items}


def _compliance_json(c: Compliance) -> dict[str, Any]:
    return {"met": c.met, "missed": c.missed, "ended": c.ended,
            "rate": None if c.rate is None else round(c.rate, 4)}


@router.get("/teams/{team}/sla", responses=responses(403, 404))
async def team_sla(team: str, runtime: RuntimeDep, deps: DepsDep, who: TeamBoard) -> dict[str, Any]:
    """SLA compliance today and this week (in the team's time zone), for the team and
    each rep: of the follow-up clocks that ended, how many ended on time (``rate`` is null
    when none ended)."""
    _may_manage(who, team)
    try:
        async with runtime.unit_of_work() as uow:
            result = await handlers.team_compliance(deps, uow, team)
    except handlers.NotFound as exc:
        raise _not_found(exc.field, exc) from None
    return {"team": team, "periods": {p: {"since": start.isoformat(), **_compliance_json(result.team[p])}
                                      for p, start in result.starts.items()},
            "reps": [{"rep_id": rep_id, **{p: _compliance_json(c) for p, c in periods.items()}}
                     for rep_id, periods in result.reps.items()]}


@router.get("/teams/{team}/escalations", responses=responses(403, 404))
async def team_escalations(team: str, runtime: RuntimeDep, deps: DepsDep, who: TeamBoard,
                           since: Instant | None = Query(default=None, description="default: 7 days ago"),
                           limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
    """The team's missed follow-ups, latest first: whose clock ran out, and where the lead
    went (the next rep, or nurture once the team's escalations are used up) and why."""
    _may_manage(who, team)
    start = since or deps.clock() - timedelta(days=7)
    try:
        async with runtime.unit_of_work() as uow:
            rows = await handlers.team_escalations(deps, uow, team, start, limit)
    except handlers.NotFound as exc:
        raise _not_found(exc.field, exc) from None
    return {"team": team, "since": start.isoformat(), "escalations": [{
        "lead_id": r["lead_id"], "name": r["profile"].get("name"), "company": r["profile"].get("company"),
        "missed_assignment_id": r["missed_assignment_id"], "missed_rep_id": r["missed_rep_id"],
        "due_at": _iso(r["due_at"]), "escalated_at": _iso(r["escalated_at"]), "escalation": r["attempt"],
        "reason": r["reason"], "now": None if r["assignment_id"] is None else {
            "assignment_id": r["assignment_id"], "owner_kind": r["owner_kind"], "rep_id": r["rep_id"],
            "team": r["team"]}} for r in rows]}


def _assignment_json(row: Row) -> dict[str, Any]:
    return {"assignment_id": row["assignment_id"], "lead_id": row["lead_id"], "owner_kind": row["owner_kind"],
            "rep_id": row["rep_id"], "team": row["team"], "status": row["status"], "rule": row["rule"],
            "reason": row["reason"], "trigger": row["trigger"], "attempt": row["attempt"],
            "previous_assignment_id": row["previous_assignment_id"], "assigned_at": _iso(row["assigned_at"]),
            "due_at": _iso(row["due_at"]), "closed_at": _iso(row["closed_at"]), "close_reason": row["close_reason"],
            "deal": _deal_json(row)}


def _deal_json(row: Row) -> dict[str, Any] | None:
    """The CRM deal that converted the assignment, if any (for reports)."""
    if row.get("deal_status") is None:
        return None
    closed_on = row["deal_closed_on"]
    return {"opportunity_id": row["opportunity_id"], "status": row["deal_status"],
            "amount_minor": row["deal_amount_minor"], "currency": row["deal_currency"],
            "closed_on": closed_on.isoformat() if closed_on else None, "updated_at": _iso(row["deal_updated_at"])}
