"""``GET /v1/audit`` in every service: its audit trail (:mod:`shared.audit`), oldest first.

Operators read all of it. A service may let other roles read entries about some subject
types (``ServiceDefinition.audit_readers``): scoring lets marketing and sales approvers
read the rubric's. Pages follow ``seq``: pass the answer's ``next_after`` as ``after``.
"""

# (no ``from __future__ import annotations``: the route's parameters name the closure's
# ``readers``, and FastAPI must see them evaluated)
from collections.abc import Collection, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from shared.auth import Principal, Role, allow, forbidden
from shared.responses import responses
from shared.runtime import Runtime
from shared.validation import Instant, Text

AuditReaders = Mapping[Role, Collection[str]]
"""Roles besides operator that may read the audit trail, each limited to these subject types."""


def _runtime(request: Request) -> Runtime:
    # (shared.service.RuntimeDep's twin: shared.service includes this router, so it cannot be imported here)
    runtime: Runtime = request.app.state.runtime
    return runtime


def entry_view(row: Mapping[str, Any], service: str) -> dict[str, Any]:
    return {"seq": row["seq"], "event_id": row["event_id"], "service": service,
            "occurred_at": row["occurred_at"].isoformat(), "recorded_at": row["recorded_at"].isoformat(),
            "action": row["action"], "subject_type": row["subject_type"], "subject_id": row["subject_id"],
            "actor": {"subject": row["actor"], "name": row["actor_name"], "roles": list(row["actor_roles"])},
            "changes": row["changes"], "details": row["details"]}


def audit_router(service: str, readers: AuditReaders | None = None) -> APIRouter:
    """The audit route of ``service``; ``readers`` as in the module doc."""
    readers = {role: frozenset(types) for role, types in (readers or {}).items()}
    router = APIRouter(prefix="/v1", tags=["audit"])

    @router.get("/audit", responses=responses(403))
    async def audit_trail(
            runtime: Annotated[Runtime, Depends(_runtime)], who: Annotated[Principal, allow(Role.operator, *readers)],
            subject_type: Annotated[Text | None, Query(description="rubric, org, rules, campaign, track, "
                                                                   "collateral, lead, ...")] = None,
            subject_id: Annotated[Text | None, Query()] = None,
            action: Annotated[Text | None, Query(description="e.g. rubric.approved")] = None,
            actor: Annotated[Text | None, Query(description="the token subject who acted")] = None,
            since: Annotated[Instant | None, Query(description="occurred at or after")] = None,
            until: Annotated[Instant | None, Query(description="occurred before")] = None,
            after: Annotated[int, Query(ge=0, le=2**62, description="the previous page's next_after")] = 0,
            limit: Annotated[int, Field(ge=1, le=500), Query()] = 100) -> dict[str, Any]:
        """Who changed what, when: every entry of this service's append-only trail that
        matches the filters, in the order recorded."""
        types: Collection[str] | None = None
        if not who.has(Role.operator):
            types = frozenset().union(*(readers.get(role, frozenset()) for role in who.roles))
            if subject_type is not None and subject_type not in types:
                raise forbidden(f"your roles may read the audit of {', '.join(sorted(types))} only")
        if subject_type is not None:
            types = [subject_type]
        rows = await runtime.audit.query(runtime.pool, subject_types=None if types is None else sorted(types),
                                         subject_id=subject_id, action=action, actor=actor, since=since,
                                         until=until, after_seq=after, limit=limit)
        return {"entries": [entry_view(r, service) for r in rows],
                "next_after": rows[-1]["seq"] if len(rows) == limit else None}

    return router
