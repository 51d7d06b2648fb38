"""Restarting a service in the middle of a stream of leads loses none and assigns
none twice: offsets are committed only after effects, and effects are idempotent."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from bench.leads import grade_a, grade_c
from shared import codec, topics
from shared.events import LeadAssigned
from tests import harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEADS = 300


def slow_sla_org(tmp_path: Path) -> Path:
    """The e2e org with hour-long SLAs: no follow-up can come due during the test."""
    text = (Path(__file__).parent / "org.yaml").read_text()
    path = tmp_path / "org.yaml"
    path.write_text(text.replace("{seconds: 60}", "{seconds: 3600}").replace("{seconds: 8}", "{seconds: 3600}"))
    return path


def assignments_by_lead(ns: harness.Namespace) -> dict[str, set[str]]:
    by_lead: dict[str, set[str]] = defaultdict(set)
    for m in harness.read_topic(ns.bootstrap, ns.topic(topics.LEAD_ASSIGNED), timeout_s=3):
        event = codec.decode(LeadAssigned, m.value)
        by_lead[event.lead_id].add(event.assignment_id)
    return by_lead


@pytest.mark.parametrize("victim", ["scoring", "routing"])
def test_killing_a_service_mid_stream_loses_nothing_and_duplicates_nothing(
        private_namespace: harness.Namespace, tmp_path: Path, victim: str) -> None:
    org = slow_sla_org(tmp_path)
    stack = harness.start_stack(private_namespace, tmp_path / "logs",
                                {"routing": {"LEADBRIDGE_ROUTING_ORG_FILE": str(org)}},
                                names=("capture", "scoring", "routing"))
    posted: list[str] = []
    try:
        def post_all() -> None:
            with httpx.Client(base_url=stack.url("capture"), timeout=30, headers=stack.headers("capture")) as client:
                for i in range(LEADS):
                    body = grade_a() if i % 2 else grade_c()
                    r = client.post("/v1/leads", json=body)
                    r.raise_for_status()
                    posted.append(r.json()["lead_id"])
                    time.sleep(0.02)

        sender = threading.Thread(target=post_all)
        sender.start()
        harness.eventually(lambda: len(posted) > LEADS // 4, what="a quarter of the leads posted")
        stack.services[victim].kill()  # SIGKILL: no graceful shutdown, no final commit
        killed_at = len(posted)
        time.sleep(1)
        stack.services[victim].start()
        sender.join(120)
        assert len(posted) == LEADS
        assert 0 < killed_at < LEADS, "the kill happened mid-stream"

        def all_assigned() -> dict[str, set[str]] | None:
            seen = assignments_by_lead(private_namespace)
            return seen if all(lead in seen for lead in posted) else None

        by_lead = harness.eventually(all_assigned, timeout_s=120, interval_s=2, what="every lead assigned")
        duplicated = {lead: ids for lead, ids in by_lead.items() if len(ids) != 1}
        assert duplicated == {}, f"{len(duplicated)} leads assigned more than once"
        assert set(posted) <= set(by_lead)
        assert len(set(posted)) == LEADS
    finally:
        for name, svc in stack.services.items():
            print(f"--- {name}\n{svc.tail(10)}")
        stack.stop()
