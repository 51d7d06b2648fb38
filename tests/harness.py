"""The tests' harness: the real stack from :mod:`bench.stack` (where the broker and
database come from, a private namespace per run, the services as real processes) and
the polling helpers the integration and end-to-end tests share."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.stack import (
    OPENED_MARK,
    ROOT,
    SERVICES,
    Infra,
    Namespace,
    ServiceProcess,
    Stack,
    all_roles_token,
    auth_env,
    authorised,
    close_namespace,
    create_database,
    drop_database,
    free_port,
    open_namespace,
    prune_namespaces,
    start_infra,
    start_lagwatch,
    start_stack,
    token,
    with_database,
)

__all__ = ["OPENED_MARK", "ROOT", "SERVICES", "TEST_CAMPAIGNS", "WEBHOOK_SECRETS", "Infra", "Mailpit", "Namespace",
           "PrivateKafka", "Prometheus", "ServiceProcess", "Stack", "all_roles_token", "auth_env", "authorised",
           "close_namespace", "create_database", "define_campaigns", "drop_database", "eventually", "free_port",
           "open_namespace", "opened", "person_keys", "produce", "prune_namespaces", "read_events", "read_topic",
           "signed_webhook", "start_infra", "start_lagwatch", "start_mailpit", "start_prometheus", "start_stack",
           "token", "with_database"]


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


def produce(ns: Namespace, *events: Any) -> None:
    """Put events on their topics in ``ns`` as a service would (codec, key, CloudEvents headers)."""
    from kafka import KafkaProducer

    from shared import codec, topics

    producer = KafkaProducer(bootstrap_servers=ns.bootstrap, linger_ms=5)
    try:
        for event in events:
            spec = topics.spec_for(event)
            producer.send(ns.topic(spec), codec.encode(event), key=spec.key_of(event),
                          headers=codec.cloudevent_headers(event, "test"))
        producer.flush()
    finally:
        producer.close()


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


def person_keys(database_url: str, values: Iterable[bytes | None]) -> dict[str, Any]:
    """The live data keys (shared.pii) of the persons whose sealed fields ``values`` hold,
    read from the run's key table, as a service's runtime reads them."""
    import asyncpg

    from shared import pii

    subjects = {s for v in values for s in pii.subjects_in(v)}
    if not subjects:
        return {}

    async def load() -> dict[str, Any]:
        conn = await asyncpg.connect(database_url)
        try:
            return await pii.KeyRing().for_opening(conn, subjects)
        finally:
            await conn.close()

    import asyncio

    return asyncio.run(load())


def opened(ns: Namespace, records: Iterable[Any], model: type[Any], *, skip_invalid: bool = False) -> list[Any]:
    """Consumed records as events of ``model``, their sealed personal fields opened with
    the persons' keys (read as erased for a person erased): what a consumer sees. A
    record that is no valid event raises ``codec.DecodeError``, or is left out."""
    from shared import codec

    records = list(records)
    keys = person_keys(ns.database_url, [r.value for r in records])
    events = []
    for r in records:
        try:
            events.append(codec.decode_record(model, r.value, list(r.headers or []), r.timestamp, keys))
        except codec.DecodeError:
            if not skip_invalid:
                raise
    return events


def read_events(ns: Namespace, spec: Any, *, timeout_s: float = 5.0, skip_invalid: bool = False) -> list[Any]:
    """Every event on a topic of ``ns`` so far, opened as a consumer sees it (:func:`opened`)."""
    return opened(ns, read_topic(ns.bootstrap, ns.topic(spec), timeout_s=timeout_s), spec.value_model,
                  skip_invalid=skip_invalid)


# --------------------------------------------------------------------------- campaigns and webhooks

WEBHOOK_SECRETS = {"crm": "whsec_" + base64.b64encode(b"leadbridge test crm secret").decode(),
                   "zoom": "whsec_" + base64.b64encode(b"leadbridge test webinar platform secret").decode()}
"""The Standard Webhooks secret of each test sender (capture runs with them)."""

TEST_CAMPAIGNS = [
    {"campaign_id": "expo-2026", "name": "Expo 2026", "type": "trade_show", "owner": "marketing",
     "starts_at": "2026-01-01T00:00:00+00:00", "event": {"starts_at": "2026-11-20T09:00", "ends_at": "2026-11-22T18:00",
                                                         "time_zone": "Europe/Berlin"}},
    {"campaign_id": "webinar-series", "name": "Webinar series", "type": "webinar", "owner": "marketing",
     "starts_at": "2026-01-01T00:00:00+00:00", "event": {"starts_at": "2026-12-10T16:00", "ends_at": "2026-12-10T17:00",
                                                         "time_zone": "America/New_York"}},
]
"""Campaigns the end-to-end tests' leads name (capture refuses a campaign nobody defined)."""


def define_campaigns(stack: Stack, campaigns: list[dict[str, Any]]) -> None:
    """Define campaigns in nurture (one already there is kept) and wait until capture has
    heard of each: from then on leads may name them."""
    with stack.client("nurture") as nurture, stack.client("capture") as capture:
        for body in campaigns:
            r = nurture.post("/v1/campaigns", json=body)
            assert r.status_code in (201, 409), r.text
        wanted = {c["campaign_id"] for c in campaigns}
        eventually(lambda: wanted <= {c["campaign_id"] for c in capture.get("/v1/campaigns").json()},
                   what=f"capture knowing campaigns {sorted(wanted)}")


def signed_webhook(body: bytes, *, source: str = "crm", webhook_id: str | None = None,
                   at: datetime | None = None, secret: str | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, as the sender ``source`` signs it."""
    from standardwebhooks.webhooks import Webhook

    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret or WEBHOOK_SECRETS[source]).sign(webhook_id, at, body.decode())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature,
            "content-type": "application/json"}


# --------------------------------------------------------------------------- observability

PROMETHEUS_SH = ROOT / "deploy" / "prometheus" / "prometheus.sh"


@dataclass
class PrivateKafka:
    """A broker of the test's own (deploy/kafka/kafka.sh with its own ports and data
    directory), for a test that stops and starts Kafka: the shared broker on 9092 serves
    everyone else's runs and is never stopped. ``credentials`` (a deploy/secure.py
    credentials file) makes it the secure profile's broker: SASL/SCRAM and ACLs."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    credentials: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _script(self, command: str, timeout_s: float = 150) -> None:
        env = {**os.environ, "LEADBRIDGE_DATA": str(self.data_dir), "KAFKA_PORT": str(self.port),
               "KAFKA_CONTROLLER_PORT": str(self.controller_port),
               "KAFKA_HEAP_OPTS": "-Xmx384m -Xms128m", "LEADBRIDGE_PYTHON": sys.executable}
        if self.credentials is not None:
            env |= {"KAFKA_SECURE": "1", "LEADBRIDGE_SECURE_CREDENTIALS": str(self.credentials)}
        done = subprocess.run([str(ROOT / "deploy" / "kafka" / "kafka.sh"), command], env=env,
                              capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"kafka.sh {command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        """Start (formatting the data directory the first time) and wait until it answers."""
        self._script("start")

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM, as an operator's restart does)."""
        self._script("stop")


@dataclass
class Prometheus:
    """A private Prometheus (deploy/prometheus/prometheus.sh with its own port, data
    directory and targets), loaded with the repository's rules."""

    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "PROMETHEUS_DATA": str(self.data_dir), "PROMETHEUS_PORT": str(self.port)}

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; raises ValueError if Prometheus refuses the expression."""
        r = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        if body.get("status") != "success":
            raise ValueError(f"query {expr!r} failed: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        subprocess.run([str(PROMETHEUS_SH), "stop"], env=self.env(), check=False, capture_output=True)


def start_prometheus(targets: dict[str, str], data_dir: Path, scrape_interval: str = "1s") -> Prometheus:
    """Start a Prometheus scraping ``targets`` (job name -> ``host:port``) every
    ``scrape_interval``, and wait until it has scraped each of them once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    prom = Prometheus(free_port(), data_dir)
    groups = [{"targets": [address], "labels": {"__service": job}} for job, address in targets.items()]
    groups.append({"targets": [f"127.0.0.1:{prom.port}"], "labels": {"__service": "prometheus"}})
    targets_file = data_dir / "targets.json"
    targets_file.write_text(json.dumps(groups))
    env = {**prom.env(), "PROMETHEUS_TARGETS": str(targets_file), "PROMETHEUS_SCRAPE_INTERVAL": scrape_interval}
    subprocess.run([str(PROMETHEUS_SH), "start"], env=env, check=True, capture_output=True)
    eventually(lambda: len(prom.query("up == 1")) == len(groups), timeout_s=30,
               what="Prometheus scraping every target")
    return prom


# --------------------------------------------------------------------------- mail

MAILPIT_SH = ROOT / "deploy" / "mailpit" / "mailpit.sh"


@dataclass
class Mailpit:
    """A private Mailpit (deploy/mailpit/mailpit.sh with its own ports and data
    directory): nurture sends to ``smtp_port``; tests read what arrived through its API."""

    smtp_port: int
    http_port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "MAILPIT_DATA": str(self.data_dir), "MAILPIT_SMTP_PORT": str(self.smtp_port),
                "MAILPIT_HTTP_PORT": str(self.http_port)}

    def nurture_env(self) -> dict[str, str]:
        """What points nurture at this Mailpit."""
        return {"LEADBRIDGE_NURTURE_SMTP_HOST": "127.0.0.1", "LEADBRIDGE_NURTURE_SMTP_PORT": str(self.smtp_port)}

    def search(self, query: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Message summaries matching a Mailpit search (``to:ada@x.example``, ``subject:...``)."""
        found: list[dict[str, Any]] = []
        while True:
            r = httpx.get(self.url + "/api/v1/search", params={"query": query, "limit": 250, "start": len(found)},
                          timeout=10)
            r.raise_for_status()
            page = r.json()["messages"]
            found.extend(page)
            if len(page) < 250 or len(found) >= limit:
                return found

    def message(self, mailpit_id: str) -> dict[str, Any]:
        """One message in full (Text, HTML, From, To, Subject, MessageID, ...)."""
        r = httpx.get(self.url + f"/api/v1/message/{mailpit_id}", timeout=10)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def headers(self, mailpit_id: str) -> dict[str, list[str]]:
        r = httpx.get(self.url + f"/api/v1/message/{mailpit_id}/headers", timeout=10)
        r.raise_for_status()
        headers: dict[str, list[str]] = r.json()
        return headers

    def stop(self) -> None:
        subprocess.run([str(MAILPIT_SH), "stop"], env=self.env(), check=False, capture_output=True)


def start_mailpit(data_dir: Path) -> Mailpit:
    """Start a private Mailpit on free ports (building it once if needed) and wait for its API."""
    data_dir.mkdir(parents=True, exist_ok=True)
    mail = Mailpit(free_port(), free_port(), data_dir)
    subprocess.run([str(MAILPIT_SH), "start"], env=mail.env(), check=True, capture_output=True, timeout=900)
    return mail
