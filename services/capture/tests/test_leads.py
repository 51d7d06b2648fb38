from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.capture.domain.leads import (
    ActivityPerson,
    AttachToLead,
    CreateLead,
    InTheFuture,
    LeadConflict,
    MissingDetails,
    adopt_capture,
    implicit_idempotency_key,
    lead_for_activity,
    merge_profile,
    new_lead_id,
    normalise_email,
    timeline_entry,
    view_changes,
    when_it_happened,
)
from shared.events import (
    FollowUpMissed,
    LeadAssigned,
    LeadCaptured,
    LeadProfile,
    LeadScored,
    ScoreReason,
    lead_id_for_email,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_email_case_and_spaces_do_not_make_a_new_person() -> None:
    assert normalise_email("  Ann.Lee@Acme.COM ") == normalise_email("ann.lee@acme.com") == "ann.lee@acme.com"


def test_plus_tags_are_kept_they_can_be_different_people_or_systems() -> None:
    assert normalise_email("ann+events@acme.com") != normalise_email("ann@acme.com")


def test_implicit_key_identifies_the_same_capture_only() -> None:
    key = implicit_idempotency_key("a@x.com", "badge_scan", "expo", T0)
    assert key == implicit_idempotency_key("a@x.com", "badge_scan", "expo", T0)
    assert key != implicit_idempotency_key("a@x.com", "badge_scan", "expo", T0 + timedelta(seconds=1))
    assert key != implicit_idempotency_key("a@x.com", "web_form", "expo", T0)
    assert key != implicit_idempotency_key("a@x.com", "badge_scan", None, T0)


def test_a_later_capture_fills_gaps_but_never_blanks_what_was_known() -> None:
    known = LeadProfile(email="a@x.com", name="Ann", company="Acme", title="VP Sales", country="GB",
                        company_size=500, industry="software")
    scan = LeadProfile(email="a@x.com", name="Ann Lee", company="Acme", title="", country="GB", phone="+44 1")
    merged = merge_profile(known, scan)
    assert merged.name == "Ann Lee"
    assert merged.title == "VP Sales"
    assert merged.company_size == 500
    assert merged.phone == "+44 1"
    assert merge_profile(None, scan) == scan


def _scored(reasons: tuple[ScoreReason, ...]) -> LeadScored:
    return LeadScored(lead_id="L", cause_event_id="c", profile=LeadProfile(email="a@x.com", name="A", company="C"),
                      source="web_form", score=62.44, fit_score=40, engagement_score=22.44, grade="B",
                      segment="smb", rubric_version="v1", reasons=reasons)


def test_view_keeps_the_three_strongest_reasons() -> None:
    reasons = tuple(ScoreReason(rule=f"r{i}", points=p) for i, p in enumerate([5, -30, 12, 1, 20]))
    changes = view_changes(_scored(reasons))
    assert [r["rule"] for r in changes["top_reasons"]] == ["r1", "r4", "r2"]
    assert changes["grade"] == "B"


def test_timeline_reads_like_what_happened() -> None:
    entry = timeline_entry(_scored(()))
    assert entry.type == "scored"
    assert entry.summary["score"] == 62.4
    assigned = LeadAssigned(lead_id="L", assignment_id="A1", owner_kind="nurture", nurture_reason="low-grade",
                            rule="c-d-nurture", reason="grade C", grade="C", segment="smb")
    assert timeline_entry(assigned).type == "assigned"
    assert timeline_entry(assigned).summary["nurture_reason"] == "low-grade"  # why, for whoever reads the timeline
    assert view_changes(assigned)["status"] == "nurturing"
    missed = FollowUpMissed(lead_id="L", assignment_id="A1", rep_id="r1", team="field", due_at=T0, escalation=1,
                            next_action="reassign", grade="A", segment="smb")
    assert timeline_entry(missed).summary["next_action"] == "reassign"
    assert view_changes(missed) == {"status": "follow-up-missed"}


def test_an_activity_by_email_goes_to_the_known_lead_whatever_else_is_given() -> None:
    person = ActivityPerson(email="a@x.com")
    assert lead_for_activity("L1", person, "k") == AttachToLead("L1")


def test_an_unknown_email_becomes_a_lead_keyed_from_the_activity_when_enough_is_known() -> None:
    decision = lead_for_activity(None, ActivityPerson("a@x.com", "Ann", "Acme", "gb"), "webinar-42")
    assert isinstance(decision, CreateLead)
    assert (decision.profile.name, decision.profile.company, decision.profile.country) == ("Ann", "Acme", "GB")
    assert decision.capture_key == "webinar-42:capture"
    unkeyed = lead_for_activity(None, ActivityPerson("a@x.com", "Ann", "Acme", "GB"), None)
    assert isinstance(unkeyed, CreateLead) and unkeyed.capture_key is None


def test_an_unknown_email_without_name_company_or_country_is_refused_naming_each() -> None:
    assert lead_for_activity(None, ActivityPerson("a@x.com", company="Acme"), None) == MissingDetails(
        ("name", "country"))


def test_a_submission_happened_now_or_when_it_says_unless_that_is_beyond_the_clock_skew() -> None:
    assert when_it_happened(None, T0, 300) == T0
    in_paris = datetime(2026, 3, 2, 10, 4, tzinfo=timezone(timedelta(hours=1)))
    assert when_it_happened(in_paris, T0, 300) == T0 + timedelta(minutes=4)
    assert when_it_happened(in_paris, T0, 300).tzinfo is UTC
    with pytest.raises(InTheFuture):
        when_it_happened(T0 + timedelta(seconds=301), T0, 300)


# ------------------------------------------------------------------ captures produced straight to Kafka


def outside_capture(lead_id: str, **profile: str) -> LeadCaptured:
    return LeadCaptured(lead_id=lead_id, capture_id="scan-1", consent=True, source="badge_scan",
                        profile=LeadProfile(**{"email": "ann@acme.com", "name": "Ann Lee", "company": "Acme",
                                               **profile}))


def test_a_new_person_gets_the_lead_id_any_producer_computes_from_the_email() -> None:
    assert new_lead_id(normalise_email(" Ann@Acme.com")) == lead_id_for_email("ann@acme.com")
    assert new_lead_id("ann@acme.com") != new_lead_id("bob@acme.com")


def test_a_capture_of_an_unknown_person_becomes_a_new_lead_under_its_id() -> None:
    plan = adopt_capture(None, None, outside_capture("L-scan"))
    assert (plan.kind, plan.lead_id, plan.profile.name) == ("new", "L-scan", "Ann Lee")


def test_a_capture_of_a_known_person_is_a_repeat_that_keeps_what_was_known() -> None:
    known = LeadProfile(email="ann@acme.com", name="Ann Lee", company="Acme", title="CMO", company_size=900)
    plan = adopt_capture("L1", known, outside_capture("L1", title="", country="GB"))
    assert (plan.kind, plan.lead_id) == ("repeat", "L1")
    assert (plan.profile.title, plan.profile.company_size, plan.profile.country) == ("CMO", 900, "GB")


def test_a_known_person_under_another_lead_id_is_refused_naming_both() -> None:
    known = LeadProfile(email="ann@acme.com", name="Ann Lee", company="Acme")
    with pytest.raises(LeadConflict, match=r"'L-other'.*'L1'"):
        adopt_capture("L1", known, outside_capture("L-other"))
