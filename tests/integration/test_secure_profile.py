"""The secure profile (docs/SECURITY.md) refuses what a service does not own: on a
private SASL/SCRAM broker with the ACLs deploy/secure.py derives, routing's credentials
cannot produce to capture's topic (the broker refuses) while routing's own topic takes
them; in PostgreSQL, routing's role cannot read capture's schema while each service
migrates its own. The shared broker on 9092 is never touched."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from deploy import secure
from shared.db import create_pool, migrate
from shared.publisher import Publisher
from shared.settings import kafka_security
from tests import harness

pytestmark = pytest.mark.integration

POSTGRES_SH = harness.ROOT / "deploy" / "postgres" / "postgres.sh"


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("secure") / "credentials"
    return path, secure.ensure_credentials(path, [p.name for p in secure.service_principals()])


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory,
                  credentials: tuple[Path, dict[str, str]]) -> Iterator[harness.PrivateKafka]:
    path, creds = credentials
    kafka = harness.PrivateKafka(tmp_path_factory.mktemp("secure-kafka"), credentials=path)
    kafka.start()
    try:
        secure.provision_kafka(kafka.bootstrap, creds["kafka.admin"], secure.kafka_passwords(creds))
        yield kafka
    finally:
        kafka.stop()


async def test_routing_cannot_produce_to_a_topic_it_does_not_own(secure_broker: harness.PrivateKafka,
                                                                 credentials: tuple[Path, dict[str, str]]) -> None:
    creds = credentials[1]

    def as_routing() -> Publisher:
        return Publisher(secure_broker.bootstrap, "routing", confirm_timeout_s=20, security=kafka_security(
            "SASL_PLAINTEXT", secure.MECHANISM, "routing", creds["kafka.routing"]))

    # (a refused send retires a publisher, as any failed send does: one refusal each)
    for refused_topic in ("lead-captured", "lead-captured.dlq"):
        routing = as_routing()
        await routing.start()
        try:
            await routing.send_and_wait("lead-assigned", b"{}", b"lead-1", [])  # its own topic
            await routing.send_and_wait("lead-scored.dlq", b"{}", b"lead-1", [])  # dead letters of what it reads
            with pytest.raises(TopicAuthorizationFailedError):
                await routing.send_and_wait(refused_topic, b"{}", b"lead-1", [])  # capture's
        finally:
            await routing.stop()


@pytest.fixture
def secure_database(infra: harness.Infra, credentials: tuple[Path, dict[str, str]]) -> Iterator[tuple[str, str]]:
    """A database of the secure profile's shape (``postgres.sh secure``) with roles of this
    test's own (``lbt<run>_<service>``), dropped with them afterwards: (database, role prefix)."""
    name, prefix = f"lbtest_sec{uuid.uuid4().hex[:8]}", f"lbt{uuid.uuid4().hex[:6]}_"
    port = urlsplit(infra.admin_database_url).port or 5432
    env = {**os.environ, "LEADBRIDGE_ROLE_PREFIX": prefix, "PGPORT": str(port)}

    def script(command: str) -> None:
        done = subprocess.run([str(POSTGRES_SH), command, name, str(credentials[0])], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    script("secure")
    try:
        yield name, prefix
    finally:
        script("secure-drop")


async def test_routing_role_cannot_read_capture_schema(infra: harness.Infra, secure_database: tuple[str, str],
                                                       credentials: tuple[Path, dict[str, str]]) -> None:
    (database, prefix), creds = secure_database, credentials[1]

    def url(service: str) -> str:
        parts = urlsplit(harness.with_database(infra.admin_database_url, database))
        netloc = f"{prefix}{service}:{creds[f'postgres.{service}']}@{parts.hostname}:{parts.port or 5432}"
        return urlunsplit(parts._replace(netloc=netloc))

    capture, routing = await create_pool(url("capture"), min_size=1), await create_pool(url("routing"), min_size=1)
    try:
        # each service migrates its own schema with its own role, as it does at start
        for pool, service in ((capture, "capture"), (routing, "routing")):
            await migrate(pool, service, harness.ROOT / "services" / service / "migrations")
        await capture.execute("INSERT INTO capture.inbox(event_id, topic) VALUES ('e-1', 'lead-captured')")
        assert await routing.fetchval("SELECT count(*) FROM routing.inbox") == 0  # its own: fine
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="schema capture"):
            await routing.fetch("SELECT * FROM capture.leads")
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await routing.execute("CREATE SCHEMA squatter")
        assert await capture.fetchval("SELECT count(*) FROM capture.inbox") == 1
    finally:
        await asyncio.gather(capture.close(), routing.close())



async def test_every_role_reads_and_mints_persons_keys_and_only_capture_destroys_one(
        infra: harness.Infra, secure_database: tuple[str, str], credentials: tuple[Path, dict[str, str]]) -> None:
    from shared import pii

    (database, prefix), creds = secure_database, credentials[1]

    def url(service: str) -> str:
        parts = urlsplit(harness.with_database(infra.admin_database_url, database))
        netloc = f"{prefix}{service}:{creds[f'postgres.{service}']}@{parts.hostname}:{parts.port or 5432}"
        return urlunsplit(parts._replace(netloc=netloc))

    capture, routing = await create_pool(url("capture"), min_size=1), await create_pool(url("routing"), min_size=1)
    try:
        async with routing.acquire() as conn:
            await pii.ensure_schema(conn)  # made by the profile: nothing to create, no privilege needed
            keys, minted = await pii.KeyRing().for_sealing(conn, ["L-1"])
        assert [k.subject for k in minted] == ["L-1"]
        async with capture.acquire() as conn:
            assert (await pii.KeyRing().for_opening(conn, ["L-1"]))["L-1"].secret == keys["L-1"].secret
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            async with routing.acquire() as conn:
                await pii.PostgresKeyTable().destroy(conn, "L-1")
        async with capture.acquire() as conn:
            await pii.PostgresKeyTable().destroy(conn, "L-1")
            assert await pii.KeyRing().for_opening(conn, ["L-1"]) == {}
    finally:
        await asyncio.gather(capture.close(), routing.close())
