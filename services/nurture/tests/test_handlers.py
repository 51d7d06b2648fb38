"""Nurture's handlers on the fake unit of work and the in-memory pool, driven through
the registry the service runs (topic -> handler)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.nurture.handlers import NurtureDeps, registry
from services.nurture.tests.fakes import InMemoryPool
from shared import topics
from shared.events import Event, FollowUpMissed, LeadAssigned, LeadProfile, LeadScored, NurtureReason
from shared.testing import FakeUnitOfWork
from shared.topics import TopicSpec

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Nurture:
    """The service's registry over an in-memory pool."""

    def __init__(self) -> None:
        self.pool = InMemoryPool()
        self.registry = registry(NurtureDeps(pool=self.pool))
        self.uow = FakeUnitOfWork()

    async def deliver(self, spec: TopicSpec, *events: Event) -> None:
        subscription = next(s for s in self.registry.subscriptions if s.spec is spec)
        await subscription(list(events), self.uow)

    def entry(self, lead_id: str = "L1") -> dict[str, Any]:
        return self.pool.rows[lead_id]


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
    n = Nurture()
    await n.deliver(topics.LEAD_ASSIGNED, assigned(grade="C"))
    entry = n.entry()
    assert (entry["status"], entry["track"], entry["reason"], entry["grade"]) == ("nurturing", "long-term",
                                                                                  "low-grade", "C")
    assert entry["campaign"] == "webinar"
    assert n.uow.events() == []  # nurture emits nothing: routing decides who owns a lead


async def test_the_track_follows_routings_nurture_reason_not_its_prose() -> None:
    n = Nurture()
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
    n = Nurture()
    missed = {"lead_id": "L1", "assignment_id": "A1", "rep_id": "r7", "team": "inside", "due_at": T0,
              "escalation": 1, "grade": "A", "segment": "smb", "occurred_at": T0 + timedelta(hours=4)}
    await n.deliver(topics.FOLLOW_UP_MISSED, FollowUpMissed(next_action="reassign", **missed))
    assert n.pool.rows == {}
    await n.deliver(topics.FOLLOW_UP_MISSED, FollowUpMissed(next_action="nurture", **missed))
    entry = n.entry()
    assert (entry["track"], entry["reason"], entry["last_rep_id"]) == ("re-engage", "missed-follow-up", "r7")


async def test_a_pooled_lead_that_heats_up_is_ready_then_returned_to_sales() -> None:
    n = Nurture()
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
    n = Nurture()
    await n.deliver(topics.LEAD_SCORED, scored("A", T0))
    await n.deliver(topics.LEAD_ASSIGNED, assigned(None, rep_id="r1", grade="A"))
    assert n.pool.rows == {}
