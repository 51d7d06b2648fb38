"""The tests' harness: the real stack from :mod:`bench.stack` (where the broker and
database come from, a private namespace per run, the services as real processes) and
the polling helpers the integration and end-to-end tests share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from bench.stack import (
    ROOT,
    SERVICES,
    Infra,
    Namespace,
    ServiceProcess,
    Stack,
    close_namespace,
    create_database,
    drop_database,
    free_port,
    open_namespace,
    start_infra,
    start_stack,
    with_database,
)

__all__ = ["ROOT", "SERVICES", "Infra", "Namespace", "ServiceProcess", "Stack", "close_namespace",
           "create_database", "drop_database", "eventually", "free_port", "open_namespace", "read_topic",
           "start_infra", "start_stack", "with_database"]


def eventually(check: Callable[[], Any], timeout_s: float = 20, interval_s: float = 0.2,
               what: str = "condition") -> Any:
    """Poll until ``check`` returns something truthy (and return it) or fail with the last error."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (AssertionError, httpx.HTTPError, KeyError) as exc:
            last = exc
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last: {last!r}")


def read_topic(bootstrap: str, topic: str, *, timeout_s: float = 5.0) -> Iterator[Any]:
    """Every record currently on a topic (kafka-python, from the beginning)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=int(timeout_s * 1000),
                             group_id=None)
    try:
        yield from consumer
    finally:
        consumer.close()
