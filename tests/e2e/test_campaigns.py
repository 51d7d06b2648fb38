"""Campaigns end to end on the real broker and database: marketing defines a campaign
in nurture (every bad definition a 4xx naming the field), capture learns it from
campaign-defined and refuses leads naming any other; members move forward only; the
CRM's outcomes arrive as signed webhooks (unsigned, forged, stale, future-dated and replayed ones
refused with a 401 saying why), are matched to leads or kept unmatched, and a won
deal shows as closed revenue in the report, its credits summing to the amount under
every attribution model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from bench.leads import grade_b
from tests import harness

pytestmark = pytest.mark.e2e

MODELS = ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "time_decay")


def webinar(campaign_id: str, **change: Any) -> dict[str, Any]:
    body = {"campaign_id": campaign_id, "name": "Winning back big clients", "type": "webinar", "owner": "mo",
            "starts_at": "2026-11-01T00:00:00+00:00", "ends_at": "2026-12-31T00:00:00+00:00", "cost": "6000.00",
            "currency": "USD", "goal": "two large clients",
            "event": {"starts_at": "2026-12-10T11:00", "ends_at": "2026-12-10T12:00", "time_zone": "America/Chicago",
                      "registration_url": "https://events.example.com/winback"}}
    body.update(change)
    return body


def fields_of(r: httpx.Response) -> list[str]:
    return [f["field"] for f in r.json()["fields"]]


def new_campaign_id() -> str:
    return f"winback-{uuid.uuid4().hex[:8]}"


BAD_DEFINITIONS = [
    ("unknown type", {"type": "carrier_pigeon"}, "type"),
    ("unknown time zone", {"event": {"starts_at": "2026-12-10T11:00", "ends_at": "2026-12-10T12:00",
                                     "time_zone": "Mars/Olympus_Mons"}}, "event.time_zone"),
    ("end before start", {"ends_at": "2026-10-01T00:00:00+00:00"}, "ends_at"),
    ("event ends before it starts", {"event": {"starts_at": "2026-12-10T11:00", "ends_at": "2026-12-10T10:00",
                                               "time_zone": "UTC"}}, "event.ends_at"),
    ("webinar without its event", {"event": None}, "event"),
    ("fraction of a cent", {"cost": "10.001"}, "cost"),
    ("negative cost", {"cost": "-5"}, "cost"),
    ("currency not ISO 4217", {"currency": "dollars"}, "currency"),
    ("id leads cannot carry", {"campaign_id": "Winback Q4!"}, "campaign_id"),
    ("start without offset", {"starts_at": "2026-11-01T00:00:00"}, "starts_at"),
    ("registration URL not a URL", {"event": {"starts_at": "2026-12-10T11:00", "ends_at": "2026-12-10T12:00",
                                              "time_zone": "UTC", "registration_url": "register here"}},
     "event.registration_url"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_DEFINITIONS, ids=[c[0] for c in BAD_DEFINITIONS])
def test_a_bad_campaign_definition_is_refused_naming_the_field(stack: harness.Stack, case: str,
                                                               change: dict[str, Any], field: str) -> None:
    body = {**webinar(new_campaign_id()), **change}
    with stack.client("nurture") as c:
        r = c.post("/v1/campaigns", json=body)
        assert r.status_code == 422, r.text
        assert field in fields_of(r), r.text
        assert c.get(f"/v1/campaigns/{body['campaign_id']}").status_code == 404  # nothing was defined


def test_a_campaign_is_defined_changed_and_learnt_by_capture(stack: harness.Stack) -> None:
    cid = new_campaign_id()
    with stack.client("nurture") as nurture, stack.client("capture") as capture:
        refused = capture.post("/v1/leads", json=grade_b(campaign=cid))
        assert (refused.status_code, fields_of(refused)) == (422, ["campaign"])
        assert cid in refused.json()["fields"][0]["reason"]
        created = nurture.post("/v1/campaigns", json=webinar(cid))
        assert created.status_code == 201, created.text
        view = created.json()
        assert (view["version"], view["cost"], view["event"]["time_zone"]) == (1, "6000.00", "America/Chicago")
        assert view["event"]["starts_at"] == "2026-12-10T17:00:00+00:00"  # 11:00 in Chicago
        again = nurture.post("/v1/campaigns", json=webinar(cid))
        assert (again.status_code, fields_of(again)) == (409, ["campaign_id"])
        changed = nurture.put(f"/v1/campaigns/{cid}", json={k: v for k, v in webinar(cid, cost="7500").items()
                                                            if k != "campaign_id"})
        assert (changed.status_code, changed.json()["version"], changed.json()["cost"]) == (200, 2, "7500.00")
        missing = nurture.put("/v1/campaigns/no-such-campaign", json={k: v for k, v in webinar(cid).items()
                                                                      if k != "campaign_id"})
        assert (missing.status_code, fields_of(missing)) == (404, ["campaign_id"])
        harness.eventually(lambda: any(c["campaign_id"] == cid and c["version"] == 2
                                       for c in capture.get("/v1/campaigns").json()),
                           what="capture learning the campaign from campaign-defined")
        assert capture.post("/v1/leads", json=grade_b(campaign=cid)).status_code == 202


def post_outcome(stack: harness.Stack, body: dict[str, Any], **signing: Any) -> httpx.Response:
    raw = orjson.dumps(body)
    with stack.client("capture") as c:
        return c.post("/v1/webhooks/crm/outcomes", content=raw, headers=harness.signed_webhook(raw, **signing))


def test_outcome_webhooks_unsigned_forged_stale_future_dated_or_replayed_are_refused_saying_why(
        stack: harness.Stack) -> None:
    body = {"kind": "lost", "opportunity_id": f"OPP-{uuid.uuid4().hex[:6]}", "email": "nobody@nowhere.example"}
    raw = orjson.dumps(body)
    with stack.client("capture") as c:
        unsigned = c.post("/v1/webhooks/crm/outcomes", json=body)
        assert (unsigned.status_code, unsigned.json()["fields"][0]["field"]) == (401, "webhook-id")
        assert "not signed" in unsigned.json()["fields"][0]["reason"]
        forged = c.post("/v1/webhooks/crm/outcomes", content=raw, headers=harness.signed_webhook(
            raw, secret="whsec_" + "Zm9yZ2VkIHNlY3JldCBvZiBzb21lb25lIGVsc2U="))
        assert (forged.status_code, forged.json()["fields"][0]["reason"]) == (
            401, "no signature matches this source's secret")
        stale = c.post("/v1/webhooks/crm/outcomes", content=raw,
                       headers=harness.signed_webhook(raw, at=datetime.now(UTC) - timedelta(minutes=6)))
        assert (stale.status_code, stale.json()["fields"][0]["field"]) == (401, "webhook-timestamp")
        assert "too old" in stale.json()["fields"][0]["reason"]
        future = c.post("/v1/webhooks/crm/outcomes", content=raw,
                        headers=harness.signed_webhook(raw, at=datetime.now(UTC) + timedelta(minutes=6)))
        assert (future.status_code, future.json()["fields"][0]["field"]) == (401, "webhook-timestamp")
        assert "too new" in future.json()["fields"][0]["reason"]
        unknown_source = c.post("/v1/webhooks/pipedrive/outcomes", content=raw, headers=harness.signed_webhook(raw))
        assert (unknown_source.status_code, unknown_source.json()["fields"][0]["field"]) == (401, "source")
        headers = harness.signed_webhook(raw)
        assert c.post("/v1/webhooks/crm/outcomes", content=raw, headers=headers).status_code == 202
        replayed = c.post("/v1/webhooks/crm/outcomes", content=raw, headers=headers)
        assert (replayed.status_code, replayed.json()["fields"][0]["field"]) == (401, "webhook-id")
        assert "replayed" in replayed.json()["fields"][0]["reason"]
        # a signed delivery that is no outcome is a 422 naming the field
        bad = post_outcome(stack, {**body, "kind": "won"})
        assert bad.status_code == 422, bad.text
        bad_amount = post_outcome(stack, {**body, "amount": "12.345", "currency": "USD"})
        assert (bad_amount.status_code, fields_of(bad_amount)) == (422, ["amount"])


def test_an_unmatched_outcome_is_kept_reported_and_matched_when_its_person_is_captured(stack: harness.Stack) -> None:
    person = grade_b()
    opportunity = f"OPP-{uuid.uuid4().hex[:6]}"
    r = post_outcome(stack, {"kind": "opportunity_created", "opportunity_id": opportunity, "email": person["email"]})
    assert r.status_code == 202, r.text
    with stack.client("capture") as c:
        def waiting() -> list[dict[str, Any]]:
            body = c.get("/v1/outcomes", params={"matched": "false", "limit": 1000}).json()
            return [o for o in body["outcomes"] if o["opportunity_id"] == opportunity]

        [kept] = harness.eventually(waiting, what="the outcome kept as unmatched")
        assert (kept["lead_id"], kept["email_norm"]) == (None, person["email"].lower())
        lead_id = c.post("/v1/leads", json=person).json()["lead_id"]

        def matched() -> list[dict[str, Any]]:
            body = c.get("/v1/outcomes", params={"matched": "true", "limit": 1000}).json()
            return [o for o in body["outcomes"] if o["opportunity_id"] == opportunity and o["lead_id"] == lead_id]

        [done] = harness.eventually(matched, what="the outcome matched once the person was captured")
        assert done["matched_by"] == "email"
        assert waiting() == []


def test_a_webinar_from_invitation_to_closed_revenue_attributed_by_every_model(stack: harness.Stack) -> None:
    cid, ads = new_campaign_id(), new_campaign_id()
    with stack.client("nurture") as nurture, stack.client("capture") as capture:
        assert nurture.post("/v1/campaigns", json=webinar(cid)).status_code == 201
        assert nurture.post("/v1/campaigns", json={
            "campaign_id": ads, "name": "Spring ads", "type": "ad", "owner": "mo", "cost": "1500",
            "starts_at": "2026-11-01T00:00:00+00:00"}).status_code == 201
        harness.eventually(lambda: {cid, ads} <= {c["campaign_id"] for c in capture.get("/v1/campaigns").json()},
                           what="capture knowing both campaigns")
        people = [grade_b() for _ in range(4)]
        leads = [capture.post("/v1/leads", json=p).json()["lead_id"] for p in people]
        emails = [p["email"].upper() for p in people]

        def invited() -> httpx.Response | None:
            r = nurture.post(f"/v1/campaigns/{cid}/members", json={"emails": emails, "status": "invited"})
            return r if r.status_code == 202 else None

        harness.eventually(invited, what="nurture inviting the four by email (once it heard of them)")
        unknown = nurture.post(f"/v1/campaigns/{cid}/members", json={"emails": ["nobody@nowhere.example"]})
        assert (unknown.status_code, fields_of(unknown)) == (422, ["emails.nobody@nowhere.example"])
        wrong_step = nurture.post(f"/v1/campaigns/{ads}/members", json={"lead_ids": leads[:1], "status": "attended"})
        assert (wrong_step.status_code, fields_of(wrong_step)) == (422, ["status"])
        for lead in leads[:3]:
            assert capture.post(f"/v1/leads/{lead}/activities", json={
                "behaviour": "webinar_registered", "campaign": cid}).status_code == 202
        assert capture.post(f"/v1/leads/{leads[0]}/activities", json={
            "behaviour": "webinar_attended", "campaign": cid}).status_code == 202

        def status_of(lead: str) -> str | None:
            body = nurture.get(f"/v1/campaigns/{cid}/members", params={"limit": 1000}).json()
            return next((m["status"] for m in body["members"] if m["lead_id"] == lead), None)

        harness.eventually(lambda: [status_of(x) for x in leads] == ["attended", "registered", "registered", "invited"],
                           what="members moved by the activities")
        backwards = nurture.put(f"/v1/campaigns/{cid}/members/{leads[0]}/status", json={"status": "registered"})
        assert (backwards.status_code, fields_of(backwards)) == (409, ["status"])
        assert "move back" in backwards.json()["fields"][0]["reason"]
        assert nurture.put(f"/v1/campaigns/{cid}/members/{leads[1]}/status",
                           json={"status": "no_show"}).json()["status"] == "no_show"
        # the attendance report that arrives late moves the no-show to attended, once
        for _ in range(2):
            capture.post(f"/v1/leads/{leads[1]}/activities", json={"behaviour": "webinar_attended", "campaign": cid})
        harness.eventually(lambda: status_of(leads[1]) == "attended", what="the late attendance report")
        # the winner clicked a spring ad afterwards: a second campaign touches them before the deal closes
        assert capture.post(f"/v1/leads/{leads[0]}/activities", json={
            "behaviour": "page_visit", "campaign": ads}).status_code == 202
        opportunity = f"OPP-{uuid.uuid4().hex[:6]}"
        for kind in ("opportunity_created", "won"):
            body: dict[str, Any] = {"kind": kind, "opportunity_id": opportunity, "email": people[0]["email"]}
            if kind == "won":
                body.update(amount="48250.35", currency="USD", close_date=datetime.now(UTC).date().isoformat())
            assert post_outcome(stack, body).status_code == 202

        def report(campaign: str, model: str = "linear") -> dict[str, Any]:
            r = nurture.get(f"/v1/campaigns/{campaign}/report", params={"model": model})
            assert r.status_code == 200, r.text
            return dict(r.json())

        got = harness.eventually(lambda: (r := report(cid))["won_deals"] == 1 and r, timeout_s=30,
                                 what="the won deal in the webinar's report")
        assert got["leads"] == {"captured": 4, "new": 0, "already_known": 4}
        assert [(s["step"], s["members"]) for s in got["funnel"]][:3] == [("invited", 4), ("registered", 3),
                                                                          ("attended", 2)]
        assert got["no_show"] == 0
        assert (got["opportunities"], got["revenue"]["closed"], got["revenue"]["currency"]) == (1, "48250.35", "USD")
        assert sum(got["grades"].values()) == 4
        assert got["cost"]["per_lead"] == "1500.00" and got["cost"]["per_won_deal"] == "6000.00"
        harness.eventually(lambda: report(ads, "last_touch")["revenue"]["attributed_minor"] > 0,
                           what="the ad's credit")
        for model in MODELS:
            credited = report(cid, model)["revenue"]["attributed_minor"] + report(ads, model)["revenue"][
                "attributed_minor"]
            assert credited == 4_825_035, model
        assert report(cid, "first_touch")["revenue"]["attributed_minor"] == 4_825_035
        assert report(cid, "first_touch")["roi"] == round((48250.35 - 6000) / 6000, 4)
        csv = nurture.get(f"/v1/campaigns/{cid}/report", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert "funnel.attended.members,2" in csv.text and "revenue.closed,48250.35" in csv.text
        svg = nurture.get(f"/v1/campaigns/{cid}/report/funnel.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml") and svg.text.startswith("<svg")
        assert ">attended<" in svg.text
        period = nurture.get("/v1/reports/period", params={
            "since": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
            "until": (datetime.now(UTC) + timedelta(days=2)).isoformat(), "model": "linear"}).json()
        assert {(r["campaign_type"], r["channel"]) for r in period["revenue"]} >= {("webinar", "activity"),
                                                                                ("ad", "activity")}
        webinars = next(t for t in period["by_type"] if (t["campaign_type"], t["currency"]) == ("webinar", "USD"))
        assert webinars["campaigns"] >= 1 and webinars["credited_minor"] > 0 and webinars["roi"] is not None
        recomputed = nurture.post("/v1/attribution/recompute").json()
        assert recomputed["deals"] >= 1
        assert report(cid, "linear")["revenue"]["attributed_minor"] + report(ads, "linear")["revenue"][
            "attributed_minor"] == 4_825_035
        # Prometheus: members by status and the closed revenue per campaign
        metrics = harness.eventually(
            lambda: (t := nurture.get("/metrics").text) and f'campaign="{cid}"' in t and t, timeout_s=40,
            what="campaign gauges")
        assert f'leadbridge_nurture_campaign_members{{campaign="{cid}",status="won"}} 1.0' in metrics
        assert f'leadbridge_nurture_campaign_closed_revenue{{campaign="{cid}",currency="USD"}} 48250.35' in metrics
    with stack.client("capture") as capture:
        assert "leadbridge_capture_unmatched_outcomes" in capture.get("/metrics").text


def test_an_outcome_a_crm_connector_puts_straight_on_kafka_is_matched_like_a_webhooks(stack: harness.Stack) -> None:
    from datetime import date

    from shared.events import CrmOutcomeReported

    with stack.client("capture") as c:
        lead_id = c.post("/v1/leads", json=(person := grade_b())).json()["lead_id"]
        opportunity = f"OPP-{uuid.uuid4().hex[:6]}"
        harness.produce(stack.ns, CrmOutcomeReported(
            source="crm-connector", opportunity_id=opportunity, kind="won", email=person["email"],
            amount_minor=1_000_000, currency="EUR", close_date=date(2026, 12, 1)))

        def matched() -> list[dict[str, Any]]:
            body = c.get("/v1/outcomes", params={"matched": "true", "limit": 1000}).json()
            return [o for o in body["outcomes"] if o["opportunity_id"] == opportunity]

        [done] = harness.eventually(matched, what="the connector's outcome matched")
        assert (done["lead_id"], done["matched_by"], done["amount_minor"]) == (lead_id, "email", 1_000_000)


def test_an_invitation_list_makes_leads_and_members_in_one_request(stack: harness.Stack) -> None:
    cid = new_campaign_id()
    with stack.client("nurture") as nurture, stack.client("capture") as capture:
        assert nurture.post("/v1/campaigns", json=webinar(cid)).status_code == 201
        harness.eventually(lambda: cid in {c["campaign_id"] for c in capture.get("/v1/campaigns").json()},
                           what="capture knowing the campaign")
        people = [{"email": f"guest{i}.{uuid.uuid4().hex[:6]}@example.com", "name": f"Guest {i}",
                   "company": f"Company {i}", "country": "US", "consent": i % 2 == 0} for i in range(30)]
        bad = capture.post(f"/v1/campaigns/{cid}/invitations", json={"people": [
            *people[:2], {"email": "half@example.com", "name": "Half"}]})
        assert (bad.status_code, fields_of(bad)) == (422, ["people.2.company", "people.2.country"])
        assert capture.get("/v1/leads", params={"email": people[0]["email"]}).status_code == 404  # nothing accepted
        unknown = capture.post("/v1/campaigns/no-such-campaign/invitations", json={"people": people[:1]})
        assert (unknown.status_code, fields_of(unknown)) == (422, ["campaign_id"])
        r = capture.post(f"/v1/campaigns/{cid}/invitations", json={"people": people})
        assert (r.status_code, r.json()["people"], r.json()["leads_created"]) == (202, 30, 30), r.text
        again = capture.post(f"/v1/campaigns/{cid}/invitations", json={"people": people}).json()
        assert (again["already_invited"], again["lead_ids"]) == (30, r.json()["lead_ids"])
        harness.eventually(lambda: nurture.get(f"/v1/campaigns/{cid}/report").json()["funnel"][0]["members"] == 30,
                           what="nurture counting 30 invited")
        report = nurture.get(f"/v1/campaigns/{cid}/report").json()
        assert report["leads"] == {"captured": 30, "new": 30, "already_known": 0}
