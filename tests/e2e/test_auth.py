"""Issue 12, sign-in and roles, end to end: every route of every service's OpenAPI
document (read from the running services) refuses a request without a token (401) and
one with a token of a wrong role (403), and answers the right role normally; routes that
need no person's token are exactly the ones listed here. Two reps' tokens never see each
other's leads through any endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bench.leads import grade_a
from shared.auth import ALL_ROLES, Role
from tests import harness

pytestmark = pytest.mark.e2e

OPEN = {"/healthz", "/livez", "/metrics"}
NO_PERSON = {
    # the embedded accounts: their public keys, signing in and out
    "app": {("GET", "/.well-known/jwks.json"), ("POST", "/v1/auth/token"), ("POST", "/v1/auth/revoke")},
    # capture's intake authenticates the sending source (shared.auth.source_intake), its
    # webhooks their Standard Webhooks signature (shared.webhooks)
    "capture": {("POST", "/v1/leads"), ("OPTIONS", "/v1/leads"), ("POST", "/v1/leads/{lead_id}/activities"),
                ("POST", "/v1/activities"),
                ("POST", "/v1/campaigns/{campaign_id}/invitations"), ("POST", "/v1/webhooks/{source}/attendance"),
                ("POST", "/v1/webhooks/{source}/outcomes")},
    # the e-mail recipient's side: the message id is the capability
    "nurture": {("GET", "/v1/nurture/unsubscribe/{message_id}"), ("POST", "/v1/nurture/unsubscribe/{message_id}")},
    # the prospect opens a shared link: the link's token is the capability
    "content": {("GET", "/v1/links/{token}")},
}
"""Operations open to a caller without a person's token, besides health and metrics."""

WALKER = "walker"  # every path parameter, and the right token's rep_id and team


def operations(stack: harness.Stack) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for service in harness.SERVICES:
        with stack.client(service) as c:
            document = c.get("/openapi.json").json()
        for path, item in document["paths"].items():
            for method, operation in item.items():
                yield service, method.upper(), path, operation


def bearer_roles(operation: dict[str, Any]) -> list[str] | None:
    """The roles an operation lets in (the scopes of its bearer requirement), or None for
    an operation that takes no person's token."""
    for requirement in operation.get("security", []):
        if "HTTPBearer" in requirement:
            return list(requirement["HTTPBearer"])
    return None


def example(schema: dict[str, Any]) -> Any:
    """A plain valid value for a parameter's schema (the walk tests who gets in, not validation)."""
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return example(option)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "date-time":
        return datetime.now(UTC).isoformat()
    return {"integer": 1, "number": 1, "boolean": "true"}.get(schema.get("type", "string"), WALKER)


def request(client: httpx.Client, method: str, path: str, operation: dict[str, Any],
            token: str | None) -> httpx.Response:
    params = {p["name"]: example(p.get("schema", {})) for p in operation.get("parameters", [])
              if p["in"] == "path" or p.get("required")}
    url = path.format(**{k: v for k, v in params.items() if "{" + k + "}" in path})
    query = {k: v for k, v in params.items() if "{" + k + "}" not in path}
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return client.request(method, url, params=query, headers=headers)


def test_every_route_refuses_no_token_and_a_wrong_role_and_answers_the_right_one(stack: harness.Stack) -> None:
    failures: list[str] = []
    walked = 0
    for service, method, path, operation in operations(stack):
        roles = bearer_roles(operation)
        if roles is None:
            if path not in OPEN and (method, path) not in NO_PERSON.get(service, set()):
                failures.append(f"{service} {method} {path}: takes no bearer token and is not listed as open")
            continue
        assert roles, f"{service} {method} {path}: a bearer route names the roles it lets in"
        wrong = sorted(ALL_ROLES - {Role(r) for r in roles})  # none at all when every role may call it
        right = harness.token(roles, subject="walker", rep_id=WALKER, teams=[WALKER])
        with httpx.Client(base_url=stack.url(service), timeout=10) as c:
            nobody = request(c, method, path, operation, None)
            if nobody.status_code != 401 or not nobody.headers.get("www-authenticate", "").startswith("Bearer"):
                failures.append(f"{service} {method} {path}: without a token {nobody.status_code}")
            elif set(nobody.json()) != {"error", "fields"}:
                failures.append(f"{service} {method} {path}: the 401 is not the error model: {nobody.text}")
            refused = request(c, method, path, operation, harness.token(wrong, subject="wrong"))
            if refused.status_code != 403:
                failures.append(f"{service} {method} {path}: roles {wrong} got {refused.status_code}")
            answered = request(c, method, path, operation, right)
            undocumented_5xx = answered.status_code >= 500 and str(answered.status_code) not in operation["responses"]
            if answered.status_code in (401, 403) or undocumented_5xx:
                failures.append(f"{service} {method} {path}: roles {roles} got {answered.status_code} "
                                f"{answered.text[:200]}")
        walked += 1
    assert not failures, "\n".join(failures)
    assert walked >= 80, f"only {walked} operations take a bearer token"


def test_an_expired_token_or_one_for_another_audience_is_a_401(stack: harness.Stack) -> None:
    with httpx.Client(base_url=stack.url("routing"), timeout=10) as c:
        expired = c.get("/v1/reps", headers={"authorization": f"Bearer {harness.token(ttl_s=-120)}"})
        assert expired.status_code == 401 and "expired" in expired.json()["fields"][0]["reason"]
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]
        assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200


# ----------------------------------------------------------------------------- two reps


def rep_client(stack: harness.Stack, service: str, rep_id: str) -> httpx.Client:
    return stack.client(service, harness.token([Role.rep], subject=rep_id, rep_id=rep_id))


def owner(stack: harness.Stack, lead_id: str) -> dict[str, Any]:
    with stack.client("routing") as c:
        def assigned() -> dict[str, Any] | None:
            r = c.get(f"/v1/leads/{lead_id}/routing")
            return r.json() if r.status_code == 200 and (r.json()["owner"] or {}).get("rep_id") else None
        found: dict[str, Any] = harness.eventually(assigned, what=f"lead {lead_id} assigned to a rep")
    return found


def test_two_reps_never_see_each_others_leads(stack: harness.Stack) -> None:
    leads = {}
    for body in (grade_a(),  # a field rep of North America
                 grade_a(email=f"olivia.{time.time_ns()}@northwind.example", country="GB",
                         source="intent_signal")):  # hot intent in the UK: uk-1
        with stack.client("capture") as c:
            r = c.post("/v1/leads", json=body)
        assert r.status_code == 202, r.text
        lead_id = r.json()["lead_id"]
        routing = owner(stack, lead_id)
        leads[lead_id] = {"email": body["email"], "rep_id": routing["owner"]["rep_id"],
                          "assignment_id": routing["owner"]["assignment_id"]}
    (a, mine), (b, theirs) = leads.items()
    assert mine["rep_id"] != theirs["rep_id"], leads
    ids = {"lead_id": b, "assignment_id": theirs["assignment_id"], "rep_id": theirs["rep_id"]}
    bodies = {"/v1/assignments/{assignment_id}/follow-ups": {"outcome": "contacted"},
              "/v1/reps/{rep_id}/availability": {"away": []}}
    # Their own: routing shows it to them.
    with rep_client(stack, "routing", mine["rep_id"]) as c:
        own = c.get(f"/v1/reps/{mine['rep_id']}/assignments")
        assert own.status_code == 200 and a in [x["lead_id"] for x in own.json()["assignments"]]
        assert b not in own.text
        assert c.get(f"/v1/leads/{a}/routing").status_code == 200
        assert c.get(f"/v1/assignments/{mine['assignment_id']}").status_code == 200
    # The other rep's: through every endpoint naming a lead, an assignment or a rep, of every service.
    tried, leaked = 0, []
    for service, method, path, operation in operations(stack):
        if not any("{" + name + "}" in path for name in ids) or bearer_roles(operation) is None:
            continue
        params = {p["name"]: ids.get(p["name"], example(p.get("schema", {}))) for p in operation.get("parameters", [])
                  if p["in"] == "path" or p.get("required")}
        url = path.format(**{k: v for k, v in params.items() if "{" + k + "}" in path})
        query = {k: v for k, v in params.items() if "{" + k + "}" not in path}
        with rep_client(stack, service, mine["rep_id"]) as c:
            r = c.request(method, url, params=query, json=bodies.get(path))
        tried += 1
        if r.status_code not in (403, 404) or theirs["email"] in r.text:
            leaked.append(f"{service} {method} {url}: {r.status_code} {r.text[:200]}")
    # ... and through the lists that take a rep or a lead as a query.
    for service, url, query in (("nurture", "/v1/nurture/tasks", {"rep_id": theirs["rep_id"]}),
                                ("nurture", "/v1/nurture/messages", {"lead_id": b}),
                                ("capture", "/v1/leads", {"email": theirs["email"]})):
        with rep_client(stack, service, mine["rep_id"]) as c:
            r = c.get(url, params=query)
        tried += 1
        if r.status_code != 403:
            leaked.append(f"{service} GET {url} {query}: {r.status_code} {r.text[:200]}")
    with rep_client(stack, "nurture", mine["rep_id"]) as c:
        tasks = c.get("/v1/nurture/tasks")
    assert tasks.status_code == 200 and all(t["rep_id"] == mine["rep_id"] for t in tasks.json())
    assert not leaked, "\n".join(leaked)
    assert tried >= 15, tried
