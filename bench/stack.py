"""The real stack for tests and benches: the broker and database, an isolated namespace
per run, and the six services as real processes.

Where the broker and database come from, in order:

1. ``LEADBRIDGE_KAFKA_BOOTSTRAP`` / ``LEADBRIDGE_DATABASE_URL`` if set (a CI's or a
   developer's own stack);
2. containers started with testcontainers when ``LEADBRIDGE_TESTCONTAINERS=1`` and a
   Docker engine answers;
3. the local stack on 127.0.0.1 (``make test`` starts it with deploy/kafka/kafka.sh
   and deploy/postgres/postgres.sh).

Every process that starts a stack makes one signing key (:func:`run_keys`): the
services verify tokens with its public JWKS (``LEADBRIDGE_AUTH_JWKS_FILE``), the app
signs with its private PEM (``LEADBRIDGE_AUTH_SIGNING_KEY_FILE``), and :func:`token`
mints tokens with it; ``Stack.client(service)`` sends one holding every role.

Each run gets its own topics (a unique ``LEADBRIDGE_TOPIC_PREFIX``) and its own
database (created next to the given one, dropped at the end), so runs never see each
other's events or rows, and a user's data is never touched.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from shared import auth, topics
from shared.privacy import PRIVACY_SERVICES

ROOT = Path(__file__).resolve().parents[1]  # the repository
SERVICES = ("capture", "scoring", "routing", "nurture", "content", "app")

SOURCE_KEY = "lbk_0000000000000000.stack-source-key-for-tests-and-benches-not-a-secret"
"""The capture source key of a stack started here (a bootstrap key in capture's
``LEADBRIDGE_SOURCE_KEYS``): it posts for every source and campaign, with a rate limit
no bench reaches. :meth:`Stack.client` sends it to capture."""
SOURCE_KEYS_ENV = {"LEADBRIDGE_SOURCE_KEYS": json.dumps([{
    "key": SOURCE_KEY, "source": "*", "rate_limit": "10000000/minute", "label": "test and bench stack"}])}


@dataclass
class Infra:
    bootstrap: str
    admin_database_url: str
    stop: Callable[[], None] = lambda: None


def _docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_infra() -> Infra:
    env_bootstrap = os.environ.get("LEADBRIDGE_KAFKA_BOOTSTRAP")
    env_db = os.environ.get("LEADBRIDGE_DATABASE_URL")
    if env_bootstrap or env_db:
        return Infra(env_bootstrap or "127.0.0.1:9092",
                     env_db or "postgresql://leadbridge:leadbridge@127.0.0.1:5432/leadbridge")
    if os.environ.get("LEADBRIDGE_TESTCONTAINERS") == "1" and _docker_available():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
        kafka.start()
        pg = PostgresContainer("postgres:15", username="leadbridge", password="leadbridge", dbname="leadbridge")
        pg.start()

        def stop() -> None:
            kafka.stop()
            pg.stop()

        url = pg.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")
        return Infra(kafka.get_bootstrap_server(), url, stop)
    return Infra("127.0.0.1:9092", "postgresql://leadbridge:leadbridge@127.0.0.1:5432/leadbridge")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def create_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        # When it was opened: prune_namespaces() leaves a young namespace alone.
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{OPENED_MARK}{time.time():.0f}'")
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@functools.cache
def run_keys() -> tuple[Path, Path]:
    """This run's signing key: ``(private PEM, public JWKS file)``, made once per process
    in a private directory removed at exit."""
    directory = Path(tempfile.mkdtemp(prefix="leadbridge-keys-"))
    atexit.register(shutil.rmtree, directory, True)
    return auth.generate_keypair(directory)


def auth_env() -> dict[str, str]:
    """What points a service at this run's keys (every service verifies; the app signs)."""
    pem, jwks = run_keys()
    return {"LEADBRIDGE_AUTH_JWKS_FILE": str(jwks), "LEADBRIDGE_AUTH_SIGNING_KEY_FILE": str(pem)}


def token(roles: Iterable[auth.Role | str] = auth.ALL_ROLES, *, subject: str = "test-user",
          rep_id: str | None = None, teams: Iterable[str] = (), name: str = "", ttl_s: float = 900) -> str:
    """A bearer token signed with this run's key (the issuer and audience the services expect
    by default)."""
    return auth.issue_token(run_keys()[0], subject, sorted(str(r) for r in roles), rep_id=rep_id, teams=teams,
                            name=name, ttl_s=ttl_s)


@functools.cache
def all_roles_token() -> str:
    """A token holding every role, valid for the whole run: what existing tests and benches send."""
    return token(subject="test-all-roles", name="Every role", ttl_s=12 * 3600)


def authorised(base_url: str, token_: str | None = None, *, timeout: float = 10) -> httpx.Client:
    """An HTTP client for a service that sends ``token_`` (by default :func:`all_roles_token`)."""
    bearer = token_ if token_ is not None else all_roles_token()
    return httpx.Client(base_url=base_url, timeout=timeout, headers={"authorization": f"Bearer {bearer}"})


@dataclass
class Namespace:
    """One test run's private slice of the broker and the database server."""

    bootstrap: str
    database_url: str
    topic_prefix: str
    admin_database_url: str
    database_name: str

    def env(self) -> dict[str, str]:
        return {"LEADBRIDGE_KAFKA_BOOTSTRAP": self.bootstrap, "LEADBRIDGE_DATABASE_URL": self.database_url,
                "LEADBRIDGE_TOPIC_PREFIX": self.topic_prefix, **auth_env()}

    def topic(self, spec: topics.TopicSpec) -> str:
        return self.topic_prefix + spec.name


def open_namespace(infra: Infra, label: str = "t") -> Namespace:
    run = f"{label}{uuid.uuid4().hex[:8]}"
    name = f"lbtest_{run}"
    deadline = time.monotonic() + 90
    url = ""
    while True:  # the broker and database may still be coming up
        try:
            if not url:  # (the database first: a namespace's topics live only while it exists)
                url = asyncio.run(create_database(infra.admin_database_url, name))
            topics.create_all(infra.bootstrap, prefix=f"{run}-")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    return Namespace(infra.bootstrap, url, f"{run}-", infra.admin_database_url, name)


OPENED_MARK = "leadbridge namespace opened at "
_NAMESPACE_DB = re.compile(r"^lbtest_([a-z]+[0-9a-f]{8})$")
_NAMESPACE_TOPIC = re.compile(r"^([a-z]+[0-9a-f]{8})-")


async def _prune_databases(admin_url: str, older_than_s: float) -> tuple[set[str], list[str]]:
    """Drop the namespace databases of runs that ended without closing them (killed, timed
    out): older than ``older_than_s`` and nobody connected. Returns (the runs still open,
    the databases dropped)."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            "SELECT d.datname, shobj_description(d.oid, 'pg_database') AS note,"
            " (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname) AS sessions"
            " FROM pg_database d WHERE d.datname LIKE 'lbtest\\_%'")
        live: set[str] = set()
        dropped: list[str] = []
        now = time.time()
        for row in rows:
            match = _NAMESPACE_DB.match(row["datname"])
            if not match:
                continue
            note = row["note"] or ""
            opened = float(note.removeprefix(OPENED_MARK)) if note.startswith(OPENED_MARK) else 0.0
            if row["sessions"] or now - opened < older_than_s:
                live.add(match.group(1))
                continue
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
            dropped.append(row["datname"])
        return live, dropped
    finally:
        await conn.close()


def prune_namespaces(infra: Infra, *, older_than_s: float = 3 * 3600) -> tuple[int, int]:
    """Remove what runs that never reached :func:`close_namespace` left behind: their
    databases (see :func:`_prune_databases`) and every namespace's topics whose database is
    gone. Thousands of leftover partitions make the local broker take minutes to start.
    Returns (databases dropped, topics deleted)."""
    live, dropped = asyncio.run(_prune_databases(infra.admin_database_url, older_than_s))
    from kafka.admin import KafkaAdminClient
    from kafka.errors import UnknownTopicOrPartitionError

    admin = KafkaAdminClient(bootstrap_servers=infra.bootstrap, client_id="leadbridge-prune",
                             request_timeout_ms=120_000)
    try:
        stale = [t for t in admin.list_topics()
                 if (m := _NAMESPACE_TOPIC.match(t)) and m.group(1) not in live]
        for i in range(0, len(stale), 500):
            # (a topic already being deleted is still listed for a while: it answers "unknown";
            # the broker has processed the rest of the request all the same)
            with contextlib.suppress(UnknownTopicOrPartitionError):
                admin.delete_topics(stale[i:i + 500], timeout_ms=120_000)
    finally:
        admin.close()
    return len(dropped), len(stale)


def close_namespace(ns: Namespace) -> None:
    """Drop the run's database and delete its topics: repeated runs must not pile up
    thousands of partitions on a developer's broker."""
    with contextlib.suppress(Exception):
        asyncio.run(drop_database(ns.admin_database_url, ns.database_name))
    with contextlib.suppress(Exception):
        topics.delete_with_prefix(ns.bootstrap, ns.topic_prefix)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    """One service running as its own process, exactly as ``make run`` runs it."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    module: str = ""  # default: services.<name>
    health_path: str = "/healthz"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        env = {**os.environ, **self.env, **self.extra_env, "LEADBRIDGE_HTTP_PORT": str(self.port),
               "PYTHONPATH": str(ROOT)}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", self.module or f"services.{self.name}"], cwd=ROOT,
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + self.health_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not healthy after {timeout_s}s:\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Stack:
    ns: Namespace
    services: dict[str, ServiceProcess]

    def url(self, service: str) -> str:
        return self.services[service].url

    def client(self, service: str, token: str | None = None, *,
               source_key: str | None = SOURCE_KEY, timeout: float = 10) -> httpx.Client:
        """A client for ``service`` sending ``token`` (by default one holding every role);
        capture's also carries ``source_key`` (None: no key)."""
        client = authorised(self.url(service), token, timeout=timeout)
        client.headers.update(self.headers(service, source_key, bearer=False))
        return client

    def headers(self, service: str, source_key: str | None = SOURCE_KEY, *, bearer: bool = True) -> dict[str, str]:
        """What a client of ``service`` sends to be let in: the all-roles token and, to
        capture, the stack's source key."""
        sent = {"authorization": f"Bearer {all_roles_token()}"} if bearer else {}
        return {**sent, **({"X-Api-Key": source_key} if service == "capture" and source_key else {})}

    def stop(self) -> None:
        for svc in self.services.values():
            svc.stop()


def start_lagwatch(ns: Namespace, log_dir: Path) -> ServiceProcess:
    """The consumer-group lag exporter (shared/lagwatch.py) for this namespace's groups."""
    log_dir.mkdir(parents=True, exist_ok=True)
    watch = ServiceProcess("lagwatch", free_port(), ns.env(), log_dir / "lagwatch.log", module="shared.lagwatch",
                           health_path="/metrics")
    watch.start()
    return watch


def start_stack(ns: Namespace, log_dir: Path, extra_env: dict[str, dict[str, str]] | None = None,
                names: tuple[str, ...] = SERVICES) -> Stack:
    stack = planned_stack(ns, log_dir, extra_env, names)
    services = stack.services
    try:
        for svc in services.values():
            svc.start(wait=False)
        for svc in services.values():
            svc.wait_healthy()
    except BaseException:
        # A service that never got healthy fails the caller before it holds a Stack to
        # stop: stop them all here, or they live on holding database connections.
        for svc in services.values():
            svc.stop()
        raise
    return stack


def planned_stack(ns: Namespace, log_dir: Path, extra_env: dict[str, dict[str, str]] | None = None,
                  names: tuple[str, ...] = SERVICES) -> Stack:
    """The services of a stack as :func:`start_stack` starts them (source key, peers,
    links), not started yet: a bench starts them itself so that Ctrl-C stops them."""
    log_dir.mkdir(parents=True, exist_ok=True)
    services = {name: ServiceProcess(name, free_port(), ns.env(), log_dir / f"{name}.log",
                                     extra_env=dict((extra_env or {}).get(name, {}))) for name in names}
    if "capture" in services:
        for env, value in SOURCE_KEYS_ENV.items():
            services["capture"].extra_env.setdefault(env, value)
    if "nurture" in services:  # the links in its email lead back to this process
        nurture = services["nurture"]
        nurture.extra_env.setdefault("LEADBRIDGE_NURTURE_PUBLIC_URL", nurture.url)
    if "app" in services:  # the pages call the other services of this stack
        for name, svc in services.items():
            if name != "app":
                services["app"].extra_env.setdefault(f"LEADBRIDGE_APP_{name.upper()}_URL", svc.url)
    if "capture" in services:  # a subject access request asks every other service holding personal data
        holding = [name for name in PRIVACY_SERVICES if name in services]
        peers = {name: services[name].url for name in holding if name != "capture"}
        services["capture"].extra_env.setdefault("LEADBRIDGE_PEER_URLS", json.dumps(peers))
        # an erasure completes once those running here have confirmed
        services["capture"].extra_env.setdefault("LEADBRIDGE_PRIVACY_SERVICES", json.dumps(holding))
    return Stack(ns, services)


if __name__ == "__main__":  # python -m bench.stack prune
    if sys.argv[1:] != ["prune"]:
        sys.exit("usage: python -m bench.stack prune")
    databases, deleted = prune_namespaces(start_infra())
    print(f"[prune] dropped {databases} leftover namespace databases, deleted {deleted} leftover topics")
