"""The audit trail end to end: a rubric drafted by marketing, signed by a marketing person
and a sales approver (two people, two tokens) and activated shows in scoring's
``GET /v1/audit`` with each step and who took it, by name; marketing may read the
rubric's trail and no other, a rep none of it; the entries reach ``audit-recorded``;
and the table under it refuses to be rewritten."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
import yaml

from shared import codec, topics
from shared.events import AuditRecorded
from tests import harness

pytestmark = pytest.mark.e2e

RUBRIC = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "rubric.yaml"


def test_a_rubric_change_shows_both_approvals_and_who_made_them(stack: harness.Stack) -> None:
    mia = harness.token(["marketing"], subject="mkt-audit", name="Mia Marketing")
    sam = harness.token(["sales_approver"], subject="sls-audit", name="Sam Sales")
    ops = harness.token(["operator"], subject="ops-audit", name="Olga Ops")
    rep = harness.token(["rep"], subject="rep-audit", rep_id="us-1")
    version = "audit-e2e-1"
    document = yaml.safe_load(RUBRIC.read_text()) | {"version": version}
    with stack.client("scoring", token=mia) as marketing, stack.client("scoring", token=sam) as sales, \
            stack.client("scoring", token=ops) as operator, stack.client("scoring", token=rep) as a_rep:
        assert marketing.post("/v1/rubrics", json=document).status_code == 201
        # a sales approver cannot sign for marketing, nor marketing for sales
        assert sales.post(f"/v1/rubrics/{version}/approvals", json={"side": "marketing"}).status_code == 403
        assert marketing.post(f"/v1/rubrics/{version}/approvals", json={"side": "marketing"}).status_code == 201
        assert sales.post(f"/v1/rubrics/{version}/approvals", json={"side": "sales"}).status_code == 201
        activated = operator.post(f"/v1/rubrics/{version}/activation")
        assert activated.status_code == 200, activated.text

        trail = marketing.get("/v1/audit", params={"subject_type": "rubric", "subject_id": version})
        assert trail.status_code == 200, trail.text
        steps = [(e["action"], e["actor"]["subject"], e["actor"]["name"], e["details"].get("side"))
                 for e in trail.json()["entries"]]
        assert steps == [("rubric.drafted", "mkt-audit", "Mia Marketing", None),
                         ("rubric.approved", "mkt-audit", "Mia Marketing", "marketing"),
                         ("rubric.approved", "sls-audit", "Sam Sales", "sales"),
                         ("rubric.activated", "ops-audit", "Olga Ops", None)]
        activation = trail.json()["entries"][-1]
        assert activation["details"]["approvals"] == [{"approver": "mkt-audit", "side": "marketing"},
                                                      {"approver": "sls-audit", "side": "sales"}]
        assert activation["changes"] == [{"path": "status", "before": "approved", "after": "active"}]

        # the sales approver reads the rubric's trail too; only an operator reads the rest
        assert sales.get("/v1/audit", params={"subject_id": version}).json()["entries"] == trail.json()["entries"]
        assert marketing.get("/v1/audit", params={"subject_type": "org"}).status_code == 403
        assert a_rep.get("/v1/audit").status_code == 403
        assert operator.get("/v1/audit", params={"actor": "sls-audit"}).json()["entries"][0]["action"] == \
            "rubric.approved"

    def published() -> list[AuditRecorded]:
        found = [codec.decode_record(AuditRecorded, r.value, list(r.headers), r.timestamp)
                 for r in harness.read_topic(stack.ns.bootstrap, stack.ns.topic(topics.AUDIT_RECORDED), timeout_s=2)]
        return [e for e in found if e.subject_id == version]
    events = harness.eventually(lambda: len(published()) == 4 and published(), what="audit-recorded events")
    assert [(e.service, e.actor_name) for e in events] == [
        ("scoring", "Mia Marketing"), ("scoring", "Mia Marketing"), ("scoring", "Sam Sales"), ("scoring", "Olga Ops")]

    async def rewrite() -> None:
        conn = await asyncpg.connect(stack.ns.database_url)
        try:
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="append-only"):
                await conn.execute("UPDATE scoring.audit_log SET actor_name = 'someone else' WHERE subject_id = $1",
                                   version)
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="append-only"):
                await conn.execute("DELETE FROM scoring.audit_log WHERE subject_id = $1", version)
        finally:
            await conn.close()
    asyncio.run(rewrite())
    with stack.client("scoring", token=ops) as operator:
        entries = operator.get("/v1/audit", params={"subject_id": version}).json()["entries"]
    names = [e["actor"]["name"] for e in entries]
    assert names == ["Mia Marketing", "Mia Marketing", "Sam Sales", "Olga Ops"]  # unchanged
