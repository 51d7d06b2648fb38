"""Content's collateral library over the running stack (real broker, database and file
storage): marketing drafts an item and uploads a real PDF, sales reviews it (asking for
changes, answered by a new version), publishing without sales' approval is refused,
the published item is found by its text and for a lead, comes back byte-identical, is
shared, and the opened link is a view that re-scores the lead."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from bench.leads import grade_b
from services.content.domain import files
from services.content.tests import samples
from shared import topics
from tests import harness

pytestmark = pytest.mark.e2e

MARKETING = {"id": "mia@example.com", "role": "marketing"}
REP = {"id": "rex@example.com", "role": "field_rep"}
MANAGER = {"id": "sam@example.com", "role": "sales_manager"}
REVIEWERS = [REP, MANAGER]


def graded_lead(stack: harness.Stack) -> tuple[str, str]:
    """A lead captured and graded, as content has seen it: (lead id, segment)."""
    with stack.client("capture") as c:
        lead_id = c.post("/v1/leads", json=grade_b()).json()["lead_id"]
    with stack.client("content") as c:
        found = harness.eventually(lambda: (r := c.get(f"/v1/leads/{lead_id}/collateral")).status_code == 200
                                   and r.json(), what="content seeing the lead graded")
    return lead_id, found["segment"]


def item(segment: str, **kw: Any) -> dict[str, Any]:
    return {"title": "Agency case study", "kind": "case_study", "summary": "How a media agency doubled its pipeline",
            "segments": [segment], "stages": ["decision"], "owner": "mia@example.com", "actor": MARKETING, **kw}


def upload(c: httpx.Client, item_id: str, data: bytes, content_type: str = files.PDF,
           actor: dict[str, str] = MARKETING) -> httpx.Response:
    return c.post(f"/v1/collateral/{item_id}/versions", files={"file": ("case.pdf", data, content_type)},
                  data={"actor_id": actor["id"], "actor_role": actor["role"]})


def as_reviewer(c: httpx.Client, who: dict[str, str]) -> httpx.Client:
    """A client signed in as ``who``: a review is made by the signed-in reviewer."""
    return harness.authorised(str(c.base_url), harness.token(["sales_approver", "manager", "rep"], subject=who["id"]))


def approve(c: httpx.Client, item_id: str, who: dict[str, str]) -> httpx.Response:
    with as_reviewer(c, who) as reviewer:
        return reviewer.post(f"/v1/collateral/{item_id}/reviews", json={"actor": who, "decision": "approve"})


def test_the_full_lifecycle_over_http(stack: harness.Stack) -> None:
    lead_id, segment = graded_lead(stack)
    first, second = samples.pdf("Agency onboarding figures 2025"), samples.pdf("Agency onboarding zeppelin 2026")
    with stack.client("content") as c:
        r = c.post("/v1/collateral", json=item(segment))
        assert r.status_code == 201, r.text
        item_id = r.json()["item_id"]
        assert r.json()["status"] == "draft"
        assert upload(c, item_id, first).status_code == 201
        r = c.post(f"/v1/collateral/{item_id}/submit", json={"actor": MARKETING, "reviewers": REVIEWERS})
        assert r.json()["status"] == "in_review", r.text
        with as_reviewer(c, {"id": "someone-else"}) as impostor:  # a review in the manager's name, not theirs
            r = impostor.post(f"/v1/collateral/{item_id}/reviews", json={"actor": MANAGER, "decision": "approve"})
            assert (r.status_code, r.json()["fields"][0]["field"]) == (403, "actor.id"), r.text
        with as_reviewer(c, MANAGER) as manager:
            r = manager.post(f"/v1/collateral/{item_id}/reviews", json={"actor": MANAGER, "decision": "request_changes",
                                                                        "comment": "Use the 2026 figures"})
        assert r.json()["status"] == "changes_requested"
        r = c.post(f"/v1/collateral/{item_id}/submit", json={"actor": MARKETING, "reviewers": REVIEWERS})
        assert (r.status_code, r.json()["fields"][0]["field"]) == (409, "version")  # same version: not an answer
        r = upload(c, item_id, second)
        assert (r.status_code, r.json()["version"]) == (201, 2)
        assert r.json()["sha256"] == hashlib.sha256(second).hexdigest()
        assert c.post(f"/v1/collateral/{item_id}/submit",
                      json={"actor": MARKETING, "reviewers": REVIEWERS}).json()["status"] == "in_review"
        assert approve(c, item_id, REP).json()["status"] == "in_review"
        r = c.post(f"/v1/collateral/{item_id}/publish", json={"actor": MARKETING})
        assert r.status_code == 409, r.text
        assert r.json()["fields"][1:] == [{"field": "approvals.sales_manager", "reason": "1 more approval"}]
        assert approve(c, item_id, MANAGER).json()["status"] == "approved"
        r = c.post(f"/v1/collateral/{item_id}/publish", json={"actor": MARKETING})
        assert (r.json()["status"], r.json()["published_version"]) == ("published", 2)

        detail = c.get(f"/v1/collateral/{item_id}").json()
        assert [v["version"] for v in detail["versions"]] == [1, 2]  # the old one stays, for audit
        assert [(rv["reviewer"], rv["version"], rv["decision"]) for rv in detail["reviews"]] == [
            (MANAGER["id"], 1, "changes_requested"), (REP["id"], 2, "approved"), (MANAGER["id"], 2, "approved")]
        history = c.get(f"/v1/collateral/{item_id}/history").json()["history"]
        assert [h["action"] for h in history] == ["create", "revise", "submit", "request_changes", "revise",
                                                  "submit", "approve", "approve", "publish"]
        assert history[3]["comment"] == "Use the 2026 figures" and history[3]["version"] == 1

        # the PDF comes back byte-identical; reps get the latest published version
        f = c.get(f"/v1/collateral/{item_id}/file")
        assert (f.content, f.headers["content-type"]) == (second, files.PDF)
        assert c.get(f"/v1/collateral/{item_id}/versions/1/file").content == first
        # its text is searchable
        found = c.get("/v1/collateral", params={"q": "zeppelin"}).json()["items"]
        assert [i["item_id"] for i in found] == [item_id]
        assert c.get("/v1/collateral", params={"q": "zeppelins onboarding"}).json()["items"][0]["item_id"] == item_id
        # found for the lead
        for_lead = c.get(f"/v1/leads/{lead_id}/collateral", params={"stage": "decision"}).json()["items"]
        assert item_id in [i["item_id"] for i in for_lead]
        # the audit trail names who made each request (the token), the history the body's actor
        trail = c.get("/v1/audit", params={"subject_type": "collateral", "subject_id": item_id}).json()["entries"]
        assert [(e["action"], e["actor"]["subject"]) for e in trail] == [
            ("collateral.create", "test-all-roles"), ("collateral.revise", "test-all-roles"),
            ("collateral.submit", "test-all-roles"), ("collateral.request_changes", MANAGER["id"]),
            ("collateral.revise", "test-all-roles"), ("collateral.submit", "test-all-roles"),
            ("collateral.approve", REP["id"]), ("collateral.approve", MANAGER["id"]),
            ("collateral.publish", "test-all-roles")]

    events = [json.loads(r.value) for r in harness.read_topic(stack.ns.bootstrap,
                                                               stack.ns.topic(topics.COLLATERAL_STATUS_CHANGED))]
    mine = [e for e in events if e["item_id"] == item_id]
    assert [(e["action"], e["to_status"], e["actor_id"]) for e in mine][-3:] == [
        ("approve", "in_review", REP["id"]), ("approve", "approved", MANAGER["id"]),
        ("publish", "published", MARKETING["id"])]


def published_item(stack: harness.Stack, segment: str, data: bytes, content_type: str = files.PDF) -> str:
    with stack.client("content") as c:
        item_id: str = c.post("/v1/collateral", json=item(segment)).json()["item_id"]
        assert upload(c, item_id, data, content_type).status_code == 201
        c.post(f"/v1/collateral/{item_id}/submit", json={"actor": MARKETING, "reviewers": REVIEWERS})
        approve(c, item_id, REP)
        approve(c, item_id, MANAGER)
        assert c.post(f"/v1/collateral/{item_id}/publish", json={"actor": MARKETING}).json()["status"] == "published"
    return item_id


def test_an_opened_share_link_is_a_view_that_re_scores_the_lead(stack: harness.Stack) -> None:
    lead_id, segment = graded_lead(stack)
    template = b"<p>Dear {{ prospect }} at {{ company }}, from {{ rep }}</p>"
    item_id = published_item(stack, segment, template, files.HTML)
    with stack.client("scoring") as s:
        before = s.get(f"/v1/leads/{lead_id}/score").json()
    with stack.client("content") as c:
        r = c.post(f"/v1/collateral/{item_id}/shares", json={"lead_id": lead_id, "rep_id": "rex", "rep_name": "Rex"})
        assert r.status_code == 201, r.text
        link = r.json()["link"]
        again = c.post(f"/v1/collateral/{item_id}/shares", json={"lead_id": lead_id, "rep_id": "rex"})
        assert (again.status_code, again.json()["link"]) == (200, link)
        opened = c.get(link)
        assert opened.status_code == 200 and opened.headers["content-type"].startswith(files.HTML)
        assert b"from Rex</p>" in opened.content and b"{{" not in opened.content
        assert c.get(f"/v1/collateral/{item_id}").json()["usage"] == {"shared": 1, "viewed": 1}
    with stack.client("scoring") as s:
        after = harness.eventually(
            lambda: (r := s.get(f"/v1/leads/{lead_id}/score").json())["engagement_score"]
            > before["engagement_score"] and r, what="scoring counting the view as engagement")
    assert after["score"] > before["score"]
    assert any("content_download" in line["rule"] for line in after["ledger"]), after["ledger"]


def test_bad_collateral_input_is_4xx_naming_the_field_and_reason(stack: harness.Stack) -> None:
    _, segment = graded_lead(stack)
    with stack.client("content") as c:
        r = c.post("/v1/collateral", json={**item(segment), "kind": "poster", "url": "not a url"})
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["fields"]} == {"kind", "url"}
        r = c.post("/v1/collateral", json=item("no-such-segment"))
        assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "segments")
        assert "no-such-segment" in r.json()["fields"][0]["reason"]
        r = c.post("/v1/collateral", json=item(segment, actor=REP))
        assert (r.status_code, r.json()["fields"][0]["field"]) == (403, "actor.role")
        item_id = c.post("/v1/collateral", json=item(segment)).json()["item_id"]
        r = upload(c, item_id, samples.png(), files.PDF)  # a PNG claiming to be a PDF
        assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "file")
        r = upload(c, item_id, b"MZ\x90\x00binary", "application/x-msdownload")
        assert (r.status_code, r.json()["fields"][0]["field"]) == (415, "file")
        r = upload(c, item_id, b"%PDF-" + b"0" * (2 * 1024 * 1024), files.PDF)  # over the e2e limit of 1 MiB
        assert (r.status_code, r.json()["fields"][0]["field"]) == (413, "file")
        r = approve(c, item_id, REP)  # a draft cannot be approved
        assert (r.status_code, r.json()["fields"][0]["field"]) == (409, "status")
        r = c.post(f"/v1/collateral/{item_id}/submit", json={"actor": MARKETING, "reviewers": REVIEWERS})
        assert (r.status_code, r.json()["fields"][0]["field"]) == (409, "version")  # nothing uploaded yet
        r = c.get("/v1/collateral", params={"status": "lost"})
        assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "status")
        for path in ("/v1/collateral", "/v1/leads/any-lead/collateral"):
            r = c.get(path, params={"stage": "purchase"})
            assert (r.status_code, r.json()["fields"][0]["field"]) == (422, "stage"), path
        assert c.get("/v1/collateral/no-such-item").status_code == 404
        assert c.get("/v1/links/no-such-token").status_code == 404
        r = c.get("/v1/leads/no-such-lead/collateral")
        assert (r.status_code, r.json()["fields"][0]["field"]) == (404, "lead_id")
        r = c.post(f"/v1/collateral/{item_id}/shares", json={"lead_id": "nobody", "rep_id": "rex"})
        assert (r.status_code, r.json()["fields"][0]["field"]) == (409, "status")  # a draft is not shared
