"""Two replicas of scoring and two of routing share their topics' partitions (one consumer
group each); one replica of each is killed with SIGKILL while leads flow. Afterwards every
lead was graded once and assigned to a rep exactly once (on the lead-assigned topic and in
routing's table), and every lead's follow-up clock still fired exactly once, the killed
routing replica's leads included (timers are rows in routing's table, fired by whichever
replica is alive; inside sales has 8 s to follow up in tests/e2e/org.yaml)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bench.leads import grade_b
from bench.stack import SOURCE_KEYS_ENV
from shared import codec, topics
from shared.events import FollowUpMissed, LeadAssigned, LeadScored
from tests import harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEADS = 120
ORG = Path(__file__).parent / "org.yaml"


@pytest.fixture
def replicated(private_namespace: harness.Namespace, tmp_path: Path) -> Iterator[harness.Stack]:
    """capture, and two replicas each of scoring and routing (``scoring-1``, ``scoring-2``,
    ``routing-1``, ``routing-2``: the same service, schema and consumer group)."""
    ns, logs = private_namespace, tmp_path / "logs"
    logs.mkdir()

    def process(name: str, module: str) -> harness.ServiceProcess:
        extra = ({"LEADBRIDGE_ROUTING_ORG_FILE": str(ORG)} if module == "routing"
                 else dict(SOURCE_KEYS_ENV) if module == "capture" else {})  # the clients' source key
        return harness.ServiceProcess(name, harness.free_port(), ns.env(), logs / f"{name}.log",
                                      extra_env=extra, module=f"services.{module}")

    first = {"capture": process("capture", "capture"), "scoring-1": process("scoring-1", "scoring"),
             "routing-1": process("routing-1", "routing")}
    second = {"scoring-2": process("scoring-2", "scoring"), "routing-2": process("routing-2", "routing")}
    stack = harness.Stack(ns, {**first, **second})
    try:
        for wave in (first, second):  # the second replicas join groups (and schemas) that exist
            for svc in wave.values():
                svc.start(wait=False)
            for svc in wave.values():
                svc.wait_healthy(timeout_s=240)  # (a loaded CI machine starts Python slowly)
        yield stack
    finally:
        stack.stop()


def assigned_partitions(svc: harness.ServiceProcess, topic: str) -> set[int]:
    """The partitions of ``topic`` the replica's last rebalance gave it (from its log)."""
    latest: set[int] = set()
    for line in svc.log_path.read_text(errors="replace").splitlines():
        if '"partitions assigned"' in line:
            parts = json.loads(line).get("partitions", [])
            latest = {int(p.rsplit(":", 1)[1]) for p in parts if p.rsplit(":", 1)[0] == topic}
    return latest


def share_the_partitions(stack: harness.Stack, a: str, b: str, spec: topics.TopicSpec) -> bool:
    topic = stack.ns.topic(spec)
    mine, theirs = assigned_partitions(stack.services[a], topic), assigned_partitions(stack.services[b], topic)
    return bool(mine) and bool(theirs) and not mine & theirs and mine | theirs == set(range(spec.partitions))


def on_topic(stack: harness.Stack, spec: topics.TopicSpec) -> list[Any]:
    found = []
    for m in harness.read_topic(stack.ns.bootstrap, stack.ns.topic(spec), timeout_s=3):
        try:
            found.append(codec.decode(spec.value_model, m.value))
        except codec.DecodeError:
            continue
    return found


def post_all(stack: harness.Stack, leads: list[dict[str, Any]], halfway: threading.Event) -> list[str]:
    ids = []
    with stack.client("capture") as c:
        for i, body in enumerate(leads):
            r = c.post("/v1/leads", json=body)
            assert r.status_code == 202, r.text
            ids.append(r.json()["lead_id"])
            if i == len(leads) // 2:
                halfway.set()
    return ids


def test_two_replicas_share_partitions_and_a_killed_one_loses_and_doubles_nothing(
        replicated: harness.Stack) -> None:
    stack = replicated
    for spec in (topics.LEAD_CAPTURED, topics.LEAD_SCORED):
        assert spec.partitions >= 2, f"{spec.name} has too few partitions for two replicas"
    harness.eventually(lambda: share_the_partitions(stack, "scoring-1", "scoring-2", topics.LEAD_CAPTURED)
                       and share_the_partitions(stack, "routing-1", "routing-2", topics.LEAD_SCORED),
                       timeout_s=60, what="both replicas of scoring and of routing to hold partitions")

    halfway = threading.Event()
    posted: list[str] = []
    poster = threading.Thread(target=lambda: posted.extend(post_all(stack, [grade_b() for _ in range(LEADS)],
                                                                    halfway)))
    poster.start()
    assert halfway.wait(120), "posting stalled"
    stack.services["scoring-1"].kill()  # SIGKILL: no goodbye to the group, no commit, no flush
    stack.services["routing-1"].kill()
    poster.join(180)
    assert len(posted) == LEADS
    leads = set(posted)

    def every_lead_missed() -> dict[str, list[FollowUpMissed]]:
        missed: dict[str, list[FollowUpMissed]] = defaultdict(list)
        for e in on_topic(stack, topics.FOLLOW_UP_MISSED):
            missed[e.lead_id].append(e)
        return missed if leads <= set(missed) else {}

    # The survivors take the killed replicas' partitions after the group's session timeout
    # (10 s), resume from the last committed offsets, drop what their inboxes already hold.
    missed = harness.eventually(every_lead_missed, timeout_s=150, interval_s=2,
                                what="every lead's follow-up clock to fire")

    scored: dict[str, set[str]] = defaultdict(set)
    for e in on_topic(stack, topics.LEAD_SCORED):
        if isinstance(e, LeadScored):
            scored[e.lead_id].add(e.event_id)
    assert {lead: len(scored[lead]) for lead in leads if len(scored[lead]) != 1} == {}, "graded more than once"

    to_reps: dict[str, set[str]] = defaultdict(set)
    for e in on_topic(stack, topics.LEAD_ASSIGNED):
        if isinstance(e, LeadAssigned) and e.owner_kind == "rep":
            to_reps[e.lead_id].add(e.assignment_id)
    assert {lead: sorted(to_reps[lead]) for lead in leads if len(to_reps[lead]) != 1} == {}, "assigned twice"

    # (a re-sent copy of one firing carries the same event id; a second firing would not)
    fired = {lead: ({e.event_id for e in missed[lead]}, {e.assignment_id for e in missed[lead]}) for lead in leads}
    assert {lead: f for lead, f in fired.items() if len(f[0]) != 1 or f[1] != to_reps[lead]} == {}, \
        "a clock fired twice, or for another assignment"

    rows = harness_rows(stack, "SELECT lead_id, count(*) AS n, count(*) FILTER (WHERE status = 'open') AS open "
                               "FROM routing.assignments WHERE owner_kind = 'rep' GROUP BY lead_id")
    assert {r["lead_id"]: r["n"] for r in rows if r["lead_id"] in leads} == dict.fromkeys(leads, 1)
    assert [r["lead_id"] for r in rows if r["lead_id"] in leads and r["open"]] == []


def harness_rows(stack: harness.Stack, sql: str) -> list[asyncpg.Record]:
    async def fetch() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.ns.database_url)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(fetch())
