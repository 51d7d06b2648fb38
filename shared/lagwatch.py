"""The pipeline's consumer lag seen from outside: ``python -m shared.lagwatch``.

A service reports the lag of its own consumer (``leadbridge_consumer_lag_records``), but
a service that is down, wedged or crash-looping reports nothing, and that is exactly
when lag matters. This small exporter asks the broker instead, on every scrape: for each
Leadbridge consumer group (``{topic_prefix}leadbridge-<service>``), the committed offset
of every partition it has committed, against the partition's end offset::

    leadbridge_consumer_group_lag_records{service, group, topic, partition}

Offsets are committed every ``consumer_commit_interval_s`` (0.5 s) after handling, so on
a healthy service this matches its own gauge within a commit interval. The lag alert
(deploy/prometheus/rules) reads this one.

Settings (environment): ``LEADBRIDGE_KAFKA_BOOTSTRAP``, ``LEADBRIDGE_TOPIC_PREFIX``,
``LEADBRIDGE_HTTP_HOST``, ``LEADBRIDGE_HTTP_PORT`` (default 9308).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.logs import setup_logging
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class LagwatchSettings(ServiceSettings):
    service_name: str = "lagwatch"
    http_port: int = 9308


GroupLag = dict[tuple[str, str, str, int], int]  # (service, group, topic, partition) -> records


class GroupLagCollector(Collector):
    """Reads committed and end offsets from the broker at scrape time (a few requests:
    one ListGroups, one OffsetFetch per coordinator, one ListOffsets per leader)."""

    def __init__(self, bootstrap: str, topic_prefix: str = "", security: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.security = dict(security or {})  # the lagwatch principal's SASL settings on a secure broker
        self.topic_prefix = topic_prefix
        self.group_prefix = f"{topic_prefix}leadbridge-"
        self._admin: Any = None
        self._lock = threading.Lock()
        self.failures = 0

    def _client(self) -> Any:
        from kafka.admin import KafkaAdminClient  # kafka-python: the admin side, as in shared/topics.py

        if self._admin is None:
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="leadbridge-lagwatch",
                                           request_timeout_ms=5000, **self.security)
        return self._admin

    def read(self) -> GroupLag:
        """The lag of every Leadbridge group, per partition it has committed offsets for."""
        from kafka.admin import OffsetSpec

        admin = self._client()
        groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(self.group_prefix)]
        if not groups:
            return {}
        committed = admin.list_group_offsets({g: None for g in groups})
        by_topic: dict[str, set[Any]] = defaultdict(set)
        for offsets in committed.values():
            for tp in offsets:
                by_topic[tp.topic].add(tp)
        ends: dict[Any, int] = {}
        starts: dict[Any, int] = {}
        def offsets_of(tps: set[Any]) -> None:
            ends.update({tp: o.offset for tp, o in
                         admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps}).items()})
            starts.update({tp: o.offset for tp, o in
                           admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps}).items()})

        try:  # every partition in two requests: a scrape must answer well inside its timeout
            offsets_of(set().union(*by_topic.values()))
        except Exception:
            # one topic at a time, then: a deleted topic (an old test run's) must not hide the rest
            for topic, tps in by_topic.items():
                try:
                    offsets_of(tps)
                except Exception as exc:
                    log.info("no offsets for topic", extra={"topic": topic, "error": repr(exc)})
        lag: GroupLag = {}
        for group, offsets in committed.items():
            service = group.removeprefix(self.group_prefix)
            for tp, meta in offsets.items():
                if tp not in ends:
                    continue
                position = meta.offset if meta.offset >= 0 else starts.get(tp, 0)
                topic = tp.topic.removeprefix(self.topic_prefix)
                lag[(service, group, topic, tp.partition)] = max(0, ends[tp] - position)
        return lag

    def collect(self) -> Iterator[Any]:
        gauge = GaugeMetricFamily("leadbridge_consumer_group_lag_records",
                                  "Records on a partition past the consumer group's committed offset",
                                  labels=["service", "group", "topic", "partition"])
        with self._lock:  # scrapes may overlap; the admin client is not thread-safe
            try:
                lag = self.read()
            except Exception as exc:
                self.failures += 1
                log.warning("could not read consumer group offsets", extra={"error": repr(exc)})
                self._close()
                lag = {}
        for (service, group, topic, partition), n in sorted(lag.items()):
            gauge.add_metric([service, group, topic, str(partition)], n)
        yield gauge
        failures = CounterMetricFamily("leadbridge_lagwatch_read_failures",
                                       "Scrapes for which the broker could not be asked for offsets")
        failures.add_metric([], self.failures)
        yield failures

    def _close(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            finally:
                self._admin = None


def main() -> None:
    settings = LagwatchSettings()
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    REGISTRY.register(GroupLagCollector(settings.kafka_bootstrap, settings.topic_prefix, settings.kafka_security()))
    start_http_server(settings.http_port, addr=settings.http_host)
    log.info("lagwatch serving /metrics", extra={"port": settings.http_port, "prefix": settings.topic_prefix})
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
