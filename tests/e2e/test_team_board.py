"""A manager's board over routing's HTTP edge on the real stack: the team's open leads,
a chosen queued lead given to a rep, SLA compliance and escalations after a missed
follow-up, capacity changes, and a manager kept to the teams in their token."""

from __future__ import annotations

from typing import Any

import pytest

from bench.leads import grade_a, grade_b
from tests import harness

pytestmark = pytest.mark.e2e


def field_manager() -> str:
    return harness.token(["manager"], subject="mgr-field", name="Field Manager", teams=["field"])


def post_lead(stack: harness.Stack, body: dict[str, Any]) -> str:
    with stack.client("capture") as c:
        r = c.post("/v1/leads", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["lead_id"])


def open_of(stack: harness.Stack, team: str, lead_id: str) -> dict[str, Any] | None:
    with stack.client("routing") as c:
        r = c.get(f"/v1/teams/{team}/assignments")
    assert r.status_code == 200, r.text
    return next((a for a in r.json()["assignments"] if a["lead_id"] == lead_id), None)


def test_a_manager_gives_the_queued_lead_they_chose_to_a_rep(stack: harness.Stack) -> None:
    lead_id = post_lead(stack, grade_a(country="DE"))  # no field rep covers Germany: queued
    queued = harness.eventually(lambda: open_of(stack, "field", lead_id), what="the lead queued at field")
    assert queued["owner_kind"] == "queue" and queued["seconds_left"] > 0 and not queued["overdue"]
    with stack.client("routing", token=field_manager()) as c:
        taken = c.post("/v1/queues/field/take", json={"rep_id": "us-2", "assignment_id": queued["assignment_id"]})
        assert taken.status_code == 201, taken.text
        assert (taken.json()["lead_id"], taken.json()["assignment"]["rep_id"]) == (lead_id, "us-2")
        again = c.post("/v1/queues/field/take", json={"rep_id": "us-1", "assignment_id": queued["assignment_id"]})
        assert again.status_code == 404
        assert again.json()["fields"][0]["field"] == "assignment_id"
    now = open_of(stack, "field", lead_id)
    assert now is not None and (now["owner_kind"], now["rep_id"]) == ("rep", "us-2")


def test_a_missed_follow_up_shows_in_compliance_and_escalations(stack: harness.Stack) -> None:
    lead_id = post_lead(stack, grade_b())  # inside sales: 8 s, no escalation, then nurture

    def escalated() -> dict[str, Any] | None:
        with stack.client("routing") as c:
            r = c.get("/v1/teams/inside_sales/escalations")
        assert r.status_code == 200, r.text
        return next((e for e in r.json()["escalations"] if e["lead_id"] == lead_id), None)

    escalation = harness.eventually(escalated, timeout_s=40, what="the missed follow-up escalated")
    assert escalation["now"]["owner_kind"] == "nurture" and "handed to nurture" in escalation["reason"]
    assert escalation["missed_rep_id"] in {"is-1", "is-2"}
    with stack.client("routing") as c:
        sla = c.get("/v1/teams/inside_sales/sla").json()
    assert sla["periods"]["week"]["missed"] >= 1 and sla["periods"]["today"]["ended"] >= 1
    rep = next(r for r in sla["reps"] if r["rep_id"] == escalation["missed_rep_id"])
    assert rep["today"]["missed"] >= 1


def test_a_manager_sees_and_changes_only_the_teams_in_their_token(stack: harness.Stack) -> None:
    with stack.client("routing", token=field_manager()) as c:
        assert c.get("/v1/teams/field/sla").status_code == 200
        other = c.get("/v1/teams/inside_sales/assignments")
        assert other.status_code == 403 and "not one you manage" in other.json()["fields"][0]["reason"]
        assert c.put("/v1/reps/is-1/capacity", json={"capacity": 5}).status_code == 403
        bad = c.put("/v1/reps/us-1/capacity", json={"capacity": -1})
        assert bad.status_code == 422 and bad.json()["fields"][0]["field"].endswith("capacity")
        assert c.get("/v1/teams/nowhere/sla").status_code == 403
    rep_token = harness.token(["rep"], subject="us-1", rep_id="us-1")
    with stack.client("routing", token=rep_token) as c:
        assert c.get("/v1/teams/field/assignments").status_code == 403
    with stack.client("routing") as c:  # an operator sees every team
        assert c.get("/v1/teams/nowhere/sla").status_code == 404
        r = c.put("/v1/reps/us-1/capacity", json={"capacity": 1000})
        assert r.status_code == 200 and r.json() == {"rep_id": "us-1", "capacity": 1000}
