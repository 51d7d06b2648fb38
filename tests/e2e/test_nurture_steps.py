"""Track steps fire exactly once: with nurture killed by SIGKILL in the middle of a run,
and with two nurture replicas sharing the work, every lead gets each email of its track
once (read from a real Mailpit) and each rep task once, and each step timer fired once.

Leads reach nurture as routing would hand them over (``lead-captured`` and
``lead-assigned`` produced onto the real broker); nurture runs on a compressed calendar
(a business day lasts one second) and a test track of four timed steps."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.events import LeadAssigned, LeadCaptured, LeadProfile, LeadSource, NurtureReason
from tests import harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEADS = 120
TRACK = {
    "description": "exactly-once test: four timed steps",
    "priority": 1,
    "entry": {"grades": ["C"]},
    "steps": [
        {"id": "first", "kind": "email",
         "email": {"subject": "First for {{ name }}", "text": "one {{ unsubscribe_url }}", "html": "<p>one</p>"}},
        {"id": "w1", "kind": "wait", "business_days": 1},
        {"id": "call-1", "kind": "task", "title": "Call {{ name }} (1)"},
        {"id": "w2", "kind": "wait", "business_days": 1},
        {"id": "second", "kind": "email", "email": {"subject": "Second for {{ name }}", "text": "two",
                                                    "html": "<p>two</p>"}},
        {"id": "w3", "kind": "wait", "business_days": 1},
        {"id": "call-2", "kind": "task", "title": "Call {{ name }} (2)"},
    ],
}
FIRINGS_PER_LEAD = 4  # first+w1, call-1+w2, second+w3, call-2 (completed)


@pytest.fixture
def mailpit(tmp_path: Path) -> Iterator[harness.Mailpit]:
    mail = harness.start_mailpit(tmp_path / "mailpit")
    yield mail
    mail.stop()


def nurture(ns: harness.Namespace, mail: harness.Mailpit, log: Path) -> harness.ServiceProcess:
    port = harness.free_port()
    return harness.ServiceProcess("nurture", port, ns.env(), log, extra_env={
        **mail.nurture_env(), "LEADBRIDGE_NURTURE_BUSINESS_DAY_S": "1", "LEADBRIDGE_NURTURE_TIMER_INTERVAL_S": "0.2",
        "LEADBRIDGE_NURTURE_TIMER_BATCH": "10",
        "LEADBRIDGE_NURTURE_MAX_EMAILS_PER_DAY": "50", "LEADBRIDGE_NURTURE_MAX_EMAILS_PER_WEEK": "50",
        "LEADBRIDGE_NURTURE_PUBLIC_URL": f"http://127.0.0.1:{port}"})


def hand_over(ns: harness.Namespace, run: str) -> list[str]:
    leads = [f"{run}-{i:03d}" for i in range(LEADS)]
    events: list[LeadCaptured | LeadAssigned] = []
    for lead in leads:
        events.append(LeadCaptured(lead_id=lead, capture_id=f"c-{lead}", consent=True, source=LeadSource.WEB_FORM,
                                   profile=LeadProfile(email=f"{lead}@exactly-once.example", name=lead,
                                                       company="Once Ltd")))
        events.append(LeadAssigned(lead_id=lead, assignment_id=f"a-{lead}", owner_kind="nurture",
                                   nurture_reason=NurtureReason.LOW_GRADE, rule="low", reason="low grade",
                                   grade="C", segment="smb"))
    harness.produce(ns, *events)
    return leads


def steps_fired(svc: harness.ServiceProcess) -> float:
    text = httpx.get(svc.url + "/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("leadbridge_nurture_steps_fired_total{"))


def all_completed(svc: harness.ServiceProcess, leads: list[str]) -> list[dict[str, object]] | None:
    with harness.authorised(svc.url, timeout=10) as c:
        enrollments = []
        for lead in leads:
            r = c.get(f"/v1/nurture/leads/{lead}")
            if r.status_code != 200:
                return None
            mine = [e for e in r.json()["enrollments"] if e["track"] == "exactly-once"]
            if len(mine) != 1 or mine[0]["status"] != "completed":
                return None
            enrollments.append(mine[0])
    return enrollments


@pytest.mark.parametrize("scenario", ["sigkill-mid-run", "two-replicas"])
def test_each_step_fires_once(private_namespace: harness.Namespace, mailpit: harness.Mailpit, tmp_path: Path,
                              scenario: str) -> None:
    ns, run = private_namespace, uuid.uuid4().hex[:6]
    first = nurture(ns, mailpit, tmp_path / "nurture-1.log")
    replicas = [first]
    first.start()
    try:
        r = harness.authorised(first.url).put("/v1/nurture/tracks/exactly-once", json=TRACK)
        assert r.status_code == 201, r.text
        if scenario == "two-replicas":
            second = nurture(ns, mailpit, tmp_path / "nurture-2.log")
            second.start()
            replicas.append(second)
        leads = hand_over(ns, run)
        if scenario == "sigkill-mid-run":
            harness.eventually(lambda: len(mailpit.search("subject:First")) >= LEADS // 4, timeout_s=60,
                               what="a quarter of the first emails sent")
            first.kill()  # SIGKILL: whatever was in flight is rolled back, never committed twice
            time.sleep(1)
            first.start()
        done = harness.eventually(lambda: all_completed(replicas[-1], leads), timeout_s=150, interval_s=2,
                                  what="every lead through the four steps")
        assert Counter(e["fired"] for e in done) == {FIRINGS_PER_LEAD: LEADS}
        # The mail: each step's email once per lead, by Message-ID (stable across a resend).
        messages = harness.eventually(lambda: (m := mailpit.search("to:exactly-once.example", limit=10_000))
                                      and len(m) >= 2 * LEADS and m, timeout_s=30, what="every email in Mailpit")
        distinct = {m["MessageID"]: m for m in messages}
        assert Counter(m["To"][0]["Address"].split("@")[0] for m in distinct.values()) == {lead: 2 for lead in leads}
        assert Counter(m["Subject"].split(" ")[0] for m in distinct.values()) == {"First": LEADS, "Second": LEADS}
        # SMTP has no transaction with the database: a message the server accepted just before
        # the kill, whose "sent" was not committed yet, goes again with the same Message-ID (at
        # least once, never lost). One message is in flight at a time, so a kill resends at most one.
        resent = len(messages) - len(distinct)
        print(f"{scenario}: {len(messages)} deliveries, {len(distinct)} distinct, {resent} resent")
        assert resent <= (1 if scenario == "sigkill-mid-run" else 0)
        with harness.authorised(first.url, timeout=10) as c:
            tasks = c.get("/v1/nurture/tasks", params={"kind": "track", "limit": 5000}).json()
        assert Counter(t["lead_id"] for t in tasks) == {lead: 2 for lead in leads}
        assert Counter(t["title"].split(" ")[-1] for t in tasks) == {"(1)": LEADS, "(2)": LEADS}
        if scenario == "two-replicas":
            assert all(steps_fired(s) > 0 for s in replicas), "both replicas fired steps"
    finally:
        if first.proc is not None and first.proc.poll() is None:
            sent = harness.authorised(first.url).get("/v1/nurture/messages", params={"limit": 5000}).json()
            print("messages by status:", Counter((m["status"], m["reason"]) for m in sent))
        for svc in replicas:
            print(f"--- {svc.log_path.name}\n{svc.tail(15)}")
            svc.stop()
