"""Routing's HTTP edge, for sales managers (organisation, rules, queues) and for reps on
their phones (their open leads, one call per follow-up, away/available). Routes validate
and translate; handlers decide. Answers are small JSON documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.routing import handlers
from services.routing.domain.config import ConfigInvalid, RoutingConfig
from services.routing.domain.sla import time_left
from services.routing.handlers import Routing
from services.routing.repository import AssignmentRow
from shared.events import FollowUpOutcome
from shared.service import RuntimeDep


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rep_id: str = Field(min_length=1, max_length=100)
    outcome: FollowUpOutcome
    note: str = Field(default="", max_length=2000, description="required when disqualifying: the reason")


class AwayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    reason: str = Field(default="", max_length=200)


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    away: list[AwayIn] = Field(default_factory=list, max_length=50, description="empty: available now")
    changed_by: str = Field(default="", max_length=100)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _config_error(exc: ConfigInvalid) -> HTTPException:
    return HTTPException(422, detail={"error": "invalid configuration; the live one is unchanged",
                                      "fields": [e.as_dict() for e in exc.errors]})


def _next(row: AssignmentRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"assignment_id": row.assignment_id, "owner_kind": row.owner_kind, "rep_id": row.rep_id,
            "team": row.team, "due_at": _iso(row.due_at), "rule": row.rule, "reason": row.reason}


def _seconds_left(config: RoutingConfig, rep_id: str | None, team: str | None, due: datetime | None,
                  now: datetime) -> float | None:
    if due is None:
        return None
    policy = config.teams[team].sla if team in config.teams else None
    return round(time_left(policy, config.calendar_of(rep_id, team), now, due))


def build_router(routing: Routing) -> APIRouter:
    """The routes, bound to the service's :class:`Routing`."""
    router = APIRouter(prefix="/v1", tags=["routing"])

    async def _change(runtime: RuntimeDep, kind: Literal["org", "rules"], document: dict[str, Any],
                      expected_version: int | None, changed_by: str) -> dict[str, Any]:
        try:
            async with runtime.unit_of_work() as uow:
                await handlers.change_config(uow, routing, kind, document, f"{kind} replaced over HTTP",
                                             changed_by, expected_version)
                versions = await routing.repo.config_versions(uow.conn)
        except ConfigInvalid as exc:
            raise _config_error(exc) from None
        except handlers.Conflict as exc:
            raise HTTPException(409, detail={"field": "expected_version", "reason": str(exc)}) from None
        return {"kind": kind, "version": versions[kind]}

    # ------------------------------------------------------------------ organisation and rules

    @router.get("/org")
    async def get_org(runtime: RuntimeDep) -> dict[str, Any]:
        """The live sales organisation and its version."""
        docs = await routing.repo.config_documents(runtime.pool)
        version, document = docs["org"]
        return {"version": version, "org": document}

    @router.put("/org")
    async def put_org(runtime: RuntimeDep, document: dict[str, Any],
                      expected_version: int | None = Query(default=None),
                      changed_by: str = Query(default="", max_length=100)) -> dict[str, Any]:
        """Replace the organisation; 422 lists every problem and leaves the live one as it was."""
        return await _change(runtime, "org", document, expected_version, changed_by)

    @router.get("/rules")
    async def get_rules(runtime: RuntimeDep) -> dict[str, Any]:
        """The live routing rules, in evaluation order, and their version."""
        docs = await routing.repo.config_documents(runtime.pool)
        version, document = docs["rules"]
        return {"version": version, "rules": document}

    @router.put("/rules")
    async def put_rules(runtime: RuntimeDep, document: dict[str, Any],
                        expected_version: int | None = Query(default=None),
                        changed_by: str = Query(default="", max_length=100)) -> dict[str, Any]:
        """Replace the rules; validated against the live organisation."""
        return await _change(runtime, "rules", document, expected_version, changed_by)

    # ------------------------------------------------------------------ reps

    @router.get("/reps")
    async def list_reps(runtime: RuntimeDep) -> dict[str, Any]:
        """Every rep with team, open leads against capacity and whether away now."""
        async with runtime.pool.acquire() as conn:
            config = (await routing.configs.router(conn)).config
            load = await routing.repo.rep_loads(conn)
        now = routing.clock()
        return {"reps": [{"rep_id": r.id, "name": r.name, "team": r.team, "open": load.get(r.id, 0),
                          "capacity": r.capacity, "weight": r.weight,
                          "away": any(a.start <= now < a.end for a in r.away),
                          "working": config.calendar_of(r.id, r.team).is_working(now)}
                         for r in config.org.reps]}

    @router.put("/reps/{rep_id}/availability")
    async def put_availability(rep_id: str, body: AvailabilityIn, runtime: RuntimeDep) -> dict[str, Any]:
        """Set a rep's away periods (``{"away": []}`` = available). Takes effect at once."""
        away = [{"from": a.start.isoformat(), "to": a.end.isoformat(), "reason": a.reason} for a in body.away]
        try:
            async with runtime.unit_of_work() as uow:
                await handlers.set_availability(uow, routing, rep_id, away, body.changed_by)
        except handlers.NotFound as exc:
            raise HTTPException(404, detail={"field": "rep_id", "reason": str(exc)}) from None
        except ConfigInvalid as exc:
            raise _config_error(exc) from None
        return {"rep_id": rep_id, "away": away}

    @router.get("/reps/{rep_id}/assignments")
    async def rep_assignments(rep_id: str, runtime: RuntimeDep) -> dict[str, Any]:
        """A rep's open leads, most urgent first, with the time left on each clock."""
        async with runtime.pool.acquire() as conn:
            config = (await routing.configs.router(conn)).config
            if rep_id not in config.reps:
                raise HTTPException(404, detail={"field": "rep_id", "reason": f"no rep '{rep_id}'"})
            rows = await routing.repo.rep_assignments(conn, rep_id)
        now = routing.clock()
        items = []
        for r in rows:
            profile, facts = r["profile"], r["facts"]
            left = _seconds_left(config, rep_id, r["team"], r["due_at"], now) if r["status"] == "open" else None
            items.append({"assignment_id": r["assignment_id"], "lead_id": r["lead_id"], "status": r["status"],
                          "name": profile.get("name"), "company": profile.get("company"),
                          "phone": profile.get("phone"), "email": profile.get("email"),
                          "grade": facts.get("grade"), "segment": facts.get("segment"),
                          "due_at": _iso(r["due_at"]), "seconds_left": left,
                          "overdue": left is not None and left <= 0, "rule": r["rule"]})
        return {"rep_id": rep_id, "open": len(items), "assignments": items}

    # ------------------------------------------------------------------ follow-ups

    @router.post("/assignments/{assignment_id}/follow-ups", status_code=201)
    async def post_follow_up(assignment_id: str, body: FollowUpIn, runtime: RuntimeDep) -> dict[str, Any]:
        """Record a follow-up (one call from a phone). ``qualified`` from inside sales hands
        the lead to a field rep; ``disqualified`` (note = reason) sends it to nurture."""
        try:
            async with runtime.unit_of_work() as uow:
                result = await handlers.record_follow_up(uow, routing, assignment_id, body.rep_id, body.outcome,
                                                         body.note)
        except handlers.NotFound as exc:
            raise HTTPException(404, detail={"field": "assignment_id", "reason": str(exc)}) from None
        except handlers.Forbidden as exc:
            raise HTTPException(403, detail={"field": "rep_id", "reason": str(exc)}) from None
        except handlers.Conflict as exc:
            raise HTTPException(409, detail={"field": "assignment_id", "reason": str(exc)}) from None
        except handlers.Invalid as exc:
            raise HTTPException(422, detail={"field": exc.field, "reason": exc.reason}) from None
        return {"follow_up_id": result.follow_up_id, "on_time": result.on_time, "status": result.status,
                "next": _next(result.next_assignment)}

    @router.get("/assignments/{assignment_id}")
    async def get_assignment(assignment_id: str, runtime: RuntimeDep) -> dict[str, Any]:
        row = await routing.repo.assignment(runtime.pool, assignment_id)
        if row is None:
            raise HTTPException(404, detail={"field": "assignment_id", "reason": f"no assignment '{assignment_id}'"})
        return _assignment_json(row)

    # ------------------------------------------------------------------ leads and queues

    @router.get("/leads/{lead_id}/routing")
    async def lead_routing(lead_id: str, runtime: RuntimeDep) -> dict[str, Any]:
        """Every routing decision for a lead (rule, candidates, skips, winner), its
        assignments and follow-ups, and its current owner."""
        async with runtime.pool.acquire() as conn:
            assignments = await routing.repo.lead_assignments(conn, lead_id)
            decisions = await routing.repo.lead_decisions(conn, lead_id)
            follow_ups = await routing.repo.lead_follow_ups(conn, lead_id)
        if not assignments:
            raise HTTPException(404, detail={"field": "lead_id", "reason": f"routing has no lead '{lead_id}'"})
        current = next((a for a in assignments if a["status"] in ("open", "followed_up", "nurture")), None)
        return {
            "lead_id": lead_id,
            "owner": _assignment_json(current) if current else None,
            "assignments": [_assignment_json(a) for a in assignments],
            "decisions": [{"assignment_id": d["assignment_id"], "decided_at": _iso(d["decided_at"]),
                           "trigger": d["trigger"], **d["detail"]} for d in decisions],
            "follow_ups": [{"follow_up_id": f["follow_up_id"], "assignment_id": f["assignment_id"],
                            "rep_id": f["rep_id"], "outcome": f["outcome"], "note": f["note"],
                            "on_time": f["on_time"], "recorded_at": _iso(f["recorded_at"])} for f in follow_ups],
        }

    @router.get("/queues")
    async def queues(runtime: RuntimeDep, per_team: int = Query(default=20, ge=1, le=500)) -> dict[str, Any]:
        """Leads waiting in each team's queue because no rep could take them."""
        async with runtime.pool.acquire() as conn:
            config = (await routing.configs.router(conn)).config
            rows = await routing.repo.queued(conn, per_team)
        out: dict[str, dict[str, Any]] = {t.id: {"team": t.id, "queued": 0, "leads": []} for t in config.org.teams}
        for r in rows:
            q = out.setdefault(r["team"], {"team": r["team"], "queued": 0, "leads": []})
            q["queued"] = r["queued"]
            q["leads"].append({"assignment_id": r["assignment_id"], "lead_id": r["lead_id"],
                               "queued_at": _iso(r["assigned_at"]), "due_at": _iso(r["due_at"]),
                               "attempt": r["attempt"], "reason": r["reason"]})
        return {"queues": list(out.values())}

    return router


def _assignment_json(row: Any) -> dict[str, Any]:
    return {"assignment_id": row["assignment_id"], "lead_id": row["lead_id"], "owner_kind": row["owner_kind"],
            "rep_id": row["rep_id"], "team": row["team"], "status": row["status"], "rule": row["rule"],
            "reason": row["reason"], "trigger": row["trigger"], "attempt": row["attempt"],
            "previous_assignment_id": row["previous_assignment_id"], "assigned_at": _iso(row["assigned_at"]),
            "due_at": _iso(row["due_at"]), "closed_at": _iso(row["closed_at"]), "close_reason": row["close_reason"]}
