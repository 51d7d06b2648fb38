"""The contracts: codec round trips, CloudEvents headers, the topic registry."""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import codec, topics
from shared.events import (
    GRADES,
    SALES_GRADES,
    Event,
    FollowUpMissed,
    Grade,
    LeadAssigned,
    LeadCaptured,
    LeadProfile,
    LeadScored,
    LeadSource,
    NurtureReason,
    ScoreReason,
    derive_event_id,
    is_sales_grade,
)

PROFILE = LeadProfile(email="ann@acme.example", name="Ann", company="Acme", title="VP Sales", country="GB")


def captured(**kw: object) -> LeadCaptured:
    return LeadCaptured(lead_id="L1", capture_id="C1", profile=PROFILE, source="web_form", consent=True, **kw)


def test_round_trip_keeps_every_field() -> None:
    event = LeadScored(lead_id="L1", cause_event_id="e0", profile=PROFILE, source="webinar", campaign="w-1",
                       score=71.5, fit_score=50, engagement_score=21.5, grade="B", previous_grade="C",
                       segment="mid-tech-emea", segment_parts=("mid", "tech", "emea"), rubric_version="v2",
                       reasons=(ScoreReason(rule="title.vp", points=20, evidence="e0"),))
    assert codec.decode(LeadScored, codec.encode(event)) == event


def test_occurred_at_is_normalised_to_utc() -> None:
    event = captured(occurred_at=datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    assert event.occurred_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        captured(occurred_at=datetime(2026, 1, 1, 12))


def test_events_are_immutable() -> None:
    event = captured()
    with pytest.raises(ValueError):
        event.lead_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("raw", [b"", b"{not json", b'{"lead_id": "L1"}', b"[]", None])
def test_decode_rejects_what_is_not_the_topic_model(raw: bytes | None) -> None:
    with pytest.raises(codec.DecodeError):
        codec.decode(LeadCaptured, raw)


def test_decode_rejects_unknown_fields() -> None:
    body = codec.encode(captured())[:-1] + b', "surprise": 1}'
    with pytest.raises(codec.DecodeError, match="surprise"):
        codec.decode(LeadCaptured, body)


def test_cloudevents_headers() -> None:
    event = captured()
    headers = codec.header_map(codec.cloudevent_headers(event, "leadbridge/capture"))
    assert headers == {"ce_specversion": "1.0", "ce_id": event.event_id, "ce_source": "leadbridge/capture",
                       "ce_type": "io.leadbridge.lead.captured.v1", "ce_time": event.occurred_at.isoformat(),
                       "content-type": "application/json"}


def test_derived_ids_are_stable_and_distinct() -> None:
    assert derive_event_id("e1", "scored") == derive_event_id("e1", "scored")
    assert derive_event_id("e1", "scored") != derive_event_id("e2", "scored")
    assert derive_event_id("e1", "scored") != derive_event_id("e1", "assigned")


@settings(deadline=None)  # a cold first example on a busy CI box is no failure
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
def test_derived_ids_are_the_uuid5_already_on_the_wire(parts: list[str]) -> None:
    # Ids emitted before the fast path must be derived again the same way, or a
    # redelivered input would emit a "new" event that downstream inboxes let through.
    expected = str(uuid.uuid5(uuid.UUID("6f1c1a52-3c59-4b7e-9a9b-0d5c1e0b1e7a"), "/".join(parts)))
    assert derive_event_id(*parts) == expected


def test_every_event_type_has_exactly_one_topic_keyed_by_lead() -> None:
    models = [s.value_model for s in topics.ALL]
    assert len(models) == len(set(models))
    assert len({s.name for s in topics.ALL}) == len(topics.ALL)
    for spec in topics.ALL:
        assert spec.dlq == spec.name + ".dlq"
        assert spec.partitions >= 1
    for model in (LeadCaptured, LeadScored, LeadAssigned, FollowUpMissed):
        assert topics.BY_MODEL[model].key_field == "lead_id"


def test_key_is_the_lead_id() -> None:
    assert topics.LEAD_CAPTURED.key_of(captured()) == b"L1"


def test_unregistered_event_has_no_topic() -> None:
    class Stray(Event):
        pass

    with pytest.raises(LookupError, match="Stray"):
        topics.spec_for(Stray())


# --------------------------------------------------------------------------- lead-scored's own fast bytes


def _scored_fields(**kw: object) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": derive_event_id("c1", "scored"), "occurred_at": datetime(2026, 3, 1, 9, 30, 0, 123456, UTC),
        "lead_id": "L1", "cause_event_id": "c1", "profile": PROFILE.model_dump(), "source": LeadSource.WEBINAR,
        "campaign": "w-1", "score": 71.5, "fit_score": 50.0, "engagement_score": 21.5, "grade": "B",
        "previous_grade": "C", "segment": "mid-tech-emea", "segment_parts": ("mid", "tech", "emea"), "hot": False,
        "disqualified": False, "rubric_version": "v2",
        "reasons": [{"rule": "fit.title.vp", "points": 20.0, "evidence": "c1"}]}
    fields.update(kw)
    return fields


def test_encoded_lead_scored_is_byte_for_byte_the_models_json() -> None:
    fields = _scored_fields()
    encoded = LeadScored.encoded(**fields)
    event = encoded.decode()  # fully validated on the way back
    assert isinstance(event, LeadScored)
    assert encoded.value == codec.encode(event)
    assert (encoded.event_id, encoded.key, encoded.occurred_at) == (fields["event_id"], b"L1", fields["occurred_at"])
    assert event == LeadScored(**{**fields, "reasons": (ScoreReason(rule="fit.title.vp", points=20, evidence="c1"),)})


@settings(deadline=None)
@given(score=st.floats(-500, 500, allow_nan=False),
       points=st.floats(-100, 100, allow_nan=False).map(lambda p: round(p, 2)),
       grade=st.sampled_from(GRADES), previous=st.none() | st.sampled_from(GRADES),
       campaign=st.none() | st.text(max_size=20),
       name=st.text(max_size=30), size=st.none() | st.integers(0, 10**6), hot=st.booleans(),
       parts=st.lists(st.text(min_size=1, max_size=10), max_size=3))
def test_encoded_lead_scored_matches_the_model_for_any_values(score: float, points: float, grade: Grade,
                                                             previous: Grade | None, campaign: str | None, name: str,
                                                             size: int | None, hot: bool, parts: list[str]) -> None:
    profile = LeadProfile(email="a@b.example", name=name, company=name, company_size=size, industry=name or None)
    fields = _scored_fields(score=score, fit_score=score / 2, engagement_score=score / 2, grade=grade,
                            previous_grade=previous, campaign=campaign, hot=hot, profile=profile.model_dump(),
                            segment="-".join(parts), segment_parts=tuple(parts),
                            reasons=[{"rule": "r", "points": points, "evidence": name}])
    encoded = LeadScored.encoded(**fields)
    assert encoded.value == codec.encode(encoded.decode())


def test_old_lead_scored_records_decode_with_the_parts_of_their_segment() -> None:
    new = LeadScored.encoded(**_scored_fields()).value
    old = orjson.dumps({k: v for k, v in orjson.loads(new).items() if k != "segment_parts"})
    assert codec.decode(LeadScored, old).segment_parts == ("mid", "tech", "emea")


# --------------------------------------------------------------------------- lead-assigned says why it is nurtured


def assigned(**kw: object) -> LeadAssigned:
    fields: dict[str, Any] = {"lead_id": "L1", "assignment_id": "a1", "owner_kind": "nurture", "rule": "cd-to-nurture",
                              "reason": "rule 'cd-to-nurture': nurture", "grade": "C", "segment": "smb-tech-emea",
                              "nurture_reason": NurtureReason.LOW_GRADE}
    fields.update(kw)
    return LeadAssigned(**fields)


def test_nurture_reason_is_set_exactly_when_the_lead_goes_to_nurture() -> None:
    assert assigned().nurture_reason is NurtureReason.LOW_GRADE
    with pytest.raises(ValueError, match="nurture_reason"):
        assigned(nurture_reason=None)
    with pytest.raises(ValueError, match="nurture_reason"):
        assigned(owner_kind="rep", rep_id="r1")
    assert assigned(owner_kind="rep", rep_id="r1", nurture_reason=None).nurture_reason is None


@pytest.mark.parametrize(("attempt", "reason", "expected"), [
    (0, "rule 'cd-to-nurture': nurture", NurtureReason.LOW_GRADE),
    (0, "rule 'disqualified-to-nurture': nurture", NurtureReason.DISQUALIFIED),
    (0, "disqualified by r1: no budget", NurtureReason.DISQUALIFIED),
    (3, "follow-up missed 3 time(s); handed to nurture", NurtureReason.MISSED_FOLLOW_UP),
])
def test_old_lead_assigned_records_decode_with_the_reason_nurture_used_to_infer(
        attempt: int, reason: str, expected: NurtureReason) -> None:
    body = orjson.loads(codec.encode(assigned(attempt=attempt, reason=reason)))
    del body["nurture_reason"]
    assert codec.decode(LeadAssigned, orjson.dumps(body)).nurture_reason is expected


def test_one_grade_type_and_the_grades_sales_works() -> None:
    assert GRADES == ("A", "B", "C", "D")  # best first: reports and tables list them in this order
    assert [g for g in GRADES if is_sales_grade(g)] == sorted(SALES_GRADES) == ["A", "B"]


def test_dead_letter_keeps_the_cloudevent_and_says_where_from_and_why() -> None:
    event = captured()
    original = codec.cloudevent_headers(event, "leadbridge/capture")
    earlier = codec.dead_letter_headers(original, topic="lead-engaged", partition=1, offset=7, reason="decode",
                                        error="old", service="scoring")
    again = codec.dead_letter_headers(earlier, topic="lead-engaged", partition=2, offset=9, reason="handler",
                                      error="RuntimeError: boom", service="nurture")
    h = codec.header_map(again)
    assert (h["dlq_original_partition"], h["dlq_original_offset"], h["dlq_reason"], h["dlq_service"]) == (
        "2", "9", "handler", "nurture")
    assert h["dlq_error"] == "RuntimeError: boom"
    assert len(again) == len(original) + 6  # the earlier dead-lettering's headers are not stacked
    assert codec.without_dead_letter_headers(again) == original


def test_campaign_and_outcome_contracts_round_trip() -> None:
    from datetime import date

    from shared.events import CampaignDefined, CampaignMemberChanged, CrmOutcomeReported, DealOutcomeRecorded

    at = datetime(2026, 12, 10, 15, tzinfo=UTC)
    events: list[Event] = [
        CampaignDefined(campaign_id="webinar-q4", version=1, name="Q4 webinar", type="webinar", owner="mo",
                        starts_at=at, cost_minor=500_000, event_starts_at=at, event_ends_at=at + timedelta(hours=1),
                        time_zone="Europe/Berlin", registration_url="https://example.com/r"),
        CampaignMemberChanged(lead_id="L1", campaign_id="webinar-q4", campaign_type="webinar", status="attended",
                              previous_status="no_show"),
        CrmOutcomeReported(source="crm", opportunity_id="O1", kind="won", email="ann@acme.example",
                           amount_minor=1_250_000, currency="EUR", close_date=date(2026, 12, 20)),
        DealOutcomeRecorded(lead_id="L1", outcome_id="X1", matched_by="email", source="crm", opportunity_id="O1",
                            kind="opportunity_created"),
    ]
    for event in events:
        assert codec.decode(type(event), codec.encode(event)) == event
        assert topics.spec_for(event).key_of(event)


def test_a_won_deal_carries_its_amount_and_an_outcome_names_someone() -> None:
    from shared.events import CrmOutcomeReported

    with pytest.raises(ValueError, match="won deal needs"):
        CrmOutcomeReported(source="crm", opportunity_id="O1", kind="won", email="ann@acme.example")
    with pytest.raises(ValueError, match="lead_id, email or account_domain"):
        CrmOutcomeReported(source="crm", opportunity_id="O1", kind="opportunity_created")
