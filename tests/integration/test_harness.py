"""The tests' harness itself: a stack that cannot start must not leave services behind
(orphans holding database connections starve every other run on the shared server)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests import harness

pytestmark = pytest.mark.integration


def processes_of(ns: harness.Namespace) -> list[int]:
    """Processes started with this namespace's topic prefix in their environment."""
    found = []
    marker = f"LEADBRIDGE_TOPIC_PREFIX={ns.topic_prefix}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def test_a_stack_that_cannot_start_leaves_no_service_running(private_namespace: harness.Namespace,
                                                             tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no_such_service exited"):
        harness.start_stack(private_namespace, tmp_path, names=("no_such_service", "content"))
    deadline = time.monotonic() + 10
    while processes_of(private_namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(private_namespace) == []


def namespace_topics(ns: harness.Namespace) -> list[str]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=ns.bootstrap, client_id="test-prune")
    try:
        return [t for t in admin.list_topics() if t.startswith(ns.topic_prefix)]
    finally:
        admin.close()


def test_prune_removes_a_killed_runs_namespace_and_keeps_an_open_one(infra: harness.Infra) -> None:
    """A run killed before its teardown leaves its database and ~50 topics behind; a few
    hundred such runs made the local broker take five minutes to start (CI gave up at 90 s).
    Prune drops the old, unconnected namespace and leaves a young one alone."""
    import asyncio

    import asyncpg

    killed = harness.open_namespace(infra, "t")
    young = harness.open_namespace(infra, "t")
    try:
        harness.eventually(lambda: namespace_topics(killed) and namespace_topics(young), timeout_s=30,
                           what="both namespaces' topics listed")

        async def age(name: str) -> None:  # opened four hours ago, as a killed run's would be
            conn = await asyncpg.connect(infra.admin_database_url)
            try:
                await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS "
                                   f"'{harness.OPENED_MARK}{time.time() - 4 * 3600:.0f}'")
            finally:
                await conn.close()

        asyncio.run(age(killed.database_name))
        dropped, _ = harness.prune_namespaces(infra)
        assert dropped >= 1

        async def databases() -> set[str]:
            conn = await asyncpg.connect(infra.admin_database_url)
            try:
                return {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            finally:
                await conn.close()

        present = asyncio.run(databases())
        assert killed.database_name not in present
        assert young.database_name in present
        harness.eventually(lambda: namespace_topics(killed) == [], timeout_s=30, what="the killed run's topics deleted")
        assert namespace_topics(young)
    finally:
        harness.close_namespace(killed)
        harness.close_namespace(young)
