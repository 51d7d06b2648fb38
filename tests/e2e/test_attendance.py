"""A webinar platform's attendance report on the real broker and database: a signed
webhook or a CSV upload to capture becomes the registrants' and attendees' activities,
which move them along nurture's funnel; the same report again changes nothing, an
unsigned one is a 401, and a malformed CSV row is a 422 naming its line (nothing of
the file accepted)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests import harness
from tests.e2e.test_campaigns import fields_of, new_campaign_id, webinar

pytestmark = pytest.mark.e2e

REGISTERED_AT = (datetime.now(UTC) - timedelta(days=2)).isoformat()


def defined(stack: harness.Stack) -> str:
    cid = new_campaign_id()
    with stack.client("nurture") as nurture, stack.client("capture") as capture:
        assert nurture.post("/v1/campaigns", json=webinar(cid)).status_code == 201
        harness.eventually(lambda: cid in {c["campaign_id"] for c in capture.get("/v1/campaigns").json()},
                           what="capture knowing the campaign")
    return cid


def person(i: int) -> dict[str, Any]:
    return {"email": f"viewer{i}.{uuid.uuid4().hex[:6]}@example.com", "name": f"Viewer {i}",
            "company": f"Company {i}", "country": "US"}


def statuses(stack: harness.Stack, cid: str, emails: list[str]) -> list[str | None]:
    with stack.client("nurture") as nurture, stack.client("capture") as capture:
        members = {m["lead_id"]: m["status"] for m in nurture.get(
            f"/v1/campaigns/{cid}/members", params={"limit": 1000}).json()["members"]}
        out: list[str | None] = []
        for email in emails:
            lead = capture.get("/v1/leads", params={"email": email})
            out.append(members.get(lead.json()["lead_id"]) if lead.status_code == 200 else None)
        return out


def deliver(c: httpx.Client, body: dict[str, Any], **signing: Any) -> httpx.Response:
    raw = orjson.dumps(body)
    return c.post("/v1/webhooks/zoom/attendance", content=raw,
                  headers=signing.pop("headers", None) or harness.signed_webhook(raw, source="zoom", **signing))


def test_a_signed_attendance_report_moves_registrants_and_attendees_once(stack: harness.Stack) -> None:
    cid = defined(stack)
    people = [person(i) for i in range(3)]
    emails = [p["email"] for p in people]
    body = {"campaign_id": cid, "attendees": [
        {**p, "registered_at": REGISTERED_AT, "attended": i < 2, **({"minutes_watched": 40 + i} if i < 2 else {})}
        for i, p in enumerate(people)]}
    with stack.client("capture") as c:
        unsigned = c.post("/v1/webhooks/zoom/attendance", json=body)
        assert (unsigned.status_code, fields_of(unsigned)) == (401, ["webhook-id"]), unsigned.text
        unknown = deliver(c, {**body, "campaign_id": "no-such-webinar"})
        assert (unknown.status_code, fields_of(unknown)) == (422, ["campaign_id"]), unknown.text
        bad = deliver(c, {**body, "attendees": [{**body["attendees"][0], "minutes_watched": -1}]})
        assert (bad.status_code, fields_of(bad)) == (422, ["attendees.0.minutes_watched"]), bad.text
        assert statuses(stack, cid, emails) == [None, None, None]  # nothing of the refused ones was taken

        raw = orjson.dumps(body)
        headers = harness.signed_webhook(raw, source="zoom")
        r = c.post("/v1/webhooks/zoom/attendance", content=raw, headers=headers)
        assert r.status_code == 202, r.text
        assert (r.json()["activities"], r.json()["leads_created"]) == (5, 3)
        harness.eventually(lambda: statuses(stack, cid, emails) == ["attended", "attended", "registered"],
                           what="nurture moving the two attendees to attended and the third to registered")

        replayed = c.post("/v1/webhooks/zoom/attendance", content=raw, headers=headers)
        assert (replayed.status_code, fields_of(replayed)) == (401, ["webhook-id"])
        redelivered = deliver(c, body)  # the platform sends the same report again, as a new delivery
        assert redelivered.status_code == 202, redelivered.text
        assert (redelivered.json()["activities"], redelivered.json()["already_recorded"],
                redelivered.json()["leads_created"]) == (0, 5, 0)

        def engagements() -> list[list[str]]:
            return [[t["behaviour"] for t in c.get("/v1/leads", params={"email": e}).json()["timeline"]
                     if t["type"] == "engaged" and t["campaign"] == cid] for e in emails]

        # each registration and attendance is on the lead's timeline once, whatever came twice
        once = [["webinar_registered", "webinar_attended"]] * 2 + [["webinar_registered"]]
        harness.eventually(lambda: [sorted(b, reverse=True) for b in engagements()] == once,
                           what="capture's timelines showing each activity once")
    assert statuses(stack, cid, emails) == ["attended", "attended", "registered"]


def csv_of(rows: list[str]) -> bytes:
    return ("email,registered_at,attended,minutes_watched,name,company,country\n" + "\n".join(rows) + "\n").encode()


def test_a_csv_attendance_report_with_a_malformed_row_is_refused_naming_its_line_and_a_good_one_moves_members(
        stack: harness.Stack) -> None:
    cid = defined(stack)
    people = [person(i) for i in range(3)]
    emails = [p["email"] for p in people]
    rows = [f"{p['email']},{REGISTERED_AT},{'yes' if i == 0 else 'no'},{30 if i == 0 else ''},"
            f"{p['name']},{p['company']},{p['country']}" for i, p in enumerate(people)]
    malformed = [rows[0], rows[1].replace(",no,", ",perhaps,"), rows[2]]
    with stack.client("capture") as c:
        def upload(data: bytes, campaign: str = cid) -> httpx.Response:
            return c.post(f"/v1/campaigns/{campaign}/attendance",
                          files={"file": ("attendance.csv", data, "text/csv")})

        bad = upload(csv_of(malformed))
        assert (bad.status_code, fields_of(bad)) == (422, ["line 3.attended"]), bad.text
        assert "boolean" in bad.json()["fields"][0]["reason"]
        unknown = upload(csv_of(rows), "no-such-webinar")
        assert (unknown.status_code, fields_of(unknown)) == (422, ["campaign_id"]), unknown.text
        assert all(c.get("/v1/leads", params={"email": e}).status_code == 404 for e in emails)  # all or nothing

        good = upload(csv_of(rows))
        assert good.status_code == 202, good.text
        assert (good.json()["attendees"], good.json()["activities"], good.json()["leads_created"]) == (3, 4, 3)
    harness.eventually(lambda: statuses(stack, cid, emails) == ["attended", "registered", "registered"],
                       what="nurture moving the CSV's attendee to attended and the others to registered")
