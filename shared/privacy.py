"""A person's data in every service (GDPR), one shape for all: export (a subject access
request), erasure and consent withdrawal. Written once here; each service only says what
it holds about a person, in its repository, as a :class:`SubjectData`.

- **Export**: every service answers ``GET /v1/subjects/{lead_id}/export`` (:func:`shared.privacy_api.router`)
  with its part, a :class:`SubjectExport` (table -> the person's rows); capture's
  ``GET /v1/subjects/{email}/export`` gathers every service's part into one document
  (:func:`shared.privacy_api.gather`).
- **Erasure**: capture destroys the person's key (:meth:`shared.pii.KeyRing.erase`: their
  events in Kafka are unreadable from that commit on) and publishes
  ``subject-erasure-requested``; every service, through :func:`subscriptions`, stops
  whatever it would still do for the person, removes their personal data from its tables
  (deleting or blanking, so anonymous aggregates such as counts and revenue stay right)
  and confirms with ``subject-erased``. Capture publishes the receipt
  (``subject-erasure-completed``) once every service has confirmed.
- **Consent withdrawn** (``consent-withdrawn``, and every erasure): every message and task
  for the person stops at once (:meth:`SubjectData.withdraw_consent`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel

from shared import audit, pii, topics
from shared.events import ConsentWithdrawn, SubjectErased, SubjectErasureRequested, derive_event_id
from shared.handling import Subscription, UnitOfWork

PRIVACY_SERVICES: tuple[str, ...] = ("capture", "scoring", "routing", "nurture", "content")
"""The services holding personal data: an erasure is complete when each has confirmed."""

Rows = dict[str, list[dict[str, Any]]]
"""A service's data about one person: each table's rows (JSON-ready)."""


class SubjectData(Protocol):
    """What a service holds about a person, and how it forgets them (its repository
    implements it; every method runs in the caller's transaction)."""

    async def export(self, conn: Any, lead_id: str) -> Rows:
        """Every row of the service's tables that is about the person."""
        ...

    async def erase(self, conn: Any, lead_id: str) -> int:
        """Remove the person's personal data (delete, or blank the personal columns where
        a row also counts in an anonymous aggregate); returns the rows touched."""
        ...

    async def withdraw_consent(self, conn: Any, lead_id: str, at: datetime) -> int:
        """Stop whatever the service would still send or ask for the person (messages,
        tasks, follow-up clocks); returns how many were stopped."""
        ...


class SubjectExport(BaseModel):
    """One service's part of a subject access request."""

    service: str
    lead_id: str
    exported_at: AwareDatetime
    tables: Rows


def erased_profile_sql(column: str) -> str:
    """SQL for a stored ``LeadProfile`` (jsonb) with the person's fields erased, the
    company's kept (what an erased person's events read as, :data:`shared.events.PROFILE_PERSONAL`)."""
    return (f"{column} || jsonb_build_object('email', '{pii.ERASED_EMAIL}', 'name', '{pii.ERASED_TEXT}', "
            f"'title', '{pii.ERASED_TEXT}', 'phone', null)")


def count(status: str) -> int:
    """The row count of a command's status ("UPDATE 3", "DELETE 1")."""
    return int(status.rsplit(" ", 1)[-1])


async def rows_of(conn: Any, schema: str, tables: Sequence[str], lead_id: str) -> Rows:
    """Each table's rows whose ``lead_id`` is the person's."""
    return {t: jsonable(await conn.fetch(f"SELECT * FROM {schema}.{t} WHERE lead_id = $1", lead_id))
            for t in tables}


def jsonable(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Database rows as JSON-ready dicts (datetimes as ISO 8601, bytes as their size)."""
    def value(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, bytes | bytearray | memoryview):
            return f"<{len(bytes(v))} bytes>"
        if isinstance(v, list | tuple):
            return [value(x) for x in v]
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items()}
        if v is None or isinstance(v, str | int | float | bool):
            return v
        return str(v)
    return [{k: value(v) for k, v in dict(r).items()} for r in rows]


async def on_erasure_requested(service: str, data: SubjectData, event: SubjectErasureRequested,
                               uow: UnitOfWork) -> None:
    """The service's part of an erasure: stop, forget, confirm (once per erasure: the
    confirmation's id derives from the request's)."""
    await data.withdraw_consent(uow.conn, event.lead_id, event.occurred_at)
    rows = await data.erase(uow.conn, event.lead_id)
    uow.emit(SubjectErased(event_id=derive_event_id(event.event_id, "erased", service), lead_id=event.lead_id,
                           erasure_id=event.erasure_id, service=service, rows=rows))
    audit.record(uow, audit.system("erasure"), "lead.erased", "lead", event.lead_id, cause_id=event.event_id,
                 details={"erasure_id": event.erasure_id, "rows": rows, "reason": str(event.reason)})


async def on_consent_withdrawn(data: SubjectData, event: ConsentWithdrawn, uow: UnitOfWork) -> None:
    await data.withdraw_consent(uow.conn, event.lead_id, event.occurred_at)


def subscriptions(service: str, data: SubjectData) -> list[Subscription[Any]]:
    """The two subscriptions every service's registry carries (``*privacy.subscriptions(...)``)."""
    async def erasure(event: SubjectErasureRequested, uow: UnitOfWork) -> None:
        await on_erasure_requested(service, data, event, uow)

    async def consent(event: ConsentWithdrawn, uow: UnitOfWork) -> None:
        await on_consent_withdrawn(data, event, uow)

    erasure.__name__, consent.__name__ = "on_erasure_requested", "on_consent_withdrawn"
    return [Subscription(topics.SUBJECT_ERASURE_REQUESTED, handler=erasure),
            Subscription(topics.CONSENT_WITHDRAWN, handler=consent)]


__all__ = ["PRIVACY_SERVICES", "Rows", "SubjectData", "SubjectExport", "count", "erased_profile_sql", "jsonable",
           "rows_of", "subscriptions"]
