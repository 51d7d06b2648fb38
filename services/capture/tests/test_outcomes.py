"""Campaigns capture has heard of, and CRM outcomes matched to leads (or kept until
they can be), through the registry the service runs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.capture import handlers
from services.capture.handlers import CaptureDeps, registry
from services.capture.tests.fakes import InMemoryImports, InMemoryLeads
from services.capture.tests.test_handlers import activity, submission
from shared import topics
from shared.events import CampaignDefined, CrmOutcomeReported, DealOutcomeRecorded, LeadCaptured
from shared.testing import FakeKeyTable, FakeUnitOfWork, deliver

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def capture() -> tuple[CaptureDeps, InMemoryLeads]:
    leads = InMemoryLeads(clock=lambda: T0)
    return CaptureDeps(leads=leads, imports=InMemoryImports(), keys=FakeKeyTable(), clock=lambda: T0), leads


def defined(campaign_id: str, version: int = 1) -> CampaignDefined:
    return CampaignDefined(campaign_id=campaign_id, version=version, name=campaign_id, type="trade_show",
                           owner="mo", starts_at=T0)


async def test_a_lead_or_activity_naming_a_campaign_never_defined_is_refused_until_it_is() -> None:
    deps, leads = capture()
    with pytest.raises(handlers.UnknownCampaign, match="'expo'"):
        await handlers.capture_lead(deps, FakeUnitOfWork(), submission())
    await deliver(registry(deps), topics.CAMPAIGN_DEFINED, [defined("expo")])
    accepted = await handlers.capture_lead(deps, FakeUnitOfWork(), submission())
    with pytest.raises(handlers.UnknownCampaign, match="'webinar-q2'"):
        await handlers.record_activity(deps, FakeUnitOfWork(), accepted.lead_id, activity())
    await deliver(registry(deps), topics.CAMPAIGN_DEFINED, [defined("expo", 3), defined("expo", 2)])
    assert leads.campaigns["expo"]["version"] == 3  # an older definition read late changes nothing


def outcome(**kw: object) -> CrmOutcomeReported:
    base: dict[str, object] = {"source": "crm", "opportunity_id": "OPP-1", "kind": "won", "amount_minor": 990_000,
                               "currency": "USD", "close_date": date(2026, 3, 20), "occurred_at": T0}
    return CrmOutcomeReported(**{**base, **kw})  # type: ignore[arg-type]


async def test_outcomes_match_by_lead_id_email_or_domain_and_the_unmatched_wait_for_their_person() -> None:
    deps, leads = capture()
    await deliver(registry(deps), topics.CAMPAIGN_DEFINED, [defined("expo")])
    ann = (await handlers.capture_lead(deps, FakeUnitOfWork(), submission(email="ann.lee@acme.com"))).lead_id
    uow = await deliver(registry(deps), topics.CRM_OUTCOMES, [
        outcome(lead_id=ann), outcome(opportunity_id="OPP-2", email="ANN.LEE@acme.com", kind="opportunity_created",
                                      amount_minor=None, currency=None, close_date=None),
        outcome(opportunity_id="OPP-3", account_domain="www.Acme.com"),
        outcome(opportunity_id="OPP-4", email="bo@globex.example")])
    assert [(e.opportunity_id, e.lead_id, e.matched_by) for e in uow.of(DealOutcomeRecorded)] == [
        ("OPP-1", ann, "lead_id"), ("OPP-2", ann, "email"), ("OPP-3", ann, "account_domain")]
    [waiting] = await leads.list_outcomes(None, False, 10, 0)
    assert (waiting["opportunity_id"], waiting["lead_id"]) == ("OPP-4", None)
    # the same record delivered again: nothing new
    again = await deliver(registry(deps), topics.CRM_OUTCOMES, [outcome(
        opportunity_id="OPP-4", email="bo@globex.example", event_id=waiting["outcome_id"])])
    assert again.of(DealOutcomeRecorded) == []
    # Bo is captured later: the outcome waiting for him is his now
    later = FakeUnitOfWork()
    bo = await handlers.capture_lead(deps, later, submission(email="Bo@Globex.example"))
    [recorded] = later.of(DealOutcomeRecorded)
    assert (recorded.lead_id, recorded.opportunity_id, recorded.amount_minor, recorded.matched_by) == (
        bo.lead_id, "OPP-4", 990_000, "email")
    assert later.of(LeadCaptured)[0].lead_id == bo.lead_id
    assert await leads.count_unmatched(None) == 0


async def test_a_webhook_delivery_is_one_outcome_however_often_it_is_sent() -> None:
    deps, _ = capture()
    first, second = FakeUnitOfWork(), FakeUnitOfWork()
    facts = {"opportunity_id": "OPP-9", "kind": "lost", "email": "x@y.example"}
    a = await handlers.report_outcome(deps, first, "crm", "msg_1", facts)
    b = await handlers.report_outcome(deps, second, "crm", "msg_1", facts)
    assert a.event_id == b.event_id and first.of(CrmOutcomeReported) == [a]


async def test_an_invitation_list_captures_whom_it_must_and_invites_everyone_once() -> None:
    from services.capture.domain.leads import ActivityPerson
    from shared.events import Behaviour, LeadEngaged, LeadSource

    deps, _ = capture()
    await deliver(registry(deps), topics.CAMPAIGN_DEFINED, [defined("webinar-q4"), defined("expo")])
    known = (await handlers.capture_lead(deps, FakeUnitOfWork(), submission(email="ann@acme.com"))).lead_id
    people = [handlers.Newcomer(ActivityPerson("ANN@acme.com"), LeadSource.LIST_IMPORT, False, False),
              handlers.Newcomer(ActivityPerson("bo@globex.example", "Bo", "Globex", "US"), LeadSource.LIST_IMPORT,
                                True, False)]
    uow = FakeUnitOfWork()
    accepted = await handlers.invite(deps, uow, "webinar-q4", people, "invited", T0)
    assert [a.lead_id == known for a in accepted] == [True, False]
    assert [(e.behaviour, e.campaign) for e in uow.of(LeadEngaged)] == [(Behaviour.WEBINAR_INVITED, "webinar-q4")] * 2
    assert [e.profile.email for e in uow.of(LeadCaptured)] == ["bo@globex.example"]
    again = FakeUnitOfWork()
    assert all(a.duplicate for a in await handlers.invite(deps, again, "webinar-q4", people, "invited", T0))
    assert again.of(LeadEngaged) == []
    with pytest.raises(handlers.InvalidInvitations) as bad:
        await handlers.invite(deps, FakeUnitOfWork(), "webinar-q4", [
            *people, handlers.Newcomer(ActivityPerson("cy@initech.example", "Cy"), LeadSource.LIST_IMPORT, True,
                                       False)], "invited", T0)
    assert bad.value.missing == ((2, ("company", "country")),)
    with pytest.raises(handlers.UnknownCampaign):
        await handlers.invite(deps, FakeUnitOfWork(), "no-such", people, "invited", T0)
