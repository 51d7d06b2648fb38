"""The HTTP side of :mod:`shared.privacy`: every service's export route, and the
gathering of every service's part of a subject access request (capture's)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request

from shared import audit
from shared.auth import Principal, Role, allow
from shared.events import utcnow
from shared.privacy import SubjectData, SubjectExport
from shared.responses import responses
from shared.service import get_runtime


class PartMissing(Exception):
    """A service did not give its part of an export."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service, self.reason = service, reason


def _fetch(url: str, authorization: str | None, timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   **({"Authorization": authorization} if authorization else {})})
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        body: dict[str, Any] = orjson.loads(answer.read())
        return body


async def gather(peers: Mapping[str, str], lead_id: str, authorization: str | None,
                 timeout_s: float = 10.0) -> dict[str, SubjectExport]:
    """Every peer service's part of a subject access request, asked at once (each
    service's ``GET /v1/subjects/{lead_id}/export`` at its base URL in ``peers``, with the
    caller's own credentials). Raises :class:`PartMissing` naming a service that did not
    answer with its part: an export that leaves a service out is no export."""
    async def one(service: str, base: str) -> SubjectExport:
        url = f"{base.rstrip('/')}/v1/subjects/{urllib.parse.quote(lead_id, safe='')}/export"
        try:
            return SubjectExport.model_validate(await asyncio.to_thread(_fetch, url, authorization, timeout_s))
        except urllib.error.HTTPError as exc:
            raise PartMissing(service, f"answered {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise PartMissing(service, f"did not answer ({type(exc).__name__}: {exc})") from None

    parts = await asyncio.gather(*(one(s, u) for s, u in peers.items()))
    return dict(zip(peers, parts, strict=True))


LeadIdPath = Annotated[str, Path(min_length=1, max_length=200, description="the person's lead id")]
Operator = Annotated[Principal, allow(Role.operator)]


def router(service: str) -> APIRouter:
    """``GET /v1/subjects/{lead_id}/export``: this service's part of a subject access
    request (the operator's job), recorded in the audit trail. The service's deps carry
    its :class:`SubjectData` as ``subjects``."""
    api = APIRouter(tags=["privacy"])

    @api.get("/v1/subjects/{lead_id}/export", response_model=SubjectExport, responses=responses())
    async def export_subject(request: Request, lead_id: LeadIdPath, who: Operator) -> SubjectExport:
        """Everything this service holds about the person with this lead id."""
        runtime = await get_runtime(request)
        data: SubjectData = request.app.state.deps.subjects
        async with runtime.unit_of_work() as uow:
            tables = await data.export(uow.conn, lead_id)
            audit.record(uow, who, "lead.exported", "lead", lead_id, details={"service": service})
        return SubjectExport(service=service, lead_id=lead_id, exported_at=utcnow(), tables=tables)

    return api


__all__ = ["PartMissing", "gather", "router"]
