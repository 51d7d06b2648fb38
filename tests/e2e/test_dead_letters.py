"""A record that cannot be handled goes to its dead-letter topic with the error and
its origin, and the partition keeps moving: the next good record is still handled."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from shared import codec, topics
from tests import harness
from tests.e2e.leads import grade_a
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
        return [h for h in found if h.get("dlq_service") == "scoring"]

    letters = harness.eventually(lambda: len(ls := scoring_letters()) >= topics.LEAD_CAPTURED.partitions and ls,
                                 what="a dead letter per partition from scoring")
    for headers in letters:
        assert headers["dlq_original_topic"] == topic
        assert headers["dlq_reason"] == "decode"
        assert "LeadCaptured" in headers["dlq_error"]
        assert headers["ce_id"] == "broken-1"
    assert {h["dlq_original_partition"] for h in letters} == {str(p) for p in range(topics.LEAD_CAPTURED.partitions)}
