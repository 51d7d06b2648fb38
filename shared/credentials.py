"""What a capture source presents to be let in, and the rules about it: per-source API
keys, a web form's public form key, a webhook sender's Standard Webhooks secret.
Pure (no web framework, no driver): :mod:`shared.sources` stores, caches and checks
them at the HTTP edge.

A key is shown once, when it is issued, and only its keyed hash is kept (:func:`digest`).
A webhook secret must be kept itself (verifying an HMAC signature needs it), so it is
kept encrypted (:func:`seal_secret`): a copy of the table or a backup holds no usable
secret without the service's pepper.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from limits import parse
from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    API_KEY = "api_key"
    """A sender's secret key (a badge scanner, an ad platform, an integration)."""
    FORM_KEY = "form_key"
    """A web form's public key: it is in the page's source, so it only posts a lead of
    its form (its source and campaign) from its allowed origins."""
    WEBHOOK_SECRET = "webhook_secret"
    """A webhook sender's Standard Webhooks secret, ``whsec_...``."""


PREFIXES = {Kind.API_KEY: "lbk_", Kind.FORM_KEY: "lbf_", Kind.WEBHOOK_SECRET: "whs_"}
"""How a credential's id starts (and so an API or form key, which begins with its id)."""

ANY_SOURCE = "*"
"""The source of a bootstrap key from settings that may post for every source (the
demo's, the bench's and the test harness's own keys); keys issued over HTTP never are."""


def digest(pepper: str, key: str) -> bytes:
    """The keyed hash a key is stored and looked up by: HMAC-SHA256 under the service's
    pepper (``LEADBRIDGE_SOURCE_KEY_PEPPER``).

    Why a fast hash and not argon2: a slow, salted hash protects a *password*, which
    people choose from a small space an attacker can enumerate; every guess must cost
    the attacker dearly. These keys are 256 random bits made by :func:`issue_key`: no
    table of guesses exists to try, fast or slow, so argon2 would add nothing but its
    ~50 ms of CPU to every lead a scanner posts (a trade show posts thousands a
    minute). The hash stays keyed so that a copy of the table alone (a backup, a
    replica) cannot even confirm a key someone holds, and unsalted so that a presented
    key is found by one dictionary lookup, not by trying every stored row."""
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).digest()


def issue_key(kind: Kind) -> tuple[str, str]:
    """A new credential id and its key, ``lbk_<id>.<secret>`` (the id, readable in
    lists and logs, is the key's first part; the secret is 256 random bits)."""
    if kind is Kind.WEBHOOK_SECRET:
        raise ValueError("a webhook secret is made by issue_webhook_secret")
    credential_id = PREFIXES[kind] + secrets.token_hex(8)
    return credential_id, f"{credential_id}.{secrets.token_urlsafe(32)}"


SEALED_PREFIX = "v1:"


def _secrets_key(pepper: str) -> AESGCM:
    """The key webhook secrets are encrypted with at rest: derived from the pepper
    (``LEADBRIDGE_SOURCE_KEY_PEPPER``, a deployment secret already) for this one use."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"leadbridge webhook secrets at rest v1").derive(pepper.encode())
    return AESGCM(key)


def seal_secret(pepper: str, credential_id: str, secret: str) -> str:
    """A webhook secret as it is stored: ``v1:`` + base64 of a random nonce and the
    AES-256-GCM ciphertext, bound to its credential id (a sealed secret copied onto
    another row does not open)."""
    nonce = secrets.token_bytes(12)
    sealed = _secrets_key(pepper).encrypt(nonce, secret.encode(), credential_id.encode())
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()


class UnreadableSecret(ValueError):
    """A stored secret that does not open with this pepper (another deployment's, or altered)."""


def open_secret(pepper: str, credential_id: str, stored: str) -> str:
    """The webhook secret :func:`seal_secret` stored. A row written before secrets were
    sealed holds the secret itself and is read as it is."""
    if not stored.startswith(SEALED_PREFIX):
        return stored
    raw = base64.b64decode(stored.removeprefix(SEALED_PREFIX))
    try:
        return _secrets_key(pepper).decrypt(raw[:12], raw[12:], credential_id.encode()).decode()
    except InvalidTag:
        raise UnreadableSecret(f"the stored secret of {credential_id} does not open with this pepper") from None


def issue_webhook_secret() -> tuple[str, str]:
    """A new credential id and a Standard Webhooks secret (``whsec_`` + base64 of 32
    random bytes, the format senders such as Svix expect)."""
    return PREFIXES[Kind.WEBHOOK_SECRET] + secrets.token_hex(8), \
        "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def kind_of(key: str) -> Kind | None:
    """Which kind of key this claims to be, by its prefix (None: not one of ours)."""
    return next((k for k, p in PREFIXES.items() if k is not Kind.WEBHOOK_SECRET and key.startswith(p)), None)


class BadCredential(ValueError):
    """A credential's definition is not usable; ``field`` names the input."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def origin(value: str) -> str:
    """An allowed origin as a browser sends it in ``Origin``: ``scheme://host[:port]``,
    lower case, no path. Raises :class:`BadCredential` otherwise."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username:
        raise BadCredential("allowed_origins", f"{value!r} is not an origin (scheme://host[:port])")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def rate_limit(value: str | None) -> str | None:
    """A rate limit in the ``limits`` notation (``"600/minute"``, ``"20 per second"``)."""
    if value is None:
        return None
    try:
        parse(value)
    except ValueError:
        raise BadCredential("rate_limit", f"{value!r} is not a rate such as '600/minute'") from None
    return value


@dataclass(frozen=True)
class Credential:
    """One issued credential as stored (never the key itself: its :func:`digest`)."""

    credential_id: str
    kind: Kind
    source: str
    created_at: datetime
    campaign: str | None = None
    allowed_origins: tuple[str, ...] = ()
    rate_limit: str | None = None
    label: str = ""
    digest: bytes | None = None
    secret: str | None = field(default=None, repr=False)
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    replaces: str | None = None
    created_by: str | None = None

    def refusal(self, now: datetime) -> str | None:
        """Why this credential is not valid at ``now`` (None: it is)."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return f"revoked at {self.revoked_at.isoformat()}"
        if self.valid_until is not None and self.valid_until <= now:
            return f"expired at {self.valid_until.isoformat()} (it was rotated; use its replacement)"
        return None

    def valid(self, now: datetime) -> bool:
        return self.refusal(now) is None

    def covers(self, source: str) -> bool:
        return self.source in (source, ANY_SOURCE)

    def view(self) -> dict[str, object]:
        """What a list shows: everything but the key, its hash and the secret."""
        return {"id": self.credential_id, "kind": self.kind.value, "source": self.source,
                "campaign": self.campaign, "allowed_origins": list(self.allowed_origins),
                "rate_limit": self.rate_limit, "label": self.label, "created_at": self.created_at.isoformat(),
                "created_by": self.created_by, "replaces": self.replaces,
                "valid_until": self.valid_until.isoformat() if self.valid_until else None,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def rotation(old: Credential, now: datetime, old_valid_until: datetime | None,
             overlap: timedelta) -> tuple[Credential, datetime]:
    """The plan for rotating ``old``: its successor's definition (same kind and scope,
    a new id, key or secret to be filled in) and until when the old one stays valid (by
    default ``overlap`` from now, so senders can switch without a refused delivery).
    An old credential already ending sooner keeps its earlier end."""
    if old.refusal(now) is not None:
        raise BadCredential("id", f"{old.credential_id} cannot be rotated: {old.refusal(now)}")
    until = old_valid_until if old_valid_until is not None else now + overlap
    if until < now:
        raise BadCredential("old_valid_until", "is in the past")
    if old.valid_until is not None:
        until = min(until, old.valid_until)
    successor = replace(old, credential_id="", digest=None, secret=None, created_at=now, valid_until=None,
                        revoked_at=None, replaces=old.credential_id)
    return successor, until


class BootstrapKey(BaseModel):
    """A key given in settings (``LEADBRIDGE_SOURCE_KEYS``, a JSON list), valid without
    the database: the first key an operator starts with, or the trusted internal
    client's (the demo, the bench, the test harness). ``source`` ``"*"`` posts for
    every source."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=24)
    source: str = ANY_SOURCE
    campaign: str | None = None
    kind: Kind = Kind.API_KEY
    allowed_origins: list[str] = Field(default_factory=list)
    rate_limit: str | None = None
    label: str = "from settings"

    def credential(self, pepper: str, now: datetime) -> Credential:
        return Credential(credential_id="settings:" + self.key[:12], kind=self.kind, source=self.source,
                          created_at=now, campaign=self.campaign,
                          allowed_origins=tuple(origin(o) for o in self.allowed_origins),
                          rate_limit=rate_limit(self.rate_limit), label=self.label, digest=digest(pepper, self.key))
