"""Who is calling: bearer tokens (signed JWTs) verified once for every route of every
service, and the roles a route lets in.

A route declares its callers in its ``api.py``, one of three ways (a route that
declares none is refused when the app is built, :func:`check_routes_declare_callers`)::

    @router.put("/v1/org", dependencies=[allow(Role.operator)])
    async def put_org(...) -> ...:

    @router.get("/v1/reps/{rep_id}/assignments")
    async def assignments(who: Annotated[Principal, allow(Role.rep, Role.manager)], ...) -> ...:
        ...  # who.rep_id, who.teams: scope what the caller sees

    @router.get("/healthz", dependencies=[public])

Capture's intake routes authenticate the *source* that sends, not a person
(:data:`source_intake`), and inbound webhooks their signature (:mod:`shared.webhooks`).

Tokens: signed JWTs (EdDSA/Ed25519 or RS256/ES256, with a ``kid`` header), verified
against a JWKS (``LEADBRIDGE_AUTH_JWKS_FILE`` or ``LEADBRIDGE_AUTH_JWKS_URL``, any
OpenID Connect provider's ``jwks_uri``), with the issuer, the audience and the claim
that carries the roles from the settings (``LEADBRIDGE_AUTH_ISSUER``,
``LEADBRIDGE_AUTH_AUDIENCE``, ``LEADBRIDGE_AUTH_ROLES_CLAIM``). The key set is cached;
a token naming a ``kid`` the cache does not hold fetches it again (at most once per
``auth_jwks_refetch_s`` from a URL; from a file whenever the file changed).

No, bad or expired token: 401 in the error model with ``WWW-Authenticate: Bearer``.
Valid token without any of the route's roles: 403.

:func:`generate_keypair` and :func:`issue_token` are how the embedded accounts (the
app), the test harness and the demo make keys and tokens, the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, HTTPException, Request, Security, routing
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import BaseRoute

from shared import sources
from shared.principal import ALL_ROLES, PEOPLE, ROLE_NAMES, Principal, Role
from shared.settings import ServiceSettings

__all__ = ["ALL_ROLES", "PEOPLE", "Principal", "Role", "allow", "allow_lead", "generate_keypair", "issue_token",
           "public",
           "source_intake"]

log = logging.getLogger(__name__)

ALGORITHMS = ("EdDSA", "RS256", "ES256")
"""Signature algorithms a token may use (never ``none``, never a shared-secret HS*: a
JWKS holds public keys)."""


# ----------------------------------------------------------------------------- refusals

def unauthenticated(reason: str, *, token_given: bool = True) -> HTTPException:
    """A 401 in the error model; RFC 6750's ``WWW-Authenticate`` says a token is needed,
    and why the one given was refused."""
    challenge = 'Bearer realm="leadbridge"'
    if token_given:
        challenge += ', error="invalid_token", error_description="' + reason.replace('"', "'") + '"'
    return HTTPException(401, detail={"error": "unauthorized", "field": "authorization", "reason": reason},
                         headers={"WWW-Authenticate": challenge})


def forbidden(reason: str) -> HTTPException:
    """A 403 in the error model: the caller is known and may not do this."""
    return HTTPException(403, detail={"error": "forbidden", "field": "authorization", "reason": reason})


# ----------------------------------------------------------------------------- keys

def _kid(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of a public JWK: the same key always has the same ``kid``."""
    required = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
    members = {k: public_jwk[k] for k in required[public_jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return jwt.utils.base64url_encode(digest).decode()


def _public_jwk(private_key: Any) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name("EdDSA") if isinstance(private_key, Ed25519PrivateKey) \
        else jwt.get_algorithm_by_name("RS256")
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": _kid(jwk), "use": "sig", "alg": "EdDSA" if isinstance(private_key, Ed25519PrivateKey)
                else "RS256"})
    return jwk


def load_signing_key(pem_path: Path | str) -> Any:
    """The private key in a PEM file (PKCS#8, unencrypted), as ``cryptography`` loads it."""
    return serialization.load_pem_private_key(Path(pem_path).read_bytes(), password=None)


def jwks_of(pem_path: Path | str) -> dict[str, Any]:
    """The public JWKS (one key) for the private key in ``pem_path``: what the issuer
    publishes at ``/.well-known/jwks.json``."""
    return {"keys": [_public_jwk(load_signing_key(pem_path))]}


def generate_keypair(directory: Path | str, name: str = "signing") -> tuple[Path, Path]:
    """A new Ed25519 key: ``<name>.pem`` (private, mode 0600) and ``<name>.jwks.json``
    (its public JWKS) in ``directory``. Returns ``(pem_path, jwks_path)``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem_path, jwks_path = directory / f"{name}.pem", directory / f"{name}.jwks.json"
    pem_path.touch(mode=0o600)
    pem_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    jwks_path.write_text(json.dumps({"keys": [_public_jwk(key)]}, indent=2))
    return pem_path, jwks_path


def issue_token(pem_path: Path | str, subject: str, roles: Iterable[Role | str], *, rep_id: str | None = None,
                teams: Iterable[str] = (), name: str = "", ttl_s: float = 900, issuer: str = "leadbridge",
                audience: str = "leadbridge", roles_claim: str = "roles", now: float | None = None,
                extra: dict[str, Any] | None = None, leads: Iterable[str] = ()) -> str:
    """A signed token for ``subject`` holding ``roles``, valid ``ttl_s`` seconds (15
    minutes by default), signed with the key in ``pem_path`` and naming its ``kid``."""
    key = load_signing_key(pem_path)
    jwk = _public_jwk(key)
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": subject, "iat": issued,
                              "exp": issued + int(ttl_s), "jti": uuid.uuid4().hex, "name": name or subject,
                              roles_claim: [str(r) for r in roles]}
    if rep_id is not None:
        claims["rep_id"] = rep_id
    if teams:
        claims["teams"] = list(teams)
    if leads:
        claims["leads"] = list(leads)
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm=jwk["alg"], headers={"kid": jwk["kid"]})


# ----------------------------------------------------------------------------- verification

def _claim_at(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path: ``roles``, or Keycloak's ``realm_access.roles``."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass
class KeySet:
    """The verifying keys by ``kid``, read from a JWKS file or URL and cached. A ``kid``
    the cache does not hold reads the source again: from a file when it changed, from a
    URL at most once per ``refetch_s`` (an attacker's made-up kids do not make every
    request a fetch)."""

    file: Path | None = None
    url: str | None = None
    refetch_s: float = 30.0
    max_age_s: float = 3600.0
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    _fetched_at: float = float("-inf")
    _file_stamp: tuple[float, int] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _stamp(self) -> tuple[float, int] | None:
        try:
            st = self.file.stat() if self.file else None
        except OSError:
            return None
        return (st.st_mtime, st.st_size) if st else None

    def _read(self) -> dict[str, Any]:
        if self.file is not None:
            document: dict[str, Any] = json.loads(self.file.read_text())
            return document
        assert self.url is not None
        with urllib.request.urlopen(self.url, timeout=5) as answer:
            fetched: dict[str, Any] = json.loads(answer.read())
            return fetched

    def _load(self, document: dict[str, Any]) -> None:
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("use", "sig") != "sig" or "kid" not in entry:
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry)
            except jwt.PyJWTError as exc:  # a key type we cannot use: the others still work
                log.warning("JWKS key skipped", extra={"kid": entry.get("kid"), "error": str(exc)})
        self._keys = keys

    def _stale(self, kid: str) -> bool:
        now = time.monotonic()
        if self.file is not None:
            return self._file_stamp is None or (kid not in self._keys and self._stamp() != self._file_stamp)
        if now - self._fetched_at > self.max_age_s:
            return True
        return kid not in self._keys and now - self._fetched_at >= self.refetch_s

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, fetching the key set again if it may have been added."""
        if self.file is None and self.url is None:
            return None
        if self._stale(kid):
            async with self._lock:
                if self._stale(kid):
                    stamp = self._stamp()
                    try:
                        self._load(await asyncio.to_thread(self._read))
                    except (OSError, ValueError) as exc:
                        log.warning("JWKS could not be read", extra={"error": repr(exc)})
                    self._fetched_at, self._file_stamp = time.monotonic(), stamp
        return self._keys.get(kid)


class TokenVerifier:
    """Turns a bearer token into a :class:`Principal`, or raises the 401 that says why."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.issuer = settings.auth_issuer
        self.audience = settings.auth_audience
        self.roles_claim = settings.auth_roles_claim
        self.leeway_s = settings.auth_leeway_s
        self.keys = KeySet(file=Path(settings.auth_jwks_file) if settings.auth_jwks_file else None,
                           url=settings.auth_jwks_url or None, refetch_s=settings.auth_jwks_refetch_s)

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthenticated("the bearer token is not a JWT") from None
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS:
            raise unauthenticated(f"the token's algorithm must be one of {', '.join(ALGORITHMS)}")
        if not isinstance(kid, str):
            raise unauthenticated("the token names no key (kid)")
        key = await self.keys.key(kid)
        if key is None:
            raise unauthenticated(f"the token's key {kid!r} is not one the issuer publishes")
        try:
            claims = jwt.decode(token, key, algorithms=[header["alg"]], audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway_s, options={"require": ["exp", "iat", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the token has expired: sign in again") from None
        except jwt.InvalidAudienceError:
            raise unauthenticated(f"the token is not meant for {self.audience!r} (aud)") from None
        except jwt.InvalidIssuerError:
            raise unauthenticated(f"the token was not issued by {self.issuer!r} (iss)") from None
        except jwt.InvalidSignatureError:
            raise unauthenticated("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise unauthenticated(f"the token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise unauthenticated(f"the token is invalid: {exc}") from None
        return self.principal(claims)

    def principal(self, claims: dict[str, Any]) -> Principal:
        granted = _claim_at(claims, self.roles_claim)
        names = [granted] if isinstance(granted, str) else granted if isinstance(granted, list) else []
        # A provider's other roles (offline_access, ...) are not Leadbridge's: ignored.
        roles = frozenset(Role(r) for r in names if isinstance(r, str) and r in ROLE_NAMES)
        teams = claims.get("teams")
        rep_id = claims.get("rep_id")
        leads = claims.get("leads")
        return Principal(subject=str(claims["sub"]), name=str(claims.get("name") or claims["sub"]), roles=roles,
                         rep_id=rep_id if isinstance(rep_id, str) else None,
                         teams=frozenset(t for t in teams if isinstance(t, str)) if isinstance(teams, list)
                         else frozenset(),
                         leads=frozenset(x for x in leads if isinstance(x, str)) if isinstance(leads, list)
                         else frozenset())


def install(app: Any, settings: ServiceSettings) -> None:
    """Give ``app`` the verifier its routes' :func:`allow` dependencies use (no I/O:
    the key set is read on the first token)."""
    app.state.token_verifier = TokenVerifier(settings)


# ----------------------------------------------------------------------------- route dependencies

_bearer = HTTPBearer(auto_error=False, description="a signed JWT from the embedded accounts (services/app) "
                                                   "or the configured OpenID Connect provider")
CALLERS_DECLARED = "__leadbridge_callers__"
"""The attribute that marks a dependency as a decision about who may call a route."""


def declares_callers(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a FastAPI dependency as a decision about a route's callers (``allow``,
    ``public``, a source key, a webhook signature): a route needs one to be built."""
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, CALLERS_DECLARED, kind)
        return fn
    return mark


async def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The verified person behind the request's bearer token, or a 401."""
    if credentials is None or not credentials.credentials:
        raise unauthenticated("a bearer token is needed (Authorization: Bearer <token>)", token_given=False)
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise RuntimeError("shared.auth.install(app, settings) was not called for this app")
    return await verifier.verify(credentials.credentials)


def allow(*roles: Role) -> Any:
    """The route's callers: a person holding at least one of ``roles``. Use as
    ``dependencies=[allow(...)]`` or ``who: Annotated[Principal, allow(...)]``."""
    if not roles:
        raise ValueError("allow() needs at least one role (a route open to anyone is `public`)")
    wanted = frozenset(roles)
    needed = ", ".join(sorted(wanted))

    # The roles are the bearer requirement's scopes in the OpenAPI document (OpenAPI 3.1:
    # "a list of role names which are required for the execution"): the document says who may call.
    @declares_callers("roles")
    async def caller(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(
                         _bearer, scopes=sorted(wanted))) -> Principal:
        who = await authenticate(request, credentials)
        if who.roles.isdisjoint(wanted):
            raise forbidden(f"needs one of the roles: {needed}")
        request.state.principal = who
        return who

    caller.__name__ = "allow_" + "_".join(sorted(wanted))
    caller.roles = wanted  # type: ignore[attr-defined]  # roles_of() reads it
    return Depends(caller)


def allow_lead(*roles: Role) -> Any:
    """A per-lead route's callers: a person holding one of ``roles`` (who sees every
    lead the route shows), or a rep holding a grant for the path's ``lead_id``. Services
    other than routing do not know whose a lead is; the app asks routing with the rep's
    own token and, when routing shows the lead as theirs, signs a short-lived token
    naming it in a ``leads`` claim (:func:`issue_token` ``leads=``). A rep without the
    grant gets a 403."""
    wider = frozenset(roles)
    wanted = wider | {Role.rep}
    needed = ", ".join(sorted(wider))

    @declares_callers("roles")
    async def caller(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(
                         _bearer, scopes=sorted(wanted))) -> Principal:
        who = await authenticate(request, credentials)
        if who.roles.isdisjoint(wanted):
            raise forbidden(f"needs one of the roles: {needed}, or a rep's grant for the lead")
        if who.roles.isdisjoint(wider) and request.path_params.get("lead_id") not in who.leads:
            raise forbidden("a rep reads a lead only with a grant for it (the app asks routing whose it is)")
        request.state.principal = who
        return who

    caller.__name__ = "allow_lead_" + "_".join(sorted(wider))
    caller.roles = wanted  # type: ignore[attr-defined]  # roles_of() reads it
    return Depends(caller)


async def _current_caller(request: Request) -> Principal:
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:
        raise RuntimeError("Caller needs the route's allow(...) (in its dependencies) to run first")
    return who


Caller: Any = Annotated[Principal, Depends(_current_caller)]
"""The caller that the route's ``dependencies=[allow(...)]`` verified, for a handler that
scopes what it shows: ``viewer: Caller`` (no second verification)."""


def acting_rep(who: Principal, rep_id: str | None, field: str = "rep_id") -> str | None:
    """The rep a request acts for: ``rep_id`` as given, or the token's own when it gives
    none. A caller who sees only their own leads (a rep, not a manager or wider) may act
    only as themselves: another rep's id is a 403 naming ``field``."""
    if rep_id is None:
        return who.rep_id
    if not who.sees_every_lead and Role.manager not in who.roles and rep_id != who.rep_id:
        raise forbidden_field(field, "a rep acts only as themselves (the token's rep_id)")
    return rep_id


def forbidden_field(field: str, reason: str) -> HTTPException:
    """A 403 naming the input that asked for what the caller may not have."""
    return HTTPException(403, detail={"error": "forbidden", "field": field, "reason": reason})


@declares_callers("public")
async def _anyone() -> None:
    """Open to anyone who can reach the port (health, metrics, the sign-in page, JWKS)."""


public: Any = Depends(_anyone)
"""An open route: ``dependencies=[public]``. Only health, liveness, metrics (scrape them
on a private network), the JWKS, the app's sign-in and share-link views."""


def _source_principal(caller: sources.SourceCaller) -> Principal:
    return Principal(subject=caller.subject, name=caller.name, source=caller.source, campaign_id=caller.campaign_id)


@declares_callers("source")
async def _source_key(request: Request, _: str | None = Depends(sources.api_key_header)) -> Principal:
    """A capture source's API key (``X-Api-Key``), checked by :mod:`shared.sources`."""
    who = _source_principal(await sources.authenticate(request, forms=False))
    request.state.principal = who
    return who


@declares_callers("source")
async def _source_or_form_key(request: Request, _: str | None = Depends(sources.api_key_header)) -> Principal:
    """A capture source's API key, or a web form's public form key from one of its pages."""
    who = _source_principal(await sources.authenticate(request, forms=True))
    request.state.principal = who
    return who


source_intake: Any = Depends(_source_key)
"""Capture's intake routes: the sending source authenticates with its API key
(``who: Annotated[Principal, source_intake]``; ``who.source`` and ``who.campaign_id`` are
what the key may post for, ``"*"``/None: any). 401, 403 or 429 otherwise
(:func:`shared.sources.authenticate`)."""

form_intake: Any = Depends(_source_or_form_key)
"""``POST /v1/leads``: a source's API key or a web form's form key (only there)."""


# ----------------------------------------------------------------------------- fail closed

def _calls(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[Any]:
    """Every API route of an app as it is served (FastAPI's route contexts: a route of
    an included router with the router's prefix and dependencies)."""
    for context in routing.iter_route_contexts(list(routes)):
        if isinstance(context.original_route, APIRoute):
            yield context


def callers_of(route: Any) -> list[str]:
    """What decides who may call ``route`` (an :func:`api_routes` item): the kinds of
    its marked dependencies."""
    return [getattr(call, CALLERS_DECLARED) for call in _calls(route.dependant) if hasattr(call, CALLERS_DECLARED)]


def roles_of(route: Any) -> frozenset[Role]:
    """The roles the route's :func:`allow` lets in (empty for a public or source route)."""
    found: set[Role] = set()
    for call in _calls(route.dependant):
        found |= getattr(call, "roles", frozenset())
    return frozenset(found)


def check_routes_declare_callers(routes: Iterable[BaseRoute]) -> None:
    """Refuse to build an app with a route that says nothing about its callers: a route
    added without a decision would otherwise be open to anyone who reaches the port."""
    undecided = [f"{sorted(r.methods or ())} {r.path}" for r in api_routes(routes) if not callers_of(r)]
    if undecided:
        raise RuntimeError("these routes declare no callers (allow(...), public or source_intake, "
                           f"see shared/auth.py): {', '.join(undecided)}")


# ----------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    """``python -m shared.auth keypair DIR [--jwks-to FILE]`` makes a signing key there
    unless one is there already (prints the PEM and JWKS paths; docker-compose.yml's
    keygen job); ``python -m shared.auth token --key
    PEM --subject ID --roles operator,marketing`` prints a token for curl."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m shared.auth", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    keypair = commands.add_parser("keypair", help="make DIR/signing.pem and DIR/signing.jwks.json once")
    keypair.add_argument("directory", type=Path)
    keypair.add_argument("--jwks-to", type=Path, help="also write the public JWKS to this file (every run: a "
                         "volume the verifying services mount, without the private key)")
    mint = commands.add_parser("token", help="print a signed token")
    mint.add_argument("--key", type=Path, required=True, help="the private PEM (LEADBRIDGE_AUTH_SIGNING_KEY_FILE)")
    mint.add_argument("--subject", required=True)
    mint.add_argument("--roles", default=",".join(sorted(ALL_ROLES)), help="comma-separated (default: all)")
    mint.add_argument("--rep-id")
    mint.add_argument("--teams", default="", help="comma-separated team ids (a manager's)")
    mint.add_argument("--ttl-s", type=float, default=900)
    mint.add_argument("--issuer", default=ServiceSettings().auth_issuer)
    mint.add_argument("--audience", default=ServiceSettings().auth_audience)
    args = parser.parse_args(argv)
    if args.command == "keypair":
        pem, jwks = args.directory / "signing.pem", args.directory / "signing.jwks.json"
        if not (pem.exists() and jwks.exists()):
            pem, jwks = generate_keypair(args.directory)
        if args.jwks_to is not None:
            args.jwks_to.parent.mkdir(parents=True, exist_ok=True)
            args.jwks_to.write_text(json.dumps(jwks_of(pem), indent=2))
        print(pem)
        print(jwks)
        return 0
    roles = [Role(r.strip()) for r in args.roles.split(",") if r.strip()]
    print(issue_token(args.key, args.subject, roles, rep_id=args.rep_id,
                      teams=[t for t in args.teams.split(",") if t], ttl_s=args.ttl_s, issuer=args.issuer,
                      audience=args.audience))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
