"""The one error model of every service's HTTP edge, and the OpenAPI that documents it.

Every 4xx answer, whoever raises it (request validation, a route, the router, the body
limit), has one shape::

    {"error": "invalid request", "fields": [{"field": "country", "reason": "..."}]}

``error`` says what kind of refusal it is; ``fields`` names each input to blame and
why (empty when none is, as for an unknown path). Routes keep raising
``HTTPException(4xx, detail={"field": ..., "reason": ...})`` (or ``detail={"error":
..., "fields": [...]}`` for several fields); :func:`install` turns every detail into
this shape. :func:`responses` declares the 4xx a route answers, and
:func:`document` makes each service's OpenAPI document say what is really answered:
this model for every 422, 413 on every operation with a body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi import HTTPException as RouteError
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.codec import EventTooLarge
from shared.validation import displayable, unsafe_text, unsafe_text_in


class FieldProblem(BaseModel):
    field: str = Field(description="the input to blame: a body field (dotted path), a query or path "
                                   "parameter, a header, or 'body' for the request as a whole")
    reason: str


class ErrorBody(BaseModel):
    """Every 4xx answer of every service."""

    error: str = Field(description="what kind of refusal: 'invalid request', 'not found', 'conflict', ...")
    fields: list[FieldProblem] = Field(default_factory=list)


ERROR_NAMES = {422: "invalid request", 413: "content too large"}


def error_name(status: int) -> str:
    return ERROR_NAMES.get(status) or HTTPStatus(status).phrase.lower()


def _problem(field: Any, reason: Any) -> dict[str, str]:
    return {"field": displayable(str(field)), "reason": displayable(str(reason))}


def error_body(status: int, detail: Any) -> dict[str, Any]:
    """The error model for an ``HTTPException`` detail of any shape the services raise."""
    error, fields = error_name(status), []
    if isinstance(detail, Mapping):
        if "fields" in detail:
            fields = [_problem(f.get("field", "body"), f.get("reason", "invalid")) for f in detail["fields"]]
        elif "field" in detail or "reason" in detail:
            fields = [_problem(detail.get("field", "body"), detail.get("reason", "invalid"))]
        error = displayable(str(detail.get("error") or error))
    elif isinstance(detail, str) and detail.lower() not in (error, HTTPStatus(status).phrase.lower()):
        error = f"{error}: {displayable(detail)}"
    return {"error": error, "fields": fields}


def _field_of(err: Mapping[str, Any]) -> str:
    loc = [displayable(str(p)) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    if err.get("type") == "json_invalid":
        return "body"
    return ".".join(loc) or "body"


def _reason_of(err: Mapping[str, Any]) -> str:
    if err.get("type") == "json_invalid":
        return f"not valid JSON: {err.get('ctx', {}).get('error', 'cannot be parsed')}"
    return displayable(str(err.get("msg", "invalid")))


def _validation_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [{"field": _field_of(err), "reason": _reason_of(err)} for err in exc.errors()]
    return JSONResponse(status_code=422, content={"error": error_name(422), "fields": fields})


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        # Only the framework answers 400: it could not read the body at all (JSON that is
        # not UTF-8 or nested too deep, broken multipart). The same refusal as any other
        # body that cannot be parsed, so no route documents a 400.
        cause = exc.__cause__ or exc.__context__
        why = f"not valid JSON: {type(cause).__name__}" if isinstance(cause, ValueError | RecursionError) \
            else f"cannot be read: {displayable(str(exc.detail))}"
        return JSONResponse(status_code=422, content={"error": error_name(422), "fields": [
            {"field": "body", "reason": why}]})
    return JSONResponse(status_code=exc.status_code, content=error_body(exc.status_code, exc.detail),
                        headers=exc.headers)


def _event_too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EventTooLarge)
    return JSONResponse(status_code=413, content={"error": error_name(413), "fields": [
        {"field": "body", "reason": str(exc)}]})


class BodyLimit:
    """ASGI middleware: 413 in the error model for a request body over ``max_bytes``,
    at once when ``Content-Length`` says so, else as soon as the bytes read pass it.
    ``larger`` names the few paths (by prefix) that take more, with their own limit: a
    list import is hundreds of megabytes, which the route streams to storage rather
    than holding (every other route reads its whole body).

    (FastAPI's own ``max_body_size`` answers ``text/plain`` whenever Content-Length is
    over the limit, whatever the app's handlers say; the error model is JSON.)"""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.max_bytes

    @staticmethod
    def _refusal(limit: int) -> dict[str, Any]:
        return {"field": "body", "reason": f"the request body is larger than {limit:,} bytes"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            answer = JSONResponse(status_code=413, content=error_body(413, self._refusal(limit)),
                                  headers={"connection": "close"})
            await answer(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a chunked body: the route's handlers answer it
                    raise RouteError(413, detail=self._refusal(limit))
            return message

        await self.app(scope, limited, send)


async def refuse_unsafe_text(request: Request) -> None:
    """An app-wide dependency: 422 for NUL or an unpaired surrogate anywhere in the
    path, the query, the headers or the body, naming where. Nothing a database
    cannot store reaches a route, whatever the route's own types say."""
    problems = [(name, reason) for name, value in (*request.path_params.items(),
                                                   *request.query_params.multi_items(),
                                                   *request.headers.items())
                if isinstance(value, str) and (reason := unsafe_text(value))]
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        # An upload's file is bytes (a PDF or an image holds NUL bytes); its text fields are checked.
        form = await request.form()
        problems += [(name, reason) for name, value in form.multi_items()
                     if isinstance(value, str) and (reason := unsafe_text(value))]
        if problems:
            raise RequestValidationError([{"type": "unsafe_text", "loc": ("body", displayable(name)), "msg": reason}
                                          for name, reason in problems])
        return
    body = await request.body()
    if b"\x00" in body:  # never valid in JSON text; a YAML rubric must not carry one either
        problems.append(("body", "must not contain the NUL character"))
    elif b"\\u" in body:  # only an escape can put NUL or a lone surrogate into valid JSON
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            document = None  # FastAPI already refused it, or the route reads it itself
        problems += [(".".join(path) or "body", reason) for path, reason in unsafe_text_in(document)]
    if problems:
        raise RequestValidationError([{"type": "unsafe_text", "loc": ("body", displayable(name)), "msg": reason}
                                      for name, reason in problems])


# ----------------------------------------------------------------------------- OpenAPI

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def responses(*statuses: int, links: Mapping[int, Mapping[str, Any]] | None = None) -> dict[int | str, Any]:
    """A route's ``responses=``: the error model for each 4xx status it answers (422
    and 413 are documented for every route by :func:`document`), and the OpenAPI
    links from its success response (``{201: {"GetItem": link(...)}}``), which
    stateful testing and readers follow."""
    out: dict[int | str, Any] = {s: {"model": ErrorBody, "description": error_name(s)} for s in statuses}
    for status, named in (links or {}).items():
        out[status] = {"links": dict(named)}
    return out


def link(method: str, path: str, description: str = "", *, request_body: str | None = None,
         **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation ``method path`` of the same service, each
    parameter given as a runtime expression (``"$response.body#/lead_id"``)."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    out: dict[str, Any] = {"operationRef": f"#/paths/{pointer}/{method.lower()}", "parameters": parameters}
    if request_body is not None:
        out["requestBody"] = request_body
    if description:
        out["description"] = description
    return out


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what the service answers: every 4xx a route
    declares, every 422, the 413 of every operation with a body and the 401 and 403 of
    every operation that needs a bearer token are the error model in JSON, which
    replaces FastAPI's ``HTTPValidationError``."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas["ErrorBody"] = schema
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            refused = {s: answers[s].get("description", error_name(int(s))) for s in answers if s.startswith("4")}
            refused |= {"422": error_name(422), **({"413": error_name(413)} if "requestBody" in operation else {})}
            if operation.get("security"):  # a bearer token's route (shared.auth): refused without one, or a role
                refused |= {"401": "no valid bearer token", "403": "the token's roles do not allow this"}
            for status, description in refused.items():
                # JSON whatever the route's own response class (an HTML page's 404 is JSON too)
                answers[status] = {"description": description,
                                   "content": {"application/json": {"schema": _ERROR_REF}}}
    return openapi


def install(app: FastAPI, max_body_bytes: int, larger_bodies: Mapping[str, int] | None = None) -> None:
    """Give ``app`` the one error model (its handlers, its OpenAPI document) and the
    request body limit (``larger_bodies``: the paths, by prefix, with a larger one)."""
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, larger=larger_bodies)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(EventTooLarge, _event_too_large)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version,
                description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

