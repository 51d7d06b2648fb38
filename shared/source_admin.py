"""The operator's management of capture sources' credentials over HTTP (capture
includes :data:`router`): issue, list, rotate with an overlap, revoke, for API and form
keys (``/v1/sources/{source}/keys``) and webhook secrets
(``/v1/sources/{source}/webhook-secrets``). A key or secret is in the answer that
issues it and nowhere after: keys are stored as their keyed hash
(:func:`shared.credentials.digest`); a list never shows a secret. Each change is in the
audit trail (``source_credential.issued``, ``.rotated``, ``.revoked``), with who made it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from shared import audit, credentials
from shared.auth import Principal, Role, allow
from shared.credentials import BadCredential, Credential, Kind
from shared.events import LeadSource
from shared.responses import responses
from shared.sources import edge_of, ring_of


def _now() -> datetime:
    return datetime.now(UTC)


Operator = Annotated[Principal, allow(Role.operator)]



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

    async def issue(self, request: Request, who: Principal, definition: Credential,
                    ending: tuple[Credential, datetime] | None = None) -> tuple[Credential, str]:
        """Store a new credential made from ``definition`` (and, in the same transaction,
        end the one it replaces: ``ending`` is its id and last moment)."""
        runtime, edge = edge_of(request)
        if definition.kind is Kind.WEBHOOK_SECRET:
            credential_id, shown = credentials.issue_webhook_secret()
            issued = replace(definition, credential_id=credential_id, secret=shown)
        else:
            credential_id, shown = credentials.issue_key(definition.kind)
            issued = replace(definition, credential_id=credential_id,
                             digest=credentials.digest(runtime.settings.source_key_pepper, shown))
        async with runtime.unit_of_work() as uow:
            await edge.ring.store.add(uow.conn, issued)
            audit.record(uow, who, "source_credential.issued", "source_credential", issued.credential_id,
                         after=issued.view(), details={"kind": issued.kind.value, "source": issued.source})
            if ending is not None:
                old, until = ending
                await edge.ring.store.end(uow.conn, old.credential_id, until)
                audit.record(uow, who, "source_credential.rotated", "source_credential", old.credential_id,
                             before={"valid_until": old.view()["valid_until"]},
                             after={"valid_until": until.isoformat()}, details={"replaced_by": issued.credential_id})
        edge.ring.invalidate()
        return issued, shown

    async def existing(self, request: Request, source: str, credential_id: str) -> Credential:
        runtime, edge = edge_of(request)
        async with runtime.pool.acquire() as conn:
            found = await edge.ring.store.get(conn, credential_id)
        if found is None or found.source != source or found.kind not in self.kinds:
            raise _not_found(credential_id)
        return found

    async def rotate(self, request: Request, who: Principal, source: str, credential_id: str,
                     body: RotationIn) -> tuple[Credential, str, datetime]:
        runtime, _ = edge_of(request)
        old = await self.existing(request, source, credential_id)
        overlap = timedelta(seconds=runtime.settings.source_key_rotation_overlap_s)
        try:
            successor, until = credentials.rotation(old, _now(), body.old_valid_until, overlap)
        except BadCredential as bad:
            raise _unprocessable(bad) from None
        issued, shown = await self.issue(request, who, replace(successor, created_by=who.subject), (old, until))
        return issued, shown, until

    async def revoke(self, request: Request, who: Principal, source: str, credential_id: str) -> Credential:
        runtime, edge = edge_of(request)
        await self.existing(request, source, credential_id)
        async with runtime.unit_of_work() as uow:
            await edge.ring.store.revoke(uow.conn, credential_id, _now())
            audit.record(uow, who, "source_credential.revoked", "source_credential", credential_id,
                         details={"source": source})
        edge.ring.invalidate()
        return await self.existing(request, source, credential_id)

    async def listed(self, request: Request, source: str) -> list[dict[str, object]]:
        runtime, edge = edge_of(request)
        async with runtime.pool.acquire() as conn:
            found = await edge.ring.store.of_source(conn, source, self.kinds)
        now = _now()
        return [{**c.view(), "valid": c.valid(now)} for c in found]


KEYS = _Management((Kind.API_KEY, Kind.FORM_KEY))
SECRETS = _Management((Kind.WEBHOOK_SECRET,))

router = APIRouter(prefix="/v1/sources", tags=["sources"])


@router.post("/{source}/keys", status_code=201, responses=responses(403))
async def issue_key(source: KeySource, body: KeyIn, request: Request, who: Operator) -> dict[str, Any]:
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
                                rate_limit=credentials.rate_limit(body.rate_limit), label=body.label,
                                created_by=who.subject)
    except BadCredential as bad:
        raise _unprocessable(bad) from None
    issued, key = await KEYS.issue(request, who, definition)
    return {**issued.view(), "key": key}


@router.get("/{source}/keys", responses=responses(403))
async def list_keys(source: KeySource, request: Request, who: Operator) -> dict[str, Any]:
    """The source's keys, valid or not (never the keys themselves)."""
    return {"source": source.value, "keys": await KEYS.listed(request, source.value)}


@router.post("/{source}/keys/{key_id}/rotation", status_code=201, responses=responses(403, 404))
async def rotate_key(source: KeySource, key_id: CredentialId, body: RotationIn, request: Request,
                     who: Operator) -> dict[str, Any]:
    """A new key with the old one's scope (shown once); the old one stays valid until
    ``old_valid_until`` so the sender can switch without a refused post."""
    issued, key, until = await KEYS.rotate(request, who, source.value, key_id, body)
    return {**issued.view(), "key": key, "old": {"id": key_id, "valid_until": until.isoformat()}}


@router.delete("/{source}/keys/{key_id}", responses=responses(403, 404))
async def revoke_key(source: KeySource, key_id: CredentialId, request: Request, who: Operator) -> dict[str, Any]:
    """Revoke a key now (refused from this replica's next request on, the others' within
    ``LEADBRIDGE_SOURCE_KEYS_REFRESH_S``)."""
    return (await KEYS.revoke(request, who, source.value, key_id)).view()


@router.post("/{source}/webhook-secrets", status_code=201, responses=responses(403))
async def issue_secret(source: SenderName, body: SecretIn, request: Request, who: Operator) -> dict[str, Any]:
    """Issue a Standard Webhooks secret (``whsec_...``) for the webhook sender
    ``source``, shown in this answer only; give it to the sender's settings."""
    definition = Credential(credential_id="", kind=Kind.WEBHOOK_SECRET, source=source, created_at=_now(),
                            label=body.label, created_by=who.subject)
    issued, secret = await SECRETS.issue(request, who, definition)
    return {**issued.view(), "secret": secret}


@router.get("/{source}/webhook-secrets", responses=responses(403))
async def list_secrets(source: SenderName, request: Request, who: Operator) -> dict[str, Any]:
    """The sender's issued secrets (never the secrets), and whether settings hold one."""
    ring = await ring_of(request)
    return {"source": source, "secrets": await SECRETS.listed(request, source),
            "in_settings": ring.in_settings(source)}


@router.post("/{source}/webhook-secrets/{secret_id}/rotation", status_code=201, responses=responses(403, 404))
async def rotate_secret(source: SenderName, secret_id: CredentialId, body: RotationIn,
                        request: Request, who: Operator) -> dict[str, Any]:
    """A new secret (shown once); deliveries signed with the old one, or with both
    (Standard Webhooks' several signatures), are accepted until ``old_valid_until``."""
    issued, secret, until = await SECRETS.rotate(request, who, source, secret_id, body)
    return {**issued.view(), "secret": secret, "old": {"id": secret_id, "valid_until": until.isoformat()}}


@router.delete("/{source}/webhook-secrets/{secret_id}", responses=responses(403, 404))
async def revoke_secret(source: SenderName, secret_id: CredentialId, request: Request,
                        who: Operator) -> dict[str, Any]:
    return (await SECRETS.revoke(request, who, source, secret_id)).view()
