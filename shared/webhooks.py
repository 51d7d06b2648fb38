"""Inbound webhooks, verified once for every service: Standard Webhooks
(https://www.standardwebhooks.com, the PyPI ``standardwebhooks`` package) signatures,
a five-minute timestamp tolerance, and a replay cache on ``webhook-id`` in the
service's own database.

A route takes the verified delivery as a FastAPI dependency and handles it inside
:func:`receive_once`, which records its ``webhook-id`` in the same transaction as the
effect (a delivery whose handling failed can be retried by the sender; one that was
handled is refused when it comes again)::

    @router.post("/v1/webhooks/{source}/outcomes", responses=responses(401))
    async def outcome(hook: WebhookDep, runtime: RuntimeDep, deps: DepsDep) -> ...:
        async with webhooks.receive_once(runtime, hook) as uow:
            await handlers.something(deps, uow, hook.json())

Each sender (``source``, the path parameter) has its own secrets, ``whsec_...``: those an
operator issued (``POST /v1/sources/{source}/webhook-secrets``, :mod:`shared.sources`),
and the bootstrap one in ``ServiceSettings.webhook_secrets``
(``LEADBRIDGE_WEBHOOK_SECRETS='{"crm": "whsec_..."}'``). While a secret is rotated both
are valid, and a sender may sign with both (Standard Webhooks' space-separated
signatures in ``webhook-signature``). Every refusal is a 401 whose ``detail`` names the
header at fault and why, counted in ``leadbridge_webhook_refusals_total``.
"""

from __future__ import annotations

import binascii
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, HTTPException, Request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared import metrics, sources
from shared.auth import declares_callers
from shared.handling import UnitOfWork
from shared.runtime import Runtime
from shared.service import get_runtime

TOLERANCE_S = 5 * 60
"""How far a delivery's ``webhook-timestamp`` may be from our clock (the package's own,
fixed, tolerance; stated here so the rest of the code need not know it)."""

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass(frozen=True)
class VerifiedWebhook:
    """A delivery whose signature and timestamp were verified (not yet checked for replay:
    that is :func:`receive_once`'s, in the handler's transaction)."""

    source: str
    webhook_id: str
    sent_at: datetime
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def refused(field: str, reason: str, service: str = "") -> HTTPException:
    if service:
        metrics.WEBHOOK_REFUSALS.labels(service, field).inc()
    return HTTPException(401, detail={"error": "webhook refused", "field": field, "reason": reason})


def _reason(error: WebhookVerificationError) -> tuple[str, str]:
    message = str(error)
    if "too old" in message or "too new" in message:
        return "webhook-timestamp", f"{message.lower()} (tolerance {TOLERANCE_S // 60} minutes)"
    if "Invalid Signature Headers" in message:
        return "webhook-timestamp", "not a Unix timestamp"
    if "Missing" in message:
        return "webhook-signature", "missing: a delivery needs webhook-id, webhook-timestamp and webhook-signature"
    return "webhook-signature", "no signature matches this source's secret"


def verify(secrets: Sequence[str], source: str, body: bytes, headers: dict[str, str],
           service: str = "") -> VerifiedWebhook:
    """Verify one delivery against the sender's valid secrets (one signature made with
    any of them will do); raises the 401 that says why not."""
    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in HEADERS if not lowered.get(h)]
    if missing:
        raise refused(missing[0], f"missing header {missing[0]}: the delivery is not signed", service)
    problem: tuple[str, str] = ("source", f"no webhook secret is valid for source {source!r}")
    for secret in secrets:
        try:
            Webhook(secret).verify(body, lowered, json_parse=False)
        except WebhookVerificationError as error:
            problem = _reason(error)
            if problem[0] == "webhook-timestamp":
                break  # the same for every secret
            continue
        except (ValueError, binascii.Error):  # a signature without "v1," or not base64
            problem = ("webhook-signature", "malformed: expected 'v1,<base64>'")
            break
        sent_at = datetime.fromtimestamp(float(lowered["webhook-timestamp"]), tz=UTC)
        return VerifiedWebhook(source=source, webhook_id=lowered["webhook-id"], sent_at=sent_at, body=body)
    raise refused(*problem, service)


@declares_callers("webhook")
async def verified_webhook(request: Request) -> VerifiedWebhook:
    """The FastAPI dependency: the delivery to this route, verified with the secrets of
    the route's ``{source}`` path parameter. 401 naming the reason otherwise (a source
    without a valid secret included: it cannot be verified); 429 over the sender's or,
    for refused deliveries, the client address's rate limit."""
    runtime = await get_runtime(request)
    source = str(request.path_params.get("source", ""))
    secrets = await sources.webhook_secrets(request, source)
    try:
        hook = verify(secrets, source, await request.body(), dict(request.headers), runtime.settings.service_name)
    except HTTPException:
        sources.count_webhook(request, source, verified=False)
        raise
    sources.count_webhook(request, source, verified=True)
    return hook


WebhookDep = Annotated[VerifiedWebhook, Depends(verified_webhook)]


class WebhookReceipts:
    """The replay cache: which ``webhook-id`` each source has delivered (table
    ``{schema}.webhook_receipts``, made with the inbox and outbox by :mod:`shared.db`)."""

    def __init__(self, schema: str) -> None:
        self._schema = schema

    async def claim(self, conn: Any, source: str, webhook_id: str) -> bool:
        """Record the delivery (in the caller's transaction); False if it was already
        received. Receipts older than twice the tolerance are forgotten as it goes:
        a delivery that old is refused by its timestamp anyway."""
        await conn.execute(
            f"DELETE FROM {self._schema}.webhook_receipts WHERE received_at < now() - make_interval(secs => $1)",
            2.0 * TOLERANCE_S)
        row = await conn.fetchval(
            f"INSERT INTO {self._schema}.webhook_receipts(source, webhook_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING webhook_id", source, webhook_id)
        return row is not None


@asynccontextmanager
async def receive_once(runtime: Runtime, hook: VerifiedWebhook) -> AsyncIterator[UnitOfWork]:
    """A unit of work for handling ``hook`` that has claimed its ``webhook-id``: a
    replayed delivery is a 401 and changes nothing; if handling fails, the claim is
    rolled back with the rest and the sender's retry is accepted."""
    async with runtime.unit_of_work() as uow:
        if not await WebhookReceipts(runtime.schema).claim(uow.conn, hook.source, hook.webhook_id):
            raise refused("webhook-id", f"replayed: delivery {hook.webhook_id} was already received",
                          runtime.settings.service_name)
        yield uow
