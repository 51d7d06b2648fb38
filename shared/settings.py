"""The settings base every service extends. Everything comes from the environment
(prefix ``LEADBRIDGE_``) with defaults that work against the local stack."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import topics
from shared.credentials import BootstrapKey


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADBRIDGE_", extra="ignore")

    service_name: str = "leadbridge"
    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql://leadbridge:leadbridge@127.0.0.1:5432/leadbridge"
    # Prepended to every topic and consumer group name, so that several pipelines (a
    # staging copy, a test run) can share one broker without seeing each other.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # uvicorn's event loop and HTTP parser ("asyncio" and "h11" are the pure-Python ones)
    http_loop: Literal["uvloop", "asyncio"] = "uvloop"
    http_parser: Literal["httptools", "h11"] = "httptools"
    log_level: str = "INFO"
    log_json: bool = True
    # Consumer tuning: a batch (at most this many records, whatever has arrived) is
    # handled in one database transaction; handled offsets are committed this often.
    consumer_batch_max: int = 500
    consumer_commit_interval_s: float = 0.5
    # Outbox rows not confirmed published after this long are re-sent by the relay.
    outbox_relay_after_s: float = 5.0
    # A process re-sends what it knows failed at once (after outbox_relay_after_s); rows
    # a crashed replica left are found by this slower poll (and at every start).
    outbox_relay_idle_s: float = 10.0
    # Handled event ids are forgotten this long (seconds) after they were handled. By
    # default as long as a record can still be read from its topic (shared.topics), so a
    # redelivery, however late, is still recognised. Pruned every inbox_prune_every_s
    # in chunks of inbox_prune_chunk rows, each its own short transaction.
    inbox_retention_s: float = topics.longest_readable_ms() / 1000
    inbox_prune_every_s: float = 600.0
    inbox_prune_chunk: int = 10_000
    # /healthz fails its "outbox" check once a row has waited this long to be published:
    # the service accepts work but its events are not getting out.
    outbox_stuck_after_s: float = 30.0
    # A send not confirmed by the broker within this long counts as failed: the producer
    # is replaced and the relay re-sends (see shared/publisher.py).
    publish_confirm_timeout_s: float = 30.0
    # Kafka clients' pause before retrying a failed request; a failed metadata refresh
    # waits this long, doubling up to the max, so a broker outage is not a reconnect storm.
    kafka_retry_backoff_ms: int = 500
    kafka_retry_backoff_max_ms: int = 2000
    # The secure profile (docs/SECURITY.md): the broker's SASL listener and this
    # service's own principal, which its ACLs let write only the topics it publishes.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    # Allocations between young-generation collections (CPython's default is 700).
    gc_gen0_threshold: int = 10_000
    # Inbound webhooks (shared.webhooks): each sender's Standard Webhooks secret, "whsec_...",
    # by the source name in its URL; as JSON in LEADBRIDGE_WEBHOOK_SECRETS.
    webhook_secrets: dict[str, str] = {}
    # Capture sources (shared.sources): keys valid without the database, as a JSON list
    # of {"key", "source" ("*": any), "campaign", "kind", "allowed_origins", "rate_limit"};
    # the HMAC key of stored key hashes (set it in production: a table copied without it
    # cannot confirm a key); how often each process re-reads the issued credentials; how
    # long a rotated key or secret stays valid beside its replacement by default.
    source_keys: list[BootstrapKey] = []
    source_key_pepper: str = "leadbridge-local-source-key-pepper"
    source_keys_refresh_s: float = 5.0
    source_key_rotation_overlap_s: float = 24 * 3600.0
    # Rate limits of the intake routes ("limits" notation): per key (a key may carry its
    # own), and per client address for a public form key's posts and for requests without
    # a valid key. Over a limit: 429 with Retry-After.
    rate_limit_per_key: str = "6000/minute"
    rate_limit_per_address: str = "600/minute"
    # The largest request body a route reads (413 above it); field lengths and map sizes
    # are LEADBRIDGE_LIMIT_* (shared.validation.FieldLimits).
    max_body_bytes: int = 1024 * 1024
    # The largest record (key + value + headers) a unit of work may emit. A bigger event
    # is refused before its transaction commits (413 over HTTP, dead letter in a
    # consumer): the broker refuses records over its message.max.bytes (1 MB by default)
    # for ever, so one accepted would never be published.
    max_event_bytes: int = 256 * 1024
    # Who is calling (shared.auth): bearer tokens are JWTs signed by the issuer, verified
    # with the public keys of its JWKS (a file, or a URL such as the app's
    # /.well-known/jwks.json or an OpenID Connect provider's jwks_uri); the roles are in
    # the claim auth_roles_claim (a dotted path, e.g. realm_access.roles for Keycloak).
    auth_issuer: str = "leadbridge"
    auth_audience: str = "leadbridge"
    auth_jwks_file: str = ""
    auth_jwks_url: str = ""
    auth_roles_claim: str = "roles"
    # Clock skew tolerated on exp/iat; and how often an unknown kid may fetch the JWKS URL again.
    auth_leeway_s: float = 30.0
    auth_jwks_refetch_s: float = 30.0
    # How long a person's data key (shared.pii) is cached in the process: the longest a
    # replica that missed the erasure event could still open their sealed fields.
    pii_key_cache_s: float = 60.0
    db_pool_min: int = 2
    db_pool_max: int = 10

    def kafka_security(self) -> dict[str, Any]:
        """The connection options of every Kafka client here (aiokafka and kafka-python
        take the same names): nothing on the plaintext development broker, the SASL
        mechanism and this service's credentials on the secure one."""
        return kafka_security(self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_sasl_username,
                              self.kafka_sasl_password.get_secret_value())

    @property
    def schema(self) -> str:  # type: ignore[override]  # (shadows pydantic v1 BaseModel.schema)
        """Each service owns one PostgreSQL schema, named after it."""
        return self.service_name.replace("-", "_")


def kafka_security(protocol: str, mechanism: str = "SCRAM-SHA-512", username: str = "",
                   password: str = "") -> dict[str, Any]:
    """Kafka client options for a listener: ``{}`` for PLAINTEXT, else SASL with these
    credentials (a tool or test holding another principal's credentials builds its own)."""
    if protocol == "PLAINTEXT":
        return {}
    if not username:
        raise ValueError(f"LEADBRIDGE_KAFKA_SASL_USERNAME is needed with {protocol}")
    return {"security_protocol": protocol, "sasl_mechanism": mechanism, "sasl_plain_username": username,
            "sasl_plain_password": password}
