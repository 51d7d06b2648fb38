"""The shared operator metrics: timers report backlog and lateness the same way in every
service, subscriptions' counters start at 0, and handler names survive binding."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from shared import metrics, topics
from shared.handling import Subscription
from shared.runtime import handler_name


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_timer_backlog_reports_its_count_and_how_long_the_oldest_has_waited() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    metrics.report_timer_backlog("svc-a", "t", 3, now - timedelta(seconds=90), now)
    assert sample("leadbridge_timers_due", service="svc-a", timer="t") == 3
    assert sample("leadbridge_timers_oldest_overdue_seconds", service="svc-a", timer="t") == 90
    metrics.report_timer_backlog("svc-a", "t", 0, None, now)
    assert sample("leadbridge_timers_oldest_overdue_seconds", service="svc-a", timer="t") == 0


def test_a_fired_timer_observes_its_lateness() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    metrics.observe_timer_fired("svc-b", "t", now - timedelta(seconds=7), now)
    assert sample("leadbridge_timer_lateness_seconds_count", service="svc-b", timer="t") == 1
    assert sample("leadbridge_timer_lateness_seconds_sum", service="svc-b", timer="t") == 7
    assert sample("leadbridge_timer_lateness_seconds_bucket", service="svc-b", timer="t", le="5.0") == 0


def test_a_subscriptions_error_counters_exist_at_zero_before_any_error() -> None:
    metrics.initialise_subscription("svc-c", "lead-scored", "on_scored")
    assert sample("leadbridge_events_dead_lettered_total", service="svc-c", topic="lead-scored", reason="decode") == 0
    assert sample("leadbridge_handler_errors_total", service="svc-c", topic="lead-scored", handler="on_scored") == 0


async def on_scored(event: object, uow: object, deps: object) -> None:
    return None


def test_handler_names_come_through_partials() -> None:
    bound = functools.partial(on_scored, deps=None)
    assert handler_name(Subscription(topics.LEAD_SCORED, handler=bound)) == "on_scored"
