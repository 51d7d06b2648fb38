"""The merge of a lead's captures and engagements: order-independent, and engagement
that arrives first is counted once the capture arrives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.scoring.domain.lead import LeadState, apply_events
from services.scoring.tests.helpers import rubric
from shared.events import Behaviour, LeadCaptured, LeadEngaged, LeadProfile, LeadSource

R = rubric()
T = datetime(2025, 3, 1, tzinfo=UTC)


def captured(event_id: str, at: datetime, title: str = "CTO", campaign: str | None = None) -> LeadCaptured:
    return LeadCaptured(event_id=event_id, occurred_at=at, lead_id="L1", capture_id=event_id,
                        profile=LeadProfile(email="ann@acme.example", name="Ann", company="Acme", title=title),
                        source=LeadSource.WEB_FORM, campaign=campaign, consent=True)


def engaged(event_id: str, at: datetime, behaviour: Behaviour = Behaviour.EMAIL_REPLY) -> LeadEngaged:
    return LeadEngaged(event_id=event_id, occurred_at=at, lead_id="L1", activity_id=event_id, behaviour=behaviour)


def test_engagement_before_capture_is_kept_and_counted_at_capture() -> None:
    leads: dict[str, LeadState] = {}
    assert apply_events(leads, [engaged("e1", T)], R) == []
    (graded,) = apply_events(leads, [captured("c1", T - timedelta(hours=1))], R)
    assert graded.result.engagement == 5 and graded.previous_grade is None


def test_each_event_grades_again_with_the_previous_grade() -> None:
    leads: dict[str, LeadState] = {}
    # CTO: 20 points (C); each e-mail reply adds 5 (B from 40).
    out = apply_events(leads, [captured("c1", T)] + [engaged(f"e{i}", T + timedelta(hours=i)) for i in range(5)], R)
    assert [(g.previous_grade, g.result.grade) for g in out] == [
        (None, "C"), ("C", "C"), ("C", "C"), ("C", "C"), ("C", "B"), ("B", "B")]
    assert [g.cause.event_id for g in out] == ["c1", "e0", "e1", "e2", "e3", "e4"]


def test_a_duplicate_engagement_counts_once() -> None:
    leads: dict[str, LeadState] = {}
    out = apply_events(leads, [captured("c1", T), engaged("e1", T), engaged("e1", T)], R)
    assert out[-1].result.engagement == 5


def test_the_latest_capture_supplies_the_profile_whatever_the_order() -> None:
    first, second = captured("c1", T, title="Intern Analyst", campaign="webinar"), captured(
        "c2", T + timedelta(days=1), title="CTO", campaign="tradeshow")
    for order in ([first, second], [second, first]):
        leads: dict[str, LeadState] = {}
        apply_events(leads, order, R)
        state = leads["L1"]
        assert state.profile is not None and state.profile["title"] == "CTO"
        assert state.campaign == "webinar"  # the first campaign that brought the lead in


def test_final_grades_do_not_depend_on_arrival_order() -> None:
    events: list[LeadCaptured | LeadEngaged] = [captured("c1", T)]
    behaviours = [Behaviour.PAGE_VISIT, Behaviour.WEBINAR_ATTENDED, Behaviour.EMAIL_REPLY]
    events += [engaged(f"e{i}", T + timedelta(hours=7 * i), behaviours[i % 3]) for i in range(20)]
    results = set()
    for seed in range(5):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        leads: dict[str, LeadState] = {}
        apply_events(leads, shuffled, R)
        result = leads["L1"].result
        assert result is not None
        results.add((result.score, result.grade))
    assert len(results) == 1
