"""A trade-show burst: leads posted as fast as concurrent clients can send them (a tenth
of them twice, as scanners do), and every accepted lead is captured once, graded and
assigned exactly once: nothing lost, nothing doubled (read from the topics).

``make test`` posts 1,000; ``make soak`` posts 5,000 (LEADBRIDGE_BURST_LEADS)."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from bench.leads import grade_a, grade_b, grade_c
from shared import codec, topics
from shared.events import LeadAssigned, LeadCaptured, LeadScored
from tests import harness

pytestmark = pytest.mark.e2e

LEADS = int(os.environ.get("LEADBRIDGE_BURST_LEADS", "1000"))
CLIENTS = 32


async def burst(url: str, headers: dict[str, str], bodies: list[dict[str, object]]) -> list[dict[str, object]]:
    """Post every body (the given order, ``CLIENTS`` at once); the 202 answers."""
    todo = iter(bodies)
    answers: list[dict[str, object]] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits, headers=headers) as client:
        async def one_client() -> None:
            for body in todo:
                for attempt in range(5):
                    try:
                        r = await client.post("/v1/leads", json=body)
                        break
                    except httpx.TransportError:  # a kept-alive connection closed under us:
                        if attempt == 4:  # sent again, as a scanner would (the same
                            raise  # submission, so at most once accepted)
                assert r.status_code == 202, r.text
                answers.append(r.json())

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    return answers


def by_lead(ns: harness.Namespace, spec: topics.TopicSpec, model: type[LeadCaptured | LeadScored | LeadAssigned],
            attr: str) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = defaultdict(set)
    for m in harness.read_topic(ns.bootstrap, ns.topic(spec), timeout_s=3):
        event = codec.decode(model, m.value)
        seen[event.lead_id].add(getattr(event, attr))
    return seen


def test_a_burst_of_posts_is_each_captured_once_graded_and_assigned_exactly_once(
        private_namespace: harness.Namespace, tmp_path: Path) -> None:
    org = (Path(__file__).parent / "org.yaml").read_text()
    (tmp_path / "org.yaml").write_text(org.replace("{seconds: 60}", "{seconds: 3600}")
                                       .replace("{seconds: 8}", "{seconds: 3600}"))
    stack = harness.start_stack(private_namespace, tmp_path / "logs", {
        "routing": {"LEADBRIDGE_ROUTING_ORG_FILE": str(tmp_path / "org.yaml")}},
        names=("capture", "scoring", "routing"))
    try:
        makers = (grade_a, grade_b, grade_c)
        bodies = [makers[i % 3](occurred_at="2026-11-20T10:00:00Z") for i in range(LEADS)]
        twice = bodies[::10]  # posted again: the same submission (same person, source, moment)
        answers = asyncio.run(burst(stack.url("capture"), stack.headers("capture"), bodies + twice))
        assert len(answers) == LEADS + len(twice)
        leads = {str(a["lead_id"]) for a in answers}
        assert len(leads) == LEADS
        assert sum(bool(a["duplicate"]) for a in answers) == len(twice), "each second post answered as one"

        def every(spec: topics.TopicSpec, model: type[LeadCaptured | LeadScored | LeadAssigned],
                  attr: str) -> dict[str, set[str]] | None:
            seen = by_lead(private_namespace, spec, model, attr)
            return seen if leads <= seen.keys() else None

        captured = harness.eventually(lambda: every(topics.LEAD_CAPTURED, LeadCaptured, "capture_id"),
                                      timeout_s=120, interval_s=2, what="every lead captured on Kafka")
        assert {lead: ids for lead, ids in captured.items() if len(ids) != 1} == {}, "a lead captured twice"
        harness.eventually(lambda: every(topics.LEAD_SCORED, LeadScored, "grade"), timeout_s=240, interval_s=3,
                           what="every lead graded")
        assigned = harness.eventually(lambda: every(topics.LEAD_ASSIGNED, LeadAssigned, "assignment_id"),
                                      timeout_s=240, interval_s=3, what="every lead assigned")
        assert {lead: ids for lead, ids in assigned.items() if len(ids) != 1} == {}, "a lead assigned twice"
        assert set(assigned) == set(captured) == leads
    finally:
        stack.stop()
