"""The embedded accounts' signing key: access tokens signed with ``shared.auth`` (the
same way the test harness and the demo mint them) and the public half published as the
JWKS every service verifies."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from services.app.handlers import SignInUnavailable
from services.app.repository import Account
from shared import auth
from shared.principal import Principal


class KeyFileSigner:
    """Signs with the private key in ``LEADBRIDGE_AUTH_SIGNING_KEY_FILE`` as the issuer
    and for the audience the services expect (``LEADBRIDGE_AUTH_ISSUER``/``_AUDIENCE``)."""

    def __init__(self, pem_path: Path, issuer: str, audience: str, roles_claim: str = "roles") -> None:
        self.pem_path = pem_path
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim

    def issue(self, account: Account, ttl_s: int) -> str:
        return auth.issue_token(self.pem_path, account.account_id, account.roles, rep_id=account.rep_id,
                                teams=account.teams, name=account.name, ttl_s=ttl_s, issuer=self.issuer,
                                audience=self.audience, roles_claim=self.roles_claim)

    def grant(self, who: Principal, lead_id: str, ttl_s: int) -> str | None:
        return auth.issue_token(self.pem_path, who.subject, who.roles, rep_id=who.rep_id, teams=who.teams,
                                name=who.name, ttl_s=ttl_s, issuer=self.issuer, audience=self.audience,
                                roles_claim=self.roles_claim, leads=[lead_id])

    @cached_property
    def jwks(self) -> dict[str, Any]:
        """The public JWKS of the signing key."""
        return auth.jwks_of(self.pem_path)


class NoSigningKey:
    """Stands in when no signing key is configured (an OpenID Connect provider issues the
    tokens): the embedded sign-in is refused with that reason."""

    jwks: dict[str, Any] = {"keys": []}

    def issue(self, account: Account, ttl_s: int) -> str:
        raise SignInUnavailable("sign-in here is switched off (no signing key): sign in with your organisation's "
                                "identity provider")

    def grant(self, who: Principal, lead_id: str, ttl_s: int) -> str | None:
        return None  # the provider's token goes as it is: a rep-only one reads only routing
