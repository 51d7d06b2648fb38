"""Capture's HTTP contract: every kind of bad input is a 422 naming the field and
the reason, and nothing is accepted or published for it; unknown ids are 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.leads import grade_b
from tests import harness

pytestmark = pytest.mark.e2e

FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()

BAD_INPUT = [
    ("missing email", {"email": None}, "email", "Field required"),
    ("email without @", {"email": "ann.example.com"}, "email", "not a valid email"),
    ("empty name", {"name": ""}, "name", "at least 1 character"),
    ("missing company", {"company": None}, "company", "Field required"),
    ("three-letter country", {"country": "GBR"}, "country", "at most 2 characters"),
    ("country with digits", {"country": "G1"}, "country", "two-letter ISO"),
    ("unknown source", {"source": "carrier_pigeon"}, "source", "Input should be"),
    ("consent missing", {"consent": None}, "consent", "Field required"),
    ("consent not a boolean", {"consent": "maybe"}, "consent", "valid boolean"),
    ("negative company size", {"company_size": -5}, "company_size", "greater than or equal to 1"),
    ("company size not a number", {"company_size": "big"}, "company_size", "valid integer"),
    ("occurred_at without time zone", {"occurred_at": "2026-11-01T10:00:00"}, "occurred_at", "timezone"),
    ("occurred_at not a date", {"occurred_at": "yesterday"}, "occurred_at", "datetime"),
    ("occurred_at in the future", {"occurred_at": FUTURE}, "occurred_at", "future"),
    ("unknown field", {"favourite_colour": "teal"}, "favourite_colour", "Extra inputs"),
    ("attributes not strings", {"attributes": {"a": {"nested": 1}}}, "attributes.a", "valid string"),
]


def body_with(change: dict[str, Any]) -> dict[str, Any]:
    body = grade_b()
    for key, value in change.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(("case", "change", "field", "reason"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_422_naming_field_and_reason(stack: harness.Stack, case: str, change: dict[str, Any],
                                                   field: str, reason: str) -> None:
    body = body_with(change)
    with stack.client("capture") as c:
        r = c.post("/v1/leads", json=body)
        assert r.status_code == 422, r.text
        errors = r.json()["fields"]
        assert any(e["field"] == field and reason.lower() in e["reason"].lower() for e in errors), errors
        if isinstance(body.get("email"), str) and "@" in body["email"]:
            # nothing was accepted for it
            assert c.get("/v1/leads", params={"email": body["email"]}).status_code == 404


def test_every_bad_field_is_reported_at_once(stack: harness.Stack) -> None:
    with stack.client("capture") as c:
        r = c.post("/v1/leads", json={"email": "nope", "name": "", "company": "X", "country": "USA",
                                      "source": "fax", "consent": True})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["fields"]} == {"email", "name", "country", "source"}


def test_a_body_that_is_not_json_is_422(stack: harness.Stack) -> None:
    with stack.client("capture") as c:
        r = c.post("/v1/leads", content=b"{email: ", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["fields"][0]["reason"]


def test_unknown_lead_is_404(stack: harness.Stack) -> None:
    with stack.client("capture") as c:
        r = c.get("/v1/leads/no-such-lead")
        assert r.status_code == 404
        assert r.json()["fields"][0]["field"] == "lead_id"
        assert c.post("/v1/leads/no-such-lead/activities", json={"behaviour": "page_visit"}).status_code == 404


def test_activity_with_unknown_behaviour_is_422(stack: harness.Stack) -> None:
    with stack.client("capture") as c:
        lead_id = c.post("/v1/leads", json=grade_b()).json()["lead_id"]
        r = c.post(f"/v1/leads/{lead_id}/activities", json={"behaviour": "telepathy"})
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "behaviour"
