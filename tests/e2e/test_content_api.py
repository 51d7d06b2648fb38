"""Content's HTTP contract over the running stack: marketing adds collateral (a
draft), finds it again, and a rep asks what suits a lead content has seen graded."""

from __future__ import annotations

import pytest

from bench.leads import grade_b
from tests import harness

pytestmark = pytest.mark.e2e

ITEM = {"title": "Agency case study", "kind": "case_study", "url": "https://example.com/agency-case",
        "segments": ["e2e-segment"], "stages": ["decision"], "owner": "marketing@example.com"}


def test_collateral_is_added_as_a_draft_and_found_by_id_and_status(stack: harness.Stack) -> None:
    with stack.client("content") as c:
        r = c.post("/v1/collateral", json=ITEM)
        assert r.status_code == 201, r.text
        item = r.json()
        assert (item["status"], item["segments"], item["owner"]) == ("draft", ["e2e-segment"], ITEM["owner"])
        assert c.get(f"/v1/collateral/{item['item_id']}").json() == item
        drafts = c.get("/v1/collateral", params={"status": "draft", "segment": "e2e-segment"}).json()["items"]
        assert item["item_id"] in [i["item_id"] for i in drafts]
        published = c.get("/v1/collateral", params={"status": "published"}).json()["items"]
        assert item["item_id"] not in [i["item_id"] for i in published]


def test_bad_collateral_input_is_422_and_unknown_ids_404(stack: harness.Stack) -> None:
    with stack.client("content") as c:
        r = c.post("/v1/collateral", json={**ITEM, "kind": "poster", "url": "not a url"})
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["fields"]} == {"kind", "url"}
        r = c.get("/v1/collateral", params={"status": "lost"})
        assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "status")
        for path in ("/v1/collateral", "/v1/leads/any-lead/collateral"):
            r = c.get(path, params={"stage": "purchase"})
            assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "stage"), path
        assert c.get("/v1/collateral/no-such-item").status_code == 404
        r = c.get("/v1/leads/no-such-lead/collateral")
        assert (r.status_code, r.json()["fields"][0]["field"]) == (404, "lead_id")


def test_a_scored_lead_gets_its_segment_and_never_a_draft(stack: harness.Stack) -> None:
    with stack.client("capture") as c:
        lead_id = c.post("/v1/leads", json=grade_b()).json()["lead_id"]
    with stack.client("content") as c:
        found = harness.eventually(lambda: (r := c.get(f"/v1/leads/{lead_id}/collateral")).status_code == 200
                                   and r.json(), what="content seeing the lead graded")
        segment = found["segment"]
        assert segment
        draft = c.post("/v1/collateral", json={**ITEM, "segments": [segment], "stages": []}).json()
        items = c.get(f"/v1/leads/{lead_id}/collateral").json()["items"]
        assert draft["item_id"] not in [i["item_id"] for i in items]
