from services.nurture.domain.tracks import TRACKS, status_after_scored, track_for
from shared.events import GRADES, SALES_GRADES, NurtureReason


def test_missed_follow_ups_get_a_short_re_engagement_track_whatever_the_grade() -> None:
    for grade in GRADES:
        assert track_for(NurtureReason.MISSED_FOLLOW_UP, grade).name == "re-engage"


def test_low_grades_split_by_fit() -> None:
    assert track_for(NurtureReason.LOW_GRADE, "C").name == "long-term"
    assert track_for(NurtureReason.LOW_GRADE, "D").name == "cold"
    assert track_for(NurtureReason.DISQUALIFIED, "C").name == "recycle"


def test_a_sales_grade_lead_a_rule_keeps_in_nurture_is_long_term() -> None:
    assert track_for(NurtureReason.KEPT_BY_RULE, "A").name == "long-term"


def test_only_sales_grades_return_to_sales() -> None:
    ready = [g for g in GRADES if status_after_scored("nurturing", g) == "ready-for-sales"]
    assert ready == ["A", "B"]
    assert set(ready) == SALES_GRADES  # the one statement routing takes leads back by


def test_tracks_have_cadences() -> None:
    assert all(t.cadence_days > 0 for t in TRACKS.values())
    assert TRACKS["re-engage"].cadence_days < TRACKS["long-term"].cadence_days


def test_a_nurtured_lead_that_grades_for_sales_is_ready_once() -> None:
    assert status_after_scored("nurturing", "B") == "ready-for-sales"
    assert status_after_scored("nurturing", "C") is None
    assert status_after_scored("ready-for-sales", "A") is None
    assert status_after_scored("returned-to-sales", "A") is None
