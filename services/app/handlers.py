"""The app's handlers: the embedded accounts (seeding, sign-in, refresh-token rotation,
sign-out) and the live feed of assignments.

:func:`registry` is the service's one registry (``lead-assigned`` →
:func:`on_lead_assigned`, the ``refresh-prune`` job, the seeding of accounts at start).
Every handler takes the one :class:`AppDeps` first, then its arguments and a
:class:`~shared.handling.UnitOfWork`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.app.domain.accounts import (
    AccountSeed,
    RefreshVerdict,
    decide_refresh,
    missing,
    normalise_username,
    seeds_from,
)
from services.app.live import LiveFeed, LiveMessage
from services.app.repository import Account, AccountStore, StoredRefresh
from services.app.upstream import Upstream
from shared import topics
from shared.events import LeadAssigned, utcnow
from shared.handling import Periodic, Registry, Subscription, UnitOfWork, UnitOfWorkFactory, bind
from shared.principal import Principal

log = logging.getLogger(__name__)


class TokenSigner(Protocol):
    """Signs a person's short-lived access token (``shared.auth.issue_token`` with the
    app's private key, in :mod:`services.app.tokens`) and publishes the public keys."""

    @property
    def jwks(self) -> dict[str, Any]: ...

    def issue(self, account: Account, ttl_s: int) -> str: ...

    def grant(self, who: Principal, lead_id: str, ttl_s: int) -> str | None:
        """A short-lived token for ``who`` naming ``lead_id`` in its ``leads`` claim (the
        lead routing showed as theirs), or None when this app signs nothing."""
        ...


class SignInRefused(Exception):
    """Wrong name or password, or a disabled account (one message for all: a stranger
    learns nothing about which names exist)."""


class SignInUnavailable(SignInRefused):
    """The embedded accounts cannot sign tokens here (no signing key: an OpenID Connect
    provider signs people in)."""


class RefreshRefused(Exception):
    """A refresh token that gives no new session; ``verdict`` says why."""

    def __init__(self, verdict: RefreshVerdict | None) -> None:
        super().__init__(f"refresh token {verdict or 'unknown'}")
        self.verdict = verdict


@dataclass(frozen=True)
class Session:
    """What signing in (or refreshing) gives: a signed access token and the next refresh token."""

    account: Account
    access_token: str
    access_ttl_s: int
    refresh_token: str
    refresh_ttl_s: int


@dataclass(frozen=True)
class Refreshed:
    """The answer to a refresh: a new session, or the verdict that refused it (kept as
    a value, not raised, so that a revocation for reuse commits)."""

    session: Session | None
    verdict: RefreshVerdict | None


@dataclass
class AppDeps:
    """What the app's handlers and routes share: the accounts store, the password hasher
    (argon2id), the token signer, the live feed to open pages, the other services' APIs,
    a clock, the accounts seed file, the lifetimes of tokens and whether cookies need HTTPS."""

    accounts: AccountStore
    signer: TokenSigner
    upstream: Upstream = field(default_factory=lambda: Upstream({}))
    passwords: PasswordHasher = field(default_factory=PasswordHasher)
    live: LiveFeed = field(default_factory=LiveFeed)
    clock: Callable[[], datetime] = utcnow
    seed_file: Path | None = None
    access_ttl_s: int = 900
    refresh_ttl_s: int = 8 * 3600
    cookie_secure: bool = False
    content_public_url: str = ""
    # Verified against when a name is unknown, so a wrong name costs as long as a wrong password.
    _decoy_hash: str = field(init=False, default="")

    def decoy_hash(self) -> str:
        if not self._decoy_hash:
            self._decoy_hash = self.passwords.hash(secrets.token_urlsafe(16))
        return self._decoy_hash


def registry(deps: AppDeps) -> Registry:
    """The app's subscription, clocked job and startup, bound to ``deps``."""
    return Registry(
        subscriptions=[Subscription(topics.LEAD_ASSIGNED, handler=bind(on_lead_assigned, deps))],
        periodic=[Periodic("refresh-prune", 3600.0, bind(prune_refresh_tokens, deps))],
        startup=[bind(seed_accounts, deps)] if deps.seed_file is not None else [])


# --------------------------------------------------------------------------- live assignments


async def on_lead_assigned(deps: AppDeps, event: LeadAssigned, uow: UnitOfWork) -> None:
    """Tell the pages the assigned rep has open (and only theirs) that a lead is theirs."""
    if event.owner_kind == "rep" and event.rep_id:
        deps.live.publish(event.rep_id, LiveMessage("assigned", event.lead_id))


# --------------------------------------------------------------------------- accounts


def read_seed(path: Path) -> list[AccountSeed]:
    """The accounts a seed file asks for; its ``org_file`` is relative to it."""
    seed: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    org = None
    if seed.get("org_file"):
        org = yaml.safe_load((path.parent / str(seed["org_file"])).read_text())
    return seeds_from(seed, org)


async def seed_accounts(deps: AppDeps, units: UnitOfWorkFactory) -> int:
    """Add the seed file's accounts that are not there yet (a changed password or a
    removed role stays as it is); how many were added."""
    assert deps.seed_file is not None
    seeds = read_seed(deps.seed_file)
    async with units() as uow:
        new = missing(seeds, await deps.accounts.account_ids(uow.conn))
        if new:
            await deps.accounts.add_accounts(uow.conn, [_account_of(s, deps.passwords) for s in new], deps.clock())
    log.info("accounts seeded", extra={"added": len(new), "file": str(deps.seed_file)})
    return len(new)


def _account_of(seed: AccountSeed, passwords: PasswordHasher) -> Account:
    return Account(account_id=seed.account_id, username=normalise_username(seed.username), name=seed.name,
                   password_hash=passwords.hash(seed.password), roles=seed.roles, rep_id=seed.rep_id,
                   teams=seed.teams)


def _hash_refresh(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _new_session(deps: AppDeps, uow: UnitOfWork, account: Account, family_id: str) -> Session:
    now = deps.clock()
    refresh = secrets.token_urlsafe(32)
    await deps.accounts.add_refresh(uow.conn, StoredRefresh(
        token_hash=_hash_refresh(refresh), family_id=family_id, account_id=account.account_id, issued_at=now,
        expires_at=now + timedelta(seconds=deps.refresh_ttl_s)))
    return Session(account, deps.signer.issue(account, deps.access_ttl_s), deps.access_ttl_s, refresh,
                   deps.refresh_ttl_s)


async def sign_in(deps: AppDeps, uow: UnitOfWork, username: str, password: str) -> Session:
    """Check a name and password (argon2) and open a session. Raises :class:`SignInRefused`."""
    account = await deps.accounts.by_username(uow.conn, normalise_username(username))
    try:
        deps.passwords.verify(account.password_hash if account else deps.decoy_hash(), password)
    except (VerificationError, InvalidHashError):
        raise SignInRefused("wrong name or password") from None
    if account is None or account.disabled:
        raise SignInRefused("wrong name or password")
    return await _new_session(deps, uow, account, family_id=str(uuid.uuid4()))


async def refresh(deps: AppDeps, uow: UnitOfWork, token: str) -> Refreshed:
    """Rotate a refresh token: the next token of its session and a fresh access token.
    A token used before revokes its whole session (someone replayed it)."""
    stored = await deps.accounts.refresh_for_update(uow.conn, _hash_refresh(token))
    if stored is None:
        return Refreshed(None, None)
    now = deps.clock()
    verdict = decide_refresh(stored.state, now)
    if verdict is RefreshVerdict.REUSED:
        revoked = await deps.accounts.revoke_family(uow.conn, stored.family_id, now)
        log.warning("refresh token reused: session revoked",
                    extra={"account_id": stored.account_id, "family_id": stored.family_id, "revoked": revoked})
        return Refreshed(None, verdict)
    if verdict is not RefreshVerdict.ROTATE:
        return Refreshed(None, verdict)
    account = await deps.accounts.by_id(uow.conn, stored.account_id)
    if account is None or account.disabled:
        return Refreshed(None, RefreshVerdict.REVOKED)
    await deps.accounts.mark_used(uow.conn, stored.token_hash, now)
    return Refreshed(await _new_session(deps, uow, account, stored.family_id), None)


async def sign_out(deps: AppDeps, uow: UnitOfWork, token: str) -> None:
    """End the session this refresh token belongs to (every token of it)."""
    stored = await deps.accounts.refresh_for_update(uow.conn, _hash_refresh(token))
    if stored is not None:
        await deps.accounts.revoke_family(uow.conn, stored.family_id, deps.clock())


async def prune_refresh_tokens(deps: AppDeps, units: UnitOfWorkFactory) -> int:
    """Forget refresh tokens a day after they expired (a replay after that is simply unknown)."""
    async with units() as uow:
        return await deps.accounts.prune_refresh(uow.conn, deps.clock() - timedelta(days=1))
