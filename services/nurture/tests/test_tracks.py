from services.nurture.domain.tracks import TRACKS, is_ready_for_sales, status_after_scored, track_for


def test_missed_follow_ups_get_a_short_re_engagement_track_whatever_the_grade() -> None:
    for grade in "ABCD":
        assert track_for("missed-follow-up", grade).name == "re-engage"


def test_low_grades_split_by_fit() -> None:
    assert track_for("low-grade", "C").name == "long-term"
    assert track_for("low-grade", "D").name == "cold"
    assert track_for("disqualified", "C").name == "recycle"


def test_only_sales_grades_return_to_sales() -> None:
    assert [g for g in "ABCD" if is_ready_for_sales(g)] == ["A", "B"]


def test_tracks_have_cadences() -> None:
    assert all(t.cadence_days > 0 for t in TRACKS.values())
    assert TRACKS["re-engage"].cadence_days < TRACKS["long-term"].cadence_days


def test_a_nurtured_lead_that_grades_for_sales_is_ready_once() -> None:
    assert status_after_scored("nurturing", "B") == "ready-for-sales"
    assert status_after_scored("nurturing", "C") is None
    assert status_after_scored("ready-for-sales", "A") is None
    assert status_after_scored("returned-to-sales", "A") is None
