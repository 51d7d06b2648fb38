"""The app's embedded accounts on the real stack: the token endpoint signs in with a seeded
account's password, every service accepts the token it signed (its JWKS is the one they
verify with), a refresh token rotates once and its reuse ends the session."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jwt
import pytest

from tests import harness

pytestmark = pytest.mark.e2e


def token(app: httpx.Client, **body: str) -> httpx.Response:
    return app.post("/v1/auth/token", json=body)


def test_a_signed_in_rep_calls_the_services_with_the_apps_token(stack: harness.Stack) -> None:
    app = httpx.Client(base_url=stack.url("app"), timeout=20)
    published = app.get("/.well-known/jwks.json").json()
    verified_with = json.loads(Path(stack.ns.env()["LEADBRIDGE_AUTH_JWKS_FILE"]).read_text())
    assert [k["kid"] for k in published["keys"]] == [k["kid"] for k in verified_with["keys"]]

    r = token(app, grant_type="password", username="IS-1", password="rep-test-pass")
    assert r.status_code == 200, r.text
    signed = r.json()
    claims = jwt.decode(signed["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["rep_id"], claims["roles"], claims["exp"] - claims["iat"]) == (
        "is-1", "is-1", ["rep"], 900)
    assert signed["expires_in"] == 900 and signed["token_type"] == "Bearer"
    with stack.client("routing", token=signed["access_token"]) as routing:
        mine = routing.get("/v1/reps/is-1/assignments")
        assert mine.status_code == 200, mine.text

    wrong = token(app, grant_type="password", username="is-1", password="not it")
    assert wrong.status_code == 401 and wrong.json()["fields"][0]["field"] == "password"
    assert "www-authenticate" in wrong.headers
    missing = token(app, grant_type="password", username="is-1")
    assert missing.status_code == 422 and missing.json()["fields"] == [
        {"field": "password", "reason": "required by this grant_type"}]


def test_a_refresh_token_is_good_once_and_its_replay_ends_the_session(stack: harness.Stack) -> None:
    app = httpx.Client(base_url=stack.url("app"), timeout=20)
    first = token(app, grant_type="password", username="operator", password="operator-test-pass").json()
    second = token(app, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    replay = token(app, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.status_code == 401 and "reused" in replay.json()["fields"][0]["reason"]
    after = token(app, grant_type="refresh_token", refresh_token=second.json()["refresh_token"])
    assert after.status_code == 401 and "revoked" in after.json()["fields"][0]["reason"]

    third = token(app, grant_type="password", username="operator", password="operator-test-pass").json()
    assert app.post("/v1/auth/revoke", json={"refresh_token": third["refresh_token"]}).status_code == 204
    assert token(app, grant_type="refresh_token", refresh_token=third["refresh_token"]).status_code == 401
