"""Who is posting to an intake route: capture sources authenticate here, once, as
people do in :mod:`shared.auth`.

- **API keys** (``X-Api-Key: lbk_...``): a sender's secret, scoped to a source and
  optionally a campaign. **Form keys** (``lbf_...``): a web form's public key, limited
  to its form (source and campaign) and its allowed origins, for ``POST /v1/leads``
  only (:func:`source_key` with ``forms=True``). **Webhook secrets** (``whsec_...``): a
  webhook sender's, per source, several valid while one is rotated
  (:func:`webhook_secrets`, used by :mod:`shared.webhooks`).
- Operators issue, list, rotate (with an overlap) and revoke them over HTTP
  (:data:`router`); a key is shown once, when issued, and only its keyed hash is
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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from limits import RateLimitItem, parse, storage, strategies
from pydantic import BaseModel, ConfigDict, Field

from shared import credentials, metrics
from shared.credentials import ANY_SOURCE, BadCredential, Credential, Kind
from shared.events import LeadSource
from shared.responses import responses
from shared.runtime import Runtime
from shared.service import get_runtime
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

KEY_HEADER = "X-Api-Key"
WWW_AUTHENTICATE = {"WWW-Authenticate": f'ApiKey header="{KEY_HEADER}"'}
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- the table


class CredentialStore:
    """Issued credentials, table ``{schema}.source_credentials`` (made with the inbox and
    the outbox by :mod:`shared.db`). Methods take the connection first."""

    def __init__(self, schema: str) -> None:
        self._t = f"{schema}.source_credentials"

    @staticmethod
    def _of(row: Any) -> Credential:
        return Credential(
            credential_id=row["credential_id"], kind=Kind(row["kind"]), source=row["source"],
            created_at=row["created_at"], campaign=row["campaign"], allowed_origins=tuple(row["allowed_origins"]),
            rate_limit=row["rate_limit"], label=row["label"], digest=row["digest"], secret=row["secret"],
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
            c.digest, c.secret, c.created_at, c.created_by, c.valid_until, c.replaces)

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
        self.store = CredentialStore(settings.schema)
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
    metrics.SOURCE_REFUSALS.labels(service, f"rate_limited_{what}").inc()
    return HTTPException(429, detail={"field": KEY_HEADER if what == "key" else "client", "reason": (
        f"too many requests for this {what}: retry after {retry_after:.0f} s")},
        headers={"Retry-After": str(int(retry_after))})


@dataclass
class _Edge:
    ring: KeyRing
    gate: Gate


def _edge(request: Request) -> tuple[Runtime, _Edge]:
    runtime = get_runtime(request)
    edge: _Edge | None = getattr(request.app.state, "source_edge", None)
    if edge is None:
        edge = _Edge(KeyRing(runtime.settings), Gate(runtime.settings))
        request.app.state.source_edge = edge
    return runtime, edge


async def ring_of(request: Request) -> KeyRing:
    runtime, edge = _edge(request)
    return await edge.ring.fresh(runtime)


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (behind a proxy, uvicorn's
    ``--forwarded-allow-ips`` makes it the ``X-Forwarded-For`` one)."""
    return request.client.host if request.client else "unknown"


# --------------------------------------------------------------------------- the dependency


@dataclass(frozen=True)
class SourcePrincipal:
    """The sender behind a valid key: its credential's id and label, the source and
    campaign it may post for (``source`` ``"*"``: any, a bootstrap key's), and for a
    form key the page's origin."""

    subject: str
    name: str
    kind: Kind
    source: str
    campaign_id: str | None = None
    origin: str | None = None

    def covers(self, source: str) -> bool:
        return self.source in (source, ANY_SOURCE)

    def cors_headers(self) -> dict[str, str]:
        """What a form's answer carries so that its page may read it."""
        return {"Access-Control-Allow-Origin": self.origin, "Vary": "Origin"} if self.origin else {}


def refused(field: str, reason: str, service: str, why: str) -> HTTPException:
    metrics.SOURCE_REFUSALS.labels(service, why).inc()
    return HTTPException(401, detail={"error": "unauthorized", "field": field, "reason": reason},
                         headers=WWW_AUTHENTICATE)


def forbidden(field: str, reason: str, service: str, why: str) -> HTTPException:
    metrics.SOURCE_REFUSALS.labels(service, why).inc()
    return HTTPException(403, detail={"error": "forbidden", "field": field, "reason": reason})


def source_key(*, forms: bool = False) -> Any:
    """The dependency of an intake route: the :class:`SourcePrincipal` of the key in
    ``X-Api-Key``, declared like :func:`shared.auth.allow`::

        who: Annotated[SourcePrincipal, source_key(forms=True)]

    401 naming the reason (no key, an unknown, revoked or expired one), 403 for a form
    key on a route that is not ``forms`` or from an origin its form does not allow,
    429 with ``Retry-After`` over a rate limit. The route checks that what is posted is
    within the key's source and campaign."""

    async def dependency(request: Request) -> SourcePrincipal:
        runtime, edge = _edge(request)
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
        if (wait := edge.gate.take(edge.gate.limit_of(found), "key", found.credential_id)) is not None:
            raise too_many("key", wait, service)
        return SourcePrincipal(subject=found.credential_id, name=found.label, kind=found.kind, source=found.source,
                               campaign_id=found.campaign, origin=origin)

    return Depends(dependency)


def out_of_scope(field: str, reason: str, service: str) -> HTTPException:
    """The 403 of a post outside its key's source or campaign."""
    return forbidden(field, reason, service, "scope")


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
                        get_runtime(request).settings.service_name, "origin")
    return Response(status_code=204, headers={
        "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": f"Content-Type, {KEY_HEADER}, Idempotency-Key",
        "Access-Control-Max-Age": "600", "Vary": "Origin"})


# --------------------------------------------------------------------------- the operator's routes


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(default=Kind.API_KEY, description="api_key or form_key")
    campaign: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="the one campaign the key posts for (a form key's form)")
    allowed_origins: list[str] = Field(default_factory=list, max_length=20,
                                       description="a form key's pages: scheme://host[:port]")
    rate_limit: str | None = Field(default=None, max_length=40, description=(
        "this key's own limit ('600/minute'); default LEADBRIDGE_RATE_LIMIT_PER_KEY"))
    label: str = Field(default="", max_length=200)


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=200)


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_valid_until: datetime | None = Field(
        default=None, description="until when the old key or secret stays valid; default "
                                  "now + LEADBRIDGE_SOURCE_KEY_ROTATION_OVERLAP_S")


def _unprocessable(bad: BadCredential) -> HTTPException:
    return HTTPException(422, detail={"error": "invalid request", "fields": [{"field": bad.field,
                                                                               "reason": bad.reason}]})


def _not_found(credential_id: str) -> HTTPException:
    return HTTPException(404, detail={"field": "id", "reason": f"no credential {credential_id} of this source"})


KeySource = Annotated[LeadSource, Path(description="the lead source the key posts for")]
SenderName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                                 description="the webhook sender, as in /v1/webhooks/{source}/...")]
CredentialId = Annotated[str, Path(min_length=1, max_length=64)]


@dataclass(frozen=True)
class _Management:
    """The issue, list, rotate and revoke of one kind family, written once for keys and
    for webhook secrets."""

    kinds: tuple[Kind, ...]

    async def issue(self, request: Request, definition: Credential,
                    ending: tuple[str, datetime] | None = None) -> tuple[Credential, str]:
        """Store a new credential made from ``definition`` (and, in the same transaction,
        end the one it replaces: ``ending`` is its id and last moment)."""
        runtime, edge = _edge(request)
        if definition.kind is Kind.WEBHOOK_SECRET:
            credential_id, shown = credentials.issue_webhook_secret()
            issued = replace(definition, credential_id=credential_id, secret=shown)
        else:
            credential_id, shown = credentials.issue_key(definition.kind)
            issued = replace(definition, credential_id=credential_id,
                             digest=credentials.digest(runtime.settings.source_key_pepper, shown))
        async with runtime.unit_of_work() as uow:
            await edge.ring.store.add(uow.conn, issued)
            if ending is not None:
                await edge.ring.store.end(uow.conn, *ending)
        edge.ring.invalidate()
        return issued, shown

    async def existing(self, request: Request, source: str, credential_id: str) -> Credential:
        runtime, edge = _edge(request)
        async with runtime.pool.acquire() as conn:
            found = await edge.ring.store.get(conn, credential_id)
        if found is None or found.source != source or found.kind not in self.kinds:
            raise _not_found(credential_id)
        return found

    async def rotate(self, request: Request, source: str, credential_id: str,
                     body: RotationIn) -> tuple[Credential, str, datetime]:
        runtime, _ = _edge(request)
        old = await self.existing(request, source, credential_id)
        overlap = timedelta(seconds=runtime.settings.source_key_rotation_overlap_s)
        try:
            successor, until = credentials.rotation(old, _now(), body.old_valid_until, overlap)
        except BadCredential as bad:
            raise _unprocessable(bad) from None
        issued, shown = await self.issue(request, successor, (old.credential_id, until))
        return issued, shown, until

    async def revoke(self, request: Request, source: str, credential_id: str) -> Credential:
        runtime, edge = _edge(request)
        await self.existing(request, source, credential_id)
        async with runtime.unit_of_work() as uow:
            await edge.ring.store.revoke(uow.conn, credential_id, _now())
        edge.ring.invalidate()
        return await self.existing(request, source, credential_id)

    async def listed(self, request: Request, source: str) -> list[dict[str, object]]:
        runtime, edge = _edge(request)
        async with runtime.pool.acquire() as conn:
            found = await edge.ring.store.of_source(conn, source, self.kinds)
        now = _now()
        return [{**c.view(), "valid": c.valid(now)} for c in found]


KEYS = _Management((Kind.API_KEY, Kind.FORM_KEY))
SECRETS = _Management((Kind.WEBHOOK_SECRET,))

router = APIRouter(prefix="/v1/sources", tags=["sources"])
"""The operator's management of source credentials (capture includes it)."""

@router.post("/{source}/keys", status_code=201, responses=responses(403))
async def issue_key(source: KeySource, body: KeyIn, request: Request) -> dict[str, Any]:
    """Issue an API key (or a web form's ``form_key``) for ``source``. The key is in
    this answer only: it is stored as a keyed hash and no list shows it again."""
    if body.kind is Kind.WEBHOOK_SECRET:
        raise _unprocessable(BadCredential("kind", "webhook secrets: POST /v1/sources/{source}/webhook-secrets"))
    try:
        origins = tuple(dict.fromkeys(credentials.origin(o) for o in body.allowed_origins))
        if body.kind is Kind.FORM_KEY and not origins:
            raise BadCredential("allowed_origins", "a form key needs the origins of its pages")
        definition = Credential(credential_id="", kind=body.kind, source=source.value, created_at=_now(),
                                campaign=body.campaign, allowed_origins=origins,
                                rate_limit=credentials.rate_limit(body.rate_limit), label=body.label)
    except BadCredential as bad:
        raise _unprocessable(bad) from None
    issued, key = await KEYS.issue(request, definition)
    return {**issued.view(), "key": key}


@router.get("/{source}/keys", responses=responses(403))
async def list_keys(source: KeySource, request: Request) -> dict[str, Any]:
    """The source's keys, valid or not (never the keys themselves)."""
    return {"source": source.value, "keys": await KEYS.listed(request, source.value)}


@router.post("/{source}/keys/{key_id}/rotation", status_code=201, responses=responses(403, 404))
async def rotate_key(source: KeySource, key_id: CredentialId, body: RotationIn, request: Request) -> dict[str, Any]:
    """A new key with the old one's scope (shown once); the old one stays valid until
    ``old_valid_until`` so the sender can switch without a refused post."""
    issued, key, until = await KEYS.rotate(request, source.value, key_id, body)
    return {**issued.view(), "key": key, "old": {"id": key_id, "valid_until": until.isoformat()}}


@router.delete("/{source}/keys/{key_id}", responses=responses(403, 404))
async def revoke_key(source: KeySource, key_id: CredentialId, request: Request) -> dict[str, Any]:
    """Revoke a key now (refused from this replica's next request on, the others' within
    ``LEADBRIDGE_SOURCE_KEYS_REFRESH_S``)."""
    return (await KEYS.revoke(request, source.value, key_id)).view()


@router.post("/{source}/webhook-secrets", status_code=201, responses=responses(403))
async def issue_secret(source: SenderName, body: SecretIn, request: Request) -> dict[str, Any]:
    """Issue a Standard Webhooks secret (``whsec_...``) for the webhook sender
    ``source``, shown in this answer only; give it to the sender's settings."""
    definition = Credential(credential_id="", kind=Kind.WEBHOOK_SECRET, source=source, created_at=_now(),
                            label=body.label)
    issued, secret = await SECRETS.issue(request, definition)
    return {**issued.view(), "secret": secret}


@router.get("/{source}/webhook-secrets", responses=responses(403))
async def list_secrets(source: SenderName, request: Request) -> dict[str, Any]:
    """The sender's issued secrets (never the secrets), and whether settings hold one."""
    ring = await ring_of(request)
    return {"source": source, "secrets": await SECRETS.listed(request, source),
            "in_settings": ring.in_settings(source)}


@router.post("/{source}/webhook-secrets/{secret_id}/rotation", status_code=201, responses=responses(403, 404))
async def rotate_secret(source: SenderName, secret_id: CredentialId, body: RotationIn,
                        request: Request) -> dict[str, Any]:
    """A new secret (shown once); deliveries signed with the old one, or with both
    (Standard Webhooks' several signatures), are accepted until ``old_valid_until``."""
    issued, secret, until = await SECRETS.rotate(request, source, secret_id, body)
    return {**issued.view(), "secret": secret, "old": {"id": secret_id, "valid_until": until.isoformat()}}


@router.delete("/{source}/webhook-secrets/{secret_id}", responses=responses(403, 404))
async def revoke_secret(source: SenderName, secret_id: CredentialId, request: Request) -> dict[str, Any]:
    return (await SECRETS.revoke(request, source, secret_id)).view()
