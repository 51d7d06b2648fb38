"""The app's pages: server-rendered HTML (Jinja2), made live with htmx and one
server-sent-event stream. The shell (sign-in, the session cookies, CSRF, the layout,
static files) and the rep's view; the boards add their pages to this router the same way.

A page is signed in by two HttpOnly, SameSite=Lax cookies: the short-lived access token
(the same JWT an API client sends) and the refresh token, rotated when the access token
has expired. Every form carries the session's CSRF token (a third cookie, compared on
each POST). The app calls the other services with the person's own access token, so each
service enforces roles itself; the pages turn their refusals into messages.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sse_starlette import EventSourceResponse, ServerSentEvent

from services.app import handlers
from services.app.domain import leads as rules
from services.app.handlers import AppDeps, Session
from services.app.upstream import Answer, UpstreamDown
from shared import auth
from shared.auth import Principal, Role
from shared.service import RuntimeDep, get_deps

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["choices"] = rules.FOLLOW_UP_CHOICES
templates.env.globals["disqualify_reasons"] = rules.DISQUALIFY_REASONS
templates.env.filters["time_left"] = rules.time_left
templates.env.filters["reason"] = rules.reason_label

ACCESS_COOKIE = "lb_access"
REFRESH_COOKIE = "lb_refresh"
CSRF_COOKIE = "lb_csrf"

DepsDep = Annotated[AppDeps, Depends(get_deps)]

router = APIRouter(include_in_schema=False)

SIGN_IN_REASONS = {
    "expired": "Your session has expired. Sign in again.",
    "signed-out": "You are signed out.",
    "needed": "Sign in to continue.",
}


# --------------------------------------------------------------------------- static files

STATIC = HERE / "static"
_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".svg": "image/svg+xml"}
# Read once: a handful of small files, served with a long cache life (their names carry
# their version: htmx-<version>.min.js).
_STATIC_FILES = {p.name: (p.read_bytes(), _STATIC_TYPES[p.suffix]) for p in STATIC.iterdir()
                 if p.suffix in _STATIC_TYPES}


@router.get("/static/{name}", dependencies=[auth.public])
async def static(name: str) -> Response:
    found = _STATIC_FILES.get(name)
    if found is None:
        raise HTTPException(404, detail={"field": "name", "reason": "no such file"})
    body, media_type = found
    return Response(body, media_type=media_type, headers={"cache-control": "public, max-age=86400"})


# --------------------------------------------------------------------------- the session


@dataclass
class Visitor:
    """The signed-in person behind a page request: who they are (as every service will
    see them), their access token, and the session's CSRF token."""

    principal: Principal
    token: str
    csrf: str

    @property
    def rep_id(self) -> str | None:
        return self.principal.rep_id


class SignInNeeded(HTTPException):
    """Back to the sign-in page, saying why (a page: 303; an htmx request: HX-Redirect)."""

    def __init__(self, request: Request, reason: str) -> None:
        target = f"/signin?reason={reason}&next={quote(request.url.path)}"
        if request.headers.get("hx-request"):
            super().__init__(401, detail={"field": "session", "reason": SIGN_IN_REASONS[reason]},
                             headers={"HX-Redirect": target})
        else:
            super().__init__(303, detail={"field": "session", "reason": SIGN_IN_REASONS[reason]},
                             headers={"Location": target})


def _verifier(request: Request) -> auth.TokenVerifier:
    verifier: auth.TokenVerifier = request.app.state.token_verifier
    return verifier


@auth.declares_callers("session")
async def signed_in(request: Request, runtime: RuntimeDep, deps: DepsDep) -> Visitor:
    """The person signed in on this browser: their access token if it still verifies,
    else a new one from the refresh token (rotated), else back to sign-in."""
    request.state.started = time.perf_counter()
    csrf = request.cookies.get(CSRF_COOKIE, "")
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            return Visitor(await _verifier(request).verify(token), token, csrf)
        except HTTPException:
            pass  # expired or no longer valid: try the refresh token
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        async with runtime.unit_of_work() as uow:
            renewed = await handlers.refresh(deps, uow, refresh)
        if renewed.session is not None:
            request.state.new_session = renewed.session
            principal = await _verifier(request).verify(renewed.session.access_token)
            return Visitor(principal, renewed.session.access_token, csrf)
    raise SignInNeeded(request, "expired" if token or refresh else "needed")


VisitorDep = Annotated[Visitor, Depends(signed_in)]


def _require(visitor: Visitor, *roles: Role) -> None:
    if not visitor.principal.has(*roles):
        raise HTTPException(403, detail={"field": "roles", "reason": "this page is for " + ", ".join(roles)})


def set_session_cookies(response: Response, session: Session, secure: bool) -> None:
    response.set_cookie(ACCESS_COOKIE, session.access_token, max_age=session.access_ttl_s, httponly=True,
                        samesite="lax", secure=secure, path="/")
    response.set_cookie(REFRESH_COOKIE, session.refresh_token, max_age=session.refresh_ttl_s, httponly=True,
                        samesite="lax", secure=secure, path="/")


def clear_session_cookies(response: Response) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/")


async def check_csrf(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token matches the session's (header ``X-CSRF-Token``
    from htmx, or the ``csrf`` field)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get("x-csrf-token") or fields.get("csrf", "")
    if not expected or not secrets.compare_digest(expected, given):
        raise HTTPException(403, detail={"field": "csrf", "reason": "this form has expired: reload the page"})
    return fields


def render(request: Request, name: str, context: Mapping[str, Any], status: int = 200,
           visitor: Visitor | None = None) -> HTMLResponse:
    """A page or fragment, with the session's renewed cookies when it was renewed, and
    the time the server spent on it (``Server-Timing``)."""
    csrf = (visitor.csrf if visitor else "") or request.cookies.get(CSRF_COOKIE, "") or secrets.token_urlsafe(24)
    response = templates.TemplateResponse(request, name, {"visitor": visitor, "csrf": csrf, **context},
                                          status_code=status)
    deps: AppDeps = request.app.state.deps
    session: Session | None = getattr(request.state, "new_session", None)
    if session is not None:
        set_session_cookies(response, session, deps.cookie_secure)
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=deps.cookie_secure, path="/")
    started = getattr(request.state, "started", None)
    if started is not None:
        response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def problem(request: Request, visitor: Visitor, status: int, title: str, message: str) -> HTMLResponse:
    """A clear message instead of the page (never a stack trace)."""
    name = "_problem.html" if request.headers.get("hx-request") else "problem.html"
    return render(request, name, {"title": title, "message": message}, status, visitor)


def down(request: Request, visitor: Visitor, exc: UpstreamDown) -> HTMLResponse:
    return problem(request, visitor, 503, "Try again in a moment",
                   f"The {exc.service} service is not answering right now. Nothing was lost; try again shortly.")


# --------------------------------------------------------------------------- sign-in


@router.get("/signin", dependencies=[auth.public])
async def sign_in_page(request: Request, reason: str = "", next: str = "/") -> HTMLResponse:
    request.state.started = time.perf_counter()
    return render(request, "signin.html", {"notice": SIGN_IN_REASONS.get(reason), "next": _local(next),
                                           "error": None, "username": ""})


def _local(path: str) -> str:
    """Only a path of this site to go back to (never another origin)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


@router.post("/signin", dependencies=[auth.public])
async def sign_in(request: Request, runtime: RuntimeDep, deps: DepsDep) -> Response:
    request.state.started = time.perf_counter()
    form = await check_csrf(request)
    username, password, target = form.get("username", ""), form.get("password", ""), _local(form.get("next", "/"))
    error = None
    if not username.strip() or not password:
        error = "Enter your user name and your password."
    else:
        try:
            async with runtime.unit_of_work() as uow:
                session = await handlers.sign_in(deps, uow, username, password)
        except handlers.SignInUnavailable as unavailable:
            error = str(unavailable)
        except handlers.SignInRefused:
            error = "That user name and password do not match. Check them and try again."
    if error is not None:
        return render(request, "signin.html", {"notice": None, "next": target, "error": error,
                                               "username": username}, status=401)
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(response, session, deps.cookie_secure)
    # A new session, a new CSRF token.
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=True, samesite="lax",
                        secure=deps.cookie_secure, path="/")
    return response


@router.post("/signout", dependencies=[auth.public])
async def sign_out(request: Request, runtime: RuntimeDep, deps: DepsDep) -> Response:
    await check_csrf(request)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        async with runtime.unit_of_work() as uow:
            await handlers.sign_out(deps, uow, refresh)
    response = RedirectResponse("/signin?reason=signed-out", status_code=303)
    clear_session_cookies(response)
    return response


@router.get("/")
async def home(request: Request, visitor: VisitorDep) -> Response:
    """Where a person lands: a rep on their leads, anyone else on the pages their roles open."""
    if visitor.principal.roles == {Role.rep}:
        return RedirectResponse("/rep", status_code=303)
    return render(request, "home.html", {"pages": [p for p in HOME_PAGES if visitor.principal.has(*p.roles)]},
                  visitor=visitor)


@dataclass(frozen=True)
class HomePage:
    """A page listed on the landing page for the roles that open it."""

    path: str
    title: str
    summary: str
    roles: tuple[Role, ...]


HOME_PAGES: list[HomePage] = [
    HomePage("/rep", "My leads", "Your leads by time left on the follow-up clock", (Role.rep,)),
    HomePage("/manager", "Team board", "Leads due and overdue, SLA, the queue, reps away and capacity, escalations",
             (Role.manager,)),
    HomePage("/marketing", "Marketing board", "Grades per campaign and source, the funnel, the nurture pool, "
             "rubric approvals, collateral", (Role.marketing, Role.sales_approver)),
    HomePage("/operator", "Operations", "Each service's health, consumer lag and dead letters, with the replay "
             "command", (Role.operator,)),
]
"""The boards add theirs (manager, marketing, operator) here."""


# --------------------------------------------------------------------------- the rep's leads


async def _rep_leads(visitor: Visitor, deps: AppDeps) -> tuple[list[Mapping[str, Any]], str | None]:
    answer = await deps.upstream.call("routing", "GET", f"/v1/reps/{quote(visitor.rep_id or '')}/assignments",
                                      visitor.token)
    if not answer.ok:
        return [], answer.reason()
    return rules.by_clock(answer.body["assignments"]), None


def _rep(visitor: Visitor) -> str:
    _require(visitor, Role.rep)
    if not visitor.rep_id:
        raise HTTPException(403, detail={"field": "rep_id", "reason": "your account is not linked to a rep"})
    return visitor.rep_id


@router.get("/rep")
async def rep_page(request: Request, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    _rep(visitor)
    try:
        items, error = await _rep_leads(visitor, deps)
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    return render(request, "rep.html", {"items": items, "error": error}, visitor=visitor)


@router.get("/rep/leads")
async def rep_leads_fragment(request: Request, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """The list alone (what the page fetches again when told of a new assignment)."""
    _rep(visitor)
    try:
        items, error = await _rep_leads(visitor, deps)
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    return render(request, "_leads.html", {"items": items, "error": error}, visitor=visitor)


@router.get("/rep/events")
async def rep_events(request: Request, visitor: VisitorDep, deps: DepsDep) -> EventSourceResponse:
    """Server-sent events to this rep's open pages: ``assigned`` (data: the lead id) when
    a lead becomes theirs."""
    rep_id = _rep(visitor)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with deps.live.listen(rep_id) as queue:
            yield ServerSentEvent(event="ready", data=rep_id)
            while True:
                message = await queue.get()
                yield ServerSentEvent(event=message.event, data=message.data)

    return EventSourceResponse(stream(), ping=15, headers={"cache-control": "no-store"})


GRANT_TTL_S = 60


async def _gather(deps: AppDeps, visitor: Visitor, lead_id: str) -> dict[str, Answer]:
    """The lead card's parts. Routing, which owns assignments, is asked first with the
    rep's own token; only when it shows the lead (theirs) are the other services asked,
    with a one-minute grant naming this lead (capture, scoring and content do not know
    whose a lead is, see ``shared.auth.allow_lead``)."""
    lead = quote(lead_id, safe="")
    routing = await deps.upstream.call("routing", "GET", f"/v1/leads/{lead}/routing", visitor.token)
    if not routing.ok:
        return {"capture": routing, "score": routing, "routing": routing, "collateral": routing}
    token = deps.signer.grant(visitor.principal, lead_id, GRANT_TTL_S) or visitor.token
    calls = {"capture": ("capture", f"/v1/leads/{lead}"), "score": ("scoring", f"/v1/leads/{lead}/score"),
             "collateral": ("content", f"/v1/leads/{lead}/collateral")}
    answers = await asyncio.gather(*(deps.upstream.call(service, "GET", path, token)
                                     for service, path in calls.values()))
    return {**dict(zip(calls, answers, strict=True)), "routing": routing}


def _current_assignment(routing: Answer, rep_id: str) -> Mapping[str, Any] | None:
    """The lead's current assignment when it is this rep's and still worked."""
    if not routing.ok:
        return None
    owner = routing.body.get("owner")
    if owner and owner.get("rep_id") == rep_id and owner.get("status") in ("open", "followed_up"):
        return dict(owner)
    return None


@router.get("/rep/leads/{lead_id}")
async def lead_card(request: Request, lead_id: str, visitor: VisitorDep, deps: DepsDep,
                    result: str = "") -> HTMLResponse:
    rep_id = _rep(visitor)
    try:
        found = await _gather(deps, visitor, lead_id)
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    capture = found["capture"]
    if capture.status == 404:
        return problem(request, visitor, 404, "No such lead",
                       f"There is no lead with the id “{lead_id}”. Go back to your leads and pick one from the list.")
    if capture.status == 403 or found["routing"].status == 403:
        return problem(request, visitor, 403, "Not your lead", "This lead is not assigned to you.")
    if not capture.ok:
        return problem(request, visitor, 502, "Could not load the lead", capture.reason())
    return render(request, "lead.html", {
        "lead": capture.body, "score": found["score"].body if found["score"].ok else None,
        "reasons": rules.top_reasons(found["score"].body.get("ledger", [])) if found["score"].ok else [],
        "routing": found["routing"].body if found["routing"].ok else None,
        "assignment": _current_assignment(found["routing"], rep_id),
        "collateral": found["collateral"].body.get("items", []) if found["collateral"].ok else [],
        "idempotency_key": uuid.uuid4().hex, "recorded": None, "error": None}, visitor=visitor)


def _follow_up_message(outcome: str, body: Mapping[str, Any]) -> str:
    label = (rules.choice(outcome) or rules.FOLLOW_UP_CHOICES[0]).label
    timing = "on time" if body.get("on_time") else "late"
    status = body.get("status")
    if status == "qualified":
        return f"Recorded: {label} ({timing}). The lead is handed to a field rep."
    if status == "disqualified":
        return f"Recorded: {label} ({timing}). The lead goes to marketing's nurture."
    return f"Recorded: {label} ({timing}). The follow-up clock has stopped."


@router.post("/rep/assignments/{assignment_id}/follow-ups")
async def record_follow_up(request: Request, assignment_id: str, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """One tap on a card: the outcome goes to routing with the form's own idempotency key,
    so a post retried on a flaky connection is recorded once."""
    rep_id = _rep(visitor)
    form = await check_csrf(request)
    outcome, key = form.get("outcome", ""), form.get("idempotency_key", "")
    note = (form.get("note_text") or form.get("note") or "").strip()
    lead_id = form.get("lead_id", "")
    context: dict[str, Any] = {"assignment": {"assignment_id": assignment_id, "lead_id": lead_id},
                               "lead": {"lead_id": lead_id}, "idempotency_key": uuid.uuid4().hex,
                               "recorded": None, "error": None}
    if rules.choice(outcome) is None:
        context["error"] = "Pick one of the follow-ups below."
        return render(request, "_follow_up.html", context, 422, visitor)
    if outcome == "disqualified" and not note:
        context["error"] = "Say why the lead is disqualified: pick a reason or type one."
        return render(request, "_follow_up.html", context, 422, visitor)
    headers = {"idempotency-key": key} if key else None
    try:
        answer = await deps.upstream.call("routing", "POST", f"/v1/assignments/{quote(assignment_id, safe='')}"
                                          "/follow-ups", visitor.token, headers=headers,
                                          json={"rep_id": rep_id, "outcome": outcome, "note": note})
    except UpstreamDown as exc:
        context["error"] = f"The {exc.service} service is not answering; your tap was not recorded. Try again."
        context["idempotency_key"] = key or context["idempotency_key"]  # the retry is the same follow-up
        return render(request, "_follow_up.html", context, 503, visitor)
    if answer.ok:
        context["recorded"] = _follow_up_message(outcome, answer.body)
        context["handed_on"] = answer.body.get("status") in ("qualified", "disqualified")
        return render(request, "_follow_up.html", context, 200, visitor)
    context["handed_on"] = answer.status == 409
    context["error"] = {404: f"There is no assignment “{assignment_id}”: reload your leads.",
                        409: "This lead's assignment is closed (it was handed on or reassigned): "
                             "nothing to follow up here any more.",
                        403: "This lead is not assigned to you any more."}.get(answer.status, answer.reason())
    return render(request, "_follow_up.html", context, answer.status if answer.status < 500 else 502, visitor)


# --------------------------------------------------------------------------- collateral from the card


@router.get("/rep/collateral/{item_id}/file")
async def open_collateral(request: Request, item_id: str, visitor: VisitorDep, deps: DepsDep) -> Response:
    """The rep opens an item's published file (fetched from content with their token)."""
    _rep(visitor)
    try:
        status, body, headers = await deps.upstream.file("content", f"/v1/collateral/{quote(item_id, safe='')}/file",
                                                         visitor.token)
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    if status != 200:
        return problem(request, visitor, 404 if status == 404 else 502, "No file to open",
                       "This item has no published file to open (it may have been withdrawn or retired).")
    return Response(body, headers=headers)


@router.post("/rep/leads/{lead_id}/collateral/{item_id}/share")
async def share_collateral(request: Request, lead_id: str, item_id: str, visitor: VisitorDep,
                           deps: DepsDep) -> HTMLResponse:
    """A link to the item for this lead (content records the share and, later, the views)."""
    rep_id = _rep(visitor)
    await check_csrf(request)
    try:
        answer = await deps.upstream.call("content", "POST", f"/v1/collateral/{quote(item_id, safe='')}/shares",
                                          visitor.token, json={"lead_id": lead_id, "rep_id": rep_id,
                                                               "rep_name": visitor.principal.name})
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    if not answer.ok:
        return render(request, "_shared.html", {"error": f"Could not make a link: {answer.reason()}", "link": None},
                      422 if answer.status < 500 else 502, visitor)
    link = deps.content_public_url.rstrip("/") + answer.body["link"]
    return render(request, "_shared.html", {"error": None, "link": link}, 200, visitor)


# --------------------------------------------------------------------------- call tasks before a webinar


async def _tasks(deps: AppDeps, visitor: Visitor, rep_id: str) -> tuple[list[Mapping[str, Any]], str | None]:
    answer = await deps.upstream.call("nurture", "GET", "/v1/nurture/tasks", visitor.token,
                                      params={"rep_id": rep_id, "kind": "pre-event", "limit": 200})
    if not answer.ok:
        return [], answer.reason()
    return list(answer.body), None


@router.get("/rep/tasks")
async def tasks_page(request: Request, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    """The calls to make before a webinar: ask each registrant what they want to hear
    about, and note it for the presenter."""
    rep_id = _rep(visitor)
    try:
        tasks, error = await _tasks(deps, visitor, rep_id)
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    return render(request, "tasks.html", {"tasks": tasks, "error": error, "saved": None}, visitor=visitor)


@router.post("/rep/tasks/{task_id}")
async def save_task(request: Request, task_id: str, visitor: VisitorDep, deps: DepsDep) -> HTMLResponse:
    _rep(visitor)
    form = await check_csrf(request)
    interests = form.get("interests", "").strip()
    done = form.get("action") == "done"
    body: dict[str, Any] = {"interests": interests}
    if done:
        body["status"] = "done"
    if len(interests) > 4000:
        return render(request, "_task.html", {"task": {"task_id": task_id, "interests": interests, "title": ""},
                                              "error": "Keep the interests under 4,000 characters.", "saved": None},
                      422, visitor)
    try:
        answer = await deps.upstream.call("nurture", "PATCH", f"/v1/nurture/tasks/{quote(task_id, safe='')}",
                                          visitor.token, json=body)
    except UpstreamDown as exc:
        return down(request, visitor, exc)
    if not answer.ok:
        message = "There is no such task any more." if answer.status == 404 else answer.reason()
        return render(request, "_task.html", {"task": {"task_id": task_id, "interests": interests, "title": ""},
                                              "error": message, "saved": None}, answer.status, visitor)
    return render(request, "_task.html", {"task": answer.body, "error": None,
                                          "saved": "Marked called and saved." if done else "Saved."}, 200, visitor)
