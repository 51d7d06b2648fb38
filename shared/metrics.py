"""Prometheus metrics shared by every service (one process runs one service, so the
default registry is the service's registry). Service-specific metrics are declared in
the service's own module with the same ``leadbridge_`` prefix."""

from __future__ import annotations

from datetime import datetime

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
INBOX_PRUNED = Counter("leadbridge_inbox_pruned_total",
                       "Handled event ids forgotten once past the inbox's retention", ["service"])
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
SOURCE_REFUSALS = Counter("leadbridge_source_refusals_total",
                          "Posts to intake routes refused for their key, origin, scope or rate (shared.sources)",
                          ["service", "reason"])
WEBHOOK_REFUSALS = Counter("leadbridge_webhook_refusals_total",
                           "Webhook deliveries refused (unsigned, forged, stale, replayed; shared.webhooks)",
                           ["service", "reason"])
UP = Gauge("leadbridge_service_up", "1 while the service's broker and database checks pass", ["service"])

# --------------------------------------------------------------------------- operator's figures
# Consumer lag as the live consumer sees it: the partition's end offset (high watermark)
# minus the position of the next record this member will hand to its handler. The lag of a
# group whose members are down is measured from outside, from committed offsets, by
# shared/lagwatch.py (leadbridge_consumer_group_lag_records).
CONSUMER_LAG = Gauge("leadbridge_consumer_lag_records",
                     "Records on an assigned partition not yet handled by this consumer (end offset - position)",
                     ["service", "topic", "partition"])
# RED per handler: rate from EVENTS_CONSUMED, errors here, duration from BATCH_SECONDS.
HANDLER_ERRORS = Counter("leadbridge_handler_errors_total",
                         "Handler calls that raised (a failed batch is re-run one event at a time; "
                         "events still failing are dead-lettered)", ["service", "topic", "handler"])
OUTBOX_BACKLOG = Gauge("leadbridge_outbox_backlog_rows", "Outbox rows not yet confirmed published", ["service"])
OUTBOX_OLDEST_AGE = Gauge("leadbridge_outbox_oldest_age_seconds",
                          "Age of the oldest outbox row not yet confirmed published (0 when empty)", ["service"])
# Timers (SLA clocks, nurture steps, retirement): any clocked job that fires due work reports
# its backlog with report_timer_backlog and each firing with observe_timer_fired.
TIMERS_DUE = Gauge("leadbridge_timers_due", "Timers past their due time, not fired yet", ["service", "timer"])
TIMERS_OLDEST_OVERDUE = Gauge("leadbridge_timers_oldest_overdue_seconds",
                              "How long the oldest due timer not fired yet has been due (0 when none)",
                              ["service", "timer"])
TIMER_LATENESS = Histogram("leadbridge_timer_lateness_seconds", "From a timer's due time to its firing",
                           ["service", "timer"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))


def report_timer_backlog(service: str, timer: str, due: int, oldest_due_at: datetime | None,
                         now: datetime) -> None:
    """What a timer job left due after its run: how many, and how long the oldest has waited."""
    TIMERS_DUE.labels(service, timer).set(due)
    overdue = (now - oldest_due_at).total_seconds() if oldest_due_at is not None else 0.0
    TIMERS_OLDEST_OVERDUE.labels(service, timer).set(max(0.0, overdue))


def observe_timer_fired(service: str, timer: str, due_at: datetime, now: datetime) -> None:
    """A timer fired: how late it was."""
    TIMER_LATENESS.labels(service, timer).observe(max(0.0, (now - due_at).total_seconds()))


DEAD_LETTER_REASONS = ("decode", "handler")


def initialise_subscription(service: str, topic: str, handler: str) -> None:
    """Create a subscription's counters at 0, so that the first dead letter or handler error
    is an increase a rule can see (a series born at 1 has no increase)."""
    EVENTS_CONSUMED.labels(service, topic)
    HANDLER_ERRORS.labels(service, topic, handler)
    for reason in DEAD_LETTER_REASONS:
        EVENTS_DEAD_LETTERED.labels(service, topic, reason)
PRODUCER_REPLACED = Counter("leadbridge_producer_replaced_total",
                            "Kafka producers retired after a failed or unconfirmed send and started afresh",
                            ["service"])
