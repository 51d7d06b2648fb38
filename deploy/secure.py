"""The secure profile's principals, credentials and Kafka ACLs (docs/SECURITY.md).

Every service is its own Kafka principal (SASL/SCRAM-SHA-512) and its own PostgreSQL
role. What a principal may do on the broker is derived, never kept by hand: it may
write the topics :data:`shared.topics.PUBLISHERS` says it publishes and the dead-letter
twins of the topics it consumes, read the topics its registry subscribes to, and use
its own consumer group; nothing else (the broker runs with
``allow.everyone.if.no.acl.found=false``). ``admin`` (the broker's super user) creates
topics and runs the operator tools; ``lagwatch`` may only describe the groups and topics.

    python -m deploy.secure credentials     # write the credentials file once (mode 600); print its path
    python -m deploy.secure kafka           # as admin: SCRAM credentials, topics and ACLs of every principal
    python -m deploy.secure env SERVICE     # the LEADBRIDGE_* settings SERVICE runs with (shell lines)
    python -m deploy.secure envfiles DIR    # DIR/<service>.env (KEY=VALUE) for every service and lagwatch
    python -m deploy.secure acls            # print the ACLs it would create

Environment: ``LEADBRIDGE_SECURE_CREDENTIALS`` (default
``$LEADBRIDGE_DATA/secure/credentials``, ``LEADBRIDGE_DATA`` defaulting to
``~/.local/share/leadbridge``), ``LEADBRIDGE_KAFKA_BOOTSTRAP`` (default 127.0.0.1:9094,
the secure broker of ``KAFKA_SECURE=1 deploy/kafka/kafka.sh``), ``LEADBRIDGE_TOPIC_PREFIX``,
``LEADBRIDGE_SECURE_DATABASE`` (default ``leadbridge_secure``), ``PGPORT``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import topics
from shared.settings import kafka_security

ADMIN = "admin"
LAGWATCH = "lagwatch"
MECHANISM = "SCRAM-SHA-512"
SECURE_BOOTSTRAP = "127.0.0.1:9094"
ROLE_PREFIX = "leadbridge_"


@dataclass(frozen=True)
class Principal:
    """One service as the broker sees it: what it publishes and consumes."""

    name: str
    publishes: tuple[str, ...]
    consumes: tuple[str, ...]

    def group(self, prefix: str) -> str:
        return f"{prefix}leadbridge-{self.name}"


def service_principals() -> list[Principal]:
    """Every service, from its own registry (consumes) and shared.topics.PUBLISHERS."""
    from deploy import asyncapi

    found = []
    for service in asyncapi.discover_services():
        publishes = tuple(spec.name for spec, names in topics.PUBLISHERS.items() if service.name in names)
        found.append(Principal(service.name, publishes, tuple(spec.name for spec in service.consumes)))
    return found


def acls(principals: Sequence[Principal], prefix: str = "") -> list[Any]:
    """The ACLs of every principal (kafka-python ``ACL`` objects), all ALLOW, all from any host."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    def allow(user: str, op: Any, kind: Any, name: str, pattern: Any = ACLResourcePatternType.LITERAL) -> Any:
        return ACL(f"User:{user}", "*", op, ACLPermissionType.ALLOW, ResourcePattern(kind, name, pattern))

    granted: list[Any] = []
    for p in principals:
        writes = [*p.publishes, *(topics.BY_NAME[t].dlq for t in p.consumes)]  # its dead letters too
        for topic in dict.fromkeys(writes):
            granted += [allow(p.name, op, ResourceType.TOPIC, prefix + topic)
                        for op in (ACLOperation.WRITE, ACLOperation.DESCRIBE)]
        for topic in p.consumes:
            granted += [allow(p.name, op, ResourceType.TOPIC, prefix + topic)
                        for op in (ACLOperation.READ, ACLOperation.DESCRIBE)]
        if p.consumes:
            granted.append(allow(p.name, ACLOperation.READ, ResourceType.GROUP, p.group(prefix)))
    prefixed = ACLResourcePatternType.PREFIXED
    granted += [allow(LAGWATCH, ACLOperation.DESCRIBE, ResourceType.GROUP, f"{prefix}leadbridge-", prefixed),
                allow(LAGWATCH, ACLOperation.DESCRIBE, ResourceType.TOPIC, prefix or "*",
                      prefixed if prefix else ACLResourcePatternType.LITERAL)]
    return granted


def provision_kafka(bootstrap: str, admin_password: str, passwords: Mapping[str, str], *, prefix: str = "",
                    principals: Sequence[Principal] | None = None, create_topics: bool = True) -> None:
    """As ``admin``: give each principal in ``passwords`` its SCRAM credential, create the
    topics (with ``prefix``) and the ACLs of ``principals`` (default: every service).
    Idempotent: run it again after adding a service or changing a password."""
    from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion

    admin_security = kafka_security("SASL_PLAINTEXT", MECHANISM, ADMIN, admin_password)
    principals = service_principals() if principals is None else principals
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="leadbridge-secure", request_timeout_ms=30_000,
                             **admin_security)
    try:
        users = [UserScramCredentialUpsertion(user, MECHANISM, password) for user, password in passwords.items()
                 if user != ADMIN]
        if users:
            refused = {u: e for u, e in admin.alter_user_scram_credentials(users).items() if e}
            if refused:
                raise RuntimeError(f"SCRAM credentials refused: {refused}")
        admin.create_acls(acls(principals, prefix))
    finally:
        admin.close()
    if create_topics:
        topics.create_all(bootstrap, prefix=prefix, security=admin_security)


# ----------------------------------------------------------------------------- credentials

def credentials_path() -> Path:
    if explicit := os.environ.get("LEADBRIDGE_SECURE_CREDENTIALS"):
        return Path(explicit)
    data = Path(os.environ.get("LEADBRIDGE_DATA", Path.home() / ".local" / "share" / "leadbridge"))
    return data / "secure" / "credentials"


def read_credentials(path: Path) -> dict[str, str]:
    """``kafka.<principal>=<password>`` and ``postgres.<service>=<password>`` lines."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


def ensure_credentials(path: Path, names: Sequence[str]) -> dict[str, str]:
    """The credentials file, with a fresh random password added for every principal it
    lacks (``admin`` and ``lagwatch`` on Kafka; each of ``names`` on Kafka and PostgreSQL)."""
    have = read_credentials(path) if path.exists() else {}
    wanted = [f"kafka.{ADMIN}", f"kafka.{LAGWATCH}", *(f"{kind}.{n}" for n in names for kind in ("kafka", "postgres"))]
    missing = [key for key in wanted if key not in have]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as out:
            if not have:
                out.write("# Leadbridge secure profile: one password per principal (deploy/secure.py)\n")
            for key in missing:
                have[key] = secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: safe in JAAS and SQL literals
                out.write(f"{key}={have[key]}\n")
    os.chmod(path, 0o600)
    return have


def kafka_passwords(credentials: Mapping[str, str]) -> dict[str, str]:
    return {k.removeprefix("kafka."): v for k, v in credentials.items() if k.startswith("kafka.")}


def service_env(service: str, credentials: Mapping[str, str], *, bootstrap: str, database: str,
                pg_port: int = 5432) -> dict[str, str]:
    """What ``service`` runs with in the secure profile: its own Kafka principal and its
    own PostgreSQL role (``leadbridge_<service>``, which owns only the schema ``<service>``)."""
    env = {"LEADBRIDGE_KAFKA_BOOTSTRAP": bootstrap, "LEADBRIDGE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "LEADBRIDGE_KAFKA_SASL_MECHANISM": MECHANISM, "LEADBRIDGE_KAFKA_SASL_USERNAME": service,
           "LEADBRIDGE_KAFKA_SASL_PASSWORD": credentials[f"kafka.{service}"]}
    if f"postgres.{service}" in credentials:
        role = ROLE_PREFIX + service.replace("-", "_")
        env["LEADBRIDGE_DATABASE_URL"] = (f"postgresql://{role}:{credentials[f'postgres.{service}']}"
                                          f"@127.0.0.1:{pg_port}/{database}")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.secure", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["credentials", "kafka", "env", "envfiles", "acls"])
    parser.add_argument("service", nargs="?", help="env: the service (or lagwatch); envfiles: the directory")
    args = parser.parse_args(argv)
    path = credentials_path()
    prefix = os.environ.get("LEADBRIDGE_TOPIC_PREFIX", "")
    bootstrap = os.environ.get("LEADBRIDGE_KAFKA_BOOTSTRAP", SECURE_BOOTSTRAP)
    names = [p.name for p in service_principals()]
    credentials = ensure_credentials(path, names)
    if args.command == "credentials":
        print(path)
    elif args.command == "kafka":
        provision_kafka(bootstrap, credentials[f"kafka.{ADMIN}"], kafka_passwords(credentials), prefix=prefix)
        print(f"[secure] {len(names) + 1} principals, their ACLs and the topics provisioned on {bootstrap}")
    elif args.command == "acls":
        for acl in acls(service_principals(), prefix):
            print(acl)
    else:
        if args.service is None:
            parser.error(f"{args.command} needs a {'service' if args.command == 'env' else 'directory'}")
        database = os.environ.get("LEADBRIDGE_SECURE_DATABASE", "leadbridge_secure")
        port = int(os.environ.get("PGPORT", "5432"))
        if args.command == "env":
            env = service_env(args.service, credentials, bootstrap=bootstrap, database=database, pg_port=port)
            for key, value in env.items():
                print(f"export {key}={shlex.quote(value)}")
        else:
            out = Path(args.service)
            out.mkdir(parents=True, exist_ok=True, mode=0o700)
            for name in [*names, LAGWATCH]:
                env = service_env(name, credentials, bootstrap=bootstrap, database=database, pg_port=port)
                target = out / f"{name}.env"
                with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                    f.writelines(f"{key}={value}\n" for key, value in env.items())
            print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
