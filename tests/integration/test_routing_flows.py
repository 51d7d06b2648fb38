"""Routing on the real broker and database, run as its own process (``python -m
services.routing``): the intent-led company of the brief end to end, escalation of missed
follow-ups to nurture, and SLA timers that came due while routing was stopped."""

from __future__ import annotations

import copy
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kafka import KafkaProducer

from services.routing.documents import read_org_file
from services.routing.domain.config import compile_config
from services.routing.domain.sla import start_clock
from shared import codec, topics
from shared.events import Event, FollowUpEscalated, FollowUpMissed, LeadAssigned, LeadProfile, LeadScored
from tests import harness

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO_ORG = harness.ROOT / "deploy" / "demo" / "org.yaml"
UK_FIELD = {"uk-am-1", "uk-am-2", "uk-am-3"}


def demo_docs() -> tuple[dict[str, Any], dict[str, Any]]:
    org, rules = read_org_file(DEMO_ORG)
    assert rules is not None
    return copy.deepcopy(org), copy.deepcopy(rules)


def write_org(path: Path, org: dict[str, Any], rules: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"org": org, "rules": rules}))
    return path


def start_routing(ns: harness.Namespace, log: Path, org_file: Path) -> harness.ServiceProcess:
    svc = harness.ServiceProcess("routing", harness.free_port(), ns.env(), log,
                                 extra_env={"LEADBRIDGE_ROUTING_ORG_FILE": str(org_file),
                                            "LEADBRIDGE_ROUTING_TIMER_INTERVAL_S": "0.2"})
    svc.start()
    return svc


def scored(lead_id: str, grade: str, *, country: str = "US", hot: bool = False, segment: str = "ent-tech-na",
           source: str = "web_form", company: str | None = None) -> LeadScored:
    return LeadScored(lead_id=lead_id, cause_event_id=f"cause-{uuid.uuid4()}", source=source,  # type: ignore[arg-type]
                      profile=LeadProfile(email=f"{lead_id}@example.com", name=f"Lead {lead_id}",
                                          company=company or f"Company {lead_id}", country=country),
                      score=70, fit_score=40, engagement_score=30, grade=grade, segment=segment,  # type: ignore[arg-type]
                      hot=hot, rubric_version="test")


def produce(ns: harness.Namespace, events: list[LeadScored]) -> None:
    producer = KafkaProducer(bootstrap_servers=ns.bootstrap)
    try:
        for e in events:
            producer.send(ns.topic(topics.LEAD_SCORED), codec.encode(e), key=e.lead_id.encode(),
                          headers=codec.cloudevent_headers(e, "test"))
        producer.flush()
    finally:
        producer.close()


def events_on(ns: harness.Namespace, spec: topics.TopicSpec) -> list[Any]:
    return [codec.decode(spec.value_model, r.value) for r in harness.read_topic(ns.bootstrap, ns.topic(spec),
                                                                                 timeout_s=3)]


def routing_of(client: httpx.Client, lead_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/leads/{lead_id}/routing")
    assert response.status_code == 200, response.text
    return dict(response.json())


def owner_of(client: httpx.Client, lead_id: str, timeout_s: float = 20) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = client.get(f"/v1/leads/{lead_id}/routing")
        return response.json()["owner"] if response.status_code == 200 else None
    return dict(harness.eventually(check, timeout_s, what=f"an owner for {lead_id}"))


@pytest.fixture
def routing_client(private_namespace: harness.Namespace, tmp_path: Path) -> Iterator[httpx.Client]:
    """Routing with the demo organisation exactly as shipped."""
    svc = start_routing(private_namespace, tmp_path / "routing.log", DEMO_ORG)
    try:
        with harness.authorised(svc.url) as client:
            yield client
    finally:
        svc.stop()


def test_intent_led_company_end_to_end(private_namespace: harness.Namespace, routing_client: httpx.Client) -> None:
    client = routing_client
    produce(private_namespace, [
        scored("uk-intent", "B", country="GB", hot=True, segment="mid-tech-uk"),
        scored("us-b", "B", country="US", segment="ent-tech-na"),
        scored("agency", "A", country="US", source="agency"),
        scored("cold", "C"),
        scored("twice", "B"), scored("twice", "B"),  # the same lead scored twice
    ])

    uk = owner_of(client, "uk-intent")
    assert (uk["owner_kind"], uk["team"], uk["rule"]) == ("rep", "field", "hot-intent-to-field")
    assert uk["rep_id"] in UK_FIELD

    agency = owner_of(client, "agency")
    assert (agency["team"], agency["rule"]) == ("agency", "agency-source-to-agency")
    assert owner_of(client, "cold")["owner_kind"] == "nurture"
    owner_of(client, "twice")

    inside = owner_of(client, "us-b")
    assert (inside["team"], inside["owner_kind"]) == ("inside_sales", "rep")
    mine = client.get(f"/v1/reps/{inside['rep_id']}/assignments").json()
    assert inside["assignment_id"] in {a["assignment_id"] for a in mine["assignments"]}
    assert all(a["seconds_left"] > 0 for a in mine["assignments"])

    # Someone else's assignment, then the owner qualifies it: a field rep gets it, on the field clock.
    other = "is-1" if inside["rep_id"] != "is-1" else "is-2"
    url = f"/v1/assignments/{inside['assignment_id']}/follow-ups"
    assert client.post(url, json={"rep_id": other, "outcome": "qualified"}).status_code == 403
    answer = client.post(url, json={"rep_id": inside["rep_id"], "outcome": "qualified", "note": "budget, Q3"})
    assert answer.status_code == 201, answer.text
    field = answer.json()["next"]
    assert (field["team"], field["rule"]) == ("field", "qualified-to-field")
    assert field["rep_id"] in {"us-am-1", "us-am-2", "us-am-4"}  # US reps who sell to enterprise
    assert client.post(url, json={"rep_id": inside["rep_id"], "outcome": "contacted"}).status_code == 409

    history = routing_of(client, "us-b")
    assert [a["status"] for a in history["assignments"]] == ["qualified", "open"]
    assert [d["trigger"] for d in history["decisions"]] == ["scored", "qualified"]
    assert history["follow_ups"][0]["outcome"] == "qualified"
    handed = history["assignments"][1]
    config = compile_config(*demo_docs())
    expected = start_clock(config.teams["field"].sla, config.calendar_of(field["rep_id"], "field"),
                           datetime.fromisoformat(handed["assigned_at"])).due_at
    assert datetime.fromisoformat(handed["due_at"]) == expected
    # two business days are never within one calendar day (whatever hour the test runs at)
    assert expected - datetime.fromisoformat(handed["assigned_at"]) > timedelta(days=1)

    # The decision history says why: rule, candidates, who was skipped and why.
    decision = routing_of(client, "uk-intent")["decisions"][0]
    skipped = {c["rep_id"]: c.get("skipped") for c in decision["candidates"]}
    assert skipped["us-am-1"] == "outside_territory" and skipped[uk["rep_id"]] is None

    assert len(routing_of(client, "twice")["assignments"]) == 1
    assigned = [e for e in events_on(private_namespace, topics.LEAD_ASSIGNED) if isinstance(e, LeadAssigned)]
    per_lead = Counter(e.lead_id for e in {e.event_id: e for e in assigned}.values())
    assert per_lead == {"uk-intent": 1, "us-b": 2, "agency": 1, "cold": 1, "twice": 1}


def test_missed_follow_ups_escalate_to_the_next_rep_then_nurture(private_namespace: harness.Namespace,
                                                                  tmp_path: Path) -> None:
    org, rules = demo_docs()
    org["teams"][0]["sla"] = {"seconds": 3, "reminder_before": 0.5}  # field: 3 s for the test
    svc = start_routing(private_namespace, tmp_path / "routing.log", write_org(tmp_path / "org.yaml", org, rules))
    try:
        with harness.authorised(svc.url, timeout=10) as client:
            produce(private_namespace, [scored("ignored", "A", country="GB", hot=True, segment="mid-tech-uk"),
                                        scored("answered", "A", country="GB", hot=True, segment="mid-tech-uk")])
            first = owner_of(client, "answered")
            answer = client.post(f"/v1/assignments/{first['assignment_id']}/follow-ups",
                                 json={"rep_id": first["rep_id"], "outcome": "contacted"})
            assert answer.status_code == 201 and answer.json()["on_time"] is True

            def in_nurture() -> dict[str, Any] | None:
                owner = routing_of(client, "ignored")["owner"]
                return owner if owner and owner["owner_kind"] == "nurture" else None
            harness.eventually(in_nurture, 30, what="the ignored lead in nurture")
            history = routing_of(client, "ignored")
            assert routing_of(client, "answered")["owner"]["status"] == "followed_up"
    finally:
        svc.stop()

    reps = [a["rep_id"] for a in history["assignments"]]
    assert [a["status"] for a in history["assignments"]] == ["missed", "missed", "missed", "nurture"]
    assert set(reps[:3]) == UK_FIELD and reps[3] is None  # each escalation went to a rep who had not had it
    assert [a["attempt"] for a in history["assignments"]] == [0, 1, 2, 3]

    missed = {e.event_id: e for e in events_on(private_namespace, topics.FOLLOW_UP_MISSED)
              if isinstance(e, FollowUpMissed)}.values()
    assert sorted((e.escalation, e.next_action) for e in missed if e.lead_id == "ignored") == [
        (1, "reassign"), (2, "reassign"), (3, "nurture")]
    assert not [e for e in missed if e.lead_id == "answered"]
    told = [e for e in events_on(private_namespace, topics.FOLLOW_UP_ESCALATED) if isinstance(e, FollowUpEscalated)]
    assert {e.manager_name for e in told} == {"Morgan Reyes"}
    reminded = {e.assignment_id for e in events_on(private_namespace, topics.FOLLOW_UP_REMINDERS)}
    assert {a["assignment_id"] for a in history["assignments"][:3]} <= reminded
    final = [e for e in events_on(private_namespace, topics.LEAD_ASSIGNED)
             if isinstance(e, LeadAssigned) and e.lead_id == "ignored"][-1]
    assert (final.owner_kind, final.attempt) == ("nurture", 3)


def test_timers_that_came_due_while_stopped_fire_exactly_once(private_namespace: harness.Namespace,
                                                               tmp_path: Path) -> None:
    org, rules = demo_docs()
    for team in org["teams"]:
        team["sla"] = {"seconds": 4, "reminder_before": 0}
        team["max_escalations"] = 0  # one breach per lead, straight to nurture
    org_file = write_org(tmp_path / "org.yaml", org, rules)
    leads = [scored(f"L{i}", "B" if i % 2 else "A", country="GB" if i % 3 else "US", hot=i % 4 == 0)
             for i in range(24)]
    svc = start_routing(private_namespace, tmp_path / "first.log", org_file)
    try:
        with harness.authorised(svc.url, timeout=10) as client:
            produce(private_namespace, leads)
            for lead in leads:
                owner_of(client, lead.lead_id)
    finally:
        svc.stop()
    assert events_on(private_namespace, topics.FOLLOW_UP_MISSED) == []  # nothing came due before the stop
    time.sleep(5)  # every clock runs out while routing is down

    # Two replicas come back at once: each breach must still fire exactly once.
    replicas = [start_routing(private_namespace, tmp_path / f"replica{i}.log", org_file) for i in range(2)]
    try:
        with harness.authorised(replicas[0].url, timeout=10) as client:
            def all_nurtured() -> bool:
                return all(routing_of(client, lead.lead_id)["owner"]["owner_kind"] == "nurture" for lead in leads)
            harness.eventually(all_nurtured, 30, what="every lead escalated to nurture")
            time.sleep(1.5)  # several more timer rounds on both replicas: nothing may fire again
            histories = {lead.lead_id: routing_of(client, lead.lead_id) for lead in leads}
    finally:
        for svc in replicas:
            svc.stop()

    missed = [e for e in events_on(private_namespace, topics.FOLLOW_UP_MISSED) if isinstance(e, Event)]
    distinct = {e.event_id: e for e in missed}
    per_assignment = Counter(e.assignment_id for e in distinct.values())
    assert len(per_assignment) == len(leads) and set(per_assignment.values()) == {1}
    for history in histories.values():
        assert [a["status"] for a in history["assignments"]] == ["missed", "nurture"]


def test_the_http_edge_for_managers_and_reps(private_namespace: harness.Namespace,
                                             routing_client: httpx.Client) -> None:
    client = routing_client
    org = client.get("/v1/org").json()
    rules = client.get("/v1/rules").json()
    assert (org["version"], rules["version"]) == (1, 1) and {t["id"] for t in org["org"]["teams"]} >= {"field"}
    bad = client.put("/v1/org", json={**org["org"], "reps": [{"id": "x", "team": "nowhere"}]})
    assert bad.status_code == 422 and bad.json()["fields"]
    assert client.put("/v1/rules", json=rules["rules"], params={"expected_version": 7}).status_code == 409

    away = {"away": [{"from": "2000-01-01T00:00:00+00:00", "to": "2100-01-01T00:00:00+00:00", "reason": "leave"}]}
    assert client.put("/v1/reps/is-1/availability", json=away).status_code == 200
    assert client.put("/v1/reps/nobody/availability", json=away).json()["fields"][0]["field"] == "rep_id"
    reps = {r["rep_id"]: r for r in client.get("/v1/reps").json()["reps"]}
    assert (reps["is-1"]["away"], reps["is-2"]["away"]) == (True, False)
    assert client.get("/v1/org").json()["version"] == 2

    produce(private_namespace, [scored("b-lead", "B"), scored("nowhere", "A", country="DE")])
    inside = owner_of(client, "b-lead")
    assert inside["rep_id"] in {"is-2", "is-3"}  # is-1 is away
    queued = owner_of(client, "nowhere")
    assert (queued["owner_kind"], queued["team"]) == ("queue", "field")
    field_queue = next(q for q in client.get("/v1/queues").json()["queues"] if q["team"] == "field")
    assert [lead["lead_id"] for lead in field_queue["leads"]] == ["nowhere"]

    url = f"/v1/assignments/{inside['assignment_id']}/follow-ups"
    no_note = client.post(url, json={"rep_id": inside["rep_id"], "outcome": "disqualified"})
    assert no_note.status_code == 422 and no_note.json()["fields"][0]["field"] == "note"
    assert client.get(f"/v1/assignments/{inside['assignment_id']}").json()["status"] == "open"
    missing = client.get("/v1/assignments/no-such")
    assert missing.status_code == 404 and missing.json()["fields"][0]["field"] == "assignment_id"
    assert client.get("/v1/reps/nobody/assignments").status_code == 404
