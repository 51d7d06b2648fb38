"""Properties of the scoring function over random rubrics and evidence (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.scoring.domain.rubric import CompiledRubric
from services.scoring.domain.scoring import Evidence, score_lead
from services.scoring.tests.helpers import DAY, T0, facts, rubric

BEHAVIOURS = ["page_visit", "webinar_attended", "email_reply", "demo_request", "content_download"]


@st.composite
def rubrics(draw: st.DrawFn, always_decay: bool = False) -> CompiledRubric:
    engagement: dict[str, Any] = {}
    for b in BEHAVIOURS:
        engagement[b] = {
            "points": draw(st.floats(0, 50, allow_nan=False)),
            "cap_per_day": draw(st.one_of(st.none(), st.integers(1, 4))),
            "half_life_days": draw(st.floats(0.5, 90) if always_decay else st.one_of(st.none(), st.floats(0.5, 90))),
        }
    return rubric(engagement=engagement)


def evidence_lists(max_size: int = 25) -> st.SearchStrategy[list[Evidence]]:
    # Mostly crowded days, so that the caps are exercised.
    days = st.one_of(st.floats(0, 4), st.floats(0, 60))
    one = st.builds(lambda i, b, d: Evidence(f"e{i}", b, T0 - d * DAY), st.integers(0, 10_000),
                    st.sampled_from(BEHAVIOURS), days)
    return st.lists(one, max_size=max_size, unique_by=lambda e: e.event_id)


LEAD = facts(title="VP Marketing", company_size=500, industry="Software", country="US", captured_ts=T0 - 90 * DAY)


CAPPED = rubric(engagement={"page_visit": {"points": 10, "cap_per_day": 1, "half_life_days": 1}})


@settings(max_examples=300, deadline=None)
@given(rubrics(), evidence_lists(), evidence_lists(max_size=5))
# An older visit on a capped day must not push out a newer (less decayed) one.
@example(CAPPED, [Evidence("a", "page_visit", T0 - 0.1 * DAY)], [Evidence("b", "page_visit", T0 - 0.2 * DAY)])
def test_more_positive_evidence_never_lowers_the_score(r: CompiledRubric, base: list[Evidence],
                                                       extra: list[Evidence]) -> None:
    known = {e.event_id for e in base}
    more = base + [Evidence("x" + e.event_id, e.behaviour, e.ts) for e in extra if e.event_id not in known]
    before = score_lead(r, LEAD, base, as_of=T0)
    after = score_lead(r, LEAD, more, as_of=T0)
    assert after.score >= before.score - 1e-9


@settings(max_examples=300, deadline=None)
@given(rubrics(), evidence_lists(), st.floats(0, 400), st.floats(0, 400))
def test_without_new_evidence_the_score_decays_toward_fit(r: CompiledRubric, evidence: list[Evidence],
                                                          d1: float, d2: float) -> None:
    early, late = sorted((d1, d2))
    s1 = score_lead(r, LEAD, evidence, as_of=T0 + early * DAY)
    s2 = score_lead(r, LEAD, evidence, as_of=T0 + late * DAY)
    assert s2.fit == s1.fit
    assert s1.fit - 1e-9 <= s2.score <= s1.score + 1e-9


@settings(max_examples=200, deadline=None)
@given(rubrics(always_decay=True), evidence_lists())
def test_with_every_behaviour_decaying_the_score_tends_to_fit(r: CompiledRubric, evidence: list[Evidence]) -> None:
    far = score_lead(r, LEAD, evidence, as_of=T0 + 100 * 365 * DAY)
    assert abs(far.score - far.fit) < 1e-6


@settings(max_examples=200, deadline=None)
@given(rubrics(), evidence_lists())
def test_the_ledger_always_sums_to_the_score(r: CompiledRubric, evidence: list[Evidence]) -> None:
    result = score_lead(r, LEAD, evidence)
    assert abs(sum(c.points for c in result.ledger) - result.score) < 1e-9
