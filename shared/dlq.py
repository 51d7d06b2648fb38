"""Dead letters, for the platform engineer: see what failed and why, and replay it.

    python -m shared.dlq list   [--topic lead-captured]        # count and errors, per topic
    python -m shared.dlq replay  --topic lead-captured [--service scoring] [--dry-run]

``replay`` re-publishes each dead letter, unchanged (same key, value and CloudEvents
headers, without the dlq_* headers), to the topic it came from, so the fixed service
handles it again; the consumers' inboxes make a replay of something already handled
harmless. It reads the dead-letter topic from the beginning with its own consumer
group (``leadbridge-dlq-replay``), so a second replay only sends what arrived since.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from shared import topics
from shared.codec import header_map, without_dead_letter_headers
from shared.settings import ServiceSettings


def _read(bootstrap: str, topic: str, group: str | None,
          security: dict[str, Any]) -> tuple[KafkaConsumer, Iterator[ConsumerRecord]]:
    """Every record of ``topic`` up to its current end: from the beginning, or, with a
    group, from where that group's last replay committed. Partitions are assigned, not
    subscribed, so no group join delays it."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, **security)
    partitions = consumer.partitions_for_topic(topic) or {0}
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    end = consumer.end_offsets(assigned)

    def records() -> Iterator[ConsumerRecord]:
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            for batch in consumer.poll(timeout_ms=1000).values():
                yield from batch

    return consumer, records()


def list_letters(bootstrap: str, prefix: str, only: str | None, security: dict[str, Any] | None = None) -> int:
    for spec in topics.ALL:
        if only and spec.name != only:
            continue
        consumer, records = _read(bootstrap, prefix + spec.dlq, None, security or {})
        errors: Counter[str] = Counter()
        for record in records:
            h = header_map(record.headers)
            errors[f"{h.get('dlq_service', '?')}: {h.get('dlq_error', '?').splitlines()[0][:150]}"] += 1
        consumer.close()
        total = sum(errors.values())
        print(f"{prefix + spec.dlq:34} {total:6} dead letters")
        for error, count in errors.most_common(10):
            print(f"    {count:6} × {error}")
    return 0


def replay(bootstrap: str, prefix: str, topic: str, service: str | None, dry_run: bool,
           security: dict[str, Any] | None = None) -> int:
    spec = topics.BY_NAME.get(topic)
    if spec is None:
        print(f"unknown topic {topic!r}; one of {', '.join(topics.BY_NAME)}", file=sys.stderr)
        return 2
    consumer, records = _read(bootstrap, prefix + spec.dlq, f"{prefix}leadbridge-dlq-replay", security or {})
    producer = None if dry_run else KafkaProducer(bootstrap_servers=bootstrap, acks="all", **(security or {}))
    sent = skipped = 0
    for record in records:
        h = header_map(record.headers)
        if service and h.get("dlq_service") != service:
            skipped += 1
            continue
        headers = without_dead_letter_headers(record.headers)
        if producer is not None:
            producer.send(h.get("dlq_original_topic", prefix + spec.name), key=record.key, value=record.value,
                          headers=headers).get(timeout=30)
        sent += 1
        if sent % 1000 == 0:
            print(f"[dlq] {sent} replayed…", flush=True)
    if producer is not None:
        producer.flush()
        consumer.commit()
        producer.close()
    consumer.close()
    print(f"[dlq] {'would replay' if dry_run else 'replayed'} {sent} record(s) to {prefix + spec.name}"
          f"{f', skipped {skipped} from other services' if skipped else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.dlq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="count dead letters and their errors")
    ls.add_argument("--topic")
    rp = sub.add_parser("replay", help="send dead letters back to their topic")
    rp.add_argument("--topic", required=True)
    rp.add_argument("--service", help="only letters written by this service")
    rp.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    if args.command == "list":
        return list_letters(settings.kafka_bootstrap, settings.topic_prefix, args.topic, settings.kafka_security())
    return replay(settings.kafka_bootstrap, settings.topic_prefix, args.topic, args.service, args.dry_run,
                  settings.kafka_security())


if __name__ == "__main__":
    sys.exit(main())
