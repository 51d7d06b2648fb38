"""The rep's view in a real headless Chromium, on the real stack: a lead posted to capture
appears on its rep's open page without a reload (server-sent events, only that rep's
page), two taps record the follow-up and stop the clock (no follow-up-missed after the
8 s inside-sales SLA of the test org), a retried tap is recorded once; the call tasks
before a webinar; bad input gets a clear message; axe-core on each page; screenshots at
390×844 under reports/browser/."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from bench.leads import grade_a, grade_b
from shared import codec, topics
from tests import harness
from tests.browser.conftest import DESKTOP, PHONE, Browser, Tools

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

INSIDE_REPS = ("is-1", "is-2")


def post_lead(stack: harness.Stack, body: dict[str, Any]) -> str:
    with stack.client("capture") as c:
        r = c.post("/v1/leads", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["lead_id"])


def routing_of(stack: harness.Stack, lead_id: str) -> dict[str, Any]:
    with stack.client("routing") as c:
        r = c.get(f"/v1/leads/{lead_id}/routing")
    assert r.status_code == 200, r.text
    return dict(r.json())


def owner_of(stack: harness.Stack, lead_id: str) -> dict[str, Any]:
    return dict(harness.eventually(lambda: routing_of(stack, lead_id)["owner"], what=f"lead {lead_id} assigned"))


def missed(stack: harness.Stack, lead_id: str) -> list[Any]:
    spec = topics.FOLLOW_UP_MISSED
    found = []
    for record in harness.read_topic(stack.ns.bootstrap, stack.ns.topic(spec), timeout_s=2):
        try:
            event = codec.decode(spec.value_model, record.value)
        except codec.DecodeError:
            continue
        if event.lead_id == lead_id:
            found.append(event)
    return found


def open_rep_pages(browser: Browser, viewport: dict[str, int]) -> dict[str, Any]:
    """Both inside-sales reps signed in on their lists, each page's live stream connected."""
    pages = {}
    for rep in INSIDE_REPS:
        page = browser.page(rep, viewport)
        expect(page).to_have_url(browser.app_url + "/rep")
        expect(page.locator("#leads[data-live='ready']")).to_be_attached()
        page.evaluate("window.__notReloaded = true")
        pages[rep] = page
    return pages


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_new_lead_appears_live_and_two_taps_stop_its_clock(browser: Browser, stack: harness.Stack,
                                                              viewport: dict[str, int]) -> None:
    phone = viewport is PHONE
    pages = open_rep_pages(browser, viewport)
    body = grade_b(name=f"Blake {uuid.uuid4().hex[:4]}", phone="+1 212 555 0199")
    posted = time.monotonic()
    lead_id = post_lead(stack, body)
    owner = owner_of(stack, lead_id)
    assert owner["rep_id"] in INSIDE_REPS and owner["team"] == "inside_sales"
    mine = pages[owner["rep_id"]]
    (theirs,) = [p for rep, p in pages.items() if rep != owner["rep_id"]]

    item = mine.locator(f"li[data-lead-id='{lead_id}']")
    expect(item).to_be_visible(timeout=10_000)
    print(f"\n[browser] lead posted → on its rep's open page in {time.monotonic() - posted:.2f}s (no reload)")
    assert mine.evaluate("window.__notReloaded === true"), "the list changed without reloading the page"
    expect(item).to_contain_text(body["name"])
    expect(item).to_contain_text("left")  # the clock is running
    assert theirs.locator(f"li[data-lead-id='{lead_id}']").count() == 0, "only the assigned rep's page shows it"
    if phone:
        browser.check_accessible(mine, "the rep's leads")
        browser.screenshot(mine, "rep-leads")

    item.get_by_role("link").click()  # tap one: the card
    expect(mine.get_by_role("heading", level=1)).to_contain_text(body["name"])
    expect(mine.locator("a[href='tel:+12125550199']")).to_be_visible()
    expect(mine.locator(f"a[href='mailto:{body['email']}']")).to_be_visible()
    key = mine.locator("#follow-up input[name=idempotency_key]").first.input_value()
    csrf = mine.locator("#follow-up input[name=csrf]").first.input_value()
    mine.get_by_role("button", name="Called", exact=True).click()  # tap two: recorded
    expect(mine.locator("#follow-up .ok")).to_contain_text("The follow-up clock has stopped")

    # A flaky connection sends the same tap again: the app and routing record it once.
    retry = mine.request.post(f"/rep/assignments/{owner['assignment_id']}/follow-ups",
                              form={"csrf": csrf, "idempotency_key": key, "outcome": "called", "lead_id": lead_id})
    assert retry.status == 200 and "Recorded" in retry.text()
    history = routing_of(stack, lead_id)
    assert [(f["outcome"], f["on_time"]) for f in history["follow_ups"]] == [("called", True)]
    assert history["owner"]["status"] == "followed_up"
    if phone:
        browser.check_accessible(mine, "the lead card")
        browser.screenshot(mine, "rep-lead-card")

    # The clock stopped: past the 8 s SLA (and the timer's next run) no follow-up-missed fires.
    due = datetime.fromisoformat(owner["due_at"])
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 3)
    assert missed(stack, lead_id) == []
    assert routing_of(stack, lead_id)["owner"]["assignment_id"] == owner["assignment_id"]
    mine.goto("/rep")
    expect(mine.locator(f"li[data-lead-id='{lead_id}']")).to_contain_text("clock stopped")


def test_bad_input_gets_a_clear_message_on_the_page(browser: Browser, stack: harness.Stack) -> None:
    page = browser.page("is-1")
    answer = page.goto("/rep/leads/no-such-lead")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("No such lead")
    expect(page.get_by_role("alert")).to_contain_text("no-such-lead")
    assert "Traceback" not in page.content()
    browser.check_accessible(page, "the unknown-lead page")
    browser.screenshot(page, "rep-unknown-lead")

    # A follow-up on an assignment that closed meanwhile (the rep disqualified the lead on
    # another device): the card still offers it; the tap gets a clear refusal.
    lead_id = post_lead(stack, grade_a(name="Quinn Closed"))
    owner = owner_of(stack, lead_id)
    assert owner["team"] == "field"  # a 60 s clock: time enough to open the card
    rep = browser.page(owner["rep_id"])
    rep.goto(f"/rep/leads/{lead_id}")
    expect(rep.get_by_role("button", name="Called", exact=True)).to_be_visible()
    token = harness.token(roles=["rep"], rep_id=owner["rep_id"], subject=owner["rep_id"])
    with stack.client("routing", token=token) as routing:
        r = routing.post(f"/v1/assignments/{owner['assignment_id']}/follow-ups",
                         json={"rep_id": owner["rep_id"], "outcome": "disqualified", "note": "no budget"})
        assert r.status_code == 201, r.text
    rep.get_by_role("button", name="Called", exact=True).click()
    expect(rep.locator("#follow-up .error")).to_contain_text("closed")
    assert "Traceback" not in rep.content()
    browser.check_accessible(rep, "a follow-up on a closed assignment")
    browser.screenshot(rep, "rep-closed-assignment")

    # An expired session: back to sign-in, saying so.
    expired = browser.page()
    expired.context.add_cookies([{"name": "lb_access", "url": browser.app_url,
                                  "value": harness.token(roles=["rep"], rep_id="is-1", subject="is-1", ttl_s=-300)}])
    expired.goto("/rep")
    expect(expired).to_have_url(f"{browser.app_url}/signin?reason=expired&next=/rep")
    expect(expired.get_by_role("status")).to_have_text("Your session has expired. Sign in again.")
    browser.check_accessible(expired, "the sign-in page")
    browser.screenshot(expired, "signin-expired")
    browser.sign_in(expired, "is-1", "wrong password")
    expect(expired.get_by_role("alert")).to_contain_text("do not match")
    browser.sign_in(expired, "is-1")
    expect(expired).to_have_url(browser.app_url + "/rep")


def test_disqualifying_takes_one_tap_on_a_reason_and_sends_the_lead_to_nurture(browser: Browser,
                                                                              stack: harness.Stack) -> None:
    lead_id = post_lead(stack, grade_a(name="Dana Disqualified"))
    owner = owner_of(stack, lead_id)
    page = browser.page(owner["rep_id"])
    page.goto(f"/rep/leads/{lead_id}")
    page.get_by_text("Disqualify…").click()
    page.get_by_role("button", name="No budget").click()
    expect(page.locator("#follow-up .ok")).to_contain_text("goes to marketing's nurture")
    expect(page.get_by_role("link", name="Back to my leads")).to_be_visible()
    browser.check_accessible(page, "a disqualified lead")
    browser.screenshot(page, "rep-disqualified")
    history = routing_of(stack, lead_id)
    assert [(f["outcome"], f["note"]) for f in history["follow_ups"]] == [("disqualified", "No budget")]
    assert history["owner"]["owner_kind"] == "nurture"


def test_the_calls_before_a_webinar_take_the_prospects_interests(browser: Browser, stack: harness.Stack) -> None:
    cid = f"browser-webinar-{uuid.uuid4().hex[:6]}"
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    with stack.client("nurture") as nurture:
        r = nurture.post("/v1/campaigns", json={
            "campaign_id": cid, "name": "Invoicing webinar", "type": "webinar", "owner": "marketing",
            "starts_at": (starts - timedelta(days=7)).isoformat(), "event": {
                "starts_at": starts.replace(tzinfo=None).isoformat(),
                "ends_at": (starts + timedelta(hours=1)).replace(tzinfo=None).isoformat(), "time_zone": "UTC"}})
        assert r.status_code == 201, r.text
    with stack.client("capture") as capture:
        harness.eventually(lambda: cid in {c["campaign_id"] for c in capture.get("/v1/campaigns").json()},
                           what="capture knowing the webinar")
    lead_id = post_lead(stack, grade_b(name="Wendy Webinar", campaign=cid))
    rep_id = owner_of(stack, lead_id)["rep_id"]

    with stack.client("nurture") as nurture:
        def registered() -> bool:
            r = nurture.post(f"/v1/campaigns/{cid}/members", json={"lead_ids": [lead_id], "status": "registered"})
            assert r.status_code in (202, 422), r.text
            return r.status_code == 202
        harness.eventually(registered, what="the lead registered")
        harness.eventually(lambda: nurture.get("/v1/nurture/tasks", params={"rep_id": rep_id,
                                                                            "campaign": cid}).json(),
                           what="the pre-event call task")

    page = browser.page(rep_id)
    page.get_by_role("link", name="Call tasks").click()
    task = page.locator("form", has_text="Wendy Webinar")
    expect(task).to_contain_text("Invoicing webinar")
    browser.check_accessible(page, "the call tasks")
    task.get_by_label("What they want to hear about").fill("multi-currency invoicing")
    task.get_by_role("button", name="Called: save and close").click()
    expect(page.locator("form", has_text="Wendy Webinar").get_by_role("status")).to_have_text(
        "Marked called and saved.")
    browser.screenshot(page, "rep-call-tasks")
    with stack.client("nurture") as nurture:
        registrants = nurture.get(f"/v1/nurture/campaigns/{cid}/registrants").json()["registrants"]
    assert [(x["lead_id"], x["interests"], x["called"]) for x in registrants] == [
        (lead_id, "multi-currency invoicing", True)]


def test_first_load_ships_well_under_100_kb_of_script(browser: Browser) -> None:
    page = browser.page()
    scripts: dict[str, int] = {}  # by URL: the sign-in page and the list load the same (cached) file
    page.on("response", lambda r: scripts.__setitem__(r.url, len(r.body()))
            if r.request.resource_type == "script" else None)
    browser.sign_in(page, "is-2")
    page.wait_for_load_state("load")
    size = sum(scripts.values())
    print(f"\n[browser] script on the rep's first load: {size / 1024:.1f} KiB in {len(scripts)} files")
    assert 0 < size < 70 * 1024


def test_the_htmx_the_app_serves_is_the_pinned_npm_release(browser_tools: Tools) -> None:
    pinned = json.loads((harness.ROOT / "tools" / "browser" / "package.json").read_text())["dependencies"]["htmx.org"]
    served = harness.ROOT / "services" / "app" / "static" / f"htmx-{pinned}.min.js"
    npm = browser_tools.axe_js.parents[1] / "htmx.org" / "dist" / "htmx.min.js"
    assert served.read_bytes() == npm.read_bytes(), f"{served.name} differs from htmx.org@{pinned} on npm"
    assert f"/static/{served.name}" in (harness.ROOT / "services" / "app" / "templates" / "base.html").read_text()
