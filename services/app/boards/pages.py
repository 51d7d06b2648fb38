"""The boards: the manager's (their teams' leads on the clock, SLA compliance, the queue,
reps away and their capacity, escalations, what awaits a sales approval), marketing's
(grades per campaign and source, the funnel, the nurture pool, rubric approvals,
collateral by status) and the operator's (each service's health, lag and dead letters).

Every figure comes from the owning service's API, called with the signed-in person's own
token (so each service enforces roles and a manager's teams itself); the pure rules of
what to show are in :mod:`services.app.domain.boards`. A form that cannot be carried out
puts its reason on the page, never a stack trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.app.boards import charts
from services.app.domain import boards as rules
from services.app.handlers import AppDeps
from services.app.pages import DepsDep, Visitor, VisitorDep, check_csrf, down, problem, render
from services.app.upstream import SERVICES, Answer, UpstreamDown
from shared.auth import Role

router = APIRouter(include_in_schema=False)

HEALTH_TIMEOUT_S = 15.0

COLLATERAL_STATUSES = ("draft", "in_review", "changes_requested", "approved", "published", "retired", "withdrawn")
"""Collateral's lifecycle, in order (content's ``STATUSES``), for the chart's bars."""


def _has(visitor: Visitor, *roles: Role) -> bool:
    return visitor.principal.has(*roles)


def _refuse(request: Request, visitor: Visitor, *roles: Role) -> HTMLResponse | None:
    if _has(visitor, *roles):
        return None
    return problem(request, visitor, 403, "Not your board",
                   "This page is for " + " or ".join(r.replace("_", " ") for r in roles) + ".")


async def _get_all(visitor: Visitor, deps: AppDeps, calls: Mapping[str, tuple[str, str, dict[str, Any] | None]]
                   ) -> dict[str, Answer]:
    """GET every ``name: (service, path, params)`` at once, as the visitor."""
    answers = await asyncio.gather(*(deps.upstream.call(service, "GET", path, visitor.token, params=params)
                                     for service, path, params in calls.values()))
    return dict(zip(calls, answers, strict=True))


def _body(answer: Answer, empty: Any) -> Any:
    return answer.body if answer.ok and answer.body is not None else empty


# --------------------------------------------------------------------------- the manager's board


async def _manager(request: Request, visitor: Visitor, deps: AppDeps, team: str, *, notice: str | None = None,
                   error: str | None = None, status: int = 200) -> HTMLResponse:
    teams = sorted(visitor.principal.teams)
    if not teams:
        return problem(request, visitor, 403, "No team", "Your account manages no team yet: ask an operator.")
    team = team or teams[0]
    if team not in teams:
        return problem(request, visitor, 403, "Not your team",
                       f"You manage {', '.join(teams)}, not “{team}”. Pick one of your teams.")
    t = quote(team, safe="")
    try:
        found = await _get_all(visitor, deps, {
            "assignments": ("routing", f"/v1/teams/{t}/assignments", None),
            "sla": ("routing", f"/v1/teams/{t}/sla", None),
            "escalations": ("routing", f"/v1/teams/{t}/escalations", None),
            "queues": ("routing", "/v1/queues", {"per_team": 50}),
            "reps": ("routing", "/v1/reps", None),
            "rubrics": ("scoring", "/v1/rubrics", None),
            "collateral": ("content", "/v1/collateral", {"status": "in_review"})})
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    problems = [f"{name}: {a.reason()}" for name, a in found.items()
                if not a.ok and name in ("assignments", "sla", "queues", "reps")]
    sla = _body(found["sla"], {"periods": {}, "reps": []})
    reps = rules.team_reps(_body(found["reps"], {}).get("reps", []), sla, team)
    return render(request, "boards/manager.html", {
        "team": team, "teams": teams, "notice": notice, "error": error, "problems": problems,
        "assignments": _body(found["assignments"], {}).get("assignments", []),
        "periods": sla.get("periods", {}), "percent": rules.percent,
        "queue": rules.team_queue(_body(found["queues"], {}), team), "reps": reps,
        "escalations": _body(found["escalations"], {}).get("escalations", []),
        "awaiting": rules.awaiting_sales(_body(found["rubrics"], {}), _body(found["collateral"], {})),
        "away_hours": rules.AWAY_HOURS, "tab": "manager"}, status, visitor)


@router.get("/manager")
async def manager_page(request: Request, visitor: VisitorDep, deps: DepsDep, team: str = "") -> HTMLResponse:
    return _refuse(request, visitor, Role.manager) or await _manager(request, visitor, deps, team)


async def _act(request: Request, visitor: Visitor, deps: AppDeps, team: str, service: str, method: str, path: str,
               body: Any, done: str, errors: Mapping[int, str] | None = None) -> HTMLResponse:
    """Carry out a board form through a service, then show the board with what happened."""
    try:
        answer = await deps.upstream.call(service, method, path, visitor.token, json=body)
    except UpstreamDown as exc:
        return await _manager(request, visitor, deps, team, status=503,
                              error=f"The {exc.service} service is not answering; nothing was changed. Try again.")
    if answer.ok:
        return await _manager(request, visitor, deps, team, notice=done)
    message = (errors or {}).get(answer.status) or f"Not done: {answer.reason()}"
    return await _manager(request, visitor, deps, team, error=message,
                          status=answer.status if 400 <= answer.status < 500 else 502)


@router.post("/manager/queue/take")
async def take_from_queue(request: Request, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """Give a queued lead (the one picked, or the most urgent) to a rep of the team."""
    if (refused := _refuse(request, visitor, Role.manager)) is not None:
        return refused
    form = await check_csrf(request)
    team, rep_id, assignment_id = form.get("team", ""), form.get("rep_id", "").strip(), form.get("assignment_id")
    if not rep_id:
        return await _manager(request, visitor, deps, team, status=422, error="Pick the rep who gets the lead.")
    body = {"rep_id": rep_id, **({"assignment_id": assignment_id} if assignment_id else {})}
    return await _act(request, visitor, deps, team, "routing", "POST", f"/v1/queues/{quote(team, safe='')}/take",
                      body, f"The lead is {rep_id}'s now, with its follow-up clock started.",
                      {409: "The queue is empty: nothing to take.",
                       404: "That lead is no longer waiting in the queue (someone took it): the list is fresh now."})


@router.post("/manager/reps/{rep_id}/away")
async def set_away(request: Request, rep_id: str, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """Set a rep away from now for the time picked: new leads skip them meanwhile."""
    if (refused := _refuse(request, visitor, Role.manager)) is not None:
        return refused
    form = await check_csrf(request)
    team = form.get("team", "")
    try:
        hours = rules.away_hours_of(form.get("hours", ""))
    except rules.BadInput as bad:
        return await _manager(request, visitor, deps, team, status=422, error=bad.message)
    now = datetime.now(UTC)
    away = [{"from": now.isoformat(), "to": (now + timedelta(hours=hours)).isoformat(),
             "reason": form.get("reason", "").strip()[:200] or "set away by their manager"}]
    return await _act(request, visitor, deps, team, "routing", "PUT", f"/v1/reps/{quote(rep_id, safe='')}/availability",
                      {"away": away},
                      f"{rep_id} is away for {dict(rules.AWAY_HOURS)[hours]}: new leads skip them.")


@router.post("/manager/reps/{rep_id}/back")
async def set_back(request: Request, rep_id: str, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    if (refused := _refuse(request, visitor, Role.manager)) is not None:
        return refused
    form = await check_csrf(request)
    return await _act(request, visitor, deps, form.get("team", ""), "routing", "PUT",
                      f"/v1/reps/{quote(rep_id, safe='')}/availability", {"away": []},
                      f"{rep_id} is available again.")


@router.post("/manager/reps/{rep_id}/capacity")
async def set_capacity(request: Request, rep_id: str, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    if (refused := _refuse(request, visitor, Role.manager)) is not None:
        return refused
    form = await check_csrf(request)
    team = form.get("team", "")
    try:
        capacity = rules.capacity_of(form.get("capacity", ""))
    except rules.BadInput as bad:
        return await _manager(request, visitor, deps, team, status=422, error=bad.message)
    return await _act(request, visitor, deps, team, "routing", "PUT", f"/v1/reps/{quote(rep_id, safe='')}/capacity",
                      {"capacity": capacity},
                      f"{rep_id} now holds at most {capacity} open leads.")


# --------------------------------------------------------------------------- marketing's board


async def _marketing(request: Request, visitor: Visitor, deps: AppDeps, campaign: str, *, notice: str | None = None,
                     error: str | None = None, status: int = 200) -> HTMLResponse:
    try:
        found = await _get_all(visitor, deps, {
            "by_campaign": ("scoring", "/v1/grades", {"by": "campaign"}),
            "by_source": ("scoring", "/v1/grades", {"by": "source"}),
            "rubrics": ("scoring", "/v1/rubrics", None),
            "campaigns": ("nurture", "/v1/campaigns", None),
            "pool": ("nurture", "/v1/nurture/leads", {"limit": 1}),
            "collateral": ("content", "/v1/collateral", None)})
        campaigns = _body(found["campaigns"], [])
        chosen = campaign or (campaigns[0]["campaign_id"] if campaigns else "")
        report = (await deps.upstream.call("nurture", "GET", f"/v1/campaigns/{quote(chosen, safe='')}/report",
                                           visitor.token) if chosen else None)
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    problems = [f"{name}: {a.reason()}" for name, a in found.items() if not a.ok]
    by_campaign = rules.grade_rows(_body(found["by_campaign"], {}))
    by_source = rules.grade_rows(_body(found["by_source"], {}))
    funnel = [(s["step"], int(s["members"])) for s in (report.body["funnel"] if report and report.ok else [])]
    pool = rules.pool_by_track(_body(found["pool"], {}))
    collateral = _body(found["collateral"], {"items": []})
    by_status = rules.collateral_by_status(collateral, COLLATERAL_STATUSES)
    return render(request, "boards/marketing.html", {
        "notice": notice, "error": error, "problems": problems, "tab": "marketing",
        "by_campaign": by_campaign, "by_source": by_source, "grades": rules.GRADES,
        "campaign_chart": charts.grades_chart(by_campaign, "Leads by grade per campaign") if by_campaign else "",
        "source_chart": charts.grades_chart(by_source, "Leads by grade per source") if by_source else "",
        "campaigns": campaigns, "campaign": chosen, "funnel": funnel,
        "report": report.body if report and report.ok else None,
        "funnel_chart": charts.funnel_chart(funnel, f"Funnel of {chosen}") if any(n for _, n in funnel) else "",
        "pool": pool, "pool_chart": charts.bars_chart(pool, "Nurture pool by track", "leads") if pool else "",
        "rubrics": _body(found["rubrics"], {}).get("versions", []),
        "collateral": collateral.get("items", []), "by_status": by_status,
        "status_chart": (charts.bars_chart(by_status, "Collateral by status", "items")
                         if any(n for _, n in by_status) else ""),
        "may_approve": {"marketing": _has(visitor, Role.marketing), "sales": _has(visitor, Role.sales_approver)},
        "me": visitor.principal.subject,
    }, status, visitor)


@router.get("/marketing")
async def marketing_page(request: Request, visitor: VisitorDep, deps: DepsDep, campaign: str = "") -> HTMLResponse:
    return (_refuse(request, visitor, Role.marketing, Role.sales_approver)
            or await _marketing(request, visitor, deps, campaign))


@router.post("/marketing/rubrics/{version}/approve")
async def approve_rubric(request: Request, version: str, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """Sign a rubric version off for one side: marketing for marketing, a sales approver
    for sales. Once both sides have, the version is activated: it grades live traffic."""
    if (refused := _refuse(request, visitor, Role.marketing, Role.sales_approver)) is not None:
        return refused
    form = await check_csrf(request)
    side = form.get("side", "")
    needs = {"marketing": Role.marketing, "sales": Role.sales_approver}.get(side)
    if needs is None or not _has(visitor, needs):
        return await _marketing(request, visitor, deps, "", status=403,
                                error="You can approve only for your own side: marketing, or sales as a sales "
                                      "approver.")
    v = quote(version, safe="")
    try:
        approved = await deps.upstream.call("scoring", "POST", f"/v1/rubrics/{v}/approvals", visitor.token,
                                            json={"side": side})  # the signer is the token's subject
        activated = None
        if approved.ok and approved.body.get("status") == "approved":
            activated = await deps.upstream.call("scoring", "POST", f"/v1/rubrics/{v}/activation", visitor.token)
    except UpstreamDown as exc:
        return await _marketing(request, visitor, deps, "", status=503,
                                error=f"The {exc.service} service is not answering; nothing was approved. Try again.")
    if not approved.ok:
        message = ("There is no rubric version “" + version + "”." if approved.status == 404
                   else f"Not approved: {approved.reason()}")
        return await _marketing(request, visitor, deps, "", error=message,
                                status=approved.status if 400 <= approved.status < 500 else 502)
    if activated is not None and not activated.ok:
        return await _marketing(request, visitor, deps, "", status=409,
                                error=f"Approved by both sides, but not activated: {activated.reason()}")
    done = (f"Rubric {version} is approved by both sides and active: it grades new leads now."
            if activated is not None else
            f"Approved rubric {version} for {side}; it needs the other side's approval before it can be active.")
    return await _marketing(request, visitor, deps, "", notice=done)


@router.post("/marketing/collateral/{item_id}/approve")
async def approve_collateral(request: Request, item_id: str, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """A sales approver named as a reviewer of a collateral item approves the version in
    review, in the role they were named for (content's policy says when it is approved)."""
    if (refused := _refuse(request, visitor, Role.sales_approver)) is not None:
        return refused
    await check_csrf(request)
    i = quote(item_id, safe="")
    me = visitor.principal.subject
    try:
        found = await deps.upstream.call("content", "GET", f"/v1/collateral/{i}", visitor.token)
        if not found.ok:
            message = (f"There is no collateral item “{item_id}”." if found.status == 404
                       else f"Could not load the item: {found.reason()}")
            return await _marketing(request, visitor, deps, "", error=message, status=found.status)
        role = next((r["role"] for r in found.body.get("reviewers", []) if r.get("id") == me), None)
        if role is None:
            return await _marketing(request, visitor, deps, "", status=403,
                                    error=f"You are not a named reviewer of “{found.body.get('title', item_id)}”.")
        answer = await deps.upstream.call("content", "POST", f"/v1/collateral/{i}/reviews", visitor.token,
                                          json={"actor": {"id": me, "role": role}, "decision": "approve"})
    except UpstreamDown as exc:
        return await _marketing(request, visitor, deps, "", status=503,
                                error=f"The {exc.service} service is not answering; nothing was approved. Try again.")
    if not answer.ok:
        return await _marketing(request, visitor, deps, "", error=f"Not approved: {answer.reason()}",
                                status=answer.status if 400 <= answer.status < 500 else 502)
    title = answer.body.get("title", item_id)
    done = (f"“{title}” is approved by sales: marketing can publish it." if answer.body.get("status") == "approved"
            else f"Your approval of “{title}” is recorded; it waits for its other reviewers.")
    return await _marketing(request, visitor, deps, "", notice=done)


# --------------------------------------------------------------------------- the operator's page


async def _service_row(deps: AppDeps, service: str, base_url: str) -> dict[str, Any]:
    """One service's health (``/healthz``) and figures (``/metrics``); both are open routes."""
    client = deps.upstream.client()
    row: dict[str, Any] = {"service": service, "status": "not answering", "checks": {},
                           "figures": rules.ServiceFigures(), "metrics": False}
    try:
        # A health check asks the broker and the database: give it longer than a page's call.
        health, metrics = await asyncio.gather(client.get(base_url + "/healthz", timeout=HEALTH_TIMEOUT_S),
                                               client.get(base_url + "/metrics", timeout=HEALTH_TIMEOUT_S))
    except httpx.HTTPError as exc:  # a service that does not answer is what this page reports
        row["status"] = f"not answering ({type(exc).__name__})"
        return row
    try:
        body = health.json()
    except ValueError:
        body = {}
    row["status"] = body.get("status", f"answered {health.status_code}") if isinstance(body, dict) else "?"
    row["checks"] = body.get("checks", {}) if isinstance(body, dict) else {}
    if metrics.status_code == 200:
        row["figures"], row["metrics"] = rules.service_figures(metrics.text), True
    return row


def _service_urls(request: Request, deps: AppDeps) -> dict[str, str]:
    urls = {s: deps.upstream.urls[s] for s in SERVICES if s in deps.upstream.urls}
    urls["app"] = str(request.base_url).rstrip("/")
    return urls


@router.get("/operator")
async def operator_page(request: Request, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """The page at once, one card per service; each card fetches its service's figures
    (a health check asks the broker and the database, which takes a moment)."""
    if (refused := _refuse(request, visitor, Role.operator)) is not None:
        return refused
    return render(request, "boards/operator.html", {"services": list(_service_urls(request, deps)),
                                                    "tab": "operator"}, 200, visitor)


@router.get("/operator/services/{service}")
async def operator_service(request: Request, service: str, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """One service's card: health, lag and dead letters with the replay command."""
    if (refused := _refuse(request, visitor, Role.operator)) is not None:
        return refused
    urls = _service_urls(request, deps)
    if service not in urls:
        return problem(request, visitor, 404, "No such service", f"There is no service “{service}”; "
                       f"the services are {', '.join(urls)}.")
    row = await _service_row(deps, service, urls[service])
    return render(request, "boards/_service.html", {"r": row, "replay": rules.replay_command}, 200, visitor)
