"""The boards in a real headless Chromium (Debian's, driven by Playwright) against the
real stack: a manager gives a queued lead to a rep and sets a rep away, and the next lead
skips that rep; marketing sees the grades per campaign; a sales approver approves a
rubric draft marketing approved and it becomes scoring's active version; a bad form input
gets a clear message on the page; axe-core finds no serious or critical violation on any
board, at phone size (390×844, screenshots under reports/) and at desktop size."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer
from playwright.sync_api import Page, expect

from bench.leads import grade_a
from services.app.domain.boards import service_figures
from shared import topics
from tests import harness
from tests.browser.conftest import DESKTOP, PHONE, Browser

pytestmark = pytest.mark.browser

MANAGER, MARKETING, APPROVER, OPERATOR = "mgr-field", "marketing", "approver", "operator"


def post_lead(stack: harness.Stack, body: dict[str, Any]) -> str:
    with stack.client("capture") as c:
        r = c.post("/v1/leads", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["lead_id"])


def owner_of(stack: harness.Stack, lead_id: str) -> dict[str, Any] | None:
    with stack.client("routing") as c:
        r = c.get(f"/v1/leads/{lead_id}/routing")
    return r.json()["owner"] if r.status_code == 200 else None


def queued_at(stack: harness.Stack, team: str, lead_id: str) -> bool:
    with stack.client("routing") as c:
        queues = c.get("/v1/queues", params={"per_team": 500}).json()["queues"]
    return any(q["team"] == team and any(lead["lead_id"] == lead_id for lead in q["leads"]) for q in queues)


def set_available(stack: harness.Stack, rep_id: str) -> None:
    with stack.client("routing") as c:
        assert c.put(f"/v1/reps/{rep_id}/availability", json={"away": []}).status_code == 200


@pytest.fixture
def manager_page(stack: harness.Stack, browser: Browser) -> Iterator[Page]:
    page = browser.page(MANAGER)
    page.goto("/manager")
    yield page
    set_available(stack, "us-1")  # the shared stack's other tests route to us-1 too


def test_a_manager_gives_a_queued_lead_to_a_rep_and_sets_a_rep_away_and_the_next_lead_skips_them(
        stack: harness.Stack, manager_page: Page) -> None:
    page = manager_page
    queued = post_lead(stack, grade_a(country="DE", name="Quinn Queued"))  # no field rep covers Germany
    harness.eventually(lambda: queued_at(stack, "field", queued), what="the lead queued at field")
    page.goto(page.url)  # the board as it is now

    entry = page.locator("#queue li").filter(has_text=queued)
    entry.get_by_label(f"Rep for {queued}").select_option("us-2")
    entry.get_by_role("button", name="Give to rep").click()
    expect(page.locator("p.ok")).to_contain_text("us-2's now")
    assert (owner_of(stack, queued) or {}).get("rep_id") == "us-2"
    expect(page.locator("#queue li").filter(has_text=queued)).to_have_count(0)

    rep = page.locator('li[data-rep-id="us-1"]')
    rep.get_by_label("Away for").select_option("24")
    rep.get_by_role("button", name="Set away").click()
    expect(page.locator("p.ok")).to_contain_text("us-1 is away")
    expect(page.locator('li[data-rep-id="us-1"]')).to_contain_text("Away")

    # us-1 and us-2 both sell to North America; with us-1 away the next lead is us-2's
    nxt = post_lead(stack, grade_a(country="US"))
    owner = harness.eventually(lambda: owner_of(stack, nxt), what="the next lead routed")
    assert (owner["team"], owner["rep_id"]) == ("field", "us-2")
    with stack.client("routing") as c:
        decision = c.get(f"/v1/leads/{nxt}/routing").json()["decisions"][0]
    assert {"rep_id": "us-1", "skipped": "away"}.items() <= next(
        cand for cand in decision["candidates"] if cand["rep_id"] == "us-1").items()

    page.locator('li[data-rep-id="us-1"]').get_by_role("button", name="Back now").click()
    expect(page.locator("p.ok")).to_contain_text("us-1 is available again")


def test_a_bad_capacity_or_a_lead_taken_meanwhile_gets_a_clear_message_not_a_500(
        stack: harness.Stack, manager_page: Page) -> None:
    page = manager_page
    rep = page.locator('li[data-rep-id="us-2"]')
    rep.get_by_label("Capacity").fill("lots")
    with page.expect_response(lambda r: "/capacity" in r.url) as answer:
        rep.get_by_role("button", name="Save").click()
    assert answer.value.status == 422
    expect(page.locator("p.error")).to_contain_text("Capacity must be a whole number")

    queued = post_lead(stack, grade_a(country="DE"))
    harness.eventually(lambda: queued_at(stack, "field", queued), what="the lead queued at field")
    page.goto("/manager")
    entry = page.locator("#queue li").filter(has_text=queued)
    with stack.client("routing") as c:  # someone else takes it before the manager clicks
        assignment_id = entry.get_attribute("data-assignment-id")
        assert c.post("/v1/queues/field/take", json={"rep_id": "us-1",
                                                     "assignment_id": assignment_id}).status_code == 201
    entry.get_by_role("button", name="Give to rep").click()
    expect(page.locator("p.error")).to_contain_text("no longer waiting in the queue")


def test_marketing_sees_the_grades_per_campaign(stack: harness.Stack, browser: Browser) -> None:
    post_lead(stack, grade_a(campaign="expo-2026"))

    def graded() -> int:
        with stack.client("scoring") as c:
            groups = c.get("/v1/grades", params={"by": "campaign"}).json()["groups"]
        return sum(g["grades"]["A"] for g in groups if g["key"] == "expo-2026")

    expected = harness.eventually(graded, what="the expo lead graded")
    page = browser.page(MARKETING)
    page.goto("/marketing")
    section = page.locator("#grades-by-campaign")
    expect(section.locator('svg[role="img"]')).to_have_attribute("aria-label", "Leads by grade per campaign")
    section.get_by_text("The figures").click()
    row = section.locator("tbody tr").filter(has=page.locator("th", has_text="expo-2026"))
    a_count = int(row.locator("td").first.inner_text())
    assert a_count >= expected


def test_a_sales_approver_approves_the_draft_marketing_approved_and_it_becomes_active(
        stack: harness.Stack, browser: Browser) -> None:
    with stack.client("scoring") as c:
        active = c.get("/v1/rubrics/active").json()
        version = f"browser-{uuid.uuid4().hex[:6]}"  # the same rules under a new version: grades unchanged
        document = re.sub(r"(?m)^version:.*$", f"version: {version}", active["document"], count=1)
        created = c.post("/v1/rubrics", content=document.encode(), params={"created_by": "browser test"},
                         headers={"content-type": "application/yaml"})
        assert created.status_code == 201, created.text

    marketing = browser.page(MARKETING)
    marketing.goto("/marketing")
    marketing.locator(f"#rubric-{version}").get_by_role("button", name=f"Approve {version} for marketing").click()
    expect(marketing.locator("p.ok")).to_contain_text("needs the other side's approval")

    with stack.client("content") as c:  # a collateral item the approver (sa-1) is to review
        item = c.post("/v1/collateral", json={"title": f"Case study {version}", "kind": "case_study",
                                              "owner": "marketing", "actor": {"id": "mkt-1", "role": "marketing"}})
        assert item.status_code == 201, item.text
        item_id = item.json()["item_id"]
        assert c.post(f"/v1/collateral/{item_id}/versions", files={"file": ("case.txt", b"Hello {{ rep }}",
                                                                              "text/plain")},
                      data={"actor_id": "mkt-1", "actor_role": "marketing"}).status_code == 201
        reviewers = [{"id": "rex", "role": "field_rep"}, {"id": "sa-1", "role": "sales_manager"}]
        assert c.post(f"/v1/collateral/{item_id}/submit", json={
            "actor": {"id": "mkt-1", "role": "marketing"}, "reviewers": reviewers}).status_code == 200

    approver = browser.page(APPROVER)
    approver.goto("/marketing")
    approver.locator(f"#collateral-{item_id}").get_by_role("button", name="for sales").click()
    expect(approver.locator("p.ok")).to_contain_text(f"Case study {version}")
    with stack.client("content") as c:
        reviews = c.get(f"/v1/collateral/{item_id}").json()["reviews"]
    assert [(r["reviewer"], r["decision"]) for r in reviews] == [("sa-1", "approved")]
    card = approver.locator(f"#rubric-{version}")
    expect(card.get_by_role("button", name=f"Approve {version} for marketing")).to_have_count(0)
    card.get_by_role("button", name=f"Approve {version} for sales").click()
    expect(approver.locator("p.ok")).to_contain_text(f"Rubric {version} is approved by both sides and active")
    expect(approver.locator(f"#rubric-{version}")).to_have_attribute("data-status", "active")
    with stack.client("scoring") as c:
        assert c.get("/v1/rubrics/active").json()["version"] == version


def test_the_operator_sees_each_services_health_and_its_dead_letters_with_the_replay_command(
        stack: harness.Stack, browser: Browser) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.ns.bootstrap)
    producer.send(stack.ns.topic(topics.LEAD_CAPTURED), key=b"operator-poison", partition=0,
                  value=b'{"lead_id": "operator-poison", "profile": 42}',
                  headers=[("ce_id", b"operator-poison-1")]).get(timeout=10)
    producer.close()
    harness.eventually(lambda: service_figures(httpx.get(stack.url("scoring") + "/metrics").text).dead_letters
                       .get("lead-captured"), what="scoring counting the dead letter")

    page = browser.page(OPERATOR)
    page.goto("/operator")
    for service in ("capture", "scoring", "routing", "nurture", "content", "app"):
        # a health check asks the broker and the database: slow on a busy machine
        expect(page.locator(f'[data-service="{service}"]')).to_have_attribute("data-state", "ok", timeout=30_000)
    scoring = page.locator('[data-service="scoring"]')
    command = "python -m shared.dlq replay --topic lead-captured --service scoring"
    expect(scoring.locator("pre", has_text=command)).to_be_visible()
    expect(scoring.locator(".dead", has_text="from lead-captured")).to_be_visible()


BOARDS = [("manager", MANAGER, "/manager", "#queue"), ("marketing", MARKETING, "/marketing", "#rubrics"),
          ("operator", OPERATOR, "/operator", '#services:not(:has([data-state="loading"]))')]


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize(("board", "account", "path", "ready"), BOARDS, ids=[b[0] for b in BOARDS])
def test_each_board_has_no_serious_accessibility_violation(browser: Browser, board: str, account: str, path: str,
                                                           ready: str, size: str) -> None:
    page = browser.page(account, PHONE if size == "phone" else DESKTOP)
    page.goto(path)
    page.wait_for_selector(ready, timeout=30_000)
    if size == "phone":
        browser.screenshot(page, f"board-{board}-phone")
    browser.check_accessible(page, f"the {board} board at {size} size")
