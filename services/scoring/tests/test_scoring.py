"""Each rule kind, caps, decay, thresholds, overrides, segmentation and the ledger."""

from __future__ import annotations

import math

import pytest

from services.scoring.domain.scoring import grade_for, score_lead, segment_of
from services.scoring.tests.helpers import DAY, T0, ev, facts, rubric

R = rubric()


def rules(result: object) -> dict[str, float]:
    return {c.rule: c.points for c in result.ledger}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- fit


@pytest.mark.parametrize(("title", "expected"), [
    ("CTO", {"fit.title.seniority.exec": 20}),
    ("Vice President, Marketing", {"fit.title.seniority.exec": 20, "fit.title.function.marketing": 10}),
    ("Marketing Director", {"fit.title.seniority.director": 15, "fit.title.function.marketing": 10}),
    ("Directorate assistant", {}),  # whole words only: "directorate" is not "director"
    ("", {}),
])
def test_title_seniority_and_function(title: str, expected: dict[str, float]) -> None:
    got = {k: v for k, v in rules(score_lead(R, facts(title=title), [])).items() if k.startswith("fit.title")}
    assert got == expected


def test_cto_is_not_found_inside_director() -> None:
    assert "fit.title.seniority.exec" not in rules(score_lead(R, facts(title="Director"), []))


def test_the_first_matching_seniority_rule_wins() -> None:
    got = rules(score_lead(R, facts(title="VP and Director"), []))
    assert got.get("fit.title.seniority.exec") == 20 and "fit.title.seniority.director" not in got


@pytest.mark.parametrize(("size", "rule"), [(1, "fit.company_size.small"), (99, "fit.company_size.small"),
                                            (100, "fit.company_size.large"), (50_000, "fit.company_size.large"),
                                            (0, None), (None, None)])
def test_company_size_bands_are_inclusive(size: int | None, rule: str | None) -> None:
    got = {k for k in rules(score_lead(R, facts(company_size=size), [])) if k.startswith("fit.company_size")}
    assert got == ({rule} if rule else set())


def test_industry_matches_whole_words_case_insensitively() -> None:
    assert rules(score_lead(R, facts(industry="Computer SOFTWARE"), [])).get("fit.industry.software") == 7
    assert "fit.industry.software" not in rules(score_lead(R, facts(industry="Softwareless"), []))


@pytest.mark.parametrize(("country", "rule", "points"), [("US", "fit.country.north-america", 5),
                                                         ("ca", "fit.country.north-america", 5),
                                                         ("DE", "fit.country.germany", 3), ("FR", None, 0)])
def test_country_by_list_or_region(country: str, rule: str | None, points: float) -> None:
    got = {k: v for k, v in rules(score_lead(R, facts(country=country), [])).items() if k.startswith("fit.country")}
    assert got == ({rule: points} if rule else {})


def test_segment_fit_uses_the_computed_segment() -> None:
    big = facts(industry="Software", company_size=500, country="US")
    assert rules(score_lead(R, big, [])).get("fit.segment.big-tech") == 4
    assert "fit.segment.big-tech" not in rules(score_lead(R, facts(industry="Software", company_size=5,
                                                                   country="US"), []))


def test_source_points() -> None:
    assert rules(score_lead(R, facts(source="referral"), [])) == {"fit.source.referral": 6}
    assert rules(score_lead(R, facts(source="web_form"), [])) == {}


# --------------------------------------------------------------------------- engagement


def test_engagement_points_per_occurrence() -> None:
    result = score_lead(R, facts(), [ev("e1", "email_reply"), ev("e2", "email_reply", 0.1)])
    assert result.engagement == 10 and result.score == 10


def test_behaviours_without_a_rule_count_nothing() -> None:
    assert score_lead(R, facts(), [ev("e1", "pricing_visit")]).score == 0


def test_cap_per_day_keeps_the_most_recent_occurrences() -> None:
    visits = [ev(f"v{i}", "page_visit", i / 100) for i in range(6)]  # six visits on one day
    result = score_lead(R, facts(), visits, as_of=T0 + 0.06 * DAY)
    counted = sorted(c.evidence for c in result.ledger)
    assert counted == ["v3", "v4", "v5"]


def test_caps_apply_per_utc_day() -> None:
    day0 = [ev(f"a{i}", "page_visit", 0.01 * i) for i in range(5)]   # T0 is noon UTC: all on day 0
    day1 = [ev(f"b{i}", "page_visit", 1 + 0.01 * i) for i in range(5)]
    result = score_lead(R, facts(), day0 + day1)
    assert len(result.ledger) == 6


def test_decay_halves_points_every_half_life() -> None:
    result = score_lead(R, facts(), [ev("w", "webinar_attended")], as_of=T0 + 30 * DAY)
    (line,) = result.ledger
    assert line.decay == pytest.approx(0.5) and line.points == pytest.approx(10.0)
    later = score_lead(R, facts(), [ev("w", "webinar_attended")], as_of=T0 + 60 * DAY)
    assert later.ledger[0].points == pytest.approx(5.0)


def test_without_a_half_life_nothing_decays() -> None:
    result = score_lead(R, facts(), [ev("r", "email_reply")], as_of=T0 + 365 * DAY)
    assert result.ledger[0].decay == 1.0 and result.score == 5


def test_decay_is_evaluated_as_of_the_latest_event() -> None:
    # The webinar was 30 days before the lead's newest activity: half its points.
    result = score_lead(R, facts(), [ev("w", "webinar_attended"), ev("r", "email_reply", 30)])
    assert result.as_of == T0 + 30 * DAY
    assert rules(result)["engagement.webinar_attended"] == pytest.approx(10.0)


def test_evidence_after_as_of_is_ignored() -> None:
    assert score_lead(R, facts(), [ev("r", "email_reply", 2)], as_of=T0 + DAY).score == 0


# --------------------------------------------------------------------------- grades and overrides


@pytest.mark.parametrize(("score", "grade"), [(60, "A"), (59.99, "B"), (40, "B"), (39.9, "C"), (20, "C"),
                                              (19.9, "D"), (-5, "D")])
def test_thresholds_are_lower_bounds(score: float, grade: str) -> None:
    assert grade_for(score, R.thresholds) == grade


def test_a_demo_request_makes_a_lead_hot_and_a() -> None:
    result = score_lead(R, facts(), [ev("d", "demo_request")])
    assert result.score == 10 and result.hot and result.grade == "A"
    assert [o.rule for o in result.overrides] == ["override.hot.demo_request"]
    assert result.overrides[0].evidence == "d"


def test_hot_expires_after_its_window() -> None:
    result = score_lead(R, facts(), [ev("d", "demo_request"), ev("r", "email_reply", 31)])
    assert not result.hot and result.grade == "D"


@pytest.mark.parametrize(("kw", "rule"), [
    ({"title": "PhD Student"}, "disqualify.student"),
    ({"email": "kim@cs.uni.edu"}, "disqualify.student"),
    ({"email": "spy@rival.example"}, "disqualify.competitor"),
    ({"email": "spy@eu.rival.example"}, "disqualify.competitor"),
    ({"company": "Rival Corp Ltd"}, "disqualify.competitor"),
    ({"consent": False}, "disqualify.no_consent"),
])
def test_disqualifiers_force_d(kw: dict[str, object], rule: str) -> None:
    lead = facts(title=kw.get("title", "CTO"), company_size=500, industry="Software", country="US",
                 **{k: v for k, v in kw.items() if k != "title"})
    result = score_lead(R, lead, [ev("w", "webinar_attended")])
    assert grade_for(result.score, R.thresholds) in ("A", "B")  # on points alone it would be a good lead
    assert result.disqualified and result.grade == "D"
    assert rule in [o.rule for o in result.overrides]


def test_a_disqualified_lead_is_never_hot() -> None:
    result = score_lead(R, facts(consent=False), [ev("d", "demo_request")])
    assert result.grade == "D" and not result.hot


def test_a_domain_merely_ending_like_a_competitor_is_not_one() -> None:
    assert not score_lead(R, facts(email="a@notrival.example"), []).disqualified


def test_consent_is_only_required_when_the_rubric_says_so() -> None:
    lenient = rubric(overrides__disqualify__require_consent=False)
    assert not score_lead(lenient, facts(consent=False), []).disqualified


# --------------------------------------------------------------------------- segmentation


@pytest.mark.parametrize(("kw", "segment"), [
    ({"industry": "SaaS", "company_size": 500, "country": "US"}, "large-tech-na"),
    ({"industry": "Software", "company_size": 10, "country": "GB"}, "small-tech-uk"),
    ({"industry": "Digital Agency", "company_size": 10, "country": "GB"}, "agencies"),  # a rule wins
    ({"industry": "Mining", "company_size": None, "country": "BR"}, "unknown-other-row"),
    ({"industry": None, "company_size": 100, "country": ""}, "large-other-row"),
])
def test_segmentation(kw: dict[str, object], segment: str) -> None:
    assert segment_of(R, facts(**kw)) == segment
    assert score_lead(R, facts(**kw), []).segment == segment


# --------------------------------------------------------------------------- the ledger


def test_the_ledger_sums_to_the_score_and_names_version_and_evidence() -> None:
    lead = facts(title="VP Marketing", company_size=500, industry="Software", country="US", source="referral")
    evidence = [ev("w", "webinar_attended", 1), ev("p1", "page_visit", 2), ev("r", "email_reply", 3)]
    result = score_lead(R, lead, evidence)
    assert math.fsum(c.points for c in result.ledger) == result.score
    assert result.score == pytest.approx(result.fit + result.engagement)
    assert {c.rubric_version for c in result.ledger} == {"t-1"}
    assert {c.evidence for c in result.ledger if c.rule.startswith("fit.")} == {"cap-1"}
    assert {c.evidence for c in result.ledger if c.rule.startswith("engagement.")} == {"w", "p1", "r"}
    assert result.fit == 20 + 10 + 12 + 7 + 5 + 4 + 6


def test_top_contributions_are_the_largest() -> None:
    lead = facts(title="VP Marketing", company_size=500)
    top = score_lead(R, lead, [ev("p", "page_visit")]).top_contributions(2)
    assert [c.rule for c in top] == ["fit.title.seniority.exec", "fit.company_size.large"]


def test_segment_parts_are_the_axes_in_the_formats_order_or_a_named_segments_name() -> None:
    lead = facts(industry="SaaS", company_size=500, country="US")
    assert score_lead(R, lead, []).segment_parts == ("large", "tech", "na")
    assert score_lead(R, facts(industry="Digital Agency", company_size=10), []).segment_parts == ("agencies",)
    # The parts come from the axes, not from taking the name apart: any format works.
    region_first = rubric(segmentation__format="{region}/{industry}.{size}")
    assert score_lead(region_first, lead, []).segment == "na/tech.large"
    assert score_lead(region_first, lead, []).segment_parts == ("na", "tech", "large")


def test_a_capture_from_a_source_the_rubric_names_counts_as_that_behaviour() -> None:
    # An intent feed's lead shows intent as an intent activity does: its points and the hot override.
    intent = rubric(engagement__intent_signal={"points": 12, "half_life_days": 14},
                    overrides__hot=[{"behaviour": "intent_signal", "within_days": 14}],
                    source_counts_as={"intent_signal": "intent_signal"})
    fed = score_lead(intent, facts(source="intent_signal"), [])
    assert fed.hot and fed.grade == "A" and rules(fed)["engagement.intent_signal"] == 12
    assert [(o.rule, o.evidence) for o in fed.overrides] == [("override.hot.intent_signal", "cap-1")]
    # The same person from a web form shows no intent; and without the rubric's word, neither does the feed.
    assert not score_lead(intent, facts(source="web_form"), []).hot
    assert not score_lead(rubric(overrides__hot=[{"behaviour": "intent_signal", "within_days": 14}]),
                          facts(source="intent_signal"), []).hot
    # It is evidence like any other: it decays and its hot window closes.
    assert not score_lead(intent, facts(source="intent_signal"), [ev("late", "page_visit", 20)]).hot
