"""Routing's loose ends that the funnel depends on (issue 10), on the real broker and
database with routing as its own process: a lead that turns hot in a queue or at inside
sales reaches a field rep within seconds, an opportunity from the CRM frees its rep's
capacity, and a rep takes the next lead from a queue over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer

from shared import codec, topics
from shared.events import DealOutcomeKind, DealOutcomeRecorded, Event
from tests import harness
from tests.integration.test_routing_flows import demo_docs, owner_of, routing_of, scored, start_routing, write_org

pytestmark = [pytest.mark.integration, pytest.mark.slow]

US_FIELD = {"us-am-1", "us-am-2", "us-am-3", "us-am-4"}
ENTERPRISE_US_FIELD = {"us-am-1", "us-am-2", "us-am-4"}  # US field reps who sell to enterprise


def produce(ns: harness.Namespace, spec: topics.TopicSpec, events: Sequence[Event], key: str = "lead_id") -> None:
    producer = KafkaProducer(bootstrap_servers=ns.bootstrap)
    try:
        for e in events:
            producer.send(ns.topic(spec), codec.encode(e), key=str(getattr(e, key)).encode(),
                          headers=codec.cloudevent_headers(e, "test"))
        producer.flush()
    finally:
        producer.close()


def opportunity(lead_id: str, kind: DealOutcomeKind = DealOutcomeKind.OPPORTUNITY_CREATED,
                amount_minor: int | None = None) -> DealOutcomeRecorded:
    return DealOutcomeRecorded(
        lead_id=lead_id, outcome_id=f"out-{uuid.uuid4()}", matched_by="lead_id", source="salesforce",
        opportunity_id=f"opp-{lead_id}", kind=kind, amount_minor=amount_minor,
        currency="USD" if amount_minor is not None else None,
        close_date=date(2026, 12, 1) if kind is DealOutcomeKind.WON else None)


def until(client: httpx.Client, lead_id: str, check: Any, what: str, timeout_s: float = 20) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = client.get(f"/v1/leads/{lead_id}/routing")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if check(body) else None
    return dict(harness.eventually(probe, timeout_s, what=what))


def open_of(client: httpx.Client, rep_id: str) -> int:
    (rep,) = [r for r in client.get("/v1/reps").json()["reps"] if r["rep_id"] == rep_id]
    return int(rep["open"])


@pytest.fixture
def always_working(private_namespace: harness.Namespace, tmp_path: Path) -> Iterator[httpx.Client]:
    """The demo organisation with every team working around the clock (so the hot-lead
    clock is one wall hour whenever the test runs), US field reps holding one open lead
    each, and the inside-sales reps away: a B lead waits in the inside-sales queue."""
    org, rules = demo_docs()
    now = datetime.now(UTC)
    for team in org["teams"]:
        team["hours"] = "mon-sun 00:00-24:00"
    for rep in org["reps"]:
        rep.pop("hours", None)
        if rep["id"] in US_FIELD:
            rep["capacity"] = 1
        if rep["team"] == "inside_sales" and rep["id"] != "is-1":
            rep["away"] = [{"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=7)).isoformat(),
                            "reason": "offsite"}]
    svc = start_routing(private_namespace, tmp_path / "routing.log", write_org(tmp_path / "org.yaml", org, rules))
    try:
        with harness.authorised(svc.url, timeout=10) as client:
            yield client
    finally:
        svc.stop()


def test_a_lead_turning_hot_at_inside_sales_or_in_its_queue_reaches_a_field_rep_within_seconds(
        private_namespace: harness.Namespace, always_working: httpx.Client) -> None:
    client = always_working
    # The brief's CEO of a 5,000-person software company: B on fit, inside sales qualifies it.
    produce(private_namespace, topics.LEAD_SCORED, [scored("ceo", "B", segment="ent-tech-na")])
    inside = owner_of(client, "ceo")
    assert (inside["owner_kind"], inside["rep_id"]) == ("rep", "is-1")
    # The CEO requests a demo: scoring says hot. A field rep has it within seconds, on the hot clock.
    produce(private_namespace, topics.LEAD_SCORED, [scored("ceo", "A", hot=True, segment="ent-tech-na")])
    hot = until(client, "ceo", lambda b: b["owner"]["team"] == "field", "the hot CEO with a field rep", 15)
    owner = hot["owner"]
    assert owner["rep_id"] in ENTERPRISE_US_FIELD and owner["rule"] == "hot-intent-to-field"
    assert owner["trigger"] == "hot"
    due = datetime.fromisoformat(owner["due_at"]) - datetime.fromisoformat(owner["assigned_at"])
    assert due == timedelta(hours=1)  # the hot-lead SLA, not the field team's two days
    assert [a["status"] for a in hot["assignments"]] == ["handed_on", "open"]
    assert open_of(client, "is-1") == 0 and open_of(client, owner["rep_id"]) == 1


def test_a_hot_lead_waiting_in_the_inside_sales_queue_goes_to_a_field_rep(
        private_namespace: harness.Namespace, tmp_path: Path) -> None:
    org, rules = demo_docs()
    now = datetime.now(UTC)
    away = [{"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=7)).isoformat()}]
    for team in org["teams"]:
        team["hours"] = "mon-sun 00:00-24:00"
    for rep in org["reps"]:
        rep.pop("hours", None)
        if rep["team"] == "inside_sales":
            rep["away"] = away  # nobody in inside sales: a B lead waits in its queue
    svc = start_routing(private_namespace, tmp_path / "routing.log", write_org(tmp_path / "org.yaml", org, rules))
    try:
        with harness.authorised(svc.url, timeout=10) as client:
            produce(private_namespace, topics.LEAD_SCORED, [scored("queued", "B", segment="ent-tech-na")])
            queued = owner_of(client, "queued")
            assert (queued["owner_kind"], queued["team"]) == ("queue", "inside_sales")
            produce(private_namespace, topics.LEAD_SCORED, [scored("queued", "A", hot=True, segment="ent-tech-na")])
            hot = until(client, "queued", lambda b: b["owner"]["owner_kind"] == "rep", "the hot lead at a rep", 15)
            assert hot["owner"]["team"] == "field" and hot["owner"]["rep_id"] in ENTERPRISE_US_FIELD
            assert [a["status"] for a in hot["assignments"]] == ["handed_on", "open"]
            queues = {q["team"]: q["queued"] for q in client.get("/v1/queues").json()["queues"]}
            assert queues["inside_sales"] == 0
    finally:
        svc.stop()


def test_an_opportunity_frees_the_reps_capacity_and_a_rep_takes_the_next_lead_from_the_queue(
        private_namespace: harness.Namespace, always_working: httpx.Client) -> None:
    client = always_working
    # Three A leads fill the three US enterprise field reps (one open lead each); the fourth queues.
    produce(private_namespace, topics.LEAD_SCORED, [scored(f"a{i}", "A", segment="ent-tech-na") for i in range(3)])
    holders = {owner_of(client, f"a{i}")["rep_id"] for i in range(3)}
    assert holders == ENTERPRISE_US_FIELD
    produce(private_namespace, topics.LEAD_SCORED, [scored("a3", "A", segment="ent-tech-na")])
    assert owner_of(client, "a3")["owner_kind"] == "queue"

    # The CRM reports an opportunity for a0: its assignment converts, its rep is free again.
    rep = owner_of(client, "a0")["rep_id"]
    produce(private_namespace, topics.DEAL_OUTCOME_RECORDED, [opportunity("a0")])
    converted = until(client, "a0", lambda b: b["owner"]["status"] == "converted", "a0 converted")
    assert converted["owner"]["deal"]["status"] == "opportunity" and open_of(client, rep) == 0
    produce(private_namespace, topics.LEAD_SCORED, [scored("a4", "A", segment="ent-tech-na")])
    assert owner_of(client, "a4")["rep_id"] == rep  # to the freed rep, not the queue
    produce(private_namespace, topics.DEAL_OUTCOME_RECORDED, [opportunity("a0", DealOutcomeKind.WON, 5_000_000)])
    won = until(client, "a0", lambda b: b["owner"]["deal"]["status"] == "won", "a0 won")
    assert (won["owner"]["deal"]["amount_minor"], won["owner"]["deal"]["currency"]) == (5_000_000, "USD")

    # Take the next lead from the field queue by hand, over HTTP; bad input is named.
    take = "/v1/queues/{}/take"
    unknown = client.post(take.format("nowhere"), json={"rep_id": "us-am-3"})
    assert unknown.status_code == 404 and unknown.json()["fields"][0]["field"] == "team"
    nobody = client.post(take.format("field"), json={"rep_id": "nobody"})
    assert nobody.status_code == 404 and nobody.json()["fields"][0]["field"] == "rep_id"
    other = client.post(take.format("field"), json={"rep_id": "is-1"})
    assert other.status_code == 403 and "is in team 'inside_sales'" in other.json()["fields"][0]["reason"]
    missing = client.post(take.format("field"), json={})
    assert missing.status_code == 422 and missing.json()["fields"][0]["field"] == "rep_id"
    manager = harness.token(["manager"], subject="morgan", name="Morgan Reyes", teams=["field"])
    with harness.authorised(str(client.base_url), manager) as as_manager:  # the decision names the caller
        taken = as_manager.post(take.format("field"), json={"rep_id": "us-am-3"})
    assert taken.status_code == 201, taken.text
    assert taken.json()["lead_id"] == "a3" and taken.json()["assignment"]["rep_id"] == "us-am-3"
    history = routing_of(client, "a3")
    assert [a["status"] for a in history["assignments"]] == ["taken", "open"]
    assert history["decisions"][-1]["trigger"] == "taken"
    assert history["decisions"][-1]["reason"] == "taken from the field queue by Morgan Reyes for us-am-3"
    assert history["owner"]["due_at"] is not None
    empty = client.post(take.format("field"), json={"rep_id": "us-am-3"})
    assert empty.status_code == 409 and empty.json()["fields"] == [
        {"field": "team", "reason": "the 'field' queue is empty"}]
