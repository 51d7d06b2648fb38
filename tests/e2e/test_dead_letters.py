"""A record that cannot be handled goes to its dead-letter topic with the error and
its origin, and the partition keeps moving: the next good record is still handled."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from bench.leads import grade_a
from shared import codec, topics
from tests import harness
from tests.e2e.test_pipeline import post_lead, wait_owned

pytestmark = pytest.mark.e2e


def test_a_malformed_record_is_dead_lettered_and_the_next_good_one_is_handled(stack: harness.Stack) -> None:
    topic = stack.ns.topic(topics.LEAD_CAPTURED)
    producer = KafkaProducer(bootstrap_servers=stack.ns.bootstrap)
    # Same key as no real lead, fixed partition 0: the good lead after it may share it.
    for partition in range(topics.LEAD_CAPTURED.partitions):
        producer.send(topic, key=b"broken", value=b'{"lead_id": "broken", "profile": 42}', partition=partition,
                      headers=[("ce_id", b"broken-1")]).get(timeout=10)
    producer.close()

    # Every partition held a poison record; a lead posted now must still travel the pipeline.
    view = wait_owned(stack, post_lead(stack, grade_a())["lead_id"])
    assert view["grade"] == "A"

    def scoring_letters() -> list[dict[str, str]]:
        found = [codec.header_map(m.headers) for m in
                 harness.read_topic(stack.ns.bootstrap, topic + ".dlq", timeout_s=2)]
        # this test's poison only: the session's stack also carries other tests' dead letters
        return [h for h in found if h.get("dlq_service") == "scoring" and h.get("ce_id") == "broken-1"]

    letters = harness.eventually(lambda: len(ls := scoring_letters()) >= topics.LEAD_CAPTURED.partitions and ls,
                                 what="a dead letter per partition from scoring")
    for headers in letters:
        assert headers["dlq_original_topic"] == topic
        assert headers["dlq_reason"] == "decode"
        assert "LeadCaptured" in headers["dlq_error"]
    assert {h["dlq_original_partition"] for h in letters} == {str(p) for p in range(topics.LEAD_CAPTURED.partitions)}


def test_a_dead_letter_replayed_after_a_fix_is_handled(stack: harness.Stack) -> None:
    """As if scoring had a bug when this lead arrived: the record sits in the dead-letter
    topic. `python -m shared.dlq replay` sends it back and the pipeline takes it."""
    from shared import dlq
    from shared.events import LeadAssigned, LeadCaptured, LeadProfile

    event = LeadCaptured(lead_id="replayed-lead", capture_id="c-replayed", consent=True, source="web_form",
                         profile=LeadProfile(email="replayed@example.com", name="Re Played", company="Bigco",
                                             title="VP Marketing", country="US", company_size=5000,
                                             industry="software"))
    topic = stack.ns.topic(topics.LEAD_CAPTURED)
    producer = KafkaProducer(bootstrap_servers=stack.ns.bootstrap)
    producer.send(topic + ".dlq", key=b"replayed-lead", value=codec.encode(event), headers=[
        ("ce_id", event.event_id.encode()), ("dlq_original_topic", topic.encode()),
        ("dlq_service", b"scoring"), ("dlq_error", b"RuntimeError: a bug since fixed")]).get(timeout=10)
    producer.close()

    assert dlq.replay(stack.ns.bootstrap, stack.ns.topic_prefix, "lead-captured", "scoring", dry_run=False) == 0

    def assigned() -> list[LeadAssigned]:
        return [e for e in (codec.decode(LeadAssigned, m.value) for m in
                            harness.read_topic(stack.ns.bootstrap, stack.ns.topic(topics.LEAD_ASSIGNED), timeout_s=2))
                if e.lead_id == "replayed-lead"]

    found = harness.eventually(assigned, what="the replayed lead assigned")
    assert found[0].grade == "A"
