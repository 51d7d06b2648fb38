"""Nurture's HTTP contract over the running stack: the tracks, the pool's filters and
their 422s, unknown leads 404. (How leads enter and leave the pool: test_pipeline,
test_grading.)"""

from __future__ import annotations

import pytest

from shared.auth import Role
from tests import harness

pytestmark = pytest.mark.e2e


def test_tracks_are_data_seeded_then_versioned_over_http(stack: harness.Stack) -> None:
    mia = harness.token([Role.marketing], subject="mkt-mia", name="Mia Marketing")
    with stack.client("nurture", token=mia) as c:
        tracks = {t["name"]: t for t in c.get("/v1/nurture/tracks").json()}
        assert set(tracks) >= {"long-term", "re-engage", "recycle", "cold", "no-show"}
        assert [s["kind"] for s in tracks["no-show"]["steps"]] == ["email", "wait", "task"]
        doc = {k: v for k, v in tracks["cold"].items() if k not in ("name", "version")}
        doc["description"] = "Poor fit: newsletter only (v2)"
        r = c.put("/v1/nurture/tracks/cold", json=doc)
        assert (r.status_code, r.json()["version"]) == (201, tracks["cold"]["version"] + 1)
        again = c.get("/v1/nurture/tracks/cold").json()
        assert (again["description"], again["created_by"]) == ("Poor fit: newsletter only (v2)", "Mia Marketing")
        assert c.get("/v1/nurture/tracks/cold", params={"version": 1}).json()["description"] == tracks["cold"][
            "description"]
        bad = {**doc, "steps": [{"id": "w", "kind": "wait", "business_days": 0}]}
        r = c.put("/v1/nurture/tracks/cold", json=bad)
        assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "steps.0.wait.business_days")
        r = c.put("/v1/nurture/tracks/cold", json={**doc, "then": {"action": "next", "track": "nowhere"}})
        assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "cold.then.track")
        assert c.get("/v1/nurture/tracks/nowhere").status_code == 404


def test_unknown_filters_are_422_naming_the_field_and_unknown_leads_404(stack: harness.Stack) -> None:
    with stack.client("nurture") as c:
        for field, value in (("status", "sleeping"), ("track", "hot-potato")):
            r = c.get("/v1/nurture/leads", params={field: value})
            assert (r.status_code, r.json()["fields"][0]["field"]) == (422, field)
        r = c.get("/v1/nurture/leads", params={"limit": 0})
        assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "limit")
        r = c.get("/v1/nurture/leads/no-such-lead")
        assert (r.status_code, r.json()["fields"][0]["field"]) == (404, "lead_id")
        assert c.get("/v1/nurture/leads", params={"status": "nurturing", "track": "cold"}).status_code == 200
