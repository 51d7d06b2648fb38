"""Collateral in use over the running stack: effectiveness on deals seeded through the CRM
webhook gives the figures worked out by hand, and ranks "for this lead"; the one-message
check over HTTP (marketing publishes a segment's value proposition, reps answer, the
off-message answer ranks last with the terms it misses); the 4xx answers for bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from services.content.domain import files
from shared.events import LeadProfile, LeadScored
from tests import harness
from tests.e2e.test_content_api import graded_lead, published_item

pytestmark = pytest.mark.e2e

MESSAGE = ("Leadbridge gives sales and marketing one grading standard: every lead is scored against one agreed "
           "rubric, routed to the right rep within seconds, and nurtured until it is ready, so no lead is lost and "
           "budget follows closed revenue.")
ANSWERS = [
    ("rep-1", "field", "We give sales and marketing one agreed grading standard: each lead is scored on one rubric "
                       "and routed to the right rep in seconds, so no lead gets lost."),
    ("rep-2", "field", "Every lead is graded against the rubric sales and marketing agreed, reaches the right rep "
                       "within seconds and is nurtured until ready; budget follows closed revenue."),
    ("rep-3", "inside", "One scoring standard for marketing and sales, leads routed to the right rep fast, nurtured "
                        "when not ready, none lost."),
    ("rep-4", "inside", "We are the cheapest CRM on the market, with great customer support and a mobile app."),
]


def graded_into(stack: harness.Stack, segment: str) -> str:
    """A lead graded into ``segment`` as scoring would announce it; returns its id once content knows it."""
    lead_id = f"L-{uuid.uuid4().hex[:10]}"
    harness.produce(stack.ns, LeadScored(
        lead_id=lead_id, cause_event_id=f"c-{lead_id}", source="web_form", score=60, fit_score=40,
        engagement_score=20, grade="B", segment=segment, rubric_version="v1", occurred_at=datetime.now(UTC),
        profile=LeadProfile(email=f"{lead_id.lower()}@example.com", name="Pat", company="Acme")))
    with stack.client("content") as c:
        harness.eventually(lambda: c.get(f"/v1/leads/{lead_id}/collateral").status_code == 200,
                           what="content learning the lead's segment")
    return lead_id


def field_of(r: httpx.Response) -> list[str]:
    body: dict[str, Any] = r.json()
    return [f["field"] for f in body["fields"]]


def test_the_one_message_check_ranks_the_off_message_answer_last_and_names_what_it_misses(
        stack: harness.Stack) -> None:
    segment = f"e2e-msg-{uuid.uuid4().hex[:6]}"
    graded_into(stack, segment)
    with stack.client("content") as c:
        first = c.post(f"/v1/value-propositions/{segment}", json={"text": "An older message.", "author": "mkt"})
        assert (first.status_code, first.json()["version"]) == (201, 1), first.text
        published = c.post(f"/v1/value-propositions/{segment}", json={"text": MESSAGE, "author": "mkt"}).json()
        assert published["version"] == 2
        versions = c.get(f"/v1/value-propositions/{segment}").json()["versions"]
        assert [(v["version"], v["text"]) for v in versions] == [(2, MESSAGE), (1, "An older message.")]
        for rep, team, text in ANSWERS:
            r = c.post(f"/v1/value-propositions/{segment}/answers", json={"rep_id": rep, "team": team, "text": text})
            assert (r.status_code, r.json()["message_version"]) == (201, 2), r.text

        (report,) = c.get("/v1/reports/one-message", params={"segment": segment}).json()["segments"]
        assert report["message_version"] == 2
        key_terms = report["key_terms"]
        assert {"grading", "revenue"} <= set(key_terms)
        answers = sorted((a for t in report["teams"] for a in t["answers"]), key=lambda a: -a["consistency"])
        assert answers[-1]["rep_id"] == "rep-4"
        assert all(a["with_message"] > answers[-1]["with_message"] for a in answers[:-1])
        teams = {t["team"]: t for t in report["teams"]}
        assert teams["field"]["outliers"] == []
        (outlier,) = teams["inside"]["outliers"]
        assert outlier["rep_id"] == "rep-4" and outlier["missing_terms"] == key_terms
        assert teams["field"]["consistency"] > teams["inside"]["consistency"]
        on_message = next(a for a in teams["field"]["answers"] if a["rep_id"] == "rep-2")
        assert "revenue" not in on_message["missing_terms"]

        only_field = c.get("/v1/reports/one-message", params={"segment": segment, "team": "field"}).json()
        assert [t["team"] for t in only_field["segments"][0]["teams"]] == ["field"]


def test_bad_input_to_usage_ratings_and_the_one_message_check_is_4xx_naming_the_field(
        stack: harness.Stack) -> None:
    segment = f"e2e-bad-{uuid.uuid4().hex[:6]}"
    with stack.client("content") as c:
        r = c.post(f"/v1/value-propositions/{segment}", json={"text": MESSAGE, "author": "mkt"})
        assert (r.status_code, field_of(r)) == (422, ["segment"])
        assert "unknown segment" in r.json()["fields"][0]["reason"]
        graded_into(stack, segment)
        r = c.post(f"/v1/value-propositions/{segment}/answers", json={"rep_id": "r", "team": "t", "text": "x"})
        assert (r.status_code, field_of(r)) == (409, ["segment"])
        r = c.post(f"/v1/value-propositions/{segment}", json={"text": "", "author": "mkt"})
        assert (r.status_code, field_of(r)) == (422, ["text"])
        assert c.get(f"/v1/value-propositions/{segment}").status_code == 404
        r = c.get("/v1/reports/one-message", params={"segment": segment})
        assert (r.status_code, field_of(r)) == (404, ["segment"])

        r = c.post("/v1/collateral/no-such-item/ratings", json={"rep_id": "r", "rating": 4})
        assert (r.status_code, field_of(r)) == (404, ["item_id"])
        r = c.post("/v1/collateral/no-such-item/ratings", json={"rep_id": "r", "rating": 6})
        assert (r.status_code, field_of(r)) == (422, ["rating"])
        r = c.post("/v1/collateral/no-such-item/ratings", json={"rating": 0})
        assert (r.status_code, sorted(field_of(r))) == (422, ["rating", "rep_id"])
        r = c.post("/v1/collateral/no-such-item/usage", json={"kind": "printed", "rep_id": "r"})
        assert (r.status_code, field_of(r)) == (422, ["kind"])
        r = c.post("/v1/collateral/no-such-item/usage", json={"kind": "used_in_meeting", "rep_id": "r"})
        assert (r.status_code, field_of(r)) == (404, ["item_id"])
        assert c.get("/v1/collateral/no-such-item/effectiveness").status_code == 404


def post_outcome(stack: harness.Stack, body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    with stack.client("capture") as c:
        r = c.post("/v1/webhooks/crm/outcomes", content=raw, headers=harness.signed_webhook(raw))
        assert r.status_code == 202, r.text


def test_effectiveness_on_seeded_deals_gives_the_figures_worked_out_by_hand(stack: harness.Stack) -> None:
    """Six leads of one segment, each with a deal through the CRM webhook, all at a stage of
    this test's own (so no other test's deals are comparable); the item is shared with
    three of them (two share links, one share a rep reports) before their deals close."""
    leads = [graded_lead(stack) for _ in range(6)]
    segment = leads[0][1]
    assert {s for _, s in leads} == {segment}
    item_id = published_item(stack, segment, b"<p>Dear {{ prospect }}</p>", files.HTML)
    with stack.client("content") as c:
        for lead_id, _ in leads[:2]:
            assert c.post(f"/v1/collateral/{item_id}/shares", json={"lead_id": lead_id, "rep_id": "rex"}
                          ).status_code == 201
        r = c.post(f"/v1/collateral/{item_id}/usage", json={"kind": "shared", "rep_id": "rex",
                                                            "lead_id": leads[2][0]})
        assert (r.status_code, r.json()["version"]) == (201, 1), r.text
        r = c.post(f"/v1/collateral/{item_id}/usage", json={"kind": "used_in_meeting", "rep_id": "rex"})
        assert r.status_code == 201, r.text

    stage = f"e2e-stage-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    # (opened days ago, outcome, amount): shared on the first three
    deals = [(30, "won", "10000.00"), (20, "won", "5000.00"), (10, "lost", None),
             (40, "lost", None), (20, "won", "3000.00"), (30, "lost", None)]
    for (lead_id, _), (opened, outcome, amount) in zip(leads, deals, strict=True):
        opp = f"OPP-{uuid.uuid4().hex[:8]}"
        post_outcome(stack, {"kind": "opportunity_created", "opportunity_id": opp, "lead_id": lead_id,
                             "stage": stage, "occurred_at": (now - timedelta(days=opened)).isoformat()})
        closing: dict[str, Any] = {"kind": outcome, "opportunity_id": opp, "lead_id": lead_id,
                                   "close_date": now.date().isoformat(), "occurred_at": now.isoformat()}
        if amount is not None:
            closing |= {"amount": amount, "currency": "USD"}
        post_outcome(stack, closing)

    def measured() -> dict[str, Any] | None:
        with stack.client("content") as c:
            m: dict[str, Any] = c.get(f"/v1/collateral/{item_id}/effectiveness").json()
        done = m["overall"]["shared"]["deals"] + m["overall"]["not_shared"]["deals"] == 6
        return m if done else None

    m = harness.eventually(measured, timeout_s=30, what="content folding the six deals")
    overall = m["overall"]
    assert overall["cohorts"] == [{"segment": segment, "stage": stage}]
    # shared on: won 10,000 (30 days), won 5,000 (20 days), lost (10 days)
    assert overall["shared"] == {"deals": 3, "won": 2, "win_rate": 2 / 3, "cycle_days": 20.0, "cycle_deals": 3,
                                 "revenue": [{"currency": "USD", "total_minor": 1_500_000, "average_minor": 750_000,
                                              "deals": 2}]}
    # comparable, not shared on: lost (40 days), won 3,000 (20 days), lost (30 days)
    assert overall["not_shared"] == {"deals": 3, "won": 1, "win_rate": 1 / 3, "cycle_days": 30.0, "cycle_deals": 3,
                                     "revenue": [{"currency": "USD", "total_minor": 300_000,
                                                  "average_minor": 300_000, "deals": 1}]}
    assert overall["win_rate_lift"] == pytest.approx(1 / 3)
    assert m["by_segment"] == {segment: overall}
    with stack.client("content") as c:
        everything = c.get("/v1/reports/effectiveness").json()["items"]
        assert next(i for i in everything if i["item_id"] == item_id) == m
        # the effectiveness job ranks the item first "for this lead", ahead of one never shared
        other = published_item(stack, segment, b"<p>Hello {{ prospect }}</p>", files.HTML)
        fresh_lead, _ = graded_lead(stack)
        ranked = harness.eventually(
            lambda: (ids := [i["item_id"] for i in c.get(f"/v1/leads/{fresh_lead}/collateral").json()["items"]])
            and item_id in ids and other in ids and ids.index(item_id) < ids.index(other) and ids,
            timeout_s=30, what="the effectiveness job ranking the item")
        assert ranked.index(item_id) < ranked.index(other)


def test_low_ratings_put_an_item_on_the_revise_list_with_the_reasons(stack: harness.Stack) -> None:
    _, segment = graded_lead(stack)
    item_id = published_item(stack, segment, b"<p>Dear {{ prospect }}</p>", files.HTML)
    with stack.client("content") as c:
        for rep, stars, comment in (("rep-a", 2, "prices are last year's"), ("rep-b", 1, "wrong logo"),
                                    ("rep-c", 5, "")):
            r = c.post(f"/v1/collateral/{item_id}/ratings", json={"rep_id": rep, "rating": stars, "comment": comment})
            assert (r.status_code, r.json()["rating"]) == (201, stars), r.text
        report = c.get("/v1/reports/upkeep").json()
    revise = {r["item_id"]: r for r in report["revise"]}
    # (2 + 1 + 5) / 3 = 2.67, under 3
    assert revise[item_id] == {"item_id": item_id, "title": "Agency case study", "average_rating": 2.67,
                               "ratings": 3, "low_comments": ["wrong logo", "prices are last year's"]}  # newest first
    assert item_id not in {p["item_id"] for p in report["prune"]}  # published today: not judged yet
    assert report["thresholds"]["unused_days"] == 90
