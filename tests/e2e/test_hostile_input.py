"""Hostile and unusual input, as a new user tried it on the running services: every
one is a 4xx in the one error model naming the field and the reason, and nothing is
accepted for it. (Each of these answered 500, or 202 and was then lost.)"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import asyncpg
import orjson
import pytest

from bench.leads import grade_b
from shared import topics
from shared.settings import ServiceSettings
from shared.validation import LIMITS
from tests import harness

pytestmark = pytest.mark.e2e

NUL = "\x00"


def fields_of(r: Any, status: int = 422) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "fields"}, body
    return {f["field"]: f["reason"] for f in body["fields"]}


def not_captured(stack: harness.Stack, email: str) -> bool:
    with stack.client("capture") as c:
        return c.get("/v1/leads", params={"email": email}).status_code == 404


# ----------------------------------------------------------------------------- NUL characters

LEAD_NUL = [
    ("name", {"name": f"Ann{NUL}"}),
    ("company", {"company": f"Acme{NUL}Ltd"}),
    ("title", {"title": NUL}),
    ("campaign", {"campaign": f"expo{NUL}"}),
    ("idempotency_key", {"idempotency_key": f"k{NUL}1"}),
    ("attributes.booth", {"attributes": {"booth": f"7{NUL}"}}),
]


@pytest.mark.parametrize(("field", "change"), LEAD_NUL, ids=[f for f, _ in LEAD_NUL])
def test_nul_in_a_lead_is_422_naming_the_field(stack: harness.Stack, field: str, change: dict[str, Any]) -> None:
    body = grade_b(**change)
    with stack.client("capture") as c:
        assert "NUL" in fields_of(c.post("/v1/leads", json=body))[field]
    assert not_captured(stack, body["email"])


def test_nul_in_an_activity_is_422_naming_the_field(stack: harness.Stack) -> None:
    with stack.client("capture") as c:
        lead_id = c.post("/v1/leads", json=grade_b()).json()["lead_id"]
        by_id = c.post(f"/v1/leads/{lead_id}/activities",
                       json={"behaviour": "page_visit", "detail": {"url": f"/x{NUL}"}, "idempotency_key": NUL})
        assert set(fields_of(by_id)) == {"detail.url", "idempotency_key"}
        email = grade_b()["email"]
        by_email = c.post("/v1/activities", json={"email": email, "behaviour": "page_visit", "name": f"A{NUL}",
                                                  "company": "C", "country": "GB"})
        assert "NUL" in fields_of(by_email)["name"]
    assert not_captured(stack, email)


@pytest.mark.parametrize(("service", "path", "params", "field"), [
    ("capture", "/v1/leads", {"email": f"ann{NUL}@example.com"}, "email"),
    ("capture", "/v1/leads/a%00b", {}, "lead_id"),
    ("scoring", "/v1/grades", {"campaign": f"expo{NUL}"}, "campaign"),
    ("scoring", "/v1/grades", {"by": "source", "source": NUL}, "source"),
    ("scoring", "/v1/grades", {"segment": NUL}, "segment"),
    ("content", "/v1/collateral", {"segment": NUL}, "segment"),
    ("nurture", "/v1/nurture/leads/x%00", {}, "lead_id"),
    ("routing", "/v1/reps/r%00/assignments", {}, "rep_id"),
])
def test_nul_in_a_query_or_path_parameter_is_422_naming_it(stack: harness.Stack, service: str, path: str,
                                                           params: dict[str, str], field: str) -> None:
    with stack.client(service) as c:
        assert "NUL" in fields_of(c.get(path, params=params))[field]


def test_nul_in_a_free_form_document_is_422_and_the_live_one_is_unchanged(stack: harness.Stack) -> None:
    with stack.client("routing") as c:
        before = c.get("/v1/org").json()
        org = orjson.loads(orjson.dumps(before["org"]))
        org["teams"][0]["name"] = f"Field{NUL}"
        assert "NUL" in fields_of(c.put("/v1/org", json=org))["teams.0.name"]
        assert c.get("/v1/org").json() == before


def test_nul_in_an_idempotency_header_never_reaches_the_service(stack: harness.Stack) -> None:
    """The HTTP parser refuses a control character in a header before any route runs."""
    body = orjson.dumps(grade_b())
    request = (b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Idempotency-Key: k\x00\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", stack.services["capture"].port), timeout=10) as s:
        s.sendall(request)
        status = int(s.recv(4096).split(b" ", 2)[1])
    assert 400 <= status < 500
    assert not_captured(stack, orjson.loads(body)["email"])


# ----------------------------------------------------------------------------- instants

@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00"])
def test_an_instant_near_the_ends_of_the_calendar_is_422(stack: harness.Stack, value: str) -> None:
    body = grade_b(occurred_at=value)
    with stack.client("capture") as c:
        assert "must be between" in fields_of(c.post("/v1/leads", json=body))["occurred_at"]
        lead_id = c.post("/v1/leads", json=grade_b()).json()["lead_id"]
        activity = c.post(f"/v1/leads/{lead_id}/activities", json={"behaviour": "page_visit", "occurred_at": value})
        assert "must be between" in fields_of(activity)["occurred_at"]
    with stack.client("routing") as c:
        rep = c.get("/v1/reps").json()["reps"][0]["rep_id"]
        away = c.put(f"/v1/reps/{rep}/availability", json={"away": [{"from": value, "to": "2030-01-01T00:00:00Z"}]})
        assert "must be between" in fields_of(away)["away.0.from"]
    assert not_captured(stack, body["email"])


# ----------------------------------------------------------------------------- countries

@pytest.mark.parametrize("country", ["ZZ", "ßß", "1!", "UK"])
def test_a_country_that_is_not_iso_3166_is_422(stack: harness.Stack, country: str) -> None:
    lead = grade_b(country=country)
    with stack.client("capture") as c:
        assert "ISO 3166-1" in fields_of(c.post("/v1/leads", json=lead))["country"]
        activity = c.post("/v1/activities", json={"email": lead["email"], "behaviour": "page_visit",
                                                  "name": "New Person", "company": "Newco", "country": country})
        assert "ISO 3166-1" in fields_of(activity)["country"]
    assert not_captured(stack, lead["email"])


def test_a_lower_case_country_is_stored_upper_case(stack: harness.Stack) -> None:
    with stack.client("capture") as c:
        lead_id = c.post("/v1/leads", json=grade_b(country="gb")).json()["lead_id"]
        assert c.get(f"/v1/leads/{lead_id}").json()["profile"]["country"] == "GB"


# ----------------------------------------------------------------------------- sizes

def test_a_five_megabyte_attribute_is_413_and_not_accepted(stack: harness.Stack) -> None:
    lead = grade_b(attributes={"notes": "x" * 5_000_000})
    with stack.client("capture") as c:
        assert "larger than" in fields_of(c.post("/v1/leads", json=lead), 413)["body"]
    assert not_captured(stack, lead["email"])


def test_fields_and_maps_over_their_limits_are_422_naming_them(stack: harness.Stack) -> None:
    with stack.client("capture") as c:
        long_name = fields_of(c.post("/v1/leads", json=grade_b(name="x" * (LIMITS.text_chars + 1))))
        assert "at most" in long_name["name"]
        value = fields_of(c.post("/v1/leads", json=grade_b(attributes={"k": "v" * (LIMITS.map_value_chars + 1)})))
        assert "at most" in value["attributes.k"]
        many = {f"k{i}": "v" for i in range(LIMITS.map_entries + 1)}
        assert "at most" in fields_of(c.post("/v1/leads", json=grade_b(attributes=many)))["attributes"]


def outbox_holds(stack: harness.Stack, email: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(stack.ns.database_url)
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM capture.outbox WHERE position($1::bytea in value) > 0", email.encode()))
        finally:
            await conn.close()
    return asyncio.run(count())


def published_with(stack: harness.Stack, email: str) -> bool:
    return any(e.profile.email == email for e in harness.read_events(stack.ns, topics.LEAD_CAPTURED, timeout_s=3,
                                                                         skip_invalid=True))


def test_a_lead_whose_event_is_too_large_to_publish_is_refused_never_accepted_and_lost(stack: harness.Stack) -> None:
    """Each field within its limit and the body under the body limit, but the
    lead-captured event over the largest record the service may publish: 413 before
    commit, so the lead is not captured and no outbox row waits for a broker that would
    refuse it for ever. The same lead a little smaller goes through."""
    limit = ServiceSettings().max_event_bytes
    emoji = "\N{GRINNING FACE}"  # four bytes in UTF-8
    per_value = min(LIMITS.map_value_chars, limit // (4 * LIMITS.map_entries) + 200)
    assert per_value * 4 * LIMITS.map_entries > limit, "the field limits no longer let a lead outgrow an event"
    big = grade_b(attributes={f"a{i}": emoji * per_value for i in range(LIMITS.map_entries)})
    with stack.client("capture") as c:
        refused = c.post("/v1/leads", content=orjson.dumps(big), headers={"content-type": "application/json"})
        assert "lead-captured event" in fields_of(refused, 413)["body"]
        fits = grade_b(attributes={f"a{i}": emoji * (per_value // 2) for i in range(LIMITS.map_entries // 2)})
        accepted = c.post("/v1/leads", content=orjson.dumps(fits), headers={"content-type": "application/json"})
        assert accepted.status_code == 202, accepted.text
    assert not_captured(stack, big["email"])
    assert outbox_holds(stack, big["email"]) == 0
    harness.eventually(lambda: published_with(stack, fits["email"]), what="the smaller lead published")
    assert not published_with(stack, big["email"])


# ----------------------------------------------------------------------------- one error model, documented

def test_every_service_documents_the_one_error_model(stack: harness.Stack) -> None:
    for name in harness.SERVICES:
        with stack.client(name) as c:
            doc = c.get("/openapi.json").json()
            assert "HTTPValidationError" not in doc["components"]["schemas"], name
            for path, operations in doc["paths"].items():
                for method, op in operations.items():
                    refusals = {s: r for s, r in op["responses"].items() if s.startswith("4")}
                    assert "422" in refusals, (name, method, path)
                    for status, answer in refusals.items():
                        schema = answer["content"]["application/json"]["schema"]
                        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (name, method, path, status)
            assert fields_of(c.get("/v1/no-such-thing"), 404) == {}
