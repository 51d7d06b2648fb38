"""Nurture's handlers on the fake unit of work and the in-memory pool, driven through
the registry the service runs (topic -> handler)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.nurture import handlers
from services.nurture.domain.mail import Limits
from services.nurture.handlers import MailSettings, NurtureDeps, registry
from services.nurture.tests.fakes import FakeMailer, InMemoryCampaigns, InMemoryPool, InMemoryPrograms
from shared import topics
from shared.events import (
    CampaignDefined,
    CampaignMemberChanged,
    CampaignType,
    Event,
    FollowUpMissed,
    LeadAssigned,
    LeadCaptured,
    LeadProfile,
    LeadScored,
    MemberStatus,
    NurtureMessageEngaged,
    NurtureMessageSent,
    NurtureReason,
    RepTaskCreated,
)
from shared.testing import FakeUnitOfWork, FakeUnits
from shared.topics import TopicSpec

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEED = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "tracks.yaml"


class Nurture:
    """The service's registry over in-memory stores and a fake mailer, with a clock the
    test moves; ``run(job)`` runs a clocked job (or the startup seeding) as the service would."""

    def __init__(self, limits: Limits = Limits(per_day=5, per_week=20)) -> None:
        self.pool = InMemoryPool()
        self.programs = InMemoryPrograms(self.pool)
        self.mailer = FakeMailer()
        self.now = T0
        self.deps = NurtureDeps(pool=self.pool, programs=self.programs, mailer=self.mailer,
                                campaigns=InMemoryCampaigns(),
                                mail=MailSettings("M <m@leadbridge.example>", "https://n.example", "leadbridge.example",
                                                  limits), clock=lambda: self.now, tracks_file=SEED)
        self.registry = registry(self.deps)
        self.uow = FakeUnitOfWork()
        self.units = FakeUnits()

    async def start(self) -> None:
        for hook in self.registry.startup:
            await hook(self.units)

    async def run(self, job: str) -> None:
        await next(p for p in self.registry.periodic if p.name == job).run(self.units)

    async def deliver(self, spec: TopicSpec, *events: Event) -> None:
        subscription = next(s for s in self.registry.subscriptions if s.spec is spec)
        await subscription(list(events), self.uow)

    def entry(self, lead_id: str = "L1") -> dict[str, Any]:
        return self.pool.rows[lead_id]


async def started(**kwargs: Any) -> Nurture:
    """Nurture after its start: the seed tracks stored."""
    n = Nurture(**kwargs)
    await n.start()
    return n


def assigned(why: NurtureReason | None = NurtureReason.LOW_GRADE, *, grade: str = "C", rep_id: str | None = None,
             at: datetime = T0) -> LeadAssigned:
    """To nurture for ``why``, or (``why=None``) to a rep."""
    return LeadAssigned(lead_id="L1", assignment_id=f"A-{at.isoformat()}",
                        owner_kind="nurture" if why else "rep", nurture_reason=why,
                        rep_id=rep_id, team=None if why else "inside", rule="r",
                        reason="prose for people: not read", grade=grade, segment="smb", campaign="webinar",  # type: ignore[arg-type]
                        occurred_at=at)


def scored(grade: str, at: datetime) -> LeadScored:
    return LeadScored(lead_id="L1", cause_event_id="c", profile=LeadProfile(email="a@x.com", name="A", company="C"),
                      source="web_form", score=71.5, fit_score=40, engagement_score=31.5, grade=grade,  # type: ignore[arg-type]
                      segment="smb-tech", rubric_version="v1", occurred_at=at)


async def test_a_low_grade_lead_joins_a_track_by_its_fit() -> None:
    n = await started()
    await n.deliver(topics.LEAD_ASSIGNED, assigned(grade="C"))
    entry = n.entry()
    assert (entry["status"], entry["track"], entry["reason"], entry["grade"]) == ("nurturing", "long-term",
                                                                                  "low-grade", "C")
    assert entry["campaign"] == "webinar"
    assert n.uow.events() == []  # nurture emits nothing: routing decides who owns a lead


async def test_the_track_follows_routings_nurture_reason_not_its_prose() -> None:
    n = await started()
    await n.deliver(topics.LEAD_ASSIGNED, assigned(NurtureReason.DISQUALIFIED, grade="B"))
    assert (n.entry()["reason"], n.entry()["track"]) == ("disqualified", "recycle")
    await n.deliver(topics.LEAD_ASSIGNED, assigned(NurtureReason.MISSED_FOLLOW_UP, grade="A",
                                                   at=T0 + timedelta(hours=1)))
    assert (n.entry()["reason"], n.entry()["track"]) == ("missed-follow-up", "re-engage")
    await n.deliver(topics.LEAD_ASSIGNED, assigned(NurtureReason.KEPT_BY_RULE, grade="A",
                                                   at=T0 + timedelta(hours=2)))
    assert (n.entry()["reason"], n.entry()["track"]) == ("kept-by-rule", "long-term")
    assert n.entry()["times_entered"] == 1  # still nurturing: re-tracked, not re-entered


async def test_only_the_last_missed_follow_up_brings_the_lead_in_with_the_rep_who_missed_it() -> None:
    n = await started()
    missed = {"lead_id": "L1", "assignment_id": "A1", "rep_id": "r7", "team": "inside", "due_at": T0,
              "escalation": 1, "grade": "A", "segment": "smb", "occurred_at": T0 + timedelta(hours=4)}
    await n.deliver(topics.FOLLOW_UP_MISSED, FollowUpMissed(next_action="reassign", **missed))
    assert n.pool.rows == {}
    await n.deliver(topics.FOLLOW_UP_MISSED, FollowUpMissed(next_action="nurture", **missed))
    entry = n.entry()
    assert (entry["track"], entry["reason"], entry["last_rep_id"]) == ("re-engage", "missed-follow-up", "r7")


async def test_a_pooled_lead_that_heats_up_is_ready_then_returned_to_sales() -> None:
    n = await started()
    await n.deliver(topics.LEAD_ASSIGNED, assigned(grade="C"))
    await n.deliver(topics.LEAD_SCORED, scored("C", T0 + timedelta(days=1)))
    assert (n.entry()["status"], n.entry()["score"], n.entry()["segment"]) == ("nurturing", 71.5, "smb-tech")
    await n.deliver(topics.LEAD_SCORED, scored("B", T0 + timedelta(days=2)))
    assert (n.entry()["status"], n.entry()["grade"]) == ("ready-for-sales", "B")
    await n.deliver(topics.LEAD_ASSIGNED, assigned(None, rep_id="r1", grade="B", at=T0 + timedelta(days=2)))
    entry = n.entry()
    assert (entry["status"], entry["last_rep_id"]) == ("returned-to-sales", "r1")
    assert [h["status"] for h in entry["history"]] == ["nurturing", "ready-for-sales", "returned-to-sales"]
    # back in nurture later: a second entry
    await n.deliver(topics.LEAD_ASSIGNED, assigned(grade="D", at=T0 + timedelta(days=9)))
    assert (n.entry()["times_entered"], n.entry()["track"]) == (2, "cold")


async def test_scores_and_sales_owners_of_leads_never_pooled_change_nothing() -> None:
    n = await started()
    await n.deliver(topics.LEAD_SCORED, scored("A", T0))
    await n.deliver(topics.LEAD_ASSIGNED, assigned(None, rep_id="r1", grade="A"))
    assert n.pool.rows == {}


# --------------------------------------------------------------------------- tracks, steps and email


def captured(lead_id: str = "L1", *, consent: bool = True, email: str = "ada@x.example") -> LeadCaptured:
    return LeadCaptured(lead_id=lead_id, capture_id=f"cap-{lead_id}", source="web_form", consent=consent,  # type: ignore[arg-type]
                        profile=LeadProfile(email=email, name="Ada Lovelace", company="Engines Ltd"),
                        occurred_at=T0)


async def on_track(track_reason: NurtureReason = NurtureReason.LOW_GRADE, *, consent: bool = True,
                   **kwargs: Any) -> Nurture:
    n = await started(**kwargs)
    await n.deliver(topics.LEAD_CAPTURED, captured(consent=consent))
    await n.deliver(topics.LEAD_ASSIGNED, assigned(track_reason, grade="C"))
    return n


def sent(n: Nurture) -> list[NurtureMessageSent]:
    return [e for e in n.units.events() if isinstance(e, NurtureMessageSent)]


async def test_a_tracks_first_email_fires_once_and_goes_out_with_tracking_and_one_click_unsubscribe() -> None:
    n = await on_track()
    (enrollment,) = n.programs.enrollments.values()
    assert (enrollment["track"], enrollment["version"], enrollment["due_at"]) == ("long-term", 1, T0)
    await n.run("nurture-steps")
    await n.run("nurture-steps")  # the timer moved on: nothing fires twice
    assert len(n.programs.messages) == 1
    assert (enrollment["step_index"], enrollment["due_at"]) == (2, T0 + timedelta(days=28))  # 20 business days
    await n.run("nurture-mail")
    await n.run("nurture-mail")
    (msg,) = n.mailer.sent
    assert (msg["To"], msg["Subject"]) == ("ada@x.example", "An idea for Engines Ltd")
    (event,) = sent(n)
    assert (event.lead_id, event.track, event.step_id, event.to) == ("L1", "long-term", "insight", "ada@x.example")
    assert msg["Message-ID"] == f"<{event.message_id}@leadbridge.example>"
    unsubscribe = f"https://n.example/v1/nurture/unsubscribe/{event.message_id}"
    assert msg["List-Unsubscribe"] == f"<{unsubscribe}>"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"https://n.example/v1/nurture/r/{event.message_id}/0" in text and unsubscribe in text
    assert "https://leadbridge.example/insight" not in text
    url = await handlers.engaged(n.deps, n.uow, event.message_id, "email_click", 0)
    assert url == "https://leadbridge.example/insight"
    (click,) = n.uow.of(NurtureMessageEngaged)
    assert (click.lead_id, click.behaviour) == ("L1", "email_click")


async def test_nothing_is_sent_to_a_person_without_consent() -> None:
    n = await on_track(consent=False)
    await n.run("nurture-steps")
    await n.run("nurture-mail")
    assert n.mailer.sent == [] and sent(n) == []
    (m,) = n.programs.messages.values()
    assert (m["status"], m["reason"]) == ("suppressed", "no-consent")


async def test_an_unsubscribe_stops_the_next_step_and_a_queued_email() -> None:
    n = await on_track(NurtureReason.MISSED_FOLLOW_UP)  # re-engage: email, 2 business days, email
    await n.run("nurture-steps")
    await n.run("nurture-mail")
    (first,) = sent(n)
    # a second message queued (as if by another step) before the unsubscribe is not sent either
    await n.programs.queue_message(None, "m2", "L1", None, None, None, None, None,
                                   {"subject": "s", "text": "t", "html": "h"}, n.now)
    assert await handlers.unsubscribe(n.deps, n.uow, first.message_id) == "ada@x.example"
    (enrollment,) = n.programs.enrollments.values()
    assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "unsubscribed")
    n.now = T0 + timedelta(days=3)
    await n.run("nurture-steps")
    await n.run("nurture-mail")
    assert len(n.mailer.sent) == 1
    assert n.programs.messages["m2"]["status"] == "suppressed"


async def test_a_wait_then_a_task_for_the_rep_who_owns_the_lead() -> None:
    n = await started()
    await n.deliver(topics.LEAD_CAPTURED, captured())
    await n.deliver(topics.LEAD_ASSIGNED, assigned(None, rep_id="r7", grade="C"))  # a rep owns it
    async with n.units() as uow:
        track = await handlers.enroll_by_member_status(n.deps, uow, "L1", "webinar-1", "no_show", "C", "cause", T0)
    assert track == "no-show"
    await n.run("nurture-steps")
    await n.run("nurture-mail")
    assert [e.step_id for e in sent(n)] == ["recording"]
    assert n.programs.task_rows == {}
    n.now = T0 + timedelta(days=2, hours=23)  # Wednesday: 3 business days are Thursday
    await n.run("nurture-steps")
    assert n.programs.task_rows == {}
    n.now = T0 + timedelta(days=3)
    await n.run("nurture-steps")
    (task,) = n.programs.task_rows.values()
    assert (task["rep_id"], task["team"], task["kind"], task["due_at"]) == ("r7", None, "track", T0 + timedelta(days=4))
    assert task["title"] == "Call Ada at Engines Ltd: missed the webinar, was sent the recording"
    (created,) = [e for e in n.units.events() if isinstance(e, RepTaskCreated)]
    assert (created.task_id, created.rep_id) == (task["task_id"], "r7")
    (enrollment,) = n.programs.enrollments.values()
    assert (enrollment["status"], enrollment["fired"]) == ("completed", 2)


async def test_a_lead_regraded_for_sales_leaves_its_track_at_once() -> None:
    n = await on_track()
    await n.deliver(topics.LEAD_SCORED, scored("B", T0 + timedelta(hours=1)))
    (enrollment,) = n.programs.enrollments.values()
    assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "sales-grade")
    await n.run("nurture-steps")
    assert n.programs.messages == {}


async def test_the_per_person_limit_defers_the_second_email_of_the_day() -> None:
    n = await on_track(limits=Limits(per_day=1, per_week=3))
    await n.run("nurture-steps")
    await n.programs.queue_message(None, "extra", "L1", None, None, None, None, None,
                                   {"subject": "s", "text": "t", "html": "h"}, n.now)
    await n.run("nurture-mail")
    assert len(n.mailer.sent) == 1
    deferred = n.programs.messages["extra"]
    assert (deferred["status"], deferred["reason"]) == ("queued", "daily-limit")
    n.now = deferred["not_before"]
    await n.run("nurture-mail")
    assert len(n.mailer.sent) == 2


async def test_a_refused_send_keeps_the_message_queued() -> None:
    n = await on_track()
    await n.run("nurture-steps")
    n.mailer.fail_next = True
    with pytest.raises(ConnectionRefusedError):
        await n.run("nurture-mail")
    (m,) = n.programs.messages.values()
    assert m["status"] == "queued" and sent(n) == []
    await n.run("nurture-mail")
    assert m["status"] == "sent" and len(n.mailer.sent) == 1


async def test_a_message_refused_for_good_is_suppressed_and_does_not_block_the_queue() -> None:
    n = await on_track()
    n.mailer.rejects.add("ada@x.example")
    await n.run("nurture-steps")
    await n.run("nurture-mail")
    (m,) = n.programs.messages.values()
    assert m["status"] == "suppressed" and m["reason"].startswith("rejected: 550")


async def test_tracks_are_versioned_and_bad_ones_refused_naming_the_field() -> None:
    n = await started()
    doc = {"steps": [{"id": "a", "kind": "email", "email": {"subject": "s", "text": "t", "html": "h"}}]}
    _, version = await handlers.define_track(n.deps, n.uow, "long-term", doc)
    assert version == 2
    with pytest.raises(handlers.Invalid) as bad:
        await handlers.define_track(n.deps, n.uow, "x", {"steps": [{"id": "w", "kind": "wait", "business_days": 0}]})
    assert bad.value.field == "steps.0.wait.business_days"
    with pytest.raises(handlers.Invalid) as bad:
        await handlers.define_track(n.deps, n.uow, "x", {**doc, "then": {"action": "next", "track": "gone"}})
    assert bad.value.field == "x.then.track"
    # a lead already on version 1 finishes it; a newcomer gets version 2
    await n.deliver(topics.LEAD_ASSIGNED, assigned(grade="C"))
    (enrollment,) = n.programs.enrollments.values()
    assert enrollment["version"] == 2


# --------------------------------------------------------------------------- webinars

WEBINAR_START = T0 + timedelta(days=7)


def webinar(**change: Any) -> CampaignDefined:
    fields: dict[str, Any] = {"campaign_id": "wb-1", "version": 1, "name": "Webinar one", "type": "webinar",
                              "owner": "marketing", "starts_at": T0, "event_starts_at": WEBINAR_START,
                              "event_ends_at": WEBINAR_START + timedelta(hours=1), "time_zone": "Europe/London",
                              "occurred_at": T0}
    return CampaignDefined.model_validate({**fields, **change})


def member(status: str, previous: str | None = None, lead_id: str = "L1", at: datetime = T0) -> CampaignMemberChanged:
    return CampaignMemberChanged(lead_id=lead_id, campaign_id="wb-1", campaign_type="webinar", status=status,  # type: ignore[arg-type]
                                 previous_status=previous, occurred_at=at)  # type: ignore[arg-type]


async def test_each_registrant_gets_one_pre_event_call_for_their_rep_or_the_inside_queue() -> None:
    n = await started()
    await n.deliver(topics.CAMPAIGN_DEFINED, webinar())
    for lead, rep in (("L1", "r7"), ("L2", None)):
        await n.deliver(topics.LEAD_CAPTURED, captured(lead, email=f"{lead}@x.example"))
        await n.deliver(topics.LEAD_ASSIGNED, assigned(None if rep else NurtureReason.LOW_GRADE, rep_id=rep,
                                                       grade="C").model_copy(update={"lead_id": lead}))
    await n.deliver(topics.CAMPAIGN_MEMBER_CHANGED, member("registered", "invited", "L1"),
                    member("registered", "invited", "L2"), member("registered", "invited", "L1"))
    tasks = sorted(n.programs.task_rows.values(), key=lambda t: t["lead_id"])
    assert [(t["lead_id"], t["rep_id"], t["team"], t["kind"], t["due_at"]) for t in tasks] == [
        ("L1", "r7", None, "pre-event", WEBINAR_START - timedelta(hours=2)),
        ("L2", None, "inside", "pre-event", WEBINAR_START - timedelta(hours=2))]
    assert tasks[0]["title"] == "Call Ada Lovelace (Engines Ltd) before Webinar one: ask what they want to hear about"
    assert len(n.uow.of(RepTaskCreated)) == 2
    row = await handlers.update_task(n.deps, n.uow, tasks[0]["task_id"], "pricing for agencies", "done")
    assert (row["interests"], row["status"]) == ("pricing for agencies", "done")
    # registered after the start: nothing to prepare
    await n.deliver(topics.CAMPAIGN_MEMBER_CHANGED, member("registered", None, "L3", at=WEBINAR_START))
    assert len(n.programs.task_rows) == 2


async def test_a_no_show_joins_the_no_show_track_whatever_its_grade_and_a_late_attendance_takes_it_off() -> None:
    n = await started()
    await n.deliver(topics.CAMPAIGN_DEFINED, webinar())
    await n.deliver(topics.LEAD_CAPTURED, captured())
    await n.deliver(topics.LEAD_SCORED, scored("B", T0))  # sales grade, rep-owned: still gets the recording
    await n.deliver(topics.CAMPAIGN_MEMBER_CHANGED, member("no_show", "registered"))
    (enrollment,) = n.programs.enrollments.values()
    assert (enrollment["track"], enrollment["campaign"]) == ("no-show", "wb-1")
    assert n.pool.rows == {}  # not nurture's to hold: sales may own it
    await n.run("nurture-steps")
    await n.run("nurture-mail")
    (message,) = n.mailer.sent
    assert message["Subject"] == "Sorry we missed you, Ada: the recording of Webinar one"
    await n.deliver(topics.CAMPAIGN_MEMBER_CHANGED, member("attended", "no_show"))
    assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "attended")
    n.now = T0 + timedelta(days=5)
    await n.run("nurture-steps")
    assert n.programs.task_rows == {}  # the call for a no-show is not made for an attendee


async def test_the_no_show_timer_marks_registrants_who_did_not_attend_once_at_the_end_plus_grace() -> None:
    from decimal import Decimal

    from services.nurture.domain.campaigns import CampaignDraft, EventDetails

    n = await started()
    uow = FakeUnitOfWork()
    await handlers.define_campaign(n.deps, uow, CampaignDraft(
        "wb-1", "Webinar one", CampaignType.WEBINAR, "mo", T0, None, Decimal(0), "USD", "",
        EventDetails(datetime(2026, 3, 9, 16), datetime(2026, 3, 9, 17), "UTC")), new=True)
    await n.deliver(topics.CAMPAIGN_DEFINED, *uow.of(CampaignDefined))
    for lead in ("L1", "L2", "L3"):
        await n.deliver(topics.LEAD_CAPTURED, captured(lead, email=f"{lead}@x.example"))
    await handlers.add_members(n.deps, uow, "wb-1", ["L1", "L2", "L3"], [], MemberStatus.INVITED)
    await handlers.add_members(n.deps, uow, "wb-1", ["L1", "L2"], [], MemberStatus.REGISTERED)
    await handlers.set_member_status(n.deps, uow, "wb-1", "L1", MemberStatus.ATTENDED, None)
    listed = uow.of(CampaignMemberChanged)
    assert len({e.event_id for e in listed}) == len(listed) == 6  # one list, one id per member (inboxes dedupe ids)
    end = datetime(2026, 3, 9, 17, tzinfo=UTC)
    n.now = end + timedelta(minutes=59)  # the grace (an hour) is not over
    await n.run("webinar-no-shows")
    assert n.deps.campaigns.members[("wb-1", "L2")]["status"] == "registered"  # type: ignore[attr-defined]
    n.now = end + timedelta(hours=1)
    await n.run("webinar-no-shows")
    await n.run("webinar-no-shows")
    changed = [e for e in n.units.events() if isinstance(e, CampaignMemberChanged)]
    assert [(e.lead_id, e.status, e.previous_status) for e in changed] == [("L2", "no_show", "registered")]
    assert n.programs.webinars["wb-1"]["no_shows"] == 1
    # the change reaches the automation: the no-show is on the no-show track
    await n.deliver(topics.CAMPAIGN_MEMBER_CHANGED, *changed)
    assert [(e["lead_id"], e["track"]) for e in n.programs.enrollments.values()] == [("L2", "no-show")]
