"""The embedded accounts' JSON edge: the public keys every service verifies tokens with,
and the token endpoint (password or refresh-token grant) for API clients and scripts.
The browser signs in through the pages (:mod:`services.app.pages`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.app import handlers
from services.app.handlers import AppDeps, Session
from shared import auth
from shared.responses import responses
from shared.service import RuntimeDep, get_deps

DepsDep = Annotated[AppDeps, Depends(get_deps)]

router = APIRouter(tags=["accounts"])


class TokenIn(BaseModel):
    """OAuth 2.0's password and refresh-token grants, as JSON."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["password", "refresh_token"]
    username: str | None = Field(default=None, min_length=1, max_length=200)
    password: str | None = Field(default=None, min_length=1, max_length=1000)
    refresh_token: str | None = Field(default=None, min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    roles: list[str]


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


def token_out(session: Session) -> TokenOut:
    return TokenOut(access_token=session.access_token, expires_in=session.access_ttl_s,
                    refresh_token=session.refresh_token, refresh_expires_in=session.refresh_ttl_s,
                    roles=list(session.account.roles))


def _refused(field: str, reason: str) -> HTTPException:
    return HTTPException(401, detail={"field": field, "reason": reason}, headers={"WWW-Authenticate": "Bearer"})


def _missing(field: str) -> HTTPException:
    return HTTPException(422, detail={"error": "invalid request",
                                      "fields": [{"field": field, "reason": "required by this grant_type"}]})


@router.get("/.well-known/jwks.json", dependencies=[auth.public])
async def jwks(deps: DepsDep) -> dict[str, Any]:
    """The public keys access tokens are signed with (what every service verifies with,
    ``LEADBRIDGE_AUTH_JWKS_URL``)."""
    return deps.signer.jwks


@router.post("/v1/auth/token", dependencies=[auth.public], response_model=TokenOut, responses=responses(401))
async def token(body: TokenIn, runtime: RuntimeDep, deps: DepsDep) -> TokenOut:
    """Sign in (``password``: username and password) or renew (``refresh_token``: the
    last one this endpoint gave; each is good once, and a reused one ends the session).
    The access token lives 15 minutes."""
    if body.grant_type == "password":
        if body.username is None:
            raise _missing("username")
        if body.password is None:
            raise _missing("password")
        try:
            async with runtime.unit_of_work() as uow:
                return token_out(await handlers.sign_in(deps, uow, body.username, body.password))
        except handlers.SignInRefused as refused:
            raise _refused("password", str(refused)) from None
    if body.refresh_token is None:
        raise _missing("refresh_token")
    async with runtime.unit_of_work() as uow:
        result = await handlers.refresh(deps, uow, body.refresh_token)
    if result.session is None:
        raise _refused("refresh_token", f"the refresh token is {result.verdict or 'unknown'}: sign in again")
    return token_out(result.session)


@router.post("/v1/auth/revoke", dependencies=[auth.public], status_code=204, responses=responses())
async def revoke(body: RevokeIn, runtime: RuntimeDep, deps: DepsDep) -> None:
    """Sign out: the session this refresh token belongs to ends (unknown tokens too: 204)."""
    async with runtime.unit_of_work() as uow:
        await handlers.sign_out(deps, uow, body.refresh_token)
