"""The boards' figures from the services' answers (pure), and their charts."""

from __future__ import annotations

import pytest

from services.app.boards.charts import bars_chart, grades_chart, ticks
from services.app.domain.boards import (
    BadInput,
    awaiting_sales,
    away_hours_of,
    capacity_of,
    collateral_by_status,
    grade_rows,
    group_lag,
    percent,
    pool_by_track,
    replay_command,
    service_figures,
    team_queue,
    team_reps,
)

METRICS = """# HELP leadbridge_consumer_lag_records lag
# TYPE leadbridge_consumer_lag_records gauge
leadbridge_consumer_lag_records{service="scoring",topic="lead-captured",partition="0"} 3.0
leadbridge_consumer_lag_records{service="scoring",topic="lead-captured",partition="1"} 4.0
leadbridge_consumer_lag_records{service="scoring",topic="lead-engaged",partition="0"} 0.0
# HELP leadbridge_events_dead_lettered_total dead letters
# TYPE leadbridge_events_dead_lettered_total counter
leadbridge_events_dead_lettered_total{service="scoring",topic="lead-captured",reason="ValueError"} 2.0
leadbridge_events_dead_lettered_total{service="scoring",topic="lead-captured",reason="KeyError"} 1.0
# HELP leadbridge_service_up up
# TYPE leadbridge_service_up gauge
leadbridge_service_up{service="scoring"} 1.0
"""


def test_rates_read_as_people_say_them_and_no_figure_is_not_a_hundred_percent() -> None:
    assert (percent(None), percent(0.5), percent(1.0)) == ("–", "50%", "100%")


def test_form_inputs_are_taken_or_refused_with_what_to_enter() -> None:
    assert capacity_of(" 12 ") == 12 and capacity_of("0") == 0
    for bad in ("-1", "abc", "1.5", "", "100001"):
        with pytest.raises(BadInput) as refused:
            capacity_of(bad)
        assert refused.value.field == "capacity" and "whole number" in refused.value.message
    assert away_hours_of("24") == 24
    with pytest.raises(BadInput, match="Pick how long"):
        away_hours_of("5")


def test_the_teams_reps_carry_their_compliance_and_other_teams_are_left_out() -> None:
    reps = [{"rep_id": "us-2", "name": "Zed", "team": "field", "open": 2, "capacity": 5, "away": True},
            {"rep_id": "us-1", "name": "Ann", "team": "field", "open": 1, "capacity": 9, "away": False},
            {"rep_id": "is-1", "name": "Ivy", "team": "inside_sales", "open": 0, "capacity": 9}]
    sla = {"reps": [{"rep_id": "us-1", "today": {"rate": 0.5}, "week": {"rate": 0.75}}]}
    lines = team_reps(reps, sla, "field")
    assert [(r.rep_id, r.away, r.today, r.week) for r in lines] == [("us-1", False, "50%", "75%"),
                                                                   ("us-2", True, "–", "–")]


def test_a_team_without_a_queue_entry_has_an_empty_queue() -> None:
    queues = {"queues": [{"team": "field", "queued": 1, "leads": [{"assignment_id": "a1"}]}]}
    assert team_queue(queues, "field")["queued"] == 1
    assert team_queue(queues, "agency") == {"team": "agency", "queued": 0, "leads": []}


def test_what_awaits_a_sales_approval_is_rubrics_missing_sales_and_collateral_in_review() -> None:
    rubrics = {"versions": [{"version": "v2", "missing_approvals": ["sales"], "description": "more weight on intent"},
                            {"version": "v3", "missing_approvals": ["marketing", "sales"]},
                            {"version": "v1", "missing_approvals": []}]}
    collateral = {"items": [{"item_id": "c1", "title": "Case study", "status": "in_review"},
                            {"item_id": "c2", "title": "Old", "status": "published"}]}
    assert [(a["kind"], a["id"]) for a in awaiting_sales(rubrics, collateral)] == [
        ("rubric", "v2"), ("rubric", "v3"), ("collateral", "c1")]


def test_grades_per_campaign_are_rows_biggest_first_with_every_grade() -> None:
    rows = grade_rows({"groups": [{"key": "expo", "total": 2, "grades": {"A": 2}},
                                  {"key": None, "total": 5, "grades": {"B": 3, "D": 2}}]})
    assert [(r.key, r.total, r.grades) for r in rows] == [
        ("(none)", 5, {"A": 0, "B": 3, "C": 0, "D": 2}), ("expo", 2, {"A": 2, "B": 0, "C": 0, "D": 0})]
    svg = grades_chart(rows, "Leads by grade per campaign")
    assert svg.startswith('<svg role="img" aria-label="Leads by grade per campaign"')
    assert "expo" in svg and "<script" not in svg


def test_pool_and_collateral_counts_keep_their_order() -> None:
    pool = {"counts": [{"status": "nurturing", "track": "long-term", "leads": 4},
                       {"status": "returned", "track": "long-term", "leads": 1},
                       {"status": "nurturing", "track": None, "leads": 2},
                       {"status": "nurturing", "track": "no-show", "leads": 7}]}
    assert pool_by_track(pool) == [("no-show", 7), ("long-term", 5), ("(no track)", 2)]
    items = {"items": [{"status": "draft"}, {"status": "published"}, {"status": "draft"}]}
    assert collateral_by_status(items, ("draft", "in_review", "published")) == [
        ("draft", 2), ("in_review", 0), ("published", 1)]


def test_a_services_metrics_give_its_lag_and_dead_letters_per_topic() -> None:
    figures = service_figures(METRICS)
    assert figures.lag == {"lead-captured": 7.0, "lead-engaged": 0.0} and figures.total_lag == 7
    assert figures.dead_letters == {"lead-captured": 3.0} and figures.total_dead_letters == 3
    assert service_figures("not { prometheus").lag == {}
    assert replay_command("lead-captured", "scoring") == (
        "python -m shared.dlq replay --topic lead-captured --service scoring")


def test_lagwatch_gives_each_groups_lag_per_service() -> None:
    text = ('# TYPE leadbridge_consumer_group_lag_records gauge\n'
            'leadbridge_consumer_group_lag_records{service="routing",group="g",topic="lead-scored",partition="0"} 5\n'
            'leadbridge_consumer_group_lag_records{service="routing",group="g",topic="lead-scored",partition="1"} 1\n')
    assert group_lag(text) == {"routing": {"lead-scored": 6.0}}


def test_chart_axes_count_in_whole_numbers_at_a_readable_step() -> None:
    assert ticks(0) == [0, 1] and ticks(3) == [0, 1, 2, 3]
    assert ticks(12) == [0, 5, 10, 15] and ticks(260) == [0, 100, 200, 300]
    svg = bars_chart([("draft", 2), ("published", 7)], "Collateral by status", "items")
    assert 'aria-label="Collateral by status"' in svg and ">0.5<" not in svg
