"""Producers other than the services are first-class (issue 9, part 2): a scanner that
writes CloudEvents straight to Kafka with kcat (librdkafka, as a non-Java producer
would), in binary or structured mode, gets its lead handled once, graded, routed and
owned by capture like one posted over HTTP; a record of the wrong type is dead-lettered
with its reason. docs/PRODUCERS.md is the guide these tests follow."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from typing import Any

import pytest
from kafka.partitioner import murmur2

from bench.leads import grade_a, grade_b
from deploy.asyncapi import discover_services
from shared import codec, topics
from shared.events import LeadAssigned, LeadEngaged, LeadScored, lead_id_for_email
from tests import harness
from tests.e2e.test_pipeline import events_on, post_lead

pytestmark = pytest.mark.e2e


def kcat() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat is not installed; `make tools` (tools/kcat.sh) installs it")
    return path


def produce(stack: harness.Stack, value: dict[str, Any], *, key: str, headers: dict[str, str],
            partition: int | None = None) -> None:
    """One record, produced by kcat with the partitioner docs/PRODUCERS.md prescribes."""
    cmd = [kcat(), "-P", "-b", stack.ns.bootstrap, "-t", stack.ns.topic(topics.LEAD_CAPTURED), "-k", key,
           "-X", "partitioner=murmur2_random"]
    if partition is not None:
        cmd += ["-p", str(partition)]
    for name, text in headers.items():
        cmd += ["-H", f"{name}={text}"]
    subprocess.run(cmd, input=json.dumps(value).encode(), check=True, timeout=30)


def scan(lead: dict[str, Any]) -> dict[str, Any]:
    """A lead-captured body as a badge scanner writes it: no ids, no time."""
    profile = {k: lead[k] for k in ("email", "name", "company", "title", "country", "company_size", "industry")
               if k in lead}
    return {"profile": profile, "source": "badge_scan", "campaign": lead.get("campaign"), "consent": lead["consent"]}


def binary_headers(ce_id: str, ce_type: str = topics.LEAD_CAPTURED.value_model.TYPE) -> dict[str, str]:
    return {"ce_specversion": "1.0", "ce_id": ce_id, "ce_source": "/scanners/hall-3", "ce_type": ce_type,
            "ce_time": "2026-06-01T09:30:00Z", "content-type": "application/json"}


def lead_by_email(stack: harness.Stack, email: str) -> dict[str, Any] | None:
    with stack.client("capture") as c:
        r = c.get("/v1/leads", params={"email": email})
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return dict(r.json())


def owned_by_email(stack: harness.Stack, email: str) -> dict[str, Any]:
    return dict(harness.eventually(lambda: (v := lead_by_email(stack, email)) and v["owner"] and v, 30,
                                   what=f"{email} visible at capture with an owner"))


def partition_of(key: str) -> int:
    """Where the Java client (and murmur2_random) puts a key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % topics.LEAD_CAPTURED.partitions


def test_a_record_with_only_cloudevents_headers_sent_twice_is_handled_once(stack: harness.Stack) -> None:
    lead = grade_a()
    key = lead_id_for_email(lead["email"])
    ce_id = f"scan-{uuid.uuid4()}"
    for _ in range(2):  # a scanner retrying: two producer runs, two records, one event
        produce(stack, scan(lead), key=key, headers=binary_headers(ce_id))

    view = owned_by_email(stack, lead["email"])
    assert view["lead_id"] == key  # the lead id every producer can compute from the email
    assert view["grade"] == "A" and view["owner"]["kind"] == "rep"

    # Both copies landed where the Java client would have put them; a third record after
    # them on that partition, once handled, proves the second copy was read too.
    copies = [m for m in harness.read_topic(stack.ns.bootstrap, stack.ns.topic(topics.LEAD_CAPTURED), timeout_s=2)
              if codec.header_map(m.headers).get("ce_id") == ce_id]
    assert [m.partition for m in copies] == [partition_of(key)] * 2
    sentinel = grade_b()
    produce(stack, scan(sentinel), key=lead_id_for_email(sentinel["email"]),
            headers=binary_headers(f"scan-{uuid.uuid4()}"), partition=partition_of(key))
    owned_by_email(stack, sentinel["email"])

    scored = events_on(stack, topics.LEAD_SCORED, key)
    assert [e.cause_event_id for e in scored] == [ce_id]
    assigned: list[LeadAssigned] = events_on(stack, topics.LEAD_ASSIGNED, key)
    assert len(assigned) == 1
    view = lead_by_email(stack, lead["email"])
    assert view is not None and view["capture_count"] == 1
    assert [t["event_id"] for t in view["timeline"] if t["type"] == "captured"] == [ce_id]


def test_a_lead_produced_straight_to_kafka_is_capture_s_own_over_http(stack: harness.Stack) -> None:
    lead = grade_a()
    key = lead_id_for_email(lead["email"])
    produce(stack, scan(lead), key=key, headers=binary_headers(f"scan-{uuid.uuid4()}"))
    owned_by_email(stack, lead["email"])

    with stack.client("capture") as c:
        view = c.get(f"/v1/leads/{key}")
        assert view.status_code == 200, view.text
        assert view.json()["profile"]["name"] == lead["name"]
        assert view.json()["sources"] == ["badge_scan"]
        # The same person posted over HTTP later is the same lead, a repeat capture.
        again = post_lead(stack, {**lead, "source": "web_form"})
        assert (again["lead_id"], again["repeat"]) == (key, True)
        # Activities for it are accepted by id like any lead's.
        activity = c.post(f"/v1/leads/{key}/activities", json={"behaviour": "pricing_visit"})
        assert activity.status_code == 202, activity.text
    harness.eventually(lambda: events_on(stack, topics.LEAD_ENGAGED, key), what="the activity published")
    engaged: list[LeadEngaged] = events_on(stack, topics.LEAD_ENGAGED, key)
    assert [e.behaviour for e in engaged] == ["pricing_visit"]
    view_after = harness.eventually(lambda: (v := lead_by_email(stack, lead["email"])) and v["capture_count"] == 2
                                    and v, what="the HTTP repeat counted")
    assert set(view_after["sources"]) == {"badge_scan", "web_form"}


def test_a_structured_mode_record_is_handled(stack: harness.Stack) -> None:
    lead = grade_a()
    key = lead_id_for_email(lead["email"])
    ce_id = f"scan-{uuid.uuid4()}"
    envelope = {"specversion": "1.0", "id": ce_id, "source": "/scanners/hall-3",
                "type": topics.LEAD_CAPTURED.value_model.TYPE, "time": "2026-06-01T09:30:00Z",
                "datacontenttype": "application/json", "data": scan(lead)}
    produce(stack, envelope, key=key, headers={"content-type": "application/cloudevents+json; charset=UTF-8"})

    view = owned_by_email(stack, lead["email"])
    assert view["lead_id"] == key and view["grade"] == "A"
    captured = [t for t in view["timeline"] if t["type"] == "captured"]
    assert [(t["event_id"], t["at"]) for t in captured] == [(ce_id, "2026-06-01T09:30:00+00:00")]
    scored: list[LeadScored] = events_on(stack, topics.LEAD_SCORED, key)
    assert [e.cause_event_id for e in scored] == [ce_id]


def test_a_record_of_the_wrong_type_is_dead_lettered_with_its_reason(stack: harness.Stack) -> None:
    lead = grade_a()
    ce_id = f"scan-{uuid.uuid4()}"
    wrong = topics.LEAD_ENGAGED.value_model.TYPE
    produce(stack, scan(lead), key=lead_id_for_email(lead["email"]), headers=binary_headers(ce_id, wrong))
    topic = stack.ns.topic(topics.LEAD_CAPTURED)

    def letters() -> dict[str, dict[str, str]]:
        found = [codec.header_map(m.headers) for m in
                 harness.read_topic(stack.ns.bootstrap, topic + ".dlq", timeout_s=2)]
        return {h["dlq_service"]: h for h in found if h.get("ce_id") == ce_id}

    # Every consumer of the topic applies the one codec: each one refuses it.
    consumers = {s.name for s in discover_services() if topics.LEAD_CAPTURED in s.consumes}
    assert {"scoring", "capture"} <= consumers
    by_service = harness.eventually(lambda: set(ls := letters()) >= consumers and ls,
                                    what=f"dead letters from every consumer ({sorted(consumers)})")
    assert set(by_service) == consumers
    for headers in by_service.values():
        assert headers["dlq_reason"] == "decode"
        assert headers["dlq_original_topic"] == topic
        assert wrong in headers["dlq_error"] and "ce_type" in headers["dlq_error"]
        assert topics.LEAD_CAPTURED.value_model.TYPE in headers["dlq_error"]
    assert lead_by_email(stack, lead["email"]) is None  # never became a lead
