"""Bearer tokens and roles (shared.auth), through a real FastAPI app: what gets in,
what is a 401 (and says why), what is a 403, and that a route without a decision
about its callers cannot be built."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import jwt
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.testclient import TestClient

from shared import auth, responses
from shared.auth import Principal, Role, allow, generate_keypair, issue_token, public, source_intake
from shared.settings import ServiceSettings


def build_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    responses.install(app, settings.max_body_bytes)
    auth.install(app, settings)
    router = APIRouter()

    @router.get("/org", dependencies=[allow(Role.operator)])
    async def org() -> dict[str, str]:
        return {"org": "ok"}

    @router.get("/mine")
    async def mine(who: Annotated[Principal, allow(Role.rep, Role.manager)]) -> dict[str, Any]:
        return {"subject": who.subject, "rep_id": who.rep_id, "teams": sorted(who.teams),
                "roles": sorted(who.roles), "only_rep": who.only_rep}

    @router.get("/leads/{lead_id}", dependencies=[auth.allow_lead(Role.marketing)])
    async def lead(lead_id: str) -> dict[str, str]:
        return {"lead_id": lead_id}

    @router.get("/open", dependencies=[public])
    async def open_() -> dict[str, str]:
        return {"open": "yes"}

    app.include_router(router)
    auth.check_routes_declare_callers(app.routes)
    return app


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return generate_keypair(tmp_path)


@pytest.fixture
def client(keys: tuple[Path, Path]) -> Iterator[TestClient]:
    settings = ServiceSettings(auth_jwks_file=str(keys[1]))
    with TestClient(build_app(settings)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def refusal(client: TestClient, path: str, token: str | None) -> tuple[int, str, str]:
    r = client.get(path, headers=bearer(token) if token is not None else {})
    body = r.json()
    assert set(body) == {"error", "fields"}, body
    return r.status_code, body["fields"][0]["reason"], r.headers.get("www-authenticate", "")


def test_a_token_with_the_role_gets_in_and_the_route_sees_who(client: TestClient, keys: tuple[Path, Path]) -> None:
    token = issue_token(keys[0], "us-1", [Role.rep], rep_id="us-1", name="Ada Rep")
    r = client.get("/mine", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"subject": "us-1", "rep_id": "us-1", "teams": [], "roles": ["rep"], "only_rep": True}


def test_several_roles_any_one_of_them_lets_in(client: TestClient, keys: tuple[Path, Path]) -> None:
    token = issue_token(keys[0], "boss", [Role.manager, Role.operator], teams=["us", "uk"])
    assert client.get("/org", headers=bearer(token)).status_code == 200
    r = client.get("/mine", headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["teams"] == ["uk", "us"]
    assert r.json()["only_rep"] is False


def test_no_token_is_a_401_with_a_bearer_challenge(client: TestClient) -> None:
    status, reason, challenge = refusal(client, "/org", None)
    assert status == 401
    assert "bearer token is needed" in reason
    assert challenge.startswith("Bearer")


def test_missing_role_is_a_403_naming_the_roles(client: TestClient, keys: tuple[Path, Path]) -> None:
    token = issue_token(keys[0], "mkt-1", [Role.marketing])
    status, reason, _ = refusal(client, "/org", token)
    assert (status, reason) == (403, "needs one of the roles: operator")
    assert refusal(client, "/mine", token)[:2] == (403, "needs one of the roles: manager, rep")


def test_unknown_roles_from_a_provider_are_ignored(client: TestClient, keys: tuple[Path, Path]) -> None:
    token = issue_token(keys[0], "x", ["offline_access", "admin"])
    assert refusal(client, "/org", token)[0] == 403


@pytest.mark.parametrize(("change", "why"), [
    ({"ttl_s": -120}, "expired"),
    ({"audience": "someone-else"}, "not meant for 'leadbridge'"),
    ({"issuer": "https://evil.example"}, "not issued by 'leadbridge'"),
])
def test_refused_tokens_say_why(client: TestClient, keys: tuple[Path, Path], change: dict[str, Any],
                                why: str) -> None:
    token = issue_token(keys[0], "op", [Role.operator], **change)
    status, reason, challenge = refusal(client, "/org", token)
    assert status == 401
    assert why in reason
    assert 'error="invalid_token"' in challenge


def test_a_token_signed_by_another_key_with_the_same_kid_is_refused(client: TestClient, keys: tuple[Path, Path],
                                                                    tmp_path: Path) -> None:
    other_pem, _ = generate_keypair(tmp_path / "other")
    kid = json.loads(keys[1].read_text())["keys"][0]["kid"]
    forged = issue_token(other_pem, "op", [Role.operator])
    claims = jwt.decode(forged, options={"verify_signature": False})
    forged = jwt.encode(claims, auth.load_signing_key(other_pem), algorithm="EdDSA", headers={"kid": kid})
    status, reason, _ = refusal(client, "/org", forged)
    assert (status, reason) == (401, "the token's signature does not verify")


def test_a_tampered_token_is_refused(client: TestClient, keys: tuple[Path, Path]) -> None:
    header, payload, signature = issue_token(keys[0], "mkt", [Role.marketing]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["operator"]
    raised = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert refusal(client, "/org", f"{header}.{raised}.{signature}")[:2] == (
        401, "the token's signature does not verify")


def test_an_unknown_kid_is_refused_and_garbage_is_not_a_jwt(client: TestClient, tmp_path: Path) -> None:
    stranger_pem, _ = generate_keypair(tmp_path / "stranger")
    status, reason, _ = refusal(client, "/org", issue_token(stranger_pem, "op", [Role.operator]))
    assert status == 401
    assert "is not one the issuer publishes" in reason
    assert refusal(client, "/org", "not-a-token")[:2] == (401, "the bearer token is not a JWT")


def test_an_unsigned_token_is_refused(client: TestClient, keys: tuple[Path, Path]) -> None:
    kid = json.loads(keys[1].read_text())["keys"][0]["kid"]
    unsigned = jwt.encode({"sub": "op", "roles": ["operator"], "iss": "leadbridge", "aud": "leadbridge",
                           "iat": int(time.time()), "exp": int(time.time()) + 60}, None, algorithm="none",
                          headers={"kid": kid})
    assert refusal(client, "/org", unsigned)[0] == 401


def test_a_new_kid_in_the_jwks_file_is_picked_up(client: TestClient, keys: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    old_token = issue_token(keys[0], "op", [Role.operator])
    assert client.get("/org", headers=bearer(old_token)).status_code == 200  # the file is now cached
    new_pem, new_jwks = generate_keypair(tmp_path / "rotated")
    both = {"keys": json.loads(keys[1].read_text())["keys"] + json.loads(new_jwks.read_text())["keys"]}
    keys[1].write_text(json.dumps(both, indent=4))  # another size: the file changed
    assert client.get("/org", headers=bearer(issue_token(new_pem, "op", [Role.operator]))).status_code == 200
    assert client.get("/org", headers=bearer(old_token)).status_code == 200


def test_a_jwks_url_is_cached_and_refetched_for_a_new_kid(tmp_path: Path) -> None:
    first_pem, first_jwks = generate_keypair(tmp_path / "a")
    second_pem, second_jwks = generate_keypair(tmp_path / "b")
    served = {"document": first_jwks.read_text()}
    fetches: list[str] = []

    class JWKS(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            body = served["document"].encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JWKS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        settings = ServiceSettings(auth_jwks_url=url, auth_jwks_refetch_s=0)
        with TestClient(build_app(settings)) as c:
            token = issue_token(first_pem, "op", [Role.operator])
            assert c.get("/org", headers=bearer(token)).status_code == 200
            assert c.get("/org", headers=bearer(token)).status_code == 200
            assert len(fetches) == 1  # cached
            served["document"] = second_jwks.read_text()
            assert c.get("/org", headers=bearer(issue_token(second_pem, "op", [Role.operator]))).status_code == 200
            assert len(fetches) == 2  # the new kid fetched the set again
    finally:
        server.shutdown()


def test_roles_may_come_from_a_nested_claim(keys: tuple[Path, Path]) -> None:
    settings = ServiceSettings(auth_jwks_file=str(keys[1]), auth_roles_claim="realm_access.roles",
                               auth_issuer="https://idp.example/realms/sales", auth_audience="leadbridge-api")
    token = issue_token(keys[0], "kc-user", [], issuer="https://idp.example/realms/sales", audience="leadbridge-api",
                        extra={"realm_access": {"roles": ["operator", "offline_access"]}})
    with TestClient(build_app(settings)) as c:
        assert c.get("/org", headers=bearer(token)).status_code == 200


def test_public_and_source_routes_need_no_token(client: TestClient) -> None:
    assert client.get("/open").json() == {"open": "yes"}


def test_a_route_without_a_decision_about_its_callers_cannot_be_built() -> None:
    app = FastAPI()
    router = APIRouter()

    @router.get("/decided", dependencies=[source_intake])
    async def decided() -> None:
        pass

    @router.post("/v1/forgotten")
    async def forgotten() -> None:
        pass

    app.include_router(router)
    with pytest.raises(RuntimeError, match=r"\['POST'\] /v1/forgotten") as caught:
        auth.check_routes_declare_callers(app.routes)
    assert "/decided" not in str(caught.value)


def test_the_openapi_document_says_routes_need_a_bearer_token(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/org"]["get"]["security"] == [{"HTTPBearer": ["operator"]}]
    assert document["paths"]["/mine"]["get"]["security"] == [{"HTTPBearer": ["manager", "rep"]}]
    assert {"401", "403"} <= set(document["paths"]["/org"]["get"]["responses"])
    assert "security" not in document["paths"]["/open"]["get"]


def test_who_sees_which_leads_and_acts_as_which_rep() -> None:
    rep = Principal("us-1", roles=frozenset({Role.rep}), rep_id="us-1")
    boss = Principal("m-1", roles=frozenset({Role.manager}), teams=frozenset({"us"}))
    ops = Principal("o-1", roles=frozenset({Role.operator}))
    assert rep.may_see(rep_id="us-1", team="us") and not rep.may_see(rep_id="us-2", team="us")
    assert boss.may_see(rep_id="us-2", team="us") and not boss.may_see(rep_id="uk-1", team="uk")
    assert ops.may_see(rep_id=None, team=None) and ops.sees_every_lead and not rep.sees_every_lead
    assert auth.acting_rep(rep, None) == "us-1" and auth.acting_rep(rep, "us-1") == "us-1"
    with pytest.raises(HTTPException) as refused:
        auth.acting_rep(rep, "us-2")
    assert refused.value.status_code == 403
    assert auth.acting_rep(boss, "us-2") == "us-2"


def test_a_rep_reads_a_lead_only_with_a_grant_naming_it(client: TestClient, keys: tuple[Path, Path]) -> None:
    pem = keys[0]
    granted = issue_token(pem, "us-1", [Role.rep], rep_id="us-1", leads=["L1"])
    assert client.get("/leads/L1", headers=bearer(granted)).json() == {"lead_id": "L1"}
    status, reason, _ = refusal(client, "/leads/L2", granted)
    assert status == 403 and "grant" in reason
    status, _, _ = refusal(client, "/leads/L1", issue_token(pem, "us-1", [Role.rep], rep_id="us-1"))
    assert status == 403
    assert client.get("/leads/L2", headers=bearer(issue_token(pem, "m", [Role.marketing]))).status_code == 200
    status, _, _ = refusal(client, "/leads/L1", issue_token(pem, "o", [Role.operator], leads=["L1"]))
    assert status == 403  # a grant is for a rep; it opens nothing to another role
