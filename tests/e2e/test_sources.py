"""Capture sources authenticate, on the real stack: an operator issues a source's API
key (shown once, never listed), rotates it with an overlap and revokes it; every intake
route refuses a post without a key (401) or with another source's (403); a web form's
public key posts a lead of its form from its pages only, is answered a CORS preflight
for them only, drops what fills its honeypot and reads nothing; webhook secrets are
issued and rotated the same way (both signatures accepted during the overlap); and one
source's burst gets 429s with Retry-After while another's leads all go through."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from bench.leads import grade_b
from tests import harness

pytestmark = pytest.mark.e2e

FORM_PAGE = "https://www.example.com"


def issue(stack: harness.Stack, source: str, **body: Any) -> dict[str, Any]:
    with stack.client("capture") as c:
        r = c.post(f"/v1/sources/{source}/keys", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def keyed(stack: harness.Stack, key: str | None, **headers: str) -> httpx.Client:
    """A capture client holding only ``key`` (no person's token, no stack key)."""
    return httpx.Client(base_url=stack.url("capture"), timeout=10,
                        headers={**({"X-Api-Key": key} if key else {}), **headers})


def refusal(r: httpx.Response, status: int) -> tuple[str, str]:
    assert r.status_code == status, r.text
    (problem,) = r.json()["fields"]
    return problem["field"], problem["reason"]


def captured(stack: harness.Stack, email: str) -> dict[str, Any] | None:
    with stack.client("capture") as c:
        r = c.get("/v1/leads", params={"email": email})
    return r.json() if r.status_code == 200 else None


def metric(stack: harness.Stack, name: str, **labels: str) -> float:
    text = httpx.get(stack.url("capture") + "/metrics", timeout=10).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == wanted:
            return float(m.group(2))
    return 0.0


def test_an_issued_key_is_shown_once_posts_for_its_source_only_and_is_refused_once_revoked(
        stack: harness.Stack) -> None:
    issued = issue(stack, "badge_scan", label="hall 4 scanners")
    key = issued["key"]
    assert key.startswith(issued["id"] + ".") and issued["source"] == "badge_scan"
    with stack.client("capture") as c:
        listed = c.get("/v1/sources/badge_scan/keys").json()["keys"]
    mine = [k for k in listed if k["id"] == issued["id"]]
    assert mine and mine[0]["valid"] and mine[0]["label"] == "hall 4 scanners"
    assert key.split(".")[1] not in orjson.dumps(listed).decode()  # the key itself is never listed

    with keyed(stack, key) as scanner:
        lead = grade_b(source="badge_scan")
        assert scanner.post("/v1/leads", json=lead).status_code == 202
        field, reason = refusal(scanner.post("/v1/leads", json=grade_b(source="web_form")), 403)
        assert (field, "badge_scan" in reason) == ("source", True)
        with stack.client("capture") as c:
            assert c.delete(f"/v1/sources/badge_scan/keys/{issued['id']}").status_code == 200
        revoked = scanner.post("/v1/leads", json=grade_b(source="badge_scan"))
        field, reason = refusal(revoked, 401)
        assert (field, reason.startswith("revoked at")) == ("X-Api-Key", True), reason
        assert revoked.headers["WWW-Authenticate"].startswith("ApiKey")
    harness.eventually(lambda: captured(stack, lead["email"]), what="the scanner's lead")
    assert audited(stack, issued["id"]) == [("source_credential.issued", "test-all-roles"),
                                            ("source_credential.revoked", "test-all-roles")]


def audited(stack: harness.Stack, credential_id: str) -> list[tuple[str, str]]:
    """Capture's audit trail of one credential: (action, who), oldest first."""
    async def read() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(stack.ns.database_url)
        try:
            rows = await conn.fetch("SELECT action, actor FROM capture.audit_log WHERE subject_type = "
                                    "'source_credential' AND subject_id = $1 ORDER BY seq", credential_id)
            return [(r["action"], r["actor"]) for r in rows]
        finally:
            await conn.close()
    return asyncio.run(read())


def test_a_rotated_key_works_during_the_overlap_and_not_after(stack: harness.Stack) -> None:
    old = issue(stack, "ad_form", campaign="expo-2026")
    until = datetime.now(UTC) + timedelta(seconds=4)
    with stack.client("capture") as c:
        r = c.post(f"/v1/sources/ad_form/keys/{old['id']}/rotation", json={"old_valid_until": until.isoformat()})
    assert r.status_code == 201, r.text
    new = r.json()
    assert (new["replaces"], new["campaign"], new["source"]) == (old["id"], "expo-2026", "ad_form")
    assert new["key"] != old["key"]
    with keyed(stack, old["key"]) as old_client, keyed(stack, new["key"]) as new_client:
        during = old_client.post("/v1/leads", json=grade_b(source="ad_form", campaign="expo-2026"))
        assert during.status_code == 202, "the old key is refused during its overlap: " + during.text
        # a campaign's key gives its campaign to a lead naming none, and refuses any other
        named = new_client.post("/v1/leads", json=grade_b(source="ad_form", campaign="webinar-series"))
        assert refusal(named, 403)[0] == "campaign"

        def old_refused() -> bool:
            r = old_client.post("/v1/leads", json=grade_b(source="ad_form"))
            return r.status_code == 401 and "expired" in r.json()["fields"][0]["reason"]

        harness.eventually(old_refused, timeout_s=15, what="the old key refused after its overlap")
        unnamed = grade_b(source="ad_form")
        assert new_client.post("/v1/leads", json=unnamed).status_code == 202
    lead = harness.eventually(lambda: captured(stack, unnamed["email"]), what="the new key's lead")
    assert lead["campaigns"] == ["expo-2026"]


def lead_body(source: str = "web_form", campaign: str | None = None) -> dict[str, Any]:
    return grade_b(source=source, **({"campaign": campaign} if campaign else {}))


def intake(stack: harness.Stack, route: str, source: str) -> tuple[str, dict[str, Any]]:
    """A path and body of ``route`` that the stack's key would get accepted for ``source``."""
    if route == "lead":
        return "/v1/leads", lead_body(source)
    if route == "activity by email":
        return "/v1/activities", {"email": grade_b()["email"], "behaviour": "page_visit", "source": source,
                                  "name": "New Person", "company": "Newco", "country": "GB"}
    if route == "activity of a lead":
        with stack.client("capture") as c:
            lead_id = c.post("/v1/leads", json=lead_body()).json()["lead_id"]
        return f"/v1/leads/{lead_id}/activities", {"behaviour": "page_visit", "campaign": "webinar-series"}
    assert route == "invitations"
    return "/v1/campaigns/webinar-series/invitations", {"source": source, "people": [
        {"email": grade_b()["email"], "name": "Invited Person", "company": "Invitedco", "country": "US"}]}


ROUTES = ["lead", "activity by email", "activity of a lead", "invitations"]


@pytest.mark.parametrize("route", ROUTES)
def test_every_intake_route_refuses_no_key_with_401_and_another_sources_key_with_403(
        stack: harness.Stack, route: str) -> None:
    # another source's key; for a known lead's activity, which names no source, a key of
    # another campaign
    other = issue(stack, "referral", campaign="expo-2026")["key"]
    path, body = intake(stack, route, "web_form")
    with keyed(stack, None) as anonymous, keyed(stack, other) as wrong:
        field, reason = refusal(anonymous.post(path, json=body), 401)
        assert (field, reason.startswith("missing header X-Api-Key")) == ("X-Api-Key", True)
        assert refusal(anonymous.post(path, json=body, headers={"X-Api-Key": "lbk_guess.guess"}), 401)[1] == \
            "unknown key"
        field, _ = refusal(wrong.post(path, json=body), 403)
        assert field in ("source", "campaign", "campaign_id")
    with stack.client("capture") as c:
        assert c.post(path, json=body).status_code == 202  # the same post with a key for it goes through


@pytest.mark.parametrize("route", ["attendance", "outcomes"])
def test_every_webhook_route_refuses_an_unsigned_or_other_senders_delivery_with_401(
        stack: harness.Stack, route: str) -> None:
    body = {"campaign_id": "webinar-series", "attendees": [{"email": grade_b()["email"]}]} if route == "attendance" \
        else {"kind": "lost", "opportunity_id": "OPP-x", "email": "a@b.example"}
    raw = orjson.dumps(body)
    sender = "zoom" if route == "attendance" else "crm"
    other = "crm" if sender == "zoom" else "zoom"
    with keyed(stack, None) as c:
        assert refusal(c.post(f"/v1/webhooks/{sender}/{route}", content=raw), 401)[0] == "webhook-id"
        forged = c.post(f"/v1/webhooks/{sender}/{route}", content=raw,
                        headers=harness.signed_webhook(raw, secret=harness.WEBHOOK_SECRETS[other]))
        assert refusal(forged, 401) == ("webhook-signature", "no signature matches this source's secret")


def test_a_form_key_posts_its_forms_lead_from_its_pages_only(stack: harness.Stack) -> None:
    form = issue(stack, "web_form", kind="form_key", campaign="expo-2026", allowed_origins=[FORM_PAGE + "/"])
    assert form["allowed_origins"] == [FORM_PAGE]
    key = form["key"]
    with keyed(stack, None) as browser:
        allowed = browser.options("/v1/leads", headers={"Origin": FORM_PAGE, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "content-type,x-api-key"})
        assert allowed.status_code == 204, allowed.text
        assert allowed.headers["Access-Control-Allow-Origin"] == FORM_PAGE
        assert "x-api-key" in allowed.headers["Access-Control-Allow-Headers"].lower()
        elsewhere = browser.options("/v1/leads", headers={"Origin": "https://evil.example",
                                                          "Access-Control-Request-Method": "POST"})
        assert refusal(elsewhere, 403)[0] == "Origin"
        assert "Access-Control-Allow-Origin" not in elsewhere.headers

    lead = lead_body()
    with keyed(stack, key, Origin=FORM_PAGE) as page:
        posted = page.post("/v1/leads", json=lead)
        assert posted.status_code == 202, posted.text
        assert posted.headers["Access-Control-Allow-Origin"] == FORM_PAGE
        assert refusal(page.post("/v1/leads", json=lead_body(campaign="webinar-series")), 403)[0] == "campaign"
        assert refusal(page.post("/v1/activities", json={"email": lead["email"], "behaviour": "page_visit"}),
                       403)[0] == "X-Api-Key"
    with keyed(stack, key, Origin="https://evil.example") as other_site, keyed(stack, key) as no_page:
        assert refusal(other_site.post("/v1/leads", json=lead_body()), 403)[0] == "Origin"
        assert refusal(no_page.post("/v1/leads", json=lead_body()), 403)[0] == "Origin"
    stored = harness.eventually(lambda: captured(stack, lead["email"]), what="the form's lead")
    assert stored["campaigns"] == ["expo-2026"] and stored["sources"] == ["web_form"]


def test_a_form_key_reads_nothing(stack: harness.Stack) -> None:
    """Reads need a person's token: a form key is none, in its header or as a bearer."""
    form = issue(stack, "web_form", kind="form_key", allowed_origins=[FORM_PAGE])
    with keyed(stack, form["key"], Origin=FORM_PAGE) as page:
        lead = lead_body()
        lead_id = page.post("/v1/leads", json=lead).json()["lead_id"]
        harness.eventually(lambda: captured(stack, lead["email"]), what="the form's lead")
        for read in ("/v1/leads/" + lead_id, "/v1/leads?email=" + lead["email"], "/v1/outcomes",
                     "/v1/campaigns", "/v1/sources/web_form/keys"):
            assert page.get(read).status_code == 401, read
            assert page.get(read, headers={"Authorization": f"Bearer {form['key']}"}).status_code == 401, read


def test_a_filled_honeypot_is_answered_202_dropped_and_counted(stack: harness.Stack) -> None:
    form = issue(stack, "web_form", kind="form_key", allowed_origins=[FORM_PAGE])
    before = metric(stack, "leadbridge_capture_honeypot_dropped_total", source="web_form")
    bot, person = {**lead_body(), "honeypot": "http://cheap.example"}, {**lead_body(), "honeypot": ""}
    with keyed(stack, form["key"], Origin=FORM_PAGE) as page:
        answered = page.post("/v1/leads", json=bot)
        assert answered.status_code == 202 and set(answered.json()) >= {"lead_id", "capture_id"}, answered.text
        assert page.post("/v1/leads", json=person).status_code == 202
    harness.eventually(lambda: captured(stack, person["email"]), what="the person's lead")
    assert captured(stack, bot["email"]) is None
    assert metric(stack, "leadbridge_capture_honeypot_dropped_total", source="web_form") == before + 1


def test_one_sources_burst_gets_429_with_retry_after_while_anothers_leads_all_go_through(
        stack: harness.Stack) -> None:
    bursting = issue(stack, "intent_signal", rate_limit="10/minute")["key"]
    steady = issue(stack, "directory")["key"]
    statuses: list[int] = []
    retry_after: set[str] = set()
    steady_leads = [lead_body("directory") for _ in range(25)]
    with keyed(stack, bursting) as burst, keyed(stack, steady) as other:
        for body in steady_leads:
            for _ in range(2):
                r = burst.post("/v1/leads", json=lead_body("intent_signal"))
                statuses.append(r.status_code)
                if r.status_code == 429:
                    retry_after.add(r.headers["Retry-After"])
                    assert refusal(r, 429)[0] == "X-Api-Key"
            assert other.post("/v1/leads", json=body).status_code == 202
    # ten a minute: a sliding window straddling a minute's end may let one or two more through
    assert 10 <= statuses.count(202) <= 12 and statuses.count(429) == 50 - statuses.count(202), statuses
    assert retry_after and all(0 < int(s) <= 60 for s in retry_after), retry_after
    harness.eventually(lambda: all(captured(stack, b["email"]) for b in steady_leads), what="every steady lead")
    assert metric(stack, "leadbridge_source_refusals_total", service="capture", reason="rate_limited_key") >= 38


def sign_with(raw: bytes, secrets: list[str], webhook_id: str | None = None) -> dict[str, str]:
    """Headers signed with each of ``secrets`` (a sender rotating its secret signs with both)."""
    signed = [harness.signed_webhook(raw, secret=s, webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}")
              for s in secrets]
    ids = {h["webhook-id"] for h in signed}
    if len(ids) > 1:  # one delivery: one id and one timestamp for every signature
        return sign_with(raw, secrets, webhook_id=next(iter(ids)))
    return {**signed[0], "webhook-signature": " ".join(h["webhook-signature"] for h in signed)}


def stored_secrets(stack: harness.Stack, sender: str) -> list[str]:
    """The secret column of a webhook sender's rows in capture's credential table."""
    async def read() -> list[str]:
        conn = await asyncpg.connect(stack.ns.database_url)
        try:
            rows = await conn.fetch("SELECT secret FROM capture.source_credentials WHERE source = $1", sender)
            return [r["secret"] for r in rows]
        finally:
            await conn.close()
    return asyncio.run(read())


def test_a_webhook_secret_issued_rotated_with_both_signatures_accepted_and_revoked(stack: harness.Stack) -> None:
    sender = f"crm-{uuid.uuid4().hex[:6]}"
    with stack.client("capture") as c:
        first = c.post(f"/v1/sources/{sender}/webhook-secrets", json={"label": "the CRM"}).json()
        assert first["secret"].startswith("whsec_")

        def deliver(secrets: list[str]) -> httpx.Response:
            raw = orjson.dumps({"kind": "lost", "opportunity_id": f"OPP-{uuid.uuid4().hex[:6]}",
                                "email": "nobody@nowhere.example"})
            return c.post(f"/v1/webhooks/{sender}/outcomes", content=raw, headers=sign_with(raw, secrets))

        assert deliver([first["secret"]]).status_code == 202
        rotated = c.post(f"/v1/sources/{sender}/webhook-secrets/{first['id']}/rotation", json={}).json()
        second = rotated["secret"]
        assert deliver([first["secret"]]).status_code == 202  # the old one during the overlap
        assert deliver([first["secret"], second]).status_code == 202  # both, as Standard Webhooks allows
        assert deliver([second]).status_code == 202
        listed = c.get(f"/v1/sources/{sender}/webhook-secrets").json()
        assert first["secret"] not in orjson.dumps(listed).decode() and second not in orjson.dumps(listed).decode()
        stored = stored_secrets(stack, sender)  # at rest: sealed, neither secret readable in the table
        assert len(stored) == 2 and all(v.startswith("v1:") for v in stored)
        assert not any(first["secret"] in v or second in v or first["secret"][6:] in v for v in stored)
        assert c.delete(f"/v1/sources/{sender}/webhook-secrets/{first['id']}").status_code == 200
        assert refusal(deliver([first["secret"]]), 401)[0] == "webhook-signature"
        assert deliver([first["secret"], second]).status_code == 202
