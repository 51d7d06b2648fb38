"""Capture's side of an erasure on the fakes: the key is destroyed and the request
published in one unit of work; the erasure completes (its receipt published, once) only
when every service has confirmed; retention erases unconverted leads once; a person
captured again after an erasure gets a new key."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from services.capture import handlers
from services.capture.handlers import CaptureDeps, registry
from services.capture.tests.fakes import InMemoryErasures, InMemoryImports, InMemoryLeads
from services.capture.tests.test_handlers import submission
from shared import audit, testing, topics
from shared.events import (
    AuditRecorded,
    ConsentWithdrawn,
    ErasureReason,
    SubjectErased,
    SubjectErasureCompleted,
    SubjectErasureRequested,
)
from shared.privacy import Rows
from shared.testing import FakeKeyTable, FakeUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPERATOR = audit.Actor("op-1", "Olive Operator", ("operator",))
SERVICES = ("capture", "scoring", "routing")


class NoSubjectData:
    async def export(self, conn: Any, lead_id: str) -> Rows:
        return {}

    async def erase(self, conn: Any, lead_id: str) -> int:
        return 0

    async def withdraw_consent(self, conn: Any, lead_id: str, at: datetime) -> int:
        return 0


def capture(now: list[datetime] | None = None) -> tuple[CaptureDeps, InMemoryLeads, InMemoryErasures]:
    clock = now or [T0]
    leads = InMemoryLeads(clock=lambda: clock[0])
    leads.campaigns["expo"] = {"campaign_id": "expo", "name": "expo", "type": "event", "version": 1, "defined_at": T0}
    erasures = InMemoryErasures(leads)
    deps = CaptureDeps(leads=leads, imports=InMemoryImports(), keys=FakeKeyTable(), clock=lambda: clock[0],
                       erasures=erasures, subjects=NoSubjectData(), privacy_services=SERVICES,
                       retention_s=30 * 86400, retention_batch=2)
    return deps, leads, erasures


def confirmation(request: SubjectErasureRequested, service: str) -> SubjectErased:
    return SubjectErased(event_id=f"{request.erasure_id}-{service}", lead_id=request.lead_id,
                         erasure_id=request.erasure_id, service=service, rows=1, occurred_at=T0)


async def test_an_erasure_destroys_the_key_at_once_and_completes_when_every_service_confirmed() -> None:
    deps, _, _ = capture()
    uow = FakeUnitOfWork()
    lead = await handlers.capture_lead(deps, uow, submission())
    uow = FakeUnitOfWork()
    started = await handlers.request_erasure(deps, uow, "ann.lee@acme.com", OPERATOR)
    assert started.lead_id == lead.lead_id
    assert deps.keys.destroyed == [lead.lead_id]  # type: ignore[attr-defined]
    [request] = uow.of(SubjectErasureRequested)
    assert (request.lead_id, request.reason, request.requested_by) == (lead.lead_id, ErasureReason.REQUEST, "op-1")
    assert "ann" not in request.model_dump_json().lower()  # the request names the person by lead id only
    assert [a.action for a in uow.of(AuditRecorded)] == ["lead.erasure_requested"]

    reg = registry(deps)
    for service in SERVICES[:-1]:
        confirmed = await testing.deliver(reg, topics.SUBJECT_ERASED, [confirmation(request, service)])
        assert confirmed.of(SubjectErasureCompleted) == []
    receipt = await handlers.erasure_receipt(deps, None, started.erasure_id)
    assert receipt.waiting_for == ("routing",) and receipt.erasure["completed_at"] is None

    last = await testing.deliver(reg, topics.SUBJECT_ERASED, [confirmation(request, "routing")])
    [completed] = last.of(SubjectErasureCompleted)
    assert [c.service for c in completed.confirmations] == ["capture", "routing", "scoring"]
    assert (completed.erasure_id, completed.lead_id) == (started.erasure_id, lead.lead_id)
    again = await testing.deliver(reg, topics.SUBJECT_ERASED, [confirmation(request, "routing")])
    assert again.of(SubjectErasureCompleted) == []  # one receipt per erasure
    assert (await handlers.erasure_receipt(deps, None, started.erasure_id)).waiting_for == ()


async def test_every_service_stops_erases_and_confirms_its_part_once() -> None:
    calls: list[str] = []

    class Recording(NoSubjectData):
        async def erase(self, conn: Any, lead_id: str) -> int:
            calls.append(f"erase {lead_id}")
            return 3

        async def withdraw_consent(self, conn: Any, lead_id: str, at: datetime) -> int:
            calls.append(f"withdraw {lead_id}")
            return 1

    deps, _, _ = capture()
    deps = dataclasses.replace(deps, subjects=Recording())
    request = SubjectErasureRequested(lead_id="L-1", erasure_id="E-1")
    uow = await testing.deliver(registry(deps), topics.SUBJECT_ERASURE_REQUESTED, [request])
    assert calls == ["withdraw L-1", "erase L-1"]  # stopped before forgotten
    [erased] = uow.of(SubjectErased)
    assert (erased.service, erased.rows, erased.erasure_id) == ("capture", 3, "E-1")
    again = await testing.deliver(registry(deps), topics.SUBJECT_ERASURE_REQUESTED, [request])
    assert again.of(SubjectErased)[0].event_id == erased.event_id  # a re-run confirms with the same id
    consent = await testing.deliver(registry(deps), topics.CONSENT_WITHDRAWN, [ConsentWithdrawn(lead_id="L-2")])
    assert calls[-1] == "withdraw L-2" and consent.of(SubjectErased) == []


async def test_retention_erases_unconverted_leads_once_each() -> None:
    now = [T0]
    deps, _, erasures = capture(now)
    ids = []
    for i in range(3):
        ids.append((await handlers.capture_lead(deps, FakeUnitOfWork(), submission(email=f"p{i}@x.example"))).lead_id)
    erasures.converted.add(ids[1])  # a CRM outcome: converted, kept
    now[0] = T0 + timedelta(days=29)
    units = await testing.run_job(registry(deps), "retention")
    assert units.events() == []
    now[0] = T0 + timedelta(days=31)
    units = await testing.run_job(registry(deps), "retention")
    requested = [e for e in units.events() if isinstance(e, SubjectErasureRequested)]
    assert sorted(e.lead_id for e in requested) == sorted([ids[0], ids[2]])
    assert {e.reason for e in requested} == {ErasureReason.RETENTION}
    again = await testing.run_job(registry(deps), "retention")  # still being erased: not taken again
    assert [e for e in again.events() if isinstance(e, SubjectErasureRequested)] == []


async def test_a_person_captured_again_after_an_erasure_gets_a_new_key() -> None:
    deps, leads, _ = capture()
    lead = await handlers.capture_lead(deps, FakeUnitOfWork(), submission())
    await handlers.request_erasure(deps, FakeUnitOfWork(), "ann.lee@acme.com", OPERATOR)
    del leads.leads[lead.lead_id]  # capture's own part of the erasure
    again = await handlers.capture_lead(deps, FakeUnitOfWork(), submission())
    assert again.lead_id == lead.lead_id and deps.keys.readmitted == [lead.lead_id]  # type: ignore[attr-defined]
