"""make demo, part two: the brief's webinar campaign at a tenth of its size, on the running
stack (make run). 60 companies invited, 10 register, 6 attend.

Marketing defines the webinar in nurture (it starts in about half a minute); the invitees
are captured naming it; the invitation and registration lists go in as bulk lists; every
registrant gets a pre-event call task (a rep records one prospect's interests, the
presenter lists them); attendances come in as capture's activities (scoring re-grades the
attendees, routing gives them to sales); at the end plus nurture's grace time the no-show
timer marks the others, who join the no-show track and get the recording by email
(Mailpit shows it), except those who did not consent. Prints the funnel."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

CAPTURE = os.environ.get("LEADBRIDGE_CAPTURE_URL", "http://127.0.0.1:8001").rstrip("/")
NURTURE = os.environ.get("LEADBRIDGE_NURTURE_URL", "http://127.0.0.1:8004").rstrip("/")
MAILPIT = os.environ.get("LEADBRIDGE_MAILPIT_URL", "http://127.0.0.1:8025").rstrip("/")
INVITED, REGISTERED, ATTENDED = 60, 10, 6
NO_CONSENT = {7, 9}  # two of the no-shows did not consent to email
STARTS_IN_S = 35


def _wait(what: str, check: Any, timeout_s: float = 90, every_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every_s)
    raise TimeoutError(f"[demo] timed out waiting for {what}")


def run_webinar(client: httpx.Client, run: str) -> None:
    cid = f"webinar-{run}"
    now = datetime.now(UTC).replace(microsecond=0)
    starts, ends = now + timedelta(seconds=STARTS_IN_S), now + timedelta(seconds=STARTS_IN_S + 5)
    print(f"\n[demo] the webinar campaign: {cid}, starting {starts:%H:%M:%S} UTC, "
          f"{INVITED} invited, {REGISTERED} registering, {ATTENDED} attending")
    r = client.post(f"{NURTURE}/v1/campaigns", json={
        "campaign_id": cid, "name": "Winning back big clients", "type": "webinar", "owner": "marketing",
        "starts_at": (now - timedelta(days=14)).isoformat(), "cost": "6000", "currency": "USD",
        "goal": "two large clients", "event": {
            "starts_at": starts.replace(tzinfo=None).isoformat(), "ends_at": ends.replace(tzinfo=None).isoformat(),
            "time_zone": "UTC", "registration_url": "https://events.example.com/winback"}})
    r.raise_for_status()
    _wait("capture to learn the campaign",
          lambda: cid in {c["campaign_id"] for c in client.get(f"{CAPTURE}/v1/campaigns").json()})
    leads = []
    for i in range(INVITED):
        body = {"email": f"guest{i:02d}.{run}@webinar-{run}.example", "name": f"Guest {i:02d}",
                "company": f"Company {i:02d}", "title": "Sales Manager", "country": "US", "company_size": 20,
                "source": "list_import", "consent": i not in NO_CONSENT, "campaign": cid}
        posted = client.post(f"{CAPTURE}/v1/leads", json=body)
        posted.raise_for_status()
        leads.append(posted.json()["lead_id"])

    def listed(lead_ids: list[str], status: str) -> dict[str, Any] | None:
        r = client.post(f"{NURTURE}/v1/campaigns/{cid}/members", json={"lead_ids": lead_ids, "status": status})
        return r.json() if r.status_code == 202 else None  # 422 until nurture has heard of them all

    _wait("the invitation list", lambda: listed(leads, "invited"))
    registrants, attendees = leads[:REGISTERED], leads[:ATTENDED]
    _wait("the registrations", lambda: listed(registrants, "registered"))

    calls = _wait("the pre-event calls", lambda: len(t := client.get(f"{NURTURE}/v1/nurture/tasks", params={
        "campaign": cid, "kind": "pre-event"}).json()) == REGISTERED and t)
    before = sum(datetime.fromisoformat(t["due_at"]) < starts for t in calls)
    owners = sorted({t["rep_id"] or f"{t['team']} queue" for t in calls})
    print(f"  before the event: {len(calls)} pre-event call tasks, {before} due before the start, for {owners}")
    client.patch(f"{NURTURE}/v1/nurture/tasks/{calls[0]['task_id']}",
                 json={"interests": "multi-currency invoicing", "status": "done"}).raise_for_status()
    presenter = client.get(f"{NURTURE}/v1/nurture/campaigns/{cid}/registrants").json()["registrants"]
    noted = [f"{p['name']}: {p['interests']}" for p in presenter if p["interests"]]
    print(f"  the presenter's list: {len(presenter)} registrants, interests noted: {noted}")

    for lead in attendees:
        client.post(f"{CAPTURE}/v1/leads/{lead}/activities", json={
            "behaviour": "webinar_attended", "campaign": cid, "detail": {"minutes": "48"}}).raise_for_status()
    wait_s = max(0.0, (ends - datetime.now(UTC)).total_seconds())
    print(f"  {ATTENDED} attended; the event ends in {wait_s:.0f}s, then nurture's grace time passes "
          "(LEADBRIDGE_NURTURE_NO_SHOW_GRACE_S) and the no-show timer fires")

    def report() -> dict[str, Any]:
        return dict(client.get(f"{NURTURE}/v1/campaigns/{cid}/report").json())

    final = _wait("the no-show timer", lambda: (r := report())["no_show"] == REGISTERED - ATTENDED and r,
                  timeout_s=wait_s + 120, every_s=2)
    no_show_track = _wait("the no-show track", lambda: len(e := client.get(f"{NURTURE}/v1/nurture/enrollments", params={
        "track": "no-show", "campaign": cid}).json()) == REGISTERED - ATTENDED and e, timeout_s=30)
    consenting = REGISTERED - ATTENDED - len(NO_CONSENT)

    def recordings() -> list[dict[str, Any]]:
        try:
            found = httpx.get(f"{MAILPIT}/api/v1/search", params={"query": f"to:webinar-{run}.example",
                                                                   "limit": 500}, timeout=10).json()["messages"]
        except httpx.HTTPError:
            return []
        return [m for m in found if m["Subject"].startswith("Sorry we missed you")]

    try:
        mails = _wait("the recordings in Mailpit", lambda: len(m := recordings()) >= consenting and m, timeout_s=30)
    except TimeoutError:
        mails = recordings()
    sent = [m for m in client.get(f"{NURTURE}/v1/nurture/messages", params={"campaign": cid}).json()
            if m["track"] == "no-show"]
    by_status: dict[str, int] = {}
    for m in sent:
        key = m["status"] + (f" ({m['reason']})" if m["reason"] else "")
        by_status[key] = by_status.get(key, 0) + 1
    regraded = 0
    for lead in attendees:
        view = client.get(f"{CAPTURE}/v1/leads/{lead}").json()
        regraded += view.get("grade") in ("A", "B")

    print(f"\nFunnel of {cid}, GET {NURTURE}/v1/campaigns/{cid}/report (chart: .../report/funnel.svg)")
    width = max(s["members"] for s in final["funnel"]) or 1
    for step in final["funnel"]:
        bar = "#" * round(30 * step["members"] / width)
        print(f"  {step['step']:12} {step['members']:>4}  {bar}")
    print(f"  {'no_show':12} {final['no_show']:>4}  {'#' * round(30 * final['no_show'] / width)}")
    print(f"  attendees re-graded A or B by their attendance: {regraded} of {ATTENDED}")
    print(f"  no-shows on the no-show track: {len(no_show_track)}; the recording emailed to {len(mails)} "
          f"(the {len(NO_CONSENT)} without consent get none): {MAILPIT}")
    print(f"  the no-show track's emails, as nurture decided at sending time: {by_status}")
