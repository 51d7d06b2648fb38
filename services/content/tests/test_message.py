"""The one-message check on answers written to be on and off the published message."""

from __future__ import annotations

from services.content.domain.message import Answer, by_team, check, key_terms

MESSAGE = ("Leadbridge gives sales and marketing one grading standard: every lead is scored against one agreed "
           "rubric, routed to the right rep within seconds, and nurtured until it is ready, so no lead is lost "
           "and budget follows closed revenue.")
ON = [
    Answer("r1", "field", "We give sales and marketing one agreed grading standard: each lead is scored on one "
                          "rubric and routed to the right rep in seconds, so no lead gets lost."),
    Answer("r2", "field", "Every lead is graded against the rubric sales and marketing agreed, reaches the right "
                          "rep within seconds and is nurtured until ready; budget follows closed revenue."),
    Answer("r3", "inside", "One scoring standard for marketing and sales, leads routed to the right rep fast, "
                           "nurtured when not ready, none lost."),
]
OFF = Answer("r4", "inside", "We are the cheapest CRM on the market with great customer support and a mobile app.")


def test_an_off_message_answer_ranks_last_is_an_outlier_and_misses_the_key_terms() -> None:
    result = check(MESSAGE, [OFF, *ON])
    ranked = [a.rep_id for a in result.answers]
    assert ranked[-1] == "r4"
    last = result.answers[-1]
    assert last.outlier and not any(a.outlier for a in result.answers[:-1])
    assert last.missing_terms == result.key_terms  # uses none of them
    assert {"grading", "rubric", "revenue"} & set(result.key_terms)
    assert all(a.with_message > last.with_message and a.with_peers > last.with_peers  # type: ignore[operator]
               for a in result.answers[:-1])
    r2 = next(a for a in result.answers if a.rep_id == "r2")
    assert "revenue" not in r2.missing_terms and "lead" not in r2.missing_terms


def test_word_forms_count_as_using_a_term() -> None:
    (a,) = check("Qualified leads, graded fairly.", [Answer("r", "t", "We grade every qualified lead.")]).answers
    assert a.missing_terms == ("fairly",)
    assert a.with_peers is None and a.consistency == a.with_message


def test_teams_get_their_mean_consistency_and_their_outliers() -> None:
    teams = {t.team: t for t in by_team(check(MESSAGE, [*ON, OFF]))}
    assert sorted(teams) == ["field", "inside"]
    assert [o.rep_id for o in teams["inside"].outliers] == ["r4"] and teams["field"].outliers == ()
    inside = teams["inside"].answers
    assert teams["inside"].consistency == round(sum(a.consistency for a in inside) / 2, 4)
    assert teams["field"].consistency > teams["inside"].consistency


def test_an_answer_identical_to_the_message_scores_one_and_empty_input_scores_nothing() -> None:
    (a,) = check(MESSAGE, [Answer("r", "t", MESSAGE)]).answers
    assert a.consistency == 1.0 and a.missing_terms == ()
    assert check(MESSAGE, []).answers == () and check(MESSAGE, []).consistency is None
    assert key_terms("the and of", []) == ()
