"""Nurture's email on the real broker, database and Mailpit: a track's first email
arrives with working tracked links and a one-click unsubscribe (RFC 8058); after the
unsubscribe the track's next step sends nothing; a person without consent gets nothing.

Leads reach nurture as routing hands them over (``lead-captured`` and ``lead-assigned``
produced onto the broker); a business day lasts three seconds."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared import topics
from shared.events import LeadAssigned, LeadCaptured, LeadProfile, LeadSource, NurtureReason
from tests import harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def mailpit(tmp_path: Path) -> Iterator[harness.Mailpit]:
    mail = harness.start_mailpit(tmp_path / "mailpit")
    yield mail
    mail.stop()


@pytest.fixture
def nurture(private_namespace: harness.Namespace, mailpit: harness.Mailpit,
            tmp_path: Path) -> Iterator[harness.ServiceProcess]:
    port = harness.free_port()
    svc = harness.ServiceProcess("nurture", port, private_namespace.env(), tmp_path / "nurture.log", extra_env={
        **mailpit.nurture_env(), "LEADBRIDGE_NURTURE_BUSINESS_DAY_S": "3",
        "LEADBRIDGE_NURTURE_TIMER_INTERVAL_S": "0.2", "LEADBRIDGE_NURTURE_MAX_EMAILS_PER_DAY": "10",
        "LEADBRIDGE_NURTURE_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    svc.start()
    yield svc
    print(svc.tail(20))
    svc.stop()


def hand_over(ns: harness.Namespace, lead_id: str, email: str, *, consent: bool) -> None:
    harness.produce(ns, LeadCaptured(lead_id=lead_id, capture_id=f"c-{lead_id}", consent=consent,
                                     source=LeadSource.WEB_FORM,
                                     profile=LeadProfile(email=email, name="Grace Hopper", company="Navy Labs")),
                    LeadAssigned(lead_id=lead_id, assignment_id=f"a-{lead_id}", owner_kind="nurture",
                                 nurture_reason=NurtureReason.MISSED_FOLLOW_UP, rule="sla", reason="missed",
                                 grade="C", segment="smb", attempt=2))


def test_unsubscribe_stops_the_next_step_links_are_tracked_and_no_consent_means_no_mail(
        private_namespace: harness.Namespace, nurture: harness.ServiceProcess, mailpit: harness.Mailpit) -> None:
    ns, run = private_namespace, uuid.uuid4().hex[:6]
    grace, silent = f"grace-{run}@navy.example", f"silent-{run}@navy.example"
    hand_over(ns, f"L-{run}", grace, consent=True)
    hand_over(ns, f"S-{run}", silent, consent=False)
    (summary,) = harness.eventually(lambda: mailpit.search(f"to:{grace}"), timeout_s=30, what="the first email")
    assert summary["Subject"] == "Still looking, Grace?"
    message = mailpit.message(summary["ID"])
    headers = mailpit.headers(summary["ID"])
    (unsubscribe,) = re.findall(r"<([^>]+)>", headers["List-Unsubscribe"][0])
    assert headers["List-Unsubscribe-Post"] == ["List-Unsubscribe=One-Click"]
    assert unsubscribe.startswith(nurture.url + "/v1/nurture/unsubscribe/")
    assert unsubscribe in message["Text"] and unsubscribe in message["HTML"]

    # GET only asks; the one-click POST unsubscribes
    page = httpx.get(unsubscribe, timeout=10)
    assert page.status_code == 200 and grace in page.text and 'method="post"' in page.text
    done = httpx.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert done.status_code == 200 and "no more marketing email" in done.text

    # the tracked link (still working after the unsubscribe) leads where the template said,
    # and comes back as engagement
    tracked = re.findall(re.escape(nurture.url) + r"/v1/nurture/r/[\w-]+/\d+", message["Text"])[0]
    r = httpx.get(tracked, follow_redirects=False, timeout=10)
    assert (r.status_code, r.headers["location"]) == (302, "https://leadbridge.example/book-a-call")
    engaged = harness.read_events(ns, topics.NURTURE_MESSAGE_ENGAGED, timeout_s=3)
    assert [(e.lead_id, e.behaviour, e.url) for e in engaged] == [
        (f"L-{run}", "email_click", "https://leadbridge.example/book-a-call")]

    # the track's next email was due two business days (six seconds) after the first
    time.sleep(9)
    with harness.authorised(nurture.url, timeout=10) as c:
        (enrollment,) = c.get(f"/v1/nurture/leads/L-{run}").json()["enrollments"]
        silent_messages = c.get("/v1/nurture/messages", params={"lead_id": f"S-{run}"}).json()
    assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "unsubscribed")
    assert [m["Subject"] for m in mailpit.search(f"to:{grace}")] == ["Still looking, Grace?"]
    assert mailpit.search(f"to:{silent}") == []
    assert silent_messages and {(m["status"], m["reason"]) for m in silent_messages} == {("suppressed", "no-consent")}
