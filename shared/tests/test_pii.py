"""Crypto-shredding of personal fields (shared.pii, through the codec): what is sealed
opens only with its person's key, for its event and field; an erased key leaves the
fields erased; a tampered or moved value is refused."""

from __future__ import annotations

import orjson
import pytest

from shared import codec, pii
from shared.events import (
    CrmOutcomeReported,
    DealOutcomeKind,
    FollowUpOutcome,
    FollowUpRecorded,
    LeadCaptured,
    LeadProfile,
    LeadScored,
    LeadSource,
    lead_id_for_email,
)

ADA = LeadProfile(email="ada@lovelace.example", name="Ada Lovelace", company="Analytical Engines",
                  title="Chief Mathematician", phone="+44 20 7946 0001", country="GB")


def captured(lead_id: str = "L-ada", profile: LeadProfile = ADA) -> LeadCaptured:
    return LeadCaptured(lead_id=lead_id, capture_id="c-1", profile=profile, source=LeadSource.WEB_FORM,
                        consent=True, attributes={"utm_source": "newsletter", "comment": "call Ada after 5"})


def sealed(event: LeadCaptured | FollowUpRecorded | CrmOutcomeReported, key: pii.SubjectKey | None) -> bytes:
    return codec.encode_sealed(type(event), codec.personal_fields(event), key)


def decode(model: type[LeadCaptured], value: bytes, keys: dict[str, pii.SubjectKey]) -> LeadCaptured:
    return codec.decode_record(model, value, [("ce_type", model.TYPE.encode())], None, keys)


def test_personal_fields_travel_sealed_and_open_with_the_persons_key() -> None:
    event, key = captured(), pii.SubjectKey.new("L-ada")
    value = sealed(event, key)
    for plain in ("ada@lovelace.example", "Ada Lovelace", "Chief Mathematician", "7946", "call Ada"):
        assert plain.encode() not in value
    assert b"Analytical Engines" in value  # the company's facts are not the person's
    assert pii.subjects_in(value) == {"L-ada"}
    assert decode(LeadCaptured, value, {"L-ada": key}) == event


def test_an_erased_key_leaves_the_fields_erased() -> None:
    event, key = captured(), pii.SubjectKey.new("L-ada")
    opened = decode(LeadCaptured, sealed(event, key), {})  # the key is gone
    assert opened.profile.email == pii.ERASED_EMAIL and pii.is_erased(opened.profile.email)
    assert opened.profile.name == opened.profile.title == opened.profile.phone == pii.ERASED_TEXT
    assert opened.attributes == {"utm_source": pii.ERASED_TEXT, "comment": pii.ERASED_TEXT}
    assert opened.profile.company == "Analytical Engines" and opened.lead_id == "L-ada"
    # a new key of the same person (captured again after the erasure) does not open the old records
    assert decode(LeadCaptured, sealed(event, key), {"L-ada": pii.SubjectKey.new("L-ada")}).profile.name == "[erased]"


def test_a_tampered_value_is_refused() -> None:
    event, key = captured(), pii.SubjectKey.new("L-ada")
    body = orjson.loads(sealed(event, key))
    token = body["profile"]["name"]
    flipped = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    body["profile"]["name"] = flipped
    with pytest.raises(codec.DecodeError, match=r"profile\.name: sealed value does not open"):
        decode(LeadCaptured, orjson.dumps(body), {"L-ada": key})


def test_a_value_moved_to_another_person_event_or_field_is_refused() -> None:
    ada_key, bob_key = pii.SubjectKey.new("L-ada"), pii.SubjectKey.new("L-bob")
    ada = orjson.loads(sealed(captured(), ada_key))
    bob_event = captured("L-bob", ADA.model_copy(update={"email": "bob@x.example", "name": "Bob"}))
    bob = orjson.loads(sealed(bob_event, bob_key))
    keys = {"L-ada": ada_key, "L-bob": bob_key}

    to_bob = {**bob, "profile": {**bob["profile"], "name": ada["profile"]["name"]}}
    with pytest.raises(codec.DecodeError, match="sealed for another person"):
        decode(LeadCaptured, orjson.dumps(to_bob), keys)
    # the token's person rewritten to Bob: Bob's key does not open what Ada's sealed
    forged = ada["profile"]["name"].replace("pii:v1:L-ada:" + ada_key.kid, "pii:v1:L-bob:" + bob_key.kid)
    with pytest.raises(codec.DecodeError, match="does not open"):
        decode(LeadCaptured, orjson.dumps({**bob, "profile": {**bob["profile"], "name": forged}}), keys)
    other_event = {**ada, "event_id": "another-event"}
    with pytest.raises(codec.DecodeError, match="does not open"):
        decode(LeadCaptured, orjson.dumps(other_event), keys)
    swapped = {**ada, "profile": {**ada["profile"], "name": ada["profile"]["title"]}}
    with pytest.raises(codec.DecodeError, match=r"profile\.name"):
        decode(LeadCaptured, orjson.dumps(swapped), keys)


def test_decoding_without_keys_reads_sealed_fields_as_erased() -> None:
    note = FollowUpRecorded(lead_id="L-ada", assignment_id="a", rep_id="r", outcome=FollowUpOutcome.CONTACTED,
                            note="Ada asked for a call", on_time=True)
    assert codec.decode(FollowUpRecorded, sealed(note, pii.SubjectKey.new("L-ada"))).note == pii.ERASED_TEXT
    assert codec.decode(LeadCaptured, sealed(captured(), pii.SubjectKey.new("L-ada"))).profile.email == pii.ERASED_EMAIL


def test_plain_records_of_outside_producers_pass_as_they_are() -> None:
    event = captured()
    assert decode(LeadCaptured, codec.encode(event), {}) == event


def test_the_fast_path_event_is_sealed_too() -> None:
    key = pii.SubjectKey.new("L-ada")
    encoded = LeadScored.encoded(
        event_id="e-1", occurred_at=captured().occurred_at, lead_id="L-ada", cause_event_id="c",
        profile=ADA.model_dump(), source=LeadSource.WEB_FORM, campaign=None, score=1.0, fit_score=1.0,
        engagement_score=0.0, grade="C",
        previous_grade=None, segment="s", segment_parts=("s",), hot=False, disqualified=False, rubric_version="v1",
        reasons=[])
    value = codec.encode_sealed(LeadScored, codec.personal_fields(encoded), key)
    assert b"Ada Lovelace" not in value and b"Ada Lovelace" in encoded.value
    opened = codec.decode_record(LeadScored, value, [], None, {"L-ada": key})
    assert opened == encoded.decode()


def test_erased_values_are_written_as_erased_and_never_sealed_again() -> None:
    event = captured()
    erased = decode(LeadCaptured, sealed(event, pii.SubjectKey.new("L-ada")), {})
    value = sealed(erased, pii.SubjectKey.new("L-ada"))  # a consumer passing the erased person on
    assert not pii.has_sealed(value)
    assert orjson.loads(value)["profile"]["name"] == pii.ERASED_TEXT
    no_key = orjson.loads(sealed(event, None))  # emitted for a person erased meanwhile
    assert no_key["profile"]["email"] == pii.ERASED_EMAIL and no_key["profile"]["name"] == pii.ERASED_TEXT


def test_a_note_and_an_outcomes_email_are_personal_too() -> None:
    note = FollowUpRecorded(lead_id="L-ada", assignment_id="a", rep_id="r", outcome=FollowUpOutcome.CONTACTED,
                            note="Ada's mobile is +44 7700 900123", on_time=True)
    key = pii.SubjectKey.new("L-ada")
    assert b"7700" not in sealed(note, key)
    outcome = CrmOutcomeReported(source="crm", opportunity_id="o-1", kind=DealOutcomeKind.OPPORTUNITY_CREATED,
                                 email="ada@lovelace.example")
    subject = lead_id_for_email("ada@lovelace.example")
    assert CrmOutcomeReported.pii_subject(codec.personal_fields(outcome)) == subject
    outcome_key = pii.SubjectKey.new(subject)
    value = sealed(outcome, outcome_key)
    assert b"lovelace" not in value
    assert codec.decode_record(CrmOutcomeReported, value, [], None, {subject: outcome_key}) == outcome


def test_the_key_cache_forgets_a_person_and_expires() -> None:
    now = [0.0]
    ring = pii.KeyRing(ttl_s=60, clock=lambda: now[0])
    ada, bob = pii.SubjectKey.new("L-ada"), pii.SubjectKey.new("L-bob")
    ring.remember([ada, bob])
    assert ring.cached(["L-ada", "L-bob"]) == ({"L-ada": ada, "L-bob": bob}, [])
    ring.forget(["L-ada"])
    assert ring.cached(["L-ada", "L-bob"]) == ({"L-bob": bob}, ["L-ada"])
    now[0] = 61
    assert ring.cached(["L-bob"]) == ({}, ["L-bob"])
