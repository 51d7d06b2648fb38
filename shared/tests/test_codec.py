"""The codec's decoding rules (shared/codec.py): what any producer's record becomes,
and what is refused with which error. Pure and fast: no broker."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import codec
from shared.events import LeadCaptured, LeadEngaged, LeadProfile, LeadScored, lead_id_for_email

TYPE = LeadCaptured.TYPE
KAFKA_TS = 1_780_000_000_000  # the record's Kafka timestamp, ms


def body(**kw: Any) -> dict[str, Any]:
    """A lead-captured as a scanner writes it: no event_id, occurred_at, lead_id or capture_id."""
    return {"profile": {"email": "Ada@Example.com", "name": "Ada Lovelace", "company": "Engines Ltd",
                        "country": "GB"}, "source": "badge_scan", "campaign": "expo", "consent": True, **kw}


def binary_headers(**attrs: str) -> list[tuple[str, bytes]]:
    base = {"ce_specversion": "1.0", "ce_id": "scan-1", "ce_source": "/scanner/7", "ce_type": TYPE,
            "content-type": "application/json"}
    base.update(attrs)
    return [(k, v.encode()) for k, v in base.items() if v != "-"]


def decode(value: bytes | None, headers: list[tuple[str, bytes]]) -> LeadCaptured:
    return codec.decode_record(LeadCaptured, value, headers, KAFKA_TS)


def refused(value: bytes | None, headers: list[tuple[str, bytes]], model: type = LeadCaptured) -> str:
    with pytest.raises(codec.DecodeError) as info:
        codec.decode_record(model, value, headers, KAFKA_TS)
    return str(info.value)


def captured() -> LeadCaptured:
    return LeadCaptured(lead_id="L1", capture_id="C1", consent=True, source="web_form",
                        profile=LeadProfile(email="l1@example.com", name="L One", company="X"))


# ------------------------------------------------------------------ the services' own records


def test_the_services_own_records_decode_to_the_same_event() -> None:
    event = captured()
    assert decode(codec.encode(event), codec.cloudevent_headers(event, "leadbridge/capture")) == event


def test_a_record_without_headers_whose_body_is_a_whole_event_decodes() -> None:
    event = captured()
    assert decode(codec.encode(event), []) == event


# ------------------------------------------------------------------ binary mode


def test_the_id_only_in_ce_id_is_the_event_id_on_every_read() -> None:
    value = json.dumps(body()).encode()
    first, again = decode(value, binary_headers()), decode(value, binary_headers())
    assert first.event_id == again.event_id == "scan-1"
    assert first == again


def test_occurred_at_comes_from_ce_time_else_from_the_kafka_timestamp() -> None:
    value = json.dumps(body()).encode()
    assert decode(value, binary_headers(ce_time="2026-03-04T05:06:07+01:00")).occurred_at == \
        datetime(2026, 3, 4, 4, 6, 7, tzinfo=UTC)
    assert decode(value, binary_headers()).occurred_at == datetime.fromtimestamp(KAFKA_TS / 1000, UTC)


def test_the_body_occurred_at_wins_over_ce_time() -> None:
    value = json.dumps(body(occurred_at="2026-01-01T00:00:00Z")).encode()
    assert decode(value, binary_headers(ce_time="2026-05-05T00:00:00Z")).occurred_at == \
        datetime(2026, 1, 1, tzinfo=UTC)


def test_a_lead_without_a_lead_id_gets_the_persons_and_a_stable_capture_id() -> None:
    value = json.dumps(body()).encode()
    event = decode(value, binary_headers())
    assert event.lead_id == lead_id_for_email("ada@example.com") == lead_id_for_email("  ADA@example.COM ")
    assert event.capture_id == decode(value, binary_headers()).capture_id
    assert event.capture_id != decode(value, binary_headers(ce_id="scan-2")).capture_id


def test_a_lead_id_the_producer_gives_is_kept() -> None:
    event = decode(json.dumps(body(lead_id="crm-42")).encode(), binary_headers())
    assert event.lead_id == "crm-42"


def test_the_lead_id_of_an_email_is_the_documented_uuid5() -> None:
    namespace = uuid.UUID("6f1c1a52-3c59-4b7e-9a9b-0d5c1e0b1e7a")
    assert lead_id_for_email(" Ada@Example.com") == str(uuid.uuid5(namespace, "lead/ada@example.com"))


def test_the_same_id_in_body_and_ce_id_is_accepted() -> None:
    assert decode(json.dumps(body(event_id="scan-1")).encode(), binary_headers()).event_id == "scan-1"


def test_a_body_id_that_differs_from_ce_id_is_refused() -> None:
    error = refused(json.dumps(body(event_id="other")).encode(), binary_headers())
    assert "'other'" in error and "ce_id 'scan-1'" in error


def test_a_whole_event_whose_id_differs_from_ce_id_is_refused() -> None:
    event = captured()
    error = refused(codec.encode(event), binary_headers())
    assert event.event_id in error and "ce_id" in error


def test_no_id_anywhere_is_refused_rather_than_invented() -> None:
    error = refused(json.dumps(body()).encode(), [("content-type", b"application/json")])
    assert "event_id" in error and "ce_id" in error


def test_a_wrong_ce_type_is_refused_naming_both_types() -> None:
    error = refused(json.dumps(body()).encode(), binary_headers(ce_type=LeadEngaged.TYPE))
    assert LeadEngaged.TYPE in error and TYPE in error and "ce_type" in error


def test_a_wrong_ce_type_is_refused_even_on_a_plain_record() -> None:
    event = captured()
    assert "ce_type" in refused(codec.encode(event), [("ce_type", LeadScored.TYPE.encode())])


def test_binary_mode_needs_the_spec_required_headers() -> None:
    error = refused(json.dumps(body()).encode(), binary_headers(ce_source="-", ce_type="-"))
    assert "ce_source" in error and "ce_type" in error


def test_an_unknown_specversion_is_refused() -> None:
    assert "ce_specversion '0.3'" in refused(json.dumps(body()).encode(), binary_headers(ce_specversion="0.3"))


def test_a_non_json_content_type_is_refused() -> None:
    assert "application/avro" in refused(b"\x00\x01", binary_headers(**{"content-type": "application/avro"}))


def test_json_content_type_with_parameters_is_accepted() -> None:
    value = json.dumps(body()).encode()
    assert decode(value, binary_headers(**{"content-type": "application/json; charset=utf-8"})).event_id == "scan-1"


def test_invalid_json_and_invalid_fields_are_named() -> None:
    assert "Invalid JSON" in refused(b"{not json", binary_headers())
    error = refused(json.dumps(body(consent="maybe")).encode(), binary_headers())
    assert "LeadCaptured" in error and "consent" in error
    assert "unknown_field" in refused(json.dumps(body(unknown_field=1)).encode(), binary_headers())


def test_an_empty_value_is_refused() -> None:
    assert "empty record" in refused(None, binary_headers())


# ------------------------------------------------------------------ structured mode


def envelope(**kw: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "scan-9", "source": "/scanner/7", "type": TYPE,
            "time": "2026-03-04T05:06:07Z", "datacontenttype": "application/json", "data": body(), **kw}


STRUCTURED = [("content-type", b"application/cloudevents+json; charset=UTF-8")]


def test_a_structured_mode_record_decodes_with_its_envelope_id_and_time() -> None:
    event = decode(json.dumps(envelope()).encode(), STRUCTURED)
    assert event.event_id == "scan-9"
    assert event.occurred_at == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert event.profile.name == "Ada Lovelace" and event.lead_id == lead_id_for_email("ada@example.com")
    assert decode(json.dumps(envelope()).encode(), STRUCTURED) == event


def test_structured_mode_is_recognised_case_insensitively_and_with_data_base64() -> None:
    without_data = {k: v for k, v in envelope().items() if k != "data"}
    value = json.dumps(without_data | {"data_base64": base64.b64encode(json.dumps(body()).encode()).decode()})
    event = decode(value.encode(), [("Content-Type", b"Application/CloudEvents+JSON")])
    assert event.event_id == "scan-9" and event.source == "badge_scan"


def test_structured_mode_our_own_event_as_data_round_trips() -> None:
    event = captured()
    value = json.dumps(envelope(id=event.event_id, data=json.loads(codec.encode(event)))).encode()
    assert decode(value, STRUCTURED) == event


def test_structured_mode_refusals_name_the_attribute() -> None:
    assert "com.example.x" in refused(json.dumps(envelope(type="com.example.x")).encode(), STRUCTURED)
    no_id = {k: v for k, v in envelope().items() if k != "id"}
    assert "needs id" in refused(json.dumps(no_id).encode(), STRUCTURED)
    assert "differs from id 'scan-9'" in refused(json.dumps(envelope(data=body(event_id="x"))).encode(), STRUCTURED)
    no_data = {k: v for k, v in envelope().items() if k != "data"}
    assert "needs data" in refused(json.dumps(no_data).encode(), STRUCTURED)
    assert "must be a JSON object" in refused(b"[1, 2]", STRUCTURED)
    assert "datacontenttype" in refused(json.dumps(envelope(datacontenttype="application/xml")).encode(),
                                        STRUCTURED)
    assert "JSON event format" in refused(b"\x00", [("content-type", b"application/cloudevents+avro")])
    assert "not JSON" in refused(b"{oops", STRUCTURED)


def test_an_engagement_without_an_activity_id_gets_one_from_its_event_id() -> None:
    value = json.dumps({"lead_id": "L1", "behaviour": "pricing_visit"}).encode()
    headers = binary_headers(ce_type=LeadEngaged.TYPE)
    event = codec.decode_record(LeadEngaged, value, headers, KAFKA_TS)
    assert event.event_id == "scan-1" and event.activity_id
    assert codec.decode_record(LeadEngaged, value, headers, KAFKA_TS).activity_id == event.activity_id
