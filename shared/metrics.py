"""Prometheus metrics shared by every service (one process runs one service, so the
default registry is the service's registry). Service-specific metrics are declared in
the service's own module with the same ``leadbridge_`` prefix."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter("leadbridge_events_consumed_total", "Events handled (effects committed)",
                          ["service", "topic"])
EVENTS_DUPLICATE = Counter("leadbridge_events_duplicate_total",
                           "Redelivered events recognised by the inbox and skipped", ["service", "topic"])
EVENTS_DEAD_LETTERED = Counter("leadbridge_events_dead_lettered_total",
                               "Records sent to a dead-letter topic", ["service", "topic", "reason"])
EVENTS_PUBLISHED = Counter("leadbridge_events_published_total", "Events published to Kafka",
                           ["service", "topic"])
OUTBOX_RELAYED = Counter("leadbridge_outbox_relayed_total",
                         "Outbox rows re-sent by the relay after an unconfirmed publish", ["service"])
TRANSIENT_RETRIES = Counter("leadbridge_transient_retries_total",
                            "Batches retried after a transient database or broker error", ["service", "where"])
BATCH_SECONDS = Histogram("leadbridge_batch_seconds", "Time to handle one consumed batch",
                          ["service", "topic"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
EVENT_AGE_SECONDS = Histogram("leadbridge_event_age_seconds",
                              "From the record's timestamp to the end of its handling", ["service", "topic"],
                              buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
CONSUME_DELAY_SECONDS = Histogram("leadbridge_consume_delay_seconds",
                                  "From the record's timestamp to the start of its handling (queueing)",
                                  ["service", "topic"],
                                  buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30))
HTTP_REQUESTS = Counter("leadbridge_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram("leadbridge_http_request_seconds", "HTTP request latency", ["service", "method", "route"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
UP = Gauge("leadbridge_service_up", "1 while the service's broker and database checks pass", ["service"])
