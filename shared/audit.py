"""The audit trail: who changed what, when, in every service, written once here.

A command that changes something the business agreed on (a rubric draft, an approval,
an activation, the organisation, the rules, a campaign, a track, a collateral item's
status) or that reads or erases a person's data records it with one call, inside its
own unit of work::

    audit.record(uow, who, "rubric.approved", "rubric", version, details={"side": "sales"})
    audit.record(uow, who, "org.changed", "org", "org", before=old_doc, after=new_doc)
    audit.record(uow, who, "lead.exported", "lead", lead_id)          # a subject access request
    audit.record(uow, who, "lead.erased", "lead", lead_id, details={"services": [...]})

``record`` only emits an :class:`~shared.events.AuditRecorded`; the runtime
(:class:`shared.runtime.Runtime`) writes every one of them into the service's
``audit_log`` table (:class:`shared.db.AuditLog`) in the same transaction as the change
and its outbox rows, so an entry exists exactly when the change committed, and it is
published on ``audit-recorded`` like any other event. The table refuses UPDATE, DELETE
and TRUNCATE (a trigger); ``GET /v1/audit`` (:mod:`shared.audit_api`) reads it.

This module is pure (no driver, no web framework), so handlers and their unit tests use
it with :class:`shared.testing.FakeUnitOfWork`: ``uow.of(AuditRecorded)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shared.events import AuditChange, AuditRecorded, derive_event_id
from shared.handling import UnitOfWork


class Who(Protocol):
    """Whoever acts: a verified caller (``shared.auth.Principal`` is one) or :class:`Actor`."""

    @property
    def subject(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def roles(self) -> Iterable[Any]: ...


@dataclass(frozen=True)
class Actor:
    """An actor that is not a request's caller: the service's own work (a seed file, a
    clocked job; see :func:`system`) or a test's person."""

    subject: str
    name: str = ""
    roles: tuple[str, ...] = ()


def system(job: str) -> Actor:
    """The service itself, doing ``job`` (``system:seed``, ``system:retirement``)."""
    return Actor(f"system:{job}", job)


def diff(before: Any, after: Any, path: str = "") -> list[AuditChange]:
    """Where ``after`` differs from ``before``: mappings and lists are compared place by
    place (list items by index), anything else as a whole. A subject created from
    nothing (``before`` None) is one change at ``""``."""
    if before == after:
        return []
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changes: list[AuditChange] = []
        for key in [*before, *(k for k in after if k not in before)]:
            changes += diff(before.get(key, None), after.get(key, None), _join(path, str(key)))
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for i in range(max(len(before), len(after))):
            changes += diff(before[i] if i < len(before) else None, after[i] if i < len(after) else None,
                            _join(path, str(i)))
        return changes
    return [AuditChange(path=path, before=before, after=after)]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def record(uow: UnitOfWork, who: Who, action: str, subject_type: str, subject_id: str, *,
           before: Any = None, after: Any = None, details: Mapping[str, Any] | None = None,
           cause_id: str | None = None) -> AuditRecorded:
    """Record, in ``uow``'s transaction, that ``who`` did ``action`` to a subject:
    ``changes`` are :func:`diff` of ``before`` and ``after`` (JSON-like values),
    ``details`` any other small facts (a side, a version, a count). Never put a lead's
    personal data here: name the lead by its id. ``cause_id`` (a consumed event's id)
    makes the entry's id deterministic, so a re-run records it once."""
    extra = {"event_id": derive_event_id(cause_id, "audit", action, subject_id)} if cause_id else {}
    entry = AuditRecorded(**extra, action=action, subject_type=subject_type, subject_id=subject_id,
                          actor=who.subject, actor_name=who.name or "",
                          actor_roles=tuple(sorted(str(r) for r in who.roles)),
                          changes=tuple(diff(before, after)), details=dict(details or {}))
    uow.emit(entry)
    return entry


__all__ = ["Actor", "AuditRecorded", "Who", "diff", "record", "system"]
