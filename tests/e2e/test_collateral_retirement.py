"""A year retires it, on the real broker, database and file storage, with TWO content
replicas sharing one database, consumer group and file directory.

Each replica runs with the test clock (``LEADBRIDGE_TEST_CLOCK=true``): real time plus
an offset that ``POST /v1/admin/clock`` moves forward. The test moves both replicas'
clocks by the same amounts, so both timers see the same moments: the 4-week warning and
the retirement each fire exactly once, a replica restarting in between included (rows
are taken with FOR UPDATE SKIP LOCKED and change state in the transaction that writes
their event), and the retired item's link
then answers 410 with a pointer to the new edition that replaced it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.content.domain import files
from services.content.tests import samples
from shared import topics
from shared.events import LeadProfile, LeadScored
from tests import harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MARKETING = {"id": "mia@example.com", "role": "marketing"}
REVIEWERS = [{"id": "rex@example.com", "role": "field_rep"}, {"id": "sam@example.com", "role": "sales_manager"}]
SEGMENT = "retirement-e2e"


@pytest.fixture
def replicas(private_namespace: harness.Namespace, tmp_path: Path) -> Iterator[list[harness.ServiceProcess]]:
    env = {"LEADBRIDGE_TEST_CLOCK": "true", "LEADBRIDGE_RETIREMENT_EVERY_S": "0.3",
           "LEADBRIDGE_GAUGES_EVERY_S": "0.5", "LEADBRIDGE_DATA_DIR": str(tmp_path / "content-data")}
    procs = [harness.ServiceProcess("content", harness.free_port(), private_namespace.env(),
                                    tmp_path / f"content-{n}.log", extra_env=env) for n in (1, 2)]
    for p in procs:
        p.start(wait=False)
    try:
        for p in procs:
            p.wait_healthy()
        yield procs
    finally:
        for p in procs:
            p.stop()


def advance(procs: list[harness.ServiceProcess], by: timedelta) -> None:
    for p in procs:
        r = harness.authorised(p.url).post("/v1/admin/clock", json={"advance_s": by.total_seconds()})
        assert r.status_code == 200, r.text


def publish(c: httpx.Client, title: str, **extra: Any) -> str:
    r = c.post("/v1/collateral", json={"title": title, "kind": "case_study", "segments": [SEGMENT],
                                       "owner": "mia@example.com", "actor": MARKETING, **extra})
    assert r.status_code == 201, r.text
    item_id: str = r.json()["item_id"]
    r = c.post(f"/v1/collateral/{item_id}/versions", files={"file": ("a.pdf", samples.pdf(title), files.PDF)},
               data={"actor_id": MARKETING["id"], "actor_role": MARKETING["role"]})
    assert r.status_code == 201, r.text
    c.post(f"/v1/collateral/{item_id}/submit", json={"actor": MARKETING, "reviewers": REVIEWERS})
    for reviewer in REVIEWERS:
        with harness.authorised(str(c.base_url), harness.token(["sales_approver", "manager", "rep"],
                                                                subject=reviewer["id"])) as signed_in:
            signed_in.post(f"/v1/collateral/{item_id}/reviews", json={"actor": reviewer, "decision": "approve"})
    r = c.post(f"/v1/collateral/{item_id}/publish", json={"actor": MARKETING})
    assert r.json()["status"] == "published", r.text
    return item_id


def events(ns: harness.Namespace, spec: topics.TopicSpec, item_id: str) -> list[dict[str, Any]]:
    return [e for r in harness.read_topic(ns.bootstrap, ns.topic(spec))
            if (e := json.loads(r.value))["item_id"] == item_id]


def metric(procs: list[harness.ServiceProcess], name: str) -> float:
    total = 0.0
    for p in procs:
        for line in httpx.get(p.url + "/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_year_after_publishing_two_replicas_warn_once_retire_once_and_the_link_is_gone(
        private_namespace: harness.Namespace, replicas: list[harness.ServiceProcess]) -> None:
    ns = private_namespace
    harness.produce(ns, LeadScored(lead_id="lead-r1", cause_event_id="c", source="web_form", score=70, fit_score=50,
                                   engagement_score=20, grade="B", segment=SEGMENT, rubric_version="v1",
                                   profile=LeadProfile(email="ann@acme.example", name="Ann", company="Acme")))
    one, two = (harness.authorised(p.url, timeout=10) for p in replicas)
    with one, two:
        harness.eventually(lambda: one.get("/v1/leads/lead-r1/collateral").status_code == 200,
                           what="content seeing the lead graded")
        old = publish(one, "Agency case study 2026")
        link = one.post(f"/v1/collateral/{old}/shares", json={"lead_id": "lead-r1", "rep_id": "rex"}).json()["link"]
        assert two.get(link).status_code == 200  # either replica serves it: files are shared storage
        advance(replicas, timedelta(days=200))
        new = publish(two, "Agency case study 2027", replaces=old)  # the next edition, published later
        assert one.get(f"/v1/collateral/{old}").json()["successor_id"] == new

        advance(replicas, timedelta(days=140))  # 25 days before the old one's year is up: the 4-week warning
        warned = harness.eventually(lambda: events(ns, topics.COLLATERAL_RETIREMENT_WARNED, old),
                                    what="the 4-week warning")
        # A restart: the first replica comes back with its clock at real time, and is moved to
        # where the other's is; the warning already sent is not sent again.
        replicas[0].stop()
        replicas[0].start()
        advance(replicas[:1], timedelta(days=340))
        advance(replicas, timedelta(days=26))  # a year and a day after it was published
        harness.eventually(lambda: one.get(f"/v1/collateral/{old}").json()["status"] == "retired",
                           what="the old item retired")
        gone = two.get(link)
        assert gone.status_code == 410, gone.text
        assert gone.json()["successor"] == {"item_id": new, "url": f"/v1/collateral/{new}/file"}
        assert gone.json()["fields"][0]["field"] == "token"
        assert one.get(f"/v1/collateral/{new}").json()["status"] == "published"  # its year is not up
        found = [i["item_id"] for i in one.get("/v1/leads/lead-r1/collateral").json()["items"]]
        assert found == [new]

        harness.eventually(lambda: metric(replicas, "leadbridge_content_retired_total") >= 1, what="the counter")
        harness.eventually(lambda: metric(replicas, "leadbridge_content_items_retiring_soon") == 0,
                           what="the gauges refreshed")  # the new edition retires in 199 days
        history = one.get(f"/v1/collateral/{old}/history").json()["history"]
    # both timers ran many times since: still one warning, one retirement
    assert [(e["weeks_before"], e["owner"]) for e in warned] == [(4, "mia@example.com")]
    assert [(e["weeks_before"]) for e in events(ns, topics.COLLATERAL_RETIREMENT_WARNED, old)] == [4]
    retired = [e for e in events(ns, topics.COLLATERAL_STATUS_CHANGED, old) if e["action"] == "retire"]
    assert [(e["to_status"], e["actor_role"]) for e in retired] == [("retired", "system")]
    assert [h["action"] for h in history].count("retire") == 1
    assert metric(replicas, "leadbridge_content_retired_total") == 1  # (counted after the restart)
