"""Campaign handlers on the fake unit of work and the in-memory stores: a small
webinar from definition to attributed revenue, through the registry the service runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.nurture import handlers
from services.nurture.domain.attribution import MODELS
from services.nurture.domain.campaigns import CampaignDraft, EventDetails
from services.nurture.domain.funnel import BackwardMove
from services.nurture.domain.mail import Limits
from services.nurture.handlers import MailSettings, NurtureDeps, registry
from services.nurture.tests.fakes import FakeMailer, InMemoryCampaigns, InMemoryPool, InMemoryPrograms
from shared import topics
from shared.audit import Actor
from shared.events import (
    AuditRecorded,
    Behaviour,
    CampaignDefined,
    CampaignMemberChanged,
    CampaignType,
    DealOutcomeRecorded,
    FollowUpRecorded,
    LeadCaptured,
    LeadEngaged,
    LeadProfile,
    LeadScored,
    MemberStatus,
)
from shared.testing import FakeUnitOfWork, deliver

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


class Nurture:
    def __init__(self) -> None:
        self.store = InMemoryCampaigns()
        pool = InMemoryPool()
        self.deps = NurtureDeps(pool=pool, programs=InMemoryPrograms(pool), mailer=FakeMailer(),
                                mail=MailSettings("M <m@leadbridge.example>", "https://n.example", "leadbridge.example",
                                                  Limits(5, 20)),
                                campaigns=self.store, clock=lambda: T0)
        self.registry = registry(self.deps)

    async def define(self, campaign_id: str = "webinar-q4", ctype: CampaignType = CampaignType.WEBINAR,
                     cost: str = "5000") -> CampaignDefined:
        event = EventDetails(datetime(2026, 12, 10, 16), datetime(2026, 12, 10, 17), "Europe/Berlin") \
            if ctype is CampaignType.WEBINAR else None
        return await handlers.define_campaign(self.deps, FakeUnitOfWork(), CampaignDraft(
            campaign_id, "Q4 webinar", ctype, "mo", T0, T0 + timedelta(days=60), Decimal(cost), "USD", "2 clients",
            event), new=True)

    async def capture(self, lead_id: str, campaign: str | None, *, repeat: bool = False,
                      at: datetime = T0) -> FakeUnitOfWork:
        return await deliver(self.registry, topics.LEAD_CAPTURED, [LeadCaptured(
            lead_id=lead_id, capture_id=f"c-{lead_id}-{at}", profile=LeadProfile(
                email=f"{lead_id}@x.example", name="N", company="C"), source="list_import", campaign=campaign,
            consent=True, is_repeat=repeat, occurred_at=at)])

    async def engage(self, lead_id: str, behaviour: Behaviour, at: datetime, campaign: str = "webinar-q4") -> None:
        await deliver(self.registry, topics.LEAD_ENGAGED, [LeadEngaged(
            lead_id=lead_id, activity_id=f"a-{lead_id}-{behaviour}", behaviour=behaviour, campaign=campaign,
            occurred_at=at)])

    def status(self, lead_id: str, campaign: str = "webinar-q4") -> str:
        return str(self.store.members[(campaign, lead_id)]["status"])


async def test_a_campaign_definition_is_published_and_versioned() -> None:
    n = Nurture()
    first = await n.define()
    uow = FakeUnitOfWork()
    again = await handlers.define_campaign(n.deps, uow, CampaignDraft(
        "webinar-q4", "renamed", CampaignType.WEBINAR, "mo", T0, None, Decimal(0), "USD", "",
        EventDetails(datetime(2026, 12, 10, 16), datetime(2026, 12, 10, 17), "UTC")), new=False)
    assert (first.version, again.version, uow.of(CampaignDefined)) == (1, 2, [again])
    with pytest.raises(handlers.CampaignExists):
        await n.define()


async def test_a_campaign_change_is_audited_as_its_caller_with_what_changed() -> None:
    n = Nurture()
    await n.define()
    uow = FakeUnitOfWork()
    await handlers.define_campaign(n.deps, uow, CampaignDraft(
        "webinar-q4", "Q4 webinar", CampaignType.WEBINAR, "mo", T0, T0 + timedelta(days=60), Decimal("7500"), "USD",
        "2 clients", EventDetails(datetime(2026, 12, 10, 16), datetime(2026, 12, 10, 17), "Europe/Berlin")),
        new=False, who=Actor("mkt-1", "Mia", ("marketing",)))
    [entry] = uow.of(AuditRecorded)
    assert (entry.action, entry.subject_id, entry.actor_name) == ("campaign.changed", "webinar-q4", "Mia")
    assert [(c.path, c.before, c.after) for c in entry.changes] == [("cost_minor", 500000, 750000)]


async def test_a_webinar_funnel_from_invitation_to_attributed_revenue() -> None:
    n = Nurture()
    await n.define()
    await n.define("ads-spring", CampaignType.AD, cost="1000")
    for i in range(6):
        await n.capture(f"L{i}", None)
    await deliver(n.registry, topics.LEAD_SCORED, [LeadScored(
        lead_id=f"L{i}", cause_event_id="c", profile=LeadProfile(email=f"L{i}@x.example", name="N", company="C"),
        source="list_import", score=70, fit_score=40, engagement_score=30, grade="A" if i < 2 else "C",
        segment="s", rubric_version="v1") for i in range(6)])
    uow = FakeUnitOfWork()
    await handlers.add_members(n.deps, uow, "webinar-q4", ["L0", "L1"], ["L2@X.example", "l3@x.example"],
                               MemberStatus.INVITED)
    assert [e.status for e in uow.of(CampaignMemberChanged)] == [MemberStatus.INVITED] * 4
    with pytest.raises(handlers.UnknownMembers) as unknown:
        await handlers.add_members(n.deps, FakeUnitOfWork(), "webinar-q4", ["L0", "nobody"], ["x@y.example"],
                                   MemberStatus.INVITED)
    assert (unknown.value.lead_ids, unknown.value.emails) == (("nobody",), ("x@y.example",))
    for lead in ("L0", "L1", "L2"):
        await n.engage(lead, Behaviour.WEBINAR_REGISTERED, T0 + timedelta(days=1))
    await n.engage("L0", Behaviour.WEBINAR_ATTENDED, T0 + timedelta(days=38))
    for lead in ("L1", "L2"):
        await handlers.set_member_status(n.deps, FakeUnitOfWork(), "webinar-q4", lead, MemberStatus.NO_SHOW, None)
    await n.engage("L1", Behaviour.WEBINAR_ATTENDED, T0 + timedelta(days=38, hours=5))  # the late report
    assert [n.status(x) for x in ("L0", "L1", "L2", "L3")] == ["attended", "attended", "no_show", "invited"]
    with pytest.raises(BackwardMove):
        await handlers.set_member_status(n.deps, FakeUnitOfWork(), "webinar-q4", "L0", MemberStatus.REGISTERED, None)
    await n.capture("L0", "ads-spring", repeat=True, at=T0 + timedelta(days=40))  # a second campaign touches L0
    await n.capture("L9", "ads-spring", at=T0 + timedelta(days=41))  # new to us
    await deliver(n.registry, topics.FOLLOW_UP_RECORDED, [FollowUpRecorded(
        lead_id="L0", assignment_id="A", rep_id="r1", outcome="contacted", on_time=True,
        occurred_at=T0 + timedelta(days=42))])
    await deliver(n.registry, topics.DEAL_OUTCOME_RECORDED, [DealOutcomeRecorded(
        lead_id="L0", outcome_id="o1", matched_by="email", source="crm", opportunity_id="OPP-1", kind=kind,
        occurred_at=T0 + timedelta(days=43 + i), **({"amount_minor": 4_000_001, "currency": "USD",
                                                     "close_date": date(2026, 12, 20)} if kind == "won" else {}))
        for i, kind in enumerate(("opportunity_created", "won"))])

    report = await handlers.campaign_report(n.deps, None, "webinar-q4", "linear")
    assert report["leads"] == {"captured": 4, "new": 0, "already_known": 4}
    assert report["grades"] == {"A": 2, "B": 0, "C": 2, "D": 0, "ungraded": 0}
    assert [(s["step"], s["members"]) for s in report["funnel"]] == [
        ("invited", 4), ("registered", 3), ("attended", 2), ("followed_up", 1), ("opportunity", 1), ("won", 1)]
    assert report["no_show"] == 1
    assert report["follow_up"] == {"followed_up": 1, "within_sla": 1, "share_within_sla": 1.0}
    assert (report["won_deals"], report["revenue"]["closed"]) == (1, "40000.01")
    ads = await handlers.campaign_report(n.deps, None, "ads-spring", "first_touch")
    assert ads["leads"] == {"captured": 2, "new": 1, "already_known": 1}
    # every model splits the deal between the two campaigns, to the cent
    for model in MODELS:
        webinar = (await handlers.campaign_report(n.deps, None, "webinar-q4", model))["revenue"]["attributed_minor"]
        ad = (await handlers.campaign_report(n.deps, None, "ads-spring", model))["revenue"]["attributed_minor"]
        assert webinar + ad == 4_000_001, model
    assert ads["revenue"]["attributed_minor"] == 0  # first touch: the webinar's invitation
    assert (await handlers.campaign_report(n.deps, None, "ads-spring", "last_touch"))["revenue"][
        "attributed_minor"] == 4_000_001
    period = await handlers.period_figures(n.deps, None, T0, T0 + timedelta(days=90), "last_touch")
    by_type = {t["campaign_type"]: t for t in period["by_type"]}
    assert (by_type["ad"]["cost"], by_type["ad"]["credited"], by_type["ad"]["roi"]) == ("1000.00", "40000.01", 39.0)
    assert (by_type["webinar"]["cost"], by_type["webinar"]["credited_minor"], by_type["webinar"]["roi"]) == (
        "5000.00", 0, -1.0)


async def test_a_late_touch_recomputes_the_credits_of_a_won_deal() -> None:
    n = Nurture()
    await n.define("ads-spring", CampaignType.AD)
    await n.define("email-nov", CampaignType.EMAIL)
    await n.capture("L1", "ads-spring", at=T0)
    await deliver(n.registry, topics.DEAL_OUTCOME_RECORDED, [DealOutcomeRecorded(
        lead_id="L1", outcome_id="o", matched_by="lead_id", source="crm", opportunity_id="O", kind="won",
        amount_minor=1000, currency="USD", close_date=date(2026, 11, 30))])
    assert (await handlers.campaign_report(n.deps, None, "ads-spring", "linear"))["revenue"]["attributed_minor"] == 1000
    await n.engage("L1", Behaviour.EMAIL_OPEN, T0 + timedelta(days=3), campaign="email-nov")  # read late, dated before
    for campaign in ("ads-spring", "email-nov"):
        report = await handlers.campaign_report(n.deps, None, campaign, "linear")
        assert report["revenue"]["attributed_minor"] == 500


async def test_after_the_webinar_every_registrant_who_did_not_attend_is_a_no_show_once() -> None:
    n = Nurture()
    await n.define()
    for i in range(4):
        await n.capture(f"L{i}", None)
    await handlers.add_members(n.deps, FakeUnitOfWork(), "webinar-q4", ["L0", "L1", "L2", "L3"], [],
                               MemberStatus.REGISTERED)
    await n.engage("L0", Behaviour.WEBINAR_ATTENDED, T0 + timedelta(days=38))
    uow = FakeUnitOfWork()
    assert await handlers.mark_no_shows(n.deps, uow, "webinar-q4", T0 + timedelta(days=38, hours=3), "timer-1") == [
        "L1", "L2", "L3"]
    assert [(e.lead_id, e.status, e.previous_status) for e in uow.of(CampaignMemberChanged)] == [
        (f"L{i}", MemberStatus.NO_SHOW, MemberStatus.REGISTERED) for i in (1, 2, 3)]
    again = FakeUnitOfWork()
    assert await handlers.mark_no_shows(n.deps, again, "webinar-q4", T0 + timedelta(days=39), "timer-1") == []
    assert again.events() == []
    assert [n.status(f"L{i}") for i in range(4)] == ["attended", "no_show", "no_show", "no_show"]
