"""Fixtures for integration and end-to-end tests: the real broker and database (see
tests/harness.py for where they come from), a private namespace per run, and the five
services as real processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness


@pytest.fixture(scope="session")
def infra() -> Iterator[harness.Infra]:
    infra = harness.start_infra()
    # What killed runs left on the broker (their topics) and the server (their databases)
    # goes first: thousands of leftover partitions make a broker take minutes to restart.
    harness.prune_namespaces(infra)
    yield infra
    infra.stop()


@pytest.fixture(scope="session")
def namespace(infra: harness.Infra) -> Iterator[harness.Namespace]:
    ns = harness.open_namespace(infra, "s")
    yield ns
    harness.close_namespace(ns)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def mailpit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Mailpit]:
    """A private Mailpit for the session: the shared stack's nurture sends to it."""
    mail = harness.start_mailpit(tmp_path_factory.mktemp("mailpit"))
    yield mail
    mail.stop()


@pytest.fixture(scope="session")
def stack(namespace: harness.Namespace, log_dir: Path, mailpit: harness.Mailpit) -> Iterator[harness.Stack]:
    """All six services, started once for the end-to-end tests that share them.
    Routing runs the test organisation with short SLAs (tests/e2e/org.yaml); nurture
    sends to the session's Mailpit, marks a webinar's no-shows 3 s after its end, wants
    pre-event calls 20 s before the start and lets 5 emails a day reach a person; capture
    verifies the test CRM's webhooks
    (harness.WEBHOOK_SECRETS); the campaigns the tests' leads name are defined
    (harness.define_campaigns); content stores its files in the run's directory
    with a 1 MiB upload limit and re-measures effectiveness every second; the app seeds
    the test accounts (tests/e2e/accounts.yaml: every rep of the test org, a manager per
    team, one of each other role)."""
    org = Path(__file__).parent / "e2e" / "org.yaml"
    extra = {"routing": {"LEADBRIDGE_ROUTING_ORG_FILE": str(org)}} if org.exists() else {}
    extra["nurture"] = {**mailpit.nurture_env(), "LEADBRIDGE_NURTURE_NO_SHOW_GRACE_S": "3",
                        "LEADBRIDGE_NURTURE_PRE_EVENT_CALL_LEAD_S": "20",
                        "LEADBRIDGE_NURTURE_PRE_EVENT_CALL_SOONEST_S": "1",
                        "LEADBRIDGE_NURTURE_MAX_EMAILS_PER_DAY": "5"}
    extra["capture"] = {"LEADBRIDGE_WEBHOOK_SECRETS": json.dumps(harness.WEBHOOK_SECRETS)}
    extra["app"] = {"LEADBRIDGE_APP_ACCOUNTS_FILE": str(Path(__file__).parent / "e2e" / "accounts.yaml")}
    extra["content"] = {"LEADBRIDGE_DATA_DIR": str(log_dir / "content-data"),
                        "LEADBRIDGE_MAX_UPLOAD_BYTES": str(1024 * 1024), "LEADBRIDGE_EFFECTIVENESS_EVERY_S": "1"}
    stack = harness.start_stack(namespace, log_dir / "stack", extra)
    harness.define_campaigns(stack, harness.TEST_CAMPAIGNS)
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def lagwatch(namespace: harness.Namespace, log_dir: Path) -> Iterator[harness.ServiceProcess]:
    """The consumer-group lag exporter for the shared namespace."""
    watch = harness.start_lagwatch(namespace, log_dir / "stack")
    yield watch
    watch.stop()


@pytest.fixture(scope="session")
def prometheus(stack: harness.Stack, lagwatch: harness.ServiceProcess,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Prometheus]:
    """A private Prometheus with the repository's config and rules, scraping the shared
    stack and its lag watcher every second."""
    targets = {name: f"127.0.0.1:{svc.port}" for name, svc in stack.services.items()}
    targets["lagwatch"] = f"127.0.0.1:{lagwatch.port}"
    prom = harness.start_prometheus(targets, tmp_path_factory.mktemp("prometheus"))
    yield prom
    prom.stop()


@pytest.fixture
def private_namespace(infra: harness.Infra) -> Iterator[harness.Namespace]:
    """A namespace of its own, for a test that stops and starts services."""
    ns = harness.open_namespace(infra, "p")
    yield ns
    harness.close_namespace(ns)


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    # When an end-to-end test fails, the services' last log lines say why.
    if call.when == "call" and call.excinfo is not None and "stack" in getattr(item, "funcargs", {}):
        stack: harness.Stack = item.funcargs["stack"]  # type: ignore[attr-defined]
        for name, svc in stack.services.items():
            item.add_report_section("call", f"{name} log", svc.tail(25))
