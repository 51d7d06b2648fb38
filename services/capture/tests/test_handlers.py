"""Capture's handlers on the fake unit of work and the in-memory lead store: what a
command stores and emits, and how the projection follows lead events (driven through
the registry the service runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.capture import handlers
from services.capture.domain.leads import ActivityPerson, LeadConflict
from services.capture.handlers import Activity, CaptureDeps, Newcomer, Submission, registry
from services.capture.tests.fakes import InMemoryImports, InMemoryLeads
from shared import topics
from shared.events import (
    Behaviour,
    Event,
    FollowUpRecorded,
    LeadAssigned,
    LeadCaptured,
    LeadEngaged,
    LeadProfile,
    LeadScored,
    LeadSource,
    NurtureMessageEngaged,
    lead_id_for_email,
)
from shared.testing import FakeKeyTable, FakeUnitOfWork
from shared.topics import TopicSpec

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def capture() -> tuple[CaptureDeps, InMemoryLeads]:
    """Capture over an in-memory store that has heard of the campaigns "expo" and "webinar-q2"."""
    leads = InMemoryLeads(clock=lambda: T0)
    for name in ("expo", "webinar-q2"):
        leads.campaigns[name] = {"campaign_id": name, "name": name, "type": "event", "version": 1, "defined_at": T0}
    return CaptureDeps(leads=leads, imports=InMemoryImports(), keys=FakeKeyTable(), clock=lambda: T0), leads


def submission(*, email: str = "Ann.Lee@Acme.com", source: LeadSource = LeadSource.WEB_FORM,
               key: str | None = None, given: bool = False, **profile: object) -> Submission:
    fields: dict[str, object] = {"email": email, "name": "Ann Lee", "company": "Acme", "title": "VP Sales",
                                 "country": "GB", "company_size": 500}
    fields.update(profile)
    return Submission(profile=LeadProfile.model_validate(fields), source=source, campaign="expo",
                      consent=True, occurred_at=T0, idempotency_key=key, attributes={"booth": "7"},
                      occurred_at_given=given)


def activity(key: str | None = None, behaviour: Behaviour = Behaviour.WEBINAR_ATTENDED) -> Activity:
    return Activity(behaviour=behaviour, campaign="webinar-q2", occurred_at=T0 + timedelta(hours=1),
                    idempotency_key=key, detail={"minutes": "50"})


async def test_a_new_person_becomes_a_lead_and_lead_captured_is_emitted() -> None:
    deps, leads = capture()
    uow = FakeUnitOfWork()
    accepted = await handlers.capture_lead(deps, uow, submission())
    assert not accepted.duplicate and not accepted.is_repeat
    [event] = uow.of(LeadCaptured)
    assert (event.lead_id, event.capture_id, event.is_repeat) == (accepted.lead_id, accepted.capture_id, False)
    assert event.attributes == {"booth": "7"} and event.campaign == "expo"
    stored = leads.leads[accepted.lead_id]
    assert stored["email_norm"] == "ann.lee@acme.com"
    assert [c["capture_id"] for c in leads.captures] == [accepted.capture_id]


async def test_the_same_person_from_another_source_keeps_one_lead_with_the_merged_profile() -> None:
    deps, leads = capture()
    first = await handlers.capture_lead(deps, FakeUnitOfWork(), submission())
    uow = FakeUnitOfWork()
    again = await handlers.capture_lead(deps, uow, submission(email="ann.lee@ACME.com", source=LeadSource.BADGE_SCAN,
                                                              title="", company_size=None, phone="+44 1"))
    assert again.lead_id == first.lead_id and again.is_repeat and not again.duplicate
    [event] = uow.of(LeadCaptured)
    assert event.is_repeat
    assert (event.profile.title, event.profile.company_size, event.profile.phone) == ("VP Sales", 500, "+44 1")
    stored = leads.leads[first.lead_id]
    assert stored["sources"] == ["web_form", "badge_scan"] and stored["capture_count"] == 2
    assert stored["profile"]["phone"] == "+44 1"


async def test_a_retried_submission_is_answered_not_re_emitted() -> None:
    deps, leads = capture()
    first = await handlers.capture_lead(deps, FakeUnitOfWork(), submission(key="form-1"))
    uow = FakeUnitOfWork()
    retry = await handlers.capture_lead(deps, uow, submission(key="form-1"))
    assert (retry.lead_id, retry.capture_id, retry.duplicate) == (first.lead_id, first.capture_id, True)
    assert uow.events() == []
    assert len(leads.captures) == 1


async def test_a_scanner_sending_the_same_moment_twice_without_a_key_is_one_capture() -> None:
    deps, leads = capture()
    await handlers.capture_lead(deps, FakeUnitOfWork(), submission(given=True))
    uow = FakeUnitOfWork()
    assert (await handlers.capture_lead(deps, uow, submission(given=True))).duplicate
    assert uow.events() == [] and len(leads.captures) == 1
    # without a stated moment nothing identifies a resend: both are accepted
    await handlers.capture_lead(deps, FakeUnitOfWork(), submission())
    assert len(leads.captures) == 2


async def test_an_activity_of_a_known_lead_is_emitted_once_per_key() -> None:
    deps, leads = capture()
    lead_id = (await handlers.capture_lead(deps, FakeUnitOfWork(), submission())).lead_id
    uow = FakeUnitOfWork()
    accepted = await handlers.record_activity(deps, uow, lead_id, activity("a-1"))
    [event] = uow.of(LeadEngaged)
    assert (event.lead_id, event.activity_id, event.behaviour) == (lead_id, accepted.activity_id,
                                                                   Behaviour.WEBINAR_ATTENDED)
    assert event.detail == {"minutes": "50"} and event.occurred_at == T0 + timedelta(hours=1)
    retry_uow = FakeUnitOfWork()
    retry = await handlers.record_activity(deps, retry_uow, lead_id, activity("a-1"))
    assert retry.duplicate and retry.activity_id == accepted.activity_id
    assert retry_uow.events() == [] and len(leads.activities) == 1


async def test_an_activity_of_an_unknown_lead_id_is_refused_and_nothing_is_emitted() -> None:
    deps, leads = capture()
    uow = FakeUnitOfWork()
    with pytest.raises(handlers.UnknownLead):
        await handlers.record_activity(deps, uow, "no-such-lead", activity())
    assert uow.events() == [] and leads.activities == []


def newcomer(**known: str) -> Newcomer:
    return Newcomer(person=ActivityPerson(email="New.Person@Beta.io", **known), source=LeadSource.WEBINAR,
                    consent=True, occurred_at_given=True)


async def test_an_activity_by_email_of_a_known_person_is_theirs() -> None:
    deps, leads = capture()
    lead_id = (await handlers.capture_lead(deps, FakeUnitOfWork(), submission())).lead_id
    uow = FakeUnitOfWork()
    accepted = await handlers.record_activity_by_email(
        deps, uow, Newcomer(ActivityPerson("ann.lee@acme.com"), LeadSource.WEBINAR, False, False), activity())
    assert (accepted.lead_id, accepted.lead_created) == (lead_id, False)
    assert [type(e) for e in uow.events()] == [LeadEngaged]
    assert len(leads.leads) == 1


async def test_an_attendee_nobody_captured_becomes_a_lead_once_even_when_the_activity_is_retried() -> None:
    deps, leads = capture()
    uow = FakeUnitOfWork()
    accepted = await handlers.record_activity_by_email(deps, uow, newcomer(name="Bo", company="Beta", country="us"),
                                                       activity("webinar-42"))
    assert accepted.lead_created
    captured, engaged = uow.events()
    assert isinstance(captured, LeadCaptured) and isinstance(engaged, LeadEngaged)
    assert captured.lead_id == engaged.lead_id == accepted.lead_id
    assert (captured.profile.country, captured.source, captured.campaign) == ("US", "webinar", "webinar-q2")
    assert [c["idempotency_key"] for c in leads.captures] == ["webinar-42:capture"]
    retry_uow = FakeUnitOfWork()
    retry = await handlers.record_activity_by_email(deps, retry_uow, newcomer(name="Bo", company="Beta",
                                                                              country="US"), activity("webinar-42"))
    assert (retry.lead_id, retry.duplicate, retry.lead_created) == (accepted.lead_id, True, False)
    assert retry_uow.events() == [] and len(leads.leads) == 1 and len(leads.activities) == 1


async def test_an_unknown_email_without_the_details_of_a_lead_is_refused_naming_them() -> None:
    deps, leads = capture()
    uow = FakeUnitOfWork()
    with pytest.raises(handlers.MissingLeadDetails) as refused:
        await handlers.record_activity_by_email(deps, uow, newcomer(company="Beta"), activity())
    assert refused.value.fields == ("name", "country")
    assert uow.events() == [] and leads.leads == {} and leads.activities == []


# ---------------------------------------------------------------- the projection

async def deliver(deps: CaptureDeps, spec: TopicSpec, *events: Event) -> None:
    subscription = next(s for s in registry(deps).subscriptions if s.spec is spec)
    await subscription(list(events), FakeUnitOfWork())


def assigned(assignment_id: str, at: datetime, rep_id: str = "r1") -> LeadAssigned:
    return LeadAssigned(lead_id=LEAD, assignment_id=assignment_id, owner_kind="rep", rep_id=rep_id, team="inside",
                        due_at=at + timedelta(hours=4), rule="all", reason="round robin", grade="B",
                        segment="smb", occurred_at=at)


LEAD = "L1"


async def lead_in(deps: CaptureDeps, leads: InMemoryLeads) -> None:
    accepted = await handlers.capture_lead(deps, FakeUnitOfWork(), submission())
    leads.leads[LEAD] = leads.leads.pop(accepted.lead_id) | {"lead_id": LEAD}


async def test_capture_projects_every_lead_topic() -> None:
    deps, _ = capture()
    assert {s.spec for s in registry(deps).subscriptions} == {
        topics.LEAD_CAPTURED, topics.LEAD_ENGAGED, topics.LEAD_SCORED, topics.LEAD_ASSIGNED,
        topics.FOLLOW_UP_RECORDED, topics.FOLLOW_UP_MISSED, topics.NURTURE_MESSAGE_ENGAGED,
        topics.CAMPAIGN_DEFINED, topics.CRM_OUTCOMES}


async def test_a_score_and_an_assignment_show_on_the_view_and_the_timeline() -> None:
    deps, leads = capture()
    await lead_in(deps, leads)
    scored = LeadScored(lead_id=LEAD, cause_event_id="c", profile=LeadProfile(email="a@x.com", name="A", company="C"),
                        source="web_form", score=66.0, fit_score=40, engagement_score=26, grade="B", segment="smb",
                        rubric_version="v1", occurred_at=T0 + timedelta(minutes=1))
    await deliver(deps, topics.LEAD_SCORED, scored)
    await deliver(deps, topics.LEAD_ASSIGNED, assigned("A1", T0 + timedelta(minutes=2)))
    await deliver(deps, topics.LEAD_SCORED, scored)  # redelivered: one timeline entry per event
    view = leads.leads[LEAD]
    assert (view["grade"], view["score"], view["status"], view["rep_id"], view["assignment_id"]) == (
        "B", 66.0, "assigned", "r1", "A1")
    assert [t["type"] for t in await leads.timeline(None, LEAD)] == ["scored", "assigned"]


async def test_an_older_assignment_or_a_follow_up_of_another_assignment_does_not_win() -> None:
    deps, leads = capture()
    await lead_in(deps, leads)
    await deliver(deps, topics.LEAD_ASSIGNED, assigned("A2", T0 + timedelta(hours=2), rep_id="r2"))
    await deliver(deps, topics.LEAD_ASSIGNED, assigned("A1", T0 + timedelta(hours=1)))  # arrived late
    assert (leads.leads[LEAD]["assignment_id"], leads.leads[LEAD]["rep_id"]) == ("A2", "r2")
    await deliver(deps, topics.FOLLOW_UP_RECORDED, FollowUpRecorded(
        lead_id=LEAD, assignment_id="A1", rep_id="r1", outcome="contacted", on_time=True))
    assert leads.leads[LEAD]["status"] == "assigned"
    await deliver(deps, topics.FOLLOW_UP_RECORDED, FollowUpRecorded(
        lead_id=LEAD, assignment_id="A2", rep_id="r2", outcome="contacted", on_time=True))
    assert (leads.leads[LEAD]["status"], leads.leads[LEAD]["due_at"]) == ("followed-up", None)


# ---------------------------------------------------------------- captures produced straight to Kafka

def scanned(email: str = "ann.lee@acme.com", lead_id: str | None = None, capture_id: str = "scan-1",
            **profile: object) -> LeadCaptured:
    fields: dict[str, object] = {"email": email, "name": "Ann Lee", "company": "Acme", **profile}
    return LeadCaptured(lead_id=lead_id or lead_id_for_email(email), capture_id=capture_id, consent=True,
                        source="badge_scan", campaign="expo", profile=LeadProfile.model_validate(fields),
                        occurred_at=T0)


async def test_a_capture_from_kafka_of_a_new_person_becomes_capture_s_lead_once() -> None:
    deps, leads = capture()
    event = scanned()
    await deliver(deps, topics.LEAD_CAPTURED, event)
    await deliver(deps, topics.LEAD_CAPTURED, event)  # redelivered past the inbox: still one capture
    lead = await leads.get(None, event.lead_id)
    assert lead is not None and (lead["first_source"], lead["capture_count"]) == ("badge_scan", 1)
    assert await leads.find_by_email(None, "ann.lee@acme.com") == lead
    assert [c["capture_id"] for c in leads.captures] == ["scan-1"]


async def test_the_same_person_posted_over_http_after_a_scan_keeps_the_scanned_lead() -> None:
    deps, leads = capture()
    event = scanned(email="Ann.Lee@Acme.com")
    await deliver(deps, topics.LEAD_CAPTURED, event)
    accepted = await handlers.capture_lead(deps, FakeUnitOfWork(), submission())
    assert (accepted.lead_id, accepted.is_repeat) == (event.lead_id, True)
    assert leads.leads[event.lead_id]["capture_count"] == 2


async def test_a_scan_of_a_person_posted_over_http_first_is_a_repeat_of_their_lead() -> None:
    deps, leads = capture()
    uow = FakeUnitOfWork()
    accepted = await handlers.capture_lead(deps, uow, submission())
    [own] = uow.of(LeadCaptured)
    await deliver(deps, topics.LEAD_CAPTURED, own)  # capture's own event: already recorded
    assert leads.leads[accepted.lead_id]["capture_count"] == 1
    await deliver(deps, topics.LEAD_CAPTURED, scanned(title="CMO"))
    lead = leads.leads[accepted.lead_id]
    assert (lead["capture_count"], lead["profile"]["title"], lead["profile"]["company_size"]) == (2, "CMO", 500)
    assert lead["sources"] == ["web_form", "badge_scan"]


async def test_a_scan_naming_a_known_person_by_another_lead_id_is_refused() -> None:
    deps, leads = capture()
    await deliver(deps, topics.LEAD_CAPTURED, scanned())
    with pytest.raises(LeadConflict):
        await deliver(deps, topics.LEAD_CAPTURED, scanned(lead_id="crm-42", capture_id="scan-2"))
    assert [c["capture_id"] for c in leads.captures] == ["scan-1"]
async def test_opens_and_clicks_of_nurture_email_become_the_leads_activities_once() -> None:
    deps, leads = capture()
    lead_id = (await handlers.capture_lead(deps, FakeUnitOfWork(), submission())).lead_id
    subscription = next(s for s in registry(deps).subscriptions if s.spec is topics.NURTURE_MESSAGE_ENGAGED)
    click = NurtureMessageEngaged(lead_id=lead_id, message_id="m1", behaviour="email_click",
                                  url="https://x.example/a", campaign="webinar-q2", occurred_at=T0)
    opened = NurtureMessageEngaged(lead_id=lead_id, message_id="m1", behaviour="email_open", occurred_at=T0)
    unknown = NurtureMessageEngaged(lead_id="nobody", message_id="m9", behaviour="email_open", occurred_at=T0)
    uow = FakeUnitOfWork()
    await subscription([click, opened, click, unknown], uow)
    assert [(e.lead_id, e.behaviour, e.campaign) for e in uow.of(LeadEngaged)] == [
        (lead_id, Behaviour.PAGE_VISIT, "webinar-q2"), (lead_id, Behaviour.EMAIL_OPEN, None)]
    assert uow.of(LeadEngaged)[0].detail == {"via": "nurture-email", "message_id": "m1", "url": "https://x.example/a"}
    assert len(leads.activities) == 2
