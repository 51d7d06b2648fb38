"""Nurture's HTTP contract over the running stack: the tracks, the pool's filters and
their 422s, unknown leads 404. (How leads enter and leave the pool: test_pipeline,
test_grading.)"""

from __future__ import annotations

import pytest

from tests import harness

pytestmark = pytest.mark.e2e


def test_tracks_are_listed_with_their_cadences(stack: harness.Stack) -> None:
    with stack.client("nurture") as c:
        tracks = {t["name"]: t["cadence_days"] for t in c.get("/v1/nurture/tracks").json()}
    assert set(tracks) == {"long-term", "re-engage", "recycle", "cold"}
    assert tracks["re-engage"] < tracks["long-term"]


def test_unknown_filters_are_422_naming_the_field_and_unknown_leads_404(stack: harness.Stack) -> None:
    with stack.client("nurture") as c:
        for field, value in (("status", "sleeping"), ("track", "hot-potato")):
            r = c.get("/v1/nurture/leads", params={field: value})
            assert (r.status_code, r.json()["detail"]["field"]) == (422, field)
        r = c.get("/v1/nurture/leads", params={"limit": 0})
        assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "limit")
        r = c.get("/v1/nurture/leads/no-such-lead")
        assert (r.status_code, r.json()["detail"]["field"]) == (404, "lead_id")
        assert c.get("/v1/nurture/leads", params={"status": "nurturing", "track": "cold"}).status_code == 200
