"""Rubric documents: the demo parses; every kind of bad input is refused with the place
and the reason."""

from __future__ import annotations

from typing import Any

import pytest

from services.scoring.domain.rubric import RubricError, load_rubric, parse_rubric, parse_rubric_data
from services.scoring.settings import DEMO_RUBRIC
from services.scoring.tests.helpers import rubric_dict, rubric_yaml


def problems(doc: Any) -> list[str]:
    with pytest.raises(RubricError) as info:
        parse_rubric(doc if isinstance(doc, str) else rubric_yaml(doc))
    return [str(p) for p in info.value.problems]


def test_the_demo_rubric_is_valid() -> None:
    compiled = load_rubric(DEMO_RUBRIC.read_text())
    assert compiled.version
    assert set(compiled.engagement) >= {"webinar_attended", "demo_request", "intent_signal"}
    assert [h.behaviour for h in compiled.hot] == ["demo_request", "intent_signal"]


def test_the_base_test_rubric_is_valid() -> None:
    assert parse_rubric_data(rubric_dict()).version == "t-1"


def test_a_zero_half_life_names_its_place() -> None:
    doc = rubric_dict(engagement__webinar_attended__half_life_days=0)
    assert problems(doc) == ["engagement.webinar_attended.half_life_days: must be > 0"]


def test_a_negative_half_life_is_refused() -> None:
    doc = rubric_dict(engagement__page_visit__half_life_days=-3)
    assert problems(doc) == ["engagement.page_visit.half_life_days: must be > 0"]


@pytest.mark.parametrize("thresholds", [{"A": 40, "B": 60, "C": 20}, {"A": 60, "B": 40, "C": 40},
                                        {"A": 10, "B": 20, "C": 30}])
def test_unordered_or_overlapping_thresholds_are_refused(thresholds: dict[str, int]) -> None:
    assert problems(rubric_dict(thresholds=thresholds)) == ["thresholds: must be strictly ordered A > B > C"]


def test_a_missing_threshold_is_required() -> None:
    assert problems(rubric_dict(thresholds={"A": 60, "B": 40})) == ["thresholds.C: required"]


def test_an_unknown_behaviour_in_engagement_is_named() -> None:
    doc = rubric_dict()
    doc["engagement"]["foo"] = {"points": 1}
    assert problems(doc) == ["engagement.foo: unknown behaviour 'foo'"]


def test_an_unknown_behaviour_in_a_hot_override_is_named() -> None:
    doc = rubric_dict()
    doc["overrides"]["hot"] = [{"behaviour": "foo"}]
    assert problems(doc) == ["overrides.hot[0].behaviour: unknown behaviour 'foo'"]


def test_an_unknown_field_is_refused_where_it_is() -> None:
    doc = rubric_dict()
    doc["fit"]["title"]["seniority"][1]["weight"] = 3
    assert problems(doc) == ["fit.title.seniority[1].weight: unknown field"]


def test_an_unknown_top_level_section_is_refused() -> None:
    doc = rubric_dict()
    doc["scoring"] = {}
    assert problems(doc) == ["scoring: unknown field"]


def test_negative_engagement_points_are_refused() -> None:
    doc = rubric_dict(engagement__email_reply__points=-5)
    assert problems(doc) == ["engagement.email_reply.points: must be >= 0"]


def test_a_zero_cap_is_refused() -> None:
    doc = rubric_dict(engagement__page_visit__cap_per_day=0)
    assert problems(doc) == ["engagement.page_visit.cap_per_day: must be > 0"]


def test_an_unknown_region_in_a_country_rule_is_named() -> None:
    doc = rubric_dict()
    doc["fit"]["country"][0]["regions"] = ["mars"]
    assert problems(doc) == ["fit.country[0].regions: unknown region 'mars'"]


def test_an_unknown_lead_source_is_named() -> None:
    doc = rubric_dict()
    doc["fit"]["source"][0]["match"] = ["carrier_pigeon"]
    assert problems(doc) == ["fit.source[0].match: unknown lead source 'carrier_pigeon'"]


def test_overlapping_size_bands_are_refused() -> None:
    doc = rubric_dict()
    doc["fit"]["company_size"][1]["min"] = 50
    assert problems(doc) == ["fit.company_size[1]: overlaps fit.company_size[0] (small)"]


def test_a_band_with_min_above_max_is_refused() -> None:
    doc = rubric_dict()
    doc["segmentation"]["sizes"][0] = {"name": "small", "min": 10, "max": 5}
    assert problems(doc) == ["segmentation.sizes[0]: min must be <= max"]


def test_an_unknown_segment_placeholder_is_refused() -> None:
    doc = rubric_dict()
    doc["segmentation"]["format"] = "{size}-{planet}"
    assert problems(doc) == ["segmentation.format: unknown placeholder '{planet}' (use {industry}, {size}, {region})"]


def test_a_segment_rule_naming_an_unknown_axis_value_is_refused() -> None:
    doc = rubric_dict()
    doc["segmentation"]["rules"] = [{"segment": "x", "sizes": ["huge"], "regions": ["mars"]}]
    assert problems(doc) == ["segmentation.rules[0].sizes: unknown size 'huge'",
                             "segmentation.rules[0].regions: unknown region 'mars'"]


def test_a_bad_version_name_is_refused() -> None:
    assert problems(rubric_dict(version="has spaces"))[0].startswith("version: does not match")


def test_yaml_syntax_errors_name_line_and_column() -> None:
    found = problems("version: x\nthresholds: {A: 1, B: [\n")
    assert len(found) == 1 and found[0].startswith("document: not valid YAML: line ")


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert problems("- just\n- a list\n") == ["rubric: must be a mapping (a YAML document with keys)"]


def test_several_problems_are_reported_together() -> None:
    doc = rubric_dict(thresholds={"A": 1, "B": 2, "C": 3}, engagement__page_visit__half_life_days=0)
    assert set(problems(doc)) == {"thresholds: must be strictly ordered A > B > C",
                                  "engagement.page_visit.half_life_days: must be > 0"}


def test_the_demo_rubric_counts_an_intent_feed_capture_as_intent() -> None:
    assert load_rubric(DEMO_RUBRIC.read_text()).source_counts_as == {"intent_signal": "intent_signal"}


def test_an_unknown_source_or_behaviour_in_source_counts_as_is_named() -> None:
    doc = rubric_dict(source_counts_as={"carrier_pigeon": "intent_signal", "web_form": "telepathy"})
    assert problems(doc) == ["source_counts_as.carrier_pigeon: unknown lead source 'carrier_pigeon'",
                             "source_counts_as.web_form: unknown behaviour 'telepathy'"]
