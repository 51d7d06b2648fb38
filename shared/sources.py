"""Who is posting to an intake route: capture sources authenticate here, once, as
people do in :mod:`shared.auth`.

- **API keys** (``X-Api-Key: lbk_...``): a sender's secret, scoped to a source and
  optionally a campaign. **Form keys** (``lbf_...``): a web form's public key, limited
  to its form (source and campaign) and its allowed origins, for ``POST /v1/leads``
  only (:func:`authenticate`, which :data:`shared.auth.source_intake` and
  ``form_intake`` ask). **Webhook secrets** (``whsec_...``): a
  webhook sender's, per source, several valid while one is rotated
  (:func:`webhook_secrets`, used by :mod:`shared.webhooks`).
- Operators issue, list, rotate (with an overlap) and revoke them over HTTP
  (:mod:`shared.source_admin`); a key is shown once, when issued, and only its keyed hash is
  stored (:func:`shared.credentials.digest` says why a fast hash). Keys and secrets in
  settings (``LEADBRIDGE_SOURCE_KEYS``, ``LEADBRIDGE_WEBHOOK_SECRETS``) are the
  bootstrap: valid without the database.
- **Rate limits**, per key and per client address, answered 429 with ``Retry-After``
  (:class:`Gate`).

Every process keeps the table in memory (:class:`KeyRing`, re-read every
``LEADBRIDGE_SOURCE_KEYS_REFRESH_S``), so checking a key costs one HMAC and one
dictionary lookup, not a query; a change made through this process applies to its
next request, and to the other replicas within the refresh period.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.security import APIKeyHeader
from limits import RateLimitItem, parse, storage, strategies

from shared import credentials, metrics
from shared.credentials import ANY_SOURCE, Credential, Kind
from shared.runtime import Runtime
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

KEY_HEADER = "X-Api-Key"
WWW_AUTHENTICATE = {"WWW-Authenticate": f'ApiKey header="{KEY_HEADER}"'}
Clock = Callable[[], datetime]

api_key_header = APIKeyHeader(name=KEY_HEADER, auto_error=False, scheme_name="SourceKey", description=(
    "a capture source's API key (lbk_...) or a web form's form key (lbf_...), issued at /v1/sources/{source}/keys"))
"""How the OpenAPI documents say an intake route takes a source's key (the check is
:func:`authenticate`'s, which reads the header itself)."""


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- the table


class CredentialStore:
    """Issued credentials, table ``{schema}.source_credentials`` (made with the inbox and
    the outbox by :mod:`shared.db`). Methods take the connection first."""

    def __init__(self, schema: str, pepper: str) -> None:
        self._t = f"{schema}.source_credentials"
        self._pepper = pepper  # webhook secrets are stored sealed with a key derived from it

    def _of(self, row: Any) -> Credential:
        secret = row["secret"]
        if secret is not None:
            try:
                secret = credentials.open_secret(self._pepper, row["credential_id"], secret)
            except credentials.UnreadableSecret:
                log.error("a stored webhook secret does not open: is LEADBRIDGE_SOURCE_KEY_PEPPER this "
                          "deployment's?", extra={"credential_id": row["credential_id"]})
                secret = None  # its sender's deliveries are refused, the others' still checked
        return Credential(
            credential_id=row["credential_id"], kind=Kind(row["kind"]), source=row["source"],
            created_at=row["created_at"], campaign=row["campaign"], allowed_origins=tuple(row["allowed_origins"]),
            rate_limit=row["rate_limit"], label=row["label"], digest=row["digest"], secret=secret,
            valid_until=row["valid_until"], revoked_at=row["revoked_at"], replaces=row["replaces"],
            created_by=row["created_by"])

    async def all(self, conn: Any) -> list[Credential]:
        return [self._of(r) for r in await conn.fetch(f"SELECT * FROM {self._t}")]

    async def get(self, conn: Any, credential_id: str) -> Credential | None:
        row = await conn.fetchrow(f"SELECT * FROM {self._t} WHERE credential_id = $1", credential_id)
        return None if row is None else self._of(row)

    async def of_source(self, conn: Any, source: str, kinds: Sequence[Kind]) -> list[Credential]:
        rows = await conn.fetch(f"SELECT * FROM {self._t} WHERE source = $1 AND kind = ANY($2::text[]) "
                                "ORDER BY created_at, credential_id", source, [k.value for k in kinds])
        return [self._of(r) for r in rows]

    async def add(self, conn: Any, c: Credential) -> None:
        await conn.execute(
            f"INSERT INTO {self._t}(credential_id, kind, source, campaign, allowed_origins, rate_limit, label, "
            "digest, secret, created_at, created_by, valid_until, replaces) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            c.credential_id, c.kind.value, c.source, c.campaign, list(c.allowed_origins), c.rate_limit, c.label,
            c.digest, None if c.secret is None else credentials.seal_secret(self._pepper, c.credential_id, c.secret),
            c.created_at, c.created_by, c.valid_until, c.replaces)

    async def end(self, conn: Any, credential_id: str, valid_until: datetime) -> None:
        await conn.execute(f"UPDATE {self._t} SET valid_until = $2 WHERE credential_id = $1",
                           credential_id, valid_until)

    async def revoke(self, conn: Any, credential_id: str, at: datetime) -> None:
        await conn.execute(f"UPDATE {self._t} SET revoked_at = coalesce(revoked_at, $2) WHERE credential_id = $1",
                           credential_id, at)


# --------------------------------------------------------------------------- the cache


class KeyRing:
    """Every credential of this service in memory, by key digest and by source, read
    from the table at most every ``refresh_s`` (and at once after a change made here).
    If the database does not answer a refresh, the last snapshot stays in use."""

    def __init__(self, settings: ServiceSettings, clock: Clock = _now) -> None:
        self._pepper = settings.source_key_pepper
        self._refresh_s = settings.source_keys_refresh_s
        self._clock = clock
        self.store = CredentialStore(settings.schema, self._pepper)
        now = clock()
        self._bootstrap = [k.credential(self._pepper, now) for k in settings.source_keys]
        self._settings_secrets = dict(settings.webhook_secrets)
        self._by_digest: dict[bytes, Credential] = {c.digest: c for c in self._bootstrap if c.digest}
        self._secrets: dict[str, list[Credential]] = {}
        self._origins: frozenset[str] = frozenset(o for c in self._bootstrap for o in c.allowed_origins)
        self._loaded_at = -math.inf
        self._lock = asyncio.Lock()

    def now(self) -> datetime:
        return self._clock()

    def in_settings(self, source: str) -> bool:
        """Whether settings hold a webhook secret for ``source`` (the bootstrap one)."""
        return bool(self._settings_secrets.get(source))

    def invalidate(self) -> None:
        self._loaded_at = -math.inf

    async def fresh(self, runtime: Runtime) -> KeyRing:
        if time.monotonic() - self._loaded_at < self._refresh_s:
            return self
        async with self._lock:
            if time.monotonic() - self._loaded_at >= self._refresh_s:
                try:
                    async with runtime.pool.acquire() as conn:
                        self._load(await self.store.all(conn))
                except Exception:
                    if self._loaded_at == -math.inf:
                        raise
                    log.exception("could not re-read the source credentials; keeping the last ones")
                self._loaded_at = time.monotonic()
        return self

    def _load(self, stored: list[Credential]) -> None:
        everything = [*self._bootstrap, *stored]
        self._by_digest = {c.digest: c for c in everything if c.digest is not None}
        secrets: dict[str, list[Credential]] = {}
        for c in stored:
            if c.kind is Kind.WEBHOOK_SECRET and c.secret:
                secrets.setdefault(c.source, []).append(c)
        self._secrets = secrets
        self._origins = frozenset(o for c in everything if c.kind is Kind.FORM_KEY and c.revoked_at is None
                                  for o in c.allowed_origins)

    def find(self, key: str) -> Credential | None:
        return self._by_digest.get(credentials.digest(self._pepper, key))

    def webhook_secrets(self, source: str) -> list[str]:
        """The secrets a delivery from ``source`` may be signed with now: the one in
        settings and every issued one not revoked or past its overlap."""
        now = self._clock()
        found = [c.secret for c in self._secrets.get(source, ()) if c.secret and c.valid(now)]
        if self._settings_secrets.get(source):
            found.append(self._settings_secrets[source])
        return found

    def form_origin(self, origin: str) -> bool:
        """Whether some form key allows ``origin`` (a preflight does not carry the key)."""
        return origin in self._origins


# --------------------------------------------------------------------------- rate limits


class Gate:
    """The rate limits of the intake routes, with the ``limits`` package's sliding window
    counter (constant memory per bucket, smooth at the window's edge) in this process's
    memory: each replica counts its own requests (``limits`` also offers Redis storage,
    should one count be needed across replicas).

    Buckets are separate so that one sender's burst never uses another's allowance:
    a key's own (``LEADBRIDGE_RATE_LIMIT_PER_KEY``, or the key's ``rate_limit``), and
    per client address (``LEADBRIDGE_RATE_LIMIT_PER_ADDRESS``) for what an address does
    with a public form key and for requests without a valid key. An API key is not
    also limited per address: a hall's scanners may share one, and their senders
    differ by key."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._limiter = strategies.SlidingWindowCounterRateLimiter(storage.MemoryStorage())
        self.per_key = parse(settings.rate_limit_per_key)
        self.per_address = parse(settings.rate_limit_per_address)
        self._parsed: dict[str, RateLimitItem] = {}

    def limit_of(self, credential: Credential) -> RateLimitItem:
        if credential.rate_limit is None:
            return self.per_key
        if credential.rate_limit not in self._parsed:
            self._parsed[credential.rate_limit] = parse(credential.rate_limit)
        return self._parsed[credential.rate_limit]

    def take(self, limit: RateLimitItem, *bucket: str) -> float | None:
        """Count one request in ``bucket``; None if within ``limit``, else the seconds
        until one is allowed again."""
        if self._limiter.hit(limit, *bucket):
            return None
        return max(1.0, math.ceil(self._limiter.get_window_stats(limit, *bucket).reset_time - time.time()))


def too_many(what: str, retry_after: float, service: str) -> HTTPException:
    metrics.SOURCE_REFUSALS.labels(service, "rate_limited_key" if what == "key" else "rate_limited_address").inc()
    return HTTPException(429, detail={"field": KEY_HEADER if what == "key" else "client", "reason": (
        f"too many requests for this {what}: retry after {retry_after:.0f} s")},
        headers={"Retry-After": str(int(retry_after))})


@dataclass
class Edge:
    ring: KeyRing
    gate: Gate


def edge_of(request: Request) -> tuple[Runtime, Edge]:
    """This service's runtime and its key ring and rate limits (made on first use)."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise RuntimeError("service is not started")
    edge: Edge | None = getattr(request.app.state, "source_edge", None)
    if edge is None:
        edge = Edge(KeyRing(runtime.settings), Gate(runtime.settings))
        request.app.state.source_edge = edge
    return runtime, edge


async def ring_of(request: Request) -> KeyRing:
    runtime, edge = edge_of(request)
    return await edge.ring.fresh(runtime)


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (behind a proxy, uvicorn's
    ``--forwarded-allow-ips`` makes it the ``X-Forwarded-For`` one)."""
    return request.client.host if request.client else "unknown"


# --------------------------------------------------------------------------- the dependency


@dataclass(frozen=True)
class SourceCaller:
    """The sender behind a valid key: its credential's id and label, the source and
    campaign it may post for (``source`` ``"*"``: any, a bootstrap key's), and for a
    form key the page's origin. (:mod:`shared.auth` makes it the route's ``Principal``.)"""

    subject: str
    name: str
    kind: Kind
    source: str
    campaign_id: str | None = None
    origin: str | None = None

    def covers(self, source: str) -> bool:
        return self.source in (source, ANY_SOURCE)


def cors_headers(request: Request) -> dict[str, str]:
    """What an answer to a form's post carries so that its page may read it (nothing for
    an API key's post)."""
    origin: str | None = getattr(request.state, "form_origin", None)
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}


def refused(field: str, reason: str, service: str, why: str) -> HTTPException:
    metrics.SOURCE_REFUSALS.labels(service, why).inc()
    return HTTPException(401, detail={"error": "unauthorized", "field": field, "reason": reason},
                         headers=WWW_AUTHENTICATE)


def forbidden(field: str, reason: str, service: str, why: str) -> HTTPException:
    metrics.SOURCE_REFUSALS.labels(service, why).inc()
    return HTTPException(403, detail={"error": "forbidden", "field": field, "reason": reason})


async def authenticate(request: Request, *, forms: bool) -> SourceCaller:
    """The sender of the key in ``X-Api-Key`` (what :data:`shared.auth.source_intake`
    and :data:`shared.auth.form_intake` ask). 401 naming the reason (no key, an unknown,
    revoked or expired one), 403 for a form key where ``forms`` is false or from an
    origin its form does not allow, 429 with ``Retry-After`` over a rate limit. The
    route checks that what is posted is within the key's source and campaign."""
    runtime, edge = edge_of(request)
    ring = await edge.ring.fresh(runtime)
    service, address = runtime.settings.service_name, client_address(request)
    key = request.headers.get(KEY_HEADER, "")
    found = ring.find(key) if key else None
    problem: tuple[str, str] | None = None
    if not key:
        problem = f"missing header {KEY_HEADER}: this route takes a source's key", "no_key"
    elif found is None:
        problem = "unknown key", "unknown_key"
    elif (why := found.refusal(ring.now())) is not None:
        problem = why, "revoked" if found.revoked_at is not None else "expired"
    if problem is not None or found is None:
        # a caller without a valid key is counted by its address, so guessing is slow
        if (wait := edge.gate.take(edge.gate.per_address, "refused", address)) is not None:
            raise too_many("client address", wait, service)
        reason, why = problem or ("unknown key", "unknown_key")
        raise refused(KEY_HEADER, reason, service, why)
    origin = None
    if found.kind is Kind.FORM_KEY:
        if not forms:
            raise forbidden(KEY_HEADER, "a form key only posts a lead (POST /v1/leads)", service, "form_key_route")
        origin = request.headers.get("Origin", "")
        if origin not in found.allowed_origins:
            raise forbidden("Origin", f"{origin or 'no origin'} is not an origin this form key allows",
                            service, "origin")
        # a public key: one address's burst must not use up the form's allowance
        if (wait := edge.gate.take(edge.gate.per_address, "form", found.credential_id, address)) is not None:
            raise too_many("client address", wait, service)
        request.state.form_origin = origin
    if (wait := edge.gate.take(edge.gate.limit_of(found), "key", found.credential_id)) is not None:
        raise too_many("key", wait, service)
    return SourceCaller(subject=found.credential_id, name=found.label, kind=found.kind, source=found.source,
                        campaign_id=found.campaign, origin=origin)


def out_of_scope(field: str, reason: str, service: str) -> HTTPException:
    """The 403 of a post outside its key's source or campaign."""
    return forbidden(field, reason, service, "scope")


def count_webhook(request: Request, sender: str, verified: bool) -> None:
    """Count a webhook delivery against the rate limits: a verified one in its sender's
    bucket (``LEADBRIDGE_RATE_LIMIT_PER_KEY``), a refused one in its client address's
    (so forging is slow). 429 with ``Retry-After`` over either."""
    runtime, edge = edge_of(request)
    service = runtime.settings.service_name
    if verified:
        if (wait := edge.gate.take(edge.gate.per_key, "webhook", sender)) is not None:
            raise too_many("key", wait, service)
    elif (wait := edge.gate.take(edge.gate.per_address, "refused", client_address(request))) is not None:
        raise too_many("client address", wait, service)


async def webhook_secrets(request: Request, source: str) -> list[str]:
    """The secrets a delivery from ``source`` to this service may be signed with now."""
    return (await ring_of(request)).webhook_secrets(source)


def preflight(request: Request, ring: KeyRing) -> Response:
    """A browser's CORS preflight for a form's post: allowed for an origin some form
    key allows (the preflight does not carry the key; the post itself is checked against
    its own key's origins), refused (403, no CORS headers) otherwise."""
    origin = request.headers.get("Origin", "")
    method = request.headers.get("Access-Control-Request-Method", "")
    if not ring.form_origin(origin) or method != "POST":
        raise forbidden("Origin", f"{origin or 'no origin'} may not post here ({method or 'no method'})",
                        edge_of(request)[0].settings.service_name, "origin")
    return Response(status_code=204, headers={
        "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": f"Content-Type, {KEY_HEADER}, Idempotency-Key",
        "Access-Control-Max-Age": "600", "Vary": "Origin"})
